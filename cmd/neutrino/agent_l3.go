package main

import (
	"context"
	"log/slog"

	"github.com/spf13/cobra"

	"neutrino/internal/config"
	"neutrino/internal/dataplane/ovs"
	"neutrino/internal/l3"
	"neutrino/internal/rpc"
)

// l3AgentCmd is `neutrino agent l3 --config-file neutron.conf
// --config-file l3_agent.ini`, neutron-l3-agent.
func l3AgentCmd(logger *slog.Logger) *cobra.Command {
	var files []string
	sub := &cobra.Command{
		Use:   "l3 --config-file FILE [--config-file FILE ...]",
		Short: "The L3 agent (neutron-l3-agent): qrouter- namespaces with routes and NAT for the routers scheduled to it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runL3Agent(cmd.Context(), files, logger)
		},
	}
	sub.Flags().StringArrayVar(&files, "config-file", nil, "neutron.conf and l3_agent.ini (repeatable; later files win)")
	return sub
}

func runL3Agent(ctx context.Context, files []string, logger *slog.Logger) error {
	cfg, warnings, err := config.LoadL3Agent(files...)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		logger.Warn("config", "warning", w)
	}
	cc, err := rpc.ClientConfigFor(&cfg.Agent)
	if err != nil {
		return err
	}
	client, err := rpc.Dial(cc)
	if err != nil {
		return err
	}
	defer client.Close()
	var driver l3.InterfaceDriver = l3.BridgeDriver{}
	if cfg.InterfaceDriver == "openvswitch" {
		vifs, err := ovs.NewVIFs(ctx, cfg.OVSDBConnection, cfg.IntegrationBridge, logger)
		if err != nil {
			return err
		}
		defer vifs.Close()
		driver = l3.OVSDriver{VIFs: vifs}
	}
	app := l3.NewApplier(l3.Config{StateDir: cfg.RoutersDir, Driver: driver, HostNS: cfg.Namespace, GARPs: cfg.SendARPForHA, Logger: logger})
	logger.Info("l3 agent starting", "host", cfg.Host, "interface_driver", cfg.InterfaceDriver,
		"routers_dir", cfg.RoutersDir, "host_namespace", cfg.Namespace)
	a := l3.NewAgent(l3.AgentConfig{Host: cfg.Host, ReportInterval: cfg.ReportInterval, InterfaceDriver: cfg.InterfaceDriver,
		Logger: logger}, app, client, client, &rpc.L3Source{Client: client})
	return a.Run(ctx)
}
