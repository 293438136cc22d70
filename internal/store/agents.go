package store

import (
	"context"
	"encoding/json"
	"fmt"

	"neutrino/internal/neutron"
)

var agentRes = &resource{
	kind: "agent", noun: "Agent", table: "agents",
	cols: map[string]column{
		"id":                  {"id", colString},
		"agent_type":          {"agent_type", colString},
		"binary":              {"agent_binary", colString},
		"topic":               {"topic", colString},
		"host":                {"host", colString},
		"admin_state_up":      {"admin_state_up", colBool},
		"description":         {"description", colString},
		"availability_zone":   {"availability_zone", colString},
		"created_at":          {"created_at", colInt},
		"started_at":          {"started_at", colInt},
		"heartbeat_timestamp": {"heartbeat_at", colInt},
	},
}

const agentCols = "agents.id, agents.agent_type, agents.agent_binary, agents.topic, agents.host, agents.admin_state_up, agents.description, agents.configurations, agents.availability_zone, agents.created_at, agents.started_at, agents.heartbeat_at"

func (s *Store) loadAgents(ctx context.Context, db querier, tail string, args []any) ([]neutron.Agent, error) {
	rows, err := db.QueryContext(ctx, s.rebind("SELECT "+agentCols+" FROM agents"+tail), args...)
	if err != nil {
		return nil, fmt.Errorf("list agents: %w", err)
	}
	defer rows.Close()
	var out []neutron.Agent
	for rows.Next() {
		var a neutron.Agent
		var conf string
		var c, st, hb int64
		if err := rows.Scan(&a.ID, &a.AgentType, &a.Binary, &a.Topic, &a.Host, &a.AdminStateUp, &a.Description, &conf, &a.AvailabilityZone, &c, &st, &hb); err != nil {
			return nil, err
		}
		a.Configurations = json.RawMessage(orEmptyObject(conf))
		a.CreatedAt, a.StartedAt, a.HeartbeatAt = fromMicro(c), fromMicro(st), fromMicro(hb)
		out = append(out, a)
	}
	return out, rows.Err()
}

// FindAgent reads the agent of a type on a host (nil if none).
func (t *Tx) FindAgent(ctx context.Context, agentType, host string) (*neutron.Agent, error) {
	a, err := getAgent(ctx, t.s, t.tx, " WHERE agents.agent_type = ? AND agents.host = ?", agentType, host)
	if e, ok := neutron.AsError(err); ok && e.Status == 404 {
		return nil, nil
	}
	return a, err
}

func getAgent(ctx context.Context, s *Store, db querier, where string, args ...any) (*neutron.Agent, error) {
	out, err := s.loadAgents(ctx, db, where, args)
	id := "" // FindAgent's two-column lookup has no single id to name
	if len(args) == 1 {
		id = fmt.Sprint(args[0])
	}
	return firstOr404(out, err, "Agent", id)
}

// InsertAgent inserts an agent row. Two first reports of one agent at once
// collide on the (agent_type, host) unique index; the loser is retried.
func (t *Tx) InsertAgent(ctx context.Context, a *neutron.Agent) error {
	_, err := t.exec(ctx, "INSERT INTO agents (id, agent_type, agent_binary, topic, host, admin_state_up, description, configurations, availability_zone, created_at, started_at, heartbeat_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		a.ID, a.AgentType, a.Binary, a.Topic, a.Host, a.AdminStateUp, a.Description, orEmptyObject(string(a.Configurations)), a.AvailabilityZone,
		micro(a.CreatedAt), micro(a.StartedAt), micro(a.HeartbeatAt))
	if err != nil {
		return fmt.Errorf("insert agent %s/%s: %w", a.AgentType, a.Host, err)
	}
	return nil
}

// UpdateAgent writes an agent's mutable columns.
func (t *Tx) UpdateAgent(ctx context.Context, a *neutron.Agent) error {
	res, err := t.exec(ctx, "UPDATE agents SET agent_binary = ?, topic = ?, admin_state_up = ?, description = ?, configurations = ?, availability_zone = ?, started_at = ?, heartbeat_at = ? WHERE id = ?",
		a.Binary, a.Topic, a.AdminStateUp, a.Description, orEmptyObject(string(a.Configurations)), a.AvailabilityZone, micro(a.StartedAt), micro(a.HeartbeatAt), a.ID)
	if err != nil {
		return fmt.Errorf("update agent %s: %w", a.ID, err)
	}
	if k, _ := res.RowsAffected(); k == 0 {
		// MySQL reports 0 rows for an UPDATE that changes nothing; check.
		if _, err := t.GetAgent(ctx, a.ID); err != nil {
			return err
		}
	}
	return nil
}

// DeleteAgent deletes an agent row.
func (t *Tx) DeleteAgent(ctx context.Context, id string) error {
	return t.deleteRow(ctx, "agent", "Agent", id)
}

func listEndpoints(ctx context.Context, s *Store, db querier, where string, args ...any) ([]neutron.TunnelEndpoint, error) {
	rows, err := db.QueryContext(ctx, s.rebind("SELECT host, ip_address, udp_port FROM tunnel_endpoints"+where+" ORDER BY host"), args...)
	if err != nil {
		return nil, fmt.Errorf("list tunnel endpoints: %w", err)
	}
	defer rows.Close()
	out := []neutron.TunnelEndpoint{}
	for rows.Next() {
		var e neutron.TunnelEndpoint
		if err := rows.Scan(&e.Host, &e.IPAddress, &e.UDPPort); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// SetEndpoint registers host's VTEP. A new address for the host replaces
// the old; an address registered by another host moves to this one (as
// Neutron's tunnel_sync). It returns the hosts whose endpoint was removed
// and whether this host's endpoint changed.
func (t *Tx) SetEndpoint(ctx context.Context, e neutron.TunnelEndpoint) (removed []string, changed bool, err error) {
	cur, err := listEndpoints(ctx, t.s, t.tx, " WHERE host = ? OR ip_address = ?", e.Host, e.IPAddress)
	if err != nil {
		return nil, false, err
	}
	for _, c := range cur {
		if c == e {
			return nil, false, nil
		}
	}
	for _, c := range cur {
		if _, err := t.exec(ctx, "DELETE FROM tunnel_endpoints WHERE host = ?", c.Host); err != nil {
			return nil, false, fmt.Errorf("replace endpoint of %s: %w", c.Host, err)
		}
		if c.Host != e.Host {
			removed = append(removed, c.Host)
		}
	}
	if _, err := t.exec(ctx, "INSERT INTO tunnel_endpoints (host, ip_address, udp_port) VALUES (?, ?, ?)", e.Host, e.IPAddress, e.UDPPort); err != nil {
		return nil, false, fmt.Errorf("register endpoint %s of %s: %w", e.IPAddress, e.Host, err)
	}
	return removed, true, nil
}

// PortsOnHost lists the ports bound to a host with a given vif_type.
func (t *Tx) PortsOnHost(ctx context.Context, host, vifType string) ([]neutron.Port, error) {
	return t.ListPorts(ctx, neutron.ListQuery{Filters: map[string][]string{"binding:host_id": {host}, "binding:vif_type": {vifType}}})
}

// DeleteEndpoint removes a host's VTEP; removed reports whether it had one.
func (t *Tx) DeleteEndpoint(ctx context.Context, host string) (bool, error) {
	res, err := t.exec(ctx, "DELETE FROM tunnel_endpoints WHERE host = ?", host)
	if err != nil {
		return false, fmt.Errorf("delete endpoint of %s: %w", host, err)
	}
	k, err := res.RowsAffected()
	return k > 0, err
}
