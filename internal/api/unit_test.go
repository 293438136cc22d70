package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"neutrino/internal/neutron"
	"neutrino/internal/policy"
	"neutrino/internal/sharedtest"
)

func recording(t *testing.T, folder, file string) (req map[string]any, hdr map[string]string, status int, fault *neutron.Error, resp map[string]any) {
	t.Helper()
	dir := sharedtest.Path(t, "NEUTRINO_CONFORMANCE", "conformance/neutron-api")
	b, err := os.ReadFile(filepath.Join(dir, folder, file))
	if err != nil {
		t.Fatalf("recording %s/%s: %v (set NEUTRINO_CONFORMANCE)", folder, file, err)
	}
	var x struct {
		RequestHeaders map[string]string `json:"request_headers"`
		RequestBody    any               `json:"request_body"`
		Status         int               `json:"status"`
		ResponseBody   map[string]any    `json:"response_body"`
	}
	if err := json.Unmarshal(b, &x); err != nil {
		t.Fatal(err)
	}
	req, _ = x.RequestBody.(map[string]any)
	if ne, ok := x.ResponseBody["NeutronError"].(map[string]any); ok {
		fault = &neutron.Error{Status: x.Status, Type: ne["type"].(string), Message: ne["message"].(string)}
	}
	return req, x.RequestHeaders, x.Status, fault, x.ResponseBody
}

func headerOf(m map[string]string) http.Header {
	h := http.Header{}
	for k, v := range m {
		h.Set(k, v)
	}
	return h
}

func TestIdentify(t *testing.T) {
	cases := []struct {
		strategy string
		hdr      map[string]string
		want     Caller
		ok       bool
	}{
		{AuthNoauth, nil, Caller{ProjectID: NoauthProjectID, Admin: true}, true},
		{AuthNoauth, map[string]string{"X-Project-Id": "p1", "X-Roles": "member"}, Caller{Admin: true}, true},
		{AuthNoauth, map[string]string{"X-Tenant-Id": "p1"}, Caller{Admin: true}, true},
		{AuthNoauth, map[string]string{"X-Roles": "member"}, Caller{ProjectID: NoauthProjectID, Admin: true}, true},
		{AuthKeystone, nil, Caller{}, false},
		{AuthKeystone, map[string]string{"X-Project-Id": "p1"}, Caller{}, false},
		{AuthKeystone, map[string]string{"X-User-Id": "u", "X-Project-Id": "p1", "X-Roles": "member,reader"}, Caller{UserID: "u", ProjectID: "p1"}, true},
		{AuthKeystone, map[string]string{"X-User-Id": "u", "X-Project-Id": "p1", "X-Roles": "admin,member"}, Caller{UserID: "u", ProjectID: "p1", Admin: true}, true},
		{AuthKeystone, map[string]string{"X-User-Id": "u", "X-Project-Id": "p1", "X-Roles": "reader, Admin"}, Caller{UserID: "u", ProjectID: "p1", Admin: true}, true},
	}
	for i, c := range cases {
		got, ok := identify(c.strategy, headerOf(c.hdr), policy.Default())
		if ok != c.ok || got.UserID != c.want.UserID || got.ProjectID != c.want.ProjectID || got.Admin != c.want.Admin {
			t.Errorf("case %d: identify(%s, %v) = %+v, %v; want %+v, %v", i, c.strategy, c.hdr, got, ok, c.want, c.ok)
		}
	}
}

