// Command dataplane measures the Linux kernel data plane: TCP throughput
// (iperf3) and ping round-trip time VM to VM across the VXLAN overlay,
// against node to node on the underlay, in the same run on the same lab
// (two node namespaces joined by a veth/bridge underlay, one VM namespace
// on each, the data plane programmed by internal/dataplane/linux with
// l2population entries). Rounds alternate underlay and overlay so load
// from other processes hits both alike; the median is reported.
//
//	go run ./bench/dataplane [-mechanism linuxbridge] [-time 10s] [-rounds 3] [-pings 200]
//
// It needs root (namespaces), iperf3 and ping, and removes everything it
// created when it ends (also on Ctrl-C).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"neutrino/bench/machine"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"neutrino/internal/dataplane"
	"neutrino/internal/dataplane/linux"
	"neutrino/internal/lab"
)

func main() {
	dur := flag.Duration("time", 10*time.Second, "iperf3 duration per measurement")
	rounds := flag.Int("rounds", 3, "measurements per path (alternating underlay/overlay)")
	pings := flag.Int("pings", 200, "echo requests per ping measurement")
	mech := flag.String("mechanism", "linuxbridge", "data plane to measure (a key of setups)")
	flag.Parse()
	setup, ok := setups()[*mech]
	if !ok {
		fmt.Fprintf(os.Stderr, "bench/dataplane: unknown -mechanism %q\n", *mech)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := run(ctx, log, *mech, setup, *dur, *rounds, *pings); err != nil {
		fmt.Fprintln(os.Stderr, "bench/dataplane:", err)
		os.Exit(1)
	}
}

// setupFunc builds one data plane's overlay in the lab: two nodes and a VM
// on each, programmed and working. It returns the two paths to measure.
type setupFunc func(ctx context.Context, l *lab.Lab, log *slog.Logger) (under, over endpoint, err error)

// setups are the data planes this benchmark knows. Other data planes add
// their own setup function in a file of their own and one line here.
func setups() map[string]setupFunc {
	return map[string]setupFunc{"linuxbridge": setupLinux}
}

type endpoint struct {
	label  string
	ns     string
	addr   netip.Addr
	peerNS string
	peer   netip.Addr
	mtu    int
}

func run(ctx context.Context, log *slog.Logger, mech string, setup setupFunc, dur time.Duration, rounds, pings int) (err error) {
	l, err := lab.New(ctx, log)
	if err != nil {
		return err
	}
	defer func() {
		if terr := l.Teardown(context.WithoutCancel(ctx)); terr != nil && err == nil {
			err = terr
		}
	}()
	under, over, err := setup(ctx, l, log)
	if err != nil {
		return fmt.Errorf("%s setup: %w", mech, err)
	}
	if _, err := lab.Exec(ctx, over.ns, "ping", "-c", "3", "-i", "0.2", "-W", "2", over.peer.String()); err != nil {
		return fmt.Errorf("overlay does not work: %w", err)
	}
	return measure(ctx, l, mech, under, over, dur, rounds, pings)
}

// setupLinux is internal/dataplane/linux with l2population entries and
// the ARP responder.
func setupLinux(ctx context.Context, l *lab.Lab, log *slog.Logger) (under, over endpoint, err error) {
	n1, err := l.AddNode(ctx, "compute1")
	if err != nil {
		return under, over, err
	}
	n2, err := l.AddNode(ctx, "compute2")
	if err != nil {
		return under, over, err
	}
	const mtu = 1450 // 1500 underlay - 50 (outer IPv4 + UDP + VXLAN + inner Ethernet)
	netID := "5e1f0a2b-0000-4000-8000-00000000bench"
	v1 := lab.VIF{PortID: "11111111-aaaa-4000-8000-000000000001", MAC: "fa:16:3e:00:00:01", Addr: netip.MustParsePrefix("192.168.1.4/24"), MTU: mtu}
	v2 := lab.VIF{PortID: "22222222-bbbb-4000-8000-000000000002", MAC: "fa:16:3e:00:00:02", Addr: netip.MustParsePrefix("192.168.1.5/24"), MTU: mtu}
	vm1, err := l.AddVM(ctx, n1, "vm1", v1)
	if err != nil {
		return under, over, err
	}
	vm2, err := l.AddVM(ctx, n2, "vm2", v2)
	if err != nil {
		return under, over, err
	}
	state := func(self, peer *lab.Node, mine, theirs lab.VIF) dataplane.NodeState {
		return dataplane.NodeState{
			LocalIP: self.IP(), UDPPort: 4789,
			Networks: map[string]dataplane.Network{netID: {ID: netID, VNI: 1001, MTU: mtu, L2Pop: true, ARPResponder: true,
				Flood:   []netip.Addr{peer.IP()},
				Entries: []dataplane.Entry{{MAC: theirs.MAC, IP: theirs.Addr.Addr(), VTEP: peer.IP()}}}},
			Ports: map[string]dataplane.LocalPort{mine.PortID: {ID: mine.PortID, NetworkID: netID, MAC: mine.MAC}},
		}
	}
	for _, x := range []struct {
		n, p       *lab.Node
		mine, them lab.VIF
	}{{n1, n2, v1, v2}, {n2, n1, v2, v1}} {
		dp, err := linux.New(linux.Options{NetNS: x.n.NS, Logger: log})
		if err != nil {
			return under, over, err
		}
		err = dp.Apply(ctx, state(x.n, x.p, x.mine, x.them))
		dp.Close()
		if err != nil {
			return under, over, fmt.Errorf("apply on %s: %w", x.n.Name, err)
		}
	}
	under = endpoint{"underlay (node to node)", n1.NS, n1.IP(), n2.NS, n2.IP(), 1500}
	over = endpoint{"overlay (VM to VM, VXLAN)", vm1.NS, v1.Addr.Addr(), vm2.NS, v2.Addr.Addr(), mtu}
	return under, over, nil
}

// measure runs the rounds and prints the markdown result.
func measure(ctx context.Context, l *lab.Lab, mech string, under, over endpoint, dur time.Duration, rounds, pings int) (err error) {

	tput := map[string][]float64{}
	for r := 0; r < rounds; r++ {
		for _, e := range []endpoint{under, over} {
			bps, err := iperf(ctx, l, e, dur)
			if err != nil {
				return err
			}
			tput[e.label] = append(tput[e.label], bps)
			fmt.Fprintf(os.Stderr, "round %d %s: %.2f Gbit/s\n", r+1, e.label, bps/1e9)
		}
	}
	type rtt struct{ fwd, rev [4]float64 }
	lat := map[string]rtt{}
	for _, e := range []endpoint{under, over} {
		var x rtt
		if x.fwd, err = lab.Ping(ctx, e.ns, e.peer, pings); err != nil {
			return err
		}
		if x.rev, err = lab.Ping(ctx, e.peerNS, e.addr, pings); err != nil {
			return err
		}
		lat[e.label] = x
	}

	m := machine.Read()
	fmt.Printf("Measured %s on %s (%s, load average %s at the end), `go run ./bench/dataplane -mechanism %s -time %s -rounds %d -pings %d`.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), m.Host, m, machine.LoadAvg(), mech, dur, rounds, pings)
	fmt.Printf("Data plane: %s.\n\n", mech)
	fmt.Println("| path | MTU | TCP throughput, median of rounds (Gbit/s) | all rounds | ping RTT min/avg/max/mdev (ms), forward | reverse |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, e := range []endpoint{under, over} {
		m := e.mtu
		var all []string
		for _, v := range tput[e.label] {
			all = append(all, fmt.Sprintf("%.2f", v/1e9))
		}
		x := lat[e.label]
		fmt.Printf("| %s | %d | %.2f | %s | %s | %s |\n", e.label, m, median(tput[e.label])/1e9, strings.Join(all, ", "), fmtRTT(x.fwd), fmtRTT(x.rev))
	}
	ratio := median(tput[over.label]) / median(tput[under.label])
	// Each round's pair ran back to back, so its ratio is the least
	// disturbed by load that changes over the run.
	var pairs []float64
	var pairText []string
	for i := range tput[over.label] {
		r := tput[over.label][i] / tput[under.label][i]
		pairs = append(pairs, r)
		pairText = append(pairText, fmt.Sprintf("%.0f%%", r*100))
	}
	fmt.Printf("\nOverlay/underlay throughput: **%.0f%%** of medians; per round %s (median %.0f%%). Goal >= 85%%.\n",
		ratio*100, strings.Join(pairText, ", "), median(pairs)*100)
	return nil
}

func iperf(ctx context.Context, l *lab.Lab, e endpoint, dur time.Duration) (float64, error) {
	srv, err := l.Start(e.peerNS, "iperf3", "-s", "-1", "--forceflush", "-B", e.peer.String())
	if err != nil {
		return 0, err
	}
	defer srv.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(srv.Output(), "Server listening") {
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("iperf3 server in %s not ready: %s", e.peerNS, srv.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	out, err := lab.Exec(ctx, e.ns, "iperf3", "-c", e.peer.String(), "-t", strconv.Itoa(int(dur.Seconds())), "-J")
	if err != nil {
		return 0, err
	}
	bps, err := lab.IperfReceived(out)
	if err != nil {
		return 0, fmt.Errorf("iperf3 output: %w", err)
	}
	return bps, nil
}

func fmtRTT(r [4]float64) string {
	return fmt.Sprintf("%.3f/%.3f/%.3f/%.3f", r[0], r[1], r[2], r[3])
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
