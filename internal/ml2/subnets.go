package ml2

import (
	"context"
	"net/netip"
	"strings"

	"neutrino/internal/ipam"
	"neutrino/internal/neutron"
	"neutrino/internal/store"
)

// bumpNetwork raises a network's revision (its subnets list changed) and
// emits its new state.
func bumpNetwork(ctx context.Context, t *store.Tx, id string) error {
	n, err := t.GetNetwork(ctx, id)
	if err != nil {
		return err
	}
	prev := n.RevisionNumber
	n.RevisionNumber++
	n.UpdatedAt = t.Now()
	if err := t.UpdateNetwork(ctx, n, prev); err != nil {
		return err
	}
	t.Emit(neutron.Updated(n))
	return nil
}

// CreateSubnet validates the CIDR, gateway and pools and stores the subnet.
func (p *Plugin) CreateSubnet(ctx context.Context, req neutron.SubnetCreate) (*neutron.Subnet, error) {
	return one(p.CreateSubnets(ctx, []neutron.SubnetCreate{req}))
}

// CreateSubnets creates every subnet of reqs in one transaction (bulk
// create): all of them, in order, or none and the first failure's error.
// A later subnet's overlap check sees the earlier ones.
func (p *Plugin) CreateSubnets(ctx context.Context, reqs []neutron.SubnetCreate) ([]*neutron.Subnet, error) {
	ips := p.ipam.Begin() // DHCP ports the subnets schedule
	defer ips.Release()
	return createAll(ctx, p, reqs, func(ctx context.Context, t *store.Tx, req neutron.SubnetCreate) (*neutron.Subnet, error) {
		return p.createSubnet(ctx, t, ips, req)
	})
}

