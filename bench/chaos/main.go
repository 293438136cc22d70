// Command chaos beats on a whole neutrino deployment and says what
// survived. As root it builds a lab of network namespaces (6 nodes by
// default, Linux bridge and Open vSwitch agents alternating, each OVS node
// with its own ovsdb-server and ovs-vswitchd), two neutrino servers on one
// PostgreSQL of its own (unix socket only), and a workload that keeps
// creating, binding, moving and deleting ports and networks through the
// API while fixed pairs of VMs on stable ports ping each other across
// nodes. It then injects faults drawn from a printed seed: SIGKILL and
// restart of an agent, of a server (agents fail over to the other), of
// ovs-vswitchd, of ovsdb-server; a database crash and restart; an agent's
// link to the servers cut inside its node; a node's underlay link flapped;
// a burst of API writes during a restart. After each fault it waits, up
// to a bound, until every node's data plane holds exactly what the
// database says (an audit it does itself from the store and each node's
// real kernel or OVS), every plugged port is ACTIVE and every probe pair
// answers again. At the end it checks the database for anything written
// twice or half, and prints the figures (also as JSON with -json).
//
//	go build -o bin/neutrino ./cmd/neutrino
//	go run ./bench/chaos -bin bin/neutrino -faults 30 -seed 1
//
// Everything it starts is stopped by PID, and every namespace deleted, on
// exit, Ctrl-C and failure.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	var o options
	flag.Uint64Var(&o.Seed, "seed", uint64(time.Now().UnixNano()), "seed for the faults and the workload (printed; replays the fault sequence)")
	flag.IntVar(&o.Faults, "faults", 30, "faults to inject")
	flag.DurationVar(&o.Duration, "duration", 0, "stop injecting after this long (0: no limit)")
	flag.IntVar(&o.Nodes, "nodes", 6, "nodes (Linux bridge and Open vSwitch alternating)")
	flag.DurationVar(&o.Bound, "bound", 60*time.Second, "convergence bound: a difference lasting longer is a failure")
	flag.StringVar(&o.Bin, "bin", "bin/neutrino", "the neutrino binary")
	flag.StringVar(&o.DB, "db", dbPostgres, "the database: postgresql, mariadb (each a server of the harness's own on a unix socket) or sqlite (one file both servers share)")
	flag.StringVar(&o.Dir, "dir", "", "run directory for configs and logs (default: a new one under /tmp)")
	flag.BoolVar(&o.Firewall, "firewall", true, "run the L2 agents with their real firewalls (nftables on Linux bridge, openvswitch on Open vSwitch) and audit them; false: firewall_driver = noop")
	kinds := flag.String("kinds", "", "draw only these fault kinds (comma-separated; default: every kind the database allows)")
	jsonOut := flag.String("json", "", "also write the figures as JSON to this file")
	verbose := flag.Bool("v", false, "log progress")
	flag.Parse()
	if *kinds != "" {
		o.Kinds = strings.Split(*kinds, ",")
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	o.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	o.Out = os.Stdout
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := run(ctx, o)
	if rep != nil {
		rep.print(os.Stdout)
		if *jsonOut != "" {
			b, _ := json.MarshalIndent(rep, "", "  ")
			if werr := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); werr != nil {
				err = errors.Join(err, werr)
			}
		}
		if msg := rep.goalsMissed(); len(msg) > 0 && err == nil {
			err = fmt.Errorf("goals missed: %v", msg)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(1)
	}
}

type options struct {
	Seed     uint64
	Faults   int
	Duration time.Duration
	Nodes    int
	Bound    time.Duration
	Bin, Dir string
	DB       string
	Kinds    []string // fault kinds drawn; nil: faultKinds(DB)
	Firewall bool     // real firewall drivers, not noop
	Log      *slog.Logger
	Out      io.Writer
}

