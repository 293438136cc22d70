package ml2

import (
	"context"
	"encoding/json"
	"net/netip"
	"strings"

	"neutrino/internal/ipam"
	"neutrino/internal/neutron"
	"neutrino/internal/store"
)

// subnetInfo is a subnet with its parsed prefix.
type subnetInfo struct {
	s      neutron.Subnet
	prefix netip.Prefix
}

func isRouterOwner(owner string) bool { return strings.HasPrefix(owner, "network:router_") }

// allocateIPs turns the requested fixed IPs into addresses, checking them
// as Neutron does. reqs nil = automatic (one IPv4 and one stateful IPv6
// address, plus a SLAAC address per SLAAC subnet). Addresses in own are
// already held by this port (port update).
func (p *Plugin) allocateIPs(ctx context.Context, t *store.Tx, netID string, reqs []neutron.FixedIPRequest, auto bool,
	mac, owner, portID string, own map[string]bool, reserved *picks) ([]neutron.FixedIP, error) {
	subs, err := t.NetworkSubnets(ctx, netID)
	if err != nil {
		return nil, err
	}
	infos := make([]subnetInfo, 0, len(subs))
	for _, s := range subs {
		pf, err := netip.ParsePrefix(s.CIDR)
		if err != nil {
			continue
		}
		infos = append(infos, subnetInfo{s, pf})
	}
	chosen := map[netip.Addr]bool{}
	var out []neutron.FixedIP
	rng := p.rand()

	pick := func(si subnetInfo) (netip.Addr, bool, error) {
		if si.prefix.Addr().Is6() && ipam.IsSLAAC(si.s.IPv6AddressMode) {
			a, err := ipam.EUI64(si.prefix, mac)
			return a, err == nil, err
		}
		pools := ipam.ParsePools(si.s.AllocationPools)
		if ipam.PoolSize(pools) > ipam.LargePool {
			// Probe random addresses instead of reading every allocation.
			skip := map[netip.Addr]bool{}
			for a := range chosen {
				skip[a] = true
			}
			if gw, err := netip.ParseAddr(si.s.GatewayIP); err == nil {
				skip[gw] = true
			}
			for round := 0; round < 4; round++ {
				cands := ipam.RandomCandidates(pools, 16, skip, rng)
				strs := make([]string, len(cands))
				for i, c := range cands {
					strs[i] = c.String()
				}
				taken, err := t.AllocatedAmong(ctx, netID, strs)
				if err != nil {
					return netip.Addr{}, false, err
				}
				for _, c := range cands {
					if !taken[c.String()] && !p.isInflight(netID, c) {
						p.reserveInflight(netID, c)
						reserved.ips = append(reserved.ips, c)
						return c, true, nil
					}
					skip[c] = true
				}
			}
			// Nearly full: fall back to reading the allocations.
		}
		allocs, err := t.SubnetAllocations(ctx, si.s.ID)
		if err != nil {
			return netip.Addr{}, false, err
		}
		used := make(map[netip.Addr]bool, len(allocs)+len(chosen)+1)
		for ip := range allocs {
			if a, err := netip.ParseAddr(ip); err == nil {
				used[a] = true
			}
		}
		for a := range chosen {
			used[a] = true
		}
		if gw, err := netip.ParseAddr(si.s.GatewayIP); err == nil {
			used[gw] = true
		}
		// Skip what other requests of this server are allocating right
		// now, unless nothing else is left.
		busy := make(map[netip.Addr]bool, len(used))
		for a := range used {
			busy[a] = true
		}
		for tries := 0; tries < 64; tries++ {
			a, ok := ipam.PickFree(pools, busy, rng)
			if !ok {
				break
			}
			if !p.isInflight(netID, a) {
				p.reserveInflight(netID, a)
				reserved.ips = append(reserved.ips, a)
				return a, true, nil
			}
			busy[a] = true
		}
		a, ok := ipam.PickFree(pools, used, rng)
		return a, ok, nil
	}

	if auto {
		for _, want := range []string{"v4", "v6"} {
			tried := false
			for _, si := range infos {
				is6 := si.prefix.Addr().Is6()
				if (want == "v4") == is6 || is6 && ipam.IsSLAAC(si.s.IPv6AddressMode) {
					continue
				}
				tried = true
				a, ok, err := pick(si)
				if err != nil {
					return nil, err
				}
				if ok {
					chosen[a] = true
					out = append(out, neutron.FixedIP{SubnetID: si.s.ID, IPAddress: a.String()})
					tried = false
					break
				}
			}
			if tried {
				return nil, neutron.Conflict("IpAddressGenerationFailure", "No more IP addresses available on network %s.", netID)
			}
		}
		for _, si := range infos {
			if si.prefix.Addr().Is6() && ipam.IsSLAAC(si.s.IPv6AddressMode) {
				a, ok, err := pick(si)
				if err != nil {
					return nil, err
				}
				if ok {
					out = append(out, neutron.FixedIP{SubnetID: si.s.ID, IPAddress: a.String()})
				}
			}
		}
		store.SortFixedIPs(out)
		return nonNilFixed(out), nil
	}

	for _, r := range reqs {
		var si *subnetInfo
		if r.SubnetID != "" {
			for i := range infos {
				if infos[i].s.ID == r.SubnetID {
					si = &infos[i]
				}
			}
			if si == nil {
				return nil, neutron.InvalidInput("Failed to create port on network %s, because fixed_ips included invalid subnet %s", netID, r.SubnetID)
			}
		}
		if r.IPAddress == "" {
			if si == nil {
				return nil, neutron.InvalidInput("IP allocation requires subnet_id or ip_address")
			}
			a, ok, err := pick(*si)
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, neutron.Conflict("IpAddressGenerationFailure", "No more IP addresses available for subnet %s.", si.s.ID)
			}
			chosen[a] = true
			out = append(out, neutron.FixedIP{SubnetID: si.s.ID, IPAddress: a.String()})
			continue
		}
		a, err := netip.ParseAddr(r.IPAddress)
		if err != nil {
			return nil, neutron.InvalidInput("'%s' is not a valid IP address.", r.IPAddress)
		}
		if si == nil {
			for i := range infos {
				if infos[i].prefix.Contains(a) {
					si = &infos[i]
					break
				}
			}
			if si == nil {
				return nil, neutron.Errorf(400, "InvalidIpForNetwork", "IP address %s is not a valid IP for any of the subnets on the specified network.", a)
			}
		}
		if !ipam.ValidHost(si.prefix, a) {
			if r.SubnetID == "" {
				return nil, neutron.Errorf(400, "InvalidIpForNetwork", "IP address %s is not a valid IP for any of the subnets on the specified network.", a)
			}
			return nil, neutron.Errorf(400, "InvalidIpForSubnet", "IP address %s is not a valid IP for the specified subnet.", a)
		}
		inUse := func() error {
			return neutron.Conflict("IpAddressAlreadyAllocated", "IP address %s already allocated in subnet %s", a, si.s.ID)
		}
		if chosen[a] || (si.s.GatewayIP == a.String() && !isRouterOwner(owner)) {
			return nil, inUse()
		}
		holder, err := t.IPAllocated(ctx, netID, a.String())
		if err != nil {
			return nil, err
		}
		if holder != "" && holder != portID {
			return nil, inUse()
		}
		chosen[a] = true
		out = append(out, neutron.FixedIP{SubnetID: si.s.ID, IPAddress: a.String()})
	}
	store.SortFixedIPs(out)
	return nonNilFixed(out), nil
}

