// Package l3 is the L3 agent (neutron-l3-agent): what it must route as a
// value (State), the namespace, address, route and NAT configuration
// computed from it as pure functions, and the applier that converges a node
// to it (qrouter- namespaces, qr-/qg- interfaces, nftables NAT).
package l3

import (
	"context"
	"net/netip"
)

// State is everything one L3 agent must route: the routers scheduled to it
// whose admin_state_up is true. The server's L3 stream is converted into
// exactly this value; the agent converges to it as a whole
// (level-triggered), so a missed update or a restart heals with the next
// State.
type State struct {
	// Routers are sorted by ID.
	Routers []Router
}

// Router is one router: a qrouter-<ID> namespace.
type Router struct {
	ID string
	// Interfaces are the router's ports of device_owner
	// network:router_interface (qr-<port id[:11]>), sorted by ID.
	Interfaces []Port
	// Gateway is the external gateway (qg-<port id[:11]>); nil if the
	// router has none.
	Gateway *Gateway
	// Routes are the router's extra routes (its routes attribute), sorted
	// by destination, then next hop.
	Routes []Route
	// FloatingIPs are the floating IPs associated with ports behind this
	// router, sorted by FloatingIP. They need a Gateway.
	FloatingIPs []FloatingIP
}

// Port is one router port as the data plane needs it.
type Port struct {
	ID        string
	NetworkID string
	// MAC is the port's mac_address, lower case, colon separated.
	MAC string
	// MTU is the network's MTU; 0 means leave the device's default.
	MTU int
	// Addresses are the port's fixed IPs with their subnet's prefix
	// length (192.168.1.1/24), sorted.
	Addresses []netip.Prefix
}

// Gateway is a router's external gateway.
type Gateway struct {
	Port Port
	// NextHops are the gateway_ip of the external subnets the gateway port
	// has an address on, sorted; the default route of each IP version
	// goes via the first of that version.
	NextHops []netip.Addr
	// EnableSNAT is external_gateway_info.enable_snat: the router's
	// subnets leave through the gateway's first IPv4 address.
	EnableSNAT bool
}

// Route is one of a router's extra routes.
type Route struct {
	Destination netip.Prefix
	NextHop     netip.Addr
}

// FloatingIP is one associated floating IP: traffic to FloatingIP is
// translated to FixedIP (DNAT), and FixedIP leaves as FloatingIP (SNAT).
type FloatingIP struct {
	ID         string
	FloatingIP netip.Addr
	FixedIP    netip.Addr
	// PortID is the associated port_id.
	PortID string
}

// Source yields the agent's desired state: Watch calls fn with the whole
// State every time it changes, until ctx ends or the stream breaks; the
// agent then calls it again.
type Source interface {
	Watch(ctx context.Context, host string, fn func(State) error) error
}

// Floating IP statuses the agent reports (Neutron's floatingip status).
const (
	StatusActive = "ACTIVE"
	StatusError  = "ERROR"
)

// StatusReporter tells the server the status of the floating IPs the
// agent handles, by floating IP id: ACTIVE once translated and announced
// on the router, ERROR when the router failed to converge. The agent
// reports only changes (and everything again after a reconnect of the
// stream); the server sets DOWN itself on disassociation.
type StatusReporter interface {
	UpdateFloatingIPStatuses(ctx context.Context, host string, statuses map[string]string) error
}
