package api_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"neutrino/internal/api/apitest"
	"neutrino/internal/sharedtest"
)

// recorded returns the response body of a recorded Neutron exchange.
func recorded(t *testing.T, folder, file string) map[string]any {
	t.Helper()
	dir := sharedtest.Path(t, "NEUTRINO_CONFORMANCE", "conformance/neutron-api")
	b, err := os.ReadFile(filepath.Join(dir, folder, file))
	if err != nil {
		t.Fatal(err)
	}
	var x struct {
		ResponseBody map[string]any `json:"response_body"`
	}
	if err := json.Unmarshal(b, &x); err != nil {
		t.Fatal(err)
	}
	return x.ResponseBody
}

// sameShape reports where got and want differ in keys or JSON types.
func sameShape(path string, got, want any) error {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: %T, want an object", path, got)
		}
		if !reflect.DeepEqual(sortedKeys(g), sortedKeys(w)) {
			return fmt.Errorf("%s: keys %v, want %v", path, sortedKeys(g), sortedKeys(w))
		}
		for k := range w {
			if err := sameShape(path+"."+k, g[k], w[k]); err != nil {
				return err
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Errorf("%s: %v, want %d items", path, got, len(w))
		}
		for i := range w {
			if err := sameShape(fmt.Sprintf("%s[%d]", path, i), g[i], w[i]); err != nil {
				return err
			}
		}
	default:
		if reflect.TypeOf(got) != reflect.TypeOf(want) {
			return fmt.Errorf("%s: %T %v, want %T", path, got, got, want)
		}
	}
	return nil
}

func faultType(m map[string]any) string {
	ne, _ := m["NeutronError"].(map[string]any)
	s, _ := ne["type"].(string)
	return s
}

