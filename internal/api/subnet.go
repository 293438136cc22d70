package api

import (
	"context"
	"strconv"

	"neutrino/internal/neutron"
)

func subnets() *table[neutron.Subnet, neutron.SubnetCreate, neutron.SubnetUpdate] {
	type (
		S  = neutron.Subnet
		SC = neutron.SubnetCreate
		SU = neutron.SubnetUpdate
	)
	t := newTable[S, SC, SU]("subnet", "subnets")
	t.standard(func(s *S) *neutron.Standard { return &s.Standard },
		func(c *SC, v string) { c.Name = v }, func(c *SC, v string) { c.Description = v },
		func(u *SU, v string) { u.Name = &v }, func(u *SU, v string) { u.Description = &v })
	t.add(po("network_id", convUUID).req(), str(func(s *S) string { return s.NetworkID })).
		onCreate(set(func(c *SC, v string) { c.NetworkID = v }))
	t.add(po("ip_version", convIPVersion).req(), integer(func(s *S) int { return s.IPVersion })).
		onCreate(set(func(c *SC, v int64) { c.IPVersion = int(v) }))
	// cidr may be left out when the subnet comes from a pool.
	t.add(po("cidr", convString(64)), str(func(s *S) string { return s.CIDR })).
		onCreate(set(func(c *SC, v string) { c.CIDR = v }))
	// gateway_ip null converts to "": no gateway.
	t.add(rw("gateway_ip", convNullableIP), strOrNull(func(s *S) string { return s.GatewayIP })).
		onCreate(set(func(c *SC, v string) { c.GatewayIP = &v })).
		onUpdate(set(func(u *SU, v string) { u.GatewayIP = &v }))
	t.add(rw("allocation_pools", convPools), listOf(func(s *S) []neutron.AllocationPool { return s.AllocationPools }, appendPool)).
		onCreate(set(func(c *SC, v []neutron.AllocationPool) { c.AllocationPools = v })).
		onUpdate(set(func(u *SU, v []neutron.AllocationPool) { u.AllocationPools = &v }))
	t.add(rw("enable_dhcp", convBool), boolean(func(s *S) bool { return s.EnableDHCP })).
		onCreate(set(func(c *SC, v bool) { c.EnableDHCP = &v })).
		onUpdate(set(func(u *SU, v bool) { u.EnableDHCP = &v }))
	t.add(rw("dns_nameservers", convIPList), strList(func(s *S) []string { return s.DNSNameservers })).
		onCreate(set(func(c *SC, v []string) { c.DNSNameservers = v })).
		onUpdate(set(func(u *SU, v []string) { u.DNSNameservers = &v }))
	t.add(rw("host_routes", convHostRoutes), listOf(func(s *S) []neutron.HostRoute { return s.HostRoutes }, appendHostRoute)).
		onCreate(set(func(c *SC, v []neutron.HostRoute) { c.HostRoutes = v })).
		onUpdate(set(func(u *SU, v []neutron.HostRoute) { u.HostRoutes = &v }))
	t.add(po("ipv6_ra_mode", convIPv6Mode), strOrNull(func(s *S) string { return s.IPv6RAMode })).
		onCreate(set(func(c *SC, v string) { c.IPv6RAMode = v }))
	t.add(po("ipv6_address_mode", convIPv6Mode), strOrNull(func(s *S) string { return s.IPv6AddressMode })).
		onCreate(set(func(c *SC, v string) { c.IPv6AddressMode = v }))
	t.add(po("subnetpool_id", convNullableUUID), strOrNull(func(s *S) string { return s.SubnetPoolID })).
		onCreate(set(func(c *SC, v string) { c.SubnetPoolID = v }))
	// prefixlen and use_default_subnetpool are input only (is_visible False).
	t.add(po("prefixlen", convNonNegative), literal[S]("null")).when(func(*S) bool { return false }).
		onCreate(set(func(c *SC, v int) { c.Prefixlen = &v }))
	t.add(po("use_default_subnetpool", convBool), literal[S]("false")).when(func(*S) bool { return false }).
		onCreate(set(func(c *SC, v bool) { c.UseDefaultPool = v }))
	t.add(rw("service_types", convEmptyList), literal[S]("[]"))
	t.tagged()
	t.facts = func(s *S) entity {
		return entity{id: s.ID, project: s.ProjectID, networkID: s.NetworkID, tags: s.Tags}
	}
	t.finishCreate = func(c *SC, project string, _ map[string]any) *neutron.Error {
		c.ProjectID = project
		if c.CIDR == "" {
			return nil // from a subnet pool (the plugin checks that one is named)
		}
		return validateCIDR(c.CIDR, c.IPVersion)
	}
	t.finishUpdate = func(u *SU, ifRev int64, _ map[string]any) *neutron.Error {
		u.IfRevision = ifRev
		return nil
	}
	return t
}

func subnetKind(b Backend) *kind {
	k := subnets().kind(crud[neutron.Subnet, neutron.SubnetCreate, neutron.SubnetUpdate]{
		get: b.GetSubnet, list: b.ListSubnets, update: b.UpdateSubnet, delete: b.DeleteSubnet,
		create: func(ctx context.Context, reqs []neutron.SubnetCreate) ([]*neutron.Subnet, error) {
			if err := checkPoolsVisible(ctx, b, reqs); err != nil {
				return nil, err
			}
			return b.CreateSubnets(ctx, reqs)
		}})
	k.onForeignNetwork = subnetOnForeignNetwork
	return k
}

// checkPoolsVisible: a subnet pool the caller cannot see does not exist
// for it, the default pool included (Neutron looks it up with the
// caller's visibility).
func checkPoolsVisible(ctx context.Context, b Backend, reqs []neutron.SubnetCreate) error {
	c := CallerFrom(ctx)
	if c.Admin {
		return nil
	}
	for _, r := range reqs {
		switch {
		case r.SubnetPoolID != "":
			p, err := b.GetSubnetPool(ctx, r.SubnetPoolID)
			if err != nil {
				return err
			}
			if !p.Shared && !ownerOrAdmin(c, p.ProjectID) {
				return neutron.NotFound("SubnetPool", r.SubnetPoolID)
			}
		case r.UseDefaultPool && r.IPVersion != 0:
			l, err := b.ListSubnetPools(ctx, neutron.ListQuery{VisibleTo: visibleTo(c),
				Filters: map[string][]string{"is_default": {"true"}, "ip_version": {strconv.Itoa(r.IPVersion)}}})
			if err != nil {
				return err
			}
			if len(l) == 0 {
				return neutron.Errorf(400, "BadRequest", "Bad subnets request: No default subnetpool found for IPv%d.", r.IPVersion)
			}
		}
	}
	return nil
}

func appendPool(b []byte, p *neutron.AllocationPool) []byte {
	o := openObject(b)
	return o.str("start", p.Start).str("end", p.End).close()
}

func appendHostRoute(b []byte, r *neutron.HostRoute) []byte {
	o := openObject(b)
	return o.str("destination", r.Destination).str("nexthop", r.NextHop).close()
}
