package ovs

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"neutrino/internal/dataplane"
	"neutrino/internal/lab"
)

// fwVM is a VM of a firewall test: where it runs and its security groups.
type fwVM struct {
	spec         vmSpec
	node         *ovsNode
	groups       []string
	portSecurity bool
	stateless    bool
	// pairs are the port's allowed address pairs.
	pairs []dataplane.AllowedAddress
	// ip6 is the VM's IPv6 address, if it has one (fixed IP of the port).
	ip6 netip.Addr
	vm  *lab.VM
}

// fwWorld is what the server would know: VMs and each group's rules. It
// computes every node's NodeState as the agent would get it (the default
// group's remote-group rule resolved to the members' addresses).
type fwWorld struct {
	nodes []*ovsNode
	vms   []*fwVM
	rules map[string][]dataplane.Rule
}

func (w *fwWorld) state(n *ovsNode, driver string) dataplane.NodeState {
	hosts := map[*ovsNode][]vmSpec{}
	for _, v := range w.vms {
		hosts[v.node] = append(hosts[v.node], v.spec)
	}
	s := nodeState(n, w.nodes, hosts, true, true)
	fw := dataplane.Firewall{Driver: driver, Ports: map[string]dataplane.PortFilter{}, RemoteGroups: map[string][]netip.Prefix{},
		Groups: map[string][]dataplane.Rule{}}
	for _, o := range w.nodes {
		fw.VTEPs = append(fw.VTEPs, o.node.IP())
	}
	for _, v := range w.vms {
		if v.node != n {
			continue
		}
		pf := dataplane.PortFilter{PortID: v.spec.portID, NetworkID: netID, MAC: v.spec.mac, PortSecurity: v.portSecurity,
			Stateful: !v.stateless, Allowed: append([]dataplane.AllowedAddress{{MAC: v.spec.mac, Prefix: netip.PrefixFrom(v.spec.ip.Addr(), 32)}}, v.pairs...)}
		if v.ip6.IsValid() {
			pf.Allowed = append(pf.Allowed, dataplane.AllowedAddress{MAC: v.spec.mac, Prefix: netip.PrefixFrom(v.ip6, 128)})
		}
		// As the agent hands them over: the port's groups, each group's
		// rules once, and their union on the port.
		pf.Groups = slices.Sorted(slices.Values(v.groups))
		for _, g := range pf.Groups {
			pf.Rules = append(pf.Rules, w.rules[g]...)
			fw.Groups[g] = w.rules[g]
		}
		for _, r := range pf.Rules {
			if r.RemoteGroup != "" {
				fw.RemoteGroups[r.RemoteGroup] = w.members(r.RemoteGroup)
			}
		}
		fw.Ports[v.spec.portID] = pf
	}
	s.Firewall = fw
	return s
}

