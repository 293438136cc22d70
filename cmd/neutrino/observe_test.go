package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"neutrino/internal/agent"
	"neutrino/internal/api"
	"neutrino/internal/config"
	"neutrino/internal/l2pop"
	"neutrino/internal/ml2"
	"neutrino/internal/neutron"
	"neutrino/internal/rpc"
	"neutrino/internal/store"
	"neutrino/internal/store/storetest"
)

// observeWorld is the seed on the real plugin (SQLite) without data
// planes: three OVS agents with l2population and the ARP responder, one
// network, a port on each compute node.
func observeWorld(t *testing.T, ctx context.Context) (*ml2.Plugin, *rpc.Server, string) {
	t.Helper()
	st := storetest.Open(t, store.SQLite)
	scfg := &config.Server{GlobalPhysnetMTU: 1500, BaseMAC: "fa:16:3e:00:00:00", AgentDownTime: 75 * time.Second,
		TypeDrivers: []string{"vxlan"}, TenantNetworkTypes: []string{"vxlan"},
		MechanismDrivers: []string{"openvswitch", "l2population"}, VNIRanges: []config.Range{{Min: 1001, Max: 2000}}}
	plugin, err := ml2.New(ctx, st, scfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, host := range []string{"controller", "compute-1", "compute-2"} {
		cfg := &config.Agent{Host: host, LocalIP: "198.18.255.10" + string(rune('1'+i)), L2Population: true, ARPResponder: true, TunnelTypes: []string{"vxlan"}}
		if _, err := plugin.ReportState(ctx, agent.Report(agent.KindOVS, cfg, 0, true)); err != nil {
			t.Fatal(err)
		}
	}
	const project = "b0000000000000000000000000000002"
	n, err := plugin.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: project, Name: "testnet"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plugin.CreateSubnet(ctx, neutron.SubnetCreate{ProjectID: project, NetworkID: n.ID, IPVersion: 4, CIDR: "192.168.1.0/24"}); err != nil {
		t.Fatal(err)
	}
	for _, vm := range []struct{ name, host string }{{"vm1", "compute-1"}, {"vm2", "compute-2"}} {
		p, err := plugin.CreatePort(ctx, neutron.PortCreate{ProjectID: project, NetworkID: n.ID, Name: vm.name, HostID: vm.host, DeviceOwner: "compute:nova"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := plugin.UpdateDevice(ctx, vm.host, p.ID, true); err != nil {
			t.Fatal(err)
		}
	}
	agents := rpc.NewServer(plugin, rpc.ServerConfig{L2Pop: l2pop.Config{Enabled: true}})
	return plugin, agents, n.ID
}

// TestTraceAPI asks GET /v2.0/trace through the CLI verb, as text and
// JSON, and checks the API's faults.
func TestTraceAPI(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	plugin, agents, _ := observeWorld(t, ctx)
	srv := httptest.NewServer(api.New(plugin, api.Options{Extra: observeResources(plugin, agents)}))
	defer srv.Close()

	run := func(args ...string) (string, error) {
		cmd := traceCmd()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(append(args, "--os-url", srv.URL))
		err := cmd.ExecuteContext(ctx)
		return out.String(), err
	}
	out, err := run("--port", "vm1", "--dst", "broadcast")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("trace:\n%s", out)
	// l2pop: one copy, to compute-2 only (the controller has no port).
	if !strings.Contains(out, "1 copy on the underlay") || !strings.Contains(out, "-> copy to 198.18.255.103 (compute-2)") ||
		strings.Contains(out, "(controller)") || !strings.Contains(out, "br-tun table 22") {
		t.Errorf("broadcast trace:\n%s", out)
	}
	out, err = run("--port", "vm1", "--dst", "vm2-ip-placeholder")
	if err == nil || !strings.Contains(err.Error(), "not an IP address") {
		t.Errorf("bad dst: %v\n%s", err, out)
	}
	vm2, err := plugin.ListPorts(ctx, neutron.ListQuery{})
	if err != nil {
		t.Fatal(err)
	}
	ip := ""
	for _, p := range vm2 {
		if p.Name == "vm2" {
			ip = p.FixedIPs[0].IPAddress
		}
	}
	out, err = run("--port", "vm1", "--dst", ip, "-f", "json")
	if err != nil {
		t.Fatal(err)
	}
	var tr struct {
		Steps []struct {
			Copies []json.RawMessage
			Result string
		}
	}
	if err := json.Unmarshal([]byte(out), &tr); err != nil || len(tr.Steps) != 2 {
		t.Fatalf("json trace: %v\n%s", err, out)
	}
	if len(tr.Steps[0].Copies) != 0 || !strings.Contains(tr.Steps[0].Result, "ARP responder") || len(tr.Steps[1].Copies) != 1 {
		t.Errorf("ARP responder and one unicast copy expected:\n%s", out)
	}
	resp, err := http.Get(srv.URL + "/v2.0/trace?port=nope&dst=broadcast")
	if err != nil {
		t.Fatal(err)
	}
	var fault struct{ NeutronError struct{ Type string } }
	json.NewDecoder(resp.Body).Decode(&fault)
	resp.Body.Close()
	if resp.StatusCode != 404 || fault.NeutronError.Type != "PortNotFound" {
		t.Errorf("unknown port: %d %+v", resp.StatusCode, fault)
	}
	// A project member may not trace: it shows every host's VTEP.
	ks := httptest.NewServer(api.New(plugin, api.Options{AuthStrategy: api.AuthKeystone, Extra: observeResources(plugin, agents)}))
	defer ks.Close()
	req, _ := http.NewRequest("GET", ks.URL+"/v2.0/trace?port=vm1&dst=broadcast", nil)
	req.Header.Set("X-User-Id", "u1")
	req.Header.Set("X-Project-Id", "p1")
	req.Header.Set("X-Roles", "member")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("member trace: status %d, want 403", resp.StatusCode)
	}
}
