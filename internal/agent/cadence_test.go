package agent

import (
	"testing"
	"time"

	"neutrino/internal/dataplane/fake"
	"neutrino/internal/l2pop"
	"neutrino/internal/neutron"
	"neutrino/internal/rpc"
	"neutrino/internal/rpc/rpctest"
	"neutrino/internal/waittest"
)

// TestIdleAgentDoesNotApply: once converged, polling passes with nothing
// changed do not call Apply (and never ask for a read-back); a data plane
// that reports drift gets an Apply without a Resync; a server restart
// (reconnect, new stream) gets a full pass with Resync; with
// resync_interval set, audits come at that interval.
func TestIdleAgentDoesNotApply(t *testing.T) {
	mem := rpctest.NewMemory()
	logger := testLogger(t)
	addr := freeAddr(t)
	srv := startServer(t, mem, rpc.ServerConfig{L2Pop: l2pop.Config{Enabled: true}, Logger: logger}, addr)
	defer func() { srv.stop(t) }()

	cfg := agentConfig("node-idle", "198.18.8.1", "grpc://"+addr, true)
	cfg.PollingInterval = 10 * time.Millisecond
	cfg.ResyncInterval = 0 // no periodic audit
	cfg.ReportInterval = time.Hour
	dp := fake.New()
	p := startAgent(t, cfg, dp, logger)
	defer p.stop()

	const portID = "00000001-0000-4000-8000-00000000f001"
	mem.CreateNetwork("net-idle", 1601)
	mem.PutPort(portID, "net-idle", cfg.Host, "fa:16:3e:00:f0:01", "192.168.60.10")
	plug(dp, portID, "fa:16:3e:00:f0:01")
	waittest.For(t, "port ACTIVE and applied", func() bool {
		st, _ := mem.Port(portID)
		rev := mem.Revision()
		return st.Status == neutron.StatusActive && p.agent.AppliedRevision() == rev
	})
	if dp.Resyncs() != 1 || p.agent.FullPasses() != 1 {
		t.Fatalf("start: %d Resync calls, %d full passes; want 1 each", dp.Resyncs(), p.agent.FullPasses())
	}

	// Thirty polling intervals of nothing: no Apply at all.
	applies := dp.Applies()
	time.Sleep(30 * cfg.PollingInterval)
	if n := dp.Applies() - applies; n != 0 {
		t.Errorf("%d Apply calls while nothing changed", n)
	}

	// The data plane says its record is stale: one Apply, no Resync (the
	// data plane reads back by itself).
	dp.SetDrifted(true)
	waittest.For(t, "an Apply after drift", func() bool { return dp.Applies() > applies })
	if dp.Resyncs() != 1 {
		t.Errorf("drift made the agent call Resync (%d calls)", dp.Resyncs())
	}

	// A change applies at once, incrementally (no Resync).
	applies = dp.Applies()
	rev := p.agent.Revision()
	mem.PutPort("00000002-0000-4000-8000-00000000f002", "net-idle", cfg.Host, "fa:16:3e:00:f0:02", "192.168.60.11")
	waittest.For(t, "the new revision applied", func() bool {
		r := p.agent.Revision()
		return r > rev && p.agent.AppliedRevision() == r
	})
	if dp.Applies() == applies || dp.Resyncs() != 1 {
		t.Errorf("delta: %d Apply calls, %d Resync calls; want more than %d and 1", dp.Applies(), dp.Resyncs(), applies)
	}

	// Server restart: the stream reconnects and the next pass is full.
	srv.stop(t)
	srv = startServer(t, mem, rpc.ServerConfig{L2Pop: l2pop.Config{Enabled: true}, Logger: logger}, addr)
	waittest.For(t, "a full pass after the reconnect", func() bool { return dp.Resyncs() == 2 })
}

// TestResyncInterval: with resync_interval set, an idle agent audits its
// data plane (Resync, then Apply) at that interval and applies nothing in
// between.
func TestResyncInterval(t *testing.T) {
	mem := rpctest.NewMemory()
	logger := testLogger(t)
	addr := freeAddr(t)
	srv := startServer(t, mem, rpc.ServerConfig{L2Pop: l2pop.Config{Enabled: true}, Logger: logger}, addr)
	defer srv.stop(t)

	cfg := agentConfig("node-audit", "198.18.8.2", "grpc://"+addr, true)
	cfg.PollingInterval = 10 * time.Millisecond
	cfg.ResyncInterval = 200 * time.Millisecond
	cfg.ReportInterval = time.Hour
	dp := fake.New()
	p := startAgent(t, cfg, dp, logger)
	defer p.stop()
	mem.CreateNetwork("net-audit", 1602)
	waittest.For(t, "three audits", func() bool { return dp.Resyncs() >= 3 })
	// Every Apply of an idle agent is an audit: the counts move together
	// (an audit in progress may have called Resync but not Apply yet).
	if a, r := dp.Applies(), dp.Resyncs(); a < r-1 || a > r+1 {
		t.Errorf("%d Apply calls for %d audits", a, r)
	}
}
