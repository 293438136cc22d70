package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The files in testdata/seed are byte-for-byte copies of the seed's
// configuration files (shared/seed/etc): they must load unchanged.
func seed(name string) string { return filepath.Join("testdata", "seed", name) }

func TestLoadServerSeed(t *testing.T) {
	for _, tc := range []struct {
		file string
		mech []string
	}{
		{"ml2_conf.ini", []string{"openvswitch"}},
		{"ml2_conf.l2pop.ini", []string{"openvswitch", "l2population"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			c, warns, err := LoadServer(seed("neutron.conf"), seed(tc.file))
			if err != nil {
				t.Fatal(err)
			}
			want := &Server{
				BindHost: "127.0.0.1", BindPort: 9696, AuthStrategy: "noauth", CorePlugin: "ml2",
				ServicePlugins: []string{
					"neutron.services.l3_router.l3_router_plugin.L3RouterPlugin",
					"neutron.services.loadbalancer.plugin.LoadBalancerPlugin"},
				GlobalPhysnetMTU: 1500, BaseMAC: "fa:16:3e:00:00:00", StatePath: "/var/lib/neutrino",
				AgentDownTime: 75 * time.Second, DHCPAgentsPerNetwork: 1, MaxRequestBody: 114688,
				RPCBindHost: "127.0.0.1", RPCBindPort: 9697,
				Connection:  "mysql://neutron:83105f1d6ded47cc@127.0.0.1/neutron_ml2",
				TypeDrivers: []string{"vxlan"}, TenantNetworkTypes: []string{"vxlan"}, MechanismDrivers: tc.mech,
				OverlayIPVersion: 4,
				VNIRanges:        []Range{{1001, 2000}}, VXLANGroup: "239.1.1.1",
				FlatNetworks:      []string{"*"},
				KeystoneAuthtoken: defaultAuthtoken,
				PolicyFile:        "policy.yaml", PolicyDirs: []string{"policy.d"},
				Quotas: map[string]int{"network": 100, "subnet": 100, "subnetpool": -1, "port": 500, "router": 10,
					"floatingip": 50, "rbac_policy": 10, "security_group": 10, "security_group_rule": 100},
				NotifyNovaOnPortStatusChanges: true, NotifyNovaOnPortDataChanges: true, SendEventsInterval: 2 * time.Second,
				Nova:  Nova{EndpointType: "public", Timeout: 30 * time.Second},
				Files: []string{seed("neutron.conf"), seed(tc.file)},
			}
			if !reflect.DeepEqual(c, want) {
				t.Errorf("got  %+v\nwant %+v", c, want)
			}
			wantWarn := []string{
				"LoadBalancerPlugin (LBaaS v1) is not implemented by neutrino; ignored",
				tc.file + ": [database] sql_connection: deprecated name; use [database] connection",
			}
			assertWarnings(t, warns, wantWarn)
		})
	}
}

func TestLoadAgentSeed(t *testing.T) {
	for _, tc := range []struct {
		file  string
		l2pop bool
	}{
		{"ovs_neutron_plugin.ini", false},
		{"ovs_neutron_plugin.l2pop.ini", true},
	} {
		t.Run(tc.file, func(t *testing.T) {
			c, warns, err := LoadAgent("openvswitch", seed("neutron.conf"), seed(tc.file))
			if err != nil {
				t.Fatal(err)
			}
			host, _ := os.Hostname()
			want := &Agent{
				Host: host, TransportURL: "grpc://127.0.0.1:9697",
				PollingInterval: 2 * time.Second, ResyncInterval: 300 * time.Second, ReportInterval: 30 * time.Second,
				L2Population: tc.l2pop, TunnelTypes: []string{"vxlan"},
				LocalIP: "198.18.255.101", VXLANUDPPort: 4789, EnableTunneling: true,
				IntegrationBridge: "br-int", TunnelBridge: "br-tun", DatapathType: "system",
				OVSDBConnection: "unix:/var/run/openvswitch/db.sock", OFInterface: "native", BridgeMappings: map[string]string{},
				FirewallDriver: "iptables_hybrid",
				Files:          []string{seed("neutron.conf"), seed(tc.file)},
			}
			if !reflect.DeepEqual(c, want) {
				t.Errorf("got  %+v\nwant %+v", c, want)
			}
			assertWarnings(t, warns, []string{
				tc.file + ": [OVS] vxlan_udp_port: deprecated name; use [agent] vxlan_udp_port",
				tc.file + ": [OVS] tunnel_type: deprecated name; use [agent] tunnel_types",
				tc.file + ": [OVS] tunnel_id_ranges: ignored: an old OVS plugin option",
				tc.file + ": [OVS] tenant_network_type: ignored: an old OVS plugin option",
			})
			for _, w := range warns {
				if strings.Contains(w, "core_plugin") || strings.Contains(w, "service_plugins") {
					t.Errorf("server option in neutron.conf warned about by the agent: %s", w)
				}
			}
		})
	}
}

// assertWarnings checks that each wanted fragment appears in exactly one
// warning and that there are no other warnings.
func assertWarnings(t *testing.T, got, want []string) {
	t.Helper()
	used := make([]bool, len(got))
	for _, w := range want {
		n := 0
		for i, g := range got {
			if strings.Contains(g, w) {
				n++
				used[i] = true
			}
		}
		if n != 1 {
			t.Errorf("warning %q found %d times in %q", w, n, got)
		}
	}
	for i, g := range got {
		if !used[i] {
			t.Errorf("unexpected warning %q", g)
		}
	}
}

