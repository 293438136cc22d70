package ovs

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"neutrino/internal/dataplane/dataplanetest"
	"neutrino/internal/lab"
)

// BenchmarkFlowProgramming measures installing 10,000 l2pop entries
// (20,000 flows: unicast + ARP responder) on a real ovs-vswitchd with one
// Apply, i.e. one ovs-ofctl bundle, and the cost of a one-entry change on
// top of them (diff against what was installed + bundle; no read-back).
// Reference in the same run: one ovs-ofctl add-flow process per flow, as
// a naive driver would do. bench/dataplane/cost measures the change
// against the node's size and the read-back path.
//
//	go test ./internal/dataplane/ovs -run '^$' -bench FlowProgramming -benchtime 3x
func BenchmarkFlowProgramming(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	_, nodes := newOVSLab(b, ctx, "bench")
	n := nodes["bench"]
	full := dataplanetest.L2PopState(n.node.IP(), 10, 1000, 50)
	empty := dataplanetest.L2PopState(n.node.IP(), 10, 0, 50)
	if err := n.dp.Apply(ctx, empty); err != nil {
		b.Fatal(err)
	}
	base, err := n.dp.flows.DumpFlows(ctx, "br-tun")
	if err != nil {
		b.Fatal(err)
	}

	b.Run("apply-10k-entries", func(b *testing.B) {
		var flows int
		var total time.Duration
		for b.Loop() {
			b.StopTimer()
			if err := n.dp.Apply(ctx, empty); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			start := time.Now()
			if err := n.dp.Apply(ctx, full); err != nil {
				b.Fatal(err)
			}
			total += time.Since(start)
			flows = n.dp.LastApply().FlowAdds
		}
		got, err := n.dp.flows.DumpFlows(ctx, "br-tun")
		if err != nil {
			b.Fatal(err)
		}
		if want := len(base) + 20000; len(got) != want || flows != 20000 {
			b.Fatalf("br-tun has %d flows (apply added %d), want %d", len(got), flows, want)
		}
		b.ReportMetric(float64(flows)*float64(b.N)/total.Seconds(), "flows/s")
	})

	b.Run("one-entry-change-on-10k", func(b *testing.B) {
		if err := n.dp.Apply(ctx, full); err != nil {
			b.Fatal(err)
		}
		i := 0
		for b.Loop() {
			s := dataplanetest.L2PopState(n.node.IP(), 10, 1000, 50)
			net := s.Networks["net-0000"]
			net.Entries[0].MAC = fmt.Sprintf("fa:16:3e:ff:%02x:%02x", i>>8&0xff, i&0xff)
			s.Networks["net-0000"] = net
			i++
			if err := n.dp.Apply(ctx, s); err != nil {
				b.Fatal(err)
			}
			if st := n.dp.LastApply(); st.FlowAdds != 2 || st.FlowDeletes != 1 || st.ReadBacks != 0 {
				b.Fatalf("one changed MAC: %+v, want 2 adds (unicast, ARP), 1 delete and no read-back", st)
			}
		}
	})

	b.Run("reference-ofctl-process-per-flow", func(b *testing.B) {
		const per = 200
		var total time.Duration
		for b.Loop() {
			start := time.Now()
			for k := range per {
				flow := fmt.Sprintf("cookie=0x1,table=20,priority=2,dl_vlan=1,dl_dst=fa:16:3e:ee:%02x:%02x,actions=pop_vlan,set_field:0x3e8->tun_id,output:2", k>>8, k&0xff)
				if out, err := exec.CommandContext(ctx, "ovs-ofctl", "-O", "OpenFlow13", "add-flow",
					"unix:"+n.ovs.RunDir+"/br-tun.mgmt", flow).CombinedOutput(); err != nil {
					b.Fatalf("add-flow: %v: %s", err, strings.TrimSpace(string(out)))
				}
			}
			total += time.Since(start)
			b.StopTimer()
			if out, err := exec.CommandContext(ctx, "ovs-ofctl", "-O", "OpenFlow13", "del-flows",
				"unix:"+n.ovs.RunDir+"/br-tun.mgmt", "cookie=0x1/-1").CombinedOutput(); err != nil {
				b.Fatalf("del-flows: %v: %s", err, out)
			}
			b.StartTimer()
		}
		b.ReportMetric(float64(per)*float64(b.N)/total.Seconds(), "flows/s")
	})
}

