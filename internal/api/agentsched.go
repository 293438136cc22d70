package api

import (
	"context"
	"encoding/json"
	"net/http"

	"neutrino/internal/neutron"
	"neutrino/internal/policy"
)

// agentScheduler is one of Neutron's agent-scheduler extensions
// (dhcp_agent_scheduler, l3_agent_scheduler), admin only by policy:
//
//	GET    /v2.0/agents/{id}/<hosted>             {"<resource>": [...]}
//	POST   /v2.0/agents/{id}/<hosted>             {"<idKey>": ...} -> 201 null
//	DELETE /v2.0/agents/{id}/<hosted>/{res id}    -> 204
//	GET    /v2.0/<resource>/{id}/<hosts>          {"agents": [...]}
//
// The policy rules are get_<hosted>, create_<rule>, delete_<rule> and
// get_<hosts>, as Neutron names them.
type agentScheduler struct {
	hosted, rule, resource, hosts, idKey string
	// bindings lists what a resource's or an agent's bindings are (404
	// for an unknown agent).
	bindings    func(ctx context.Context, resourceID, agentID string) ([]hostedBy, error)
	add, remove func(ctx context.Context, agentID, resourceID string) error
}

// hostedBy is one binding: the resource and the agent hosting it.
type hostedBy struct{ resourceID, agentID string }

// agentSchedulers are the extensions the backend implements.
func agentSchedulers(b Backend) []agentScheduler {
	var out []agentScheduler
	if ds, ok := b.(DHCPScheduler); ok {
		out = append(out, dhcpScheduler(ds))
	}
	if ls, ok := b.(L3Scheduler); ok {
		out = append(out, l3Scheduler(ls))
	}
	return out
}

// schedulerRoute serves the extensions' paths; false when seg is none of
// them (or the hosted resource is not served).
func (s *Server) schedulerRoute(w http.ResponseWriter, r *http.Request, c Caller, seg []string) bool {
	if len(seg) < 3 {
		return false
	}
	for _, x := range agentSchedulers(s.b) {
		if s.kinds[x.resource] == nil {
			continue
		}
		switch {
		case seg[0] == "agents" && seg[2] == x.hosted && len(seg) == 3:
			switch r.Method {
			case "GET":
				s.listBound(w, r, c, x, "get_"+x.hosted, "", seg[1], x.resource)
			case "POST":
				s.addBinding(w, r, c, x, seg[1])
			default:
				writeFault(w, errMethodNotAllowed())
			}
		case seg[0] == "agents" && seg[2] == x.hosted && len(seg) == 4:
			s.only(w, r, "DELETE", func() {
				if !c.allowed("delete_"+x.rule, policy.Target{}) {
					writeFault(w, errForbidden("delete_"+x.rule))
					return
				}
				if err := x.remove(r.Context(), seg[1], seg[3]); err != nil {
					s.writeErr(w, r, err)
					return
				}
				w.WriteHeader(http.StatusNoContent)
			})
		case seg[0] == x.resource && seg[2] == x.hosts && len(seg) == 3:
			s.only(w, r, "GET", func() { s.listBound(w, r, c, x, "get_"+x.hosts, seg[1], "", "agents") })
		default:
			continue
		}
		return true
	}
	return false
}

// listBound answers with the resources (of collection coll) on the other
// side of a resource's or an agent's bindings.
func (s *Server) listBound(w http.ResponseWriter, r *http.Request, c Caller, x agentScheduler, rule, resourceID, agentID, coll string) {
	if !c.allowed(rule, policy.Target{}) {
		writeFault(w, errForbidden(rule))
		return
	}
	bs, err := x.bindings(r.Context(), resourceID, agentID)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	ids := make([]string, len(bs))
	for i, b := range bs {
		ids[i] = b.resourceID
		if coll == "agents" {
			ids[i] = b.agentID
		}
	}
	s.writeByIDs(w, r, c, s.kinds[coll], ids)
}

func (s *Server) addBinding(w http.ResponseWriter, r *http.Request, c Caller, x agentScheduler, agentID string) {
	if !c.allowed("create_"+x.rule, policy.Target{}) {
		writeFault(w, errForbidden("create_"+x.rule))
		return
	}
	body, e := s.readBody(r)
	if e != nil {
		writeFault(w, e)
		return
	}
	var req map[string]json.RawMessage
	var id *string
	if err := json.Unmarshal(body, &req); err != nil {
		writeFault(w, neutron.BadRequest("Body contains invalid data"))
		return
	}
	if raw, ok := req[x.idKey]; ok {
		if err := json.Unmarshal(raw, &id); err != nil {
			writeFault(w, neutron.BadRequest("Body contains invalid data"))
			return
		}
	}
	if id == nil || *id == "" {
		writeFault(w, neutron.BadRequest("Failed to parse request. Required attribute '%s' not specified", x.idKey))
		return
	}
	if err := x.add(r.Context(), agentID, *id); err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeBody(w, http.StatusCreated, []byte("null"))
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
