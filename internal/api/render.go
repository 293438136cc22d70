package api

import (
	"encoding/json"
	"time"

	"neutrino/internal/neutron"
)

// Rendering: each resource becomes a map with exactly Neutron's keys
// (2023.1 with ML2, provider, multi-provider, binding, external-net,
// availability zones, address scopes, standard attributes).

const (
	timeFormat      = "2006-01-02T15:04:05Z"
	agentTimeFormat = "2006-01-02 15:04:05"
)

func ts(t time.Time, layout string) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(layout)
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func strs(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

func rawOr(r json.RawMessage, def string) json.RawMessage {
	if len(r) == 0 || string(r) == "null" {
		return json.RawMessage(def)
	}
	return r
}

func standard(m map[string]any, s *neutron.Standard) {
	m["id"] = s.ID
	m["name"] = s.Name
	m["description"] = s.Description
	m["tenant_id"] = s.ProjectID
	m["project_id"] = s.ProjectID
	m["tags"] = strs(s.Tags)
	m["created_at"] = ts(s.CreatedAt, timeFormat)
	m["updated_at"] = ts(s.UpdatedAt, timeFormat)
	m["revision_number"] = s.RevisionNumber
}

func segmentMap(m map[string]any, s neutron.Segment) map[string]any {
	m["provider:network_type"] = s.NetworkType
	m["provider:physical_network"] = nullIfEmpty(s.PhysicalNetwork)
	if s.SegmentationID == 0 {
		m["provider:segmentation_id"] = nil
	} else {
		m["provider:segmentation_id"] = s.SegmentationID
	}
	return m
}

// renderNetwork: a single-segment network carries provider:* at the top
// level, a multi-segment one a "segments" list instead (multi-provider).
// Neutron's create response also has is_default (auto-allocated-topology
// hook); show, list and update do not.
func renderNetwork(n *neutron.Network, o attrOptions, create bool) map[string]any {
	m := make(map[string]any, 26)
	standard(m, &n.Standard)
	m["admin_state_up"] = n.AdminStateUp
	m["mtu"] = n.MTU
	m["status"] = n.Status
	m["subnets"] = strs(n.Subnets)
	m["shared"] = n.Shared
	m["router:external"] = n.External
	m["availability_zone_hints"] = []string{}
	m["availability_zones"] = []string{}
	m["ipv4_address_scope"] = nil
	m["ipv6_address_scope"] = nil
	if create {
		m["is_default"] = false
	}
	if o.PortSecurity {
		m["port_security_enabled"] = n.PortSecurityEnabled
	}
	switch len(n.Segments) {
	case 0:
		segmentMap(m, neutron.Segment{})
	case 1:
		segmentMap(m, n.Segments[0])
	default:
		segs := make([]map[string]any, len(n.Segments))
		for i, s := range n.Segments {
			segs[i] = segmentMap(map[string]any{}, s)
		}
		m["segments"] = segs
	}
	return m
}

func renderSubnet(s *neutron.Subnet) map[string]any {
	m := make(map[string]any, 22)
	standard(m, &s.Standard)
	m["network_id"] = s.NetworkID
	m["ip_version"] = s.IPVersion
	m["subnetpool_id"] = nullIfEmpty(s.SubnetPoolID)
	m["enable_dhcp"] = s.EnableDHCP
	m["ipv6_ra_mode"] = nullIfEmpty(s.IPv6RAMode)
	m["ipv6_address_mode"] = nullIfEmpty(s.IPv6AddressMode)
	m["gateway_ip"] = nullIfEmpty(s.GatewayIP)
	m["cidr"] = s.CIDR
	pools := s.AllocationPools
	if pools == nil {
		pools = []neutron.AllocationPool{}
	}
	m["allocation_pools"] = pools
	routes := s.HostRoutes
	if routes == nil {
		routes = []neutron.HostRoute{}
	}
	m["host_routes"] = routes
	m["dns_nameservers"] = strs(s.DNSNameservers)
	m["service_types"] = []string{}
	return m
}

func renderPort(p *neutron.Port, o attrOptions) map[string]any {
	m := make(map[string]any, 26)
	standard(m, &p.Standard)
	m["network_id"] = p.NetworkID
	m["mac_address"] = p.MACAddress
	m["admin_state_up"] = p.AdminStateUp
	m["status"] = p.Status
	m["device_id"] = p.DeviceID
	m["device_owner"] = p.DeviceOwner
	ips := p.FixedIPs
	if ips == nil {
		ips = []neutron.FixedIP{}
	}
	m["fixed_ips"] = ips
	pairs := p.AllowedAddressPairs
	if pairs == nil {
		pairs = []neutron.AddressPair{}
	}
	m["allowed_address_pairs"] = pairs
	m["extra_dhcp_opts"] = []string{}
	m["security_groups"] = strs(p.SecurityGroups)
	vnic := p.VNICType
	if vnic == "" {
		vnic = "normal"
	}
	m["binding:vnic_type"] = vnic
	m["binding:profile"] = rawOr(p.Profile, "{}")
	m["binding:host_id"] = p.HostID
	vif := p.VIFType
	if vif == "" {
		vif = neutron.VIFUnbound
	}
	m["binding:vif_type"] = vif
	m["binding:vif_details"] = rawOr(p.VIFDetails, "{}")
	if o.PortSecurity {
		m["port_security_enabled"] = p.PortSecurityEnabled
	}
	return m
}

func renderAgent(a *neutron.Agent) map[string]any {
	return map[string]any{
		"id":                  a.ID,
		"agent_type":          a.AgentType,
		"binary":              a.Binary,
		"topic":               a.Topic,
		"host":                a.Host,
		"admin_state_up":      a.AdminStateUp,
		"created_at":          ts(a.CreatedAt, agentTimeFormat),
		"started_at":          ts(a.StartedAt, agentTimeFormat),
		"heartbeat_timestamp": ts(a.HeartbeatAt, agentTimeFormat),
		"description":         nullIfEmpty(a.Description),
		"resources_synced":    nil,
		"availability_zone":   nullIfEmpty(a.AvailabilityZone),
		"alive":               a.Alive,
		"configurations":      rawOr(a.Configurations, "{}"),
	}
}

// shape applies policy (admin-only attributes are removed for other
// callers) and the fields= selection to a rendered resource.
func shape(res *resource, m map[string]any, c Caller, fields []string) map[string]any {
	if !c.Admin {
		for k := range m {
			if a, ok := res.byName[k]; ok && a.adminRead {
				delete(m, k)
			}
		}
	}
	if len(fields) == 0 {
		return m
	}
	out := make(map[string]any, len(fields))
	for _, f := range fields {
		if v, ok := m[f]; ok {
			out[f] = v
		}
	}
	return out
}
