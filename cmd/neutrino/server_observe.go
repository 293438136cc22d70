package main

import (
	"context"
	"net/url"

	"neutrino/internal/api"
	"neutrino/internal/ml2"
	"neutrino/internal/neutron"
	"neutrino/internal/rpc"
	"neutrino/internal/trace"
)

// observeResources are neutrino's own API resources for operators:
// GET /v2.0/trace?port=P&dst=D[&network=N] (docs/api.md).
func observeResources(plugin *ml2.Plugin, agents *rpc.Server) map[string]api.ExtraResource {
	return map[string]api.ExtraResource{
		"trace": func(ctx context.Context, id string, q url.Values) (any, error) {
			if id != "" {
				return nil, neutron.Errorf(404, "HTTPNotFound", "The resource could not be found.")
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
			return map[string]any{"trace": t}, nil
		},
	}
}
