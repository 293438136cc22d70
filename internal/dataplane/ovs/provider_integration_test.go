package ovs

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"neutrino/internal/dataplane"
	"neutrino/internal/lab"
	"neutrino/internal/vxlan"
)

// wireFrames captures every frame on a physnet switch port (in the lab's
// underlay namespace) with our decoder, and with tcpdump -e as an
// independent cross-check of the 802.1Q tags.
type wireFrames struct {
	frames []vxlan.Frame
	text   string
}

func captureWire(t *testing.T, ctx context.Context, ns, dev string) (stop func() wireFrames) {
	t.Helper()
	cctx, cancel := context.WithCancel(ctx)
	ch, cerr, err := vxlan.Capture(cctx, ns, dev, vxlan.Options{})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	var frames []vxlan.Frame
	done := make(chan struct{})
	go func() {
		defer close(done)
		for r := range ch {
			var p vxlan.Packet
			if err := vxlan.Decode(r.Data, &p); err == nil {
				frames = append(frames, p.Outer)
			}
		}
	}()
	td, err := lab.Start(ns, "tcpdump", "-l", "-n", "-e", "-i", dev, "icmp or (vlan and icmp)")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = td.Stop() })
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(td.Output(), "listening on"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("tcpdump did not start: %s", td.Output())
		}
	}
	return func() wireFrames {
		time.Sleep(300 * time.Millisecond)
		cancel()
		<-done
		if err := cerr(); err != nil && err != context.Canceled {
			t.Errorf("capture on %s/%s: %v", ns, dev, err)
		}
		_ = td.Stop()
		return wireFrames{frames: frames, text: td.Output()}
	}
}

// icmpTags counts ICMP echo requests from src to dst by the VLAN they
// carried on the wire (-1: untagged).
func (w wireFrames) icmpTags(src, dst netip.Addr) map[int]int {
	out := map[int]int{}
	for _, f := range w.frames {
		if f.Layers&vxlan.LayerICMP == 0 || f.ICMP.Type != 8 || f.IPv4.Src != src || f.IPv4.Dst != dst {
			continue
		}
		tag := -1
		if f.Layers&vxlan.LayerVLAN != 0 {
			tag = int(f.Ethernet.VLAN)
		}
		out[tag]++
	}
	return out
}

