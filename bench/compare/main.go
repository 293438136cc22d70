// Command compare runs the same Neutron v2.0 API workload against the real
// OpenStack Neutron (Debian's neutron-server 2:21.0.0, 2023.1 Antelope) and
// against neutrino on the same machine in the same run, and prints one table
// (each figure for both systems with the ratio) plus an SVG plot of port
// create latency against concurrency.
//
// Servers are started and stopped one after the other with
// bench/reference/up.sh and down.sh (fresh database each), so they never
// compete for the CPU. The load generator is plain net/http with keep-alive
// connections and N goroutines; the API is treated as a black box, so this
// package imports nothing of neutrino. The plot is written by hand as SVG
// (a line chart is a few dozen lines) instead of adding a plotting module.
//
// Usage (as root, from the repository root):
//
//	go run ./bench/compare [--quick] [--systems neutron,neutrino-mariadb,...]
//	go run ./bench/compare report bench/compare/out/results.json
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	mach "neutrino/bench/machine"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// System is one server under test.
type System struct {
	Name, Label, URL, PidFile string
	RPCPort                   int // neutrino: the agents' gRPC port
}

var systems = map[string]System{
	"neutron":           {"neutron", "Neutron 2023.1 (MariaDB)", "http://127.0.0.1:9796", "/run/neutrino-bench/neutron-server.pid", 0},
	"neutrino-mariadb":  {"neutrino-mariadb", "neutrino (MariaDB)", "http://127.0.0.1:9896", "/run/neutrino-bench/neutrino-server-mariadb.pid", 9897},
	"neutrino-sqlite":   {"neutrino-sqlite", "neutrino (SQLite)", "http://127.0.0.1:9886", "/run/neutrino-bench/neutrino-server-sqlite.pid", 9887},
	"neutrino-postgres": {"neutrino-postgres", "neutrino (PostgreSQL)", "http://127.0.0.1:9876", "/run/neutrino-bench/neutrino-server-postgres.pid", 9877},
}

func main() {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if len(os.Args) > 1 && os.Args[1] == "report" {
		if len(os.Args) < 3 {
			fmt.Fprintln(os.Stderr, "usage: compare report results.json [outdir]")
			os.Exit(2)
		}
		if err := rerender(os.Args[2], filepath.Dir(os.Args[2])); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "secgroups" {
		if err := runSecgroups(logger, os.Args[2:]); err != nil {
			logger.Error("secgroups failed", "err", err)
			os.Exit(1)
		}
		return
	}
	if err := run(logger); err != nil {
		logger.Error("compare failed", "err", err)
		os.Exit(1)
	}
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("bad number %q: %w", f, err)
		}
		out = append(out, n)
	}
	return out, nil
}

