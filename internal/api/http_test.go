package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"neutrino/internal/api/apitest"
	"neutrino/internal/neutron"
)

// client is a tiny helper for the HTTP tests below.
type client struct {
	t   *testing.T
	url string
	hdr map[string]string
}

func (c client) as(hdr map[string]string) client { c.hdr = hdr; return c }

func (c client) do(method, path, body string) (int, map[string]any) {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, c.url+path, rd)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range c.hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(b) > 0 {
		json.Unmarshal(b, &m)
	}
	return resp.StatusCode, m
}

func (c client) must(status int, method, path, body string) map[string]any {
	c.t.Helper()
	got, m := c.do(method, path, body)
	if got != status {
		c.t.Fatalf("%s %s: status %d, want %d: %v", method, path, got, status, m)
	}
	return m
}

func sortedKeys(m map[string]any) []string {
	var k []string
	for x := range m {
		k = append(k, x)
	}
	sort.Strings(k)
	return k
}

// TestAgentsAPI: agents registered through report_state (as the gRPC
// service does) are listed with the recorded shape (agents/86), can be
// disabled, described and deleted by admins and are invisible to projects.
func TestAgentsAPI(t *testing.T) {
	ini := strings.Replace(apitest.ReferenceINI, "auth_strategy = noauth", "auth_strategy = keystone", 1)
	s := stack(t, "sqlite", "", ini)
	srv := httptest.NewServer(s.Handler)
	defer srv.Close()
	ctx := context.Background()
	conf, _ := json.Marshal(map[string]any{"tunneling_ip": "198.18.0.1", "tunnel_types": []string{"vxlan"}, "l2_population": true})
	a, err := s.Plugin.ReportState(ctx, neutron.AgentReport{AgentType: neutron.AgentTypeOVS, Binary: "neutron-openvswitch-agent",
		Host: "ref-node-1", Topic: "N/A", Configurations: conf, StartFlag: true, TunnelIP: "198.18.0.1", TunnelTypes: []string{"vxlan"}})
	if err != nil {
		t.Fatal(err)
	}
	admin := client{t: t, url: srv.URL, hdr: map[string]string{"X-User-Id": "u", "X-Project-Id": "a", "X-Roles": "admin"}}
	tenant := admin.as(map[string]string{"X-User-Id": "u2", "X-Project-Id": "b", "X-Roles": "member"})

	l := admin.must(200, "GET", "/v2.0/agents", "")["agents"].([]any)
	if len(l) != 1 {
		t.Fatalf("agents: %v", l)
	}
	got := l[0].(map[string]any)
	raw, err := os.ReadFile(filepath.Join(conformanceDir(t), "agents", "86-agents-list-with-ovs-agents.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rec struct {
		ResponseBody struct{ Agents []map[string]any } `json:"response_body"`
	}
	json.Unmarshal(raw, &rec)
	if want := sortedKeys(rec.ResponseBody.Agents[0]); !reflect.DeepEqual(sortedKeys(got), want) {
		t.Errorf("agent keys\n got  %v\n want %v", sortedKeys(got), want)
	}
	if got["alive"] != true || got["host"] != "ref-node-1" || got["agent_type"] != "Open vSwitch agent" || got["description"] != nil {
		t.Errorf("agent: %v", got)
	}
	if ts, _ := got["heartbeat_timestamp"].(string); len(ts) != len("2026-11-23 19:36:28") || ts[10] != ' ' {
		t.Errorf("heartbeat_timestamp %q", ts)
	}
	// A project sees no agents, cannot read, change or delete one.
	if l := tenant.must(200, "GET", "/v2.0/agents", "")["agents"].([]any); len(l) != 0 {
		t.Errorf("tenant sees agents: %v", l)
	}
	tenant.must(404, "GET", "/v2.0/agents/"+a.ID, "")
	tenant.must(404, "PUT", "/v2.0/agents/"+a.ID, `{"agent": {"admin_state_up": false}}`)
	tenant.must(404, "DELETE", "/v2.0/agents/"+a.ID, "")
	// Admin: update admin_state_up and description; other attributes are read-only.
	up := admin.must(200, "PUT", "/v2.0/agents/"+a.ID, `{"agent": {"admin_state_up": false, "description": "maintenance"}}`)["agent"].(map[string]any)
	if up["admin_state_up"] != false || up["description"] != "maintenance" {
		t.Errorf("agent update: %v", up)
	}
	if _, m := admin.do("PUT", "/v2.0/agents/"+a.ID, `{"agent": {"host": "x"}}`); m["NeutronError"].(map[string]any)["message"] != "Cannot update read-only attribute host" {
		t.Errorf("update host: %v", m)
	}
	admin.must(405, "POST", "/v2.0/agents", `{"agent": {}}`)
	admin.must(204, "DELETE", "/v2.0/agents/"+a.ID, "")
	m := admin.must(404, "GET", "/v2.0/agents/"+a.ID, "")
	if m["NeutronError"].(map[string]any)["type"] != "AgentNotFound" {
		t.Errorf("after delete: %v", m)
	}
}

// TestTagsAndTenancy covers tags, If-Match and per-project visibility of
// lists (keystone-header identity) on the real plugin.
func TestTagsAndTenancy(t *testing.T) {
	ini := strings.Replace(apitest.ReferenceINI, "auth_strategy = noauth", "auth_strategy = keystone", 1)
	s := stack(t, "sqlite", "", ini)
	srv := httptest.NewServer(s.Handler)
	defer srv.Close()
	admin := client{t: t, url: srv.URL, hdr: map[string]string{"X-User-Id": "u", "X-Project-Id": "a", "X-Roles": "admin"}}
	b := admin.as(map[string]string{"X-User-Id": "ub", "X-Project-Id": "b", "X-Roles": "member"})
	c := admin.as(map[string]string{"X-User-Id": "uc", "X-Project-Id": "c", "X-Roles": "member"})

	nb := b.must(201, "POST", "/v2.0/networks", `{"network": {"name": "nb"}}`)["network"].(map[string]any)
	if _, ok := nb["provider:network_type"]; ok {
		t.Errorf("tenant sees provider attributes: %v", nb)
	}
	id := nb["id"].(string)
	shared := admin.must(201, "POST", "/v2.0/networks", `{"network": {"name": "shared", "shared": true}}`)["network"].(map[string]any)
	c.must(403, "POST", "/v2.0/networks", `{"network": {"name": "x", "shared": true}}`)

	// Tags.
	tags := b.must(200, "PUT", "/v2.0/networks/"+id+"/tags", `{"tags": ["red", "blue"]}`)["tags"].([]any)
	if len(tags) != 2 {
		t.Fatalf("tags: %v", tags)
	}
	b.must(201, "PUT", "/v2.0/networks/"+id+"/tags/green", "")
	b.must(204, "GET", "/v2.0/networks/"+id+"/tags/green", "")
	b.must(404, "GET", "/v2.0/networks/"+id+"/tags/purple", "")
	b.must(204, "DELETE", "/v2.0/networks/"+id+"/tags/red", "")
	got := b.must(200, "GET", "/v2.0/networks/"+id+"/tags", "")["tags"].([]any)
	if strings.Join(toStrings(got), ",") != "blue,green" {
		t.Errorf("tags after edits: %v", got)
	}
	if l := b.must(200, "GET", "/v2.0/networks?tags=blue", "")["networks"].([]any); len(l) != 1 {
		t.Errorf("tags filter: %v", l)
	}
	if l := b.must(200, "GET", "/v2.0/networks?not-tags=blue", "")["networks"].([]any); len(l) != 1 || l[0].(map[string]any)["id"] != shared["id"] {
		t.Errorf("not-tags filter: %v", l)
	}
	c.must(404, "PUT", "/v2.0/networks/"+id+"/tags/x", "")
	c.must(403, "PUT", "/v2.0/networks/"+shared["id"].(string)+"/tags/x", "")
	b.must(400, "PUT", "/v2.0/networks/"+id+"/tags", `{"tags": ["a,b"]}`)
	b.must(204, "DELETE", "/v2.0/networks/"+id+"/tags", "")

	// If-Match: revision_number.
	rev := int(b.must(200, "GET", "/v2.0/networks/"+id, "")["network"].(map[string]any)["revision_number"].(float64))
	stale := b.as(map[string]string{"X-User-Id": "ub", "X-Project-Id": "b", "X-Roles": "member", "If-Match": "revision_number=1"})
	if rev == 1 {
		t.Fatal("revision did not move with tag changes")
	}
	if st, m := stale.do("PUT", "/v2.0/networks/"+id, `{"network": {"name": "x"}}`); st != 412 {
		t.Errorf("stale If-Match: %d %v", st, m)
	}

	// Lists: each project sees its own and shared networks; c sees b's nothing.
	names := func(cl client, path, coll string) []string {
		var out []string
		for _, x := range cl.must(200, "GET", path, "")[coll].([]any) {
			out = append(out, x.(map[string]any)["name"].(string))
		}
		sort.Strings(out)
		return out
	}
	if got := names(b, "/v2.0/networks", "networks"); strings.Join(got, ",") != "nb,shared" {
		t.Errorf("b sees %v", got)
	}
	if got := names(c, "/v2.0/networks", "networks"); strings.Join(got, ",") != "shared" {
		t.Errorf("c sees %v", got)
	}
	b.must(201, "POST", "/v2.0/subnets", `{"subnet": {"network_id": "`+id+`", "cidr": "192.168.9.0/24", "ip_version": 4}}`)
	b.must(201, "POST", "/v2.0/ports", `{"port": {"network_id": "`+id+`", "name": "pb"}}`)
	c.must(404, "POST", "/v2.0/ports", `{"port": {"network_id": "`+id+`", "name": "pc"}}`)
	c.must(403, "POST", "/v2.0/subnets", `{"subnet": {"network_id": "`+shared["id"].(string)+`", "cidr": "192.168.8.0/24", "ip_version": 4}}`)
	if got := names(c, "/v2.0/ports", "ports"); len(got) != 0 {
		t.Errorf("c sees ports %v", got)
	}
	if got := names(admin, "/v2.0/ports", "ports"); strings.Join(got, ",") != "pb" {
		t.Errorf("admin sees ports %v", got)
	}
	// Unknown filter and bad limit are 400.
	b.must(400, "GET", "/v2.0/networks?frobnicate=1", "")
	b.must(400, "GET", "/v2.0/ports?limit=x", "")
	// Body over max_request_body_size.
	big := `{"network": {"name": "` + strings.Repeat("x", 120000) + `"}}`
	if st, m := b.do("POST", "/v2.0/networks", big); st != 413 {
		t.Errorf("big body: %d %v", st, m)
	}
	// Method not allowed, unknown nested path.
	b.must(405, "PATCH", "/v2.0/networks/"+id, "{}")
	b.must(404, "GET", "/v2.0/networks/"+id+"/frob", "")
}

func toStrings(l []any) []string {
	var out []string
	for _, x := range l {
		out = append(out, x.(string))
	}
	sort.Strings(out)
	return out
}

// TestExternalNetworksReadable: Neutron's get_network rule lets every
// project read an external network (Tempest's
// test_list_external_networks/test_show_external_networks_attribute), but
// not write it, nor see its subnets unless it is also shared.
func TestExternalNetworksReadable(t *testing.T) {
	ini := strings.Replace(apitest.ReferenceINI, "auth_strategy = noauth", "auth_strategy = keystone", 1)
	s := stack(t, "sqlite", "", ini)
	srv := httptest.NewServer(s.Handler)
	defer srv.Close()
	admin := client{t: t, url: srv.URL, hdr: map[string]string{"X-User-Id": "u", "X-Project-Id": "a", "X-Roles": "admin"}}
	b := admin.as(map[string]string{"X-User-Id": "ub", "X-Project-Id": "b", "X-Roles": "member"})

	ext := admin.must(201, "POST", "/v2.0/networks", `{"network": {"name": "public", "router:external": true}}`)["network"].(map[string]any)
	admin.must(201, "POST", "/v2.0/networks", `{"network": {"name": "private-a"}}`)
	id := ext["id"].(string)
	admin.must(201, "POST", "/v2.0/subnets", `{"subnet": {"network_id": "`+id+`", "cidr": "198.18.64.0/24", "ip_version": 4}}`)

	got := b.must(200, "GET", "/v2.0/networks/"+id, "")["network"].(map[string]any)
	if got["router:external"] != true {
		t.Errorf("b's view of the external network: %v", got)
	}
	l := b.must(200, "GET", "/v2.0/networks", "")["networks"].([]any)
	if len(l) != 1 || l[0].(map[string]any)["id"] != id {
		t.Errorf("b lists %v; want only the external network", l)
	}
	if l := b.must(200, "GET", "/v2.0/networks?router:external=true", "")["networks"].([]any); len(l) != 1 {
		t.Errorf("b lists external networks %v; want 1", l)
	}
	b.must(403, "PUT", "/v2.0/networks/"+id, `{"network": {"name": "mine"}}`)
	b.must(403, "DELETE", "/v2.0/networks/"+id, "")
	if l := b.must(200, "GET", "/v2.0/subnets", "")["subnets"].([]any); len(l) != 0 {
		t.Errorf("b sees the external network's subnets: %v", l)
	}
}
