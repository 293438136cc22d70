package nftfw

import (
	"encoding/binary"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"neutrino/internal/dataplane"
)

// Input is what the firewall of one node must enforce.
type Input struct {
	Firewall dataplane.Firewall
	// Ifaces says which bridge port carries which port id's traffic: the
	// tap (Linux bridge) or the tap on the port's qbr bridge (OVS hybrid).
	// Ports of Firewall.Ports without an interface here are not filtered
	// yet (their device is not there).
	Ifaces map[string]Iface
	// VXLANPort is the node's VXLAN UDP port, filtered by source when
	// Firewall.VTEPs is not empty.
	VXLANPort int
}

// Iface is the bridge port of one port.
type Iface struct {
	Name   string // the bridge port, e.g. "tap" + port id[:11]
	Bridge string // the bridge it is on: its conntrack zone
}

// Filtering reports whether a firewall driver filters ports with this
// package ("iptables" on Linux bridge, "iptables_hybrid" on OVS; "noop",
// "" and "openvswitch" do not).
func Filtering(driver string) bool {
	return driver == "iptables" || driver == "iptables_hybrid"
}

// Names of our sets and base chains.
const (
	setFromVM  = "from_vm" // bridge: tap -> jump spoof-<tap>
	setToVM    = "to_vm"   // bridge: tap -> jump to-<tap>
	setEgress  = "egress"  // inet: mark (port index << 16) -> jump egress-<tap>
	setIngress = "ingress" // inet: mark (port index) -> jump ingress-<tap>
	setVTEPs4  = "vteps4"  // inet: VTEPs allowed to send VXLAN
	setVTEPs6  = "vteps6"
	maxIndex   = 0xffff
	egressMask = 0xffff0000
)

// RemoteSetName is the set of a remote group's addresses of one ethertype.
func RemoteSetName(group string, is6 bool) string {
	if is6 {
		return "IPv6-" + group
	}
	return "IPv4-" + group
}

// port is one filtered port with its assigned index.
type port struct {
	f     dataplane.PortFilter
	iface Iface
	index uint32
}

// Plan computes the ruleset for in. cur is what the kernel holds (as read
// back, or the empty Ruleset): port indices, rules chains and conntrack
// zones already in use there are kept, so a restart or an unrelated change
// never renumbers a working port, and chains whose inputs did not change
// are reused rather than built again.
func Plan(in Input, cur Ruleset) (Ruleset, error) {
	var ports []*port
	if Filtering(in.Firewall.Driver) {
		for id, f := range in.Firewall.Ports {
			ifc, ok := in.Ifaces[id]
			if !ok || !f.PortSecurity {
				continue
			}
			ports = append(ports, &port{f: f, iface: ifc})
		}
	}
	sort.Slice(ports, func(i, j int) bool { return ports[i].iface.Name < ports[j].iface.Name })
	if err := assignIndices(ports, cur); err != nil {
		return Ruleset{}, err
	}
	zones, err := assignZones(ports, cur)
	if err != nil {
		return Ruleset{}, err
	}
	var out Ruleset
	pc := portChains{cur: cur}
	if len(ports) > 0 {
		out.Tables = append(out.Tables, bridgeTable(ports, pc))
	}
	if t := inetTable(in, ports, zones, pc); len(t.Chains) > 0 {
		out.Tables = append(out.Tables, t)
	}
	for _, t := range out.Tables {
		for _, c := range t.Chains {
			if c.Sum == "" {
				c.Sum = c.sum()
			}
		}
		for _, s := range t.Sets {
			s.Elems = sortElems(s.Elems)
		}
	}
	return out, nil
}

// portChains makes the per-port chains, reusing from cur (the previous
// plan, as the Applier records it) each chain whose inputs are the same:
// building a thousand ports' rules again for every update would cost more
// than the update.
type portChains struct{ cur Ruleset }

func (pc portChains) chain(f Family, name, key string, rules func() []Rule) *Chain {
	if t := pc.cur.Table(f); t != nil {
		if c := t.Chain(name); c != nil && c.key == key && c.Rules != nil {
			return c
		}
	}
	return &Chain{Name: name, Rules: rules(), key: key}
}

