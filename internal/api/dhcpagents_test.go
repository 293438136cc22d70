package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"neutrino/internal/api"
	"neutrino/internal/api/apitest"
	"neutrino/internal/neutron"
)

// The dhcp_agent_scheduler extension, through the real openstack CLI
// (`network agent list --network`, `network list --agent`, `network agent
// add/remove network --dhcp`) and raw HTTP for the faults.
func TestDHCPAgentScheduler(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// The agents below report once: each openstack command takes seconds
	// on a loaded machine, and an agent silent for agent_down_time (75 s)
	// is dead, its networks failed over to the other (as Neutron does).
	ini := strings.Replace(apitest.ReferenceINI, "[DEFAULT]\n", "[DEFAULT]\nagent_down_time = 3600\n", 1)
	s := stack(t, "sqlite", "", ini)
	srv := httptest.NewServer(s.Handler)
	defer srv.Close()
	osc := openstackCLI(t, srv.URL)
	report := func(typ, binary, host string) string {
		t.Helper()
		a, err := s.Plugin.ReportState(ctx, neutron.AgentReport{AgentType: typ, Binary: binary, Host: host, Topic: "dhcp_agent",
			Configurations: []byte(`{"dhcp_driver":"neutron.agent.linux.dhcp.Dnsmasq","networks":0}`), StartFlag: true})
		if err != nil {
			t.Fatal(err)
		}
		return a.ID
	}
	d1 := report(neutron.AgentTypeDHCP, "neutron-dhcp-agent", "net-node-1")
	var net map[string]any
	osc.json(&net, "network", "create", "dhcp-net")
	osc.must("subnet", "create", "--network", "dhcp-net", "--subnet-range", "192.168.7.0/24", "dhcp-sub")
	netID := net["id"].(string)

	var agents []map[string]any
	osc.json(&agents, "network", "agent", "list", "--network", "dhcp-net")
	if len(agents) != 1 || agents[0]["ID"] != d1 || agents[0]["Agent Type"] != "DHCP agent" || agents[0]["Host"] != "net-node-1" {
		t.Fatalf("agent list --network: %v", agents)
	}
	var nets []map[string]any
	osc.json(&nets, "network", "list", "--agent", d1)
	if len(nets) != 1 || nets[0]["ID"] != netID {
		t.Fatalf("network list --agent: %v", nets)
	}
	var ports []map[string]any
	osc.json(&ports, "port", "list", "--network", "dhcp-net", "--device-owner", "network:dhcp", "--long")
	if len(ports) != 1 || !strings.Contains(osc.must("port", "show", ports[0]["ID"].(string), "-c", "fixed_ips", "-f", "value"), "192.168.7.2") {
		t.Fatalf("dhcp port: %v", ports)
	}

	// A second agent, added by hand: the network now has two (and two
	// DHCP ports); taking the first off leaves the second.
	d2 := report(neutron.AgentTypeDHCP, "neutron-dhcp-agent", "net-node-2")
	osc.must("network", "agent", "add", "network", "--dhcp", d2, "dhcp-net")
	osc.json(&agents, "network", "agent", "list", "--network", netID)
	if len(agents) != 2 {
		t.Fatalf("after add: %v", agents)
	}
	osc.json(&ports, "port", "list", "--network", "dhcp-net", "--device-owner", "network:dhcp")
	if len(ports) != 2 {
		t.Fatalf("dhcp ports after add: %v", ports)
	}
	osc.must("network", "agent", "remove", "network", "--dhcp", d1, "dhcp-net")
	osc.json(&agents, "network", "agent", "list", "--network", netID)
	if len(agents) != 1 || agents[0]["ID"] != d2 {
		t.Fatalf("after remove: %v", agents)
	}
	osc.json(&nets, "network", "list", "--agent", d1)
	if len(nets) != 0 {
		t.Fatalf("d1 still lists %v", nets)
	}
	// d1's port stays, reserved with its address for the next agent, as
	// Neutron's remove_network_from_dhcp_agent leaves it.
	osc.json(&ports, "port", "list", "--network", "dhcp-net", "--device-id", "reserved_dhcp_port", "-c", "ID", "-c", "Fixed IP Addresses")
	if len(ports) != 1 || !strings.Contains(fmt.Sprint(ports[0]["Fixed IP Addresses"]), "192.168.7.2") {
		t.Fatalf("reserved dhcp port after remove: %v", ports)
	}

	do := func(method, path, body string, hdr map[string]string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	ovs := report(neutron.AgentTypeOVS, "neutron-openvswitch-agent", "compute-9")
	// The CLI is slow on a loaded machine: heartbeats keep the agents alive.
	report(neutron.AgentTypeDHCP, "neutron-dhcp-agent", "net-node-1")
	report(neutron.AgentTypeDHCP, "neutron-dhcp-agent", "net-node-2")
	for _, tc := range []struct {
		method, path, body string
		hdr                map[string]string
		status             int
		typ                string
	}{
		{"POST", "/v2.0/agents/" + d2 + "/dhcp-networks", `{"network_id":"` + netID + `"}`, nil, 409, "NetworkHostedByDHCPAgent"},
		{"DELETE", "/v2.0/agents/" + d1 + "/dhcp-networks/" + netID, "", nil, 409, "NetworkNotHostedByDhcpAgent"},
		{"POST", "/v2.0/agents/" + ovs + "/dhcp-networks", `{"network_id":"` + netID + `"}`, nil, 404, "InvalidDHCPAgent"},
		{"POST", "/v2.0/agents/" + d1 + "/dhcp-networks", `{"network_id":"00000000-0000-4000-8000-000000000000"}`, nil, 404, "NetworkNotFound"},
		{"POST", "/v2.0/agents/" + d1 + "/dhcp-networks", `{}`, nil, 400, "HTTPBadRequest"},
		{"POST", "/v2.0/agents/" + d1 + "/dhcp-networks", `{"network_id":`, nil, 400, "HTTPBadRequest"},
		{"GET", "/v2.0/agents/00000000-0000-4000-8000-000000000000/dhcp-networks", "", nil, 404, "AgentNotFound"},
		{"PUT", "/v2.0/agents/" + d2 + "/dhcp-networks", "", nil, 405, "HTTPMethodNotAllowed"},
	} {
		status, body := do(tc.method, tc.path, tc.body, tc.hdr)
		var f struct{ NeutronError struct{ Type string } }
		json.Unmarshal([]byte(body), &f)
		if status != tc.status || f.NeutronError.Type != tc.typ {
			t.Errorf("%s %s: %d %s, want %d %s", tc.method, tc.path, status, body, tc.status, tc.typ)
		}
	}
	if status, body := do("POST", "/v2.0/agents/"+d1+"/dhcp-networks", `{"network_id":"`+netID+`"}`, nil); status != 201 || body != "null" {
		t.Errorf("add: %d %s", status, body)
	}
	// A member (keystone mode, headers trusted as behind auth_token) may
	// not see or change where networks are served.
	ks := httptest.NewServer(api.New(s.Plugin, api.Options{AuthStrategy: api.AuthKeystone}))
	defer ks.Close()
	member := map[string]string{"X-User-Id": "u-member", "X-Project-Id": "p-member", "X-Roles": "member,reader"}
	for _, path := range []string{"/v2.0/agents/" + d2 + "/dhcp-networks", "/v2.0/networks/" + netID + "/dhcp-agents"} {
		req, _ := http.NewRequest("GET", ks.URL+path, nil)
		for k, v := range member {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 403 || !strings.Contains(string(b), "PolicyNotAuthorized") {
			t.Errorf("member GET %s: %d %s", path, resp.StatusCode, b)
		}
	}
	var ext map[string]any
	osc.json(&ext, "extension", "show", "dhcp_agent_scheduler")
	if ext["alias"] != "dhcp_agent_scheduler" {
		t.Errorf("extension: %v", ext)
	}
}

// The l3_agent_scheduler extension over HTTP, on the same mechanism as
// the DHCP one: a router lands on the L3 agent, can be taken off and put
// back, with Neutron's faults; a member may not see it.
func TestL3AgentSchedulerHTTP(t *testing.T) {
	ctx := context.Background()
	s := stack(t, "sqlite", "", strings.Replace(apitest.ReferenceINI, "[DEFAULT]\n", "[DEFAULT]\nagent_down_time = 3600\nservice_plugins = router\n", 1))
	srv := httptest.NewServer(s.Handler)
	defer srv.Close()
	do := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	l3, err := s.Plugin.ReportState(ctx, neutron.AgentReport{AgentType: neutron.AgentTypeL3, Binary: "neutron-l3-agent",
		Host: "net-node-1", Topic: "l3_agent", Configurations: []byte(`{}`), StartFlag: true})
	if err != nil {
		t.Fatal(err)
	}
	status, body := do("POST", "/v2.0/routers", `{"router":{"name":"r1","tenant_id":"p1"}}`)
	var rt struct{ Router struct{ ID string } }
	if err := json.Unmarshal([]byte(body), &rt); status != 201 || err != nil {
		t.Fatalf("router create: %d %s", status, body)
	}
	id := rt.Router.ID
	ids := func(path, coll string) []string {
		t.Helper()
		status, body := do("GET", path, "")
		var m map[string][]struct{ ID string }
		if err := json.Unmarshal([]byte(body), &m); status != 200 || err != nil {
			t.Fatalf("GET %s: %d %s", path, status, body)
		}
		var out []string
		for _, x := range m[coll] {
			out = append(out, x.ID)
		}
		return out
	}
	if got := ids("/v2.0/routers/"+id+"/l3-agents", "agents"); len(got) != 1 || got[0] != l3.ID {
		t.Fatalf("l3-agents of the router: %v, want [%s]", got, l3.ID)
	}
	if got := ids("/v2.0/agents/"+l3.ID+"/l3-routers", "routers"); len(got) != 1 || got[0] != id {
		t.Fatalf("l3-routers of the agent: %v, want [%s]", got, id)
	}
	for _, tc := range []struct {
		method, path, body string
		status             int
		typ                string
	}{
		{"POST", "/v2.0/agents/" + l3.ID + "/l3-routers", `{"router_id":"` + id + `"}`, 409, "RouterHostedByL3Agent"},
		{"POST", "/v2.0/agents/" + l3.ID + "/l3-routers", `{}`, 400, "HTTPBadRequest"},
		{"POST", "/v2.0/agents/" + l3.ID + "/l3-routers", `{"router_id":5}`, 400, "HTTPBadRequest"},
		{"PUT", "/v2.0/agents/" + l3.ID + "/l3-routers", "", 405, "HTTPMethodNotAllowed"},
		{"DELETE", "/v2.0/agents/" + l3.ID + "/l3-routers/" + id, "", 204, ""},
		{"DELETE", "/v2.0/agents/" + l3.ID + "/l3-routers/" + id, "", 409, "RouterNotHostedByL3Agent"},
	} {
		status, body := do(tc.method, tc.path, tc.body)
		var f struct{ NeutronError struct{ Type string } }
		json.Unmarshal([]byte(body), &f)
		if status != tc.status || f.NeutronError.Type != tc.typ {
			t.Errorf("%s %s %s: %d %s, want %d %s", tc.method, tc.path, tc.body, status, body, tc.status, tc.typ)
		}
	}
	if got := ids("/v2.0/routers/"+id+"/l3-agents", "agents"); len(got) != 0 {
		t.Errorf("after the delete the router is on %v", got)
	}
	if status, body := do("POST", "/v2.0/agents/"+l3.ID+"/l3-routers", `{"router_id":"`+id+`"}`); status != 201 || body != "null" {
		t.Errorf("add back: %d %s", status, body)
	}
	ks := httptest.NewServer(api.New(s.Plugin, api.Options{AuthStrategy: api.AuthKeystone}))
	defer ks.Close()
	req, _ := http.NewRequest("GET", ks.URL+"/v2.0/routers/"+id+"/l3-agents", nil)
	req.Header.Set("X-User-Id", "u1")
	req.Header.Set("X-Project-Id", "p1")
	req.Header.Set("X-Roles", "member,reader")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || !strings.Contains(string(b), "PolicyNotAuthorized") {
		t.Errorf("member GET l3-agents: %d %s", resp.StatusCode, b)
	}
}
