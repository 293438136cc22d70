package ovs

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"neutrino/internal/dataplane"
	"neutrino/internal/lab"
	"neutrino/internal/vxlan"
)

// These tests run real OVS daemons (one ovsdb-server + ovs-vswitchd per
// node namespace, userspace datapath) on H5's lab topology: nodes joined by
// an underlay bridge in its own namespace, VMs as namespaces with a veth
// whose node end is an OVS port on br-int with Nova's external_ids.

type ovsNode struct {
	node *lab.Node
	ovs  *lab.OVS
	dp   *Dataplane
}

func testLogger(t testing.TB) *slog.Logger {
	lvl := slog.LevelWarn
	if testing.Verbose() {
		lvl = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
}

// newOVSLab builds the nodes, each with its own OVS and data plane. All of
// it is removed in t.Cleanup, also when the test fails half-way.
func newOVSLab(t testing.TB, ctx context.Context, names ...string) (*lab.Lab, map[string]*ovsNode) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("OVS integration tests need root (namespaces, OVS daemons): run `make test` as root")
	}
	log := testLogger(t)
	l, err := lab.New(ctx, log)
	if err != nil {
		t.Fatal(err)
	}
	// Registered first, so it runs last: after every cleanup, nothing of
	// this lab may remain (namespaces, OVS daemons, run directories).
	var ovss []*lab.OVS
	t.Cleanup(func() { checkNothingLeft(t, l.Prefix, ovss) })
	t.Cleanup(func() {
		if err := l.Teardown(context.Background()); err != nil {
			t.Errorf("lab teardown: %v", err)
		}
	})
	nodes := map[string]*ovsNode{}
	for _, name := range names {
		n, err := l.AddNode(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		o, err := lab.StartNodeOVS(ctx, n, log)
		if err != nil {
			t.Fatal(err)
		}
		ovss = append(ovss, o)
		t.Cleanup(func() {
			if err := o.Stop(); err != nil {
				t.Errorf("stop ovs of %s: %v", name, err)
			}
		})
		dp, err := New(ctx, Config{OVSDB: o.OVSDB(), DatapathType: "netdev", NetNS: n.NS}, log.With("node", name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = dp.Close() })
		nodes[name] = &ovsNode{node: n, ovs: o, dp: dp}
	}
	return l, nodes
}

func checkNothingLeft(t testing.TB, prefix string, ovss []*lab.OVS) {
	var pids []int
	var runDirs []string
	for _, o := range ovss {
		pids = append(pids, o.PIDs()...)
		runDirs = append(runDirs, o.RunDir)
	}
	ents, _ := os.ReadDir("/run/netns")
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			t.Errorf("namespace %s left behind", e.Name())
		}
	}
	for _, pid := range pids {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			t.Errorf("OVS daemon pid %d still running", pid)
		}
	}
	for _, d := range runDirs {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("OVS run directory %s left behind", d)
		}
	}
}

type vmSpec struct {
	name, portID, mac string
	ip                netip.Prefix
	router            bool
}

