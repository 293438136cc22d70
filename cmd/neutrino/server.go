package main

import (
	"errors"
	"log/slog"

	"github.com/spf13/cobra"
)

// TODO(owner): replace this placeholder with the real command.
func serverCmd(logger *slog.Logger) *cobra.Command {
	return &cobra.Command{Use: "server", RunE: func(*cobra.Command, []string) error { return errors.New("server: not built yet") }}
}
