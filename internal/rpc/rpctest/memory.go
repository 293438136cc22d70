// Package rpctest is an in-memory stand-in for the ML2 plugin's agent
// side (report_state, device up/down, snapshot and change log), for the
// rpc and agent unit tests and the convergence scale run, where a SQL
// database would measure the database instead of the stream. Integration
// tests use the real ml2.Plugin.
package rpctest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"neutrino/internal/neutron"
)

// Memory holds networks, ports, agents and endpoints and appends one
// change-log row per write, like the plugin's store.
// agentKey names an agents row as Neutron's unique constraint does.
type agentKey struct{ host, typ string }

type Memory struct {
	mu        sync.Mutex
	rev       int64
	log       []neutron.Change // ascending revisions
	pruned    int64            // revisions <= pruned are gone
	networks  map[string]neutron.Network
	ports     map[string]neutron.Port
	agents    map[string]neutron.Agent // by id
	agentIDs  map[agentKey]string      // (host, type) -> id: a heartbeat finds its row without a scan
	endpoints map[string]neutron.TunnelEndpoint
	groups    map[string]neutron.SecurityGroup
	seq       int
	// OnChange, when set, gets every change-log row after its write
	// (outside the lock; set it before writing).
	OnChange func(neutron.Change)
	unseen   []neutron.Change
	fail     bool // reads fail (a database outage)
	// commit is closed (and replaced) after every write, as the store's
	// Committed.
	commitMu sync.Mutex
	commit   chan struct{}
}

// Committed implements rpc.Backend.
func (m *Memory) Committed() <-chan struct{} {
	m.commitMu.Lock()
	defer m.commitMu.Unlock()
	if m.commit == nil {
		m.commit = make(chan struct{})
	}
	return m.commit
}

// NewMemory returns an empty store.
func NewMemory() *Memory {
	return &Memory{networks: map[string]neutron.Network{}, ports: map[string]neutron.Port{},
		agents: map[string]neutron.Agent{}, agentIDs: map[agentKey]string{}, endpoints: map[string]neutron.TunnelEndpoint{}}
}

// SetFailing makes Snapshot and Changes fail (true) or work again.
func (m *Memory) SetFailing(f bool) {
	m.mu.Lock()
	m.fail = f
	m.mu.Unlock()
}

func (m *Memory) appendChange(c neutron.Change) {
	m.rev++
	c.Revision = m.rev
	m.log = append(m.log, c)
	if m.OnChange != nil {
		m.unseen = append(m.unseen, c)
	}
}

func (m *Memory) wrote() {
	if m.OnChange != nil {
		m.mu.Lock()
		cs := m.unseen
		m.unseen = nil
		m.mu.Unlock()
		for _, c := range cs {
			m.OnChange(c)
		}
	}
	m.commitMu.Lock()
	if m.commit != nil {
		close(m.commit)
		m.commit = nil
	}
	m.commitMu.Unlock()
}

// Revision returns the latest revision.
func (m *Memory) Revision() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rev
}

// Prune drops change-log rows up to and including rev.
func (m *Memory) Prune(rev int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := 0
	for i < len(m.log) && m.log[i].Revision <= rev {
		i++
	}
	m.log = append([]neutron.Change(nil), m.log[i:]...)
	if rev > m.pruned {
		m.pruned = rev
	}
}

// CreateNetwork adds a VXLAN network with VNI vni and MTU 1450.
func (m *Memory) CreateNetwork(id string, vni int64) {
	m.mu.Lock()
	n := neutron.Network{Status: neutron.StatusActive, AdminStateUp: true, MTU: 1450,
		Segments: []neutron.Segment{{NetworkType: neutron.TypeVXLAN, SegmentationID: vni}}}
	n.ID, n.Name = id, id
	m.networks[id] = n
	m.appendChange(neutron.Created(n))
	m.mu.Unlock()
	m.wrote()
}

// DeleteNetwork removes a network.
func (m *Memory) DeleteNetwork(id string) {
	m.mu.Lock()
	delete(m.networks, id)
	m.appendChange(neutron.Deleted(neutron.KindNetwork, id))
	m.mu.Unlock()
	m.wrote()
}