// Every policy/ recording whose answer the policy functions decide alone
// (403s, hidden attributes, 404 for another project) is checked here
// against the recorded status, type and message.
func TestPolicyRecordedForbiddenWrites(t *testing.T) {
	cases := []struct {
		file   string
		res    *resource
		action string
		post   bool
	}{
		{"20-network-update-provider-tenant-403.json", networks(attrOptions{}).resource(), "update_network", false},
		{"34-network-create-provider-tenant-403.json", networks(attrOptions{}).resource(), "create_network", true},
		{"57-port-create-binding-host-tenant-403.json", ports(attrOptions{}).resource(), "create_port", true},
	}
	for _, c := range cases {
		req, hdr, status, fault, _ := recording(t, "policy", c.file)
		caller, ok := identify(AuthKeystone, headerOf(hdr), policy.Default())
		if !ok {
			t.Fatalf("%s: identity headers rejected", c.file)
		}
		body, _ := json.Marshal(req)
		attrs, e := parseBody(c.res, body, c.post)
		if e != nil {
			t.Fatalf("%s: parse: %v", c.file, e)
		}
		if c.post {
			if _, e := createProject(caller, attrs); e != nil {
				t.Fatalf("%s: project: %v", c.file, e)
			}
		}
		denied := deniedAttrs(caller, c.action, c.res, attrs, target(caller.ProjectID, attrs, nil))
		if len(denied) == 0 {
			t.Fatalf("%s: nothing denied for %+v", c.file, caller)
		}
		got := errPolicy(c.action, denied)
		if got.Status != status || got.Type != fault.Type || got.Message != fault.Message {
			t.Errorf("%s: got %d %s %q; recorded %d %s %q", c.file, got.Status, got.Type, got.Message, status, fault.Type, fault.Message)
		}
		// The same body from an admin is allowed.
		admin, _ := identify(AuthKeystone, http.Header{"X-User-Id": {"u"}, "X-Project-Id": {"a"}, "X-Roles": {"admin"}}, policy.Default())
		if d := deniedAttrs(admin, c.action, c.res, attrs, target("a", attrs, nil)); d != nil {
			t.Errorf("%s: admin denied %v", c.file, d)
		}
	}
}

func keysOf(m map[string]any) []string {
	var k []string
	for x := range m {
		k = append(k, x)
	}
	sort.Strings(k)
	return k
}

// Hidden attributes: a project's view of a bound port and of networks
// has exactly the recorded keys; an admin's has the provider/binding ones.
func TestPolicyRecordedVisibleKeys(t *testing.T) {
	port := &neutron.Port{Standard: neutron.Standard{ID: "p", ProjectID: "b"}, Binding: neutron.Binding{HostID: "compute-1", VIFType: "binding_failed"}}
	net := &neutron.Network{Standard: neutron.Standard{ID: "n", ProjectID: "b"}, Segments: []neutron.Segment{{NetworkType: "vxlan", SegmentationID: 1001}}}
	cases := []struct {
		file   string
		render func(Caller) map[string]any
		key    string
	}{
		{"55-port-show-binding-admin.json", func(c Caller) map[string]any { return rendered(ports(attrOptions{}), port, c, false) }, "port"},
		{"56-port-show-binding-tenant.json", func(c Caller) map[string]any { return rendered(ports(attrOptions{}), port, c, false) }, "port"},
		{"08-network-show-tenant.json", func(c Caller) map[string]any { return rendered(networks(attrOptions{}), net, c, false) }, "network"},
		{"09-network-show-admin.json", func(c Caller) map[string]any { return rendered(networks(attrOptions{}), net, c, false) }, "network"},
		{"06-network-create-tenant.json", func(c Caller) map[string]any { return rendered(networks(attrOptions{}), net, c, true) }, "network"},
		{"05-network-create-admin.json", func(c Caller) map[string]any { return rendered(networks(attrOptions{}), net, c, true) }, "network"},
	}
	for _, c := range cases {
		_, hdr, _, _, resp := recording(t, "policy", c.file)
		caller, _ := identify(AuthKeystone, headerOf(hdr), policy.Default())
		want := keysOf(resp[c.key].(map[string]any))
		got := keysOf(c.render(caller))
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s (admin=%v): keys\n got  %v\n want %v", c.file, caller.Admin, got, want)
		}
	}
}

