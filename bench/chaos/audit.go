package main

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"neutrino/internal/agent"
	"neutrino/internal/dataplane"
	"neutrino/internal/dataplane/linux"
	"neutrino/internal/dataplane/ovs"
	"neutrino/internal/l2pop"
	"neutrino/internal/neutron"
	"neutrino/internal/store"
)

// auditor compares every node's real data plane with what the database
// says it must hold: the expected facts come from the store through the
// same pure functions the server and agents use (l2pop view, the agent's
// Desired, dataplane.Expected); the held facts are read from the kernel
// or the node's OVS by the harness's own read-only data plane handles,
// not reported by the agents.
type auditor struct {
	st    *store.Store
	c     *cluster
	obs   map[string]dataplane.Observer
	close map[string]func() error
}

func newAuditor(ctx context.Context, c *cluster) (*auditor, error) {
	st, err := store.Open(ctx, c.db.URL(), nil)
	if err != nil {
		return nil, err
	}
	return &auditor{st: st, c: c, obs: map[string]dataplane.Observer{}, close: map[string]func() error{}}, nil
}

func (a *auditor) Close() {
	for _, f := range a.close {
		_ = f()
	}
	_ = a.st.Close()
}

func (a *auditor) observer(ctx context.Context, n *node) (dataplane.Observer, error) {
	if o := a.obs[n.Name]; o != nil {
		return o, nil
	}
	switch n.kind {
	case agent.KindOVS:
		d, err := ovs.New(ctx, ovs.Config{OVSDB: n.ovs.OVSDB(), DatapathType: "netdev"}, nil)
		if err != nil {
			return nil, err
		}
		a.obs[n.Name], a.close[n.Name] = d, d.Close
	default:
		d, err := linux.New(linux.Options{NetNS: n.NS})
		if err != nil {
			return nil, err
		}
		a.obs[n.Name], a.close[n.Name] = d, d.Close
	}
	return a.obs[n.Name], nil
}

// forget drops a node's handle (its OVS restarted: reconnect).
func (a *auditor) forget(n *node) {
	if f := a.close[n.Name]; f != nil {
		_ = f()
	}
	delete(a.obs, n.Name)
	delete(a.close, n.Name)
}

// check returns what is not converged: differences per node ("node:
// missing unicast vni 1001 ... via ..."), plugged ports not ACTIVE. An
// empty list means converged. The nodes and the L3 and DHCP agents are
// read at the same time (each from its own kernel namespace or OVS), so
// an audit takes as long as its slowest node, not the sum of all.
func (a *auditor) check(ctx context.Context, plugged map[string][]string) ([]string, error) {
	st, err := a.st.State(ctx)
	if err != nil {
		return nil, fmt.Errorf("read database: %w", err)
	}
	status := map[string]neutron.Port{}
	for _, p := range st.Ports {
		status[p.ID] = p
	}
	model := l2pop.NewModel(l2pop.Config{Enabled: true, NetworkTypes: []string{neutron.TypeVXLAN}}, st)
	results := make([][]string, len(a.c.nodes)+len(a.c.aux))
	failed := make([]bool, len(a.c.nodes)) // the node's handle must be reopened
	var wg sync.WaitGroup
	for i, n := range a.c.nodes {
		var out []string
		var devs []dataplane.Device
		// The L3 and DHCP agents plug their router and DHCP ports into
		// the node's bridges: the L2 agent serves them like a VM's.
		for _, p := range st.Ports {
			if p.Binding.HostID == n.Name && agentPlugged(p.DeviceOwner) {
				devs = append(devs, dataplane.Device{PortID: p.ID, Up: true})
			}
		}
		for _, id := range plugged[n.Name] {
			devs = append(devs, dataplane.Device{PortID: id, Up: true})
			if p, ok := status[id]; !ok {
				out = append(out, fmt.Sprintf("%s: port %s is plugged but not in the database", n.Name, id))
			} else if p.Status != neutron.StatusActive {
				out = append(out, fmt.Sprintf("%s: port %s is %s, not ACTIVE", n.Name, id, p.Status))
			}
		}
		desired := agent.Desired(model.View(n.Name), agent.SettingsFor(n.kind, n.cfg), devs)
		o, err := a.observer(ctx, n)
		if err != nil {
			results[i] = append(out, fmt.Sprintf("%s: cannot read the data plane: %v", n.Name, err))
			continue
		}
		wg.Go(func() {
			held, err := o.Observe(ctx)
			if err != nil {
				failed[i] = true
				results[i] = append(out, fmt.Sprintf("%s: cannot read the data plane: %v", n.Name, err))
				return
			}
			for _, d := range dataplane.Compare(dataplane.Expected(desired, n.kind == agent.KindOVS), held) {
				out = append(out, n.Name+": "+d.String())
			}
			results[i] = append(out, a.firewall(ctx, n, o, desired)...)
		})
	}
	for j, x := range a.c.aux {
		wg.Go(func() {
			if x.kind == auxL3 {
				results[len(a.c.nodes)+j] = auditRouters(x, st)
			} else {
				results[len(a.c.nodes)+j] = auditDHCP(x, st)
			}
		})
	}
	wg.Wait()
	for i, n := range a.c.nodes {
		if failed[i] {
			a.forget(n)
		}
	}
	out := slices.Concat(results...)
	sort.Strings(out)
	return out, nil
}