// write puts files into a temp dir and returns their paths in order.
func write(t *testing.T, files ...[2]string) []string {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for _, f := range files {
		p := filepath.Join(dir, f[0])
		if err := os.WriteFile(p, []byte(f[1]), 0o600); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

func TestOverrideOrder(t *testing.T) {
	base := "[DEFAULT]\nbind_port = 9000\nbase_mac = fa:16:3e:00:00:00\n[ml2]\ntype_drivers = vxlan,vlan\ntenant_network_types = vxlan\n" +
		"mechanism_drivers = openvswitch\n[ml2_type_vxlan]\nvni_ranges = 1:10\n[database]\nconnection = sqlite:///a.db\n"
	over := "[default]\nbind_port = 9001\n[ML2_TYPE_VXLAN]\nvni_ranges = 100:200, 300:400\n[DATABASE]\nsql_connection = sqlite:///b.db\n"
	paths := write(t, [2]string{"a.conf", base}, [2]string{"b.conf", over})

	c, _, err := LoadServer(paths...)
	if err != nil {
		t.Fatal(err)
	}
	if c.BindPort != 9001 || !reflect.DeepEqual(c.VNIRanges, []Range{{100, 200}, {300, 400}}) ||
		c.Connection != "sqlite:///b.db" || !reflect.DeepEqual(c.TypeDrivers, []string{"vxlan", "vlan"}) {
		t.Errorf("later file should win per option: %+v", c)
	}
	// Reversed order: the first file now wins, option by option.
	c, _, err = LoadServer(paths[1], paths[0])
	if err != nil {
		t.Fatal(err)
	}
	if c.BindPort != 9000 || !reflect.DeepEqual(c.VNIRanges, []Range{{1, 10}}) || c.Connection != "sqlite:///a.db" {
		t.Errorf("reversed order: %+v", c)
	}
}

func TestNewNameBeatsOldInOneFile(t *testing.T) {
	// oslo.config: within a file the current name wins, whatever the line order.
	for _, body := range []string{
		"[database]\nconnection = sqlite:///new.db\nsql_connection = sqlite:///old.db\n",
		"[database]\nsql_connection = sqlite:///old.db\nconnection = sqlite:///new.db\n",
		"[DEFAULT]\nsql_connection = sqlite:///old.db\n[database]\nconnection = sqlite:///new.db\n",
	} {
		c, _, err := LoadServer(write(t, [2]string{"n.conf", body})...)
		if err != nil {
			t.Fatal(err)
		}
		if c.Connection != "sqlite:///new.db" {
			t.Errorf("%q: connection = %q", body, c.Connection)
		}
	}
	// But an old name in a later file overrides the new name in an earlier one.
	c, _, err := LoadServer(write(t, [2]string{"1.conf", "[database]\nconnection = sqlite:///new.db\n"},
		[2]string{"2.conf", "[DEFAULT]\nsql_connection = sqlite:///later.db\n"})...)
	if err != nil {
		t.Fatal(err)
	}
	if c.Connection != "sqlite:///later.db" {
		t.Errorf("connection = %q, want the later file's", c.Connection)
	}
}

func TestServerDefaults(t *testing.T) {
	c, warns, err := LoadServer()
	if err != nil {
		t.Fatal(err)
	}
	if c.CorePlugin != "ml2" || c.BindPort != 9696 || c.RPCBindPort != 9697 || c.Connection != "" ||
		!reflect.DeepEqual(c.TypeDrivers, []string{"local", "flat", "vlan", "gre", "vxlan", "geneve"}) ||
		!reflect.DeepEqual(c.TenantNetworkTypes, []string{"local"}) || c.PathMTU != 0 || c.GlobalPhysnetMTU != 1500 {
		t.Errorf("defaults: %+v", c)
	}
	assertWarnings(t, warns, []string{"[ml2] mechanism_drivers is empty"})
}

func TestAgentVariants(t *testing.T) {
	tests := []struct {
		name  string
		kind  string
		body  string
		check func(*Agent) bool
	}{
		{"enable_tunneling alone means vxlan", "openvswitch", "[ovs]\nlocal_ip = 198.18.0.1\nenable_tunneling = True\n",
			func(a *Agent) bool { return reflect.DeepEqual(a.TunnelTypes, []string{"vxlan"}) }},
		{"old [ovs] tunnel_type", "openvswitch", "[OVS]\nlocal_ip = 198.18.0.1\ntunnel_type = gre\n",
			func(a *Agent) bool { return reflect.DeepEqual(a.TunnelTypes, []string{"gre"}) }},
		{"no tunneling", "openvswitch", "[ovs]\n",
			func(a *Agent) bool { return len(a.TunnelTypes) == 0 && !a.EnableTunneling }},
		{"vxlan_udp_port in [agent]", "openvswitch", "[ovs]\nlocal_ip=198.18.0.1\n[agent]\ntunnel_types=vxlan\nvxlan_udp_port=8472\n",
			func(a *Agent) bool { return a.VXLANUDPPort == 8472 }},
		{"arp_responder with l2pop", "openvswitch", "[ovs]\nlocal_ip=198.18.0.1\n[agent]\ntunnel_types=vxlan\nl2_population=yes\narp_responder=on\n",
			func(a *Agent) bool { return a.ARPResponder && a.L2Population }},
		{"arp_responder without l2pop stays off", "openvswitch", "[agent]\narp_responder=true\n",
			func(a *Agent) bool { return !a.ARPResponder }},
		{"host, transport_url without port, report_interval float", "openvswitch",
			"[DEFAULT]\nhost = compute-1\ntransport_url = grpc://198.18.0.1\n[agent]\nreport_interval = 0.5\npolling_interval = 7\nresync_interval = 0\n",
			func(a *Agent) bool {
				return a.Host == "compute-1" && a.TransportURL == "grpc://198.18.0.1:9697" &&
					a.ReportInterval == 500*time.Millisecond && a.PollingInterval == 7*time.Second && a.ResyncInterval == 0
			}},
		{"debug", "openvswitch", "[DEFAULT]\ndebug = True\n", func(a *Agent) bool { return a.Debug }},
		{"no debug by default", "linuxbridge", "[vxlan]\nlocal_ip = 198.18.0.2\n", func(a *Agent) bool { return !a.Debug }},
		{"two servers in transport_url", "openvswitch", "[DEFAULT]\ntransport_url = grpc://198.18.1.1:9697,198.18.1.2\n",
			func(c *Agent) bool { return c.TransportURL == "grpc://198.18.1.1:9697,198.18.1.2:9697" }},
		{"ipv6 transport_url", "openvswitch", "[DEFAULT]\ntransport_url = grpc://[::1]:9700/\n",
			func(a *Agent) bool { return a.TransportURL == "grpc://[::1]:9700" }},
		{"linuxbridge defaults", "linuxbridge", "[vxlan]\nlocal_ip = 198.18.0.2\n",
			func(a *Agent) bool {
				return a.EnableVXLAN && a.VXLANGroup == "224.0.0.1" && a.VXLANUDPPort == 4789 &&
					reflect.DeepEqual(a.TunnelTypes, []string{"vxlan"}) && a.LocalIP == "198.18.0.2"
			}},
		{"linuxbridge options", "linuxbridge",
			"[VXLAN]\nlocal_ip = 198.18.0.2\nl2_population = True\narp_responder = True\nudp_dstport = 8472\nvxlan_group = 239.1.1.0/24\nttl = 8\n",
			func(a *Agent) bool {
				return a.L2Population && a.ARPResponder && a.VXLANUDPPort == 8472 && a.VXLANGroup == "239.1.1.0/24" && a.TTL == 8
			}},
		{"linuxbridge without vxlan", "linuxbridge", "[vxlan]\nenable_vxlan = false\n",
			func(a *Agent) bool { return !a.EnableVXLAN && len(a.TunnelTypes) == 0 }},
		{"bridge_mappings", "openvswitch", "[OVS]\nbridge_mappings = physnet1:br-ex , physnet2: br-vlan ,\n",
			func(a *Agent) bool {
				return reflect.DeepEqual(a.BridgeMappings, map[string]string{"physnet1": "br-ex", "physnet2": "br-vlan"})
			}},
		{"no bridge_mappings", "openvswitch", "[ovs]\n",
			func(a *Agent) bool { return a.BridgeMappings != nil && len(a.BridgeMappings) == 0 }},
		{"physical_interface_mappings", "linuxbridge", "[vxlan]\nenable_vxlan = false\n[LINUX_BRIDGE]\nphysical_interface_mappings = physnet1:eth1,provider:eth2.7\n",
			func(a *Agent) bool {
				return reflect.DeepEqual(a.InterfaceMappings, map[string]string{"physnet1": "eth1", "provider": "eth2.7"})
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, _, err := LoadAgent(tc.kind, write(t, [2]string{"agent.ini", tc.body})...)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(a) {
				t.Errorf("%+v", a)
			}
		})
	}
}

func TestWarnings(t *testing.T) {
	tests := []struct {
		name   string
		server bool
		kind   string
		body   string
		want   []string
	}{
		{"unknown option", true, "", "[ml2]\nmechanism_drivers = openvswitch\ntype_driver = vxlan\n",
			[]string{"x.ini: [ml2] type_driver: unknown option; ignored"}},
		{"unknown section once", true, "", "[ml2]\nmechanism_drivers = linuxbridge\n[bogus]\na=1\nb=2\n",
			[]string{"x.ini:4: unknown section [bogus]; ignored"}},
		{"unknown service plugin", true, "", "[DEFAULT]\nservice_plugins = router,frobnicator\n[ml2]\nmechanism_drivers = openvswitch\n",
			[]string{`unknown service plugin "frobnicator"`}},
		{"geneve type driver", true, "", "[ml2]\ntype_drivers = vxlan,geneve\ntenant_network_types = vxlan\nmechanism_drivers = openvswitch\n[ml2_type_vxlan]\nvni_ranges=1:2\n",
			[]string{`type driver "geneve" is not implemented`}},
		{"quiet options", true, "", "[DEFAULT]\ndebug = True\nlog_dir = /var/log/neutron\n[keystone_authtoken]\nauth_url = http://x\n[ml2]\nmechanism_drivers = openvswitch\n",
			nil},
		{"wrong agent's option", false, "linuxbridge", "[vxlan]\nlocal_ip = 198.18.0.2\n[agent]\nl2_population = True\n",
			[]string{"x.ini: [agent] l2_population: read by the openvswitch agent only; ignored"}},
		{"option names are case-sensitive", false, "openvswitch", "[OVS]\nLocal_IP = 198.18.0.1\n",
			[]string{"x.ini: [OVS] Local_IP: unknown option; ignored"}},
		{"rabbit_host", false, "openvswitch", "[DEFAULT]\nrabbit_host = 10.0.0.1\n",
			[]string{"x.ini: [DEFAULT] rabbit_host: ignored: agents talk gRPC to the server: set transport_url = grpc://HOST:9697"}},
		{"arp responder without l2pop", false, "openvswitch", "[agent]\narp_responder = True\n",
			[]string{"arp_responder needs l2_population"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			paths := write(t, [2]string{"x.ini", tc.body})
			var warns []string
			var err error
			if tc.server {
				_, warns, err = LoadServer(paths...)
			} else {
				_, warns, err = LoadAgent(tc.kind, paths...)
			}
			if err != nil {
				t.Fatal(err)
			}
			assertWarnings(t, warns, tc.want)
		})
	}
}

func TestValidationErrors(t *testing.T) {
	const ml2 = "[ml2]\ntype_drivers = vxlan\ntenant_network_types = vxlan\nmechanism_drivers = openvswitch\n"
	tests := []struct {
		name string
		kind string // "" = server
		file string
		body string
		want string // the whole message after the directory
	}{
		{"vni range reversed", "", "ml2_conf.ini", ml2 + "[ml2_type_vxlan]\nvni_ranges = 2000:1001\n",
			`ml2_conf.ini: [ml2_type_vxlan] vni_ranges: "2000:1001": range end below start`},
		{"vni too big", "", "ml2_conf.ini", ml2 + "[ml2_type_vxlan]\nvni_ranges = 1:16777216\n",
			`ml2_conf.ini: [ml2_type_vxlan] vni_ranges: "1:16777216": VNI 16777216 outside 1..16777215`},
		{"vni zero", "", "ml2_conf.ini", ml2 + "[ml2_type_vxlan]\nvni_ranges = 1:5,0:10\n",
			`ml2_conf.ini: [ml2_type_vxlan] vni_ranges: "0:10": VNI 0 outside 1..16777215`},
		{"vni not a range", "", "ml2_conf.ini", ml2 + "[ml2_type_vxlan]\nvni_ranges = 1001\n",
			`ml2_conf.ini: [ml2_type_vxlan] vni_ranges: "1001": want MIN:MAX`},
		{"vni not integers", "", "ml2_conf.ini", ml2 + "[ml2_type_vxlan]\nvni_ranges = a:b\n",
			`ml2_conf.ini: [ml2_type_vxlan] vni_ranges: "a:b": want MIN:MAX with integers`},
		{"vlan id out of range", "", "ml2_conf.ini", ml2 + "[ml2_type_vlan]\nnetwork_vlan_ranges = physnet1:100:4095\n",
			`ml2_conf.ini: [ml2_type_vlan] network_vlan_ranges: "physnet1:100:4095": VLAN id 4095 outside 1..4094`},
		{"vlan id zero", "", "ml2_conf.ini", ml2 + "[ml2_type_vlan]\nnetwork_vlan_ranges = physnet1:0:10\n",
			`ml2_conf.ini: [ml2_type_vlan] network_vlan_ranges: "physnet1:0:10": VLAN id 0 outside 1..4094`},
		{"vlan range bad shape", "", "ml2_conf.ini", ml2 + "[ml2_type_vlan]\nnetwork_vlan_ranges = physnet1:10\n",
			`ml2_conf.ini: [ml2_type_vlan] network_vlan_ranges: "physnet1:10": want MIN:MAX`},
		{"gre range reversed", "", "ml2_conf.ini", ml2 + "[ml2_type_gre]\ntunnel_id_ranges = 10:1\n",
			`ml2_conf.ini: [ml2_type_gre] tunnel_id_ranges: "10:1": range end below start`},
		{"gre key too big", "", "ml2_conf.ini", ml2 + "[ml2_type_gre]\ntunnel_id_ranges = 1:4294967296\n",
			`ml2_conf.ini: [ml2_type_gre] tunnel_id_ranges: "1:4294967296": GRE key 4294967296 outside 1..4294967295`},
		{"unknown type driver", "", "ml2_conf.ini", "[ml2]\ntype_drivers = vxlan,opflex\ntenant_network_types = vxlan\nmechanism_drivers = openvswitch\n",
			`ml2_conf.ini: [ml2] type_drivers: "vxlan,opflex": unknown type driver "opflex" (neutrino supports flat, vlan, gre, vxlan)`},
		{"tenant type not in type_drivers", "", "ml2_conf.ini", "[ml2]\ntype_drivers = vlan\ntenant_network_types = vxlan\nmechanism_drivers = openvswitch\n",
			`ml2_conf.ini: [ml2] tenant_network_types: "vxlan": tenant network type "vxlan" is not in [ml2] type_drivers (vlan)`},
		{"default tenant type not in type_drivers", "", "ml2_conf.ini", "[ml2]\ntype_drivers = vxlan\nmechanism_drivers = openvswitch\n",
			`[ml2] tenant_network_types (default): "local": tenant network type "local" is not in [ml2] type_drivers (vxlan)`},
		{"geneve tenant networks", "", "ml2_conf.ini", "[ml2]\ntype_drivers = vxlan,geneve\ntenant_network_types = geneve\nmechanism_drivers = openvswitch\n",
			`ml2_conf.ini: [ml2] tenant_network_types: "geneve": tenant network type "geneve" is not implemented by neutrino (use vxlan)`},
		{"unknown mechanism driver", "", "ml2_conf.ini", "[ml2]\ntype_drivers = vxlan\ntenant_network_types = vxlan\nmechanism_drivers = openvswitch,ovn\n",
			`ml2_conf.ini: [ml2] mechanism_drivers: "openvswitch,ovn": unknown mechanism driver "ovn" (neutrino supports openvswitch, linuxbridge, l2population)`},
		{"bad database scheme", "", "neutron.conf", "[database]\nconnection = oracle://u:secret@h/db\n",
			`neutron.conf: [database] connection: "oracle://u:***@h/db": unsupported database URL; use one of sqlite, mysql, mysql+pymysql, postgresql, postgresql+psycopg2, postgres://...`},
		{"bad database scheme, old name", "", "neutron.conf", "[DEFAULT]\nsql_connection = mysql+mysqldb://u:p@h/db\n",
			`neutron.conf: [DEFAULT] sql_connection: "mysql+mysqldb://u:***@h/db": unsupported database URL`},
		{"database URL without host", "", "neutron.conf", "[database]\nconnection = mysql://\n",
			`neutron.conf: [database] connection: "mysql://": no host or database in the URL`},
		{"core plugin", "", "neutron.conf", "[DEFAULT]\ncore_plugin = neutron.plugins.openvswitch.ovs_neutron_plugin.OVSNeutronPluginV2\n",
			`neutron.conf: [DEFAULT] core_plugin: "neutron.plugins.openvswitch.ovs_neutron_plugin.OVSNeutronPluginV2": neutrino implements only the ML2 core plugin (core_plugin = ml2)`},
		{"bind_port not a number", "", "neutron.conf", "[DEFAULT]\nbind_port = http\n",
			`neutron.conf: [DEFAULT] bind_port: "http": not an integer`},
		{"bind_port too big", "", "neutron.conf", "[DEFAULT]\nbind_port = 70000\n",
			`neutron.conf: [DEFAULT] bind_port: "70000": must be between 1 and 65535`},
		{"rpc_bind_port zero", "", "neutron.conf", "[DEFAULT]\nrpc_bind_port = 0\n",
			`neutron.conf: [DEFAULT] rpc_bind_port: "0": must be between 1 and 65535`},
		{"bind_host", "", "neutron.conf", "[DEFAULT]\nbind_host = not a host\n",
			`neutron.conf: [DEFAULT] bind_host: "not a host": not an IP address or host name`},
		{"base_mac garbage", "", "neutron.conf", "[DEFAULT]\nbase_mac = fa:16:3e:00:00\n",
			`neutron.conf: [DEFAULT] base_mac: "fa:16:3e:00:00": not a MAC address like fa:16:3e:00:00:00`},
		{"base_mac multicast", "", "neutron.conf", "[DEFAULT]\nbase_mac = 01:16:3e:00:00:00\n",
			`neutron.conf: [DEFAULT] base_mac: "01:16:3e:00:00:00": is a multicast MAC; ports need a unicast base (first octet even)`},
		{"global_physnet_mtu too small", "", "neutron.conf", "[DEFAULT]\nglobal_physnet_mtu = 100\n",
			`neutron.conf: [DEFAULT] global_physnet_mtu: "100": must be between 118 and 65535`},
		{"path_mtu too small", "", "ml2_conf.ini", ml2 + "path_mtu = 50\n",
			`ml2_conf.ini: [ml2] path_mtu: "50": must be 0 (unset) or at least 118`},
		{"auth_strategy", "", "neutron.conf", "[DEFAULT]\nauth_strategy = magic\n",
			`neutron.conf: [DEFAULT] auth_strategy: "magic": must be noauth or keystone`},
		{"vxlan_group not multicast", "", "ml2_conf.ini", ml2 + "[ml2_type_vxlan]\nvni_ranges=1:2\nvxlan_group = 10.0.0.1\n",
			`ml2_conf.ini: [ml2_type_vxlan] vxlan_group: "10.0.0.1": not a multicast address`},
		{"tls cert without key", "", "neutron.conf", "[DEFAULT]\nrpc_tls_cert_file = /x.pem\n",
			`neutron.conf: [DEFAULT] rpc_tls_cert_file: "/x.pem": rpc_tls_key_file must be set too`},

		{"agent rabbit transport_url", "openvswitch", "neutron.conf", "[DEFAULT]\ntransport_url = rabbit://guest:guest@10.0.0.1:5672/\n",
			`neutron.conf: [DEFAULT] transport_url: "rabbit://guest:***@10.0.0.1:5672/": neutrino agents talk gRPC to the server, not a message queue; write transport_url = grpc://HOST:9697 (the server's rpc_bind_host:rpc_bind_port)`},
		{"agent transport_url bad port", "openvswitch", "neutron.conf", "[DEFAULT]\ntransport_url = grpc://h:99999\n",
			`neutron.conf: [DEFAULT] transport_url: "grpc://h:99999": bad port "99999"`},
		{"agent bad local_ip", "openvswitch", "ovs_neutron_plugin.ini", "[OVS]\nlocal_ip = 198.18.255.300\nenable_tunneling = True\n",
			`ovs_neutron_plugin.ini: [OVS] local_ip: "198.18.255.300": not an IP address`},
		{"agent tunneling without local_ip", "openvswitch", "ovs_neutron_plugin.ini", "[AGENT]\ntunnel_types = vxlan\n",
			`[ovs] local_ip (default): "": tunneling is enabled (tunnel_types vxlan) but local_ip is not set`},
		{"agent bad tunnel type", "openvswitch", "ovs_neutron_plugin.ini", "[OVS]\nlocal_ip=198.18.0.1\n[AGENT]\ntunnel_types = vxlan,geneve\n",
			`ovs_neutron_plugin.ini: [AGENT] tunnel_types: "vxlan,geneve": tunnel type "geneve" is not supported (neutrino agents build vxlan and gre tunnels)`},
		{"agent bad udp port", "openvswitch", "ovs_neutron_plugin.ini", "[OVS]\nvxlan_udp_port = 0\n",
			`ovs_neutron_plugin.ini: [OVS] vxlan_udp_port: "0": must be between 1 and 65535`},
		{"agent bad boolean", "openvswitch", "ovs_neutron_plugin.ini", "[AGENT]\nl2_population = maybe\n",
			`ovs_neutron_plugin.ini: [AGENT] l2_population: "maybe": not a boolean (true/false, yes/no, on/off, 1/0)`},
		{"agent polling_interval", "openvswitch", "ovs_neutron_plugin.ini", "[AGENT]\npolling_interval = 0\n",
			`ovs_neutron_plugin.ini: [AGENT] polling_interval: "0": must be between 1 and 2147483647`},
		{"agent datapath_type", "openvswitch", "ovs_neutron_plugin.ini", "[ovs]\ndatapath_type = dpdk\n",
			`ovs_neutron_plugin.ini: [ovs] datapath_type: "dpdk": must be system or netdev`},
		{"bridge_mappings without colon", "openvswitch", "ovs.ini", "[ovs]\nbridge_mappings = physnet1\n",
			`ovs.ini: [ovs] bridge_mappings: "physnet1": invalid mapping (want physical_network:name)`},
		{"bridge_mappings physnet twice", "openvswitch", "ovs.ini", "[ovs]\nbridge_mappings = physnet1:br-ex,physnet1:br-ex2\n",
			`ovs.ini: [ovs] bridge_mappings: "physnet1:br-ex2": physical network physnet1 mapped twice`},
		{"bridge_mappings bridge twice", "openvswitch", "ovs.ini", "[ovs]\nbridge_mappings = physnet1:br-ex,physnet2:br-ex\n",
			`ovs.ini: [ovs] bridge_mappings: "physnet2:br-ex": br-ex mapped for both physnet1 and physnet2`},
		{"bridge_mappings empty bridge", "openvswitch", "ovs.ini", "[ovs]\nbridge_mappings = physnet1:\n",
			`ovs.ini: [ovs] bridge_mappings: "physnet1:": missing value in mapping`},
		{"bridge_mappings to br-int", "openvswitch", "ovs.ini", "[ovs]\nbridge_mappings = physnet1:br-int\n",
			`ovs.ini: [ovs] bridge_mappings: "br-int": a provider bridge must differ from integration_bridge and tunnel_bridge`},
		{"bridge_mappings name too long", "openvswitch", "ovs.ini", "[ovs]\nbridge_mappings = physnet1:br-0123456789abc\n",
			`ovs.ini: [ovs] bridge_mappings: "br-0123456789abc": not a bridge name`},
		{"interface mappings no physnet", "linuxbridge", "lb.ini", "[vxlan]\nenable_vxlan=false\n[linux_bridge]\nphysical_interface_mappings = :eth1\n",
			`lb.ini: [linux_bridge] physical_interface_mappings: ":eth1": missing physical network name in mapping`},
		{"lb vxlan without local_ip", "linuxbridge", "linuxbridge_agent.ini", "[vxlan]\nenable_vxlan = True\n",
			`[vxlan] local_ip (default): "": enable_vxlan is true but local_ip is not set`},
		{"lb bad udp_dstport", "linuxbridge", "linuxbridge_agent.ini", "[vxlan]\nlocal_ip=198.18.0.1\nudp_dstport = 65536\n",
			`linuxbridge_agent.ini: [vxlan] udp_dstport: "65536": must be between 1 and 65535`},
		{"lb bad group", "linuxbridge", "linuxbridge_agent.ini", "[vxlan]\nlocal_ip=198.18.0.1\nvxlan_group = 239.1.1.1/33\n",
			`linuxbridge_agent.ini: [vxlan] vxlan_group: "239.1.1.1/33": not a multicast address or CIDR`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			paths := write(t, [2]string{tc.file, tc.body})
			var err error
			if tc.kind == "" {
				_, _, err = LoadServer(paths...)
			} else {
				_, _, err = LoadAgent(tc.kind, paths...)
			}
			if err == nil {
				t.Fatalf("no error, want %s", tc.want)
			}
			dir := filepath.Dir(paths[0]) + string(filepath.Separator)
			got := strings.ReplaceAll(err.Error(), dir, "")
			if !strings.Contains(got, tc.want) {
				t.Errorf("error:\n  %s\nwant it to contain:\n  %s", got, tc.want)
			}
			if strings.Contains(got, "secret") || strings.Contains(got, "guest:guest") {
				t.Errorf("password leaked into %q", got)
			}
		})
	}
}

func TestAllErrorsReported(t *testing.T) {
	paths := write(t, [2]string{"ml2_conf.ini", "[ml2]\ntype_drivers = vxlan\ntenant_network_types = vxlan\nmechanism_drivers = bogus\n" +
		"[ml2_type_vxlan]\nvni_ranges = 5:1\n[DEFAULT]\nbind_port = -1\n"})
	_, _, err := LoadServer(paths...)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"mechanism_drivers", "vni_ranges", "bind_port"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s: %v", want, err)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	if _, _, err := LoadAgent("ovn"); err == nil || !strings.Contains(err.Error(), `agent kind "ovn"`) {
		t.Errorf("bad kind: %v", err)
	}
	if _, _, err := LoadServer(filepath.Join(t.TempDir(), "missing.conf")); err == nil || !strings.Contains(err.Error(), "missing.conf") {
		t.Errorf("missing file: %v", err)
	}
	bad := write(t, [2]string{"bad.ini", "[ml2\n"})
	if _, _, err := LoadServer(bad...); err == nil || !strings.Contains(err.Error(), "bad.ini:1:") {
		t.Errorf("syntax error: %v", err)
	}
}

