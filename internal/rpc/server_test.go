package rpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"neutrino/internal/l2pop"
	"neutrino/internal/neutron"
	"neutrino/internal/rpc/rpctest"
	"neutrino/internal/waittest"
)

// harness runs one server over a Memory backend on a loopback port.
type harness struct {
	t      *testing.T
	mem    *rpctest.Memory
	srv    *Server
	addr   string
	cancel context.CancelFunc
	done   chan error
	logs   *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startServer(t *testing.T, mem *rpctest.Memory, cfg ServerConfig, addr string) *harness {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var lis net.Listener
	var err error
	// A restarted server reuses its port; the old socket may linger.
	for i := 0; i < 50; i++ {
		lis, err = net.Listen("tcp", addr)
		if err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	logs := &syncBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 10 * time.Millisecond
	}
	srv := NewServer(mem, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, mem: mem, srv: srv, addr: lis.Addr().String(), cancel: cancel, done: make(chan error, 1), logs: logs}
	go func() { h.done <- srv.Serve(ctx, lis) }()
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	if err := <-h.done; err != nil {
		h.t.Errorf("server returned %v", err)
	}
}

func dial(t *testing.T, addr string, cfg ClientConfig) *Client {
	t.Helper()
	cfg.Target = addr
	c, err := Dial(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// watcher is a minimal agent side: it applies updates as the agent does
// and records what it got.
type watcher struct {
	mu        sync.Mutex
	view      l2pop.View
	rev       int64
	synced    bool
	snapshots int
	deltas    int
	rejected  int // deltas that did not follow the held revision
	updates   chan struct{}
}

func newWatcher() *watcher { return &watcher{updates: make(chan struct{}, 1000)} }

func (w *watcher) apply(u Update) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case u.Snapshot != nil:
		w.view, w.rev, w.synced = *u.Snapshot, u.Revision, true
		w.snapshots++
	case u.Delta != nil:
		if !w.synced || u.Prev != w.rev {
			w.rejected++
			return fmt.Errorf("delta %d->%d on %d", u.Prev, u.Revision, w.rev)
		}
		nv, err := w.view.Apply(*u.Delta)
		if err != nil {
			return err
		}
		w.view, w.rev = nv, u.Revision
		w.deltas++
	}
	select {
	case w.updates <- struct{}{}:
	default:
	}
	return nil
}

func (w *watcher) state() (l2pop.View, int64, int, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.view, w.rev, w.snapshots, w.deltas
}

// run watches until ctx ends, reconnecting from its revision.
func (w *watcher) run(ctx context.Context, c *Client, host string) {
	for ctx.Err() == nil {
		w.mu.Lock()
		rev := w.rev
		w.mu.Unlock()
		_ = c.Watch(ctx, host, rev, w.apply)
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// expected is the view the database implies for host.
func expected(cfg l2pop.Config, mem *rpctest.Memory, host string) l2pop.View {
	return l2pop.NewModel(cfg, mem.State()).View(host)
}

func register(t *testing.T, c *Client, host, ip string, l2pop bool) {
	t.Helper()
	conf := fmt.Sprintf(`{"tunneling_ip":%q,"l2_population":%t,"tunnel_types":["vxlan"]}`, ip, l2pop)
	if _, err := c.ReportState(context.Background(), neutron.AgentReport{AgentType: neutron.AgentTypeOVS, Binary: "neutron-openvswitch-agent",
		Host: host, Topic: "N/A", Configurations: []byte(conf), StartFlag: true, TunnelIP: ip, TunnelTypes: []string{"vxlan"}}); err != nil {
		t.Fatalf("register %s: %v", host, err)
	}
}

func TestWatchSnapshotThenDeltasAndResume(t *testing.T) {
	cfg := l2pop.Config{Enabled: true}
	mem := rpctest.NewMemory()
	h := startServer(t, mem, ServerConfig{L2Pop: cfg}, "")
	c := dial(t, h.addr, ClientConfig{})
	ctx := context.Background()
	for i, host := range []string{"compute-1", "compute-2", "compute-3"} {
		register(t, c, host, fmt.Sprintf("198.18.0.%d", i+1), true)
	}
	mem.CreateNetwork("net-a", 1001)
	mem.PutPort("vm-a", "net-a", "compute-1", "fa:16:3e:00:00:0a", "192.168.1.11")
	mem.PutPort("vm-b", "net-a", "compute-2", "fa:16:3e:00:00:0b", "192.168.1.12")

	w := newWatcher()
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); w.run(wctx, c, "compute-1") }()
	matches := func() bool {
		v, _, _, _ := w.state()
		return v.Equal(expected(cfg, mem, "compute-1"))
	}
	waittest.For(t, "first snapshot", matches)

	// Port events reach the agent as deltas.
	for _, id := range []string{"vm-a", "vm-b"} {
		p, _ := mem.Port(id)
		if _, err := c.UpdateDevice(ctx, p.HostID, id, true); err != nil {
			t.Fatal(err)
		}
	}
	waittest.For(t, "entries after ports ACTIVE", func() bool {
		v, _, _, _ := w.state()
		return matches() && len(v.Networks["net-a"].Entries) == 1
	})
	_, _, snaps, deltas := w.state()
	if snaps != 1 || deltas == 0 {
		t.Fatalf("snapshots %d deltas %d: want one snapshot then deltas", snaps, deltas)
	}

	// Disconnect, change things, resume from the last revision: only the
	// missed deltas come, no snapshot.
	stop()
	<-done
	mem.PutPort("vm-c", "net-a", "compute-2", "fa:16:3e:00:00:0c", "192.168.1.13")
	if _, err := c.UpdateDevice(ctx, "compute-2", "vm-c", true); err != nil {
		t.Fatal(err)
	}
	mem.PutPort("vm-b", "net-a", "compute-2", "fa:16:3e:00:00:0b", "192.168.1.22")
	waittest.For(t, "server caught up", func() bool {
		v, _ := h.srv.hub.view("compute-1")
		return v.Equal(expected(cfg, mem, "compute-1"))
	})
	before := h.srv.Stats().Snapshots
	wctx, stop = context.WithCancel(ctx)
	done = make(chan struct{})
	go func() { defer close(done); w.run(wctx, c, "compute-1") }()
	waittest.For(t, "resumed state", matches)
	stop()
	<-done
	if got := h.srv.Stats().Snapshots; got != before {
		t.Errorf("resume sent %d snapshots, want none", got-before)
	}
	if _, _, snaps, _ := w.state(); snaps != 1 {
		t.Errorf("watcher got %d snapshots, want 1", snaps)
	}
}

func TestResumeTooOldGetsSnapshot(t *testing.T) {
	cfg := l2pop.Config{Enabled: true}
	mem := rpctest.NewMemory()
	h := startServer(t, mem, ServerConfig{L2Pop: cfg, LogLength: 2}, "")
	c := dial(t, h.addr, ClientConfig{})
	ctx := context.Background()
	register(t, c, "compute-1", "198.18.0.1", true)
	register(t, c, "compute-2", "198.18.0.2", true)
	mem.CreateNetwork("net-a", 1001)
	mem.PutPort("vm-a", "net-a", "compute-1", "fa:16:3e:00:00:0a", "192.168.1.11")
	c.UpdateDevice(ctx, "compute-1", "vm-a", true)

	w := newWatcher()
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); w.run(wctx, c, "compute-1") }()
	waittest.For(t, "snapshot", func() bool { v, _, _, _ := w.state(); return v.Equal(expected(cfg, mem, "compute-1")) })
	// Wait for the watcher to be gone (a sleep was not enough under load:
	// a delta it still took would leave its revision inside the log).
	stop()
	<-done
	// More changes of compute-1's view than the log keeps.
	for i := 0; i < 5; i++ {
		id := fmt.Sprintf("vm-%d", i)
		mem.PutPort(id, "net-a", "compute-2", fmt.Sprintf("fa:16:3e:00:01:%02x", i), fmt.Sprintf("192.168.1.%d", 50+i))
		c.UpdateDevice(ctx, "compute-2", id, true)
		waittest.For(t, "server applied "+id, func() bool {
			v, _ := h.srv.hub.view("compute-1")
			return v.Equal(expected(cfg, mem, "compute-1"))
		})
	}
	wctx, stop = context.WithCancel(ctx)
	defer stop()
	go w.run(wctx, c, "compute-1")
	waittest.For(t, "state after resync", func() bool { v, _, _, _ := w.state(); return v.Equal(expected(cfg, mem, "compute-1")) })
	if _, _, snaps, _ := w.state(); snaps != 2 {
		t.Errorf("snapshots %d, want 2 (the log no longer held the agent's revision)", snaps)
	}
}

