package store

import (
	"context"

	"neutrino/internal/neutron"
)

// reads are the resource reads Store and Tx share, written once over a
// querier: the store's read pool for Store, the transaction for Tx.
type reads struct {
	rs *Store
	q  querier
}

// ListNetworks lists networks with filters, sorting and paging in SQL.
func (r reads) ListNetworks(ctx context.Context, q neutron.ListQuery) ([]neutron.Network, error) {
	return listPage(ctx, r.q, r.rs, networkRes, q, func(tail string, args []any) ([]neutron.Network, error) {
		return r.rs.loadNetworks(ctx, r.q, tail, args, nil)
	})
}

// GetNetwork reads one network (404 NetworkNotFound).
func (r reads) GetNetwork(ctx context.Context, id string) (*neutron.Network, error) {
	out, err := r.rs.loadNetworks(ctx, r.q, " WHERE networks.id = ?", []any{id}, nil)
	return firstOr404(out, err, "Network", id)
}

// ListSubnets lists subnets.
func (r reads) ListSubnets(ctx context.Context, q neutron.ListQuery) ([]neutron.Subnet, error) {
	return listPage(ctx, r.q, r.rs, subnetRes, q, func(tail string, args []any) ([]neutron.Subnet, error) {
		return r.rs.loadSubnets(ctx, r.q, tail, args, nil)
	})
}

// GetSubnet reads one subnet (404 SubnetNotFound).
func (r reads) GetSubnet(ctx context.Context, id string) (*neutron.Subnet, error) {
	out, err := r.rs.loadSubnets(ctx, r.q, " WHERE subnets.id = ?", []any{id}, nil)
	return firstOr404(out, err, "Subnet", id)
}

// ListPorts lists ports (fixed IPs and tags loaded in bulk).
func (r reads) ListPorts(ctx context.Context, q neutron.ListQuery) ([]neutron.Port, error) {
	return listPage(ctx, r.q, r.rs, portRes, q, func(tail string, args []any) ([]neutron.Port, error) {
		return r.rs.loadPorts(ctx, r.q, tail, args, nil)
	})
}

// GetPort reads one port (404 PortNotFound).
func (r reads) GetPort(ctx context.Context, id string) (*neutron.Port, error) {
	out, err := r.rs.loadPorts(ctx, r.q, " WHERE ports.id = ?", []any{id}, nil)
	return firstOr404(out, err, "Port", id)
}

// ListAgents lists agents (Alive is left false: the caller computes it).
func (r reads) ListAgents(ctx context.Context, q neutron.ListQuery) ([]neutron.Agent, error) {
	return listPage(ctx, r.q, r.rs, agentRes, q, func(tail string, args []any) ([]neutron.Agent, error) {
		return r.rs.loadAgents(ctx, r.q, tail, args)
	})
}

// GetAgent reads one agent (404 AgentNotFound).
func (r reads) GetAgent(ctx context.Context, id string) (*neutron.Agent, error) {
	return getAgent(ctx, r.rs, r.q, " WHERE agents.id = ?", id)
}

// ListEndpoints returns every tunnel endpoint, by host.
func (r reads) ListEndpoints(ctx context.Context) ([]neutron.TunnelEndpoint, error) {
	return listEndpoints(ctx, r.rs, r.q, "")
}