// assignIndices keeps each port's index from cur's egress map and gives
// new ports the lowest free ones.
func assignIndices(ports []*port, cur Ruleset) error {
	old := map[string]uint32{}
	if t := cur.Table(Inet); t != nil {
		if s := t.Set(setEgress); s != nil {
			for _, e := range s.Elems {
				if tap, ok := strings.CutPrefix(e.Verdict, "egress-"); ok && len(e.Key) == 4 {
					old[tap] = binary.NativeEndian.Uint32(e.Key) >> 16
				}
			}
		}
	}
	used := map[uint32]bool{}
	for _, p := range ports {
		if i, ok := old[p.iface.Name]; ok && i > 0 && !used[i] {
			p.index = i
			used[i] = true
		}
	}
	next := uint32(1)
	for _, p := range ports {
		if p.index != 0 {
			continue
		}
		for used[next] {
			next++
		}
		if next > maxIndex {
			return fmt.Errorf("nftfw: more than %d filtered ports", maxIndex)
		}
		p.index = next
		used[next] = true
	}
	return nil
}

// assignZones gives every bridge with a filtered port a conntrack zone,
// keeping those in cur's zones map.
func assignZones(ports []*port, cur Ruleset) (map[string]uint16, error) {
	var old map[string]uint16
	if t := cur.Table(Inet); t != nil {
		old = t.Zones
	}
	var bridges []string
	for _, p := range ports {
		if !slices.Contains(bridges, p.iface.Bridge) {
			bridges = append(bridges, p.iface.Bridge)
		}
	}
	slices.Sort(bridges)
	zones := map[string]uint16{}
	used := map[uint16]bool{}
	for _, b := range bridges {
		if z, ok := old[b]; ok && z > 0 && !used[z] {
			zones[b] = z
			used[z] = true
		}
	}
	next := uint16(1)
	for _, b := range bridges {
		if _, ok := zones[b]; ok {
			continue
		}
		for used[next] {
			if next == 0xffff {
				return nil, fmt.Errorf("nftfw: no conntrack zone left")
			}
			next++
		}
		zones[b] = next
		used[next] = true
	}
	return zones, nil
}

func ifnameKey(name string) []byte {
	k := make([]byte, 16)
	copy(k, name)
	return k
}

func markKey(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }

// bridgeTable classifies frames by bridge port: anti-spoofing and the
// sending port's mark on the way in, the receiving port's mark on the way
// out.
func bridgeTable(ports []*port, pc portChains) *Table {
	from := &Set{Name: setFromVM, Kind: IfnameVerdict}
	to := &Set{Name: setToVM, Kind: IfnameVerdict}
	t := &Table{Family: Bridge, Sets: []*Set{from, to}, Chains: []*Chain{
		{Name: "prerouting", Hook: "prerouting", Priority: -200,
			Rules: []Rule{newRule().ifVmap(expr.MetaKeyIIFNAME, setFromVM).rule()}},
		{Name: "forward", Hook: "forward", Priority: -200,
			Rules: []Rule{newRule().ifVmap(expr.MetaKeyOIFNAME, setToVM).rule()}},
	}}
	for _, p := range ports {
		tap := p.iface.Name
		from.Elems = append(from.Elems, Elem{Key: ifnameKey(tap), Verdict: "spoof-" + tap, kind: IfnameVerdict})
		to.Elems = append(to.Elems, Elem{Key: ifnameKey(tap), Verdict: "to-" + tap, kind: IfnameVerdict})
		t.Chains = append(t.Chains,
			pc.chain(Bridge, "spoof-"+tap, fmt.Sprint(p.index, p.f.MAC, p.f.Allowed), func() []Rule { return spoofRules(p) }),
			pc.chain(Bridge, "to-"+tap, fmt.Sprint(p.index), func() []Rule { return []Rule{newRule().orMark(p.index).rule()} }))
	}
	return t
}

