// Package waittest lets a test wait for what a running server, agent or
// switch brings about (a snapshot applied, a device moved, a status
// reported). Its deadline only bounds a hang: nothing is measured, so a
// slow machine makes a test slower, never a failure.
package waittest

import (
	"testing"
	"time"
)

// Deadline is how long For waits before it fails the test.
const Deadline = 30 * time.Second

// For polls cond until it holds, failing the test (naming what) after
// Deadline.
func For(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Deadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
