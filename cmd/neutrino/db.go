package main

import (
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"neutrino/internal/config"
	"neutrino/internal/store"
)

// dbCmd is neutron-db-manage's counterpart: `db upgrade head` applies the
// embedded migrations, `db current` shows the schema version.
func dbCmd(logger *slog.Logger) *cobra.Command {
	var files []string
	cmd := &cobra.Command{
		Use:   "db",
		Short: "Database schema migrations (like neutron-db-manage)",
	}
	cmd.PersistentFlags().StringArrayVar(&files, "config-file", nil, "configuration file (repeatable, later files override earlier ones)")

	open := func(cmd *cobra.Command) (*store.Store, error) {
		cfg, warnings, err := config.LoadServer(files...)
		if err != nil {
			return nil, err
		}
		for _, w := range warnings {
			logger.Warn(w)
		}
		return store.Open(cmd.Context(), store.ConnectionURL(cfg.Connection, cfg.StatePath), logger)
	}

	upgrade := &cobra.Command{
		Use:   "upgrade head",
		Short: "Apply every pending migration",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] != "head" && args[0] != "heads" {
				return fmt.Errorf("db upgrade: only `head` is supported, got %q", args[0])
			}
			st, err := open(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			v, err := st.Migrate(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: schema at version %d (head)\n", st.Redacted(), v)
			return nil
		},
	}
	current := &cobra.Command{
		Use:   "current",
		Short: "Show the schema version of the database",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := open(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			cur, head, err := st.Version(cmd.Context())
			if err != nil {
				return err
			}
			suffix := " (head)"
			if cur < head {
				suffix = fmt.Sprintf(" (head is %d: run `neutrino db upgrade head`)", head)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %d%s\n", st.Redacted(), cur, suffix)
			return nil
		},
	}
	cmd.AddCommand(upgrade, current)
	return cmd
}