// PutPort creates or replaces a port bound to host (DOWN until the agent
// reports it up; a host change also sets it DOWN, as a rebind does).
func (m *Memory) PutPort(id, network, host, mac string, ips ...string) {
	m.mu.Lock()
	old, had := m.ports[id]
	p := neutron.Port{NetworkID: network, MACAddress: mac, Status: neutron.StatusDown, AdminStateUp: true, DeviceOwner: "compute:nova"}
	p.ID = id
	if had && old.HostID == host {
		p.Status = old.Status
	}
	if had {
		p.PortSecurityEnabled, p.SecurityGroups = old.PortSecurityEnabled, old.SecurityGroups
	}
	p.HostID = host
	p.VIFType = neutron.VIFUnbound
	if host != "" {
		p.VIFType = neutron.VIFOVS
	}
	for _, ip := range ips {
		p.FixedIPs = append(p.FixedIPs, neutron.FixedIP{SubnetID: "subnet-" + network, IPAddress: ip})
	}
	m.ports[id] = p
	if had {
		m.appendChange(neutron.Updated(p))
	} else {
		m.appendChange(neutron.Created(p))
	}
	m.mu.Unlock()
	m.wrote()
}

// DeletePort removes a port.
func (m *Memory) DeletePort(id string) {
	m.mu.Lock()
	delete(m.ports, id)
	m.appendChange(neutron.Deleted(neutron.KindPort, id))
	m.mu.Unlock()
	m.wrote()
}

// DeleteAgent removes host's agents and its endpoint, as DELETE
// /v2.0/agents/{id} does.
func (m *Memory) DeleteAgent(host string) {
	m.mu.Lock()
	for id, a := range m.agents {
		if a.Host == host {
			delete(m.agents, id)
			delete(m.agentIDs, agentKey{a.Host, a.AgentType})
			m.appendChange(neutron.Deleted(neutron.KindAgent, id))
		}
	}
	if _, ok := m.endpoints[host]; ok {
		delete(m.endpoints, host)
		m.appendChange(neutron.Deleted(neutron.KindEndpoint, host))
	}
	m.mu.Unlock()
	m.wrote()
}

// Port returns a port.
func (m *Memory) Port(id string) (neutron.Port, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.ports[id]
	return p, ok
}

// Agents returns the agents rows.
func (m *Memory) Agents() []neutron.Agent {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []neutron.Agent
	for _, a := range m.agents {
		out = append(out, a)
	}
	return out
}

// ReportState implements rpc.Backend.
func (m *Memory) ReportState(_ context.Context, r neutron.AgentReport) (*neutron.Agent, error) {
	m.mu.Lock()
	rev := m.rev
	now := time.Now().UTC()
	key := agentKey{r.Host, r.AgentType}
	a, found := m.agents[m.agentIDs[key]]
	if !found {
		m.seq++
		a = neutron.Agent{ID: fmt.Sprintf("agent-%06d", m.seq), AgentType: r.AgentType, Host: r.Host, AdminStateUp: true, CreatedAt: now, StartedAt: now}
		m.agentIDs[key] = a.ID
	}
	before := a
	a.Binary, a.Topic, a.Configurations, a.HeartbeatAt, a.Alive = r.Binary, r.Topic, r.Configurations, now, true
	if r.StartFlag {
		a.StartedAt = now
	}
	m.agents[a.ID] = a
	switch {
	case !found:
		m.appendChange(neutron.Created(a))
	case !neutron.HeartbeatOnly(before, a):
		// As the plugin: a heartbeat that changes nothing but its
		// timestamp is no change-log row. (This stand-in has no
		// agent_down_time, so no agent comes back alive.)
		m.appendChange(neutron.Updated(a))
	}
	if r.TunnelIP != "" {
		if old, ok := m.endpoints[r.Host]; !ok || old.IPAddress != r.TunnelIP {
			if ok {
				m.appendChange(neutron.Deleted(neutron.KindEndpoint, old.Host))
			}
			for h, e := range m.endpoints {
				if e.IPAddress == r.TunnelIP && h != r.Host {
					delete(m.endpoints, h)
				}
			}
			e := neutron.TunnelEndpoint{IPAddress: r.TunnelIP, UDPPort: 4789, Host: r.Host}
			m.endpoints[r.Host] = e
			m.appendChange(neutron.Updated(e))
		}
	}
	logged := m.rev != rev
	m.mu.Unlock()
	if logged {
		m.wrote()
	}
	return &a, nil
}