func TestChangeLogPrunedReloads(t *testing.T) {
	cfg := l2pop.Config{Enabled: true}
	mem := rpctest.NewMemory()
	h := startServer(t, mem, ServerConfig{L2Pop: cfg}, "")
	c := dial(t, h.addr, ClientConfig{})
	ctx := context.Background()
	register(t, c, "compute-1", "198.18.0.1", true)
	register(t, c, "compute-2", "198.18.0.2", true)
	mem.CreateNetwork("net-a", 1001)
	mem.PutPort("vm-a", "net-a", "compute-1", "fa:16:3e:00:00:0a", "192.168.1.11")
	if _, err := c.UpdateDevice(context.Background(), "compute-1", "vm-a", true); err != nil {
		t.Fatal(err)
	}
	w := newWatcher()
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	go w.run(wctx, c, "compute-1")
	waittest.For(t, "first state", func() bool { v, _, _, _ := w.state(); return v.Equal(expected(cfg, mem, "compute-1")) })

	// The server misses rows (database down) while they are pruned.
	mem.SetFailing(true)
	mem.PutPort("vm-b", "net-a", "compute-2", "fa:16:3e:00:00:0b", "192.168.1.12")
	mem.UpdateDevice(ctx, "compute-2", "vm-b", true)
	mem.UpdateDevice(ctx, "compute-1", "vm-a", true)
	mem.Prune(mem.Revision())
	mem.SetFailing(false)
	waittest.For(t, "state after reload", func() bool { v, _, _, _ := w.state(); return v.Equal(expected(cfg, mem, "compute-1")) })
	if _, _, snaps, _ := w.state(); snaps != 1 {
		t.Errorf("snapshots %d: a reload must reach connected agents as a delta", snaps)
	}
	if !strings.Contains(h.logs.String(), "pruned") {
		t.Errorf("reload not logged:\n%s", h.logs)
	}
}

