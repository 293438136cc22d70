package api

import (
	"context"
	"net/http"
	"sort"
	"strconv"
	"time"

	"neutrino/internal/neutron"
)

// routers and floatingips: Neutron's router, ext-gw-mode, extraroute and
// fip-port-details extensions. The L3 semantics are the plugin's; here are
// the attribute maps, the two member actions (add_router_interface,
// remove_router_interface) and the policy on external_gateway_info's
// admin-only keys.

func routers() *table[neutron.Router, neutron.RouterCreate, neutron.RouterUpdate] {
	type (
		R  = neutron.Router
		RC = neutron.RouterCreate
		RU = neutron.RouterUpdate
	)
	t := newTable[R, RC, RU]("router", "routers")
	t.standard(func(r *R) *neutron.Standard { return &r.Standard },
		func(c *RC, v string) { c.Name = v }, func(c *RC, v string) { c.Description = v },
		func(u *RU, v string) { u.Name = &v }, func(u *RU, v string) { u.Description = &v })
	t.add(rw("admin_state_up", convBool), boolean(func(r *R) bool { return r.AdminStateUp })).
		onCreate(set(func(c *RC, v bool) { c.AdminStateUp = &v })).
		onUpdate(set(func(u *RU, v bool) { u.AdminStateUp = &v }))
	t.add(ro("status"), str(func(r *R) string { return r.Status }))
	t.add(rw("external_gateway_info", convGatewayInfo), encoder[R]{fn: appendGatewayInfo}).
		onCreate(set(func(c *RC, v *neutron.GatewayRequest) { c.Gateway = v })).
		onUpdate(set(func(u *RU, v *neutron.GatewayRequest) { u.SetGateway, u.Gateway = true, v }))
	t.add(pu("routes", convRoutes), listOf(func(r *R) []neutron.HostRoute { return r.Routes }, appendRoute)).
		onUpdate(set(func(u *RU, v []neutron.HostRoute) { u.Routes = &v }))
	// dvr and l3-ha: admin-only (create, update, get) as Neutron 2023.1's
	// policy; null is "not specified" (router_distributed, or false).
	t.add(rw("distributed", convNullableBool).admin(), boolean(func(r *R) bool { return r.Distributed })).
		onCreate(func(c *RC, v any) { c.Distributed = optBool(v) }).
		onUpdate(func(u *RU, v any) { u.Distributed = optBool(v) })
	t.add(rw("ha", convNullableBool).admin(), literal[R]("false")).
		onCreate(func(c *RC, v any) { c.HA = optBool(v) }).
		onUpdate(func(u *RU, v any) { u.HA = optBool(v) })
	t.tagged()
	t.facts = func(r *R) entity { return entity{id: r.ID, project: r.ProjectID, tags: r.Tags} }
	t.finishCreate = func(c *RC, project string, _ map[string]any) *neutron.Error {
		c.ProjectID = project
		return nil
	}
	t.finishUpdate = func(u *RU, ifRev int64, _ map[string]any) *neutron.Error {
		u.IfRevision = ifRev
		return nil
	}
	return t
}

// optBool is a converted convert_to_boolean_if_not_none value: nil when
// null.
func optBool(v any) *bool {
	b, ok := v.(bool)
	if !ok {
		return nil
	}
	return &b
}

func appendGatewayInfo(b []byte, r *neutron.Router) []byte {
	g := r.GatewayInfo
	if g == nil {
		return append(b, "null"...)
	}
	o := openObject(b)
	o.str("network_id", g.NetworkID)
	o.key("enable_snat")
	o.b = strconv.AppendBool(o.b, g.EnableSNAT)
	o.key("external_fixed_ips")
	o.b = appendList(o.b, g.ExternalFixedIPs, appendFixedIP)
	return o.close()
}

func appendRoute(b []byte, h *neutron.HostRoute) []byte {
	o := openObject(b)
	return o.str("destination", h.Destination).str("nexthop", h.NextHop).close()
}

