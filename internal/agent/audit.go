package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"sync"
	"time"

	"neutrino/internal/dataplane"
	"neutrino/internal/rpc"
)

// ObserveServer is implemented by servers that ask agents about their
// data plane and collect audits (*rpc.Client). An agent whose Server
// implements it answers live trace checks and on-demand audits, and
// reports every audit.
type ObserveServer interface {
	Observe(ctx context.Context, host string, h rpc.ObserveHandler) error
	ReportAudit(ctx context.Context, r rpc.AuditReport) error
}

// The audit. Every full pass (at start, after a new snapshot or a
// reconnect, every resync_interval, and when the server asks) first reads
// back what the data plane holds (dataplane.Observer) and compares it with
// what the last successful Apply put there: any difference is drift
// (an entry deleted or changed by hand, a daemon that lost state). Each is
// logged with the entry, counted, and reported to the server; the full
// Apply that follows repairs it, and a second read-back says what is left.

// auditState is the audit's memory, shared by the data plane goroutine
// (writer) and the Observe handler (reader).
type auditState struct {
	mu   sync.Mutex
	last rpc.AuditReport
	// asks are on-demand audits waiting for the next full pass.
	asks []chan rpc.AuditReport
}

// LastAudit returns the agent's last audit report.
func (a *Agent) LastAudit() rpc.AuditReport {
	a.aud.mu.Lock()
	defer a.aud.mu.Unlock()
	return a.aud.last
}

// observe reads back the facts the data plane holds.
func (a *Agent) observe(ctx context.Context) ([]dataplane.Fact, error) {
	o, ok := a.opt.Dataplane.(dataplane.Observer)
	if !ok {
		return nil, errors.New("this data plane cannot be read back (no dataplane.Observer)")
	}
	return o.Observe(ctx)
}

func (a *Agent) expected(s dataplane.NodeState) []dataplane.Fact {
	return dataplane.Expected(s, a.opt.Kind == KindOVS)
}

// auditBefore compares the data plane with the state last applied; it is
// called by a full pass before its Apply. It returns when it read the data
// plane: the report's time, since a change made after that read is not
// in its differences.
func (a *Agent) auditBefore(ctx context.Context, st *passState) ([]dataplane.Difference, time.Time, error) {
	read := time.Now().UTC()
	held, err := a.observe(ctx)
	if err != nil {
		return nil, read, err
	}
	diffs := dataplane.Compare(a.expected(st.applied), held)
	for _, d := range diffs {
		a.log.Warn("audit: data plane differs from the state it must hold", "difference", d.String(), "revision", st.rev)
	}
	return diffs, read, nil
}

// auditAfter reads back again after the repairing Apply and records the
// report; compared is when auditBefore read (zero: it did not, now).
func (a *Agent) auditAfter(ctx context.Context, desired dataplane.NodeState, rev int64, compared time.Time, found []dataplane.Difference, auditErr error) {
	if compared.IsZero() {
		compared = time.Now().UTC()
	}
	r := rpc.AuditReport{Host: a.cfg.Host, Revision: rev, AppliedRevision: a.applied.Load(), ComparedAt: compared,
		Differences: found}
	if r.Differences == nil {
		r.Differences = []dataplane.Difference{}
	}
	if auditErr == nil {
		held, err := a.observe(ctx)
		if err != nil {
			auditErr = err
		} else {
			left := dataplane.Compare(a.expected(desired), held)
			r.Digest, r.Facts = digest(held), len(held)
			r.Repaired = max(0, len(found)-len(left))
			for _, d := range left {
				a.log.Warn("audit: difference left after repair", "difference", d.String(), "revision", rev)
			}
			if len(found) > 0 {
				a.log.Info("audit: repaired", "found", len(found), "left", len(left), "revision", rev)
			}
		}
	}
	if auditErr != nil {
		r.Error = auditErr.Error()
	}
	a.aud.mu.Lock()
	prev := a.aud.last
	r.Audits = prev.Audits + 1
	r.FoundTotal = prev.FoundTotal + int64(len(found))
	r.RepairedTotal = prev.RepairedTotal + int64(r.Repaired)
	a.aud.last = r
	asks := a.aud.asks
	a.aud.asks = nil
	a.aud.mu.Unlock()
	for _, ch := range asks {
		ch <- r
	}
	if a.metrics != nil {
		a.metrics.Audited(r.ComparedAt, found, r.Repaired)
	}
	if s, ok := a.opt.Server.(ObserveServer); ok {
		go func() {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if err := s.ReportAudit(rctx, r); err != nil && ctx.Err() == nil {
				a.log.Warn("report audit failed", "err", err)
			}
		}()
	}
}

func digest(fs []dataplane.Fact) string {
	h := sha256.New()
	for _, f := range fs {
		h.Write([]byte(f.String() + "\n"))
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// observeHandler answers the server (rpc.ObserveHandler).
type observeHandler struct{ a *Agent }

// Check reports whether the data plane holds each fact.
func (h observeHandler) Check(ctx context.Context, facts []dataplane.Fact) ([]bool, error) {
	held, err := h.a.observe(ctx)
	if err != nil {
		return nil, err
	}
	byKey := make(map[string]dataplane.Fact, len(held))
	for _, f := range held {
		byKey[f.Key()] = f
	}
	out := make([]bool, len(facts))
	for i, f := range facts {
		g, ok := byKey[f.Key()]
		out[i] = ok && dataplane.Same(f, g)
	}
	return out, nil
}

// Audit asks the data plane goroutine for a full pass with an audit and
// waits for its report.
func (h observeHandler) Audit(ctx context.Context) (rpc.AuditReport, error) {
	ch := make(chan rpc.AuditReport, 1)
	h.a.aud.mu.Lock()
	h.a.aud.asks = append(h.a.aud.asks, ch)
	h.a.aud.mu.Unlock()
	select {
	case h.a.auditNow <- struct{}{}:
	default: // one is already pending
	}
	select {
	case r := <-ch:
		return r, nil
	case <-ctx.Done():
		return rpc.AuditReport{}, ctx.Err()
	}
}

// observeLoop keeps the Observe stream open while the agent runs.
func (a *Agent) observeLoop(ctx context.Context, s ObserveServer) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		start := time.Now()
		err := s.Observe(ctx, a.cfg.Host, observeHandler{a})
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > 10*time.Second {
			backoff = 100 * time.Millisecond
		}
		a.log.Debug("observe stream ended; reconnecting", "err", err, "in", backoff)
		if !sleep(ctx, backoff) {
			return
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}