// bind sets the port's binding:vif_type/vif_details for its host: the
// first mechanism driver with an alive agent of its type on the host that
// handles one of the network's segments.
func (p *Plugin) bind(ctx context.Context, t *store.Tx, pt *neutron.Port, segs []neutron.Segment) error {
	if pt.HostID == "" {
		pt.VIFType, pt.VIFDetails = neutron.VIFUnbound, json.RawMessage("{}")
		return nil
	}
	now := p.now()
	for _, mech := range p.mechs {
		a, err := t.FindAgent(ctx, mechAgentType[mech], pt.HostID)
		if err != nil {
			return err
		}
		if a == nil {
			continue
		}
		if !p.alive(a, now) {
			p.log.Warn("refusing to bind port to dead agent", "port", pt.ID, "host", pt.HostID, "agent", a.ID)
			continue
		}
		if vt, det, ok := bindWith(mech, a.Configurations, segs, pt.VNICType); ok {
			pt.VIFType, pt.VIFDetails = vt, det
			return nil
		}
	}
	pt.VIFType, pt.VIFDetails = neutron.VIFBindingFailed, json.RawMessage("{}")
	return nil
}

func (p *Plugin) checkMAC(ctx context.Context, t *store.Tx, netID, mac string) (string, error) {
	m, err := ipam.ParseMAC(mac)
	if err != nil {
		return "", err
	}
	used, err := t.MACInUse(ctx, netID, m)
	if err != nil {
		return "", err
	}
	if used {
		return "", neutron.Conflict("MacAddressInUse", "Unable to complete operation for network %s. The mac address %s is in use.", netID, m)
	}
	return m, nil
}