func (w *fwWorld) members(group string) []netip.Prefix {
	var out []netip.Prefix
	for _, v := range w.vms {
		if slices.Contains(v.groups, group) {
			out = append(out, netip.PrefixFrom(v.spec.ip.Addr(), 32))
			if v.ip6.IsValid() {
				out = append(out, netip.PrefixFrom(v.ip6, 128))
			}
		}
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	return out
}

func (w *fwWorld) applyAll(t *testing.T, ctx context.Context, driver string) {
	t.Helper()
	for _, n := range w.nodes {
		apply(t, ctx, n, w.state(n, driver))
	}
}

// reach asserts that a ping from one VM to another gets through (want)
// or not.
func reach(t *testing.T, ctx context.Context, from, to *fwVM, want bool, why string) {
	t.Helper()
	count := 3
	if !want {
		count = 2
	}
	_, err := lab.Exec(ctx, from.vm.NS, "ping", "-n", "-c", fmt.Sprint(count), "-i", "0.2", "-W", "1", to.spec.ip.Addr().String())
	if got := err == nil; got != want {
		t.Errorf("%s: ping %s -> %s got through: %v, want %v", why, from.spec.name, to.spec.ip.Addr(), got, want)
	}
}

const (
	sgDefault = "default"
	sgOther   = "other"
)

// TestOVSFirewall enforces security groups with the openvswitch driver
// (conntrack flows in br-int) on two nodes with real OVS daemons: default
// group members reach each other across the tunnel and on the same node,
// another group cannot until a rule allows it, replies to a VM's own
// connections pass, removing the rule stops new connections, a member
// added later to a remote group becomes reachable at the cost of one
// flow, spoofed source IP and MAC are dropped, port security off lets
// everything through, and the flows we compute are exactly what the
// switch prints (a read-back after the changes finds nothing to fix).
func TestOVSFirewall(t *testing.T) { firewallScenario(t, DriverOpenvswitch) }

// TestOVSHybridFirewall is the same with firewall_driver = iptables_hybrid:
// the VMs plugged as os-vif does for ovs_hybrid_plug (tap on qbr, qvb/qvo
// into br-int) and filtered by nftables on the qbr bridges.
func TestOVSHybridFirewall(t *testing.T) { firewallScenario(t, DriverHybrid) }

func firewallScenario(t *testing.T, driver string) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	l, nodes := newOVSLab(t, ctx, "compute1", "compute2")
	plugVM := func(n *ovsNode, v vmSpec) *lab.VM {
		if driver != DriverHybrid {
			return plug(t, ctx, l, n, v)
		}
		return plugHybrid(t, ctx, l, n, v)
	}
	c1, c2 := nodes["compute1"], nodes["compute2"]
	vm3Port := vmSpec{name: "vm3", portID: "93a3c1e2-0000-4000-8000-000000000003", mac: "fa:16:3e:00:00:03", ip: netip.MustParsePrefix("192.168.1.3/24")}
	vm5Port := vmSpec{name: "vm5", portID: "95a5c1e2-0000-4000-8000-000000000005", mac: "fa:16:3e:00:00:05", ip: netip.MustParsePrefix("192.168.1.5/24")}
	vm1 := &fwVM{spec: vm1Port, node: c1, groups: []string{sgDefault}, portSecurity: true}
	vm2 := &fwVM{spec: vm2Port, node: c2, groups: []string{sgDefault}, portSecurity: true}
	vm3 := &fwVM{spec: vm3Port, node: c1, groups: []string{sgOther}, portSecurity: true}
	vm5 := &fwVM{spec: vm5Port, node: c2, groups: []string{sgOther}, portSecurity: true}
	w := &fwWorld{nodes: []*ovsNode{c1, c2}, rules: map[string][]dataplane.Rule{
		sgDefault: {
			{Direction: "egress", Ethertype: "IPv4"}, {Direction: "egress", Ethertype: "IPv6"},
			{Direction: "ingress", Ethertype: "IPv4", RemoteGroup: sgDefault}, {Direction: "ingress", Ethertype: "IPv6", RemoteGroup: sgDefault},
		},
		sgOther: {{Direction: "egress", Ethertype: "IPv4"}},
	}}
	w.applyAll(t, ctx, driver)
	for _, v := range []*fwVM{vm1, vm2, vm3} {
		v.vm = plugVM(v.node, v.spec)
		w.vms = append(w.vms, v)
	}
	w.applyAll(t, ctx, driver)

	// The rendering is the switch's: an audit right after finds nothing.
	for _, n := range w.nodes {
		n.dp.Resync()
		apply(t, ctx, n, w.state(n, driver))
		if st := n.dp.LastApply(); st.FlowAdds != 0 || st.FlowDeletes != 0 || st.StaleCookies != 0 || st.FirewallOps != 0 {
			t.Errorf("%s: audit after apply changed flows %+v: our text differs from ovs-ofctl's", n.node.Name, st)
		}
	}

	reach(t, ctx, vm1, vm2, true, "same group across the tunnel")
	reach(t, ctx, vm2, vm1, true, "same group across the tunnel")
	reach(t, ctx, vm3, vm1, false, "other group, no rule")
	reach(t, ctx, vm1, vm3, false, "other group has no ingress rule")

	// A rule on the default group lets the other group's vm3 in by
	// prefix; vm3 has no ingress rule at all, yet gets its replies.
	icmpIn := dataplane.Rule{Direction: "ingress", Ethertype: "IPv4", Protocol: 1, PortMin: -1, PortMax: -1, RemotePrefix: netip.MustParsePrefix("192.168.1.0/24")}
	w.rules[sgDefault] = append(w.rules[sgDefault], icmpIn)
	w.applyAll(t, ctx, driver)
	if st := c1.dp.LastApply(); driver == DriverOpenvswitch && (st.FlowAdds != 1 || st.FlowDeletes != 0) {
		t.Errorf("compute1: a rule created in the default group changed %+v, want its one flow added", st)
	}
	reach(t, ctx, vm3, vm1, true, "ICMP allowed by prefix; replies to vm3's own pings pass")
	reach(t, ctx, vm1, vm3, false, "vm3 still takes no new connection")
	w.rules[sgDefault] = w.rules[sgDefault][:len(w.rules[sgDefault])-1]
	w.applyAll(t, ctx, driver)
	reach(t, ctx, vm3, vm1, false, "rule removed: new connections stop")

	// Remote group: the default group accepts ICMP from the other group.
	// vm5 boots later on compute2 into the other group: compute2 gets its
	// port, compute1 (hosting vm1) only one new address flow.
	w.rules[sgDefault] = append(w.rules[sgDefault], dataplane.Rule{Direction: "ingress", Ethertype: "IPv4", Protocol: 1, PortMin: -1, PortMax: -1, RemoteGroup: sgOther})
	w.applyAll(t, ctx, driver)
	reach(t, ctx, vm3, vm1, true, "ICMP from remote group member vm3")
	vm5.vm = plugVM(c2, vm5Port)
	w.vms = append(w.vms, vm5)
	w.applyAll(t, ctx, driver)
	// vm5's l2pop unicast and ARP responder flows on br-tun, and its
	// address in the remote group: one conjunction flow on br-int, or one
	// element of the group's nftables set.
	st := c1.dp.LastApply()
	switch driver {
	case DriverOpenvswitch:
		if st.FlowAdds != 3 || st.FlowDeletes != 0 || st.FirewallOps != 0 {
			t.Errorf("compute1: member joining the remote group changed %+v, want 3 flows added", st)
		}
		if fs, err := c1.dp.flows.DumpFlows(ctx, "br-int"); err != nil || !hasFlow(fs, fwGroupIngress, fwConjPriority, "nw_src=192.168.1.5") {
			t.Errorf("compute1: no conjunction flow for the new member 192.168.1.5 (%v):\n%s", err, render(fs))
		}
	case DriverHybrid:
		if st.FlowAdds != 2 || st.FlowDeletes != 0 || st.FirewallOps != 1 {
			t.Errorf("compute1: member joining the remote group changed %+v, want 2 flows added and 1 set element", st)
		}
	}
	reach(t, ctx, vm5, vm1, true, "ICMP from remote group member vm5 booted later")
	reach(t, ctx, vm5, vm2, true, "vm5 -> vm2 (same node)")

	// Spoofing: another source IP, then another MAC.
	if _, err := lab.Exec(ctx, vm1.vm.NS, "ip", "addr", "add", "192.168.1.99/24", "dev", "eth0"); err != nil {
		t.Fatal(err)
	}
	spoofIP := func(want bool, why string) {
		t.Helper()
		_, err := lab.Exec(ctx, vm1.vm.NS, "ping", "-n", "-c", "2", "-i", "0.2", "-W", "1", "-I", "192.168.1.99", "192.168.1.2")
		if got := err == nil; got != want {
			t.Errorf("%s: ping from spoofed 192.168.1.99 got through: %v, want %v", why, got, want)
		}
	}
	spoofIP(false, "port security on")
	// Static neighbours on both ends, so that only the IP packets' source
	// MAC is tested (with the ARP responder on, vm2 would otherwise be told
	// vm1's real MAC by br-tun and answer to that).
	if _, err := lab.Exec(ctx, vm1.vm.NS, "ip", "link", "set", "eth0", "address", "fa:16:3e:00:00:99"); err != nil {
		t.Fatal(err)
	}
	for _, c := range [][]string{
		{vm1.vm.NS, "192.168.1.2", vm2Port.mac},
		{vm2.vm.NS, "192.168.1.4", "fa:16:3e:00:00:99"},
	} {
		if _, err := lab.Exec(ctx, c[0], "ip", "neigh", "replace", c[1], "lladdr", c[2], "dev", "eth0", "nud", "permanent"); err != nil {
			t.Fatal(err)
		}
	}
	reach(t, ctx, vm1, vm2, false, "spoofed source MAC")
	// Port security off on both ends: everything passes, spoofed or not.
	vm1.portSecurity, vm2.portSecurity = false, false
	w.applyAll(t, ctx, driver)
	reach(t, ctx, vm1, vm2, true, "port security off, spoofed MAC")
	spoofIP(true, "port security off, spoofed IP")
	reach(t, ctx, vm3, vm2, true, "port security off: vm2 takes anything")

	for _, n := range w.nodes {
		n.dp.Resync()
		apply(t, ctx, n, w.state(n, driver))
		if st := n.dp.LastApply(); st.FlowAdds != 0 || st.FlowDeletes != 0 || st.StaleCookies != 0 || st.FirewallOps != 0 {
			t.Errorf("%s: final audit changed flows %+v", n.node.Name, st)
		}
	}
}

