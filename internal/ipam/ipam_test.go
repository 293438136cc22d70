package ipam

import (
	"math/rand/v2"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"neutrino/internal/neutron"
)

func fault(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	e, ok := neutron.AsError(err)
	if !ok {
		t.Fatalf("not a neutron.Error: %v", err)
	}
	return e.Type + ": " + e.Message
}

func TestParseCIDR(t *testing.T) {
	tests := []struct {
		cidr    string
		version int
		want    string
	}{
		{"192.168.1.0/24", 4, ""},
		{"2001:db8::/64", 6, ""},
		{"192.168.1.0/33", 4, "InvalidInput: Invalid input for operation: 192.168.1.0/33 is not in a CIDR format."},
		{"not-a-cidr", 4, "InvalidInput: Invalid input for operation: not-a-cidr is not in a CIDR format."},
		{"10.9.0.0/24", 6, "InvalidInput: Invalid input for operation: cidr '10.9.0.0/24' does not match the ip_version '6'."},
		{"2001:db8::/64", 4, "InvalidInput: Invalid input for operation: cidr '2001:db8::/64' does not match the ip_version '4'."},
		{"192.168.1.5/24", 4, "InvalidInput: Invalid input for operation: '192.168.1.5/24' isn't a recommended CIDR, '192.168.1.0/24' should be used instead."},
		{"0.0.0.0/0", 4, "InvalidInput: Invalid input for operation: 0 is not allowed as CIDR prefix length"},
	}
	for _, tc := range tests {
		_, err := ParseCIDR(tc.cidr, tc.version)
		if got := fault(t, err); got != tc.want {
			t.Errorf("ParseCIDR(%q, %d) = %q, want %q", tc.cidr, tc.version, got, tc.want)
		}
	}
}

func TestDefaultsAndPools(t *testing.T) {
	tests := []struct {
		cidr  string
		gw    string // "" = default, "none" = no gateway
		wantG string
		pools string
	}{
		{"192.168.1.0/24", "", "192.168.1.1", "192.168.1.2-192.168.1.254"},
		{"192.168.1.0/24", "none", "", "192.168.1.1-192.168.1.254"},
		{"192.168.1.0/24", "192.168.1.254", "192.168.1.254", "192.168.1.1-192.168.1.253"},
		{"192.168.1.0/24", "192.168.1.100", "192.168.1.100", "192.168.1.1-192.168.1.99,192.168.1.101-192.168.1.254"},
		{"10.0.0.0/30", "", "10.0.0.1", "10.0.0.2-10.0.0.2"},
		{"10.0.0.0/31", "", "", ""},
		{"10.0.0.7/32", "", "", "10.0.0.7-10.0.0.7"},
		{"2001:db8::/64", "", "2001:db8::1", "2001:db8::2-2001:db8::ffff:ffff:ffff:ffff"},
		{"2001:db8::/126", "", "2001:db8::1", "2001:db8::2-2001:db8::3"},
	}
	for _, tc := range tests {
		p := netip.MustParsePrefix(tc.cidr)
		gw := DefaultGateway(p)
		switch tc.gw {
		case "none":
			gw = netip.Addr{}
		case "":
		default:
			gw = netip.MustParseAddr(tc.gw)
		}
		g := ""
		if gw.IsValid() {
			g = gw.String()
		}
		if g != tc.wantG {
			t.Errorf("%s: gateway %q, want %q", tc.cidr, g, tc.wantG)
		}
		var ps []string
		for _, pool := range DefaultPools(p, gw) {
			ps = append(ps, pool.Start+"-"+pool.End)
		}
		if got := strings.Join(ps, ","); got != tc.pools {
			t.Errorf("%s gw %s: pools %q, want %q", tc.cidr, g, got, tc.pools)
		}
	}
}

