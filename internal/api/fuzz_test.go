package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"neutrino/internal/api/apitest"
	"neutrino/internal/neutron"
)

var fuzzMethods = []string{"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"}

// fuzzDB is the database FuzzAPI runs on: NEUTRINO_FUZZ_DB = sqlite
// (default), postgres or mysql (the latter two need `make test`'s servers,
// NEUTRINO_TEST_POSTGRES / NEUTRINO_TEST_MYSQL).
func fuzzDB() string {
	if d := os.Getenv("NEUTRINO_FUZZ_DB"); d != "" {
		return d
	}
	return "sqlite"
}

// fixtures are resources the harness keeps alive so that fuzzed paths
// and bodies can name them: "{net}", "{subnet}" and "{port}" in the path,
// query or body are replaced by their ids.
type fixtures struct {
	s                 *apitest.Stack
	net, subnet, port string
	runs              int
}

func (fx *fixtures) ensure(t testing.TB) {
	ctx := context.Background()
	do := func(method, path, body string) map[string]any {
		status, m := serve(t, fx.s.Handler, method, path, body, nil)
		if status != http.StatusCreated {
			t.Fatalf("fixture %s %s: %d %v", method, path, status, m)
		}
		for _, v := range m {
			return v.(map[string]any)
		}
		return nil
	}
	if _, err := fx.s.Plugin.GetNetwork(ctx, fx.net); fx.net == "" || err != nil {
		fx.net = do("POST", "/v2.0/networks", `{"network": {"name": "fx"}}`)["id"].(string)
		fx.subnet, fx.port = "", ""
	}
	if _, err := fx.s.Plugin.GetSubnet(ctx, fx.subnet); fx.subnet == "" || err != nil {
		// A CIDR nothing else is likely to take on this network.
		fx.subnet = do("POST", "/v2.0/subnets", `{"subnet": {"network_id": "`+fx.net+`", "ip_version": 4, "cidr": "198.51.100.0/24"}}`)["id"].(string)
	}
	if _, err := fx.s.Plugin.GetPort(ctx, fx.port); fx.port == "" || err != nil {
		fx.port = do("POST", "/v2.0/ports", `{"port": {"network_id": "`+fx.net+`", "device_id": "vm-fx"}}`)["id"].(string)
	}
}

func (fx *fixtures) expand(s string) string {
	return strings.NewReplacer("{net}", fx.net, "{subnet}", fx.subnet, "{port}", fx.port).Replace(s)
}

// purge deletes everything but the fixtures when the database has grown
// (so pools never run dry and each request stays cheap).
func (fx *fixtures) purge(t testing.TB) {
	if fx.runs++; fx.runs%50 != 0 {
		return
	}
	ctx := context.Background()
	nets, err := fx.s.Plugin.ListNetworks(ctx, neutron.ListQuery{})
	if err != nil || len(nets) < 200 {
		return
	}
	ports, _ := fx.s.Plugin.ListPorts(ctx, neutron.ListQuery{})
	for _, p := range ports {
		if p.ID != fx.port {
			if err := fx.s.Plugin.DeletePort(ctx, p.ID); err != nil {
				t.Fatalf("purge port %s: %v", p.ID, err)
			}
		}
	}
	for _, n := range nets {
		if n.ID != fx.net {
			if err := fx.s.Plugin.DeleteNetwork(ctx, n.ID); err != nil {
				t.Fatalf("purge network %s: %v", n.ID, err)
			}
		}
	}
}

var uuidInPath = regexp.MustCompile(`(networks|subnets|ports)/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
var uuidInBody = regexp.MustCompile(`"(network_id|subnet_id|device_id)": *"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"`)

// placeholders turns the reference ids of a recorded exchange into the
// fixtures' placeholders, so that a seed reaches existing resources.
func placeholders(s string) string {
	s = uuidInPath.ReplaceAllStringFunc(s, func(m string) string {
		kind, _, _ := strings.Cut(m, "/")
		return kind + "/" + map[string]string{"networks": "{net}", "subnets": "{subnet}", "ports": "{port}"}[kind]
	})
	return uuidInBody.ReplaceAllStringFunc(s, func(m string) string {
		key := m[1 : strings.Index(m[1:], `"`)+1]
		return `"` + key + `": "` + map[string]string{"network_id": "{net}", "subnet_id": "{subnet}", "device_id": "{port}"}[key] + `"`
	})
}

