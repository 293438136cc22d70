package rpc

import (
	"fmt"
	"net/netip"

	"neutrino/internal/dhcp"
	"neutrino/internal/dhcpview"
	"neutrino/internal/rpc/pb"
)

// DHCP states and deltas on the wire. Addresses travel as text: the
// stream carries few of them and text keeps IPv4 and IPv6 alike.

// DHCPStateToPB encodes a DHCP agent's state.
func DHCPStateToPB(s dhcp.State) *pb.DHCPState {
	out := &pb.DHCPState{}
	for _, n := range s.Networks {
		out.Networks = append(out.Networks, dhcpNetworkToPB(n))
	}
	return out
}

// DHCPDeltaToPB encodes a DHCP state delta.
func DHCPDeltaToPB(d dhcpview.Delta) *pb.DHCPDelta {
	out := &pb.DHCPDelta{Removed: d.Removed}
	for _, n := range d.Upsert {
		out.Upsert = append(out.Upsert, dhcpNetworkToPB(n))
	}
	return out
}

func dhcpNetworkToPB(n dhcp.Network) *pb.DHCPNetwork {
	out := &pb.DHCPNetwork{Id: n.ID, Mtu: int32(n.MTU)}
	for _, s := range n.Subnets {
		ps := &pb.DHCPSubnet{Id: s.ID, Cidr: s.CIDR.String(), IpVersion: int32(s.IPVersion), EnableDhcp: s.EnableDHCP,
			Ipv6RaMode: s.IPv6RAMode, Ipv6AddressMode: s.IPv6AddressMode}
		if s.Gateway.IsValid() {
			ps.GatewayIp = s.Gateway.String()
		}
		for _, a := range s.DNSNameservers {
			ps.DnsNameservers = append(ps.DnsNameservers, a.String())
		}
		for _, r := range s.HostRoutes {
			ps.HostRoutes = append(ps.HostRoutes, &pb.DHCPHostRoute{Destination: r.Destination.String(), Nexthop: r.Nexthop.String()})
		}
		out.Subnets = append(out.Subnets, ps)
	}
	if n.DHCPPort.ID != "" {
		out.DhcpPort = dhcpPortToPB(n.DHCPPort)
	}
	for _, p := range n.Ports {
		out.Ports = append(out.Ports, dhcpPortToPB(p))
	}
	return out
}

func dhcpPortToPB(p dhcp.Port) *pb.DHCPPort {
	out := &pb.DHCPPort{Id: p.ID, Mac: p.MAC, DeviceOwner: p.DeviceOwner}
	for _, f := range p.FixedIPs {
		out.FixedIps = append(out.FixedIps, &pb.DHCPFixedIP{SubnetId: f.SubnetID, IpAddress: f.Address.String()})
	}
	for _, o := range p.ExtraDHCPOpts {
		out.ExtraDhcpOpts = append(out.ExtraDhcpOpts, &pb.DHCPExtraOpt{Name: o.Name, Value: o.Value, IpVersion: int32(o.IPVersion)})
	}
	return out
}

// DHCPStateFromPB decodes a DHCP agent's state.
func DHCPStateFromPB(m *pb.DHCPState) (dhcp.State, error) {
	var out dhcp.State
	for _, n := range m.GetNetworks() {
		dn, err := dhcpNetworkFromPB(n)
		if err != nil {
			return out, err
		}
		out.Networks = append(out.Networks, dn)
	}
	return out, nil
}

// DHCPDeltaFromPB decodes a DHCP state delta.
func DHCPDeltaFromPB(m *pb.DHCPDelta) (dhcpview.Delta, error) {
	out := dhcpview.Delta{Removed: m.GetRemoved()}
	for _, n := range m.GetUpsert() {
		dn, err := dhcpNetworkFromPB(n)
		if err != nil {
			return out, err
		}
		out.Upsert = append(out.Upsert, dn)
	}
	return out, nil
}

func dhcpNetworkFromPB(m *pb.DHCPNetwork) (dhcp.Network, error) {
	n := dhcp.Network{ID: m.GetId(), MTU: int(m.GetMtu())}
	bad := func(what string, err error) (dhcp.Network, error) {
		return n, fmt.Errorf("network %s: %s: %w", n.ID, what, err)
	}
	for _, s := range m.GetSubnets() {
		ds := dhcp.Subnet{ID: s.GetId(), IPVersion: int(s.GetIpVersion()), EnableDHCP: s.GetEnableDhcp(),
			IPv6RAMode: s.GetIpv6RaMode(), IPv6AddressMode: s.GetIpv6AddressMode()}
		var err error
		if ds.CIDR, err = netip.ParsePrefix(s.GetCidr()); err != nil {
			return bad("subnet "+ds.ID, err)
		}
		if g := s.GetGatewayIp(); g != "" {
			if ds.Gateway, err = netip.ParseAddr(g); err != nil {
				return bad("subnet "+ds.ID+" gateway", err)
			}
		}
		for _, a := range s.GetDnsNameservers() {
			ip, err := netip.ParseAddr(a)
			if err != nil {
				return bad("subnet "+ds.ID+" dns_nameservers", err)
			}
			ds.DNSNameservers = append(ds.DNSNameservers, ip)
		}
		for _, r := range s.GetHostRoutes() {
			d, err1 := netip.ParsePrefix(r.GetDestination())
			h, err2 := netip.ParseAddr(r.GetNexthop())
			if err1 != nil || err2 != nil {
				return bad("subnet "+ds.ID+" host_routes", fmt.Errorf("%q via %q", r.GetDestination(), r.GetNexthop()))
			}
			ds.HostRoutes = append(ds.HostRoutes, dhcp.HostRoute{Destination: d, Nexthop: h})
		}
		n.Subnets = append(n.Subnets, ds)
	}
	if m.GetDhcpPort() != nil {
		p, err := dhcpPortFromPB(m.GetDhcpPort())
		if err != nil {
			return bad("dhcp port", err)
		}
		n.DHCPPort = p
	}
	for _, pp := range m.GetPorts() {
		p, err := dhcpPortFromPB(pp)
		if err != nil {
			return bad("port", err)
		}
		n.Ports = append(n.Ports, p)
	}
	return n, nil
}

func dhcpPortFromPB(m *pb.DHCPPort) (dhcp.Port, error) {
	p := dhcp.Port{ID: m.GetId(), MAC: m.GetMac(), DeviceOwner: m.GetDeviceOwner()}
	for _, f := range m.GetFixedIps() {
		a, err := netip.ParseAddr(f.GetIpAddress())
		if err != nil {
			return p, fmt.Errorf("port %s: %w", p.ID, err)
		}
		p.FixedIPs = append(p.FixedIPs, dhcp.FixedIP{SubnetID: f.GetSubnetId(), Address: a})
	}
	for _, o := range m.GetExtraDhcpOpts() {
		p.ExtraDHCPOpts = append(p.ExtraDHCPOpts, dhcp.ExtraDHCPOpt{Name: o.GetName(), Value: o.GetValue(), IPVersion: int(o.GetIpVersion())})
	}
	return p, nil
}
