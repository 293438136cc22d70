package ovs

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/ovn-kubernetes/libovsdb/cache"
	"github.com/ovn-kubernetes/libovsdb/client"
	"github.com/ovn-kubernetes/libovsdb/model"
	"github.com/ovn-kubernetes/libovsdb/ovsdb"
)

// snapshot is the rows we care about as the monitor cache holds them.
// The rows are the cache's own, shared and READ ONLY: libovsdb replaces a
// row with a new copy when an update arrives and never changes one in
// place, so a snapshot stays consistent while it is used, and taking one
// costs a map of pointers per table, not a deep copy of every row (the
// copy, libovsdb's reflection and JSON clone of each row, was two thirds
// of the OVS agent's CPU per pass with 1,000 VM ports). Code that wants
// to change a row builds a new model with the row's UUID (txn).
type snapshot struct {
	root    *ovsRoot
	bridges map[string]*bridge // by name
	ports   map[string]*port   // by uuid
	ifaces  map[string]*iface  // by uuid
}

// cacheRows returns a table's cached rows (shared, read only) by uuid.
func cacheRows[T any](c *cache.TableCache, table string) (map[string]*T, error) {
	rc := c.Table(table)
	if rc == nil {
		return nil, fmt.Errorf("read ovsdb cache: table %s is not monitored", table)
	}
	rows := rc.RowsShallow()
	out := make(map[string]*T, len(rows))
	for uuid, m := range rows {
		r, ok := m.(*T)
		if !ok {
			return nil, fmt.Errorf("read ovsdb cache: table %s holds %T", table, m)
		}
		out[uuid] = r
	}
	return out, nil
}

func takeSnapshot(ctx context.Context, cli client.Client) (snapshot, error) {
	var s snapshot
	if err := ctx.Err(); err != nil {
		return s, err
	}
	c := cli.Cache()
	if c == nil {
		return s, errors.New("read ovsdb cache: not connected")
	}
	roots, err := cacheRows[ovsRoot](c, "Open_vSwitch")
	if err != nil {
		return s, err
	}
	if len(roots) != 1 {
		return s, fmt.Errorf("ovsdb has %d Open_vSwitch rows, want 1 (was the database initialised?)", len(roots))
	}
	for _, r := range roots {
		s.root = r
	}
	brs, err := cacheRows[bridge](c, "Bridge")
	if err != nil {
		return s, err
	}
	s.bridges = make(map[string]*bridge, len(brs))
	for _, b := range brs {
		s.bridges[b.Name] = b
	}
	if s.ports, err = cacheRows[port](c, "Port"); err != nil {
		return s, err
	}
	if s.ifaces, err = cacheRows[iface](c, "Interface"); err != nil {
		return s, err
	}
	return s, nil
}

// portsOf returns a bridge's ports by name.
func (s snapshot) portsOf(br *bridge) map[string]*port {
	out := map[string]*port{}
	if br == nil {
		return out
	}
	for _, u := range br.Ports {
		if p, ok := s.ports[u]; ok {
			out[p.Name] = p
		}
	}
	return out
}

// firstIface is the port's interface (our ports have exactly one).
func (s snapshot) firstIface(p *port) *iface {
	for _, u := range p.Interfaces {
		if i, ok := s.ifaces[u]; ok {
			return i
		}
	}
	return nil
}

// txn collects operations for one OVSDB transaction.
type txn struct {
	cli   client.Client
	ops   []ovsdb.Operation
	errs  []error
	named int
}

func (t *txn) uuid() string { t.named++; return fmt.Sprintf("row%d", t.named) }

func (t *txn) add(ops []ovsdb.Operation, err error) {
	if err != nil {
		t.errs = append(t.errs, err)
		return
	}
	t.ops = append(t.ops, ops...)
}

