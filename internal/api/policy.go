package api

import (
	"maps"
	"net/http"
	"strings"

	"neutrino/internal/neutron"
	"neutrino/internal/policy"
)

// Neutron's default policy (2023.1, without the new RBAC defaults), the
// parts that matter for networks, subnets, ports and agents:
//   - admins see and change everything;
//   - a project sees its own resources, shared and external networks, and
//     the subnets and ports of networks it owns; anything else is 404, not
//     403;
//   - provider:*, segments, router:external, shared and binding:host_id /
//     binding:profile may be written by admins only (403 otherwise);
//   - binding:host_id, profile, vif_type, vif_details, provider:* and
//     segments are stripped from non-admin responses;
//   - agents are admin-only (a project lists none and gets 404 on one);
//   - writing a resource a project can see but does not own is 403.

// ownerOrAdmin reports whether c may write a resource owned by project.
func ownerOrAdmin(c Caller, project string) bool {
	return c.Admin || (c.ProjectID != "" && c.ProjectID == project)
}

// visible reports whether c may read e. network is e's network (subnets,
// ports) or nil; it is only consulted for non-admin callers.
func visible(c Caller, k *kind, e *entity, network *entity) bool {
	if c.Admin {
		return true
	}
	if k.adminOnly {
		return false
	}
	if ownerOrAdmin(c, e.project) {
		return true
	}
	switch k.res.name {
	case "network":
		return e.shared || e.external
	case "subnet":
		return network != nil && (network.shared || ownerOrAdmin(c, network.project))
	case "port":
		return network != nil && ownerOrAdmin(c, network.project)
	case "subnetpool":
		return e.shared // shared_subnetpools
	}
	return false
}

// deniedAttrs lists the attributes in a body that c may not write, in
// attribute-map order (that order shows in the PolicyNotAuthorized text).
// The attributes Neutron reserves to admins are decided by their rule
// ("create_network:shared", ...), so policy.yaml can grant them to others.
func deniedAttrs(c Caller, action string, res *resource, attrs map[string]any, t policy.Target) []string {
	var out []string
	for _, a := range res.attrs {
		if _, ok := attrs[a.name]; !ok || !a.adminWrite {
			continue
		}
		rule := action + ":" + a.name
		if c.has(rule) && !c.allowed(rule, t) || !c.has(rule) && !c.Admin {
			out = append(out, a.name)
		}
	}
	return out
}

// portOnForeignNetwork: on a network that is not the caller's, a port
// gets its addresses and MAC from the server (Neutron's
// create_port:fixed_ips:ip_address and create_port:mac_address are for
// the network's owner).
func portOnForeignNetwork(action string, attrs map[string]any) *neutron.Error {
	var denied []string
	if f, ok := attrs["fixed_ips"].([]neutron.FixedIPRequest); ok {
		for _, x := range f {
			if x.IPAddress != "" {
				denied = append(denied, "fixed_ips:ip_address")
				break
			}
		}
	}
	if _, ok := attrs["mac_address"]; ok {
		denied = append(denied, "mac_address")
	}
	if len(denied) > 0 {
		return errPolicy(action, denied)
	}
	return nil
}

// subnetOnForeignNetwork: only a network's owner adds subnets to it.
func subnetOnForeignNetwork(action string, _ map[string]any) *neutron.Error {
	return errForbidden(action)
}

// deniedPortAttrs lists the attributes of a port update that c may not
// write, beyond the admin-only ones: Neutron's update_port:fixed_ips (the
// network's owner or an admin) and update_port:device_owner (a
// network:* owner only by the network's owner or an admin). A port that
// belongs to a router or a floating IP keeps its device_owner against
// every non-admin, the network's owner included (stricter than Neutron,
// which lets that owner rename the port): the router service owns those
// ports, and a renamed router port would leave the port API's guards
// (L3PortInUse) and the router. Their fixed_ips follow Neutron's rule
// (Tempest's test_router_interface_port_update_with_fixed_ip updates
// them as the network's owner); ml2 refuses a router interface's IPv4
// address change for everyone.
func deniedPortAttrs(c Caller, port *entity, attrs map[string]any, t policy.Target) []string {
	if c.Admin {
		return nil
	}
	netOwner, _ := t["network:project_id"].(string)
	byNetOwner := netOwner != "" && netOwner == c.ProjectID
	l3 := neutron.L3Owned(port.owner)
	// rule: the policy's rule decides where there is one (Neutron's
	// defaults or policy.yaml), on the port as it would be after the
	// update, as Neutron's target is.
	rule := func(name string, def bool) bool {
		if !c.has(name) {
			return def
		}
		after := maps.Clone(t)
		for k, v := range attrs {
			after[k] = v
		}
		return c.allowed(name, after)
	}
	var out []string
	if _, ok := attrs["fixed_ips"]; ok && !rule("update_port:fixed_ips", byNetOwner) {
		out = append(out, "fixed_ips")
	}
	if v, ok := attrs["device_owner"].(string); ok &&
		(l3 && v != port.owner || !rule("update_port:device_owner", byNetOwner || !strings.HasPrefix(v, "network:"))) {
		out = append(out, "device_owner")
	}
	return out
}

// target is the object of an action on e (or on a new resource of project
// in network net) for the policy rules: its owner, shared flag and the
// owner of its network.
func target(project string, attrs map[string]any, network *entity) policy.Target {
	t := policy.Target{}
	for k, v := range attrs {
		t[k] = v
	}
	t["project_id"], t["tenant_id"] = project, project
	if network != nil {
		t["network:tenant_id"], t["network:project_id"] = network.project, network.project
		if _, ok := t["shared"]; !ok {
			t["shared"] = network.shared
		}
	}
	return t
}

// entityTarget is target for an existing resource; subnets and ports carry
// their network's owner (rules such as admin_or_network_owner need it).
func (s *Server) entityTarget(r *http.Request, k *kind, e *entity) policy.Target {
	var network *entity
	if e.networkID != "" {
		network, _ = s.kinds["networks"].get(r.Context(), e.networkID)
	}
	t := target(e.project, nil, network)
	if k.res.name == "network" {
		t["shared"] = e.shared
	}
	return t
}

// createProject decides the owner of a new resource from the body's
// tenant_id/project_id and the caller, with Neutron's faults.
func createProject(c Caller, attrs map[string]any) (string, *neutron.Error) {
	t, hasT := aStr(attrs, "tenant_id")
	p, hasP := aStr(attrs, "project_id")
	if hasT && hasP && t != p {
		return "", neutron.BadRequest("'project_id' and 'tenant_id' do not match")
	}
	if !hasP {
		p = t
	}
	if p == "" {
		if c.ProjectID == "" {
			return "", neutron.BadRequest("Running without keystone AuthN requires that tenant_id is specified")
		}
		return c.ProjectID, nil
	}
	if !c.Admin && p != c.ProjectID {
		return "", neutron.BadRequest("Specifying 'project_id' or 'tenant_id' other than the authenticated project in request requires admin privileges")
	}
	return p, nil
}

// visibleTo is the ListQuery restriction for c ("" = everything).
func visibleTo(c Caller) string {
	if c.Admin {
		return ""
	}
	if c.ProjectID == "" {
		// A non-admin without a project owns nothing; this id matches no row.
		return "-"
	}
	return c.ProjectID
}

var errForbidden = func(action string) *neutron.Error { return errPolicy(action, nil) }
