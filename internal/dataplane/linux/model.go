package linux

import (
	"fmt"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strings"

	"neutrino/internal/dataplane"
)

// DefaultUDPPort is IANA's VXLAN port. The kernel's own default is 8472,
// so the vxlan device always gets the port explicitly.
const DefaultUDPPort = 4789

// zeroMAC is the all-zero FDB entry: the kernel sends BUM frames to every
// destination listed under it.
const zeroMAC = "00:00:00:00:00:00"

// BridgeName is Neutron's bridge name for a network: "brq" + id[:11].
func BridgeName(networkID string) string { return dataplane.BridgeName(networkID) }

// VXLANName is Neutron's vxlan device name: "vxlan-" + the VNI in decimal.
func VXLANName(vni uint32) string { return fmt.Sprintf("vxlan-%d", vni) }

// TapName is Nova's tap name for a port: "tap" + id[:11].
func TapName(portID string) string { return dataplane.TapName(portID) }

var (
	ownedBridge = regexp.MustCompile(`^brq.{11}$`)
	ownedVXLAN  = regexp.MustCompile(`^vxlan-[0-9]+$`)
)

// ownedAlias is the interface alias (IFLA_IFALIAS) the agent gives the
// VLAN subinterfaces it creates: only those are ever deleted. An
// <iface>.<vlan> that existed before is used as it is, as Neutron does.
const ownedAlias = "neutrino"

// SubinterfaceName is Neutron's VLAN subinterface name: "<iface>.<vlan>",
// with iface shortened (its start and 6 hex digits of its sha1) when the
// whole would not fit in a device name.
func SubinterfaceName(iface string, vlan uint16) string {
	postfix := fmt.Sprintf(".%d", vlan)
	return dataplane.InterfaceName("", iface, dataplane.DeviceNameMax-len(postfix)) + postfix
}

// vlanLink is a VLAN subinterface's parent and id.
type vlanLink struct {
	Parent string
	ID     int
}

// vxlanSpec is what we set on a vxlan device. Every field except MTU needs
// the device re-created to change.
type vxlanSpec struct {
	VNI      uint32
	Port     int
	Local    netip.Addr
	Group    netip.Addr // invalid: none
	Dev      string     // underlay device holding Local ("" unknown)
	TTL, TOS int
	Learning bool
	Proxy    bool
}

func (v vxlanSpec) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "id %d dstport %d", v.VNI, v.Port)
	if v.Local.IsValid() {
		fmt.Fprintf(&b, " local %s", v.Local)
	}
	if v.Group.IsValid() {
		fmt.Fprintf(&b, " group %s", v.Group)
	}
	if v.Dev != "" {
		fmt.Fprintf(&b, " dev %s", v.Dev)
	}
	fmt.Fprintf(&b, " ttl %d tos %d", v.TTL, v.TOS)
	if !v.Learning {
		b.WriteString(" nolearning")
	}
	if v.Proxy {
		b.WriteString(" proxy")
	}
	return b.String()
}

// link is a kernel link as the planner needs it.
type link struct {
	Name   string
	Kind   string // "bridge", "vxlan", "veth", ...
	Master string // name of the master device, "" none
	Up     bool
	MTU    int
	VXLAN  *vxlanSpec // for Kind "vxlan"
	VLAN   *vlanLink  // for Kind "vlan"
	Alias  string
}

// fdbEntry is a static "self" FDB entry on a vxlan device.
type fdbEntry struct {
	Dev string
	MAC string
	Dst netip.Addr
}

// String renders the entry as `bridge fdb show` prints it.
func (e fdbEntry) String() string {
	return fmt.Sprintf("%s dev %s dst %s self permanent", e.MAC, e.Dev, e.Dst)
}

// neighEntry is a permanent neighbour (ARP) entry on a vxlan device.
type neighEntry struct {
	Dev string
	IP  netip.Addr
	MAC string
}

// String renders the entry as `ip neigh show` prints it.
func (e neighEntry) String() string {
	return fmt.Sprintf("%s dev %s lladdr %s PERMANENT", e.IP, e.Dev, e.MAC)
}

// kernelState is what the kernel has: all links, and the entries we may own
// (static FDB / permanent neighbours) on our vxlan devices.
type kernelState struct {
	Links []link
	FDB   []fdbEntry
	Neigh []neighEntry
}

