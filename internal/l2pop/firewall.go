package l2pop

import (
	"net/netip"
	"slices"
	"strings"

	"neutrino/internal/neutron"
	"neutrino/internal/secgroup"
	"neutrino/internal/sortedset"
)

// The firewall part of the model: security groups, their rules and port
// membership, indexed so that a change finds the hosts it concerns
// without scanning the cloud, and so that every host's view shares one
// sorted rule list per group and one member list per remote group (a
// member joining a group is then one element in each concerned host's
// delta, and unchanged lists cost nothing to diff).

// fwGroup is one security group in the model.
type fwGroup struct {
	stateful bool
	rules    map[string]secgroup.Rule // by rule id
	sorted   []secgroup.Rule          // cache of rules, nil when stale
}

// fwRule locates a rule (deletions name only the id).
type fwRule struct {
	group, remote string
}

// fwIndex holds the model's security-group state.
type fwIndex struct {
	groups map[string]*fwGroup
	rules  map[string]fwRule
	// portsByGroup: group -> member ports; hostsByGroup: group -> host ->
	// number of its ports there (bound or not: a superset of the hosts
	// whose view holds the group, which is all a span needs).
	portsByGroup map[string]map[string]struct{}
	hostsByGroup map[string]map[string]int
	// referrers: remote group -> groups with rules naming it -> count.
	referrers map[string]map[string]int
	// members caches each group's member addresses, sorted.
	members map[string][]netip.Prefix
	// vteps caches allVTEPs; valid says whether it is current.
	vteps      []netip.Addr
	vtepsValid bool
}

func newFWIndex() fwIndex {
	return fwIndex{groups: map[string]*fwGroup{}, rules: map[string]fwRule{}, portsByGroup: map[string]map[string]struct{}{},
		hostsByGroup: map[string]map[string]int{}, referrers: map[string]map[string]int{}, members: map[string][]netip.Prefix{}}
}

// fwPort is the part of a port the firewall views depend on.
type fwPort struct {
	PortSecurity bool
	Groups       []string
	Allowed      []secgroup.AllowedAddress
	Members      []netip.Prefix
}

func fwPortOf(p neutron.Port) fwPort {
	// Ports of network: and neutron: owners (router interfaces, DHCP) are
	// trusted: Neutron's agents never filter them (process_trusted_ports),
	// and with no security groups a filter would drop all they receive.
	trusted := strings.HasPrefix(p.DeviceOwner, "network:") || strings.HasPrefix(p.DeviceOwner, "neutron:")
	fp := fwPort{PortSecurity: p.PortSecurityEnabled && !trusted, Groups: sortedset.Unique(slices.Clone(p.SecurityGroups), strings.Compare)}
	fp.Allowed = sortedset.Unique(secgroup.Allowed(p), secgroup.CompareAllowed)
	fp.Members = sortedset.Unique(secgroup.Members(p), secgroup.ComparePrefix)
	return fp
}

func (a fwPort) equal(b fwPort) bool {
	return a.PortSecurity == b.PortSecurity && slices.Equal(a.Groups, b.Groups) &&
		slices.Equal(a.Allowed, b.Allowed) && slices.Equal(a.Members, b.Members)
}

// indexPort adds (add true) or removes a port's memberships.
func (m *Model) indexPort(p portInfo, add bool) {
	for _, g := range p.fw.Groups {
		delete(m.fw.members, g)
		if add {
			index(m.fw.portsByGroup, g, p.ID)
			if p.Host != "" {
				hs := m.fw.hostsByGroup[g]
				if hs == nil {
					hs = map[string]int{}
					m.fw.hostsByGroup[g] = hs
				}
				hs[p.Host]++
			}
			continue
		}
		unindex(m.fw.portsByGroup, g, p.ID)
		if hs := m.fw.hostsByGroup[g]; hs != nil && p.Host != "" {
			if hs[p.Host]--; hs[p.Host] <= 0 {
				delete(hs, p.Host)
			}
			if len(hs) == 0 {
				delete(m.fw.hostsByGroup, g)
			}
		}
	}
}

// groupHosts adds the hosts with a port in group g to s.
func (m *Model) groupHosts(g string, s *Span) {
	for h := range m.fw.hostsByGroup[g] {
		s.add(h)
	}
}

// referrerHosts adds to s the hosts whose view holds g as a remote group:
// those with a port in a group that has a rule naming g.
func (m *Model) referrerHosts(g string, s *Span) {
	for h := range m.fw.referrers[g] {
		m.groupHosts(h, s)
	}
}

// portFirewallSpan adds the hosts a port's firewall change concerns: its
// own hosts, and the hosts that see a group whose members it changed.
func (m *Model) portFirewallSpan(old, now portInfo, s *Span) {
	if old.fw.equal(now.fw) && old.Host == now.Host && old.MAC == now.MAC && old.Bound == now.Bound && old.NetworkID == now.NetworkID {
		return
	}
	s.add(old.Host)
	s.add(now.Host)
	if s.Nets == nil {
		s.Nets = map[string]struct{}{}
	}
	sameMembers := slices.Equal(old.fw.Members, now.fw.Members)
	for _, g := range old.fw.Groups {
		if !sameMembers || !slices.Contains(now.fw.Groups, g) {
			m.referrerHosts(g, s)
		}
	}
	for _, g := range now.fw.Groups {
		if !sameMembers || !slices.Contains(old.fw.Groups, g) {
			m.referrerHosts(g, s)
		}
	}
}

