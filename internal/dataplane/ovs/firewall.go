package ovs

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"

	"neutrino/internal/dataplane"
)

// The native Open vSwitch firewall (firewall_driver = openvswitch): security
// groups as conntrack flows in br-int, in Neutron's table layout so that an
// operator who knows Neutron's OVS firewall reads our dump the same way:
//
//	60  TRANSIENT      per port: from the port (in_port) -> reg5 = ofport,
//	                   reg6 = local VLAN, egress (71); to the port (local VLAN
//	                   + destination MAC, from the tunnel bridge) -> ingress
//	                   (81), VLAN popped; everything else NORMAL
//	71  BASE_EGRESS    anti-spoofing: ARP, ND, IP only from the port's
//	                   (MAC, address) pairs; DHCP client out, DHCP server and
//	                   router advertisements from the VM dropped; IP is
//	                   tracked (ct) in the network's zone (reg6) -> 72
//	72  RULES_EGRESS   the port's egress rules accept -> 73; established
//	                   replies and related accepted; invalid dropped; an
//	                   established connection no rule allows any more is
//	                   marked (ct_mark=1) and dropped from then on
//	73  ACCEPT         to a local filtered port -> its ingress (81); a new
//	                   connection is committed; -> NORMAL (91, 94)
//	81  BASE_INGRESS   ARP, ND, DHCP replies in; IP tracked -> 82
//	82  RULES_INGRESS  the port's ingress rules accept: commit, output to
//	                   the port (reg5); as 72 for the rest
//	91, 93, 94         accepted egress, dropped, NORMAL
//
// The conntrack zone of a port is its network's local VLAN, as in Neutron.
// Replies and related packets pass; invalid packets are dropped. A port with
// port_security_enabled = false gets only the table 60 flow that sends its
// egress to table 73 (so that what it sends to a filtered local port is
// still filtered on the way in), and no filter of its own.
//
// Differences from Neutron, and why. Flows that do not depend on the port
// are shared (one flow, output:NXM_NX_REG5[] instead of one flow per port
// with output:<ofport>): a node with N ports has N times fewer of them to
// program and audit. A rule is one flow matching ct_state=-rpl-inv+trk
// (new or established, not a reply) instead of Neutron's pair +new-est /
// +est-rel-rpl, since the accept is the same for both (egress commits in
// 73, ingress commits in the accept itself; committing an established
// connection again changes nothing).
//
// A MAC that several filtered ports of a network hold (an allowed address
// pair naming another port's MAC, or one pair MAC on two ports) is
// delivered by destination address (sharedMACFlows); Neutron writes one
// flow per port with the same match there, so the last port written
// receives everything and deleting either port's flow removes both.
//
// Remote groups are conjunctions, one conjunction id per (remote group,
// direction, ethertype) node-wide (ingress also per stateful/stateless,
// whose accepts differ): dimension 1 is one flow per member address
// (ip,nw_src=<member> for ingress, nw_dst for egress) carrying the
// conjunction actions of every group the address belongs to; dimension 2
// is the rule's own match on the port (reg5). A member joining or leaving
// a group therefore changes exactly one flow per direction the group is
// used in, whatever the number of ports and rules that reference the
// group: O(changed members), not O(ports x members) (Neutron's native
// firewall keys conjunctions by the port's security group as well and
// repeats the address flows per network). Plain rules sit at priority 70,
// conjunctions at 60, so that a packet a plain rule accepts never depends
// on OVS's handling of overlapping conjunctions.
const (
	fwBaseEgress       = 71
	fwRulesEgress      = 72
	fwAcceptOrIngress  = 73
	fwBaseIngress      = 81
	fwRulesIngress     = 82
	fwAcceptedEgress   = 91
	fwDropped          = 93
	fwAcceptedEgressOK = 94

	// Table 60 priorities.
	fwPortEgressPriority  = 100
	fwPortIngressPriority = 90
	// Rule priorities in 72 and 82.
	fwRulePriority = 70
	fwConjPriority = 60

	// regPort holds the port's ofport, regNet its network's local VLAN
	// (the conntrack zone), as Neutron's register 5 and 6.
	regPort = "reg5"
	regNet  = "reg6"

	// ruleCT is the ct_state a stateful rule matches: tracked, not
	// invalid, not a reply (replies pass as established).
	ruleCT = "ct_state=-rpl-inv+trk"

	// DriverOpenvswitch and DriverHybrid are the [securitygroup]
	// firewall_driver values this data plane implements (plus noop).
	DriverOpenvswitch = "openvswitch"
	DriverHybrid      = "iptables_hybrid"
)

