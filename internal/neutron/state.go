package neutron

import (
	"encoding/json"
	"errors"
)

// AgentReport is one report_state heartbeat from a node agent.
type AgentReport struct {
	AgentType      string // AgentTypeOVS or AgentTypeLinuxBridge
	Binary         string // neutron-openvswitch-agent, neutron-linuxbridge-agent
	Host           string
	Topic          string // "N/A" as Neutron's agents send it
	Configurations json.RawMessage
	// StartFlag is set on the first report after the agent (re)started;
	// the server then sets started_at.
	StartFlag bool
	// TunnelIP and TunnelTypes register the host's VTEP
	// (ml2_vxlan_endpoints); a new IP for the same host replaces the old.
	TunnelIP    string
	TunnelTypes []string
}

// State is everything the agents' stream derives its views from, as of
// Revision (consistent: read in one transaction).
type State struct {
	Revision     int64
	Networks     []Network
	Subnets      []Subnet
	Ports        []Port
	Agents       []Agent
	Endpoints    []TunnelEndpoint
	DHCPBindings []DHCPBinding
	L3Bindings   []L3Binding
	// SecurityGroups carry their rules.
	SecurityGroups []SecurityGroup
	Routers        []Router
	FloatingIPs    []FloatingIP
}

// ErrRevisionGone means the change log no longer holds the revisions asked
// for (pruned); the caller must start again from a fresh State.
var ErrRevisionGone = errors.New("change log no longer holds that revision")
