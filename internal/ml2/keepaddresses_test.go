package ml2

import (
	"fmt"
	"testing"

	"neutrino/internal/neutron"
)

// TestKeepAddresses: an update naming only a subnet keeps the port's
// address there (Neutron's _get_changed_ips_for_port); explicit addresses
// are claimed first; an EUI-64 address is derived again, not kept.
func TestKeepAddresses(t *testing.T) {
	orig := []neutron.FixedIP{
		{SubnetID: "a", IPAddress: "10.0.0.5"},
		{SubnetID: "a", IPAddress: "10.0.0.6"},
		{SubnetID: "v6", IPAddress: "2001:db8::f816:3eff:fe00:1"},
		{SubnetID: "v6d", IPAddress: "2001:db8:1::9"},
	}
	for _, c := range []struct {
		want []neutron.FixedIPRequest
		got  string
	}{
		{[]neutron.FixedIPRequest{{SubnetID: "a"}}, "[{a 10.0.0.5}]"},
		{[]neutron.FixedIPRequest{{SubnetID: "a"}, {SubnetID: "a"}}, "[{a 10.0.0.5} {a 10.0.0.6}]"},
		{[]neutron.FixedIPRequest{{SubnetID: "a"}, {SubnetID: "a"}, {SubnetID: "a"}}, "[{a 10.0.0.5} {a 10.0.0.6} {a }]"},
		// The explicit address is claimed before the subnet-only entry
		// that comes first.
		{[]neutron.FixedIPRequest{{SubnetID: "a"}, {SubnetID: "a", IPAddress: "10.0.0.5"}}, "[{a 10.0.0.6} {a 10.0.0.5}]"},
		{[]neutron.FixedIPRequest{{IPAddress: "10.0.0.9"}}, "[{ 10.0.0.9}]"},
		{[]neutron.FixedIPRequest{{SubnetID: "b"}}, "[{b }]"},
		{[]neutron.FixedIPRequest{{SubnetID: "v6"}}, "[{v6 }]"},
		{[]neutron.FixedIPRequest{{SubnetID: "v6d"}}, "[{v6d 2001:db8:1::9}]"},
		{nil, "[]"},
	} {
		if got := fmt.Sprint(keepAddresses(c.want, orig)); got != c.got {
			t.Errorf("keepAddresses(%v) = %s, want %s", c.want, got, c.got)
		}
	}
}
