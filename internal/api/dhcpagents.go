package api

import (
	"context"

	"neutrino/internal/neutron"
)

// The dhcp_agent_scheduler extension: which DHCP agents host which
// networks, admin only (Neutron's get_dhcp-networks, create_dhcp-network,
// delete_dhcp-network, get_dhcp-agents rules):
//
//	GET    /v2.0/agents/{id}/dhcp-networks           {"networks": [...]}
//	POST   /v2.0/agents/{id}/dhcp-networks           {"network_id": ...} -> 201 null
//	DELETE /v2.0/agents/{id}/dhcp-networks/{net id}  -> 204
//	GET    /v2.0/networks/{id}/dhcp-agents           {"agents": [...]}

// DHCPScheduler is what the extension needs of the plugin (ml2.Plugin).
type DHCPScheduler interface {
	// DHCPBindings lists the bindings of a network or of an agent (404
	// AgentNotFound for an unknown agent).
	DHCPBindings(ctx context.Context, networkID, agentID string) ([]neutron.DHCPBinding, error)
	AddNetworkToDHCPAgent(ctx context.Context, agentID, networkID string) error
	RemoveNetworkFromDHCPAgent(ctx context.Context, agentID, networkID string) error
}

// dhcpScheduler is the extension on the agent-scheduler mechanism.
func dhcpScheduler(ds DHCPScheduler) agentScheduler {
	return agentScheduler{hosted: "dhcp-networks", rule: "dhcp-network", resource: "networks", hosts: "dhcp-agents",
		idKey: "network_id",
		bindings: func(ctx context.Context, networkID, agentID string) ([]hostedBy, error) {
			bs, err := ds.DHCPBindings(ctx, networkID, agentID)
			out := make([]hostedBy, len(bs))
			for i, b := range bs {
				out[i] = hostedBy{b.NetworkID, b.AgentID}
			}
			return out, err
		},
		add: ds.AddNetworkToDHCPAgent, remove: ds.RemoveNetworkFromDHCPAgent}
}