// options are the node-level settings that are not in NodeState.
type options struct {
	TTL, TOS int
	// VTEPDev is the device holding local_ip.
	VTEPDev string
	// Mappings is physical_interface_mappings: physnet -> interface.
	Mappings map[string]string
	// Settled names the networks (by id) whose entries need no diff:
	// the same as last applied, on a device whose record the kernel
	// state left out. So one changed entry costs its network, not the
	// node. A plan that would re-create such a device must be made
	// again without it (see resettle).
	Settled map[string]bool
}

// netPlan is one network as it must be realised: an overlay's bridge and
// vxlan device, or a provider network's bridge and the physical
// interface (flat) or VLAN subinterface (vlan) it enslaves.
type netPlan struct {
	Bridge string
	VXLAN  string // "" for provider networks
	Spec   vxlanSpec
	MTU    int
	FDB    []fdbEntry
	Neigh  []neighEntry
	// Settled: the network's entries are as last applied and the kernel
	// holds them (options.Settled); FDB and Neigh are not computed and
	// its device's entries are not diffed.
	Settled bool
	// Phys is the provider network's device in the bridge ("" when its
	// physnet is not mapped); VLAN is set for a subinterface.
	Phys string
	VLAN *vlanLink
}

// providerPlan is a provider network's bridge and its interface.
func providerPlan(n dataplane.Network, opt options) netPlan {
	p := netPlan{Bridge: BridgeName(n.ID), MTU: n.MTU}
	iface := opt.Mappings[n.PhysicalNetwork]
	switch {
	case iface == "":
	case n.VLAN == 0:
		p.Phys = iface
	default:
		p.Phys = SubinterfaceName(iface, n.VLAN)
		p.VLAN = &vlanLink{Parent: iface, ID: int(n.VLAN)}
	}
	return p
}

// providerErrors reports, for the provider networks of want, a physnet
// that physical_interface_mappings does not map and a mapped interface
// that does not exist: their bridges get nothing to carry their traffic.
func providerErrors(cur kernelState, want dataplane.NodeState, opt options) []error {
	have := map[string]bool{}
	for _, l := range cur.Links {
		have[l.Name] = true
	}
	var errs []error
	for _, id := range slices.Sorted(maps.Keys(want.Networks)) {
		n := want.Networks[id]
		if !n.Provider() {
			continue
		}
		switch iface := opt.Mappings[n.PhysicalNetwork]; {
		case iface == "":
			errs = append(errs, fmt.Errorf("network %s: physical network %s is not in physical_interface_mappings", id, n.PhysicalNetwork))
		case !have[iface]:
			errs = append(errs, fmt.Errorf("network %s: interface %s of physical network %s does not exist", id, iface, n.PhysicalNetwork))
		}
	}
	return errs
}

// desiredNetworks turns the NodeState into per-network device specs and
// entries, sorted by bridge name.
func desiredNetworks(want dataplane.NodeState, opt options) []netPlan {
	port := want.UDPPort
	if port == 0 {
		port = DefaultUDPPort
	}
	var out []netPlan
	for _, n := range want.Networks {
		if n.Provider() {
			out = append(out, providerPlan(n, opt))
			continue
		}
		p := netPlan{Bridge: BridgeName(n.ID), VXLAN: VXLANName(n.VNI), MTU: n.MTU, Settled: opt.Settled[n.ID]}
		p.Spec = vxlanSpec{
			VNI: n.VNI, Port: port, Local: want.LocalIP, Dev: opt.VTEPDev,
			TTL: opt.TTL, TOS: opt.TOS,
			// With l2population the server tells us every MAC, so the
			// kernel must not learn (a learned entry could point to a stale
			// VTEP); without it learning is the only way to find MACs.
			Learning: !n.L2Pop,
			// The kernel proxy drops every ARP request it cannot answer,
			// so it is only safe when l2population fills the table.
			Proxy: n.ARPResponder && n.L2Pop,
		}
		// Multicast only without l2population, as Neutron's LB agent: with
		// l2population it switches to unicast (head-end) mode.
		if !n.L2Pop && n.Group.IsValid() {
			p.Spec.Group = n.Group
			p.FDB = append(p.FDB, fdbEntry{Dev: p.VXLAN, MAC: zeroMAC, Dst: n.Group})
		} else {
			for _, v := range n.Flood {
				if v.IsValid() && v != want.LocalIP {
					p.FDB = append(p.FDB, fdbEntry{Dev: p.VXLAN, MAC: zeroMAC, Dst: v})
				}
			}
		}
		if p.Settled {
			out = append(out, p)
			continue
		}
		if n.L2Pop {
			seen := map[string]bool{}
			ents := append([]dataplane.Entry(nil), n.Entries...)
			sort.Slice(ents, func(i, j int) bool { return entryLess(ents[i], ents[j]) })
			for _, e := range ents {
				mac := strings.ToLower(e.MAC)
				if e.VTEP == want.LocalIP || !e.VTEP.IsValid() || mac == "" {
					continue
				}
				if !seen[mac] {
					seen[mac] = true
					p.FDB = append(p.FDB, fdbEntry{Dev: p.VXLAN, MAC: mac, Dst: e.VTEP})
				}
				if p.Spec.Proxy && e.IP.Is4() {
					p.Neigh = append(p.Neigh, neighEntry{Dev: p.VXLAN, IP: e.IP, MAC: mac})
				}
			}
		}
		p.FDB = uniqFDB(p.FDB)
		p.Neigh = uniqNeigh(p.Neigh)
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Bridge < out[j].Bridge })
	return out
}