func TestSubstitution(t *testing.T) {
	tests := []struct{ body, want, err string }{
		{"[DEFAULT]\nstate_path = /srv/n\n[database]\nconnection = sqlite:///$state_path/neutron.db\n", "sqlite:////srv/n/neutron.db", ""},
		{"[database]\nconnection = sqlite:///${state_path}/neutron.db\n", "sqlite:////var/lib/neutrino/neutron.db", ""},
		{"[x]\ndir = /d\n[database]\nconnection = sqlite://${x.dir}/n.db\n", "sqlite:///d/n.db", ""},
		{"[database]\nconnection = mysql://u:pa$$word@h/db\n", "mysql://u:pa$word@h/db", ""},
		{"[DEFAULT]\na = $b\nb = /b\n[database]\nconnection = sqlite://$a/x\n", "sqlite:///b/x", ""},
		{"[database]\nconnection = mysql://u:pa$word@h/db\n", "",
			`[database] connection: "mysql://u:***@h/db": $word: no such option to substitute (write $$ for a literal $)`},
		{"[DEFAULT]\na = $a\n[database]\nconnection = sqlite://$a\n", "", "substitution nests too deep"},
	}
	for _, tc := range tests {
		c, _, err := LoadServer(write(t, [2]string{"n.conf", tc.body})...)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %s", tc.body, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.body, err)
			continue
		}
		if c.Connection != tc.want {
			t.Errorf("%q: connection %q, want %q", tc.body, c.Connection, tc.want)
		}
	}
}

