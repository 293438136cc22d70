package ovs

import (
	"fmt"
	"strings"
	"testing"

	"neutrino/internal/dataplane"
)

func TestPeerPortNames(t *testing.T) {
	for _, tc := range []struct{ bridge, intPort, phyPort string }{
		{"br-ex", "int-br-ex", "phy-br-ex"},
		{"br-eth1234", "int-br-eth1234", "phy-br-eth1234"}, // 15 characters fit
		// Longer: Neutron keeps the start and appends sha1(name)[:6]
		// (expected values computed with Python's hashlib).
		{"br-provider1", "int-br-prcebb81", "phy-br-prcebb81"},
	} {
		i, p := PeerPortNames(tc.bridge)
		if i != tc.intPort || p != tc.phyPort || len(i) > 15 || len(p) > 15 {
			t.Errorf("PeerPortNames(%q) = %q, %q; want %q, %q", tc.bridge, i, p, tc.intPort, tc.phyPort)
		}
	}
}

// providerState has, besides an overlay, a vlan network (VLAN 100) and a
// flat network on physnet1 and a vlan network on physnet2, on local
// VLANs 2, 3 and 4; br-ex's patch ports are int-br-ex=5 on br-int and
// phy-br-ex=1 on br-ex, physnet2's are 6 and 1.
func providerState() (dataplane.NodeState, Layout) {
	s, l := node1State()
	s.Networks["vlan"] = dataplane.Network{ID: "vlan", Type: "vlan", MTU: 1500, PhysicalNetwork: "physnet1", VLAN: 100}
	s.Networks["flat"] = dataplane.Network{ID: "flat", Type: "flat", MTU: 1500, PhysicalNetwork: "physnet1"}
	s.Networks["other"] = dataplane.Network{ID: "other", Type: "vlan", MTU: 1500, PhysicalNetwork: "physnet2", VLAN: 4094}
	s.Networks["unplugged"] = dataplane.Network{ID: "unplugged", Type: "vlan", MTU: 1500, PhysicalNetwork: "physnet1", VLAN: 7}
	l.LVIDs["vlan"], l.LVIDs["flat"], l.LVIDs["other"] = 2, 3, 4
	l.Physnets = map[string]PhysLayout{"physnet1": {Bridge: "br-ex", Int: 5, Phy: 1}, "physnet2": {Bridge: "br-vlan", Int: 6, Phy: 1}}
	return s, l
}

func TestIntProviderFlowsGolden(t *testing.T) {
	s, l := providerState()
	want := `cookie=0xbf37a35ff6b5b079, table=0, priority=2,in_port=5 actions=drop
cookie=0xbf37a35ff6b5b079, table=0, priority=3,in_port=5,vlan_tci=0x0000/0x1fff actions=push_vlan:0x8100,set_field:4099->vlan_vid,goto_table:59
cookie=0xbf37a35ff6b5b079, table=0, priority=3,in_port=5,dl_vlan=100 actions=set_field:4098->vlan_vid,goto_table:59
cookie=0xbf37a35ff6b5b079, table=0, priority=2,in_port=6 actions=drop
cookie=0xbf37a35ff6b5b079, table=0, priority=3,in_port=6,dl_vlan=4094 actions=set_field:4100->vlan_vid,goto_table:59
`
	if got := render(IntProviderFlows(s, l)); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestPhysFlowsGolden(t *testing.T) {
	s, l := providerState()
	want := `cookie=0xbf37a35ff6b5b079, table=0, priority=0 actions=NORMAL
cookie=0xbf37a35ff6b5b079, table=0, priority=2,in_port=1 actions=drop
cookie=0xbf37a35ff6b5b079, table=0, priority=4,in_port=1,dl_vlan=3 actions=pop_vlan,NORMAL
cookie=0xbf37a35ff6b5b079, table=0, priority=4,in_port=1,dl_vlan=2 actions=set_field:4196->vlan_vid,NORMAL
`
	if got := render(PhysFlows(s, l, "physnet1")); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	// Without its patch port numbered yet, a provider bridge only switches.
	l.Physnets["physnet1"] = PhysLayout{Bridge: "br-ex"}
	if got := render(PhysFlows(s, l, "physnet1")); got != "cookie=0xbf37a35ff6b5b079, table=0, priority=0 actions=NORMAL\n" {
		t.Errorf("unnumbered patch port: got\n%s", got)
	}
}

// Provider networks never reach br-tun: its flows are the overlay's alone.
func TestTunFlowsIgnoreProviderNetworks(t *testing.T) {
	s, l := providerState()
	want, _ := node1State()
	_, wl := node1State()
	if got, w := render(TunFlows(s, l)), render(TunFlows(want, wl)); got != w {
		t.Errorf("br-tun with provider networks:\n%s\nwithout:\n%s", got, w)
	}
}

func TestUnmappedPhysnets(t *testing.T) {
	s, _ := providerState()
	err := unmappedPhysnets(s, map[string]string{"physnet1": "br-ex"})
	if err == nil || !strings.Contains(err.Error(), "network other on physical network physnet2") || strings.Contains(err.Error(), "physnet1") {
		t.Errorf("unmappedPhysnets = %v", err)
	}
	if err := unmappedPhysnets(s, map[string]string{"physnet1": "br-ex", "physnet2": "br-vlan"}); err != nil {
		t.Errorf("all mapped: %v", err)
	}
}

func TestVLANMapping(t *testing.T) {
	for _, tc := range []struct {
		n    dataplane.Network
		want string
	}{
		{dataplane.Network{Type: "vxlan", VNI: 1000}, "map[network_type:vxlan physical_network:None segmentation_id:1000]"},
		{dataplane.Network{VNI: 1000}, "map[network_type:vxlan physical_network:None segmentation_id:1000]"},
		{dataplane.Network{Type: "vlan", PhysicalNetwork: "physnet1", VLAN: 100}, "map[network_type:vlan physical_network:physnet1 segmentation_id:100]"},
		{dataplane.Network{Type: "flat", PhysicalNetwork: "physnet1"}, "map[network_type:flat physical_network:physnet1]"},
	} {
		if got := fmt.Sprint(vlanMapping(tc.n)); got != tc.want {
			t.Errorf("vlanMapping(%+v) = %s, want %s", tc.n, got, tc.want)
		}
	}
}
