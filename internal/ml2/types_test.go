package ml2

import (
	"encoding/json"
	"testing"

	"neutrino/internal/config"
	"neutrino/internal/neutron"
)

func TestValidateProvider(t *testing.T) {
	td, err := newTypeDrivers(seedConfig())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		seg  neutron.Segment
		want string
	}{
		{neutron.Segment{NetworkType: "vxlan", SegmentationID: 1500}, ""},
		{neutron.Segment{NetworkType: "vxlan", SegmentationID: 5000}, ""},
		{neutron.Segment{NetworkType: "vxlan"}, ""},
		{neutron.Segment{NetworkType: "vxlan", SegmentationID: 1 << 24}, "Invalid input for operation: segmentation_id out of range (1 through 16777215)."},
		{neutron.Segment{NetworkType: "vxlan", PhysicalNetwork: "physnet1", SegmentationID: 1600}, "Invalid input for operation: provider:physical_network specified for vxlan network."},
		{neutron.Segment{NetworkType: "gre", SegmentationID: 10}, "Invalid input for operation: network_type value 'gre' not supported."},
		{neutron.Segment{NetworkType: "geneve"}, "Invalid input for operation: network_type value 'geneve' not supported."},
		{neutron.Segment{}, "Invalid input for operation: network_type required"},
		{neutron.Segment{NetworkType: "vlan", SegmentationID: 10}, "Invalid input for operation: segmentation_id requires physical_network for VLAN provider network."},
		{neutron.Segment{NetworkType: "vlan"}, ""},
		{neutron.Segment{NetworkType: "vlan", PhysicalNetwork: "physnet1", SegmentationID: 4094}, ""},
		{neutron.Segment{NetworkType: "vlan", PhysicalNetwork: "physnet1", SegmentationID: 4095}, "Invalid input for operation: segmentation_id out of range (1 through 4094)."},
		{neutron.Segment{NetworkType: "vlan", PhysicalNetwork: "physnet9", SegmentationID: 10}, "Invalid input for operation: physical_network 'physnet9' unknown for VLAN provider network."},
		{neutron.Segment{NetworkType: "flat", PhysicalNetwork: "flatnet"}, ""},
		{neutron.Segment{NetworkType: "flat"}, "Invalid input for operation: physical_network required for flat provider network."},
		{neutron.Segment{NetworkType: "flat", PhysicalNetwork: "other"}, "Invalid input for operation: physical_network 'other' unknown for flat provider network."},
		{neutron.Segment{NetworkType: "flat", PhysicalNetwork: "flatnet", SegmentationID: 3}, "Invalid input for operation: segmentation_id prohibited for flat provider network."},
	}
	for _, tc := range tests {
		err := td.validateProvider(tc.seg)
		got := ""
		if err != nil {
			e, ok := neutron.AsError(err)
			if !ok || e.Status != 400 || e.Type != "InvalidInput" {
				t.Fatalf("%+v: %v", tc.seg, err)
			}
			got = e.Message
		}
		if got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.seg, got, tc.want)
		}
	}
}

func TestMTU(t *testing.T) {
	vx := []neutron.Segment{{NetworkType: "vxlan", SegmentationID: 5}}
	gre := []neutron.Segment{{NetworkType: "gre", SegmentationID: 5}}
	vlan := []neutron.Segment{{NetworkType: "vlan", PhysicalNetwork: "p", SegmentationID: 5}}
	tests := []struct {
		global, path, overlay int
		segs                  []neutron.Segment
		want                  int
	}{
		{1500, 0, 4, vx, 1450},
		{1500, 0, 6, vx, 1430},
		{9000, 0, 4, vx, 8950},
		{9000, 1500, 4, vx, 1450},
		{1500, 9000, 4, vx, 1450},
		{1500, 0, 4, gre, 1458},
		{1500, 0, 6, gre, 1438},
		{1500, 0, 4, vlan, 1500},
		{0, 0, 4, vx, 1450},
		{1500, 0, 4, append(append([]neutron.Segment{}, vlan...), vx...), 1450},
	}
	for _, tc := range tests {
		td, err := newTypeDrivers(&config.Server{GlobalPhysnetMTU: tc.global, PathMTU: tc.path, OverlayIPVersion: tc.overlay})
		if err != nil {
			t.Fatal(err)
		}
		if got := td.networkMTU(tc.segs); got != tc.want {
			t.Errorf("%+v: mtu %d, want %d", tc, got, tc.want)
		}
	}
	td, _ := newTypeDrivers(&config.Server{GlobalPhysnetMTU: 1500})
	if err := td.checkMTU(1451, vx); err == nil || err.Error() != "InvalidInput: Invalid input for operation: Requested MTU is too big, maximum is 1450" {
		t.Errorf("checkMTU: %v", err)
	}
	if err := td.checkMTU(1400, vx); err != nil {
		t.Error(err)
	}
}

