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
//	72  RULES_EGRESS   established replies and related accepted; invalid
//	                   and marked (ct_mark=1) dropped; then per port: a
//	                   new or established connection (not a reply; any
//	                   IP packet of a stateless port) is looked up in the
//	                   rules of each of the port's security groups in
//	                   turn (reg8 = the group, 75), then judged (76)
//	73  ACCEPT         to a local filtered port -> its ingress (81); a new
//	                   connection is committed; -> NORMAL (91, 94)
//	75  GROUP_EGRESS   each group's egress rules, once for all its ports
//	                   (match reg8 = the group): a rule that matches sets
//	                   reg9 = 1 (accepted)
//	76  VERDICT_EGRESS reg9 = 1 -> 73; otherwise dropped, and an
//	                   established connection no rule allows any more is
//	                   marked (ct_mark=1) and dropped from then on
//	81  BASE_INGRESS   ARP, ND, DHCP replies in; IP tracked -> 82
//	82  RULES_INGRESS  as 72 for ingress (85, 86)
//	85  GROUP_INGRESS  each group's ingress rules, as 75
//	86  VERDICT_INGRESS reg9 = 1: commit (if tracked), output to the port
//	                   (reg5); otherwise as 76
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
// program and audit. Above all, a rule is written once per security group
// on the node, not once per port: Neutron writes each rule of a group for
// every port in it (match reg5 = the port), so one rule create in a group
// of 1,000 ports on a node is 1,000 flow adds; here it is one flow (one
// per masked block of a port range), whatever the number of ports. A port
// lists its groups in its table 72/82 flow (reg8 = node-local group
// number, stable while the group is used; the agent logs each number it
// gives); a group's rules only set the accepted mark (reg9), so that a
// packet two groups allow is still output once, by the verdict. A connection's state
// is checked once in the port's flow (ct_state=-rpl-inv+trk: new or
// established, not a reply) instead of in every rule, and one rule flow
// stands for Neutron's pair +new-est / +est-rel-rpl, since the accept is
// the same for both (egress commits in 73, ingress in the verdict;
// committing an established connection again changes nothing).
//
// A MAC that several filtered ports of a network hold (an allowed address
// pair naming another port's MAC, or one pair MAC on two ports) is
// delivered by destination address (sharedMACFlows); Neutron writes one
// flow per port with the same match there, so the last port written
// receives everything and deleting either port's flow removes both.
//
// Remote groups are conjunctions, one conjunction id per (remote group,
// direction, ethertype) node-wide: dimension 1 is one flow per member
// address (ip,nw_src=<member> for ingress, nw_dst for egress) in table
// 75/85 carrying the conjunction actions of every group the address
// belongs to; dimension 2 is the rule's own match on its group (reg8). A
// member joining or leaving
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
	fwGroupEgress      = 75
	fwVerdictEgress    = 76
	fwBaseIngress      = 81
	fwRulesIngress     = 82
	fwGroupIngress     = 85
	fwVerdictIngress   = 86
	fwAcceptedEgress   = 91
	fwDropped          = 93
	fwAcceptedEgressOK = 94

	// Table 60 priorities.
	fwPortEgressPriority  = 100
	fwPortIngressPriority = 90
	// Priorities in 72/82 (a port's groups, after what passes or drops
	// whatever the rules: priority 50) and 75/85 (rules).
	fwPortRulesPriority = 40
	fwRulePriority      = 70
	fwConjPriority      = 60

	// regPort holds the port's ofport, regNet its network's local VLAN
	// (the conntrack zone), as Neutron's register 5 and 6. regGroup is
	// the security group whose rules 75/85 look at, regVerdict 1 once a
	// rule accepted the packet.
	regPort    = "reg5"
	regNet     = "reg6"
	regGroup   = "reg8"
	regVerdict = "reg9"

	// ruleCT is the ct_state a stateful port's rules see: tracked, not
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
	// markAccepted is what a matching rule does; the verdict acts on it.
	markAccepted = "set_field:0x1->" + regVerdict
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
	// 72 and 82: what passes without a rule, what never passes; 75 and
	// 85 (rules) accept nothing by default; 76 and 86: the verdict, and
	// the marking of established connections whose rule went.
	for _, t := range []struct {
		rules, group, verdict int
		accept                string
	}{{fwRulesEgress, fwGroupEgress, fwVerdictEgress, resubmit(fwAcceptedEgressOK)}, {fwRulesIngress, fwGroupIngress, fwVerdictIngress, toPort}} {
		add(t.rules, 50, "ct_state=+est-rel+rpl,ct_mark=0", t.accept)
		add(t.rules, 50, "ct_state=-new-est+rel-inv,ct_mark=0", t.accept)
		add(t.rules, 50, "ct_mark=0x1", resubmit(fwDropped))
		add(t.rules, 50, "ct_state=+inv+trk", resubmit(fwDropped))
		add(t.rules, 0, "", "drop")
		add(t.group, 0, "", "drop")
		for _, f := range ipFamilies {
			add(t.verdict, 50, "ct_state=+est,"+f, "ct(commit,"+ctZone+",exec(load:0x1->NXM_NX_CT_MARK[]))")
		}
		add(t.verdict, 0, "", resubmit(fwDropped))
	}
	add(fwVerdictEgress, 100, regVerdict+"=0x1", resubmit(fwAcceptOrIngress))
	// A packet of a stateless port is untracked and passes uncommitted;
	// one that a stateful local port sent is tracked already (its
	// connection committed in 73), and committing it again changes nothing.
	for _, f := range ipFamilies {
		add(fwVerdictIngress, 100, "ct_state=+trk,"+f+","+regVerdict+"=0x1", commitAction+","+toPort)
	}
	add(fwVerdictIngress, 90, regVerdict+"=0x1", toPort)
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
// rule in Direction for Ethertype.
type conjKey struct {
	Group, Direction, Ethertype string
}