func TestVisibility(t *testing.T) {
	nets := &kind{res: networks(attrOptions{}).resource()}
	ports := &kind{res: ports(attrOptions{}).resource()}
	subnets := &kind{res: subnets().resource()}
	agents := &kind{res: agents().resource(), adminOnly: true}
	own := &entity{project: "b"}
	other := &entity{project: "c"}
	shared := &entity{project: "c", shared: true}
	b := Caller{ProjectID: "b"}
	admin := Caller{ProjectID: "a", Admin: true}
	cases := []struct {
		name    string
		c       Caller
		k       *kind
		e, net  *entity
		visible bool
	}{
		{"own network", b, nets, own, nil, true},
		{"other network (policy/10: 404)", b, nets, other, nil, false},
		{"shared network", b, nets, shared, nil, true},
		{"admin sees other", admin, nets, other, nil, true},
		{"own port", b, ports, own, other, true},
		{"other's port on own network", b, ports, other, own, true},
		{"other's port on other network", b, ports, other, other, false},
		{"other's port on shared network", b, ports, other, shared, false},
		{"subnet of shared network", b, subnets, other, shared, true},
		{"subnet of other network", b, subnets, other, other, false},
		{"agent to project", b, agents, &entity{}, nil, false},
		{"agent to admin", admin, agents, &entity{}, nil, true},
		{"noauth project header caller", Caller{Admin: true}, nets, other, nil, true},
	}
	for _, c := range cases {
		if got := visible(c.c, c.k, c.e, c.net); got != c.visible {
			t.Errorf("%s: visible = %v, want %v", c.name, got, c.visible)
		}
	}
}

func TestCreateProject(t *testing.T) {
	cases := []struct {
		name   string
		c      Caller
		body   map[string]any
		want   string
		errMsg string
	}{
		{"noauth default", Caller{ProjectID: NoauthProjectID, Admin: true}, nil, NoauthProjectID, ""},
		{"noauth with body project", Caller{ProjectID: NoauthProjectID, Admin: true}, map[string]any{"project_id": "b"}, "b", ""},
		{"noauth with header, no body project (noauth/08)", Caller{Admin: true}, nil, "", "Running without keystone AuthN requires that tenant_id is specified"},
		{"tenant_id only", Caller{Admin: true}, map[string]any{"tenant_id": "b"}, "b", ""},
		{"both equal", Caller{Admin: true}, map[string]any{"tenant_id": "b", "project_id": "b"}, "b", ""},
		{"mismatch", Caller{Admin: true}, map[string]any{"tenant_id": "b", "project_id": "c"}, "", "'project_id' and 'tenant_id' do not match"},
		{"project for another project", Caller{ProjectID: "b"}, map[string]any{"project_id": "c"}, "", "Specifying 'project_id' or 'tenant_id' other than the authenticated project in request requires admin privileges"},
		{"project for itself", Caller{ProjectID: "b"}, map[string]any{"project_id": "b"}, "b", ""},
	}
	for _, c := range cases {
		got, e := createProject(c.c, c.body)
		if c.errMsg != "" {
			if e == nil || e.Message != c.errMsg || e.Status != 400 {
				t.Errorf("%s: got %q, %v; want 400 %q", c.name, got, e, c.errMsg)
			}
			continue
		}
		if e != nil || got != c.want {
			t.Errorf("%s: got %q, %v; want %q", c.name, got, e, c.want)
		}
	}
	// noauth/08 end to end: the recorded fault text.
	_, hdr, status, fault, _ := recording(t, "noauth", "08-network-create-with-x-project-id-header-400.json")
	c, _ := identify(AuthNoauth, headerOf(hdr), policy.Default())
	_, e := createProject(c, map[string]any{"name": "net-hdr"})
	if e == nil || e.Status != status || e.Type != fault.Type || e.Message != fault.Message {
		t.Errorf("noauth/08: got %v, want %v", e, fault)
	}
}

