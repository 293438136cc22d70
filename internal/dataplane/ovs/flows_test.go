package ovs

import (
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"neutrino/internal/dataplane"
)

var (
	vtep1 = netip.MustParseAddr("198.18.0.1")
	vtep2 = netip.MustParseAddr("198.18.0.2")
	vtep3 = netip.MustParseAddr("198.18.0.3")
)

const refCookie = 0xbf37a35ff6b5b079

// node1State is the recorded reference's node 1 (neutron-ovs-flows.md):
// network VNI 0x6db on lvid 1, vm-b (fa:16:3e:46:2b:53, .12) on node 2,
// l2pop and arp_responder on.
func node1State() (dataplane.NodeState, Layout) {
	s := dataplane.NodeState{
		LocalIP: vtep1,
		UDPPort: 4789,
		Tunnels: []netip.Addr{vtep2},
		Networks: map[string]dataplane.Network{"net": {
			ID: "net", VNI: 0x6db, MTU: 1450, Flood: []netip.Addr{vtep2}, L2Pop: true, ARPResponder: true,
			Entries: []dataplane.Entry{
				{MAC: "fa:16:3e:46:2b:53", IP: netip.MustParseAddr("192.168.77.12"), VTEP: vtep2},
				// Local ports may appear in the entries; they get no flow.
				{MAC: "fa:16:3e:c3:14:73", IP: netip.MustParseAddr("192.168.77.11"), VTEP: vtep1},
			},
		}},
	}
	l := Layout{Cookie: refCookie, PatchInt: 1, Tunnels: map[netip.Addr]int{vtep2: 2}, LVIDs: map[string]int{"net": 1}}
	return s, l
}

func render(fs []Flow) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(f.String() + "\n")
	}
	return b.String()
}