// spoofRules let a port send only from its MACs with their addresses
// (ARP included), ARP probes and DHCP discovery from 0.0.0.0, and, when it
// has IPv6, its
// EUI-64 link-local address and duplicate address detection from ::.
func spoofRules(p *port) []Rule {
	rules := []Rule{newRule().setMark(p.index << 16).rule()}
	own, _ := net.ParseMAC(p.f.MAC)
	has6 := false
	for _, a := range p.f.Allowed {
		mac, err := net.ParseMAC(a.MAC)
		if err != nil {
			mac = own
		}
		if !a.Prefix.IsValid() {
			continue
		}
		if a.Prefix.Addr().Is6() {
			has6 = true
			rules = append(rules, newRule().etherSaddr(mac).bridgeProto(unix.ETH_P_IPV6).addr("saddr", a.Prefix).verdict(expr.VerdictReturn))
			continue
		}
		rules = append(rules,
			newRule().etherSaddr(mac).bridgeProto(unix.ETH_P_IP).addr("saddr", a.Prefix).verdict(expr.VerdictReturn),
			arpRule(mac, a.Prefix))
	}
	if own != nil {
		// ARP probes (duplicate address detection, DHCP clients checking
		// an offered address) are sent from 0.0.0.0.
		rules = append(rules, arpRule(own, netip.MustParsePrefix("0.0.0.0/32")))
		rules = append(rules, newRule().etherSaddr(own).bridgeProto(unix.ETH_P_IP).
			addr("saddr", netip.MustParsePrefix("0.0.0.0/32")).
			addr("daddr", netip.MustParsePrefix("255.255.255.255/32")).verdict(expr.VerdictReturn))
		if has6 {
			rules = append(rules,
				newRule().etherSaddr(own).bridgeProto(unix.ETH_P_IPV6).addr("saddr", netip.PrefixFrom(linkLocal(own), 128)).verdict(expr.VerdictReturn),
				newRule().etherSaddr(own).bridgeProto(unix.ETH_P_IPV6).addr("saddr", netip.MustParsePrefix("::/128")).verdict(expr.VerdictReturn))
		}
	}
	return append(rules, newRule().counter().verdict(expr.VerdictDrop))
}

func arpRule(mac net.HardwareAddr, p netip.Prefix) Rule {
	// nft merges "ether saddr" with the "ether type arp" dependency into
	// one 8-byte load; so do we, so that it prints without the type.
	r := newRule().add("ether saddr "+mac.String(), loadCmp(expr.PayloadBaseLLHeader, 6, append(slices.Clone(mac), 0x08, 0x06))...)
	r.add("arp saddr ether "+mac.String(), loadCmp(expr.PayloadBaseNetworkHeader, 8, mac)...)
	a := p.Masked().Addr().AsSlice()
	text := "arp saddr ip " + p.Masked().String()
	if p.IsSingleIP() {
		text = "arp saddr ip " + p.Addr().String()
	}
	if p.Bits()%8 == 0 {
		r.add(text, loadCmp(expr.PayloadBaseNetworkHeader, 14, a[:p.Bits()/8])...)
	} else {
		n := len(a)
		r.add(text,
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 14, Len: uint32(n)},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: uint32(n), Mask: prefixMask(p.Bits(), n), Xor: make([]byte, n)},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a[:n]})
	}
	return r.verdict(expr.VerdictReturn)
}

// linkLocal is the EUI-64 link-local address of a MAC.
func linkLocal(mac net.HardwareAddr) netip.Addr {
	var b [16]byte
	b[0], b[1] = 0xfe, 0x80
	if len(mac) == 6 {
		b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15] = mac[0]^2, mac[1], mac[2], 0xff, 0xfe, mac[3], mac[4], mac[5]
	}
	return netip.AddrFrom16(b)
}