// TestQuotasAPI: the quotas and quota_details extensions as Neutron
// 2023.1 with its default policy (admin manages, a project reads its
// own), and OverQuota on creates, on every database.
func TestQuotasAPI(t *testing.T) {
	ini := strings.Replace(apitest.ReferenceINI, "auth_strategy = noauth", "auth_strategy = keystone", 1)
	defaults := recorded(t, "later", "83-quotas-show-tenant.json")["quota"].(map[string]any)
	eachDB(t, func(t *testing.T, db, admin string) {
		s := stack(t, db, admin, ini)
		srv := httptest.NewServer(s.Handler)
		defer srv.Close()
		a := client{t: t, url: srv.URL, hdr: map[string]string{"X-User-Id": "u", "X-Project-Id": "a", "X-Roles": "admin"}}
		b := a.as(map[string]string{"X-User-Id": "ub", "X-Project-Id": "b", "X-Roles": "member,reader"})

		// A project reads its own quotas: Neutron's defaults, the
		// recorded body.
		got := b.must(200, "GET", "/v2.0/quotas/b", "")["quota"]
		if !reflect.DeepEqual(got, defaults) {
			t.Fatalf("quotas of a new project: %v, want %v", got, defaults)
		}
		if got := b.must(200, "GET", "/v2.0/quotas/b/default", "")["quota"]; !reflect.DeepEqual(got, defaults) {
			t.Fatalf("defaults: %v", got)
		}
		if got := b.must(200, "GET", "/v2.0/quotas/tenant", ""); !reflect.DeepEqual(got, map[string]any{"tenant": map[string]any{"tenant_id": "b"}}) {
			t.Fatalf("quotas/tenant: %v", got)
		}
		// Only admins read others' quotas, list them or change them.
		for _, c := range []struct{ method, path, body, fault string }{
			{"GET", "/v2.0/quotas/a", "", "PolicyNotAuthorized"},
			{"GET", "/v2.0/quotas", "", "PolicyNotAuthorized"},
			{"GET", "/v2.0/quotas/a/details", "", "AdminRequired"},
			{"PUT", "/v2.0/quotas/b", `{"quota": {"network": 50}}`, "PolicyNotAuthorized"},
			{"DELETE", "/v2.0/quotas/b", "", "PolicyNotAuthorized"},
		} {
			if m := b.must(403, c.method, c.path, c.body); faultType(m) != c.fault {
				t.Errorf("%s %s: %v, want %s", c.method, c.path, m, c.fault)
			}
		}
		if l := a.must(200, "GET", "/v2.0/quotas", "")["quotas"].([]any); len(l) != 0 {
			t.Fatalf("projects with own quotas before any: %v", l)
		}
		// Bad bodies: Neutron's 400s, nothing changed.
		for body, want := range map[string]string{
			`{"quota": {"bogus": 1, "network": 2}}`: "Unrecognized attribute(s) 'bogus'",
			`{"quota": {"network": -2}}`:            "Invalid input for network. Reason: '-2' is too small - must be at least '-1'.",
			`{"quota": {"port": "many"}}`:           "Invalid input for operation: 'many' is not an integer.",
			`{"quotas": {"port": 1}}`:               "Unable to find 'quota' in request body",
		} {
			m := a.must(400, "PUT", "/v2.0/quotas/b", body)
			if msg := m["NeutronError"].(map[string]any)["message"]; msg != want {
				t.Errorf("%s: %q, want %q", body, msg, want)
			}
		}
		q := a.must(200, "PUT", "/v2.0/quotas/b", `{"quota": {"network": 1, "port": "3", "force": true}}`)["quota"].(map[string]any)
		if q["network"] != float64(1) || q["port"] != float64(3) || q["subnet"] != float64(100) || len(q) != len(defaults) {
			t.Fatalf("after PUT: %v", q)
		}
		l := a.must(200, "GET", "/v2.0/quotas", "")["quotas"].([]any)
		if len(l) != 1 || l[0].(map[string]any)["project_id"] != "b" || l[0].(map[string]any)["tenant_id"] != "b" || l[0].(map[string]any)["network"] != float64(1) {
			t.Fatalf("quotas list: %v", l)
		}

		// Enforcement: the second network and a bulk beyond the
		// port limit are 409 OverQuota with Neutron's message.
		n := b.must(201, "POST", "/v2.0/networks", `{"network": {"name": "n"}}`)["network"].(map[string]any)
		m := b.must(409, "POST", "/v2.0/networks", `{"network": {"name": "n2"}}`)
		if faultType(m) != "OverQuota" || m["NeutronError"].(map[string]any)["message"] != "Quota exceeded for resources: ['network']." {
			t.Fatalf("second network: %v", m)
		}
		net := n["id"].(string)
		b.must(201, "POST", "/v2.0/subnets", `{"subnet": {"network_id": "`+net+`", "cidr": "10.0.0.0/24", "ip_version": 4}}`)
		b.must(201, "POST", "/v2.0/ports", `{"ports": [{"network_id": "`+net+`"}, {"network_id": "`+net+`"}]}`)
		if m := b.must(409, "POST", "/v2.0/ports", `{"ports": [{"network_id": "`+net+`"}, {"network_id": "`+net+`"}]}`); faultType(m) != "OverQuota" {
			t.Fatalf("bulk beyond the limit: %v", m)
		}
		d := b.must(200, "GET", "/v2.0/quotas/b/details", "")["quota"].(map[string]any)
		want := map[string]any{"limit": float64(3), "used": float64(2), "reserved": float64(0)}
		if !reflect.DeepEqual(d["port"], want) || d["network"].(map[string]any)["used"] != float64(1) || len(d) != len(defaults) {
			t.Fatalf("details: %v", d)
		}
		// check_limit refuses a limit below use; force does not check.
		if m := a.must(400, "PUT", "/v2.0/quotas/b", `{"quota": {"port": 1, "check_limit": true}}`); !strings.Contains(m["NeutronError"].(map[string]any)["message"].(string), "must be greater than or equal to already used 2") {
			t.Fatalf("check_limit: %v", m)
		}
		a.must(200, "PUT", "/v2.0/quotas/b", `{"quota": {"port": 1, "force": true}}`)

		a.must(204, "DELETE", "/v2.0/quotas/b", "")
		if m := a.must(404, "DELETE", "/v2.0/quotas/b", ""); faultType(m) != "TenantQuotaNotFound" {
			t.Fatalf("second delete: %v", m)
		}
		if got := a.must(200, "GET", "/v2.0/quotas/b", "")["quota"]; !reflect.DeepEqual(got, defaults) {
			t.Fatalf("after delete: %v", got)
		}
		b.must(201, "POST", "/v2.0/networks", `{"network": {"name": "n2"}}`)
	})
}

