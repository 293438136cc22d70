package ml2

import (
	"context"
	"encoding/json"
	"testing"

	"neutrino/internal/config"
	"neutrino/internal/neutron"
	"neutrino/internal/store"
)

func TestGREFlatVLANAndLinuxBridge(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		cfg := seedConfig()
		cfg.TypeDrivers = []string{"flat", "vlan", "gre", "vxlan"}
		cfg.TenantNetworkTypes = []string{"gre", "vxlan"}
		cfg.TunnelIDRanges = []config.Range{{Min: 10, Max: 10}}
		cfg.NetworkVLANRanges = []config.VLANRange{{PhysicalNetwork: "physnet1", Min: 100, Max: 100}, {PhysicalNetwork: "physnet2"}}
		cfg.MechanismDrivers = []string{"linuxbridge", "openvswitch"}
		p := newPlugin(t, d, cfg)
		// Tenant types in order: gre first, then vxlan once gre is full.
		g, err := p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: "p"})
		if err != nil || g.Segments[0] != (neutron.Segment{NetworkType: "gre", SegmentationID: 10}) || g.MTU != 1458 {
			t.Fatalf("gre: %v %+v", err, g)
		}
		v, err := p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: "p"})
		if err != nil || v.Segments[0].NetworkType != "vxlan" {
			t.Fatalf("vxlan after gre: %v %+v", err, v)
		}
		// VLAN: tenant allocation on the only ranged physnet, then in use.
		vl, err := p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: "p", Segment: &neutron.Segment{NetworkType: "vlan"}})
		if err != nil || vl.Segments[0] != (neutron.Segment{NetworkType: "vlan", PhysicalNetwork: "physnet1", SegmentationID: 100}) {
			t.Fatalf("vlan: %v %+v", err, vl)
		}
		_, err = p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: "p", Segment: &neutron.Segment{NetworkType: "vlan", PhysicalNetwork: "physnet1", SegmentationID: 100}})
		wantFault(t, err, 409, "VlanIdInUse")
		_, err = p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: "p", Segment: &neutron.Segment{NetworkType: "vlan"}})
		wantFault(t, err, 503, "NoNetworkAvailable")
		// A VLAN network can move to another VLAN id; the old one is free.
		moved, err := p.UpdateNetwork(ctx, vl.ID, neutron.NetworkUpdate{Segment: &neutron.Segment{SegmentationID: 300}})
		if err != nil || moved.Segments[0].SegmentationID != 300 || moved.RevisionNumber != vl.RevisionNumber+1 {
			t.Fatalf("vlan update: %v %+v", err, moved)
		}
		if got, _ := p.GetNetwork(ctx, vl.ID); got.Segments[0].SegmentationID != 300 {
			t.Fatalf("stored segment %+v", got.Segments)
		}
		_, err = p.UpdateNetwork(ctx, vl.ID, neutron.NetworkUpdate{Segment: &neutron.Segment{SegmentationID: 5000}})
		wantFault(t, err, 400, "InvalidInput")
		_, err = p.UpdateNetwork(ctx, vl.ID, neutron.NetworkUpdate{Segment: &neutron.Segment{PhysicalNetwork: "physnet2", SegmentationID: 5}})
		wantFault(t, err, 400, "InvalidInput")
		vl2, err := p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: "p", Segment: &neutron.Segment{NetworkType: "vlan"}})
		if err != nil || vl2.Segments[0].SegmentationID != 100 {
			t.Fatalf("vlan 100 not released: %v %+v", err, vl2)
		}
		_, err = p.UpdateNetwork(ctx, vl2.ID, neutron.NetworkUpdate{Segment: &neutron.Segment{SegmentationID: 300}})
		wantFault(t, err, 409, "VlanIdInUse")
		if err := p.DeleteNetwork(ctx, vl2.ID); err != nil {
			t.Fatal(err)
		}
		// physnet2 has no tenant range but takes provider VLANs.
		v2, err := p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: "p", Segment: &neutron.Segment{NetworkType: "vlan", PhysicalNetwork: "physnet2", SegmentationID: 7}})
		if err != nil || v2.Segments[0].SegmentationID != 7 {
			t.Fatalf("physnet2: %v %+v", err, v2)
		}
		// Flat: one network per physnet.
		f, err := p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: "p", Segment: &neutron.Segment{NetworkType: "flat", PhysicalNetwork: "flatnet"}})
		if err != nil || f.MTU != 1500 {
			t.Fatalf("flat: %v %+v", err, f)
		}
		_, err = p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: "p", Segment: &neutron.Segment{NetworkType: "flat", PhysicalNetwork: "flatnet"}})
		wantFault(t, err, 409, "FlatNetworkInUse")
		if err := p.DeleteNetwork(ctx, f.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: "p", Segment: &neutron.Segment{NetworkType: "flat", PhysicalNetwork: "flatnet"}}); err != nil {
			t.Fatalf("flat after release: %v", err)
		}
		// Linux bridge agent binds vxlan and physnet1 VLAN ports; not gre.
		lb := neutron.AgentReport{AgentType: neutron.AgentTypeLinuxBridge, Binary: "neutron-linuxbridge-agent", Host: "lb-1",
			Configurations: json.RawMessage(`{"interface_mappings":{"physnet1":"eth1"}}`), TunnelIP: "198.18.0.9", TunnelTypes: []string{"vxlan"}, StartFlag: true}
		if _, err := p.ReportState(ctx, lb); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			net *neutron.Network
			vif string
		}{{v, "bridge"}, {vl, "bridge"}, {g, "binding_failed"}, {v2, "binding_failed"}} {
			pt, err := p.CreatePort(ctx, neutron.PortCreate{ProjectID: "p", NetworkID: tc.net.ID, HostID: "lb-1"})
			if err != nil || pt.VIFType != tc.vif {
				t.Fatalf("%s port: %v %+v", tc.net.Segments[0].NetworkType, err, pt)
			}
			if tc.vif == "bridge" && string(pt.VIFDetails) != `{"connectivity":"l2","port_filter":true}` {
				t.Fatalf("details %s", pt.VIFDetails)
			}
		}
	})
}