// plugHybrid plugs a VM as os-vif does with ovs_hybrid_plug: its tap on
// qbr<id>, qvb<id> on qbr, qvo<id> on br-int with Nova's external_ids.
func plugHybrid(t testing.TB, ctx context.Context, l *lab.Lab, n *ovsNode, v vmSpec) *lab.VM {
	t.Helper()
	vm, err := l.AddVM(ctx, n.node, v.name, lab.VIF{PortID: v.portID, MAC: v.mac, Addr: v.ip, MTU: 1450})
	if err != nil {
		t.Fatal(err)
	}
	qvo, err := lab.PlugHybrid(ctx, n.node.NS, v.portID, 1450)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.ovs.PlugVIF(ctx, "br-int", qvo, v.portID, v.mac, "vm-"+v.name); err != nil {
		t.Fatal(err)
	}
	if err := lab.DisableOffloads(ctx, vm.NS, vm.VIF.IfName); err != nil {
		t.Fatal(err)
	}
	return vm
}

// TestOVSFirewallSharedMAC: an allowed address pair naming another local
// port's MAC (vm3 may send as vm1's MAC from 192.168.1.50). Both ports'
// delivery flows match that MAC; the destination address picks the port,
// so vm1 is reached from the other node (table 60) and from vm3 on its own
// node (table 73); dropping the pair leaves vm1 reachable; the switch
// prints exactly our flows throughout (two flows with one match would
// leave one of them, which the audit sees).
func TestOVSFirewallSharedMAC(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	l, nodes := newOVSLab(t, ctx, "compute1", "compute2")
	c1, c2 := nodes["compute1"], nodes["compute2"]
	vm3Port := vmSpec{name: "vm3", portID: "93a3c1e2-0000-4000-8000-000000000003", mac: "fa:16:3e:00:00:03", ip: netip.MustParsePrefix("192.168.1.3/24")}
	pair := dataplane.AllowedAddress{MAC: vm1Port.mac, Prefix: netip.MustParsePrefix("192.168.1.50/32")}
	vm1 := &fwVM{spec: vm1Port, node: c1, groups: []string{sgDefault}, portSecurity: true}
	vm2 := &fwVM{spec: vm2Port, node: c2, groups: []string{sgDefault}, portSecurity: true}
	vm3 := &fwVM{spec: vm3Port, node: c1, groups: []string{sgDefault}, portSecurity: true, pairs: []dataplane.AllowedAddress{pair}}
	w := &fwWorld{nodes: []*ovsNode{c1, c2}, rules: map[string][]dataplane.Rule{
		sgDefault: {{Direction: "egress", Ethertype: "IPv4"}, {Direction: "ingress", Ethertype: "IPv4", RemoteGroup: sgDefault}},
	}}
	w.applyAll(t, ctx, DriverOpenvswitch) // the bridges
	for _, v := range []*fwVM{vm1, vm2, vm3} {
		v.vm = plug(t, ctx, l, v.node, v.spec)
		w.vms = append(w.vms, v)
	}
	audit := func(why string) {
		t.Helper()
		for _, n := range w.nodes {
			n.dp.Resync()
			apply(t, ctx, n, w.state(n, DriverOpenvswitch))
			if st := n.dp.LastApply(); st.FlowAdds != 0 || st.FlowDeletes != 0 || st.StaleCookies != 0 {
				t.Errorf("%s: %s: audit changed flows %+v: our text differs from ovs-ofctl's", why, n.node.Name, st)
			}
		}
	}
	w.applyAll(t, ctx, DriverOpenvswitch)
	audit("shared MAC")
	reach(t, ctx, vm2, vm1, true, "vm1 from the other node, its MAC shared with vm3's pair")
	reach(t, ctx, vm3, vm1, true, "vm1 from vm3 on its node")
	reach(t, ctx, vm2, vm3, true, "vm3 from the other node")
	vm3.pairs = nil
	w.applyAll(t, ctx, DriverOpenvswitch)
	audit("pair removed")
	reach(t, ctx, vm2, vm1, true, "vm1 after vm3's pair went")
	reach(t, ctx, vm3, vm1, true, "vm1 from vm3 after the pair went")
}

