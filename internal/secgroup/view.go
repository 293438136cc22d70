package secgroup

import (
	"net/netip"
	"strings"

	"neutrino/internal/neutron"
)

// Rule is one rule as a firewall needs it (the same fields as
// dataplane.Rule, which the agent converts it to).
type Rule struct {
	Direction string // Ingress or Egress
	Ethertype string // IPv4 or IPv6
	// Protocol is the IP protocol number; 0 means any.
	Protocol uint8
	// PortMin and PortMax are the destination port range for protocols
	// with ports (both 0 = any); for ICMP and ICMPv6 the type and the
	// code, -1 = any.
	PortMin, PortMax int
	// RemotePrefix limits the peer; invalid means any.
	RemotePrefix netip.Prefix
	// RemoteGroup limits the peer to the members of that group.
	RemoteGroup string
}

// AllowedAddress is a (MAC, prefix) a port may send from (the same
// fields as dataplane.AllowedAddress).
type AllowedAddress struct {
	MAC    string
	Prefix netip.Prefix
}

// FirewallRule converts a stored rule into a firewall rule.
func FirewallRule(r neutron.SecurityGroupRule) Rule {
	out := Rule{Direction: r.Direction, Ethertype: r.Ethertype}
	if n, ok := protocolNumber(r.Protocol); ok {
		out.Protocol = n
	}
	if out.Protocol == protoICMP || out.Protocol == protoICMPv6 {
		out.PortMin, out.PortMax = -1, -1
	}
	if r.PortRangeMin != nil {
		out.PortMin = *r.PortRangeMin
	}
	if r.PortRangeMax != nil {
		out.PortMax = *r.PortRangeMax
	}
	if r.RemoteIPPrefix != nil {
		if p, err := parsePrefix(*r.RemoteIPPrefix); err == nil && p.Bits() > 0 {
			out.RemotePrefix = p.Masked()
		}
	}
	if r.RemoteGroupID != nil {
		out.RemoteGroup = *r.RemoteGroupID
	}
	return out
}

// CompareRules orders rules (for sorted, comparable rule lists).
func CompareRules(a, b Rule) int {
	if c := strings.Compare(a.Direction, b.Direction); c != 0 {
		return c
	}
	if c := strings.Compare(a.Ethertype, b.Ethertype); c != 0 {
		return c
	}
	if a.Protocol != b.Protocol {
		return int(a.Protocol) - int(b.Protocol)
	}
	if a.PortMin != b.PortMin {
		return a.PortMin - b.PortMin
	}
	if a.PortMax != b.PortMax {
		return a.PortMax - b.PortMax
	}
	if c := ComparePrefix(a.RemotePrefix, b.RemotePrefix); c != 0 {
		return c
	}
	return strings.Compare(a.RemoteGroup, b.RemoteGroup)
}

// ComparePrefix orders prefixes by address, then length.
func ComparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// CompareAllowed orders allowed addresses.
func CompareAllowed(a, b AllowedAddress) int {
	if c := strings.Compare(a.MAC, b.MAC); c != 0 {
		return c
	}
	return ComparePrefix(a.Prefix, b.Prefix)
}

// hostPrefix is a fixed IP as a single-address prefix.
func hostPrefix(s string) (netip.Prefix, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), true
}

// Allowed are the sources port p may send from: its MAC with each fixed
// IP, and its allowed address pairs (whose MAC defaults to the port's).
// Unsorted; callers sort.
func Allowed(p neutron.Port) []AllowedAddress {
	mac := strings.ToLower(p.MACAddress)
	var out []AllowedAddress
	for _, ip := range p.FixedIPs {
		if pfx, ok := hostPrefix(ip.IPAddress); ok {
			out = append(out, AllowedAddress{MAC: mac, Prefix: pfx})
		}
	}
	for _, pair := range p.AllowedAddressPairs {
		pfx, err := parsePrefix(pair.IPAddress)
		if err != nil {
			continue
		}
		m := mac
		if pair.MACAddress != "" {
			m = strings.ToLower(pair.MACAddress)
		}
		out = append(out, AllowedAddress{MAC: m, Prefix: pfx.Masked()})
	}
	return out
}

// Members are the addresses port p contributes to each of its groups as
// a remote group: its fixed IPs and allowed address pairs (Neutron's
// remote-group member set includes both). Unsorted.
func Members(p neutron.Port) []netip.Prefix {
	var out []netip.Prefix
	for _, a := range Allowed(p) {
		out = append(out, a.Prefix)
	}
	return out
}
