package api

import (
	"context"
	"encoding/json"
	"net/http"

	"neutrino/internal/neutron"
	"neutrino/internal/policy"
)

// The l3_agent_scheduler extension: which L3 agent hosts which routers,
// admin only (Neutron's get_l3-routers, create_l3-router,
// delete_l3-router, get_l3-agents rules):
//
//	GET    /v2.0/agents/{id}/l3-routers              {"routers": [...]}
//	POST   /v2.0/agents/{id}/l3-routers              {"router_id": ...} -> 201 null
//	DELETE /v2.0/agents/{id}/l3-routers/{router id}  -> 204
//	GET    /v2.0/routers/{id}/l3-agents              {"agents": [...]}

// L3Scheduler is what the extension needs of the plugin (ml2.Plugin).
type L3Scheduler interface {
	// L3Bindings lists the bindings of a router or of an agent (404 for
	// an unknown one).
	L3Bindings(ctx context.Context, routerID, agentID string) ([]neutron.L3Binding, error)
	AddRouterToL3Agent(ctx context.Context, agentID, routerID string) error
	RemoveRouterFromL3Agent(ctx context.Context, agentID, routerID string) error
}

// l3SchedulerRoute serves the extension's paths; false when seg is not
// one of them (or the server has no routers resource).
func (s *Server) l3SchedulerRoute(w http.ResponseWriter, r *http.Request, c Caller, seg []string) bool {
	ls, ok := s.b.(L3Scheduler)
	if !ok || len(seg) < 3 || s.kinds["routers"] == nil {
		return false
	}
	switch {
	case seg[0] == "agents" && seg[2] == "l3-routers" && len(seg) == 3:
		switch r.Method {
		case "GET":
			s.l3Routers(w, r, c, ls, seg[1])
		case "POST":
			s.addL3Router(w, r, c, ls, seg[1])
		default:
			writeFault(w, errMethodNotAllowed())
		}
	case seg[0] == "agents" && seg[2] == "l3-routers" && len(seg) == 4:
		s.only(w, r, "DELETE", func() {
			if !c.allowed("delete_l3-router", policy.Target{}) {
				writeFault(w, errForbidden("delete_l3-router"))
				return
			}
			if err := ls.RemoveRouterFromL3Agent(r.Context(), seg[1], seg[3]); err != nil {
				s.writeErr(w, r, err)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		})
	case seg[0] == "routers" && seg[2] == "l3-agents" && len(seg) == 3:
		s.only(w, r, "GET", func() { s.l3Agents(w, r, c, ls, seg[1]) })
	default:
		return false
	}
	return true
}

func (s *Server) l3Routers(w http.ResponseWriter, r *http.Request, c Caller, ls L3Scheduler, agentID string) {
	if !c.allowed("get_l3-routers", policy.Target{}) {
		writeFault(w, errForbidden("get_l3-routers"))
		return
	}
	bs, err := ls.L3Bindings(r.Context(), "", agentID)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	ids := make([]string, len(bs))
	for i, b := range bs {
		ids[i] = b.RouterID
	}
	s.writeByIDs(w, r, c, s.kinds["routers"], ids)
}

func (s *Server) l3Agents(w http.ResponseWriter, r *http.Request, c Caller, ls L3Scheduler, routerID string) {
	if !c.allowed("get_l3-agents", policy.Target{}) {
		writeFault(w, errForbidden("get_l3-agents"))
		return
	}
	bs, err := ls.L3Bindings(r.Context(), routerID, "")
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

func (s *Server) addL3Router(w http.ResponseWriter, r *http.Request, c Caller, ls L3Scheduler, agentID string) {
	if !c.allowed("create_l3-router", policy.Target{}) {
		writeFault(w, errForbidden("create_l3-router"))
		return
	}
	body, e := s.readBody(r)
	if e != nil {
		writeFault(w, e)
		return
	}
	var req struct {
		RouterID *string `json:"router_id"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeFault(w, neutron.BadRequest("Body contains invalid data"))
		return
	}
	if req.RouterID == nil || *req.RouterID == "" {
		writeFault(w, neutron.BadRequest("Failed to parse request. Required attribute 'router_id' not specified"))
		return
	}
	if err := ls.AddRouterToL3Agent(r.Context(), agentID, *req.RouterID); err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeBody(w, http.StatusCreated, []byte("null"))
}
