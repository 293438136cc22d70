package api

import (
	"context"

	"neutrino/internal/neutron"
)

// Backend is what the HTTP layer needs from the ML2 plugin; ml2.Plugin
// implements it. Methods return *neutron.Error (possibly wrapped) for
// faults the client must see; any other error is a 500.
type Backend interface {
	// CreateNetworks creates all of reqs in one transaction or none (bulk
	// create; the error is the first failing item's).
	CreateNetworks(ctx context.Context, reqs []neutron.NetworkCreate) ([]*neutron.Network, error)
	GetNetwork(ctx context.Context, id string) (*neutron.Network, error)
	ListNetworks(ctx context.Context, q neutron.ListQuery) ([]neutron.Network, error)
	UpdateNetwork(ctx context.Context, id string, req neutron.NetworkUpdate) (*neutron.Network, error)
	DeleteNetwork(ctx context.Context, id string) error

	// CreateSubnets creates all of reqs in one transaction or none (bulk
	// create; the error is the first failing item's).
	CreateSubnets(ctx context.Context, reqs []neutron.SubnetCreate) ([]*neutron.Subnet, error)
	GetSubnet(ctx context.Context, id string) (*neutron.Subnet, error)
	ListSubnets(ctx context.Context, q neutron.ListQuery) ([]neutron.Subnet, error)
	UpdateSubnet(ctx context.Context, id string, req neutron.SubnetUpdate) (*neutron.Subnet, error)
	DeleteSubnet(ctx context.Context, id string) error

	// CreatePorts creates all of reqs in one transaction or none (bulk
	// create; the error is the first failing item's).
	CreatePorts(ctx context.Context, reqs []neutron.PortCreate) ([]*neutron.Port, error)
	GetPort(ctx context.Context, id string) (*neutron.Port, error)
	ListPorts(ctx context.Context, q neutron.ListQuery) ([]neutron.Port, error)
	UpdatePort(ctx context.Context, id string, req neutron.PortUpdate) (*neutron.Port, error)
	DeletePort(ctx context.Context, id string) error

	GetAgent(ctx context.Context, id string) (*neutron.Agent, error)
	ListAgents(ctx context.Context, q neutron.ListQuery) ([]neutron.Agent, error)
	UpdateAgent(ctx context.Context, id string, req neutron.AgentUpdate) (*neutron.Agent, error)
	DeleteAgent(ctx context.Context, id string) error

	// CreateSecurityGroups creates all of reqs in one transaction or
	// none (bulk create); likewise CreateSecurityGroupRules.
	CreateSecurityGroups(ctx context.Context, reqs []neutron.SecurityGroupCreate) ([]*neutron.SecurityGroup, error)
	GetSecurityGroup(ctx context.Context, id string) (*neutron.SecurityGroup, error)
	ListSecurityGroups(ctx context.Context, q neutron.ListQuery) ([]neutron.SecurityGroup, error)
	UpdateSecurityGroup(ctx context.Context, id string, req neutron.SecurityGroupUpdate) (*neutron.SecurityGroup, error)
	// DeleteSecurityGroup: admin may delete a project's default group.
	DeleteSecurityGroup(ctx context.Context, id string, admin bool) error
	// EnsureDefaultSecurityGroup creates project's default group if it
	// has none ("" does nothing).
	EnsureDefaultSecurityGroup(ctx context.Context, project string) error
	CreateSecurityGroupRules(ctx context.Context, reqs []neutron.SecurityGroupRuleCreate) ([]*neutron.SecurityGroupRule, error)
	GetSecurityGroupRule(ctx context.Context, id string) (*neutron.SecurityGroupRule, error)
	ListSecurityGroupRules(ctx context.Context, q neutron.ListQuery) ([]neutron.SecurityGroupRule, error)
	DeleteSecurityGroupRule(ctx context.Context, id string) error

	// Routers and floating IPs (the L3 router service); bulk creates are
	// one transaction each.
	CreateRouters(ctx context.Context, reqs []neutron.RouterCreate) ([]*neutron.Router, error)
	GetRouter(ctx context.Context, id string) (*neutron.Router, error)
	ListRouters(ctx context.Context, q neutron.ListQuery) ([]neutron.Router, error)
	UpdateRouter(ctx context.Context, id string, req neutron.RouterUpdate) (*neutron.Router, error)
	DeleteRouter(ctx context.Context, id string) error
	AddRouterInterface(ctx context.Context, routerID string, req neutron.RouterInterfaceRequest) (*neutron.RouterInterfaceInfo, error)
	RemoveRouterInterface(ctx context.Context, routerID string, req neutron.RouterInterfaceRequest) (*neutron.RouterInterfaceInfo, error)
	CreateFloatingIPs(ctx context.Context, reqs []neutron.FloatingIPCreate) ([]*neutron.FloatingIP, error)
	GetFloatingIP(ctx context.Context, id string) (*neutron.FloatingIP, error)
	ListFloatingIPs(ctx context.Context, q neutron.ListQuery) ([]neutron.FloatingIP, error)
	UpdateFloatingIP(ctx context.Context, id string, req neutron.FloatingIPUpdate) (*neutron.FloatingIP, error)
	DeleteFloatingIP(ctx context.Context, id string) error

	// Subnet pools (subnet_allocation); a bulk create is one transaction.
	CreateSubnetPools(ctx context.Context, reqs []neutron.SubnetPoolCreate) ([]*neutron.SubnetPool, error)
	GetSubnetPool(ctx context.Context, id string) (*neutron.SubnetPool, error)
	ListSubnetPools(ctx context.Context, q neutron.ListQuery) ([]neutron.SubnetPool, error)
	UpdateSubnetPool(ctx context.Context, id string, req neutron.SubnetPoolUpdate) (*neutron.SubnetPool, error)
	DeleteSubnetPool(ctx context.Context, id string) error

	QuotaBackend
	IPAvailabilityBackend

	// ReplaceTags sets the tags of a network, subnet, port, security group, router, floating IP or subnet pool (kind is the
	// singular resource name) and bumps its revision.
	ReplaceTags(ctx context.Context, kind, id string, tags []string) ([]string, error)
}
