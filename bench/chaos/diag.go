package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"neutrino/internal/agent"
	"neutrino/internal/lab"
)

// diagAfter is how long a fault may take to converge before the harness
// records what the nodes hold (once per fault), so a slow convergence
// can be explained from the run directory afterwards.
const diagAfter = 3 * time.Second

// diagnose writes, to log/diag-fault-<n>.txt, each node's neighbour
// table and underlay link, each OVS node's tunnel neighbour cache and
// routes, and the underlay bridge's forwarding table. Read-only.
func (c *cluster) diagnose(ctx context.Context, n int, why string) string {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var b strings.Builder
	fmt.Fprintf(&b, "fault %d at %s, waiting for: %s\n", n, time.Now().Format(time.RFC3339Nano), why)
	run := func(ns string, argv ...string) {
		out, err := lab.Exec(ctx, ns, argv...)
		fmt.Fprintf(&b, "\n## %s: %s\n%s", ns, strings.Join(argv, " "), out)
		if err != nil {
			fmt.Fprintf(&b, "(%v)\n", err)
		}
	}
	for _, nd := range c.nodes {
		run(nd.NS, "ip", "-s", "neigh", "show", "dev", nd.Dev)
		run(nd.NS, "ip", "-d", "link", "show", nd.Dev)
		if nd.kind == agent.KindOVS {
			ctl := nd.ovs.VswitchdCtl()
			run(nd.NS, "ovs-appctl", "-t", ctl, "tnl/neigh/show")
			run(nd.NS, "ovs-appctl", "-t", ctl, "ovs/route/show")
			run(nd.NS, "ovs-appctl", "-t", ctl, "fdb/show", "br-phy")
		}
	}
	run(c.lab.Underlay, "bridge", "fdb", "show", "br", "br-underlay")
	run(c.lab.Underlay, "bridge", "link", "show")
	path := filepath.Join(c.dir, "log", fmt.Sprintf("diag-fault-%d.txt", n))
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return err.Error()
	}
	return path
}