func TestValidatePools(t *testing.T) {
	p := netip.MustParsePrefix("10.20.0.0/24")
	gw := netip.MustParseAddr("10.20.0.1")
	tests := []struct {
		pools []neutron.AllocationPool
		want  string
	}{
		{[]neutron.AllocationPool{pool("10.20.0.10", "10.20.0.20")}, ""},
		{[]neutron.AllocationPool{pool("10.20.0.30", "10.20.0.40"), pool("10.20.0.10", "10.20.0.20")}, ""},
		{[]neutron.AllocationPool{pool("10.20.0.10", "10.20.1.20")}, "OutOfBoundsAllocationPool: The allocation pool 10.20.0.10-10.20.1.20 spans beyond the subnet cidr 10.20.0.0/24."},
		{[]neutron.AllocationPool{pool("10.20.0.20", "10.20.0.10")}, "InvalidAllocationPool: The allocation pool 10.20.0.20-10.20.0.10 is not valid."},
		{[]neutron.AllocationPool{pool("x", "10.20.0.10")}, "InvalidAllocationPool: The allocation pool x-10.20.0.10 is not valid."},
		{[]neutron.AllocationPool{pool("10.20.0.10", "10.20.0.20"), pool("10.20.0.15", "10.20.0.30")}, "OverlappingAllocationPools: Found overlapping allocation pools: 10.20.0.10-10.20.0.20 10.20.0.15-10.20.0.30 for subnet 10.20.0.0/24."},
		{[]neutron.AllocationPool{pool("10.20.0.1", "10.20.0.20")}, "GatewayConflictWithAllocationPools: Gateway ip 10.20.0.1 conflicts with allocation pool 10.20.0.1-10.20.0.20."},
	}
	for _, tc := range tests {
		_, err := ValidatePools(p, tc.pools, gw)
		if got := fault(t, err); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.pools, got, tc.want)
		}
	}
	rs, _ := ValidatePools(p, []neutron.AllocationPool{pool("10.20.0.30", "10.20.0.40"), pool("10.20.0.10", "10.20.0.20")}, gw)
	if rs[0].Start.String() != "10.20.0.10" {
		t.Errorf("pools not sorted: %v", rs)
	}
}

func TestValidHostAndGateway(t *testing.T) {
	p := netip.MustParsePrefix("192.168.1.0/24")
	for ip, want := range map[string]bool{"192.168.1.0": false, "192.168.1.255": false, "192.168.1.1": true, "192.168.1.254": true, "10.0.0.5": false} {
		if got := ValidHost(p, netip.MustParseAddr(ip)); got != want {
			t.Errorf("ValidHost(%s) = %v", ip, got)
		}
	}
	if _, err := ValidateGateway(p, "192.168.1.255"); fault(t, err) != "InvalidInput: Invalid input for operation: Gateway is not valid on subnet." {
		t.Errorf("broadcast gateway: %v", err)
	}
	if _, err := ValidateGateway(p, "bogus"); err == nil {
		t.Error("bogus gateway accepted")
	}
	if g, err := ValidateGateway(p, "192.168.1.254"); err != nil || g.String() != "192.168.1.254" {
		t.Errorf("gateway: %v %v", g, err)
	}
}

