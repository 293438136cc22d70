package ml2

import (
	"context"
	"encoding/json"
	"maps"
	"net/netip"
	"strings"

	"neutrino/internal/ipam"
	"neutrino/internal/neutron"
	"neutrino/internal/store"
)

// addressRequest is what port pt asks IPAM for: the requested fixed_ips,
// or the defaults when auto. Router ports may take a subnet's gateway.
func addressRequest(pt *neutron.Port, want []neutron.FixedIPRequest, auto bool) ipam.Request {
	return ipam.Request{NetworkID: pt.NetworkID, Auto: auto, FixedIPs: want, MAC: pt.MACAddress, PortID: pt.ID,
		MayUseGateway: strings.HasPrefix(pt.DeviceOwner, "network:router_")}
}

// keepAddresses resolves an update's fixed_ips entries that name only a
// subnet to an address the port already has there, as Neutron does: an
// entry with an address claims that address first, then each subnet-only
// entry takes one of the port's remaining addresses on its subnet and
// only asks for a new one when none is left. An EUI-64 address is not
// kept: it is derived from the MAC and the subnet's prefix, and is derived
// again.
func keepAddresses(want []neutron.FixedIPRequest, orig []neutron.FixedIP) []neutron.FixedIPRequest {
	left := map[string][]string{} // subnet -> the port's addresses not claimed yet
	claimed := map[string]bool{}
	for _, w := range want {
		if w.IPAddress != "" {
			claimed[w.IPAddress] = true
		}
	}
	for _, f := range orig {
		if !claimed[f.IPAddress] && !isEUI64(f.IPAddress) {
			left[f.SubnetID] = append(left[f.SubnetID], f.IPAddress)
		}
	}
	out := make([]neutron.FixedIPRequest, len(want))
	for i, w := range want {
		if a := left[w.SubnetID]; w.IPAddress == "" && w.SubnetID != "" && len(a) > 0 {
			w.IPAddress, left[w.SubnetID] = a[0], a[1:]
		}
		out[i] = w
	}
	return out
}

