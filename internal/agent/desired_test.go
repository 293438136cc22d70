package agent

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"neutrino/internal/config"
	"neutrino/internal/dataplane"
	"neutrino/internal/dataplane/fake"
	"neutrino/internal/l2pop"
	"neutrino/internal/neutron"
)

func a(s string) netip.Addr { return netip.MustParseAddr(s) }

// view on compute-1 of the seed: net-a with a remote VM on compute-2, and
// two local ports (one with its device plugged).
func seedView(l2 bool) l2pop.View {
	v := l2pop.View{Host: "compute-1", LocalIP: a("198.18.255.102"), L2Pop: l2,
		Tunnels:  []netip.Addr{a("198.18.255.101"), a("198.18.255.103")},
		Networks: map[string]l2pop.NetView{},
		Ports: map[string]l2pop.LocalPort{
			"4d17af10-4a14-4bbc-88e7-a1bcacae4b1a": {ID: "4d17af10-4a14-4bbc-88e7-a1bcacae4b1a", NetworkID: "net-a", MAC: "fa:16:3e:c3:14:73", Status: neutron.StatusActive},
			"09f0624f-eacf-4cef-ab46-508e4a6b776c": {ID: "09f0624f-eacf-4cef-ab46-508e4a6b776c", NetworkID: "net-a", MAC: "fa:16:3e:41:c8:3a", Status: neutron.StatusDown},
		}}
	n := l2pop.NetView{ID: "net-a", NetHeader: l2pop.NetHeader{Type: "vxlan", VNI: 1755, MTU: 1450}}
	if l2 {
		v.Tunnels = []netip.Addr{a("198.18.255.103")}
		n.Flood = []netip.Addr{a("198.18.255.103")}
		n.Entries = []l2pop.Entry{{MAC: "fa:16:3e:46:2b:53", IP: a("192.168.77.12"), VTEP: a("198.18.255.103")}}
	} else {
		n.Flood = v.Tunnels
	}
	v.Networks["net-a"] = n
	return v
}

// withProviders adds to a seed view a vlan and a flat network, each with a
// local port whose device is plugged.
func withProviders(v l2pop.View) l2pop.View {
	v.Networks["net-v"] = l2pop.NetView{ID: "net-v", NetHeader: l2pop.NetHeader{Type: "vlan", MTU: 1500, PhysicalNetwork: "physnet1", VLAN: 100}}
	v.Networks["net-f"] = l2pop.NetView{ID: "net-f", NetHeader: l2pop.NetHeader{Type: "flat", MTU: 1500, PhysicalNetwork: "physnet2"}}
	v.Ports["5e000000-0000-0000-0000-00000000000a"] = l2pop.LocalPort{ID: "5e000000-0000-0000-0000-00000000000a", NetworkID: "net-v", MAC: "fa:16:3e:00:01:01", Status: neutron.StatusActive}
	v.Ports["5f000000-0000-0000-0000-00000000000b"] = l2pop.LocalPort{ID: "5f000000-0000-0000-0000-00000000000b", NetworkID: "net-f", MAC: "fa:16:3e:00:02:01", Status: neutron.StatusActive}
	return v
}

var plugged = []dataplane.Device{
	{PortID: "5e000000-0000-0000-0000-00000000000a", Name: "tap5e000000-00", MAC: "fa:16:3e:00:01:01", Up: true},
	{PortID: "5f000000-00", Name: "tap5f000000-00", MAC: "fa:16:3e:00:02:01", Up: true},
	// OVS iface-id carries the full id; a Linux tap only its prefix.
	{PortID: "4d17af10-4a", Name: "tap4d17af10-4a", MAC: "fa:16:3e:c3:14:73", Up: true},
}

