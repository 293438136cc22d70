// Command convergence is the agents' scale run: one rpc server over an
// in-memory backend and many real agents (internal/agent) on fake data
// planes, all in one process over loopback gRPC. It measures the time from
// a port becoming ACTIVE to every agent that must know it having applied
// it, the messages and bytes the server sends per port event, the server's
// memory, and one agent's full resync.
//
//	go run ./bench/convergence -agents 1000 -networks 1000 -ports 20000
//
// The in-memory backend stands in for the plugin so the run measures the
// stream, not a database.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	_ "net/http/pprof"
	"neutrino/bench/machine"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"neutrino/internal/agent"
	"neutrino/internal/config"
	"neutrino/internal/dataplane"
	"neutrino/internal/dataplane/fake"
	"neutrino/internal/l2pop"
	"neutrino/internal/neutron"
	"neutrino/internal/rpc"
	"neutrino/internal/rpc/rpctest"
)

func main() {
	nAgents := flag.String("agents", "1000", "agents (hosts); a comma-separated list runs each size in turn in the same process")
	nNets := flag.String("networks", "1000", "networks (one per size of -agents)")
	nPorts := flag.String("ports", "20000", "ports, spread over networks and hosts (one per size of -agents)")
	preload := flag.Bool("preload-ports", false, "put the ports, bound and ACTIVE, in the backend before the server starts (else the run binds them and the agents report them up)")
	nEvents := flag.Int("events", 300, "measured port events (one at a time)")
	resync := flag.Int("resync-entries", 10000, "entries in the resync agent's view (0: skip)")
	nClients := flag.Int("clients", 20, "gRPC connections the agents share")
	starting := flag.Int("start-concurrency", 0, "at most this many agents starting at once (started, first snapshot not yet applied); 0: all at once")
	poll := flag.Duration("polling-interval", 2*time.Second, "agents' polling_interval")
	seed := flag.Uint64("seed", 1, "random seed")
	verbose := flag.Bool("v", false, "log agents and server")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	memProfile := flag.String("memprofile", "", "write a heap profile to this file when the setup is done")
	pprofAddr := flag.String("pprof", "", "serve net/http/pprof on this loopback address (e.g. 127.0.0.1:6061) to profile a long run while it runs")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "convergence:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if *pprofAddr != "" {
		go func() { fmt.Fprintln(os.Stderr, "pprof:", http.ListenAndServe(*pprofAddr, nil)) }()
	}
	var inner slog.Handler = slog.DiscardHandler
	if *verbose {
		inner = slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})
	}
	ends := &streamEnds{inner: inner, endCounts: &endCounts{counts: map[string]int64{}}}
	logger := slog.New(ends)
	agents, e1 := ints(*nAgents)
	nets, e2 := ints(*nNets)
	ports, e3 := ints(*nPorts)
	if err := errors.Join(e1, e2, e3); err != nil || len(nets) != len(agents) || len(ports) != len(agents) {
		fmt.Fprintln(os.Stderr, "convergence: -agents, -networks and -ports need one number per size", err)
		os.Exit(2)
	}
	fmt.Printf("machine: %s\n", machine.Read())
	for i := range agents {
		ends.reset()
		b := &bench{r: rand.New(rand.NewPCG(*seed, 7)), log: logger, ends: ends, poll: *poll, memProfile: *memProfile, preloadPorts: *preload,
			startConcurrency: *starting}
		if err := b.run(agents[i], nets[i], ports[i], *nEvents, *resync, *nClients); err != nil {
			pprof.StopCPUProfile()
			fmt.Fprintln(os.Stderr, "convergence:", err)
			os.Exit(1)
		}
	}
}