func TestFanOutOnlyToSpan(t *testing.T) {
	cfg := l2pop.Config{Enabled: true}
	mem := rpctest.NewMemory()
	h := startServer(t, mem, ServerConfig{L2Pop: cfg}, "")
	c := dial(t, h.addr, ClientConfig{})
	ctx := context.Background()
	const hosts = 10
	ws := make([]*watcher, hosts)
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	for i := 0; i < hosts; i++ {
		host := fmt.Sprintf("h%02d", i)
		register(t, c, host, fmt.Sprintf("198.18.1.%d", i+1), true)
		ws[i] = newWatcher()
		go ws[i].run(wctx, c, host)
	}
	mem.CreateNetwork("net-a", 1001)
	// net-a lives on h00..h02 only.
	for i := 0; i < 3; i++ {
		id := fmt.Sprintf("p%d", i)
		mem.PutPort(id, "net-a", fmt.Sprintf("h%02d", i), fmt.Sprintf("fa:16:3e:00:02:%02x", i), fmt.Sprintf("192.168.1.%d", 10+i))
		c.UpdateDevice(ctx, fmt.Sprintf("h%02d", i), id, true)
	}
	allMatch := func() bool {
		for i, w := range ws {
			v, _, _, _ := w.state()
			if !v.Equal(expected(cfg, mem, fmt.Sprintf("h%02d", i))) {
				return false
			}
		}
		return true
	}
	waittest.For(t, "all agents in sync", allMatch)
	// Agents registering after a watcher started sent it their VTEPs
	// (the underlay filter): count from here.
	deltasBefore := make([]int, hosts)
	for i, w := range ws {
		_, _, _, deltasBefore[i] = w.state()
	}
	before := h.srv.Stats().Messages
	// One more port ACTIVE on h01: h00, h01 and h02 change; nobody else.
	mem.PutPort("p9", "net-a", "h01", "fa:16:3e:00:02:99", "192.168.1.99")
	c.UpdateDevice(ctx, "h01", "p9", true)
	waittest.For(t, "agents in sync after p9", func() bool {
		v, _, _, _ := ws[0].state()
		return allMatch() && len(v.Networks["net-a"].Entries) == 3
	})
	time.Sleep(100 * time.Millisecond) // let any stray message arrive before counting
	sent := h.srv.Stats().Messages - before
	// Bind (h01 only: new local port) + ACTIVE (h00, h01, h02); when the
	// tail reads both rows in one batch, h01 gets them as one delta.
	if sent < 3 || sent > 4 {
		t.Errorf("port create+ACTIVE on a 3-host network with %d agents sent %d messages, want 3 or 4 (the network's hosts, plus one)", hosts, sent)
	}
	for i := 3; i < hosts; i++ {
		if _, _, snaps, deltas := ws[i].state(); snaps != 1 || deltas != deltasBefore[i] {
			t.Errorf("h%02d (not on net-a) got %d snapshots %d deltas (%d before the port); want only its snapshot and no delta for the port", i, snaps, deltas, deltasBefore[i])
		}
	}
}

