package api_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"neutrino/internal/api/apitest"
)

// TestOpenstackCLISecurityGroups drives `openstack security group ...` and
// `openstack security group rule ...` (Debian python3-openstackclient)
// against our server, as TestOpenstackCLI does for networks.
func TestOpenstackCLISecurityGroups(t *testing.T) {
	t.Parallel()
	s := stack(t, "sqlite", "", apitest.ReferenceINI)
	srv := httptest.NewServer(s.Handler)
	defer srv.Close()
	osc := openstackCLI(t, srv.URL)
	var sg map[string]any
	osc.json(&sg, "security group", "create", "--description", "web servers", "osc-sg")
	if sg["name"] != "osc-sg" || sg["description"] != "web servers" || sg["stateful"] != true {
		t.Fatalf("security group create: %v", sg)
	}
	var r map[string]any
	osc.json(&r, "security group rule", "create", "--protocol", "tcp", "--dst-port", "22", "--remote-ip", "10.0.0.0/8", "osc-sg")
	if r["protocol"] != "tcp" || r["port_range_min"] != 22.0 || r["port_range_max"] != 22.0 || r["direction"] != "ingress" ||
		r["remote_ip_prefix"] != "10.0.0.0/8" || r["security_group_id"] != sg["id"] {
		t.Fatalf("rule create: %v", r)
	}
	var icmp map[string]any
	osc.json(&icmp, "security group rule", "create", "--protocol", "icmp", "--icmp-type", "8", "--icmp-code", "0", "osc-sg")
	if icmp["protocol"] != "icmp" || icmp["port_range_min"] != 8.0 || icmp["port_range_max"] != 0.0 {
		t.Fatalf("icmp rule: %v", icmp)
	}
	var anyRule map[string]any
	osc.json(&anyRule, "security group rule", "create", "--protocol", "any", "--egress", "--ethertype", "IPv6", "--remote-group", "osc-sg", "osc-sg")
	if anyRule["protocol"] != nil || anyRule["direction"] != "egress" || anyRule["ether_type"] != "IPv6" || anyRule["remote_group_id"] != sg["id"] {
		t.Fatalf("any-protocol rule: %v", anyRule)
	}
	// A duplicate is Neutron's 409, which the CLI reports.
	if out, err := osc.run("security group rule", "create", "--protocol", "6", "--dst-port", "22:22", "--remote-ip", "10.0.0.0/8", "osc-sg"); err == nil ||
		!strings.Contains(out, "Security group rule already exists") {
		t.Fatalf("duplicate rule: %v\n%s", err, out)
	}
	var rules []map[string]any
	osc.json(&rules, "security group rule", "list", "osc-sg")
	if len(rules) != 5 { // 2 egress defaults + 3 created
		t.Fatalf("rule list: %v", rules)
	}
	var groups []map[string]any
	osc.json(&groups, "security group", "list")
	names := map[any]bool{}
	for _, g := range groups {
		names[g["Name"]] = true
	}
	if !names["default"] || !names["osc-sg"] || len(groups) != 2 {
		t.Fatalf("security group list: %v", groups)
	}
	if out, err := osc.run("security group", "set", "--name", "osc-sg2", "osc-sg"); err != nil {
		t.Fatalf("security group set: %v\n%s", err, out)
	}
	var shown map[string]any
	osc.json(&shown, "security group", "show", "osc-sg2")
	if shown["id"] != sg["id"] || len(shown["rules"].([]any)) != 5 {
		t.Fatalf("security group show: %v", shown)
	}
	if out, err := osc.run("security group rule", "delete", r["id"].(string)); err != nil {
		t.Fatalf("rule delete: %v\n%s", err, out)
	}
	osc.json(&rules, "security group rule", "list", "osc-sg2")
	if len(rules) != 4 {
		t.Fatalf("rules after delete: %v", rules)
	}
	if out, err := osc.run("security group", "delete", "osc-sg2"); err != nil {
		t.Fatalf("security group delete: %v\n%s", err, out)
	}
	// noauth callers are admins (as Neutron's noauth), who may delete a
	// project's default group.
	if out, err := osc.run("security group", "delete", "default"); err != nil {
		t.Fatalf("deleting the default group as admin: %v\n%s", err, out)
	}
}
