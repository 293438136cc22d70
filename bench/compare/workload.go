package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// timedLoad runs op from conc goroutines, each in a loop, until d has passed
// (requests in flight then finish) or maxOps operations were started.
// Throughput counts successes over the wall time of the whole phase.
func timedLoad(ctx context.Context, conc int, d time.Duration, maxOps int, op func(ctx context.Context, i int) error) PhaseResult {
	var (
		mu       sync.Mutex
		lat      []time.Duration
		errs     int
		firstErr string
		next     int
	)
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && time.Now().Before(deadline) {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= maxOps {
					return
				}
				t0 := time.Now()
				err := op(ctx, i)
				el := time.Since(t0)
				mu.Lock()
				if err != nil {
					errs++
					if firstErr == "" {
						firstErr = err.Error()
					}
				} else {
					lat = append(lat, el)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return Summarise(conc, lat, errs, firstErr, time.Since(start))
}

// Workload is the same sequence of API calls for every system.
type Workload struct {
	Settings Settings
	Dur      time.Duration
	MaxOps   int
	Log      *slog.Logger
}

// freshNet makes a network with a /16 subnet for one phase (not timed).
func freshNet(ctx context.Context, c *Client, name, cidr string) (string, error) {
	net, err := c.CreateNetwork(ctx, name)
	if err != nil {
		return "", fmt.Errorf("network for %s: %w", name, err)
	}
	if _, err := c.CreateSubnet(ctx, net, cidr); err != nil {
		return "", fmt.Errorf("subnet for %s: %w", name, err)
	}
	return net, nil
}

// Run is one repetition: network+subnet creates, then port creates at each
// concurrency level.
func (w Workload) Run(ctx context.Context, c *Client, run int) (RunResult, error) {
	var rr RunResult
	w.Log.Info("network+subnet creates", "run", run, "pairs", w.Settings.NetSubPairs)
	rr.NetSub = timedLoad(ctx, 1, 24*time.Hour, w.Settings.NetSubPairs, func(ctx context.Context, i int) error {
		net, err := c.CreateNetwork(ctx, fmt.Sprintf("bench-ns-r%d-%d", run, i))
		if err != nil {
			return err
		}
		_, err = c.CreateSubnet(ctx, net, "10.50.0.0/24")
		return err
	})
	for li, conc := range w.Settings.Concurrency {
		net, err := freshNet(ctx, c, fmt.Sprintf("bench-pc-r%d-c%d", run, conc), fmt.Sprintf("10.%d.0.0/16", 60+li))
		if err != nil {
			return rr, err
		}
		w.Log.Info("port creates", "run", run, "clients", conc, "for", w.Dur)
		p := timedLoad(ctx, conc, w.Dur, w.MaxOps, func(ctx context.Context, i int) error {
			_, err := c.CreatePort(ctx, net, fmt.Sprintf("bp-%d", i), nil)
			return err
		})
		w.Log.Info("port creates done", "clients", conc, "ok", p.OK, "errors", p.Errors, "per_s", fmt.Sprintf("%.1f", p.Throughput),
			"p50", FormatValue(Latency, p.P50S), "p99", FormatValue(Latency, p.P99S))
		rr.Create = append(rr.Create, p)
	}
	return rr, nil
}

// Bound times port creates with binding:host_id = the agent host (a live
// agent must be there) and device_owner compute:nova, from one client.
func (w Workload) Bound(ctx context.Context, c *Client, run int) (*PhaseResult, string, error) {
	h := w.Settings.BindHost
	alive, err := c.AgentAlive(ctx, h)
	if err != nil {
		return nil, "", fmt.Errorf("agent list: %w", err)
	}
	if !alive {
		return nil, "no live agent on host " + h, nil
	}
	net, err := freshNet(ctx, c, fmt.Sprintf("bench-bind-r%d", run), "10.70.0.0/16")
	if err != nil {
		return nil, "", err
	}
	w.Log.Info("bound port creates", "run", run, "host", h)
	extra := map[string]any{"binding:host_id": h, "device_owner": "compute:nova"}
	p := timedLoad(ctx, 1, w.Dur, w.MaxOps, func(ctx context.Context, i int) error {
		_, err := c.CreatePort(ctx, net, fmt.Sprintf("bb-%d", i), extra)
		return err
	})
	return &p, "", nil
}

// ListFixture makes sure network bench-list-<n> holds n ports for each size
// (an existing one, e.g. from Neutron's restored fixture dump, is reused) and
// says how the ports were made.
func (w Workload) ListFixture(ctx context.Context, c *Client) (string, error) {
	how := ""
	for i, n := range w.Settings.ListSizes {
		name := fmt.Sprintf("bench-list-%d", n)
		net, err := c.NetworkByName(ctx, name)
		if err != nil {
			return how, err
		}
		if net != "" {
			how = "already in the database (for Neutron: the dump of ports made through Neutron's own API by bench/reference/neutron-fixture.sh, bulk POSTs of 100)"
			continue
		}
		net, err = freshNet(ctx, c, name, fmt.Sprintf("10.%d.0.0/16", 200+i))
		if err != nil {
			return how, err
		}
		t0 := time.Now()
		m, err := populate(ctx, c, net, n)
		if err != nil {
			return how, fmt.Errorf("populate %s: %w", name, err)
		}
		w.Log.Info("list fixture", "network", name, "ports", n, "method", m, "took", time.Since(t0).Round(time.Millisecond))
		how = fmt.Sprintf("created in the run through the API: %s", m)
	}
	return how, nil
}

// populate creates n ports on net: bulk POSTs of 100 from 4 clients; if the
// server refuses bulk, single POSTs from 32 clients.
func populate(ctx context.Context, c *Client, net string, n int) (string, error) {
	const chunk = 100
	bulk := func(from int) error {
		var names []string
		for k := from; k < n && k < from+chunk; k++ {
			names = append(names, fmt.Sprintf("list-%d", k))
		}
		return c.BulkCreatePorts(ctx, net, names)
	}
	if err := bulk(0); err != nil {
		var ae *APIError
		if !errors.As(err, &ae) {
			return "", err
		}
		// Bulk not supported: one port per request.
		p := timedLoad(ctx, 32, 24*time.Hour, n, func(ctx context.Context, i int) error {
			_, err := c.CreatePort(ctx, net, fmt.Sprintf("list-%d", i), nil)
			return err
		})
		if p.Errors > 0 {
			return "", fmt.Errorf("%d single creates failed: %s", p.Errors, p.FirstError)
		}
		return fmt.Sprintf("single POSTs from 32 clients (bulk POST refused: %s)", ae.Error()), nil
	}
	chunks := (n - chunk + chunk - 1) / chunk
	p := timedLoad(ctx, 4, 24*time.Hour, chunks, func(ctx context.Context, i int) error { return bulk(chunk * (i + 1)) })
	if p.Errors > 0 {
		return "", fmt.Errorf("%d bulk creates failed: %s", p.Errors, p.FirstError)
	}
	return "bulk POSTs of 100 ports from 4 clients", nil
}

// Lists times GET /v2.0/ports?network_id=<bench-list-n> repeatedly.
func (w Workload) Lists(ctx context.Context, c *Client) ([]ListResult, error) {
	var out []ListResult
	for _, n := range w.Settings.ListSizes {
		net, err := c.NetworkByName(ctx, fmt.Sprintf("bench-list-%d", n))
		if err != nil || net == "" {
			return out, fmt.Errorf("list network bench-list-%d: %v", n, err)
		}
		lr := ListResult{Ports: n}
		for k := 0; k < w.Settings.ListRepeats; k++ {
			t0 := time.Now()
			cnt, size, err := c.ListPorts(ctx, net)
			if err != nil {
				return out, fmt.Errorf("list %d: %w", n, err)
			}
			lr.SamplesS = append(lr.SamplesS, time.Since(t0).Seconds())
			lr.Listed, lr.Bytes = cnt, size
		}
		lr.MedianS = Median(lr.SamplesS)
		if lr.Listed != n {
			w.Log.Warn("listing returned a different count", "want", n, "got", lr.Listed)
		}
		w.Log.Info("list", "ports", n, "median", FormatValue(Latency, lr.MedianS), "bytes", lr.Bytes)
		out = append(out, lr)
	}
	return out, nil
}
