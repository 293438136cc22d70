package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"neutrino/internal/api"
	"neutrino/internal/config"
	"neutrino/internal/keystone"
	"neutrino/internal/metrics"
	"neutrino/internal/ml2"
	"neutrino/internal/nova"
	"neutrino/internal/policy"
	"neutrino/internal/store"
	"neutrino/internal/ui"
)

func serverCmd(logger *slog.Logger) *cobra.Command {
	var files []string
	var autoMigrate bool
	cmd := &cobra.Command{
		Use:   "server --config-file F [--config-file F2 ...]",
		Short: "Run the Neutron-compatible API server and the agents' gRPC endpoint",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServer(cmd.Context(), logger, files, autoMigrate, nil)
		},
	}
	cmd.Flags().StringArrayVar(&files, "config-file", nil, "neutron.conf / ml2_conf.ini (repeatable, later files override)")
	cmd.Flags().BoolVar(&autoMigrate, "auto-migrate", false, "apply database migrations at start (SQLite only)")
	return cmd
}

// runServer serves until ctx ends. ready, if not nil, receives the API
// address once it listens (tests and benchmarks).
func runServer(ctx context.Context, logger *slog.Logger, files []string, autoMigrate bool, ready chan<- string) error {
	cfg, warnings, err := config.LoadServer(files...)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		logger.Warn(w)
	}
	dbURL := store.ConnectionURL(cfg.Connection, cfg.StatePath)
	target, err := store.ParseURL(dbURL)
	if err != nil {
		return err
	}
	if target.Dialect == store.SQLite && cfg.Connection == "" {
		if err := os.MkdirAll(cfg.StatePath, 0o750); err != nil {
			return fmt.Errorf("state_path: %w", err)
		}
	}
	if autoMigrate && target.Dialect != store.SQLite {
		return fmt.Errorf("--auto-migrate is for the SQLite default only; run `neutrino db upgrade head --config-file ...` for %s", target.Redacted)
	}
	st, err := store.OpenMigrated(ctx, dbURL, autoMigrate, logger)
	if err != nil {
		return err
	}
	defer st.Close()
	plugin, err := ml2.New(ctx, st, cfg, logger)
	if err != nil {
		return fmt.Errorf("ml2: %w", err)
	}
	var configDirs []string
	for _, f := range cfg.Files {
		configDirs = append(configDirs, filepath.Dir(f))
	}
	pol, err := policy.New(policy.Options{PolicyFile: cfg.PolicyFile, PolicyDirs: cfg.PolicyDirs,
		EnforceNewDefaults: cfg.EnforceNewDefaults, ConfigDirs: configDirs})
	if err != nil {
		return err
	}
	if len(pol.Files) > 0 {
		logger.Info("policy overrides loaded", "files", pol.Files)
	}
	var authenticate func(http.Handler) http.Handler
	if cfg.AuthStrategy == api.AuthKeystone {
		ka, err := keystone.New(cfg.KeystoneAuthtoken, logger)
		if err != nil {
			return err
		}
		authenticate = ka.Wrap
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rpcErr := make(chan error, 1)
	agents, stopRPC, err := startAgentRPC(ctx, cfg, plugin, logger, rpcErr)
	if err != nil {
		return fmt.Errorf("agents' gRPC server: %w", err)
	}
	defer stopRPC()
	// Change-log pruning (the agents' stream needs only recent rows).
	pruned := make(chan struct{})
	go func() {
		defer close(pruned)
		plugin.RunPruner(ctx, ml2.DefaultPruneInterval, ml2.DefaultPruneKeep, ml2.DefaultPruneKeepFor)
	}()
	defer func() { cancel(); <-pruned }()
	// DHCP failover: networks leave dead or admin-down DHCP agents.
	rescheduled := make(chan struct{})
	go func() {
		defer close(rescheduled)
		plugin.RunDHCPRescheduler(ctx, plugin.DHCPRescheduleInterval())
	}()
	defer func() { cancel(); <-rescheduled }()
	// Nova hears about its instances' ports from the change log, beside
	// the API (never in an API call's path).
	if (cfg.NotifyNovaOnPortStatusChanges || cfg.NotifyNovaOnPortDataChanges) && cfg.Nova.Auth.AuthURL != "" {
		notifier, err := nova.New(cfg.Nova, nova.Options{Which: nova.Which{StatusChanges: cfg.NotifyNovaOnPortStatusChanges,
			DataChanges: cfg.NotifyNovaOnPortDataChanges}, Interval: cfg.SendEventsInterval, Logger: logger})
		if err != nil {
			return err
		}
		notified := make(chan struct{})
		go func() {
			defer close(notified)
			notifier.Run(ctx, plugin)
		}()
		defer func() { cancel(); <-notified }()
	}
	reg := newRegistry()
	srvMetrics := metrics.NewServer(reg, serverMetrics{agents: agents, store: st, plugin: plugin})
	handler := api.New(plugin, api.Options{
		AuthStrategy:   cfg.AuthStrategy,
		MaxRequestBody: int64(cfg.MaxRequestBody),
		PortSecurity:   containsString(cfg.ExtensionDrivers, "port_security"),
		Authenticate:   authenticate,
		Policy:         pol,
		Logger:         logger,
		Extra:          observeResources(plugin, agents),
		Observe:        srvMetrics.Observe,
	})

	addr := net.JoinHostPort(cfg.BindHost, strconv.Itoa(cfg.BindPort))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("API listen: %w", err)
	}
	srv := &http.Server{Handler: withObserve(handler, reg, ui.Handler(uiSource{plugin, agents}, 0, logger)), ReadHeaderTimeout: 30 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	logger.Info("neutrino server listening", "api", ln.Addr().String(), "database", target.Redacted, "auth_strategy", cfg.AuthStrategy)
	if ready != nil {
		ready <- ln.Addr().String()
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		return fmt.Errorf("API server: %w", err)
	case err := <-rpcErr:
		shutdown(srv)
		return fmt.Errorf("agents' gRPC server: %w", err)
	}
	logger.Info("neutrino server stopping")
	shutdown(srv)
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func shutdown(srv *http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
}

func containsString(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
