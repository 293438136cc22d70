package secgroup

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"neutrino/internal/sortedset"
)

// Firewall is what one host's firewall must enforce, as the server sends
// it: the local ports with their groups, each of those groups' rules once
// (not once per port), the remote groups those rules reference resolved
// to member addresses, and every VTEP (the underlay VXLAN filter). A rule
// change then travels as one group's rule, a member joining a remote group
// as one address, whatever the number of ports.
type Firewall struct {
	Ports map[string]Port
	// Groups are the groups of the local ports, by id.
	Groups map[string]Group
	// Remote maps each group referenced by a rule in Groups to its
	// members' addresses, sorted.
	Remote map[string][]netip.Prefix
	// VTEPs are every VTEP the server knows, sorted.
	VTEPs []netip.Addr
}

// Port is one local port's firewall input.
type Port struct {
	ID           string
	MAC          string
	PortSecurity bool
	Allowed      []AllowedAddress // sorted
	Groups       []string         // sorted
}

// Group is one group's part of a host's firewall.
type Group struct {
	Stateful bool
	Rules    []Rule // sorted by CompareRules, unique
}

func (p Port) equal(q Port) bool {
	return p.ID == q.ID && p.MAC == q.MAC && p.PortSecurity == q.PortSecurity &&
		slices.Equal(p.Allowed, q.Allowed) && slices.Equal(p.Groups, q.Groups)
}

// Clone returns a deep copy.
func (f Firewall) Clone() Firewall {
	out := Firewall{Ports: maps.Clone(f.Ports), Groups: maps.Clone(f.Groups), Remote: maps.Clone(f.Remote), VTEPs: slices.Clone(f.VTEPs)}
	if out.Ports == nil {
		out.Ports = map[string]Port{}
	}
	if out.Groups == nil {
		out.Groups = map[string]Group{}
	}
	if out.Remote == nil {
		out.Remote = map[string][]netip.Prefix{}
	}
	// Slices inside are never modified in place (Apply builds new ones),
	// so sharing them is safe.
	return out
}

// Equal reports whether two firewalls hold the same state.
func (f Firewall) Equal(g Firewall) bool {
	if len(f.Ports) != len(g.Ports) || len(f.Groups) != len(g.Groups) || len(f.Remote) != len(g.Remote) || !slices.Equal(f.VTEPs, g.VTEPs) {
		return false
	}
	for id, p := range f.Ports {
		if q, ok := g.Ports[id]; !ok || !p.equal(q) {
			return false
		}
	}
	for id, a := range f.Groups {
		if b, ok := g.Groups[id]; !ok || a.Stateful != b.Stateful || !slices.Equal(a.Rules, b.Rules) {
			return false
		}
	}
	for id, a := range f.Remote {
		if b, ok := g.Remote[id]; !ok || !slices.Equal(a, b) {
			return false
		}
	}
	return true
}

// Size counts the items of a firewall as Delta.Size counts a delta's.
func (f Firewall) Size() int {
	n := len(f.Ports) + len(f.VTEPs)
	for _, g := range f.Groups {
		n += 1 + len(g.Rules)
	}
	for _, m := range f.Remote {
		n += 1 + len(m)
	}
	return n
}

// Filter is the rules port id gets: the union of its groups' rules, and
// whether its connections are tracked (false only when every group is
// stateless). ok is false for a port the firewall does not have.
func (f Firewall) Filter(id string) (rules []Rule, stateful bool, ok bool) {
	p, ok := f.Ports[id]
	if !ok {
		return nil, false, false
	}
	if len(p.Groups) == 0 {
		return nil, true, true
	}
	for _, gid := range p.Groups {
		g := f.Groups[gid]
		stateful = stateful || g.Stateful
		rules = append(rules, g.Rules...)
	}
	slices.SortFunc(rules, CompareRules)
	return slices.CompactFunc(rules, func(a, b Rule) bool { return CompareRules(a, b) == 0 }), stateful, true
}

// Delta turns one firewall into another, carrying only what changed:
// whole port entries (they are small), single rules of a group, single
// members of a remote group, single VTEPs.
type Delta struct {
	PortsSet []Port
	PortsDel []string
	Groups   []GroupDelta  // sorted by ID
	Remote   []RemoteDelta // sorted by ID
	VTEPsAdd []netip.Addr
	VTEPsDel []netip.Addr
}

// GroupDelta changes one group.
type GroupDelta struct {
	ID      string
	Removed bool
	// Stateful is set when the group is new to the host or its
	// statefulness changed.
	Stateful           *bool
	RulesAdd, RulesDel []Rule
}

