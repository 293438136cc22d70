package ovs

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/netip"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/go-logr/logr"
	"github.com/ovn-kubernetes/libovsdb/client"

	"neutrino/internal/dataplane"
)

// Config is what the OVS agent's [ovs] section gives the data plane.
type Config struct {
	// OVSDB is ovsdb_connection: "unix:/var/run/openvswitch/db.sock" or
	// "tcp:127.0.0.1:6640".
	OVSDB string
	// RunDir holds the bridges' OpenFlow management sockets
	// (<bridge>.mgmt). Default: the directory of a unix OVSDB socket, else
	// /var/run/openvswitch.
	RunDir string
	// IntegrationBridge and TunnelBridge: integration_bridge, tunnel_bridge
	// (defaults br-int, br-tun).
	IntegrationBridge string
	TunnelBridge      string
	// DatapathType is datapath_type: "system" or "netdev" (userspace).
	DatapathType string
	// BridgeMappings is bridge_mappings: physical network -> provider
	// bridge, which the operator creates (provider.go).
	BridgeMappings map[string]string
	// OfctlPath is the ovs-ofctl binary (default: found in PATH).
	OfctlPath string
	// OFInterface is the OpenFlow client: OFNative (default: one
	// persistent connection per bridge) or OFOfctl (one ovs-ofctl
	// process per bundle).
	OFInterface string
	// OfportTimeout bounds the wait for ovs-vswitchd to number new ports
	// (default 10s).
	OfportTimeout time.Duration
	// Cookie tags every flow of this instance; 0 draws a random one (as
	// Neutron does at every agent start).
	Cookie uint64
	// NetNS is the named network namespace of the node's kernel objects
	// (the nftables firewall of iptables_hybrid); "" = this process's.
	NetNS string
}

// Dataplane is the Open vSwitch data plane of one node.
type Dataplane struct {
	cfg    Config
	log    *slog.Logger
	cli    client.Client
	flows  FlowClient
	cookie uint64

	mu      sync.Mutex
	applied bool // at least one Apply programmed br-tun
	stats   ApplyStats
	// installed is what this instance put on each bridge, by bridge name;
	// a missing record makes the next Apply read that bridge back.
	installed map[string]installed
	// fwIDs numbers the firewall's conjunctions and security groups,
	// stable across Applies.
	fwIDs *fwIDs
	// portFW is iptables_hybrid's nftables firewall; hybridOn says the
	// last Apply used it (so switching the driver away cleans it up).
	portFW   portFirewall
	hybridOn bool

	// events is the coalescing device-event channel (events.go).
	events dataplane.Events
}

// installed is the record of one bridge: the flows we installed and the
// identity of the bridge's management socket when we last read it back.
// ovs-vswitchd makes a new socket when it (or the bridge) restarts, and a
// restarted switch has lost every flow, so a changed socket means the
// record is worthless.
type installed struct {
	set  *flowSet
	sock socketID
}

// ApplyStats says what the last Apply changed in the flow tables.
type ApplyStats struct {
	FlowAdds, FlowDeletes, StaleCookies int
	// FirewallOps counts the nftables rules and set elements the
	// iptables_hybrid firewall changed.
	FirewallOps int
	// ReadBacks counts the bridges whose flows were read back (dumped) and
	// compared; 0 when the Apply diffed against what it had installed.
	ReadBacks int
	// Reprogrammed is true when br-tun had none of our flows although an
	// earlier Apply had installed them (OVS restarted or was flushed).
	Reprogrammed bool
}

// LastApply returns the flow changes of the most recent Apply.
func (d *Dataplane) LastApply() ApplyStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stats
}

var (
	_ dataplane.Dataplane = (*Dataplane)(nil)
	_ dataplane.Resyncer  = (*Dataplane)(nil)
)

