package l3

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"sync"
	"time"

	"neutrino/internal/agent/follow"
	"neutrino/internal/agent/heartbeat"
	"neutrino/internal/neutron"
)

// Agent identity as Neutron's L3 agent reports it.
const (
	AgentBinary = "neutron-l3-agent"
	AgentTopic  = "l3_agent"
)

// AgentConfig configures an Agent.
type AgentConfig struct {
	Host string
	// ReportInterval is report_interval; 0 reports once.
	ReportInterval time.Duration
	// ResyncInterval is how often every router is read back and
	// repaired even without news (default 5 minutes).
	ResyncInterval time.Duration
	// InterfaceDriver names the driver in the agent's report.
	InterfaceDriver string
	Logger          *slog.Logger
}

// Agent is the L3 agent: it follows the desired state from its Source and
// converges the node with its Applier (level-triggered: every change
// applies the whole state, unchanged routers are skipped; a failed apply
// is retried), and reports floating IP statuses.
type Agent struct {
	cfg    AgentConfig
	app    *Applier
	server heartbeat.Reporter
	status StatusReporter
	source Source
	log    *slog.Logger

	mu       sync.Mutex
	state    State
	synced   bool
	applied  bool
	reported map[string]string // floating IP id -> status the server has
	wake     chan struct{}
}

// NewAgent returns an agent; Run starts it. status may be nil (no
// floating IP status reports).
func NewAgent(cfg AgentConfig, app *Applier, server heartbeat.Reporter, status StatusReporter, source Source) *Agent {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ResyncInterval <= 0 {
		cfg.ResyncInterval = 5 * time.Minute
	}
	return &Agent{cfg: cfg, app: app, server: server, status: status, source: source,
		log: cfg.Logger.With("agent", "l3", "host", cfg.Host), wake: make(chan struct{}, 1), reported: map[string]string{}}
}

// Applied reports whether a state from the server has been applied
// without error.
func (a *Agent) Applied() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.applied
}

// Run runs until ctx ends. Router namespaces stay when it returns: a
// restarted agent adopts them without interrupting traffic.
func (a *Agent) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		heartbeat.Run(ctx, heartbeat.Config{Server: a.server, Interval: a.cfg.ReportInterval, Logger: a.log,
			Report: func(start bool) neutron.AgentReport {
				a.mu.Lock()
				defer a.mu.Unlock()
				return Report(a.cfg.Host, a.cfg.InterfaceDriver, a.state, start)
			}})
	}()
	go func() { defer wg.Done(); a.watch(ctx) }()
	wg.Add(1)
	go func() { defer wg.Done(); a.app.Watch(ctx, a.signal) }()
	a.loop(ctx)
	wg.Wait()
	a.app.Close()
	a.log.Info("l3 agent stopped")
	return nil
}

func (a *Agent) signal() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// loop applies the state on every change (and after a failure, again a
// second later) and reads everything back every ResyncInterval. Nothing
// is applied (or removed) before the first state from the server: never
// flush on start.
func (a *Agent) loop(ctx context.Context) {
	resync := time.NewTicker(a.cfg.ResyncInterval)
	defer resync.Stop()
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.wake:
		case <-retry:
		case <-resync.C:
			a.app.Resync()
		}
		a.mu.Lock()
		s, synced := a.state, a.synced
		a.mu.Unlock()
		if !synced {
			continue
		}
		retry = nil
		start := time.Now()
		res, err := a.app.Apply(ctx, s)
		if ctx.Err() != nil {
			return
		}
		a.reportStatuses(ctx, s, res)
		if err != nil {
			a.log.Warn("apply failed; retrying", "err", err)
			retry = time.After(time.Second)
			continue
		}
		if res.Converged+res.Removed > 0 {
			a.log.Info("routers converged", "converged", res.Converged, "unchanged", res.Skipped,
				"removed", res.Removed, "took", time.Since(start).Round(time.Millisecond))
		}
		a.mu.Lock()
		a.applied = true
		a.mu.Unlock()
	}
}

// reportStatuses sends the floating IP statuses that changed: ACTIVE for
// those in place, ERROR for those of routers that failed.
func (a *Agent) reportStatuses(ctx context.Context, s State, res Result) {
	if a.status == nil {
		return
	}
	active := map[string]bool{}
	for _, id := range res.ActiveFloatingIPs {
		active[id] = true
	}
	a.mu.Lock()
	changed := map[string]string{}
	for _, r := range s.Routers {
		for _, f := range r.FloatingIPs {
			st := StatusError
			if active[f.ID] {
				st = StatusActive
			}
			if a.reported[f.ID] != st {
				changed[f.ID] = st
			}
		}
	}
	a.mu.Unlock()
	if len(changed) == 0 {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := a.status.UpdateFloatingIPStatuses(rctx, a.cfg.Host, changed); err != nil {
		a.log.Warn("floating IP status report failed; retrying with the next apply", "err", err)
		return
	}
	a.mu.Lock()
	maps.Copy(a.reported, changed)
	a.mu.Unlock()
}

// watch keeps the state stream open.
func (a *Agent) watch(ctx context.Context) {
	follow.Run(ctx, a.log, "l3", func(ctx context.Context, got func(State) error) error {
		return a.source.Watch(ctx, a.cfg.Host, got)
	}, func(s State) {
		a.mu.Lock()
		first := !a.synced
		a.state, a.synced = s, true
		a.mu.Unlock()
		if first {
			a.log.Info("desired state received", "routers", len(s.Routers))
		}
		a.signal()
	}, func() {
		// The server may have lost what we reported: report it again.
		a.mu.Lock()
		clear(a.reported)
		a.mu.Unlock()
	})
}

// Report is the L3 agent's report_state, as neutron-l3-agent sends it
// (configurations with its mode, driver and what it routes).
func Report(host, driver string, s State, start bool) neutron.AgentReport {
	gws, ifs, fips := 0, 0, 0
	for _, r := range s.Routers {
		if r.Gateway != nil {
			gws++
		}
		ifs += len(r.Interfaces)
		fips += len(r.FloatingIPs)
	}
	conf, _ := json.Marshal(map[string]any{
		"agent_mode": "legacy", "interface_driver": driver, "handle_internal_only_routers": true,
		"gateway_external_network_id": "", "external_network_bridge": "", "log_agent_heartbeats": false,
		"routers": len(s.Routers), "ex_gw_ports": gws, "interfaces": ifs, "floating_ips": fips,
	})
	return neutron.AgentReport{AgentType: neutron.AgentTypeL3, Binary: AgentBinary, Host: host,
		Topic: AgentTopic, Configurations: conf, StartFlag: start}
}
