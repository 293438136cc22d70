package main

import (
	"fmt"
	"net/url"
	"time"

	"github.com/spf13/cobra"

	"neutrino/internal/apiclient"
	"neutrino/internal/rpc"
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

// auditCmd is `neutrino audit [--node N] [--now]`: GET /v2.0/audits.
func auditCmd() *cobra.Command {
	var o clientOpts
	var node string
	var now bool
	cmd := &cobra.Command{
		Use:   "audit [--node HOST] [--now]",
		Short: "Show, per node, how its data plane compares with the state it must hold (and what was repaired)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path := "/v2.0/audits"
			if node != "" {
				path += "/" + url.PathEscape(node)
			}
			if now {
				path += "?now=true"
			}
			var out struct {
				Audits []rpc.AuditReport `json:"audits"`
				Audit  *rpc.AuditReport  `json:"audit"`
			}
			if err := o.client().Do(cmd.Context(), "GET", path, nil, &out); err != nil {
				return err
			}
			if out.Audit != nil {
				out.Audits = []rpc.AuditReport{*out.Audit}
			}
			w := cmd.OutOrStdout()
			if o.format == "json" {
				if node != "" {
					return printJSON(w, out.Audit)
				}
				return printJSON(w, out.Audits)
			}
			var rows [][]string
			for _, a := range out.Audits {
				rows = append(rows, []string{a.Host, fmt.Sprint(a.Revision), fmt.Sprint(a.AppliedRevision),
					a.ComparedAt.Format(time.RFC3339), fmt.Sprint(len(a.Differences)), fmt.Sprint(a.Repaired),
					fmt.Sprintf("%d/%d", a.FoundTotal, a.RepairedTotal), a.Digest, fmt.Sprint(a.Connected), a.Error})
			}
			table(w, []string{"Node", "Revision", "Applied", "Last Compare", "Differences", "Repaired", "Found/Repaired Total", "Digest", "Connected", "Last Error"}, rows, false)
			for _, a := range out.Audits {
				for _, d := range a.Differences {
					fmt.Fprintf(w, "%s: %s\n", a.Host, d)
				}
			}
			return nil
		},
	}
	addClientFlags(cmd, &o)
	cmd.Flags().StringVar(&node, "node", "", "only this node (host name)")
	cmd.Flags().BoolVar(&now, "now", false, "ask the agents to compare (and repair) now")
	return cmd
}
