package lab

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ovsTestNS creates a throwaway namespace for this file's tests (the lab's
// own node types are H5's; this keeps the OVS tests independent of them).
func ovsTestNS(t *testing.T, role string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("OVS lab tests need root (network namespaces, OVS daemons): run `make test` as root")
	}
	name := "nt-" + RandomID() + "-" + role
	if err := CreateNS(name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := DeleteNS(name); err != nil {
			t.Error(err)
		}
	})
	return name
}

func TestStartStopOVS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns := ovsTestNS(t, "ovs")
	run := t.TempDir() + "/ovs"
	o, err := StartOVS(ctx, ns, run, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = o.Stop()
		}
	})
	swPID, dbPID := o.swProc.Process.Pid, o.dbProc.Process.Pid
	// veth pair inside the namespace: one end becomes br-phy's port.
	if out, err := exec.Command("ip", "-n", ns, "link", "add", "u0", "type", "veth", "peer", "name", "u1").CombinedOutput(); err != nil {
		t.Fatalf("veth: %v: %s", err, out)
	}
	if err := o.SetupBrPhy(ctx, "br-phy", "u0", netip.MustParsePrefix("198.18.7.1/24")); err != nil {
		t.Fatal(err)
	}
	out, err := o.Vsctl(ctx, "show")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Bridge br-phy", "datapath_type: netdev", "Port u0"} {
		if !strings.Contains(out, want) {
			t.Errorf("ovs-vsctl show lacks %q:\n%s", want, out)
		}
	}
	addr, err := exec.Command("ip", "-n", ns, "-o", "addr", "show", "dev", "br-phy").CombinedOutput()
	if err != nil || !strings.Contains(string(addr), "198.18.7.1/24") {
		t.Errorf("br-phy internal interface has no VTEP address: %v %s", err, addr)
	}
	if err := o.Stop(); err != nil {
		t.Fatal(err)
	}
	stopped = true
	for _, pid := range []int{swPID, dbPID} {
		if _, err := os.Stat("/proc/" + itoa(pid)); err == nil {
			t.Errorf("pid %d still running after Stop", pid)
		}
	}
	if _, err := os.Stat(run); err == nil {
		t.Errorf("run dir %s left behind", run)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// A failed start leaves no process and no run directory.
func TestStartOVSFailureLeavesNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if os.Geteuid() != 0 {
		t.Fatal("OVS lab tests need root: run `make test` as root")
	}
	run := filepath.Join(t.TempDir(), "ovs")
	o, err := StartOVS(ctx, "nt-000000-missing", run, nil)
	if err == nil {
		_ = o.Stop()
		t.Fatal("StartOVS in a missing namespace succeeded")
	}
	if _, serr := os.Stat(run); serr == nil {
		t.Errorf("run dir %s left after failed start (%v)", run, err)
	}
}

// StopOVSRunDir ends the daemons by pidfile, as `demo down` does from
// another process, and refuses a pidfile naming a foreign process.
func TestStopOVSRunDir(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns := ovsTestNS(t, "ovsrd")
	run := filepath.Join(os.TempDir(), ns+"-ovs")
	o, err := StartOVS(ctx, ns, run, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = o.Stop() })
	pids := o.PIDs()
	if err := StopOVSRunDir(ctx, run); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if !waitGone(ctx, pid, time.Second) {
			t.Errorf("pid %d still running", pid)
		}
	}
	if _, err := os.Stat(run); err == nil {
		t.Errorf("%s left behind", run)
	}
	if err := o.Stop(); err != nil {
		t.Errorf("Stop after StopOVSRunDir: %v", err)
	}

	// A pidfile pointing at an unrelated process (this test) is refused.
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "ovs-vswitchd.pid"), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := StopOVSRunDir(ctx, other); err == nil || !strings.Contains(err.Error(), "not our ovs-vswitchd") {
		t.Errorf("foreign pidfile: err = %v", err)
	}
}

// TestBrPhyOnlyBridgeAnswersARP: on an OVS node the VTEP address is on
// br-phy, whose port is the node's underlay interface. The netdev
// datapath reads that interface with AF_PACKET, so the kernel still
// sees every frame on it too; if it answered ARP there (with the
// interface's own MAC) a peer could resolve the VTEP to a MAC that OVS
// does not treat as its own, and its tunnel traffic was dropped until the
// neighbour entry expired: up to 45 s after a peer's underlay link
// flapped (found by bench/chaos). Only br-phy's MAC may answer.
func TestBrPhyOnlyBridgeAnswersARP(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	l := testLab(t, ctx)
	peer, err := l.AddNode(ctx, "peer")
	if err != nil {
		t.Fatal(err)
	}
	n, err := l.AddNode(ctx, "ovs")
	if err != nil {
		t.Fatal(err)
	}
	o, err := StartNodeOVS(ctx, n, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := o.Stop(); err != nil {
			t.Error(err)
		}
	}()
	macOf := func(dev string) string {
		out, err := Exec(ctx, n.NS, "ip", "-o", "link", "show", "dev", dev)
		if err != nil {
			t.Fatal(err)
		}
		_, rest, ok := strings.Cut(string(out), "link/ether ")
		if !ok {
			t.Fatalf("no MAC for %s in %q", dev, out)
		}
		return strings.ToUpper(strings.Fields(rest)[0])
	}
	bridge, underlay := macOf("br-phy"), macOf(n.Dev)
	// Each request is answered by whoever answers; arping prints every
	// reply ("Unicast reply from IP [MAC]").
	out, _ := Exec(ctx, peer.NS, "arping", "-c", "5", "-w", "10", "-I", peer.Dev, n.IP().String())
	replies := map[string]int{}
	for _, line := range strings.Split(string(out), "\n") {
		if _, rest, ok := strings.Cut(line, "reply from "+n.IP().String()+" ["); ok {
			mac, _, _ := strings.Cut(rest, "]")
			replies[mac]++
		}
	}
	if replies[bridge] == 0 {
		t.Errorf("br-phy (%s) did not answer ARP for %s:\n%s", bridge, n.IP(), out)
	}
	if replies[underlay] > 0 || len(replies) != 1 {
		t.Errorf("ARP for %s answered by %v; only br-phy's %s may answer (the underlay interface is %s):\n%s",
			n.IP(), replies, bridge, underlay, out)
	}
}
