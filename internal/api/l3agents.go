package api

import (
	"context"

	"neutrino/internal/neutron"
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

// l3Scheduler is the extension on the agent-scheduler mechanism.
func l3Scheduler(ls L3Scheduler) agentScheduler {
	return agentScheduler{hosted: "l3-routers", rule: "l3-router", resource: "routers", hosts: "l3-agents",
		idKey: "router_id",
		bindings: func(ctx context.Context, routerID, agentID string) ([]hostedBy, error) {
			bs, err := ls.L3Bindings(ctx, routerID, agentID)
			out := make([]hostedBy, len(bs))
			for i, b := range bs {
				out[i] = hostedBy{b.RouterID, b.AgentID}
			}
			return out, err
		},
		add: ls.AddRouterToL3Agent, remove: ls.RemoveRouterFromL3Agent}
}