const (
	ctZone       = "zone=NXM_NX_REG6[0..15]"
	commitAction = "ct(commit," + ctZone + ")"
	toPort       = "output:NXM_NX_REG5[]"
)

func resubmit(table int) string { return "resubmit(," + strconv.Itoa(table) + ")" }

var (
	// ipFamilies are the match names of the two IP versions.
	ipFamilies = []string{"ip", "ipv6"}
	// ndTypes are the ICMPv6 neighbour discovery and MLD messages a port
	// may always send (from its own link-local or allowed addresses) and
	// receive: MLD query/report/done, neighbour solicitation and
	// advertisement; router advertisements (134) only come in.
	ndEgressTypes  = []int{130, 131, 132, 135, 136}
	ndIngressTypes = []int{130, 131, 132, 134, 135, 136}
)

// fwBaseFlows are the firewall flows every filtered port shares.
func fwBaseFlows() []Flow {
	var fs []Flow
	add := func(table, prio int, match, actions string) {
		fs = append(fs, Flow{Table: table, Priority: prio, Match: match, Actions: actions})
	}
	add(fwBaseEgress, 0, "", "drop")
	// 72 and 82: what passes without a rule, what never passes, and the
	// marking of established connections whose rule went.
	for _, t := range []struct {
		table  int
		accept string
	}{{fwRulesEgress, resubmit(fwAcceptedEgressOK)}, {fwRulesIngress, toPort}} {
		add(t.table, 50, "ct_state=+est-rel+rpl,ct_mark=0", t.accept)
		add(t.table, 50, "ct_state=-new-est+rel-inv,ct_mark=0", t.accept)
		add(t.table, 50, "ct_mark=0x1", resubmit(fwDropped))
		add(t.table, 50, "ct_state=+inv+trk", resubmit(fwDropped))
		add(t.table, 40, "ct_state=-est", resubmit(fwDropped))
		for _, f := range ipFamilies {
			add(t.table, 40, "ct_state=+est,"+f, "ct(commit,"+ctZone+",exec(load:0x1->NXM_NX_CT_MARK[]))")
		}
		add(t.table, 0, "", "drop")
	}
	for _, f := range ipFamilies {
		add(fwAcceptOrIngress, 90, "ct_state=+new-est,"+f, commitAction+","+resubmit(fwAcceptedEgress))
	}
	add(fwAcceptOrIngress, 80, "", resubmit(fwAcceptedEgressOK))
	add(fwBaseIngress, 100, "arp", toPort)
	for _, typ := range ndIngressTypes {
		add(fwBaseIngress, 100, "icmp6,icmp_type="+strconv.Itoa(typ), toPort)
	}
	add(fwBaseIngress, 95, "udp,tp_src=67,tp_dst=68", toPort)
	add(fwBaseIngress, 95, "udp6,tp_src=547,tp_dst=546", toPort)
	for _, f := range ipFamilies {
		add(fwBaseIngress, 90, "ct_state=-trk,"+f, "ct(table="+strconv.Itoa(fwRulesIngress)+","+ctZone+")")
	}
	add(fwBaseIngress, 80, "ct_state=+trk", resubmit(fwRulesIngress))
	add(fwBaseIngress, 0, "", "drop")
	add(fwAcceptedEgress, 1, "", resubmit(fwAcceptedEgressOK))
	add(fwDropped, 0, "", "drop")
	add(fwAcceptedEgressOK, 1, "", "NORMAL")
	return fs
}

// conjKey names one conjunction: the members of Group as the peers of a
// rule in Direction for Ethertype. Ingress accepts of stateless ports do
// not commit, so they get their own conjunction.
type conjKey struct {
	Group, Direction, Ethertype string
	Stateless                   bool
}

// conjIDs hands out conjunction ids and keeps them stable while a key is
// in use, so that a change elsewhere never renumbers (and so rewrites)
// unrelated flows. Ids of keys no longer used are reused.
type conjIDs struct {
	ids  map[conjKey]uint32
	next uint32
	free []uint32
}

