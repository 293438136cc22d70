package l3_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"neutrino/internal/l3"
	"neutrino/internal/lab"
	"neutrino/internal/neutron"
	"neutrino/internal/waittest"
)

// fixedSource serves the states sent on its channel (the server's L3
// stream stands in).
type fixedSource struct{ states chan l3.State }

func (s fixedSource) Watch(ctx context.Context, _ string, fn func(l3.State) error) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case st := <-s.states:
			if err := fn(st); err != nil {
				return err
			}
		}
	}
}

// recorder is the server: report_state and floating IP statuses.
type recorder struct {
	mu       sync.Mutex
	reports  []neutron.AgentReport
	statuses map[string]string
}

func (r *recorder) ReportState(_ context.Context, rep neutron.AgentReport) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reports = append(r.reports, rep)
	return "agent-id", nil
}

func (r *recorder) UpdateFloatingIPStatuses(_ context.Context, _ string, st map[string]string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, v := range st {
		r.statuses[k] = v
	}
	return nil
}

func (r *recorder) status(id string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.statuses[id]
}

// TestAgent: the agent registers as an L3 agent, applies what its source
// sends, reports the floating IP ACTIVE, keeps the router when it stops,
// changes nothing until a restarted agent has its first state, and then
// removes a router the state no longer has.
func TestAgent(t *testing.T) {
	b := newBed(t, "linuxbridge")
	ns := l3.Namespace(b.routerID)
	srv := &recorder{statuses: map[string]string{}}
	run := func() (fixedSource, context.CancelFunc, chan struct{}) {
		src := fixedSource{states: make(chan l3.State, 1)}
		ctx, cancel := context.WithCancel(b.ctx)
		a := l3.NewAgent(l3.AgentConfig{Host: "network", ReportInterval: 100 * time.Millisecond, InterfaceDriver: "linuxbridge",
			Logger: b.cfg.Logger}, l3.NewApplier(b.cfg), srv, srv, src)
		done := make(chan struct{})
		go func() { defer close(done); _ = a.Run(ctx) }()
		return src, cancel, done
	}
	src, stop, done := run()
	src.states <- l3.State{Routers: []l3.Router{b.router([]string{"if1", "if2"}, true)}}
	waittest.For(t, "the floating IP ACTIVE", func() bool { return srv.status("fip-1") == l3.StatusActive })
	b.reaches(b.out.NS, fip, true)
	b.reaches(b.vm1.NS, vm2Addr.Addr(), true)
	srv.mu.Lock()
	first := srv.reports[0]
	srv.mu.Unlock()
	if first.AgentType != "L3 agent" || first.Binary != "neutron-l3-agent" || !first.StartFlag || first.Host != "network" {
		t.Errorf("first report %+v", first)
	}
	stop()
	<-done
	if !lab.NSExists(ns) {
		t.Fatalf("%s went with the agent", ns)
	}
	// A restarted agent without a state from the server yet: nothing
	// removed, traffic flows.
	src, stop, done = run()
	defer func() { stop(); <-done }()
	time.Sleep(500 * time.Millisecond)
	b.reaches(b.out.NS, fip, true)
	src.states <- l3.State{}
	waittest.For(t, "the router removed", func() bool { return !lab.NSExists(ns) })
}

// TestAgentOVSVswitchdRestart: ovs-vswitchd restarts under a running
// agent (the OVS interface driver). The new switch makes every internal
// port's tap again in the node's namespace, and the old ones in the
// router's namespace are gone; the agent notices the devices there and
// plugs the router again at once, long before its periodic full pass
// (an hour here): east-west, SNAT and the floating IP work again, and the
// devices are back in the router's namespace, not left in the node's.
func TestAgentOVSVswitchdRestart(t *testing.T) {
	b := newBed(t, "openvswitch")
	ns := l3.Namespace(b.routerID)
	srv := &recorder{statuses: map[string]string{}}
	src := fixedSource{states: make(chan l3.State, 1)}
	ctx, cancel := context.WithCancel(b.ctx)
	a := l3.NewAgent(l3.AgentConfig{Host: "network", ReportInterval: time.Minute, ResyncInterval: time.Hour,
		InterfaceDriver: "openvswitch", Logger: b.cfg.Logger}, l3.NewApplier(b.cfg), srv, srv, src)
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	r := b.router([]string{"if1", "if2"}, true)
	src.states <- l3.State{Routers: []l3.Router{r}}
	waittest.For(t, "the floating IP ACTIVE", func() bool { return srv.status("fip-1") == l3.StatusActive })
	// The OVS agent's part: the router's ports get their network's tag
	// (kept in OVSDB across the switch's restart).
	for _, d := range l3.Plan(r).Devices {
		b.vsctl("set", "Port", d.Name, fmt.Sprintf("tag=%d", tags[d.NetworkID]))
	}
	b.reaches(b.vm1.NS, vm2Addr.Addr(), true)
	b.reaches(b.out.NS, fip, true)

	if err := b.ovs.RestartVswitchd(b.ctx); err != nil {
		t.Fatal(err)
	}
	// Both halves in one condition: right after the restart the old
	// switch's taps can still be in the router's namespace while the new
	// ones are already in the node's (the kernel removes the old ones
	// when their file descriptors close, which under load lags).
	waittest.For(t, "the router's devices back in "+ns+" and none left in "+b.node.NS, func() bool {
		for _, d := range l3.Plan(r).Devices {
			if _, err := lab.Exec(b.ctx, ns, "ip", "link", "show", d.Name); err != nil {
				return false
			}
			if _, err := lab.Exec(b.ctx, b.node.NS, "ip", "link", "show", d.Name); err == nil {
				return false
			}
		}
		return true
	})
	b.reaches(b.vm1.NS, vm2Addr.Addr(), true)
	b.reaches(b.vm2.NS, vm1Addr.Addr(), true)
	b.reaches(b.vm1.NS, outsideAddr.Addr(), true)
	b.reaches(b.out.NS, fip, true)
}
