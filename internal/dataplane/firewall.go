package dataplane

import "net/netip"

// Firewall is the security-group part of a node's desired state: what the
// node's firewall driver must enforce for its local ports, and which
// underlay sources may send it VXLAN. The server resolves everything
// (default group, remote groups to member addresses); a data plane only
// realises it. Driver "" or "noop" filters no port; the underlay filter
// follows VTEPs whatever the driver.
type Firewall struct {
	// Driver is the agent's [securitygroup] firewall_driver as Neutron
	// names it: "noop", "iptables" (Linux bridge), "openvswitch" or
	// "iptables_hybrid" (Open vSwitch).
	Driver string
	// Ports are the local ports' filters, by port id.
	Ports map[string]PortFilter
	// RemoteGroups holds, for each security group referenced as a
	// remote_group_id by a rule of a local port, the addresses of the
	// group's members (their fixed IPs and allowed address pairs),
	// sorted. Data planes keep one named set per (group, ethertype), so
	// a member joining or leaving changes one set element, not rules.
	RemoteGroups map[string][]netip.Prefix
	// Groups are the rules of each security group of a local port, by
	// group id. A data plane that matches rules on the group rather than
	// on the port (the OVS native firewall) programs a group's rules once
	// for all its ports, so a rule change costs the rule, not the ports.
	// The slices are never changed in place.
	Groups map[string][]Rule
	// VTEPs are all VTEPs the server knows (every agent's tunnel IP):
	// the only underlay sources a node accepts VXLAN from. Empty means
	// the underlay filter is off.
	VTEPs []netip.Addr
}

// PortFilter is one local port's firewall.
type PortFilter struct {
	PortID string
	// NetworkID is the port's network (OVS conntrack zones are per network).
	NetworkID string
	MAC       string // lower-case aa:bb:cc:dd:ee:ff
	// PortSecurity is port_security_enabled: false means no filtering
	// and no anti-spoofing at all for this port (everything passes).
	PortSecurity bool
	// Allowed are the (MAC, address) pairs the port may send from: its
	// own MAC with each fixed IP (as /32 or /128), plus its allowed
	// address pairs (MAC defaults to the port's). Anti-spoofing drops
	// everything else, ARP included.
	Allowed []AllowedAddress
	// Rules are the union of the rules of the port's security groups.
	// Nothing is allowed that no rule allows (plus what every port gets:
	// replies of allowed connections when Stateful, DHCP client, ICMPv6
	// neighbour discovery as Neutron allows them).
	Rules []Rule
	// Groups are the port's security groups (ids in Firewall.Groups,
	// sorted): Rules is the union of their rules. A filter without
	// Groups (built by hand from Rules alone) is its own group.
	Groups []string
	// Stateful is false only when every group of the port has
	// stateful = false (Neutron's stateless security groups).
	Stateful bool
}

// AllowedAddress is one source a port may use.
type AllowedAddress struct {
	MAC    string
	Prefix netip.Prefix
}

// Rule is one security-group rule as a data plane needs it.
type Rule struct {
	Direction string // "ingress" or "egress"
	Ethertype string // "IPv4" or "IPv6"
	// Protocol is the IP protocol number; 0 means any.
	Protocol uint8
	// PortMin and PortMax are the TCP/UDP/SCTP destination port range
	// (both 0 = any). For ICMP and ICMPv6 (Neutron keeps them in the
	// same fields) PortMin is the type and PortMax the code, -1 = any.
	PortMin, PortMax int
	// RemotePrefix limits the peer address; invalid means any.
	RemotePrefix netip.Prefix
	// RemoteGroup, when set, limits the peer to the members of that
	// group (Firewall.RemoteGroups[RemoteGroup] of this Ethertype).
	RemoteGroup string
}
