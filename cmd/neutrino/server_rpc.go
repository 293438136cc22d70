package main

import (
	"context"
	"log/slog"

	"neutrino/internal/config"
	"neutrino/internal/ml2"
	"neutrino/internal/store"
)

// startAgentRPC starts the agents' gRPC endpoint on rpc_bind_host:
// rpc_bind_port (internal/rpc). It returns a stop function; a fatal
// serving error is sent on errc. HOOK for the rpc package's owner: replace
// the body with rpc.NewServer(...) + Serve; runServer already calls it
// after the store and plugin are up and before the API listens.
func startAgentRPC(ctx context.Context, cfg *config.Server, st *store.Store, plugin *ml2.Plugin, logger *slog.Logger, errc chan<- error) (stop func(), err error) {
	logger.Warn("agents' gRPC server is not built into this binary yet", "rpc_bind_host", cfg.RPCBindHost, "rpc_bind_port", cfg.RPCBindPort)
	return func() {}, nil
}
