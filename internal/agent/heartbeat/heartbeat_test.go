package heartbeat

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"neutrino/internal/neutron"
)

// server fails the first fail reports, records the others, and cancels
// the run after stopAfter recorded ones.
type server struct {
	mu        sync.Mutex
	fail      int
	got       []neutron.AgentReport
	attempts  int
	stopAfter int
	cancel    context.CancelFunc
}

func (s *server) ReportState(_ context.Context, r neutron.AgentReport) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts++
	if s.attempts <= s.fail {
		return "", errors.New("server down")
	}
	s.got = append(s.got, r)
	if len(s.got) == s.stopAfter {
		s.cancel()
	}
	return "agent-id", nil
}

func report(start bool) neutron.AgentReport {
	return neutron.AgentReport{AgentType: neutron.AgentTypeDHCP, Host: "node1", StartFlag: start}
}

// The start flag stays set through failed reports and is cleared by the
// first one that got through; reports then repeat every interval.
func TestStartFlagUntilFirstSuccess(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := &server{fail: 3, stopAfter: 3, cancel: cancel}
	done := make(chan struct{})
	go func() {
		Run(ctx, Config{Server: s, Interval: time.Millisecond, Report: report, RetryMin: time.Millisecond, RetryMax: 2 * time.Millisecond})
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not stop after ctx was cancelled")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.attempts != 6 {
		t.Errorf("attempts = %d, want 3 failed + 3 recorded", s.attempts)
	}
	var flags []bool
	for _, r := range s.got {
		flags = append(flags, r.StartFlag)
	}
	if len(flags) != 3 || !flags[0] || flags[1] || flags[2] {
		t.Errorf("start flags of recorded reports = %v, want [true false false]", flags)
	}
}

// report_interval = 0 registers once and stops, even after failures.
func TestZeroIntervalRegistersOnce(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := &server{fail: 2, cancel: cancel}
	done := make(chan struct{})
	go func() {
		Run(ctx, Config{Server: s, Report: report, RetryMin: time.Millisecond})
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Run with a zero interval did not return after registering")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.got) != 1 || !s.got[0].StartFlag || s.attempts != 3 {
		t.Errorf("got %d reports in %d attempts (%+v), want one start report after two failures", len(s.got), s.attempts, s.got)
	}
	if ctx.Err() != nil {
		t.Error("Run returned only because ctx ended")
	}
}