// plug creates the VM namespace and plugs its tap into br-int as Nova does.
func plug(t testing.TB, ctx context.Context, l *lab.Lab, n *ovsNode, v vmSpec) *lab.VM {
	t.Helper()
	vif := lab.VIF{PortID: v.portID, MAC: v.mac, Addr: v.ip, MTU: 1450}
	var vm *lab.VM
	var err error
	if v.router {
		vm, err = l.AddRouter(ctx, n.node, v.name, vif)
	} else {
		vm, err = l.AddVM(ctx, n.node, v.name, vif)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := n.ovs.PlugVIF(ctx, "br-int", vm.Tap, v.portID, v.mac, "vm-"+v.name); err != nil {
		t.Fatal(err)
	}
	if err := lab.DisableOffloads(ctx, vm.NS, vm.VIF.IfName); err != nil {
		t.Fatal(err)
	}
	return vm
}

func apply(t *testing.T, ctx context.Context, n *ovsNode, s dataplane.NodeState) {
	t.Helper()
	if err := n.dp.Apply(ctx, s); err != nil {
		t.Fatalf("apply on %s: %v", n.node.Name, err)
	}
}

func ping(ctx context.Context, ns, ip string, count int) error {
	_, err := lab.Exec(ctx, ns, "ping", "-n", "-c", fmt.Sprint(count), "-i", "0.2", "-W", "2", ip)
	return err
}

// captured is one underlay capture: the VXLAN packets decoded by our own
// decoder (internal/vxlan, AF_PACKET) and, as an independent cross-check,
// tcpdump's text of the same interface.
type captured struct {
	pkts []vxlan.Packet
	text string
}

// capture records VXLAN traffic (UDP to 4789) on dev in ns, with both
// internal/vxlan and tcpdump, until stop is called.
func capture(t testing.TB, ctx context.Context, ns, dev string) (stop func() captured) {
	t.Helper()
	cctx, cancel := context.WithCancel(ctx)
	ch, cerr, err := vxlan.Capture(cctx, ns, dev, vxlan.Options{UDPDstPort: vxlan.PortIANA})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	var pkts []vxlan.Packet
	done := make(chan struct{})
	go func() {
		defer close(done)
		for r := range ch {
			var p vxlan.Packet
			if err := vxlan.Decode(r.Data, &p); err == nil && p.IsVXLAN {
				pkts = append(pkts, p)
			}
		}
	}()
	td, err := lab.Start(ns, "tcpdump", "-l", "-n", "-e", "-i", dev, "udp dst port 4789")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = td.Stop() })
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(td.Output(), "listening on") {
		if time.Now().After(deadline) {
			t.Fatalf("tcpdump did not start: %s", td.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return func() captured {
		time.Sleep(300 * time.Millisecond) // let the last packets land
		cancel()
		<-done
		if err := cerr(); err != nil {
			t.Errorf("capture on %s/%s: %v", ns, dev, err)
		}
		_ = td.Stop()
		return captured{pkts: pkts, text: td.Output()}
	}
}

// icmp selects decoded packets from src VTEP to dst VTEP with the VNI
// carrying an inner ICMP message of type typ between the inner addresses.
func (c captured) icmp(src, dst netip.Addr, vni uint32, typ uint8, in, out string) int {
	n := 0
	for _, p := range c.pkts {
		f := p.Inner
		if p.Outer.IPv4.Src == src && p.Outer.IPv4.Dst == dst && p.VXLAN.VNI == vni &&
			f.Layers&vxlan.LayerICMP != 0 && f.ICMP.Type == typ &&
			f.IPv4.Src.String() == in && f.IPv4.Dst.String() == out {
			n++
		}
	}
	return n
}

// arpRequests returns, per outer destination, the decoded copies sent by
// src of an inner ARP request for target.
func (c captured) arpRequests(src netip.Addr, vni uint32, target string) map[netip.Addr]int {
	out := map[netip.Addr]int{}
	for _, p := range c.pkts {
		if p.Outer.IPv4.Src == src && p.VXLAN.VNI == vni && p.Inner.Layers&vxlan.LayerARP != 0 &&
			p.Inner.ARP.Op == 1 && p.Inner.ARP.TargetIP.String() == target {
			out[p.Outer.IPv4.Dst]++
		}
	}
	return out
}

// vxlanLines returns the captured VXLAN packets whose text contains all of
// the given substrings.
func vxlanLines(out string, contains ...string) []string {
	// tcpdump prints the inner frame of a VXLAN packet on its own line;
	// join continuation lines to the packet line that carries the time.
	var pkts []string
	for line := range strings.SplitSeq(out, "\n") {
		if tsRE.MatchString(line) || len(pkts) == 0 {
			pkts = append(pkts, line)
		} else {
			pkts[len(pkts)-1] += " " + strings.TrimSpace(line)
		}
	}
	var res []string
	for _, line := range pkts {
		if !strings.Contains(line, "VXLAN") {
			continue
		}
		ok := true
		for _, c := range contains {
			ok = ok && strings.Contains(line, c)
		}
		if ok {
			res = append(res, line)
		}
	}
	return res
}

// brTunVXLANPorts parses `ovs-vsctl show`: the br-tun ports named vxlan-*
// with their type and options lines.
func brTunVXLANPorts(show string) map[string]string {
	out := map[string]string{}
	inTun := false
	cur := ""
	for line := range strings.SplitSeq(show, "\n") {
		tl := strings.TrimSpace(line)
		if strings.HasPrefix(tl, "Bridge ") {
			inTun = tl == "Bridge br-tun"
			cur = ""
			continue
		}
		if !inTun {
			continue
		}
		if strings.HasPrefix(tl, "Port ") {
			cur = strings.Trim(strings.TrimPrefix(tl, "Port "), `"`)
			if !strings.HasPrefix(cur, "vxlan-") {
				cur = ""
			}
			continue
		}
		if cur != "" && (strings.HasPrefix(tl, "type:") || strings.HasPrefix(tl, "options:")) {
			out[cur] += tl + "\n"
		}
	}
	return out
}

var tsRE = regexp.MustCompile(`^\d\d:\d\d:\d\d\.\d+ `)

const (
	netID = "3f1c0e2a-5d43-4c1e-9c55-0a8e2b6d1001"
	vni   = 1000
)

var (
	routerPort = vmSpec{name: "r1", portID: "7a1b2c3d-0000-4000-8000-000000000001", mac: "fa:16:3e:00:00:01", ip: netip.MustParsePrefix("192.168.1.1/24"), router: true}
	vm1Port    = vmSpec{name: "vm1", portID: "4f63feaf-e92a-4045-8e45-d3160c99fb84", mac: "fa:16:3e:00:00:04", ip: netip.MustParsePrefix("192.168.1.4/24")}
	vm2Port    = vmSpec{name: "vm2", portID: "2bc01296-f8d4-48ce-a600-5acf83ee2bbf", mac: "fa:16:3e:00:00:02", ip: netip.MustParsePrefix("192.168.1.2/24")}
)

func entry(v vmSpec, n *ovsNode) dataplane.Entry {
	return dataplane.Entry{MAC: v.mac, IP: v.ip.Addr(), VTEP: n.node.IP()}
}

// nodeState is what an agent would compute for node `self` hosting
// `local` ports, given every node's ports (hosts) and the l2pop flags.
func nodeState(self *ovsNode, all []*ovsNode, hosts map[*ovsNode][]vmSpec, l2pop, arp bool) dataplane.NodeState {
	s := dataplane.NodeState{LocalIP: self.node.IP(), UDPPort: 4789,
		Networks: map[string]dataplane.Network{}, Ports: map[string]dataplane.LocalPort{}}
	for _, v := range hosts[self] {
		s.Ports[v.portID] = dataplane.LocalPort{ID: v.portID, NetworkID: netID, MAC: v.mac}
	}
	net := dataplane.Network{ID: netID, VNI: vni, MTU: 1450, L2Pop: l2pop, ARPResponder: arp}
	for _, n := range all {
		if n == self {
			continue
		}
		if !l2pop {
			s.Tunnels = append(s.Tunnels, n.node.IP()) // full mesh
			continue
		}
		if len(hosts[n]) == 0 || len(hosts[self]) == 0 {
			continue // partial mesh: only VTEPs sharing the network
		}
		s.Tunnels = append(s.Tunnels, n.node.IP())
		net.Flood = append(net.Flood, n.node.IP())
		for _, v := range hosts[n] {
			net.Entries = append(net.Entries, entry(v, n))
		}
	}
	if len(hosts[self]) > 0 {
		s.Networks[netID] = net
	}
	return s
}

func applyAll(t *testing.T, ctx context.Context, all []*ovsNode, hosts map[*ovsNode][]vmSpec, l2pop, arp bool) {
	t.Helper()
	for _, n := range all {
		apply(t, ctx, n, nodeState(n, all, hosts, l2pop, arp))
	}
}

// TestSeedScenario is the seed: controller with a router namespace, two
// computes with a VM each, full-mesh tunnels without l2population.
func TestSeedScenario(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	l, nodes := newOVSLab(t, ctx, "controller", "compute1", "compute2")
	ctl, c1, c2 := nodes["controller"], nodes["compute1"], nodes["compute2"]
	all := []*ovsNode{ctl, c1, c2}
	hosts := map[*ovsNode][]vmSpec{ctl: {routerPort}, c1: {vm1Port}, c2: {vm2Port}}

	// The agent starts first (creates br-int), then Nova plugs the VMs.
	applyAll(t, ctx, all, map[*ovsNode][]vmSpec{}, false, false)
	router := plug(t, ctx, l, ctl, routerPort)
	vm1 := plug(t, ctx, l, c1, vm1Port)
	plug(t, ctx, l, c2, vm2Port)

	devs, err := c1.dp.Devices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []dataplane.Device{{PortID: vm1Port.portID, Name: vm1.Tap, MAC: vm1Port.mac, Up: true}}
	if !slices.Equal(devs, want) {
		t.Errorf("Devices() = %+v, want %+v", devs, want)
	}

	applyAll(t, ctx, all, hosts, false, false)

	for _, ip := range []string{"192.168.1.4", "192.168.1.2"} {
		if err := ping(ctx, router.NS, ip, 3); err != nil {
			t.Errorf("router -> %s: %v", ip, err)
		}
	}
	// compute1 <-> compute2 as well: the userspace datapath drops the first
	// packet towards a VTEP whose MAC it has not resolved yet (it ARPs
	// for it on br-phy), so every VTEP pair talks once before we count.
	if err := ping(ctx, vm1.NS, "192.168.1.2", 2); err != nil {
		t.Errorf("vm1 -> vm2: %v", err)
	}

	// ovs-vsctl show lists br-tun with exactly the two tunnels, named and
	// optioned as in the seed.
	for _, n := range all {
		show, err := n.ovs.Vsctl(ctx, "show")
		if err != nil {
			t.Fatal(err)
		}
		got := brTunVXLANPorts(show)
		wantPorts := map[string]string{}
		for _, o := range all {
			if o == n {
				continue
			}
			name, _ := TunnelPortName(o.node.IP())
			wantPorts[name] = fmt.Sprintf("type: vxlan\noptions: {in_key=flow, local_ip=%q, out_key=flow, remote_ip=%q}\n", n.node.IP(), o.node.IP())
		}
		if fmt.Sprint(got) != fmt.Sprint(wantPorts) {
			t.Errorf("%s: br-tun vxlan ports\n got %v\nwant %v\n%s", n.node.Name, got, wantPorts, show)
		}
		for _, needle := range []string{"Bridge br-int", "Bridge br-tun", "fail_mode: secure", "datapath_type: netdev",
			"options: {peer=patch-int}", "options: {peer=patch-tun}"} {
			if !strings.Contains(show, needle) {
				t.Errorf("%s: ovs-vsctl show lacks %q", n.node.Name, needle)
			}
		}
		if testing.Verbose() && n == ctl {
			t.Logf("controller ovs-vsctl show:\n%s", show)
		}
	}

	// The VM port carries the network's local VLAN, persisted like Neutron.
	tag, err := c1.ovs.Vsctl(ctx, "get", "Port", vm1.Tap, "tag")
	if err != nil || strings.TrimSpace(tag) != "1" {
		t.Errorf("vm1 port tag = %q, %v; want 1", tag, err)
	}
	oc, _ := c1.ovs.Vsctl(ctx, "get", "Port", vm1.Tap, "other_config")
	for _, kv := range []string{"net_uuid=" + `"` + netID + `"`, `network_type=vxlan`, `segmentation_id="1000"`, `tag="1"`} {
		if !strings.Contains(oc, kv) {
			t.Errorf("vm1 port other_config %s lacks %s", strings.TrimSpace(oc), kv)
		}
	}

	// A second Apply of the same state changes nothing.
	apply(t, ctx, ctl, nodeState(ctl, all, hosts, false, false))
	if st := ctl.dp.LastApply(); st != (ApplyStats{}) {
		t.Errorf("second Apply changed flows: %+v", st)
	}

	// Underlay capture: VNI and inner ICMP between the VTEPs, decoded by
	// internal/vxlan; tcpdump must agree.
	stop := capture(t, ctx, ctl.node.NS, ctl.node.Dev)
	if err := ping(ctx, router.NS, "192.168.1.4", 2); err != nil {
		t.Errorf("router -> vm1: %v", err)
	}
	c := stop()
	req := c.icmp(ctl.node.IP(), c1.node.IP(), vni, 8, "192.168.1.1", "192.168.1.4")
	rep := c.icmp(c1.node.IP(), ctl.node.IP(), vni, 0, "192.168.1.4", "192.168.1.1")
	if req != 2 || rep != 2 {
		t.Errorf("decoded capture on controller underlay: %d VXLAN echo requests, %d replies, want 2 each (%d VXLAN packets)", req, rep, len(c.pkts))
	}
	treq := vxlanLines(c.text, "vni 1000", fmt.Sprintf("%s.", ctl.node.IP()), fmt.Sprintf("> %s.4789", c1.node.IP()), "192.168.1.1 > 192.168.1.4: ICMP echo request")
	trep := vxlanLines(c.text, "vni 1000", fmt.Sprintf("%s.", c1.node.IP()), fmt.Sprintf("> %s.4789", ctl.node.IP()), "192.168.1.4 > 192.168.1.1: ICMP echo reply")
	if len(treq) != req || len(trep) != rep {
		t.Errorf("tcpdump disagrees with the decoder: %d requests, %d replies:\n%s", len(treq), len(trep), c.text)
	}

	// One ARP broadcast from vm1 without l2pop: head-end replication, one
	// unicast copy to each of the two other VTEPs.
	stop = capture(t, ctx, c1.node.NS, c1.node.Dev)
	_, _ = lab.Exec(ctx, vm1.NS, "arping", "-c", "1", "-w", "1", "-I", "eth0", "192.168.1.99")
	c = stop()
	copies := c.arpRequests(c1.node.IP(), vni, "192.168.1.99")
	if want := map[netip.Addr]int{ctl.node.IP(): 1, c2.node.IP(): 1}; fmt.Sprint(copies) != fmt.Sprint(want) {
		t.Errorf("ARP broadcast without l2pop: copies per VTEP %v, want %v", copies, want)
	}
	if lines := vxlanLines(c.text, "vni 1000", c1.node.IP().String()+".", "Request who-has 192.168.1.99"); len(lines) != 2 {
		t.Errorf("tcpdump cross-check: %d ARP copies, want 2:\n%s", len(lines), c.text)
	}
}

// TestL2Pop: flooding only to the VTEPs that host the network, a fourth
// node without ports gets nothing, and the ARP responder answers locally.
func TestL2Pop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	l, nodes := newOVSLab(t, ctx, "controller", "compute1", "compute2", "compute3")
	ctl, c1, c2, c3 := nodes["controller"], nodes["compute1"], nodes["compute2"], nodes["compute3"]
	all := []*ovsNode{ctl, c1, c2, c3}
	hosts := map[*ovsNode][]vmSpec{ctl: {routerPort}, c1: {vm1Port}, c2: {vm2Port}}
	applyAll(t, ctx, all, map[*ovsNode][]vmSpec{}, true, false)
	plug(t, ctx, l, ctl, routerPort)
	vm1 := plug(t, ctx, l, c1, vm1Port)
	plug(t, ctx, l, c2, vm2Port)
	applyAll(t, ctx, all, hosts, true, false)

	for _, ip := range []string{"192.168.1.1", "192.168.1.2"} {
		if err := ping(ctx, vm1.NS, ip, 3); err != nil {
			t.Errorf("vm1 -> %s with l2pop: %v", ip, err)
		}
	}
	show, _ := c3.ovs.Vsctl(ctx, "show")
	if ports := brTunVXLANPorts(show); len(ports) != 0 {
		t.Errorf("compute3 hosts no port but has tunnels %v", ports)
	}

	stop1 := capture(t, ctx, c1.node.NS, c1.node.Dev)
	stop3 := capture(t, ctx, c3.node.NS, c3.node.Dev)
	_, _ = lab.Exec(ctx, vm1.NS, "arping", "-c", "1", "-w", "1", "-I", "eth0", "192.168.1.99")
	cap1, cap3 := stop1(), stop3()
	copies := cap1.arpRequests(c1.node.IP(), vni, "192.168.1.99")
	if want := map[netip.Addr]int{ctl.node.IP(): 1, c2.node.IP(): 1}; fmt.Sprint(copies) != fmt.Sprint(want) {
		t.Errorf("l2pop flood from compute1: copies per VTEP %v, want %v", copies, want)
	}
	if len(cap3.pkts) != 0 || len(vxlanLines(cap3.text)) != 0 {
		t.Errorf("compute3 (no ports) received %d VXLAN packets:\n%s", len(cap3.pkts), cap3.text)
	}

	// ARP responder on: ARP for a known IP is answered by br-tun, nothing
	// reaches the underlay.
	applyAll(t, ctx, all, hosts, true, true)
	if _, err := lab.Exec(ctx, vm1.NS, "ip", "neigh", "flush", "all"); err != nil {
		t.Fatal(err)
	}
	stop1 = capture(t, ctx, c1.node.NS, c1.node.Dev)
	arp, err := lab.Exec(ctx, vm1.NS, "arping", "-c", "1", "-w", "2", "-I", "eth0", "192.168.1.2")
	cap1 = stop1()
	if err != nil || !regexp.MustCompile(`(?i)reply from 192\.168\.1\.2 \[FA:16:3E:00:00:02\]`).Match(arp) {
		t.Errorf("arping 192.168.1.2 with ARP responder: %v\n%s", err, arp)
	}
	// Only vm1's own question counts: vm2's kernel may revalidate its
	// neighbour entry of vm1 in the same moment by a unicast ARP, which
	// crosses the tunnel (as in Neutron, the responder answers broadcasts).
	if req, ans := cap1.arpRequests(c1.node.IP(), vni, "192.168.1.2"), vxlanLines(cap1.text, "Reply 192.168.1.2 is-at"); len(req) != 0 || len(ans) != 0 ||
		len(vxlanLines(cap1.text, "who-has 192.168.1.2 ")) != 0 {
		t.Errorf("ARP responder: vm1's ARP for 192.168.1.2 crossed the underlay (requests per VTEP %v, answers %q):\n%s", req, ans, cap1.text)
	}
}

// dumpTun returns br-tun's flows on node n.
func dumpTun(t *testing.T, ctx context.Context, n *ovsNode) []Flow {
	t.Helper()
	fs, err := n.dp.flows.DumpFlows(ctx, "br-tun")
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

func hasFlow(fs []Flow, table, prio int, matchPart string) bool {
	return slices.ContainsFunc(fs, func(f Flow) bool {
		return f.Table == table && f.Priority == prio && strings.Contains(f.Match, matchPart)
	})
}

// TestRestartAndRemoval: a new Dataplane (new cookie) takes over without
// losing a packet; hand-deleted and flushed flows come back; removing an
// entry or the last port removes its flows and tunnel.
func TestRestartAndRemoval(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	l, nodes := newOVSLab(t, ctx, "compute1", "compute2")
	c1, c2 := nodes["compute1"], nodes["compute2"]
	all := []*ovsNode{c1, c2}
	hosts := map[*ovsNode][]vmSpec{c1: {vm1Port}, c2: {vm2Port}}
	applyAll(t, ctx, all, map[*ovsNode][]vmSpec{}, true, true)
	vm1 := plug(t, ctx, l, c1, vm1Port)
	vm2 := plug(t, ctx, l, c2, vm2Port)
	applyAll(t, ctx, all, hosts, true, true)
	if err := ping(ctx, vm1.NS, "192.168.1.2", 2); err != nil {
		t.Fatalf("vm1 -> vm2 before restart: %v", err)
	}

	// Continuous ping while both nodes' data planes restart.
	pinger, err := lab.Start(vm1.NS, "ping", "-n", "-i", "0.01", "-c", "400", "-W", "1", "192.168.1.2")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pinger.Stop() })
	time.Sleep(500 * time.Millisecond)
	oldCookies := map[*ovsNode]uint64{}
	for _, n := range all {
		dp2, err := New(ctx, Config{OVSDB: n.ovs.OVSDB(), DatapathType: "netdev"}, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = dp2.Close() })
		oldCookies[n] = n.dp.Cookie()
		_ = n.dp.Close()
		n.dp = dp2
		apply(t, ctx, n, nodeState(n, all, hosts, true, true))
		if st := n.dp.LastApply(); st.StaleCookies == 0 {
			t.Errorf("%s: restart removed no stale cookie: %+v", n.node.Name, st)
		}
	}
	if err := pinger.Wait(ctx); err != nil {
		t.Errorf("ping across restart: %v\n%s", err, pinger.Output())
	}
	if m := regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`).FindStringSubmatch(pinger.Output()); m == nil || m[1] != m[2] {
		t.Errorf("ping across data plane restart lost packets:\n%s", pinger.Output())
	}
	for _, n := range all {
		for _, f := range dumpTun(t, ctx, n) {
			if f.Cookie != n.dp.Cookie() {
				t.Errorf("%s: flow with stale cookie %#x left: %s", n.node.Name, f.Cookie, f)
			}
			if f.Cookie == oldCookies[n] {
				t.Errorf("%s: old cookie survived", n.node.Name)
			}
		}
	}

	// Pretend an earlier run gave the network local VLAN 7 on compute2
	// (Neutron's Port other_config record): a restarted data plane keeps
	// it instead of allocating the lowest free one.
	if _, err := c2.ovs.Vsctl(ctx, "set", "Port", vm2.Tap, "tag=7", "other_config:tag=7"); err != nil {
		t.Fatal(err)
	}
	dp3, err := New(ctx, Config{OVSDB: c2.ovs.OVSDB(), DatapathType: "netdev"}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dp3.Close() })
	_ = c2.dp.Close()
	c2.dp = dp3
	apply(t, ctx, c2, nodeState(c2, all, hosts, true, true))
	if tag, _ := c2.ovs.Vsctl(ctx, "get", "Port", vm2.Tap, "tag"); strings.TrimSpace(tag) != "7" {
		t.Errorf("persisted local VLAN not reused after restart: tag %q, want 7", tag)
	}
	if fs := dumpTun(t, ctx, c2); !hasFlow(fs, 22, 1, "dl_vlan=7") || hasFlow(fs, 22, 1, "dl_vlan=1") {
		t.Errorf("compute2 flood flow not (only) on the persisted VLAN 7:\n%s", render(fs))
	}
	if err := ping(ctx, vm1.NS, "192.168.1.2", 2); err != nil {
		t.Errorf("vm1 -> vm2 on VLAN 7: %v", err)
	}

	// A flow deleted by hand: an ordinary Apply diffs against what it
	// installed and does not read the switch back, so only the audit
	// (Resync, then Apply) restores it.
	if _, err := c1.ovs.Ofctl(ctx, "-O", "OpenFlow13", "del-flows", "br-tun", "table=22,dl_vlan=1"); err != nil {
		t.Fatal(err)
	}
	if hasFlow(dumpTun(t, ctx, c1), 22, 1, "dl_vlan=1") {
		t.Fatal("hand deletion did not delete")
	}
	if c1.dp.Drifted() {
		t.Error("Drifted() after a hand edit that no cheap check can see")
	}
	apply(t, ctx, c1, nodeState(c1, all, hosts, true, true))
	if st := c1.dp.LastApply(); st != (ApplyStats{}) {
		t.Errorf("unchanged state: Apply read back or changed flows: %+v", st)
	}
	c1.dp.Resync()
	if !c1.dp.Drifted() {
		t.Error("Drifted() false after Resync")
	}
	apply(t, ctx, c1, nodeState(c1, all, hosts, true, true))
	if st := c1.dp.LastApply(); st.ReadBacks != 2 || st.FlowAdds != 1 || st.FlowDeletes != 0 {
		t.Errorf("audit after a hand deletion: %+v, want 2 read-backs and 1 add", st)
	}
	if !hasFlow(dumpTun(t, ctx, c1), 22, 1, "dl_vlan=1") {
		t.Error("flood flow deleted by hand not restored by the audit")
	}
	// All flows gone (as after an OVS restart): reprogrammed by the audit.
	if _, err := c1.ovs.Ofctl(ctx, "del-flows", "br-tun"); err != nil {
		t.Fatal(err)
	}
	c1.dp.Resync()
	apply(t, ctx, c1, nodeState(c1, all, hosts, true, true))
	if st := c1.dp.LastApply(); !st.Reprogrammed {
		t.Errorf("flushed br-tun not detected: %+v", st)
	}
	if err := ping(ctx, vm1.NS, "192.168.1.2", 2); err != nil {
		t.Errorf("vm1 -> vm2 after reprogramming: %v", err)
	}

	// A real ovs-vswitchd restart (flows are not persistent): the next
	// Apply notices and reprograms; the OVSDB session survives.
	if err := c2.ovs.RestartVswitchd(ctx); err != nil {
		t.Fatal(err)
	}
	if fs := dumpTun(t, ctx, c2); len(fs) != 0 {
		t.Fatalf("br-tun after ovs-vswitchd restart still has %d flows", len(fs))
	}
	if !c2.dp.Drifted() {
		t.Error("ovs-vswitchd restart: Drifted() is false")
	}
	apply(t, ctx, c2, nodeState(c2, all, hosts, true, true))
	if st := c2.dp.LastApply(); !st.Reprogrammed {
		t.Errorf("ovs-vswitchd restart not detected: %+v", st)
	}
	if err := ping(ctx, vm1.NS, "192.168.1.2", 3); err != nil {
		t.Errorf("vm1 -> vm2 after ovs-vswitchd restart: %v", err)
	}

	// ovsdb-server restarts: the data plane's OVSDB session reconnects
	// and the next Apply (a port plugged meanwhile) goes through.
	if err := c2.ovs.RestartOVSDB(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.ovs.Vsctl(ctx, "--timeout=20", "add-port", "br-int", "extra0", "--", "set", "Interface", "extra0",
		"type=internal", "external_ids:iface-id=0000dead-0000-4000-8000-000000000000"); err != nil {
		t.Fatal(err)
	}
	apply(t, ctx, c2, nodeState(c2, all, hosts, true, true))
	if tag, _ := c2.ovs.Vsctl(ctx, "get", "Port", "extra0", "tag"); strings.TrimSpace(tag) != "4095" {
		t.Errorf("port plugged across an ovsdb-server restart: tag %q, want 4095 (not bound)", tag)
	}
	if err := ping(ctx, vm1.NS, "192.168.1.2", 2); err != nil {
		t.Errorf("vm1 -> vm2 after ovsdb-server restart: %v", err)
	}

	// Entry removal: vm2's l2pop unicast and ARP flows go from compute1.
	s := nodeState(c1, all, hosts, true, true)
	n := s.Networks[netID]
	n.Entries = nil
	s.Networks[netID] = n
	apply(t, ctx, c1, s)
	fs := dumpTun(t, ctx, c1)
	if hasFlow(fs, 20, 2, "dl_dst="+vm2Port.mac) || hasFlow(fs, 21, 1, "arp_tpa=192.168.1.2") {
		t.Errorf("removed entry's flows still present:\n%s", render(fs))
	}
	if !hasFlow(fs, 22, 1, "dl_vlan=1") {
		t.Error("flood flow went with the entries")
	}

	// Last port gone from compute2: its network's flows, the tunnel port,
	// and the port's VLAN (dead VLAN 4095).
	apply(t, ctx, c2, nodeState(c2, all, map[*ovsNode][]vmSpec{c1: {vm1Port}}, true, true))
	fs = dumpTun(t, ctx, c2)
	if hasFlow(fs, 4, 1, "tun_id=") || hasFlow(fs, 22, 1, "") || hasFlow(fs, 0, 1, "in_port=2") {
		t.Errorf("network flows left after its last port went:\n%s", render(fs))
	}
	show, _ := c2.ovs.Vsctl(ctx, "show")
	if ports := brTunVXLANPorts(show); len(ports) != 0 {
		t.Errorf("tunnel ports left: %v", ports)
	}
	if tag, _ := c2.ovs.Vsctl(ctx, "get", "Port", vm2.Tap, "tag"); strings.TrimSpace(tag) != "4095" {
		t.Errorf("unbound port tag = %q, want 4095", tag)
	}
}
