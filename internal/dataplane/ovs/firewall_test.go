package ovs

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"neutrino/internal/dataplane"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

const (
	fwNet    = "net-a"
	portA    = "aaaaaaaa-0000-4000-8000-000000000001"
	portB    = "bbbbbbbb-0000-4000-8000-000000000002"
	portC    = "cccccccc-0000-4000-8000-000000000003"
	portD    = "dddddddd-0000-4000-8000-000000000004"
	sgDef    = "sg-default"
	sgWeb    = "sg-web"
	sgPing   = "sg-ping"
	fwCookie = 0x1234
)

func host(s string) netip.Prefix { a := netip.MustParseAddr(s); return netip.PrefixFrom(a, a.BitLen()) }

// defaultRules are Neutron's default group: egress anything, ingress from
// the group's members.
func defaultRules() []dataplane.Rule {
	return []dataplane.Rule{
		{Direction: "egress", Ethertype: "IPv4"},
		{Direction: "egress", Ethertype: "IPv6"},
		{Direction: "ingress", Ethertype: "IPv4", RemoteGroup: sgDef},
		{Direction: "ingress", Ethertype: "IPv6", RemoteGroup: sgDef},
	}
}

// webRules are group web's: SSH from anywhere, ping from a prefix, a UDP
// range, TCP from the web group and from the default group.
func webRules() []dataplane.Rule {
	return []dataplane.Rule{
		{Direction: "ingress", Ethertype: "IPv4", Protocol: 6, PortMin: 22, PortMax: 22},
		{Direction: "ingress", Ethertype: "IPv4", Protocol: 1, PortMin: 8, PortMax: -1, RemotePrefix: netip.MustParsePrefix("192.0.2.0/24")},
		{Direction: "ingress", Ethertype: "IPv4", Protocol: 17, PortMin: 1000, PortMax: 1999},
		{Direction: "ingress", Ethertype: "IPv4", Protocol: 6, RemoteGroup: sgWeb},
		{Direction: "ingress", Ethertype: "IPv4", Protocol: 6, RemoteGroup: sgDef},
	}
}

// pingRules are the stateless group ping's: ICMP in from the default
// group, ICMP out.
func pingRules() []dataplane.Rule {
	return []dataplane.Rule{
		{Direction: "ingress", Ethertype: "IPv4", Protocol: 1, PortMin: -1, PortMax: -1, RemoteGroup: sgDef},
		{Direction: "egress", Ethertype: "IPv4", Protocol: 1, PortMin: -1, PortMax: -1},
	}
}

// fwState is a node with four ports on one network (lvid 1): A in the
// default group with an allowed address pair, B in default + web (SSH
// from anywhere, ping, a UDP range, TCP from the web group), C stateless
// (ICMP only), D without port security.
func fwState() (dataplane.NodeState, Layout) {
	s := dataplane.NodeState{
		LocalIP:  vtep1,
		Networks: map[string]dataplane.Network{fwNet: {ID: fwNet, VNI: 100}},
		Ports: map[string]dataplane.LocalPort{
			portA: {ID: portA, NetworkID: fwNet, MAC: "fa:16:3e:00:00:0a"},
			portB: {ID: portB, NetworkID: fwNet, MAC: "fa:16:3e:00:00:0b"},
			portC: {ID: portC, NetworkID: fwNet, MAC: "fa:16:3e:00:00:0c"},
			portD: {ID: portD, NetworkID: fwNet, MAC: "fa:16:3e:00:00:0d"},
		},
		Firewall: dataplane.Firewall{
			Driver: DriverOpenvswitch,
			Ports: map[string]dataplane.PortFilter{
				portA: {PortID: portA, NetworkID: fwNet, MAC: "fa:16:3e:00:00:0a", PortSecurity: true, Stateful: true,
					Allowed: []dataplane.AllowedAddress{
						{MAC: "fa:16:3e:00:00:0a", Prefix: host("10.0.0.10")},
						{MAC: "fa:16:3e:00:00:aa", Prefix: netip.MustParsePrefix("10.0.9.0/24")},
					},
					Groups: []string{sgDef}, Rules: defaultRules()},
				portB: {PortID: portB, NetworkID: fwNet, MAC: "fa:16:3e:00:00:0b", PortSecurity: true, Stateful: true,
					Allowed: []dataplane.AllowedAddress{
						{MAC: "fa:16:3e:00:00:0b", Prefix: host("10.0.0.11")},
						{MAC: "fa:16:3e:00:00:0b", Prefix: host("2001:db8::11")},
					},
					Groups: []string{sgDef, sgWeb}, Rules: append(defaultRules(), webRules()...)},
				portC: {PortID: portC, NetworkID: fwNet, MAC: "fa:16:3e:00:00:0c", PortSecurity: true, Stateful: false,
					Allowed: []dataplane.AllowedAddress{{MAC: "fa:16:3e:00:00:0c", Prefix: host("10.0.0.12")}},
					Groups:  []string{sgPing}, Rules: pingRules()},
				portD: {PortID: portD, NetworkID: fwNet, MAC: "fa:16:3e:00:00:0d", PortSecurity: false},
			},
			RemoteGroups: map[string][]netip.Prefix{
				sgDef: {host("10.0.0.10"), host("10.0.0.11"), host("10.0.0.20"), host("2001:db8::11")},
				sgWeb: {host("10.0.0.11"), host("10.0.5.7")},
			},
			Groups: map[string][]dataplane.Rule{sgDef: defaultRules(), sgWeb: webRules(), sgPing: pingRules()},
		},
	}
	l := Layout{Cookie: fwCookie, PatchInt: 1, LVIDs: map[string]int{fwNet: 1},
		Ofports: map[string]int{portA: 2, portB: 3, portC: 4, portD: 5}}
	return s, l
}