// run builds the deployment, injects the faults and returns the figures.
// It always tears down what it started.
func run(ctx context.Context, o options) (rep *report, err error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("chaos needs root (network namespaces, OVS daemons, database servers as their service users)")
	}
	for _, k := range o.Kinds {
		if !slices.Contains(faultKinds(o.DB), k) {
			return nil, fmt.Errorf("-kinds: %q is not a fault kind for %s (%s)", k, o.DB, strings.Join(faultKinds(o.DB), ", "))
		}
	}
	if o.Nodes < 6 {
		return nil, fmt.Errorf("-nodes %d: at least 6", o.Nodes)
	}
	bin, err := filepath.Abs(o.Bin)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("neutrino binary: %w (go build -o bin/neutrino ./cmd/neutrino)", err)
	}
	dir := o.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "neutrino-chaos-"); err != nil {
			return nil, err
		}
	}
	if err := os.Chmod(dir, 0o755); err != nil { // the postgres user reaches its socket below
		return nil, err
	}
	// Every process the run starts inherits the mark (see leaks.go).
	if err := os.Setenv(runMark, dir); err != nil {
		return nil, err
	}
	defer os.Unsetenv(runMark)
	fw := "firewalls nftables (Linux bridge) and openvswitch (OVS)"
	if !o.Firewall {
		fw = "firewall_driver noop"
	}
	fmt.Fprintf(o.Out, "chaos: seed %d, %d faults, %d nodes, %s, %s, bound %s, run directory %s\n", o.Seed, o.Faults, o.Nodes, o.DB, fw, o.Bound, dir)
	t0 := time.Now()
	c, err := newCluster(ctx, dir, bin, o.DB, o.Nodes, o.Firewall, o.Log)
	if err != nil {
		return nil, fmt.Errorf("build the deployment: %w", err)
	}
	var h *harness
	defer func() {
		if terr := c.teardown(); terr != nil {
			err = errors.Join(err, fmt.Errorf("teardown: %w", terr))
		}
		if rep != nil {
			rep.Leaks = append(rep.Leaks, leftAfterTeardown(dir, c.lab.Prefix, 15*time.Second)...)
			if h != nil && h.w != nil {
				rep.Leaks = append(rep.Leaks, leftNamespaces(h.w.routerIDs(), h.w.networkIDs())...)
			}
		}
	}()
	fmt.Fprintf(o.Out, "chaos: lab %s up in %.1fs (servers %s, %s; %s)\n", c.lab.Prefix, time.Since(t0).Seconds(),
		c.servers[0].addr, c.servers[1].addr, c.db.describe())
	h = &harness{o: o, c: c, rep: newReport(o.Seed, o.DB)}
	h.rep.Dir = dir
	if err := h.run(ctx); err != nil {
		h.rep.Error = err.Error()
		return h.rep, err
	}
	return h.rep, nil
}

type harness struct {
	o       options
	c       *cluster
	w       *workload
	a       *auditor
	probes  []*prober
	rep     *report
	windows []*fault
	diags   sync.WaitGroup // diagnostics being written (diagnose)
}

func (h *harness) run(ctx context.Context) error {
	c := h.c
	a, err := newAuditor(ctx, c)
	if err != nil {
		return err
	}
	defer a.Close()
	defer h.diags.Wait()
	h.a = a
	h.w = newWorkload(c, h.o.Seed)
	if err := h.setupVMs(ctx); err != nil {
		return err
	}
	pctx, stopProbes := context.WithCancel(ctx)
	probesDone := make(chan struct{})
	go func() {
		defer close(probesDone)
		done := make(chan struct{}, len(h.probes)+1)
		for _, p := range h.probes {
			go func() { _ = p.run(pctx); done <- struct{}{} }()
		}
		go func() { h.watchOutages(pctx); done <- struct{}{} }()
		for range len(h.probes) + 1 {
			<-done
		}
	}()
	defer func() { stopProbes(); <-probesDone }()
	setup := &fault{Kind: setupKind, Start: time.Now(), Heal: time.Now()}
	h.w.pause()
	h.converge(ctx, setup)
	h.w.resume()
	h.windows = append(h.windows, setup) // its losses are the setup's, not the noise between faults
	if len(setup.Failed) > 0 {
		return fmt.Errorf("the deployment did not converge before any fault: %v", setup.Failed)
	}
	stopWork := make(chan struct{})
	workDone := make(chan struct{})
	go func() { defer close(workDone); h.w.run(ctx, stopWork) }()
	in := &injector{r: newRand(h.o.Seed, 0x6661756c74), c: c, w: h.w, a: a}
	kinds := h.o.Kinds
	if kinds == nil {
		kinds = faultKinds(h.o.DB)
	}
	start := time.Now()
	// A server killed by the fault before restarts while the workload
	// runs between faults; restarted waits for it (and reports that
	// fault) before the next is injected.
	restarted := func() {}
	for i := 1; i <= h.o.Faults && ctx.Err() == nil; i++ {
		if h.o.Duration > 0 && time.Since(start) > h.o.Duration {
			break
		}
		sleepCtx(ctx, in.hold(300*time.Millisecond, 1500*time.Millisecond)) // workload between faults
		restarted()
		restarted = func() {}
		kind := kinds[in.r.IntN(len(kinds))]
		f, err := in.inject(ctx, kind)
		f.N = i
		h.windows = append(h.windows, f)
		if err != nil {
			f.Failed = append(f.Failed, "inject: "+err.Error())
			f.Heal = time.Now()
		}
		h.w.pause()
		h.converge(ctx, f)
		h.w.resume()
		if s := c.server(f.Target); kind == faultServer && s != nil {
			done := make(chan error, 1)
			go func() { done <- c.startServer(ctx, s) }()
			restarted = func() {
				if err := <-done; err != nil {
					f.Failed = append(f.Failed, "restart: "+err.Error())
				}
				f.End = time.Now() // the restart is the fault's: so are echoes lost meanwhile
				h.record(f)
			}
			continue
		}
		h.record(f)
	}
	restarted()
	close(stopWork)
	<-workDone
	h.w.pause()
	final := &fault{Kind: "final", Start: time.Now(), Heal: time.Now()}
	h.converge(ctx, final)
	h.rep.Final = final.Failed
	integ, err := a.integrity(ctx, h.w)
	if err != nil {
		return err
	}
	h.rep.Integrity = integ
	h.diags.Wait()
	var procs []markedProc
	for _, p := range markedProcs(c.dir) {
		if !c.ownedDaemon(p) {
			procs = append(procs, p)
		}
	}
	h.rep.Leaks = append(orphans(procs), strayVMNamespaces(c.lab.Prefix, h.w.knownPorts())...)
	h.rep.Elapsed = time.Since(start).Round(time.Second).String()
	// Probes answered within 3 s are counted; the last 3 s are not judged.
	h.rep.probes(h.probes, h.windows, h.w.timeline(), time.Now().Add(-3*time.Second))
	h.rep.api(h.w)
	if len(h.rep.audits) > 0 {
		h.rep.Audit = percentilesOf(h.rep.audits)
	}
	h.rep.Load = loadavg()
	return ctx.Err()
}