func (t *txn) commit(ctx context.Context, what string) error {
	if err := errors.Join(t.errs...); err != nil {
		return fmt.Errorf("%s: build transaction: %w", what, err)
	}
	if len(t.ops) == 0 {
		return nil
	}
	res, err := t.cli.Transact(ctx, t.ops...)
	if err != nil {
		return fmt.Errorf("%s: transact: %w", what, err)
	}
	if _, err := ovsdb.CheckOperationResults(res, t.ops); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// portRows inserts a port with one interface and returns the port's
// named uuid, for a bridge row created in the same transaction.
func (t *txn) portRows(name, typ string, options, extIDs map[string]string) string {
	iu, pu := t.uuid(), t.uuid()
	t.add(t.cli.Create(&iface{UUID: iu, Name: name, Type: typ, Options: options, ExternalIDs: extIDs}))
	t.add(t.cli.Create(&port{UUID: pu, Name: name, Interfaces: []string{iu}}))
	return pu
}

// createPort inserts a port with one interface into an existing bridge.
func (t *txn) createPort(br *bridge, name, typ string, options, extIDs map[string]string) {
	pu := t.portRows(name, typ, options, extIDs)
	t.add(t.cli.Where(br).Mutate(br, model.Mutation{Field: &br.Ports, Mutator: ovsdb.MutateOperationInsert, Value: []string{pu}}))
}

// deletePort drops the bridge's reference; OVSDB garbage-collects the
// Port and its Interface (neither is a root table).
func (t *txn) deletePort(br *bridge, p *port) {
	t.add(t.cli.Where(br).Mutate(br, model.Mutation{Field: &br.Ports, Mutator: ovsdb.MutateOperationDelete, Value: []string{p.UUID}}))
}

// ofProtocols are the OpenFlow versions every bridge we manage speaks.
var ofProtocols = []string{"OpenFlow10", "OpenFlow13", "OpenFlow14"}

// ensureBridges creates or corrects br-int and br-tun (fail_mode secure,
// datapath_type, OpenFlow versions) and the patch-tun/patch-int pair.
func (d *Dataplane) ensureBridges(ctx context.Context) error {
	s, err := takeSnapshot(ctx, d.cli)
	if err != nil {
		return err
	}
	t := &txn{cli: d.cli}
	secure := "secure"
	protocols := ofProtocols
	peers := map[string][2]string{
		d.cfg.IntegrationBridge: {patchTun, patchInt},
		d.cfg.TunnelBridge:      {patchInt, patchTun},
	}
	for _, name := range []string{d.cfg.IntegrationBridge, d.cfg.TunnelBridge} {
		patch, peer := peers[name][0], peers[name][1]
		br := s.bridges[name]
		if br == nil {
			// The bridge's own internal port (as ovs-vsctl add-br makes it)
			// and its patch port.
			local := t.portRows(name, "internal", nil, nil)
			pp := t.portRows(patch, "patch", map[string]string{"peer": peer}, nil)
			bu := t.uuid()
			nb := &bridge{UUID: bu, Name: name, FailMode: &secure, DatapathType: d.cfg.DatapathType,
				Protocols: protocols, Ports: []string{local, pp}}
			t.add(t.cli.Create(nb))
			root := &ovsRoot{UUID: s.root.UUID}
			t.add(t.cli.Where(root).Mutate(root,
				model.Mutation{Field: &root.Bridges, Mutator: ovsdb.MutateOperationInsert, Value: []string{bu}}))
			d.log.Info("creating bridge", "bridge", name, "datapath_type", d.cfg.DatapathType)
			continue
		}
		if br.FailMode == nil || *br.FailMode != secure || br.DatapathType != d.cfg.DatapathType || !slices.Equal(br.Protocols, protocols) {
			up := &bridge{UUID: br.UUID, FailMode: &secure, DatapathType: d.cfg.DatapathType, Protocols: protocols}
			t.add(t.cli.Where(up).Update(up, &up.FailMode, &up.DatapathType, &up.Protocols))
		}
		ports := s.portsOf(br)
		if _, ok := ports[name]; !ok {
			t.createPort(br, name, "internal", nil, nil)
		}
		d.ensureIface(t, s, br, ports[patch], patch, "patch", map[string]string{"peer": peer}, nil)
	}
	return t.commit(ctx, "ensure bridges")
}

// ensureIface creates the port or corrects its interface type/options.
func (d *Dataplane) ensureIface(t *txn, s snapshot, br *bridge, p *port, name, typ string, options, extIDs map[string]string) {
	if p == nil {
		t.createPort(br, name, typ, options, extIDs)
		return
	}
	i := s.firstIface(p)
	if i == nil {
		t.errs = append(t.errs, fmt.Errorf("port %s has no interface", name))
		return
	}
	if i.Type != typ || !maps.Equal(i.Options, options) {
		up := &iface{UUID: i.UUID, Type: typ, Options: options}
		if up.Options == nil {
			up.Options = map[string]string{}
		}
		t.add(t.cli.Where(up).Update(up, &up.Type, &up.Options))
	}
}

// existingPorts returns those of names that are ports of bridge in OVSDB.
func (d *Dataplane) existingPorts(ctx context.Context, bridgeName string, names []string) ([]string, error) {
	s, err := takeSnapshot(ctx, d.cli)
	if err != nil {
		return nil, err
	}
	ports := s.portsOf(s.bridges[bridgeName])
	var out []string
	for _, n := range names {
		if ports[n] != nil {
			out = append(out, n)
		}
	}
	return out, nil
}

// waitOfports waits until OVS has numbered the named interfaces on
// bridge and returns name -> ofport. Interfaces OVS could not create
// (ofport -1) are reported with OVS's error text. With skipGone, a name
// that is not (or no longer) a port of the bridge is not waited for.
func (d *Dataplane) waitOfports(ctx context.Context, bridgeName string, names []string, skipGone bool) (map[string]int, error) {
	deadline := time.Now().Add(d.cfg.OfportTimeout)
	for {
		s, err := takeSnapshot(ctx, d.cli)
		if err != nil {
			return nil, err
		}
		ports := s.portsOf(s.bridges[bridgeName])
		out := map[string]int{}
		var missing []string
		var errs []error
		for _, n := range names {
			p := ports[n]
			var i *iface
			if p != nil {
				i = s.firstIface(p)
			}
			switch {
			case p == nil && skipGone:
			case i == nil || i.Ofport == nil || *i.Ofport == 0:
				missing = append(missing, n)
			case *i.Ofport < 0:
				msg := "unknown error"
				if i.Error != nil {
					msg = *i.Error
				}
				errs = append(errs, fmt.Errorf("interface %s on %s: %s", n, bridgeName, msg))
			default:
				out[n] = *i.Ofport
			}
		}
		if len(missing) == 0 {
			return out, errors.Join(errs...)
		}
		if time.Now().After(deadline) {
			sort.Strings(missing)
			return out, errors.Join(append(errs, fmt.Errorf("no ofport on %s after %s for %v", bridgeName, d.cfg.OfportTimeout, missing))...)
		}
		select {
		case <-ctx.Done():
			return out, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}
