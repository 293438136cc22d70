package main

import (
	"errors"
	"log/slog"

	"github.com/spf13/cobra"
)

// TODO(owner): replace this placeholder with the real command.
func dbCmd(logger *slog.Logger) *cobra.Command {
	return &cobra.Command{Use: "db", RunE: func(*cobra.Command, []string) error { return errors.New("db: not built yet") }}
}