func conjLess(a, b conjKey) bool {
	if a.Group != b.Group {
		return a.Group < b.Group
	}
	if a.Direction != b.Direction {
		return a.Direction < b.Direction
	}
	return a.Ethertype < b.Ethertype
}

// idPool hands out small numbers (conjunction ids, security-group
// numbers in reg8) and keeps them stable while a key is in use, so that
// a change elsewhere never renumbers (and so rewrites) unrelated flows.
// Numbers of keys no longer used are reused.
type idPool[K comparable] struct {
	ids  map[K]uint32
	next uint32
	free []uint32
	less func(a, b K) bool
	// fresh are the keys the last assign numbered anew.
	fresh []K
}

func newIDPool[K comparable](less func(a, b K) bool) *idPool[K] {
	return &idPool[K]{ids: map[K]uint32{}, next: 1, less: less}
}

// assign keeps the ids of keys still used, frees the others and numbers
// new keys in sorted order (deterministic for the same history).
func (c *idPool[K]) assign(used map[K]bool) map[K]uint32 {
	for k, id := range c.ids {
		if !used[k] {
			delete(c.ids, k)
			c.free = append(c.free, id)
		}
	}
	slices.Sort(c.free)
	var fresh []K
	for k := range used {
		if _, ok := c.ids[k]; !ok {
			fresh = append(fresh, k)
		}
	}
	sort.Slice(fresh, func(i, j int) bool { return c.less(fresh[i], fresh[j]) })
	c.fresh = fresh
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

// fwIDs are the firewall's node-local numberings, kept across Applies.
type fwIDs struct {
	conj  *idPool[conjKey]
	group *idPool[string]
}

func newFwIDs() *fwIDs {
	return &fwIDs{conj: newIDPool(conjLess), group: newIDPool(func(a, b string) bool { return a < b })}
}

// ruleConjKey is the conjunction of a remote-group rule.
func ruleConjKey(r dataplane.Rule) conjKey {
	return conjKey{Group: r.RemoteGroup, Direction: r.Direction, Ethertype: r.Ethertype}
}

// groupConjKeys are the conjunctions a group's rules use, in rule order.
func groupConjKeys(rules []dataplane.Rule) []conjKey {
	var out []conjKey
	for _, r := range rules {
		if r.RemoteGroup != "" {
			if k := ruleConjKey(r); !slices.Contains(out, k) {
				out = append(out, k)
			}
		}
	}
	return out
}

// portGroups are the keys of a port's rule groups: its security groups,
// or for a filter given by its rules alone, the port itself.
func portGroups(pf dataplane.PortFilter) []string {
	if len(pf.Groups) > 0 {
		return pf.Groups
	}
	if len(pf.Rules) > 0 {
		return []string{"port:" + pf.PortID}
	}
	return nil
}

// fwGroup is what one group's rule flows are computed from.
type fwGroup struct {
	id    uint32 // reg8
	rules []dataplane.Rule
	conj  []uint32 // ids of groupConjKeys(rules), in that order
}

func (a *fwGroup) equal(b *fwGroup) bool {
	return a != nil && b != nil && a.id == b.id && slices.Equal(a.conj, b.conj) && slices.Equal(a.rules, b.rules)
}

// fwPort is what one port's firewall flows are computed from; two equal
// fwPorts give the same flows, so the data plane reuses the flows of an
// unchanged port without recomputing them. The port's rules are not
// part of it (they are its groups' flows), only its groups' numbers.
type fwPort struct {
	filter dataplane.PortFilter // Rules and Groups cleared
	ofport int
	lvid   int
	groups []uint32 // reg8 of each of its groups, sorted
	// shared are the port's MACs that another filtered port of its
	// network also holds: their delivery flows are sharedMACFlows'.
	shared []string
}

func (a *fwPort) equal(b *fwPort) bool {
	return a != nil && b != nil && a.ofport == b.ofport && a.lvid == b.lvid && slices.Equal(a.groups, b.groups) &&
		slices.Equal(a.shared, b.shared) && samePortFilter(a.filter, b.filter)
}

func samePortFilter(a, b dataplane.PortFilter) bool {
	return a.PortID == b.PortID && a.NetworkID == b.NetworkID && a.MAC == b.MAC && a.PortSecurity == b.PortSecurity &&
		a.Stateful == b.Stateful && slices.Equal(a.Allowed, b.Allowed)
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

	// 72/82: the port's groups, each looked up in turn, then the verdict.
	match := ruleCT + "," + fmt.Sprintf("%s=%#x", regPort, p.ofport)
	if !pf.Stateful {
		match = fmt.Sprintf("%s=%#x", regPort, p.ofport)
	}
	for _, dir := range []struct{ rules, group, verdict int }{
		{fwRulesEgress, fwGroupEgress, fwVerdictEgress}, {fwRulesIngress, fwGroupIngress, fwVerdictIngress},
	} {
		var b strings.Builder
		b.WriteString("set_field:0->" + regVerdict)
		for _, g := range p.groups {
			fmt.Fprintf(&b, ",set_field:%#x->%s,%s", g, regGroup, resubmit(dir.group))
		}
		b.WriteString("," + resubmit(dir.verdict))
		add(dir.rules, fwPortRulesPriority, match, b.String())
	}
	return sortFlows(fs)
}

// fwGroupFlows are one group's rule flows in 75 (egress) and 85
// (ingress), the same for every port in the group: plain rules mark the
// packet accepted; remote-group rules are dimension 2 of their
// conjunction. Two rules may give the same match (port ranges that
// overlap): one flow, their conjunction actions merged.
func fwGroupFlows(g *fwGroup) []Flow {
	keys := groupConjKeys(g.rules)
	plain := map[[2]string]bool{}
	conj := map[[2]string][]string{}
	for _, r := range g.rules {
		table := fwGroupEgress
		if r.Direction == "ingress" {
			table = fwGroupIngress
		}
		for _, m := range ruleMatches(r, g.id) {
			k := [2]string{strconv.Itoa(table), m}
			if r.RemoteGroup == "" {
				plain[k] = true
				continue
			}
			a := fmt.Sprintf("conjunction(%d,2/2)", g.conj[slices.Index(keys, ruleConjKey(r))])
			if !slices.Contains(conj[k], a) {
				conj[k] = append(conj[k], a)
			}
		}
	}
	var fs []Flow
	for k := range plain {
		table, _ := strconv.Atoi(k[0])
		fs = append(fs, Flow{Table: table, Priority: fwRulePriority, Match: k[1], Actions: markAccepted})
	}
	for k, acts := range conj {
		table, _ := strconv.Atoi(k[0])
		slices.Sort(acts)
		fs = append(fs, Flow{Table: table, Priority: fwConjPriority, Match: k[1], Actions: strings.Join(acts, ",")})
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

// conjAcceptFlow is the flow a completed conjunction leads to: the
// packet is accepted, as by a plain rule.
func conjAcceptFlow(k conjKey, id uint32) Flow {
	name := "ip"
	if k.Ethertype == "IPv6" {
		name = "ipv6"
	}
	table := fwGroupIngress
	if k.Direction == "egress" {
		table = fwGroupEgress
	}
	return Flow{Table: table, Priority: fwConjPriority, Match: fmt.Sprintf("conj_id=%d,%s", id, name), Actions: markAccepted}
}

// addrFlow is dimension 1 for one member address in one direction: the
// conjunctions of every group (used in that direction) it belongs to.
func addrFlow(direction string, p netip.Prefix, ids []uint32) Flow {
	table, field := fwGroupIngress, "src"
	if direction == "egress" {
		table, field = fwGroupEgress, "dst"
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

// ruleMatches is the match of one rule of group number group (without
// the remote group, which is the conjunction's other dimension), in the
// field order ovs-ofctl prints; a port range becomes one match per masked
// value. A rule whose remote prefix is of the other family matches
// nothing.
func ruleMatches(r dataplane.Rule, group uint32) []string {
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
	proto, named := protoName(r.Protocol, v6)
	b.WriteString(proto)
	fmt.Fprintf(&b, ",%s=%#x", regGroup, group)
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
// group per local port, one per security group of the local ports (its
// rules), one per conjunction and one per remote-group member address and
// direction. Groups of prev whose inputs are unchanged are reused as they
// are (diffSets skips them unread), so a rule change costs the flows of
// its group's rules, a port change that port's flows and a member change
// the flows of that address. ids keeps the conjunction and group
// numbering across calls. Bound ports without an ofport in l are left out
// (they have none yet); a bound port the firewall has no filter for is
// filtered with nothing allowed (fail closed) until its filter arrives.
func intFlowSet(s dataplane.NodeState, l Layout, ids *fwIDs, prev *flowSet) *flowSet {
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
	groupRules := map[string][]dataplane.Rule{} // rule groups in use
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
		if !pf.PortSecurity {
			continue
		}
		for _, g := range portGroups(pf) {
			if _, ok := groupRules[g]; ok {
				continue
			}
			if len(pf.Groups) > 0 {
				groupRules[g] = s.Firewall.Groups[g]
			} else {
				groupRules[g] = pf.Rules
			}
		}
	}
	usedGroups := make(map[string]bool, len(groupRules))
	usedConj := map[conjKey]bool{}
	for g, rules := range groupRules {
		usedGroups[g] = true
		for _, k := range groupConjKeys(rules) {
			usedConj[k] = true
		}
	}
	groupIDs, conj := ids.group.assign(usedGroups), ids.conj.assign(usedConj)

	for g, rules := range groupRules {
		in := &fwGroup{id: groupIDs[g], rules: rules}
		for _, k := range groupConjKeys(rules) {
			in.conj = append(in.conj, conj[k])
		}
		key := "sg/" + g
		if old := prev.group(key); old != nil && old.sg.equal(in) {
			out.groups[key] = old
			continue
		}
		in.rules = slices.Clone(rules)
		out.groups[key] = &flowGroup{sg: in, flows: withCookie(fwGroupFlows(in), l.Cookie)}
	}

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
		in.filter.Rules, in.filter.Groups = nil, nil
		if p.pf.PortSecurity {
			for _, g := range portGroups(p.pf) {
				in.groups = append(in.groups, groupIDs[g])
			}
			slices.Sort(in.groups)
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
		in.filter.Allowed = slices.Clone(p.pf.Allowed)
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
		out.groups[fmt.Sprintf("conj/%d", id)] = &flowGroup{flows: withCookie([]Flow{conjAcceptFlow(k, id)}, l.Cookie)}
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
