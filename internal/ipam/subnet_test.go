package ipam

import (
	"net/netip"
	"testing"

	"neutrino/internal/neutron"
)

// The texts are Neutron 2023.1's (db_base_plugin_v2._validate_subnet and
// _validate_ipv6_*), wrapped in InvalidInput's "Invalid input for operation: ... .".
func TestValidateDHCP(t *testing.T) {
	const (
		prefix = "InvalidInput: Invalid input for operation: Subnet has a prefix length that is incompatible with DHCP service enabled."
		mcast  = "InvalidInput: Invalid input for operation: Multicast IP subnet is not supported if enable_dhcp is True."
		loop   = "InvalidInput: Invalid input for operation: Loopback IP subnet is not supported if enable_dhcp is True."
		zero   = "InvalidInput: Invalid input for operation: First IP '0.0.0.0' of network is not supported if enable_dhcp is True."
	)
	for cidr, want := range map[string]string{
		"10.0.0.0/30": "", "10.0.0.0/31": prefix, "10.0.0.1/32": prefix,
		"2001:db8::/126": "", "2001:db8::/127": prefix, "2001:db8::1/128": prefix, "::1/128": prefix,
		"224.0.0.0/24": mcast, "239.255.0.0/16": mcast, "224.0.0.0/4": mcast, "192.0.0.0/2": "",
		"ff00::/64": mcast, "ff02::/16": mcast, "fe80::/64": "",
		"127.0.0.0/8": loop, "127.1.0.0/24": loop, "126.0.0.0/7": "",
		"0.0.0.0/8": zero, "0.0.0.0/1": zero, "1.0.0.0/24": "",
	} {
		if got := fault(t, ValidateDHCP(netip.MustParsePrefix(cidr))); got != want {
			t.Errorf("%s: %q, want %q", cidr, got, want)
		}
	}
}

func TestValidateIPv6Modes(t *testing.T) {
	const (
		v4ra   = "InvalidInput: Invalid input for operation: ipv6_ra_mode is not valid when ip_version is 4."
		v4addr = "InvalidInput: Invalid input for operation: ipv6_address_mode is not valid when ip_version is 4."
		nodhcp = "InvalidInput: Invalid input for operation: ipv6_ra_mode or ipv6_address_mode cannot be set when enable_dhcp is set to False."
		eui64  = "InvalidInput: Invalid input for operation: Invalid CIDR 2001:db8::/80 for IPv6 address mode. OpenStack uses the EUI-64 address format, which requires the prefix to be /64."
	)
	combo := func(ra, addr string) string {
		return "InvalidInput: Invalid input for operation: ipv6_ra_mode set to '" + ra + "' with ipv6_address_mode set to '" + addr + "' is not valid. If both attributes are set, they must be the same value."
	}
	p64, p80, p4 := netip.MustParsePrefix("2001:db8::/64"), netip.MustParsePrefix("2001:db8::/80"), netip.MustParsePrefix("10.0.0.0/24")
	cases := []struct {
		p        netip.Prefix
		ra, addr string
		dhcp     bool
		want     string
	}{
		{p64, "", "", true, ""},
		{p64, "", "", false, ""},
		{p64, "slaac", "slaac", true, ""},
		{p64, "dhcpv6-stateful", "dhcpv6-stateful", true, ""},
		{p64, "dhcpv6-stateless", "dhcpv6-stateless", true, ""},
		{p64, "", "slaac", true, ""},           // address mode alone: allowed
		{p64, "", "dhcpv6-stateful", true, ""}, // (e.g. an external router sends RAs)
		{p64, "slaac", "", true, ""},           // ra mode alone: allowed
		{p64, "slaac", "dhcpv6-stateful", true, combo("slaac", "dhcpv6-stateful")},
		{p64, "dhcpv6-stateless", "slaac", true, combo("dhcpv6-stateless", "slaac")},
		{p64, "dhcpv6-stateful", "slaac", true, combo("dhcpv6-stateful", "slaac")},
		{p64, "slaac", "slaac", false, nodhcp},
		{p64, "", "slaac", false, nodhcp},
		{p80, "slaac", "slaac", true, eui64},
		{p80, "", "dhcpv6-stateless", true, eui64},
		{p80, "dhcpv6-stateful", "dhcpv6-stateful", true, ""},
		{p4, "slaac", "", true, v4ra},
		{p4, "", "slaac", true, v4addr},
		{p4, "", "", true, ""},
	}
	for _, c := range cases {
		if got := fault(t, ValidateIPv6Modes(c.p, c.ra, c.addr, c.dhcp)); got != c.want {
			t.Errorf("%s ra=%q addr=%q dhcp=%v: %q, want %q", c.p, c.ra, c.addr, c.dhcp, got, c.want)
		}
	}
}

