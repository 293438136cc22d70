package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestChaosShort is the short chaos run of `make test`: the whole
// deployment (6 nodes with L2 agents, an L3 and a DHCP agent, 2 servers,
// PostgreSQL), 20 faults from seed 1, and every goal asserted: no
// difference past the bound, none at the end, nothing written twice or
// half, no API call failed for good, no status but 503, no outage during
// agent, server, database or stream faults.
//
// Nothing waits a fixed time for success: each step polls until its
// condition holds. The bounds only end a hang, and come from measured
// convergence: the per-fault bound (60 s) is 2.5 times the slowest
// convergence of 2,584 faults on this machine at load up to 51 (24 s),
// and the run's deadline is the test binary's (-timeout), not a guess.
// An outage is judged against the machine's own noise measured in the
// same run (the longest run lost between faults, and control probes
// through the same nodes); each failure names the fault, the pair or
// the differing entry.
func TestChaosShort(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the chaos run needs root (network namespaces, OVS, PostgreSQL); run make test as root")
	}
	for _, p := range []string{"ovs-vswitchd", "ovsdb-server", "ethtool", "psql", "dnsmasq", "nsenter", "nft"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("%s is not installed (scripts/deps.sh installs it): %v", p, err)
		}
	}
	bin := filepath.Join(t.TempDir(), "neutrino")
	if out, err := exec.Command("go", "build", "-o", bin, "neutrino/cmd/neutrino").CombinedOutput(); err != nil {
		t.Fatalf("build neutrino: %v\n%s", err, out)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if d, ok := t.Deadline(); ok {
		// Leave a minute for the teardown and the report.
		ctx, cancel = context.WithDeadline(context.Background(), d.Add(-time.Minute))
	}
	defer cancel()
	var out strings.Builder
	rep, err := run(ctx, options{Seed: 1, Faults: 20, Nodes: 6, DB: dbPostgres, Bound: 60 * time.Second, Bin: bin,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Out: &out})
	if rep != nil {
		rep.print(&out)
		// The run directory (configs, logs) stays when the test fails.
		t.Cleanup(func() {
			if !t.Failed() {
				os.RemoveAll(rep.Dir)
			}
		})
	}
	t.Log(out.String())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Total != 20 {
		t.Errorf("%d faults injected, want 20", rep.Total)
	}
	if m := rep.goalsMissed(); len(m) > 0 {
		t.Errorf("goals missed: %v", m)
	}
}
