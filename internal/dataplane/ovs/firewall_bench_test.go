package ovs

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"neutrino/internal/dataplane"
)

// BenchmarkFirewallMemberChange measures one member joining (then
// leaving) the default group on a node whose N filtered ports all have
// rules naming that group (Neutron's default group), with the
// openvswitch firewall's flows of all N ports installed on a real
// ovs-vswitchd's br-int: compute the flow set (unchanged groups reused),
// diff against what was installed, apply the difference as one ovs-ofctl
// bundle. References in the same run: one flow written by one ovs-ofctl
// process, and a rule created in the group of all N ports. The ports
// are flows only (OpenFlow accepts any in_port), so N is not bounded by
// the devices the lab can make.
//
//	go test ./internal/dataplane/ovs -run '^$' -bench FirewallMemberChange -benchtime 20x
func BenchmarkFirewallMemberChange(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	_, nodes := newOVSLab(b, ctx, "bench")
	n := nodes["bench"]
	if err := n.dp.Apply(ctx, dataplane.NodeState{LocalIP: n.node.IP()}); err != nil {
		b.Fatal(err)
	}
	// Reference: one flow written by one ovs-ofctl process, the floor of
	// any change sent to the switch.
	b.Run("reference-one-add-flow", func(b *testing.B) {
		line := Flow{Table: fwDropped, Priority: 0, Actions: "drop"}.AddLine(n.dp.Cookie())
		for b.Loop() {
			if err := n.dp.flows.Bundle(ctx, "br-int", []string{line}); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, ports := range []int{1, 100, 1000} {
		s, l := groupState(ports, nil)
		l.Cookie = n.dp.Cookie()
		ids := newFwIDs()
		installed := intFlowSet(s, l, ids, nil)
		if err := n.dp.flows.Bundle(ctx, "br-int", diffSets(nil, installed, l.Cookie).Lines()); err != nil {
			b.Fatal(err)
		}
		// change applies s as the next state and returns the flows changed.
		change := func(b *testing.B) int {
			want := intFlowSet(s, l, ids, installed)
			p := diffSets(installed, want, l.Cookie)
			if err := n.dp.flows.Bundle(ctx, "br-int", p.Lines()); err != nil {
				b.Fatal(err)
			}
			installed = want
			return len(p.Adds) + len(p.Deletes)
		}
		members := s.Firewall.RemoteGroups[sgDef]
		b.Run(fmt.Sprintf("member-join-leave/ports=%d", ports), func(b *testing.B) {
			i, flows := 0, 0
			for b.Loop() {
				if i%2 == 0 {
					s.Firewall.RemoteGroups[sgDef] = append(slices.Clone(members), netip.MustParsePrefix("10.2.0.1/32"))
				} else {
					s.Firewall.RemoteGroups[sgDef] = members
				}
				i++
				flows += change(b)
			}
			b.ReportMetric(float64(flows)/float64(b.N), "flows/op")
			b.ReportMetric(float64(len(installed.all())), "flows-installed")
		})
		b.Run(fmt.Sprintf("rule-in-group/ports=%d", ports), func(b *testing.B) {
			i, flows := 0, 0
			orig := s.Firewall.Groups[sgDef]
			for b.Loop() {
				setRules(s, sgDef, append(slices.Clone(orig), dataplane.Rule{Direction: "ingress", Ethertype: "IPv4", Protocol: 6, PortMin: 1000 + i%2, PortMax: 1000 + i%2}))
				i++
				flows += change(b)
			}
			b.ReportMetric(float64(flows)/float64(b.N), "flows/op")
			setRules(s, sgDef, orig)
		})
		// Clear br-int's firewall for the next size.
		if err := n.dp.flows.Bundle(ctx, "br-int", diffSets(installed, &flowSet{}, l.Cookie).Lines()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFirewallMemberPlan is the in-process part of a member change
// (no switch): flow set with the unchanged groups reused, and the diff.
//
//	go test ./internal/dataplane/ovs -run '^$' -bench FirewallMemberPlan
func BenchmarkFirewallMemberPlan(b *testing.B) {
	for _, ports := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("ports=%d", ports), func(b *testing.B) {
			s, l := groupState(ports, nil)
			ids := newFwIDs()
			installed := intFlowSet(s, l, ids, nil)
			members := s.Firewall.RemoteGroups[sgDef]
			i := 0
			for b.Loop() {
				if i%2 == 0 {
					s.Firewall.RemoteGroups[sgDef] = append(slices.Clone(members), netip.MustParsePrefix("10.2.0.1/32"))
				} else {
					s.Firewall.RemoteGroups[sgDef] = members
				}
				i++
				want := intFlowSet(s, l, ids, installed)
				if p := diffSets(installed, want, l.Cookie); len(p.Adds)+len(p.Deletes) != 1 {
					b.Fatalf("plan %+v", p)
				}
				installed = want
			}
		})
	}
}

// setRules gives group g the rules, as the agent hands a rule change over:
// the group's rules and the union on each of its ports (here every port
// is in g only).
func setRules(s dataplane.NodeState, g string, rules []dataplane.Rule) {
	s.Firewall.Groups[g] = rules
	for id, pf := range s.Firewall.Ports {
		pf.Rules = rules
		s.Firewall.Ports[id] = pf
	}
}

// BenchmarkFirewallRulePlan is the in-process part of a rule created in
// (then deleted from) the group of all N ports: flow set with the
// unchanged groups reused, and the diff (one flow).
//
//	go test ./internal/dataplane/ovs -run '^$' -bench FirewallRulePlan
func BenchmarkFirewallRulePlan(b *testing.B) {
	for _, ports := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("ports=%d", ports), func(b *testing.B) {
			s, l := groupState(ports, nil)
			ids := newFwIDs()
			installed := intFlowSet(s, l, ids, nil)
			orig := s.Firewall.Groups[sgDef]
			added := append(slices.Clone(orig), dataplane.Rule{Direction: "ingress", Ethertype: "IPv4", Protocol: 6, PortMin: 80, PortMax: 80})
			i := 0
			for b.Loop() {
				if i%2 == 0 {
					setRules(s, sgDef, added)
				} else {
					setRules(s, sgDef, orig)
				}
				i++
				want := intFlowSet(s, l, ids, installed)
				if p := diffSets(installed, want, l.Cookie); len(p.Adds)+len(p.Deletes) != 1 {
					b.Fatalf("plan %+v", p)
				}
				installed = want
			}
		})
	}
}
