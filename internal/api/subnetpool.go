package api

import (
	"net/netip"
	"strconv"
	"strings"

	"neutrino/internal/neutron"
)

// subnetpools: Neutron's subnetpool resource with the subnet_allocation
// and default-subnetpools extensions. Pools have no address scopes here
// (address_scope_id is always null). The prefix math and the checks that
// span attributes (bounds, versions, defaults) are package ipam's, called
// by the plugin.

func subnetPools() *table[neutron.SubnetPool, neutron.SubnetPoolCreate, neutron.SubnetPoolUpdate] {
	type (
		P  = neutron.SubnetPool
		PC = neutron.SubnetPoolCreate
		PU = neutron.SubnetPoolUpdate
	)
	t := newTable[P, PC, PU]("subnetpool", "subnetpools")
	t.standard(func(p *P) *neutron.Standard { return &p.Standard },
		func(c *PC, v string) { c.Name = v }, func(c *PC, v string) { c.Description = v },
		func(u *PU, v string) { u.Name = &v }, func(u *PU, v string) { u.Description = &v })
	// A pool's name is required and not blank (type:not_empty_string).
	name := t.column("name")
	name.attribute = rw("name", convNotEmptyString(255)).req()
	t.add(rw("prefixes", convSubnetList).req(), strList(func(p *P) []string { return p.Prefixes })).
		onCreate(set(func(c *PC, v []string) { c.Prefixes = v })).
		onUpdate(set(func(u *PU, v []string) { u.Prefixes = &v }))
	// Neutron renders the prefix lengths as strings.
	prefixlen := func(get func(*P) int) encoder[P] {
		return str(func(p *P) string { return strconv.Itoa(get(p)) })
	}
	t.add(rw("default_prefixlen", convNonNegative), prefixlen(func(p *P) int { return p.DefaultPrefixlen })).
		onCreate(set(func(c *PC, v int) { c.DefaultPrefixlen = &v })).
		onUpdate(set(func(u *PU, v int) { u.DefaultPrefixlen = &v }))
	t.add(rw("min_prefixlen", convNonNegative), prefixlen(func(p *P) int { return p.MinPrefixlen })).
		onCreate(set(func(c *PC, v int) { c.MinPrefixlen = &v })).
		onUpdate(set(func(u *PU, v int) { u.MinPrefixlen = &v }))
	t.add(rw("max_prefixlen", convNonNegative), prefixlen(func(p *P) int { return p.MaxPrefixlen })).
		onCreate(set(func(c *PC, v int) { c.MaxPrefixlen = &v })).
		onUpdate(set(func(u *PU, v int) { u.MaxPrefixlen = &v }))
	t.add(rw("default_quota", convNonNegative), optInt(func(p *P) *int { return p.DefaultQuota })).
		onCreate(set(func(c *PC, v int) { c.DefaultQuota = &v })).
		onUpdate(set(func(u *PU, v int) { u.SetQuota, u.DefaultQuota = true, &v }))
	t.add(ro("ip_version"), integer(func(p *P) int { return p.IPVersion }))
	t.add(rw("is_default", convBool).adminWriteOnly(), boolean(func(p *P) bool { return p.IsDefault })).
		onCreate(set(func(c *PC, v bool) { c.IsDefault = v })).
		onUpdate(set(func(u *PU, v bool) { u.IsDefault = &v }))
	t.add(po("shared", convBool).adminWriteOnly(), boolean(func(p *P) bool { return p.Shared })).
		onCreate(set(func(c *PC, v bool) { c.Shared = v }))
	// No address scopes: only null is accepted.
	t.add(rw("address_scope_id", convNull), literal[P]("null"))
	t.tagged()
	t.facts = func(p *P) entity { return entity{id: p.ID, project: p.ProjectID, shared: p.Shared, tags: p.Tags} }
	t.finishCreate = func(c *PC, project string, _ map[string]any) *neutron.Error {
		c.ProjectID = project
		return nil
	}
	t.finishUpdate = func(u *PU, ifRev int64, _ map[string]any) *neutron.Error {
		u.IfRevision = ifRev
		return nil
	}
	return t
}

func subnetPoolKind(b Backend) *kind {
	return subnetPools().kind(crud[neutron.SubnetPool, neutron.SubnetPoolCreate, neutron.SubnetPoolUpdate]{
		get: b.GetSubnetPool, list: b.ListSubnetPools, create: b.CreateSubnetPools,
		update: b.UpdateSubnetPool, delete: b.DeleteSubnetPool})
}

// convNotEmptyString is type:not_empty_string with a length limit.
func convNotEmptyString(max int) func(string, any) (any, *neutron.Error) {
	str := convString(max)
	return func(name string, v any) (any, *neutron.Error) {
		s, e := str(name, v)
		if e != nil {
			return nil, e
		}
		if strings.TrimSpace(s.(string)) == "" {
			return nil, invalidFor(name, v, "Blank strings are not permitted")
		}
		return s, nil
	}
}

// convNonNegative is convert_to_int then type:non_negative.
func convNonNegative(name string, v any) (any, *neutron.Error) {
	n, ok := toInt(v)
	if !ok {
		return nil, neutron.InvalidInput("%s is not an integer", pyRepr(v))
	}
	if n < 0 {
		return nil, neutron.BadRequest("Invalid input for %s. Reason: '%d' should be non-negative.", name, n)
	}
	if n > 1<<31-1 {
		return nil, invalidFor(name, v, "is too large")
	}
	return int(n), nil
}

// convSubnetList is type:subnet_list: a list of distinct CIDRs.
func convSubnetList(name string, v any) (any, *neutron.Error) {
	l, e := asList(name, v)
	if e != nil {
		return nil, e
	}
	out := make([]string, 0, len(l))
	seen := map[string]bool{}
	for _, x := range l {
		s, ok := x.(string)
		if !ok {
			return nil, invalidFor(name, x, "is not a valid IP subnet")
		}
		if seen[s] {
			return nil, neutron.BadRequest("Invalid input for %s. Reason: Duplicate items in the list: '%s'.", name, strings.Join(out, ", "))
		}
		seen[s] = true
		if !strings.Contains(s, "/") {
			if a, err := netip.ParseAddr(s); err == nil {
				return nil, neutron.BadRequest("Invalid input for %s. Reason: '%s' isn't a recommended CIDR, '%s' is recommended.", name, s, netip.PrefixFrom(a, a.BitLen()))
			}
		}
		if _, err := netip.ParsePrefix(s); err != nil {
			return nil, invalidFor(name, x, "is not a valid IP subnet")
		}
		out = append(out, s)
	}
	return out, nil
}