// Body faults, against the recorded exchanges 69-73 and more.
func TestParseBodyRecorded(t *testing.T) {
	for _, f := range []string{
		"69-network-create-malformed-json-400.json", "70-network-create-empty-body-400.json",
		"71-network-create-no-wrapper-400.json", "72-network-create-unknown-attr-400.json",
		"73-network-create-wrong-type-400.json",
	} {
		dir := sharedtest.Path(t, "NEUTRINO_CONFORMANCE", "conformance/neutron-api")
		raw, err := os.ReadFile(filepath.Join(dir, "noauth", f))
		if err != nil {
			t.Fatal(err)
		}
		var x struct {
			RequestBody json.RawMessage `json:"request_body"`
		}
		json.Unmarshal(raw, &x)
		body := []byte(x.RequestBody)
		var s string
		if json.Unmarshal(body, &s) == nil {
			body = []byte(s)
		}
		_, _, status, fault, _ := recording(t, "noauth", f)
		_, e := parseBody(networks(attrOptions{}).resource(), body, true)
		if e == nil || e.Status != status || e.Type != fault.Type || e.Message != fault.Message {
			t.Errorf("%s: got %+v, want %+v", f, e, fault)
		}
	}
	res := ports(attrOptions{}).resource()
	cases := []struct {
		body string
		post bool
		want string
	}{
		{`{"port": {"name": "x"}}`, true, "Failed to parse request. Required attribute 'network_id' not specified"},
		{`{"port": {"network_id": "66071814-169c-40ef-8c42-bb627a18b8dd", "status": "ACTIVE"}}`, true, "Attribute 'status' not allowed in POST"},
		{`{"port": {"network_id": "66071814-169c-40ef-8c42-bb627a18b8dd"}}`, false, "Cannot update read-only attribute network_id"},
		{`{"port": {"network_id": "66071814-169c-40ef-8c42-bb627a18b8dd", "mac_address": "zz:16:3e:00:00:01"}}`, true, "Invalid input for mac_address. Reason: 'zz:16:3e:00:00:01' is not a valid MAC address."},
		{`{"port": {"network_id": "not-a-uuid"}}`, true, "Invalid input for network_id. Reason: 'not-a-uuid' is not a valid UUID."},
		{`{"port": {"network_id": "66071814-169c-40ef-8c42-bb627a18b8dd", "name": 5}}`, true, "Invalid input for name. Reason: 5 is not a valid string."},
		{`{"port": {"network_id": "66071814-169c-40ef-8c42-bb627a18b8dd", "fixed_ips": [{"ip_address": "x"}]}}`, true, "Invalid input for fixed_ips. Reason: 'x' is not a valid IP address."},
		{`{"port": {"network_id": "66071814-169c-40ef-8c42-bb627a18b8dd", "zzz": 1, "aaa": 2}}`, true, "Unrecognized attribute(s) 'aaa, zzz'"},
		{`{"port": {"network_id": "66071814-169c-40ef-8c42-bb627a18b8dd"}} trailing`, true, "Body contains invalid data"},
		// Neutron's body hook refuses any JSON that is not an object.
		{`[1]`, true, "Body contains invalid data"},
		{"  ", true, "Body contains invalid data"},
		{"", true, "Unable to find 'port' in request body"},
		{`{"port": "x"}`, true, "Unable to find 'port' in request body"},
	}
	for _, c := range cases {
		_, e := parseBody(res, []byte(c.body), c.post)
		if e == nil || e.Message != c.want {
			t.Errorf("%s: got %v, want %q", c.body, e, c.want)
		}
	}
	// Bulk creates: each item bare or wrapped, checked like a single body.
	const net = "66071814-169c-40ef-8c42-bb627a18b8dd"
	for _, c := range []struct{ body, want string }{
		{`{"ports": {"network_id": "` + net + `"}}`, "Body contains invalid data"},
		{`{"ports": []}`, "Resources required"},
		{`{"ports": [{"network_id": "` + net + `"}, 5]}`, "Body contains invalid data"},
		{`{"ports": [{"network_id": "` + net + `"}, {"port": {"name": "x"}}]}`, "Failed to parse request. Required attribute 'network_id' not specified"},
		{`{"ports": [{"network_id": "` + net + `", "status": "DOWN"}]}`, "Attribute 'status' not allowed in POST"},
	} {
		if _, bulk, e := parseCreateBody(res, []byte(c.body)); !bulk || e == nil || e.Message != c.want {
			t.Errorf("%s: got bulk %v, %v; want %q", c.body, bulk, e, c.want)
		}
	}
	items, bulk, e := parseCreateBody(res, []byte(`{"port": {"name": "ignored"}, "ports": [{"network_id": "`+net+`", "name": "a"}, {"port": {"network_id": "`+net+`", "name": "b"}}]}`))
	if e != nil || !bulk || len(items) != 2 || items[0]["name"] != "a" || items[1]["name"] != "b" {
		t.Errorf("bulk items: %v %v %v", items, bulk, e)
	}
	// Conversions that succeed.
	a, e := parseBody(networks(attrOptions{}).resource(), []byte(`{"network": {"admin_state_up": "False", "mtu": "1400", "provider:segmentation_id": 7, "shared": 1}}`), true)
	if e != nil {
		t.Fatal(e)
	}
	if a["admin_state_up"] != false || a["mtu"] != int64(1400) || a["provider:segmentation_id"] != int64(7) || a["shared"] != true {
		t.Errorf("conversions: %v", a)
	}
}