// TestOVSFirewallStateless: a stateless group (stateful = False) has no
// conntrack, so replies need rules of their own, on both OVS drivers (the
// hybrid one filters with nftables, the Linux bridge agent's firewall).
// The group allows ICMP out and echo requests (type 8) in: a ping between
// its members is answered only while they are stateful (the reply is an
// established connection) or once echo replies (type 0) are allowed in.
func TestOVSFirewallStateless(t *testing.T) {
	for _, driver := range []string{DriverOpenvswitch, DriverHybrid} {
		t.Run(driver, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			l, nodes := newOVSLab(t, ctx, "compute1", "compute2")
			c1, c2 := nodes["compute1"], nodes["compute2"]
			vm1 := &fwVM{spec: vm1Port, node: c1, groups: []string{sgDefault}, portSecurity: true}
			vm2 := &fwVM{spec: vm2Port, node: c2, groups: []string{sgDefault}, portSecurity: true}
			icmp := func(dir string, typ int) dataplane.Rule {
				return dataplane.Rule{Direction: dir, Ethertype: "IPv4", Protocol: 1, PortMin: typ, PortMax: -1}
			}
			w := &fwWorld{nodes: []*ovsNode{c1, c2}, rules: map[string][]dataplane.Rule{
				sgDefault: {icmp("egress", -1), icmp("ingress", 8)},
			}}
			w.applyAll(t, ctx, driver) // the bridges
			for _, v := range []*fwVM{vm1, vm2} {
				if driver == DriverHybrid {
					v.vm = plugHybrid(t, ctx, l, v.node, v.spec)
				} else {
					v.vm = plug(t, ctx, l, v.node, v.spec)
				}
				w.vms = append(w.vms, v)
			}
			w.applyAll(t, ctx, driver)
			reach(t, ctx, vm1, vm2, true, "stateful: the echo reply is an established connection")
			vm1.stateless, vm2.stateless = true, true
			w.applyAll(t, ctx, driver)
			reach(t, ctx, vm1, vm2, false, "stateless: no rule lets the echo reply in")
			w.rules[sgDefault] = append(w.rules[sgDefault], icmp("ingress", 0))
			w.applyAll(t, ctx, driver)
			reach(t, ctx, vm1, vm2, true, "stateless: echo replies allowed in by their own rule")
			w.rules[sgDefault] = w.rules[sgDefault][1:] // no egress rule any more
			w.applyAll(t, ctx, driver)
			reach(t, ctx, vm1, vm2, false, "stateless: nothing may leave without an egress rule")
		})
	}
}