// fuzzSeeds: every recorded request of the conformance folders, and the
// hostile requests of issue 10.
func fuzzSeeds(f *testing.F) {
	dir := conformanceDir(f)
	files, _ := filepath.Glob(filepath.Join(dir, "*", "*.json"))
	sort.Strings(files)
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		var x exchange
		if err := json.Unmarshal(b, &x); err != nil {
			f.Fatalf("%s: %v", file, err)
		}
		body := ""
		if len(x.RequestBody) > 0 && string(x.RequestBody) != "null" {
			var s string
			if json.Unmarshal(x.RequestBody, &s) == nil {
				body = s
			} else {
				body = string(x.RequestBody)
			}
		}
		path, query, _ := strings.Cut(placeholders(x.Path), "?")
		f.Add(uint8(indexOf(fuzzMethods, x.Method)), path, query, placeholders(body), true)
		f.Add(uint8(indexOf(fuzzMethods, x.Method)), path, query, placeholders(body), false)
	}
	for _, s := range []struct {
		m          uint8
		path, q, b string
	}{
		{0, "/v2.0/networks", "name=%00", ""},
		{0, "/v2.0/networks/%00", "", ""},
		{0, "/v2.0/ports", "device_id=%G0", ""},
		{0, "/v2.0/networks", "sort_key=name", ""},
		{1, "/v2.0/networks", "", `{"network": {"provider:network_type": "vxlan", "provider:segmentation_id": 0}}`},
		{1, "/v2.0/networks", "", `{"network": {"name": "` + strings.Repeat("é", 255) + `"}}`},
		{1, "/v2.0/subnets", "", `{"subnet": {"network_id": "{net}", "ip_version": 4, "cidr": "10.0.0.0/31"}}`},
		{1, "/v2.0/subnets", "", `{"subnet": {"network_id": "{net}", "ip_version": 6, "cidr": "2001:db8::/64", "ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac"}}`},
		{1, "/v2.0/ports", "", `{"port": {"network_id": "{net}", "fixed_ips": [{"subnet_id": "{subnet}", "ip_address": "198.51.100.7"}]}}`},
		{2, "/v2.0/ports/{port}", "", `{"port": {"fixed_ips": [{"subnet_id": "{subnet}"}, {"subnet_id": "{subnet}"}]}}`},
		{2, "/v2.0/networks/{net}/tags", "", `{"tags": ["a", "b"]}`},
		{3, "/v2.0/subnets/{subnet}", "", ""},
		{3, "/v2.0/networks/{net}", "", ""},
		{2, "/v2.0/subnets/{subnet}", "", `{"subnet": {"allocation_pools": [{"start": "198.51.100.100", "end": "198.51.100.110"}], "gateway_ip": "198.51.100.254", "enable_dhcp": false}}`},
		{2, "/v2.0/subnets/{subnet}", "", `{"subnet": {"dns_nameservers": ["198.51.100.53"], "host_routes": [{"destination": "203.0.113.0/24", "nexthop": "198.51.100.1"}]}}`},
		{2, "/v2.0/ports/{port}", "", `{"port": {"mac_address": "fa:16:3e:00:00:01", "binding:host_id": "node-1", "device_owner": "compute:nova", "allowed_address_pairs": [{"ip_address": "198.51.100.0/28"}]}}`},
		{2, "/v2.0/ports/{port}", "", `{"port": {"fixed_ips": []}}`},
		{1, "/v2.0/subnets", "", `{"subnet": {"network_id": "{net}", "ip_version": 6, "cidr": "2001:db8:1::/64", "ipv6_address_mode": "slaac"}}`},
		{1, "/v2.0/networks", "", `{"network": {"segments": [{"provider:network_type": "vlan", "provider:physical_network": "physnet1"}, {"provider:network_type": "vxlan"}]}}`},
		{2, "/v2.0/networks/{net}", "", `{"network": {"provider:segmentation_id": 150, "mtu": 1400, "shared": true}}`},
		{1, "/v2.0/networks", "", `{"network": {"provider:network_type": "gre", "provider:segmentation_id": 7}}`},
		{2, "/v2.0/networks/{net}/tags/red", "", ""},
		{3, "/v2.0/networks/{net}/tags", "", ""},
		{0, "/v2.0/ports", "fixed_ips=ip_address%3D198.51.100.7&fields=id&sort_key=mac_address&sort_dir=desc&limit=2&marker={port}", ""},
		{0, "/v2.0/networks", "tags-any=red,blue&not-tags=x&shared=true&page_reverse=true&limit=1", ""},
	} {
		f.Add(s.m, s.path, s.q, s.b, true)
	}
}

