package main

import (
	"errors"
	"log/slog"

	"github.com/spf13/cobra"
)

// TODO(owner): replace this placeholder with the real command.
func agentCmd(logger *slog.Logger) *cobra.Command {
	return &cobra.Command{Use: "agent", RunE: func(*cobra.Command, []string) error { return errors.New("agent: not built yet") }}
}