// TestNetworkIPAvailabilityAPI: the recorded shape (later/84), admin only
// (others see nothing), filters and fields.
func TestNetworkIPAvailabilityAPI(t *testing.T) {
	ini := strings.Replace(apitest.ReferenceINI, "auth_strategy = noauth", "auth_strategy = keystone", 1)
	want := recorded(t, "later", "84-network-ip-availability.json")
	s := stack(t, "sqlite", "", ini)
	srv := httptest.NewServer(s.Handler)
	defer srv.Close()
	a := client{t: t, url: srv.URL, hdr: map[string]string{"X-User-Id": "u", "X-Project-Id": "a", "X-Roles": "admin"}}
	b := a.as(map[string]string{"X-User-Id": "ub", "X-Project-Id": "b", "X-Roles": "member,reader"})

	// The recording's network: one /24 subnet, four addresses in use.
	n := b.must(201, "POST", "/v2.0/networks", `{"network": {"name": "net-tenant-renamed"}}`)["network"].(map[string]any)
	net := n["id"].(string)
	sub := b.must(201, "POST", "/v2.0/subnets", `{"subnet": {"name": "sub-tenant", "network_id": "`+net+`", "cidr": "192.168.1.0/24", "ip_version": 4}}`)["subnet"].(map[string]any)
	b.must(201, "POST", "/v2.0/ports", `{"ports": [{"network_id": "`+net+`"}, {"network_id": "`+net+`"}, {"network_id": "`+net+`"}, {"network_id": "`+net+`"}]}`)
	other := a.must(201, "POST", "/v2.0/networks", `{"network": {"name": "empty"}}`)["network"].(map[string]any)

	got := a.must(200, "GET", "/v2.0/network-ip-availabilities/"+net, "")
	if err := sameShape("", got, want); err != nil {
		t.Fatal(err)
	}
	g := got["network_ip_availability"].(map[string]any)
	sn := g["subnet_ip_availability"].([]any)[0].(map[string]any)
	if g["used_ips"] != float64(4) || g["total_ips"] != float64(253) || g["network_name"] != "net-tenant-renamed" || g["project_id"] != "b" ||
		sn["subnet_id"] != sub["id"] || sn["cidr"] != "192.168.1.0/24" || sn["used_ips"] != float64(4) || sn["total_ips"] != float64(253) || sn["subnet_name"] != "sub-tenant" {
		t.Fatalf("availability: %v", got)
	}
	l := a.must(200, "GET", "/v2.0/network-ip-availabilities", "")["network_ip_availabilities"].([]any)
	if len(l) != 2 {
		t.Fatalf("list: %v", l)
	}
	l = a.must(200, "GET", "/v2.0/network-ip-availabilities?ip_version=4&fields=network_id&fields=used_ips", "")["network_ip_availabilities"].([]any)
	if len(l) != 1 || !reflect.DeepEqual(l[0], map[string]any{"network_id": net, "used_ips": float64(4)}) {
		t.Fatalf("ip_version=4 with fields: %v", l)
	}
	if l := a.must(200, "GET", "/v2.0/network-ip-availabilities?network_name=empty", "")["network_ip_availabilities"].([]any); len(l) != 1 || l[0].(map[string]any)["network_id"] != other["id"] {
		t.Fatalf("network_name filter: %v", l)
	}
	a.must(400, "GET", "/v2.0/network-ip-availabilities?bogus=1", "")
	a.must(404, "GET", "/v2.0/network-ip-availabilities/66071814-169c-40ef-8c42-bb627a18b8dd", "")
	a.must(405, "DELETE", "/v2.0/network-ip-availabilities/"+net, "")
	// Not for projects: an empty list, and 404 for their own network.
	if l := b.must(200, "GET", "/v2.0/network-ip-availabilities", "")["network_ip_availabilities"].([]any); len(l) != 0 {
		t.Fatalf("a project sees %v", l)
	}
	b.must(404, "GET", "/v2.0/network-ip-availabilities/"+net, "")

	exts := a.must(200, "GET", "/v2.0/extensions", "")["extensions"].([]any)
	var aliases []string
	for _, e := range exts {
		aliases = append(aliases, e.(map[string]any)["alias"].(string))
	}
	sort.Strings(aliases)
	for _, w := range []string{"network-ip-availability", "quota-check-limit", "quota_details", "quotas"} {
		if i := sort.SearchStrings(aliases, w); i == len(aliases) || aliases[i] != w {
			t.Errorf("extensions %v lack %s", aliases, w)
		}
	}
}
