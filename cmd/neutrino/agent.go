package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"neutrino/internal/agent"
	"neutrino/internal/config"
	"neutrino/internal/dataplane"
	"neutrino/internal/dataplane/linux"
	"neutrino/internal/dataplane/ovs"
	"neutrino/internal/metrics"
	"neutrino/internal/rpc"
)

// agentCmd is `neutrino agent openvswitch|linuxbridge --config-file F ...`,
// neutron-openvswitch-agent and neutron-linuxbridge-agent.
func agentCmd(logger *slog.Logger) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run a node agent (openvswitch, linuxbridge or dhcp), or list/show/update/delete agents via the API",
	}
	cmd.AddCommand(agentClientSubcommands()...)
	cmd.AddCommand(dhcpAgentCmd(logger), l3AgentCmd(logger))
	for _, k := range []struct{ kind, short string }{
		{agent.KindOVS, "The Open vSwitch agent (neutron-openvswitch-agent): br-int/br-tun via OVSDB and OpenFlow"},
		{agent.KindLinuxBridge, "The Linux bridge agent (neutron-linuxbridge-agent): vxlan devices and bridges via netlink"},
	} {
		var files []string
		var metricsAddr string
		kind := k.kind
		sub := &cobra.Command{
			Use:   kind + " --config-file FILE [--config-file FILE ...]",
			Short: k.short,
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				return runAgent(cmd.Context(), kind, files, metricsAddr, logger)
			},
		}
		sub.Flags().StringArrayVar(&files, "config-file", nil, "neutron.conf and the agent's ini file (repeatable; later files win)")
		sub.Flags().StringVar(&metricsAddr, "metrics-listen", "", "serve Prometheus metrics on http://ADDR/metrics (host:port; empty: off)")
		cmd.AddCommand(sub)
	}
	return cmd
}

func runAgent(ctx context.Context, kind string, files []string, metricsAddr string, logger *slog.Logger) error {
	cfg, warnings, err := config.LoadAgent(kind, files...)
	if err != nil {
		return err
	}
	if cfg.Debug {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	for _, w := range warnings {
		logger.Warn("config", "warning", w)
	}
	// Refuse a bad transport_url before touching the data plane.
	if _, err := rpc.ParseTransportURL(cfg.TransportURL); err != nil {
		return err
	}
	dp, err := openDataplane(ctx, kind, cfg, logger)
	if err != nil {
		return err
	}
	defer dp.Close()
	var reg *prometheus.Registry
	if metricsAddr != "" {
		reg = newRegistry()
		stop, err := serveMetrics(ctx, metricsAddr, metrics.Handler(reg), logger)
		if err != nil {
			return err
		}
		defer stop()
	}
	return agent.Run(ctx, kind, cfg, dp, logger, registerer(reg))
}

// openDataplane connects the data plane of the agent's kind; it changes
// nothing until the agent's first Apply.
func openDataplane(ctx context.Context, kind string, cfg *config.Agent, logger *slog.Logger) (dataplane.Dataplane, error) {
	switch kind {
	case agent.KindLinuxBridge:
		d, err := linux.New(linux.Options{NetNS: cfg.Namespace, TTL: cfg.TTL, TOS: cfg.TOS, InterfaceMappings: cfg.InterfaceMappings, Logger: logger})
		if err != nil {
			return nil, err
		}
		// As Neutron's agent: a mapped interface that does not exist
		// stops the agent at start.
		if err := d.CheckInterfaceMappings(); err != nil {
			return nil, errors.Join(err, d.Close())
		}
		return d, nil
	case agent.KindOVS:
		// The switch is reached through ovsdb_connection wherever it
		// runs; host_namespace is where the node's kernel objects are,
		// the qbr bridges of iptables_hybrid among them, so their
		// nftables firewall goes there (not into this process's own
		// namespace, where the bridges are not).
		d, err := ovs.New(ctx, ovs.Config{OVSDB: cfg.OVSDBConnection, IntegrationBridge: cfg.IntegrationBridge,
			TunnelBridge: cfg.TunnelBridge, DatapathType: cfg.DatapathType, BridgeMappings: cfg.BridgeMappings,
			NetNS: cfg.Namespace, OFInterface: cfg.OFInterface}, logger)
		if err != nil {
			return nil, err
		}
		// As Neutron's agent: a mapped bridge that does not exist stops
		// the agent at start (the operator creates provider bridges).
		if err := d.CheckBridgeMappings(ctx); err != nil {
			return nil, errors.Join(err, d.Close())
		}
		return d, nil
	}
	return nil, fmt.Errorf("agent kind %q: want %s or %s", kind, agent.KindOVS, agent.KindLinuxBridge)
}

// registerer avoids a typed nil: no registry means no metrics.
func registerer(reg *prometheus.Registry) prometheus.Registerer {
	if reg == nil {
		return nil
	}
	return reg
}

// serveMetrics serves h on addr until ctx ends or stop is called.
func serveMetrics(ctx context.Context, addr string, h http.Handler, logger *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	logger.Info("serving metrics", "addr", ln.Addr().String())
	return func() { shutdown(srv); <-done }, nil
}
