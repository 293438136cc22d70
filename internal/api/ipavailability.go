package api

import (
	"context"
	"net/http"
	"net/url"

	"neutrino/internal/neutron"
)

// IPAvailabilityBackend is what the network-ip-availability extension
// needs from the plugin (ml2.Plugin implements it).
type IPAvailabilityBackend interface {
	NetworkIPAvailabilities(ctx context.Context, filters map[string][]string) ([]neutron.NetworkIPAvailability, error)
}

// ipAvailabilityFilters are the filters Neutron's extension takes.
var ipAvailabilityFilters = map[string]bool{"network_id": true, "network_name": true, "tenant_id": true, "project_id": true, "ip_version": true}

// serveIPAvailability answers GET /v2.0/network-ip-availabilities[/{id}]
// (id is "" for the collection). Neutron's get_network_ip_availability is
// admin only: other callers get an empty list, and 404 for one network
// (a policy-hidden resource does not exist).
func (s *Server) serveIPAvailability(w http.ResponseWriter, r *http.Request, c Caller, id string, q url.Values) {
	filters := map[string][]string{}
	for k, v := range q {
		switch {
		case ipAvailabilityFilters[k]:
			filters[k] = v
		case pagingParams[k]:
		default:
			writeFault(w, neutron.BadRequest("%s is invalid attribute for filtering", k))
			return
		}
	}
	allowed := c.allowed("get_network_ip_availability", map[string]any{"project_id": c.ProjectID, "tenant_id": c.ProjectID})
	if id != "" {
		filters = map[string][]string{"network_id": {id}}
		if !allowed {
			writeFault(w, errNotFoundResource())
			return
		}
	}
	var list []neutron.NetworkIPAvailability
	if allowed {
		var err error
		if list, err = s.b.NetworkIPAvailabilities(r.Context(), filters); err != nil {
			s.writeErr(w, r, err)
			return
		}
	}
	fields := fieldsOf(q)
	if id != "" {
		if len(list) == 0 {
			writeFault(w, neutron.NotFound("Network", id))
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"network_ip_availability": selectFields(renderIPAvailability(list[0]), fields)})
		return
	}
	out := make([]any, len(list))
	for i, a := range list {
		out[i] = selectFields(renderIPAvailability(a), fields)
	}
	writeJSON(w, http.StatusOK, map[string]any{"network_ip_availabilities": out})
}

func renderIPAvailability(a neutron.NetworkIPAvailability) map[string]any {
	subs := make([]any, len(a.Subnets))
	for i, s := range a.Subnets {
		subs[i] = map[string]any{"subnet_id": s.SubnetID, "ip_version": s.IPVersion, "cidr": s.CIDR,
			"subnet_name": s.SubnetName, "used_ips": s.UsedIPs, "total_ips": s.TotalIPs}
	}
	return map[string]any{"network_id": a.NetworkID, "network_name": a.NetworkName, "tenant_id": a.ProjectID,
		"project_id": a.ProjectID, "subnet_ip_availability": subs, "used_ips": a.UsedIPs, "total_ips": a.TotalIPs}
}

// selectFields keeps only the fields asked for (all when none).
func selectFields(m map[string]any, fields []string) map[string]any {
	if len(fields) == 0 {
		return m
	}
	out := map[string]any{}
	for _, f := range fields {
		if v, ok := m[f]; ok {
			out[f] = v
		}
	}
	return out
}