func (p *Plugin) createSubnet(ctx context.Context, t *store.Tx, ips *ipam.Allocation, req neutron.SubnetCreate) (*neutron.Subnet, error) {
	if err := checkPoolRequest(req); err != nil {
		return nil, err
	}
	version := req.IPVersion
	if version == 0 {
		version = 4
		if strings.Contains(req.CIDR, ":") {
			version = 6
		}
	}
	fromPool := req.SubnetPoolID != "" || req.UseDefaultPool
	var prefix netip.Prefix
	if !fromPool {
		var err error
		if prefix, err = ipam.ParseCIDR(req.CIDR, version); err != nil {
			return nil, err
		}
		if err := validateNewSubnet(prefix, version, req); err != nil {
			return nil, err
		}
	}
	// Subnet creates on one network run one at a time from here to
	// commit, so the overlap check below sees every committed subnet.
	if err := t.LockNetwork(ctx, req.NetworkID); err != nil {
		return nil, err
	}
	var poolID string
	if fromPool {
		// The pool's row is locked from here to commit: no other subnet
		// takes a prefix from it meanwhile.
		pool, err := subnetPoolOf(ctx, t, req)
		if err != nil {
			return nil, err
		}
		if prefix, err = allocateFromPool(ctx, t, pool, req); err != nil {
			return nil, err
		}
		version, poolID = pool.IPVersion, pool.ID
		if err := validateNewSubnet(prefix, version, req); err != nil {
			return nil, err
		}
	}
	dhcp := deref(req.EnableDHCP, true)
	n, err := t.GetNetwork(ctx, req.NetworkID)
	if err != nil {
		return nil, err
	}
	others, err := t.ListSubnets(ctx, neutron.ListQuery{Filters: map[string][]string{"network_id": {n.ID}}})
	if err != nil {
		return nil, err
	}
	for _, o := range others {
		op, err := netip.ParsePrefix(o.CIDR)
		if err == nil && ipam.Overlaps(op, prefix) {
			return nil, neutron.InvalidInput("Requested subnet with cidr: %s for network: %s overlaps with another subnet.", prefix, n.ID)
		}
	}
	if err := checkPoolAffinity(others, version, poolID); err != nil {
		return nil, err
	}
	gw, pools, err := gatewayAndPools(prefix, req)
	if err != nil {
		return nil, err
	}
	s := &neutron.Subnet{
		Standard: neutron.Standard{ID: store.NewID(), Name: req.Name, Description: req.Description, ProjectID: req.ProjectID,
			Tags: []string{}, CreatedAt: t.Now(), UpdatedAt: t.Now()},
		NetworkID: n.ID, IPVersion: version, CIDR: prefix.String(), AllocationPools: pools, SubnetPoolID: poolID,
		EnableDHCP: dhcp, DNSNameservers: nonNilStrings(req.DNSNameservers),
		HostRoutes: req.HostRoutes, IPv6RAMode: req.IPv6RAMode, IPv6AddressMode: req.IPv6AddressMode,
	}
	if s.ProjectID == "" {
		s.ProjectID = n.ProjectID
	}
	if s.HostRoutes == nil {
		s.HostRoutes = []neutron.HostRoute{}
	}
	if gw.IsValid() {
		s.GatewayIP = gw.String()
	}
	if err := t.InsertSubnet(ctx, s); err != nil {
		return nil, err
	}
	t.Emit(neutron.Created(s))
	t.Charge("subnet", s.ProjectID)
	// The network row is updated too: its subnets list changed.
	if err := bumpNetwork(ctx, t, n.ID); err != nil {
		return nil, err
	}
	if s.EnableDHCP {
		if err := p.scheduleNetworkDHCP(ctx, t, ips, n.ID); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// validateNewSubnet makes Neutron's checks of a new subnet's prefix and
// options (DHCP, IPv6 modes, DNS servers and host routes).
func validateNewSubnet(prefix netip.Prefix, version int, req neutron.SubnetCreate) error {
	if deref(req.EnableDHCP, true) {
		if err := ipam.ValidateDHCP(prefix); err != nil {
			return err
		}
	}
	if err := ipam.ValidateIPv6Modes(prefix, req.IPv6RAMode, req.IPv6AddressMode, deref(req.EnableDHCP, true)); err != nil {
		return err
	}
	return ipam.ValidateSubnetOptions(version, "", req.DNSNameservers, req.HostRoutes)
}

// gatewayAndPools is a new subnet's gateway (the first address unless the
// request names one or none) and allocation pools (the rest of the
// prefix unless the request lists them).
func gatewayAndPools(prefix netip.Prefix, req neutron.SubnetCreate) (netip.Addr, []neutron.AllocationPool, error) {
	var gw netip.Addr
	switch {
	case req.GatewayIP == nil:
		gw = ipam.DefaultGateway(prefix)
	case *req.GatewayIP == "":
	default:
		var err error
		if gw, err = ipam.ValidateGateway(prefix, *req.GatewayIP); err != nil {
			return gw, nil, err
		}
	}
	if req.AllocationPools == nil {
		return gw, ipam.DefaultPools(prefix, gw), nil
	}
	rs, err := ipam.ValidatePools(prefix, req.AllocationPools, gw)
	if err != nil {
		return gw, nil, err
	}
	return gw, ipam.Pools(rs), nil
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// GetSubnet reads a subnet.
func (p *Plugin) GetSubnet(ctx context.Context, id string) (*neutron.Subnet, error) {
	return p.st.GetSubnet(ctx, id)
}

// ListSubnets lists subnets.
func (p *Plugin) ListSubnets(ctx context.Context, q neutron.ListQuery) ([]neutron.Subnet, error) {
	return p.st.ListSubnets(ctx, q)
}

// UpdateSubnet changes a subnet's mutable attributes.
func (p *Plugin) UpdateSubnet(ctx context.Context, id string, req neutron.SubnetUpdate) (*neutron.Subnet, error) {
	var out *neutron.Subnet
	ips := p.ipam.Begin()
	defer ips.Release()
	_, err := p.st.Write(ctx, func(t *store.Tx) error {
		s, err := t.GetSubnet(ctx, id)
		if err != nil {
			return err
		}
		if err := checkRevision("subnet", id, req.IfRevision, s.RevisionNumber); err != nil {
			return err
		}
		dhcpWas := s.EnableDHCP
		prefix, err := netip.ParsePrefix(s.CIDR)
		if err != nil {
			return err
		}
		prev := s.RevisionNumber
		if req.Name != nil {
			s.Name = *req.Name
		}
		if req.Description != nil {
			s.Description = *req.Description
		}
		if req.EnableDHCP != nil {
			if err := ipam.ValidateDHCPUpdate(prefix, s.EnableDHCP, *req.EnableDHCP, s.IPv6RAMode, s.IPv6AddressMode); err != nil {
				return err
			}
			s.EnableDHCP = *req.EnableDHCP
		}
		if err := setSubnetOptions(s, req); err != nil {
			return err
		}
		var gw netip.Addr
		if s.GatewayIP != "" {
			gw, _ = netip.ParseAddr(s.GatewayIP)
		}
		if req.GatewayIP != nil {
			gw = netip.Addr{}
			if *req.GatewayIP != "" {
				if gw, err = ipam.ValidateGateway(prefix, *req.GatewayIP); err != nil {
					return err
				}
			}
			s.GatewayIP = ""
			if gw.IsValid() {
				s.GatewayIP = gw.String()
			}
		}
		pools := s.AllocationPools
		if req.AllocationPools != nil {
			pools = *req.AllocationPools
		}
		if req.AllocationPools != nil || req.GatewayIP != nil {
			rs, err := ipam.ValidatePools(prefix, pools, gw)
			if err != nil {
				return err
			}
			s.AllocationPools = ipam.Pools(rs)
		}
		s.RevisionNumber++
		s.UpdatedAt = t.Now()
		if err := t.UpdateSubnet(ctx, s, prev); err != nil {
			return err
		}
		t.Emit(neutron.Updated(s))
		if s.EnableDHCP != dhcpWas {
			if err := p.scheduleNetworkDHCP(ctx, t, ips, s.NetworkID); err != nil {
				return err
			}
		}
		out = s
		return nil
	})
	return out, err
}

// setSubnetOptions applies an update's dns_nameservers and host_routes
// after checking them.
func setSubnetOptions(s *neutron.Subnet, req neutron.SubnetUpdate) error {
	if req.DNSNameservers == nil && req.HostRoutes == nil {
		return nil
	}
	var dns []string
	var routes []neutron.HostRoute
	if req.DNSNameservers != nil {
		dns = *req.DNSNameservers
	}
	if req.HostRoutes != nil {
		routes = *req.HostRoutes
	}
	if err := ipam.ValidateSubnetOptions(s.IPVersion, s.ID, dns, routes); err != nil {
		return err
	}
	if req.DNSNameservers != nil {
		s.DNSNameservers = nonNilStrings(*req.DNSNameservers)
	}
	if req.HostRoutes != nil {
		s.HostRoutes = *req.HostRoutes
		if s.HostRoutes == nil {
			s.HostRoutes = []neutron.HostRoute{}
		}
	}
	return nil
}

// DeleteSubnet deletes a subnet; IPs held by ports other than DHCP ports
// make it 409 SubnetInUse (DHCP ports just lose their address).
func (p *Plugin) DeleteSubnet(ctx context.Context, id string) error {
	ips := p.ipam.Begin()
	defer ips.Release()
	_, err := p.st.Write(ctx, func(t *store.Tx) error {
		s, err := t.GetSubnet(ctx, id)
		if err != nil {
			return err
		}
		allocs, err := t.SubnetAllocations(ctx, id)
		if err != nil {
			return err
		}
		portIDs := map[string]bool{}
		for _, pid := range allocs {
			portIDs[pid] = true
		}
		for pid := range portIDs {
			pt, err := t.GetPort(ctx, pid)
			if err != nil {
				return err
			}
			if !autoDeletable(s, pt.DeviceOwner) {
				return neutron.Conflict("SubnetInUse", "Unable to complete operation on subnet %s: One or more ports have an IP allocation from this subnet.", id)
			}
			var keep []neutron.FixedIP
			for _, f := range pt.FixedIPs {
				if f.SubnetID != id {
					keep = append(keep, f)
				}
			}
			if err := t.SetPortIPs(ctx, pt.NetworkID, pt.ID, pt.FixedIPs, keep); err != nil {
				return err
			}
			prev := pt.RevisionNumber
			pt.FixedIPs = nonNilFixed(keep)
			pt.RevisionNumber++
			pt.UpdatedAt = t.Now()
			if err := t.UpdatePort(ctx, pt, prev); err != nil {
				return err
			}
			t.Emit(neutron.Updated(pt))
		}
		if err := t.DeleteSubnet(ctx, id); err != nil {
			return err
		}
		t.Emit(neutron.Deleted(neutron.KindSubnet, id))
		if err := bumpNetwork(ctx, t, s.NetworkID); err != nil {
			return err
		}
		if s.EnableDHCP {
			// The network's last DHCP subnet takes its agents and ports.
			return p.scheduleNetworkDHCP(ctx, t, ips, s.NetworkID)
		}
		return nil
	})
	return err
}

// autoDeletable reports whether deleting subnet s may take its address off
// a port of owner instead of refusing, as Neutron does: DHCP ports always;
// on an IPv6 auto-address subnet (SLAAC or DHCPv6-stateless, by either
// mode) every port but a router's, whose address the router needs.
func autoDeletable(s *neutron.Subnet, owner string) bool {
	if owner == neutron.DeviceOwnerDHCP {
		return true
	}
	auto := func(m string) bool { return m == "slaac" || m == "dhcpv6-stateless" }
	return (auto(s.IPv6AddressMode) || auto(s.IPv6RAMode)) && !strings.HasPrefix(owner, "network:router_")
}

func nonNilFixed(s []neutron.FixedIP) []neutron.FixedIP {
	if s == nil {
		return []neutron.FixedIP{}
	}
	return s
}
