package ipam

import (
	"net/netip"

	"neutrino/internal/neutron"
)

var (
	multicast4 = netip.MustParsePrefix("224.0.0.0/4")
	multicast6 = netip.MustParsePrefix("ff00::/8")
	loopback4  = netip.MustParsePrefix("127.0.0.0/8")
	loopback6  = netip.MustParsePrefix("::1/128")
)

// within reports whether all of p lies inside outer.
func within(p, outer netip.Prefix) bool {
	return p.Bits() >= outer.Bits() && outer.Contains(p.Addr())
}

// ValidateDHCP makes the checks Neutron makes on a subnet that gets DHCP
// (created with enable_dhcp, the default, or updated from disabled to
// enabled): the DHCP agent needs a port besides the gateway and clients,
// so /31 and /32 (/127, /128) are refused, as are multicast and loopback
// networks and an IPv4 network starting at 0.0.0.0.
func ValidateDHCP(p netip.Prefix) error {
	if (p.Addr().Is4() && p.Bits() > 30) || (p.Addr().Is6() && p.Bits() > 126) {
		return neutron.InvalidInput("Subnet has a prefix length that is incompatible with DHCP service enabled.")
	}
	if within(p, multicast4) || within(p, multicast6) {
		return neutron.InvalidInput("Multicast IP subnet is not supported if enable_dhcp is True.")
	}
	if within(p, loopback4) || within(p, loopback6) {
		return neutron.InvalidInput("Loopback IP subnet is not supported if enable_dhcp is True.")
	}
	if p.Addr().Is4() && p.Masked().Addr() == netip.IPv4Unspecified() {
		return neutron.InvalidInput("First IP '0.0.0.0' of network is not supported if enable_dhcp is True.")
	}
	return nil
}

// ValidateIPv6Modes checks ipv6_ra_mode and ipv6_address_mode of a new
// subnet as Neutron does: neither on IPv4; both need DHCP; when both are
// set they must be equal (either alone is fine); and a mode in which hosts
// make their own address (SLAAC, DHCPv6-stateless) needs a /64 for EUI-64.
func ValidateIPv6Modes(p netip.Prefix, raMode, addressMode string, enableDHCP bool) error {
	if p.Addr().Is4() {
		if raMode != "" {
			return neutron.InvalidInput("ipv6_ra_mode is not valid when ip_version is 4.")
		}
		if addressMode != "" {
			return neutron.InvalidInput("ipv6_address_mode is not valid when ip_version is 4.")
		}
		return nil
	}
	if raMode == "" && addressMode == "" {
		return nil
	}
	if !enableDHCP {
		return neutron.InvalidInput("ipv6_ra_mode or ipv6_address_mode cannot be set when enable_dhcp is set to False.")
	}
	if raMode != "" && addressMode != "" && raMode != addressMode {
		return neutron.InvalidInput("ipv6_ra_mode set to '%s' with ipv6_address_mode set to '%s' is not valid. If both attributes are set, they must be the same value.", raMode, addressMode)
	}
	if (IsSLAAC(addressMode) || IsSLAAC(raMode)) && p.Bits() != 64 {
		return neutron.InvalidInput("Invalid CIDR %s for IPv6 address mode. OpenStack uses the EUI-64 address format, which requires the prefix to be /64.", p)
	}
	return nil
}

// ValidateDHCPUpdate checks a change of enable_dhcp on an existing subnet
// (wasEnabled -> enable) as Neutron does: turning DHCP on applies the
// creation checks; turning it off is refused while IPv6 modes are set.
func ValidateDHCPUpdate(p netip.Prefix, wasEnabled, enable bool, raMode, addressMode string) error {
	if enable && !wasEnabled {
		return ValidateDHCP(p)
	}
	if !enable && (raMode != "" || addressMode != "") {
		return neutron.InvalidInput("Cannot disable enable_dhcp with ipv6 attributes set.")
	}
	return nil
}

// Neutron's defaults for max_dns_nameservers and max_subnet_host_routes
// (neutrino has no such options).
const (
	MaxDNSNameservers = 5
	MaxHostRoutes     = 20
)

// ValidateSubnetOptions checks dns_nameservers and host_routes given for
// a subnet (id "" = a new one) as Neutron does: at most 5 and 20, and of
// the subnet's IP version.
func ValidateSubnetOptions(version int, id string, dns []string, routes []neutron.HostRoute) error {
	if id == "" {
		id = "new subnet"
	}
	if len(dns) > MaxDNSNameservers {
		return neutron.Errorf(400, "DNSNameServersExhausted", "Unable to complete operation for %s. The number of DNS nameservers exceeds the limit %d.", id, MaxDNSNameservers)
	}
	for _, d := range dns {
		if err := sameVersion(version, d, "dns_nameserver"); err != nil {
			return err
		}
	}
	if len(routes) > MaxHostRoutes {
		return neutron.Errorf(400, "HostRoutesExhausted", "Unable to complete operation for %s. The number of host routes exceeds the limit %d.", id, MaxHostRoutes)
	}
	for _, r := range routes {
		if err := sameVersion(version, r.NextHop, "nexthop"); err != nil {
			return err
		}
		if err := sameVersion(version, r.Destination, "destination"); err != nil {
			return err
		}
	}
	return nil
}

// sameVersion checks that an address or prefix is of IP version v.
func sameVersion(v int, s, name string) error {
	var is4 bool
	if p, err := netip.ParsePrefix(s); err == nil {
		is4 = p.Addr().Is4()
	} else if a, err := netip.ParseAddr(s); err == nil {
		is4 = a.Is4()
	} else {
		return neutron.InvalidInput("%s '%s' is not a valid IP address.", name, s)
	}
	if is4 != (v == 4) {
		return neutron.InvalidInput("%s '%s' does not match the ip_version '%d'.", name, s, v)
	}
	return nil
}