func indexOf(l []string, s string) int {
	for i, x := range l {
		if x == s {
			return i
		}
	}
	return 0
}

// FuzzAPI sends arbitrary method, path, query and body through the real
// handler on a real database and requires: no 5xx (except Neutron's own
// 503 NoNetworkAvailable when a pool is empty), every 4xx a NeutronError
// body, and the database consistent afterwards (apitest.CheckConsistency).
// A URL the net/http server itself refuses (url.ParseRequestURI fails)
// never reaches the handler and is skipped.
func FuzzAPI(f *testing.F) {
	db := fuzzDB()
	adminURL, ok := backends(f)[db]
	if !ok {
		f.Fatalf("NEUTRINO_FUZZ_DB=%q: want sqlite, postgres or mysql", db)
	}
	s := stack(f, db, adminURL, inputINI)
	fx := &fixtures{s: s}
	fx.ensure(f)
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, m uint8, path, query, body string, admin bool) {
		method := fuzzMethods[int(m)%len(fuzzMethods)]
		target := fx.expand(path)
		if query != "" {
			target += "?" + fx.expand(query)
		}
		if !strings.HasPrefix(target, "/") {
			return
		}
		if _, err := url.ParseRequestURI(target); err != nil {
			return
		}
		req, err := http.NewRequest(method, "http://neutrino"+target, strings.NewReader(fx.expand(body)))
		if err != nil {
			return
		}
		req.RequestURI = target
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-User-Id", "fuzzer")
		if admin {
			req.Header.Set("X-Project-Id", "p-admin")
			req.Header.Set("X-Roles", "admin")
		} else {
			req.Header.Set("X-Project-Id", "p-member")
			req.Header.Set("X-Roles", "member")
		}
		rec := httptest.NewRecorder()
		s.Handler.ServeHTTP(rec, req)
		what := fmt.Sprintf("%s %q body %q (admin %v)", method, target, fx.expand(body), admin)
		if err := checkAnswer(rec); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if err := apitest.CheckConsistency(context.Background(), s.Store); err != nil {
			t.Fatalf("after %s: database inconsistent:\n%v", what, err)
		}
		fx.purge(t)
		fx.ensure(t)
	})
}

// checkAnswer applies FuzzAPI's rules to one response.
func checkAnswer(rec *httptest.ResponseRecorder) error {
	if rec.Code < 400 {
		return nil
	}
	var f struct {
		NeutronError *struct {
			Type    *string `json:"type"`
			Message *string `json:"message"`
			Detail  *string `json:"detail"`
		}
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &f); err != nil || f.NeutronError == nil ||
		f.NeutronError.Type == nil || *f.NeutronError.Type == "" || f.NeutronError.Message == nil || f.NeutronError.Detail == nil {
		return fmt.Errorf("status %d without a NeutronError body: %q", rec.Code, rec.Body.String())
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		return fmt.Errorf("status %d with Content-Type %q", rec.Code, ct)
	}
	if rec.Code >= 500 && !(rec.Code == http.StatusServiceUnavailable && *f.NeutronError.Type == "NoNetworkAvailable") {
		return fmt.Errorf("status %d: %s: %s", rec.Code, *f.NeutronError.Type, *f.NeutronError.Message)
	}
	return nil
}
