package ml2

import (
	"context"
	"net/netip"
	"slices"

	"neutrino/internal/ipam"
	"neutrino/internal/neutron"
	"neutrino/internal/store"
)

// The L3 router service as Neutron's L3_NAT_db (with ext-gw-mode and
// extraroute) behaves. Router ports are ordinary ports created and deleted
// through the plugin's own port code in the same transaction; routerports
// rows tie them to their router so that the database itself refuses a
// port on two routers or a router deleted under a new interface. Every
// change to a router's interfaces or gateway bumps the router's revision
// with a compare-and-set: two concurrent changes to one router run one
// after the other (the loser retries and re-checks overlaps against the
// winner's ports).

// maxRoutes is Neutron's max_routes default.
const maxRoutes = 30

func routerBadRequest(format string, args ...any) error {
	return neutron.Errorf(400, "BadRequest", "Bad router request: "+format+".", args...)
}

func fipBadRequest(format string, args ...any) error {
	return neutron.Errorf(400, "BadRequest", "Bad floatingip request: "+format+".", args...)
}

// routerHost schedules the router (if it has no L3 agent yet) and returns
// the host its new ports are bound to ("" while no agent can host it). A
// distributed router has none: Neutron schedules it to no legacy L3 agent,
// and neutrino's agents are all legacy (they refuse the dvr modes).
func (p *Plugin) routerHost(ctx context.Context, t *store.Tx, r *neutron.Router) (string, error) {
	if r.Distributed {
		return "", nil
	}
	return p.scheduleRouter(ctx, t, r.ID)
}

// CreateRouter creates one router.
func (p *Plugin) CreateRouter(ctx context.Context, req neutron.RouterCreate) (*neutron.Router, error) {
	return one(p.CreateRouters(ctx, []neutron.RouterCreate{req}))
}

// CreateRouters creates routers (bulk: all in one transaction or none).
func (p *Plugin) CreateRouters(ctx context.Context, reqs []neutron.RouterCreate) ([]*neutron.Router, error) {
	ips := p.ipam.Begin()
	defer ips.Release()
	return createAll(ctx, p, reqs, func(ctx context.Context, t *store.Tx, req neutron.RouterCreate) (*neutron.Router, error) {
		if err := checkHA(req.HA); err != nil {
			return nil, err
		}
		r := &neutron.Router{
			Standard: neutron.Standard{ID: store.NewID(), Name: req.Name, Description: req.Description, ProjectID: req.ProjectID,
				Tags: sortedUnique(req.Tags), CreatedAt: t.Now(), UpdatedAt: t.Now(), RevisionNumber: 1},
			AdminStateUp: deref(req.AdminStateUp, true), Status: neutron.StatusActive, Routes: []neutron.HostRoute{},
			Distributed: deref(req.Distributed, p.cfg.RouterDistributed),
		}
		if err := t.InsertRouter(ctx, r); err != nil {
			return nil, err
		}
		t.Charge("router", r.ProjectID)
		// The router is logged before its binding and gateway port, so
		// that the L3 stream meets it before the rows that name it.
		t.Emit(neutron.Created(r))
		if _, err := p.routerHost(ctx, t, r); err != nil {
			return nil, err
		}
		if req.Gateway != nil {
			if err := p.changeGateway(ctx, t, ips, r, req.Gateway); err != nil {
				return nil, err
			}
			t.Emit(neutron.Updated(r))
		}
		return r, nil
	})
}

// GetRouter reads a router.
func (p *Plugin) GetRouter(ctx context.Context, id string) (*neutron.Router, error) {
	return p.st.GetRouter(ctx, id)
}

// ListRouters lists routers.
func (p *Plugin) ListRouters(ctx context.Context, q neutron.ListQuery) ([]neutron.Router, error) {
	return p.st.ListRouters(ctx, q)
}

