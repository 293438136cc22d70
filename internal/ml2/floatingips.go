package ml2

import (
	"context"
	"net/netip"

	"neutrino/internal/ipam"
	"neutrino/internal/neutron"
	"neutrino/internal/store"
)

// Floating IPs as Neutron's L3_NAT_db: an address on an external network
// held by a network:floatingip port, associated with a fixed IP of a port
// behind a router that has a gateway on that network. The status is DOWN
// until the L3 agent reports it ACTIVE (UpdateFloatingIPStatuses).

// CreateFloatingIPs creates floating IPs (bulk: all or none).
func (p *Plugin) CreateFloatingIPs(ctx context.Context, reqs []neutron.FloatingIPCreate) ([]*neutron.FloatingIP, error) {
	ips := p.ipam.Begin()
	defer ips.Release()
	return createAll(ctx, p, reqs, func(ctx context.Context, t *store.Tx, req neutron.FloatingIPCreate) (*neutron.FloatingIP, error) {
		return p.createFloatingIP(ctx, t, ips, req)
	})
}

func (p *Plugin) createFloatingIP(ctx context.Context, t *store.Tx, ips *ipam.Allocation, req neutron.FloatingIPCreate) (*neutron.FloatingIP, error) {
	n, err := t.GetNetwork(ctx, req.FloatingNetworkID)
	if err != nil {
		return nil, err
	}
	if !n.External {
		return nil, fipBadRequest("Network %s is not a valid external network", n.ID)
	}
	f := &neutron.FloatingIP{
		Standard: neutron.Standard{ID: store.NewID(), Description: req.Description, ProjectID: req.ProjectID,
			Tags: sortedUnique(req.Tags), CreatedAt: t.Now(), UpdatedAt: t.Now(), RevisionNumber: 0},
		FloatingNetworkID: n.ID, Status: neutron.StatusDown,
	}
	var want []neutron.FixedIPRequest
	if req.SubnetID != "" || req.FloatingIPAddress != "" {
		want = []neutron.FixedIPRequest{{SubnetID: req.SubnetID, IPAddress: req.FloatingIPAddress}}
	} else {
		// One IPv4 address, from any IPv4 subnet of the network.
		for _, sid := range n.Subnets {
			s, err := t.GetSubnet(ctx, sid)
			if err != nil {
				return nil, err
			}
			if s.IPVersion == 4 {
				want = []neutron.FixedIPRequest{{SubnetID: s.ID}}
				break
			}
		}
		if want == nil {
			return nil, neutron.Errorf(400, "ExternalIpAddressExhausted", "Unable to find any IP address on external network %s.", n.ID)
		}
	}
	pt, err := p.createPort(ctx, t, ips, neutron.PortCreate{NetworkID: n.ID, DeviceID: f.ID, DeviceOwner: neutron.DeviceOwnerFloatingIP, FixedIPs: want})
	if err != nil {
		if e, ok := neutron.AsError(err); ok && e.Type == "IpAddressGenerationFailure" {
			return nil, neutron.Errorf(400, "ExternalIpAddressExhausted", "Unable to find any IP address on external network %s.", n.ID)
		}
		return nil, err
	}
	for _, ip := range pt.FixedIPs {
		if a, err := netip.ParseAddr(ip.IPAddress); err == nil && a.Is4() {
			f.FloatingIPAddress = ip.IPAddress
			break
		}
	}
	if f.FloatingIPAddress == "" {
		return nil, neutron.Errorf(400, "ExternalIpAddressExhausted", "Unable to find any IP address on external network %s.", n.ID)
	}
	f.FloatingPortID = pt.ID
	if req.PortID != "" {
		if err := associate(ctx, t, f, req.PortID, req.FixedIPAddress); err != nil {
			return nil, err
		}
	} else if req.FixedIPAddress != "" {
		return nil, fipBadRequest("fixed_ip_address cannot be specified without a port_id")
	}
	if err := t.InsertFloatingIP(ctx, f); err != nil {
		return nil, err
	}
	t.Charge("floatingip", f.ProjectID)
	t.Emit(neutron.Created(f))
	return f, nil
}