func TestServerRestartHeals(t *testing.T) {
	cfg := l2pop.Config{Enabled: true}
	mem := rpctest.NewMemory()
	h := startServer(t, mem, ServerConfig{L2Pop: cfg}, "")
	c := dial(t, h.addr, ClientConfig{})
	ctx := context.Background()
	register(t, c, "compute-1", "198.18.0.1", true)
	register(t, c, "compute-2", "198.18.0.2", true)
	mem.CreateNetwork("net-a", 1001)
	mem.PutPort("vm-a", "net-a", "compute-1", "fa:16:3e:00:00:0a", "192.168.1.11")
	mem.PutPort("vm-b", "net-a", "compute-2", "fa:16:3e:00:00:0b", "192.168.1.12")
	c.UpdateDevice(ctx, "compute-1", "vm-a", true)
	w := newWatcher()
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	go w.run(wctx, c, "compute-1")
	waittest.For(t, "first state", func() bool { v, _, _, _ := w.state(); return v.Equal(expected(cfg, mem, "compute-1")) })

	addr := h.addr
	h.stop()
	mem.UpdateDevice(ctx, "compute-2", "vm-b", true) // while the server is down
	h2 := startServer(t, mem, ServerConfig{L2Pop: cfg}, addr)
	_ = h2
	waittest.For(t, "state after server restart", func() bool {
		v, _, _, _ := w.state()
		return v.Equal(expected(cfg, mem, "compute-1")) && len(v.Networks["net-a"].Entries) == 1
	})
}

func TestTokenAuth(t *testing.T) {
	mem := rpctest.NewMemory()
	h := startServer(t, mem, ServerConfig{Token: "s3cret"}, "")
	ctx := context.Background()
	for _, tc := range []struct {
		token string
		ok    bool
	}{{"", false}, {"wrong", false}, {"s3cret", true}} {
		c := dial(t, h.addr, ClientConfig{Token: tc.token})
		_, err := c.ReportState(ctx, neutron.AgentReport{AgentType: neutron.AgentTypeOVS, Host: "h1"})
		werr := c.Watch(ctx, "h1", 0, func(Update) error { return errors.New("got one") })
		if tc.ok {
			if err != nil {
				t.Errorf("token %q: report_state refused: %v", tc.token, err)
			}
			if werr == nil || werr.Error() != "got one" {
				t.Errorf("token %q: watch: %v, want a message", tc.token, werr)
			}
			continue
		}
		if status.Code(errors.Unwrap(err)) != codes.Unauthenticated {
			t.Errorf("token %q: report_state: %v, want Unauthenticated", tc.token, err)
		}
		if status.Code(errors.Unwrap(werr)) != codes.Unauthenticated {
			t.Errorf("token %q: watch: %v, want Unauthenticated", tc.token, werr)
		}
	}
	if n := strings.Count(h.logs.String(), "refused agent request"); n != 4 {
		t.Errorf("%d refusals logged, want 4:\n%s", n, h.logs)
	}
	if len(mem.Agents()) != 1 {
		t.Errorf("agents %d, want 1 (only the authenticated report)", len(mem.Agents()))
	}
}

