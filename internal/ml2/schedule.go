package ml2

import (
	"cmp"
	"context"
	"slices"
	"time"

	"neutrino/internal/neutron"
	"neutrino/internal/store"
)

// What the DHCP and L3 agent schedulers share: agents as a scheduler sees
// them, and the least-loaded placement.

// schedAgent is an agent as a scheduler sees it in one transaction.
type schedAgent struct {
	ID, Host string
	// Load is the number of networks (DHCP) or routers (L3) the agent
	// hosts. Neutron's schedulers read the count the agent last reported
	// (WeightScheduler) or count bindings (LeastRoutersScheduler); the
	// bindings are the same number without a report interval's lag, so two
	// resources scheduled in one interval do not both go to the agent that
	// looked idle.
	Load int
	// Eligible: alive and admin up, so it may host more.
	Eligible bool
	// Keeps: admin up and not dead (see deadLimit), so what it hosts
	// stays with it. An agent silent for longer than agent_down_time but
	// not yet for the dead limit takes nothing new and loses nothing.
	Keeps bool
}

// agentDeadFactor times agent_down_time is how long an agent must be
// silent before a scheduler takes what it hosts away from it (Neutron's
// agent_dead_limit_seconds, twice agent_down_time): a restart or a loaded
// host that misses a few reports keeps its networks, ports and all.
const agentDeadFactor = 2

// deadLimit is how long an agent is silent before it is dead to the
// schedulers (it shows alive false after agent_down_time already).
func (p *Plugin) deadLimit() time.Duration { return agentDeadFactor * p.downAft }

// planAgents decides a resource's agents (pure). Bindings to agents that
// may not keep them (dead, admin down, deleted) are dropped; then the
// least loaded eligible agents not yet bound are added until want agents
// serve (ties by host, then id, so two servers decide alike). Bindings
// beyond want that an admin added stay. want 0 drops every binding.
func planAgents(bound []string, agents map[string]*schedAgent, want int) (drop, add []string) {
	kept := map[string]bool{}
	for _, id := range bound {
		if a := agents[id]; want > 0 && a != nil && a.Keeps {
			kept[id] = true
		} else {
			drop = append(drop, id)
		}
	}
	if len(kept) >= want {
		return drop, nil
	}
	var cands []*schedAgent
	for _, a := range agents {
		if a.Eligible && !kept[a.ID] {
			cands = append(cands, a)
		}
	}
	slices.SortFunc(cands, func(a, b *schedAgent) int {
		return cmp.Or(cmp.Compare(a.Load, b.Load), cmp.Compare(a.Host, b.Host), cmp.Compare(a.ID, b.ID))
	})
	for _, a := range cands[:min(len(cands), want-len(kept))] {
		add = append(add, a.ID)
	}
	return drop, add
}

// readSchedAgents reads every agent of agentType with its load (from
// loads, by agent id), eligibility and whether it keeps what it hosts.
func (p *Plugin) readSchedAgents(ctx context.Context, t *store.Tx, agentType string, loads map[string]int) (map[string]*schedAgent, error) {
	as, err := t.ListAgents(ctx, neutron.ListQuery{Filters: map[string][]string{"agent_type": {agentType}}})
	if err != nil {
		return nil, err
	}
	now := p.now()
	out := make(map[string]*schedAgent, len(as))
	for i := range as {
		a := &as[i]
		out[a.ID] = &schedAgent{ID: a.ID, Host: a.Host, Load: loads[a.ID], Eligible: a.AdminStateUp && p.alive(a, now),
			Keeps: a.AdminStateUp && now.Sub(a.HeartbeatAt) <= p.deadLimit()}
	}
	return out, nil
}
