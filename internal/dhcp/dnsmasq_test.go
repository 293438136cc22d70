package dhcp

import (
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name (rewritten with -update).
func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file:\n--- got ---\n%s\n--- want ---\n%s", name, got, want)
	}
}

var (
	pfx  = netip.MustParsePrefix
	addr = netip.MustParseAddr
)

const netID = "9b7a3c3e-1111-4c2d-8e5f-000000000001"

// seedNetwork is testnet of the seed: 192.168.1.0/24 with the DHCP port
// on .2 (the first address of the pool) and two VMs, plus what exercises
// the rest of the files: a second IPv4 subnet without a gateway, a
// DHCPv6-stateful and a SLAAC subnet, a router interface, extra options.
func seedNetwork() Network {
	return Network{
		ID:  netID,
		MTU: 1450,
		Subnets: []Subnet{
			{ID: "sub-a", CIDR: pfx("192.168.1.0/24"), IPVersion: 4, Gateway: addr("192.168.1.1"), EnableDHCP: true,
				DNSNameservers: []netip.Addr{addr("198.18.0.53")},
				HostRoutes:     []HostRoute{{Destination: pfx("10.20.0.0/16"), Nexthop: addr("192.168.1.254")}}},
			{ID: "sub-b", CIDR: pfx("192.168.2.0/24"), IPVersion: 4, EnableDHCP: true},
			{ID: "sub-off", CIDR: pfx("192.168.3.0/24"), IPVersion: 4, Gateway: addr("192.168.3.1"), EnableDHCP: false},
			{ID: "sub-v6", CIDR: pfx("fd00:1::/64"), IPVersion: 6, Gateway: addr("fd00:1::1"), EnableDHCP: true,
				IPv6RAMode: "dhcpv6-stateful", IPv6AddressMode: "dhcpv6-stateful"},
			{ID: "sub-slaac", CIDR: pfx("fd00:2::/64"), IPVersion: 6, EnableDHCP: true,
				IPv6RAMode: "slaac", IPv6AddressMode: "slaac"},
		},
		DHCPPort: Port{ID: "d1c2b3a4-0000-0000-0000-000000000000", MAC: "fa:16:3e:00:00:01", DeviceOwner: OwnerDHCP,
			FixedIPs: []FixedIP{{SubnetID: "sub-a", Address: addr("192.168.1.2")}, {SubnetID: "sub-b", Address: addr("192.168.2.2")},
				{SubnetID: "sub-v6", Address: addr("fd00:1::2")}}},
		Ports: []Port{
			{ID: "aaaaaaaa-0000-0000-0000-000000000001", MAC: "fa:16:3e:aa:00:01", DeviceOwner: "compute:nova",
				FixedIPs: []FixedIP{{SubnetID: "sub-a", Address: addr("192.168.1.4")}}},
			{ID: "bbbbbbbb-0000-0000-0000-000000000002", MAC: "fa:16:3e:bb:00:02", DeviceOwner: "compute:nova",
				FixedIPs: []FixedIP{{SubnetID: "sub-a", Address: addr("192.168.1.5")}, {SubnetID: "sub-v6", Address: addr("fd00:1::5")},
					{SubnetID: "sub-slaac", Address: addr("fd00:2::f816:3eff:febb:2")}},
				ExtraDHCPOpts: []ExtraDHCPOpt{{Name: "bootfile-name", Value: "pxelinux.0", IPVersion: 4},
					{Name: "tftp-server", Value: "192.168.1.9", IPVersion: 4}, {Name: "66", Value: "192.168.1.9", IPVersion: 4},
					{Name: "bootfile-url", Value: "tftp://[fd00:1::9]/boot", IPVersion: 6}}},
			{ID: "cccccccc-0000-0000-0000-000000000003", MAC: "fa:16:3e:cc:00:03", DeviceOwner: "compute:nova",
				FixedIPs:      []FixedIP{{SubnetID: "sub-b", Address: addr("192.168.2.7")}, {SubnetID: "sub-off", Address: addr("192.168.3.7")}},
				ExtraDHCPOpts: []ExtraDHCPOpt{{Name: "client-id", Value: "01:fa:16:3e:cc:00:03", IPVersion: 4}}},
			{ID: "dddddddd-0000-0000-0000-000000000004", MAC: "fa:16:3e:dd:00:04", DeviceOwner: "network:router_interface",
				FixedIPs: []FixedIP{{SubnetID: "sub-a", Address: addr("192.168.1.1")}}},
			{ID: "eeeeeeee-0000-0000-0000-000000000005", MAC: "fa:16:3e:ee:00:05", DeviceOwner: "network:floatingip",
				FixedIPs: []FixedIP{{SubnetID: "sub-a", Address: addr("192.168.1.99")}}},
		},
	}
}

