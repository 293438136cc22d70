package dhcp

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"neutrino/internal/agent/follow"
	"neutrino/internal/agent/heartbeat"
	"neutrino/internal/neutron"
)

// Agent identity as Neutron's DHCP agent reports it.
const (
	AgentBinary = "neutron-dhcp-agent"
	AgentTopic  = "dhcp_agent"
)

// AgentConfig configures Run.
type AgentConfig struct {
	Host string
	// ReportInterval is report_interval; 0 reports once.
	ReportInterval time.Duration
	// SuperviseInterval is how often dnsmasq processes are checked and
	// restarted when dead (default 1s).
	SuperviseInterval time.Duration
	// ResyncInterval is how often the whole state is applied again even
	// without news, repairing drift (default 5 minutes).
	ResyncInterval time.Duration
	LeaseDuration  int
	Logger         *slog.Logger
}

// Agent is the DHCP agent: it follows the desired state from its Source
// and converges the node with its Applier (level-triggered: every change
// applies the whole state; a failed apply is retried).
type Agent struct {
	cfg    AgentConfig
	app    *Applier
	server heartbeat.Reporter
	source Source
	log    *slog.Logger

	mu      sync.Mutex
	state   State
	synced  bool
	applied bool
	wake    chan struct{}
}

// NewAgent returns an agent; Run starts it.
func NewAgent(cfg AgentConfig, app *Applier, server heartbeat.Reporter, source Source) *Agent {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.SuperviseInterval <= 0 {
		cfg.SuperviseInterval = time.Second
	}
	if cfg.ResyncInterval <= 0 {
		cfg.ResyncInterval = 5 * time.Minute
	}
	return &Agent{cfg: cfg, app: app, server: server, source: source,
		log: cfg.Logger.With("agent", "dhcp", "host", cfg.Host), wake: make(chan struct{}, 1)}
}

// Applied reports whether a state from the server has been applied
// without error.
func (a *Agent) Applied() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.applied
}

// Run runs until ctx ends. dnsmasq processes and namespaces stay when it
// returns: a restarted agent adopts them, so leases are not interrupted.
func (a *Agent) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(2)
	reg := &registering{Reporter: a.server, done: make(chan struct{})}
	go func() {
		defer wg.Done()
		heartbeat.Run(ctx, heartbeat.Config{Server: reg, Interval: a.cfg.ReportInterval, Logger: a.log,
			Report: func(start bool) neutron.AgentReport {
				a.mu.Lock()
				defer a.mu.Unlock()
				return Report(a.cfg.Host, a.cfg.LeaseDuration, a.state, start)
			}})
	}()
	go func() {
		defer wg.Done()
		// Registered first, as Neutron's agent syncs after its first
		// report: the server schedules the networks lacking a DHCP agent
		// when one appears, so the first state already holds them.
		select {
		case <-ctx.Done():
			return
		case <-reg.done:
		}
		a.watch(ctx)
	}()
	a.loop(ctx)
	wg.Wait()
	a.log.Info("dhcp agent stopped")
	return nil
}

// registering is the server's report_state that closes done once a
// report got through.
type registering struct {
	heartbeat.Reporter
	once sync.Once
	done chan struct{}
}

func (r *registering) ReportState(ctx context.Context, rep neutron.AgentReport) (string, error) {
	id, err := r.Reporter.ReportState(ctx, rep)
	if err == nil {
		r.once.Do(func() { close(r.done) })
	}
	return id, err
}

func (a *Agent) signal() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// loop applies the state on every change (and after a failure, again a
// second later), supervises dnsmasq every SuperviseInterval and applies
// everything every ResyncInterval. Nothing is applied (or removed) before
// the first state from the server: never flush on start.
func (a *Agent) loop(ctx context.Context) {
	start := time.Now()
	supervise := time.NewTicker(a.cfg.SuperviseInterval)
	defer supervise.Stop()
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
		case <-supervise.C:
			// Before the first Apply the applier serves nothing, so this
			// restarts nothing.
			if got, err := a.app.Supervise(ctx); err != nil {
				a.log.Warn("supervise dnsmasq", "err", err)
			} else if len(got) > 0 {
				a.log.Info("restarted dnsmasq", "networks", got)
			}
			continue
		}
		a.mu.Lock()
		s, synced := a.state, a.synced
		a.mu.Unlock()
		if !synced {
			continue
		}
		retry = nil
		if err := a.app.Apply(ctx, s); err != nil {
			if ctx.Err() != nil {
				return
			}
			a.log.Warn("apply failed; retrying", "err", err)
			retry = time.After(time.Second)
			continue
		}
		a.mu.Lock()
		first := !a.applied
		a.applied = true
		a.mu.Unlock()
		if first {
			// Neutron's agent logs "Synchronizing state complete" here.
			a.log.Info("desired state applied", "networks", len(s.Networks), "since_start", time.Since(start).Round(time.Millisecond))
		}
	}
}

// watch keeps the state stream open.
func (a *Agent) watch(ctx context.Context) {
	follow.Run(ctx, a.log, "dhcp", func(ctx context.Context, got func(State) error) error {
		return a.source.Watch(ctx, a.cfg.Host, got)
	}, func(s State) {
		a.mu.Lock()
		first := !a.synced
		a.state, a.synced = s, true
		a.mu.Unlock()
		if first {
			a.log.Info("desired state received", "networks", len(s.Networks))
		}
		a.signal()
	}, nil)
}

// Report is the DHCP agent's report_state, as neutron-dhcp-agent sends it
// (configurations with its driver, lease time and what it serves).
func Report(host string, leaseDuration int, s State, start bool) neutron.AgentReport {
	subnets, ports := 0, 0
	for _, n := range s.Networks {
		subnets += len(n.Subnets)
		ports += len(n.Ports)
	}
	conf, _ := json.Marshal(map[string]any{
		"dhcp_driver": "neutron.agent.linux.dhcp.Dnsmasq", "dhcp_lease_duration": leaseDuration,
		"log_agent_heartbeats": false, "networks": len(s.Networks), "subnets": subnets, "ports": ports,
	})
	return neutron.AgentReport{AgentType: neutron.AgentTypeDHCP, Binary: AgentBinary, Host: host,
		Topic: AgentTopic, Configurations: conf, StartFlag: start}
}