func run(logger *slog.Logger) error {
	var (
		quick    = flag.Bool("quick", false, "short run: 1 repetition, 4 s per level, lists of 1,000 only")
		sysList  = flag.String("systems", "neutron,neutrino-mariadb,neutrino-sqlite,neutrino-postgres", "systems to measure, in order")
		runs     = flag.Int("runs", 3, "repetitions of the timed phases (medians are reported)")
		dur      = flag.Duration("duration", 8*time.Second, "port-create time per concurrency level")
		concS    = flag.String("concurrency", "1,8,32", "concurrent clients for port create")
		netsub   = flag.Int("netsub", 15, "network+subnet pairs per repetition")
		listS    = flag.String("list-sizes", "1000,10000", "ports per listed network")
		listRep  = flag.Int("list-repeats", 5, "GETs per listing size")
		maxOps   = flag.Int("max-ops", 20000, "cap on port creates per level (keeps a /16 subnet from running out)")
		agents   = flag.Bool("agents", false, "start two OVS agents per system (bench/reference/agents.sh) for the binding:host_id row and the convergence measurement")
		converge = flag.Int("converge", 10, "with --agents: ports whose forwarding-entry convergence is timed")
		bindHost = flag.String("bind-host", "", "agent host for the binding:host_id row (default bench-node-1 with --agents)")
		outDir   = flag.String("out", "bench/compare/out", "where results.json, table.md and latency.svg go")
		noUpDown = flag.Bool("no-updown", false, "do not start/stop servers (they already run on the bench ports)")
		fixture  = flag.String("neutron-fixture", "/var/lib/neutrino-bench/fixture/neutron-list.sql.gz", "Neutron listing fixture dump (bench/reference/neutron-fixture.sh); ignored if absent")
		refDir   = flag.String("reference", "bench/reference", "directory of up.sh/down.sh")
		phasesS  = flag.String("phases", "fixture,runs,lists,converge", "phases to run (for trying things out; the table needs all)")
	)
	flag.Parse()
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *quick {
		if !set["runs"] {
			*runs = 1
		}
		if !set["duration"] {
			*dur = 4 * time.Second
		}
		if !set["netsub"] {
			*netsub = 10
		}
		if !set["list-sizes"] {
			*listS = "1000"
		}
		if !set["list-repeats"] {
			*listRep = 3
		}
	}
	phases := map[string]bool{}
	for _, p := range strings.Split(*phasesS, ",") {
		phases[strings.TrimSpace(p)] = true
	}
	if *agents && *bindHost == "" {
		*bindHost = "bench-node-1"
	}
	conc, err := ints(*concS)
	if err != nil {
		return err
	}
	lists, err := ints(*listS)
	if err != nil {
		return err
	}
	ctx, cancel := signalContext()
	defer cancel()

	res := Results{Started: time.Now().UTC(), Command: strings.Join(os.Args, " "), Machine: machine(ctx),
		Settings: Settings{Quick: *quick, Runs: *runs, Duration: dur.String(), Concurrency: conc, NetSubPairs: *netsub,
			ListSizes: lists, ListRepeats: *listRep, BindHost: *bindHost}}
	w := Workload{Settings: res.Settings, Dur: *dur, MaxOps: *maxOps, Log: logger}
	var sel []System
	for _, name := range strings.Split(*sysList, ",") {
		sys, ok := systems[strings.TrimSpace(name)]
		if !ok {
			return fmt.Errorf("unknown system %q", name)
		}
		sel = append(sel, sys)
	}
	o := orchestra{log: logger, w: w, refDir: *refDir, fixture: *fixture, noUpDown: *noUpDown,
		agents: *agents, converge: *converge, phases: phases}
	if !*noUpDown {
		bin, err := buildNeutrino(ctx, logger)
		if err != nil {
			return err
		}
		o.env = append(os.Environ(), "NEUTRINO_BIN="+bin)
	}
	res.Systems = o.all(ctx, sel)
	if !*noUpDown {
		// MariaDB, RabbitMQ (+ epmd) and PostgreSQL were started for the run too.
		if err := script(context.Background(), nil, filepath.Join(*refDir, "down.sh"), "all"); err != nil {
			logger.Error("stop the bench's databases", "err", err)
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	res.Finished = time.Now().UTC()
	if err := os.MkdirAll(*outDir, 0o755); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(res, "", " ")
	if err := os.WriteFile(filepath.Join(*outDir, "results.json"), b, 0o644); err != nil {
		return err
	}
	return render(res, *outDir)
}

// orchestra runs the workload on several systems. All servers run at once
// (each on its own port) and the repetitions are interleaved - run 1 on every
// system, then run 2 on every system, ... - so that a slow minute of this
// shared machine hits every system alike. Idle servers cost next to nothing.
// Agent phases (bound port creates, convergence) need the agents of one
// system at a time and run last, system by system.
type orchestra struct {
	log              *slog.Logger
	w                Workload
	refDir, fixture  string
	noUpDown, agents bool
	converge         int
	phases           map[string]bool
	env              []string
}

type live struct {
	sys     System
	sr      *SystemResult
	c       *Client
	sampler *memSampler
	pid     int
}

func (o orchestra) all(ctx context.Context, sel []System) []SystemResult {
	out := make([]SystemResult, len(sel))
	var ls []*live
	defer func() {
		if o.noUpDown {
			return
		}
		for _, l := range ls {
			if err := script(context.Background(), nil, filepath.Join(o.refDir, "down.sh"), l.sys.Name); err != nil {
				o.log.Error("stop failed", "system", l.sys.Name, "err", err)
			}
		}
	}()
	for i, sys := range sel {
		out[i] = SystemResult{Name: sys.Name, Label: sys.Label}
		l := &live{sys: sys, sr: &out[i], c: NewClient(sys.URL)}
		if err := o.start(ctx, l); err != nil {
			out[i].Error = err.Error()
			o.log.Error("start failed", "system", sys.Name, "err", err)
			continue
		}
		ls = append(ls, l)
	}
	// The listing fixtures are not timed: fill them on all systems at once.
	var wg sync.WaitGroup
	for _, l := range ls {
		if ctx.Err() == nil && o.phases["fixture"] {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var err error
				if l.sr.ListFixture, err = o.w.ListFixture(ctx, l.c); err != nil {
					o.log.Error("list fixture", "system", l.sys.Name, "err", err)
					l.sr.ListFixture += " (failed: " + err.Error() + ")"
				}
			}()
		}
	}
	wg.Wait()
	for r := 1; r <= o.w.Settings.Runs && o.phases["runs"]; r++ {
		for _, l := range ls {
			if ctx.Err() != nil || l.sr.Error != "" {
				continue
			}
			o.log.Info("run", "system", l.sys.Name, "run", r)
			rr, err := o.w.Run(ctx, l.c, r)
			if err != nil {
				o.log.Error("run failed", "system", l.sys.Name, "run", r, "err", err)
				l.sr.Error = fmt.Sprintf("run %d: %v", r, err)
				continue
			}
			l.sr.Runs = append(l.sr.Runs, rr)
		}
	}
	for _, l := range ls {
		if ctx.Err() == nil && o.phases["lists"] {
			var err error
			if l.sr.Lists, err = o.w.Lists(ctx, l.c); err != nil {
				o.log.Error("lists", "system", l.sys.Name, "err", err)
			}
		}
	}
	for _, l := range ls {
		if ctx.Err() == nil && o.agents {
			o.agentPhases(ctx, l)
		}
		l.sr.Mem.RSSPeakKB = l.sampler.Stop()
		l.sr.Mem.Procs, l.sr.Mem.RSSEndKB, l.sr.Mem.PSSEndKB = treeMem(l.pid)
		if l.sr.Mem.RSSEndKB > l.sr.Mem.RSSPeakKB {
			l.sr.Mem.RSSPeakKB = l.sr.Mem.RSSEndKB
		}
		if l.sys.Name == "neutron" {
			if rp, err := readPid("/run/neutrino-bench/rabbitmq.pid"); err == nil {
				_, l.sr.Mem.RabbitMQKB, _ = treeMem(rp)
			}
		}
		o.log.Info("done", "system", l.sys.Name, "rss_peak_mib", l.sr.Mem.RSSPeakKB/1024, "procs", l.sr.Mem.Procs)
	}
	return out
}

// start brings one system up (fresh database), starts its memory sampler
// and warms it up (not timed: connections, caches, first-use code paths).
func (o orchestra) start(ctx context.Context, l *live) error {
	if !o.noUpDown {
		env := o.env
		if l.sys.Name == "neutron" {
			if _, err := os.Stat(o.fixture); err == nil {
				env = append(append([]string(nil), env...), "NEUTRON_DB_DUMP="+o.fixture)
			}
		}
		t0 := time.Now()
		o.log.Info("starting", "system", l.sys.Name)
		if err := script(ctx, env, filepath.Join(o.refDir, "up.sh"), l.sys.Name); err != nil {
			_ = script(context.Background(), nil, filepath.Join(o.refDir, "down.sh"), l.sys.Name)
			return fmt.Errorf("start: %w", err)
		}
		l.sr.StartupS = time.Since(t0).Seconds()
	}
	pid, err := readPid(l.sys.PidFile)
	if err != nil {
		return fmt.Errorf("server pid: %w", err)
	}
	l.pid, l.sampler = pid, startMemSampler(ctx, pid)
	net, err := freshNet(ctx, l.c, "bench-warmup", "10.99.0.0/24")
	if err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	for i := 0; i < 5; i++ {
		_, _ = l.c.CreatePort(ctx, net, fmt.Sprintf("warm-%d", i), nil)
	}
	return nil
}

// agentPhases: two agents for this system, then bound port creates (once per
// repetition) and the convergence measurement; agents down again.
func (o orchestra) agentPhases(ctx context.Context, l *live) {
	kind := "neutrino"
	env := o.env
	if l.sys.Name == "neutron" {
		kind = "neutron"
	} else {
		env = append(append([]string(nil), env...), fmt.Sprintf("NEUTRINO_RPC_PORT=%d", l.sys.RPCPort))
	}
	var err error
	if !o.noUpDown { // with --no-updown the agents already run (agents.sh up by hand)
		_ = script(context.Background(), nil, filepath.Join(o.refDir, "agents.sh"), "down")
		if err = script(ctx, env, filepath.Join(o.refDir, "agents.sh"), "up", kind); err == nil {
			defer func() { _ = script(context.Background(), nil, filepath.Join(o.refDir, "agents.sh"), "down") }()
		}
	}
	var nodes []Node
	if err == nil {
		if nodes, err = loadNodes(ctx, o.refDir); err == nil {
			err = waitAgents(ctx, l.c, nodes, 60*time.Second)
		}
	}
	if err != nil {
		l.sr.AgentNote = err.Error()
		o.log.Error("agents", "system", l.sys.Name, "err", err)
		return
	}
	if o.phases["runs"] {
		for r := 1; r <= o.w.Settings.Runs && r <= len(l.sr.Runs) && ctx.Err() == nil; r++ {
			p, note, err := o.w.Bound(ctx, l.c, r)
			if err != nil {
				l.sr.AgentNote = err.Error()
				break
			}
			l.sr.Runs[r-1].Bind, l.sr.Runs[r-1].BindNote = p, note
		}
	}
	if o.converge > 0 && ctx.Err() == nil && o.phases["converge"] {
		samples, err := Converge(ctx, o.log.With("system", l.sys.Name), l.c, nodes, o.converge)
		l.sr.Converge = NewConvergeResult(samples)
		if err != nil {
			l.sr.Converge.Error = err.Error()
			o.log.Error("convergence", "system", l.sys.Name, "err", err)
		}
	}
}

// waitAgents waits until every node's agent is alive in the API.
func waitAgents(ctx context.Context, c *Client, nodes []Node, limit time.Duration) error {
	end := time.Now().Add(limit)
	for _, n := range nodes {
		for {
			ok, err := c.AgentAlive(ctx, n.Host)
			if err == nil && ok {
				break
			}
			if time.Now().After(end) {
				return fmt.Errorf("agent on %s not alive after %s (err %v)", n.Host, limit, err)
			}
			time.Sleep(time.Second)
		}
	}
	return nil
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// buildNeutrino builds one binary for every neutrino variant and the
// agents from the committed tree (git archive HEAD), not from the shared
// work tree, where others' half-done edits may sit.
func buildNeutrino(ctx context.Context, logger *slog.Logger) (string, error) {
	bin := "/var/lib/neutrino-bench/bin/neutrino"
	src := "/var/lib/neutrino-bench/src"
	if err := os.RemoveAll(src); err != nil {
		return "", err
	}
	if err := os.MkdirAll(src, 0o755); err != nil {
		return "", err
	}
	for _, c := range [][]string{
		{"bash", "-c", "git archive --format=tar HEAD | tar -x -C " + src},
		{"go", "build", "-C", src, "-o", bin, "./cmd/neutrino"},
	} {
		cmd := exec.CommandContext(ctx, c[0], c[1:]...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("build neutrino (%s): %w", strings.Join(c, " "), err)
		}
	}
	logger.Info("built neutrino", "bin", bin)
	return bin, nil
}

func script(ctx context.Context, env []string, path string, args ...string) error {
	cmd := exec.CommandContext(ctx, "bash", append([]string{path}, args...)...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if env != nil {
		cmd.Env = env
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w", path, strings.Join(args, " "), err)
	}
	return nil
}

func machine(ctx context.Context) Machine {
	i := mach.Read()
	m := Machine{CPU: i.CPU, Cores: i.Cores, MemGiB: i.MemGiB, Kernel: i.Kernel, Load1: mach.LoadAvg(), GoVersion: i.GoVersion}
	if out, err := exec.CommandContext(ctx, "dpkg-query", "-W", "-f=${Version}", "neutron-server").Output(); err == nil {
		m.NeutronVersion = string(out)
	}
	if out, err := exec.CommandContext(ctx, "git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		m.NeutrinoCommit = strings.TrimSpace(string(out))
	}
	return m
}

func rerender(path, outDir string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var res Results
	if err := json.Unmarshal(b, &res); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return render(res, outDir)
}

// render prints the tables and writes table.md and latency.svg.
func render(res Results, outDir string) error {
	rows := Rows(res)
	var b strings.Builder
	has := map[string]bool{}
	for _, s := range res.Systems {
		has[s.Name] = true
	}
	fmt.Fprintf(&b, "Run %s – %s UTC on %s (%d cores, %.0f GiB), kernel %s, Neutron %s, neutrino %s.\n",
		res.Started.Format("2006-01-02 15:04"), res.Finished.Format("15:04"), res.Machine.CPU, res.Machine.Cores,
		res.Machine.MemGiB, res.Machine.Kernel, res.Machine.NeutronVersion, res.Machine.NeutrinoCommit)
	fmt.Fprintf(&b, "Medians over %d repetition(s); %s of port creates per concurrency level.\n\n", res.Settings.Runs, res.Settings.Duration)
	if has["neutron"] && has["neutrino-mariadb"] {
		b.WriteString(Table(res, rows, "neutron", []string{"neutrino-mariadb"}))
		b.WriteString("\nGoals (neutrino on MariaDB vs Neutron on MariaDB):\n")
		b.WriteString(Goals(res, rows, "neutron", "neutrino-mariadb"))
	}
	var extra []string
	for _, n := range []string{"neutrino-sqlite", "neutrino-postgres"} {
		if has[n] {
			extra = append(extra, n)
		}
	}
	if has["neutron"] && len(extra) > 0 {
		b.WriteString("\nneutrino on the other databases (same workload), against the same Neutron figures:\n\n")
		b.WriteString(Table(res, rows, "neutron", extra))
	}
	b.WriteString("\n")
	for _, s := range res.Systems {
		fmt.Fprintf(&b, "- %s: ", s.Label)
		if s.Error != "" {
			fmt.Fprintf(&b, "ERROR %s; ", s.Error)
		}
		errs := 0
		for _, r := range s.Runs {
			errs += r.NetSub.Errors
			for _, p := range r.Create {
				errs += p.Errors
			}
			if r.Bind != nil {
				errs += r.Bind.Errors
			}
			if r.BindNote != "" {
				fmt.Fprintf(&b, "bound-port row: %s; ", r.BindNote)
				break
			}
		}
		if s.AgentNote != "" {
			fmt.Fprintf(&b, "agents: %s; ", s.AgentNote)
		}
		if s.Converge != nil && s.Converge.Error != "" {
			fmt.Fprintf(&b, "convergence: %s; ", s.Converge.Error)
		}
		fmt.Fprintf(&b, "failed requests %d; start-up %.1f s; %d server processes", errs, s.StartupS, s.Mem.Procs)
		if s.Mem.RabbitMQKB > 0 {
			fmt.Fprintf(&b, " (+ RabbitMQ %.0f MiB RSS, not counted)", float64(s.Mem.RabbitMQKB)/1024)
		}
		fmt.Fprintf(&b, "; listing ports: %s\n", s.ListFixture)
	}
	fmt.Print(b.String())
	if err := os.WriteFile(filepath.Join(outDir, "table.md"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	svg := PlotSVG("Port create latency vs concurrent clients (p50 solid, p99 dashed)", res.Settings.Concurrency, LatencySeries(res))
	return os.WriteFile(filepath.Join(outDir, "latency.svg"), []byte(svg), 0o644)
}
