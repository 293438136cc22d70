package main

import (
	"context"
	"log/slog"

	"github.com/spf13/cobra"

	"neutrino/internal/demo"
	"neutrino/internal/lab"
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
network namespaces, with an "outside" namespace (198.18.100.1) on physnet1, starts the
server (embedded SQLite), one L2 agent per node with copies of the seed's config files
and the DHCP and L3 agents on the controller, creates a router (the L3 agent builds
qrouter-<id>), boots two VMs, runs the seed's ping and arping from the router's
namespace, reaches a VM from the outside by a floating IP, and counts the underlay
copies of one ARP broadcast without and with l2population.
Everything is removed at the end unless --keep (then: neutrino demo down).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opt.Out = cmd.OutOrStdout()
			opt.ControlDir = lab.StateDir(stateDir)
			// The narration is the demo's output; of the lab's own log
			// only warnings and errors belong next to it.
			opt.Logger = slog.New(minLevel{logger.Handler(), slog.LevelWarn})
			_, err := demo.Run(cmd.Context(), opt)
			return err
		},
	}
	cmd.Flags().StringVar(&opt.Mechanism, "mechanism", demo.MechOVS, "openvswitch (the seed's) or linuxbridge")
	cmd.Flags().BoolVar(&opt.Keep, "keep", false, "leave everything running and print how to explore it")
	cmd.Flags().StringVar(&opt.Dir, "dir", "", "directory for config copies, logs, database and pcaps (default: a new one in $TMPDIR)")
	cmd.PersistentFlags().StringVar(&stateDir, "state-dir", "", "lab state directory for demo.json and lab.json (NEUTRINO_STATE_DIR, default "+lab.DefaultStateDir+")")
	cmd.AddCommand(&cobra.Command{
		Use:   "down",
		Short: "Remove a demo left running by --keep (or by a crash)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return demo.Down(cmd.Context(), lab.StateDir(stateDir), cmd.OutOrStdout())
		},
	})
	return cmd
}

// minLevel drops records below level.
type minLevel struct {
	slog.Handler
	level slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.level && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(a []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(a), h.level}
}
func (h minLevel) WithGroup(n string) slog.Handler { return minLevel{h.Handler.WithGroup(n), h.level} }
