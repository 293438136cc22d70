package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"neutrino/internal/agent"
	"neutrino/internal/api"
	"neutrino/internal/config"
	"neutrino/internal/dataplane"
	"neutrino/internal/dataplane/linux"
	"neutrino/internal/dataplane/ovs"
	"neutrino/internal/l2pop"
	"neutrino/internal/lab"
	"neutrino/internal/metrics"
	"neutrino/internal/ml2"
	"neutrino/internal/neutron"
	"neutrino/internal/rpc"
	"neutrino/internal/store"
	"neutrino/internal/store/storetest"
	"neutrino/internal/trace"
	"neutrino/internal/ui"
)

// auditInterval is the agents' resync_interval in these tests: the full
// pass that audits and repairs.
const auditInterval = 3 * time.Second

// TestLiveTraceAndAuditLinuxBridge runs the server and a Linux bridge
// agent per node (network namespaces, real kernel), removes vm2's FDB
// entry by hand on compute1, and checks that `trace --live` marks exactly
// that hop missing, and that the next audit reports the entry and
// restores it.
func TestLiveTraceAndAuditLinuxBridge(t *testing.T) {
	var vx string
	liveAndAudit(t, agent.KindLinuxBridge, removal{
		where: "bridge fdb",
		remove: func(ctx context.Context, w *observeLab, vm bootedVM) error {
			vx = fmt.Sprintf("vxlan-%d", w.vni)
			_, err := lab.Exec(ctx, w.nodes["compute1"].NS, "bridge", "fdb", "del", vm.mac, "dev", vx, "dst", w.nodes["compute2"].IP().String(), "self")
			return err
		},
		present: func(ctx context.Context, w *observeLab, vm bootedVM) bool {
			out, err := lab.Exec(ctx, w.nodes["compute1"].NS, "bridge", "fdb", "show")
			return err == nil && strings.Contains(string(out), fmt.Sprintf("%s dev %s dst %s", vm.mac, vx, w.nodes["compute2"].IP()))
		},
	})
}

// TestLiveTraceAndAuditOVS is the same with an OVS agent per node (own
// ovsdb-server and ovs-vswitchd, userspace datapath): vm2's br-tun table
// 20 flow is deleted by hand on compute1.
func TestLiveTraceAndAuditOVS(t *testing.T) {
	liveAndAudit(t, agent.KindOVS, removal{
		where: "br-tun table 20",
		remove: func(ctx context.Context, w *observeLab, vm bootedVM) error {
			_, err := w.ovs["compute1"].Ofctl(ctx, "-O", "OpenFlow13", "del-flows", "br-tun", "table=20,dl_dst="+vm.mac)
			return err
		},
		present: func(ctx context.Context, w *observeLab, vm bootedVM) bool {
			out, err := w.ovs["compute1"].Ofctl(ctx, "-O", "OpenFlow13", "dump-flows", "br-tun", "table=20,dl_dst="+vm.mac)
			return err == nil && strings.Contains(out, "priority=2,")
		},
	})
}

// removal is how a test takes one of vm2's entries away on compute1 by
// hand, and the hop a live trace must then mark missing.
type removal struct {
	where   string
	remove  func(context.Context, *observeLab, bootedVM) error
	present func(context.Context, *observeLab, bootedVM) bool
}

// observeLab is a running topology: server, agents, testnet with vm1 on
// compute1 and vm2 on compute2.
type observeLab struct {
	api string
	// agentMetrics is each node's agent /metrics URL.
	agentMetrics map[string]string
	nodes        map[string]*lab.Node
	ovs          map[string]*lab.OVS
	vms          map[string]bootedVM
	vni          int64
	plugin       *ml2.Plugin
	netID        string
}

