package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"neutrino/internal/api"
	"neutrino/internal/config"
	"neutrino/internal/demo"
	"neutrino/internal/lab"
	"neutrino/internal/ml2"
	"neutrino/internal/rpc"
	"neutrino/internal/store"
)

// demoCmd is `neutrino demo [--mechanism M] [--keep]` and `neutrino demo
// down`: the seed's walkthrough in namespaces (internal/demo).
func demoCmd(logger *slog.Logger) *cobra.Command {
	var opt demo.Options
	var stateDir string
	cmd := &cobra.Command{
		Use:   "demo [--mechanism openvswitch|linuxbridge] [--keep]",
		Short: "The seed's ML2/VXLAN walkthrough, live, in network namespaces (root)",
		Long: `Builds the seed's controller, compute-1 and compute-2 (VTEPs 198.18.255.101-103) as
network namespaces, starts the server (embedded SQLite) and one agent per node with
copies of the seed's config files, boots two VMs, pings one from a qrouter namespace
and counts the underlay copies of one ARP broadcast without and with l2population.
Everything is removed at the end unless --keep (then: neutrino demo down).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opt.Out = cmd.OutOrStdout()
			opt.ControlDir = lab.StateDir(stateDir)
			opt.FallbackServerArgs = []string{"demo", "server"}
			_, err := demo.Run(cmd.Context(), opt)
			return err
		},
	}
	cmd.Flags().StringVar(&opt.Mechanism, "mechanism", demo.MechOVS, "openvswitch (the seed's) or linuxbridge")
	cmd.Flags().BoolVar(&opt.Keep, "keep", false, "leave everything running and print how to explore it")
	cmd.Flags().StringVar(&opt.Dir, "dir", "", "directory for config copies, logs, database and pcaps (default: a new one in $TMPDIR)")
	cmd.PersistentFlags().StringVar(&stateDir, "state-dir", "", "lab state directory (NEUTRINO_STATE_DIR, default "+lab.DefaultStateDir+")")

	down := &cobra.Command{
		Use:   "down",
		Short: "Remove a demo left running by --keep (or by a crash)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return demo.Down(cmd.Context(), lab.StateDir(stateDir), cmd.OutOrStdout())
		},
	}
	var files []string
	server := &cobra.Command{
		Use:    "server --config-file F ...",
		Short:  "The server with the agents' gRPC endpoint, for builds whose `neutrino server` lacks it",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemoServer(cmd.Context(), logger, files)
		},
	}
	server.Flags().StringArrayVar(&files, "config-file", nil, "neutron.conf / ml2_conf.ini")
	server.Flags().Bool("auto-migrate", true, "always on: SQLite under state_path")
	cmd.AddCommand(down, server)
	return cmd
}

// runDemoServer is `neutrino server` for the demo's embedded SQLite with
// the agents' gRPC service (internal/rpc) started next to the API. The demo
// uses it only when `neutrino server` does not open rpc_bind_port.
func runDemoServer(ctx context.Context, logger *slog.Logger, files []string) error {
	cfg, warnings, err := config.LoadServer(files...)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		logger.Warn(w)
	}
	if cfg.Connection != "" {
		return errors.New("demo server: only the embedded SQLite database (no [database] connection)")
	}
	if err := os.MkdirAll(cfg.StatePath, 0o750); err != nil {
		return fmt.Errorf("state_path: %w", err)
	}
	st, err := store.OpenMigrated(ctx, store.ConnectionURL(cfg.Connection, cfg.StatePath), true, logger)
	if err != nil {
		return err
	}
	defer st.Close()
	plugin, err := ml2.New(ctx, st, cfg, logger)
	if err != nil {
		return fmt.Errorf("ml2: %w", err)
	}
	rcfg, err := rpc.ServerConfigFor(cfg, logger)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rln, err := net.Listen("tcp", net.JoinHostPort(cfg.RPCBindHost, strconv.Itoa(cfg.RPCBindPort)))
	if err != nil {
		return fmt.Errorf("agents' gRPC listen: %w", err)
	}
	rpcDone := make(chan error, 1)
	go func() { rpcDone <- rpc.NewServer(plugin, rcfg).Serve(ctx, rln) }()
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.BindHost, strconv.Itoa(cfg.BindPort)))
	if err != nil {
		cancel()
		<-rpcDone
		return fmt.Errorf("API listen: %w", err)
	}
	srv := &http.Server{Handler: api.New(plugin, api.Options{AuthStrategy: cfg.AuthStrategy, MaxRequestBody: int64(cfg.MaxRequestBody), Logger: logger}),
		ReadHeaderTimeout: 30 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	logger.Info("demo server listening", "api", ln.Addr().String(), "rpc", rln.Addr().String())
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	rpcEnded := false
	select {
	case <-ctx.Done():
	case err = <-serveErr:
	case err = <-rpcDone:
		rpcEnded = true
	}
	cancel()
	shutdown(srv)
	if !rpcEnded {
		if rerr := <-rpcDone; rerr != nil && err == nil {
			err = rerr
		}
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