func ints(list string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("bad number %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}

type bench struct {
	r          *rand.Rand
	log        *slog.Logger
	ends       *streamEnds
	poll       time.Duration
	memProfile string
	// preloadPorts: ports are ACTIVE in the backend before the server
	// starts.
	preloadPorts bool
	// startConcurrency bounds the agents starting at once (0: none).
	startConcurrency int

	// mu guards agents while they are being started (progress reads it).
	mu sync.Mutex

	mem     *rpctest.Memory
	srv     *rpc.Server
	url     string
	clients []*rpc.Client
	tr      *tracker
	agents  []*node
	nets    []string
	nport   int
}

type node struct {
	// firstApplied, when set, is called once, when the agent first
	// applied a revision.
	firstApplied func()
	once         sync.Once
	host         string
	cfg          *config.Agent
	dp           *fake.Dataplane
	a            *agent.Agent
	cancel       context.CancelFunc
	done         chan struct{}
}

func (b *bench) startAgent(n *node, client *rpc.Client) error {
	a, err := agent.New(agent.Options{Kind: agent.KindOVS, Config: n.cfg, Server: client, Dataplane: n.dp, Logger: b.log,
		OnApplied: func(rev int64) {
			b.tr.applied(n.host, rev)
			if n.firstApplied != nil {
				n.once.Do(n.firstApplied)
			}
		}})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.a, n.cancel, n.done = a, cancel, make(chan struct{})
	// The label marks the agents' CPU (and their goroutines') in a CPU
	// profile: go tool pprof -tags.
	go pprof.Do(ctx, pprof.Labels("side", "agents"), func(ctx context.Context) { defer close(n.done); a.Run(ctx) })
	return nil
}

func (n *node) stop() {
	n.cancel()
	<-n.done
}

func (b *bench) newPort(network string, n *node) string {
	b.nport++
	id := fmt.Sprintf("%08x-0000-4000-8000-%012x", b.nport, b.nport)
	mac := fmt.Sprintf("fa:16:3e:%02x:%02x:%02x", b.nport>>16&0xff, b.nport>>8&0xff, b.nport&0xff)
	ip := fmt.Sprintf("10.%d.%d.%d", b.nport>>16&0xff, b.nport>>8&0xff, b.nport&0xff)
	b.mem.PutPort(id, network, n.host, mac, ip)
	n.dp.SetDevice(dataplane.Device{PortID: id, Name: "tap" + id[:11], MAC: mac, Up: true})
	// The plug wakes the agent as an OVSDB monitor event does, so a
	// port event does not wait for the agent's next poll.
	n.dp.Notify()
	return id
}

func waitUntil(what string, limit time.Duration, cond func() bool) error {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// quiet waits until every agent applied the revision it holds and the
// server sent nothing for a while.
func (b *bench) quiet(limit time.Duration) error {
	last := b.srv.Stats().Messages
	stable := time.Now()
	return waitUntil("agents to settle", limit, func() bool {
		if b.srv.Revision() != b.mem.Revision() {
			return false
		}
		m := b.srv.Stats().Messages
		if m != last {
			last, stable = m, time.Now()
			return false
		}
		for _, n := range b.agents {
			if n.a.AppliedRevision() != n.a.Revision() || n.a.Revision() == 0 {
				return false
			}
		}
		return time.Since(stable) > 500*time.Millisecond
	})
}

func heapMB() float64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapAlloc) / (1 << 20)
}

func (b *bench) run(nAgents, nNets, nPorts, nEvents, resync, nClients int) error {
	ctx := context.Background()
	b.mem = rpctest.NewMemory()
	b.tr = newTracker()
	b.mem.OnChange = b.tr.onChange
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	b.url = "grpc://" + lis.Addr().String()
	// The cloud's nodes are in the backend before the server starts
	// (their agents rows with tunnel IPs, as after a server restart), so
	// the run measures port events on a running cloud, not 10,000 nodes
	// joining at once: each join moves every host's VTEP set (underlay
	// filter), which is one small delta to every agent per join; the
	// agents' own report_state at start then changes no view.
	tb := time.Now()
	var nodes []*node
	for i := 0; i < nAgents; i++ {
		host := fmt.Sprintf("node-%05d", i)
		cfg := &config.Agent{Host: host, TransportURL: b.url, LocalIP: fmt.Sprintf("198.18.%d.%d", i/250, i%250+1),
			L2Population: true, ARPResponder: true, TunnelTypes: []string{"vxlan"}, VXLANUDPPort: 4789,
			PollingInterval: b.poll, ReportInterval: 30 * time.Second, IntegrationBridge: "br-int", TunnelBridge: "br-tun", DatapathType: "netdev"}
		if _, err := b.mem.ReportState(ctx, agent.Report(agent.KindOVS, cfg, 0, true)); err != nil {
			return err
		}
		nodes = append(nodes, &node{host: host, cfg: cfg, dp: fake.New()})
	}
	for i := 0; i < nNets; i++ {
		id := fmt.Sprintf("net-%05d", i)
		b.mem.CreateNetwork(id, int64(1001+i))
		b.nets = append(b.nets, id)
	}
	if b.preloadPorts {
		// Ports bound and ACTIVE too: every agent starts from a snapshot
		// of its whole view.
		for p := 0; p < nPorts; p++ {
			n := nodes[b.r.IntN(nAgents)]
			id := b.newPort(b.nets[p%nNets], n)
			if _, err := b.mem.UpdateDevice(ctx, n.host, id, true); err != nil {
				return err
			}
		}
	}
	tBuild := time.Since(tb)
	l2cfg := l2pop.Config{Enabled: true}
	b.srv = rpc.NewServer(b.mem, rpc.ServerConfig{L2Pop: l2cfg, PollInterval: 50 * time.Millisecond, Logger: b.log})
	sctx, stopServer := context.WithCancel(ctx)
	defer stopServer()
	serverDone := make(chan struct{})
	go pprof.Do(sctx, pprof.Labels("side", "server"), func(ctx context.Context) { defer close(serverDone); b.srv.Serve(ctx, lis) })
	cc, _ := rpc.ClientConfigFor(&config.Agent{TransportURL: b.url})
	var dialErr error
	// The agents' connections' goroutines are made by the goroutine that
	// dials: labelled as the agents'.
	pprof.Do(ctx, pprof.Labels("side", "agents"), func(context.Context) {
		for i := 0; i < nClients && dialErr == nil; i++ {
			var c *rpc.Client
			if c, dialErr = rpc.Dial(cc); dialErr == nil {
				b.clients = append(b.clients, c)
			}
		}
	})
	if dialErr != nil {
		return dialErr
	}

	fmt.Printf("\n## run: %d agents, %d networks, %d ports, %d events, polling_interval %s\n\nstart: %s UTC, load average %s\n",
		nAgents, nNets, nPorts, nEvents, b.poll, time.Now().UTC().Format("2006-01-02 15:04:05"), machine.LoadAvg())

	// The server serves once it has loaded the state (every host's view).
	tl := time.Now()
	if err := waitUntil("server to load the state", 30*time.Minute, func() bool { return b.srv.Revision() == b.mem.Revision() }); err != nil {
		return err
	}
	fmt.Printf("server start: state loaded (%d hosts' views) in %s\n", nAgents, time.Since(tl).Round(time.Millisecond))
	// Reference in the same run: a bare unary call's round trip.
	rtt, err := b.unaryRTT(200)
	if err != nil {
		return err
	}

	rows0, agentRows0 := b.tr.logRows()
	t0 := time.Now()
	stopProgress := b.progress(t0, 30*time.Second)
	defer stopProgress()
	// With -start-concurrency, an agent starts when one of those
	// starting has applied its first snapshot (as nodes booting over
	// time), instead of all at once.
	var slots chan struct{}
	if b.startConcurrency > 0 {
		slots = make(chan struct{}, b.startConcurrency)
	}
	for _, n := range nodes {
		if slots != nil {
			slots <- struct{}{}
			n.firstApplied = func() { <-slots }
		}
		if err := b.startAgent(n, b.clients[len(b.agents)%len(b.clients)]); err != nil {
			return err
		}
		b.mu.Lock()
		b.agents = append(b.agents, n)
		b.mu.Unlock()
	}
	if !b.preloadPorts {
		for p := 0; p < nPorts; p++ {
			b.newPort(b.nets[p%nNets], b.agents[b.r.IntN(nAgents)])
		}
	}
	if err := waitUntil("ports to go ACTIVE", 30*time.Minute, func() bool { return b.tr.activeCount() == nPorts }); err != nil {
		return err
	}
	if err := b.quiet(30 * time.Minute); err != nil {
		return err
	}
	tSetup := time.Since(t0)
	stopProgress()
	if b.memProfile != "" {
		if err := writeHeapProfile(b.memProfile); err != nil {
			return err
		}
	}
	setupStats := b.srv.Stats()
	rows1, agentRows1 := b.tr.logRows()
	how := "bound by the run, reported up by their agents"
	if b.preloadPorts {
		how = "ACTIVE in the backend before the server started"
	}
	fmt.Printf("setup: backend built in %s (%d agents rows, %d networks, ports %s); agents started, all %d ports ACTIVE and applied everywhere in %s (%d messages, %.1f MB)\n\n",
		tBuild.Round(time.Millisecond), nAgents, nNets, how, nPorts, tSetup.Round(time.Millisecond), setupStats.Messages, float64(setupStats.Bytes)/(1<<20))

	fmt.Printf("events start: %s UTC, load average %s, process RSS %s\n\n", time.Now().UTC().Format("15:04:05"), machine.LoadAvg(), machine.RSS())
	// Port events, one at a time.
	tEvents0 := time.Now()
	var lat []time.Duration
	var msgs, bytes, over, hostsSum int64
	maxOver := int64(-1 << 62)
	for e := 0; e < nEvents; e++ {
		network := b.nets[b.r.IntN(len(b.nets))]
		n := b.agents[b.r.IntN(len(b.agents))]
		before := b.srv.Stats()
		b.nport++
		id := fmt.Sprintf("%08x-0000-4000-8000-%012x", b.nport, b.nport)
		ev := b.tr.expect(id)
		b.nport--
		b.newPort(network, n)
		select {
		case <-ev.done:
		case <-time.After(2 * time.Minute):
			return fmt.Errorf("event %d (port %s on %s): not converged after 2 minutes; waiting for %s", e, id, n.host, b.waitingFor(ev))
		}
		time.Sleep(20 * time.Millisecond) // stragglers would count against us
		after := b.srv.Stats()
		m := after.Messages - before.Messages
		lat = append(lat, ev.latency)
		msgs += m
		bytes += after.Bytes - before.Bytes
		hostsSum += int64(ev.hosts)
		// Goal: at most the hosts of the network, plus one.
		if d := m - int64(ev.hosts+1); d > maxOver {
			maxOver = d
		}
		if m > int64(ev.hosts+1) {
			over++
			b.log.Warn("event over budget", "messages", m, "hosts", ev.hosts, "snapshots", after.Snapshots-before.Snapshots, "latency", ev.latency)
		}
	}
	tEvents := time.Since(tEvents0)
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	ne := float64(nEvents)
	fmt.Printf("| metric | value |\n|---|---|\n")
	fmt.Printf("| port ACTIVE -> applied by every agent of its network, p50 | %s |\n", pct(0.50).Round(10*time.Microsecond))
	fmt.Printf("| same, p90 | %s |\n", pct(0.90).Round(10*time.Microsecond))
	fmt.Printf("| same, p99 | %s |\n", pct(0.99).Round(10*time.Microsecond))
	fmt.Printf("| same, max | %s |\n", lat[len(lat)-1].Round(10*time.Microsecond))
	fmt.Printf("| agents hosting the event's network (mean) | %.1f |\n", float64(hostsSum)/ne)
	fmt.Printf("| messages per port event (create + ACTIVE), mean | %.1f |\n", float64(msgs)/ne)
	fmt.Printf("| events with more messages than hosts+1 | %d of %d (max excess %d) |\n", over, nEvents, maxOver)
	fmt.Printf("| bytes per port event, mean | %.0f |\n", float64(bytes)/ne)
	fmt.Printf("| Neutron's fan-out for the same event (every agent) | %d messages |\n", nAgents)
	fmt.Printf("| reference: unary gRPC round trip on this loopback, p50 | %s |\n", rtt.Round(time.Microsecond))
	var reconnects int64
	for _, n := range b.agents {
		reconnects += n.a.Reconnects()
	}
	fmt.Printf("| agents' watch reconnects, setup and events | %d (%s) |\n", reconnects, b.ends.summary())
	rows2, agentRows2 := b.tr.logRows()
	fmt.Printf("| change-log rows written: setup (agents started to all applied) / events | %d (%d agents rows) in %s / %d (%d agents rows) in %s |\n",
		rows1-rows0, agentRows1-agentRows0, tSetup.Round(time.Second), rows2-rows1, agentRows2-agentRows1, tEvents.Round(time.Second))

	if resync > 0 {
		if err := b.resync(resync); err != nil {
			return err
		}
	}

	// Server memory: heap with agents gone, minus heap with the server
	// gone too (what is left is the in-memory backend).
	for _, n := range b.agents {
		n.stop()
	}
	for _, c := range b.clients {
		c.Close()
	}
	b.agents, b.clients = nil, nil
	withServer := heapMB()
	stopServer()
	<-serverDone
	b.srv = nil
	backendOnly := heapMB()
	fmt.Printf("| server heap (model, views, delta logs; backend excluded) | %.1f MB |\n", withServer-backendOnly)
	defer fmt.Printf("\nend: %s UTC, load average %s\n", time.Now().UTC().Format("15:04:05"), machine.LoadAvg())
	fmt.Printf("| in-memory backend heap (stands in for the database) | %.1f MB |\n", backendOnly)
	return nil
}

// resync gives one new agent a view of at least `entries` entries and
// times its full resync from a cold start (revision 0).
func (b *bench) resync(entries int) error {
	host := "node-resync"
	cfg := &config.Agent{Host: host, TransportURL: b.url, LocalIP: "198.19.255.1", L2Population: true, ARPResponder: true,
		TunnelTypes: []string{"vxlan"}, VXLANUDPPort: 4789, PollingInterval: b.poll, ReportInterval: 30 * time.Second,
		IntegrationBridge: "br-int", TunnelBridge: "br-tun", DatapathType: "netdev"}
	n := &node{host: host, cfg: cfg, dp: fake.New()}
	if err := b.startAgent(n, b.clients[0]); err != nil {
		return err
	}
	b.agents = append(b.agents, n)
	if err := waitUntil("resync agent registered", time.Minute, func() bool { return len(b.mem.Agents()) == len(b.agents) }); err != nil {
		return err
	}
	// One port on network after network until the view is big enough.
	want := 0
	for _, network := range b.nets {
		if want >= entries {
			break
		}
		b.newPort(network, n)
		want += 2 * b.tr.activeHosts(network) // roughly: flood + entries
	}
	if err := waitUntil("resync agent's ports ACTIVE", 5*time.Minute, func() bool {
		v, _ := n.a.View()
		for _, p := range v.Ports {
			if p.Status != neutron.StatusActive {
				return false
			}
		}
		return len(v.Ports) > 0
	}); err != nil {
		return err
	}
	if err := b.quiet(5 * time.Minute); err != nil {
		return err
	}
	v, _ := n.a.View()
	got := v.EntryCount()
	// Cold restart: a new agent on the same data plane asks from
	// revision 0 and gets a snapshot.
	n.stop()
	applied := make(chan time.Time, 1)
	before := b.srv.Stats()
	t0 := time.Now()
	a, err := agent.New(agent.Options{Kind: agent.KindOVS, Config: cfg, Server: b.clients[0], Dataplane: n.dp, Logger: b.log,
		OnApplied: func(int64) {
			select {
			case applied <- time.Now():
			default:
			}
		}})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.a, n.cancel, n.done = a, cancel, make(chan struct{})
	go func() { defer close(n.done); a.Run(ctx) }()
	var t1 time.Time
	select {
	case t1 = <-applied:
	case <-time.After(time.Minute):
		return fmt.Errorf("resync agent did not apply within a minute")
	}
	st, _ := n.dp.Applied()
	ent := 0
	for _, nw := range st.Networks {
		ent += len(nw.Flood) + len(nw.Entries)
	}
	after := b.srv.Stats()
	fmt.Printf("| full resync of one agent: %d entries (%d networks), cold start -> applied | %s |\n", got, len(st.Networks), t1.Sub(t0).Round(100*time.Microsecond))
	fmt.Printf("| resync snapshot size | %.2f MB in %d message(s) |\n", float64(after.Bytes-before.Bytes)/(1<<20), after.Messages-before.Messages)
	if ent != got {
		return fmt.Errorf("resync agent applied %d entries, its view has %d", ent, got)
	}
	return nil
}

// waitingFor names (some of) the agents an event still waits for, with
// the revision each holds and has applied and its watch reconnects.
func (b *bench) waitingFor(ev *event) string {
	b.tr.mu.Lock()
	hosts := slices.Sorted(maps.Keys(ev.remaining))
	want := ev.rev
	b.tr.mu.Unlock()
	var out []string
	for _, h := range hosts[:min(len(hosts), 5)] {
		for _, n := range b.agents {
			if n.host == h {
				out = append(out, fmt.Sprintf("%s (holds %d, applied %d, reconnects %d)", h, n.a.Revision(), n.a.AppliedRevision(), n.a.Reconnects()))
			}
		}
	}
	return fmt.Sprintf("%d agents, event revision %d: %s", len(hosts), want, strings.Join(out, ", "))
}

func (b *bench) unaryRTT(n int) (time.Duration, error) {
	// The clients dialled while the server was loading the state: a
	// connection whose handshake timed out meanwhile is re-dialled by
	// gRPC; wait for it rather than time it.
	if err := waitUntil("the server to answer", time.Minute, func() bool {
		_, err := b.clients[0].UpdateDevice(context.Background(), "nohost", "00000000-0000-0000-0000-000000000000", true)
		return status.Code(err) != codes.Unavailable
	}); err != nil {
		return 0, err
	}
	var d []time.Duration
	for i := 0; i < n; i++ {
		t := time.Now()
		// A device report for a port that does not exist: a full
		// round trip through auth, handler and backend, answered
		// NotFound (any other answer means the server did not serve it).
		_, err := b.clients[0].UpdateDevice(context.Background(), "nohost", "00000000-0000-0000-0000-000000000000", true)
		d = append(d, time.Since(t))
		if status.Code(err) != codes.NotFound {
			return 0, fmt.Errorf("reference round trip: want NotFound, got %v", err)
		}
	}
	slices.Sort(d)
	return d[len(d)/2], nil
}

// tracker follows the change log (through the backend's hook) and the
// agents' applies, and times port events.
type tracker struct {
	mu       sync.Mutex
	ports    map[string]portRec
	netHosts map[string]map[string]int // ACTIVE ports per network and host
	active   int
	waiting  map[string]*event // port id -> event awaiting ACTIVE
	open     []*event
	history  map[string][]apply // host -> recent applies
	// rows and agentRows count the change-log rows written, and those of
	// them that are agents rows (report_state).
	rows, agentRows int64
}

// logRows returns the change-log rows written so far and how many were
// agents rows.
func (t *tracker) logRows() (rows, agentRows int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.rows, t.agentRows
}

type portRec struct {
	network, host string
	active        bool
}

type apply struct {
	rev int64
	at  time.Time
}

type event struct {
	port      string
	rev       int64
	t0        time.Time
	remaining map[string]bool
	hosts     int
	latency   time.Duration
	done      chan struct{}
}

func newTracker() *tracker {
	return &tracker{ports: map[string]portRec{}, netHosts: map[string]map[string]int{}, waiting: map[string]*event{}, history: map[string][]apply{}}
}

func (t *tracker) activeCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.active
}

