package main

import (
	"github.com/spf13/cobra"

	"neutrino/internal/apiclient"
	"neutrino/internal/trace"
)

// traceCmd is `neutrino trace --port P --dst D [--network N] [--live]`:
// GET /v2.0/trace, rendered as text (or the JSON with -f json).
func traceCmd() *cobra.Command {
	var o clientOpts
	var port, dst, network string
	var live bool
	cmd := &cobra.Command{
		Use:   "trace --port PORT --dst IP|MAC|broadcast|GROUP [--network NET] [--live]",
		Short: "Show where one frame from a port goes, hop by hop (tables, FDB entries, VTEPs)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			kv := []string{"port", port, "dst", dst}
			if network != "" {
				kv = append(kv, "network", network)
			}
			if live {
				kv = append(kv, "live", "true")
			}
			var out struct {
				Trace *trace.Trace `json:"trace"`
			}
			if err := o.client().Do(cmd.Context(), "GET", "/v2.0/trace"+apiclient.Query(kv...), nil, &out); err != nil {
				return err
			}
			if o.format == "json" {
				return printJSON(cmd.OutOrStdout(), out.Trace)
			}
			trace.Render(cmd.OutOrStdout(), out.Trace)
			return nil
		},
	}
	addClientFlags(cmd, &o)
	cmd.Flags().StringVar(&port, "port", "", "the sending port (id or name)")
	cmd.Flags().StringVar(&dst, "dst", "", "destination: IP, MAC, broadcast, or a multicast group")
	cmd.Flags().StringVar(&network, "network", "", "the port's network (id or name), to tell ports with one name apart")
	cmd.Flags().BoolVar(&live, "live", false, "ask each involved agent whether its data plane holds the entries")
	cmd.MarkFlagRequired("port")
	cmd.MarkFlagRequired("dst")
	return cmd
}