func (p *Plugin) securityGroups(ctx context.Context, t *store.Tx, project, owner string, portSecurity bool, want []string) ([]string, error) {
	if want == nil {
		if !portSecurity || strings.HasPrefix(owner, "network:") {
			return []string{}, nil
		}
		id, err := t.DefaultSecurityGroup(ctx, project)
		if err != nil {
			return nil, err
		}
		return []string{id}, nil
	}
	out := sortedUnique(want)
	for _, id := range out {
		ok, err := t.SecurityGroupExists(ctx, id)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, neutron.Errorf(404, "SecurityGroupNotFound", "Security group %s does not exist", id)
		}
	}
	if len(out) > 0 && !portSecurity {
		return nil, neutron.Errorf(400, "PortSecurityAndIPRequiredForSecurityGroups", "Port security must be enabled and port must have an IP address in order to use security groups.")
	}
	return out, nil
}

// CreatePort allocates MAC and fixed IPs, binds the port if a host is set
// and stores it, all in one transaction.
func (p *Plugin) CreatePort(ctx context.Context, req neutron.PortCreate) (*neutron.Port, error) {
	var out *neutron.Port
	reserved := &picks{netID: req.NetworkID}
	defer func() { p.releaseInflight(reserved.netID, reserved.ips) }()
	_, err := p.st.Write(ctx, func(t *store.Tx) error {
		// Only ID, project, port security and segments are needed: one
		// query instead of the full network with subnets and tags.
		n, err := t.PortNetwork(ctx, req.NetworkID)
		if err != nil {
			return err
		}
		pt := &neutron.Port{
			Standard: neutron.Standard{ID: store.NewID(), Name: req.Name, Description: req.Description, ProjectID: req.ProjectID,
				Tags: sortedUnique(req.Tags), CreatedAt: t.Now(), UpdatedAt: t.Now(), RevisionNumber: 1},
			NetworkID: n.ID, DeviceID: req.DeviceID, DeviceOwner: req.DeviceOwner, Status: neutron.StatusDown,
			AdminStateUp:        deref(req.AdminStateUp, true),
			AllowedAddressPairs: req.AllowedAddressPairs,
			PortSecurityEnabled: deref(req.PortSecurityEnabled, n.PortSecurityEnabled),
		}
		if pt.ProjectID == "" {
			pt.ProjectID = n.ProjectID
		}
		if pt.AllowedAddressPairs == nil {
			pt.AllowedAddressPairs = []neutron.AddressPair{}
		}
		pt.HostID, pt.VNICType, pt.Profile = req.HostID, req.VNICType, req.Profile
		if pt.VNICType == "" {
			pt.VNICType = "normal"
		}
		if len(pt.Profile) == 0 || string(pt.Profile) == "null" {
			pt.Profile = json.RawMessage("{}")
		}
		if req.MACAddress != "" {
			if pt.MACAddress, err = p.checkMAC(ctx, t, n.ID, req.MACAddress); err != nil {
				return err
			}
		} else {
			// A generated duplicate (1 in 2^24 per port) fails the
			// unique index and the whole transaction is retried.
			if pt.MACAddress, err = p.randMAC(); err != nil {
				return err
			}
		}
		if pt.FixedIPs, err = p.allocateIPs(ctx, t, n.ID, req.FixedIPs, req.FixedIPs == nil, pt.MACAddress, pt.DeviceOwner, pt.ID, nil, reserved); err != nil {
			return err
		}
		if pt.SecurityGroups, err = p.securityGroups(ctx, t, pt.ProjectID, pt.DeviceOwner, pt.PortSecurityEnabled, req.SecurityGroups); err != nil {
			return err
		}
		if err := p.bind(ctx, t, pt, n.Segments); err != nil {
			return err
		}
		if err := t.InsertPort(ctx, pt); err != nil {
			return err
		}
		t.Emit(neutron.Created(pt))
		resp := *pt
		if pt.VIFType == neutron.VIFBindingFailed {
			// Neutron retries a failed binding after the port is created
			// and commits the (again failed) result: the port's revision
			// becomes 2 while the create response still shows 1
			// (recorded in conformance 56/57 and 59/63).
			prev := pt.RevisionNumber
			pt.RevisionNumber++
			if err := t.UpdatePort(ctx, pt, prev); err != nil {
				return err
			}
			t.Emit(neutron.Updated(pt))
		}
		out = &resp
		return nil
	})
	return out, err
}