func (t *tracker) activeHosts(network string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.netHosts[network])
}

func (t *tracker) expect(portID string) *event {
	t.mu.Lock()
	defer t.mu.Unlock()
	ev := &event{port: portID, done: make(chan struct{})}
	t.waiting[portID] = ev
	return ev
}

func (t *tracker) onChange(c neutron.Change) {
	t.mu.Lock()
	t.rows++
	if c.Kind == neutron.KindAgent {
		t.agentRows++
	}
	t.mu.Unlock()
	if c.Kind != neutron.KindPort {
		return
	}
	now := time.Now()
	var rec portRec
	if c.Op != "delete" {
		var p neutron.Port
		if err := json.Unmarshal(c.Object, &p); err != nil {
			return
		}
		rec = portRec{network: p.NetworkID, host: p.HostID, active: p.Status == neutron.StatusActive}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.ports[c.ID]
	if old.active {
		t.active--
		hs := t.netHosts[old.network]
		if hs[old.host]--; hs[old.host] == 0 {
			delete(hs, old.host)
		}
	}
	if rec.active {
		t.active++
		hs := t.netHosts[rec.network]
		if hs == nil {
			hs = map[string]int{}
			t.netHosts[rec.network] = hs
		}
		hs[rec.host]++
	}
	t.ports[c.ID] = rec
	ev := t.waiting[c.ID]
	if ev == nil || !rec.active || old.active {
		return
	}
	delete(t.waiting, c.ID)
	ev.rev, ev.t0 = c.Revision, now
	ev.remaining = map[string]bool{}
	for h := range t.netHosts[rec.network] {
		ev.remaining[h] = true
	}
	ev.hosts = len(ev.remaining)
	// An agent may have applied the revision before this hook ran.
	var latest time.Time
	for h := range ev.remaining {
		for _, a := range t.history[h] {
			if a.rev >= ev.rev {
				delete(ev.remaining, h)
				if a.at.After(latest) {
					latest = a.at
				}
				break
			}
		}
	}
	if len(ev.remaining) == 0 {
		ev.latency = max(0, latest.Sub(ev.t0))
		close(ev.done)
		return
	}
	t.open = append(t.open, ev)
}

func (t *tracker) applied(host string, rev int64) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	h := append(t.history[host], apply{rev: rev, at: now})
	if len(h) > 8 {
		h = h[len(h)-8:]
	}
	t.history[host] = h
	keep := t.open[:0]
	for _, ev := range t.open {
		if ev.remaining[host] && rev >= ev.rev {
			delete(ev.remaining, host)
			if len(ev.remaining) == 0 {
				ev.latency = now.Sub(ev.t0)
				close(ev.done)
				continue
			}
		}
		keep = append(keep, ev)
	}
	t.open = keep
}

