package ovs

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ovn-kubernetes/libovsdb/client"
	"github.com/ovn-kubernetes/libovsdb/ovsdb"

	"neutrino/internal/lab"
)

// TestOVSDBCrashKeepsForwarding: ovsdb-server is SIGKILLed and started
// again while the agent keeps listing devices and applying the same
// desired state (its polling passes). The VM's device must never be
// listed down (the chaos run, bench/chaos, saw the agent report stable
// ports DOWN after such a crash: the server then withdrew them from every
// peer and each node removed its tunnel ports), nothing the state wants
// may be removed, and VM traffic must not stop.
func TestOVSDBCrashKeepsForwarding(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	l, nodes := newOVSLab(t, ctx, "compute1", "compute2")
	c1, c2 := nodes["compute1"], nodes["compute2"]
	all := []*ovsNode{c1, c2}
	hosts := map[*ovsNode][]vmSpec{c1: {vm1Port}, c2: {vm2Port}}
	applyAll(t, ctx, all, map[*ovsNode][]vmSpec{}, true, true) // the bridges
	vm1 := plug(t, ctx, l, c1, vm1Port)
	plug(t, ctx, l, c2, vm2Port)
	applyAll(t, ctx, all, hosts, true, true)
	if err := ping(ctx, vm1.NS, "192.168.1.2", 2); err != nil {
		t.Fatalf("vm1 -> vm2 before the crash: %v", err)
	}
	tunnel, err := TunnelPortName(c2.node.IP())
	if err != nil {
		t.Fatal(err)
	}
	pinger, err := lab.Start(vm1.NS, "ping", "-n", "-i", "0.01", "-c", "300", "-W", "1", "192.168.1.2")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pinger.Stop() })
	want := nodeState(c1, all, hosts, true, true)
	for i := 0; i < 3; i++ {
		if err := c1.ovs.CrashOVSDB(ctx); err != nil {
			t.Fatal(err)
		}
		// The agent's passes: apply again and again until one succeeds,
		// then a few more.
		ok := 0
		for deadline := time.Now().Add(20 * time.Second); ok < 5 && time.Now().Before(deadline); {
			if err := c1.dp.Apply(ctx, want); err == nil {
				ok++
			}
			// The VM's interface stays up through the crash: reporting
			// it down would make the server withdraw it from every peer.
			if devs, err := c1.dp.Devices(ctx); err == nil {
				if d, found := findDevice(devs, vm1Port.portID); found && !d.Up {
					t.Fatalf("crash %d: device %s listed down while its interface is up: %+v", i+1, vm1Port.portID, d)
				}
			}
			if show, err := c1.ovs.Vsctl(ctx, "--timeout=5", "show"); err == nil {
				if _, there := brTunVXLANPorts(show)[tunnel]; !there {
					t.Fatalf("crash %d: tunnel port %s to %s removed while the state wants it:\n%s", i+1, tunnel, c2.node.IP(), show)
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		if ok < 5 {
			t.Fatalf("crash %d: Apply did not succeed again within 20s", i+1)
		}
	}
	if err := pinger.Wait(ctx); err != nil {
		t.Errorf("ping across ovsdb-server crashes: %v\n%s", err, pinger.Output())
	}
	if m := regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`).FindStringSubmatch(pinger.Output()); m == nil || m[1] != m[2] {
		t.Errorf("ping across ovsdb-server crashes lost packets:\n%s", pinger.Output())
	}
}

func TestDeviceUp(t *testing.T) {
	str := func(s string) *string { return &s }
	num := func(n int) *int { return &n }
	for _, tc := range []struct {
		name string
		i    iface
		want bool
	}{
		{"admin up", iface{AdminState: str("up"), Ofport: num(3)}, true},
		{"admin down", iface{AdminState: str("down"), Ofport: num(3)}, false},
		{"no admin_state yet, has its ofport (ovsdb-server restarted)", iface{Ofport: num(3)}, true},
		{"no admin_state, no ofport (not realised yet)", iface{}, false},
		{"no admin_state, failed ofport", iface{Ofport: num(-1)}, false},
		{"internal port in another namespace (a router's qr-)", iface{Type: "internal", AdminState: str("down"), Ofport: num(5)}, true},
		{"internal port without its ofport", iface{Type: "internal", AdminState: str("down"), Ofport: num(-1)}, false},
	} {
		if got := deviceUp(&tc.i); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// failingTunnelInserts fails, as an ovsdb-server dying mid-transaction
// does, every transaction that inserts a vxlan interface.
type failingTunnelInserts struct{ client.Client }

func (c failingTunnelInserts) Transact(ctx context.Context, ops ...ovsdb.Operation) ([]ovsdb.OperationResult, error) {
	for _, op := range ops {
		if op.Op == ovsdb.OperationInsert && op.Table == "Interface" && op.Row["type"] == "vxlan" {
			return nil, errors.New("read unix @->db.sock: read: connection reset by peer")
		}
	}
	return c.Client.Transact(ctx, ops...)
}

// TestApplyAfterFailedTunnelInsert: when the transaction adding a tunnel
// port fails (bench/chaos: ovsdb-server SIGKILLed while the agent added
// one), Apply must not wait OfportTimeout for a port that was never
// created (it held every other change of the pass back for 10 s) but
// program the rest and fail; the next Apply adds the tunnel.
func TestApplyAfterFailedTunnelInsert(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	l, nodes := newOVSLab(t, ctx, "compute1", "compute2")
	c1, c2 := nodes["compute1"], nodes["compute2"]
	all := []*ovsNode{c1, c2}
	hosts := map[*ovsNode][]vmSpec{c1: {vm1Port}, c2: {vm2Port}}
	applyAll(t, ctx, all, map[*ovsNode][]vmSpec{}, true, true) // the bridges
	vm1 := plug(t, ctx, l, c1, vm1Port)
	plug(t, ctx, l, c2, vm2Port)
	apply(t, ctx, c2, nodeState(c2, all, hosts, true, true))
	c1.dp.cfg.OfportTimeout = 2 * time.Second
	real := c1.dp.cli
	c1.dp.cli = failingTunnelInserts{real}
	err := c1.dp.Apply(ctx, nodeState(c1, all, hosts, true, true))
	c1.dp.cli = real
	if err == nil || !strings.Contains(err.Error(), "ensure tunnel ports") {
		t.Fatalf("Apply with the tunnel insert failing: %v, want the ensure tunnel ports error", err)
	}
	if strings.Contains(err.Error(), "no ofport") {
		t.Fatalf("Apply waited for the ofport of a tunnel port it failed to create: %v", err)
	}
	apply(t, ctx, c1, nodeState(c1, all, hosts, true, true))
	if err := ping(ctx, vm1.NS, "192.168.1.2", 2); err != nil {
		t.Fatalf("vm1 -> vm2 after the retried Apply: %v", err)
	}
}
