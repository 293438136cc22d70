package main

import (
	"context"
	"log/slog"

	"neutrino/internal/config"
	"neutrino/internal/ml2"
	"neutrino/internal/rpc"
)

// startAgentRPC starts the agents' gRPC endpoint on rpc_bind_host:
// rpc_bind_port (internal/rpc) and returns the server and a stop function.
// The server follows the change log by itself: every commit wakes it. A
// fatal serving error is sent on errc.
func startAgentRPC(ctx context.Context, cfg *config.Server, plugin *ml2.Plugin, logger *slog.Logger, errc chan<- error) (srv *rpc.Server, stop func(), err error) {
	srv, stop, err = rpc.Start(ctx, cfg, plugin, logger, errc)
	if err != nil {
		return nil, nil, err
	}
	logger.Info("agents' gRPC server listening", "rpc_bind_host", cfg.RPCBindHost, "rpc_bind_port", cfg.RPCBindPort)
	return srv, stop, nil
}
