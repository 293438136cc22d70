// Package heartbeat sends a node agent's report_state to the server, as
// every Neutron agent does from its report loop: once at start with
// start_flag set, then every report_interval. The L2, DHCP and L3 agents
// all use it; each supplies only the report's contents.
//
// It depends on nothing but the report type, so agents whose packages must
// not link the rpc client (internal/dhcp is imported by it) can use it.
package heartbeat

import (
	"context"
	"log/slog"
	"time"

	"neutrino/internal/neutron"
)

// Reporter sends one report_state (the rpc client); it returns the
// agent's id.
type Reporter interface {
	ReportState(ctx context.Context, r neutron.AgentReport) (string, error)
}

// Config configures Run.
type Config struct {
	Server Reporter
	// Interval is report_interval. Zero disables periodic reports as in
	// Neutron, but the agent still registers once: the server must know
	// the agent (and an L2 agent's VTEP) to send it anything.
	Interval time.Duration
	// Report builds the report to send; start is Neutron's start_flag. It
	// is called before every send, so the report carries current counts.
	Report func(start bool) neutron.AgentReport
	Logger *slog.Logger
	// RetryMin and RetryMax bound the doubling wait after a failed report
	// (defaults 500ms and 10s).
	RetryMin, RetryMax time.Duration
	// Timeout bounds one report (default 10s).
	Timeout time.Duration
}

// Run reports until ctx ends (or, with a zero Interval, until the first
// report got through). The start flag stays set until a report got
// through, so a server that was down when the agent started still learns
// that the agent (re)started and resyncs it.
func Run(ctx context.Context, c Config) {
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	retryMin, retryMax, timeout := c.RetryMin, c.RetryMax, c.Timeout
	if retryMin <= 0 {
		retryMin = 500 * time.Millisecond
	}
	if retryMax <= 0 {
		retryMax = 10 * time.Second
	}
	retryMax = max(retryMax, retryMin)
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	start := true
	retry := retryMin
	for ctx.Err() == nil {
		r := c.Report(start)
		rctx, cancel := context.WithTimeout(ctx, timeout)
		_, err := c.Server.ReportState(rctx, r)
		cancel()
		wait := c.Interval
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("report_state failed; retrying", "err", err, "in", retry)
			wait = retry
			retry = min(retry*2, retryMax)
		case err == nil:
			if start {
				attrs := []any{"agent_type", r.AgentType}
				if r.TunnelIP != "" {
					attrs = append(attrs, "tunneling_ip", r.TunnelIP)
				}
				log.Info("registered with server", attrs...)
			}
			start = false
			retry = retryMin
			if c.Interval <= 0 {
				return
			}
		}
		if !sleep(ctx, wait) {
			return
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
