// Package dhcp is the DHCP agent (neutron-dhcp-agent): what it must serve
// as a value (State), Neutron's dnsmasq files and command line computed
// from it as pure functions, and the applier that converges a node to it
// (qdhcp- namespaces, tap ports, one supervised dnsmasq per network).
package dhcp

import (
	"context"
	"net/netip"
	"slices"
)

// State is everything one DHCP agent must serve: the networks scheduled to
// it. The server's DHCP stream is converted into exactly this value; the
// agent converges to it as a whole (level-triggered), so a missed update
// or a restart heals with the next State.
type State struct {
	// Networks are the hosted networks, one entry per network id.
	Networks []Network
}

// Network is one hosted network: what its dnsmasq serves.
type Network struct {
	ID string
	// MTU is the network's MTU (option 26); 0 means unknown: no option.
	MTU int
	// Subnets are all the network's subnets; the ones with EnableDHCP
	// get a dhcp-range. A network none of whose subnets has DHCP enabled
	// is served by no namespace and no process.
	Subnets []Subnet
	// DHCPPort is this agent's own port on the network (device_owner
	// network:dhcp): its MAC and fixed IPs go on the tap device in the
	// qdhcp- namespace.
	DHCPPort Port
	// Ports are the network's other ports: the clients dnsmasq answers,
	// by MAC, with their fixed IPs.
	Ports []Port
}

// Subnet is a network's subnet as DHCP needs it.
type Subnet struct {
	ID        string
	CIDR      netip.Prefix
	IPVersion int // 4 or 6
	// Gateway is the subnet's gateway_ip; the zero Addr means none (no
	// router option is sent).
	Gateway        netip.Addr
	DNSNameservers []netip.Addr
	HostRoutes     []HostRoute
	EnableDHCP     bool
	// IPv6RAMode and IPv6AddressMode are Neutron's ipv6_ra_mode and
	// ipv6_address_mode ("", "slaac", "dhcpv6-stateful",
	// "dhcpv6-stateless").
	IPv6RAMode      string
	IPv6AddressMode string
}

// HostRoute is one of a subnet's host_routes.
type HostRoute struct {
	Destination netip.Prefix
	Nexthop     netip.Addr
}

// Port is a port on a hosted network.
type Port struct {
	ID string
	// MAC is the port's mac_address, lower case, colon separated.
	MAC string
	// DeviceOwner decides what dnsmasq learns of a port: router
	// interfaces make a subnet non-isolated (metadata route via the
	// gateway); DHCP, floating IP, HA and distributed ports get no host
	// entry; other DHCP agents' ports (network:dhcp) also serve as DNS
	// servers of subnets without dns_nameservers.
	DeviceOwner string
	FixedIPs    []FixedIP
	// ExtraDHCPOpts are the port's extra_dhcp_opts.
	ExtraDHCPOpts []ExtraDHCPOpt
}

// FixedIP is one of a port's fixed_ips.
type FixedIP struct {
	SubnetID string
	Address  netip.Addr
}

// ExtraDHCPOpt is one of a port's extra_dhcp_opts.
type ExtraDHCPOpt struct {
	// Name is opt_name: a dnsmasq option name ("tftp-server",
	// "bootfile-name") or number ("66").
	Name string
	// Value is opt_value.
	Value string
	// IPVersion is 4 or 6 (Neutron's default is 4).
	IPVersion int
}

// DHCPSubnets returns the subnets with enable_dhcp, in order. A network
// without any is not served: no namespace, no dnsmasq.
func (n Network) DHCPSubnets() []Subnet {
	var out []Subnet
	for _, s := range n.Subnets {
		if s.EnableDHCP {
			out = append(out, s)
		}
	}
	return out
}

// Source yields the agent's desired state: Watch calls fn with the whole
// State every time it changes, until ctx ends or the stream breaks; the
// agent then calls it again.
type Source interface {
	Watch(ctx context.Context, host string, fn func(State) error) error
}

// Clone returns a copy of n that shares no slice with it, so that a
// remembered network does not change when the caller edits its own.
func (n Network) Clone() Network {
	n.Subnets = slices.Clone(n.Subnets)
	for i, s := range n.Subnets {
		n.Subnets[i].DNSNameservers = slices.Clone(s.DNSNameservers)
		n.Subnets[i].HostRoutes = slices.Clone(s.HostRoutes)
	}
	n.DHCPPort = n.DHCPPort.clone()
	n.Ports = slices.Clone(n.Ports)
	for i, p := range n.Ports {
		n.Ports[i] = p.clone()
	}
	return n
}

func (p Port) clone() Port {
	p.FixedIPs = slices.Clone(p.FixedIPs)
	p.ExtraDHCPOpts = slices.Clone(p.ExtraDHCPOpts)
	return p
}