// convGatewayInfo is type:dict_or_nodata with network_id (required),
// enable_snat and external_fixed_ips; null or {} clears the gateway.
func convGatewayInfo(name string, v any) (any, *neutron.Error) {
	if v == nil {
		return (*neutron.GatewayRequest)(nil), nil
	}
	d, e := asDict(name, v, "network_id", "enable_snat", "external_fixed_ips")
	if e != nil {
		return nil, e
	}
	if len(d) == 0 {
		return (*neutron.GatewayRequest)(nil), nil
	}
	id, ok := d["network_id"]
	if !ok {
		return nil, invalidFor(name, v, "Validation of dictionary's keys failed. Expected keys: {'network_id'} Provided keys: "+pyKeys(d))
	}
	net, e := convUUID(name, id)
	if e != nil {
		return nil, e
	}
	g := &neutron.GatewayRequest{NetworkID: net.(string)}
	if s, ok := d["enable_snat"]; ok {
		b, e := convBool(name, s)
		if e != nil {
			return nil, e
		}
		x := b.(bool)
		g.EnableSNAT = &x
	}
	if f, ok := d["external_fixed_ips"]; ok && f != nil {
		ips, e := convFixedIPs(name, f)
		if e != nil {
			return nil, e
		}
		g.ExternalFixedIPs = ips.([]neutron.FixedIPRequest)
	}
	return g, nil
}

// pyKeys renders a dict's keys as a Python set literal.
func pyKeys(d map[string]any) string {
	var ks []string
	for k := range d {
		ks = append(ks, pyQuote(k))
	}
	sort.Strings(ks)
	s := "{"
	for i, k := range ks {
		if i > 0 {
			s += ", "
		}
		s += k
	}
	return s + "}"
}

// convRoutes is extraroute's type:hostroutes; null is no routes.
func convRoutes(name string, v any) (any, *neutron.Error) {
	if v == nil {
		return []neutron.HostRoute{}, nil
	}
	return convHostRoutes(name, v)
}

func floatingIPs() *table[neutron.FloatingIP, neutron.FloatingIPCreate, neutron.FloatingIPUpdate] {
	type (
		F  = neutron.FloatingIP
		FC = neutron.FloatingIPCreate
		FU = neutron.FloatingIPUpdate
	)
	t := newTable[F, FC, FU]("floatingip", "floatingips")
	project := func(f *F) string { return f.ProjectID }
	t.add(ro("id"), str(func(f *F) string { return f.ID }))
	t.add(po("floating_ip_address", convNullableIP).adminWriteOnly(), str(func(f *F) string { return f.FloatingIPAddress })).
		onCreate(set(func(c *FC, v string) { c.FloatingIPAddress = v }))
	// subnet_id is input only (is_visible False).
	t.add(po("subnet_id", convNullableUUID), str(func(*F) string { return "" })).
		when(func(*F) bool { return false }).
		onCreate(set(func(c *FC, v string) { c.SubnetID = v }))
	t.add(po("floating_network_id", convUUID).req(), str(func(f *F) string { return f.FloatingNetworkID })).
		onCreate(set(func(c *FC, v string) { c.FloatingNetworkID = v }))
	t.add(ro("router_id"), strOrNull(func(f *F) string { return f.RouterID }))
	t.add(rw("port_id", convNullableUUID), strOrNull(func(f *F) string { return f.PortID })).
		onCreate(set(func(c *FC, v string) { c.PortID = v })).
		onUpdate(set(func(u *FU, v string) { u.SetPort, u.PortID = true, v }))
	t.add(rw("fixed_ip_address", convNullableIP), strOrNull(func(f *F) string { return f.FixedIPAddress })).
		onCreate(set(func(c *FC, v string) { c.FixedIPAddress = v })).
		onUpdate(set(func(u *FU, v string) { u.FixedIPAddress = v }))
	t.add(po("tenant_id", convString(255)), str(project))
	t.add(ro("status"), str(func(f *F) string { return f.Status }))
	t.add(po("project_id", convString(255)), str(project))
	t.add(rw("description", convString(255)), str(func(f *F) string { return f.Description })).
		onCreate(set(func(c *FC, v string) { c.Description = v })).
		onUpdate(set(func(u *FU, v string) { u.Description = &v }))
	t.add(ro("port_details"), encoder[F]{fn: appendPortDetails})
	t.add(ro("tags"), strList(func(f *F) []string { return f.Tags }))
	t.add(ro("created_at"), timestamp(func(f *F) time.Time { return f.CreatedAt }, timeFormat))
	t.add(ro("updated_at"), timestamp(func(f *F) time.Time { return f.UpdatedAt }, timeFormat))
	t.add(ro("revision_number"), integer(func(f *F) int64 { return f.RevisionNumber }))
	t.tagged()
	t.facts = func(f *F) entity { return entity{id: f.ID, project: f.ProjectID, tags: f.Tags} }
	t.finishCreate = func(c *FC, project string, _ map[string]any) *neutron.Error {
		c.ProjectID = project
		return nil
	}
	t.finishUpdate = func(u *FU, ifRev int64, _ map[string]any) *neutron.Error {
		u.IfRevision = ifRev
		return nil
	}
	return t
}