// The agents' endpoint may listen beyond loopback only with agent
// authentication: rpc_token or client certificates.
func TestRPCExposure(t *testing.T) {
	const tls = "rpc_tls_cert_file = /s.pem\nrpc_tls_key_file = /s-key.pem\n"
	for _, tc := range []struct {
		name, body string
		ok, warn   bool
	}{
		{"default loopback", "", true, false},
		{"loopback, no auth", "rpc_bind_host = 127.0.0.1\n", true, false},
		{"ipv6 loopback", "rpc_bind_host = ::1\n", true, false},
		{"localhost", "rpc_bind_host = localhost\n", true, false},
		{"any, no auth", "rpc_bind_host = 0.0.0.0\n", false, false},
		{"any v6, no auth", "rpc_bind_host = ::\n", false, false},
		{"underlay, no auth", "rpc_bind_host = 198.18.0.1\n", false, false},
		{"host name, no auth", "rpc_bind_host = controller\n", false, false},
		{"server TLS only", "rpc_bind_host = 198.18.0.1\n" + tls, false, false},
		{"token", "rpc_bind_host = 198.18.0.1\nrpc_token = s3cret\n", true, true},
		{"token and TLS", "rpc_bind_host = 0.0.0.0\nrpc_token = s3cret\n" + tls, true, false},
		{"mutual TLS", "rpc_bind_host = 0.0.0.0\n" + tls + "rpc_tls_client_ca_file = /ca.pem\n", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			paths := write(t, [2]string{"neutron.conf", "[DEFAULT]\n" + tc.body})
			_, warns, err := LoadServer(paths...)
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				if warned := strings.Contains(strings.Join(warns, "\n"), "clear text"); warned != tc.warn {
					t.Errorf("warnings %q; want the clear-text warning: %v", warns, tc.warn)
				}
				return
			}
			if err == nil {
				t.Fatal("loaded; want the exposed, unauthenticated endpoint refused")
			}
			for _, name := range []string{"[DEFAULT] rpc_bind_host", "rpc_token", "rpc_tls_cert_file", "rpc_tls_key_file", "rpc_tls_client_ca_file"} {
				if !strings.Contains(err.Error(), name) {
					t.Errorf("error does not name %s:\n%v", name, err)
				}
			}
		})
	}
}

