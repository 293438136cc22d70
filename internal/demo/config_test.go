package demo

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"neutrino/internal/config"
	"neutrino/internal/vxlan"
)

// The embedded copies must stay the seed's files byte for byte.
func TestSeedCopiesMatchConfigTestdata(t *testing.T) {
	ents, err := seedFS.ReadDir("seed")
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 5 {
		t.Errorf("embedded %d seed files, want 5", len(ents))
	}
	for _, e := range ents {
		want, err := os.ReadFile(filepath.Join("..", "config", "testdata", "seed", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if got := seedFile(e.Name()); got != string(want) {
			t.Errorf("seed/%s differs from internal/config/testdata/seed/%s", e.Name(), e.Name())
		}
	}
}

func TestSetOption(t *testing.T) {
	cases := []struct {
		name, in, section, key, value, want string
	}{
		{"replace keeps spacing and comment", "[OVS]  \nlocal_ip=198.18.255.101      #Use 102  \nx=1\n", "ovs", "local_ip", "198.18.255.102",
			"[OVS]  \nlocal_ip=198.18.255.102      #Use 102  \nx=1\n"},
		{"replace keeps trailing spaces", "[ml2]  \nmechanism_drivers = openvswitch  \n", "ML2", "mechanism_drivers", "linuxbridge",
			"[ml2]  \nmechanism_drivers = linuxbridge  \n"},
		{"add after header", "[DEFAULT]\ncore_plugin =x  \n", "DEFAULT", "host", "compute-1",
			"[DEFAULT]\nhost = compute-1\ncore_plugin =x  \n"},
		{"add section", "[ml2]\na=b", "AGENT", "arp_responder", "True", "[ml2]\na=b\n[AGENT]\narp_responder = True\n"},
		{"only in its section", "[a]\nk=1\n[b]\nk=2\n", "b", "k", "3", "[a]\nk=1\n[b]\nk=3\n"},
		{"empty value", "[vxlan]\nvxlan_group = 1.2.3.4\n", "vxlan", "vxlan_group", "", "[vxlan]\nvxlan_group = \n"},
	}
	for _, c := range cases {
		if got := setOption(c.in, c.section, c.key, c.value); got != c.want {
			t.Errorf("%s:\ngot  %q\nwant %q", c.name, got, c.want)
		}
	}
}

func TestCommentOutAndOption(t *testing.T) {
	in := "[database]  \nsql_connection = mysql://u:p@127.0.0.1/db  \n[x]\nsql_connection = keep\n"
	got := commentOut(in, "DATABASE", "sql_connection", "why")
	want := "[database]  \n# sql_connection = mysql://u:p@127.0.0.1/db    # neutrino demo: why\n[x]\nsql_connection = keep\n"
	if got != want {
		t.Errorf("commentOut:\ngot  %q\nwant %q", got, want)
	}
	if v := option(got, "database", "sql_connection"); v != "" {
		t.Errorf("commented option still reads %q", v)
	}
	if v := option(seedFile("ovs_neutron_plugin.ini"), "ovs", "local_ip"); v != "198.18.255.101" {
		t.Errorf("option local_ip = %q", v)
	}
}

// The copies load with neutrino's own config loader and say what the
// demo needs; everything else stays the seed's.
func TestServerFilesLoad(t *testing.T) {
	for _, c := range []struct {
		mech    string
		l2pop   bool
		drivers string
	}{
		{MechOVS, false, "openvswitch"},
		{MechOVS, true, "openvswitch,l2population"},
		{MechLB, false, "linuxbridge"},
		{MechLB, true, "linuxbridge,l2population"},
	} {
		dir := t.TempDir()
		nc, mc := serverFiles(c.mech, c.l2pop, 40001, 40002, filepath.Join(dir, "db"))
		for _, f := range []struct{ name, text string }{{"neutron.conf", nc}, {"ml2_conf.ini", mc}} {
			if err := os.WriteFile(filepath.Join(dir, f.name), []byte(f.text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		cfg, _, err := config.LoadServer(filepath.Join(dir, "neutron.conf"), filepath.Join(dir, "ml2_conf.ini"))
		if err != nil {
			t.Fatalf("%s l2pop=%v: %v\n%s\n%s", c.mech, c.l2pop, err, nc, mc)
		}
		if got := strings.Join(cfg.MechanismDrivers, ","); got != c.drivers {
			t.Errorf("%s l2pop=%v: mechanism_drivers %q, want %q", c.mech, c.l2pop, got, c.drivers)
		}
		if cfg.Connection != "" || cfg.StatePath != filepath.Join(dir, "db") {
			t.Errorf("database: connection %q state_path %q: want embedded SQLite under %s", cfg.Connection, cfg.StatePath, dir)
		}
		if cfg.BindHost != "127.0.0.1" || cfg.BindPort != 40001 || cfg.RPCBindHost != "127.0.0.1" || cfg.RPCBindPort != 40002 {
			t.Errorf("listen: %s:%d rpc %s:%d", cfg.BindHost, cfg.BindPort, cfg.RPCBindHost, cfg.RPCBindPort)
		}
		if len(cfg.VNIRanges) != 1 || cfg.VNIRanges[0].Min != 1001 || cfg.VNIRanges[0].Max != 2000 {
			t.Errorf("vni_ranges %v, want the seed's 1001:2000", cfg.VNIRanges)
		}
		// The external network's type: flat on physnet1.
		if got := strings.Join(cfg.TypeDrivers, ","); got != "vxlan,flat" {
			t.Errorf("type_drivers %q, want the seed's vxlan and flat", got)
		}
		if got := strings.Join(cfg.FlatNetworks, ","); got != physnet {
			t.Errorf("flat_networks %q, want %s", got, physnet)
		}
		// Only the database line, type_drivers and the flat_networks line
		// (and for linuxbridge the mechanism) differ from the seed; lines
		// after the added one shift by one.
		seed := seedFile(map[bool]string{false: "ml2_conf.ini", true: "ml2_conf.l2pop.ini"}[c.l2pop])
		if got, want := strings.Count(mc, "\n"), strings.Count(seed, "\n")+1; got != want {
			t.Errorf("%s l2pop=%v: %d lines in ml2_conf.ini, want %d:\n%s", c.mech, c.l2pop, got, want, mc)
		}
		var seedLines []string
		for _, l := range strings.Split(seed, "\n") {
			if !strings.HasPrefix(strings.TrimSpace(l), "type_drivers") && !strings.HasPrefix(l, "sql_connection") &&
				!strings.HasPrefix(l, "mechanism_drivers") {
				seedLines = append(seedLines, l)
			}
		}
		for _, l := range seedLines {
			if !strings.Contains(mc, l+"\n") && !strings.HasSuffix(mc, l) {
				t.Errorf("%s l2pop=%v: the seed's line %q is gone:\n%s", c.mech, c.l2pop, l, mc)
			}
		}
	}
}

func lineDiff(a, b string) int {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	n := 0
	for i := range max(len(al), len(bl)) {
		if i >= len(al) || i >= len(bl) || al[i] != bl[i] {
			n++
		}
	}
	return n
}

func TestAgentFilesLoad(t *testing.T) {
	for _, c := range []struct {
		mech     string
		s        agentSettings
		external bool
	}{
		{MechOVS, agentSettings{}, false},
		{MechOVS, agentSettings{}, true},
		{MechOVS, agentSettings{L2Pop: true}, false},
		{MechOVS, agentSettings{L2Pop: true, ARPResponder: true}, true},
		{MechLB, agentSettings{}, false},
		{MechLB, agentSettings{}, true},
		{MechLB, agentSettings{VXLANGroup: "239.1.1.1"}, false},
		{MechLB, agentSettings{L2Pop: true, ARPResponder: true}, true},
	} {
		dir := t.TempDir()
		nc, ac, name := agentFiles(c.mech, c.s, 40002, "compute-1", "nt-abcdef-compute-1", "198.18.255.102", "unix:/tmp/x/db.sock", c.external)
		for _, f := range []struct{ name, text string }{{"neutron.conf", nc}, {name, ac}} {
			if err := os.WriteFile(filepath.Join(dir, f.name), []byte(f.text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		cfg, _, err := config.LoadAgent(c.mech, filepath.Join(dir, "neutron.conf"), filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("%s %+v: %v\n%s\n%s", c.mech, c.s, err, nc, ac)
		}
		if cfg.Host != "compute-1" || cfg.Namespace != "nt-abcdef-compute-1" || cfg.TransportURL != "grpc://127.0.0.1:40002" {
			t.Errorf("%s: host %q namespace %q transport_url %q", c.mech, cfg.Host, cfg.Namespace, cfg.TransportURL)
		}
		if cfg.LocalIP != "198.18.255.102" || cfg.VXLANUDPPort != 4789 || cfg.L2Population != c.s.L2Pop || cfg.ARPResponder != c.s.ARPResponder {
			t.Errorf("%s %+v: local_ip %s port %d l2pop %v arp %v", c.mech, c.s, cfg.LocalIP, cfg.VXLANUDPPort, cfg.L2Population, cfg.ARPResponder)
		}
		mappings := cfg.BridgeMappings
		want := map[bool]string{true: "map[physnet1:br-ex]", false: "map[]"}[c.external]
		if c.mech == MechLB {
			mappings = cfg.InterfaceMappings
			want = map[bool]string{true: "map[physnet1:eth1]", false: "map[]"}[c.external]
		}
		if fmt.Sprint(mappings) != want {
			t.Errorf("%s external=%v: mappings %v, want %s", c.mech, c.external, mappings, want)
		}
		switch c.mech {
		case MechOVS:
			if cfg.DatapathType != "netdev" || cfg.OVSDBConnection != "unix:/tmp/x/db.sock" {
				t.Errorf("ovs: datapath_type %q ovsdb_connection %q", cfg.DatapathType, cfg.OVSDBConnection)
			}
			if !strings.Contains(ac, "local_ip=198.18.255.102      #Use 102 for compute-1, 103 for compute-2  \n") {
				t.Errorf("the seed's local_ip line lost its comment:\n%s", ac)
			}
		case MechLB:
			if cfg.VXLANGroup != c.s.VXLANGroup {
				t.Errorf("lb: vxlan_group %q, want %q", cfg.VXLANGroup, c.s.VXLANGroup)
			}
		}
	}
}

// The L3 agent's copies load with the L3 agent's loader: the controller's
// identity and namespace, the mechanism's interface driver, its own
// state_path (where it records its routers).
func TestL3AgentFilesLoad(t *testing.T) {
	for _, mech := range []string{MechOVS, MechLB} {
		dir := t.TempDir()
		nc, lc := l3AgentFiles(mech, 40002, "controller", "nt-abcdef-controller", filepath.Join(dir, l3StateName), "unix:/tmp/x/db.sock")
		for _, f := range []struct{ name, text string }{{"neutron.conf", nc}, {"l3_agent.ini", lc}} {
			if err := os.WriteFile(filepath.Join(dir, f.name), []byte(f.text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		cfg, _, err := config.LoadL3Agent(filepath.Join(dir, "neutron.conf"), filepath.Join(dir, "l3_agent.ini"))
		if err != nil {
			t.Fatalf("%s: %v\n%s\n%s", mech, err, nc, lc)
		}
		if cfg.Host != "controller" || cfg.Namespace != "nt-abcdef-controller" || cfg.TransportURL != "grpc://127.0.0.1:40002" || cfg.InterfaceDriver != mech {
			t.Errorf("%s: host %q namespace %q transport_url %q interface_driver %q", mech, cfg.Host, cfg.Namespace, cfg.TransportURL, cfg.InterfaceDriver)
		}
		if cfg.RoutersDir != filepath.Join(dir, l3StateName, "l3") {
			t.Errorf("%s: routers recorded in %s, want under the demo's %s (removeL3State reads them there)", mech, cfg.RoutersDir, l3StateName)
		}
		if mech == MechOVS && cfg.OVSDBConnection != "unix:/tmp/x/db.sock" {
			t.Errorf("ovs: ovsdb_connection %q", cfg.OVSDBConnection)
		}
	}
}

func TestParsers(t *testing.T) {
	show := `e3c5a0f6-0000
    Bridge br-int
        Port patch-tun
            Interface patch-tun
                type: patch
    Bridge br-tun
        fail_mode: secure
        Port "vxlan-c612ff67"
            Interface "vxlan-c612ff67"
                type: vxlan
                options: {in_key=flow, local_ip="198.18.255.101", out_key=flow, remote_ip="198.18.255.103"}
        Port vxlan-c612ff66
            Interface vxlan-c612ff66
                type: vxlan
                options: {in_key=flow, local_ip="198.18.255.101", out_key=flow, remote_ip="198.18.255.102"}
    Bridge br-phy
        Port underlay
    ovs_version: "3.1.0"
`
	sec := bridgeSection(show, "br-tun")
	if !strings.HasPrefix(sec, "    Bridge br-tun\n") || strings.Contains(sec, "br-phy") || strings.Contains(sec, "patch-tun") {
		t.Errorf("bridgeSection:\n%s", sec)
	}
	if got := addrList(tunnelRemotes(sec)); got != "198.18.255.102, 198.18.255.103" {
		t.Errorf("tunnelRemotes = %s", got)
	}
	if got := tunnelRemotes(bridgeSection(show, "br-int")); len(got) != 0 {
		t.Errorf("br-int tunnels %v", got)
	}
	fdb := "ae:3a:f4:49:11:b4 master brq43c745a9-04 permanent\n" +
		"fa:16:3e:0c:50:62 dst 198.18.255.102 self permanent\n" +
		"00:00:00:00:00:00 dst 198.18.255.103 self permanent\n" +
		"00:00:00:00:00:00 dst 198.18.255.102 self permanent\n"
	if got := addrList(floodDsts(fdb)); got != "198.18.255.102, 198.18.255.103" {
		t.Errorf("floodDsts = %s", got)
	}
	flows := " cookie=0x1, duration=2.5s, table=22, n_packets=5, priority=1,dl_vlan=1 actions=strip_vlan,load:0x3fb->NXM_NX_TUN_ID[],output:3,output:2\n" +
		" cookie=0x1, duration=2.5s, table=22, n_packets=0, priority=0 actions=drop\n"
	if got := floodOutputs(flows); got != "2,3" {
		t.Errorf("floodOutputs = %q", got)
	}
	ifaces := "2\nin_key=flow local_ip=198.18.255.101 out_key=flow remote_ip=198.18.255.102\n\n" +
		"3\nin_key=flow local_ip=198.18.255.101 out_key=flow remote_ip=198.18.255.103\n\n" +
		"4\nin_key=flow local_ip=198.18.255.101 out_key=flow remote_ip=198.18.255.104\n"
	want := []netip.Addr{netip.MustParseAddr("198.18.255.102"), netip.MustParseAddr("198.18.255.103")}
	if got := tunnelOfports(ifaces, want); got != "2,3" {
		t.Errorf("tunnelOfports = %q", got)
	}
}

func TestTable(t *testing.T) {
	got := table([]string{"ID", "Name"}, [][]string{{"1", "vm-a"}, {"22", "b"}}, true)
	want := "+----+------+\n| ID | Name |\n+----+------+\n| 1  | vm-a |\n| 22 | b    |\n+----+------+\n"
	if got != want {
		t.Errorf("boxed:\n%s\nwant\n%s", got, want)
	}
	got = table([]string{"mode", "copies"}, [][]string{{"full mesh", "2"}, {"l2pop", "0"}}, false)
	want = "mode       copies\n---------  ------\nfull mesh  2\nl2pop      0\n"
	if got != want {
		t.Errorf("plain:\n%q\nwant\n%q", got, want)
	}
}

func TestLayers(t *testing.T) {
	mac := func(s string) vxlan.MAC { m, _ := vxlan.ParseMAC(s); return m }
	p := vxlan.Packet{
		Outer: vxlan.Frame{Layers: vxlan.LayerEthernet | vxlan.LayerIPv4 | vxlan.LayerUDP,
			Ethernet: vxlan.Ethernet{Src: mac("02:00:00:00:01:01"), Dst: mac("02:00:00:00:01:02")},
			IPv4:     vxlan.IPv4{TTL: 64, Src: netip.MustParseAddr("198.18.255.101"), Dst: netip.MustParseAddr("198.18.255.102")},
			UDP:      vxlan.UDP{SrcPort: 40000, DstPort: 4789}},
		IsVXLAN: true,
		VXLAN:   vxlan.Header{Flags: vxlan.FlagVNI, VNI: 1001},
		Inner: vxlan.Frame{Layers: vxlan.LayerEthernet | vxlan.LayerIPv4 | vxlan.LayerICMP,
			Ethernet: vxlan.Ethernet{Src: mac("fa:16:3e:00:00:01"), Dst: mac("fa:16:3e:00:00:04")},
			IPv4:     vxlan.IPv4{TTL: 64, Src: netip.MustParseAddr("192.168.1.1"), Dst: netip.MustParseAddr("192.168.1.4")},
			ICMP:     vxlan.ICMP{Type: vxlan.ICMPEchoRequest, ID: 7, Seq: 1}},
	}
	var got vxlan.Packet
	if err := vxlan.Decode(p.Append(nil), &got); err != nil {
		t.Fatal(err)
	}
	want := `Ethernet    02:00:00:00:01:01 > 02:00:00:00:01:02
IPv4        198.18.255.101 > 198.18.255.102, ttl 64
UDP         40000 > 4789
VXLAN       flags 0x08, VNI 1001
  Ethernet  fa:16:3e:00:00:01 > fa:16:3e:00:00:04
  IPv4      192.168.1.1 > 192.168.1.4, ttl 64
  ICMP      echo request, id 7, seq 1
`
	if s := layers(&got); s != want {
		t.Errorf("layers:\n%s\nwant\n%s", s, want)
	}
}
