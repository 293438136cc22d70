package ml2

import (
	"context"
	"encoding/json"
	"slices"

	"neutrino/internal/neutron"
	"neutrino/internal/store"
)

// vxlanUDPPort is the IANA VXLAN port registered for every endpoint.
const vxlanUDPPort = 4789

// mergeConfigurations makes sure the agent's configurations carry the
// tunnel types and IP of the report (binding reads tunnel_types).
func mergeConfigurations(r neutron.AgentReport) json.RawMessage {
	m := map[string]any{}
	if len(r.Configurations) > 0 {
		if err := json.Unmarshal(r.Configurations, &m); err != nil || m == nil {
			m = map[string]any{}
		}
	}
	if _, ok := m["tunnel_types"]; !ok && r.TunnelTypes != nil {
		m["tunnel_types"] = r.TunnelTypes
	}
	if _, ok := m["tunneling_ip"]; !ok && r.TunnelIP != "" {
		m["tunneling_ip"] = r.TunnelIP
	}
	return mustJSON(m)
}

// ReportState records an agent heartbeat (report_state): the agent row is
// upserted by (agent_type, host), started_at set on StartFlag, the host's
// tunnel endpoint registered, and when the agent comes back alive its
// host's binding_failed ports are bound again.
func (p *Plugin) ReportState(ctx context.Context, r neutron.AgentReport) (*neutron.Agent, error) {
	if r.AgentType == "" || r.Host == "" {
		return nil, neutron.BadRequest("agent_type and host are required")
	}
	var out *neutron.Agent
	ips := p.ipam.Begin()
	defer ips.Release()
	_, err := p.st.Write(ctx, func(t *store.Tx) error {
		now := p.now()
		a, err := t.FindAgent(ctx, r.AgentType, r.Host)
		if err != nil {
			return err
		}
		wasAlive := a != nil && p.alive(a, now)
		conf := mergeConfigurations(r)
		topic := r.Topic
		if topic == "" {
			topic = "N/A"
		}
		if a == nil {
			a = &neutron.Agent{ID: store.NewID(), AgentType: r.AgentType, Binary: r.Binary, Topic: topic, Host: r.Host,
				AdminStateUp: true, Configurations: conf, CreatedAt: now, StartedAt: now, HeartbeatAt: now}
			if err := t.InsertAgent(ctx, a); err != nil {
				return err
			}
			a.Alive = true
			t.Emit(neutron.Created(a))
		} else {
			before := *a
			a.Binary, a.Topic, a.Configurations, a.HeartbeatAt = r.Binary, topic, conf, now
			if r.StartFlag {
				a.StartedAt = now
			}
			if err := t.UpdateAgent(ctx, a); err != nil {
				return err
			}
			a.Alive = true
			// A heartbeat that changes only heartbeat_timestamp (and the
			// devices count, see neutron.HeartbeatOnly) writes no
			// change-log row: every agent's report every report_interval
			// would otherwise be a row each server decodes for every view
			// (333 rows/s at 10,000 agents), and no view reads the
			// timestamp (liveness is computed from the agents table when
			// it is read). An agent coming back alive is logged.
			if !wasAlive || !neutron.HeartbeatOnly(before, *a) {
				t.Emit(neutron.Updated(a))
			}
		}
		if r.TunnelIP != "" && (len(r.TunnelTypes) == 0 || slices.Contains(r.TunnelTypes, neutron.TypeVXLAN) || slices.Contains(r.TunnelTypes, neutron.TypeGRE)) {
			ep := neutron.TunnelEndpoint{IPAddress: r.TunnelIP, UDPPort: vxlanUDPPort, Host: r.Host}
			removed, changed, err := t.SetEndpoint(ctx, ep)
			if err != nil {
				return err
			}
			for _, h := range removed {
				t.Emit(neutron.Deleted(neutron.KindEndpoint, h))
			}
			if changed {
				t.Emit(neutron.Updated(ep))
			}
		}
		if !wasAlive {
			if err := p.rebindHost(ctx, t, r.Host); err != nil {
				return err
			}
			if a.AgentType == neutron.AgentTypeDHCP {
				// A DHCP agent that (re)appears takes the networks
				// lacking agents (Neutron's network_auto_schedule).
				if err := p.autoScheduleDHCP(ctx, t, ips); err != nil {
					return err
				}
			}
			if a.AgentType == neutron.AgentTypeL3 {
				// Routers made while no L3 agent could take them
				// (Neutron's router_auto_schedule).
				if err := p.autoScheduleRouters(ctx, t); err != nil {
					return err
				}
			}
		}
		out = a
		return nil
	})
	return out, err
}

// rebindHost retries binding of the host's binding_failed ports.
func (p *Plugin) rebindHost(ctx context.Context, t *store.Tx, host string) error {
	ports, err := t.PortsOnHost(ctx, host, neutron.VIFBindingFailed)
	if err != nil {
		return err
	}
	nets := map[string][]neutron.Segment{}
	for i := range ports {
		pt := &ports[i]
		segs, ok := nets[pt.NetworkID]
		if !ok {
			n, err := t.GetNetwork(ctx, pt.NetworkID)
			if err != nil {
				return err
			}
			segs = n.Segments
			nets[pt.NetworkID] = segs
		}
		if err := p.bind(ctx, t, pt, segs); err != nil {
			return err
		}
		if pt.VIFType == neutron.VIFBindingFailed {
			continue
		}
		prev := pt.RevisionNumber
		pt.Status = neutron.StatusDown
		if err := savePort(ctx, t, pt, prev); err != nil {
			return err
		}
	}
	return nil
}