// defaultAuthtoken is [keystone_authtoken] with nothing set.
var defaultAuthtoken = KeystoneAuthtoken{
	ServiceTokenRoles: []string{"service"}, TokenCacheTime: 300 * time.Second, TokenCacheSize: 10000,
	HTTPConnectTimeout: 10 * time.Second, HTTPRequestMaxRetries: 3,
}

func TestLoadServerKeystoneAuthtoken(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// As Neutron's install guide writes it.
	good := write("good.conf", `[DEFAULT]
auth_strategy = keystone
[ml2]
mechanism_drivers = openvswitch
[keystone_authtoken]
www_authenticate_uri = http://controller:5000
auth_url = http://controller:5000
memcached_servers = controller:11211
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = neutron
password = secret
region_name = RegionOne
service_token_roles_required = true
token_cache_time = 60
`)
	c, warns, err := LoadServer(good)
	if err != nil {
		t.Fatal(err)
	}
	want := defaultAuthtoken
	want.WWWAuthenticateURI = "http://controller:5000"
	want.Auth = PasswordAuth{AuthURL: "http://controller:5000", Username: "neutron", Password: "secret",
		UserDomainName: "Default", ProjectName: "service", ProjectDomainName: "Default", RegionName: "RegionOne"}
	want.ServiceTokenRolesRequired = true
	want.TokenCacheTime = time.Minute
	if !reflect.DeepEqual(c.KeystoneAuthtoken, want) {
		t.Errorf("got  %+v\nwant %+v", c.KeystoneAuthtoken, want)
	}
	assertWarnings(t, warns, []string{"[keystone_authtoken] memcached_servers: ignored: tokens are cached in the server process"})

	// Missing credentials are an error with keystone, not with noauth.
	bare := "[keystone_authtoken]\nauth_type = token\nauth_url = http://controller:5000/v2.0\nusername = neutron\n"
	if _, _, err := LoadServer(write("noauth.conf", "[DEFAULT]\nauth_strategy = noauth\n"+bare)); err != nil {
		t.Errorf("noauth: %v", err)
	}
	bad, _, err := LoadServer(write("bad.conf", "[DEFAULT]\nauth_strategy = keystone\n"+bare))
	if err != nil {
		t.Fatal(err)
	}
	if err = bad.KeystoneAuthtoken.Err; err == nil {
		t.Fatal("keystone without credentials: no error for the validator")
	}
	for _, frag := range []string{"auth_type", "v2.0 API is gone", "user_domain_name", "password (default): \"\": required", "project_name"} {
		if !strings.Contains(err.Error(), frag) {
			t.Errorf("error lacks %q:\n%v", frag, err)
		}
	}
}

