package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"neutrino/internal/agent"
)

// Fault kinds.
const (
	faultAgent    = "agent-kill"
	faultServer   = "server-kill"
	faultVswitchd = "ovs-vswitchd-kill"
	faultOVSDB    = "ovsdb-server-kill"
	faultDB       = "database-restart"
	faultLinkCut  = "agent-link-cut"
	faultUnderlay = "underlay-flap"
	faultBurst    = "api-burst-during-restart"
	// The L3 and DHCP agents SIGKILLed and restarted.
	faultL3Agent   = "l3-agent-kill"
	faultDHCPAgent = "dhcp-agent-kill"
)

// faultKinds are the kinds drawn for a database kind: SQLite has no
// server to restart.
func faultKinds(db string) []string {
	if db == dbSQLite {
		return []string{faultAgent, faultServer, faultVswitchd, faultOVSDB, faultLinkCut, faultUnderlay, faultBurst, faultL3Agent, faultDHCPAgent}
	}
	return []string{faultAgent, faultServer, faultVswitchd, faultOVSDB, faultDB, faultLinkCut, faultUnderlay, faultBurst, faultL3Agent, faultDHCPAgent}
}

// fault is one injected fault and what followed.
type fault struct {
	N      int           `json:"n"`
	Kind   string        `json:"kind"`
	Target string        `json:"target"`
	Start  time.Time     `json:"start"`
	Heal   time.Time     `json:"heal"` // restarted / restored
	End    time.Time     `json:"end"`  // converged (or gave up)
	Conv   time.Duration `json:"converge_ns"`
	Failed []string      `json:"failed,omitempty"`
	// LastWait is the last condition not yet met before convergence
	// (what a slow fault waited for).
	LastWait string `json:"last_wait,omitempty"`
	// Diag is the file with what the nodes held when convergence took
	// longer than diagAfter.
	Diag string `json:"diagnostics,omitempty"`
}

// injector draws faults from its own seeded generator, so the sequence of
// kinds, targets and hold times is the same for a seed whatever the
// timing.
type injector struct {
	r *rand.Rand
	c *cluster
	w *workload
	a *auditor
}

func (in *injector) pick(nodes []*node) *node { return nodes[in.r.IntN(len(nodes))] }

func (in *injector) ovsNodes() []*node {
	var out []*node
	for _, n := range in.c.nodes {
		if n.kind == agent.KindOVS {
			out = append(out, n)
		}
	}
	return out
}

func (in *injector) hold(min, max time.Duration) time.Duration {
	return min + time.Duration(in.r.Int64N(int64(max-min)))
}

// inject runs one fault up to its heal (restarted, restored) and returns
// it; the convergence check starts from f.Heal.
func (in *injector) inject(ctx context.Context, kind string) (*fault, error) {
	f := &fault{Kind: kind, Start: time.Now()}
	c := in.c
	switch kind {
	case faultAgent:
		n := in.pick(c.nodes)
		f.Target = n.Name
		n.agent.kill()
		if err := c.startAgent(n); err != nil {
			return f, err
		}
	case faultL3Agent, faultDHCPAgent:
		x := c.auxOf(auxL3)
		if kind == faultDHCPAgent {
			x = c.auxOf(auxDHCP)
		}
		f.Target = x.name()
		x.p.kill()
		if err := c.startAux(x); err != nil {
			return f, err
		}
	case faultServer:
		// The server stays down until the agents are served by the
		// other one and the data planes converged (see run); then it
		// restarts.
		s := c.servers[in.r.IntN(len(c.servers))]
		f.Target = s.name
		s.p.kill()
	case faultVswitchd, faultOVSDB:
		n := in.pick(in.ovsNodes())
		f.Target = n.Name
		n.mu.Lock()
		var err error
		if kind == faultVswitchd {
			err = n.ovs.CrashVswitchd(ctx)
		} else {
			err = n.ovs.CrashOVSDB(ctx)
		}
		n.mu.Unlock()
		in.a.forget(n)
		if err != nil {
			return f, err
		}
	case faultDB:
		f.Target = c.dbKind
		if err := c.db.crash(ctx); err != nil {
			return f, err
		}
	case faultLinkCut:
		n := in.pick(c.nodes)
		f.Target = n.Name
		d := in.hold(time.Second, 5*time.Second)
		if err := c.cutLink(n, true); err != nil {
			return f, err
		}
		sleepCtx(ctx, d) // the fault's duration, drawn from the seed
		if err := c.cutLink(n, false); err != nil {
			return f, err
		}
	case faultUnderlay:
		n := in.pick(c.nodes)
		f.Target = n.Name
		d := in.hold(500*time.Millisecond, 3*time.Second)
		if err := c.flapUnderlay(n, false); err != nil {
			return f, err
		}
		sleepCtx(ctx, d)
		if err := c.flapUnderlay(n, true); err != nil {
			return f, err
		}
	case faultBurst:
		// 30 concurrent port writes while an agent or a server is
		// SIGKILLed and restarted.
		done := make(chan error, 1)
		go func() { done <- in.w.burst(ctx, 30) }()
		if in.r.IntN(2) == 0 {
			n := in.pick(c.nodes)
			f.Target = "agent " + n.Name
			n.agent.kill()
			if err := c.startAgent(n); err != nil {
				return f, err
			}
		} else {
			s := c.servers[in.r.IntN(len(c.servers))]
			f.Target = s.name
			s.p.kill()
			if err := c.startServer(ctx, s); err != nil {
				return f, err
			}
		}
		if err := <-done; err != nil {
			f.Failed = append(f.Failed, "burst: "+err.Error())
		}
	default:
		return f, fmt.Errorf("unknown fault kind %q", kind)
	}
	f.Heal = time.Now()
	return f, nil
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