func TestTypeDriverConfigErrors(t *testing.T) {
	bad := []*config.Server{
		{TypeDrivers: []string{"vxlan"}, TenantNetworkTypes: []string{"vlan"}},
		{TypeDrivers: []string{"vxlan"}, VNIRanges: []config.Range{{Min: 0, Max: 10}}},
		{TypeDrivers: []string{"vxlan"}, VNIRanges: []config.Range{{Min: 10, Max: 1 << 24}}},
		{TypeDrivers: []string{"vlan"}, NetworkVLANRanges: []config.VLANRange{{PhysicalNetwork: "p", Min: 1, Max: 4095}}},
	}
	for _, c := range bad {
		if _, err := newTypeDrivers(c); err == nil {
			t.Errorf("accepted %+v", c)
		}
	}
}

func TestBindWith(t *testing.T) {
	ovsConf := json.RawMessage(`{"tunnel_types":["vxlan"],"datapath_type":"netdev","integration_bridge":"br-int","ovs_hybrid_plug":false,"bridge_mappings":{"physnet1":"br-eth1"}}`)
	lbConf := json.RawMessage(`{"tunnel_types":["vxlan"],"interface_mappings":{"physnet1":"eth1"}}`)
	vx := []neutron.Segment{{NetworkType: "vxlan", SegmentationID: 1001}}
	vlan := []neutron.Segment{{NetworkType: "vlan", PhysicalNetwork: "physnet1", SegmentationID: 100}}
	vlan2 := []neutron.Segment{{NetworkType: "vlan", PhysicalNetwork: "physnet2", SegmentationID: 100}}
	tests := []struct {
		mech    string
		conf    json.RawMessage
		segs    []neutron.Segment
		vnic    string
		vif     string
		details string
	}{
		{"openvswitch", ovsConf, vx, "normal", "ovs", `{"connectivity":"l2","port_filter":true,"ovs_hybrid_plug":false,"datapath_type":"netdev","bridge_name":"br-int"}`},
		{"openvswitch", json.RawMessage(`{"tunnel_types":["vxlan"]}`), vx, "", "ovs", `{"connectivity":"l2","port_filter":true,"ovs_hybrid_plug":false,"datapath_type":"system","bridge_name":"br-int"}`},
		// An agent with firewall_driver = iptables_hybrid reports
		// ovs_hybrid_plug: Nova/os-vif then plugs the VM through qbr.
		{"openvswitch", json.RawMessage(`{"tunnel_types":["vxlan"],"ovs_hybrid_plug":true}`), vx, "", "ovs", `{"connectivity":"l2","port_filter":true,"ovs_hybrid_plug":true,"datapath_type":"system","bridge_name":"br-int"}`},
		{"openvswitch", ovsConf, vlan, "normal", "ovs", `{"connectivity":"l2","port_filter":true,"ovs_hybrid_plug":false,"datapath_type":"netdev","bridge_name":"br-int"}`},
		{"openvswitch", ovsConf, vlan2, "normal", "", ""},
		{"openvswitch", json.RawMessage(`{"tunnel_types":[]}`), vx, "normal", "", ""},
		{"openvswitch", ovsConf, vx, "direct", "", ""},
		{"linuxbridge", lbConf, vx, "normal", "bridge", `{"connectivity":"l2","port_filter":true}`},
		{"linuxbridge", lbConf, vlan, "normal", "bridge", `{"connectivity":"l2","port_filter":true}`},
		{"linuxbridge", json.RawMessage(`{}`), vx, "normal", "", ""},
	}
	for i, tc := range tests {
		vif, det, ok := bindWith(tc.mech, tc.conf, tc.segs, tc.vnic)
		if vif != tc.vif || string(det) != tc.details || ok != (tc.vif != "") {
			t.Errorf("%d: got %q %s %v", i, vif, det, ok)
		}
	}
	d := withBoundDrivers(json.RawMessage(`{"connectivity":"l2","port_filter":true,"ovs_hybrid_plug":false,"datapath_type":"netdev","bridge_name":"br-int"}`), "ovs")
	if string(d) != `{"connectivity":"l2","port_filter":true,"ovs_hybrid_plug":false,"datapath_type":"netdev","bridge_name":"br-int","bound_drivers":{"0":"openvswitch"}}` {
		t.Error(string(d))
	}
	if string(withBoundDrivers(d, "ovs")) != string(d) {
		t.Error("bound_drivers added twice")
	}
	if string(withBoundDrivers(json.RawMessage(`{}`), "binding_failed")) != `{}` {
		t.Error("binding_failed got bound_drivers")
	}
}