func TestFilesGolden(t *testing.T) {
	o := DefaultOptions("/var/lib/neutron")
	o.DNSServers = []string{"198.18.0.53", "198.18.0.54"}
	n := seedNetwork()
	golden(t, "host", HostsFile(n, o))
	golden(t, "addn_hosts", AddnHostsFile(n, o))
	golden(t, "opts", OptsFile(n, o))
	existing := "duid 00:01:00:01:2c:aa:bb:cc:fa:16:3e:00:00:01\n" +
		"1700000000 1234 fd00:1::5 host-fd00-1--5 00:01:00:01\n" +
		"1700000000 999 fd00:1::77 * 00:01:00:02\n" + // a port that is gone
		"1700000000 fa:16:3e:aa:00:01 192.168.1.4 vm1 *\n" // IPv4 leases are remade
	golden(t, "leases", LeasesFile(n, o, time.Unix(1800000000, 0), existing))
	golden(t, "cmdline", strings.Join(Cmdline(n, o), "\n")+"\n")
}

// TestSeedNetworkFiles is the seed's testnet alone: one subnet with a
// gateway, no dns_nameservers (dnsmasq offers itself), the network's MTU.
func TestSeedNetworkFiles(t *testing.T) {
	o := DefaultOptions("/var/lib/neutron")
	o.LeaseDuration = -1
	n := Network{ID: netID, MTU: 1450,
		Subnets:  []Subnet{{ID: "sub-a", CIDR: pfx("192.168.1.0/24"), IPVersion: 4, Gateway: addr("192.168.1.1"), EnableDHCP: true}},
		DHCPPort: Port{ID: "d1c2b3a4-0000", MAC: "fa:16:3e:00:00:01", FixedIPs: []FixedIP{{SubnetID: "sub-a", Address: addr("192.168.1.2")}}},
		Ports: []Port{{ID: "p1", MAC: "fa:16:3e:aa:00:01", FixedIPs: []FixedIP{{SubnetID: "sub-a", Address: addr("192.168.1.4")}}},
			// Another DHCP agent's port: no host entry.
			{ID: "d2", MAC: "fa:16:3e:00:00:02", DeviceOwner: OwnerDHCP, FixedIPs: []FixedIP{{SubnetID: "sub-a", Address: addr("192.168.1.3")}}}},
	}
	if got, want := HostsFile(n, o), "fa:16:3e:aa:00:01,host-192-168-1-4.openstacklocal,192.168.1.4\n"; got != want {
		t.Errorf("host = %q, want %q", got, want)
	}
	// Two DHCP servers on a subnet without nameservers: both are offered.
	if got, want := OptsFile(n, o), "tag:subnet-sub-a,option:router,192.168.1.1\ntag:subnet-sub-a,option:dns-server,192.168.1.2,192.168.1.3"; got != want {
		t.Errorf("opts = %q, want %q", got, want)
	}
	if got, want := LeasesFile(n, o, time.Unix(5, 0), ""), "0 fa:16:3e:aa:00:01 192.168.1.4 * *\n"; got != want {
		t.Errorf("infinite leases = %q, want %q", got, want)
	}
	cmd := strings.Join(Cmdline(n, o), " ")
	for _, want := range []string{"--dhcp-range=set:subnet-sub-a,192.168.1.0,static,255.255.255.0,infinite",
		"--dhcp-option-force=option:mtu,1450", "--dhcp-lease-max=256", "--conf-file=/dev/null", "--domain=openstacklocal",
		"--pid-file=/var/lib/neutron/dhcp/" + netID + "/pid"} {
		if !strings.Contains(cmd, want) {
			t.Errorf("cmdline %q lacks %q", cmd, want)
		}
	}
	// No gateway: the router option is given empty, so none is sent.
	n.Subnets[0].Gateway = netip.Addr{}
	n.Ports = n.Ports[:1]
	if got, want := OptsFile(n, o), "tag:subnet-sub-a,option:router"; got != want {
		t.Errorf("opts without gateway = %q, want %q", got, want)
	}
}

func TestOption(t *testing.T) {
	for _, c := range []struct {
		v          int
		name, want string
		args       []string
	}{
		{4, "router", "tag:t,option:router,1.2.3.4", []string{"1.2.3.4"}},
		{4, "249", "tag:t,249,a,b", []string{"a", "b"}},
		{6, "dns-server", "tag:t,option6:dns-server,[::1]", []string{"[::1]"}},
		{4, "tag:ipxe,bootfile-name", "tag:t,tag:ipxe,option:bootfile-name,x", []string{"x"}},
		{4, "router\ninjected", "tag:t,option:router,1.2.3.4", []string{"1.2.3.4\n--evil"}},
	} {
		if got := option(c.v, "t", c.name, c.args...); got != c.want {
			t.Errorf("option(%d, %q, %q) = %q, want %q", c.v, c.name, c.args, got, c.want)
		}
	}
}

func TestNames(t *testing.T) {
	if got := Namespace(netID); got != "qdhcp-"+netID {
		t.Errorf("Namespace = %q", got)
	}
	if got := TapDevice("d1c2b3a4-0000-0000"); got != "tapd1c2b3a4-00" {
		t.Errorf("TapDevice = %q", got)
	}
	if got := NSDevice("d1c2b3a4-0000-0000"); got != "ns-d1c2b3a4-00" {
		t.Errorf("NSDevice = %q", got)
	}
}
