package nftfw_test

import (
	"net/netip"

	"neutrino/internal/dataplane"
	"neutrino/internal/dataplane/nftfw"
)

const (
	portA = "4f63feaf-e92a-4045-8e45-d3160c99fb84"
	portB = "9a1b2c3d-0000-4e5f-8a9b-0c1d2e3f4a5b"
	netA  = "3f0e2b1c-9d7a-4c55-8f21-6b0d9e4a7c11"
	sgWeb = "5e6f7a8b-1111-4222-8333-944455566677"
	sgDef = "0d1e2f3a-aaaa-4bbb-8ccc-ddd000111222"
)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// richInput has two ports on one bridge with every kind of rule, remote
// groups of both ethertypes, an allowed address pair and the underlay set.
func richInput() nftfw.Input {
	a := dataplane.PortFilter{PortID: portA, NetworkID: netA, MAC: "fa:16:3e:00:00:01", PortSecurity: true, Stateful: true,
		Allowed: []dataplane.AllowedAddress{
			{MAC: "fa:16:3e:00:00:01", Prefix: pfx("192.168.1.4/32")},
			{MAC: "fa:16:3e:00:00:01", Prefix: pfx("fd00::4/128")},
			{MAC: "fa:16:3e:aa:bb:cc", Prefix: pfx("10.1.0.0/20")},
		},
		Rules: []dataplane.Rule{
			{Direction: "egress", Ethertype: "IPv4"},
			{Direction: "egress", Ethertype: "IPv6"},
			{Direction: "ingress", Ethertype: "IPv4", RemoteGroup: sgDef},
			{Direction: "ingress", Ethertype: "IPv6", RemoteGroup: sgDef},
			{Direction: "ingress", Ethertype: "IPv4", Protocol: 6, PortMin: 22, PortMax: 22, RemotePrefix: pfx("198.18.7.0/24")},
			{Direction: "ingress", Ethertype: "IPv4", Protocol: 6, PortMin: 8000, PortMax: 8080, RemoteGroup: sgWeb},
			{Direction: "ingress", Ethertype: "IPv4", Protocol: 1, PortMin: 8, PortMax: -1},
			{Direction: "ingress", Ethertype: "IPv4", Protocol: 1, PortMin: 3, PortMax: 4},
			{Direction: "ingress", Ethertype: "IPv6", Protocol: 58, PortMin: -1, PortMax: -1},
			{Direction: "ingress", Ethertype: "IPv4", Protocol: 17, RemotePrefix: pfx("10.0.0.0/9")},
			{Direction: "ingress", Ethertype: "IPv4", Protocol: 47},
			{Direction: "egress", Ethertype: "IPv4", Protocol: 1, PortMin: -1, PortMax: -1},
			{Direction: "egress", Ethertype: "IPv6", Protocol: 132, PortMin: 9, PortMax: 9, RemotePrefix: pfx("2001:db8::/32")},
		}}
	b := dataplane.PortFilter{PortID: portB, NetworkID: netA, MAC: "fa:16:3e:00:00:02", PortSecurity: true, Stateful: false,
		Allowed: []dataplane.AllowedAddress{{MAC: "fa:16:3e:00:00:02", Prefix: pfx("192.168.1.5/32")}},
		Rules:   []dataplane.Rule{{Direction: "ingress", Ethertype: "IPv4", Protocol: 17, PortMin: 53, PortMax: 53}}}
	return nftfw.Input{
		Firewall: dataplane.Firewall{Driver: "iptables",
			Ports: map[string]dataplane.PortFilter{portA: a, portB: b},
			RemoteGroups: map[string][]netip.Prefix{
				sgDef: {pfx("192.168.1.4/32"), pfx("192.168.1.5/32"), pfx("192.168.1.9/32"), pfx("fd00::4/128"), pfx("10.1.0.0/20"), pfx("10.1.2.3/32")},
				sgWeb: {pfx("192.168.2.0/24")},
			},
			VTEPs: []netip.Addr{netip.MustParseAddr("198.18.0.101"), netip.MustParseAddr("198.18.0.102")},
		},
		Ifaces: map[string]nftfw.Iface{
			portA: {Name: "tap4f63feaf-e9", Bridge: "brq3f0e2b1c-9d"},
			portB: {Name: "tap9a1b2c3d-00", Bridge: "brq3f0e2b1c-9d"},
		},
		VXLANPort: 4789,
	}
}
