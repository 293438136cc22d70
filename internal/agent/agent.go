// Package agent is the node agent (neutron-openvswitch-agent and
// neutron-linuxbridge-agent in one): it registers with the server and
// heartbeats, watches the revisioned stream of what its host must realise,
// discovers local VM devices, reports them up or down, and converges the
// data plane to the full desired state whenever something changes (the
// stream, or a device event from a data plane that implements
// dataplane.DeviceNotifier). It is level-triggered: every Apply carries
// the whole desired state, so a missed event or a restart is repaired by
// the next pass.
//
// Cadence. Every polling_interval the agent lists its devices (cheap) and
// applies only if something changed since its last successful Apply: the
// revision it holds, the devices, or a data plane that says its record of
// what it installed is stale (dataplane.Resyncer.Drifted: the switch
// restarted). A data plane that diffs against its own record (OVS, Linux)
// reads the system back completely only at a full pass: the first one,
// after a new snapshot or a reconnect of the stream, and every
// resync_interval (the audit that repairs hand edits). An idle node thus
// costs a device listing per polling_interval, not a read-back of every
// flow or FDB entry.
//
// One goroutine owns the data plane; the stream and heartbeat goroutines
// only update the desired state and signal it. The data plane is never
// applied before the first full snapshot from the server, so an agent
// restart does not flush what is forwarding traffic.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"neutrino/internal/agent/heartbeat"
	"neutrino/internal/config"
	"neutrino/internal/dataplane"
	"neutrino/internal/l2pop"
	"neutrino/internal/metrics"
	"neutrino/internal/neutron"
	"neutrino/internal/rpc"
)

// Server is what the agent needs from the server (*rpc.Client).
type Server interface {
	ReportState(ctx context.Context, r neutron.AgentReport) (string, error)
	UpdateDevice(ctx context.Context, host, portID string, up bool) (string, error)
	Watch(ctx context.Context, host string, lastRevision int64, fn func(rpc.Update) error) error
}

// Options configure an Agent.
type Options struct {
	Kind      string // KindOVS or KindLinuxBridge
	Config    *config.Agent
	Server    Server
	Dataplane dataplane.Dataplane
	Logger    *slog.Logger
	// Registry, when set, gets the agent's Prometheus metrics
	// (internal/metrics).
	Registry prometheus.Registerer
	// OnApplied, when set, is called by the data plane goroutine after
	// each successful Apply with the revision of the state applied.
	OnApplied func(revision int64)
}

// Agent is one node agent.
type Agent struct {
	opt      Options
	cfg      *config.Agent
	settings Settings
	log      *slog.Logger
	wake     chan struct{}

	mu     sync.Mutex
	view   l2pop.View
	rev    int64
	synced bool

	devices     atomic.Int64
	applied     atomic.Int64
	snapshots   atomic.Int64
	reconnects  atomic.Int64
	deviceWakes atomic.Int64
	fullPasses  atomic.Int64

	// aud is the audit's memory; auditNow asks the data plane goroutine
	// for a full pass with an audit (audit.go).
	aud      auditState
	auditNow chan struct{}
	metrics  *metrics.Agent // nil without Options.Registry
}

// New checks the options and returns an agent; Run starts it.
func New(opt Options) (*Agent, error) {
	if opt.Config == nil || opt.Server == nil || opt.Dataplane == nil {
		return nil, errors.New("agent: config, server and data plane are required")
	}
	if opt.Kind != KindOVS && opt.Kind != KindLinuxBridge {
		return nil, fmt.Errorf("agent kind %q: want %s or %s", opt.Kind, KindOVS, KindLinuxBridge)
	}
	if opt.Config.Host == "" {
		return nil, errors.New("agent: [DEFAULT] host is empty")
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &Agent{
		opt: opt, cfg: opt.Config, settings: SettingsFor(opt.Kind, opt.Config),
		log:  log.With("agent", opt.Kind, "host", opt.Config.Host),
		wake: make(chan struct{}, 1), auditNow: make(chan struct{}, 1),
	}
	if opt.Registry != nil {
		a.metrics = metrics.NewAgent(opt.Registry, a)
	}
	return a, nil
}

// Run dials the server named by cfg's transport_url and runs an agent of
// kind on dp until ctx ends. It does not close dp. reg, if not nil, gets
// the agent's metrics.
func Run(ctx context.Context, kind string, cfg *config.Agent, dp dataplane.Dataplane, logger *slog.Logger, reg prometheus.Registerer) error {
	cc, err := rpc.ClientConfigFor(cfg)
	if err != nil {
		return err
	}
	client, err := rpc.Dial(cc)
	if err != nil {
		return err
	}
	defer client.Close()
	a, err := New(Options{Kind: kind, Config: cfg, Server: client, Dataplane: dp, Logger: logger, Registry: reg})
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

// Run runs the agent until ctx ends; it returns nil then.
func (a *Agent) Run(ctx context.Context) error {
	a.log.Info("agent starting", "local_ip", a.cfg.LocalIP, "l2_population", a.cfg.L2Population,
		"polling_interval", a.cfg.PollingInterval, "resync_interval", a.cfg.ResyncInterval, "report_interval", a.cfg.ReportInterval)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		heartbeat.Run(ctx, heartbeat.Config{Server: a.opt.Server, Interval: a.cfg.ReportInterval, Logger: a.log,
			Report: func(start bool) neutron.AgentReport {
				return Report(a.opt.Kind, a.cfg, int(a.devices.Load()), start)
			}})
	}()
	go func() { defer wg.Done(); a.watch(ctx) }()
	if s, ok := a.opt.Server.(ObserveServer); ok {
		wg.Add(1)
		go func() { defer wg.Done(); a.observeLoop(ctx, s) }()
	}
	a.reconcileLoop(ctx)
	wg.Wait()
	a.log.Info("agent stopped")
	return nil
}

// Revision is the revision of the desired state the agent holds.
func (a *Agent) Revision() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.rev
}

