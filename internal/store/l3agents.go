package store

import (
	"context"
	"fmt"

	"neutrino/internal/neutron"
)

// L3Bindings lists the L3 agent bindings (routerl3agentbindings), all of
// them or those of one router or one agent (empty means any), ordered by
// router then agent.
func (r reads) L3Bindings(ctx context.Context, routerID, agentID string) ([]neutron.L3Binding, error) {
	q, args := "SELECT router_id, l3_agent_id FROM routerl3agentbindings", []any{}
	switch {
	case routerID != "" && agentID != "":
		q, args = q+" WHERE router_id = ? AND l3_agent_id = ?", []any{routerID, agentID}
	case routerID != "":
		q, args = q+" WHERE router_id = ?", []any{routerID}
	case agentID != "":
		q, args = q+" WHERE l3_agent_id = ?", []any{agentID}
	}
	rows, err := r.q.QueryContext(ctx, r.rs.rebind(q+" ORDER BY router_id, l3_agent_id"), args...)
	if err != nil {
		return nil, fmt.Errorf("list l3 agent bindings: %w", err)
	}
	defer rows.Close()
	out := []neutron.L3Binding{}
	for rows.Next() {
		var b neutron.L3Binding
		if err := rows.Scan(&b.RouterID, &b.AgentID); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// L3AgentLoads counts the routers each L3 agent hosts (agents hosting
// none are absent).
func (t *Tx) L3AgentLoads(ctx context.Context) (map[string]int, error) {
	rows, err := t.query(ctx, "SELECT l3_agent_id, COUNT(*) FROM routerl3agentbindings GROUP BY l3_agent_id")
	if err != nil {
		return nil, fmt.Errorf("count l3 agent bindings: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, err
		}
		out[id] = n
	}
	return out, rows.Err()
}

// InsertL3Binding binds a router to an L3 agent. A router has one binding:
// two schedulers placing it at once collide on the key, and the loser's
// transaction is retried and then sees the binding.
func (t *Tx) InsertL3Binding(ctx context.Context, b neutron.L3Binding) error {
	if _, err := t.exec(ctx, "INSERT INTO routerl3agentbindings (router_id, l3_agent_id) VALUES (?, ?)", b.RouterID, b.AgentID); err != nil {
		return fmt.Errorf("bind router %s to l3 agent %s: %w", b.RouterID, b.AgentID, err)
	}
	return nil
}

// DeleteL3Binding unbinds a router from an L3 agent; it reports whether
// the binding existed.
func (t *Tx) DeleteL3Binding(ctx context.Context, b neutron.L3Binding) (bool, error) {
	res, err := t.exec(ctx, "DELETE FROM routerl3agentbindings WHERE router_id = ? AND l3_agent_id = ?", b.RouterID, b.AgentID)
	if err != nil {
		return false, fmt.Errorf("unbind router %s from l3 agent %s: %w", b.RouterID, b.AgentID, err)
	}
	k, err := res.RowsAffected()
	return k > 0, err
}

// UnscheduledRouters lists the centralized routers no L3 agent hosts, by
// id (a distributed router is never scheduled: the agents are legacy).
func (t *Tx) UnscheduledRouters(ctx context.Context) ([]string, error) {
	rows, err := t.query(ctx, "SELECT id FROM routers WHERE NOT distributed AND id NOT IN (SELECT router_id FROM routerl3agentbindings) ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("list unscheduled routers: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}