func TestLoadServerNova(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "neutron.conf")
	os.WriteFile(p, []byte(`[DEFAULT]
notify_nova_on_port_data_changes = false
send_events_interval = 5
[ml2]
mechanism_drivers = openvswitch
[nova]
auth_url = http://controller:5000
auth_type = password
project_domain_name = Default
user_domain_name = Default
region_name = RegionOne
project_name = service
username = nova
password = secret
endpoint_type = internal
`), 0o600)
	c, warns, err := LoadServer(p)
	if err != nil {
		t.Fatal(err)
	}
	assertWarnings(t, warns, nil)
	want := Nova{Auth: PasswordAuth{AuthURL: "http://controller:5000", Username: "nova", Password: "secret",
		UserDomainName: "Default", ProjectName: "service", ProjectDomainName: "Default", RegionName: "RegionOne"},
		AuthType: "password", EndpointType: "internal", Timeout: 30 * time.Second}
	if !reflect.DeepEqual(c.Nova, want) || !c.NotifyNovaOnPortStatusChanges || c.NotifyNovaOnPortDataChanges || c.SendEventsInterval != 5*time.Second {
		t.Errorf("got %+v %v %v %v", c.Nova, c.NotifyNovaOnPortStatusChanges, c.NotifyNovaOnPortDataChanges, c.SendEventsInterval)
	}
	os.WriteFile(p, []byte("[nova]\nauth_url = http://controller:5000\nauth_type = password\nusername = nova\n"), 0o600)
	if _, _, err := LoadServer(p); err == nil || !strings.Contains(err.Error(), "[nova] password") {
		t.Errorf("[nova] without a password: %v", err)
	}
}

