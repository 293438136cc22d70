package ml2

import (
	"context"
	"fmt"

	"neutrino/internal/neutron"
	"neutrino/internal/store"
)

// L3 agent scheduling, as Neutron's l3_agent_scheduler with
// LeastRoutersScheduler does it for legacy routers (a distributed router
// goes to no agent: every neutrino L3 agent is legacy): each router lives on
// one alive, admin-up L3 agent, the one hosting the fewest routers. It is
// placed in the transaction that creates the router or changes its
// gateway, or, for routers made while no L3 agent could take them, in the
// one that registers the first such agent. A router is not moved off an
// agent that dies (Neutron does so only with
// allow_automatic_l3agent_failover); an admin moves it with the
// l3_agent_scheduler extension. The router's ports carry the hosting
// agent's host as binding:host_id, so the L2 agent there wires them and
// l2pop tells the other nodes where they live.

// readL3Agents reads every L3 agent with its load (the routers it hosts)
// and eligibility.
func (p *Plugin) readL3Agents(ctx context.Context, t *store.Tx) (map[string]*schedAgent, error) {
	loads, err := t.L3AgentLoads(ctx)
	if err != nil {
		return nil, err
	}
	return p.readSchedAgents(ctx, t, neutron.AgentTypeL3, loads)
}

// scheduleRouter places router id on an L3 agent if it has none and one
// can take it, inside t, and gives the router's ports the hosting agent's
// host. It returns that host ("" while the router is unhosted), which a
// caller creating a router port next gives the port. Safe to call on every
// router change: a hosted router stays where it is.
func (p *Plugin) scheduleRouter(ctx context.Context, t *store.Tx, id string) (string, error) {
	agents, err := p.readL3Agents(ctx, t)
	if err != nil {
		return "", err
	}
	return p.scheduleRouterWith(ctx, t, agents, id)
}

// scheduleRouterWith is scheduleRouter with the agents read; it updates
// their loads, so a caller scheduling many routers reads agents once.
func (p *Plugin) scheduleRouterWith(ctx context.Context, t *store.Tx, agents map[string]*schedAgent, id string) (string, error) {
	bound, err := t.L3Bindings(ctx, id, "")
	if err != nil {
		return "", err
	}
	var ids []string
	for _, b := range bound {
		ids = append(ids, b.AgentID)
	}
	if len(ids) == 0 {
		if _, add := planAgents(nil, agents, 1); len(add) > 0 {
			b := neutron.L3Binding{RouterID: id, AgentID: add[0]}
			if err := t.InsertL3Binding(ctx, b); err != nil {
				return "", err
			}
			t.Emit(neutron.Created(b))
			agents[b.AgentID].Load++
			ids = add
			p.log.Info("router scheduled", "router", id, "l3_agent", b.AgentID, "host", agents[b.AgentID].Host)
		}
	}
	host := ""
	if len(ids) > 0 {
		if a := agents[ids[0]]; a != nil {
			host = a.Host
		}
	}
	return host, p.hostRouterPorts(ctx, t, id, host)
}

// hostRouterPorts sets binding:host_id of router id's interface and
// gateway ports to host and binds them there.
func (p *Plugin) hostRouterPorts(ctx context.Context, t *store.Tx, id, host string) error {
	ports, err := t.ListPorts(ctx, neutron.ListQuery{Filters: map[string][]string{
		"device_id": {id}, "device_owner": {neutron.DeviceOwnerRouterInterface, neutron.DeviceOwnerRouterGateway}}})
	if err != nil {
		return err
	}
	for i := range ports {
		pt := &ports[i]
		if pt.HostID == host {
			continue
		}
		n, err := t.PortNetwork(ctx, pt.NetworkID)
		if err != nil {
			return err
		}
		prev := pt.RevisionNumber
		pt.HostID, pt.Status = host, neutron.StatusDown
		if err := p.bind(ctx, t, pt, n.Segments); err != nil {
			return err
		}
		if err := savePort(ctx, t, pt, prev); err != nil {
			return err
		}
	}
	return nil
}

// autoScheduleRouters places, inside t, every router no L3 agent hosts,
// the least loaded agent first (an L3 agent appeared, came back or was
// set admin up).
func (p *Plugin) autoScheduleRouters(ctx context.Context, t *store.Tx) error {
	ids, err := t.UnscheduledRouters(ctx)
	if err != nil || len(ids) == 0 {
		return err
	}
	agents, err := p.readL3Agents(ctx, t)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if _, err := p.scheduleRouterWith(ctx, t, agents, id); err != nil {
			return fmt.Errorf("schedule router %s: %w", id, err)
		}
	}
	return nil
}

// unscheduleRouter removes router id's bindings inside t (the router is
// being deleted), with their change-log rows.
func (p *Plugin) unscheduleRouter(ctx context.Context, t *store.Tx, id string) error {
	bound, err := t.L3Bindings(ctx, id, "")
	if err != nil {
		return err
	}
	return p.unscheduleRouters(ctx, t, bound)
}

