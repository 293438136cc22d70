// Command ovs measures the Open vSwitch data plane (internal/dataplane/ovs,
// userspace datapath_type=netdev: this kernel has no OVS module) on a lab of
// two node namespaces, each with its own ovsdb-server and ovs-vswitchd and
// the VTEP address on br-phy:
//
//   - flow programming: one Apply that installs 10,000 l2pop entries
//     (20,000 flows: table 20 unicast + table 21 ARP responder) as one
//     ovs-ofctl bundle, the cost of a one-entry change on top of them, and
//     as the reference in the same run one ovs-ofctl process per flow;
//
//   - TCP throughput (iperf3) and ping RTT VM to VM across the VXLAN
//     overlay, node to node on the underlay (through br-phy, i.e. also the
//     userspace datapath), and two namespaces joined by a plain kernel veth
//     (the machine's reference). Rounds alternate the paths; medians.
//
//     go run ./bench/dataplane/ovs [-time 5s] [-rounds 3] [-pings 200] [-flow-rounds 3]
//
// It needs root, openvswitch-switch, iperf3, ethtool and ping, and removes
// everything it created when it ends (also on Ctrl-C).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"neutrino/bench/machine"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"neutrino/internal/dataplane"
	"neutrino/internal/dataplane/dataplanetest"
	"neutrino/internal/dataplane/ovs"
	"neutrino/internal/lab"
)

func main() {
	dur := flag.Duration("time", 5*time.Second, "iperf3 duration per measurement")
	rounds := flag.Int("rounds", 3, "throughput measurements per path")
	pings := flag.Int("pings", 200, "echo requests per ping measurement")
	flowRounds := flag.Int("flow-rounds", 3, "10k-entry programming rounds")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := run(ctx, log, *dur, *rounds, *pings, *flowRounds); err != nil {
		fmt.Fprintln(os.Stderr, "bench/dataplane/ovs:", err)
		os.Exit(1)
	}
}

type node struct {
	n   *lab.Node
	ovs *lab.OVS
	dp  *ovs.Dataplane
}

type endpoint struct {
	label      string
	ns, peerNS string
	addr, peer netip.Addr
}

