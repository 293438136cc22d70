package main

import (
	"context"
	"log/slog"

	"github.com/spf13/cobra"

	"neutrino/internal/config"
	"neutrino/internal/dataplane/ovs"
	"neutrino/internal/dhcp"
	"neutrino/internal/rpc"
)

// dhcpAgentCmd is `neutrino agent dhcp --config-file neutron.conf
// --config-file dhcp_agent.ini`, neutron-dhcp-agent.
func dhcpAgentCmd(logger *slog.Logger) *cobra.Command {
	var files []string
	sub := &cobra.Command{
		Use:   "dhcp --config-file FILE [--config-file FILE ...]",
		Short: "The DHCP agent (neutron-dhcp-agent): dnsmasq in qdhcp- namespaces for the networks scheduled to it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDHCPAgent(cmd.Context(), files, logger)
		},
	}
	sub.Flags().StringArrayVar(&files, "config-file", nil, "neutron.conf and dhcp_agent.ini (repeatable; later files win)")
	return sub
}

func runDHCPAgent(ctx context.Context, files []string, logger *slog.Logger) error {
	cfg, warnings, err := config.LoadDHCPAgent(files...)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		logger.Warn("config", "warning", w)
	}
	if cfg.EnableIsolatedMetadata || cfg.ForceMetadata {
		logger.Warn("enable_isolated_metadata / force_metadata is set, but this DHCP agent does not serve metadata yet: no metadata proxy and no 169.254.169.254 route via the DHCP port")
	}
	if err := dhcp.CheckReachable(cfg.ConfsDir); err != nil {
		logger.Warn("dhcp_confs", "err", err)
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
	var plug dhcp.Plugger = dhcp.BridgePlugger{}
	if cfg.InterfaceDriver == "openvswitch" {
		vifs, err := ovs.NewVIFs(ctx, cfg.OVSDBConnection, cfg.IntegrationBridge, logger)
		if err != nil {
			return err
		}
		defer vifs.Close()
		plug = dhcp.OVSPlugger{VIFs: vifs}
	}
	app := dhcp.NewApplier(dhcp.Config{
		Options: dhcp.Options{ConfsDir: cfg.ConfsDir, LeaseDuration: cfg.LeaseDuration, DNSServers: cfg.DNSServers,
			DNSDomain: cfg.DNSDomain, LeaseMax: cfg.LeaseMax, ConfigFile: cfg.DNSMasqConfigFile},
		HostNS: cfg.Namespace, Plugger: plug, Logger: logger})
	logger.Info("dhcp agent starting", "host", cfg.Host, "interface_driver", cfg.InterfaceDriver,
		"dhcp_confs", cfg.ConfsDir, "host_namespace", cfg.Namespace, "dhcp_lease_duration", cfg.LeaseDuration)
	a := dhcp.NewAgent(dhcp.AgentConfig{Host: cfg.Host, ReportInterval: cfg.ReportInterval,
		LeaseDuration: cfg.LeaseDuration, Logger: logger}, app, client, &rpc.DHCPSource{Client: client})
	return a.Run(ctx)
}