// progress prints, every period until stopped, how far the setup is and
// what it costs (heap, RSS, load), so a slow or growing run shows where.
func (b *bench) progress(t0 time.Time, period time.Duration) (stop func()) {
	done := make(chan struct{})
	var once sync.Once
	go func() {
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			// The store prunes its change log; so does the stand-in, below
			// what the server has read.
			b.mem.Prune(b.srv.Revision() - 1000)
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			var synced, reconnects int64
			b.mu.Lock()
			agents := b.agents
			b.mu.Unlock()
			for _, n := range agents {
				if n.a.AppliedRevision() > 0 {
					synced++
				}
				reconnects += n.a.Reconnects()
			}
			st := b.srv.Stats()
			fmt.Fprintf(os.Stderr, "progress %s: agents applied %d, watch reconnects %d (%s), ports ACTIVE %d, revision server %d / backend %d, messages %d (snapshots %d, %.0f MB), heap %.0f MB, RSS %s, load %s\n",
				time.Since(t0).Round(time.Second), synced, reconnects, b.ends.summary(), b.tr.activeCount(), b.srv.Revision(), b.mem.Revision(),
				st.Messages, st.Snapshots, float64(st.Bytes)/(1<<20), float64(ms.HeapAlloc)/(1<<20), machine.RSS(), machine.LoadAvg())
		}
	}()
	return func() { once.Do(func() { close(done) }) }
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// streamEnds counts why agents' watch streams ended (the agent logs each
// end with its error), so a run that does not converge says why; every
// record also goes to inner.
type streamEnds struct {
	inner slog.Handler
	*endCounts
}