// UpdateDevice implements rpc.Backend: the port goes ACTIVE or DOWN when
// it is bound to host; otherwise it is left alone, as Neutron does.
func (m *Memory) UpdateDevice(_ context.Context, host, portID string, up bool) (*neutron.Port, error) {
	m.mu.Lock()
	p, ok := m.ports[portID]
	if !ok && len(portID) == 11 {
		for id, q := range m.ports {
			if strings.HasPrefix(id, portID) {
				p, ok = q, true
			}
		}
	}
	if !ok {
		m.mu.Unlock()
		return nil, neutron.NotFound("Port", portID)
	}
	want := neutron.StatusDown
	if up {
		want = neutron.StatusActive
	}
	changed := p.HostID == host && p.Status != want
	if changed {
		p.Status = want
		m.ports[p.ID] = p
		m.appendChange(neutron.Updated(p))
	}
	m.mu.Unlock()
	if changed {
		m.wrote()
	}
	return &p, nil
}

// Snapshot implements rpc.Backend.
func (m *Memory) Snapshot(context.Context) (*neutron.State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return nil, fmt.Errorf("database unavailable")
	}
	st := &neutron.State{Revision: m.rev}
	for _, n := range m.networks {
		st.Networks = append(st.Networks, n)
	}
	for _, p := range m.ports {
		st.Ports = append(st.Ports, p)
	}
	for _, a := range m.agents {
		st.Agents = append(st.Agents, a)
	}
	for _, e := range m.endpoints {
		st.Endpoints = append(st.Endpoints, e)
	}
	for _, g := range m.groups {
		g.Rules = append([]neutron.SecurityGroupRule(nil), g.Rules...)
		st.SecurityGroups = append(st.SecurityGroups, g)
	}
	return st, nil
}

// State returns the current state (for checks).
func (m *Memory) State() *neutron.State {
	m.mu.Lock()
	f := m.fail
	m.fail = false
	m.mu.Unlock()
	st, _ := m.Snapshot(context.Background())
	m.mu.Lock()
	m.fail = f
	m.mu.Unlock()
	return st
}

// Changes implements rpc.Backend.
func (m *Memory) Changes(_ context.Context, after int64, limit int) ([]neutron.Change, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return nil, fmt.Errorf("database unavailable")
	}
	if after < m.pruned {
		return nil, neutron.ErrRevisionGone
	}
	lo, hi := 0, len(m.log)
	for lo < hi {
		mid := (lo + hi) / 2
		if m.log[mid].Revision <= after {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	i := lo
	end := min(len(m.log), i+limit)
	return append([]neutron.Change(nil), m.log[i:end]...), nil
}

// PutSecurityGroup creates a group or sets its statefulness.
func (m *Memory) PutSecurityGroup(id string, stateful bool) {
	m.mu.Lock()
	if m.groups == nil {
		m.groups = map[string]neutron.SecurityGroup{}
	}
	g, had := m.groups[id]
	g.ID, g.Stateful = id, stateful
	m.groups[id] = g
	if had {
		m.appendChange(neutron.Updated(g))
	} else {
		m.appendChange(neutron.Created(g))
	}
	m.mu.Unlock()
	m.wrote()
}

// PutRule adds an ingress TCP rule for port to group (an existing
// group), from members of remote ("" = anyone).
func (m *Memory) PutRule(id, group string, port int, remote string) {
	m.mu.Lock()
	r := neutron.SecurityGroupRule{ID: id, SecurityGroupID: group, Direction: "ingress", Ethertype: "IPv4", PortRangeMin: &port, PortRangeMax: &port}
	proto := "tcp"
	r.Protocol = &proto
	if remote != "" {
		r.RemoteGroupID = &remote
	}
	g := m.groups[group]
	g.Rules = append(append([]neutron.SecurityGroupRule(nil), g.Rules...), r)
	m.groups[group] = g
	m.appendChange(neutron.Created(r))
	m.mu.Unlock()
	m.wrote()
}

// DeleteRule deletes a rule.
func (m *Memory) DeleteRule(id string) {
	m.mu.Lock()
	for gid, g := range m.groups {
		var keep []neutron.SecurityGroupRule
		for _, r := range g.Rules {
			if r.ID != id {
				keep = append(keep, r)
			}
		}
		g.Rules = keep
		m.groups[gid] = g
	}
	m.appendChange(neutron.Deleted(neutron.KindSecurityGroupRule, id))
	m.mu.Unlock()
	m.wrote()
}

// SetPortGroups gives a port port security and the groups (none: port
// security off).
func (m *Memory) SetPortGroups(id string, groups ...string) {
	m.mu.Lock()
	p, ok := m.ports[id]
	if ok {
		p.PortSecurityEnabled, p.SecurityGroups = len(groups) > 0, groups
		m.ports[id] = p
		m.appendChange(neutron.Updated(p))
	}
	m.mu.Unlock()
	m.wrote()
}
