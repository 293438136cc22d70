package main

import (
	"errors"
	"log/slog"

	"github.com/spf13/cobra"
)

// TODO(owner): replace this placeholder with the real command.
func demoCmd(logger *slog.Logger) *cobra.Command {
	return &cobra.Command{Use: "demo", RunE: func(*cobra.Command, []string) error { return errors.New("demo: not built yet") }}
}