func newConjIDs() *conjIDs { return &conjIDs{ids: map[conjKey]uint32{}, next: 1} }

// assign keeps the ids of keys still used, frees the others and numbers
// new keys in sorted order (deterministic for the same history).
func (c *conjIDs) assign(used map[conjKey]bool) map[conjKey]uint32 {
	for k, id := range c.ids {
		if !used[k] {
			delete(c.ids, k)
			c.free = append(c.free, id)
		}
	}
	slices.Sort(c.free)
	var fresh []conjKey
	for k := range used {
		if _, ok := c.ids[k]; !ok {
			fresh = append(fresh, k)
		}
	}
	sort.Slice(fresh, func(i, j int) bool { return conjLess(fresh[i], fresh[j]) })
	for _, k := range fresh {
		if len(c.free) > 0 {
			c.ids[k], c.free = c.free[0], c.free[1:]
		} else {
			c.ids[k] = c.next
			c.next++
		}
	}
	return c.ids
}

func conjLess(a, b conjKey) bool {
	if a.Group != b.Group {
		return a.Group < b.Group
	}
	if a.Direction != b.Direction {
		return a.Direction < b.Direction
	}
	if a.Ethertype != b.Ethertype {
		return a.Ethertype < b.Ethertype
	}
	return !a.Stateless && b.Stateless
}

// ruleConjKey is the conjunction of a remote-group rule of a port.
func ruleConjKey(r dataplane.Rule, stateful bool) conjKey {
	return conjKey{Group: r.RemoteGroup, Direction: r.Direction, Ethertype: r.Ethertype, Stateless: r.Direction == "ingress" && !stateful}
}

// portConjKeys are the conjunctions a port's rules use.
func portConjKeys(pf dataplane.PortFilter) []conjKey {
	var out []conjKey
	for _, r := range pf.Rules {
		if r.RemoteGroup != "" {
			if k := ruleConjKey(r, pf.Stateful); !slices.Contains(out, k) {
				out = append(out, k)
			}
		}
	}
	return out
}

// fwPort is what one port's firewall flows are computed from; two equal
// fwPorts give the same flows, so the data plane reuses the flows of an
// unchanged port without recomputing them.
type fwPort struct {
	filter dataplane.PortFilter
	ofport int
	lvid   int
	conj   []uint32 // ids of portConjKeys(filter), in that order
	// shared are the port's MACs that another filtered port of its
	// network also holds: their delivery flows are sharedMACFlows'.
	shared []string
}

func (a *fwPort) equal(b *fwPort) bool {
	return a != nil && b != nil && a.ofport == b.ofport && a.lvid == b.lvid && slices.Equal(a.conj, b.conj) &&
		slices.Equal(a.shared, b.shared) && samePortFilter(a.filter, b.filter)
}

func samePortFilter(a, b dataplane.PortFilter) bool {
	return a.PortID == b.PortID && a.NetworkID == b.NetworkID && a.MAC == b.MAC && a.PortSecurity == b.PortSecurity &&
		a.Stateful == b.Stateful && slices.Equal(a.Allowed, b.Allowed) && slices.Equal(a.Rules, b.Rules)
}