// inetTable holds the stateful per-port chains and the underlay filter.
func inetTable(in Input, ports []*port, zones map[string]uint16, pc portChains) *Table {
	t := &Table{Family: Inet}
	if len(ports) > 0 {
		eg := &Set{Name: setEgress, Kind: MarkVerdict}
		ig := &Set{Name: setIngress, Kind: MarkVerdict}
		t.Sets = append(t.Sets, eg, ig)
		t.Zones = zones
		var zoneRules []Rule
		for _, b := range slices.Sorted(maps.Keys(zones)) {
			zoneRules = append(zoneRules, newRule().iifname(b).setZone(zones[b]).rule())
		}
		groups := map[string]bool{}
		for _, p := range ports {
			for _, r := range p.f.Rules {
				if r.RemoteGroup != "" {
					groups[RemoteSetName(r.RemoteGroup, r.Ethertype == "IPv6")] = true
				}
			}
		}
		for _, g := range slices.Sorted(maps.Keys(groups)) {
			is6 := strings.HasPrefix(g, "IPv6-")
			s := &Set{Name: g, Kind: IPv4Interval}
			if is6 {
				s.Kind = IPv6Interval
			}
			s.Elems = groupElems(in.Firewall.RemoteGroups[g[5:]], is6)
			t.Sets = append(t.Sets, s)
		}
		t.Chains = append(t.Chains,
			&Chain{Name: "prerouting", Hook: "prerouting", Priority: -300, Rules: zoneRules},
			&Chain{Name: "forward", Hook: "forward", Priority: 0, Rules: []Rule{
				newRule().markVmap(egressMask, setEgress).rule(),
				newRule().markVmap(maxIndex, setIngress).rule()}})
		// Rules chains first: the port chains name theirs.
		target := map[string]map[*port]string{}
		var rulesChains []*Chain
		for _, dir := range []string{"egress", "ingress"} {
			target[dir] = map[*port]string{}
			for _, rc := range ruleChains(ports, pc.cur, dir) {
				for _, p := range rc.ports {
					target[dir][p] = rc.name
				}
				rulesChains = append(rulesChains, pc.chain(Inet, rc.name, rc.key, func() []Rule { return groupRules(rc.ports[0].f, dir) }))
			}
		}
		for _, p := range ports {
			tap := p.iface.Name
			eg.Elems = append(eg.Elems, Elem{Key: markKey(p.index << 16), Verdict: "egress-" + tap, kind: MarkVerdict})
			ig.Elems = append(ig.Elems, Elem{Key: markKey(p.index), Verdict: "ingress-" + tap, kind: MarkVerdict})
			for _, dir := range []string{"egress", "ingress"} {
				to := target[dir][p]
				c := pc.chain(Inet, dir+"-"+tap, fmt.Sprint(p.f.Stateful, to), func() []Rule { return portRules(p.f.Stateful, dir, to) })
				c.target = to
				t.Chains = append(t.Chains, c)
			}
		}
		t.Chains = append(t.Chains, rulesChains...)
	}
	if len(in.Firewall.VTEPs) > 0 && in.VXLANPort > 0 {
		v4 := &Set{Name: setVTEPs4, Kind: IPv4Addr}
		v6 := &Set{Name: setVTEPs6, Kind: IPv6Addr}
		for _, a := range in.Firewall.VTEPs {
			a = a.Unmap()
			if a.Is4() {
				v4.Elems = append(v4.Elems, Elem{Key: a.AsSlice(), kind: IPv4Addr})
			} else {
				v6.Elems = append(v6.Elems, Elem{Key: a.AsSlice(), kind: IPv6Addr})
			}
		}
		t.Sets = append(t.Sets, v4, v6)
		port := in.VXLANPort
		t.Chains = append(t.Chains, &Chain{Name: "underlay", Hook: "input", Priority: 0, Rules: []Rule{
			newRule().port(unix.IPPROTO_UDP, "dport", port, port).nfproto(false, false).addrSet("saddr", false, true, setVTEPs4).counter().verdict(expr.VerdictDrop),
			newRule().port(unix.IPPROTO_UDP, "dport", port, port).nfproto(true, false).addrSet("saddr", true, true, setVTEPs6).counter().verdict(expr.VerdictDrop),
		}})
	}
	return t
}