// New connects to OVSDB (monitoring the tables it uses) and prepares the
// OpenFlow client. It changes nothing on the switch: the first Apply does.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Dataplane, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.OVSDB == "" {
		cfg.OVSDB = "unix:/var/run/openvswitch/db.sock"
	}
	if cfg.RunDir == "" {
		cfg.RunDir = "/var/run/openvswitch"
		if p, ok := strings.CutPrefix(cfg.OVSDB, "unix:"); ok {
			cfg.RunDir = filepath.Dir(p)
		}
	}
	if cfg.IntegrationBridge == "" {
		cfg.IntegrationBridge = "br-int"
	}
	if cfg.TunnelBridge == "" {
		cfg.TunnelBridge = "br-tun"
	}
	if cfg.DatapathType == "" {
		cfg.DatapathType = "system"
	}
	if cfg.OfportTimeout == 0 {
		cfg.OfportTimeout = 10 * time.Second
	}
	if cfg.OfctlPath == "" {
		p, err := exec.LookPath("ovs-ofctl")
		if err != nil {
			return nil, fmt.Errorf("ovs data plane: ovs-ofctl not found (install openvswitch-switch): %w", err)
		}
		cfg.OfctlPath = p
	}
	if cfg.Cookie == 0 {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("ovs data plane: draw cookie: %w", err)
		}
		cfg.Cookie = binary.BigEndian.Uint64(b[:]) | 1 // never 0: 0 is "no cookie"
	}
	dbModel, err := clientModel()
	if err != nil {
		return nil, fmt.Errorf("ovs data plane: model: %w", err)
	}
	lg := logr.FromSlogHandler(log.With("component", "libovsdb").Handler())
	cli, err := client.NewOVSDBClient(dbModel, client.WithEndpoint(cfg.OVSDB), client.WithLogger(&lg),
		client.WithReconnect(30*time.Second, backoff.NewExponentialBackOff(backoff.WithMaxElapsedTime(0))))
	if err != nil {
		return nil, fmt.Errorf("ovs data plane: ovsdb client %s: %w", cfg.OVSDB, err)
	}
	if err := cli.Connect(ctx); err != nil {
		return nil, fmt.Errorf("ovs data plane: connect %s: %w", cfg.OVSDB, err)
	}
	if _, err := cli.Monitor(ctx, cli.NewMonitor(monitorOptions()...)); err != nil {
		cli.Close()
		return nil, fmt.Errorf("ovs data plane: monitor %s: %w", cfg.OVSDB, err)
	}
	var flows FlowClient
	switch cfg.OFInterface {
	case "", OFNative:
		cfg.OFInterface = OFNative
		flows = newNativeFlows(cfg.RunDir, cfg.OfctlPath, log)
	case OFOfctl:
		flows = ofctl{runDir: cfg.RunDir, path: cfg.OfctlPath}
	default:
		cli.Close()
		return nil, fmt.Errorf("ovs data plane: of_interface %q: want %q or %q", cfg.OFInterface, OFNative, OFOfctl)
	}
	d := &Dataplane{cfg: cfg, log: log, cli: cli, cookie: cfg.Cookie, installed: map[string]installed{}, fwIDs: newFwIDs(),
		portFW: newPortFirewall(cfg.NetNS, log), flows: flows, events: dataplane.NewEvents()}
	d.watchCache()
	log.Info("ovs data plane ready", "ovsdb", cfg.OVSDB, "cookie", fmt.Sprintf("%#x", cfg.Cookie),
		"integration_bridge", cfg.IntegrationBridge, "tunnel_bridge", cfg.TunnelBridge, "datapath_type", cfg.DatapathType,
		"of_interface", cfg.OFInterface)
	return d, nil
}

// Cookie is the cookie this instance tags its flows with.
func (d *Dataplane) Cookie() uint64 { return d.cookie }

