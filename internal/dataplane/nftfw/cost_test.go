package nftfw_test

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"neutrino/internal/dataplane"
	"neutrino/internal/dataplane/nftfw"
)

// groupNode is a node with n ports, all in the default group, with
// Neutron's default rules, and extra more members of the group elsewhere.
func groupNode(n, extra int) nftfw.Input {
	in := nftfw.Input{Firewall: dataplane.Firewall{Driver: "iptables", Ports: map[string]dataplane.PortFilter{},
		RemoteGroups: map[string][]netip.Prefix{}, VTEPs: []netip.Addr{netip.MustParseAddr("198.18.0.101")}},
		Ifaces: map[string]nftfw.Iface{}, VXLANPort: 4789}
	rules := []dataplane.Rule{{Direction: "egress", Ethertype: "IPv4"}, {Direction: "egress", Ethertype: "IPv6"},
		{Direction: "ingress", Ethertype: "IPv4", RemoteGroup: sgDef}, {Direction: "ingress", Ethertype: "IPv6", RemoteGroup: sgDef}}
	for i := range n + extra {
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		in.Firewall.RemoteGroups[sgDef] = append(in.Firewall.RemoteGroups[sgDef], netip.PrefixFrom(ip, 32))
		if i >= n {
			continue
		}
		id := fmt.Sprintf("%08x-0000-4000-8000-000000000000", i)
		mac := fmt.Sprintf("fa:16:3e:%02x:%02x:%02x", byte(i>>16), byte(i>>8), byte(i))
		in.Firewall.Ports[id] = dataplane.PortFilter{PortID: id, NetworkID: netA, MAC: mac, PortSecurity: true, Stateful: true,
			Allowed: []dataplane.AllowedAddress{{MAC: mac, Prefix: netip.PrefixFrom(ip, 32)}}, Rules: rules}
		in.Ifaces[id] = nftfw.Iface{Name: "tap" + id[:11], Bridge: "brq" + netA[:11]}
	}
	return in
}

// joinMember adds one member (on another node) to the default group.
func joinMember(in nftfw.Input) nftfw.Input {
	in.Firewall.RemoteGroups = map[string][]netip.Prefix{sgDef: append(slices.Clone(in.Firewall.RemoteGroups[sgDef]),
		netip.MustParsePrefix("10.200.0.1/32"))}
	return in
}

// addRule adds a rule to the default group: every local port has it.
func addRule(in nftfw.Input) nftfw.Input {
	ports := map[string]dataplane.PortFilter{}
	for id, p := range in.Firewall.Ports {
		p.Rules = append(slices.Clone(p.Rules), dataplane.Rule{Direction: "ingress", Ethertype: "IPv4", Protocol: 6, PortMin: 22, PortMax: 22})
		ports[id] = p
	}
	in.Firewall.Ports = ports
	return in
}

// TestCostFollowsChange is the data-plane cost of one change against the
// number of ports in the group on the node (docs/BENCHMARKS.md): a member
// joining costs one element whatever the group's size; a rule change
// rewrites the one rules chain the group's ports share.
func TestCostFollowsChange(t *testing.T) {
	var b strings.Builder
	b.WriteString("ports in group on node | member joins (elements) | rule added to group (rules written) | ops\n")
	for _, n := range []int{1, 100, 1000} {
		base := groupNode(n, 1000)
		cur, err := nftfw.Plan(base, nftfw.Ruleset{})
		if err != nil {
			t.Fatal(err)
		}
		join, _ := nftfw.Plan(joinMember(base), cur)
		joinOps := nftfw.Diff(cur, join)
		rule, _ := nftfw.Plan(addRule(base), cur)
		ruleOps := nftfw.Diff(cur, rule)
		if c := nftfw.Cost(joinOps); c != 1 {
			t.Errorf("%d ports: a member joining costs %d, want 1 element", n, c)
		}
		if len(ruleOps) != 1 || ruleOps[0].Kind != nftfw.OpSetRules {
			t.Errorf("%d ports: a rule added to their group: %d ops, want one chain rewritten:\n%s", n, len(ruleOps), opsText(ruleOps))
		}
		fmt.Fprintf(&b, "%d | %d | %d | %d / %d\n", n, nftfw.Cost(joinOps), nftfw.Cost(ruleOps), len(joinOps), len(ruleOps))
	}
	golden(t, "cost.txt", b.String())
}
