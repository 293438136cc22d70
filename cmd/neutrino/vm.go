package main

import (
	"errors"
	"log/slog"

	"github.com/spf13/cobra"
)

// TODO(owner): replace this placeholder with the real command.
func vmCmd(logger *slog.Logger) *cobra.Command {
	return &cobra.Command{Use: "vm", RunE: func(*cobra.Command, []string) error { return errors.New("vm: not built yet") }}
}