// UpdateRouter changes a router: name, description, admin state, its
// gateway (set, change, clear) and its extra routes.
func (p *Plugin) UpdateRouter(ctx context.Context, id string, req neutron.RouterUpdate) (*neutron.Router, error) {
	var out *neutron.Router
	ips := p.ipam.Begin()
	defer ips.Release()
	_, err := p.st.Write(ctx, func(t *store.Tx) error {
		r, err := t.GetRouter(ctx, id)
		if err != nil {
			return err
		}
		if err := checkRevision("router", id, req.IfRevision, r.RevisionNumber); err != nil {
			return err
		}
		prev := r.RevisionNumber
		if err := checkHA(req.HA); err != nil {
			return err
		}
		if req.Name != nil {
			r.Name = *req.Name
		}
		if req.Description != nil {
			r.Description = *req.Description
		}
		wasUp := r.AdminStateUp
		if req.AdminStateUp != nil {
			r.AdminStateUp = *req.AdminStateUp
		}
		if req.Distributed != nil && *req.Distributed != r.Distributed {
			if err := p.migrateRouter(ctx, t, r, wasUp, *req.Distributed); err != nil {
				return err
			}
		}
		if req.SetGateway {
			if err := p.changeGateway(ctx, t, ips, r, req.Gateway); err != nil {
				return err
			}
		}
		if req.Routes != nil {
			routes := sortedRoutes(*req.Routes)
			if err := p.checkRoutes(ctx, t, r, routes); err != nil {
				return err
			}
			if err := t.SetRouterRoutes(ctx, r.ID, r.Routes, routes); err != nil {
				return err
			}
			r.Routes = routes
		}
		if err := saveRouter(ctx, t, r, prev); err != nil {
			return err
		}
		out = r
		return nil
	})
	return out, err
}

// checkHA refuses ha = true: the l3-ha extension's attribute is accepted
// so that clients may say ha = false, but neutrino's L3 agent runs no
// VRRP (keepalived) routers, and a router that claimed HA without it would
// fail over nowhere.
func checkHA(ha *bool) error {
	if ha != nil && *ha {
		return routerBadRequest("neutrino's L3 agents run no HA (VRRP) routers: ha must be false")
	}
	return nil
}

// migrateRouter turns r into a distributed (or back into a centralized)
// router, as Neutron's DVR handler does: only while the router is admin
// down, before and after the update (router-admin-state-down-before-update);
// it leaves every L3 agent, and a centralized router is scheduled again.
// Neutron migrates both ways.
func (p *Plugin) migrateRouter(ctx context.Context, t *store.Tx, r *neutron.Router, wasUp, distributed bool) error {
	if wasUp || r.AdminStateUp {
		return routerBadRequest("Cannot change the 'distributed' attribute of active routers. Please set router admin_state_up to False prior to upgrade")
	}
	if err := p.unscheduleRouter(ctx, t, r.ID); err != nil {
		return err
	}
	r.Distributed = distributed
	if distributed {
		return p.hostRouterPorts(ctx, t, r.ID, "")
	}
	_, err := p.scheduleRouter(ctx, t, r.ID)
	return err
}