// GetAgent reads an agent with Alive computed.
func (p *Plugin) GetAgent(ctx context.Context, id string) (*neutron.Agent, error) {
	a, err := p.st.GetAgent(ctx, id)
	if err != nil {
		return nil, err
	}
	a.Alive = p.alive(a, p.now())
	return a, nil
}

// ListAgents lists agents; the "alive" filter is applied after reading
// because liveness is computed from the heartbeat.
func (p *Plugin) ListAgents(ctx context.Context, q neutron.ListQuery) ([]neutron.Agent, error) {
	var alive []string
	if v, ok := q.Filters["alive"]; ok {
		alive = v
		f := map[string][]string{}
		for k, vs := range q.Filters {
			if k != "alive" {
				f[k] = vs
			}
		}
		q.Filters = f
	}
	as, err := p.st.ListAgents(ctx, q)
	if err != nil {
		return nil, err
	}
	now := p.now()
	out := as[:0]
	for _, a := range as {
		a.Alive = p.alive(&a, now)
		if alive != nil {
			match := false
			for _, v := range alive {
				b := v == "true" || v == "True" || v == "1"
				match = match || b == a.Alive
			}
			if !match {
				continue
			}
		}
		out = append(out, a)
	}
	if out == nil {
		out = []neutron.Agent{}
	}
	return out, nil
}

// UpdateAgent changes admin_state_up / description.
func (p *Plugin) UpdateAgent(ctx context.Context, id string, req neutron.AgentUpdate) (*neutron.Agent, error) {
	var out *neutron.Agent
	ips := p.ipam.Begin()
	defer ips.Release()
	_, err := p.st.Write(ctx, func(t *store.Tx) error {
		a, err := t.GetAgent(ctx, id)
		if err != nil {
			return err
		}
		wasUp := a.AdminStateUp
		if req.AdminStateUp != nil {
			a.AdminStateUp = *req.AdminStateUp
		}
		if req.Description != nil {
			a.Description = *req.Description
		}
		if err := t.UpdateAgent(ctx, a); err != nil {
			return err
		}
		a.Alive = p.alive(a, p.now())
		t.Emit(neutron.Updated(a))
		if a.AgentType == neutron.AgentTypeDHCP && a.AdminStateUp != wasUp {
			// Admin down moves the agent's networks to others; admin up
			// lets it take networks lacking agents.
			if err := p.autoScheduleDHCP(ctx, t, ips); err != nil {
				return err
			}
		}
		if a.AgentType == neutron.AgentTypeL3 && a.AdminStateUp && !wasUp {
			// Admin up: it may take routers no agent hosts. (Admin down
			// moves nothing: a router stays where it is until an admin
			// moves it, as without allow_automatic_l3agent_failover.)
			if err := p.autoScheduleRouters(ctx, t); err != nil {
				return err
			}
		}
		out = a
		return nil
	})
	return out, err
}

// DeleteAgent deletes an agent row (Neutron allows it for dead agents; a
// live agent simply registers again with its next report, endpoint
// included).
func (p *Plugin) DeleteAgent(ctx context.Context, id string) error {
	ips := p.ipam.Begin()
	defer ips.Release()
	_, err := p.st.Write(ctx, func(t *store.Tx) error {
		a, err := t.GetAgent(ctx, id)
		if err != nil {
			return err
		}
		if a.AgentType == neutron.AgentTypeDHCP {
			// Its networks move first: the row's cascade would drop the
			// bindings without a change-log row. Left out of the agents,
			// it is gone for the scheduler, which takes its networks even
			// when no other agent can host them.
			agents, err := p.readDHCPAgents(ctx, t)
			if err != nil {
				return err
			}
			delete(agents, id)
			if _, err := p.scheduleDHCPNetworks(ctx, t, ips, agents); err != nil {
				return err
			}
		}
		if a.AgentType == neutron.AgentTypeL3 {
			if err := p.moveRoutersOff(ctx, t, id); err != nil {
				return err
			}
		}
		if err := t.DeleteAgent(ctx, id); err != nil {
			return err
		}
		t.Emit(neutron.Deleted(neutron.KindAgent, id))
		// The host's VTEP goes with its last L2 agent (the one that
		// registers it), so other nodes drop their tunnels to it; a DHCP
		// agent on the host does not keep it.
		others, err := t.ListAgents(ctx, neutron.ListQuery{Filters: map[string][]string{"host": {a.Host}, "agent_type": {neutron.AgentTypeOVS, neutron.AgentTypeLinuxBridge}}})
		if err != nil {
			return err
		}
		if len(others) == 0 {
			removed, err := t.DeleteEndpoint(ctx, a.Host)
			if err != nil {
				return err
			}
			if removed {
				t.Emit(neutron.Deleted(neutron.KindEndpoint, a.Host))
			}
		}
		return nil
	})
	return err
}
