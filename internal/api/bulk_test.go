package api_test

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"neutrino/internal/api/apitest"
)

// TestBulkCreate: {"networks": [...]}, {"subnets": [...]}, {"ports": [...]}
// create every item in order and answer 201 with the collection, as
// Neutron; a failing item (or one policy refuses) answers that item's
// fault and creates nothing, on every database.
func TestBulkCreate(t *testing.T) {
	ini := strings.Replace(apitest.ReferenceINI, "auth_strategy = noauth", "auth_strategy = keystone", 1)
	eachDB(t, func(t *testing.T, db, admin string) {
		s := stack(t, db, admin, ini)
		srv := httptest.NewServer(s.Handler)
		defer srv.Close()
		a := client{t: t, url: srv.URL, hdr: map[string]string{"X-User-Id": "u", "X-Project-Id": "a", "X-Roles": "admin"}}
		b := a.as(map[string]string{"X-User-Id": "ub", "X-Project-Id": "b", "X-Roles": "member"})
		count := func(coll string) int {
			return len(a.must(200, "GET", "/v2.0/"+coll, "")[coll].([]any))
		}

		nets := b.must(201, "POST", "/v2.0/networks", `{"networks": [{"name": "n1"}, {"network": {"name": "n2", "admin_state_up": false}}]}`)["networks"].([]any)
		if len(nets) != 2 {
			t.Fatalf("networks: %v", nets)
		}
		n1, n2 := nets[0].(map[string]any), nets[1].(map[string]any)
		if n1["name"] != "n1" || n2["name"] != "n2" || n2["admin_state_up"] != false || n1["project_id"] != "b" || n1["status"] != "ACTIVE" {
			t.Fatalf("networks: %v", nets)
		}
		if _, ok := n1["provider:network_type"]; ok {
			t.Errorf("a project sees provider attributes in a bulk response: %v", n1)
		}
		// A project may not set admin-only attributes on any item:
		// the policy fault, and neither network exists.
		b.must(403, "POST", "/v2.0/networks", `{"networks": [{"name": "x"}, {"name": "y", "shared": true}]}`)
		if n := count("networks"); n != 2 {
			t.Fatalf("%d networks after a refused bulk, want 2", n)
		}

		subs := b.must(201, "POST", "/v2.0/subnets", fmt.Sprintf(`{"subnets": [
			{"network_id": %q, "cidr": "10.1.0.0/24", "ip_version": 4, "name": "s1"},
			{"network_id": %q, "cidr": "2001:db8:1::/64", "ip_version": 6, "name": "s2"}]}`, n1["id"], n1["id"]))["subnets"].([]any)
		if len(subs) != 2 || subs[0].(map[string]any)["name"] != "s1" || subs[1].(map[string]any)["gateway_ip"] != "2001:db8:1::1" {
			t.Fatalf("subnets: %v", subs)
		}
		s1 := subs[0].(map[string]any)["id"].(string)
		// The second item overlaps the first: Neutron's 400, nothing made.
		m := b.must(400, "POST", "/v2.0/subnets", fmt.Sprintf(`{"subnets": [
			{"network_id": %q, "cidr": "10.2.0.0/24", "ip_version": 4},
			{"network_id": %q, "cidr": "10.2.0.0/25", "ip_version": 4}]}`, n2["id"], n2["id"]))
		if m["NeutronError"].(map[string]any)["type"] != "InvalidInput" {
			t.Fatalf("overlap in a bulk: %v", m)
		}
		if n := count("subnets"); n != 2 {
			t.Fatalf("%d subnets after a failed bulk, want 2", n)
		}

		ports := b.must(201, "POST", "/v2.0/ports", fmt.Sprintf(`{"ports": [
			{"network_id": %q, "name": "p1"},
			{"network_id": %q, "name": "p2", "fixed_ips": [{"subnet_id": %q, "ip_address": "10.1.0.99"}]},
			{"network_id": %q, "name": "p3", "tags": ["t"]}]}`, n1["id"], n1["id"], s1, n1["id"]))["ports"].([]any)
		if len(ports) != 3 {
			t.Fatalf("ports: %v", ports)
		}
		seen := map[string]bool{}
		for i, p := range ports {
			pm := p.(map[string]any)
			if pm["name"] != fmt.Sprintf("p%d", i+1) {
				t.Fatalf("port %d out of order: %v", i, pm)
			}
			for _, f := range pm["fixed_ips"].([]any) {
				ip := f.(map[string]any)["ip_address"].(string)
				if seen[ip] {
					t.Fatalf("%s given twice in one bulk: %v", ip, ports)
				}
				seen[ip] = true
			}
		}
		if !seen["10.1.0.99"] || len(ports[2].(map[string]any)["tags"].([]any)) != 1 {
			t.Fatalf("ports: %v", ports)
		}
		// The last item wants an address the first item takes.
		m = b.must(409, "POST", "/v2.0/ports", fmt.Sprintf(`{"ports": [
			{"network_id": %q, "fixed_ips": [{"ip_address": "10.1.0.77"}]},
			{"network_id": %q},
			{"network_id": %q, "fixed_ips": [{"ip_address": "10.1.0.77"}]}]}`, n1["id"], n1["id"], n1["id"]))
		if m["NeutronError"].(map[string]any)["type"] != "IpAddressAlreadyAllocated" {
			t.Fatalf("duplicate address in a bulk: %v", m)
		}
		// An item on a network that does not exist.
		b.must(404, "POST", "/v2.0/ports", fmt.Sprintf(`{"ports": [{"network_id": %q}, {"network_id": "66071814-169c-40ef-8c42-bb627a18b8dd"}]}`, n1["id"]))
		if n := count("ports"); n != 3 {
			t.Fatalf("%d ports after failed bulks, want 3", n)
		}
		b.must(400, "POST", "/v2.0/ports", `{"ports": []}`)
	})
}