func sortedRoutes(in []neutron.HostRoute) []neutron.HostRoute {
	out := []neutron.HostRoute{}
	seen := map[neutron.HostRoute]bool{}
	for _, h := range in {
		if !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	store.SortRoutes(out)
	return out
}

// saveRouter writes r as the revision after prev (ErrRetry if prev is no
// longer current) and logs it.
func saveRouter(ctx context.Context, t *store.Tx, r *neutron.Router, prev int64) error {
	r.RevisionNumber = prev + 1
	r.UpdatedAt = t.Now()
	if err := t.UpdateRouter(ctx, r, prev); err != nil {
		return err
	}
	t.Emit(neutron.Updated(r))
	return nil
}

// bumpRouter records a change to a router's ports (see the comment at the
// top: it also orders concurrent changes to one router).
func bumpRouter(ctx context.Context, t *store.Tx, id string) (*neutron.Router, error) {
	r, err := t.GetRouter(ctx, id)
	if err != nil {
		return nil, err
	}
	return r, saveRouter(ctx, t, r, r.RevisionNumber)
}

// routerSubnet is one subnet a router has a port on.
type routerSubnet struct {
	portID string
	subnet *neutron.Subnet
}

// routerSubnets lists the subnets of the router's ports; gateway includes
// the gateway port's.
func routerSubnets(ctx context.Context, t *store.Tx, routerID string, gateway bool) ([]routerSubnet, error) {
	rps, err := t.RouterPorts(ctx, []string{routerID})
	if err != nil {
		return nil, err
	}
	var out []routerSubnet
	for _, rp := range rps {
		if rp.Type == neutron.DeviceOwnerRouterGateway && !gateway {
			continue
		}
		pt, err := t.GetPort(ctx, rp.PortID)
		if err != nil {
			return nil, err
		}
		for _, f := range pt.FixedIPs {
			s, err := t.GetSubnet(ctx, f.SubnetID)
			if err != nil {
				return nil, err
			}
			out = append(out, routerSubnet{portID: pt.ID, subnet: s})
		}
	}
	return out, nil
}

// checkNewSubnets is Neutron's _check_for_dup_router_subnets: a router has
// at most one port on a subnet, and no two of its subnets overlap.
func checkNewSubnets(have []routerSubnet, add []*neutron.Subnet) error {
	for _, h := range have {
		for _, s := range add {
			if h.subnet.ID == s.ID {
				return routerBadRequest("Router already has a port on subnet %s", s.ID)
			}
		}
	}
	for _, h := range have {
		a, errA := netip.ParsePrefix(h.subnet.CIDR)
		for _, s := range add {
			b, errB := netip.ParsePrefix(s.CIDR)
			if errA == nil && errB == nil && a.Overlaps(b) {
				return routerBadRequest("Cidr %s of subnet %s overlaps with cidr %s of subnet %s", s.CIDR, s.ID, h.subnet.CIDR, h.subnet.ID)
			}
		}
	}
	return nil
}

// gatewayPort validates gw and creates the router's gateway port on the
// external network, setting r's gateway fields (the caller records the
// routerports row once the router row exists). have are the subnets of
// the router's interfaces.
func (p *Plugin) gatewayPort(ctx context.Context, t *store.Tx, ips *ipam.Allocation, r *neutron.Router, have []routerSubnet, gw *neutron.GatewayRequest) (*neutron.Port, error) {
	n, err := t.GetNetwork(ctx, gw.NetworkID)
	if err != nil {
		return nil, err
	}
	if !n.External {
		return nil, routerBadRequest("Network %s is not an external network", n.ID)
	}
	var subs []*neutron.Subnet
	for _, sid := range n.Subnets {
		s, err := t.GetSubnet(ctx, sid)
		if err != nil {
			return nil, err
		}
		subs = append(subs, s)
	}
	if err := checkNewSubnets(have, subs); err != nil {
		return nil, err
	}
	host, err := p.routerHost(ctx, t, r)
	if err != nil {
		return nil, err
	}
	pt, err := p.createPort(ctx, t, ips, neutron.PortCreate{NetworkID: n.ID, DeviceID: r.ID, DeviceOwner: neutron.DeviceOwnerRouterGateway,
		FixedIPs: gw.ExternalFixedIPs, HostID: host})
	if err != nil {
		return nil, err
	}
	if len(pt.FixedIPs) == 0 {
		return nil, routerBadRequest("No IPs available for external network %s", n.ID)
	}
	r.GatewayPortID = pt.ID
	r.GatewayInfo = &neutron.GatewayInfo{NetworkID: n.ID, EnableSNAT: deref(gw.EnableSNAT, true), ExternalFixedIPs: pt.FixedIPs}
	return pt, nil
}

// changeGateway sets, changes or (gw nil) clears r's external gateway.
func (p *Plugin) changeGateway(ctx context.Context, t *store.Tx, ips *ipam.Allocation, r *neutron.Router, gw *neutron.GatewayRequest) error {
	old := r.GatewayInfo
	if old != nil && gw != nil && gw.NetworkID == old.NetworkID {
		// Same network: new SNAT mode and, if asked, new addresses.
		old.EnableSNAT = deref(gw.EnableSNAT, old.EnableSNAT)
		if gw.ExternalFixedIPs == nil {
			return nil
		}
		pt, err := t.GetPort(ctx, r.GatewayPortID)
		if err != nil {
			return err
		}
		prev, oldIPs := pt.RevisionNumber, pt.FixedIPs
		if pt.FixedIPs, err = ips.FixedIPs(ctx, t, addressRequest(pt, gw.ExternalFixedIPs, false)); err != nil {
			return err
		}
		if err := t.SetPortIPs(ctx, pt.NetworkID, pt.ID, oldIPs, pt.FixedIPs); err != nil {
			return err
		}
		old.ExternalFixedIPs = pt.FixedIPs
		return savePort(ctx, t, pt, prev)
	}
	if old != nil {
		fips, err := t.FloatingIPsWhere(ctx, "router_id", r.ID)
		if err != nil {
			return err
		}
		if len(fips) > 0 {
			return neutron.Conflict("RouterExternalGatewayInUseByFloatingIp",
				"Gateway cannot be updated for router %s, since a gateway to external network %s is required by one or more floating IPs.", r.ID, old.NetworkID)
		}
		gwPort := r.GatewayPortID
		r.GatewayPortID, r.GatewayInfo = "", nil
		// The router row lets go of the port before the port goes.
		if err := t.RemoveRouterPort(ctx, gwPort); err != nil {
			return err
		}
		if err := t.UpdateRouter(ctx, r, r.RevisionNumber); err != nil {
			return err
		}
		if err := deletePortRow(ctx, t, gwPort); err != nil {
			return err
		}
	}
	if gw == nil {
		return nil
	}
	have, err := routerSubnets(ctx, t, r.ID, false)
	if err != nil {
		return err
	}
	pt, err := p.gatewayPort(ctx, t, ips, r, have, gw)
	if err != nil {
		return err
	}
	// The port exists before the router row names it.
	if err := t.UpdateRouter(ctx, r, r.RevisionNumber); err != nil {
		return err
	}
	return t.AddRouterPort(ctx, store.RouterPort{RouterID: r.ID, PortID: pt.ID, Type: neutron.DeviceOwnerRouterGateway})
}

// checkRoutes is extraroute's validation: at most max_routes, each next
// hop on one of the router's interface subnets and not the router's own
// address.
func (p *Plugin) checkRoutes(ctx context.Context, t *store.Tx, r *neutron.Router, routes []neutron.HostRoute) error {
	if len(routes) > maxRoutes {
		return neutron.Errorf(400, "RoutesExhausted", "Unable to complete operation for %s. The number of routes exceeds the maximum %d.", r.ID, maxRoutes)
	}
	if len(routes) == 0 {
		return nil
	}
	have, err := routerSubnets(ctx, t, r.ID, true)
	if err != nil {
		return err
	}
	own := map[netip.Addr]bool{}
	rps, err := t.RouterPorts(ctx, []string{r.ID})
	if err != nil {
		return err
	}
	for _, rp := range rps {
		pt, err := t.GetPort(ctx, rp.PortID)
		if err != nil {
			return err
		}
		for _, f := range pt.FixedIPs {
			if a, err := netip.ParseAddr(f.IPAddress); err == nil {
				own[a] = true
			}
		}
	}
	for _, h := range routes {
		hop, err := netip.ParseAddr(h.NextHop)
		if err != nil {
			return invalidRoutes(routes, "the nexthop is not a valid IP address")
		}
		if own[hop] {
			return invalidRoutes(routes, "the nexthop is used by router")
		}
		connected := false
		for _, s := range have {
			if c, err := netip.ParsePrefix(s.subnet.CIDR); err == nil && c.Contains(hop) {
				connected = true
				break
			}
		}
		if !connected {
			return invalidRoutes(routes, "the nexthop is not connected with router")
		}
	}
	return nil
}

func invalidRoutes(routes []neutron.HostRoute, reason string) error {
	return neutron.Errorf(400, "InvalidRoutes", "Invalid format for routes: %s, %s.", pyRoutes(routes), reason)
}

// pyRoutes renders routes as Neutron's message does (a Python list of
// dicts).
func pyRoutes(routes []neutron.HostRoute) string {
	s := "["
	for i, h := range routes {
		if i > 0 {
			s += ", "
		}
		s += "{'destination': '" + h.Destination + "', 'nexthop': '" + h.NextHop + "'}"
	}
	return s + "]"
}

// DeleteRouter deletes a router without interfaces, and its gateway port.
func (p *Plugin) DeleteRouter(ctx context.Context, id string) error {
	_, err := p.st.Write(ctx, func(t *store.Tx) error {
		r, err := t.GetRouter(ctx, id)
		if err != nil {
			return err
		}
		rps, err := t.RouterPorts(ctx, []string{id})
		if err != nil {
			return err
		}
		for _, rp := range rps {
			if rp.Type != neutron.DeviceOwnerRouterGateway {
				return neutron.Conflict("RouterInUse", "Router %s still has ports", id)
			}
		}
		if r.GatewayPortID != "" {
			if err := t.RemoveRouterPort(ctx, r.GatewayPortID); err != nil {
				return err
			}
		}
		if err := p.unscheduleRouter(ctx, t, id); err != nil {
			return err
		}
		if err := t.DeleteRouter(ctx, id); err != nil {
			return err
		}
		t.Emit(neutron.Deleted(neutron.KindRouter, id))
		if r.GatewayPortID != "" {
			return deletePortRow(ctx, t, r.GatewayPortID)
		}
		return nil
	})
	return err
}

// deletePortRow deletes a port and logs it.
func deletePortRow(ctx context.Context, t *store.Tx, id string) error {
	if err := t.DeletePort(ctx, id); err != nil {
		return err
	}
	t.Emit(neutron.Deleted(neutron.KindPort, id))
	return nil
}

func interfaceInfo(r *neutron.Router, pt *neutron.Port, subnetID string) *neutron.RouterInterfaceInfo {
	info := &neutron.RouterInterfaceInfo{ID: r.ID, TenantID: r.ProjectID, ProjectID: r.ProjectID, PortID: pt.ID, NetworkID: pt.NetworkID, SubnetIDs: []string{}}
	for _, f := range pt.FixedIPs {
		if !slices.Contains(info.SubnetIDs, f.SubnetID) {
			info.SubnetIDs = append(info.SubnetIDs, f.SubnetID)
		}
	}
	info.SubnetID = subnetID
	if info.SubnetID == "" && len(info.SubnetIDs) > 0 {
		info.SubnetID = info.SubnetIDs[0]
	}
	return info
}

// AddRouterInterface attaches a subnet (a new port with the subnet's
// gateway_ip) or an existing unused port to a router.
func (p *Plugin) AddRouterInterface(ctx context.Context, routerID string, req neutron.RouterInterfaceRequest) (*neutron.RouterInterfaceInfo, error) {
	if req.SubnetID == "" && req.PortID == "" {
		return nil, routerBadRequest("Either subnet_id or port_id must be specified")
	}
	if req.SubnetID != "" && req.PortID != "" {
		return nil, routerBadRequest("Cannot specify both subnet-id and port-id")
	}
	var out *neutron.RouterInterfaceInfo
	ips := p.ipam.Begin()
	defer ips.Release()
	_, err := p.st.Write(ctx, func(t *store.Tx) error {
		r, err := bumpRouter(ctx, t, routerID)
		if err != nil {
			return err
		}
		have, err := routerSubnets(ctx, t, routerID, false)
		if err != nil {
			return err
		}
		host, err := p.routerHost(ctx, t, r)
		if err != nil {
			return err
		}
		var pt *neutron.Port
		added := false // the subnet went onto an existing interface
		if req.SubnetID != "" {
			pt, added, err = p.interfaceForSubnet(ctx, t, ips, r, have, req.SubnetID, host)
		} else {
			pt, err = p.interfaceFromPort(ctx, t, r, have, req.PortID, host)
		}
		if err != nil {
			return err
		}
		if added {
			// Neutron answers with the new subnet only.
			out = interfaceInfo(r, pt, req.SubnetID)
			out.SubnetIDs = []string{req.SubnetID}
			return nil
		}
		if err := t.AddRouterPort(ctx, store.RouterPort{RouterID: r.ID, PortID: pt.ID, Type: neutron.DeviceOwnerRouterInterface}); err != nil {
			return err
		}
		out = interfaceInfo(r, pt, req.SubnetID)
		return nil
	})
	return out, err
}

// interfaceForSubnet makes the router's port on a subnet, holding its
// gateway_ip. An IPv6 subnet of a network where the router already has
// an interface with an IPv6 address goes onto that port instead (added
// true), as Neutron does: one router port per network for IPv6, so that
// the router sends one RA per network carrying every prefix.
func (p *Plugin) interfaceForSubnet(ctx context.Context, t *store.Tx, ips *ipam.Allocation, r *neutron.Router, have []routerSubnet, subnetID, host string) (*neutron.Port, bool, error) {
	s, err := t.GetSubnet(ctx, subnetID)
	if err != nil {
		return nil, false, err
	}
	if s.GatewayIP == "" {
		return nil, false, routerBadRequest("Subnet for router interface must have a gateway IP")
	}
	if s.IPVersion == 6 && s.IPv6RAMode == "" && s.IPv6AddressMode != "" {
		return nil, false, routerBadRequest("IPv6 subnet %s configured to receive RAs from an external router cannot be added to Neutron Router.", s.ID)
	}
	if err := checkNewSubnets(have, []*neutron.Subnet{s}); err != nil {
		return nil, false, err
	}
	gw := neutron.FixedIPRequest{SubnetID: s.ID, IPAddress: s.GatewayIP}
	if s.IPVersion == 6 {
		for _, h := range have {
			if h.subnet.NetworkID == s.NetworkID && h.subnet.IPVersion == 6 {
				pt, err := p.addPortIP(ctx, t, ips, h.portID, gw)
				return pt, true, err
			}
		}
	}
	pt, err := p.createPort(ctx, t, ips, neutron.PortCreate{ProjectID: r.ProjectID, NetworkID: s.NetworkID,
		FixedIPs: []neutron.FixedIPRequest{gw}, DeviceID: r.ID, DeviceOwner: neutron.DeviceOwnerRouterInterface, HostID: host})
	return pt, false, err
}

// addPortIP gives port id one more fixed IP, inside t.
func (p *Plugin) addPortIP(ctx context.Context, t *store.Tx, ips *ipam.Allocation, id string, add neutron.FixedIPRequest) (*neutron.Port, error) {
	pt, err := t.GetPort(ctx, id)
	if err != nil {
		return nil, err
	}
	want := make([]neutron.FixedIPRequest, 0, len(pt.FixedIPs)+1)
	for _, f := range pt.FixedIPs {
		want = append(want, neutron.FixedIPRequest{SubnetID: f.SubnetID, IPAddress: f.IPAddress})
	}
	return p.setPortIPs(ctx, t, ips, pt, append(want, add))
}

// setPortIPs replaces pt's fixed IPs with want and saves it, inside t.
func (p *Plugin) setPortIPs(ctx context.Context, t *store.Tx, ips *ipam.Allocation, pt *neutron.Port, want []neutron.FixedIPRequest) (*neutron.Port, error) {
	old, prev := pt.FixedIPs, pt.RevisionNumber
	got, err := ips.FixedIPs(ctx, t, addressRequest(pt, want, false))
	if err != nil {
		return nil, err
	}
	if err := t.SetPortIPs(ctx, pt.NetworkID, pt.ID, old, got); err != nil {
		return nil, err
	}
	pt.FixedIPs = got
	return pt, savePort(ctx, t, pt, prev)
}

func (p *Plugin) interfaceFromPort(ctx context.Context, t *store.Tx, r *neutron.Router, have []routerSubnet, portID, host string) (*neutron.Port, error) {
	pt, err := t.GetPort(ctx, portID)
	if err != nil {
		return nil, err
	}
	if pt.DeviceID != "" {
		return nil, neutron.Conflict("PortInUse", "Unable to complete operation on port %s for network %s. Port already has an attached device %s.", pt.ID, pt.NetworkID, pt.DeviceID)
	}
	if len(pt.FixedIPs) == 0 {
		return nil, routerBadRequest("Router port must have at least one fixed IP")
	}
	var subs []*neutron.Subnet
	v4 := 0
	for _, f := range pt.FixedIPs {
		s, err := t.GetSubnet(ctx, f.SubnetID)
		if err != nil {
			return nil, err
		}
		if s.IPVersion == 4 {
			v4++
		}
		subs = append(subs, s)
	}
	if err := checkNewSubnets(have, subs); err != nil {
		return nil, err
	}
	if v4 > 1 {
		return nil, routerBadRequest("Cannot have multiple IPv4 subnets on router port")
	}
	prev := pt.RevisionNumber
	pt.DeviceID, pt.DeviceOwner = r.ID, neutron.DeviceOwnerRouterInterface
	if err := p.rebind(ctx, t, pt, neutron.PortUpdate{HostID: &host}); err != nil {
		return nil, err
	}
	if err := savePort(ctx, t, pt, prev); err != nil {
		return nil, err
	}
	return pt, nil
}

// RemoveRouterInterface detaches an interface by subnet or port (or both,
// which must agree) and deletes its port; by subnet, a port that has
// other subnets too keeps them.
func (p *Plugin) RemoveRouterInterface(ctx context.Context, routerID string, req neutron.RouterInterfaceRequest) (*neutron.RouterInterfaceInfo, error) {
	if req.SubnetID == "" && req.PortID == "" {
		return nil, routerBadRequest("Either subnet_id or port_id must be specified")
	}
	var out *neutron.RouterInterfaceInfo
	ips := p.ipam.Begin()
	defer ips.Release()
	_, err := p.st.Write(ctx, func(t *store.Tx) error {
		r, err := bumpRouter(ctx, t, routerID)
		if err != nil {
			return err
		}
		pt, err := findInterface(ctx, t, routerID, req)
		if err != nil {
			return err
		}
		if req.PortID == "" && slices.ContainsFunc(pt.FixedIPs, func(f neutron.FixedIP) bool { return f.SubnetID != req.SubnetID }) {
			// A port with more subnets (IPv6 prefixes of one network)
			// loses this subnet's address only, as in Neutron.
			var gone []neutron.FixedIP
			var want []neutron.FixedIPRequest
			for _, f := range pt.FixedIPs {
				if f.SubnetID == req.SubnetID {
					gone = append(gone, f)
				} else {
					want = append(want, neutron.FixedIPRequest{SubnetID: f.SubnetID, IPAddress: f.IPAddress})
				}
			}
			only := *pt
			only.FixedIPs = gone
			if err := checkInterfaceUnused(ctx, t, r, &only); err != nil {
				return err
			}
			if _, err := p.setPortIPs(ctx, t, ips, pt, want); err != nil {
				return err
			}
			out = interfaceInfo(r, &only, req.SubnetID)
			return nil
		}
		if err := checkInterfaceUnused(ctx, t, r, pt); err != nil {
			return err
		}
		if err := t.RemoveRouterPort(ctx, pt.ID); err != nil {
			return err
		}
		if err := deletePortRow(ctx, t, pt.ID); err != nil {
			return err
		}
		out = interfaceInfo(r, pt, req.SubnetID)
		return nil
	})
	return out, err
}

// findInterface finds the interface port of a router that req names.
func findInterface(ctx context.Context, t *store.Tx, routerID string, req neutron.RouterInterfaceRequest) (*neutron.Port, error) {
	if req.PortID != "" {
		rp, err := t.RouterOfPort(ctx, req.PortID)
		if err != nil {
			return nil, err
		}
		if rp.RouterID != routerID || rp.Type != neutron.DeviceOwnerRouterInterface {
			return nil, neutron.Errorf(404, "RouterInterfaceNotFound", "Router %s does not have an interface with id %s", routerID, req.PortID)
		}
		pt, err := t.GetPort(ctx, req.PortID)
		if err != nil {
			return nil, err
		}
		if req.SubnetID != "" && !slices.ContainsFunc(pt.FixedIPs, func(f neutron.FixedIP) bool { return f.SubnetID == req.SubnetID }) {
			return nil, neutron.Errorf(400, "SubnetMismatchForPort", "Subnet on port %s does not match the requested subnet %s", pt.ID, req.SubnetID)
		}
		return pt, nil
	}
	if _, err := t.GetSubnet(ctx, req.SubnetID); err != nil {
		return nil, err
	}
	have, err := routerSubnets(ctx, t, routerID, false)
	if err != nil {
		return nil, err
	}
	for _, h := range have {
		if h.subnet.ID == req.SubnetID {
			return t.GetPort(ctx, h.portID)
		}
	}
	return nil, neutron.Errorf(404, "RouterInterfaceNotFoundForSubnet", "Router %s has no interface on subnet %s", routerID, req.SubnetID)
}

// checkInterfaceUnused refuses to remove an interface that a floating IP
// or an extra route of the router needs.
func checkInterfaceUnused(ctx context.Context, t *store.Tx, r *neutron.Router, pt *neutron.Port) error {
	fips, err := t.FloatingIPsWhere(ctx, "router_id", r.ID)
	if err != nil {
		return err
	}
	for _, f := range pt.FixedIPs {
		s, err := t.GetSubnet(ctx, f.SubnetID)
		if err != nil {
			return err
		}
		cidr, err := netip.ParsePrefix(s.CIDR)
		if err != nil {
			continue
		}
		in := func(a string) bool {
			x, err := netip.ParseAddr(a)
			return err == nil && cidr.Contains(x)
		}
		for _, fip := range fips {
			if in(fip.FixedIPAddress) {
				return neutron.Conflict("RouterInterfaceInUseByFloatingIP",
					"Router interface for subnet %s on router %s cannot be deleted, as it is required by one or more floating IPs.", s.ID, r.ID)
			}
		}
		for _, h := range r.Routes {
			if in(h.NextHop) {
				return neutron.Conflict("RouterInterfaceInUseByRoute",
					"Router interface for subnet %s on router %s cannot be deleted, as it is required by one or more routes.", s.ID, r.ID)
			}
		}
	}
	return nil
}