// iperf3 runs a 5-second TCP test from client namespace to server
// namespace's addr and returns the received rate in Mbit/s.
func iperf3(b *testing.B, ctx context.Context, clientNS, serverNS, addr string) float64 {
	b.Helper()
	srv, err := lab.Start(serverNS, "iperf3", "-s", "-1", "--forceflush", "-B", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = srv.Stop() }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(srv.Output(), "Server listening") {
		if time.Now().After(deadline) {
			b.Fatalf("iperf3 server did not start: %s", srv.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := lab.Exec(cctx, clientNS, "iperf3", "-J", "-t", "5", "--connect-timeout", "3000", "-c", addr)
	if err != nil {
		b.Fatalf("iperf3 %s -> %s: %v", clientNS, addr, err)
	}
	bps, err := lab.IperfReceived(out)
	if err != nil {
		b.Fatalf("iperf3 json: %v: %s", err, out)
	}
	return bps / 1e6
}

// BenchmarkThroughput: TCP throughput (iperf3, 5 s) VM to VM over the
// VXLAN overlay (br-int, br-tun, vxlan, br-phy: userspace datapath on both
// nodes), node to node on the underlay through br-phy (userspace datapath,
// no tunnel), and, as the reference in the same run, two namespaces
// joined by a plain kernel veth.
//
//	go test ./internal/dataplane/ovs -run '^$' -bench Throughput -benchtime 1x
func BenchmarkThroughput(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	l, nodes := newOVSLab(b, ctx, "compute1", "compute2")
	c1, c2 := nodes["compute1"], nodes["compute2"]
	all := []*ovsNode{c1, c2}
	hosts := map[*ovsNode][]vmSpec{c1: {vm1Port}, c2: {vm2Port}}
	applyAllTB(b, ctx, all, map[*ovsNode][]vmSpec{})
	vm1 := plug(b, ctx, l, c1, vm1Port)
	vm2 := plug(b, ctx, l, c2, vm2Port)
	applyAllTB(b, ctx, all, hosts)
	if err := ping(ctx, vm1.NS, "192.168.1.2", 2); err != nil {
		b.Fatal(err)
	}

	// Kernel reference: a veth between two namespaces of this lab.
	// Under the lab's prefix, so the lab's teardown deletes them.
	ra, rb := l.Prefix+"-refa", l.Prefix+"-refb"
	for _, ns := range []string{ra, rb} {
		if err := lab.CreateNS(ns); err != nil {
			b.Fatal(err)
		}
	}
	for _, cmd := range [][]string{
		{"ip", "-n", ra, "link", "add", "ra", "type", "veth", "peer", "name", "rb", "netns", rb},
		{"ip", "-n", ra, "addr", "add", "198.18.9.1/24", "dev", "ra"},
		{"ip", "-n", rb, "addr", "add", "198.18.9.2/24", "dev", "rb"},
		{"ip", "-n", ra, "link", "set", "ra", "up"}, {"ip", "-n", rb, "link", "set", "rb", "up"},
	} {
		if out, err := exec.CommandContext(ctx, cmd[0], cmd[1:]...).CombinedOutput(); err != nil {
			b.Fatalf("%v: %v: %s", cmd, err, out)
		}
	}
	for b.Loop() {
		overlay := iperf3(b, ctx, vm1.NS, vm2.NS, "192.168.1.2")
		underlay := iperf3(b, ctx, c1.node.NS, c2.node.NS, c2.node.IP().String())
		kernel := iperf3(b, ctx, ra, rb, "198.18.9.2")
		b.ReportMetric(overlay, "overlay-Mbit/s")
		b.ReportMetric(underlay, "underlay-brphy-Mbit/s")
		b.ReportMetric(kernel, "kernel-veth-Mbit/s")
	}
}

func applyAllTB(b testing.TB, ctx context.Context, all []*ovsNode, hosts map[*ovsNode][]vmSpec) {
	b.Helper()
	for _, n := range all {
		if err := n.dp.Apply(ctx, nodeState(n, all, hosts, true, true)); err != nil {
			b.Fatal(err)
		}
	}
}
