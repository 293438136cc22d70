package l3_test

import (
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"neutrino/internal/l3"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs; got:\n%s", name, got)
	}
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func ip(s string) netip.Addr    { return netip.MustParseAddr(s) }

// richRouter has two tenant subnets (one dual-stack), a gateway with
// SNAT, two floating IPs and two extra routes, one of them unreachable.
func richRouter() l3.Router {
	return l3.Router{
		ID: "28f6fe53-3c5a-4a0b-9d8e-0123456789ab",
		Interfaces: []l3.Port{
			{ID: "f3d1a9ea-9a11-4c22-8e33-111111111111", NetworkID: "5e1c0d3e-aaaa-4bbb-8ccc-000000000001",
				MAC: "fa:16:3e:11:11:11", MTU: 1450, Addresses: []netip.Prefix{pfx("192.168.1.1/24")}},
			{ID: "0a2b3c4d-5e6f-4a7b-8c9d-222222222222", NetworkID: "5e1c0d3e-aaaa-4bbb-8ccc-000000000002",
				MAC: "fa:16:3e:22:22:22", MTU: 1450, Addresses: []netip.Prefix{pfx("fd00:2::1/64"), pfx("192.168.2.1/24")}},
		},
		Gateway: &l3.Gateway{
			Port: l3.Port{ID: "9b8a7c6d-1111-4222-8333-444444444444", NetworkID: "e0e0e0e0-ffff-4fff-8fff-000000000003",
				MAC: "fa:16:3e:33:33:33", MTU: 1500, Addresses: []netip.Prefix{pfx("198.18.1.2/24")}},
			NextHops:   []netip.Addr{ip("198.18.1.1")},
			EnableSNAT: true,
		},
		Routes: []l3.Route{
			{Destination: pfx("10.10.0.0/16"), NextHop: ip("192.168.2.254")},
			{Destination: pfx("10.20.0.0/16"), NextHop: ip("172.16.0.1")},
		},
		FloatingIPs: []l3.FloatingIP{
			{ID: "aaaaaaaa-0000-4000-8000-000000000001", FloatingIP: ip("198.18.1.10"), FixedIP: ip("192.168.1.5"), PortID: "p1"},
			{ID: "aaaaaaaa-0000-4000-8000-000000000002", FloatingIP: ip("198.18.1.11"), FixedIP: ip("192.168.2.7"), PortID: "p2"},
		},
	}
}

// TestPlanGolden: the whole namespace of a router with everything.
func TestPlanGolden(t *testing.T) {
	golden(t, "rich.txt", l3.Plan(richRouter()).Render())
}

// TestPlanNoSNAT: enable_snat false keeps the floating IPs' translation
// and drops the gateway's.
func TestPlanNoSNAT(t *testing.T) {
	r := richRouter()
	r.Gateway.EnableSNAT = false
	golden(t, "nosnat.txt", l3.Plan(r).Render())
}

// TestPlanNoGateway: interfaces only: routing between the subnets, no
// default route, no NAT table, floating IPs reported as skipped.
func TestPlanNoGateway(t *testing.T) {
	r := richRouter()
	r.Gateway = nil
	got := l3.Plan(r)
	golden(t, "nogateway.txt", got.Render())
	if len(got.NAT.Chains) != 0 {
		t.Errorf("NAT without a gateway: %+v", got.NAT)
	}
}

// TestPlanNames: Neutron's device and namespace names.
func TestPlanNames(t *testing.T) {
	p := l3.Plan(richRouter())
	var names []string
	for _, d := range p.Devices {
		names = append(names, d.Name)
	}
	if got, want := strings.Join(names, " "), "qg-9b8a7c6d-11 qr-0a2b3c4d-5e qr-f3d1a9ea-9a"; got != want {
		t.Errorf("devices %q, want %q", got, want)
	}
	if p.Namespace != "qrouter-28f6fe53-3c5a-4a0b-9d8e-0123456789ab" {
		t.Errorf("namespace %q", p.Namespace)
	}
	if got := l3.TapDevice("f3d1a9ea-9a11-4c22-8e33-111111111111"); got != "tapf3d1a9ea-9a" {
		t.Errorf("tap %q", got)
	}
}

// TestPlanIPv4Only: a router without IPv6 addresses keeps IPv6 off.
func TestPlanIPv4Only(t *testing.T) {
	r := richRouter()
	r.Interfaces[1].Addresses = r.Interfaces[1].Addresses[1:]
	for _, s := range l3.Plan(r).Sysctls {
		if strings.HasSuffix(s.Key, "disable_ipv6") && s.Value != "1" {
			t.Errorf("%s = %s on an IPv4-only router", s.Key, s.Value)
		}
	}
}