// isEUI64 says whether s is an IPv6 address whose interface identifier
// is a modified EUI-64 (ff:fe in its middle), as SLAAC derives from a MAC.
func isEUI64(s string) bool {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is6() || a.Is4In6() {
		return false
	}
	b := a.As16()
	return b[11] == 0xff && b[12] == 0xfe
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

// CreatePort allocates MAC and fixed IPs, binds the port if a host is set
// and stores it, all in one transaction.
func (p *Plugin) CreatePort(ctx context.Context, req neutron.PortCreate) (*neutron.Port, error) {
	return one(p.CreatePorts(ctx, []neutron.PortCreate{req}))
}

// CreatePorts creates every port of reqs in one transaction (bulk create):
// all of them, in order, or none and the first failure's error. A later
// port's addresses and MAC are checked against the earlier ones'.
func (p *Plugin) CreatePorts(ctx context.Context, reqs []neutron.PortCreate) ([]*neutron.Port, error) {
	ips := p.ipam.Begin()
	defer ips.Release()
	return createAll(ctx, p, reqs, func(ctx context.Context, t *store.Tx, req neutron.PortCreate) (*neutron.Port, error) {
		pt, err := p.createPort(ctx, t, ips, req)
		if err == nil {
			// Ports the plugin creates itself (router, floating IP,
			// DHCP) are not charged, as Neutron checks quotas only at
			// the API.
			t.Charge("port", pt.ProjectID)
		}
		return pt, err
	})
}

func (p *Plugin) createPort(ctx context.Context, t *store.Tx, ips *ipam.Allocation, req neutron.PortCreate) (*neutron.Port, error) {
	// The reads below (with IPAM's first probe) and the quota check's,
	// in one round trip where that helps (PostgreSQL, before the
	// transaction's first write).
	probe := ips.ProbeAhead(ipam.Request{NetworkID: req.NetworkID, Auto: req.FixedIPs == nil})
	if err := t.PreloadPortCreate(ctx, req.NetworkID, req.ProjectID, probe); err != nil {
		return nil, err
	}
	// Only ID, project, port security and segments are needed: one
	// query instead of the full network with subnets and tags.
	n, err := t.PortNetwork(ctx, req.NetworkID)
	if err != nil {
		return nil, err
	}
	pt := &neutron.Port{
		Standard: neutron.Standard{ID: store.NewID(), Name: req.Name, Description: req.Description, ProjectID: req.ProjectID,
			Tags: sortedUnique(req.Tags), CreatedAt: t.Now(), UpdatedAt: t.Now(), RevisionNumber: 1},
		NetworkID: n.ID, DeviceID: req.DeviceID, DeviceOwner: req.DeviceOwner, Status: neutron.StatusDown,
		AdminStateUp:        deref(req.AdminStateUp, true),
		AllowedAddressPairs: req.AllowedAddressPairs,
		PortSecurityEnabled: deref(req.PortSecurityEnabled, n.PortSecurityEnabled),
	}
	if pt.ProjectID == "" && req.DeviceOwner != neutron.DeviceOwnerRouterGateway && req.DeviceOwner != neutron.DeviceOwnerFloatingIP {
		// Neutron creates gateway and floating IP ports without owner.
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
			return nil, err
		}
	} else {
		// A generated duplicate (1 in 2^24 per port) fails the
		// unique index and the whole transaction is retried.
		if pt.MACAddress, err = p.randMAC(); err != nil {
			return nil, err
		}
	}
	if pt.FixedIPs, err = ips.FixedIPs(ctx, t, addressRequest(pt, req.FixedIPs, req.FixedIPs == nil)); err != nil {
		return nil, err
	}
	if pt.SecurityGroups, err = p.portSecurityGroups(ctx, t, pt, req.SecurityGroups, req.AnyProjectGroups); err != nil {
		return nil, err
	}
	if err := checkAddressPairs(pt); err != nil {
		return nil, err
	}
	if pt.ExtraDHCPOpts, err = extraDHCPOpts(pt.ID, nil, req.ExtraDHCPOpts, true); err != nil {
		return nil, err
	}
	if err := p.bind(ctx, t, pt, n.Segments); err != nil {
		return nil, err
	}
	if err := t.InsertPort(ctx, pt); err != nil {
		return nil, err
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
			return nil, err
		}
		t.Emit(neutron.Updated(pt))
	}
	return &resp, nil
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
	ips := p.ipam.Begin()
	defer ips.Release()
	_, err := p.st.Write(ctx, func(t *store.Tx) error {
		pt, err := t.GetPort(ctx, id)
		if err != nil {
			return err
		}
		if err := checkRevision("port", id, req.IfRevision, pt.RevisionNumber); err != nil {
			return err
		}
		prev := pt.RevisionNumber
		oldIPs, oldOwner := pt.FixedIPs, pt.DeviceOwner
		setPortFields(pt, req)
		if req.MACAddress != nil {
			if err := p.changeMAC(ctx, t, pt, *req.MACAddress); err != nil {
				return err
			}
		}
		if req.FixedIPs != nil {
			if pt.FixedIPs, err = ips.FixedIPs(ctx, t, addressRequest(pt, keepAddresses(*req.FixedIPs, oldIPs), false)); err != nil {
				return err
			}
			if err := checkRouterPortIPs(ctx, t, pt.ID, oldOwner, oldIPs, pt.FixedIPs); err != nil {
				return err
			}
			if err := t.SetPortIPs(ctx, pt.NetworkID, pt.ID, oldIPs, pt.FixedIPs); err != nil {
				return err
			}
		}
		if err := p.updatePortSecurity(ctx, t, pt, req); err != nil {
			return err
		}
		if pt.ExtraDHCPOpts, err = extraDHCPOpts(pt.ID, pt.ExtraDHCPOpts, req.ExtraDHCPOpts, false); err != nil {
			return err
		}
		if err := p.rebind(ctx, t, pt, req); err != nil {
			return err
		}
		if err := savePort(ctx, t, pt, prev); err != nil {
			return err
		}
		out = pt
		return nil
	})
	return out, err
}

