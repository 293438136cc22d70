package main

import (
	"context"
	"log/slog"

	"neutrino/internal/api"
	"neutrino/internal/config"
	"neutrino/internal/ml2"
	"neutrino/internal/neutron"
	"neutrino/internal/rpc"
	"neutrino/internal/store"
)

// startAgentRPC starts the agents' gRPC endpoint on rpc_bind_host:
// rpc_bind_port (internal/rpc). It returns the server (its Nudge makes it
// read the change log at once: called after API writes so agents see them
// without waiting for the next poll) and a stop function. A fatal
// serving error is sent on errc.
func startAgentRPC(ctx context.Context, cfg *config.Server, _ *store.Store, plugin *ml2.Plugin, logger *slog.Logger, errc chan<- error) (srv *rpc.Server, stop func(), err error) {
	srv, stop, err = rpc.Start(ctx, cfg, plugin, logger, errc)
	if err != nil {
		return nil, nil, err
	}
	logger.Info("agents' gRPC server listening", "rpc_bind_host", cfg.RPCBindHost, "rpc_bind_port", cfg.RPCBindPort)
	return srv, stop, nil
}

// nudging wraps the API backend: after every successful write the agents'
// server is nudged.
type nudging struct {
	api.Backend
	nudge func()
}

func after[T any](n nudging, v T, err error) (T, error) {
	if err == nil {
		n.nudge()
	}
	return v, err
}

func (n nudging) CreateNetwork(ctx context.Context, r neutron.NetworkCreate) (*neutron.Network, error) {
	v, err := n.Backend.CreateNetwork(ctx, r)
	return after(n, v, err)
}
func (n nudging) UpdateNetwork(ctx context.Context, id string, r neutron.NetworkUpdate) (*neutron.Network, error) {
	v, err := n.Backend.UpdateNetwork(ctx, id, r)
	return after(n, v, err)
}
func (n nudging) DeleteNetwork(ctx context.Context, id string) error {
	_, err := after(n, struct{}{}, n.Backend.DeleteNetwork(ctx, id))
	return err
}
func (n nudging) CreateSubnet(ctx context.Context, r neutron.SubnetCreate) (*neutron.Subnet, error) {
	v, err := n.Backend.CreateSubnet(ctx, r)
	return after(n, v, err)
}
func (n nudging) UpdateSubnet(ctx context.Context, id string, r neutron.SubnetUpdate) (*neutron.Subnet, error) {
	v, err := n.Backend.UpdateSubnet(ctx, id, r)
	return after(n, v, err)
}
func (n nudging) DeleteSubnet(ctx context.Context, id string) error {
	_, err := after(n, struct{}{}, n.Backend.DeleteSubnet(ctx, id))
	return err
}
func (n nudging) CreatePort(ctx context.Context, r neutron.PortCreate) (*neutron.Port, error) {
	v, err := n.Backend.CreatePort(ctx, r)
	return after(n, v, err)
}
func (n nudging) UpdatePort(ctx context.Context, id string, r neutron.PortUpdate) (*neutron.Port, error) {
	v, err := n.Backend.UpdatePort(ctx, id, r)
	return after(n, v, err)
}
func (n nudging) DeletePort(ctx context.Context, id string) error {
	_, err := after(n, struct{}{}, n.Backend.DeletePort(ctx, id))
	return err
}
func (n nudging) UpdateAgent(ctx context.Context, id string, r neutron.AgentUpdate) (*neutron.Agent, error) {
	v, err := n.Backend.UpdateAgent(ctx, id, r)
	return after(n, v, err)
}
func (n nudging) DeleteAgent(ctx context.Context, id string) error {
	_, err := after(n, struct{}{}, n.Backend.DeleteAgent(ctx, id))
	return err
}
func (n nudging) ReplaceTags(ctx context.Context, kind, id string, tags []string) ([]string, error) {
	v, err := n.Backend.ReplaceTags(ctx, kind, id, tags)
	return after(n, v, err)
}
