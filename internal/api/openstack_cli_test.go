package api_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"neutrino/internal/api/apitest"
	"neutrino/internal/neutron"
)

// TestOpenstackCLI drives the real python3-openstackclient (Debian) against
// our server on a loopback port, as an operator would in noauth mode.
func TestOpenstackCLI(t *testing.T) {
	t.Parallel()
	s := stack(t, "sqlite", "", apitest.ReferenceINI)
	srv := httptest.NewServer(s.Handler)
	defer srv.Close()
	osc := openstackCLI(t, srv.URL)
	var net map[string]any
	osc.json(&net, "network", "create", "osc-net")
	if net["name"] != "osc-net" || net["provider:network_type"] != "vxlan" || net["mtu"] != float64(1450) || net["status"] != "ACTIVE" {
		t.Fatalf("network create: %v", net)
	}
	var sub map[string]any
	osc.json(&sub, "subnet", "create", "--network", "osc-net", "--subnet-range", "192.168.5.0/24", "osc-sub")
	if sub["cidr"] != "192.168.5.0/24" || sub["gateway_ip"] != "192.168.5.1" || sub["network_id"] != net["id"] {
		t.Fatalf("subnet create: %v", sub)
	}
	var port map[string]any
	osc.json(&port, "port", "create", "--network", "osc-net", "osc-port")
	if port["name"] != "osc-port" || port["network_id"] != net["id"] || !strings.HasPrefix(port["mac_address"].(string), "fa:16:3e:") {
		t.Fatalf("port create: %v", port)
	}
	if ips, _ := json.Marshal(port["fixed_ips"]); !strings.Contains(string(ips), "192.168.5.") {
		t.Fatalf("port fixed_ips: %s", ips)
	}
	var nets []map[string]any
	osc.json(&nets, "network", "list")
	if len(nets) != 1 || nets[0]["Name"] != "osc-net" {
		t.Fatalf("network list: %v", nets)
	}
	var shown map[string]any
	osc.json(&shown, "network", "show", "osc-net") // by name: GET by id 404, then ?name=
	if shown["id"] != net["id"] {
		t.Fatalf("network show: %v", shown)
	}
	var ports []map[string]any
	osc.json(&ports, "port", "list", "--network", "osc-net")
	if len(ports) != 1 || ports[0]["ID"] != port["id"] {
		t.Fatalf("port list: %v", ports)
	}
	var subs []map[string]any
	osc.json(&subs, "subnet", "list")
	if len(subs) != 1 || subs[0]["Subnet"] != "192.168.5.0/24" {
		t.Fatalf("subnet list: %v", subs)
	}
	osc.must("network", "set", "--name", "osc-net2", "osc-net")
	osc.json(&shown, "network", "show", net["id"].(string))
	if shown["name"] != "osc-net2" {
		t.Fatalf("after set: %v", shown)
	}
	if _, err := s.Plugin.ReportState(context.Background(), neutron.AgentReport{AgentType: neutron.AgentTypeOVS,
		Binary: "neutron-openvswitch-agent", Host: "osc-node", Topic: "N/A", Configurations: []byte(`{"tunnel_types": ["vxlan"]}`), StartFlag: true}); err != nil {
		t.Fatal(err)
	}
	var agents []map[string]any
	osc.json(&agents, "network", "agent", "list")
	if len(agents) != 1 || agents[0]["Host"] != "osc-node" || agents[0]["Alive"] != true || agents[0]["State"] != true || agents[0]["Agent Type"] != "Open vSwitch agent" {
		t.Fatalf("agents: %v", agents)
	}
	osc.must("port", "delete", "osc-port")
	osc.must("subnet", "delete", "osc-sub")
	osc.must("network", "delete", "osc-net2")
	osc.json(&nets, "network", "list")
	if len(nets) != 0 {
		t.Fatalf("after delete: %v", nets)
	}
}
