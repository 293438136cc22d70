package dhcp

import (
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestDHCPSubnets(t *testing.T) {
	n := Network{ID: "net", Subnets: []Subnet{
		{ID: "a", CIDR: netip.MustParsePrefix("192.168.1.0/24"), IPVersion: 4, EnableDHCP: false},
		{ID: "b", CIDR: netip.MustParsePrefix("192.168.2.0/24"), IPVersion: 4, EnableDHCP: true},
	}}
	got := n.DHCPSubnets()
	if len(got) != 1 || got[0].ID != "b" {
		t.Fatalf("DHCPSubnets = %+v, want only subnet b", got)
	}
	n.Subnets[1].EnableDHCP = false
	if got := n.DHCPSubnets(); len(got) != 0 {
		t.Fatalf("no DHCP subnet: DHCPSubnets = %+v, want none", got)
	}
}

func TestCheckReachable(t *testing.T) {
	dir, err := os.MkdirTemp("", "neutrino-reach-") // under /tmp (mode 1777), not t.TempDir's 0700
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sub := dir + "/a/b"
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := CheckReachable(sub); err == nil || !strings.Contains(err.Error(), dir+" is not searchable") {
		t.Fatalf("a 0700 directory on the way: %v", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := CheckReachable(sub); err != nil {
		t.Fatalf("reachable path refused: %v", err)
	}
}

func TestUUIDLike(t *testing.T) {
	for s, want := range map[string]bool{
		"9b7a3c3e-1111-4c2d-8e5f-000000000001": true, "9B7A3C3E-1111-4C2D-8E5F-000000000001": true,
		"lease_relay": false, "9b7a3c3e-1111-4c2d-8e5f-00000000000": false, "9b7a3c3e_1111-4c2d-8e5f-000000000001": false,
		"9b7a3c3e-1111-4c2d-8e5f-00000000000g": false,
	} {
		if uuidLike(s) != want {
			t.Errorf("uuidLike(%q) = %v", s, !want)
		}
	}
}

func TestCloneSharesNothing(t *testing.T) {
	n := seedNetwork()
	c := n.Clone()
	n.Subnets[0].DNSNameservers[0] = addr("198.18.0.99")
	n.Subnets[0].HostRoutes[0].Nexthop = addr("192.168.1.253")
	n.DHCPPort.FixedIPs[0].Address = addr("192.168.1.3")
	n.Ports[1].FixedIPs[0].Address = addr("192.168.1.6")
	n.Ports[1].ExtraDHCPOpts[0].Value = "other"
	if want := seedNetwork(); !reflect.DeepEqual(c, want) {
		t.Errorf("a clone changed with the original:\n%+v\nwant\n%+v", c, want)
	}
}