func TestPickFree(t *testing.T) {
	pools := ParsePools([]neutron.AllocationPool{pool("10.0.0.2", "10.0.0.4"), pool("10.0.0.10", "10.0.0.10")})
	used := map[netip.Addr]bool{}
	var got []string
	for {
		a, ok := PickFree(pools, used, nil)
		if !ok {
			break
		}
		used[a] = true
		got = append(got, a.String())
	}
	if want := []string{"10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.10"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	// Random picks stay in the pools, never repeat, and exhaust the pool.
	big := ParsePools([]neutron.AllocationPool{pool("192.168.0.1", "192.168.0.200")})
	rng := rand.New(rand.NewPCG(1, 2))
	used = map[netip.Addr]bool{}
	for i := 0; i < 200; i++ {
		a, ok := PickFree(big, used, rng)
		if !ok || used[a] || !big[0].Contains(a) {
			t.Fatalf("pick %d: %v %v", i, a, ok)
		}
		used[a] = true
	}
	if _, ok := PickFree(big, used, rng); ok {
		t.Fatal("pool should be exhausted")
	}
	// A huge IPv6 pool costs nothing.
	v6 := ParsePools([]neutron.AllocationPool{pool("2001:db8::2", "2001:db8::ffff:ffff:ffff:ffff")})
	if a, ok := PickFree(v6, nil, rng); !ok || !v6[0].Contains(a) {
		t.Fatal(a, ok)
	}
	if v6[0].Size().String() != "18446744073709551614" {
		t.Fatal(v6[0].Size())
	}
}

func TestMAC(t *testing.T) {
	for in, want := range map[string]string{
		"fa:16:3e:00:00:01": "fa:16:3e:00:00:01",
		"FA:16:3E:AA:BB:CC": "fa:16:3e:aa:bb:cc",
		"fa-16-3e-aa-bb-cc": "fa:16:3e:aa:bb:cc",
	} {
		if got, err := ParseMAC(in); err != nil || got != want {
			t.Errorf("ParseMAC(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"zz:16:3e:00:00:01", "", "00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff", " fa:16:3e:00:00:01", "fa:16:3e:00:00:00:00:01"} {
		_, err := ParseMAC(in)
		if got := fault(t, err); got != "HTTPBadRequest: Invalid input for mac_address. Reason: '"+in+"' is not a valid MAC address." {
			t.Errorf("ParseMAC(%q): %q", in, got)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 100; i++ {
		m, err := GenerateMAC("fa:16:3e:00:00:00", rng)
		if err != nil || !strings.HasPrefix(m, "fa:16:3e:") {
			t.Fatal(m, err)
		}
		m, _ = GenerateMAC("fa:16:3e:4f:00:00", rng)
		if !strings.HasPrefix(m, "fa:16:3e:4f:") {
			t.Fatal(m)
		}
	}
	if _, err := GenerateMAC("bogus", rng); err == nil {
		t.Fatal("bogus base_mac accepted")
	}
}

func TestEUI64(t *testing.T) {
	a, err := EUI64(netip.MustParsePrefix("2001:db8::/64"), "fa:16:3e:12:34:56")
	if err != nil || a.String() != "2001:db8::f816:3eff:fe12:3456" {
		t.Fatal(a, err)
	}
	if _, err := EUI64(netip.MustParsePrefix("10.0.0.0/8"), "fa:16:3e:12:34:56"); err == nil {
		t.Fatal("ipv4 accepted")
	}
}

func pool(start, end string) neutron.AllocationPool {
	return neutron.AllocationPool{Start: start, End: end}
}

func TestRandomCandidates(t *testing.T) {
	if got := AddOffset(netip.MustParseAddr("10.0.0.250"), 10); got.String() != "10.0.1.4" {
		t.Fatal(got)
	}
	if got := AddOffset(netip.MustParseAddr("2001:db8::ffff:ffff:ffff:fffe"), 3); got.String() != "2001:db8:0:1::1" {
		t.Fatal(got)
	}
	pools := ParsePools([]neutron.AllocationPool{pool("10.0.0.2", "10.0.0.9"), pool("10.0.1.0", "10.0.255.254")})
	if PoolSize(pools) != 8+65279 {
		t.Fatal(PoolSize(pools))
	}
	rng := rand.New(rand.NewPCG(5, 6))
	skip := map[netip.Addr]bool{netip.MustParseAddr("10.0.0.2"): true}
	cands := RandomCandidates(pools, 32, skip, rng)
	if len(cands) != 32 {
		t.Fatalf("%d candidates", len(cands))
	}
	seen := map[netip.Addr]bool{}
	for _, c := range cands {
		if seen[c] || skip[c] || !(pools[0].Contains(c) || pools[1].Contains(c)) {
			t.Fatalf("bad candidate %s", c)
		}
		seen[c] = true
	}
	// A tiny pool yields each address at most once.
	small := ParsePools([]neutron.AllocationPool{pool("10.0.0.2", "10.0.0.3")})
	if got := RandomCandidates(small, 32, nil, rng); len(got) > 2 {
		t.Fatal(got)
	}
	v6 := ParsePools([]neutron.AllocationPool{pool("2001:db8::2", "2001:db8::ffff:ffff:ffff:ffff")})
	for _, c := range RandomCandidates(v6, 8, nil, rng) {
		if !v6[0].Contains(c) {
			t.Fatal(c)
		}
	}
}
