package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"neutrino/internal/config"
	"neutrino/internal/dataplane"
	"neutrino/internal/dataplane/fake"
	"neutrino/internal/l2pop"
	"neutrino/internal/neutron"
	"neutrino/internal/rpc"
	"neutrino/internal/rpc/rpctest"
	"neutrino/internal/waittest"
)

// backend is what the in-process tests need from the database side: the
// rpc server's Backend plus writes the tests make as the API would.
type backend interface {
	rpc.Backend
	State() *neutron.State
}

type serverProc struct {
	srv    *rpc.Server
	cancel context.CancelFunc
	done   chan error
}

func startServer(t *testing.T, b rpc.Backend, cfg rpc.ServerConfig, addr string) *serverProc {
	t.Helper()
	var lis net.Listener
	var err error
	for i := 0; i < 100; i++ {
		if lis, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	cfg.PollInterval = 20 * time.Millisecond
	s := rpc.NewServer(b, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	p := &serverProc{srv: s, cancel: cancel, done: make(chan error, 1)}
	go func() { p.done <- s.Serve(ctx, lis) }()
	return p
}

func (p *serverProc) stop(t *testing.T) {
	p.cancel()
	if err := <-p.done; err != nil {
		t.Errorf("server: %v", err)
	}
}

type agentProc struct {
	host   string
	cfg    *config.Agent
	dp     *fake.Dataplane
	agent  *Agent
	cancel context.CancelFunc
	done   chan struct{}
}

func agentConfig(host, ip, url string, l2 bool) *config.Agent {
	return &config.Agent{Host: host, TransportURL: url, LocalIP: ip, L2Population: l2, ARPResponder: l2,
		TunnelTypes: []string{"vxlan"}, VXLANUDPPort: 4789, PollingInterval: 50 * time.Millisecond,
		ResyncInterval: 300 * time.Millisecond, ReportInterval: 200 * time.Millisecond, IntegrationBridge: "br-int", TunnelBridge: "br-tun", DatapathType: "netdev"}
}

func startAgent(t *testing.T, cfg *config.Agent, dp *fake.Dataplane, logger *slog.Logger) *agentProc {
	t.Helper()
	cc, err := rpc.ClientConfigFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	client, err := rpc.Dial(cc)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Options{Kind: KindOVS, Config: cfg, Server: client, Dataplane: dp, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &agentProc{host: cfg.Host, cfg: cfg, dp: dp, agent: a, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		defer client.Close()
		if err := a.Run(ctx); err != nil {
			t.Errorf("agent %s: %v", cfg.Host, err)
		}
	}()
	return p
}

func (p *agentProc) stop() {
	p.cancel()
	<-p.done
}

// freeAddr picks a loopback port for a server that will be restarted
// on the same address.
func freeAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	return lis.Addr().String()
}

// converged reports whether every agent's data plane holds exactly what
// the database implies, and every port with a plugged device is ACTIVE.
func converged(l2cfg l2pop.Config, b backend, agents []*agentProc) (bool, string) {
	st := b.State()
	m := l2pop.NewModel(l2cfg, st)
	for _, p := range agents {
		devs, _ := p.dp.Devices(context.Background())
		want := fake.Render(Desired(m.View(p.host), SettingsFor(KindOVS, p.cfg), devs))
		got, ok := p.dp.Applied()
		if !ok {
			return false, p.host + ": nothing applied"
		}
		if g := fake.Render(got); g != want {
			return false, fmt.Sprintf("%s applied\n%s\nwant\n%s", p.host, g, want)
		}
		plugged := map[string]bool{}
		for _, d := range devs {
			plugged[d.PortID] = d.Up
		}
		for _, port := range st.Ports {
			if port.HostID == p.host && plugged[port.ID] != (port.Status == neutron.StatusActive) {
				return false, fmt.Sprintf("port %s on %s is %s", port.ID, p.host, port.Status)
			}
		}
	}
	return true, ""
}

func waitConverged(t *testing.T, what string, l2cfg l2pop.Config, b backend, agents []*agentProc) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, why := converged(l2cfg, b, agents)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not converged: %s", what, why)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func plug(dp *fake.Dataplane, portID, mac string) {
	dp.SetDevice(dataplane.Device{PortID: portID, Name: "tap" + portID[:11], MAC: mac, Up: true})
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// writer is the API side of the in-process test: it creates networks
// and ports as the REST API would.
type writer interface {
	network(t *testing.T, name string) string
	port(t *testing.T, network, host string) (id, mac string)
	deletePort(t *testing.T, id string)
}

type memWriter struct {
	mem *rpctest.Memory
	n   int
}

func (w *memWriter) network(t *testing.T, name string) string {
	w.n++
	w.mem.CreateNetwork(name, int64(1000+w.n))
	return name
}

func (w *memWriter) port(t *testing.T, network, host string) (string, string) {
	w.n++
	id := fmt.Sprintf("%08x-0000-4000-8000-%012x", w.n, w.n)
	mac := fmt.Sprintf("fa:16:3e:00:%02x:%02x", w.n/256, w.n%256)
	w.mem.PutPort(id, network, host, mac, fmt.Sprintf("192.168.%d.%d", w.n/200, 10+w.n%200))
	return id, mac
}

func (w *memWriter) deletePort(t *testing.T, id string) { w.mem.DeletePort(id) }

func TestAgentsSurviveServerAndAgentRestarts(t *testing.T) {
	mem := rpctest.NewMemory()
	runRestartScenario(t, mem, &memWriter{mem: mem}, l2pop.Config{Enabled: true})
}

// runRestartScenario runs four agents against a server, kills and
// restarts the server and one agent mid-stream while the database
// changes, and checks every agent's applied state against the database.
func runRestartScenario(t *testing.T, b backend, w writer, l2cfg l2pop.Config) {
	logger := testLogger(t)
	addr := freeAddr(t)
	srv := startServer(t, b, rpc.ServerConfig{L2Pop: l2cfg, Logger: logger}, addr)
	url := "grpc://" + addr

	var agents []*agentProc
	for i := 0; i < 4; i++ {
		cfg := agentConfig(fmt.Sprintf("node-%d", i), fmt.Sprintf("198.18.5.%d", i+1), url, true)
		agents = append(agents, startAgent(t, cfg, fake.New(), logger))
	}
	var stopOnce sync.Once
	stopAll := func() {
		stopOnce.Do(func() {
			for _, a := range agents {
				a.stop()
			}
			srv.stop(t)
		})
	}
	t.Cleanup(stopAll)
	waittest.For(t, "agents registered", func() bool {
		n := 0
		for _, a := range b.State().Agents {
			if a.Alive {
				n++
			}
		}
		return n == 4
	})

	netA, netB := w.network(t, "net-a"), w.network(t, "net-b")
	place := func(network string, node int) string {
		id, mac := w.port(t, network, agents[node].host)
		plug(agents[node].dp, id, mac)
		return id
	}
	place(netA, 0)
	place(netA, 1)
	place(netB, 1)
	place(netB, 2)
	waitConverged(t, "initial", l2cfg, b, agents)

	// Kill the server; change the database while it is down.
	srv.stop(t)
	moved := place(netA, 2)
	place(netB, 3)
	srv = startServer(t, b, rpc.ServerConfig{L2Pop: l2cfg, Logger: logger}, addr)
	waitConverged(t, "after server restart", l2cfg, b, agents)

	// Kill an agent; its data plane keeps what it had (a process
	// restart). Change things that concern it meanwhile.
	agents[1].stop()
	before, _ := agents[1].dp.Applied()
	w.deletePort(t, moved)
	agents[2].dp.RemoveDevice("tap" + moved[:11])
	place(netA, 3)
	if now, _ := agents[1].dp.Applied(); fake.Render(now) != fake.Render(before) {
		t.Fatal("a stopped agent's data plane changed")
	}
	agents[1] = startAgent(t, agents[1].cfg, agents[1].dp, logger)
	waitConverged(t, "after agent restart", l2cfg, b, agents)

	// The state flushed by hand comes back at the next audit
	// (resync_interval): nothing else changed, so no polling pass applies.
	agents[3].dp.Forget()
	waitConverged(t, "after a hand flush", l2cfg, b, agents)

	// The scenario is not vacuous: node-0 forwards to net-a's other
	// hosts (node-1 and node-3) by unicast entries.
	st, _ := agents[0].dp.Applied()
	if n := st.Networks[netA]; len(n.Flood) != 2 || len(n.Entries) != 2 || len(st.Ports) != 1 {
		t.Errorf("node-0 applied\n%s\nwant net-a with 2 flood VTEPs, 2 entries and 1 local port", fake.Render(st))
	}
	stopAll()
}

// TestNoApplyBeforeSnapshot: an agent that cannot reach the server never
// touches its data plane (no flush on start).
func TestNoApplyBeforeSnapshot(t *testing.T) {
	addr := freeAddr(t)
	dp := fake.New()
	applied := make(chan int64, 100)
	cfg := agentConfig("node-x", "198.18.6.1", "grpc://"+addr, true)
	cc, _ := rpc.ClientConfigFor(cfg)
	client, err := rpc.Dial(cc)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	a, err := New(Options{Kind: KindOVS, Config: cfg, Server: client, Dataplane: dp, Logger: testLogger(t),
		OnApplied: func(rev int64) { applied <- rev }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()
	// Several polling passes run with no server.
	time.Sleep(10 * cfg.PollingInterval)
	if n := dp.Applies(); n != 0 {
		t.Errorf("agent applied %d times before any snapshot", n)
	}
	// Once the server is up, the first Apply carries its snapshot.
	mem := rpctest.NewMemory()
	mem.CreateNetwork("net-a", 1001)
	srv := startServer(t, mem, rpc.ServerConfig{L2Pop: l2pop.Config{Enabled: true}}, addr)
	select {
	case rev := <-applied:
		if rev == 0 {
			t.Errorf("first apply at revision 0")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no apply after the server came up")
	}
	if a.Snapshots() != 1 {
		t.Errorf("snapshots %d, want 1", a.Snapshots())
	}
	cancel()
	<-done
	srv.stop(t)
}
