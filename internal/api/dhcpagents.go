package api

import (
	"context"
	"encoding/json"
	"net/http"

	"neutrino/internal/neutron"
	"neutrino/internal/policy"
)

// The dhcp_agent_scheduler extension: which DHCP agents host which
// networks, admin only (Neutron's get_dhcp-networks, create_dhcp-network,
// delete_dhcp-network, get_dhcp-agents rules):
//
//	GET    /v2.0/agents/{id}/dhcp-networks           {"networks": [...]}
//	POST   /v2.0/agents/{id}/dhcp-networks           {"network_id": ...} -> 201 null
//	DELETE /v2.0/agents/{id}/dhcp-networks/{net id}  -> 204
//	GET    /v2.0/networks/{id}/dhcp-agents           {"agents": [...]}

// DHCPScheduler is what the extension needs of the plugin (ml2.Plugin).
type DHCPScheduler interface {
	// DHCPBindings lists the bindings of a network or of an agent (404
	// AgentNotFound for an unknown agent).
	DHCPBindings(ctx context.Context, networkID, agentID string) ([]neutron.DHCPBinding, error)
	AddNetworkToDHCPAgent(ctx context.Context, agentID, networkID string) error
	RemoveNetworkFromDHCPAgent(ctx context.Context, agentID, networkID string) error
}

// dhcpSchedulerRoute serves the extension's paths; false when seg is not
// one of them.
func (s *Server) dhcpSchedulerRoute(w http.ResponseWriter, r *http.Request, c Caller, seg []string) bool {
	ds, ok := s.b.(DHCPScheduler)
	if !ok || len(seg) < 3 {
		return false
	}
	switch {
	case seg[0] == "agents" && seg[2] == "dhcp-networks" && len(seg) == 3:
		switch r.Method {
		case "GET":
			s.dhcpNetworks(w, r, c, ds, seg[1])
		case "POST":
			s.addDHCPNetwork(w, r, c, ds, seg[1])
		default:
			writeFault(w, errMethodNotAllowed())
		}
	case seg[0] == "agents" && seg[2] == "dhcp-networks" && len(seg) == 4:
		s.only(w, r, "DELETE", func() {
			if !c.allowed("delete_dhcp-network", policy.Target{}) {
				writeFault(w, errForbidden("delete_dhcp-network"))
				return
			}
			if err := ds.RemoveNetworkFromDHCPAgent(r.Context(), seg[1], seg[3]); err != nil {
				s.writeErr(w, r, err)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		})
	case seg[0] == "networks" && seg[2] == "dhcp-agents" && len(seg) == 3:
		s.only(w, r, "GET", func() { s.dhcpAgents(w, r, c, ds, seg[1]) })
	default:
		return false
	}
	return true
}

func (s *Server) dhcpNetworks(w http.ResponseWriter, r *http.Request, c Caller, ds DHCPScheduler, agentID string) {
	if !c.allowed("get_dhcp-networks", policy.Target{}) {
		writeFault(w, errForbidden("get_dhcp-networks"))
		return
	}
	bs, err := ds.DHCPBindings(r.Context(), "", agentID)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	ids := make([]string, len(bs))
	for i, b := range bs {
		ids[i] = b.NetworkID
	}
	s.writeByIDs(w, r, c, s.kinds["networks"], ids)
}

func (s *Server) dhcpAgents(w http.ResponseWriter, r *http.Request, c Caller, ds DHCPScheduler, networkID string) {
	if !c.allowed("get_dhcp-agents", policy.Target{}) {
		writeFault(w, errForbidden("get_dhcp-agents"))
		return
	}
	bs, err := ds.DHCPBindings(r.Context(), networkID, "")
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	ids := make([]string, len(bs))
	for i, b := range bs {
		ids[i] = b.AgentID
	}
	s.writeByIDs(w, r, c, s.kinds["agents"], ids)
}

// writeByIDs answers {"<collection>": [...]} with the resources of k
// named by ids, rendered as k's list renders them.
func (s *Server) writeByIDs(w http.ResponseWriter, r *http.Request, c Caller, k *kind, ids []string) {
	var items []*entity
	if len(ids) > 0 {
		var err error
		if items, err = k.list(r.Context(), neutron.ListQuery{Filters: map[string][]string{"id": ids}}); err != nil {
			s.writeErr(w, r, err)
			return
		}
	}
	sel := k.res.selection(c, nil, false)
	b := append(appendString([]byte{'{'}, k.res.collection), ':', '[')
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = it.encode(b, sel)
	}
	writeBody(w, http.StatusOK, append(b, ']', '}'))
}

func (s *Server) addDHCPNetwork(w http.ResponseWriter, r *http.Request, c Caller, ds DHCPScheduler, agentID string) {
	if !c.allowed("create_dhcp-network", policy.Target{}) {
		writeFault(w, errForbidden("create_dhcp-network"))
		return
	}
	body, e := s.readBody(r)
	if e != nil {
		writeFault(w, e)
		return
	}
	var req struct {
		NetworkID *string `json:"network_id"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeFault(w, neutron.BadRequest("Body contains invalid data"))
		return
	}
	if req.NetworkID == nil || *req.NetworkID == "" {
		writeFault(w, neutron.BadRequest("Failed to parse request. Required attribute 'network_id' not specified"))
		return
	}
	if err := ds.AddNetworkToDHCPAgent(r.Context(), agentID, *req.NetworkID); err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeBody(w, http.StatusCreated, []byte("null"))
}