// groupElems turns a remote group's member prefixes of one family into
// interval elements; a prefix inside another one is left out (the kernel
// refuses overlapping intervals).
func groupElems(members []netip.Prefix, is6 bool) []Elem {
	var ps []netip.Prefix
	for _, p := range members {
		if p.IsValid() && p.Addr().Unmap().Is6() == is6 {
			ps = append(ps, netip.PrefixFrom(p.Addr().Unmap(), min(p.Bits(), p.Addr().Unmap().BitLen())).Masked())
		}
	}
	// CIDR prefixes nest or are disjoint: sorted by start, shorter first,
	// a prefix inside another is inside the last one kept.
	slices.SortFunc(ps, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	var out []Elem
	var last netip.Prefix
	for _, p := range ps {
		if last.IsValid() && last.Contains(p.Addr()) {
			continue
		}
		last = p
		out = append(out, prefixElem(p))
	}
	return out
}

// ruleKey is everything a rules chain of direction dir is made of.
func ruleKey(f dataplane.PortFilter, dir string) string {
	var b strings.Builder
	for _, r := range f.Rules {
		if r.Direction == dir {
			fmt.Fprintf(&b, "|%s %d %d %d %s %s", r.Ethertype, r.Protocol, r.PortMin, r.PortMax, r.RemotePrefix, r.RemoteGroup)
		}
	}
	return b.String()
}

// Neutron's ICMPv6 types every port may send and receive.
var (
	icmp6Egress  = []int{131, 143, 133, 135, 136} // MLD reports, RS, NS, NA
	icmp6Ingress = []int{130, 134, 135, 136}      // MLD query, RA, NS, NA
)

// portRules is one port's egress (from the VM) or ingress (to the VM)
// chain: what every port may do, conntrack, then a goto to the chain of
// its security-group rules, shared with the ports of the same rules (a
// rule change rewrites that chain, no port's). Allowed packets return to
// the forward chain, so a packet between two local ports passes the
// sender's egress and the receiver's ingress chain.
//
// The goto is an immediate, not a verdict map keyed by the mark: the
// kernel validates a verdict map by walking every element's chain, so a
// map in each of n port chains made every rule change cost n^2 chain walks
// (about 100 ms at 1000 ports, measured).
func portRules(stateful bool, dir, rulesChain string) []Rule {
	ret, drop := expr.VerdictReturn, expr.VerdictDrop
	var rules []Rule
	state := func() {
		if stateful {
			rules = append(rules,
				newRule().ctState(expr.CtStateBitESTABLISHED|expr.CtStateBitRELATED, "established,related").verdict(ret),
				newRule().ctState(expr.CtStateBitINVALID, "invalid").counter().verdict(drop))
		}
	}
	udp := func(sport, dport int) *rb {
		return newRule().port(unix.IPPROTO_UDP, "sport", sport, sport).port(unix.IPPROTO_UDP, "dport", dport, dport)
	}
	if dir == "egress" {
		// DHCP client yes, DHCP server and router advertisements no.
		rules = append(rules, udp(68, 67).verdict(ret), udp(546, 547).verdict(ret),
			udp(67, 68).counter().verdict(drop), udp(547, 546).counter().verdict(drop),
			newRule().nfproto(true, false).icmp(true, 134, -1).counter().verdict(drop))
		for _, t := range icmp6Egress {
			rules = append(rules, newRule().nfproto(true, false).icmp(true, t, -1).verdict(ret))
		}
		state()
	} else {
		state()
		rules = append(rules, udp(67, 68).verdict(ret), udp(547, 546).verdict(ret))
		for _, t := range icmp6Ingress {
			rules = append(rules, newRule().nfproto(true, false).icmp(true, t, -1).verdict(ret))
		}
	}
	return append(rules, newRule().gotoChain(rulesChain))
}

// groupRules is a rules chain: the security-group rules of one direction
// (allowed: return), and a final drop.
func groupRules(f dataplane.PortFilter, dir string) []Rule {
	var rules []Rule
	for _, r := range f.Rules {
		if r.Direction == dir {
			if rule, ok := sgRule(r, dir); ok {
				rules = append(rules, rule)
			}
		}
	}
	return append(rules, newRule().counter().verdict(expr.VerdictDrop))
}

// ruleChain is a rules chain shared by the ports with the same rules.
type ruleChain struct {
	name, key string
	ports     []*port
}

// ruleChains groups the ports by their rules of direction dir. Each group
// keeps the chain most of its ports went to in cur (their port chains'
// goto), so that a rule change in a group of ports rewrites one chain in
// place and no port chain; other groups get the lowest free numbers.
func ruleChains(ports []*port, cur Ruleset, dir string) []*ruleChain {
	prefix := "rules-" + dir + "-"
	old := map[*port]string{} // the port's rules chain in cur
	if t := cur.Table(Inet); t != nil {
		for _, p := range ports {
			if c := t.Chain(dir + "-" + p.iface.Name); c != nil {
				old[p] = c.target
			}
		}
	}
	byKey := map[string]*ruleChain{}
	var chains []*ruleChain
	for _, p := range ports {
		k := ruleKey(p.f, dir)
		rc := byKey[k]
		if rc == nil {
			rc = &ruleChain{key: k}
			byKey[k] = rc
			chains = append(chains, rc)
		}
		rc.ports = append(rc.ports, p)
	}
	// Most ports first, so a big group keeps its chain.
	slices.SortStableFunc(chains, func(a, b *ruleChain) int { return len(b.ports) - len(a.ports) })
	used := map[string]bool{}
	for _, rc := range chains {
		votes := map[string]int{}
		for _, p := range rc.ports {
			if n := old[p]; strings.HasPrefix(n, prefix) && !used[n] {
				votes[n]++
			}
		}
		best := ""
		for _, n := range slices.Sorted(maps.Keys(votes)) {
			if best == "" || votes[n] > votes[best] {
				best = n
			}
		}
		if best != "" {
			rc.name = best
			used[best] = true
		}
	}
	next := 1
	for _, rc := range chains {
		if rc.name != "" {
			continue
		}
		for used[fmt.Sprint(prefix, next)] {
			next++
		}
		rc.name = fmt.Sprint(prefix, next)
		used[rc.name] = true
	}
	slices.SortFunc(chains, func(a, b *ruleChain) int { return strings.Compare(a.name, b.name) })
	return chains
}

// sgRule is one security-group rule; the peer is the destination of
// egress and the source of ingress traffic.
func sgRule(r dataplane.Rule, dir string) (Rule, bool) {
	is6 := r.Ethertype == "IPv6"
	peer := "saddr"
	if dir == "egress" {
		peer = "daddr"
	}
	proto := r.Protocol
	if is6 && proto == unix.IPPROTO_ICMP {
		proto = unix.IPPROTO_ICMPV6 // Neutron's "icmp" in an IPv6 rule
	}
	icmpType := isICMP(proto) && r.PortMin >= 0
	b := newRule()
	switch {
	case r.RemoteGroup != "":
		b.nfproto(is6, false).addrSet(peer, is6, false, RemoteSetName(r.RemoteGroup, is6))
	case r.RemotePrefix.IsValid() && r.RemotePrefix.Bits() > 0:
		p := r.RemotePrefix
		if p.Addr().Unmap().Is6() != is6 {
			return Rule{}, false // Neutron refuses such rules; never match
		}
		b.nfproto(is6, false).addr(peer, netip.PrefixFrom(p.Addr().Unmap(), p.Bits()))
	default:
		b.nfproto(is6, !isICMP(proto)) // nft leaves out what icmp implies
	}
	switch {
	case proto == 0:
	case icmpType:
		b.icmp(is6, r.PortMin, r.PortMax)
	case hasPorts(proto) && (r.PortMin > 0 || r.PortMax > 0):
		lo, hi := r.PortMin, r.PortMax
		if hi < lo {
			hi = lo
		}
		b.port(proto, "dport", lo, hi)
	default:
		b.l4proto(proto, true)
	}
	return b.verdict(expr.VerdictReturn), true
}

func isICMP(p uint8) bool { return p == unix.IPPROTO_ICMP || p == unix.IPPROTO_ICMPV6 }

func hasPorts(p uint8) bool {
	return p == unix.IPPROTO_TCP || p == unix.IPPROTO_UDP || p == unix.IPPROTO_SCTP || p == unix.IPPROTO_UDPLITE || p == unix.IPPROTO_DCCP
}