// Close ends the OVSDB session and the OpenFlow connections; bridges,
// ports and flows stay.
func (d *Dataplane) Close() error {
	d.cli.Close()
	if c, ok := d.flows.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// Apply converges OVSDB (bridges, patch and tunnel ports, VM port tags)
// and both bridges' flows to desired. See the package doc for the order.
func (d *Dataplane) Apply(ctx context.Context, desired dataplane.NodeState) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, n := range desired.Networks {
		if n.Group.IsValid() {
			d.log.Warn("vxlan_group is not used by the OVS data plane (head-end replication only); ignoring", "network", id, "group", n.Group)
		}
	}
	d.stats = ApplyStats{}
	if err := d.ensureBridges(ctx); err != nil {
		return fmt.Errorf("ovs apply: %w", err)
	}
	var errs []error
	tunnels, err := wantedTunnels(desired)
	errs = append(errs, err)
	tunErr := d.ensureTunnels(ctx, desired, tunnels)
	errs = append(errs, tunErr)
	tags, err := d.planVMPorts(ctx, desired)
	errs = append(errs, err, tags.commit(ctx, d, func(u tagUpdate) bool { return u.tag == deadVLAN }))
	lvids := tags.lvids
	physnets, err := d.ensurePhysBridges(ctx)
	errs = append(errs, err, unmappedPhysnets(desired, d.cfg.BridgeMappings))
	physLayouts, err := d.physLayouts(ctx, physnets)
	errs = append(errs, err)

	names := []string{patchInt}
	for name := range tunnels {
		names = append(names, name)
	}
	sort.Strings(names)
	if tunErr != nil {
		// A tunnel port whose insert failed (ovsdb-server died in the
		// middle of the transaction) will never be numbered: waiting
		// OfportTimeout for it held back every other change of the pass
		// (bench/chaos). This pass fails anyway; the next one retries.
		names, err = d.existingPorts(ctx, d.cfg.TunnelBridge, names)
		errs = append(errs, err)
	}
	ofports, err := d.waitOfports(ctx, d.cfg.TunnelBridge, names, false)
	errs = append(errs, err)
	layout := Layout{Cookie: d.cookie, PatchInt: ofports[patchInt], Tunnels: map[netip.Addr]int{}, LVIDs: lvids, Physnets: physLayouts}
	for name, ip := range tunnels {
		if of, ok := ofports[name]; ok {
			layout.Tunnels[ip] = of
		}
	}
	if desired.Firewall.Driver == DriverOpenvswitch {
		layout.Ofports, err = d.vmOfports(ctx, tags.bound)
		errs = append(errs, err)
	}
	// A port goes live only once its firewall is in place: with the
	// openvswitch driver its flows (it has an ofport and br-int was
	// programmed), with iptables_hybrid the nftables update went through.
	fwReady := desired.Firewall.Driver != DriverOpenvswitch && desired.Firewall.Driver != DriverHybrid
	live := func(u tagUpdate) bool {
		_, hasOfport := layout.Ofports[u.portID]
		return u.tag != deadVLAN && (fwReady || desired.Firewall.Driver == DriverOpenvswitch && hasOfport)
	}
	if layout.PatchInt > 0 {
		intSet := intFlowSet(desired, layout, d.fwIDs, d.installed[d.cfg.IntegrationBridge].set)
		for _, g := range d.fwIDs.group.fresh {
			// An operator reading reg8=N in br-int's dump looks it up here.
			d.log.Info("ovs firewall: security group numbered", "group", g, "reg8", d.fwIDs.group.ids[g])
		}
		intSet.groups[providerGroup] = &flowGroup{flows: IntProviderFlows(desired, layout)}
		intErr := d.syncFlows(ctx, d.cfg.IntegrationBridge, intSet)
		errs = append(errs, intErr)
		if intErr != nil && desired.Firewall.Driver == DriverOpenvswitch {
			clear(layout.Ofports) // no port goes live without its flows
		}
		errs = append(errs, d.syncFlows(ctx, d.cfg.TunnelBridge,
			tunFlowSet(desired, layout, d.installed[d.cfg.TunnelBridge].set)))
		// A provider bridge is joined to br-int only once both ends
		// drop what they cannot translate.
		var joined []string
		for _, physnet := range physnets {
			err := d.syncFlows(ctx, physLayouts[physnet].Bridge, singleGroup(PhysFlows(desired, layout, physnet)))
			errs = append(errs, err)
			if pl := physLayouts[physnet]; err == nil && intErr == nil && pl.Int > 0 && pl.Phy > 0 {
				joined = append(joined, physnet)
			}
		}
		errs = append(errs, d.connectPhysPatches(ctx, joined))
	} else {
		clear(layout.Ofports) // br-int unprogrammed: no port goes live
	}
	if hybrid := desired.Firewall.Driver == DriverHybrid; hybrid || d.hybridOn {
		ops, err := d.portFW.apply(ctx, desired)
		d.stats.FirewallOps = ops
		errs = append(errs, err)
		d.hybridOn = hybrid || err != nil
		fwReady = fwReady || hybrid && err == nil
	}
	errs = append(errs, tags.commit(ctx, d, live))
	// Tunnel ports go only after no flow points at them any more.
	errs = append(errs, d.removeStaleTunnels(ctx, tunnels))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("ovs apply: %w", err)
	}
	return nil
}

