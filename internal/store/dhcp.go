package store

import (
	"context"
	"fmt"

	"neutrino/internal/neutron"
)

// listDHCPBindings reads networkdhcpagentbindings rows, ordered by network
// then agent.
func listDHCPBindings(ctx context.Context, s *Store, db querier, where string, args ...any) ([]neutron.DHCPBinding, error) {
	rows, err := db.QueryContext(ctx, s.rebind("SELECT network_id, dhcp_agent_id FROM networkdhcpagentbindings"+where+" ORDER BY network_id, dhcp_agent_id"), args...)
	if err != nil {
		return nil, fmt.Errorf("list dhcp agent bindings: %w", err)
	}
	defer rows.Close()
	out := []neutron.DHCPBinding{}
	for rows.Next() {
		var b neutron.DHCPBinding
		if err := rows.Scan(&b.NetworkID, &b.AgentID); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// DHCPBindings lists the DHCP agent bindings, all of them or those of one
// network or one agent (empty means any).
func (r reads) DHCPBindings(ctx context.Context, networkID, agentID string) ([]neutron.DHCPBinding, error) {
	where, args := "", []any{}
	switch {
	case networkID != "" && agentID != "":
		where, args = " WHERE network_id = ? AND dhcp_agent_id = ?", []any{networkID, agentID}
	case networkID != "":
		where, args = " WHERE network_id = ?", []any{networkID}
	case agentID != "":
		where, args = " WHERE dhcp_agent_id = ?", []any{agentID}
	}
	return listDHCPBindings(ctx, r.rs, r.q, where, args...)
}

// DHCPAgentLoads counts the networks each DHCP agent hosts (agents
// hosting none are absent).
func (t *Tx) DHCPAgentLoads(ctx context.Context) (map[string]int, error) {
	rows, err := t.query(ctx, "SELECT dhcp_agent_id, COUNT(*) FROM networkdhcpagentbindings GROUP BY dhcp_agent_id")
	if err != nil {
		return nil, fmt.Errorf("count dhcp agent bindings: %w", err)
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

// InsertDHCPBinding binds a network to a DHCP agent. Two schedulers
// binding the same pair at once collide on the primary key; the loser's
// transaction is retried and then sees the binding.
func (t *Tx) InsertDHCPBinding(ctx context.Context, b neutron.DHCPBinding) error {
	if _, err := t.exec(ctx, "INSERT INTO networkdhcpagentbindings (network_id, dhcp_agent_id) VALUES (?, ?)", b.NetworkID, b.AgentID); err != nil {
		return fmt.Errorf("bind network %s to dhcp agent %s: %w", b.NetworkID, b.AgentID, err)
	}
	return nil
}

// DeleteDHCPBinding unbinds a network from a DHCP agent; it reports
// whether the binding existed.
func (t *Tx) DeleteDHCPBinding(ctx context.Context, b neutron.DHCPBinding) (bool, error) {
	res, err := t.exec(ctx, "DELETE FROM networkdhcpagentbindings WHERE network_id = ? AND dhcp_agent_id = ?", b.NetworkID, b.AgentID)
	if err != nil {
		return false, fmt.Errorf("unbind network %s from dhcp agent %s: %w", b.NetworkID, b.AgentID, err)
	}
	k, err := res.RowsAffected()
	return k > 0, err
}

// NetworksNeedingDHCP lists the networks with a DHCP-enabled subnet that
// fewer than want DHCP agents host, by id.
func (t *Tx) NetworksNeedingDHCP(ctx context.Context, want int) ([]string, error) {
	rows, err := t.query(ctx, "SELECT DISTINCT s.network_id FROM subnets s WHERE s.enable_dhcp = ?"+
		" AND (SELECT COUNT(*) FROM networkdhcpagentbindings b WHERE b.network_id = s.network_id) < ? ORDER BY s.network_id", true, want)
	if err != nil {
		return nil, fmt.Errorf("list networks needing dhcp agents: %w", err)
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