func appendPortDetails(b []byte, f *neutron.FloatingIP) []byte {
	d := f.PortDetails
	if d == nil {
		return append(b, "null"...)
	}
	o := openObject(b)
	o.str("name", d.Name).str("network_id", d.NetworkID).str("mac_address", d.MACAddress)
	o.key("admin_state_up")
	o.b = strconv.AppendBool(o.b, d.AdminStateUp)
	return o.str("status", d.Status).str("device_id", d.DeviceID).str("device_owner", d.DeviceOwner).close()
}

// convNullableUUID is type:uuid_or_none ("" for null).
func convNullableUUID(name string, v any) (any, *neutron.Error) {
	if v == nil {
		return "", nil
	}
	return convUUID(name, v)
}

// gatewayPolicy applies the rules on external_gateway_info's keys that
// Neutron reserves to admins (enable_snat, external_fixed_ips).
func gatewayPolicy(ctx context.Context, action string, g *neutron.GatewayRequest, project string) error {
	if g == nil {
		return nil
	}
	c := CallerFrom(ctx)
	t := target(project, nil, nil)
	var denied []string
	for _, k := range []struct {
		name  string
		given bool
	}{{"enable_snat", g.EnableSNAT != nil}, {"external_fixed_ips", g.ExternalFixedIPs != nil}} {
		rule := action + ":external_gateway_info:" + k.name
		if k.given && (c.has(rule) && !c.allowed(rule, t) || !c.has(rule) && !c.Admin) {
			denied = append(denied, "external_gateway_info:"+k.name)
		}
	}
	if len(denied) > 0 {
		return errPolicy(action, denied)
	}
	return nil
}

func routerKind(b Backend) *kind {
	return routers().kind(crud[neutron.Router, neutron.RouterCreate, neutron.RouterUpdate]{
		get: b.GetRouter, list: b.ListRouters, delete: b.DeleteRouter,
		create: func(ctx context.Context, reqs []neutron.RouterCreate) ([]*neutron.Router, error) {
			for _, r := range reqs {
				if err := gatewayPolicy(ctx, "create_router", r.Gateway, r.ProjectID); err != nil {
					return nil, err
				}
			}
			return b.CreateRouters(ctx, reqs)
		},
		update: func(ctx context.Context, id string, u neutron.RouterUpdate) (*neutron.Router, error) {
			if u.SetGateway {
				cur, err := b.GetRouter(ctx, id)
				if err != nil {
					return nil, err
				}
				if err := gatewayPolicy(ctx, "update_router", u.Gateway, cur.ProjectID); err != nil {
					return nil, err
				}
			}
			return b.UpdateRouter(ctx, id, u)
		},
	})
}