// TestFirewallFlowsGolden renders br-int with the openvswitch firewall
// for fwState in the text ovs-ofctl dump-flows prints (checked against a
// real switch by TestOVSFirewall's read-back).
func TestFirewallFlowsGolden(t *testing.T) {
	s, l := fwState()
	got := render(intFlowSet(s, l, newFwIDs(), nil).all())
	const path = "testdata/fw-br-int.txt"
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("br-int firewall flows differ from %s (run with -update after checking):\n%s", path, lineDiff(string(want), got))
	}
}

func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for _, l := range w {
		if !slices.Contains(g, l) {
			b.WriteString("- " + l + "\n")
		}
	}
	for _, l := range g {
		if !slices.Contains(w, l) {
			b.WriteString("+ " + l + "\n")
		}
	}
	return b.String()
}

// TestFirewallNoopKeepsL2Pipeline: without the openvswitch driver br-int
// is exactly the L2 pipeline.
func TestFirewallNoopKeepsL2Pipeline(t *testing.T) {
	s, l := fwState()
	for _, drv := range []string{"", "noop", DriverHybrid} {
		s.Firewall.Driver = drv
		if got, want := render(intFlowSet(s, l, newFwIDs(), nil).all()), render(sortFlows(IntFlows(l))); got != want {
			t.Errorf("driver %q: br-int\n%s\nwant\n%s", drv, got, want)
		}
	}
}

func TestPortMasks(t *testing.T) {
	for _, tc := range []struct {
		lo, hi int
		want   string
	}{
		{22, 22, "22"},
		{80, 81, "0x50/0xfffe"},
		{1000, 1999, "0x3e8/0xfff8 0x3f0/0xfff0 0x400/0xfe00 0x600/0xff00 0x700/0xff80 0x780/0xffc0 0x7c0/0xfff0"},
		{1, 65535, "1 0x2/0xfffe 0x4/0xfffc 0x8/0xfff8 0x10/0xfff0 0x20/0xffe0 0x40/0xffc0 0x80/0xff80 0x100/0xff00 0x200/0xfe00 0x400/0xfc00 0x800/0xf800 0x1000/0xf000 0x2000/0xe000 0x4000/0xc000 0x8000/0x8000"},
	} {
		if got := strings.Join(portMasks(tc.lo, tc.hi), " "); got != tc.want {
			t.Errorf("portMasks(%d, %d) = %s, want %s", tc.lo, tc.hi, got, tc.want)
		}
	}
}

// TestPortMasksCoverExactly checks that the masks of [lo,hi] cover exactly that range.
func TestPortMasksCoverExactly(t *testing.T) {
	for _, r := range [][2]int{{1, 1}, {3, 17}, {1000, 1999}, {1024, 65535}, {0, 65535}, {65535, 65535}} {
		var n int
		for p := 0; p <= 65535; p++ {
			in := false
			for _, m := range portMasks(r[0], r[1]) {
				vs, ms, masked := strings.Cut(m, "/")
				v, _ := strconv.ParseUint(vs, 0, 16)
				mask := uint64(0xffff)
				if masked {
					mask, _ = strconv.ParseUint(ms, 0, 16)
				}
				in = in || uint64(p)&mask == v
			}
			if in != (p >= r[0] && p <= r[1]) {
				t.Fatalf("range %v: port %d covered=%v", r, p, in)
			}
			if in {
				n++
			}
		}
		if n != r[1]-r[0]+1 {
			t.Errorf("range %v covers %d ports", r, n)
		}
	}
}

