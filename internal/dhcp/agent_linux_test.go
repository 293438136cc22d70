package dhcp

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"neutrino/internal/neutron"
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