func floatingIPKind(b Backend) *kind {
	// A project associates its floating IPs with its own ports only.
	checkPort := func(ctx context.Context, portID, project string) error {
		c := CallerFrom(ctx)
		if portID == "" || c.Admin {
			return nil
		}
		p, err := b.GetPort(ctx, portID)
		if err != nil {
			return err
		}
		if p.ProjectID != c.ProjectID {
			return notFound("port", portID)
		}
		if p.ProjectID != project {
			return neutron.Errorf(http.StatusBadRequest, "BadRequest", "Bad floatingip request: Cannot create floating IP and bind it to Port %s, since that port is owned by a different tenant.", portID)
		}
		return nil
	}
	return floatingIPs().kind(crud[neutron.FloatingIP, neutron.FloatingIPCreate, neutron.FloatingIPUpdate]{
		get: b.GetFloatingIP, list: b.ListFloatingIPs, delete: b.DeleteFloatingIP,
		create: func(ctx context.Context, reqs []neutron.FloatingIPCreate) ([]*neutron.FloatingIP, error) {
			for _, r := range reqs {
				if err := checkPort(ctx, r.PortID, r.ProjectID); err != nil {
					return nil, err
				}
			}
			return b.CreateFloatingIPs(ctx, reqs)
		},
		update: func(ctx context.Context, id string, u neutron.FloatingIPUpdate) (*neutron.FloatingIP, error) {
			if u.SetPort && u.PortID != "" {
				cur, err := b.GetFloatingIP(ctx, id)
				if err != nil {
					return nil, err
				}
				if err := checkPort(ctx, u.PortID, cur.ProjectID); err != nil {
					return nil, err
				}
			}
			return b.UpdateFloatingIP(ctx, id, u)
		},
	})
}

// serveRouterInterface answers PUT /v2.0/routers/{id}/add_router_interface
// and remove_router_interface.
func (s *Server) serveRouterInterface(w http.ResponseWriter, r *http.Request, c Caller, id, action string) {
	if r.Method != "PUT" {
		writeFault(w, errMethodNotAllowed())
		return
	}
	body, e := s.readBody(r)
	if e != nil {
		writeFault(w, e)
		return
	}
	req, e := parseInterfaceBody(body)
	if e != nil {
		writeFault(w, e)
		return
	}
	k := s.kinds["routers"]
	cur, err := s.fetch(r, c, k, id)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	if !ownerOrAdmin(c, cur.project) || !c.allowed(action, target(cur.project, nil, nil)) {
		writeFault(w, errForbidden(action))
		return
	}
	// The subnet or port is looked up as the caller sees it.
	if req.SubnetID != "" {
		if _, err := s.fetch(r, c, s.kinds["subnets"], req.SubnetID); err != nil {
			s.writeErr(w, r, err)
			return
		}
	}
	if req.PortID != "" {
		if _, err := s.fetch(r, c, s.kinds["ports"], req.PortID); err != nil {
			s.writeErr(w, r, err)
			return
		}
	}
	var info *neutron.RouterInterfaceInfo
	if action == "add_router_interface" {
		info, err = s.b.AddRouterInterface(r.Context(), id, req)
	} else {
		info, err = s.b.RemoveRouterInterface(r.Context(), id, req)
	}
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

// parseInterfaceBody reads {"subnet_id": ..., "port_id": ...} (both
// optional; other keys are ignored, as Neutron does).
func parseInterfaceBody(body []byte) (neutron.RouterInterfaceRequest, *neutron.Error) {
	var req neutron.RouterInterfaceRequest
	if len(body) == 0 {
		return req, neutron.BadRequest("Body contains invalid data")
	}
	top, e := decodeJSON(body)
	if e != nil {
		return req, e
	}
	for _, k := range []string{"subnet_id", "port_id"} {
		v, ok := top[k]
		if !ok || v == nil {
			continue
		}
		id, e := convUUID(k, v)
		if e != nil {
			return req, e
		}
		if k == "subnet_id" {
			req.SubnetID = id.(string)
		} else {
			req.PortID = id.(string)
		}
	}
	return req, nil
}