// associate points f at a fixed IP of port portID (fixedIP "" picks the
// port's only IPv4 address), through the router that connects that
// subnet to f's external network.
func associate(ctx context.Context, t *store.Tx, f *neutron.FloatingIP, portID, fixedIP string) error {
	pt, err := t.GetPort(ctx, portID)
	if err != nil {
		return err
	}
	var pick *neutron.FixedIP
	if fixedIP != "" {
		for i := range pt.FixedIPs {
			if pt.FixedIPs[i].IPAddress == fixedIP {
				pick = &pt.FixedIPs[i]
			}
		}
		if pick == nil {
			return fipBadRequest("Port %s does not have fixed ip %s", pt.ID, fixedIP)
		}
	} else {
		n := 0
		for i := range pt.FixedIPs {
			if a, err := netip.ParseAddr(pt.FixedIPs[i].IPAddress); err == nil && a.Is4() {
				pick = &pt.FixedIPs[i]
				n++
			}
		}
		if n == 0 {
			return fipBadRequest("Cannot add floating IP to port %s that has no fixed IPv4 addresses", pt.ID)
		}
		if n > 1 {
			return fipBadRequest("Port %s has multiple fixed IPv4 addresses.  Must provide a specific IPv4 address when assigning a floating IP", pt.ID)
		}
	}
	if a, err := netip.ParseAddr(pick.IPAddress); err != nil || !a.Is4() {
		return fipBadRequest("Cannot add floating IP to port %s with IPv6 address %s", pt.ID, pick.IPAddress)
	}
	routerID, err := routerForFloatingIP(ctx, t, f.FloatingNetworkID, pt, pick.SubnetID)
	if err != nil {
		return err
	}
	// The database's unique index says the same; checking first gives
	// the 409 (a racing association retries into this check).
	taken, err := t.FloatingIPsWhere(ctx, "fixed_port_id", pt.ID)
	if err != nil {
		return err
	}
	for _, o := range taken {
		if o.ID != f.ID && o.FloatingNetworkID == f.FloatingNetworkID && o.FixedIPAddress == pick.IPAddress {
			return neutron.Conflict("FloatingIPPortAlreadyAssociated",
				"Cannot associate floating IP %s (%s) with port %s using fixed IP %s, as that fixed IP already has a floating IP on external network %s.",
				f.FloatingIPAddress, f.ID, pt.ID, pick.IPAddress, f.FloatingNetworkID)
		}
	}
	f.PortID, f.FixedIPAddress, f.RouterID = pt.ID, pick.IPAddress, routerID
	f.PortDetails = &neutron.FloatingIPPortDetails{Name: pt.Name, NetworkID: pt.NetworkID, MACAddress: pt.MACAddress,
		AdminStateUp: pt.AdminStateUp, Status: pt.Status, DeviceID: pt.DeviceID, DeviceOwner: pt.DeviceOwner}
	return nil
}

// routerForFloatingIP finds the router with a gateway on the external
// network and an interface on subnetID (the first by id when several),
// else ExternalGatewayForFloatingIPNotFound.
func routerForFloatingIP(ctx context.Context, t *store.Tx, extNetID string, pt *neutron.Port, subnetID string) (string, error) {
	ports, err := t.ListPorts(ctx, neutron.ListQuery{Filters: map[string][]string{
		"network_id": {pt.NetworkID}, "device_owner": {neutron.DeviceOwnerRouterInterface}, "fixed_ips": {"subnet_id=" + subnetID}}})
	if err != nil {
		return "", err
	}
	best := ""
	for _, rp := range ports {
		if rp.DeviceID == "" || (best != "" && rp.DeviceID >= best) {
			continue
		}
		r, err := t.GetRouter(ctx, rp.DeviceID)
		if e, ok := neutron.AsError(err); ok && e.Status == 404 {
			continue
		}
		if err != nil {
			return "", err
		}
		if r.GatewayInfo != nil && r.GatewayInfo.NetworkID == extNetID {
			best = r.ID
		}
	}
	if best == "" {
		return "", neutron.Errorf(404, "ExternalGatewayForFloatingIPNotFound",
			"External network %s is not reachable from subnet %s.  Therefore, cannot associate Port %s with a Floating IP.", extNetID, subnetID, pt.ID)
	}
	return best, nil
}

// GetFloatingIP reads a floating IP.
func (p *Plugin) GetFloatingIP(ctx context.Context, id string) (*neutron.FloatingIP, error) {
	return p.st.GetFloatingIP(ctx, id)
}

// ListFloatingIPs lists floating IPs.
func (p *Plugin) ListFloatingIPs(ctx context.Context, q neutron.ListQuery) ([]neutron.FloatingIP, error) {
	return p.st.ListFloatingIPs(ctx, q)
}

