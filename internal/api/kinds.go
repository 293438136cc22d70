package api

import (
	"context"
	"encoding/json"

	"neutrino/internal/neutron"
)

// entity is a fetched resource with what policy needs to know about it.
type entity struct {
	id        string
	project   string // "" for agents
	networkID string // subnets, ports: the network they belong to
	shared    bool   // networks
	external  bool   // networks: router:external (readable by every project)
	tags      []string
	render    func(create bool) map[string]any
	// view, if set, renders the whole resource (no fields= selection)
	// for a caller faster than render+shape; it must produce the same JSON.
	view func(admin bool) any
}

// kind adapts one Backend resource to the generic handlers.
type kind struct {
	res    *resource
	get    func(ctx context.Context, id string) (*entity, error)
	list   func(ctx context.Context, q neutron.ListQuery) ([]*entity, error)
	// create makes every item in one transaction (a bulk create; a
	// single create is a bulk of one).
	create func(ctx context.Context, items []newItem) ([]*entity, error)
	update func(ctx context.Context, id string, a map[string]any, ifRev int64) (*entity, error)
	delete func(ctx context.Context, id string) error
	// adminOnly: the whole resource is invisible to non-admins (agents).
	adminOnly bool
}

// newItem is one resource of a create request: its converted attributes
// and the project it is created for.
type newItem struct {
	attrs   map[string]any
	project string
}

// createWith adapts a Backend bulk create to kind.create: build turns each
// item into the Backend's request (a fault there fails the whole request
// before anything is created), mk wraps the results.
func createWith[Req, T any](build func(a map[string]any, project string) (Req, error), create func(context.Context, []Req) ([]*T, error), mk func(*T) *entity) func(context.Context, []newItem) ([]*entity, error) {
	return func(ctx context.Context, items []newItem) ([]*entity, error) {
		reqs := make([]Req, len(items))
		for i, it := range items {
			var err error
			if reqs[i], err = build(it.attrs, it.project); err != nil {
				return nil, err
			}
		}
		out, err := create(ctx, reqs)
		if err != nil {
			return nil, err
		}
		ents := make([]*entity, len(out))
		for i, v := range out {
			ents[i] = mk(v)
		}
		return ents, nil
	}
}

// Helpers reading converted attribute values.
func aStr(a map[string]any, k string) (string, bool) {
	v, ok := a[k]
	if !ok || v == nil {
		return "", ok
	}
	return v.(string), true
}

func aStrP(a map[string]any, k string) *string {
	if s, ok := aStr(a, k); ok {
		return &s
	}
	return nil
}

func aBoolP(a map[string]any, k string) *bool {
	if v, ok := a[k]; ok && v != nil {
		b := v.(bool)
		return &b
	}
	return nil
}

func aIntP(a map[string]any, k string) *int {
	if v, ok := a[k]; ok && v != nil {
		n := int(v.(int64))
		return &n
	}
	return nil
}

func aStrs(a map[string]any, k string) ([]string, bool) {
	v, ok := a[k]
	if !ok || v == nil {
		return nil, ok
	}
	return v.([]string), true
}