type endCounts struct {
	mu     sync.Mutex
	counts map[string]int64
}

func (h *streamEnds) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn || h.inner.Enabled(ctx, l)
}

func (h *streamEnds) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "watch stream ended; reconnecting" {
		reason := "unknown"
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "err" {
				reason = a.Value.String()
				return false
			}
			return true
		})
		h.mu.Lock()
		h.counts[reason]++
		h.mu.Unlock()
	}
	if h.inner.Enabled(ctx, r.Level) {
		return h.inner.Handle(ctx, r)
	}
	return nil
}

func (h *streamEnds) WithAttrs(as []slog.Attr) slog.Handler {
	return &streamEnds{inner: h.inner.WithAttrs(as), endCounts: h.endCounts}
}

func (h *streamEnds) WithGroup(name string) slog.Handler {
	return &streamEnds{inner: h.inner.WithGroup(name), endCounts: h.endCounts}
}

func (h *streamEnds) reset() {
	h.mu.Lock()
	clear(h.counts)
	h.mu.Unlock()
}

// summary lists the reasons, most frequent first.
func (h *streamEnds) summary() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.counts) == 0 {
		return "none"
	}
	type kv struct {
		k string
		n int64
	}
	var all []kv
	for k, n := range h.counts {
		all = append(all, kv{k, n})
	}
	slices.SortFunc(all, func(a, b kv) int { return int(b.n - a.n) })
	var parts []string
	for _, x := range all[:min(3, len(all))] {
		parts = append(parts, fmt.Sprintf("%d: %s", x.n, x.k))
	}
	return strings.Join(parts, "; ")
}
