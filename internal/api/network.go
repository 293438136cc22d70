package api

import (
	"strconv"

	"neutrino/internal/neutron"
)

type networkTable = table[neutron.Network, neutron.NetworkCreate, neutron.NetworkUpdate]

// networks: ML2 with provider, multi-provider, external-net, net-mtu,
// availability zones, address scopes and (with the port_security extension
// driver) port security. A single-segment network carries provider:* at
// the top level, a multi-segment one a "segments" list instead.
func networks(o attrOptions) *networkTable {
	type (
		N  = neutron.Network
		NC = neutron.NetworkCreate
		NU = neutron.NetworkUpdate
	)
	t := newTable[N, NC, NU]("network", "networks")
	t.standard(func(n *N) *neutron.Standard { return &n.Standard },
		func(c *NC, v string) { c.Name = v }, func(c *NC, v string) { c.Description = v },
		func(u *NU, v string) { u.Name = &v }, func(u *NU, v string) { u.Description = &v })
	t.add(rw("admin_state_up", convBool), boolean(func(n *N) bool { return n.AdminStateUp })).
		onCreate(set(func(c *NC, v bool) { c.AdminStateUp = &v })).
		onUpdate(set(func(u *NU, v bool) { u.AdminStateUp = &v }))
	t.add(rw("shared", convBool).adminWriteOnly(), boolean(func(n *N) bool { return n.Shared })).
		onCreate(set(func(c *NC, v bool) { c.Shared = &v })).
		onUpdate(set(func(u *NU, v bool) { u.Shared = &v }))
	t.add(rw("router:external", convBool).adminWriteOnly(), boolean(func(n *N) bool { return n.External })).
		onCreate(set(func(c *NC, v bool) { c.External = &v })).
		onUpdate(set(func(u *NU, v bool) { u.External = &v }))
	t.add(rw("mtu", convInt), integer(func(n *N) int { return n.MTU })).
		onCreate(set(func(c *NC, v int64) { m := int(v); c.MTU = &m })).
		onUpdate(set(func(u *NU, v int64) { m := int(v); u.MTU = &m }))
	t.add(ro("status"), str(func(n *N) string { return n.Status }))
	t.add(ro("subnets"), strList(func(n *N) []string { return n.Subnets }))
	t.add(po("availability_zone_hints", convEmptyList), literal[N]("[]"))
	t.add(ro("availability_zones"), literal[N]("[]"))
	t.add(ro("ipv4_address_scope"), literal[N]("null"))
	t.add(ro("ipv6_address_scope"), literal[N]("null"))
	// is_default is the auto-allocated-topology hook's: only in Neutron's
	// create response.
	t.add(ro("is_default").inCreateOnly(), literal[N]("false"))
	single := func(n *N) bool { return len(n.Segments) <= 1 }
	t.add(rw("provider:network_type", convNullableString(255)).admin(), str(func(n *N) string { return firstSegment(n).NetworkType })).when(single).
		onCreate(set(func(c *NC, v string) { segment(&c.Segment).NetworkType = v })).
		onUpdate(set(func(u *NU, v string) { segment(&u.Segment).NetworkType = v }))
	t.add(rw("provider:physical_network", convNullableString(64)).admin(), strOrNull(func(n *N) string { return firstSegment(n).PhysicalNetwork })).when(single).
		onCreate(set(func(c *NC, v string) { segment(&c.Segment).PhysicalNetwork = v })).
		onUpdate(set(func(u *NU, v string) { segment(&u.Segment).PhysicalNetwork = v }))
	t.add(rw("provider:segmentation_id", convNullableInt).admin(), encoder[N]{fn: func(b []byte, n *N) []byte { return appendSegmentationID(b, firstSegment(n).SegmentationID) }}).when(single).
		onCreate(func(c *NC, v any) { segment(&c.Segment).SegmentationID = segmentationIDOf(v) }).
		onUpdate(func(u *NU, v any) { segment(&u.Segment).SegmentationID = segmentationIDOf(v) })
	t.add(rw("segments", convSegments).admin(), listOf(func(n *N) []neutron.Segment { return n.Segments }, appendSegment)).
		when(func(n *N) bool { return len(n.Segments) > 1 }).
		onCreate(set(func(c *NC, v []neutron.Segment) { c.Segments = v }))
	if o.PortSecurity {
		t.add(rw("port_security_enabled", convBool), boolean(func(n *N) bool { return n.PortSecurityEnabled })).
			onCreate(set(func(c *NC, v bool) { c.PortSecurityEnabled = &v })).
			onUpdate(set(func(u *NU, v bool) { u.PortSecurityEnabled = &v }))
	}
	t.tagged()
	t.facts = func(n *N) entity {
		return entity{id: n.ID, project: n.ProjectID, shared: n.Shared, external: n.External, tags: n.Tags}
	}
	t.finishCreate = func(c *NC, project string, _ map[string]any) *neutron.Error {
		c.ProjectID = project
		if len(c.Segments) == 0 {
			c.Segments = nil
			return nil
		}
		if c.Segment != nil {
			return neutron.InvalidInput("Segments and provider values cannot both be set.")
		}
		if len(c.Segments) == 1 {
			c.Segment, c.Segments = &c.Segments[0], nil
		}
		return nil
	}
	t.finishUpdate = func(u *NU, ifRev int64, a map[string]any) *neutron.Error {
		u.IfRevision = ifRev
		if _, ok := a["segments"]; ok {
			return neutron.InvalidInput("Segments of a network cannot be updated through the network API.")
		}
		return nil
	}
	return t
}

func networkKind(b Backend, o attrOptions) *kind {
	return networks(o).kind(crud[neutron.Network, neutron.NetworkCreate, neutron.NetworkUpdate]{
		get: b.GetNetwork, list: b.ListNetworks, create: b.CreateNetworks, update: b.UpdateNetwork, delete: b.DeleteNetwork})
}

func firstSegment(n *neutron.Network) neutron.Segment {
	if len(n.Segments) == 0 {
		return neutron.Segment{}
	}
	return n.Segments[0]
}

// segment is the single segment a body's provider:* attributes describe.
func segment(s **neutron.Segment) *neutron.Segment {
	if *s == nil {
		*s = &neutron.Segment{}
	}
	return *s
}

func appendSegmentationID(b []byte, id int64) []byte {
	if id == 0 {
		return append(b, "null"...)
	}
	return strconv.AppendInt(b, id, 10)
}

func appendSegment(b []byte, s *neutron.Segment) []byte {
	o := openObject(b)
	o.str("provider:network_type", s.NetworkType).strOrNull("provider:physical_network", s.PhysicalNetwork)
	o.key("provider:segmentation_id")
	o.b = appendSegmentationID(o.b, s.SegmentationID)
	return o.close()
}

// segmentationIDOf is a converted provider:segmentation_id (null: none).
func segmentationIDOf(v any) int64 {
	if v == nil {
		return 0
	}
	return givenSegmentationID(v.(int64))
}

// givenSegmentationID maps a segmentation id the client wrote to the
// model, where 0 means "allocate one". A written 0 is a request for id 0,
// which no type can carry (VLAN 1-4094, VXLAN/GRE from 1): it goes on as
// -1, so every type driver refuses it exactly as it refuses -1. (Neutron's
// tunnel drivers allocate for 0; neutrino answers 400 instead, like
// for ids beyond 24 bits; see docs/api.md.)
func givenSegmentationID(id int64) int64 {
	if id == 0 {
		return -1
	}
	return id
}