// segmentFrom reads provider:* (single segment) from a body.
func segmentFrom(a map[string]any) *neutron.Segment {
	_, t := a["provider:network_type"]
	_, p := a["provider:physical_network"]
	_, s := a["provider:segmentation_id"]
	if !t && !p && !s {
		return nil
	}
	seg := &neutron.Segment{}
	seg.NetworkType, _ = aStr(a, "provider:network_type")
	seg.PhysicalNetwork, _ = aStr(a, "provider:physical_network")
	if v, ok := a["provider:segmentation_id"]; ok && v != nil {
		seg.SegmentationID = givenSegmentationID(v.(int64))
	}
	return seg
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

func networkEntity(n *neutron.Network, o attrOptions) *entity {
	return &entity{id: n.ID, project: n.ProjectID, shared: n.Shared, external: n.External, tags: n.Tags,
		render: func(create bool) map[string]any { return renderNetwork(n, o, create) },
		view:   func(admin bool) any { return viewNetwork(n, o, admin) }}
}

func subnetEntity(s *neutron.Subnet) *entity {
	return &entity{id: s.ID, project: s.ProjectID, networkID: s.NetworkID, tags: s.Tags,
		render: func(bool) map[string]any { return renderSubnet(s) }}
}

func portEntity(p *neutron.Port, o attrOptions) *entity {
	return &entity{id: p.ID, project: p.ProjectID, networkID: p.NetworkID, tags: p.Tags,
		render: func(bool) map[string]any { return renderPort(p, o) },
		view:   func(admin bool) any { return viewPort(p, o, admin) }}
}

func agentEntity(a *neutron.Agent) *entity {
	return &entity{id: a.ID, render: func(bool) map[string]any { return renderAgent(a) }}
}

// entityOf turns a Backend (*T, error) result into an entity maker the
// kinds share: errors pass through, values are wrapped by mk.
func entityOf[T any](mk func(*T) *entity) func(*T, error) (*entity, error) {
	return func(v *T, err error) (*entity, error) {
		if err != nil {
			return nil, err
		}
		return mk(v), nil
	}
}

// listOf adapts a Backend List call to kind.list, wrapping every element with mk.
func listOf[T any](list func(context.Context, neutron.ListQuery) ([]T, error), mk func(*T) *entity) func(context.Context, neutron.ListQuery) ([]*entity, error) {
	return func(ctx context.Context, q neutron.ListQuery) ([]*entity, error) {
		l, err := list(ctx, q)
		if err != nil {
			return nil, err
		}
		out := make([]*entity, len(l))
		for i := range l {
			out[i] = mk(&l[i])
		}
		return out, nil
	}
}

func networkKind(b Backend, o attrOptions) *kind {
	mk := func(n *neutron.Network) *entity { return networkEntity(n, o) }
	one := entityOf(mk)
	return &kind{
		res:  networkResource(o),
		get:  func(ctx context.Context, id string) (*entity, error) { return one(b.GetNetwork(ctx, id)) },
		list: listOf(b.ListNetworks, mk),
		create: createWith(func(a map[string]any, project string) (neutron.NetworkCreate, error) {
			req := neutron.NetworkCreate{
				ProjectID:           project,
				AdminStateUp:        aBoolP(a, "admin_state_up"),
				Shared:              aBoolP(a, "shared"),
				External:            aBoolP(a, "router:external"),
				MTU:                 aIntP(a, "mtu"),
				PortSecurityEnabled: aBoolP(a, "port_security_enabled"),
				Segment:             segmentFrom(a),
			}
			req.Name, _ = aStr(a, "name")
			req.Description, _ = aStr(a, "description")
			if segs, ok := a["segments"].([]neutron.Segment); ok && len(segs) > 0 {
				if req.Segment != nil {
					return req, neutron.InvalidInput("Segments and provider values cannot both be set.")
				}
				if len(segs) == 1 {
					req.Segment = &segs[0]
				} else {
					req.Segments = segs
				}
			}
			return req, nil
		}, b.CreateNetworks, mk),
		update: func(ctx context.Context, id string, a map[string]any, ifRev int64) (*entity, error) {
			req := neutron.NetworkUpdate{
				Name:                aStrP(a, "name"),
				Description:         aStrP(a, "description"),
				AdminStateUp:        aBoolP(a, "admin_state_up"),
				Shared:              aBoolP(a, "shared"),
				External:            aBoolP(a, "router:external"),
				MTU:                 aIntP(a, "mtu"),
				PortSecurityEnabled: aBoolP(a, "port_security_enabled"),
				Segment:             segmentFrom(a),
				IfRevision:          ifRev,
			}
			if _, ok := a["segments"]; ok {
				return nil, neutron.InvalidInput("Segments of a network cannot be updated through the network API.")
			}
			return one(b.UpdateNetwork(ctx, id, req))
		},
		delete: b.DeleteNetwork,
	}
}

func subnetKind(b Backend) *kind {
	mk := subnetEntity
	one := entityOf(mk)
	return &kind{
		res:  subnetResource(),
		get:  func(ctx context.Context, id string) (*entity, error) { return one(b.GetSubnet(ctx, id)) },
		list: listOf(b.ListSubnets, mk),
		create: createWith(func(a map[string]any, project string) (neutron.SubnetCreate, error) {
			req := neutron.SubnetCreate{
				ProjectID:  project,
				IPVersion:  int(a["ip_version"].(int64)),
				GatewayIP:  aStrP(a, "gateway_ip"),
				EnableDHCP: aBoolP(a, "enable_dhcp"),
			}
			req.NetworkID, _ = aStr(a, "network_id")
			req.CIDR, _ = aStr(a, "cidr")
			req.Name, _ = aStr(a, "name")
			req.Description, _ = aStr(a, "description")
			req.IPv6RAMode, _ = aStr(a, "ipv6_ra_mode")
			req.IPv6AddressMode, _ = aStr(a, "ipv6_address_mode")
			if p, ok := a["allocation_pools"].([]neutron.AllocationPool); ok {
				req.AllocationPools = p
			}
			req.DNSNameservers, _ = aStrs(a, "dns_nameservers")
			if r, ok := a["host_routes"].([]neutron.HostRoute); ok {
				req.HostRoutes = r
			}
			if e := validateCIDR(req.CIDR, req.IPVersion); e != nil {
				return req, e
			}
			return req, nil
		}, b.CreateSubnets, mk),
		update: func(ctx context.Context, id string, a map[string]any, ifRev int64) (*entity, error) {
			req := neutron.SubnetUpdate{
				Name:        aStrP(a, "name"),
				Description: aStrP(a, "description"),
				GatewayIP:   aStrP(a, "gateway_ip"),
				EnableDHCP:  aBoolP(a, "enable_dhcp"),
				IfRevision:  ifRev,
			}
			if _, ok := a["gateway_ip"]; ok && req.GatewayIP == nil {
				empty := ""
				req.GatewayIP = &empty
			}
			if p, ok := a["allocation_pools"].([]neutron.AllocationPool); ok {
				req.AllocationPools = &p
			}
			if d, ok := aStrs(a, "dns_nameservers"); ok {
				req.DNSNameservers = &d
			}
			if r, ok := a["host_routes"].([]neutron.HostRoute); ok {
				req.HostRoutes = &r
			}
			return one(b.UpdateSubnet(ctx, id, req))
		},
		delete: b.DeleteSubnet,
	}
}

func portKind(b Backend, o attrOptions) *kind {
	mk := func(p *neutron.Port) *entity { return portEntity(p, o) }
	one := entityOf(mk)
	return &kind{
		res:  portResource(o),
		get:  func(ctx context.Context, id string) (*entity, error) { return one(b.GetPort(ctx, id)) },
		list: listOf(b.ListPorts, mk),
		create: createWith(func(a map[string]any, project string) (neutron.PortCreate, error) {
			req := neutron.PortCreate{
				ProjectID:           project,
				AdminStateUp:        aBoolP(a, "admin_state_up"),
				PortSecurityEnabled: aBoolP(a, "port_security_enabled"),
			}
			req.NetworkID, _ = aStr(a, "network_id")
			req.Name, _ = aStr(a, "name")
			req.Description, _ = aStr(a, "description")
			req.MACAddress, _ = aStr(a, "mac_address")
			req.DeviceID, _ = aStr(a, "device_id")
			req.DeviceOwner, _ = aStr(a, "device_owner")
			req.HostID, _ = aStr(a, "binding:host_id")
			req.VNICType, _ = aStr(a, "binding:vnic_type")
			if f, ok := a["fixed_ips"].([]neutron.FixedIPRequest); ok {
				req.FixedIPs = f
			}
			if p, ok := a["allowed_address_pairs"].([]neutron.AddressPair); ok {
				req.AllowedAddressPairs = p
			}
			req.SecurityGroups, _ = aStrs(a, "security_groups")
			if p, ok := a["binding:profile"].(json.RawMessage); ok {
				req.Profile = p
			}
			req.Tags, _ = aStrs(a, "tags")
			return req, nil
		}, b.CreatePorts, mk),
		update: func(ctx context.Context, id string, a map[string]any, ifRev int64) (*entity, error) {
			req := neutron.PortUpdate{
				Name:                aStrP(a, "name"),
				Description:         aStrP(a, "description"),
				MACAddress:          aStrP(a, "mac_address"),
				DeviceID:            aStrP(a, "device_id"),
				DeviceOwner:         aStrP(a, "device_owner"),
				AdminStateUp:        aBoolP(a, "admin_state_up"),
				PortSecurityEnabled: aBoolP(a, "port_security_enabled"),
				HostID:              aStrP(a, "binding:host_id"),
				VNICType:            aStrP(a, "binding:vnic_type"),
				IfRevision:          ifRev,
			}
			if f, ok := a["fixed_ips"].([]neutron.FixedIPRequest); ok {
				req.FixedIPs = &f
			}
			if p, ok := a["allowed_address_pairs"].([]neutron.AddressPair); ok {
				req.AllowedAddressPairs = &p
			}
			if s, ok := aStrs(a, "security_groups"); ok {
				req.SecurityGroups = &s
			}
			if p, ok := a["binding:profile"].(json.RawMessage); ok {
				req.Profile = &p
			}
			return one(b.UpdatePort(ctx, id, req))
		},
		delete: b.DeletePort,
	}
}

func agentKind(b Backend) *kind {
	one := entityOf(agentEntity)
	return &kind{
		res:       agentResource(),
		adminOnly: true,
		get:       func(ctx context.Context, id string) (*entity, error) { return one(b.GetAgent(ctx, id)) },
		list:      listOf(b.ListAgents, agentEntity),
		update: func(ctx context.Context, id string, a map[string]any, _ int64) (*entity, error) {
			req := neutron.AgentUpdate{AdminStateUp: aBoolP(a, "admin_state_up"), Description: aStrP(a, "description")}
			if _, ok := a["description"]; ok && req.Description == nil {
				empty := ""
				req.Description = &empty
			}
			return one(b.UpdateAgent(ctx, id, req))
		},
		delete: b.DeleteAgent,
	}
}