// GetPort reads a port.
func (p *Plugin) GetPort(ctx context.Context, id string) (*neutron.Port, error) {
	return p.st.GetPort(ctx, id)
}

// ListPorts lists ports.
func (p *Plugin) ListPorts(ctx context.Context, q neutron.ListQuery) ([]neutron.Port, error) {
	return p.st.ListPorts(ctx, q)
}

// UpdatePort changes a port; a new host (or vnic type/profile) re-binds it.
func (p *Plugin) UpdatePort(ctx context.Context, id string, req neutron.PortUpdate) (*neutron.Port, error) {
	var out *neutron.Port
	reserved := &picks{}
	defer func() { p.releaseInflight(reserved.netID, reserved.ips) }()
	_, err := p.st.Write(ctx, func(t *store.Tx) error {
		pt, err := t.GetPort(ctx, id)
		if err != nil {
			return err
		}
		if err := checkRevision("port", id, req.IfRevision, pt.RevisionNumber); err != nil {
			return err
		}
		prev := pt.RevisionNumber
		oldIPs := pt.FixedIPs
		reserved.netID = pt.NetworkID
		if req.Name != nil {
			pt.Name = *req.Name
		}
		if req.Description != nil {
			pt.Description = *req.Description
		}
		if req.DeviceID != nil {
			pt.DeviceID = *req.DeviceID
		}
		if req.DeviceOwner != nil {
			pt.DeviceOwner = *req.DeviceOwner
		}
		if req.AdminStateUp != nil {
			pt.AdminStateUp = *req.AdminStateUp
		}
		if req.AllowedAddressPairs != nil {
			pt.AllowedAddressPairs = *req.AllowedAddressPairs
			if pt.AllowedAddressPairs == nil {
				pt.AllowedAddressPairs = []neutron.AddressPair{}
			}
		}
		if req.PortSecurityEnabled != nil {
			pt.PortSecurityEnabled = *req.PortSecurityEnabled
		}
		if req.MACAddress != nil {
			m, err := ipam.ParseMAC(*req.MACAddress)
			if err != nil {
				return err
			}
			if m != pt.MACAddress {
				if pt.VIFType != neutron.VIFUnbound && pt.VIFType != neutron.VIFBindingFailed {
					return neutron.Conflict("PortBound", "Unable to complete operation on port %s, port is already bound, port type: %s, old_mac %s, new_mac %s.",
						pt.ID, pt.VIFType, pt.MACAddress, m)
				}
				if _, err := p.checkMAC(ctx, t, pt.NetworkID, m); err != nil {
					return err
				}
				pt.MACAddress = m
			}
		}
		if req.FixedIPs != nil {
			own := map[string]bool{}
			for _, f := range oldIPs {
				own[f.IPAddress] = true
			}
			if pt.FixedIPs, err = p.allocateIPs(ctx, t, pt.NetworkID, *req.FixedIPs, false, pt.MACAddress, pt.DeviceOwner, pt.ID, own, reserved); err != nil {
				return err
			}
			if err := t.SetPortIPs(ctx, pt.NetworkID, pt.ID, oldIPs, pt.FixedIPs); err != nil {
				return err
			}
		}
		if req.SecurityGroups != nil {
			if pt.SecurityGroups, err = p.securityGroups(ctx, t, pt.ProjectID, pt.DeviceOwner, pt.PortSecurityEnabled, *req.SecurityGroups); err != nil {
				return err
			}
		} else if req.PortSecurityEnabled != nil && !pt.PortSecurityEnabled && len(pt.SecurityGroups) > 0 {
			return neutron.Errorf(409, "PortSecurityPortHasSecurityGroup", "Port has security group associated. Cannot disable port security or IP address until security group is removed")
		}
		rebind := false
		if req.HostID != nil && *req.HostID != pt.HostID {
			pt.HostID, rebind = *req.HostID, true
		}
		if req.VNICType != nil && *req.VNICType != pt.VNICType {
			pt.VNICType, rebind = *req.VNICType, true
		}
		if req.Profile != nil {
			pt.Profile = *req.Profile
			if len(pt.Profile) == 0 || string(pt.Profile) == "null" {
				pt.Profile = json.RawMessage("{}")
			}
			rebind = true
		}
		if rebind || req.HostID != nil && pt.VIFType == neutron.VIFBindingFailed {
			n, err := t.GetNetwork(ctx, pt.NetworkID)
			if err != nil {
				return err
			}
			if err := p.bind(ctx, t, pt, n.Segments); err != nil {
				return err
			}
			pt.Status = neutron.StatusDown
		}
		if err := savePort(ctx, t, pt, prev); err != nil {
			return err
		}
		out = pt
		return nil
	})
	return out, err
}