// Resync makes the next Apply read both bridges' flows back and correct
// whatever differs from what it installed (dataplane.Resyncer): flows
// deleted or changed by hand, another cookie's leftovers.
func (d *Dataplane) Resync() {
	d.mu.Lock()
	defer d.mu.Unlock()
	clear(d.installed)
	d.portFW.resync()
}

// Drifted reports whether the next Apply would read a bridge back: never
// read yet, Resync called, a failed bundle, or a bridge's management
// socket replaced since (ovs-vswitchd restarted and lost its flows). It
// costs two stat calls (dataplane.Resyncer).
func (d *Dataplane) Drifted() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, br := range []string{d.cfg.IntegrationBridge, d.cfg.TunnelBridge} {
		rec, ok := d.installed[br]
		if sock, err := d.socket(br); !ok || err != nil || sock != rec.sock {
			return true
		}
	}
	return false
}

// syncFlows brings a bridge's flows to want as ONE bundle. Normally the
// difference is taken against what this instance installed (the record),
// so the cost follows the change; the bridge is read back (dumped) and
// compared flow by flow only when there is no record: the first Apply,
// after Resync (the agent's start, reconnects and periodic audit), after
// a failed bundle, and when ovs-vswitchd replaced the bridge's
// management socket (it restarted: finding none of our flows on br-tun
// then is logged as a reprogramming).
func (d *Dataplane) syncFlows(ctx context.Context, bridge string, want *flowSet) error {
	rec, ok := d.installed[bridge]
	sock, sockErr := d.socket(bridge)
	var p Plan
	if ok && sockErr == nil && sock == rec.sock {
		p = diffSets(rec.set, want, d.cookie)
	} else {
		delete(d.installed, bridge)
		have, err := d.flows.DumpFlows(ctx, bridge)
		if err != nil {
			return fmt.Errorf("read flows of %s: %w", bridge, err)
		}
		d.stats.ReadBacks++
		p = Diff(want.all(), have, d.cookie)
		if d.applied && p.OurFlows == 0 && bridge == d.cfg.TunnelBridge {
			d.stats.Reprogrammed = true
			d.log.Warn("no flows with our cookie on the tunnel bridge: OVS restarted or flows were flushed; reprogramming", "bridge", bridge)
		}
	}
	d.stats.FlowAdds += len(p.Adds)
	d.stats.FlowDeletes += len(p.Deletes)
	d.stats.StaleCookies += len(p.StaleCookies)
	if !p.Empty() {
		if err := d.flows.Bundle(ctx, bridge, p.Lines()); err != nil {
			// The bundle is all or nothing, but a cancelled process may
			// leave us unsure which: read back next time.
			delete(d.installed, bridge)
			return fmt.Errorf("program flows of %s: %w", bridge, err)
		}
		d.log.Debug("flows programmed", "bridge", bridge, "add", len(p.Adds), "delete", len(p.Deletes), "stale_cookies", len(p.StaleCookies))
	}
	if bridge == d.cfg.TunnelBridge {
		d.applied = true
	}
	if sockErr == nil {
		d.installed[bridge] = installed{set: want, sock: sock}
	}
	return nil
}

// wantedTunnels is tunnel port name -> remote VTEP: the state's Tunnels
// plus any VTEP a flood list or an entry refers to, without our own.
func wantedTunnels(s dataplane.NodeState) (map[string]netip.Addr, error) {
	// Collect the few distinct VTEPs first: naming one per entry would
	// cost every entry of the node on every Apply.
	ips := map[netip.Addr]struct{}{}
	for _, ip := range s.Tunnels {
		ips[ip] = struct{}{}
	}
	for _, n := range s.Networks {
		for _, ip := range n.Flood {
			ips[ip] = struct{}{}
		}
		if n.L2Pop {
			for _, e := range n.Entries {
				ips[e.VTEP] = struct{}{}
			}
		}
	}
	out := map[string]netip.Addr{}
	var errs []error
	for ip := range ips {
		if !ip.IsValid() || ip == s.LocalIP {
			continue
		}
		name, err := TunnelPortName(ip)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[name] = ip
	}
	return out, errors.Join(errs...)
}

