package dhcp

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"neutrino/internal/lab"
	"neutrino/internal/neutron"
	"neutrino/internal/waittest"
)

type fakeReporter struct {
	mu      sync.Mutex
	reports []neutron.AgentReport
	fail    int // fail this many reports first
}

func (f *fakeReporter) ReportState(_ context.Context, r neutron.AgentReport) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail > 0 {
		f.fail--
		return "", errors.New("server unreachable")
	}
	f.reports = append(f.reports, r)
	return "agent-id", nil
}

func (f *fakeReporter) got() []neutron.AgentReport {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]neutron.AgentReport(nil), f.reports...)
}

// fakeSource serves states; it fails the test when watched before the
// agent registered (rep holds no report that got through).
type fakeSource struct {
	t      *testing.T
	rep    *fakeReporter
	states chan State
}

func (f fakeSource) Watch(ctx context.Context, host string, fn func(State) error) error {
	if len(f.rep.got()) == 0 {
		f.t.Error("the state stream was opened before the agent registered")
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case s := <-f.states:
			if err := fn(s); err != nil {
				return err
			}
		}
	}
}

// TestAgentRegistersAndApplies: the agent registers as Neutron's DHCP
// agent (start flag until a report got through), opens its state stream
// only then (the server schedules networks to a DHCP agent as it
// registers), applies nothing before the server's first state, then
// applies it. The states served here have
// no DHCP network, so nothing is created on the machine.
func TestAgentRegistersAndApplies(t *testing.T) {
	rep := &fakeReporter{fail: 1}
	src := fakeSource{t: t, rep: rep, states: make(chan State)}
	app := NewApplier(Config{Options: DefaultOptions(t.TempDir())})
	a := NewAgent(AgentConfig{Host: "net1", ReportInterval: 10 * time.Millisecond, LeaseDuration: 600}, app, rep, src)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	for len(rep.got()) < 2 {
		time.Sleep(5 * time.Millisecond)
	}
	if a.Applied() {
		t.Fatal("applied before any state came from the server")
	}
	r := rep.got()
	if r[0].AgentType != "DHCP agent" || r[0].Binary != "neutron-dhcp-agent" || r[0].Host != "net1" || r[0].Topic != "dhcp_agent" ||
		!r[0].StartFlag || r[1].StartFlag {
		t.Fatalf("reports %+v, want DHCP agent/neutron-dhcp-agent on net1, start flag on the first that got through only", r[:2])
	}
	n := Network{ID: "n1", Subnets: []Subnet{{ID: "s", IPVersion: 4}}, Ports: []Port{{ID: "p"}, {ID: "q"}}}
	src.states <- State{Networks: []Network{n}}
	deadline := time.Now().Add(10 * time.Second)
	for !a.Applied() {
		if time.Now().After(deadline) {
			t.Fatal("state not applied")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for {
		r := rep.got()
		var conf map[string]any
		if err := json.Unmarshal(r[len(r)-1].Configurations, &conf); err != nil {
			t.Fatal(err)
		}
		if conf["networks"] == 1.0 {
			if conf["ports"] != 2.0 || conf["subnets"] != 1.0 || conf["dhcp_lease_duration"] != 600.0 {
				t.Fatalf("configurations %v", conf)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("configurations never counted the network: %v", conf)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestAgentHealsAndAdopts runs the agent itself (not only its applier)
// over a real dnsmasq in a lab node: a dnsmasq killed under the running
// agent is started again by it, with no news from the server (its
// supervise tick); a restarted agent (a new Agent and Applier over the
// same state_path) adopts the running dnsmasq and namespace instead of
// remaking them. The namespace tests (TestServeVMs) show the same on both
// mechanisms with VMs asking; this is the agent's own loop doing it.
func TestAgentHealsAndAdopts(t *testing.T) {
	requireTools(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	dir, err := os.MkdirTemp("", "neutrino-dhcp-agent-")
	if err == nil {
		err = os.Chmod(dir, 0o755) // dnsmasq reads its files as user dnsmasq
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	l, err := lab.New(ctx, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Teardown(context.Background()); err != nil {
			t.Errorf("teardown: %v", err)
		}
	})
	node, err := l.AddNode(ctx, "net")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Options: DefaultOptions(dir), HostNS: node.NS, Logger: log}
	t.Cleanup(func() { // before the lab goes (cleanups are LIFO)
		if err := NewApplier(cfg).Remove(context.Background()); err != nil {
			t.Errorf("remove: %v", err)
		}
	})
	n := Network{ID: uuid.NewString(), MTU: 1450,
		Subnets: []Subnet{{ID: "sub-a", CIDR: netip.MustParsePrefix("192.168.1.0/24"), IPVersion: 4,
			Gateway: netip.MustParseAddr("192.168.1.1"), EnableDHCP: true}},
		DHCPPort: Port{ID: uuid.NewString(), MAC: "fa:16:3e:00:00:02", DeviceOwner: OwnerDHCP,
			FixedIPs: []FixedIP{{SubnetID: "sub-a", Address: netip.MustParseAddr("192.168.1.2")}}},
	}
	// run starts an agent process's worth (a new Agent and Applier) serving
	// n and waits until it applied; stop ends it.
	run := func() (app *Applier, a *Agent, stop func()) {
		t.Helper()
		rep := &fakeReporter{}
		src := fakeSource{t: t, rep: rep, states: make(chan State, 1)}
		app = NewApplier(cfg)
		a = NewAgent(AgentConfig{Host: "net", ReportInterval: time.Second, SuperviseInterval: 50 * time.Millisecond,
			LeaseDuration: 86400, Logger: log}, app, rep, src)
		actx, acancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- a.Run(actx) }()
		src.states <- State{Networks: []Network{n}}
		waittest.For(t, "the agent applied its state", a.Applied)
		return app, a, func() {
			acancel()
			if err := <-done; err != nil {
				t.Errorf("agent: %v", err)
			}
		}
	}
	app, _, stop := run()
	pid, same := app.running(n)
	if pid == 0 || !same {
		t.Fatalf("no dnsmasq for %s after the first apply (pid %d, same command line %v)", n.ID, pid, same)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waittest.For(t, "a new dnsmasq started by the running agent", func() bool {
		p, same := app.running(n)
		return p != 0 && p != pid && same
	})
	pid, _ = app.running(n)
	stop()

	app, _, stop = run()
	defer stop()
	if p, same := app.running(n); p != pid || !same || !lab.NSExists(Namespace(n.ID)) {
		t.Fatalf("after an agent restart dnsmasq pid %d (same command line %v), want %d adopted; namespace there: %v",
			p, same, pid, lab.NSExists(Namespace(n.ID)))
	}
}