func TestParseListAndLinks(t *testing.T) {
	res := networks(attrOptions{}).resource()
	v, _ := url.ParseQuery("name=a&name=b&shared=True&tags-any=x,y&fields=id&fields=name&sort_key=name&sort_dir=desc&limit=2&marker=m1&page_reverse=true")
	lr, e := parseList(res, v)
	if e != nil {
		t.Fatal(e)
	}
	want := neutron.ListQuery{Filters: map[string][]string{"name": {"a", "b"}, "shared": {"true"}, "tags-any": {"x", "y"}},
		Sort: []neutron.SortKey{{Key: "name", Desc: true}}, Limit: 2, Marker: "m1", PageReverse: true}
	if !reflect.DeepEqual(lr.q, want) || !reflect.DeepEqual(lr.fields, []string{"id", "name"}) {
		t.Errorf("parseList = %+v %v", lr.q, lr.fields)
	}
	for q, msg := range map[string]string{
		"frobnicate=1":                       "frobnicate is invalid attribute for filtering",
		"limit=-1":                           "Limit must be an integer 0 or greater and not '-1'",
		"sort_key=name&sort_dir=up":          "up is invalid value for sort_dir, valid value is 'asc' and 'desc'",
		"sort_key=nope&sort_dir=asc":         "nope is invalid attribute for sort_keys",
		"sort_key=name":                      "The number of sort_keys and sort_dirs must be same",
		"sort_dir=asc":                       "The number of sort_keys and sort_dirs must be same",
		"sort_key=a&sort_key=b&sort_dir=asc": "The number of sort_keys and sort_dirs must be same",
	} {
		v, _ := url.ParseQuery(q)
		if _, e := parseList(res, v); e == nil || e.Message != msg || e.Status != 400 {
			t.Errorf("%s: got %v, want %q", q, e, msg)
		}
	}
	// Links exactly as recorded in noauth/17 and 19.
	r, _ := http.NewRequest("GET", "http://127.0.0.1:9696/v2.0/networks?limit=1", nil)
	r.Host = "127.0.0.1:9696"
	links := pageLinks(r, neutron.ListQuery{Limit: 1}, []string{"66071814-169c-40ef-8c42-bb627a18b8dd"})
	_, _, _, _, rec := recording(t, "noauth", "17-network-list-limit1.json")
	gotJSON, _ := json.Marshal(links)
	wantJSON, _ := json.Marshal(rec["networks_links"])
	if string(gotJSON) != string(wantJSON) {
		t.Errorf("links:\n got  %s\n want %s", gotJSON, wantJSON)
	}
	// A short forward page has no next; a short reverse page no previous.
	if l := pageLinks(r, neutron.ListQuery{Limit: 3}, []string{"a"}); len(l) != 1 || l[0]["rel"] != "previous" {
		t.Errorf("short forward page links: %v", l)
	}
	if l := pageLinks(r, neutron.ListQuery{Limit: 3, PageReverse: true}, []string{"a"}); len(l) != 1 || l[0]["rel"] != "next" {
		t.Errorf("short reverse page links: %v", l)
	}
	if !strings.Contains(pageLinks(r, neutron.ListQuery{Limit: 1}, []string{"a"})[0]["href"], "limit=1&marker=a") {
		t.Error("href")
	}
	// The caller's parameters keep their order; the marker and
	// page_reverse come last (Neutron's get_next_link/get_previous_link).
	// An empty page's links name no marker: "previous" after the end
	// reads the end backwards, "next" before the start reads the start.
	const base = "http://127.0.0.1:9696/v2.0/networks?"
	for _, tc := range []struct {
		query string
		q     neutron.ListQuery
		ids   []string
		want  []string // rel href
	}{
		{"sort_key=name&limit=2&sort_dir=asc&marker=m&page_reverse=True", neutron.ListQuery{Limit: 2, PageReverse: true}, []string{"a", "b"},
			[]string{"next " + base + "sort_key=name&limit=2&sort_dir=asc&marker=b", "previous " + base + "sort_key=name&limit=2&sort_dir=asc&marker=a&page_reverse=True"}},
		{"limit=1&marker=m", neutron.ListQuery{Limit: 1, Marker: "m"}, nil, []string{"previous " + base + "limit=1&page_reverse=True"}},
		{"limit=1&marker=m&page_reverse=True", neutron.ListQuery{Limit: 1, Marker: "m", PageReverse: true}, nil, []string{"next " + base + "limit=1"}},
	} {
		r, _ := http.NewRequest("GET", base+tc.query, nil)
		var got []string
		for _, l := range pageLinks(r, tc.q, tc.ids) {
			got = append(got, l["rel"]+" "+l["href"])
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s, page %v:\n got  %q\n want %q", tc.query, tc.ids, got, tc.want)
		}
	}
}

