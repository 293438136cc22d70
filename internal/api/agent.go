package api

import (
	"encoding/json"
	"time"

	"neutrino/internal/neutron"
)

// agents: the agent extension; admin only, no create.
func agents() *table[neutron.Agent, struct{}, neutron.AgentUpdate] {
	type (
		A  = neutron.Agent
		AU = neutron.AgentUpdate
	)
	t := newTable[A, struct{}, AU]("agent", "agents")
	t.adminOnly = true
	t.add(ro("id"), str(func(a *A) string { return a.ID }))
	t.add(ro("agent_type"), str(func(a *A) string { return a.AgentType }))
	t.add(ro("binary"), str(func(a *A) string { return a.Binary }))
	t.add(ro("topic"), str(func(a *A) string { return a.Topic }))
	t.add(ro("host"), str(func(a *A) string { return a.Host }))
	t.add(pu("admin_state_up", convBool), boolean(func(a *A) bool { return a.AdminStateUp })).
		onUpdate(set(func(u *AU, v bool) { u.AdminStateUp = &v }))
	// description null converts to "": no description.
	t.add(pu("description", convNullableString(255)), strOrNull(func(a *A) string { return a.Description })).
		onUpdate(set(func(u *AU, v string) { u.Description = &v }))
	t.add(ro("created_at"), timestamp(func(a *A) time.Time { return a.CreatedAt }, agentTimeFormat))
	t.add(ro("started_at"), timestamp(func(a *A) time.Time { return a.StartedAt }, agentTimeFormat))
	t.add(ro("heartbeat_timestamp"), timestamp(func(a *A) time.Time { return a.HeartbeatAt }, agentTimeFormat))
	t.add(ro("alive"), boolean(func(a *A) bool { return a.Alive }))
	t.add(ro("configurations"), rawJSON(func(a *A) json.RawMessage { return a.Configurations }, "{}"))
	t.add(ro("availability_zone"), strOrNull(func(a *A) string { return a.AvailabilityZone }))
	t.add(ro("resources_synced"), literal[A]("null"))
	t.facts = func(a *A) entity { return entity{id: a.ID} }
	return t
}

func agentKind(b Backend) *kind {
	return agents().kind(crud[neutron.Agent, struct{}, neutron.AgentUpdate]{
		get: b.GetAgent, list: b.ListAgents, delete: b.DeleteAgent,
		update: b.UpdateAgent})
}