func (m *Model) setGroup(g neutron.SecurityGroup) (changed bool) {
	cur := m.fw.groups[g.ID]
	if cur == nil {
		m.fw.groups[g.ID] = &fwGroup{stateful: g.Stateful, rules: map[string]secgroup.Rule{}}
		return true
	}
	changed = cur.stateful != g.Stateful
	cur.stateful = g.Stateful
	return changed
}

func (m *Model) removeGroup(id string) bool {
	g := m.fw.groups[id]
	if g == nil {
		return false
	}
	for rid := range g.rules {
		m.removeRule(rid)
	}
	delete(m.fw.groups, id)
	return true
}

func (m *Model) setRule(r neutron.SecurityGroupRule) {
	m.removeRule(r.ID)
	g := m.fw.groups[r.SecurityGroupID]
	if g == nil {
		// A rule row before its group's (never within one transaction's
		// order, but be safe): the group is stateful until told.
		g = &fwGroup{stateful: true, rules: map[string]secgroup.Rule{}}
		m.fw.groups[r.SecurityGroupID] = g
	}
	fr := secgroup.FirewallRule(r)
	g.rules[r.ID], g.sorted = fr, nil
	m.fw.rules[r.ID] = fwRule{group: r.SecurityGroupID, remote: fr.RemoteGroup}
	if fr.RemoteGroup != "" {
		refs := m.fw.referrers[fr.RemoteGroup]
		if refs == nil {
			refs = map[string]int{}
			m.fw.referrers[fr.RemoteGroup] = refs
		}
		refs[r.SecurityGroupID]++
	}
}

// removeRule drops a rule and returns its group ("" if unknown).
func (m *Model) removeRule(id string) string {
	fr, ok := m.fw.rules[id]
	if !ok {
		return ""
	}
	delete(m.fw.rules, id)
	if g := m.fw.groups[fr.group]; g != nil {
		delete(g.rules, id)
		g.sorted = nil
	}
	if refs := m.fw.referrers[fr.remote]; refs != nil {
		if refs[fr.group]--; refs[fr.group] <= 0 {
			delete(refs, fr.group)
		}
		if len(refs) == 0 {
			delete(m.fw.referrers, fr.remote)
		}
	}
	return fr.group
}

// applyFirewall handles the security-group kinds of the change log.
func (m *Model) applyFirewall(c neutron.Change, span *Span) error {
	span.Nets = map[string]struct{}{}
	switch c.Kind {
	case neutron.KindSecurityGroup:
		changed := false
		if c.Deletion() {
			changed = m.removeGroup(c.ID)
		} else {
			g, err := neutron.Decode[neutron.SecurityGroup](c)
			if err != nil {
				return err
			}
			changed = m.setGroup(g)
		}
		if changed {
			m.groupHosts(c.ID, span)
		}
	case neutron.KindSecurityGroupRule:
		group := ""
		if c.Deletion() {
			group = m.removeRule(c.ID)
		} else {
			r, err := neutron.Decode[neutron.SecurityGroupRule](c)
			if err != nil {
				return err
			}
			m.setRule(r)
			group = r.SecurityGroupID
		}
		if group != "" {
			m.groupHosts(group, span)
		}
	}
	return nil
}

// groupRules is g's sorted rule list, shared by every view until it
// changes.
func (m *Model) groupRules(g *fwGroup) []secgroup.Rule {
	if g.sorted == nil && len(g.rules) > 0 {
		rs := make([]secgroup.Rule, 0, len(g.rules))
		for _, r := range g.rules {
			rs = append(rs, r)
		}
		g.sorted = sortedset.Unique(rs, secgroup.CompareRules)
	}
	return g.sorted
}

// groupMembers is the sorted member addresses of group id, shared by
// every view until a member changes.
func (m *Model) groupMembers(id string) []netip.Prefix {
	if ms, ok := m.fw.members[id]; ok {
		return ms
	}
	var ms []netip.Prefix
	for pid := range m.fw.portsByGroup[id] {
		ms = append(ms, m.ports[pid].fw.Members...)
	}
	ms = sortedset.Unique(ms, secgroup.ComparePrefix)
	m.fw.members[id] = ms
	return ms
}

// firewall computes the firewall part of host's view for its local
// ports.
func (m *Model) firewall(ports map[string]LocalPort) secgroup.Firewall {
	fw := secgroup.Firewall{Ports: make(map[string]secgroup.Port, len(ports)), Groups: map[string]secgroup.Group{},
		Remote: map[string][]netip.Prefix{}, VTEPs: m.cachedVTEPs()}
	for id := range ports {
		p := m.ports[id]
		fw.Ports[id] = secgroup.Port{ID: id, MAC: p.MAC, PortSecurity: p.fw.PortSecurity, Allowed: p.fw.Allowed, Groups: p.fw.Groups}
		for _, gid := range p.fw.Groups {
			if _, done := fw.Groups[gid]; done {
				continue
			}
			g := m.fw.groups[gid]
			if g == nil {
				continue
			}
			rules := m.groupRules(g)
			fw.Groups[gid] = secgroup.Group{Stateful: g.stateful, Rules: rules}
			for _, r := range rules {
				if r.RemoteGroup != "" {
					if _, done := fw.Remote[r.RemoteGroup]; !done {
						fw.Remote[r.RemoteGroup] = m.groupMembers(r.RemoteGroup)
					}
				}
			}
		}
	}
	return fw
}

// cachedVTEPs is allVTEPs, computed once per change of agents or
// endpoints and shared by every view.
func (m *Model) cachedVTEPs() []netip.Addr {
	if !m.fw.vtepsValid {
		m.fw.vteps, m.fw.vtepsValid = m.allVTEPs(), true
	}
	return m.fw.vteps
}
