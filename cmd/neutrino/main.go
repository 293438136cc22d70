// Command neutrino is the one binary of the project: the Neutron-compatible
// server, the node agents, database migrations, the lab demo and an API
// client. See DESIGN.md in the project's shared folder and the README.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))

	root := &cobra.Command{
		Use:           "neutrino",
		Short:         "Neutron ML2/VXLAN in one binary: server, agents, lab",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		serverCmd(logger),
		dbCmd(logger),
		agentCmd(logger),
		vmCmd(logger),
		demoCmd(logger),
		traceCmd(),
		auditCmd(),
	)
	root.AddCommand(clientCmds()...)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "neutrino:", err)
		os.Exit(1)
	}
}