// tunnelOptions are the Interface options of a tunnel port, as Neutron
// sets them (dst_port only when not the IANA port).
func tunnelOptions(local, remote netip.Addr, udpPort int) map[string]string {
	o := map[string]string{
		"in_key":    "flow",
		"out_key":   "flow",
		"local_ip":  local.String(),
		"remote_ip": remote.String(),
	}
	if udpPort != 0 && udpPort != 4789 {
		o["dst_port"] = strconv.Itoa(udpPort)
	}
	return o
}

// isTunnelPort reports whether a br-tun port is one of ours to manage.
func isTunnelPort(s snapshot, p *port) bool {
	i := s.firstIface(p)
	return strings.HasPrefix(p.Name, "vxlan-") && i != nil && i.Type == "vxlan"
}

func (d *Dataplane) ensureTunnels(ctx context.Context, s dataplane.NodeState, want map[string]netip.Addr) error {
	if len(want) > 0 && !s.LocalIP.Is4() {
		return fmt.Errorf("tunnels: local_ip %v is not an IPv4 address", s.LocalIP)
	}
	snap, err := takeSnapshot(ctx, d.cli)
	if err != nil {
		return err
	}
	br := snap.bridges[d.cfg.TunnelBridge]
	ports := snap.portsOf(br)
	t := &txn{cli: d.cli}
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		d.ensureIface(t, snap, br, ports[name], name, "vxlan", tunnelOptions(s.LocalIP, want[name], s.UDPPort), nil)
	}
	return t.commit(ctx, "ensure tunnel ports")
}

func (d *Dataplane) removeStaleTunnels(ctx context.Context, want map[string]netip.Addr) error {
	snap, err := takeSnapshot(ctx, d.cli)
	if err != nil {
		return err
	}
	br := snap.bridges[d.cfg.TunnelBridge]
	t := &txn{cli: d.cli}
	for name, p := range snap.portsOf(br) {
		if _, ok := want[name]; !ok && isTunnelPort(snap, p) {
			d.log.Info("removing tunnel port", "port", name)
			t.deletePort(br, p)
		}
	}
	return t.commit(ctx, "remove tunnel ports")
}

// vmPorts are br-int's interfaces that carry iface-id, by port name.
func (d *Dataplane) vmPorts(snap snapshot) map[string]*port {
	out := map[string]*port{}
	for name, p := range snap.portsOf(snap.bridges[d.cfg.IntegrationBridge]) {
		if i := snap.firstIface(p); i != nil && i.ExternalIDs["iface-id"] != "" {
			out[name] = p
		}
	}
	return out
}

// vmTags is the plan for VM port tags: the lvids, the bound ports (port
// id -> OVS port name) and the Port updates still to commit.
type vmTags struct {
	lvids   map[string]int
	bound   map[string]string
	updates []tagUpdate
}

type tagUpdate struct {
	portID string
	tag    int
	row    *port
}

// commit writes the updates that pick selects, in one transaction.
func (v vmTags) commit(ctx context.Context, d *Dataplane, pick func(tagUpdate) bool) error {
	t := &txn{cli: d.cli}
	for _, u := range v.updates {
		if pick(u) {
			t.add(t.cli.Where(u.row).Update(u.row, &u.row.Tag, &u.row.OtherConfig))
			d.log.Debug("tagging port", "iface_id", u.portID, "tag", u.tag)
		}
	}
	return t.commit(ctx, "tag VM ports")
}