// portMACs are the port's MAC and its allowed address pairs' MACs, once each.
func portMACs(pf dataplane.PortFilter) []string {
	out := []string{strings.ToLower(pf.MAC)}
	for _, a := range pf.Allowed {
		if m := strings.ToLower(a.MAC); m != "" && !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

// fwPortFlows are one port's flows: table 60 dispatch, anti-spoofing (71),
// delivery from local ports (73) and the port's rules (72, 82).
func fwPortFlows(p *fwPort) []Flow {
	var fs []Flow
	add := func(table, prio int, match, actions string) {
		fs = append(fs, Flow{Table: table, Priority: prio, Match: match, Actions: actions})
	}
	of, pf := strconv.Itoa(p.ofport), p.filter
	regs := fmt.Sprintf("set_field:%#x->%s,set_field:%#x->%s,", p.ofport, regPort, p.lvid, regNet)
	if !pf.PortSecurity {
		add(intTransientEgr, fwPortEgressPriority, "in_port="+of, regs+resubmit(fwAcceptOrIngress))
		return fs
	}
	add(intTransientEgr, fwPortEgressPriority, "in_port="+of, regs+resubmit(fwBaseEgress))
	macs := portMACs(pf)
	for _, mac := range macs {
		if slices.Contains(p.shared, mac) {
			continue
		}
		add(intTransientEgr, fwPortIngressPriority, fmt.Sprintf("dl_vlan=%d,dl_dst=%s", p.lvid, mac), regs+"pop_vlan,"+resubmit(fwBaseIngress))
		add(fwAcceptOrIngress, 100, fmt.Sprintf("%s=%#x,dl_dst=%s", regNet, p.lvid, mac),
			fmt.Sprintf("set_field:%#x->%s,", p.ofport, regPort)+resubmit(fwBaseIngress))
	}

	// 71: anti-spoofing. What the port may send from: the allowed pairs,
	// and for IPv6 the link-local address of each of its MACs.
	self := fmt.Sprintf("%s=%#x,in_port=%s", regPort, p.ofport, of)
	track := "ct(table=" + strconv.Itoa(fwRulesEgress) + "," + ctZone + ")"
	if !pf.Stateful {
		track = resubmit(fwRulesEgress)
	}
	var v6 []dataplane.AllowedAddress
	for _, mac := range macs {
		if ll, ok := linkLocal(mac); ok {
			v6 = append(v6, dataplane.AllowedAddress{MAC: mac, Prefix: netip.PrefixFrom(ll, 128)})
		}
	}
	for _, a := range pf.Allowed {
		mac := strings.ToLower(a.MAC)
		if mac == "" {
			mac = macs[0]
		}
		if !a.Prefix.IsValid() {
			continue
		}
		if a.Prefix.Addr().Is4() {
			src := prefixText(a.Prefix)
			add(fwBaseEgress, 95, "arp,"+self+",dl_src="+mac+",arp_spa="+src, resubmit(fwAcceptedEgressOK))
			add(fwBaseEgress, 65, "ip,"+self+",dl_src="+mac+",nw_src="+src, track)
		} else {
			v6 = append(v6, dataplane.AllowedAddress{MAC: mac, Prefix: a.Prefix})
		}
	}
	for _, a := range v6 {
		src := prefixText(a.Prefix)
		for _, typ := range ndEgressTypes {
			add(fwBaseEgress, 95, fmt.Sprintf("icmp6,%s,dl_src=%s,ipv6_src=%s,icmp_type=%d", self, a.MAC, src, typ), resubmit(fwAcceptedEgressOK))
		}
		add(fwBaseEgress, 65, "ipv6,"+self+",dl_src="+a.MAC+",ipv6_src="+src, track)
	}
	add(fwBaseEgress, 80, "udp,"+self+",tp_src=68,tp_dst=67", resubmit(fwAcceptOrIngress))
	add(fwBaseEgress, 80, "udp6,"+self+",tp_src=546,tp_dst=547", resubmit(fwAcceptOrIngress))
	add(fwBaseEgress, 70, "udp,"+self+",tp_src=67,tp_dst=68", resubmit(fwDropped))
	add(fwBaseEgress, 70, "udp6,"+self+",tp_src=547,tp_dst=546", resubmit(fwDropped))
	add(fwBaseEgress, 70, "icmp6,"+self+",icmp_type=134", resubmit(fwDropped))
	add(fwBaseEgress, 10, self, resubmit(fwDropped))
	if !pf.Stateful {
		// Untracked: straight to the rules, which alone decide.
		add(fwBaseIngress, 91, fmt.Sprintf("%s=%#x", regPort, p.ofport), resubmit(fwRulesIngress))
	}

	// 72/82: the rules. Plain rules accept directly; remote-group rules
	// are dimension 2 of their conjunction. Two rules may give the same
	// match (rules of two groups of the port): one flow, their
	// conjunction actions merged.
	keys := portConjKeys(pf)
	plain := map[[2]string]bool{}
	conj := map[[2]string][]string{}
	for _, r := range pf.Rules {
		table := fwRulesEgress
		if r.Direction == "ingress" {
			table = fwRulesIngress
		}
		matches := ruleMatches(r, p.ofport, pf.Stateful)
		for _, m := range matches {
			k := [2]string{strconv.Itoa(table), m}
			if r.RemoteGroup == "" {
				plain[k] = true
				continue
			}
			a := fmt.Sprintf("conjunction(%d,2/2)", p.conj[slices.Index(keys, ruleConjKey(r, pf.Stateful))])
			if !slices.Contains(conj[k], a) {
				conj[k] = append(conj[k], a)
			}
		}
	}
	accept := func(table int) string {
		switch {
		case table == fwRulesEgress:
			return resubmit(fwAcceptOrIngress)
		case pf.Stateful:
			return commitAction + "," + toPort
		}
		return toPort
	}
	for k := range plain {
		table, _ := strconv.Atoi(k[0])
		add(table, fwRulePriority, k[1], accept(table))
	}
	for k, acts := range conj {
		table, _ := strconv.Atoi(k[0])
		slices.Sort(acts)
		add(table, fwConjPriority, k[1], strings.Join(acts, ","))
	}
	return sortFlows(fs)
}

// macAddresses are the addresses a port holds with mac: its allowed
// pairs with that MAC (a pair without one has the port's), and for IPv6
// the MAC's link-local address.
func macAddresses(pf dataplane.PortFilter, mac string) []netip.Prefix {
	own := strings.ToLower(pf.MAC)
	var out []netip.Prefix
	for _, a := range pf.Allowed {
		m := strings.ToLower(a.MAC)
		if m == "" {
			m = own
		}
		if m == mac && a.Prefix.IsValid() && !slices.Contains(out, a.Prefix.Masked()) {
			out = append(out, a.Prefix.Masked())
		}
	}
	if ll, ok := linkLocal(mac); ok {
		out = append(out, netip.PrefixFrom(ll, 128))
	}
	return out
}

// sharedMACFlows deliver frames to a MAC that several filtered ports of
// one network hold (allowed address pairs may name another port's MAC,
// or two ports the same pair MAC, as keepalived setups do). One flow per
// MAC, as for a MAC of one port, would be one flow per port with the
// same match: the last written would win and deleting either port's
// would remove it. Instead the destination address picks the port:
// ARP by its target, IP by its destination, among the addresses each
// port holds with that MAC; an address several of them hold goes to
// each of them (each through its own ingress filter), as a hub would;
// anything else to the MAC is dropped, since no port claims it. Host
// addresses sit one priority above prefixes, so that the more specific
// claim wins where a host address lies in another port's prefix.
func sharedMACFlows(lvid int, mac string, owners []*fwPort) []Flow {
	type claim struct {
		p    netip.Prefix
		regs []string // per owner: its ofport in reg5, in owner order
	}
	claims := map[netip.Prefix]*claim{}
	var order []netip.Prefix
	for _, o := range owners {
		for _, a := range macAddresses(o.filter, mac) {
			c := claims[a]
			if c == nil {
				c = &claim{p: a}
				claims[a] = c
				order = append(order, a)
			}
			c.regs = append(c.regs, fmt.Sprintf("set_field:%#x->%s,", o.ofport, regPort))
		}
	}
	net := fmt.Sprintf("set_field:%#x->%s,", lvid, regNet)
	var fs []Flow
	add := func(table, prio int, match, actions string) {
		fs = append(fs, Flow{Table: table, Priority: prio, Match: match, Actions: actions})
	}
	for _, a := range order {
		c := claims[a]
		prio := 1
		if a.Bits() == a.Addr().BitLen() {
			prio = 2
		}
		var fromTun, local strings.Builder
		fromTun.WriteString("pop_vlan,")
		for _, r := range c.regs {
			fromTun.WriteString(r + net + resubmit(fwBaseIngress) + ",")
			local.WriteString(r + resubmit(fwBaseIngress) + ",")
		}
		tun, loc := strings.TrimSuffix(fromTun.String(), ","), strings.TrimSuffix(local.String(), ",")
		dst := prefixText(a)
		if a.Addr().Is4() {
			add(intTransientEgr, fwPortIngressPriority+prio, fmt.Sprintf("arp,dl_vlan=%d,dl_dst=%s,arp_tpa=%s", lvid, mac, dst), tun)
			add(intTransientEgr, fwPortIngressPriority+prio, fmt.Sprintf("ip,dl_vlan=%d,dl_dst=%s,nw_dst=%s", lvid, mac, dst), tun)
			add(fwAcceptOrIngress, 100+prio, fmt.Sprintf("arp,%s=%#x,dl_dst=%s,arp_tpa=%s", regNet, lvid, mac, dst), loc)
			add(fwAcceptOrIngress, 100+prio, fmt.Sprintf("ip,%s=%#x,dl_dst=%s,nw_dst=%s", regNet, lvid, mac, dst), loc)
		} else {
			add(intTransientEgr, fwPortIngressPriority+prio, fmt.Sprintf("ipv6,dl_vlan=%d,dl_dst=%s,ipv6_dst=%s", lvid, mac, dst), tun)
			add(fwAcceptOrIngress, 100+prio, fmt.Sprintf("ipv6,%s=%#x,dl_dst=%s,ipv6_dst=%s", regNet, lvid, mac, dst), loc)
		}
	}
	add(intTransientEgr, fwPortIngressPriority, fmt.Sprintf("dl_vlan=%d,dl_dst=%s", lvid, mac), resubmit(fwDropped))
	add(fwAcceptOrIngress, 100, fmt.Sprintf("%s=%#x,dl_dst=%s", regNet, lvid, mac), resubmit(fwDropped))
	return sortFlows(fs)
}

// conjAcceptFlows are the flows a completed conjunction leads to.
func conjAcceptFlows(k conjKey, id uint32) []Flow {
	name := "ip"
	if k.Ethertype == "IPv6" {
		name = "ipv6"
	}
	match := fmt.Sprintf("conj_id=%d,%s", id, name)
	if k.Direction == "egress" {
		return []Flow{{Table: fwRulesEgress, Priority: fwConjPriority, Match: match, Actions: resubmit(fwAcceptOrIngress)}}
	}
	act := commitAction + "," + toPort
	if k.Stateless {
		act = toPort
	}
	return []Flow{{Table: fwRulesIngress, Priority: fwConjPriority, Match: match, Actions: act}}
}

// addrFlow is dimension 1 for one member address in one direction: the
// conjunctions of every group (used in that direction) it belongs to.
func addrFlow(direction string, p netip.Prefix, ids []uint32) Flow {
	table, field := fwRulesIngress, "src"
	if direction == "egress" {
		table, field = fwRulesEgress, "dst"
	}
	match := "ip,nw_" + field + "=" + prefixText(p)
	if p.Addr().Is6() {
		match = "ipv6,ipv6_" + field + "=" + prefixText(p)
	}
	acts := make([]string, len(ids))
	for i, id := range ids {
		acts[i] = fmt.Sprintf("conjunction(%d,1/2)", id)
	}
	return Flow{Table: table, Priority: fwConjPriority, Match: match, Actions: strings.Join(acts, ",")}
}

// ruleMatches is the match of one rule on port ofport (without the
// remote group, which is the conjunction's other dimension), in the field
// order ovs-ofctl prints; a port range becomes one match per masked
// value. A rule whose remote prefix is of the other family matches
// nothing.
func ruleMatches(r dataplane.Rule, ofport int, stateful bool) []string {
	v6 := r.Ethertype == "IPv6"
	if r.RemoteGroup == "" && r.RemotePrefix.IsValid() && r.RemotePrefix.Addr().Is6() != v6 {
		return nil
	}
	if v6 && r.Protocol == 1 {
		// "icmp" in an IPv6 rule is ICMPv6, as Neutron's agents read it
		// (our API already stores it so; rules may come from elsewhere).
		r.Protocol = 58
	}
	var b strings.Builder
	if stateful {
		b.WriteString(ruleCT + ",")
	}
	proto, named := protoName(r.Protocol, v6)
	b.WriteString(proto)
	fmt.Fprintf(&b, ",%s=%#x", regPort, ofport)
	if r.RemoteGroup == "" && r.RemotePrefix.IsValid() && r.RemotePrefix.Bits() > 0 {
		field := "nw_"
		if v6 {
			field = "ipv6_"
		}
		if r.Direction == "ingress" {
			field += "src="
		} else {
			field += "dst="
		}
		b.WriteString("," + field + prefixText(r.RemotePrefix))
	}
	if !named {
		fmt.Fprintf(&b, ",nw_proto=%d", r.Protocol)
	}
	base := b.String()
	switch r.Protocol {
	case 1, 58: // ICMP, ICMPv6: type and code in the port fields
		if r.PortMin >= 0 && r.Protocol == icmpFor(v6) {
			base += ",icmp_type=" + strconv.Itoa(r.PortMin)
			if r.PortMax >= 0 {
				base += ",icmp_code=" + strconv.Itoa(r.PortMax)
			}
		}
		return []string{base}
	case 6, 17, 132:
		lo, hi := r.PortMin, r.PortMax
		if hi == 0 {
			hi = lo
		}
		if lo <= 0 && (hi <= 0 || hi >= 65535) {
			return []string{base}
		}
		var out []string
		for _, m := range portMasks(lo, hi) {
			out = append(out, base+",tp_dst="+m)
		}
		return out
	}
	return []string{base}
}

func icmpFor(v6 bool) uint8 {
	if v6 {
		return 58
	}
	return 1
}

// protoName is the ovs-ofctl shorthand for an IP protocol (named=false:
// the generic "ip"/"ipv6" that needs nw_proto).
func protoName(p uint8, v6 bool) (string, bool) {
	names4 := map[uint8]string{0: "ip", 1: "icmp", 6: "tcp", 17: "udp", 132: "sctp"}
	names6 := map[uint8]string{0: "ipv6", 58: "icmp6", 6: "tcp6", 17: "udp6", 132: "sctp6"}
	if v6 {
		if n, ok := names6[p]; ok {
			return n, true
		}
		return "ipv6", false
	}
	if n, ok := names4[p]; ok {
		return n, true
	}
	return "ip", false
}

// portMasks covers [lo, hi] with value/mask pairs as ovs-ofctl prints
// them: an exact port in decimal, a masked block in hex.
func portMasks(lo, hi int) []string {
	var out []string
	for lo <= hi {
		size := 1
		// Grow the block while it stays aligned and inside the range.
		for lo%(size*2) == 0 && lo+size*2-1 <= hi && size*2 <= 65536 {
			size *= 2
		}
		if size == 1 {
			out = append(out, strconv.Itoa(lo))
		} else {
			out = append(out, fmt.Sprintf("%#x/%#x", lo, 0xffff&^(size-1)))
		}
		lo += size
	}
	return out
}

// prefixText is an address or prefix as ovs-ofctl prints it: a host
// prefix without its length, host bits cleared.
func prefixText(p netip.Prefix) string {
	p = p.Masked()
	if p.Bits() == p.Addr().BitLen() {
		return p.Addr().String()
	}
	return p.String()
}

// linkLocal is the IPv6 link-local address derived from a MAC (EUI-64).
func linkLocal(mac string) (netip.Addr, bool) {
	hw, err := net.ParseMAC(mac)
	if err != nil || len(hw) != 6 {
		return netip.Addr{}, false
	}
	var a [16]byte
	a[0], a[1] = 0xfe, 0x80
	a[8], a[9], a[10], a[11] = hw[0]^2, hw[1], hw[2], 0xff
	a[12], a[13], a[14], a[15] = 0xfe, hw[3], hw[4], hw[5]
	return netip.AddrFrom16(a), true
}

// intFlowSet computes br-int's flows for s: the L2 pipeline (IntFlows)
// and, with firewall_driver = openvswitch, the shared firewall flows, one
// group per local port, one per conjunction and one per remote-group
// member address and direction. Groups of prev whose inputs are unchanged
// are reused as they are (diffSets skips them unread), so a rule change
// costs the flows of the ports that have the rule and a member change the
// flows of that address. ids keeps the conjunction numbering across
// calls. Bound ports without an ofport in l are left out (they have none
// yet); a bound port the firewall has no filter for is filtered with
// nothing allowed (fail closed) until its filter arrives.
func intFlowSet(s dataplane.NodeState, l Layout, ids *conjIDs, prev *flowSet) *flowSet {
	if s.Firewall.Driver != DriverOpenvswitch {
		return singleGroup(IntFlows(l))
	}
	hint := len(s.Ports) + 1
	if prev != nil {
		hint = len(prev.groups)
	}
	out := &flowSet{groups: make(map[string]*flowGroup, hint)}
	out.groups[""] = &flowGroup{flows: append(IntFlows(l), withCookie(fwBaseFlows(), l.Cookie)...)}
	if prev != nil && prev.groups[""] != nil && slices.Equal(prev.groups[""].flows, out.groups[""].flows) {
		out.groups[""] = prev.groups[""]
	}

	type portIn struct {
		id string
		pf dataplane.PortFilter
	}
	ports := make([]portIn, 0, len(s.Ports))
	used := map[conjKey]bool{}
	for id, lp := range s.Ports {
		if _, ok := l.Ofports[id]; !ok {
			continue
		}
		if _, ok := l.LVIDs[lp.NetworkID]; !ok {
			continue
		}
		pf, ok := s.Firewall.Ports[id]
		if !ok {
			pf = dataplane.PortFilter{PortID: id, NetworkID: lp.NetworkID, MAC: lp.MAC, PortSecurity: true, Stateful: true}
		}
		if pf.MAC == "" {
			pf.MAC = lp.MAC
		}
		ports = append(ports, portIn{id, pf})
		if pf.PortSecurity {
			for _, k := range portConjKeys(pf) {
				used[k] = true
			}
		}
	}
	conj := ids.assign(used)

	// Which filtered ports hold each (local VLAN, MAC): a MAC of more
	// than one is delivered by sharedMACFlows.
	type lvMAC struct {
		lvid int
		mac  string
	}
	holders := map[lvMAC][]string{}
	for _, p := range ports {
		if p.pf.PortSecurity {
			lvid := l.LVIDs[s.Ports[p.id].NetworkID]
			for _, mac := range portMACs(p.pf) {
				holders[lvMAC{lvid, mac}] = append(holders[lvMAC{lvid, mac}], p.id)
			}
		}
	}
	owners := map[lvMAC][]*fwPort{}
	for _, p := range ports {
		in := &fwPort{filter: p.pf, ofport: l.Ofports[p.id], lvid: l.LVIDs[s.Ports[p.id].NetworkID]}
		if p.pf.PortSecurity {
			for _, k := range portConjKeys(p.pf) {
				in.conj = append(in.conj, conj[k])
			}
			for _, mac := range portMACs(p.pf) {
				if k := (lvMAC{in.lvid, mac}); len(holders[k]) > 1 {
					in.shared = append(in.shared, mac)
					owners[k] = append(owners[k], in)
				}
			}
		}
		key := "port/" + p.id
		if g := prev.group(key); g != nil && g.port.equal(in) {
			out.groups[key] = g
			continue
		}
		in.filter.Allowed, in.filter.Rules = slices.Clone(p.pf.Allowed), slices.Clone(p.pf.Rules)
		out.groups[key] = &flowGroup{port: in, flows: withCookie(fwPortFlows(in), l.Cookie)}
	}
	for k, os := range owners {
		sort.Slice(os, func(i, j int) bool { return os[i].filter.PortID < os[j].filter.PortID })
		out.groups[fmt.Sprintf("mac/%d/%s", k.lvid, k.mac)] = &flowGroup{flows: withCookie(sharedMACFlows(k.lvid, k.mac, os), l.Cookie)}
	}

	addrs := make(map[string][]uint32, hint) // "<direction>/<prefix>" -> conjunction ids
	prefixes := make(map[string]netip.Prefix, hint)
	for k, id := range conj {
		for _, m := range s.Firewall.RemoteGroups[k.Group] {
			if !m.IsValid() || m.Addr().Is6() != (k.Ethertype == "IPv6") {
				continue
			}
			key := k.Direction + "/" + m.Masked().String()
			if !slices.Contains(addrs[key], id) {
				addrs[key] = append(addrs[key], id)
			}
			prefixes[key] = m
		}
		out.groups[fmt.Sprintf("conj/%d", id)] = &flowGroup{flows: withCookie(conjAcceptFlows(k, id), l.Cookie)}
	}
	for key, idl := range addrs {
		slices.Sort(idl)
		gk := "addr/" + key
		if g := prev.group(gk); g != nil && slices.Equal(g.ids, idl) {
			out.groups[gk] = g
			continue
		}
		dir, _, _ := strings.Cut(key, "/")
		out.groups[gk] = &flowGroup{ids: idl, flows: withCookie([]Flow{addrFlow(dir, prefixes[key], idl)}, l.Cookie)}
	}
	return out
}
