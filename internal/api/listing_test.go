package api_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"neutrino/internal/api/apitest"
)

// TestServiceProvidersAndIPSubstring: the service-type and
// ip-substring-filtering extensions as Tempest uses them
// (test_service_providers_list, test_port_list_filter_by_ip_substr), on
// every database (the substring is a SQL LIKE).
func TestServiceProvidersAndIPSubstring(t *testing.T) {
	eachDB(t, func(t *testing.T, dbName, dbURL string) {
		ini := strings.Replace(apitest.ReferenceINI, "auth_strategy = noauth", "auth_strategy = keystone", 1)
		s := stack(t, dbName, dbURL, ini)
		srv := httptest.NewServer(s.Handler)
		defer srv.Close()
		alice := client{t: t, url: srv.URL, hdr: map[string]string{"X-User-Id": "u", "X-Project-Id": "alice", "X-Roles": "member"}}

		aliases := map[any]bool{}
		for _, e := range alice.must(200, "GET", "/v2.0/extensions", "")["extensions"].([]any) {
			aliases[e.(map[string]any)["alias"]] = true
		}
		if !aliases["service-type"] || !aliases["ip-substring-filtering"] {
			t.Fatalf("extensions: %v", aliases)
		}
		sp := alice.must(200, "GET", "/v2.0/service-providers", "")["service_providers"].([]any)
		if len(sp) != 1 || sp[0].(map[string]any)["service_type"] != "L3_ROUTER_NAT" || sp[0].(map[string]any)["name"] != "single_node" {
			t.Fatalf("service providers: %v", sp)
		}
		sp = alice.must(200, "GET", "/v2.0/service-providers?fields=name", "")["service_providers"].([]any)
		if len(sp) != 1 || len(sp[0].(map[string]any)) != 1 || sp[0].(map[string]any)["name"] != "single_node" {
			t.Fatalf("service providers, fields=name: %v", sp)
		}
		sp = alice.must(200, "GET", "/v2.0/service-providers?fields=name&fields=service_type", "")["service_providers"].([]any)
		if len(sp) != 1 || len(sp[0].(map[string]any)) != 2 || sp[0].(map[string]any)["service_type"] != "L3_ROUTER_NAT" {
			t.Fatalf("service providers, two fields: %v", sp)
		}
		if code, body := alice.do("POST", "/v2.0/service-providers", `{}`); code != 405 {
			t.Fatalf("POST service-providers: %d %v", code, body)
		}

		net := alice.must(201, "POST", "/v2.0/networks", `{"network": {}}`)["network"].(map[string]any)["id"].(string)
		sub := alice.must(201, "POST", "/v2.0/subnets", `{"subnet": {"network_id": "`+net+`", "cidr": "10.9.0.0/24", "ip_version": 4}}`)["subnet"].(map[string]any)["id"].(string)
		port := func(ip string) string {
			return alice.must(201, "POST", "/v2.0/ports", `{"port": {"network_id": "`+net+`", "fixed_ips": [{"subnet_id": "`+sub+`", "ip_address": "`+ip+`"}]}}`)["port"].(map[string]any)["id"].(string)
		}
		p19, p28 := port("10.9.0.19"), port("10.9.0.28")
		list := func(q string) []string {
			var ids []string
			for _, p := range alice.must(200, "GET", "/v2.0/ports?"+q, "")["ports"].([]any) {
				ids = append(ids, p.(map[string]any)["id"].(string))
			}
			return ids
		}
		if got := list("fixed_ips=ip_address_substr%3D10.9.0.1"); len(got) != 1 || got[0] != p19 {
			t.Fatalf("substr 10.9.0.1: %v (want %s)", got, p19)
		}
		if got := list("fixed_ips=ip_address_substr%3D10.9.0."); len(got) != 2 {
			t.Fatalf("substr 10.9.0.: %v", got)
		}
		if got := list("fixed_ips=ip_address_substr%3D.28&network_id=" + net); len(got) != 1 || got[0] != p28 {
			t.Fatalf("substr .28: %v (want %s)", got, p28)
		}
	})
}