// planVMPorts plans the tag of every plugged VM port: its network's lvid
// (recorded in other_config, as Neutron does), or the dead VLAN 4095 for
// ports the state does not bind. Apply commits the dead tags before and
// the live ones after the flows, so a port never carries traffic on its
// network before its firewall flows are in place, nor keeps it after
// they went.
func (d *Dataplane) planVMPorts(ctx context.Context, s dataplane.NodeState) (vmTags, error) {
	snap, err := takeSnapshot(ctx, d.cli)
	if err != nil {
		return vmTags{}, err
	}
	bound := map[string]string{}
	vms := d.vmPorts(snap)
	names := make([]string, 0, len(vms))
	for n := range vms {
		names = append(names, n)
	}
	sort.Strings(names)
	var ocs []map[string]string
	for _, n := range names {
		ocs = append(ocs, vms[n].OtherConfig)
	}
	nets := make([]string, 0, len(s.Networks))
	for id := range s.Networks {
		nets = append(nets, id)
	}
	lvids := AssignLVIDs(PersistedLVIDs(ocs), nets)
	var errs []error
	if len(lvids) < len(nets) {
		errs = append(errs, fmt.Errorf("out of local VLANs: %d networks, %d lvids", len(nets), len(lvids)))
	}
	plan := vmTags{lvids: lvids, bound: bound}
	for _, name := range names {
		p := vms[name]
		portID := snap.firstIface(p).ExternalIDs["iface-id"]
		tag := deadVLAN
		oc := maps.Clone(p.OtherConfig)
		if oc == nil {
			oc = map[string]string{}
		}
		for _, k := range []string{ocNetUUID, ocNetworkType, ocPhysicalNetwork, ocSegmentationID, ocTag} {
			delete(oc, k)
		}
		if lp, ok := s.Ports[portID]; ok {
			if n, ok := s.Networks[lp.NetworkID]; ok {
				if lv, ok := lvids[lp.NetworkID]; ok {
					tag = lv
					maps.Copy(oc, vlanMapping(n))
					bound[portID] = name
					oc[ocNetUUID] = lp.NetworkID
					oc[ocTag] = strconv.Itoa(lv)
				}
			} else {
				errs = append(errs, fmt.Errorf("port %s: network %s not in the desired state", portID, lp.NetworkID))
			}
		}
		if p.Tag != nil && *p.Tag == tag && maps.Equal(p.OtherConfig, oc) {
			continue
		}
		plan.updates = append(plan.updates, tagUpdate{portID: portID, tag: tag, row: &port{UUID: p.UUID, Tag: &tag, OtherConfig: oc}})
	}
	return plan, errors.Join(errs...)
}

// vmOfports waits for the ofports of the bound VM ports (port id -> OVS
// port name) and returns port id -> ofport; a port OVS has not numbered
// in time is left out (and reported).
func (d *Dataplane) vmOfports(ctx context.Context, names map[string]string) (map[string]int, error) {
	list := make([]string, 0, len(names))
	for _, n := range names {
		list = append(list, n)
	}
	sort.Strings(list)
	// A VM port unplugged since planVMPorts listed it will never be
	// numbered: waiting OfportTimeout for it held every other port of the
	// pass DOWN for 10 s (bench/chaos, a VM moved away during the pass).
	byName, err := d.waitOfports(ctx, d.cfg.IntegrationBridge, list, true)
	out := make(map[string]int, len(names))
	for id, n := range names {
		if of, ok := byName[n]; ok {
			out[id] = of
		}
	}
	return out, err
}

// deviceUp says whether a VM interface counts as up: admin_state "up",
// or no admin_state yet on an interface that has its OpenFlow port.
// admin_state is an ephemeral column: after an ovsdb-server restart it is
// empty until ovs-vswitchd writes it again, and reading that gap as
// "down" made the agent report every VM port DOWN, so the server withdrew
// them from all peers (found by bench/chaos). An internal port counts as
// up with its OpenFlow port whatever its admin_state: the L3 agent moves
// its qr-/qg- internal ports into a qrouter- namespace, where
// ovs-vswitchd can no longer query the device and reports it "down",
// while it forwards through the tap it holds open.
func deviceUp(i *iface) bool {
	if i.AdminState != nil && i.Type != "internal" {
		return *i.AdminState == "up"
	}
	return i.Ofport != nil && *i.Ofport > 0
}

// Devices lists br-int's interfaces that Nova/os-vif plugged (external_ids
// iface-id), with attached-mac; Up means OVS sees the link administratively
// up (deviceUp).
func (d *Dataplane) Devices(ctx context.Context) ([]dataplane.Device, error) {
	snap, err := takeSnapshot(ctx, d.cli)
	if err != nil {
		return nil, fmt.Errorf("ovs devices: %w", err)
	}
	var out []dataplane.Device
	for name, p := range d.vmPorts(snap) {
		i := snap.firstIface(p)
		mac := i.ExternalIDs["attached-mac"]
		if mac == "" && i.MACInUse != nil {
			mac = *i.MACInUse
		}
		out = append(out, dataplane.Device{
			PortID: i.ExternalIDs["iface-id"],
			Name:   name,
			MAC:    strings.ToLower(mac),
			Up:     deviceUp(i),
		})
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out, nil
}