// TestProviderNetworks: two nodes, each with br-ex (the operator's
// provider bridge, holding the node's "physical" interface on physnet1)
// mapped by bridge_mappings = physnet1:br-ex. VMs on a vlan network
// (VLAN 100) and on a flat network talk across nodes over the physical
// link, with the right 802.1Q tag (or none) on the wire, while a vxlan
// network on the same nodes keeps working over the tunnel.
func TestProviderNetworks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	l, nodes := newOVSLab(t, ctx, "c1", "c2")
	c1, c2 := nodes["c1"], nodes["c2"]
	pn, err := l.AddPhysnet(ctx, "physnet1")
	if err != nil {
		t.Fatal(err)
	}
	mappings := map[string]string{"physnet1": "br-ex"}
	wire := map[*ovsNode]lab.PhysPort{}
	for _, n := range []*ovsNode{c1, c2} {
		pp, err := pn.Join(ctx, n.node.NS, "eth1")
		if err != nil {
			t.Fatal(err)
		}
		wire[n] = pp
		// Before the operator made br-ex, the agent refuses to start.
		dp, err := New(ctx, Config{OVSDB: n.ovs.OVSDB(), DatapathType: "netdev", BridgeMappings: mappings}, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = dp.Close() })
		if err := dp.CheckBridgeMappings(ctx); err == nil || !strings.Contains(err.Error(), "bridge br-ex for physical network physnet1 does not exist") {
			t.Fatalf("CheckBridgeMappings without br-ex: %v", err)
		}
		if err := n.ovs.SetupProviderBridge(ctx, "br-ex", "eth1"); err != nil {
			t.Fatal(err)
		}
		if err := dp.CheckBridgeMappings(ctx); err != nil {
			t.Fatalf("CheckBridgeMappings with br-ex: %v", err)
		}
		// The data plane with the mapping replaces the lab's default one.
		n.dp = dp
	}

	const (
		vlanNet = "0a0a0a0a-0000-4000-8000-00000000v100"
		flatNet = "0b0b0b0b-0000-4000-8000-00000000flat"
	)
	type vmOn struct {
		spec vmSpec
		net  string
	}
	vms := map[*ovsNode][]vmOn{
		c1: {
			{vmSpec{name: "v1", portID: "aa000001-0000-4000-8000-000000000001", mac: "fa:16:3e:10:00:01", ip: netip.MustParsePrefix("192.168.100.1/24")}, vlanNet},
			{vmSpec{name: "f1", portID: "bb000001-0000-4000-8000-000000000001", mac: "fa:16:3e:20:00:01", ip: netip.MustParsePrefix("198.18.100.11/24")}, flatNet},
			{vm1Port, netID},
		},
		c2: {
			{vmSpec{name: "v2", portID: "aa000002-0000-4000-8000-000000000002", mac: "fa:16:3e:10:00:02", ip: netip.MustParsePrefix("192.168.100.2/24")}, vlanNet},
			{vmSpec{name: "f2", portID: "bb000002-0000-4000-8000-000000000002", mac: "fa:16:3e:20:00:02", ip: netip.MustParsePrefix("198.18.100.12/24")}, flatNet},
			{vm2Port, netID},
		},
	}
	ns := map[string]string{} // VM name -> namespace
	for n, list := range vms {
		apply(t, ctx, n, dataplane.NodeState{LocalIP: n.node.IP(), UDPPort: 4789}) // br-int for the VMs
		for _, v := range list {
			ns[v.spec.name] = plug(t, ctx, l, n, v.spec).NS
		}
	}
	stateOf := func(self, peer *ovsNode) dataplane.NodeState {
		s := dataplane.NodeState{LocalIP: self.node.IP(), UDPPort: 4789, Tunnels: []netip.Addr{peer.node.IP()},
			Ports: map[string]dataplane.LocalPort{}, Networks: map[string]dataplane.Network{
				netID:   {ID: netID, Type: "vxlan", VNI: vni, MTU: 1450, Flood: []netip.Addr{peer.node.IP()}},
				vlanNet: {ID: vlanNet, Type: "vlan", MTU: 1500, PhysicalNetwork: "physnet1", VLAN: 100},
				flatNet: {ID: flatNet, Type: "flat", MTU: 1500, PhysicalNetwork: "physnet1"},
			}}
		for _, v := range vms[self] {
			s.Ports[v.spec.portID] = dataplane.LocalPort{ID: v.spec.portID, NetworkID: v.net, MAC: v.spec.mac}
		}
		return s
	}
	apply(t, ctx, c1, stateOf(c1, c2))
	apply(t, ctx, c2, stateOf(c2, c1))

	// Neutron's plumbing: patch ports joined, the provider bridge secure.
	show, _ := c1.ovs.Vsctl(ctx, "show")
	for _, want := range []string{"Port int-br-ex", "options: {peer=phy-br-ex}", "Port phy-br-ex", "options: {peer=int-br-ex}"} {
		if !strings.Contains(show, want) {
			t.Errorf("ovs-vsctl show lacks %q:\n%s", want, show)
		}
	}
	if fm, _ := c1.ovs.Vsctl(ctx, "get", "Bridge", "br-ex", "fail_mode"); strings.TrimSpace(fm) != "secure" {
		t.Errorf("br-ex fail_mode = %q, want secure", fm)
	}
	// Read back and compared flow by flow (the golden text is what OVS
	// prints): a full resync finds nothing to change on any bridge.
	c1.dp.Resync()
	apply(t, ctx, c1, stateOf(c1, c2))
	if st := c1.dp.LastApply(); st.FlowAdds+st.FlowDeletes+st.StaleCookies != 0 || st.ReadBacks < 3 {
		t.Errorf("resync of a converged node changed flows: %+v", st)
	}
	flows, _ := c1.ovs.Ofctl(ctx, "-O", "OpenFlow13", "dump-flows", "br-ex")
	for _, want := range []string{"priority=4,in_port=", "actions=set_field:4196->vlan_vid,NORMAL", "actions=pop_vlan,NORMAL", "priority=2,in_port="} {
		if !strings.Contains(flows, want) {
			t.Errorf("br-ex flows lack %q:\n%s", want, flows)
		}
	}

	stop := captureWire(t, ctx, l.Underlay, wire[c1].Port)
	for _, p := range []struct{ from, to string }{{"v1", "192.168.100.2"}, {"f1", "198.18.100.12"}, {"vm1", "192.168.1.2"}} {
		// The first packet may be lost while OVS learns (userspace
		// datapath ARP for the tunnel); the last two must arrive.
		_ = ping(ctx, ns[p.from], p.to, 1)
		if err := ping(ctx, ns[p.from], p.to, 2); err != nil {
			t.Errorf("ping %s -> %s: %v", p.from, p.to, err)
		}
	}
	w := stop()
	if got := w.icmpTags(netip.MustParseAddr("192.168.100.1"), netip.MustParseAddr("192.168.100.2")); got[100] < 2 || len(got) != 1 {
		t.Errorf("vlan network echo requests on the wire by tag: %v, want only VLAN 100", got)
	}
	if got := w.icmpTags(netip.MustParseAddr("198.18.100.11"), netip.MustParseAddr("198.18.100.12")); got[-1] < 2 || len(got) != 1 {
		t.Errorf("flat network echo requests on the wire by tag: %v, want only untagged", got)
	}
	if got := w.icmpTags(netip.MustParseAddr("192.168.1.4"), netip.MustParseAddr("192.168.1.2")); len(got) != 0 {
		t.Errorf("vxlan network traffic leaked onto the physical network: %v", got)
	}
	// tcpdump agrees: the vlan network's requests carry "vlan 100", the
	// flat network's none.
	var tagged, untagged int
	for line := range strings.SplitSeq(w.text, "\n") {
		switch {
		case strings.Contains(line, "192.168.100.1 > 192.168.100.2: ICMP echo request"):
			if strings.Contains(line, "vlan 100") {
				tagged++
			}
		case strings.Contains(line, "198.18.100.11 > 198.18.100.12: ICMP echo request"):
			if !strings.Contains(line, "vlan") {
				untagged++
			}
		}
	}
	if tagged < 2 || untagged < 2 {
		t.Errorf("tcpdump: %d tagged vlan-100 and %d untagged flat echo requests, want at least 2 each:\n%s", tagged, untagged, w.text)
	}

	// The flat network is the kind the L3 agent's external network is:
	// a host of the upstream network (the lab's "outside", untagged on
	// physnet1) reaches the VMs on it through br-ex.
	out, err := pn.AddOutside(ctx, "upstream", netip.MustParsePrefix("198.18.100.1/24"))
	if err != nil {
		t.Fatal(err)
	}
	_ = ping(ctx, out.NS, "198.18.100.12", 1)
	for _, ip := range []string{"198.18.100.11", "198.18.100.12"} {
		if err := ping(ctx, out.NS, ip, 2); err != nil {
			t.Errorf("outside -> %s on the flat network: %v", ip, err)
		}
	}

	// The vlan network leaves c1 (its last port unbound): its translation
	// flows go, the others stay, and the flat network keeps working.
	s := stateOf(c1, c2)
	delete(s.Networks, vlanNet)
	delete(s.Ports, vms[c1][0].spec.portID)
	apply(t, ctx, c1, s)
	flows, _ = c1.ovs.Ofctl(ctx, "-O", "OpenFlow13", "dump-flows", "br-ex")
	if strings.Contains(flows, "4196->vlan_vid") || !strings.Contains(flows, "pop_vlan,NORMAL") {
		t.Errorf("after the vlan network left, br-ex flows:\n%s", flows)
	}
	if err := ping(ctx, ns["v1"], "192.168.100.2", 2); err == nil {
		t.Error("v1 still reaches v2 after its network was unbound on c1")
	}
	if err := ping(ctx, ns["f1"], "198.18.100.12", 2); err != nil {
		t.Errorf("flat network after the vlan network left: %v", err)
	}
}
