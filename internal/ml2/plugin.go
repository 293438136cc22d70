// Package ml2 is neutrino's Modular Layer 2 plugin: the type drivers
// (vxlan, vlan, flat, gre: validation, segment allocation, MTU), the
// mechanism drivers (openvswitch, linuxbridge; l2population only affects
// the agents' stream) and port binding, asking package ipam for addresses, and the agent registry (report_state, device up/down).
// Every API or agent write is one store transaction that also appends the
// change-log rows the agents' stream tails. ml2 touches no network and
// imports no data-plane package.
package ml2

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"neutrino/internal/config"
	"neutrino/internal/ipam"
	"neutrino/internal/neutron"
	"neutrino/internal/store"
)

// Plugin implements api.Backend and the agent-facing methods the gRPC
// server calls (ReportState, UpdateDevice, Snapshot, Changes).
type Plugin struct {
	st      *store.Store
	cfg     *config.Server
	log     *slog.Logger
	types   *typeDrivers
	mechs   []string
	baseMAC string
	downAft time.Duration

	rngMu sync.Mutex
	rng   *rand.Rand

	// now is the clock (tests move it to kill agents).
	now func() time.Time

	// ipam picks fixed IPs and holds those of unfinished requests.
	ipam *ipam.Allocator
}

// New builds the plugin over a migrated store and syncs the segment
// allocation tables with the configured ranges (as neutron-server does at
// start).
func New(ctx context.Context, st *store.Store, cfg *config.Server, logger *slog.Logger) (*Plugin, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	td, err := newTypeDrivers(cfg)
	if err != nil {
		return nil, err
	}
	p := &Plugin{st: st, cfg: cfg, log: logger, types: td, baseMAC: cfg.BaseMAC, downAft: cfg.AgentDownTime,
		rng: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())), ipam: ipam.NewAllocator(), now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}
	if p.baseMAC == "" {
		p.baseMAC = "fa:16:3e:00:00:00"
	}
	if p.downAft <= 0 {
		p.downAft = 75 * time.Second
	}
	for _, m := range cfg.MechanismDrivers {
		switch m {
		case "openvswitch", "linuxbridge":
			p.mechs = append(p.mechs, m)
		case "l2population":
		default:
			logger.Warn("mechanism driver not supported by neutrino, ignored", "driver", m)
		}
	}
	if err := st.CheckMigrated(ctx); err != nil {
		return nil, err
	}
	st.SetQuotaDefaults(cfg.Quotas)
	if td.enabled[neutron.TypeVXLAN] {
		if err := st.SyncTunnelAllocations(ctx, neutron.TypeVXLAN, td.vni); err != nil {
			return nil, err
		}
	}
	if td.enabled[neutron.TypeGRE] {
		if err := st.SyncTunnelAllocations(ctx, neutron.TypeGRE, td.gre); err != nil {
			return nil, err
		}
	}
	if td.enabled[neutron.TypeVLAN] {
		if err := st.SyncVLANAllocations(ctx, td.vlan); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// SetClock replaces the clock (tests).
func (p *Plugin) SetClock(now func() time.Time) {
	p.now = func() time.Time { return now().UTC().Truncate(time.Microsecond) }
}

// Store returns the underlying store.
func (p *Plugin) Store() *store.Store { return p.st }

func (p *Plugin) randMAC() (string, error) {
	p.rngMu.Lock()
	defer p.rngMu.Unlock()
	return generateMAC(p.baseMAC, p.rng)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("marshal %T: %v", v, err))
	}
	return b
}

// checkRevision implements If-Match: revision_number=N.
func checkRevision(kind, id string, want, have int64) error {
	if want != 0 && want != have {
		return neutron.Errorf(412, "RevisionNumberConstraintFailed",
			"Constrained to %d, but current revision is %d", want, have)
	}
	_ = kind
	_ = id
	return nil
}

// Snapshot is a consistent read of what the agents' stream derives its
// views from, with the revision it is consistent with.
func (p *Plugin) Snapshot(ctx context.Context) (*neutron.State, error) {
	st, err := p.st.State(ctx)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	now := p.now()
	for i := range st.Agents {
		st.Agents[i].Alive = p.alive(&st.Agents[i], now)
	}
	return st, nil
}

// Changes returns change-log rows after a revision (see store.Changes).
func (p *Plugin) Changes(ctx context.Context, after int64, limit int) ([]neutron.Change, error) {
	return p.st.Changes(ctx, after, limit)
}

// Committed returns a channel closed at the next commit that appends
// change-log rows (see store.Committed).
func (p *Plugin) Committed() <-chan struct{} { return p.st.Committed() }

// PruneChanges drops change-log rows beyond the newest keep revisions that
// are older than keepFor; the server calls it periodically. Streams that
// fall behind the horizon get ErrRevisionGone and resync from a snapshot.
func (p *Plugin) PruneChanges(ctx context.Context, keep int64, keepFor time.Duration) (int64, error) {
	return p.st.Prune(ctx, keep, keepFor)
}

func (p *Plugin) alive(a *neutron.Agent, now time.Time) bool {
	return now.Sub(a.HeartbeatAt) <= p.downAft
}

// Change-log retention the server uses by default: streams that fall
// further behind resync from a snapshot.
const (
	DefaultPruneInterval = time.Minute
	DefaultPruneKeep     = 100000
	DefaultPruneKeepFor  = 10 * time.Minute
)

// RunPruner prunes the change log every interval until ctx ends (the
// server runs it in a goroutine; several servers may run it at once).
func (p *Plugin) RunPruner(ctx context.Context, interval time.Duration, keep int64, keepFor time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if h, err := p.PruneChanges(ctx, keep, keepFor); err != nil {
			if ctx.Err() == nil {
				p.log.Warn("prune change log", "err", err)
			}
		} else {
			p.log.Debug("pruned change log", "horizon", h)
		}
	}
}