// AppliedRevision is the revision of the last state applied to the data
// plane (0 before the first).
func (a *Agent) AppliedRevision() int64 { return a.applied.Load() }

// DeviceWakes counts the passes a data plane device event started.
func (a *Agent) DeviceWakes() int64 { return a.deviceWakes.Load() }

// FullPasses counts the passes that asked the data plane for a full
// read-back (start, new snapshot or reconnect, resync_interval).
func (a *Agent) FullPasses() int64 { return a.fullPasses.Load() }

// Reconnects counts the times the watch stream ended and was opened again.
func (a *Agent) Reconnects() int64 { return a.reconnects.Load() }

// Snapshots counts the full snapshots received.
func (a *Agent) Snapshots() int64 { return a.snapshots.Load() }

// View returns the desired view the agent holds and whether it had its
// first snapshot.
func (a *Agent) View() (l2pop.View, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.view, a.synced
}

func (a *Agent) signal() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// errOutOfStep means a delta did not apply to our revision: reconnect and
// resume from the revision we hold.
var errOutOfStep = errors.New("delta does not follow our revision")

// watch keeps a watch stream open, resuming from the last revision held.
func (a *Agent) watch(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		got := false
		err := a.opt.Server.Watch(ctx, a.cfg.Host, a.Revision(), func(u rpc.Update) error {
			got = true
			return a.onUpdate(u)
		})
		if ctx.Err() != nil {
			return
		}
		if got {
			backoff = 100 * time.Millisecond
		}
		a.reconnects.Add(1)
		a.log.Warn("watch stream ended; reconnecting", "err", err, "revision", a.Revision(), "in", backoff)
		// Jitter so a restarted server is not hit by every agent at once.
		if !sleep(ctx, backoff/2+rand.N(backoff/2+1)) {
			return
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (a *Agent) onUpdate(u rpc.Update) error {
	a.mu.Lock()
	switch {
	case u.Snapshot != nil:
		a.view, a.rev, a.synced = *u.Snapshot, u.Revision, true
		a.snapshots.Add(1)
	case u.Delta != nil:
		if !a.synced || u.Prev != a.rev {
			rev := a.rev
			a.mu.Unlock()
			return fmt.Errorf("%w: delta %d->%d, we hold %d", errOutOfStep, u.Prev, u.Revision, rev)
		}
		nv, err := a.view.Apply(*u.Delta)
		if err != nil {
			// Keep the state we have (the data plane keeps forwarding)
			// but ask for a snapshot on reconnect.
			a.rev = 0
			a.mu.Unlock()
			return fmt.Errorf("apply delta %d: %w", u.Revision, err)
		}
		a.view, a.rev = nv, u.Revision
	}
	a.mu.Unlock()
	a.signal()
	return nil
}

// reconcileLoop owns the data plane: one pass when signalled and every
// polling_interval.
func (a *Agent) reconcileLoop(ctx context.Context) {
	poll := a.cfg.PollingInterval
	if poll <= 0 {
		poll = 2 * time.Second
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	// A data plane that reports device changes (OVSDB monitor, netlink)
	// wakes a pass as soon as Nova plugs a VM; a nil channel never fires,
	// so without one the loop polls only, as the Linux bridge agent does.
	var devEvents <-chan struct{}
	if n, ok := a.opt.Dataplane.(dataplane.DeviceNotifier); ok {
		devEvents = n.DeviceEvents()
	}
	st := &passState{reported: map[string]reportMark{}}
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.wake:
		case <-devEvents:
			a.deviceWakes.Add(1)
		case <-a.auditNow:
			st.forceAudit = true
		case <-t.C:
		}
		a.pass(ctx, st, poll)
	}
}

type reportMark struct {
	up bool
	at time.Time
}

// passState is what the data plane goroutine remembers between passes.
type passState struct {
	lastErr  string
	reported map[string]reportMark
	// What the last successful Apply was made from; clean is false
	// before the first and after a failed one.
	clean      bool
	rev        int64
	devs       []dataplane.Device
	snapshots  int64
	reconnects int64
	// lastFull is when the last full pass (a read-back) was asked for.
	lastFull time.Time
	// applied is the state the last successful Apply realised (what an
	// audit expects to find); forceAudit makes the next pass a full one
	// with an audit (the server asked).
	applied    dataplane.NodeState
	forceAudit bool
}

func (a *Agent) pass(ctx context.Context, st *passState, poll time.Duration) {
	devs, err := a.opt.Dataplane.Devices(ctx)
	if err != nil {
		// Without the device list we cannot tell which ports to attach:
		// skip the pass rather than detach everything.
		a.logOnce(st, "list devices", err)
		return
	}
	a.mu.Lock()
	view, rev, synced := a.view, a.rev, a.synced
	a.mu.Unlock()
	if !synced {
		return
	}
	snaps, recs := a.snapshots.Load(), a.reconnects.Load()
	forced := st.forceAudit
	st.forceAudit = false
	full := forced || st.lastFull.IsZero() || snaps != st.snapshots || recs != st.reconnects ||
		(a.cfg.ResyncInterval > 0 && time.Since(st.lastFull) >= a.cfg.ResyncInterval)
	rs, _ := a.opt.Dataplane.(dataplane.Resyncer)
	if !full && st.clean && rev == st.rev && slices.Equal(devs, st.devs) && (rs == nil || !rs.Drifted()) {
		// Nothing changed: no Apply, only the reports still owed.
		a.report(ctx, st, view, devs, poll, true)
		return
	}
	if full {
		if rs != nil {
			rs.Resync()
		}
		st.lastFull, st.snapshots, st.reconnects = time.Now(), snaps, recs
		a.fullPasses.Add(1)
	}
	desired := Desired(view, a.settings, devs)
	a.devices.Store(int64(len(desired.Ports)))
	// A full pass audits what the last Apply left (audit.go).
	audit := full && (st.clean || forced)
	var found []dataplane.Difference
	var compared time.Time
	var auditErr error
	if audit && st.clean {
		found, compared, auditErr = a.auditBefore(ctx, st)
	}
	applyStart := time.Now()
	err = a.opt.Dataplane.Apply(ctx, desired)
	if a.metrics != nil {
		a.metrics.Applied(time.Since(applyStart), err, a.expected(desired))
	}
	a.log.Debug("applied", "revision", rev, "full", full, "devices", len(devs), "took", time.Since(applyStart), "err", err)
	if err != nil {
		st.clean = false
		if audit {
			a.auditAfter(ctx, desired, rev, compared, found, errors.Join(auditErr, err))
		}
		if ctx.Err() == nil {
			a.logOnce(st, "apply", err)
		}
		// Still report devices down; ups wait for a clean apply.
		a.report(ctx, st, view, devs, poll, false)
		return
	}
	if st.lastErr != "" {
		a.log.Info("data plane converged again", "revision", rev)
		st.lastErr = ""
	}
	st.clean, st.rev, st.devs, st.applied = true, rev, devs, desired
	a.applied.Store(rev)
	if audit {
		a.auditAfter(ctx, desired, rev, compared, found, auditErr)
	}
	if a.opt.OnApplied != nil {
		a.opt.OnApplied(rev)
	}
	a.report(ctx, st, view, devs, poll, true)
}

func (a *Agent) logOnce(st *passState, what string, err error) {
	msg := what + ": " + err.Error()
	if msg != st.lastErr {
		a.log.Warn("data plane pass failed", "step", what, "err", err)
		st.lastErr = msg
	}
}

// report sends the device up/down reports the view still needs. A report
// is repeated only after two polling intervals without the status
// following it.
func (a *Agent) report(ctx context.Context, st *passState, view l2pop.View, devs []dataplane.Device, poll time.Duration, ups bool) {
	now := time.Now()
	pending := PendingReports(view, devs)
	if a.log.Enabled(ctx, slog.LevelDebug) {
		for _, d := range devs {
			if p, ok := view.Ports[d.PortID]; ok && !d.Up {
				a.log.Debug("device not up", "port", d.PortID, "device", d.Name, "status", p.Status)
			}
		}
	}
	for _, r := range pending {
		if r.Up && !ups {
			a.log.Debug("device up not reported: the last apply failed", "port", r.PortID)
			continue
		}
		if m, ok := st.reported[r.PortID]; ok && m.up == r.Up && now.Sub(m.at) < 2*poll {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		status, err := a.opt.Server.UpdateDevice(rctx, a.cfg.Host, r.PortID, r.Up)
		cancel()
		a.log.Debug("update_device", "port", r.PortID, "up", r.Up, "status", status, "took", time.Since(now), "err", err)
		if err != nil {
			if ctx.Err() == nil {
				a.log.Warn("update_device failed", "port", r.PortID, "up", r.Up, "err", err)
			}
			continue
		}
		st.reported[r.PortID] = reportMark{up: r.Up, at: now}
	}
	// Forget marks of ports no longer pending.
	still := make(map[string]bool, len(pending))
	for _, r := range pending {
		still[r.PortID] = true
	}
	for id := range st.reported {
		if !still[id] {
			delete(st.reported, id)
		}
	}
}