// savePort writes pt as the revision after prev (ErrRetry if prev is no
// longer current) and records the update in the change log.
func savePort(ctx context.Context, t *store.Tx, pt *neutron.Port, prev int64) error {
	pt.RevisionNumber++
	pt.UpdatedAt = t.Now()
	if err := t.UpdatePort(ctx, pt, prev); err != nil {
		return err
	}
	t.Emit(neutron.Updated(pt))
	return nil
}

// DeletePort deletes a port and releases its addresses.
func (p *Plugin) DeletePort(ctx context.Context, id string) error {
	_, err := p.st.Write(ctx, func(t *store.Tx) error {
		if err := t.DeletePort(ctx, id); err != nil {
			return err
		}
		t.Emit(neutron.Deleted(neutron.KindPort, id))
		return nil
	})
	return err
}

// UpdateDevice records an agent's report that a port's device is up
// (ACTIVE) or down (DOWN). The port must be bound to host.
func (p *Plugin) UpdateDevice(ctx context.Context, host, portID string, up bool) (*neutron.Port, error) {
	var out *neutron.Port
	_, err := p.st.Write(ctx, func(t *store.Tx) error {
		pt, err := t.GetPort(ctx, portID)
		if err != nil {
			return err
		}
		if pt.HostID != host {
			return neutron.Conflict("PortNotBoundToHost", "Port %s is bound to host %q, not %q.", portID, pt.HostID, host)
		}
		status := neutron.StatusDown
		details := pt.VIFDetails
		if up {
			status = neutron.StatusActive
			details = withBoundDrivers(details, pt.VIFType)
		}
		if status == pt.Status && string(details) == string(pt.VIFDetails) {
			out = pt
			return nil
		}
		prev := pt.RevisionNumber
		if up && pt.Status == neutron.StatusDown {
			// Neutron passes through BUILD (when the agent fetches the
			// device details) before ACTIVE: two revisions, as the
			// recorded port shows (conformance agents/92: 1 -> 3).
			pt.RevisionNumber++
		}
		pt.Status, pt.VIFDetails = status, details
		if err := savePort(ctx, t, pt, prev); err != nil {
			return err
		}
		out = pt
		return nil
	})
	return out, err
}