// moveRoutersOff reschedules, inside t, the routers of agent id, which is
// going away (deleted): the agents' cascade would drop the bindings
// without a change-log row.
func (p *Plugin) moveRoutersOff(ctx context.Context, t *store.Tx, id string) error {
	bound, err := t.L3Bindings(ctx, "", id)
	if err != nil || len(bound) == 0 {
		return err
	}
	if err := p.unscheduleRouters(ctx, t, bound); err != nil {
		return err
	}
	agents, err := p.readL3Agents(ctx, t)
	if err != nil {
		return err
	}
	delete(agents, id)
	for _, b := range bound {
		if _, err := p.scheduleRouterWith(ctx, t, agents, b.RouterID); err != nil {
			return fmt.Errorf("reschedule router %s: %w", b.RouterID, err)
		}
	}
	return nil
}

func (p *Plugin) unscheduleRouters(ctx context.Context, t *store.Tx, bs []neutron.L3Binding) error {
	for _, b := range bs {
		if _, err := t.DeleteL3Binding(ctx, b); err != nil {
			return err
		}
		t.Emit(neutron.Deleted(neutron.KindL3Binding, neutron.L3BindingKey(b.RouterID, b.AgentID)))
	}
	return nil
}

// The l3_agent_scheduler extension's writes and reads.

// AddRouterToL3Agent binds a router to an L3 agent by hand (POST
// /v2.0/agents/{id}/l3-routers) and moves its ports there. A legacy router
// lives on one agent: one hosted elsewhere is refused, as in Neutron.
func (p *Plugin) AddRouterToL3Agent(ctx context.Context, agentID, routerID string) error {
	_, err := p.st.Write(ctx, func(t *store.Tx) error {
		if _, err := t.GetAgent(ctx, agentID); err != nil {
			return err
		}
		agents, err := p.readL3Agents(ctx, t)
		if err != nil {
			return err
		}
		a := agents[agentID]
		if a == nil || !a.Eligible {
			return neutron.Errorf(404, "InvalidL3Agent", "Agent %s is not a L3 Agent or has been disabled", agentID)
		}
		r, err := t.GetRouter(ctx, routerID)
		if err != nil {
			return err
		}
		if r.Distributed {
			return neutron.Conflict("RouterL3AgentMismatch", "Cannot host distributed router %s on legacy L3 agent %s.", routerID, agentID)
		}
		bound, err := t.L3Bindings(ctx, routerID, "")
		if err != nil {
			return err
		}
		if len(bound) > 0 {
			return neutron.Conflict("RouterHostedByL3Agent", "The router %s has been already hosted by the L3 Agent %s.", routerID, bound[0].AgentID)
		}
		b := neutron.L3Binding{RouterID: routerID, AgentID: agentID}
		if err := t.InsertL3Binding(ctx, b); err != nil {
			return err
		}
		t.Emit(neutron.Created(b))
		return p.hostRouterPorts(ctx, t, routerID, a.Host)
	})
	return err
}

// RemoveRouterFromL3Agent unbinds a router from an L3 agent (DELETE
// /v2.0/agents/{id}/l3-routers/{router_id}); its ports are unbound. As in
// Neutron, it is not placed elsewhere at once: the next L3 agent that
// registers, or an admin, places it.
func (p *Plugin) RemoveRouterFromL3Agent(ctx context.Context, agentID, routerID string) error {
	_, err := p.st.Write(ctx, func(t *store.Tx) error {
		if _, err := t.GetAgent(ctx, agentID); err != nil {
			return err
		}
		removed, err := t.DeleteL3Binding(ctx, neutron.L3Binding{RouterID: routerID, AgentID: agentID})
		if err != nil {
			return err
		}
		if !removed {
			return neutron.Conflict("RouterNotHostedByL3Agent", "The router %s is not hosted by L3 agent %s.", routerID, agentID)
		}
		t.Emit(neutron.Deleted(neutron.KindL3Binding, neutron.L3BindingKey(routerID, agentID)))
		return p.hostRouterPorts(ctx, t, routerID, "")
	})
	return err
}

// L3Bindings lists L3 agent bindings of a router or an agent (the
// l3_agent_scheduler extension's reads); an unknown agent or router is
// 404.
func (p *Plugin) L3Bindings(ctx context.Context, routerID, agentID string) ([]neutron.L3Binding, error) {
	if agentID != "" {
		if _, err := p.st.GetAgent(ctx, agentID); err != nil {
			return nil, err
		}
	}
	if routerID != "" {
		if _, err := p.st.GetRouter(ctx, routerID); err != nil {
			return nil, err
		}
	}
	return p.st.L3Bindings(ctx, routerID, agentID)
}