func TestParseTransportURL(t *testing.T) {
	for _, tc := range []struct {
		in, want, errHas string
	}{
		{"grpc://127.0.0.1:9697", "127.0.0.1:9697", ""},
		{"grpc://controller", "controller:9697", ""},
		{"grpc://[fd00::1]:1234", "[fd00::1]:1234", ""},
		{"rabbit://guest:guest@controller:5672/", "", "transport_url = grpc://<server>:<rpc_bind_port>"},
		{"http://x", "", "unknown scheme"},
		{"", "", "transport_url is not set"},
		{"grpc://:9697", "", "no host"},
		{"grpc://198.18.1.1:9697,198.18.1.2", "198.18.1.1:9697,198.18.1.2:9697", ""},
		{"grpc://a:1,b:2/", "a:1,b:2", ""},
		{"grpc://a:1,:2", "", "no host"},
	} {
		got, err := ParseTransportURL(tc.in)
		if tc.errHas != "" {
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Errorf("%q: err %v, want one containing %q", tc.in, err, tc.errHas)
			}
			if err != nil && strings.Contains(err.Error(), "guest:guest") {
				t.Errorf("%q: error leaks the password: %v", tc.in, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// TestTwoServers: two server processes tail the same database; an agent
// that moves from one to the other ends in the same state, with no delta
// applied out of step.
func TestTwoServers(t *testing.T) {
	cfg := l2pop.Config{Enabled: true}
	mem := rpctest.NewMemory()
	a := startServer(t, mem, ServerConfig{L2Pop: cfg}, "")
	b := startServer(t, mem, ServerConfig{L2Pop: cfg}, "")
	ca, cb := dial(t, a.addr, ClientConfig{}), dial(t, b.addr, ClientConfig{})
	ctx := context.Background()
	register(t, ca, "compute-1", "198.18.0.1", true)
	register(t, cb, "compute-2", "198.18.0.2", true)
	mem.CreateNetwork("net-a", 1001)
	mem.PutPort("vm-a", "net-a", "compute-1", "fa:16:3e:00:00:0a", "192.168.1.11")
	mem.PutPort("vm-b", "net-a", "compute-2", "fa:16:3e:00:00:0b", "192.168.1.12")
	ca.UpdateDevice(ctx, "compute-1", "vm-a", true)

	w := newWatcher()
	matches := func() bool { v, _, _, _ := w.state(); return v.Equal(expected(cfg, mem, "compute-1")) }
	for i, c := range []*Client{ca, cb, ca, cb} {
		wctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); w.run(wctx, c, "compute-1") }()
		// Change the view while connected to this server.
		mem.PutPort(fmt.Sprintf("vm-x%d", i), "net-a", "compute-2", fmt.Sprintf("fa:16:3e:00:03:%02x", i), fmt.Sprintf("192.168.1.%d", 100+i))
		cb.UpdateDevice(ctx, "compute-2", fmt.Sprintf("vm-x%d", i), true)
		waittest.For(t, fmt.Sprintf("state via server %d", i%2), matches)
		stop()
		<-done
	}
	if w.rejected != 0 {
		t.Errorf("%d deltas did not follow the watcher's revision", w.rejected)
	}
	if v, _, _, _ := w.state(); len(v.Networks["net-a"].Entries) != 4 {
		t.Errorf("entries %d, want 4 (vm-b stays DOWN):\n%s", len(v.Networks["net-a"].Entries), v)
	}
}

// TestClientFailsOver: an agent configured with two servers
// (transport_url = grpc://a,b) keeps reporting and watching when the
// server it uses dies: it moves to the other one and resumes its stream.
func TestClientFailsOver(t *testing.T) {
	cfg := l2pop.Config{Enabled: true}
	mem := rpctest.NewMemory()
	a := startServer(t, mem, ServerConfig{L2Pop: cfg}, "")
	b := startServer(t, mem, ServerConfig{L2Pop: cfg}, "")
	target, err := ParseTransportURL("grpc://" + a.addr + "," + b.addr)
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, target, ClientConfig{})
	register(t, c, "compute-1", "198.18.0.1", true)
	register(t, c, "compute-2", "198.18.0.2", true)
	mem.CreateNetwork("net-a", 1001)
	mem.PutPort("vm-a", "net-a", "compute-1", "fa:16:3e:00:00:0a", "192.168.1.11")
	if _, err := c.UpdateDevice(context.Background(), "compute-1", "vm-a", true); err != nil {
		t.Fatal(err)
	}
	w := newWatcher()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.run(ctx, c, "compute-1") }()
	defer func() { stop(); <-done }()
	waittest.For(t, "snapshot via the first server", func() bool { _, _, snaps, _ := w.state(); return snaps == 1 })

	a.stop() // the server the client picked first dies
	mem.PutPort("vm-b", "net-a", "compute-2", "fa:16:3e:00:00:0b", "192.168.1.12")
	waittest.For(t, "update_device through the other server", func() bool {
		_, err := c.UpdateDevice(context.Background(), "compute-2", "vm-b", true)
		return err == nil
	})
	waittest.For(t, "the watch resumed on the other server", func() bool {
		v, _, _, _ := w.state()
		return v.Equal(expected(cfg, mem, "compute-1")) && len(v.Networks["net-a"].Entries) == 1
	})
	if _, _, snaps, _ := w.state(); snaps != 1 || w.rejected != 0 {
		t.Errorf("snapshots %d, rejected deltas %d; want 1 and 0 (the stream resumed from its revision)", snaps, w.rejected)
	}
}