func TestDesired(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    l2pop.View
		s    Settings
		want string
	}{
		{"ovs-l2pop-arp", seedView(true), Settings{Kind: KindOVS, LocalIP: a("198.18.255.102"), UDPPort: 4789, ARPResponder: true}, `
local_ip 198.18.255.102 udp 4789
tunnel 198.18.255.103
network net-a vni 1755 mtu 1450 l2pop true arp_responder true group -
  flood 198.18.255.103
  entry fa:16:3e:46:2b:53 192.168.77.12 via 198.18.255.103
port 4d17af10-4a14-4bbc-88e7-a1bcacae4b1a network net-a mac fa:16:3e:c3:14:73
`},
		{"ovs-full-mesh", seedView(false), Settings{Kind: KindOVS, LocalIP: a("198.18.255.102"), UDPPort: 4789, ARPResponder: true}, `
local_ip 198.18.255.102 udp 4789
tunnel 198.18.255.101
tunnel 198.18.255.103
network net-a vni 1755 mtu 1450 l2pop false arp_responder false group -
  flood 198.18.255.101
  flood 198.18.255.103
port 4d17af10-4a14-4bbc-88e7-a1bcacae4b1a network net-a mac fa:16:3e:c3:14:73
`},
		{"lb-multicast-group", seedView(false), Settings{Kind: KindLinuxBridge, LocalIP: a("198.18.255.102"), UDPPort: 4789, VXLANGroup: "239.1.1.1"}, `
local_ip 198.18.255.102 udp 4789
tunnel 198.18.255.101
tunnel 198.18.255.103
network net-a vni 1755 mtu 1450 l2pop false arp_responder false group 239.1.1.1
port 4d17af10-4a14-4bbc-88e7-a1bcacae4b1a network net-a mac fa:16:3e:c3:14:73
`},
		{"lb-multicast-range", seedView(false), Settings{Kind: KindLinuxBridge, LocalIP: a("198.18.255.102"), UDPPort: 4789, VXLANGroup: "239.1.1.0/24"}, `
local_ip 198.18.255.102 udp 4789
tunnel 198.18.255.101
tunnel 198.18.255.103
network net-a vni 1755 mtu 1450 l2pop false arp_responder false group 239.1.1.219
port 4d17af10-4a14-4bbc-88e7-a1bcacae4b1a network net-a mac fa:16:3e:c3:14:73
`},
		{"lb-no-group-no-l2pop-floods-all", seedView(false), Settings{Kind: KindLinuxBridge, LocalIP: a("198.18.255.102"), UDPPort: 8472}, `
local_ip 198.18.255.102 udp 8472
tunnel 198.18.255.101
tunnel 198.18.255.103
network net-a vni 1755 mtu 1450 l2pop false arp_responder false group -
  flood 198.18.255.101
  flood 198.18.255.103
port 4d17af10-4a14-4bbc-88e7-a1bcacae4b1a network net-a mac fa:16:3e:c3:14:73
`},
		{"lb-l2pop-ignores-group", seedView(true), Settings{Kind: KindLinuxBridge, LocalIP: a("198.18.255.102"), UDPPort: 4789, VXLANGroup: "224.0.0.1"}, `
local_ip 198.18.255.102 udp 4789
tunnel 198.18.255.103
network net-a vni 1755 mtu 1450 l2pop true arp_responder false group -
  flood 198.18.255.103
  entry fa:16:3e:46:2b:53 192.168.77.12 via 198.18.255.103
port 4d17af10-4a14-4bbc-88e7-a1bcacae4b1a network net-a mac fa:16:3e:c3:14:73
`},
		{"provider-networks-have-no-flood-or-entries", withProviders(seedView(false)), Settings{Kind: KindLinuxBridge, LocalIP: a("198.18.255.102"), UDPPort: 4789, VXLANGroup: "239.1.1.0/24", ARPResponder: true}, `
local_ip 198.18.255.102 udp 4789
tunnel 198.18.255.101
tunnel 198.18.255.103
network net-a vni 1755 mtu 1450 l2pop false arp_responder false group 239.1.1.219
network net-f flat physnet physnet2 vlan 0 mtu 1500
network net-v vlan physnet physnet1 vlan 100 mtu 1500
port 4d17af10-4a14-4bbc-88e7-a1bcacae4b1a network net-a mac fa:16:3e:c3:14:73
port 5e000000-0000-0000-0000-00000000000a network net-v mac fa:16:3e:00:01:01
port 5f000000-0000-0000-0000-00000000000b network net-f mac fa:16:3e:00:02:01
`},
		{"local-ip-from-view-when-unset", seedView(true), Settings{Kind: KindOVS, UDPPort: 4789}, `
local_ip 198.18.255.102 udp 4789
tunnel 198.18.255.103
network net-a vni 1755 mtu 1450 l2pop true arp_responder false group -
  flood 198.18.255.103
  entry fa:16:3e:46:2b:53 192.168.77.12 via 198.18.255.103
port 4d17af10-4a14-4bbc-88e7-a1bcacae4b1a network net-a mac fa:16:3e:c3:14:73
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := fake.Render(Desired(tc.v, tc.s, plugged))
			if want := strings.TrimPrefix(tc.want, "\n"); got != want {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestPendingReports(t *testing.T) {
	v := seedView(true)
	v.Ports["aaaaaaaa-0000-0000-0000-000000000000"] = l2pop.LocalPort{ID: "aaaaaaaa-0000-0000-0000-000000000000", NetworkID: "net-a", Status: neutron.StatusBuild}
	v.Ports["bbbbbbbb-0000-0000-0000-000000000000"] = l2pop.LocalPort{ID: "bbbbbbbb-0000-0000-0000-000000000000", NetworkID: "net-a", Status: neutron.StatusActive}
	v.Ports["cccccccc-0000-0000-0000-000000000000"] = l2pop.LocalPort{ID: "cccccccc-0000-0000-0000-000000000000", NetworkID: "net-a", Status: neutron.StatusDown}
	devs := []dataplane.Device{
		{PortID: "4d17af10-4a14-4bbc-88e7-a1bcacae4b1a", Name: "a", Up: true},     // ACTIVE and up: nothing
		{PortID: "09f0624f-ea", Name: "tap09f0624f-ea", Up: true},                 // DOWN, device up: up
		{PortID: "bbbbbbbb-0000-0000-0000-000000000000", Name: "b", Up: false},    // ACTIVE, device down: down
		{PortID: "cccccccc-00", Name: "tapcccccccc-00", Up: true},                 // DOWN, up by prefix: up
		{PortID: "dddddddd-0000-0000-0000-000000000000", Name: "other", Up: true}, // not bound here: ignored
	}
	got := PendingReports(v, devs)
	want := []DeviceReport{
		{PortID: "09f0624f-eacf-4cef-ab46-508e4a6b776c", Up: true},
		{PortID: "aaaaaaaa-0000-0000-0000-000000000000", Up: false}, // BUILD without device settles DOWN
		{PortID: "bbbbbbbb-0000-0000-0000-000000000000", Up: false},
		{PortID: "cccccccc-0000-0000-0000-000000000000", Up: true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestReportConfigurations(t *testing.T) {
	cfg := &config.Agent{Host: "ref-node-1", LocalIP: "198.18.0.1", L2Population: true, ARPResponder: true,
		TunnelTypes: []string{"vxlan"}, IntegrationBridge: "br-int", TunnelBridge: "br-tun", DatapathType: "netdev", EnableVXLAN: true}
	for _, tc := range []struct {
		kind, agentType, binary string
		keys                    []string
	}{
		{KindOVS, neutron.AgentTypeOVS, "neutron-openvswitch-agent", []string{"arp_responder_enabled", "bridge_mappings", "datapath_type", "devices",
			"integration_bridge", "l2_population", "tunnel_types", "tunneling_ip", "ovs_hybrid_plug", "resource_provider_inventory_defaults"}},
		{KindLinuxBridge, neutron.AgentTypeLinuxBridge, "neutron-linuxbridge-agent", []string{"devices", "interface_mappings", "l2_population", "tunnel_types", "tunneling_ip"}},
	} {
		r := Report(tc.kind, cfg, 3, true)
		if r.AgentType != tc.agentType || r.Binary != tc.binary || r.Topic != "N/A" || !r.StartFlag || r.Host != "ref-node-1" || r.TunnelIP != "198.18.0.1" {
			t.Errorf("%s: report %+v", tc.kind, r)
		}
		var conf map[string]any
		if err := json.Unmarshal(r.Configurations, &conf); err != nil {
			t.Fatal(err)
		}
		for _, k := range tc.keys {
			if _, ok := conf[k]; !ok {
				t.Errorf("%s: configurations lack %q: %s", tc.kind, k, r.Configurations)
			}
		}
		if conf["devices"] != 3.0 || conf["tunneling_ip"] != "198.18.0.1" || conf["l2_population"] != true {
			t.Errorf("%s: configurations %s", tc.kind, r.Configurations)
		}
	}
}