func TestValidateDHCPUpdate(t *testing.T) {
	p31 := netip.MustParsePrefix("10.0.0.0/31")
	p64 := netip.MustParsePrefix("2001:db8::/64")
	const (
		prefix  = "InvalidInput: Invalid input for operation: Subnet has a prefix length that is incompatible with DHCP service enabled."
		disable = "InvalidInput: Invalid input for operation: Cannot disable enable_dhcp with ipv6 attributes set."
	)
	cases := []struct {
		p              netip.Prefix
		was, enable    bool
		ra, addr, want string
	}{
		{p31, false, true, "", "", prefix}, // turning DHCP on checks the prefix
		{p31, true, true, "", "", ""},      // already on: not re-checked (Neutron)
		{p31, false, false, "", "", ""},
		{p64, true, false, "slaac", "slaac", disable},
		{p64, true, false, "", "dhcpv6-stateful", disable},
		{p64, true, false, "", "", ""},
	}
	for _, c := range cases {
		if got := fault(t, ValidateDHCPUpdate(c.p, c.was, c.enable, c.ra, c.addr)); got != c.want {
			t.Errorf("%+v: %q, want %q", c, got, c.want)
		}
	}
}

func TestValidateSubnetOptions(t *testing.T) {
	route := func(dst, hop string) neutron.HostRoute { return neutron.HostRoute{Destination: dst, NextHop: hop} }
	routes := make([]neutron.HostRoute, 21)
	for i := range routes {
		routes[i] = route("10.9.0.0/24", "10.0.0.1")
	}
	cases := []struct {
		v      int
		id     string
		dns    []string
		routes []neutron.HostRoute
		want   string
	}{
		{4, "", []string{"10.0.0.2", "8.8.8.8"}, []neutron.HostRoute{route("10.9.0.0/24", "10.0.0.1")}, ""},
		{6, "", []string{"2001:db8::53"}, []neutron.HostRoute{route("2001:db8:9::/64", "2001:db8::1")}, ""},
		{4, "", []string{"2001:db8::53"}, nil, "InvalidInput: Invalid input for operation: dns_nameserver '2001:db8::53' does not match the ip_version '4'."},
		{6, "", []string{"8.8.8.8"}, nil, "InvalidInput: Invalid input for operation: dns_nameserver '8.8.8.8' does not match the ip_version '6'."},
		{4, "", nil, []neutron.HostRoute{route("10.9.0.0/24", "2001:db8::1")}, "InvalidInput: Invalid input for operation: nexthop '2001:db8::1' does not match the ip_version '4'."},
		{4, "", nil, []neutron.HostRoute{route("2001:db8:9::/64", "10.0.0.1")}, "InvalidInput: Invalid input for operation: destination '2001:db8:9::/64' does not match the ip_version '4'."},
		{4, "", []string{"1.1.1.1", "1.1.1.2", "1.1.1.3", "1.1.1.4", "1.1.1.5", "1.1.1.6"}, nil, "DNSNameServersExhausted: Unable to complete operation for new subnet. The number of DNS nameservers exceeds the limit 5."},
		{4, "s1", nil, routes, "HostRoutesExhausted: Unable to complete operation for s1. The number of host routes exceeds the limit 20."},
		{4, "", nil, routes[:20], ""},
	}
	for i, c := range cases {
		if got := fault(t, ValidateSubnetOptions(c.v, c.id, c.dns, c.routes)); got != c.want {
			t.Errorf("%d: %q, want %q", i, got, c.want)
		}
	}
}