func liveAndAudit(t *testing.T, kind string, rm removal) {
	if os.Geteuid() != 0 {
		t.Fatal("this test builds network namespaces and needs root: run `make test` (as root)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	w := startObserveLab(t, ctx, kind)

	runTrace := func() *trace.Trace {
		t.Helper()
		out := runVerb(t, ctx, traceCmd(), "--port", "vm1", "--dst", w.vms["vm2"].ip, "--live", "-f", "json", "--os-url", w.api)
		var tr trace.Trace
		if err := json.Unmarshal([]byte(out), &tr); err != nil {
			t.Fatalf("trace json: %v\n%s", err, out)
		}
		return &tr
	}
	// All hops verified once the agents converged.
	waitFor(t, 60*time.Second, "every hop verified", func() (bool, string) {
		tr := runTrace()
		var b bytes.Buffer
		trace.Render(&b, tr)
		return liveCount(tr, "verified") > 0 && liveCount(tr, "missing")+liveCount(tr, "unknown") == 0, b.String()
	})

	srvBefore := scrape(t, w.api+"/metrics")
	agentBefore := scrape(t, w.agentMetrics["compute1"])

	// Remove the entry by hand: trace --live marks that hop (and only
	// it) missing, and the next audit finds it missing and restores it.
	// A full pass under way when the entry goes (its audit read before)
	// may restore it unreported: then the attempt is made again.
	vm2 := w.vms["vm2"]
	var deleted time.Time
	var before, rep rpc.AuditReport
	for attempt := 0; ; attempt++ {
		before = lastAudit(t, ctx, w.api, "compute1")
		if err := rm.remove(ctx, w, vm2); err != nil {
			t.Fatal(err)
		}
		deleted = time.Now()
		if rm.present(ctx, w, vm2) {
			t.Fatal("the entry is still there after removing it by hand")
		}
		tr := runTrace()
		var b bytes.Buffer
		trace.Render(&b, tr)
		raced := lastAudit(t, ctx, w.api, "compute1").Audits != before.Audits // may have repaired it before the trace
		waitFor(t, 3*auditInterval, "audit after the deletion", func() (bool, string) {
			rep = lastAudit(t, ctx, w.api, "compute1")
			return rep.Audits > before.Audits, fmt.Sprintf("%+v", rep)
		})
		// The first audit after the deletion must have read after it.
		raced = raced || rep.Audits != before.Audits+1 || !rep.ComparedAt.After(deleted)
		if raced && attempt < 3 {
			waitFor(t, 3*auditInterval, "entry restored", func() (bool, string) { return rm.present(ctx, w, vm2), "" })
			continue
		}
		t.Logf("live trace with the entry removed:\n%s", b.String())
		missing := 0
		for _, s := range tr.Steps {
			for _, h := range s.Hops {
				if h.Live == "missing" {
					missing++
					if h.Host != "compute1" || h.Where != rm.where {
						t.Errorf("hop %s %s marked missing", h.Host, h.Where)
					}
				}
			}
		}
		if missing != 1 || !strings.Contains(b.String(), "[missing: unicast vni") {
			t.Errorf("want exactly the %s hop on compute1 missing, got %d", rm.where, missing)
		}
		if raced {
			t.Errorf("every attempt raced a full pass: audits went from %d to %d, last compared at %v, entry removed at %v",
				before.Audits, rep.Audits, rep.ComparedAt, deleted)
		}
		break
	}
	found := false
	for _, d := range rep.Differences {
		if d.Kind == "missing" && d.Want != nil && d.Want.MAC == vm2.mac {
			found = true
		}
	}
	if !found || rep.Repaired < 1 || rep.Error != "" {
		t.Errorf("audit after deletion: %+v", rep)
	}
	if !rm.present(ctx, w, vm2) {
		t.Error("entry not restored")
	}
	t.Logf("restored by the audit %v after the deletion (resync_interval %v)", rep.ComparedAt.Sub(deleted).Round(time.Millisecond), auditInterval)
	checkMetrics(t, ctx, w, srvBefore, agentBefore)
	out := runVerb(t, ctx, auditCmd(), "--os-url", w.api)
	t.Logf("neutrino audit:\n%s", out)
	if !strings.Contains(out, "compute1: missing unicast vni") {
		t.Errorf("neutrino audit does not show the difference:\n%s", out)
	}
	// On demand: a clean audit now.
	out = runVerb(t, ctx, auditCmd(), "--node", "compute1", "--now", "-f", "json", "--os-url", w.api)
	var now rpc.AuditReport
	if err := json.Unmarshal([]byte(out), &now); err != nil || now.Audits <= rep.Audits || len(now.Differences) != 0 || !now.Connected {
		t.Errorf("audit --now: %v %s", err, out)
	}
}

// startObserveLab starts the server (ML2 on SQLite, the agents' gRPC
// service, the API with trace and audits), three nodes with an agent of
// kind each (l2population, ARP responder, resync_interval auditInterval)
// and boots vm1 on compute1 and vm2 on compute2. Everything is removed
// when the test ends.
func startObserveLab(t *testing.T, ctx context.Context, kind string) *observeLab {
	t.Helper()
	st := storetest.Open(t, store.SQLite)
	scfg := &config.Server{GlobalPhysnetMTU: 1500, BaseMAC: "fa:16:3e:00:00:00", AgentDownTime: 75 * time.Second,
		TypeDrivers: []string{"vxlan"}, TenantNetworkTypes: []string{"vxlan"},
		MechanismDrivers: []string{kind, "l2population"}, VNIRanges: []config.Range{{Min: 1001, Max: 2000}}}
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
	t.Cleanup(func() { scancel(); <-sdone })
	reg := newRegistry()
	sm := metrics.NewServer(reg, serverMetrics{agents: rpcSrv, store: st, plugin: plugin})
	httpSrv := httptest.NewServer(withObserve(api.New(plugin, api.Options{Extra: observeResources(plugin, rpcSrv), Observe: sm.Observe}), reg, ui.Handler(uiSource{plugin, rpcSrv}, 0, nil)))
	t.Cleanup(httpSrv.Close)

	l, err := lab.New(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Teardown(context.Background()); err != nil {
			t.Errorf("teardown: %v", err)
		}
		ents, _ := os.ReadDir("/run/netns")
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), l.Prefix) {
				t.Errorf("namespace %s left behind", e.Name())
			}
		}
	})
	w := &observeLab{api: httpSrv.URL, nodes: map[string]*lab.Node{}, ovs: map[string]*lab.OVS{}, agentMetrics: map[string]string{}}
	for _, name := range []string{"controller", "compute1", "compute2"} {
		node, err := l.AddNode(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		w.nodes[name] = node
		cfg := &config.Agent{Host: name, TransportURL: "grpc://" + lis.Addr().String(), Namespace: node.NS,
			LocalIP: node.IP().String(), L2Population: true, ARPResponder: true, TunnelTypes: []string{"vxlan"},
			EnableVXLAN: true, VXLANUDPPort: 4789, PollingInterval: 100 * time.Millisecond, ReportInterval: 200 * time.Millisecond,
			ResyncInterval: auditInterval, IntegrationBridge: "br-int", DatapathType: "netdev"}
		var dp dataplane.Dataplane
		if kind == agent.KindOVS {
			o, err := lab.StartNodeOVS(ctx, node, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := o.Stop(); err != nil {
					t.Errorf("stop ovs of %s: %v", name, err)
				}
			})
			w.ovs[name] = o
			dp, err = ovs.New(ctx, ovs.Config{OVSDB: o.OVSDB(), DatapathType: "netdev"}, nil)
		} else {
			dp, err = linux.New(linux.Options{NetNS: node.NS})
		}
		if err != nil {
			t.Fatal(err)
		}
		areg := newRegistry()
		ms := httptest.NewServer(metrics.Handler(areg))
		t.Cleanup(ms.Close)
		w.agentMetrics[name] = ms.URL + "/metrics"
		t.Cleanup(startAgent(t, ctx, kind, cfg, dp, areg))
	}
	waitAgents(t, ctx, plugin, 3)
	n, vms := bootPair(t, ctx, plugin, l, w.nodes, w.ovs)
	w.vms, w.vni, w.plugin, w.netID = vms, n.Segments[0].SegmentationID, plugin, n.ID
	return w
}

