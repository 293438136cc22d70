package lab

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestTunnelRouteSurvivesPortChurn: bench/chaos saw every probe pair
// through one OVS node lose echoes for up to 0.6 s while a VM was plugged
// into that node's br-int. ovs-vswitchd (userspace datapath) flushes the
// routes it caches from the kernel on every link change in its namespace
// and reads them again; a tunnel packet translated in between (by the
// revalidator thread) found no route and its datapath flow became a drop
// (coverage counter drop_action_of_pipeline). The route SetupBrPhy gives
// ovs-vswitchd itself is not flushed, so while ports come and go on the
// node no tunnel packet may be dropped for want of a route, also after an
// ovs-vswitchd crash.
func TestTunnelRouteSurvivesPortChurn(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	l := testLab(t, ctx)
	var nodes []*Node
	var sw []*OVS
	for _, name := range []string{"a", "b"} {
		n, err := l.AddNode(ctx, name)
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
		nodes, sw = append(nodes, n), append(sw, o)
	}
	a := sw[0]
	if err := a.CrashVswitchd(ctx); err != nil { // the route must come back with it
		t.Fatal(err)
	}
	routes, err := a.Appctl(ctx, "ovs/route/show")
	if err != nil {
		t.Fatal(err)
	}
	want := "User: " + nodes[0].Addr.Masked().String() + " dev br-phy"
	if !strings.Contains(routes, want) {
		t.Fatalf("ovs-vswitchd's routes after a crash lack %q:\n%s", want, routes)
	}
	// One L2 segment over a VXLAN tunnel between the nodes, a VM on each.
	var vms []*VM
	for i, n := range nodes {
		if _, err := sw[i].Vsctl(ctx, "--timeout=20", "add-br", "br-int", "--", "set", "Bridge", "br-int", "datapath_type=netdev",
			"--", "add-port", "br-int", "vx", "--", "set", "Interface", "vx", "type=vxlan",
			"options:remote_ip="+nodes[1-i].IP().String(), "options:key=100"); err != nil {
			t.Fatal(err)
		}
		id := fmt.Sprintf("%08d-0000-4000-8000-000000000000", i+1)
		vif := VIF{PortID: id, MAC: fmt.Sprintf("fa:16:3e:00:00:%02x", i+1),
			Addr: netip.MustParsePrefix(fmt.Sprintf("10.9.0.%d/24", i+1)), MTU: 1450}
		vm, err := l.AddVM(ctx, n, "vm"+strconv.Itoa(i), vif)
		if err != nil {
			t.Fatal(err)
		}
		if err := sw[i].PlugVIF(ctx, "br-int", vm.Tap, id, vif.MAC, ""); err != nil {
			t.Fatal(err)
		}
		vms = append(vms, vm)
	}
	if out, err := Exec(ctx, vms[0].NS, "ping", "-c", "3", "-W", "2", "10.9.0.2"); err != nil {
		t.Fatalf("vm0 -> vm1 through the tunnel: %v\n%s", err, out)
	}
	before := pipelineDrops(t, ctx, a)
	churn, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for churn.Err() == nil {
			_, _ = a.Vsctl(churn, "add-port", "br-int", "churn0", "--", "set", "Interface", "churn0", "type=internal")
			_, _ = a.Vsctl(churn, "del-port", "br-int", "churn0")
		}
	}()
	out, _ := Exec(ctx, vms[0].NS, "ping", "-q", "-i", "0.01", "-c", "1000", "-W", "1", "10.9.0.2")
	stop()
	wg.Wait()
	if got := pipelineDrops(t, ctx, a) - before; got > 0 {
		t.Errorf("ovs-vswitchd dropped %d packets in its pipeline while ports came and went (tunnel route lookups failed):\n%s", got, out)
	}
}

// pipelineDrops is ovs-vswitchd's count of packets its translation dropped
// (coverage drop_action_of_pipeline; absent while zero).
func pipelineDrops(t *testing.T, ctx context.Context, o *OVS) int {
	t.Helper()
	out, err := o.Appctl(ctx, "coverage/read-counter", "drop_action_of_pipeline")
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("coverage/read-counter: %q: %v", out, err)
	}
	return n
}
