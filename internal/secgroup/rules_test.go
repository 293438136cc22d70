package secgroup

import (
	"fmt"
	"strings"
	"testing"

	"neutrino/internal/neutron"
)

func s(v string) *string { return &v }
func i(v int) *int       { return &v }

// TestNormalize is Neutron 2023.1's rule validation, case by case: what
// is stored, or the fault type.
func TestNormalize(t *testing.T) {
	type req = neutron.SecurityGroupRuleCreate
	base := func(f func(*req)) req {
		r := req{ProjectID: "p", SecurityGroupID: "sg", Direction: "ingress"}
		f(&r)
		return r
	}
	cases := []struct {
		name string
		req  req
		want string // DescribeRule of the result, or the fault type
	}{
		{"defaults", base(func(r *req) {}), "ingress IPv4 proto=+ ports=+-+"},
		{"bad direction", base(func(r *req) { r.Direction = "inbound" }), "InvalidInput"},
		{"ethertype any case", base(func(r *req) { r.Ethertype = "ipv6" }), "ingress IPv6 proto=+ ports=+-+"},
		{"bad ethertype", base(func(r *req) { r.Ethertype = "IPv5" }), "SecurityGroupRuleInvalidEtherType"},
		{"tcp by name", base(func(r *req) { r.Protocol = s("TCP"); r.PortRangeMin = i(22); r.PortRangeMax = i(22) }), "ingress IPv4 proto=tcp ports=22-22"},
		{"tcp by number kept as text", base(func(r *req) { r.Protocol = s("6"); r.PortRangeMin = i(80); r.PortRangeMax = i(90) }), "ingress IPv4 proto=6 ports=80-90"},
		{"any is none", base(func(r *req) { r.Protocol = s("any") }), "ingress IPv4 proto=+ ports=+-+"},
		{"number 256", base(func(r *req) { r.Protocol = s("256") }), "SecurityGroupRuleInvalidProtocol"},
		{"unknown name", base(func(r *req) { r.Protocol = s("tcpx") }), "SecurityGroupRuleInvalidProtocol"},
		{"port without protocol", base(func(r *req) { r.PortRangeMin = i(22); r.PortRangeMax = i(22) }), "SecurityGroupProtocolRequiredWithPorts"},
		{"tcp reversed range", base(func(r *req) { r.Protocol = s("tcp"); r.PortRangeMin = i(90); r.PortRangeMax = i(80) }), "SecurityGroupInvalidPortRange"},
		{"tcp only max", base(func(r *req) { r.Protocol = s("tcp"); r.PortRangeMax = i(80) }), "SecurityGroupInvalidPortRange"},
		{"tcp port 0", base(func(r *req) { r.Protocol = s("udp"); r.PortRangeMin = i(0); r.PortRangeMax = i(10) }), "SecurityGroupInvalidPortValue"},
		{"port out of range", base(func(r *req) { r.Protocol = s("tcp"); r.PortRangeMin = i(1); r.PortRangeMax = i(70000) }), "SecurityGroupInvalidPortValue"},
		{"sctp range", base(func(r *req) { r.Protocol = s("sctp"); r.PortRangeMin = i(1); r.PortRangeMax = i(65534) }), "ingress IPv4 proto=sctp ports=1-65534"},
		{"the whole range is no range", base(func(r *req) { r.Protocol = s("tcp"); r.PortRangeMin = i(1); r.PortRangeMax = i(65535) }), "ingress IPv4 proto=tcp ports=+-+"},
		{"the whole range needs no protocol", base(func(r *req) { r.PortRangeMin = i(1); r.PortRangeMax = i(65535) }), "ingress IPv4 proto=+ ports=+-+"},
		{"icmp type and code", base(func(r *req) { r.Protocol = s("icmp"); r.PortRangeMin = i(8); r.PortRangeMax = i(0) }), "ingress IPv4 proto=icmp ports=8-0"},
		{"icmp type only", base(func(r *req) { r.Protocol = s("icmp"); r.PortRangeMin = i(8) }), "ingress IPv4 proto=icmp ports=8-+"},
		{"icmp code without type", base(func(r *req) { r.Protocol = s("icmp"); r.PortRangeMax = i(0) }), "SecurityGroupMissingIcmpType"},
		{"icmp type 256", base(func(r *req) { r.Protocol = s("icmp"); r.PortRangeMin = i(256) }), "SecurityGroupInvalidIcmpValue"},
		{"gre with ports", base(func(r *req) { r.Protocol = s("gre"); r.PortRangeMin = i(1); r.PortRangeMax = i(1) }), "SecurityGroupInvalidProtocolForPort"},
		{"icmp under IPv6 becomes ipv6-icmp", base(func(r *req) { r.Ethertype = "IPv6"; r.Protocol = s("icmp") }), "ingress IPv6 proto=ipv6-icmp ports=+-+"},
		{"icmpv6 under IPv6 becomes ipv6-icmp", base(func(r *req) { r.Ethertype = "IPv6"; r.Protocol = s("icmpv6") }), "ingress IPv6 proto=ipv6-icmp ports=+-+"},
		{"1 under IPv6 becomes 58", base(func(r *req) { r.Ethertype = "IPv6"; r.Protocol = s("1") }), "ingress IPv6 proto=58 ports=+-+"},
		{"icmpv6 under IPv4", base(func(r *req) { r.Protocol = s("icmpv6") }), "SecurityGroupEthertypeConflictWithProtocol"},
		{"58 under IPv4", base(func(r *req) { r.Protocol = s("58") }), "SecurityGroupEthertypeConflictWithProtocol"},
		{"bare address gets /32", base(func(r *req) { r.RemoteIPPrefix = s("10.0.0.5") }), "ingress IPv4 proto=+ ports=+-+ prefix=10.0.0.5/32"},
		{"host bits kept", base(func(r *req) { r.RemoteIPPrefix = s("10.0.0.5/24") }), "ingress IPv4 proto=+ ports=+-+ prefix=10.0.0.5/24"},
		{"IPv6 prefix", base(func(r *req) { r.Ethertype = "IPv6"; r.RemoteIPPrefix = s("2001:DB8::/32") }), "ingress IPv6 proto=+ ports=+-+ prefix=2001:db8::/32"},
		{"prefix version conflict", base(func(r *req) { r.RemoteIPPrefix = s("2001:db8::/32") }), "SecurityGroupRuleParameterConflict"},
		{"bad prefix", base(func(r *req) { r.RemoteIPPrefix = s("10.0.0.0/33") }), "InvalidCIDR"},
		{"prefix and group", base(func(r *req) { r.RemoteIPPrefix = s("10.0.0.0/8"); r.RemoteGroupID = s("sg2") }), "SecurityGroupMultipleRemoteEntites"},
		{"remote group", base(func(r *req) { r.RemoteGroupID = s("sg2") }), "ingress IPv4 proto=+ ports=+-+ group=sg2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Normalize(tc.req)
			got := ""
			if err != nil {
				e, ok := neutron.AsError(err)
				if !ok {
					t.Fatalf("error %v is not a Neutron fault", err)
				}
				if e.Status != 400 {
					t.Errorf("status %d, want 400", e.Status)
				}
				got = e.Type
			} else {
				got = DescribeRule(r)
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDuplicate(t *testing.T) {
	norm := func(r neutron.SecurityGroupRuleCreate) neutron.SecurityGroupRule {
		r.SecurityGroupID, r.ProjectID = "sg", "p"
		out, err := Normalize(r)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	existing := []neutron.SecurityGroupRule{
		norm(neutron.SecurityGroupRuleCreate{Direction: "ingress", Protocol: s("tcp"), PortRangeMin: i(22), PortRangeMax: i(22)}),
		norm(neutron.SecurityGroupRuleCreate{Direction: "ingress", Ethertype: "IPv6", Protocol: s("ipv6-icmp")}),
		norm(neutron.SecurityGroupRuleCreate{Direction: "egress"}),
	}
	for i := range existing {
		existing[i].ID = fmt.Sprintf("rule-%d", i)
	}
	cases := []struct {
		name string
		r    neutron.SecurityGroupRuleCreate
		dup  string // id of the duplicated rule, "" none
	}{
		{"same rule by number", neutron.SecurityGroupRuleCreate{Direction: "ingress", Protocol: s("6"), PortRangeMin: i(22), PortRangeMax: i(22)}, "rule-0"},
		{"other description", neutron.SecurityGroupRuleCreate{Direction: "ingress", Protocol: s("tcp"), PortRangeMin: i(22), PortRangeMax: i(22), Description: s("ssh")}, "rule-0"},
		{"other port", neutron.SecurityGroupRuleCreate{Direction: "ingress", Protocol: s("tcp"), PortRangeMin: i(23), PortRangeMax: i(23)}, ""},
		{"icmpv6 spelled legacy", neutron.SecurityGroupRuleCreate{Direction: "ingress", Ethertype: "IPv6", Protocol: s("icmpv6")}, "rule-1"},
		{"icmpv6 by number", neutron.SecurityGroupRuleCreate{Direction: "ingress", Ethertype: "IPv6", Protocol: s("58")}, "rule-1"},
		{"0.0.0.0/0 is any", neutron.SecurityGroupRuleCreate{Direction: "egress", RemoteIPPrefix: s("0.0.0.0/0")}, "rule-2"},
		{"a real prefix is not", neutron.SecurityGroupRuleCreate{Direction: "egress", RemoteIPPrefix: s("10.0.0.0/8")}, ""},
		{"other direction", neutron.SecurityGroupRuleCreate{Direction: "egress", Protocol: s("tcp"), PortRangeMin: i(22), PortRangeMax: i(22)}, ""},
	}
	for _, tc := range cases {
		err := Duplicate(norm(tc.r), existing)
		switch {
		case tc.dup == "" && err != nil:
			t.Errorf("%s: unexpected %v", tc.name, err)
		case tc.dup != "":
			e, ok := neutron.AsError(err)
			if !ok || e.Status != 409 || e.Type != "SecurityGroupRuleExists" || !strings.Contains(e.Message, tc.dup) {
				t.Errorf("%s: got %v, want SecurityGroupRuleExists naming %s", tc.name, err, tc.dup)
			}
		}
	}
}

func TestDefaultRules(t *testing.T) {
	var b strings.Builder
	for _, isDefault := range []bool{true, false} {
		fmt.Fprintf(&b, "default=%t\n", isDefault)
		for _, r := range DefaultRules("p", "sg", isDefault) {
			if r.ProjectID != "p" || r.SecurityGroupID != "sg" || r.Description != nil {
				t.Errorf("rule %+v: wrong project, group or description", r)
			}
			fmt.Fprintf(&b, "  %s\n", DescribeRule(r))
		}
	}
	want := `default=true
  ingress IPv4 proto=+ ports=+-+ group=sg
  egress IPv4 proto=+ ports=+-+
  ingress IPv6 proto=+ ports=+-+ group=sg
  egress IPv6 proto=+ ports=+-+
default=false
  egress IPv4 proto=+ ports=+-+
  egress IPv6 proto=+ ports=+-+
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestFirewallRule(t *testing.T) {
	cases := []struct {
		r    neutron.SecurityGroupRuleCreate
		want string
	}{
		{neutron.SecurityGroupRuleCreate{Direction: "ingress"}, "ingress IPv4"},
		{neutron.SecurityGroupRuleCreate{Direction: "ingress", Protocol: s("tcp"), PortRangeMin: i(22), PortRangeMax: i(23)}, "ingress IPv4 proto 6 ports 22:23"},
		{neutron.SecurityGroupRuleCreate{Direction: "ingress", Protocol: s("udp")}, "ingress IPv4 proto 17"},
		{neutron.SecurityGroupRuleCreate{Direction: "ingress", Protocol: s("icmp")}, "ingress IPv4 proto 1 ports -1:-1"},
		{neutron.SecurityGroupRuleCreate{Direction: "ingress", Protocol: s("icmp"), PortRangeMin: i(8)}, "ingress IPv4 proto 1 ports 8:-1"},
		{neutron.SecurityGroupRuleCreate{Direction: "egress", Ethertype: "IPv6", Protocol: s("icmpv6"), PortRangeMin: i(128), PortRangeMax: i(0)}, "egress IPv6 proto 58 ports 128:0"},
		{neutron.SecurityGroupRuleCreate{Direction: "ingress", RemoteIPPrefix: s("10.1.2.3/8")}, "ingress IPv4 from 10.0.0.0/8"},
		{neutron.SecurityGroupRuleCreate{Direction: "ingress", RemoteIPPrefix: s("0.0.0.0/0")}, "ingress IPv4"},
		{neutron.SecurityGroupRuleCreate{Direction: "ingress", RemoteGroupID: s("sg2")}, "ingress IPv4 group sg2"},
	}
	for _, tc := range cases {
		r, err := Normalize(tc.r)
		if err != nil {
			t.Fatal(err)
		}
		if got := FirewallRule(r).String(); got != tc.want {
			t.Errorf("%s: got %q, want %q", DescribeRule(r), got, tc.want)
		}
	}
}

func TestAllowedAndMembers(t *testing.T) {
	p := neutron.Port{MACAddress: "FA:16:3E:00:00:01",
		FixedIPs:            []neutron.FixedIP{{IPAddress: "192.168.1.5"}, {IPAddress: "2001:db8::5"}},
		AllowedAddressPairs: []neutron.AddressPair{{IPAddress: "10.9.0.0/16"}, {IPAddress: "192.168.1.100", MACAddress: "fa:16:3e:00:00:99"}, {IPAddress: "bogus"}}}
	var got []string
	for _, a := range Allowed(p) {
		got = append(got, a.MAC+" "+a.Prefix.String())
	}
	want := "fa:16:3e:00:00:01 192.168.1.5/32|fa:16:3e:00:00:01 2001:db8::5/128|fa:16:3e:00:00:01 10.9.0.0/16|fa:16:3e:00:00:99 192.168.1.100/32"
	if strings.Join(got, "|") != want {
		t.Errorf("Allowed = %s, want %s", strings.Join(got, "|"), want)
	}
	if m := Members(p); len(m) != 4 || m[2].String() != "10.9.0.0/16" {
		t.Errorf("Members = %v", m)
	}
}

// DescribeRule is a one-line text of a rule for the tables above.
func DescribeRule(r neutron.SecurityGroupRule) string {
	s := fmt.Sprintf("%s %s proto=%s ports=%s-%s", r.Direction, r.Ethertype, strText(r.Protocol), intText(r.PortRangeMin), intText(r.PortRangeMax))
	if r.RemoteIPPrefix != nil {
		s += " prefix=" + *r.RemoteIPPrefix
	}
	if r.RemoteGroupID != nil {
		s += " group=" + *r.RemoteGroupID
	}
	return s
}