// groupState is a node with n filtered ports, all in the default group,
// whose members are the n ports plus extra remote members.
func groupState(n int, extra []netip.Prefix) (dataplane.NodeState, Layout) {
	s := dataplane.NodeState{Networks: map[string]dataplane.Network{fwNet: {ID: fwNet, VNI: 100}},
		Ports: map[string]dataplane.LocalPort{},
		Firewall: dataplane.Firewall{Driver: DriverOpenvswitch, Ports: map[string]dataplane.PortFilter{},
			RemoteGroups: map[string][]netip.Prefix{}, Groups: map[string][]dataplane.Rule{sgDef: defaultRules()}}}
	l := Layout{Cookie: fwCookie, PatchInt: 1, LVIDs: map[string]int{fwNet: 1}, Ofports: map[string]int{}}
	var members []netip.Prefix
	for i := range n {
		id := fmt.Sprintf("port-%05d", i)
		mac := fmt.Sprintf("fa:16:3e:00:%02x:%02x", i>>8, i&0xff)
		ip := netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
		s.Ports[id] = dataplane.LocalPort{ID: id, NetworkID: fwNet, MAC: mac}
		s.Firewall.Ports[id] = dataplane.PortFilter{PortID: id, NetworkID: fwNet, MAC: mac, PortSecurity: true, Stateful: true,
			Allowed: []dataplane.AllowedAddress{{MAC: mac, Prefix: netip.PrefixFrom(ip, 32)}}, Groups: []string{sgDef}, Rules: defaultRules()}
		l.Ofports[id] = 2 + i
		members = append(members, netip.PrefixFrom(ip, 32))
	}
	s.Firewall.RemoteGroups[sgDef] = append(members, extra...)
	return s, l
}

// TestFirewallChangeCost: one member joining or leaving the default group
// changes one flow (its address's conjunction flow for ingress; the group
// is used by no egress rule); a rule created in the group (all n ports)
// adds one flow and its delete removes it; a rule naming a remote group
// not used so far adds its flow, the conjunction's accept and one flow
// per member of that group: all whatever the number of ports in the
// group. The table goes to docs/BENCHMARKS.md.
func TestFirewallChangeCost(t *testing.T) {
	t.Logf("%8s %10s %14s %14s %12s %12s %20s", "ports", "flows", "member joins", "member leaves", "rule create", "rule delete", "remote-group rule")
	for _, n := range []int{1, 100, 1000} {
		s, l := groupState(n, nil)
		ids := newFwIDs()
		base := intFlowSet(s, l, ids, nil)

		joined := netip.MustParsePrefix("10.2.0.1/32")
		s.Firewall.RemoteGroups[sgDef] = append(slices.Clone(s.Firewall.RemoteGroups[sgDef]), joined)
		afterJoin := intFlowSet(s, l, ids, base)
		join := diffSets(base, afterJoin, fwCookie)
		if len(join.Adds) != 1 || len(join.Deletes) != 0 || !strings.Contains(join.Adds[0], "nw_src=10.2.0.1 ") {
			t.Errorf("%d ports: member join: %+v, want one add of its address flow", n, join)
		}

		s.Firewall.RemoteGroups[sgDef] = s.Firewall.RemoteGroups[sgDef][:n]
		afterLeave := intFlowSet(s, l, ids, afterJoin)
		leave := diffSets(afterJoin, afterLeave, fwCookie)
		if len(leave.Adds) != 0 || len(leave.Deletes) != 1 {
			t.Errorf("%d ports: member leave: %+v, want one delete", n, leave)
		}

		// A rule created in the default group, as the agent hands it
		// over: the group's rules and every port's union change.
		setGroupRules := func(rules []dataplane.Rule) { setRules(s, sgDef, rules) }
		before := s.Firewall.Groups[sgDef]
		setGroupRules(append(slices.Clone(before), dataplane.Rule{Direction: "ingress", Ethertype: "IPv4", Protocol: 6, PortMin: 80, PortMax: 80}))
		afterRule := intFlowSet(s, l, ids, afterLeave)
		rule := diffSets(afterLeave, afterRule, fwCookie)
		if len(rule.Adds) != 1 || len(rule.Deletes) != 0 || !strings.Contains(rule.Adds[0], "table=85,priority=70,tcp,reg8=0x1,tp_dst=80 ") {
			t.Errorf("%d ports: rule created: %+v, want one add", n, rule)
		}
		setGroupRules(before)
		afterDel := intFlowSet(s, l, ids, afterRule)
		del := diffSets(afterRule, afterDel, fwCookie)
		if len(del.Adds) != 0 || len(del.Deletes) != 1 || !strings.Contains(del.Deletes[0], "tp_dst=80") {
			t.Errorf("%d ports: rule deleted: %+v, want one delete", n, del)
		}

		s.Firewall.RemoteGroups["sg-db"] = []netip.Prefix{host("10.3.0.1"), host("10.3.0.2"), host("10.3.0.3")}
		setGroupRules(append(slices.Clone(before), dataplane.Rule{Direction: "egress", Ethertype: "IPv4", Protocol: 6, PortMin: 5432, PortMax: 5432, RemoteGroup: "sg-db"}))
		afterRemote := intFlowSet(s, l, ids, afterDel)
		remote := diffSets(afterDel, afterRemote, fwCookie)
		if len(remote.Adds) != 5 || len(remote.Deletes) != 0 {
			t.Errorf("%d ports: remote-group rule created: %+v, want 5 adds (rule, conjunction, 3 members)", n, remote)
		}
		t.Logf("%8d %10d %14d %14d %12d %12d %20d", n, len(base.all()),
			len(join.Adds)+len(join.Deletes), len(leave.Adds)+len(leave.Deletes), len(rule.Adds)+len(rule.Deletes),
			len(del.Adds)+len(del.Deletes), len(remote.Adds)+len(remote.Deletes))
	}
}