// TestOVSFirewallIPv6: rules of ethertype IPv6 on real IPv6 packets, on
// both OVS drivers: a remote group's IPv6 members, an icmpv6 echo-request
// rule limited by an IPv6 remote_ip_prefix, "icmp" in an IPv6 rule meaning
// ICMPv6, an ethertype's rules admitting nothing of the other, and a
// spoofed IPv6 source dropped. Neighbour discovery passes as Neutron's
// base rules let it.
func TestOVSFirewallIPv6(t *testing.T) {
	for _, driver := range []string{DriverOpenvswitch, DriverHybrid} {
		t.Run(driver, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			l, nodes := newOVSLab(t, ctx, "compute1", "compute2")
			c1, c2 := nodes["compute1"], nodes["compute2"]
			vm3Port := vmSpec{name: "vm3", portID: "93a3c1e2-0000-4000-8000-000000000003", mac: "fa:16:3e:00:00:03", ip: netip.MustParsePrefix("192.168.1.3/24")}
			vm1 := &fwVM{spec: vm1Port, node: c1, groups: []string{sgDefault}, portSecurity: true, ip6: netip.MustParseAddr("fd00:1::1")}
			vm2 := &fwVM{spec: vm2Port, node: c2, groups: []string{sgDefault}, portSecurity: true, ip6: netip.MustParseAddr("fd00:1::2")}
			vm3 := &fwVM{spec: vm3Port, node: c1, groups: []string{sgOther}, portSecurity: true, ip6: netip.MustParseAddr("fd00:1::3")}
			egress := []dataplane.Rule{{Direction: "egress", Ethertype: "IPv4"}, {Direction: "egress", Ethertype: "IPv6"}}
			w := &fwWorld{nodes: []*ovsNode{c1, c2}, rules: map[string][]dataplane.Rule{
				sgDefault: append(slices.Clone(egress), dataplane.Rule{Direction: "ingress", Ethertype: "IPv6", RemoteGroup: sgDefault}),
				sgOther:   slices.Clone(egress),
			}}
			w.applyAll(t, ctx, driver) // the bridges
			for _, v := range []*fwVM{vm1, vm2, vm3} {
				if driver == DriverHybrid {
					v.vm = plugHybrid(t, ctx, l, v.node, v.spec)
				} else {
					v.vm = plug(t, ctx, l, v.node, v.spec)
				}
				// The lab turns IPv6 off in every namespace.
				for _, c := range [][]string{
					{"sysctl", "-qw", "net.ipv6.conf.eth0.disable_ipv6=0"},
					{"ip", "-6", "addr", "add", netip.PrefixFrom(v.ip6, 64).String(), "dev", "eth0", "nodad"},
				} {
					if _, err := lab.Exec(ctx, v.vm.NS, c...); err != nil {
						t.Fatal(err)
					}
				}
				w.vms = append(w.vms, v)
			}
			w.applyAll(t, ctx, driver)
			reach6 := func(from, to *fwVM, src string, want bool, why string) {
				t.Helper()
				args := []string{"ping", "-6", "-n", "-c", "2", "-i", "0.2", "-W", "2"}
				if src != "" {
					args = append(args, "-I", src)
				}
				_, err := lab.Exec(ctx, from.vm.NS, append(args, to.ip6.String())...)
				if got := err == nil; got != want {
					t.Errorf("%s: ping %s -> %s got through: %v, want %v", why, from.spec.name, to.ip6, got, want)
				}
			}
			reach6(vm1, vm2, "", true, "same group over IPv6, across the tunnel")
			reach6(vm2, vm1, "", true, "same group over IPv6, across the tunnel")
			reach(t, ctx, vm1, vm2, false, "default admits its members over IPv6 only")
			reach6(vm3, vm1, "", false, "vm3 is not in default")

			echo6 := func(proto uint8, from *fwVM) dataplane.Rule {
				return dataplane.Rule{Direction: "ingress", Ethertype: "IPv6", Protocol: proto, PortMin: 128, PortMax: -1,
					RemotePrefix: netip.PrefixFrom(from.ip6, 128)}
			}
			w.rules[sgOther] = append(slices.Clone(egress), echo6(58, vm1))
			w.applyAll(t, ctx, driver)
			reach6(vm1, vm3, "", true, "icmpv6 echo request from vm1's prefix")
			reach6(vm2, vm3, "", false, "vm2 is outside the rule's remote_ip_prefix")
			reach(t, ctx, vm1, vm3, false, "an IPv6 rule admits no IPv4")
			w.rules[sgOther] = append(slices.Clone(egress), echo6(1, vm2))
			w.applyAll(t, ctx, driver)
			reach6(vm2, vm3, "", true, `"icmp" in an IPv6 rule is ICMPv6`)
			reach6(vm1, vm3, "", false, "the rule for vm1 was replaced")

			if _, err := lab.Exec(ctx, vm1.vm.NS, "ip", "-6", "addr", "add", "fd00:1::99/64", "dev", "eth0", "nodad"); err != nil {
				t.Fatal(err)
			}
			reach6(vm1, vm2, "fd00:1::99", false, "spoofed IPv6 source")
			vm1.portSecurity, vm2.portSecurity = false, false
			w.applyAll(t, ctx, driver)
			reach6(vm1, vm2, "fd00:1::99", true, "port security off: any IPv6 source")
		})
	}
}