// UpdateFloatingIP changes the description and (SetPort) associates or
// disassociates a floating IP.
func (p *Plugin) UpdateFloatingIP(ctx context.Context, id string, req neutron.FloatingIPUpdate) (*neutron.FloatingIP, error) {
	var out *neutron.FloatingIP
	_, err := p.st.Write(ctx, func(t *store.Tx) error {
		f, err := t.GetFloatingIP(ctx, id)
		if err != nil {
			return err
		}
		if err := checkRevision("floatingip", id, req.IfRevision, f.RevisionNumber); err != nil {
			return err
		}
		prev := f.RevisionNumber
		if req.Description != nil {
			f.Description = *req.Description
		}
		if req.SetPort {
			if req.PortID == "" {
				if req.FixedIPAddress != "" {
					return fipBadRequest("fixed_ip_address cannot be specified without a port_id")
				}
				f.PortID, f.FixedIPAddress, f.RouterID, f.PortDetails = "", "", "", nil
			} else if err := associate(ctx, t, f, req.PortID, req.FixedIPAddress); err != nil {
				return err
			}
		}
		if err := saveFloatingIP(ctx, t, f, prev); err != nil {
			return err
		}
		out = f
		return nil
	})
	return out, err
}

func saveFloatingIP(ctx context.Context, t *store.Tx, f *neutron.FloatingIP, prev int64) error {
	f.RevisionNumber = prev + 1
	f.UpdatedAt = t.Now()
	if err := t.UpdateFloatingIP(ctx, f, prev); err != nil {
		return err
	}
	t.Emit(neutron.Updated(f))
	return nil
}

// DeleteFloatingIP deletes a floating IP and its port.
func (p *Plugin) DeleteFloatingIP(ctx context.Context, id string) error {
	_, err := p.st.Write(ctx, func(t *store.Tx) error {
		f, err := t.GetFloatingIP(ctx, id)
		if err != nil {
			return err
		}
		if err := t.DeleteFloatingIP(ctx, id); err != nil {
			return err
		}
		t.Emit(neutron.Deleted(neutron.KindFloatingIP, id))
		return deletePortRow(ctx, t, f.FloatingPortID)
	})
	return err
}

// deleteFloatingIPOfPort deletes the floating IP a floating-IP port
// belongs to (its device_id), if it still exists; the caller deletes the port.
func deleteFloatingIPOfPort(ctx context.Context, t *store.Tx, id string) error {
	err := t.DeleteFloatingIP(ctx, id)
	if e, ok := neutron.AsError(err); ok && e.Status == 404 {
		return nil
	}
	if err != nil {
		return err
	}
	t.Emit(neutron.Deleted(neutron.KindFloatingIP, id))
	return nil
}

// UpdateFloatingIPStatuses records the statuses an L3 agent reports
// (floating IP id -> ACTIVE, DOWN or ERROR) in one transaction; ids that
// no longer exist are skipped, unchanged ones are not rewritten.
func (p *Plugin) UpdateFloatingIPStatuses(ctx context.Context, statuses map[string]string) error {
	_, err := p.st.Write(ctx, func(t *store.Tx) error {
		for id, status := range statuses {
			switch status {
			case neutron.StatusActive, neutron.StatusDown, neutron.StatusError:
			default:
				return neutron.BadRequest("Invalid floating IP status %q", status)
			}
			f, err := t.GetFloatingIP(ctx, id)
			if e, ok := neutron.AsError(err); ok && e.Status == 404 {
				continue
			}
			if err != nil {
				return err
			}
			if f.Status == status {
				continue
			}
			prev := f.RevisionNumber
			f.Status = status
			if err := saveFloatingIP(ctx, t, f, prev); err != nil {
				return err
			}
		}
		return nil
	})
	return err
}

// disassociatePort takes the floating IPs off a port that goes away.
func disassociatePort(ctx context.Context, t *store.Tx, portID string) error {
	fips, err := t.FloatingIPsWhere(ctx, "fixed_port_id", portID)
	if err != nil {
		return err
	}
	for i := range fips {
		f := &fips[i]
		prev := f.RevisionNumber
		f.PortID, f.FixedIPAddress, f.RouterID, f.PortDetails = "", "", "", nil
		if err := saveFloatingIP(ctx, t, f, prev); err != nil {
			return err
		}
	}
	return nil
}

// checkL3PortDeletion refuses to delete, through the port API, a port
// that a router or floating IP owns (Neutron's prevent_l3_port_deletion).
func checkL3PortDeletion(ctx context.Context, t *store.Tx, pt *neutron.Port) error {
	if !neutron.L3Owned(pt.DeviceOwner) {
		return nil
	}
	owned := false
	if pt.DeviceOwner == neutron.DeviceOwnerFloatingIP {
		_, err := t.GetFloatingIP(ctx, pt.DeviceID)
		if e, ok := neutron.AsError(err); !ok || e.Status != 404 {
			if err != nil {
				return err
			}
			owned = true
		}
	} else {
		rp, err := t.RouterOfPort(ctx, pt.ID)
		if err != nil {
			return err
		}
		owned = rp.RouterID != ""
	}
	if owned {
		return neutron.Conflict("L3PortInUse", "Port %s has owner %s and therefore cannot be deleted directly via the port API.", pt.ID, pt.DeviceOwner)
	}
	return nil
}