func run(ctx context.Context, log *slog.Logger, dur time.Duration, rounds, pings, flowRounds int) (err error) {
	l, err := lab.New(ctx, log)
	if err != nil {
		return err
	}
	var nodes []*node
	defer func() {
		cctx := context.WithoutCancel(ctx)
		for _, n := range nodes {
			if n.dp != nil {
				_ = n.dp.Close()
			}
			err = errors.Join(err, n.ovs.Stop())
		}
		err = errors.Join(err, l.Teardown(cctx))
	}()
	for _, name := range []string{"compute1", "compute2"} {
		n, err := l.AddNode(ctx, name)
		if err != nil {
			return err
		}
		o, err := lab.StartNodeOVS(ctx, n, log)
		if err != nil {
			return err
		}
		nd := &node{n: n, ovs: o}
		nodes = append(nodes, nd)
		if nd.dp, err = ovs.New(ctx, ovs.Config{OVSDB: o.OVSDB(), DatapathType: "netdev"}, log); err != nil {
			return err
		}
	}
	n1, n2 := nodes[0], nodes[1]

	// Flow programming on compute1's br-tun.
	full := dataplanetest.L2PopState(n1.n.IP(), 10, 1000, 50)
	empty := dataplanetest.L2PopState(n1.n.IP(), 10, 0, 50)
	var rates []float64
	for r := 0; r < flowRounds; r++ {
		if err := n1.dp.Apply(ctx, empty); err != nil {
			return err
		}
		start := time.Now()
		if err := n1.dp.Apply(ctx, full); err != nil {
			return err
		}
		el := time.Since(start)
		adds := n1.dp.LastApply().FlowAdds
		if adds != 20000 {
			return fmt.Errorf("apply of 10k entries added %d flows, want 20000", adds)
		}
		rates = append(rates, float64(adds)/el.Seconds())
		fmt.Fprintf(os.Stderr, "round %d: 20000 flows in %s\n", r+1, el.Round(time.Millisecond))
	}
	var changes []float64
	for r := 0; r < flowRounds; r++ {
		s := dataplanetest.L2PopState(n1.n.IP(), 10, 1000, 50)
		nt := s.Networks["net-0000"]
		nt.Entries[0].MAC = fmt.Sprintf("fa:16:3e:ff:00:%02x", r)
		s.Networks["net-0000"] = nt
		start := time.Now()
		if err := n1.dp.Apply(ctx, s); err != nil {
			return err
		}
		changes = append(changes, float64(time.Since(start).Milliseconds()))
	}
	refRate, err := perProcessRate(ctx, n1.ovs, 200)
	if err != nil {
		return err
	}

	// Overlay: one VM per node on one l2pop network.
	const mtu = 1450
	netID := "5e1f0a2b-0000-4000-8000-0000000000b1"
	vifs := []lab.VIF{
		{PortID: "11111111-aaaa-4000-8000-000000000001", MAC: "fa:16:3e:00:00:01", Addr: netip.MustParsePrefix("192.168.1.4/24"), MTU: mtu},
		{PortID: "22222222-bbbb-4000-8000-000000000002", MAC: "fa:16:3e:00:00:02", Addr: netip.MustParsePrefix("192.168.1.5/24"), MTU: mtu},
	}
	var vms []*lab.VM
	for _, nd := range nodes { // the agent's first pass creates br-int
		if err := nd.dp.Apply(ctx, dataplane.NodeState{LocalIP: nd.n.IP(), UDPPort: 4789}); err != nil {
			return err
		}
	}
	for i, nd := range nodes {
		vm, err := l.AddVM(ctx, nd.n, fmt.Sprintf("vm%d", i+1), vifs[i])
		if err != nil {
			return err
		}
		if err := nd.ovs.PlugVIF(ctx, "br-int", vm.Tap, vifs[i].PortID, vifs[i].MAC, ""); err != nil {
			return err
		}
		if err := lab.DisableOffloads(ctx, vm.NS, vm.VIF.IfName); err != nil {
			return err
		}
		vms = append(vms, vm)
	}
	for i, nd := range nodes {
		peer, them := nodes[1-i], vifs[1-i]
		s := dataplane.NodeState{LocalIP: nd.n.IP(), UDPPort: 4789, Tunnels: []netip.Addr{peer.n.IP()},
			Networks: map[string]dataplane.Network{netID: {ID: netID, VNI: 1001, MTU: mtu, L2Pop: true, ARPResponder: true,
				Flood:   []netip.Addr{peer.n.IP()},
				Entries: []dataplane.Entry{{MAC: them.MAC, IP: them.Addr.Addr(), VTEP: peer.n.IP()}}}},
			Ports: map[string]dataplane.LocalPort{vifs[i].PortID: {ID: vifs[i].PortID, NetworkID: netID, MAC: vifs[i].MAC}}}
		if err := nd.dp.Apply(ctx, s); err != nil {
			return err
		}
	}
	// Under the lab's prefix, so the lab's teardown deletes them.
	ra, rb := l.Prefix+"-refa", l.Prefix+"-refb"
	for _, ns := range []string{ra, rb} {
		if err := lab.CreateNS(ns); err != nil {
			return err
		}
	}
	for _, cmd := range [][]string{
		{"ip", "-n", ra, "link", "add", "ra", "type", "veth", "peer", "name", "rb", "netns", rb},
		{"ip", "-n", ra, "addr", "add", "198.18.9.1/24", "dev", "ra"},
		{"ip", "-n", rb, "addr", "add", "198.18.9.2/24", "dev", "rb"},
		{"ip", "-n", ra, "link", "set", "ra", "up"}, {"ip", "-n", rb, "link", "set", "rb", "up"},
	} {
		if out, err := exec.CommandContext(ctx, cmd[0], cmd[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%v: %w: %s", cmd, err, out)
		}
	}
	paths := []endpoint{
		{"kernel veth (reference)", ra, rb, netip.MustParseAddr("198.18.9.1"), netip.MustParseAddr("198.18.9.2")},
		{"underlay via br-phy (OVS userspace)", n1.n.NS, n2.n.NS, n1.n.IP(), n2.n.IP()},
		{"overlay VM to VM (OVS userspace, VXLAN)", vms[0].NS, vms[1].NS, vifs[0].Addr.Addr(), vifs[1].Addr.Addr()},
	}
	// Warm up: the userspace datapath resolves the remote VTEP's MAC on
	// first use (and drops that first packet).
	for _, e := range paths {
		if _, err := lab.Exec(ctx, e.ns, "ping", "-c", "3", "-i", "0.2", "-W", "2", e.peer.String()); err != nil {
			return fmt.Errorf("%s does not work: %w", e.label, err)
		}
	}
	tput := map[string][]float64{}
	for r := 0; r < rounds; r++ {
		for _, e := range paths {
			bps, err := iperf(ctx, e, dur)
			if err != nil {
				return err
			}
			tput[e.label] = append(tput[e.label], bps)
			fmt.Fprintf(os.Stderr, "round %d %s: %.0f Mbit/s\n", r+1, e.label, bps/1e6)
		}
	}
	lat := map[string][4]float64{}
	for _, e := range paths {
		if lat[e.label], err = lab.Ping(ctx, e.ns, e.peer, pings); err != nil {
			return err
		}
	}

	m := machine.Read()
	ovsVer, _ := exec.CommandContext(ctx, "ovs-vswitchd", "--version").Output()
	fmt.Printf("Measured %s on %s (%s, %s, load average %s), `go run ./bench/dataplane/ovs -time %s -rounds %d -pings %d -flow-rounds %d`.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), m.Host, m, strings.TrimSpace(strings.Split(string(ovsVer), "\n")[0]),
		machine.LoadAvg(), dur, rounds, pings, flowRounds)
	fmt.Println("| flow programming (br-tun, ovs-ofctl) | median | all rounds |")
	fmt.Println("|---|---|---|")
	fmt.Printf("| 10,000 l2pop entries = 20,000 flows, one Apply (one bundle) | %.0f flows/s | %s |\n", median(rates), join(rates, "%.0f"))
	fmt.Printf("| one entry changed among 10,000 (dump + diff + bundle) | %.0f ms | %s |\n", median(changes), join(changes, "%.0f"))
	fmt.Printf("| reference: one `ovs-ofctl add-flow` process per flow (200 flows) | %.0f flows/s | |\n\n", refRate)
	fmt.Println("| path | MTU | TCP throughput, median (Mbit/s) | all rounds | ping RTT min/avg/max/mdev (ms) |")
	fmt.Println("|---|---|---|---|---|")
	for _, e := range paths {
		m := 1500
		if strings.HasPrefix(e.label, "overlay") {
			m = mtu
		}
		var all []float64
		for _, v := range tput[e.label] {
			all = append(all, v/1e6)
		}
		x := lat[e.label]
		fmt.Printf("| %s | %d | %.0f | %s | %.3f/%.3f/%.3f/%.3f |\n", e.label, m, median(all), join(all, "%.0f"), x[0], x[1], x[2], x[3])
	}
	ratio := median(tput[paths[2].label]) / median(tput[paths[1].label])
	fmt.Printf("\nOverlay/underlay (both through OVS userspace) throughput ratio: **%.0f%%**.\n", ratio*100)
	return nil
}

func perProcessRate(ctx context.Context, o *lab.OVS, n int) (float64, error) {
	start := time.Now()
	for k := range n {
		flow := fmt.Sprintf("cookie=0x1,table=20,priority=2,dl_vlan=1,dl_dst=fa:16:3e:ee:%02x:%02x,actions=pop_vlan,set_field:0x3e8->tun_id,output:2", k>>8, k&0xff)
		if _, err := o.Ofctl(ctx, "-O", "OpenFlow13", "add-flow", "br-tun", flow); err != nil {
			return 0, err
		}
	}
	rate := float64(n) / time.Since(start).Seconds()
	if _, err := o.Ofctl(ctx, "-O", "OpenFlow13", "del-flows", "br-tun", "cookie=0x1/-1"); err != nil {
		return 0, err
	}
	return rate, nil
}

func iperf(ctx context.Context, e endpoint, dur time.Duration) (float64, error) {
	srv, err := lab.Start(e.peerNS, "iperf3", "-s", "-1", "--forceflush", "-B", e.peer.String())
	if err != nil {
		return 0, err
	}
	defer func() { _ = srv.Stop() }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(srv.Output(), "Server listening") {
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("iperf3 server in %s not ready: %s", e.peerNS, srv.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cctx, cancel := context.WithTimeout(ctx, dur+30*time.Second)
	defer cancel()
	out, err := lab.Exec(cctx, e.ns, "iperf3", "-c", e.peer.String(), "-t", strconv.Itoa(int(dur.Seconds())), "--connect-timeout", "3000", "-J")
	if err != nil {
		return 0, err
	}
	bps, err := lab.IperfReceived(out)
	if err != nil {
		return 0, fmt.Errorf("iperf3 output: %w", err)
	}
	return bps, nil
}

func join(v []float64, f string) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprintf(f, x)
	}
	return strings.Join(s, ", ")
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