// resettle reports whether ops re-create or delete the vxlan device of a
// settled network: then its entries must be planned after all.
func resettle(ops []op, want dataplane.NodeState, settled map[string]bool) bool {
	devs := map[string]bool{}
	for id := range settled {
		if n, ok := want.Networks[id]; ok {
			devs[VXLANName(n.VNI)] = true
		}
	}
	for _, o := range ops {
		if (o.Kind == opDelLink || o.Kind == opAddVXLAN) && devs[o.Link] {
			return true
		}
	}
	return false
}

// sameNetwork reports whether a and b ask for the same device and
// entries (every field of dataplane.Network).
func sameNetwork(a, b dataplane.Network) bool {
	return a.ID == b.ID && a.Type == b.Type && a.VNI == b.VNI && a.MTU == b.MTU && a.PhysicalNetwork == b.PhysicalNetwork &&
		a.VLAN == b.VLAN && a.Group == b.Group && a.L2Pop == b.L2Pop && a.ARPResponder == b.ARPResponder &&
		slices.Equal(a.Flood, b.Flood) && slices.Equal(a.Entries, b.Entries)
}

func entryLess(a, b dataplane.Entry) bool {
	if a.MAC != b.MAC {
		return a.MAC < b.MAC
	}
	if a.VTEP != b.VTEP {
		return a.VTEP.Less(b.VTEP)
	}
	return a.IP.Less(b.IP)
}

func uniqFDB(in []fdbEntry) []fdbEntry {
	sort.Slice(in, func(i, j int) bool { return fdbLess(in[i], in[j]) })
	var out []fdbEntry
	for i, e := range in {
		if i == 0 || e != in[i-1] {
			out = append(out, e)
		}
	}
	return out
}

func fdbLess(a, b fdbEntry) bool {
	if a.Dev != b.Dev {
		return a.Dev < b.Dev
	}
	if a.MAC != b.MAC {
		return a.MAC < b.MAC
	}
	return a.Dst.Less(b.Dst)
}

// uniqNeigh keeps one MAC per IP (the first by MAC).
func uniqNeigh(in []neighEntry) []neighEntry {
	sort.Slice(in, func(i, j int) bool {
		if in[i].IP != in[j].IP {
			return in[i].IP.Less(in[j].IP)
		}
		return in[i].MAC < in[j].MAC
	})
	var out []neighEntry
	for i, e := range in {
		if i == 0 || e.IP != in[i-1].IP {
			out = append(out, e)
		}
	}
	return out
}

// opKind is one kind of kernel change.
type opKind int

const (
	opDelLink opKind = iota
	opAddBridge
	opAddVXLAN
	opSetMTU
	opSetMaster
	opNoMaster
	opSetUp
	opFDBAppend  // another destination under a MAC (flood entries)
	opFDBReplace // the one destination of a unicast MAC
	opFDBDel
	opNeighReplace
	opNeighDel
	opAddVLAN // a VLAN subinterface, marked as ours
)

// op is one kernel change. String renders the equivalent command, which
// is what the golden tests compare.
type op struct {
	Kind   opKind
	Link   string
	Master string
	MTU    int
	Spec   vxlanSpec
	FDB    fdbEntry
	Neigh  neighEntry
	VLAN   vlanLink
}