func TestIPv6AndDHCPPorts(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		p := newPlugin(t, d, seedConfig())
		n, s4 := netAndSubnet(t, p)
		s6, err := p.CreateSubnet(ctx, neutron.SubnetCreate{NetworkID: n.ID, IPVersion: 6, CIDR: "2001:db8:1::/64"})
		if err != nil || s6.GatewayIP != "2001:db8:1::1" || s6.AllocationPools[0].Start != "2001:db8:1::2" {
			t.Fatalf("v6 subnet: %v %+v", err, s6)
		}
		slaac, err := p.CreateSubnet(ctx, neutron.SubnetCreate{NetworkID: n.ID, IPVersion: 6, CIDR: "2001:db8:2::/64", IPv6AddressMode: "slaac", IPv6RAMode: "slaac"})
		if err != nil {
			t.Fatal(err)
		}
		// One v4, one stateful v6, and the EUI-64 SLAAC address.
		pt, err := p.CreatePort(ctx, neutron.PortCreate{ProjectID: tenant, NetworkID: n.ID, MACAddress: "fa:16:3e:12:34:56"})
		if err != nil || len(pt.FixedIPs) != 3 {
			t.Fatalf("dual stack: %v %+v", err, pt)
		}
		bySubnet := map[string]string{}
		for _, f := range pt.FixedIPs {
			bySubnet[f.SubnetID] = f.IPAddress
		}
		if bySubnet[slaac.ID] != "2001:db8:2:0:f816:3eff:fe12:3456" || bySubnet[s6.ID] == "" || bySubnet[s4.ID] == "" {
			t.Fatalf("addresses %v", bySubnet)
		}
		// A DHCP port does not keep the network or its subnet in use.
		dhcp, err := p.CreatePort(ctx, neutron.PortCreate{ProjectID: tenant, NetworkID: n.ID, DeviceOwner: "network:dhcp"})
		if err != nil || len(dhcp.SecurityGroups) != 0 {
			t.Fatalf("dhcp port: %v %+v", err, dhcp)
		}
		if err := p.DeletePort(ctx, pt.ID); err != nil {
			t.Fatal(err)
		}
		if err := p.DeleteSubnet(ctx, s6.ID); err != nil {
			t.Fatalf("subnet with only a dhcp port: %v", err)
		}
		got, _ := p.GetPort(ctx, dhcp.ID)
		for _, f := range got.FixedIPs {
			if f.SubnetID == s6.ID {
				t.Fatal("dhcp port kept an address of the deleted subnet")
			}
		}
		// Subnet update: new pools and gateway are validated.
		_, err = p.UpdateSubnet(ctx, s4.ID, neutron.SubnetUpdate{GatewayIP: ptr("192.168.1.100")})
		wantFault(t, err, 409, "GatewayConflictWithAllocationPools")
		u, err := p.UpdateSubnet(ctx, s4.ID, neutron.SubnetUpdate{AllocationPools: &[]neutron.AllocationPool{{Start: "192.168.1.10", End: "192.168.1.20"}}, GatewayIP: ptr("192.168.1.254")})
		if err != nil || u.GatewayIP != "192.168.1.254" || u.AllocationPools[0].End != "192.168.1.20" {
			t.Fatalf("subnet update: %v %+v", err, u)
		}
		if err := p.DeleteNetwork(ctx, n.ID); err != nil {
			t.Fatalf("network with only a dhcp port: %v", err)
		}
		_, err = p.GetPort(ctx, dhcp.ID)
		wantFault(t, err, 404, "PortNotFound")
	})
}