// [QUOTAS] as oslo.config names the group, default_quota for resources
// without an option of their own, the old quota_rbac_entry, and the
// driver options Neutron has that change nothing here.
func TestLoadServerQuotas(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "neutron.conf")
	os.WriteFile(p, []byte(`[ml2]
mechanism_drivers = openvswitch
[QUOTAS]
default_quota = 7
quota_network = 3
quota_port = -1
quota_rbac_entry = 4
quota_driver = neutron.db.quota.driver.DbQuotaDriver
track_quota_usage = true
`), 0o600)
	c, warns, err := LoadServer(p)
	if err != nil {
		t.Fatal(err)
	}
	assertWarnings(t, warns, []string{"[QUOTAS] quota_rbac_entry: deprecated name; use [quotas] quota_rbac_policy"})
	want := map[string]int{"network": 3, "subnet": 100, "subnetpool": 7, "port": -1, "router": 10,
		"floatingip": 50, "rbac_policy": 4, "security_group": 10, "security_group_rule": 100}
	if !reflect.DeepEqual(c.Quotas, want) {
		t.Errorf("quotas %v, want %v", c.Quotas, want)
	}
	os.WriteFile(p, []byte("[quotas]\nquota_subnet = many\n"), 0o600)
	if _, _, err := LoadServer(p); err == nil || !strings.Contains(err.Error(), "quota_subnet") {
		t.Errorf("quota_subnet = many: %v", err)
	}
}

// router_distributed sets the default of a router's distributed attribute;
// l3_ha = True is refused (no VRRP routers), never silently ignored.
func TestRouterDistributedAndL3HA(t *testing.T) {
	c, _, err := LoadServer(write(t, [2]string{"n.conf", "[DEFAULT]\nrouter_distributed = True\n"})...)
	if err != nil || !c.RouterDistributed {
		t.Fatalf("router_distributed = True: %+v %v", c, err)
	}
	if c, _, err = LoadServer(write(t, [2]string{"n.conf", "[DEFAULT]\n"})...); err != nil || c.RouterDistributed {
		t.Fatalf("default: %v %v", c.RouterDistributed, err)
	}
	if _, _, err = LoadServer(write(t, [2]string{"n.conf", "[DEFAULT]\nl3_ha = True\n"})...); err == nil || !strings.Contains(err.Error(), "l3_ha") {
		t.Fatalf("l3_ha = True: %v", err)
	}
	if _, _, err = LoadServer(write(t, [2]string{"n.conf", "[DEFAULT]\nl3_ha = False\n"})...); err != nil {
		t.Fatalf("l3_ha = False: %v", err)
	}
}