func (o op) String() string {
	switch o.Kind {
	case opAddVLAN:
		return fmt.Sprintf("ip link add link %s name %s type vlan id %d; ip link set %s alias %s", o.VLAN.Parent, o.Link, o.VLAN.ID, o.Link, ownedAlias)
	case opDelLink:
		return "ip link del " + o.Link
	case opAddBridge:
		return "ip link add " + o.Link + " type bridge mcast_snooping 0"
	case opAddVXLAN:
		s := "ip link add " + o.Link
		if o.MTU > 0 {
			s += fmt.Sprintf(" mtu %d", o.MTU)
		}
		return s + " type vxlan " + o.Spec.String()
	case opSetMTU:
		return fmt.Sprintf("ip link set %s mtu %d", o.Link, o.MTU)
	case opSetMaster:
		return fmt.Sprintf("ip link set %s master %s", o.Link, o.Master)
	case opNoMaster:
		return fmt.Sprintf("ip link set %s nomaster", o.Link)
	case opSetUp:
		return fmt.Sprintf("ip link set %s up", o.Link)
	case opFDBAppend:
		return fmt.Sprintf("bridge fdb append %s dev %s dst %s self permanent", o.FDB.MAC, o.FDB.Dev, o.FDB.Dst)
	case opFDBReplace:
		return fmt.Sprintf("bridge fdb replace %s dev %s dst %s self permanent", o.FDB.MAC, o.FDB.Dev, o.FDB.Dst)
	case opFDBDel:
		return fmt.Sprintf("bridge fdb del %s dev %s dst %s self", o.FDB.MAC, o.FDB.Dev, o.FDB.Dst)
	case opNeighReplace:
		return fmt.Sprintf("ip neigh replace %s lladdr %s dev %s nud permanent", o.Neigh.IP, o.Neigh.MAC, o.Neigh.Dev)
	case opNeighDel:
		return fmt.Sprintf("ip neigh del %s dev %s", o.Neigh.IP, o.Neigh.Dev)
	}
	return fmt.Sprintf("op(%d)", o.Kind)
}

