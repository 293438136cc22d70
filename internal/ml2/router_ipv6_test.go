package ml2

import (
	"context"
	"slices"
	"testing"

	"neutrino/internal/neutron"
	"neutrino/internal/store"
)

// A second IPv6 subnet of a network goes onto the router's existing IPv6
// port on that network, as Neutron does (one port, every prefix); an IPv4
// subnet of the same network still gets its own port. Removing one of the
// port's subnets takes only its address; the last one takes the port.
func TestRouterIPv6SubnetsShareAPort(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		p := newPlugin(t, d, seedConfig())
		n, err := p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: tenant})
		if err != nil {
			t.Fatal(err)
		}
		sub := func(v int, cidr string) *neutron.Subnet {
			t.Helper()
			c := neutron.SubnetCreate{ProjectID: tenant, NetworkID: n.ID, IPVersion: v, CIDR: cidr}
			if v == 6 {
				c.IPv6RAMode, c.IPv6AddressMode = "slaac", "slaac"
			}
			s, err := p.CreateSubnet(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		a, b, v4 := sub(6, "2001:db8:1::/64"), sub(6, "2001:db8:2::/64"), sub(4, "10.0.0.0/24")
		r, err := p.CreateRouter(ctx, neutron.RouterCreate{ProjectID: tenant})
		if err != nil {
			t.Fatal(err)
		}
		add := func(s *neutron.Subnet) *neutron.RouterInterfaceInfo {
			t.Helper()
			info, err := p.AddRouterInterface(ctx, r.ID, neutron.RouterInterfaceRequest{SubnetID: s.ID})
			if err != nil {
				t.Fatal(err)
			}
			return info
		}
		ia, ib, i4 := add(a), add(b), add(v4)
		if ib.PortID != ia.PortID || ib.SubnetID != b.ID || !slices.Equal(ib.SubnetIDs, []string{b.ID}) || i4.PortID == ia.PortID {
			t.Fatalf("interfaces: %+v %+v %+v", ia, ib, i4)
		}
		pt, err := p.GetPort(ctx, ia.PortID)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, f := range pt.FixedIPs {
			got[f.SubnetID] = f.IPAddress
		}
		if len(got) != 2 || got[a.ID] != a.GatewayIP || got[b.ID] != b.GatewayIP {
			t.Fatalf("IPv6 port %+v", pt.FixedIPs)
		}
		// The same subnet again is still Neutron's 400.
		if _, err := p.AddRouterInterface(ctx, r.ID, neutron.RouterInterfaceRequest{SubnetID: b.ID}); err == nil {
			t.Fatal("subnet added twice")
		}
		ports, err := p.ListPorts(ctx, neutron.ListQuery{Filters: map[string][]string{"device_id": {r.ID}}})
		if err != nil || len(ports) != 2 {
			t.Fatalf("router ports %d %v", len(ports), err)
		}

		// Removing a: b stays on the same port.
		info, err := p.RemoveRouterInterface(ctx, r.ID, neutron.RouterInterfaceRequest{SubnetID: a.ID})
		if err != nil || info.PortID != ia.PortID || !slices.Equal(info.SubnetIDs, []string{a.ID}) {
			t.Fatalf("remove a: %+v %v", info, err)
		}
		pt, err = p.GetPort(ctx, ia.PortID)
		if err != nil || len(pt.FixedIPs) != 1 || pt.FixedIPs[0].SubnetID != b.ID {
			t.Fatalf("after removing a: %+v %v", pt, err)
		}
		if _, err := p.RemoveRouterInterface(ctx, r.ID, neutron.RouterInterfaceRequest{SubnetID: b.ID}); err != nil {
			t.Fatal(err)
		}
		if _, err := p.GetPort(ctx, ia.PortID); err == nil {
			t.Fatal("port of the last subnet kept")
		}
	})
}