func TestRenderAgentTimes(t *testing.T) {
	at := time.Date(2026, 11, 23, 19, 36, 28, 123, time.UTC)
	m := rendered(agents(), &neutron.Agent{ID: "x", CreatedAt: at, StartedAt: at, HeartbeatAt: at}, Caller{Admin: true}, false)
	if m["created_at"] != "2026-11-23 19:36:28" || m["description"] != nil || m["availability_zone"] != nil {
		t.Errorf("agent render: %v", m)
	}
	_, _, _, _, rec := recording(t, "agents", "86-agents-list-with-ovs-agents.json")
	want := keysOf(rec["agents"].([]any)[0].(map[string]any))
	if got := keysOf(m); !reflect.DeepEqual(got, want) {
		t.Errorf("agent keys\n got  %v\n want %v", got, want)
	}
}

// The resource label names every collection the server serves (those of
// the attribute tables included, without a list to keep up) and nothing
// else, so the metrics' label set stays bounded.
func TestResource(t *testing.T) {
	s := New(panicking{}, Options{Extra: map[string]ExtraResource{"trace": nil}})
	for path, want := range map[string]string{
		"/": "versions", "/v2.0/": "root", "/v2.0/networks": "networks", "/v2.0/ports/abc/tags/x": "ports",
		"/v2.0/networks.json": "networks", "/v2.0/trace": "trace", "/v2.0/security-group-rules/1": "security-group-rules",
		"/v2.0/quotas/p": "quotas", "/v2.0/whatever/1": "other", "/v3/x": "other",
	} {
		if got := s.Resource(path); got != want {
			t.Errorf("Resource(%q) = %q, want %q", path, got, want)
		}
	}
}

type panicking struct{ Backend }

func (panicking) GetNetwork(context.Context, string) (*neutron.Network, error) { panic("boom") }

// A panic in a lower layer becomes a 500 NeutronError, not a dropped
// connection.
func TestPanicIs500(t *testing.T) {
	var observed []string
	s := New(panicking{}, Options{Observe: func(method, res string, status int, _ time.Duration) {
		observed = append(observed, fmt.Sprint(method, " ", res, " ", status))
	}})
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "/v2.0/networks/x", nil))
	s.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	s.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/v2.0/nothing", nil))
	// Observe (the metrics) sees each answered request with its status.
	if want := []string{"GET networks 500", "GET versions 200", "GET other 404"}; !reflect.DeepEqual(observed, want) {
		t.Errorf("observed %q, want %q", observed, want)
	}
	var f faultBody
	if err := json.Unmarshal(rec.Body.Bytes(), &f); err != nil || rec.Code != 500 || f.NeutronError.Type != "HTTPInternalServerError" {
		t.Fatalf("got %d %s", rec.Code, rec.Body.String())
	}
	if rec.Header().Get("X-Openstack-Request-Id") == "" {
		t.Error("no request id")
	}
}