// plan computes the ordered changes that take cur to want. It changes
// only the difference: an empty plan means the kernel already matches.
func plan(cur kernelState, want dataplane.NodeState, opt options) []op {
	nets := desiredNetworks(want, opt)
	links := map[string]link{}
	for _, l := range cur.Links {
		links[l.Name] = l
	}
	wantBridge := map[string]bool{}
	wantVXLAN := map[string]netPlan{}
	netBridge := map[string]string{} // network id -> bridge
	for _, n := range want.Networks {
		netBridge[n.ID] = BridgeName(n.ID)
	}
	wantVLAN := map[string]vlanLink{}
	for _, p := range nets {
		wantBridge[p.Bridge] = true
		if p.VXLAN != "" {
			wantVXLAN[p.VXLAN] = p
		}
		if p.VLAN != nil {
			wantVLAN[p.Phys] = *p.VLAN
		}
	}
	var ops []op

	// 1. Stale devices we own: vxlan first, then bridges. A vxlan device
	// with settings the kernel cannot change is re-created; MTU and
	// master are changed in place.
	recreated := map[string]bool{}
	for _, l := range sortedLinks(cur.Links) {
		if l.Kind == "vxlan" && ownedVXLAN.MatchString(l.Name) {
			p, ok := wantVXLAN[l.Name]
			if !ok {
				ops = append(ops, op{Kind: opDelLink, Link: l.Name})
			} else if l.VXLAN == nil || *l.VXLAN != p.Spec {
				ops = append(ops, op{Kind: opDelLink, Link: l.Name})
				recreated[l.Name] = true
			}
		}
	}
	for _, l := range sortedLinks(cur.Links) {
		if l.Kind == "vlan" && l.Alias == ownedAlias {
			if v, ok := wantVLAN[l.Name]; !ok || l.VLAN == nil || *l.VLAN != v {
				ops = append(ops, op{Kind: opDelLink, Link: l.Name})
				recreated[l.Name] = ok
			}
		}
	}
	for _, l := range sortedLinks(cur.Links) {
		if l.Kind == "bridge" && ownedBridge.MatchString(l.Name) && !wantBridge[l.Name] {
			ops = append(ops, op{Kind: opDelLink, Link: l.Name})
		}
	}

	// 2. Per network: bridge, vxlan device (or provider interface),
	// enslaved and up.
	raised := map[string]bool{} // physical interfaces already set up
	for _, p := range nets {
		br, ok := links[p.Bridge]
		if !ok || br.Kind != "bridge" {
			ops = append(ops, op{Kind: opAddBridge, Link: p.Bridge}, op{Kind: opSetUp, Link: p.Bridge})
		} else if !br.Up {
			ops = append(ops, op{Kind: opSetUp, Link: p.Bridge})
		}
		if p.VXLAN == "" {
			ops = append(ops, providerOps(p, links, recreated, raised)...)
			continue
		}
		vx, ok := links[p.VXLAN]
		if !ok || recreated[p.VXLAN] {
			ops = append(ops,
				op{Kind: opAddVXLAN, Link: p.VXLAN, Spec: p.Spec, MTU: p.MTU},
				op{Kind: opSetMaster, Link: p.VXLAN, Master: p.Bridge},
				op{Kind: opSetUp, Link: p.VXLAN})
			continue
		}
		if p.MTU > 0 && vx.MTU != p.MTU {
			ops = append(ops, op{Kind: opSetMTU, Link: p.VXLAN, MTU: p.MTU})
		}
		if vx.Master != p.Bridge {
			ops = append(ops, op{Kind: opSetMaster, Link: p.VXLAN, Master: p.Bridge})
		}
		if !vx.Up {
			ops = append(ops, op{Kind: opSetUp, Link: p.VXLAN})
		}
	}

	// 3. Taps: the agent's discovery step. A tap of a known port goes into
	// its network's bridge; a tap left in one of our bridges without a
	// port is taken out (Nova owns taps: we never delete them).
	tapPort := map[string]dataplane.LocalPort{}
	for _, p := range want.Ports {
		tapPort[TapName(p.ID)] = p
	}
	netMTU := map[string]int{}
	for _, p := range nets {
		netMTU[p.Bridge] = p.MTU
	}
	for _, l := range sortedLinks(cur.Links) {
		if !strings.HasPrefix(l.Name, "tap") {
			continue
		}
		p, known := tapPort[l.Name]
		br, hosted := netBridge[p.NetworkID]
		switch {
		case known && hosted:
			if mtu := netMTU[br]; mtu > 0 && l.MTU != mtu {
				ops = append(ops, op{Kind: opSetMTU, Link: l.Name, MTU: mtu})
			}
			if l.Master != br {
				ops = append(ops, op{Kind: opSetMaster, Link: l.Name, Master: br})
			}
			if !l.Up {
				ops = append(ops, op{Kind: opSetUp, Link: l.Name})
			}
		case ownedBridge.MatchString(l.Master) && wantBridge[l.Master]:
			ops = append(ops, op{Kind: opNoMaster, Link: l.Name})
		}
	}

	// 4. FDB and neighbour entries on each wanted vxlan device.
	curFDB := map[string][]fdbEntry{}
	for _, e := range cur.FDB {
		curFDB[e.Dev] = append(curFDB[e.Dev], e)
	}
	curNeigh := map[string][]neighEntry{}
	for _, e := range cur.Neigh {
		curNeigh[e.Dev] = append(curNeigh[e.Dev], e)
	}
	for _, p := range nets {
		if p.VXLAN == "" || p.Settled {
			continue
		}
		have := curFDB[p.VXLAN]
		haveN := curNeigh[p.VXLAN]
		if _, ok := links[p.VXLAN]; !ok || recreated[p.VXLAN] {
			have, haveN = nil, nil
			// The kernel itself adds the group's all-zero entry when it
			// creates a device with a group.
			if p.Spec.Group.IsValid() {
				have = []fdbEntry{{Dev: p.VXLAN, MAC: zeroMAC, Dst: p.Spec.Group}}
			}
		}
		ops = append(ops, diffFDB(have, p.FDB)...)
		ops = append(ops, diffNeigh(haveN, p.Neigh)...)
	}
	return ops
}