// TestConjIDsStable: ids stay with their key while it is used; freed ids
// are reused; a new group never renumbers the others.
func TestConjIDsStable(t *testing.T) {
	c := newFwIDs().conj
	a := conjKey{Group: "a", Direction: "ingress", Ethertype: "IPv4"}
	b := conjKey{Group: "b", Direction: "ingress", Ethertype: "IPv4"}
	z := conjKey{Group: "0", Direction: "egress", Ethertype: "IPv4"}
	got := c.assign(map[conjKey]bool{a: true, b: true})
	if got[a] != 1 || got[b] != 2 {
		t.Fatalf("first assignment %v", got)
	}
	got = c.assign(map[conjKey]bool{a: true, b: true, z: true})
	if got[a] != 1 || got[b] != 2 || got[z] != 3 {
		t.Errorf("new key renumbered others: %v", got)
	}
	got = c.assign(map[conjKey]bool{b: true, z: true})
	if _, ok := got[a]; ok || got[b] != 2 || got[z] != 3 {
		t.Errorf("after dropping a: %v", got)
	}
	got = c.assign(map[conjKey]bool{b: true, z: true, a: true})
	if got[a] != 1 {
		t.Errorf("freed id not reused: %v", got)
	}
}

// sharedMACState is fwState plus allowed address pairs that share MACs:
// A's pair names B's own MAC, and C and A both hold the keepalived-style
// pair MAC 00:00:5e:00:01:01 for the same virtual address.
func sharedMACState() (dataplane.NodeState, Layout) {
	s, l := fwState()
	vrrp := dataplane.AllowedAddress{MAC: "00:00:5e:00:01:01", Prefix: host("10.0.0.100")}
	a := s.Firewall.Ports[portA]
	a.Allowed = append(slices.Clone(a.Allowed), dataplane.AllowedAddress{MAC: "fa:16:3e:00:00:0b", Prefix: host("10.0.0.50")}, vrrp)
	s.Firewall.Ports[portA] = a
	c := s.Firewall.Ports[portC]
	c.Allowed = append(slices.Clone(c.Allowed), vrrp)
	s.Firewall.Ports[portC] = c
	return s, l
}

// TestFirewallSharedMACGolden: a MAC held by several filtered ports of a
// network is delivered by destination address (golden text), and no two
// flows of br-int have the same table, priority and match (the switch
// would keep only one of them).
func TestFirewallSharedMACGolden(t *testing.T) {
	s, l := sharedMACState()
	fs := intFlowSet(s, l, newFwIDs(), nil).all()
	seen := map[string]string{}
	for _, f := range fs {
		k := fmt.Sprintf("table=%d,priority=%d,%s", f.Table, f.Priority, f.Match)
		if prev, ok := seen[k]; ok {
			t.Errorf("two flows with one match %s: actions %s and %s", k, prev, f.Actions)
		}
		seen[k] = f.Actions
	}
	var shared []string
	for _, line := range strings.Split(render(fs), "\n") {
		if strings.Contains(line, "00:00:5e:00:01:01") || strings.Contains(line, "dl_dst=fa:16:3e:00:00:0b") {
			shared = append(shared, line)
		}
	}
	got := strings.Join(shared, "\n") + "\n"
	const path = "testdata/fw-shared-mac.txt"
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("shared-MAC flows differ from %s (run with -update after checking):\n%s", path, lineDiff(string(want), got))
	}
	// Without the shared pairs, the flows are fwState's again.
	s2, _ := fwState()
	if a, b := render(intFlowSet(s2, l, newFwIDs(), nil).all()), render(intFlowSet(s2, l, newFwIDs(), intFlowSet(s, l, newFwIDs(), nil)).all()); a != b {
		t.Errorf("after the shared pairs went the flows differ from a fresh computation:\n%s", lineDiff(a, b))
	}
}