// TestCommitWakesTail: with a poll interval nothing waits for, every write
// reaches a watching agent because the commit itself wakes the tail.
func TestCommitWakesTail(t *testing.T) {
	cfg := l2pop.Config{Enabled: true}
	mem := rpctest.NewMemory()
	h := startServer(t, mem, ServerConfig{L2Pop: cfg, PollInterval: time.Hour}, "")
	c := dial(t, h.addr, ClientConfig{})
	ctx := context.Background()
	register(t, c, "compute-1", "198.18.0.1", true)
	register(t, c, "compute-2", "198.18.0.2", true)
	w := newWatcher()
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); w.run(wctx, c, "compute-1") }()
	defer func() { stop(); <-done }()
	waittest.For(t, "first snapshot", func() bool { _, _, snaps, _ := w.state(); return snaps == 1 })

	mem.CreateNetwork("net-a", 1001)
	mem.PutPort("vm-a", "net-a", "compute-1", "fa:16:3e:00:00:0a", "192.168.1.11")
	mem.PutPort("vm-b", "net-a", "compute-2", "fa:16:3e:00:00:0b", "192.168.1.12")
	for _, p := range [][2]string{{"compute-1", "vm-a"}, {"compute-2", "vm-b"}} {
		if _, err := c.UpdateDevice(ctx, p[0], p[1], true); err != nil {
			t.Fatal(err)
		}
	}
	waittest.For(t, "deltas without polling", func() bool {
		v, _, _, _ := w.state()
		return v.Equal(expected(cfg, mem, "compute-1")) && len(v.Networks["net-a"].Entries) == 1
	})
}

// countingBackend counts change-log reads.
type countingBackend struct {
	*rpctest.Memory
	reads atomic.Int64
}

func (c *countingBackend) Changes(ctx context.Context, after int64, limit int) ([]neutron.Change, error) {
	c.reads.Add(1)
	return c.Memory.Changes(ctx, after, limit)
}

// TestWatchCatchUpCoalesces: a watcher reads the change log itself only
// when no read started after it arrived; one that did covers it (so
// thousands of agents connecting at once do not queue one read each),
// and without one it reads to the end, so its snapshot holds what was
// committed before it came.
func TestWatchCatchUpCoalesces(t *testing.T) {
	ctx := context.Background()
	mem := rpctest.NewMemory()
	b := &countingBackend{Memory: mem}
	s := NewServer(b, ServerConfig{L2Pop: l2pop.Config{Enabled: true}})
	st, err := mem.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s.load(st)

	mem.CreateNetwork("net-a", 1001)
	arrived := s.readsStarted.Load()       // a watcher comes after that commit
	if err := s.catchUp(ctx); err != nil { // the tail reads meanwhile
		t.Fatal(err)
	}
	reads := b.reads.Load()
	if err := s.catchUpSince(ctx, arrived); err != nil {
		t.Fatal(err)
	}
	if got := b.reads.Load(); got != reads {
		t.Errorf("watcher read the log again (%d reads, want %d) although a read started after it arrived", got, reads)
	}

	mem.PutPort("vm-a", "net-a", "compute-1", "fa:16:3e:00:00:0a", "192.168.1.11")
	arrived = s.readsStarted.Load() // no read since: the watcher must read
	if err := s.catchUpSince(ctx, arrived); err != nil {
		t.Fatal(err)
	}
	if b.reads.Load() == reads {
		t.Error("watcher did not read the log although no read started after it arrived")
	}
	if s.Revision() != mem.Revision() {
		t.Errorf("after the watcher's read the server is at revision %d, the log at %d", s.Revision(), mem.Revision())
	}
}