// providerOps put a provider network's interface into its bridge: the
// physical interface itself (flat) or its VLAN subinterface (vlan),
// created when missing. A missing physical interface gets no ops
// (providerErrors reports it). The physical interface is brought up but
// its MTU is the operator's.
func providerOps(p netPlan, links map[string]link, recreated, raised map[string]bool) []op {
	parent := p.Phys
	if p.VLAN != nil {
		parent = p.VLAN.Parent
	}
	par, ok := links[parent]
	if p.Phys == "" || !ok {
		return nil
	}
	var ops []op
	if !par.Up && !raised[parent] {
		ops = append(ops, op{Kind: opSetUp, Link: parent})
		raised[parent] = true
	}
	if p.VLAN == nil {
		if par.Master != p.Bridge {
			ops = append(ops, op{Kind: opSetMaster, Link: p.Phys, Master: p.Bridge})
		}
		return ops
	}
	sub, ok := links[p.Phys]
	if !ok || recreated[p.Phys] {
		return append(ops,
			op{Kind: opAddVLAN, Link: p.Phys, VLAN: *p.VLAN},
			op{Kind: opSetMaster, Link: p.Phys, Master: p.Bridge},
			op{Kind: opSetUp, Link: p.Phys})
	}
	if sub.Master != p.Bridge {
		ops = append(ops, op{Kind: opSetMaster, Link: p.Phys, Master: p.Bridge})
	}
	if !sub.Up {
		ops = append(ops, op{Kind: opSetUp, Link: p.Phys})
	}
	return ops
}

// diffFDB: all-zero (flood) entries are a set of destinations, appended
// and deleted one by one; a unicast MAC has one destination, replaced in
// place so traffic to it has no gap. Additions come before deletions so a
// flood list that changes never goes empty.
func diffFDB(have, want []fdbEntry) []op {
	haveSet := map[fdbEntry]bool{}
	haveMAC := map[string][]fdbEntry{}
	for _, e := range uniqFDB(append([]fdbEntry(nil), have...)) {
		haveSet[e] = true
		haveMAC[e.MAC] = append(haveMAC[e.MAC], e)
	}
	wantSet := map[fdbEntry]bool{}
	for _, e := range want {
		wantSet[e] = true
	}
	var adds, dels []op
	replaced := map[fdbEntry]bool{} // rewritten in place by a replace
	for _, e := range uniqFDB(append([]fdbEntry(nil), want...)) {
		switch {
		case haveSet[e]:
		case e.MAC == zeroMAC:
			adds = append(adds, op{Kind: opFDBAppend, FDB: e})
		case len(haveMAC[e.MAC]) == 1:
			adds = append(adds, op{Kind: opFDBReplace, FDB: e})
			replaced[haveMAC[e.MAC][0]] = true
		case len(haveMAC[e.MAC]) > 1:
			// Several destinations for one unicast MAC (not ours): remove
			// them all, then add ours.
			for _, h := range haveMAC[e.MAC] {
				dels = append(dels, op{Kind: opFDBDel, FDB: h})
				replaced[h] = true
			}
			dels = append(dels, op{Kind: opFDBAppend, FDB: e})
		default:
			adds = append(adds, op{Kind: opFDBAppend, FDB: e})
		}
	}
	for _, e := range uniqFDB(append([]fdbEntry(nil), have...)) {
		if !wantSet[e] && !replaced[e] {
			dels = append(dels, op{Kind: opFDBDel, FDB: e})
		}
	}
	return append(adds, dels...)
}

func diffNeigh(have, want []neighEntry) []op {
	haveByIP := map[netip.Addr]neighEntry{}
	for _, e := range have {
		haveByIP[e.IP] = e
	}
	wantByIP := map[netip.Addr]bool{}
	var ops []op
	for _, e := range want {
		wantByIP[e.IP] = true
		if h, ok := haveByIP[e.IP]; !ok || h.MAC != e.MAC {
			ops = append(ops, op{Kind: opNeighReplace, Neigh: e})
		}
	}
	for _, e := range uniqNeigh(append([]neighEntry(nil), have...)) {
		if !wantByIP[e.IP] {
			ops = append(ops, op{Kind: opNeighDel, Neigh: e})
		}
	}
	return ops
}

func sortedLinks(in []link) []link {
	out := append([]link(nil), in...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// renderEntries renders the managed entries of a desired state as
// `bridge fdb show` and `ip neigh show` lines.
func renderEntries(want dataplane.NodeState, opt options) string {
	var b strings.Builder
	for _, p := range desiredNetworks(want, opt) {
		for _, e := range p.FDB {
			b.WriteString(e.String() + "\n")
		}
		for _, e := range p.Neigh {
			b.WriteString(e.String() + "\n")
		}
	}
	return b.String()
}
