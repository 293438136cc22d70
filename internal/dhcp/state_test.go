package dhcp

import (
	"net/netip"
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