// TestTunFlowsMatchNeutron compares our br-tun pipeline with the flows the
// real Neutron OVS agent installed for the same state (recorded dump,
// counters stripped, the one learned flow left out).
func TestTunFlowsMatchNeutron(t *testing.T) {
	raw, err := os.ReadFile("testdata/neutron-node1-br-tun.txt")
	if err != nil {
		t.Fatal(err)
	}
	ref, err := ParseDump(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	ref = slices.DeleteFunc(ref, isLearned)
	s, l := node1State()
	got := TunFlows(s, l)
	if g, w := render(got), render(ref); g != w {
		t.Errorf("br-tun flows differ from Neutron's\n--- got\n%s--- want (Neutron)\n%s", g, w)
	}
	// And a plan against Neutron's own dump (same cookie) is empty: our
	// text is exactly what OVS prints, learned flows are left alone.
	all, _ := ParseDump(string(raw))
	if p := Diff(got, all, refCookie); !p.Empty() {
		t.Errorf("diff against identical dump is not empty: %+v", p.Lines())
	}
}

// tunGoldenCase is a br-tun state and the flows it must give; the cases
// also feed the native OpenFlow client's equivalence tests.
type tunGoldenCase struct {
	name  string
	state dataplane.NodeState
	l     Layout
	want  string
}

func tunGoldenCases() []tunGoldenCase {
	mac := func(i int) string { return "fa:16:3e:00:00:0" + string(rune('0'+i)) }
	return []tunGoldenCase{{
		name: "full mesh without l2pop floods to every tunnel, learns unicast",
		state: dataplane.NodeState{LocalIP: vtep1, Tunnels: []netip.Addr{vtep2, vtep3},
			Networks: map[string]dataplane.Network{"a": {ID: "a", VNI: 1000,
				// Entries are ignored without l2pop.
				Entries: []dataplane.Entry{{MAC: mac(1), VTEP: vtep2}}}}},
		l: Layout{Cookie: 0x1, PatchInt: 1, Tunnels: map[netip.Addr]int{vtep2: 3, vtep3: 2}, LVIDs: map[string]int{"a": 5}},
		want: `cookie=0x1, table=0, priority=1,in_port=1 actions=goto_table:2
cookie=0x1, table=0, priority=1,in_port=2 actions=goto_table:4
cookie=0x1, table=0, priority=1,in_port=3 actions=goto_table:4
cookie=0x1, table=0, priority=0 actions=drop
cookie=0x1, table=2, priority=0,dl_dst=00:00:00:00:00:00/01:00:00:00:00:00 actions=goto_table:20
cookie=0x1, table=2, priority=0,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=goto_table:22
cookie=0x1, table=3, priority=0 actions=drop
cookie=0x1, table=4, priority=1,tun_id=0x3e8 actions=push_vlan:0x8100,set_field:4101->vlan_vid,goto_table:10
cookie=0x1, table=4, priority=0 actions=drop
cookie=0x1, table=6, priority=0 actions=drop
cookie=0x1, table=10, priority=1 actions=learn(table=20,hard_timeout=300,priority=1,cookie=0x1,NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:OXM_OF_IN_PORT[]),output:1
cookie=0x1, table=20, priority=0 actions=goto_table:22
cookie=0x1, table=21, priority=0 actions=goto_table:22
cookie=0x1, table=22, priority=1,dl_vlan=5 actions=pop_vlan,set_field:0x3e8->tun_id,output:2,output:3
cookie=0x1, table=22, priority=0 actions=drop
`,
	}, {
		name: "l2pop floods only to the network's VTEPs; no ARP responder; two networks",
		state: dataplane.NodeState{LocalIP: vtep1, Tunnels: []netip.Addr{vtep2, vtep3},
			Networks: map[string]dataplane.Network{
				"a": {ID: "a", VNI: 1000, L2Pop: true, Flood: []netip.Addr{vtep2},
					Entries: []dataplane.Entry{{MAC: "FA:16:3E:00:00:01", IP: netip.MustParseAddr("192.168.1.2"), VTEP: vtep2},
						{MAC: mac(1), VTEP: vtep2}}}, // duplicate MAC: one flow
				"b": {ID: "b", VNI: 1001, L2Pop: true, Flood: []netip.Addr{vtep3, vtep1},
					Entries: []dataplane.Entry{{MAC: mac(2), VTEP: vtep3},
						{MAC: mac(3), VTEP: netip.MustParseAddr("198.18.0.9")}}}, // no tunnel port: skipped
			}},
		l: Layout{Cookie: 0x2, PatchInt: 1, Tunnels: map[netip.Addr]int{vtep2: 2, vtep3: 3}, LVIDs: map[string]int{"a": 1, "b": 2}},
		want: `cookie=0x2, table=0, priority=1,in_port=1 actions=goto_table:2
cookie=0x2, table=0, priority=1,in_port=2 actions=goto_table:4
cookie=0x2, table=0, priority=1,in_port=3 actions=goto_table:4
cookie=0x2, table=0, priority=0 actions=drop
cookie=0x2, table=2, priority=0,dl_dst=00:00:00:00:00:00/01:00:00:00:00:00 actions=goto_table:20
cookie=0x2, table=2, priority=0,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=goto_table:22
cookie=0x2, table=3, priority=0 actions=drop
cookie=0x2, table=4, priority=1,tun_id=0x3e8 actions=push_vlan:0x8100,set_field:4097->vlan_vid,goto_table:10
cookie=0x2, table=4, priority=1,tun_id=0x3e9 actions=push_vlan:0x8100,set_field:4098->vlan_vid,goto_table:10
cookie=0x2, table=4, priority=0 actions=drop
cookie=0x2, table=6, priority=0 actions=drop
cookie=0x2, table=10, priority=1 actions=learn(table=20,hard_timeout=300,priority=1,cookie=0x2,NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:OXM_OF_IN_PORT[]),output:1
cookie=0x2, table=20, priority=2,dl_vlan=1,dl_dst=fa:16:3e:00:00:01 actions=pop_vlan,set_field:0x3e8->tun_id,output:2
cookie=0x2, table=20, priority=2,dl_vlan=2,dl_dst=fa:16:3e:00:00:02 actions=pop_vlan,set_field:0x3e9->tun_id,output:3
cookie=0x2, table=20, priority=0 actions=goto_table:22
cookie=0x2, table=21, priority=0 actions=goto_table:22
cookie=0x2, table=22, priority=1,dl_vlan=1 actions=pop_vlan,set_field:0x3e8->tun_id,output:2
cookie=0x2, table=22, priority=1,dl_vlan=2 actions=pop_vlan,set_field:0x3e9->tun_id,output:3
cookie=0x2, table=22, priority=0 actions=drop
`,
	}, {
		name:  "no networks, no tunnels: the skeleton only",
		state: dataplane.NodeState{LocalIP: vtep1},
		l:     Layout{Cookie: 0x3, PatchInt: 7},
		want: `cookie=0x3, table=0, priority=1,in_port=7 actions=goto_table:2
cookie=0x3, table=0, priority=0 actions=drop
cookie=0x3, table=2, priority=0,dl_dst=00:00:00:00:00:00/01:00:00:00:00:00 actions=goto_table:20
cookie=0x3, table=2, priority=0,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=goto_table:22
cookie=0x3, table=3, priority=0 actions=drop
cookie=0x3, table=4, priority=0 actions=drop
cookie=0x3, table=6, priority=0 actions=drop
cookie=0x3, table=10, priority=1 actions=learn(table=20,hard_timeout=300,priority=1,cookie=0x3,NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:OXM_OF_IN_PORT[]),output:7
cookie=0x3, table=20, priority=0 actions=goto_table:22
cookie=0x3, table=21, priority=0 actions=goto_table:22
cookie=0x3, table=22, priority=0 actions=drop
`,
	}, {
		name: "l2pop network whose last remote VTEP left: no flood flow, network without lvid skipped",
		state: dataplane.NodeState{LocalIP: vtep1, Networks: map[string]dataplane.Network{
			"a": {ID: "a", VNI: 7, L2Pop: true, ARPResponder: true},
			"z": {ID: "z", VNI: 8, L2Pop: true}}},
		l: Layout{Cookie: 0x4, PatchInt: 1, LVIDs: map[string]int{"a": 3}},
		want: `cookie=0x4, table=0, priority=1,in_port=1 actions=goto_table:2
cookie=0x4, table=0, priority=0 actions=drop
cookie=0x4, table=2, priority=1,arp,dl_dst=ff:ff:ff:ff:ff:ff actions=goto_table:21
cookie=0x4, table=2, priority=0,dl_dst=00:00:00:00:00:00/01:00:00:00:00:00 actions=goto_table:20
cookie=0x4, table=2, priority=0,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=goto_table:22
cookie=0x4, table=3, priority=0 actions=drop
cookie=0x4, table=4, priority=1,tun_id=0x7 actions=push_vlan:0x8100,set_field:4099->vlan_vid,goto_table:10
cookie=0x4, table=4, priority=0 actions=drop
cookie=0x4, table=6, priority=0 actions=drop
cookie=0x4, table=10, priority=1 actions=learn(table=20,hard_timeout=300,priority=1,cookie=0x4,NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:OXM_OF_IN_PORT[]),output:1
cookie=0x4, table=20, priority=0 actions=goto_table:22
cookie=0x4, table=21, priority=0 actions=goto_table:22
cookie=0x4, table=22, priority=0 actions=drop
`,
	}}
}

func TestTunFlowsGolden(t *testing.T) {
	for _, c := range tunGoldenCases() {
		t.Run(c.name, func(t *testing.T) {
			if got := render(TunFlows(c.state, c.l)); got != c.want {
				t.Errorf("got\n%s\nwant\n%s", got, c.want)
			}
		})
	}
}

func TestIntFlowsGolden(t *testing.T) {
	want := `cookie=0x9, table=0, priority=65535,dl_vlan=4095 actions=drop
cookie=0x9, table=0, priority=0 actions=goto_table:59
cookie=0x9, table=23, priority=0 actions=drop
cookie=0x9, table=59, priority=0 actions=goto_table:60
cookie=0x9, table=60, priority=3 actions=NORMAL
`
	if got := render(IntFlows(Layout{Cookie: 9})); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestDiff(t *testing.T) {
	const ours, old = 0xa, 0xb
	f := func(table, prio int, match, actions string, cookie uint64) Flow {
		return Flow{Table: table, Priority: prio, Match: match, Actions: actions, Cookie: cookie}
	}
	learned := Flow{Table: 20, Priority: 1, Match: "vlan_tci=0x0001/0x0fff,dl_dst=fa:16:3e:00:00:01", Actions: "output:2", Cookie: ours, HardTimeout: 300}
	learnedOld := learned
	learnedOld.Cookie = old
	cases := []struct {
		name       string
		want, have []Flow
		lines      []string
		ourFlows   int
	}{{
		name:  "fresh switch: everything added",
		want:  []Flow{f(0, 0, "", "drop", ours), f(22, 1, "dl_vlan=1", "output:2", ours)},
		lines: []string{"add cookie=0xa,table=0,priority=0 actions=drop", "add cookie=0xa,table=22,priority=1,dl_vlan=1 actions=output:2"},
	}, {
		name:     "in sync, learned flows untouched",
		want:     []Flow{f(0, 0, "", "drop", ours)},
		have:     []Flow{f(0, 0, "", "drop", ours), learned},
		ourFlows: 2,
	}, {
		name: "restart: same flows with the old cookie are replaced in place, leftovers of the old cookie deleted by cookie",
		want: []Flow{f(0, 0, "", "drop", ours)},
		have: []Flow{f(0, 0, "", "drop", old), f(20, 2, "dl_vlan=1,dl_dst=fa:16:3e:00:00:09", "output:2", old), learnedOld},
		lines: []string{"add cookie=0xa,table=0,priority=0 actions=drop",
			"delete cookie=0xb/-1"},
	}, {
		name:     "changed actions re-added, removed entry strictly deleted",
		want:     []Flow{f(22, 1, "dl_vlan=1", "output:2,output:3", ours)},
		have:     []Flow{f(22, 1, "dl_vlan=1", "output:2", ours), f(20, 2, "dl_vlan=1,dl_dst=fa:16:3e:00:00:09", "output:2", ours)},
		ourFlows: 2,
		lines: []string{"add cookie=0xa,table=22,priority=1,dl_vlan=1 actions=output:2,output:3",
			"delete_strict cookie=0xa/-1,table=20,priority=2,dl_vlan=1,dl_dst=fa:16:3e:00:00:09"},
	}, {
		name:     "flow deleted by hand comes back",
		want:     []Flow{f(0, 0, "", "drop", ours), f(23, 0, "", "drop", ours)},
		have:     []Flow{f(0, 0, "", "drop", ours)},
		ourFlows: 1,
		lines:    []string{"add cookie=0xa,table=23,priority=0 actions=drop"},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := Diff(c.want, c.have, ours)
			if !slices.Equal(p.Lines(), c.lines) {
				t.Errorf("lines\n got %q\nwant %q", p.Lines(), c.lines)
			}
			if p.OurFlows != c.ourFlows {
				t.Errorf("OurFlows = %d, want %d", p.OurFlows, c.ourFlows)
			}
			if p.Empty() != (len(c.lines) == 0) {
				t.Errorf("Empty() = %v with %d lines", p.Empty(), len(c.lines))
			}
		})
	}
}

func TestParseDump(t *testing.T) {
	text := `OFPST_FLOW reply (OF1.3) (xid=0x2):
 cookie=0x3ad1f5f545c12a5a, duration=20.401s, table=20, n_packets=0, n_bytes=0, hard_timeout=300, idle_age=3, priority=1,vlan_tci=0x0001/0x0fff,dl_dst=fa:16:3e:41:c8:3a actions=load:0->NXM_OF_VLAN_TCI[],output:2
 cookie=0x0, duration=1s, table=0, n_packets=0, n_bytes=0, actions=NORMAL
`
	fs, err := ParseDump(text)
	if err != nil {
		t.Fatal(err)
	}
	want := []Flow{
		{Cookie: 0x3ad1f5f545c12a5a, Table: 20, HardTimeout: 300, Priority: 1, Match: "vlan_tci=0x0001/0x0fff,dl_dst=fa:16:3e:41:c8:3a", Actions: "load:0->NXM_OF_VLAN_TCI[],output:2"},
		{Cookie: 0, Table: 0, Priority: 32768, Actions: "NORMAL"},
	}
	if !slices.Equal(fs, want) {
		t.Errorf("got %+v\nwant %+v", fs, want)
	}
	if !isLearned(fs[0]) || isLearned(fs[1]) {
		t.Error("isLearned misclassifies")
	}
	if _, err := ParseDump(" cookie=0x1, table=0 garbage"); err == nil {
		t.Error("a line without actions parsed")
	}
}

func TestTunnelPortName(t *testing.T) {
	for ip, want := range map[string]string{"198.18.0.2": "vxlan-c6120002", "10.142.255.103": "vxlan-0a8eff67", "192.168.10.10": "vxlan-c0a80a0a"} {
		got, err := TunnelPortName(netip.MustParseAddr(ip))
		if err != nil || got != want {
			t.Errorf("TunnelPortName(%s) = %q, %v; want %q", ip, got, err, want)
		}
	}
	if _, err := TunnelPortName(netip.MustParseAddr("2001:db8::1")); err == nil {
		t.Error("IPv6 VTEP accepted")
	}
}

func TestLVIDs(t *testing.T) {
	persisted := PersistedLVIDs([]map[string]string{
		{ocNetUUID: "a", ocTag: "3"},
		{ocNetUUID: "a", ocTag: "9"}, // second port of a: first wins
		{ocNetUUID: "b", ocTag: "4095"},
		{ocNetUUID: "c", ocTag: "x"},
		{ocNetUUID: "d", ocTag: "1"},
		{},
	})
	if want := map[string]int{"a": 3, "d": 1}; !mapsEqual(persisted, want) {
		t.Fatalf("persisted = %v, want %v", persisted, want)
	}
	got := AssignLVIDs(persisted, []string{"c", "a", "b", "e"})
	// a keeps 3; d is not wanted, so 1 is free again; b, c, e get 1, 2, 4.
	if want := map[string]int{"a": 3, "b": 1, "c": 2, "e": 4}; !mapsEqual(got, want) {
		t.Errorf("AssignLVIDs = %v, want %v", got, want)
	}
	many := make([]string, 4100)
	for i := range many {
		many[i] = "n" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + string(rune(i))
	}
	if got := AssignLVIDs(nil, many); len(got) != 4094 {
		t.Errorf("%d lvids for 4100 networks, want 4094", len(got))
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestWantedTunnelsAndOptions(t *testing.T) {
	s := dataplane.NodeState{LocalIP: vtep1, Tunnels: []netip.Addr{vtep2, vtep1},
		Networks: map[string]dataplane.Network{
			"a": {L2Pop: true, Flood: []netip.Addr{vtep3}, Entries: []dataplane.Entry{{VTEP: netip.MustParseAddr("198.18.0.9")}}},
			// Entries of a network without l2pop make no tunnel.
			"b": {Entries: []dataplane.Entry{{VTEP: netip.MustParseAddr("198.18.0.10")}}},
		}}
	got, err := wantedTunnels(s)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]netip.Addr{"vxlan-c6120002": vtep2, "vxlan-c6120003": vtep3, "vxlan-c6120009": netip.MustParseAddr("198.18.0.9")}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("wantedTunnels = %v, want %v", got, want)
	}
	s.Tunnels = append(s.Tunnels, netip.MustParseAddr("2001:db8::2"))
	if _, err := wantedTunnels(s); err == nil {
		t.Error("IPv6 VTEP accepted")
	}

	if o := tunnelOptions(vtep1, vtep2, 4789); fmt.Sprint(o) != "map[in_key:flow local_ip:198.18.0.1 out_key:flow remote_ip:198.18.0.2]" {
		t.Errorf("options at 4789: %v", o)
	}
	if o := tunnelOptions(vtep1, vtep2, 8472); o["dst_port"] != "8472" {
		t.Errorf("options at 8472: %v", o)
	}
}
