package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"neutrino/internal/api/apitest"
)

// backends are the databases the replay runs on: SQLite always, and the
// shared PostgreSQL/MariaDB when `make test` exported their URLs.
func backends(t testing.TB) map[string]string {
	return map[string]string{
		"sqlite":   "",
		"postgres": os.Getenv("NEUTRINO_TEST_POSTGRES"),
		"mysql":    os.Getenv("NEUTRINO_TEST_MYSQL"),
	}
}

func stack(t testing.TB, dbName, adminURL, ini string) *apitest.Stack {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	dbURL := ""
	if dbName != "sqlite" {
		if adminURL == "" {
			t.Fatalf("%s: NEUTRINO_TEST_%s is not set; run `make test` (it starts the test databases)", dbName, map[string]string{"postgres": "POSTGRES", "mysql": "MYSQL"}[dbName])
		}
		u, drop, err := apitest.FreshDatabase(ctx, adminURL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(drop)
		dbURL = u
	}
	cfg, err := apitest.LoadConfig(dir, ini)
	if err != nil {
		t.Fatal(err)
	}
	s, err := apitest.NewStack(ctx, dir, dbURL, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// Recordings that are not in the folders but whose effects later ones
// show: a network made before the recording session (noauth/09 lists it)
// and the subnet of the missing noauth/46 (listed in 47, renamed in 48).
func noauthPrelude(r *replayer) map[string]func() {
	return map[string]func(){
		"01-root.json": func() {
			r.post("/v2.0/networks", `{"network": {"name": "net-noheaders"}}`, "fe6ff074-4492-403c-9280-8dab3264c5f7", nil)
		},
		"47-subnet-list-filter-network.json": func() {
			r.post("/v2.0/subnets", `{"subnet": {"network_id": "66071814-169c-40ef-8c42-bb627a18b8dd", "cidr": "10.20.0.0/24", "ip_version": 4,
				"project_id": "b0000000000000000000000000000002", "gateway_ip": null, "enable_dhcp": false,
				"allocation_pools": [{"start": "10.20.0.10", "end": "10.20.0.20"}],
				"host_routes": [{"destination": "10.30.0.0/24", "nexthop": "10.20.0.1"}],
				"dns_nameservers": ["10.20.0.2"]}}`, "f6f20939-4064-40f6-87e9-ea61294b6e02", nil)
		},
	}
}

// pagedOrOrdered: which page a listing returns depends on the ids the
// server chose (Neutron pages in id order), so for these only shape,
// lengths and link relations are compared; TestPagination walks our
// pages for real.
var pagedOrOrdered = map[string]string{
	"17-network-list-limit1.json":          "page content depends on server-chosen ids",
	"18-network-list-limit1-next.json":     "page content depends on server-chosen ids",
	"19-network-list-limit1-previous.json": "page content depends on server-chosen ids",
	"15-network-list-limit1.json":          "page content depends on server-chosen ids",
	"16-network-list-limit1-next.json":     "page content depends on server-chosen ids",
	"17-network-list-limit1-previous.json": "page content depends on server-chosen ids",
}

func TestConformanceNoauth(t *testing.T) {
	eachDB(t, func(t *testing.T, name, admin string) {
		s := stack(t, name, admin, apitest.ReferenceINI)
		r := newReplayer(t, s.Handler)
		replayWithExtensions(t, r, "noauth", noauthPrelude(r))
	})
}

// replayWithExtensions replays a folder of recordings, its
// 04-extensions.json through checkExtensions (neutrino advertises fewer
// extensions than Neutron).
func replayWithExtensions(t *testing.T, r *replayer, folder string, prelude map[string]func()) {
	var rest []exchange
	for _, x := range loadExchanges(t, filepath.Join(conformanceDir(t), folder)) {
		if x.file == "04-extensions.json" {
			checkExtensions(t, r, x)
			continue
		}
		rest = append(rest, x)
	}
	replayFolder(t, r, rest, prelude, pagedOrOrdered)
}

// checkExtensions: neutrino advertises only what it serves, so the list
// is shorter than Neutron's; every entry must be Neutron's own entry for
// that alias, and the aliases clients need must be there.
func checkExtensions(t *testing.T, r *replayer, x exchange) {
	status, body, _ := r.do(x)
	if status != x.Status {
		t.Fatalf("extensions: status %d", status)
	}
	type ext map[string]any
	var ref, ours struct{ Extensions []ext }
	json.Unmarshal(x.ResponseBody, &ref)
	if err := json.Unmarshal(body, &ours); err != nil {
		t.Fatal(err)
	}
	byAlias := map[string]ext{}
	for _, e := range ref.Extensions {
		byAlias[e["alias"].(string)] = e
	}
	got := map[string]bool{}
	for _, e := range ours.Extensions {
		a, _ := e["alias"].(string)
		got[a] = true
		re, ok := byAlias[a]
		if !ok {
			if a != "port-security" {
				t.Errorf("extension %q is not one Neutron has", a)
			}
			continue
		}
		var diffs []string
		r.compare("$."+a, "", map[string]any(re), map[string]any(e), "", true, &diffs)
		for _, d := range diffs {
			t.Errorf("extension %s", d)
		}
	}
	for _, need := range []string{"provider", "multi-provider", "binding", "agent", "external-net", "net-mtu", "net-mtu-writable",
		"project-id", "standard-attr-description", "standard-attr-timestamp", "standard-attr-revisions", "standard-attr-tag",
		"revision-if-match", "pagination", "sorting", "filter-validation", "empty-string-filtering"} {
		if !got[need] {
			t.Errorf("extension %q missing", need)
		}
	}
	// /v2.0/extensions/{alias}
	req, _ := http.NewRequest("GET", r.srv.URL+"/v2.0/extensions/provider", nil)
	for k, v := range x.RequestHeaders {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("GET extensions/provider: %v %v", resp, err)
	}
	resp.Body.Close()
	req, _ = http.NewRequest("GET", r.srv.URL+"/v2.0/extensions/frobnicate", nil)
	for k, v := range x.RequestHeaders {
		req.Header.Set(k, v)
	}
	resp, _ = http.DefaultClient.Do(req)
	if resp.StatusCode != 404 {
		t.Errorf("GET extensions/frobnicate: %d", resp.StatusCode)
	}
	resp.Body.Close()
}

// TestConformancePolicy replays policy/ (identity from X-User-Id,
// X-Project-Id, X-Roles, as Keystone's middleware hands them to Neutron)
// with auth_strategy = keystone.
func TestConformancePolicy(t *testing.T) {
	ini := strings.Replace(apitest.ReferenceINI, "auth_strategy = noauth", "auth_strategy = keystone", 1)
	s := stack(t, "sqlite", "", ini)
	r := newReplayer(t, s.Handler)
	replayWithExtensions(t, r, "policy", policyPrelude(r))
}

// The policy/ folder lacks the creation of "net-to-delete" (an admin's
// network listed in 11 and deleted in 22) and the subnet of the missing 44.
func policyPrelude(r *replayer) map[string]func() {
	admin := map[string]string{"X-User-Id": "u-admin", "X-Project-Id": "a0000000000000000000000000000001", "X-Roles": "admin,member,reader"}
	tenant := map[string]string{"X-User-Id": "u-tenant-b", "X-Project-Id": "b0000000000000000000000000000002", "X-Roles": "member,reader"}
	return map[string]func(){
		"11-network-list-admin.json": func() {
			r.post("/v2.0/networks", `{"network": {"name": "net-to-delete"}}`, "c0fc2655-41b5-4973-8fd4-229a743e63d3", admin)
		},
		"45-subnet-list-filter-network.json": func() {
			r.post("/v2.0/subnets", `{"subnet": {"network_id": "c8078519-a879-42fd-91f7-2e9af088c778", "cidr": "10.20.0.0/24", "ip_version": 4,
				"gateway_ip": null, "enable_dhcp": false,
				"allocation_pools": [{"start": "10.20.0.10", "end": "10.20.0.20"}],
				"host_routes": [{"destination": "10.30.0.0/24", "nexthop": "10.20.0.1"}],
				"dns_nameservers": ["10.20.0.2"]}}`, "09f58e5f-e41b-4976-b9c1-7255be225a19", tenant)
		},
	}
}

// TestConformanceSpecial: VNI pool exhaustion (special/), on a server
// with vni_ranges = 1001:1002 after two tenant networks took both VNIs.
func TestConformanceSpecial(t *testing.T) {
	ini := strings.Replace(apitest.ReferenceINI, "vni_ranges = 1001:2000", "vni_ranges = 1001:1002", 1)
	s := stack(t, "sqlite", "", ini)
	r := newReplayer(t, s.Handler)
	got := map[float64]bool{}
	for _, name := range []string{"exh-1", "exh-2"} {
		n := r.post("/v2.0/networks", `{"network": {"name": "`+name+`"}}`, "", nil)
		got[n["provider:segmentation_id"].(float64)] = true
	}
	if !got[1001] || !got[1002] {
		t.Fatalf("the two networks got VNIs %v, want 1001 and 1002", got)
	}
	replayFolder(t, r, loadExchanges(t, filepath.Join(conformanceDir(t), "special")), nil, nil)
}

// projectClients serves the API on one database with identity from
// Keystone's headers (auth_strategy = keystone; extra is added to
// [DEFAULT], "\n"-separated) and returns the clients of an admin and of
// two member projects, alice and bob.
func projectClients(t *testing.T, dbName, dbURL, extra string) (admin, alice, bob client) {
	t.Helper()
	ini := strings.Replace(apitest.ReferenceINI, "auth_strategy = noauth", "auth_strategy = keystone"+extra, 1)
	srv := httptest.NewServer(stack(t, dbName, dbURL, ini).Handler)
	t.Cleanup(srv.Close)
	admin = client{t: t, url: srv.URL, hdr: map[string]string{"X-User-Id": "u", "X-Project-Id": "a", "X-Roles": "admin"}}
	alice = admin.as(map[string]string{"X-User-Id": "u2", "X-Project-Id": "alice", "X-Roles": "member"})
	bob = admin.as(map[string]string{"X-User-Id": "u3", "X-Project-Id": "bob", "X-Roles": "member"})
	return admin, alice, bob
}

// eachDB runs test once per database of backends, as parallel subtests:
// each has a database of its own, and most of their time is spent
// waiting for the database servers.
func eachDB(t *testing.T, test func(t *testing.T, db, adminURL string)) {
	for db, adminURL := range backends(t) {
		t.Run(db, func(t *testing.T) {
			t.Parallel()
			test(t, db, adminURL)
		})
	}
}