// firewall compares the node's firewall with the desired one: the
// nftables ruleset of a Linux bridge node (security groups, anti-spoofing,
// the underlay filter), all of br-int's flows on an Open vSwitch node (its
// L2 pipeline and the openvswitch firewall's conntrack flows).
func (a *auditor) firewall(ctx context.Context, n *node, o dataplane.Observer, desired dataplane.NodeState) []string {
	var diffs []string
	var err error
	what := "firewall"
	if d, ok := o.(*ovs.Dataplane); ok {
		what = "br-int"
		diffs, err = d.IntegrationDifferences(ctx, desired)
	} else {
		diffs, err = linux.FirewallDifferences(n.NS, desired)
	}
	if err != nil {
		return []string{fmt.Sprintf("%s: cannot read the %s: %v", n.Name, what, err)}
	}
	out := make([]string, 0, len(diffs))
	for _, d := range diffs {
		out = append(out, n.Name+": "+what+": "+d)
	}
	return out
}

// agentPlugged reports whether ports of this device_owner are plugged by
// an L3 or DHCP agent.
func agentPlugged(owner string) bool {
	return owner == neutron.DeviceOwnerDHCP || owner == neutron.DeviceOwnerRouterInterface || owner == neutron.DeviceOwnerRouterGateway
}

// integrity checks the database at the end: nothing written twice or
// half. It returns one line per problem.
func (a *auditor) integrity(ctx context.Context, w *workload) ([]string, error) {
	var out []string
	q := func(what, sql string) error {
		rows, err := a.st.DB().QueryContext(ctx, sql)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		defer rows.Close()
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				return err
			}
			out = append(out, what+": "+s)
		}
		return rows.Err()
	}
	for _, c := range []struct{ what, sql string }{
		{"port name written twice", `SELECT name FROM ports WHERE name LIKE 'chaos-%' GROUP BY name HAVING COUNT(*) > 1`},
		{"network name written twice", `SELECT name FROM networks WHERE name LIKE 'chaos-%' GROUP BY name HAVING COUNT(*) > 1`},
		{"port without an address on a network with a subnet", `SELECT p.id FROM ports p WHERE EXISTS (SELECT 1 FROM subnets s WHERE s.network_id = p.network_id) AND NOT EXISTS (SELECT 1 FROM ipallocations i WHERE i.port_id = p.id)`},
		{"network without exactly one segment", `SELECT n.id FROM networks n WHERE (SELECT COUNT(*) FROM network_segments s WHERE s.network_id = n.id) <> 1`},
		{"default security group written twice", `SELECT project_id FROM securitygroups WHERE name = 'default' GROUP BY project_id HAVING COUNT(*) > 1`},
		{"VNI allocation out of step with segments", `SELECT a.vxlan_vni FROM vxlan_allocations a WHERE a.allocated <> EXISTS (SELECT 1 FROM network_segments s WHERE s.network_type = 'vxlan' AND s.segmentation_id = a.vxlan_vni)`},
	} {
		if err := q(c.what, c.sql); err != nil {
			return nil, err
		}
	}
	st, err := a.st.State(ctx)
	if err != nil {
		return nil, err
	}
	subnets, err := a.st.ListSubnets(ctx, neutron.ListQuery{})
	if err != nil {
		return nil, err
	}
	out = append(out, apiAgrees(st, subnets, w.knownPorts(), w.knownNets())...)
	sort.Strings(out)
	return out, nil
}

// apiAgrees compares the database with what the API answered: every port
// and network whose create (or last update) succeeded is there with the
// values the API returned (network, MAC, fixed IPs, the host the
// workload bound it to; the subnet with its CIDR), and nothing the
// workload deleted or never got a success for is (names "chaos-").
func apiAgrees(st *neutron.State, subnets []neutron.Subnet, ports map[string]vm, nets map[string]*tnet) []string {
	var out []string
	inDB := map[string]neutron.Port{}
	for _, p := range st.Ports {
		inDB[p.ID] = p
		if _, ok := ports[p.ID]; !ok && strings.HasPrefix(p.Name, "chaos-") {
			out = append(out, fmt.Sprintf("port %s (%s) exists but the workload did not keep it (written twice or not deleted)", p.ID, p.Name))
		}
	}
	for id, v := range ports {
		p, ok := inDB[id]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("port %s the API created is missing", id))
			continue
		case p.Binding.HostID != v.node.Name:
			out = append(out, fmt.Sprintf("port %s is bound to %q, the workload moved it to %q", id, p.Binding.HostID, v.node.Name))
		}
		if p.NetworkID != v.port.NetworkID || p.MACAddress != v.port.MACAddress || !slices.Equal(p.FixedIPs, v.port.FixedIPs) {
			out = append(out, fmt.Sprintf("port %s holds network %s, MAC %s, addresses %v; the API returned %s, %s, %v", id,
				p.NetworkID, p.MACAddress, p.FixedIPs, v.port.NetworkID, v.port.MACAddress, v.port.FixedIPs))
		}
	}
	subs := map[string]neutron.Subnet{}
	for _, s := range subnets {
		subs[s.ID] = s
	}
	seen := map[string]bool{}
	for _, n := range st.Networks {
		seen[n.ID] = true
		if _, ok := nets[n.ID]; !ok && strings.HasPrefix(n.Name, "chaos-") {
			out = append(out, fmt.Sprintf("network %s (%s) exists but the workload did not keep it", n.ID, n.Name))
		}
	}
	for id, t := range nets {
		if !seen[id] {
			out = append(out, fmt.Sprintf("network %s the API created is missing", id))
			continue
		}
		if s, ok := subs[t.sub.ID]; !ok || s.NetworkID != id || s.CIDR != t.sub.CIDR {
			out = append(out, fmt.Sprintf("subnet %s (%s on network %s) the API created is missing or changed", t.sub.ID, t.sub.CIDR, id))
		}
	}
	return out
}
