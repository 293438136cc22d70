package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"neutrino/internal/agent"
	"neutrino/internal/api"
	"neutrino/internal/config"
	"neutrino/internal/dataplane"
	"neutrino/internal/dataplane/linux"
	"neutrino/internal/l2pop"
	"neutrino/internal/lab"
	"neutrino/internal/ml2"
	"neutrino/internal/neutron"
	"neutrino/internal/rpc"
	"neutrino/internal/store"
	"neutrino/internal/store/storetest"
	"neutrino/internal/trace"
)

// auditInterval is the agents' resync_interval in these tests: the full
// pass that audits and repairs.
const auditInterval = 3 * time.Second

// TestLiveTraceAndAuditLinuxBridge runs the server and a Linux bridge
// agent per node (network namespaces, real kernel), removes an FDB entry
// by hand on compute1, and checks that `trace --live` marks exactly that
// hop missing, that the next audit reports the entry and restores it.
func TestLiveTraceAndAuditLinuxBridge(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test builds network namespaces and needs root: run `make test` (as root)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	st := storetest.Open(t, store.SQLite)
	scfg := &config.Server{GlobalPhysnetMTU: 1500, BaseMAC: "fa:16:3e:00:00:00", AgentDownTime: 75 * time.Second,
		TypeDrivers: []string{"vxlan"}, TenantNetworkTypes: []string{"vxlan"},
		MechanismDrivers: []string{"linuxbridge", "l2population"}, VNIRanges: []config.Range{{Min: 1001, Max: 2000}}}
	plugin, err := ml2.New(ctx, st, scfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rpcSrv := rpc.NewServer(plugin, rpc.ServerConfig{L2Pop: l2pop.Config{Enabled: true}, PollInterval: 50 * time.Millisecond})
	sctx, scancel := context.WithCancel(ctx)
	sdone := make(chan error, 1)
	go func() { sdone <- rpcSrv.Serve(sctx, lis) }()
	defer func() { scancel(); <-sdone }()
	httpSrv := httptest.NewServer(api.New(plugin, api.Options{Extra: observeResources(plugin, rpcSrv)}))
	defer httpSrv.Close()

	l, err := lab.New(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := l.Teardown(context.Background()); err != nil {
			t.Errorf("teardown: %v", err)
		}
	}()
	var stops []func()
	defer func() {
		for _, s := range stops {
			s()
		}
	}()
	nodes := map[string]*lab.Node{}
	for _, name := range []string{"controller", "compute1", "compute2"} {
		node, err := l.AddNode(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		nodes[name] = node
		cfg := &config.Agent{Host: name, TransportURL: "grpc://" + lis.Addr().String(), Namespace: node.NS,
			LocalIP: node.IP().String(), L2Population: true, ARPResponder: true, TunnelTypes: []string{"vxlan"},
			EnableVXLAN: true, VXLANUDPPort: 4789, PollingInterval: 100 * time.Millisecond, ReportInterval: 200 * time.Millisecond,
			ResyncInterval: auditInterval}
		dp, err := linux.New(linux.Options{NetNS: node.NS})
		if err != nil {
			t.Fatal(err)
		}
		stops = append(stops, startAgent(t, ctx, agent.KindLinuxBridge, cfg, dp))
	}
	waitAgents(t, ctx, plugin, 3)
	n, vms := bootPair(t, ctx, plugin, l, nodes)
	vni := n.Segments[0].SegmentationID

	runTrace := func() *trace.Trace {
		t.Helper()
		out := runVerb(t, ctx, traceCmd(), "--port", "vm1", "--dst", vms["vm2"].ip, "--live", "-f", "json", "--os-url", httpSrv.URL)
		var tr trace.Trace
		if err := json.Unmarshal([]byte(out), &tr); err != nil {
			t.Fatalf("trace json: %v\n%s", err, out)
		}
		return &tr
	}
	// All hops verified once the agents converged.
	waitFor(t, 30*time.Second, "every hop verified", func() (bool, string) {
		tr := runTrace()
		var b bytes.Buffer
		trace.Render(&b, tr)
		return liveCount(tr, "verified") > 0 && liveCount(tr, "missing")+liveCount(tr, "unknown") == 0, b.String()
	})

	// Remove vm2's unicast entry on compute1 by hand: trace --live
	// marks that hop (and only it) missing.
	vx := fmt.Sprintf("vxlan-%d", vni)
	entry := fmt.Sprintf("%s dev %s dst %s", vms["vm2"].mac, vx, nodes["compute2"].IP())
	var deleted time.Time
	var before rpc.AuditReport
	for attempt := 0; ; attempt++ {
		before = lastAudit(t, ctx, httpSrv.URL, "compute1")
		if _, err := lab.Exec(ctx, nodes["compute1"].NS, "bridge", "fdb", "del", vms["vm2"].mac, "dev", vx, "dst", nodes["compute2"].IP().String(), "self"); err != nil {
			t.Fatal(err)
		}
		deleted = time.Now()
		tr := runTrace()
		var b bytes.Buffer
		trace.Render(&b, tr)
		if after := lastAudit(t, ctx, httpSrv.URL, "compute1"); after.Audits != before.Audits {
			// An audit ran in between and may have repaired it already.
			if attempt < 3 {
				waitFor(t, 10*time.Second, "entry restored", func() (bool, string) { return fdbHas(ctx, nodes["compute1"].NS, entry), "" })
				continue
			}
		}
		t.Logf("live trace with the entry removed:\n%s", b.String())
		missing := 0
		for _, s := range tr.Steps {
			for _, h := range s.Hops {
				if h.Live == "missing" {
					missing++
					if h.Host != "compute1" || h.Where != "bridge fdb" {
						t.Errorf("hop %s %s marked missing", h.Host, h.Where)
					}
				}
			}
		}
		if missing != 1 || !strings.Contains(b.String(), "[missing: unicast vni") {
			t.Errorf("want exactly the bridge fdb hop on compute1 missing, got %d", missing)
		}
		break
	}

	// The next audit on compute1 finds the entry missing and restores it.
	var rep rpc.AuditReport
	waitFor(t, 3*auditInterval, "audit after the deletion", func() (bool, string) {
		rep = lastAudit(t, ctx, httpSrv.URL, "compute1")
		return rep.ComparedAt.After(deleted) && rep.Audits > before.Audits, fmt.Sprintf("%+v", rep)
	})
	if rep.Audits != before.Audits+1 {
		t.Errorf("audits went from %d to %d: the first audit after the deletion should report it", before.Audits, rep.Audits)
	}
	found := false
	for _, d := range rep.Differences {
		if d.Kind == "missing" && d.Want != nil && d.Want.MAC == vms["vm2"].mac {
			found = true
		}
	}
	if !found || rep.Repaired < 1 || rep.Error != "" {
		t.Errorf("audit after deletion: %+v", rep)
	}
	if !fdbHas(ctx, nodes["compute1"].NS, entry) {
		t.Errorf("entry %q not restored", entry)
	}
	t.Logf("restored by the audit %v after the deletion (resync_interval %v)", rep.ComparedAt.Sub(deleted).Round(time.Millisecond), auditInterval)
	out := runVerb(t, ctx, auditCmd(), "--os-url", httpSrv.URL)
	t.Logf("neutrino audit:\n%s", out)
	if !strings.Contains(out, "compute1: missing unicast vni") {
		t.Errorf("neutrino audit does not show the difference:\n%s", out)
	}
	// On demand: a clean audit now.
	out = runVerb(t, ctx, auditCmd(), "--node", "compute1", "--now", "-f", "json", "--os-url", httpSrv.URL)
	var now rpc.AuditReport
	if err := json.Unmarshal([]byte(out), &now); err != nil || now.Audits <= rep.Audits || len(now.Differences) != 0 || !now.Connected {
		t.Errorf("audit --now: %v %s", err, out)
	}
}

type bootedVM struct{ id, mac, ip string }

// bootPair creates testnet with a subnet and plugs vm1 on compute1 and
// vm2 on compute2, waiting for both ports to go ACTIVE.
func bootPair(t *testing.T, ctx context.Context, plugin *ml2.Plugin, l *lab.Lab, nodes map[string]*lab.Node) (*neutron.Network, map[string]bootedVM) {
	t.Helper()
	const project = "b0000000000000000000000000000002"
	n, err := plugin.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: project, Name: "testnet"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plugin.CreateSubnet(ctx, neutron.SubnetCreate{ProjectID: project, NetworkID: n.ID, IPVersion: 4, CIDR: "192.168.1.0/24"}); err != nil {
		t.Fatal(err)
	}
	vms := map[string]bootedVM{}
	for _, vm := range []struct{ name, host string }{{"vm1", "compute1"}, {"vm2", "compute2"}} {
		p, err := plugin.CreatePort(ctx, neutron.PortCreate{ProjectID: project, NetworkID: n.ID, Name: vm.name, HostID: vm.host, DeviceOwner: "compute:nova"})
		if err != nil {
			t.Fatal(err)
		}
		ip := p.FixedIPs[0].IPAddress
		if _, err := l.AddVM(ctx, nodes[vm.host], vm.name, lab.VIF{PortID: p.ID, MAC: p.MACAddress,
			Addr: netip.PrefixFrom(netip.MustParseAddr(ip), 24), MTU: n.MTU}); err != nil {
			t.Fatal(err)
		}
		vms[vm.name] = bootedVM{id: p.ID, mac: strings.ToLower(p.MACAddress), ip: ip}
	}
	for name, vm := range vms {
		waitFor(t, 30*time.Second, name+" ACTIVE", func() (bool, string) {
			p, err := plugin.GetPort(ctx, vm.id)
			return err == nil && p.Status == neutron.StatusActive, fmt.Sprint(err)
		})
	}
	return n, vms
}

func startAgent(t *testing.T, ctx context.Context, kind string, cfg *config.Agent, dp dataplane.Dataplane) func() {
	t.Helper()
	cc, err := rpc.ClientConfigFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	client, err := rpc.Dial(cc)
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(agent.Options{Kind: kind, Config: cfg, Server: client, Dataplane: dp})
	if err != nil {
		t.Fatal(err)
	}
	actx, acancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(actx) }()
	return func() { acancel(); <-done; client.Close(); dp.Close() }
}

func waitAgents(t *testing.T, ctx context.Context, plugin *ml2.Plugin, n int) {
	t.Helper()
	waitFor(t, 60*time.Second, "agents registered", func() (bool, string) {
		s, err := plugin.Snapshot(ctx)
		return err == nil && len(s.Agents) == n, fmt.Sprint(err)
	})
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		done, detail := ok()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v\n%s", what, d, detail)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// runVerb runs a client verb and returns its output; it fails the test
// on an error.
func runVerb(t *testing.T, ctx context.Context, cmd *cobra.Command, args ...string) string {
	t.Helper()
	out, err := tryVerb(ctx, cmd, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", cmd.Name(), strings.Join(args, " "), err, out)
	}
	return out
}

func tryVerb(ctx context.Context, cmd *cobra.Command, args ...string) (string, error) {
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	return out.String(), err
}

func liveCount(tr *trace.Trace, state string) int {
	n := 0
	for _, s := range tr.Steps {
		for _, h := range s.Hops {
			if h.Live == state {
				n++
			}
		}
		for _, c := range s.Copies {
			for _, h := range c.Hops {
				if h.Live == state {
					n++
				}
			}
		}
	}
	return n
}

func lastAudit(t *testing.T, ctx context.Context, base, host string) rpc.AuditReport {
	t.Helper()
	// Before its first audit a node has none (404): the zero report.
	out, err := tryVerb(ctx, auditCmd(), "--node", host, "-f", "json", "--os-url", base)
	var r rpc.AuditReport
	if err == nil {
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("audit json: %v\n%s", err, out)
		}
	}
	return r
}

func fdbHas(ctx context.Context, ns, entry string) bool {
	out, err := lab.Exec(ctx, ns, "bridge", "fdb", "show")
	return err == nil && strings.Contains(string(out), entry)
}