// RemoteDelta changes one remote group's members. New marks a group new
// to the host (it may have no member yet).
type RemoteDelta struct {
	ID       string
	Removed  bool
	New      bool
	Add, Del []netip.Prefix
}

// Empty reports whether the delta changes nothing.
func (d Delta) Empty() bool {
	return len(d.PortsSet) == 0 && len(d.PortsDel) == 0 && len(d.Groups) == 0 && len(d.Remote) == 0 &&
		len(d.VTEPsAdd) == 0 && len(d.VTEPsDel) == 0
}

// Size counts the items a delta carries.
func (d Delta) Size() int {
	n := len(d.PortsSet) + len(d.PortsDel) + len(d.VTEPsAdd) + len(d.VTEPsDel)
	for _, g := range d.Groups {
		n += 1 + len(g.RulesAdd) + len(g.RulesDel)
	}
	for _, r := range d.Remote {
		n += 1 + len(r.Add) + len(r.Del)
	}
	return n
}

func compareAddr(a, b netip.Addr) int { return a.Compare(b) }

// same reports whether a and b are the same slice (views share unchanged
// slices, which nobody modifies in place).
func same[T any](a, b []T) bool { return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0]) }

// Diff returns the delta that turns old into new. All slices are sorted.
func Diff(old, new Firewall) Delta {
	var d Delta
	if !same(old.VTEPs, new.VTEPs) {
		d.VTEPsAdd, d.VTEPsDel = sortedset.Diff(old.VTEPs, new.VTEPs, compareAddr)
	}
	for _, id := range slices.Sorted(maps.Keys(new.Ports)) {
		if p, ok := old.Ports[id]; !ok || !p.equal(new.Ports[id]) {
			d.PortsSet = append(d.PortsSet, new.Ports[id])
		}
	}
	for _, id := range slices.Sorted(maps.Keys(old.Ports)) {
		if _, ok := new.Ports[id]; !ok {
			d.PortsDel = append(d.PortsDel, id)
		}
	}
	for _, id := range unionKeys(old.Groups, new.Groups) {
		o, had := old.Groups[id]
		n, has := new.Groups[id]
		if !has {
			d.Groups = append(d.Groups, GroupDelta{ID: id, Removed: true})
			continue
		}
		gd := GroupDelta{ID: id}
		if !had || o.Stateful != n.Stateful {
			gd.Stateful = ptr(n.Stateful)
		}
		if !same(o.Rules, n.Rules) {
			gd.RulesAdd, gd.RulesDel = sortedset.Diff(o.Rules, n.Rules, CompareRules)
		}
		if gd.Stateful != nil || len(gd.RulesAdd)+len(gd.RulesDel) > 0 {
			d.Groups = append(d.Groups, gd)
		}
	}
	for _, id := range unionKeys(old.Remote, new.Remote) {
		o, had := old.Remote[id]
		n, has := new.Remote[id]
		if !has {
			d.Remote = append(d.Remote, RemoteDelta{ID: id, Removed: true})
			continue
		}
		rd := RemoteDelta{ID: id, New: !had}
		if !same(o, n) {
			rd.Add, rd.Del = sortedset.Diff(o, n, ComparePrefix)
		}
		if rd.New || len(rd.Add)+len(rd.Del) > 0 {
			d.Remote = append(d.Remote, rd)
		}
	}
	return d
}

func unionKeys[V any](a, b map[string]V) []string {
	ks := map[string]struct{}{}
	for k := range a {
		ks[k] = struct{}{}
	}
	for k := range b {
		ks[k] = struct{}{}
	}
	return slices.Sorted(maps.Keys(ks))
}

// Apply returns f with d applied; f is not modified. It fails when d
// does not fit f (a change to a group f does not have).
func (f Firewall) Apply(d Delta) (Firewall, error) {
	// The VTEP list (every VTEP of the cloud) is replaced, not copied:
	// slices are never changed in place.
	vteps := f.VTEPs
	f.VTEPs = nil
	out := f.Clone()
	out.VTEPs = sortedset.Apply(vteps, d.VTEPsAdd, d.VTEPsDel, compareAddr)
	for _, p := range d.PortsSet {
		out.Ports[p.ID] = p
	}
	for _, id := range d.PortsDel {
		delete(out.Ports, id)
	}
	for _, gd := range d.Groups {
		if gd.Removed {
			delete(out.Groups, gd.ID)
			continue
		}
		g, ok := out.Groups[gd.ID]
		if !ok && gd.Stateful == nil {
			return f, fmt.Errorf("delta changes security group %s the firewall does not have", gd.ID)
		}
		if gd.Stateful != nil {
			g.Stateful = *gd.Stateful
		}
		g.Rules = sortedset.Apply(g.Rules, gd.RulesAdd, gd.RulesDel, CompareRules)
		out.Groups[gd.ID] = g
	}
	for _, rd := range d.Remote {
		if rd.Removed {
			delete(out.Remote, rd.ID)
			continue
		}
		m, ok := out.Remote[rd.ID]
		if !ok && !rd.New {
			return f, fmt.Errorf("delta changes remote group %s the firewall does not have", rd.ID)
		}
		out.Remote[rd.ID] = sortedset.Apply(m, rd.Add, rd.Del, ComparePrefix)
	}
	return out, nil
}

