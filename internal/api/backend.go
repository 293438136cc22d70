package api

import (
	"context"

	"neutrino/internal/neutron"
)

// Backend is what the HTTP layer needs from the ML2 plugin; ml2.Plugin
// implements it. Methods return *neutron.Error (possibly wrapped) for
// faults the client must see; any other error is a 500.
type Backend interface {
	CreateNetwork(ctx context.Context, req neutron.NetworkCreate) (*neutron.Network, error)
	GetNetwork(ctx context.Context, id string) (*neutron.Network, error)
	ListNetworks(ctx context.Context, q neutron.ListQuery) ([]neutron.Network, error)
	UpdateNetwork(ctx context.Context, id string, req neutron.NetworkUpdate) (*neutron.Network, error)
	DeleteNetwork(ctx context.Context, id string) error

	CreateSubnet(ctx context.Context, req neutron.SubnetCreate) (*neutron.Subnet, error)
	GetSubnet(ctx context.Context, id string) (*neutron.Subnet, error)
	ListSubnets(ctx context.Context, q neutron.ListQuery) ([]neutron.Subnet, error)
	UpdateSubnet(ctx context.Context, id string, req neutron.SubnetUpdate) (*neutron.Subnet, error)
	DeleteSubnet(ctx context.Context, id string) error

	CreatePort(ctx context.Context, req neutron.PortCreate) (*neutron.Port, error)
	GetPort(ctx context.Context, id string) (*neutron.Port, error)
	ListPorts(ctx context.Context, q neutron.ListQuery) ([]neutron.Port, error)
	UpdatePort(ctx context.Context, id string, req neutron.PortUpdate) (*neutron.Port, error)
	DeletePort(ctx context.Context, id string) error

	GetAgent(ctx context.Context, id string) (*neutron.Agent, error)
	ListAgents(ctx context.Context, q neutron.ListQuery) ([]neutron.Agent, error)
	UpdateAgent(ctx context.Context, id string, req neutron.AgentUpdate) (*neutron.Agent, error)
	DeleteAgent(ctx context.Context, id string) error

	// ReplaceTags sets the tags of a network, subnet or port (kind is the
	// singular resource name) and bumps its revision.
	ReplaceTags(ctx context.Context, kind, id string, tags []string) ([]string, error)
}
