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

// TestDeviceEventWakesAgent: the server tells the agent about a port
// before its device exists (Nova binds, then os-vif plugs). The device
// then appears and the data plane signals it: the agent reports it up, and
// down again when it goes, without waiting for a polling pass. Polling and
// reporting run every hour here, and each step starts only after the
// agent has applied the server's latest revision, so nothing but the
// device event can start the pass that makes the change.
func TestDeviceEventWakesAgent(t *testing.T) {
	mem := rpctest.NewMemory()
	logger := testLogger(t)
	addr := freeAddr(t)
	srv := startServer(t, mem, rpc.ServerConfig{L2Pop: l2pop.Config{Enabled: true}, Logger: logger}, addr)
	defer srv.stop(t)

	cfg := agentConfig("node-ev", "198.18.7.1", "grpc://"+addr, true)
	cfg.PollingInterval = time.Hour
	cfg.ReportInterval = time.Hour
	dp := fake.New()
	p := startAgent(t, cfg, dp, logger)
	defer p.stop()

	const portID = "00000001-0000-4000-8000-00000000e001"
	const mac = "fa:16:3e:00:e0:01"
	mem.CreateNetwork("net-ev", 1501)
	mem.PutPort(portID, "net-ev", cfg.Host, mac, "192.168.50.10")

	// caughtUp: the agent holds and has applied everything the server wrote.
	caughtUp := func() bool {
		rev := mem.Revision()
		return p.agent.Revision() == rev && p.agent.AppliedRevision() == rev
	}
	waittest.For(t, "the port in the agent's applied view", func() bool {
		v, synced := p.agent.View()
		_, has := v.Ports[portID]
		return synced && has && caughtUp()
	})
	if st, _ := mem.Port(portID); st.Status != neutron.StatusDown {
		t.Fatalf("port is %s before its device exists, want DOWN", st.Status)
	}
	wakes := p.agent.DeviceWakes()

	plug(dp, portID, mac)
	dp.Notify()
	waittest.For(t, "port ACTIVE after the device event", func() bool {
		st, _ := mem.Port(portID)
		return st.Status == neutron.StatusActive
	})
	if p.agent.DeviceWakes() <= wakes {
		t.Errorf("port went ACTIVE but no device event woke the agent (wakes %d)", p.agent.DeviceWakes())
	}
	st, _ := dp.Applied()
	if _, ok := st.Ports[portID]; !ok {
		t.Errorf("plugged port not in the applied state:\n%s", fake.Render(st))
	}

	// Unplug: reported DOWN by the event path too.
	waittest.For(t, "agent caught up with the ACTIVE status", caughtUp)
	wakes = p.agent.DeviceWakes()
	dp.RemoveDevice("tap" + portID[:11])
	dp.Notify()
	waittest.For(t, "port DOWN after the device event", func() bool {
		st, _ := mem.Port(portID)
		return st.Status == neutron.StatusDown
	})
	if p.agent.DeviceWakes() <= wakes {
		t.Errorf("port went DOWN but no device event woke the agent (wakes %d)", p.agent.DeviceWakes())
	}
}