type bootedVM struct{ id, mac, ip string }

// bootPair creates testnet with a subnet and plugs vm1 on compute1 and
// vm2 on compute2, waiting for both ports to go ACTIVE.
func bootPair(t *testing.T, ctx context.Context, plugin *ml2.Plugin, l *lab.Lab, nodes map[string]*lab.Node, ovss map[string]*lab.OVS) (*neutron.Network, map[string]bootedVM) {
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
		v, err := l.AddVM(ctx, nodes[vm.host], vm.name, lab.VIF{PortID: p.ID, MAC: p.MACAddress,
			Addr: netip.PrefixFrom(netip.MustParseAddr(ip), 24), MTU: n.MTU})
		if err != nil {
			t.Fatal(err)
		}
		if o := ovss[vm.host]; o != nil {
			if err := o.PlugVIF(ctx, "br-int", v.Tap, p.ID, p.MACAddress, "vm-"+vm.name); err != nil {
				t.Fatal(err)
			}
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

func startAgent(t *testing.T, ctx context.Context, kind string, cfg *config.Agent, dp dataplane.Dataplane, reg prometheus.Registerer) func() {
	t.Helper()
	cc, err := rpc.ClientConfigFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	client, err := rpc.Dial(cc)
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(agent.Options{Kind: kind, Config: cfg, Server: client, Dataplane: dp, Registry: reg})
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

// scrape reads a /metrics page into series -> value (the series is the
// name with its labels as the text format prints them).
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("scrape %s: %d %v", url, resp.StatusCode, err)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("scrape %s: line %q: %v", url, line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// checkMetrics compares scrapes from before the hand deletion with now:
// the series exist and moved with what the test did.
func checkMetrics(t *testing.T, ctx context.Context, w *observeLab, srvBefore, agentBefore map[string]float64) {
	t.Helper()
	srv := scrape(t, w.api+"/metrics")
	ag := scrape(t, w.agentMetrics["compute1"])
	moved := func(what string, before, after map[string]float64, series string) {
		t.Helper()
		a, ok := after[series]
		if !ok {
			t.Errorf("%s: no series %s", what, series)
			return
		}
		if a <= before[series] {
			t.Errorf("%s: %s did not move (%v -> %v)", what, series, before[series], a)
		}
	}
	has := func(what string, m map[string]float64, series string, want float64) {
		t.Helper()
		if v, ok := m[series]; !ok || v != want {
			t.Errorf("%s: %s = %v (present %v), want %v", what, series, v, ok, want)
		}
	}
	moved("server", srvBefore, srv, `neutrino_api_requests_total{resource="trace",status="200",verb="GET"}`)
	moved("server", srvBefore, srv, `neutrino_api_request_duration_seconds_count{resource="trace",verb="GET"}`)
	moved("server", srvBefore, srv, `neutrino_api_requests_total{resource="audits",status="200",verb="GET"}`)
	has("server", srv, `neutrino_watchers`, 3)
	for _, h := range []string{"controller", "compute1", "compute2"} {
		if _, ok := srv[`neutrino_watcher_lag_revisions{host="`+h+`"}`]; !ok {
			t.Errorf("server: no watcher lag for %s", h)
		}
	}
	kind := neutron.AgentTypeLinuxBridge
	if len(w.ovs) > 0 {
		kind = neutron.AgentTypeOVS
	}
	has("server", srv, `neutrino_agents{agent_type="`+kind+`",state="alive"}`, 3)
	if _, ok := srv["neutrino_db_transaction_retries_total"]; !ok {
		t.Error("server: no neutrino_db_transaction_retries_total")
	}
	moved("agent", agentBefore, ag, `neutrino_agent_audit_differences_total{difference="missing",kind="unicast"}`)
	moved("agent", agentBefore, ag, `neutrino_agent_audit_repaired_total`)
	moved("agent", agentBefore, ag, `neutrino_agent_audits_total`)
	moved("agent", agentBefore, ag, `neutrino_agent_apply_duration_seconds_count`)
	has("agent", ag, `neutrino_agent_entries{kind="unicast"}`, 1)
	has("agent", ag, `neutrino_agent_revision_lag`, 0)

	// A port created on compute2 moves the head revision and compute1's
	// stream revision.
	const project = "b0000000000000000000000000000002"
	before := scrape(t, w.agentMetrics["compute1"])["neutrino_agent_stream_revision"]
	headBefore := srv["neutrino_changelog_head_revision"]
	p, err := w.plugin.CreatePort(ctx, neutron.PortCreate{ProjectID: project, NetworkID: w.netID, Name: "vm3", HostID: "compute2", DeviceOwner: "compute:nova"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.plugin.UpdateDevice(ctx, "compute2", p.ID, true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "revisions move", func() (bool, string) {
		s, a := scrape(t, w.api+"/metrics"), scrape(t, w.agentMetrics["compute1"])
		return s["neutrino_changelog_head_revision"] > headBefore && a["neutrino_agent_stream_revision"] > before,
			fmt.Sprintf("head %v -> %v, compute1 stream %v -> %v", headBefore, s["neutrino_changelog_head_revision"], before, a["neutrino_agent_stream_revision"])
	})
}
