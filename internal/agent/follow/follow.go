// Package follow keeps a node agent's desired-state stream open: it calls
// the stream's Watch again after it breaks, with a capped exponential
// backoff, until the context ends. The DHCP and L3 agents use it; each
// supplies what to do with a state and with a break.
package follow

import (
	"context"
	"log/slog"
	"time"
)

// Backoff bounds: the first retry after a break, and the longest wait.
const (
	firstRetry = 100 * time.Millisecond
	maxRetry   = 5 * time.Second
)

// Run calls watch until ctx ends. watch delivers states to got until the
// stream breaks; a delivered state resets the backoff. broken, if not
// nil, runs after each break (before the wait), for what the agent must
// redo on a new stream.
func Run[S any](ctx context.Context, log *slog.Logger, stream string,
	watch func(ctx context.Context, got func(S) error) error, got func(S), broken func()) {
	backoff := firstRetry
	for ctx.Err() == nil {
		err := watch(ctx, func(s S) error {
			backoff = firstRetry
			got(s)
			return nil
		})
		if ctx.Err() != nil {
			return
		}
		if broken != nil {
			broken()
		}
		log.Warn(stream+" stream ended; reconnecting", "err", err, "in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(backoff*2, maxRetry)
	}
}
