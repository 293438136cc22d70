package api_test

import (
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"neutrino/internal/api/apitest"
)

func fault(m map[string]any) string {
	e, _ := m["NeutronError"].(map[string]any)
	t, _ := e["type"].(string)
	return t
}

// TestSecurityGroupsAPI: the security-group resources over HTTP on every
// database, as a project and an admin see them.
func TestSecurityGroupsAPI(t *testing.T) {
	eachDB(t, func(t *testing.T, dbName, dbURL string) {
		admin, alice, bob := projectClients(t, dbName, dbURL, "")

		// A project's first listing makes its default group, with
		// Neutron's four rules inline.
		l := alice.must(200, "GET", "/v2.0/security-groups", "")["security_groups"].([]any)
		if len(l) != 1 {
			t.Fatalf("alice's groups: %v", l)
		}
		def := l[0].(map[string]any)
		if def["name"] != "default" || def["description"] != "Default security group" || def["stateful"] != true ||
			def["shared"] != false || def["tenant_id"] != "alice" || len(def["security_group_rules"].([]any)) != 4 {
			t.Fatalf("default group %v", def)
		}
		rule0 := def["security_group_rules"].([]any)[0].(map[string]any)
		for _, k := range []string{"id", "tenant_id", "security_group_id", "ethertype", "direction", "protocol", "port_range_min",
			"port_range_max", "remote_ip_prefix", "remote_address_group_id", "normalized_cidr", "remote_group_id",
			"description", "tags", "created_at", "updated_at", "revision_number", "project_id"} {
			if _, ok := rule0[k]; !ok {
				t.Errorf("inline rule lacks %s: %v", k, rule0)
			}
		}
		if rule0["description"] != nil {
			t.Errorf("a default rule's description is %v, want null", rule0["description"])
		}
		defID := def["id"].(string)

		// Create, duplicate, validation.
		web := alice.must(201, "POST", "/v2.0/security-groups", `{"security_group": {"name": "web", "description": "w"}}`)["security_group"].(map[string]any)
		webID := web["id"].(string)
		if len(web["security_group_rules"].([]any)) != 2 || web["revision_number"] != 1.0 {
			t.Fatalf("new group %v", web)
		}
		if _, m := alice.do("POST", "/v2.0/security-groups", `{"security_group": {"name": "default"}}`); fault(m) != "SecurityGroupDefaultAlreadyExists" {
			t.Errorf("a second default: %v", m)
		}
		r := alice.must(201, "POST", "/v2.0/security-group-rules", `{"security_group_rule": {"security_group_id": "`+webID+
			`", "direction": "ingress", "protocol": "TCP", "port_range_min": "80", "port_range_max": 80, "remote_ip_prefix": "10.1.2.3/8"}}`)["security_group_rule"].(map[string]any)
		if r["protocol"] != "tcp" || r["port_range_min"] != 80.0 || r["remote_ip_prefix"] != "10.1.2.3/8" || r["normalized_cidr"] != "10.0.0.0/8" ||
			r["ethertype"] != "IPv4" || r["description"] != "" || r["revision_number"] != 0.0 || r["tenant_id"] != "alice" {
			t.Errorf("rule %v", r)
		}
		for _, tc := range []struct{ body, status, typ string }{
			{`"direction": "ingress", "protocol": "6", "port_range_min": 80, "port_range_max": 80, "remote_ip_prefix": "10.1.2.3/8", "description": "d"`, "409", "SecurityGroupRuleExists"},
			{`"direction": "inbound"`, "400", "HTTPBadRequest"},
			{`"direction": "ingress", "protocol": "tcp", "port_range_min": 90, "port_range_max": 80`, "400", "SecurityGroupInvalidPortRange"},
			{`"direction": "ingress", "protocol": "icmp", "port_range_max": 0`, "400", "SecurityGroupMissingIcmpType"},
			{`"direction": "ingress", "protocol": "tcp", "port_range_min": "x", "port_range_max": 1`, "400", "SecurityGroupInvalidPortValue"},
			{`"direction": "ingress", "protocol": "bogus"`, "400", "SecurityGroupRuleInvalidProtocol"},
			{`"direction": "ingress", "ethertype": "IPv5"`, "400", "SecurityGroupRuleInvalidEtherType"},
			{`"direction": "ingress", "ethertype": 4`, "400", "SecurityGroupRuleInvalidEtherType"},
			{`"direction": "ingress", "ethertype": "IPv6", "remote_ip_prefix": "10.0.0.0/8"`, "400", "SecurityGroupRuleParameterConflict"},
			{`"direction": "ingress", "remote_ip_prefix": "10.0.0.0/8", "remote_group_id": "` + defID + `"`, "400", "SecurityGroupMultipleRemoteEntites"},
			{`"direction": "ingress", "remote_group_id": "bad_group_id"`, "404", "SecurityGroupNotFound"},
		} {
			st, m := alice.do("POST", "/v2.0/security-group-rules", `{"security_group_rule": {"security_group_id": "`+webID+`", `+tc.body+`}}`)
			if itoa(st) != tc.status || fault(m) != tc.typ {
				t.Errorf("%s: %d %v, want %s %s", tc.body, st, m, tc.status, tc.typ)
			}
		}
		// Another project cannot see, use or add rules to alice's groups.
		bob.must(404, "GET", "/v2.0/security-groups/"+webID, "")
		if _, m := bob.do("POST", "/v2.0/security-group-rules", `{"security_group_rule": {"security_group_id": "`+webID+`", "direction": "ingress"}}`); fault(m) != "SecurityGroupNotFound" {
			t.Errorf("bob adds a rule to alice's group: %v", m)
		}
		if l := bob.must(200, "GET", "/v2.0/security-group-rules", "")["security_group_rules"].([]any); len(l) != 4 {
			t.Errorf("bob sees %d rules, want his default group's 4", len(l))
		}
		// Filters, fields, sorting, paging, tags, update, If-Match.
		if l := alice.must(200, "GET", "/v2.0/security-group-rules?security_group_id="+webID+"&protocol=tcp&fields=id&fields=protocol", "")["security_group_rules"].([]any); len(l) != 1 || len(l[0].(map[string]any)) != 2 {
			t.Errorf("filtered rules %v", l)
		}
		if l := alice.must(200, "GET", "/v2.0/security-groups?sort_key=name&sort_dir=desc&limit=1", "")["security_groups"].([]any); len(l) != 1 || l[0].(map[string]any)["name"] != "web" {
			t.Errorf("first page by name desc: %v", l)
		}
		alice.must(201, "PUT", "/v2.0/security-groups/"+webID+"/tags/blue", "")
		if l := alice.must(200, "GET", "/v2.0/security-groups?tags=blue", "")["security_groups"].([]any); len(l) != 1 {
			t.Errorf("tagged groups %v", l)
		}
		up := alice.must(200, "PUT", "/v2.0/security-groups/"+webID, `{"security_group": {"name": "www", "stateful": false}}`)["security_group"].(map[string]any)
		if up["name"] != "www" || up["stateful"] != false {
			t.Errorf("updated %v", up)
		}
		if _, m := alice.do("PUT", "/v2.0/security-groups/"+defID, `{"security_group": {"name": "x"}}`); fault(m) != "SecurityGroupCannotUpdateDefault" {
			t.Errorf("renaming the default group: %v", m)
		}
		// Ports: the default group, port security, in-use groups.
		n := alice.must(201, "POST", "/v2.0/networks", `{"network": {"name": "n"}}`)["network"].(map[string]any)
		alice.must(201, "POST", "/v2.0/subnets", `{"subnet": {"network_id": "`+n["id"].(string)+`", "ip_version": 4, "cidr": "192.168.7.0/24"}}`)
		p := alice.must(201, "POST", "/v2.0/ports", `{"port": {"network_id": "`+n["id"].(string)+`"}}`)["port"].(map[string]any)
		if sg := p["security_groups"].([]any); len(sg) != 1 || sg[0] != defID {
			t.Errorf("port groups %v, want [%s]", sg, defID)
		}
		if _, m := bob.do("POST", "/v2.0/ports", `{"port": {"network_id": "`+n["id"].(string)+`", "security_groups": ["`+webID+`"]}}`); fault(m) != "NetworkNotFound" {
			t.Errorf("bob's port on alice's network: %v", m)
		}
		// (An admin may put another project's port in alice's group:
		// TestSecurityGroupsAdminOtherProject.)
		if _, m := alice.do("DELETE", "/v2.0/security-groups/"+defID, ""); fault(m) != "SecurityGroupInUse" {
			t.Errorf("alice deletes her default group in use: %v", m)
		}
		alice.must(200, "PUT", "/v2.0/ports/"+p["id"].(string), `{"port": {"security_groups": ["`+webID+`"]}}`)
		if _, m := alice.do("DELETE", "/v2.0/security-groups/"+defID, ""); fault(m) != "SecurityGroupCannotRemoveDefault" {
			t.Errorf("alice deletes her default group: %v", m)
		}
		if _, m := alice.do("DELETE", "/v2.0/security-groups/"+webID, ""); fault(m) != "SecurityGroupInUse" {
			t.Errorf("deleting a group in use: %v", m)
		}
		alice.must(204, "DELETE", "/v2.0/ports/"+p["id"].(string), "")
		alice.must(204, "DELETE", "/v2.0/security-group-rules/"+r["id"].(string), "")
		alice.must(404, "GET", "/v2.0/security-group-rules/"+r["id"].(string), "")
		alice.must(204, "DELETE", "/v2.0/security-groups/"+webID, "")
		admin.must(204, "DELETE", "/v2.0/security-groups/"+defID, "")
		exts := admin.must(200, "GET", "/v2.0/extensions", "")["extensions"].([]any)
		have := map[string]bool{}
		for _, e := range exts {
			have[e.(map[string]any)["alias"].(string)] = true
		}
		for _, a := range []string{"security-group", "stateful-security-group", "allowed-address-pairs", "security-groups-normalized-cidr"} {
			if !have[a] {
				t.Errorf("extension %s not advertised", a)
			}
		}
	})
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestSecurityGroupsAdminOtherProject: an admin works on another
// project's security groups as Neutron 2023.1 lets it: a group created
// for the project (its default group made first), rules added to it (a
// rule without project_id is the admin's own, as Neutron's API fills the
// caller's project in, and still shows in the group and to the group's
// owner), a remote group of a third project, ports of one project put in
// another's group (Neutron checks a port's groups against its project only
// for a caller who is not admin); the projects themselves still may not.
func TestSecurityGroupsAdminOtherProject(t *testing.T) {
	eachDB(t, func(t *testing.T, dbName, dbURL string) {
		ini := strings.Replace(apitest.ReferenceINI, "auth_strategy = noauth", "auth_strategy = keystone", 1)
		s := stack(t, dbName, dbURL, ini)
		srv := httptest.NewServer(s.Handler)
		defer srv.Close()
		admin := client{t: t, url: srv.URL, hdr: map[string]string{"X-User-Id": "u", "X-Project-Id": "a", "X-Roles": "admin"}}
		carol := admin.as(map[string]string{"X-User-Id": "u2", "X-Project-Id": "carol", "X-Roles": "member"})
		dave := admin.as(map[string]string{"X-User-Id": "u3", "X-Project-Id": "dave", "X-Roles": "member"})

		ops := admin.must(201, "POST", "/v2.0/security-groups", `{"security_group": {"name": "ops", "tenant_id": "carol"}}`)["security_group"].(map[string]any)
		opsID := ops["id"].(string)
		if ops["project_id"] != "carol" {
			t.Errorf("admin's group for carol: %v", ops)
		}
		// Carol's default group was made before her first group.
		groups := admin.must(200, "GET", "/v2.0/security-groups?project_id=carol", "")["security_groups"].([]any)
		var names []string
		for _, g := range groups {
			names = append(names, g.(map[string]any)["name"].(string))
		}
		if strings.Join(names, ",") != "default,ops" && strings.Join(names, ",") != "ops,default" {
			t.Errorf("carol's groups as the admin lists them: %v", names)
		}
		if l := carol.must(200, "GET", "/v2.0/security-groups", "")["security_groups"].([]any); len(l) != 2 {
			t.Errorf("carol sees %d groups, want default and ops", len(l))
		}
		admin.must(200, "GET", "/v2.0/security-groups/"+opsID, "")

		// A rule from the admin without project_id is the admin's.
		r := admin.must(201, "POST", "/v2.0/security-group-rules", `{"security_group_rule": {"security_group_id": "`+opsID+
			`", "direction": "ingress", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22}}`)["security_group_rule"].(map[string]any)
		rID := r["id"].(string)
		if r["project_id"] != "a" || r["security_group_id"] != opsID {
			t.Errorf("admin's rule in carol's group: %v", r)
		}
		// One with project_id is carol's.
		rc := admin.must(201, "POST", "/v2.0/security-group-rules", `{"security_group_rule": {"security_group_id": "`+opsID+
			`", "direction": "ingress", "protocol": "tcp", "port_range_min": 443, "port_range_max": 443, "project_id": "carol"}}`)["security_group_rule"].(map[string]any)
		if rc["project_id"] != "carol" {
			t.Errorf("admin's rule for carol: %v", rc)
		}
		// The group's owner sees both in her group, and reads the
		// admin's rule by id.
		g := carol.must(200, "GET", "/v2.0/security-groups/"+opsID, "")["security_group"].(map[string]any)
		inline := map[string]bool{}
		for _, x := range g["security_group_rules"].([]any) {
			inline[x.(map[string]any)["id"].(string)] = true
		}
		if !inline[rID] || !inline[rc["id"].(string)] {
			t.Errorf("carol's view of ops lacks the admin's rules: %v", g["security_group_rules"])
		}
		carol.must(200, "GET", "/v2.0/security-group-rules/"+rID, "")
		listed := map[string]bool{}
		for _, x := range carol.must(200, "GET", "/v2.0/security-group-rules", "")["security_group_rules"].([]any) {
			listed[x.(map[string]any)["id"].(string)] = true
		}
		if !listed[rID] || !listed[rc["id"].(string)] {
			t.Errorf("carol's rule listing lacks the rules of her group ops (%d listed)", len(listed))
		}
		// Another project sees neither.
		dave.must(404, "GET", "/v2.0/security-group-rules/"+rID, "")
		dave.must(404, "GET", "/v2.0/security-groups/"+opsID, "")

		// A remote group of a third project: the admin may, carol may not.
		daveGroup := dave.must(201, "POST", "/v2.0/security-groups", `{"security_group": {"name": "d"}}`)["security_group"].(map[string]any)["id"].(string)
		admin.must(201, "POST", "/v2.0/security-group-rules", `{"security_group_rule": {"security_group_id": "`+opsID+
			`", "direction": "ingress", "remote_group_id": "`+daveGroup+`"}}`)
		if _, m := carol.do("POST", "/v2.0/security-group-rules", `{"security_group_rule": {"security_group_id": "`+opsID+
			`", "direction": "egress", "remote_group_id": "`+daveGroup+`"}}`); fault(m) != "SecurityGroupNotFound" {
			t.Errorf("carol names dave's group as a remote group: %v", m)
		}

		// Ports: the admin may put dave's port in carol's group.
		n := admin.must(201, "POST", "/v2.0/networks", `{"network": {"name": "n", "shared": true}}`)["network"].(map[string]any)["id"].(string)
		admin.must(201, "POST", "/v2.0/subnets", `{"subnet": {"network_id": "`+n+`", "ip_version": 4, "cidr": "192.168.8.0/24"}}`)
		p := admin.must(201, "POST", "/v2.0/ports", `{"port": {"network_id": "`+n+`", "tenant_id": "dave", "security_groups": ["`+opsID+`"]}}`)["port"].(map[string]any)
		if sg := p["security_groups"].([]any); len(sg) != 1 || sg[0] != opsID || p["project_id"] != "dave" {
			t.Errorf("admin's port for dave in carol's group: %v", p)
		}
		if _, m := dave.do("POST", "/v2.0/ports", `{"port": {"network_id": "`+n+`", "security_groups": ["`+opsID+`"]}}`); fault(m) != "SecurityGroupNotFound" {
			t.Errorf("dave puts his own port in carol's group: %v", m)
		}
		own := dave.must(201, "POST", "/v2.0/ports", `{"port": {"network_id": "`+n+`"}}`)["port"].(map[string]any)["id"].(string)
		if _, m := dave.do("PUT", "/v2.0/ports/"+own, `{"port": {"security_groups": ["`+opsID+`"]}}`); fault(m) != "SecurityGroupNotFound" {
			t.Errorf("dave moves his port into carol's group: %v", m)
		}
		admin.must(200, "PUT", "/v2.0/ports/"+own, `{"port": {"security_groups": ["`+opsID+`", "`+daveGroup+`"]}}`)
		// In use by dave's ports, carol's group stays.
		if _, m := carol.do("DELETE", "/v2.0/security-groups/"+opsID, ""); fault(m) != "SecurityGroupInUse" {
			t.Errorf("carol deletes ops while dave's ports are in it: %v", m)
		}
		admin.must(204, "DELETE", "/v2.0/security-group-rules/"+rID, "")
		carol.must(404, "GET", "/v2.0/security-group-rules/"+rID, "")
	})
}
