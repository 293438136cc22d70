package main

import "github.com/spf13/cobra"

// TODO(owner): network, subnet, port, agent client verbs.
func clientCmds() []*cobra.Command { return nil }
