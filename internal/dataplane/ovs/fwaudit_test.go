package ovs

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"neutrino/internal/dataplane"
)

func TestFlowDifferences(t *testing.T) {
	f := func(table, prio int, match, actions string) Flow {
		return Flow{Table: table, Priority: prio, Match: match, Actions: actions}
	}
	want := []Flow{
		f(0, 0, "", "goto_table:60"),
		f(72, 70, "ip,reg5=0x3,conj_id=7", "resubmit(,73)"),
		f(82, 70, "ip,reg5=0x3,nw_src=10.0.0.1", "conjunction(7,1/2),conjunction(9,1/2)"),
		f(82, 70, "ip,reg5=0x4", "drop"),
		f(82, 40, "reg5=0x6", "set_field:0->reg9,set_field:0x1->reg8,resubmit(,85),resubmit(,86)"),
		f(85, 70, "tcp,reg8=0x1,tp_dst=22", "set_field:0x1->reg9"),
	}
	held := []Flow{
		f(82, 40, "reg5=0x6", "set_field:0->reg9,set_field:0x2->reg8,resubmit(,85),resubmit(,86)"), // another agent's group numbers
		f(85, 70, "tcp,reg8=0x2,tp_dst=22", "set_field:0x1->reg9"),                                 // same
		{Table: 0, Priority: 0, Actions: "goto_table:60", Cookie: 0x1234},                          // another cookie: same flow
		f(72, 70, "ip,reg5=0x3,conj_id=12", "resubmit(,73)"),                                       // another agent's numbering
		f(82, 70, "ip,reg5=0x3,nw_src=10.0.0.1", "conjunction(12,1/2),conjunction(3,1/2)"),         // same
		f(82, 70, "ip,reg5=0x5", "drop"),                                                           // stale
	}
	got := flowDifferences(want, held)
	wantDiffs := []string{
		"extra flow table=82,priority=70,ip,reg5=0x5 actions=drop",
		"missing flow table=82,priority=70,ip,reg5=0x4 actions=drop",
	}
	if !slices.Equal(got, wantDiffs) {
		t.Errorf("differences:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantDiffs, "\n"))
	}
	if d := flowDifferences(want, slices.Delete(slices.Clone(want), 3, 4)); len(d) != 1 || !strings.HasPrefix(d[0], "missing flow table=82,priority=70,ip,reg5=0x4") {
		t.Errorf("one flow short: %q", d)
	}
	// Two flows that differ only by conjunction id count twice.
	if d := flowDifferences(want[1:2], []Flow{want[1], f(72, 70, "ip,reg5=0x3,conj_id=8", "resubmit(,73)")}); len(d) != 1 || !strings.HasPrefix(d[0], "extra flow") {
		t.Errorf("a second flow that differs only by conjunction id: %q", d)
	}
	// Another register's value is not a group number: it still counts.
	if d := flowDifferences(want[5:6], []Flow{f(85, 70, "tcp,reg8=0x1,tp_dst=22", "set_field:0x2->reg9")}); len(d) != 2 {
		t.Errorf("a rule flow setting reg9 to another value: %q", d)
	}
}

// TestIntegrationDifferences: br-int as the agent programmed it with the
// openvswitch firewall has no difference from the desired state; a
// security-group rule the switch lacks, a flow removed behind the agent's
// back and a stale one added each show (the audit bench/chaos runs after
// every fault).
func TestIntegrationDifferences(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	l, nodes := newOVSLab(t, ctx, "compute1", "compute2")
	c1, c2 := nodes["compute1"], nodes["compute2"]
	vm1 := &fwVM{spec: vm1Port, node: c1, groups: []string{sgDefault}, portSecurity: true}
	vm2 := &fwVM{spec: vm2Port, node: c2, groups: []string{sgDefault}, portSecurity: true}
	w := &fwWorld{nodes: []*ovsNode{c1, c2}, rules: map[string][]dataplane.Rule{
		sgDefault: {{Direction: "egress", Ethertype: "IPv4"}, {Direction: "ingress", Ethertype: "IPv4", RemoteGroup: sgDefault}},
	}}
	w.applyAll(t, ctx, DriverOpenvswitch) // the bridges
	for _, v := range []*fwVM{vm1, vm2} {
		v.vm = plug(t, ctx, l, v.node, v.spec)
		w.vms = append(w.vms, v)
	}
	w.applyAll(t, ctx, DriverOpenvswitch)
	diffs := func() []string {
		t.Helper()
		d, err := c1.dp.IntegrationDifferences(ctx, w.state(c1, DriverOpenvswitch))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if d := diffs(); len(d) != 0 {
		t.Fatalf("differences right after Apply:\n%s", strings.Join(d, "\n"))
	}

	// A rule desired but not applied.
	w.rules[sgDefault] = append(w.rules[sgDefault], dataplane.Rule{Direction: "ingress", Ethertype: "IPv4", Protocol: 6, PortMin: 22, PortMax: 22})
	if d := diffs(); !slices.ContainsFunc(d, func(l string) bool { return strings.HasPrefix(l, "missing flow") && strings.Contains(l, "tp_dst=22") }) {
		t.Errorf("a rule the switch lacks: differences %q", d)
	}
	w.applyAll(t, ctx, DriverOpenvswitch)
	if d := diffs(); len(d) != 0 {
		t.Fatalf("differences after applying the rule:\n%s", strings.Join(d, "\n"))
	}

	// Removed and added behind the agent's back.
	if out, err := c1.ovs.Ofctl(ctx, "del-flows", "br-int", "table=85,tcp"); err != nil {
		t.Fatalf("del-flows: %v: %s", err, out)
	}
	if out, err := c1.ovs.Ofctl(ctx, "add-flow", "br-int", "table=82,priority=70,udp,tp_dst=53,actions=drop"); err != nil {
		t.Fatalf("add-flow: %v: %s", err, out)
	}
	d := diffs()
	if !slices.ContainsFunc(d, func(l string) bool {
		return strings.HasPrefix(l, "missing flow table=85") && strings.Contains(l, "tp_dst=22")
	}) ||
		!slices.ContainsFunc(d, func(l string) bool {
			return strings.HasPrefix(l, "extra flow table=82") && strings.Contains(l, "udp,tp_dst=53")
		}) {
		t.Errorf("flows removed and added by hand: differences %q", d)
	}
}