// checkRouterPortIPs refuses a change of a router interface's IPv4
// addresses, whoever asks, as Neutron's l3-port-ip-change-not-allowed:
// the router's subnets change through add/remove_router_interface only.
// IPv6 addresses may change (Neutron allows it for prefix delegation and
// SLAAC subnets).
func checkRouterPortIPs(ctx context.Context, t *store.Tx, portID, owner string, old, new []neutron.FixedIP) error {
	if owner != neutron.DeviceOwnerRouterInterface {
		return nil
	}
	v4 := func(ips []neutron.FixedIP) map[neutron.FixedIP]bool {
		m := map[neutron.FixedIP]bool{}
		for _, f := range ips {
			if a, err := netip.ParseAddr(f.IPAddress); err == nil && a.Is4() {
				m[f] = true
			}
		}
		return m
	}
	if maps.Equal(v4(old), v4(new)) {
		return nil
	}
	rp, err := t.RouterOfPort(ctx, portID)
	if err != nil || rp.RouterID == "" {
		return err
	}
	return neutron.Errorf(400, "IPAddressChangeNotAllowed", "IP updates for port %s are not allowed", portID)
}

// setPortFields applies the plain attributes of a port update.
func setPortFields(pt *neutron.Port, req neutron.PortUpdate) {
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
}

// changeMAC gives pt a new MAC address; a bound port keeps its own.
func (p *Plugin) changeMAC(ctx context.Context, t *store.Tx, pt *neutron.Port, mac string) error {
	m, err := ipam.ParseMAC(mac)
	if err != nil || m == pt.MACAddress {
		return err
	}
	if pt.VIFType != neutron.VIFUnbound && pt.VIFType != neutron.VIFBindingFailed {
		return neutron.Conflict("PortBound", "Unable to complete operation on port %s, port is already bound, port type: %s, old_mac %s, new_mac %s.",
			pt.ID, pt.VIFType, pt.MACAddress, m)
	}
	if _, err := p.checkMAC(ctx, t, pt.NetworkID, m); err != nil {
		return err
	}
	pt.MACAddress = m
	return nil
}

// rebind binds pt again when the update changes its host, vnic type or
// profile, or names a host for a port whose binding failed.
func (p *Plugin) rebind(ctx context.Context, t *store.Tx, pt *neutron.Port, req neutron.PortUpdate) error {
	again := false
	if req.HostID != nil && *req.HostID != pt.HostID {
		pt.HostID, again = *req.HostID, true
	}
	if req.VNICType != nil && *req.VNICType != pt.VNICType {
		pt.VNICType, again = *req.VNICType, true
	}
	if req.Profile != nil {
		pt.Profile = *req.Profile
		if len(pt.Profile) == 0 || string(pt.Profile) == "null" {
			pt.Profile = json.RawMessage("{}")
		}
		again = true
	}
	if !again && (req.HostID == nil || pt.VIFType != neutron.VIFBindingFailed) {
		return nil
	}
	n, err := t.GetNetwork(ctx, pt.NetworkID)
	if err != nil {
		return err
	}
	if err := p.bind(ctx, t, pt, n.Segments); err != nil {
		return err
	}
	pt.Status = neutron.StatusDown
	return nil
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

// DeletePort deletes a port and releases its addresses; its floating IPs
// are disassociated. A router's or floating IP's own port is refused
// (L3PortInUse): the router service deletes those.
func (p *Plugin) DeletePort(ctx context.Context, id string) error {
	_, err := p.st.Write(ctx, func(t *store.Tx) error {
		pt, err := t.GetPort(ctx, id)
		if err != nil {
			return err
		}
		if err := checkL3PortDeletion(ctx, t, pt); err != nil {
			return err
		}
		if err := disassociatePort(ctx, t, id); err != nil {
			return err
		}
		return deletePortRow(ctx, t, id)
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
