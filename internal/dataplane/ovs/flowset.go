package ovs

import (
	"maps"
	"net/netip"
	"slices"
	"sort"

	"neutrino/internal/dataplane"
)

// A flowSet is a bridge's wanted flows split into groups that are computed
// as units: the base pipeline (key "") and one group per network (key: the
// network id). The data plane keeps the set it installed last; the next
// Apply recomputes only the groups whose inputs changed and sends only the
// difference of those groups, so a one-entry change costs the entries of
// its network, not the whole node (see diffSets).
type flowSet struct {
	// local and tunnels are the layout every network group depends on:
	// when they change, every group is recomputed.
	local   netip.Addr
	tunnels map[netip.Addr]int
	groups  map[string]*flowGroup
}

// flowGroup is one group's flows and the inputs it was computed from.
type flowGroup struct {
	net  dataplane.Network // zero for the base group
	lvid int
	// port, sg and ids are the inputs of br-int's firewall groups (a
	// port's filter; a security group's rules; a member address's
	// conjunction ids), see intFlowSet.
	port  *fwPort
	sg    *fwGroup
	ids   []uint32
	flows []Flow
}

// singleGroup is a flowSet with only a base group (br-int).
func singleGroup(fs []Flow) *flowSet {
	return &flowSet{groups: map[string]*flowGroup{"": {flows: fs}}}
}

// tunFlowSet computes br-tun's flows for s. Network groups of prev whose
// network, lvid and tunnel layout are unchanged are reused as they are
// (the same pointer, which diffSets skips); prev may be nil.
func tunFlowSet(s dataplane.NodeState, l Layout, prev *flowSet) *flowSet {
	out := &flowSet{local: s.LocalIP, tunnels: maps.Clone(l.Tunnels), groups: make(map[string]*flowGroup, len(s.Networks)+1)}
	reuse := prev != nil && prev.local == s.LocalIP && maps.Equal(prev.tunnels, l.Tunnels)
	tunOfports := make([]int, 0, len(l.Tunnels))
	for _, of := range l.Tunnels {
		tunOfports = append(tunOfports, of)
	}
	sort.Ints(tunOfports)
	out.groups[""] = &flowGroup{flows: tunBaseFlows(s, l, tunOfports)}
	for id, n := range s.Networks {
		lvid, ok := l.LVIDs[id]
		if !ok || n.Provider() {
			continue // provider networks never reach br-tun
		}
		if g := prev.group(id); reuse && g != nil && g.lvid == lvid && sameNetwork(g.net, n) {
			out.groups[id] = g
			continue
		}
		// Keep our own copy of the slices: the caller may reuse them.
		n.Flood, n.Entries = slices.Clone(n.Flood), slices.Clone(n.Entries)
		out.groups[id] = &flowGroup{net: n, lvid: lvid, flows: networkFlows(n, lvid, s.LocalIP, l, tunOfports)}
	}
	return out
}

func (s *flowSet) group(key string) *flowGroup {
	if s == nil {
		return nil
	}
	return s.groups[key]
}

// all is every flow of the set, sorted as dump-flows tends to print them.
func (s *flowSet) all() []Flow {
	n := 0
	for _, g := range s.groups {
		n += len(g.flows)
	}
	fs := make([]Flow, 0, n)
	for _, g := range s.groups {
		fs = append(fs, g.flows...)
	}
	return sortFlows(fs)
}

// sameNetwork reports whether two networks give the same flows (for the
// same lvid and tunnel layout).
func sameNetwork(a, b dataplane.Network) bool {
	return a.ID == b.ID && a.Type == b.Type && a.VNI == b.VNI && a.L2Pop == b.L2Pop && a.ARPResponder == b.ARPResponder &&
		slices.Equal(a.Flood, b.Flood) && slices.Equal(a.Entries, b.Entries)
}

// diffSets is the plan that turns what was installed (old, all ours) into
// want, looking only at the groups that differ: groups want shares with old
// (the same pointer) are skipped unread. Keys are unique across the groups
// of a set (each network has its own VNI and lvid), so a key that moves
// between groups (a network removed and another given its lvid) is one
// add, never an add and a delete.
func diffSets(old, want *flowSet, cookie uint64) Plan {
	before := map[string]Flow{}
	after := map[string]Flow{}
	for key, g := range want.groups {
		o := old.group(key)
		if o == g {
			continue
		}
		for _, f := range g.flows {
			after[f.Key()] = f
		}
		if o != nil {
			for _, f := range o.flows {
				before[f.Key()] = f
			}
		}
	}
	if old != nil {
		for key, o := range old.groups {
			if _, ok := want.groups[key]; !ok {
				for _, f := range o.flows {
					before[f.Key()] = f
				}
			}
		}
	}
	var p Plan
	for k, f := range after {
		if o, ok := before[k]; ok && o.Actions == f.Actions {
			continue
		}
		p.Adds = append(p.Adds, f.AddLine(cookie))
	}
	for k, o := range before {
		if _, ok := after[k]; !ok {
			p.Deletes = append(p.Deletes, o.DeleteStrictLine(cookie))
		}
	}
	slices.Sort(p.Adds)
	slices.Sort(p.Deletes)
	return p
}