// record adds a fault to the figures and prints its line.
func (h *harness) record(f *fault) {
	h.rep.add(f)
	fmt.Fprintf(h.o.Out, "fault %4d %-26s %-10s converged in %6.2fs%s\n", f.N, f.Kind, f.Target, f.Conv.Seconds(), failNote(f))
	if f.Conv > slowNote && len(f.Failed) == 0 {
		fmt.Fprintf(h.o.Out, "           the last thing waited for: %s (nodes at %s: %s)\n", f.LastWait, diagAfter, f.Diag)
	}
}

// slowNote is the convergence time past which the per-fault line says
// what was waited for last.
const slowNote = 5 * time.Second

func failNote(f *fault) string {
	if len(f.Failed) == 0 {
		return ""
	}
	return fmt.Sprintf("  FAILED: %v", f.Failed)
}

// converge waits until the deployment holds what the database says, all
// processes run, the agents the fault touched reported after it healed,
// every plugged port is ACTIVE and every probe pair answered an echo sent
// after the heal. Past the bound, what was still wrong is the failure.
func (h *harness) converge(ctx context.Context, f *fault) {
	c := h.c
	plugged := h.w.devices()
	var mustReport []agentKey
	switch f.Kind {
	case faultServer, faultBurst:
		mustReport = c.agentKeys()
	case faultAgent, faultLinkCut:
		for _, n := range c.nodes {
			if n.Name == f.Target {
				mustReport = append(mustReport, n.key())
				if f.Kind == faultLinkCut {
					for _, x := range c.aux {
						if x.node == n {
							mustReport = append(mustReport, agentKey{n.Name, x.agentType()})
						}
					}
				}
			}
		}
	case faultL3Agent, faultDHCPAgent:
		for _, x := range c.aux {
			if x.name() == f.Target {
				mustReport = append(mustReport, agentKey{x.node.Name, x.agentType()})
			}
		}
	}
	check := func() (bool, string) {
		for _, s := range c.servers {
			if s.p.exited() && !(f.Kind == faultServer && s.name == f.Target) {
				return false, s.name + " is not running"
			}
		}
		for _, n := range c.nodes {
			if n.agent.exited() {
				return false, "agent " + n.Name + " exited"
			}
		}
		for _, x := range c.aux {
			if x.p.exited() {
				return false, x.name() + " exited"
			}
		}
		// The cheap conditions first: an audit is the slow part.
		var silent []string
		for _, p := range h.probes {
			if !p.answeredSince(f.Heal) {
				silent = append(silent, "probe "+p.name+" has no answer since the fault healed")
			}
		}
		if len(silent) > 0 {
			return false, fmt.Sprintf("%d differences: %v", len(silent), silent)
		}
		if len(mustReport) > 0 {
			last, err := c.heartbeats(ctx)
			if err != nil {
				return false, "list agents: " + err.Error()
			}
			for _, k := range mustReport {
				if last[k].Before(f.Heal.UTC().Truncate(time.Second)) {
					return false, "no heartbeat from " + k.String() + " since the fault healed"
				}
			}
		}
		t := time.Now()
		diffs, err := h.a.check(ctx, plugged)
		h.rep.audited(time.Since(t))
		if err != nil {
			return false, err.Error()
		}
		if len(diffs) > 0 {
			return false, fmt.Sprintf("%d differences: %v", len(diffs), diffs)
		}
		return true, ""
	}
	diagnosed := false
	err := waitUntil(ctx, h.o.Bound, "converge after "+f.Kind, func() (bool, string) {
		ok, why := check()
		if !ok && why != "" {
			f.LastWait = why
		}
		if !ok && !diagnosed && time.Since(f.Heal) > diagAfter {
			// Written while the wait goes on: under load the commands
			// take seconds, which must not count as convergence time.
			diagnosed = true
			f.Diag = c.diagPath(f.N)
			h.diags.Go(func() { c.diagnose(ctx, f.N, why) })
		}
		return ok, why
	})
	f.End = time.Now()
	f.Conv = f.End.Sub(f.Heal)
	if err != nil {
		f.Failed = append(f.Failed, err.Error())
	}
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	return string(b[:len(b)-1])
}
