package main

import (
	"net/netip"
	"testing"
	"time"
)

func TestUnansweredTail(t *testing.T) {
	t0 := time.Now()
	p := newProber("a->b", "", netip.Addr{}, 1, probeInterval)
	for i, ok := range []bool{true, false, true, false, false, false, false} {
		p.sent = append(p.sent, t0.Add(time.Duration(i)*probeInterval))
		p.replied = append(p.replied, ok)
	}
	if n := p.unansweredTail(t0.Add(time.Hour)); n != 4 {
		t.Errorf("tail of 4 unanswered: got %d", n)
	}
	// Echoes sent after t are still in flight: not counted.
	if n := p.unansweredTail(t0.Add(4 * probeInterval)); n != 2 {
		t.Errorf("before the 6th echo: got %d, want 2", n)
	}
	if n := p.unansweredTail(t0.Add(2 * probeInterval)); n != 0 {
		t.Errorf("ending with an answer: got %d, want 0", n)
	}
}
