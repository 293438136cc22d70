package main

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"neutrino/internal/api"
	"neutrino/internal/l2pop"
	"neutrino/internal/metrics"
	"neutrino/internal/ml2"
	"neutrino/internal/neutron"
	"neutrino/internal/rpc"
	"neutrino/internal/store"
	"neutrino/internal/trace"
)

// newRegistry is a metrics registry with the Go runtime and process
// collectors, as a Prometheus client normally exposes.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// withObserve serves GET /metrics from reg and the live picture under
// /ui (both outside the API's authentication, as scrapers and browsers
// reach them), and everything else with api.
func withObserve(api http.Handler, reg *prometheus.Registry, picture http.Handler) http.Handler {
	m := metrics.Handler(reg)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/metrics":
			m.ServeHTTP(w, r)
		case r.URL.Path == "/ui" || strings.HasPrefix(r.URL.Path, "/ui/"):
			picture.ServeHTTP(w, r)
		default:
			api.ServeHTTP(w, r)
		}
	})
}

// uiSource feeds /ui: snapshots from the plugin, views and revisions as
// the agents' server has them.
type uiSource struct {
	*ml2.Plugin
	agents *rpc.Server
}

func (s uiSource) L2PopConfig() l2pop.Config { return s.agents.L2PopConfig() }
func (s uiSource) Revision() int64           { return s.agents.Revision() }

// serverMetrics is what the server's metrics read at scrape time.
type serverMetrics struct {
	agents *rpc.Server
	store  *store.Store
	plugin *ml2.Plugin
}

func (m serverMetrics) Revision() int64               { return m.agents.Revision() }
func (m serverMetrics) WatcherLags() map[string]int64 { return m.agents.WatcherLags() }
func (m serverMetrics) Retries() int64                { return m.store.Retries() }

func (m serverMetrics) AgentCounts(ctx context.Context) (alive, dead map[string]int, err error) {
	as, err := m.plugin.ListAgents(ctx, neutron.ListQuery{})
	if err != nil {
		return nil, nil, err
	}
	alive, dead = map[string]int{}, map[string]int{}
	for _, a := range as {
		if a.Alive {
			alive[a.AgentType]++
		} else {
			dead[a.AgentType]++
		}
	}
	return alive, dead, nil
}

// liveTimeout bounds how long a live trace or an on-demand audit waits
// for the agents.
const liveTimeout = 15 * time.Second

// observeResources are neutrino's own API resources for operators
// (docs/api.md): GET /v2.0/trace?port=P&dst=D[&network=N][&live=true],
// GET /v2.0/audits[?now=true] and GET /v2.0/audits/<host>[?now=true].
func observeResources(plugin *ml2.Plugin, agents *rpc.Server) map[string]api.ExtraResource {
	return map[string]api.ExtraResource{
		"trace": func(ctx context.Context, id string, q url.Values) (any, error) {
			if id != "" {
				return nil, notFound()
			}
			st, err := plugin.Snapshot(ctx)
			if err != nil {
				return nil, err
			}
			t, err := trace.Compute(trace.Input{State: st, L2Pop: agents.L2PopConfig()},
				trace.Query{Port: q.Get("port"), Dst: q.Get("dst"), Network: q.Get("network")})
			if err != nil {
				return nil, err
			}
			if q.Get("live") == "true" {
				checkLive(ctx, agents, t)
			}
			return map[string]any{"trace": t}, nil
		},
		"audits": func(ctx context.Context, host string, q url.Values) (any, error) {
			now := q.Get("now") == "true"
			if host == "" {
				if now {
					auditAll(ctx, agents)
				}
				return map[string]any{"audits": agents.Audits()}, nil
			}
			if now {
				ctx, cancel := context.WithTimeout(ctx, liveTimeout)
				defer cancel()
				r, err := agents.AuditNow(ctx, host)
				if errors.Is(err, rpc.ErrNotConnected) {
					return nil, neutron.Errorf(http.StatusNotFound, "AgentNotConnected", "No agent on host %s is connected to this server.", host)
				}
				if err != nil && r.Host == "" {
					return nil, neutron.Errorf(http.StatusServiceUnavailable, "AgentAuditFailed", "Audit of %s failed: %v", host, err)
				}
				return map[string]any{"audit": r}, nil
			}
			for _, r := range agents.Audits() {
				if r.Host == host {
					return map[string]any{"audit": r}, nil
				}
			}
			return nil, neutron.Errorf(http.StatusNotFound, "AuditNotFound", "No audit of host %s has reached this server.", host)
		},
	}
}

func notFound() error {
	return neutron.Errorf(http.StatusNotFound, "HTTPNotFound", "The resource could not be found.")
}

// checkLive asks every host the trace involves, at once, whether its data
// plane holds the facts the hops rely on, and marks the hops.
func checkLive(ctx context.Context, agents *rpc.Server, t *trace.Trace) {
	ctx, cancel := context.WithTimeout(ctx, liveTimeout)
	defer cancel()
	checks := t.Checks()
	obs := map[string]trace.Observation{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for host, facts := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			present, err := agents.Check(ctx, host, facts)
			mu.Lock()
			obs[host] = trace.Observation{Present: present, Err: err}
			mu.Unlock()
		}()
	}
	wg.Wait()
	t.MarkLive(checks, obs)
}

// auditAll asks every connected agent for an audit now; the reports land
// in agents.Audits.
func auditAll(ctx context.Context, agents *rpc.Server) {
	ctx, cancel := context.WithTimeout(ctx, liveTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, host := range agents.ObservedHosts() {
		wg.Add(1)
		go func() { defer wg.Done(); _, _ = agents.AuditNow(ctx, host) }()
	}
	wg.Wait()
}
