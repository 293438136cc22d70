package api_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"

	"neutrino/internal/api/apitest"
	"neutrino/internal/neutron"
)

// TestOpenstackCLI drives the real python3-openstackclient (Debian) against
// our server on a loopback port, as an operator would in noauth mode.
func TestOpenstackCLI(t *testing.T) {
	bin, err := exec.LookPath("openstack")
	if err != nil {
		t.Fatal("the openstack CLI is not installed (Debian python3-openstackclient); run `make test`, which installs it")
	}
	s := stack(t, "sqlite", "", apitest.ReferenceINI)
	srv := httptest.NewServer(s.Handler)
	defer srv.Close()
	osc := func(args ...string) string {
		t.Helper()
		full := append([]string{"--os-auth-type", "none", "--os-endpoint", srv.URL}, args...)
		out, err := exec.Command(bin, full...).CombinedOutput()
		if err != nil {
			t.Fatalf("openstack %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	oscJSON := func(out any, args ...string) {
		t.Helper()
		o := osc(append(args, "-f", "json")...)
		if err := json.Unmarshal([]byte(o), out); err != nil {
			t.Fatalf("openstack %v: %v\n%s", args, err, o)
		}
	}
	var net map[string]any
	oscJSON(&net, "network", "create", "osc-net")
	if net["name"] != "osc-net" || net["provider:network_type"] != "vxlan" || net["mtu"] != float64(1450) || net["status"] != "ACTIVE" {
		t.Fatalf("network create: %v", net)
	}
	var sub map[string]any
	oscJSON(&sub, "subnet", "create", "--network", "osc-net", "--subnet-range", "192.168.5.0/24", "osc-sub")
	if sub["cidr"] != "192.168.5.0/24" || sub["gateway_ip"] != "192.168.5.1" || sub["network_id"] != net["id"] {
		t.Fatalf("subnet create: %v", sub)
	}
	var port map[string]any
	oscJSON(&port, "port", "create", "--network", "osc-net", "osc-port")
	if port["name"] != "osc-port" || port["network_id"] != net["id"] || !strings.HasPrefix(port["mac_address"].(string), "fa:16:3e:") {
		t.Fatalf("port create: %v", port)
	}
	if ips, _ := json.Marshal(port["fixed_ips"]); !strings.Contains(string(ips), "192.168.5.") {
		t.Fatalf("port fixed_ips: %s", ips)
	}
	var nets []map[string]any
	oscJSON(&nets, "network", "list")
	if len(nets) != 1 || nets[0]["Name"] != "osc-net" {
		t.Fatalf("network list: %v", nets)
	}
	var shown map[string]any
	oscJSON(&shown, "network", "show", "osc-net") // by name: GET by id 404, then ?name=
	if shown["id"] != net["id"] {
		t.Fatalf("network show: %v", shown)
	}
	var ports []map[string]any
	oscJSON(&ports, "port", "list", "--network", "osc-net")
	if len(ports) != 1 || ports[0]["ID"] != port["id"] {
		t.Fatalf("port list: %v", ports)
	}
	var subs []map[string]any
	oscJSON(&subs, "subnet", "list")
	if len(subs) != 1 || subs[0]["Subnet"] != "192.168.5.0/24" {
		t.Fatalf("subnet list: %v", subs)
	}
	osc("network", "set", "--name", "osc-net2", "osc-net")
	oscJSON(&shown, "network", "show", net["id"].(string))
	if shown["name"] != "osc-net2" {
		t.Fatalf("after set: %v", shown)
	}
	if _, err := s.Plugin.ReportState(context.Background(), neutron.AgentReport{AgentType: neutron.AgentTypeOVS,
		Binary: "neutron-openvswitch-agent", Host: "osc-node", Topic: "N/A", Configurations: []byte(`{"tunnel_types": ["vxlan"]}`), StartFlag: true}); err != nil {
		t.Fatal(err)
	}
	var agents []map[string]any
	oscJSON(&agents, "network", "agent", "list")
	if len(agents) != 1 || agents[0]["Host"] != "osc-node" || agents[0]["Alive"] != true || agents[0]["State"] != true || agents[0]["Agent Type"] != "Open vSwitch agent" {
		t.Fatalf("agents: %v", agents)
	}
	osc("port", "delete", "osc-port")
	osc("subnet", "delete", "osc-sub")
	osc("network", "delete", "osc-net2")
	oscJSON(&nets, "network", "list")
	if len(nets) != 0 {
		t.Fatalf("after delete: %v", nets)
	}
}
