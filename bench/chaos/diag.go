package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"neutrino/internal/agent"
	"neutrino/internal/lab"
)

// diagAfter is how long a fault may take to converge before the harness
// records what the nodes hold (once per fault), so a slow convergence
// can be explained from the run directory afterwards.
const diagAfter = 3 * time.Second

// diagPath is the file diagnose writes for fault n.
func (c *cluster) diagPath(n int) string {
	return filepath.Join(c.dir, "log", fmt.Sprintf("diag-fault-%d.txt", n))
}

// diagnose writes, to diagPath(n), each node's neighbour table and
// underlay link, each OVS node's tunnel neighbour cache and routes, and
// the underlay bridge's forwarding table. Read-only.
func (c *cluster) diagnose(ctx context.Context, n int, why string) {
	header := fmt.Sprintf("fault %d at %s, waiting for: %s\n", n, time.Now().Format(time.RFC3339Nano), why)
	c.writeDiag(ctx, c.diagPath(n), header, func(run runIn) {
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
	})
}

// runIn runs a read-only command in a namespace and records its output.
type runIn func(ns string, argv ...string)

// writeDiag writes path: header, then each command collect runs (within
// 20 s in all) with its output or error. Diagnostics are best effort: a
// file that cannot be written is missing from the run directory.
func (c *cluster) writeDiag(ctx context.Context, path, header string, collect func(runIn)) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var b strings.Builder
	b.WriteString(header)
	collect(func(ns string, argv ...string) {
		out, err := lab.Exec(ctx, ns, argv...)
		fmt.Fprintf(&b, "\n## %s: %s\n%s", ns, strings.Join(argv, " "), out)
		if err != nil {
			fmt.Fprintf(&b, "(%v)\n", err)
		}
	})
	_ = os.WriteFile(path, []byte(b.String()), 0o644)
}

// Outage capture: while the probes run, watchOutages looks every 100 ms
// for a pair whose last outageCapture echoes (sent at least 200 ms ago:
// an answer takes a few ms) all went unanswered, and then records at once
// what the nodes on the pair's path hold (outageDiag), at most once per
// pair every 10 s. An outage of half a second is over before the run's
// figures name it; this is what can explain it afterwards.
const outageCapture = 6

func (h *harness) watchOutages(ctx context.Context) {
	last := map[*prober]time.Time{}
	seq := 0
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		for _, p := range h.probes {
			if p.control || now.Sub(last[p]) < 10*time.Second || p.unansweredTail(now.Add(-200*time.Millisecond)) < outageCapture {
				continue
			}
			last[p] = now
			seq++
			h.c.outageDiag(ctx, seq, p)
		}
	}
}

// outageDiag writes log/outage-<seq>.txt: for each node the pair crosses,
// an OVS node's br-int and br-tun flows (with packet counts), ports and
// MAC table, a Linux bridge node's forwarding database, neighbours and
// nftables ruleset. Read-only.
func (c *cluster) outageDiag(ctx context.Context, seq int, p *prober) {
	header := fmt.Sprintf("%s: %d echoes unanswered at %s\n", p.name, outageCapture, time.Now().Format(time.RFC3339Nano))
	c.writeDiag(ctx, filepath.Join(c.dir, "log", fmt.Sprintf("outage-%d.txt", seq)), header, func(run runIn) {
		for _, nd := range c.nodes {
			if !slices.Contains(p.nodes, nd.Name) {
				continue
			}
			if nd.kind == agent.KindOVS {
				db := "--db=" + nd.ovs.OVSDB()
				for _, br := range []string{"br-int", "br-tun"} {
					run(nd.NS, "ovs-ofctl", "-O", "OpenFlow13", "dump-flows", "unix:"+filepath.Join(nd.ovs.RunDir, br+".mgmt"))
				}
				run(nd.NS, "ovs-vsctl", db, "--timeout=5", "--columns=name,tag,other_config", "list", "Port")
				run(nd.NS, "ovs-appctl", "-t", nd.ovs.VswitchdCtl(), "fdb/show", "br-int")
				continue
			}
			run(nd.NS, "bridge", "fdb", "show")
			run(nd.NS, "ip", "neigh", "show")
			run(nd.NS, "nft", "list", "ruleset")
		}
	})
}