// TestWatchServesAppliedView: a registered agent's watch gets the view
// the server has applied, at its revision, without waiting for the
// change log (here unreadable, with a commit the server has not read);
// that snapshot equals a fresh computation from the state at its
// revision, and the deltas follow once the log is readable. A host the
// server does not know yet, and an agent holding a revision the server
// has not reached, wait for the log instead: their snapshot must hold
// the agent's registration and must not go back.
func TestWatchServesAppliedView(t *testing.T) {
	cfg := l2pop.Config{Enabled: true}
	mem := rpctest.NewMemory()
	h := startServer(t, mem, ServerConfig{L2Pop: cfg}, "")
	c := dial(t, h.addr, ClientConfig{})
	ctx := context.Background()
	register(t, c, "compute-1", "198.18.0.1", true)
	register(t, c, "compute-2", "198.18.0.2", true)
	mem.CreateNetwork("net-a", 1001)
	mem.PutPort("vm-a", "net-a", "compute-1", "fa:16:3e:00:00:0a", "192.168.1.11")
	mem.PutPort("vm-b", "net-a", "compute-2", "fa:16:3e:00:00:0b", "192.168.1.12")
	for _, p := range [][2]string{{"compute-1", "vm-a"}, {"compute-2", "vm-b"}} {
		if _, err := c.UpdateDevice(ctx, p[0], p[1], true); err != nil {
			t.Fatal(err)
		}
	}
	waittest.For(t, "server at the log's end", func() bool { return h.srv.Revision() == mem.Revision() })
	applied := mem.State()

	mem.SetFailing(true)
	mem.PutPort("vm-c", "net-a", "compute-2", "fa:16:3e:00:00:0c", "192.168.1.13")
	if _, err := c.UpdateDevice(ctx, "compute-2", "vm-c", true); err != nil {
		t.Fatal(err)
	}

	w := newWatcher()
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); w.run(wctx, c, "compute-1") }()
	defer func() { stop(); <-done }()
	waittest.For(t, "snapshot while the log is unreadable", func() bool { _, _, snaps, _ := w.state(); return snaps == 1 })
	v, rev, _, _ := w.state()
	if rev != applied.Revision {
		t.Fatalf("snapshot at revision %d, want the applied %d (the log is at %d)", rev, applied.Revision, mem.Revision())
	}
	if want := l2pop.NewModel(cfg, applied).View("compute-1"); !v.Equal(want) {
		t.Fatalf("snapshot differs from a fresh computation at revision %d:\ngot\n%s\nwant\n%s", rev, v, want)
	}
	if len(v.Networks["net-a"].Entries) != 1 {
		t.Fatalf("snapshot has %d entries, want vm-b's only:\n%s", len(v.Networks["net-a"].Entries), v)
	}

	// An unknown host and an agent ahead of the server get nothing until
	// the log can be read.
	for _, tc := range []struct {
		host string
		rev  int64
	}{{"compute-9", 0}, {"compute-2", mem.Revision()}} {
		got := 0
		err := c.Watch(ctx, tc.host, tc.rev, func(Update) error { got++; return nil })
		if status.Code(err) != codes.Unavailable || got != 0 {
			t.Errorf("watch %s from %d with the log unreadable: %d messages, %v; want none and Unavailable", tc.host, tc.rev, got, err)
		}
	}

	mem.SetFailing(false)
	waittest.For(t, "deltas after the log is readable", func() bool {
		v, _, _, _ := w.state()
		return v.Equal(expected(cfg, mem, "compute-1")) && len(v.Networks["net-a"].Entries) == 2
	})
	if _, _, snaps, _ := w.state(); snaps != 1 || w.rejected != 0 {
		t.Errorf("snapshots %d, rejected deltas %d; want 1 and 0", snaps, w.rejected)
	}
}