// String renders a rule compactly for golden text.
func (r Rule) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Direction, r.Ethertype)
	if r.Protocol != 0 {
		fmt.Fprintf(&b, " proto %d", r.Protocol)
	}
	if r.PortMin != 0 || r.PortMax != 0 {
		fmt.Fprintf(&b, " ports %d:%d", r.PortMin, r.PortMax)
	}
	if r.RemotePrefix.IsValid() {
		fmt.Fprintf(&b, " from %s", r.RemotePrefix)
	}
	if r.RemoteGroup != "" {
		fmt.Fprintf(&b, " group %s", r.RemoteGroup)
	}
	return b.String()
}

func prefixesText(ps []netip.Prefix) string {
	if len(ps) == 0 {
		return "-"
	}
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, " ")
}

func (p Port) String() string {
	var allowed []string
	for _, a := range p.Allowed {
		allowed = append(allowed, a.MAC+"/"+a.Prefix.String())
	}
	return fmt.Sprintf("fwport %s mac %s port_security %t groups [%s] allowed [%s]", p.ID, p.MAC, p.PortSecurity,
		strings.Join(p.Groups, " "), strings.Join(allowed, " "))
}

// String renders the firewall as stable text (golden tests, logs).
func (f Firewall) String() string {
	var b strings.Builder
	if len(f.VTEPs) > 0 {
		var vs []string
		for _, v := range f.VTEPs {
			vs = append(vs, v.String())
		}
		fmt.Fprintf(&b, "vteps %s\n", strings.Join(vs, " "))
	}
	for _, id := range slices.Sorted(maps.Keys(f.Ports)) {
		fmt.Fprintf(&b, "%s\n", f.Ports[id])
	}
	for _, id := range slices.Sorted(maps.Keys(f.Groups)) {
		g := f.Groups[id]
		fmt.Fprintf(&b, "group %s stateful %t\n", id, g.Stateful)
		for _, r := range g.Rules {
			fmt.Fprintf(&b, "  rule %s\n", r)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(f.Remote)) {
		fmt.Fprintf(&b, "remote %s %s\n", id, prefixesText(f.Remote[id]))
	}
	return b.String()
}

// String renders the delta as stable text.
func (d Delta) String() string {
	var b strings.Builder
	for _, v := range d.VTEPsAdd {
		fmt.Fprintf(&b, "+vtep %s\n", v)
	}
	for _, v := range d.VTEPsDel {
		fmt.Fprintf(&b, "-vtep %s\n", v)
	}
	for _, p := range d.PortsSet {
		fmt.Fprintf(&b, "%s\n", p)
	}
	for _, id := range d.PortsDel {
		fmt.Fprintf(&b, "-fwport %s\n", id)
	}
	for _, g := range d.Groups {
		switch {
		case g.Removed:
			fmt.Fprintf(&b, "-group %s\n", g.ID)
			continue
		case g.Stateful != nil:
			fmt.Fprintf(&b, "group %s stateful %t\n", g.ID, *g.Stateful)
		default:
			fmt.Fprintf(&b, "group %s\n", g.ID)
		}
		for _, r := range g.RulesAdd {
			fmt.Fprintf(&b, "  +rule %s\n", r)
		}
		for _, r := range g.RulesDel {
			fmt.Fprintf(&b, "  -rule %s\n", r)
		}
	}
	for _, r := range d.Remote {
		if r.Removed {
			fmt.Fprintf(&b, "-remote %s\n", r.ID)
			continue
		}
		fmt.Fprintf(&b, "remote %s", r.ID)
		if r.New {
			b.WriteString(" new")
		}
		b.WriteString("\n")
		for _, p := range r.Add {
			fmt.Fprintf(&b, "  +member %s\n", p)
		}
		for _, p := range r.Del {
			fmt.Fprintf(&b, "  -member %s\n", p)
		}
	}
	return b.String()
}
