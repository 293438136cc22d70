// Command cost measures what the data planes cost per change and at rest
// on one lab node (a network namespace; OVS: its own ovsdb-server and
// ovs-vswitchd, userspace datapath):
//
//   - -change (OVS): the cost of one l2pop entry changed on a node holding
//     N entries (2N flows on br-tun), for each N of -sizes: an Apply that
//     diffs against what the data plane installed, sent by the native
//     OpenFlow client (a connection kept open; "after") and, on a second
//     data plane with the same cookie, by one ovs-ofctl process per bundle
//     (of_interface ovs-ofctl, the client before); the same change through
//     the full read-back path (Resync, then Apply: dump-flows, diff,
//     bundle; "before"); and as the reference, in the same run and
//     interleaved with them, one `ovs-ofctl add-flow` process on the same
//     bridge. Medians of -changes.
//
//     go run ./bench/dataplane/cost -change -sizes 100,1000,10000,50000 -changes 15
//
//   - -bundles (OVS): one bundle of N flows for each N of the list, native
//     client against one `ovs-ofctl --bundle add-flows` process,
//     interleaved, -changes of each.
//
//     go run ./bench/dataplane/cost -bundles 1,3,1000,10000 -changes 15
//
//   - -change -mechanism linuxbridge: the same for the Linux data plane
//     (FDB and neighbour entries on vxlan devices), with the netlink
//     requests each Apply sent (linux.ApplyStats) and the FDB/neighbour
//     changes the kernel announced, and one `bridge fdb append` process
//     as the reference (linuxchange.go).
//
//     go run ./bench/dataplane/cost -change -mechanism linuxbridge -sizes 100,1000,10000,50000 -changes 15
//
//   - -idle: CPU of a real agent (internal/agent, fed one snapshot by an
//     in-process stand-in for the server) on a node holding -entries l2pop
//     entries while nothing changes, over -window: the agent process, and
//     for OVS also ovs-vswitchd and ovsdb-server (from /proc). Two phases
//     in the same run: resync_interval 300 s (the default: polling passes
//     only list devices) and resync_interval = polling_interval = 2 s,
//     which reads everything back on every pass as the agent did before.
//
//     go run ./bench/dataplane/cost -idle -mechanism openvswitch -entries 10000 -window 60s
//     go run ./bench/dataplane/cost -idle -mechanism linuxbridge -entries 10000 -window 60s
//
// It needs root (and openvswitch-switch for OVS) and removes everything it
// created when it ends, also on Ctrl-C.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"neutrino/bench/machine"
	"neutrino/internal/agent"
	"neutrino/internal/config"
	"neutrino/internal/dataplane"
	"neutrino/internal/dataplane/dataplanetest"
	"neutrino/internal/dataplane/linux"
	"neutrino/internal/dataplane/ovs"
	"neutrino/internal/l2pop"
	"neutrino/internal/lab"
	"neutrino/internal/neutron"
	"neutrino/internal/openflow"
	"neutrino/internal/rpc"
)

func main() {
	change := flag.Bool("change", false, "measure one-entry change cost (-mechanism openvswitch or linuxbridge)")
	bundles := flag.String("bundles", "", "time bundles of these flow counts, native OpenFlow client against ovs-ofctl (OVS)")
	idle := flag.Bool("idle", false, "measure idle CPU of an agent")
	sizes := flag.String("sizes", "100,1000,10000,50000", "entries per node for -change")
	changes := flag.Int("changes", 15, "changes (and reference processes) per size")
	mech := flag.String("mechanism", "openvswitch", "openvswitch or linuxbridge")
	entries := flag.Int("entries", 10000, "entries on the node (-idle)")
	window := flag.Duration("window", time.Minute, "idle measurement window per phase")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	fmt.Printf("machine: %s\nstart: %s UTC, load average %s\n", machine.Read(), time.Now().UTC().Format("2006-01-02 15:04:05"), machine.LoadAvg())
	var err error
	counts := func(list string) []int {
		var ns []int
		for _, f := range strings.Split(list, ",") {
			n, e := strconv.Atoi(strings.TrimSpace(f))
			if e != nil || n < 1 {
				fmt.Fprintf(os.Stderr, "bad size %q\n", f)
				os.Exit(2)
			}
			ns = append(ns, n)
		}
		return ns
	}
	switch {
	case *bundles != "":
		ns := counts(*bundles)
		err = withNode(ctx, log, true, func(n *lab.Node, o *lab.OVS) error { return bundleCost(ctx, log, n, o, ns, *changes) })
	case *change:
		ns := counts(*sizes)
		if *mech == agent.KindLinuxBridge {
			err = withNode(ctx, log, false, func(n *lab.Node, _ *lab.OVS) error { return linuxChangeCost(ctx, log, n, ns, *changes) })
			break
		}
		err = withNode(ctx, log, true, func(n *lab.Node, o *lab.OVS) error { return changeCost(ctx, log, n, o, ns, *changes) })
	case *idle:
		err = withNode(ctx, log, *mech == agent.KindOVS, func(n *lab.Node, o *lab.OVS) error {
			return idleCPU(ctx, log, *mech, n, o, *entries, *window)
		})
	default:
		err = errors.New("say -change, -bundles or -idle")
	}
	fmt.Printf("end: %s UTC, load average %s\n", time.Now().UTC().Format("2006-01-02 15:04:05"), machine.LoadAvg())
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/dataplane/cost:", err)
		os.Exit(1)
	}
}

// withNode builds a one-node lab (with OVS when withOVS), runs fn and
// tears everything down.
func withNode(ctx context.Context, log *slog.Logger, withOVS bool, fn func(*lab.Node, *lab.OVS) error) (err error) {
	l, err := lab.New(ctx, log)
	if err != nil {
		return err
	}
	var o *lab.OVS
	defer func() {
		if o != nil {
			err = errors.Join(err, o.Stop())
		}
		err = errors.Join(err, l.Teardown(context.WithoutCancel(ctx)))
	}()
	n, err := l.AddNode(ctx, "cost")
	if err != nil {
		return err
	}
	if withOVS {
		if o, err = lab.StartNodeOVS(ctx, n, log); err != nil {
			return err
		}
	}
	return fn(n, o)
}

// shape spreads n entries over networks of at most 1,000 remote ports.
func shape(n int) (nets, perNet int) {
	nets = max(1, (n+999)/1000)
	return nets, n / nets
}

func changeCost(ctx context.Context, log *slog.Logger, n *lab.Node, o *lab.OVS, sizes []int, changes int) error {
	// Two data planes on the same switch with the same cookie, one per
	// OpenFlow client: each change is timed on one of them, then the
	// other applies the same state untimed, so both records stay true.
	dp, err := ovs.New(ctx, ovs.Config{OVSDB: o.OVSDB(), DatapathType: "netdev"}, log)
	if err != nil {
		return err
	}
	defer dp.Close()
	dpOfctl, err := ovs.New(ctx, ovs.Config{OVSDB: o.OVSDB(), DatapathType: "netdev", OFInterface: ovs.OFOfctl, Cookie: dp.Cookie()}, log)
	if err != nil {
		return err
	}
	defer dpOfctl.Close()
	mgmt := "unix:" + filepath.Join(o.RunDir, "br-tun.mgmt")
	vswitchd := pidOf(filepath.Join(o.RunDir, "ovs-vswitchd.pid"))
	// cpu is the CPU time (this process with its ovs-ofctl children, and
	// ovs-vswitchd) in clock ticks, the measure that load on the machine
	// disturbs least.
	cpu := func() int64 { return cpuTicks("self") + cpuTicks(vswitchd) }
	fmt.Println("\n| entries on the node (networks) | one entry changed, native OpenFlow client: median wall | range | same change, ovs-ofctl process per bundle: median wall | range | before: same change with read-back (native), median wall | reference: one `ovs-ofctl add-flow` process, median wall | native / reference (wall) | ovs-ofctl client / reference (wall) | CPU per change: native / ovs-ofctl client / read-back / reference (ms) |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|")
	for _, size := range sizes {
		nets, per := shape(size)
		s := dataplanetest.L2PopState(n.IP(), nets, per, 50)
		start := time.Now()
		if err := dp.Apply(ctx, s); err != nil {
			return err
		}
		if err := dpOfctl.Apply(ctx, s); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "%d entries installed in %s\n", nets*per, time.Since(start).Round(time.Millisecond))
		var native, ofctl, before, ref []time.Duration
		var cpuNative, cpuOfctl, cpuBefore, cpuRef int64
		// change applies s with one MAC changed on the timed data plane,
		// checks it sent 2 adds and 1 delete, and brings the other along.
		change := func(mac string, timed, other *ovs.Dataplane, readBack bool, wall *[]time.Duration, ticks *int64) error {
			net := s.Networks["net-0000"]
			net.Entries = slices.Clone(net.Entries)
			net.Entries[0].MAC = mac
			s.Networks["net-0000"] = net
			if readBack {
				timed.Resync()
			}
			c0, t0 := cpu(), time.Now()
			if err := timed.Apply(ctx, s); err != nil {
				return err
			}
			*wall = append(*wall, time.Since(t0))
			*ticks += cpu() - c0
			wantReads := 0
			if readBack {
				wantReads = 2
			}
			if st := timed.LastApply(); st.FlowAdds != 2 || st.FlowDeletes != 1 || st.ReadBacks != wantReads {
				return fmt.Errorf("one changed MAC: %+v, want 2 adds, 1 delete, %d read-backs", st, wantReads)
			}
			return other.Apply(ctx, s)
		}
		for i := range changes {
			if err := change(fmt.Sprintf("fa:16:3e:fe:%02x:%02x", i>>8&0xff, i&0xff), dp, dpOfctl, false, &native, &cpuNative); err != nil {
				return err
			}
			if err := change(fmt.Sprintf("fa:16:3e:fc:%02x:%02x", i>>8&0xff, i&0xff), dpOfctl, dp, false, &ofctl, &cpuOfctl); err != nil {
				return err
			}
			// Reference: one ovs-ofctl process adding one flow.
			flow := fmt.Sprintf("cookie=0x1,table=20,priority=2,dl_vlan=4000,dl_dst=fa:16:3e:ee:%02x:%02x,actions=pop_vlan,set_field:0x3e8->tun_id,output:2", i>>8&0xff, i&0xff)
			c0, t0 := cpu(), time.Now()
			if out, err := exec.CommandContext(ctx, "ovs-ofctl", "-O", "OpenFlow13", "add-flow", mgmt, flow).CombinedOutput(); err != nil {
				return fmt.Errorf("add-flow: %v: %s", err, out)
			}
			ref = append(ref, time.Since(t0))
			cpuRef += cpu() - c0
			if out, err := exec.CommandContext(ctx, "ovs-ofctl", "-O", "OpenFlow13", "del-flows", mgmt, "cookie=0x1/-1").CombinedOutput(); err != nil {
				return fmt.Errorf("del-flows: %v: %s", err, out)
			}
			// Before: the next change through the read-back path.
			if err := change(fmt.Sprintf("fa:16:3e:fd:%02x:%02x", i>>8&0xff, i&0xff), dp, dpOfctl, true, &before, &cpuBefore); err != nil {
				return err
			}
		}
		mn, mo, mb, mr := median(native), median(ofctl), median(before), median(ref)
		perChange := func(ticks int64) float64 { return float64(ticks) * 10 / float64(changes) } // 100 ticks/s
		fmt.Printf("| %d (%d) | %s | %s | %s | %s | %s | %s | %.2f | %.2f | %.1f / %.1f / %.1f / %.1f |\n", nets*per, nets, ms(mn), list(native), ms(mo), list(ofctl),
			ms(mb), ms(mr), float64(mn)/float64(mr), float64(mo)/float64(mr),
			perChange(cpuNative), perChange(cpuOfctl), perChange(cpuBefore), perChange(cpuRef))
	}
	return nil
}

// bundleCost times one bundle of n flows on br-tun through the native
// OpenFlow client (a connection kept open; the add-flows text parsed and
// encoded, as the data plane sends it) and through one `ovs-ofctl
// --bundle add-flows` process, interleaved, for each n of sizes; each
// bundle's flows are deleted again (untimed) before the next.
func bundleCost(ctx context.Context, log *slog.Logger, n *lab.Node, o *lab.OVS, sizes []int, reps int) error {
	dp, err := ovs.New(ctx, ovs.Config{OVSDB: o.OVSDB(), DatapathType: "netdev"}, log)
	if err != nil {
		return err
	}
	defer dp.Close()
	if err := dp.Apply(ctx, dataplane.NodeState{LocalIP: n.IP(), UDPPort: 4789}); err != nil { // the bridges
		return err
	}
	path := filepath.Join(o.RunDir, "br-tun.mgmt")
	client := openflow.NewClient(path, openflow.Options{Logger: log})
	defer client.Close()
	wipe, err := openflow.ParseFlowMod("delete cookie=0x77/-1")
	if err != nil {
		return err
	}
	fmt.Println("\n| flows in the bundle | native OpenFlow client (connection open): median wall | range | one `ovs-ofctl --bundle add-flows` process: median wall | range | ovs-ofctl / native |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, size := range sizes {
		var native, ofctl []time.Duration
		for r := range reps {
			lines := make([]string, size)
			for i := range lines {
				lines[i] = fmt.Sprintf("add cookie=0x77,table=20,priority=2,dl_vlan=%d,dl_dst=fa:16:3e:%02x:%02x:%02x actions=pop_vlan,set_field:0x3e8->tun_id,output:2",
					1+r%2, i>>16&0xff, i>>8&0xff, i&0xff)
			}
			t0 := time.Now()
			mods := make([]*openflow.FlowMod, len(lines))
			for i, l := range lines {
				if mods[i], err = openflow.ParseFlowMod(l); err != nil {
					return err
				}
			}
			if err := client.Bundle(ctx, mods); err != nil {
				return err
			}
			native = append(native, time.Since(t0))
			if err := client.Bundle(ctx, []*openflow.FlowMod{wipe}); err != nil {
				return err
			}
			cmd := exec.CommandContext(ctx, "ovs-ofctl", "-O", "OpenFlow13", "--no-names", "--bundle", "add-flows", "unix:"+path, "-")
			cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
			t0 = time.Now()
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("ovs-ofctl bundle: %v: %s", err, out)
			}
			ofctl = append(ofctl, time.Since(t0))
			if err := client.Bundle(ctx, []*openflow.FlowMod{wipe}); err != nil {
				return err
			}
		}
		mn, mo := median(native), median(ofctl)
		fmt.Printf("| %d | %s | %s | %s | %s | %.1f |\n", size, ms(mn), list(native), ms(mo), list(ofctl), float64(mo)/float64(mn))
	}
	return nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func list(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	return fmt.Sprintf("%s-%s", ms(s[0]), ms(s[len(s)-1]))
}

// noObserve is a data plane without dataplane.Observer.
type noObserve struct{ dataplane.Dataplane }

func (n noObserve) Resync()       { n.Dataplane.(dataplane.Resyncer).Resync() }
func (n noObserve) Drifted() bool { return n.Dataplane.(dataplane.Resyncer).Drifted() }
func (n noObserve) DeviceEvents() <-chan struct{} {
	if d, ok := n.Dataplane.(dataplane.DeviceNotifier); ok {
		return d.DeviceEvents()
	}
	return nil
}

// staticServer stands in for the server: one snapshot, then silence.
type staticServer struct{ view l2pop.View }

func (s staticServer) ReportState(context.Context, neutron.AgentReport) (string, error) {
	return "", nil
}
func (s staticServer) UpdateDevice(context.Context, string, string, bool) (string, error) {
	return "", nil
}
func (s staticServer) Watch(ctx context.Context, _ string, last int64, fn func(rpc.Update) error) error {
	if last == 0 {
		v := s.view
		if err := fn(rpc.Update{Revision: 1, Snapshot: &v}); err != nil {
			return err
		}
	}
	<-ctx.Done()
	return ctx.Err()
}

func idleCPU(ctx context.Context, log *slog.Logger, mech string, n *lab.Node, o *lab.OVS, entries int, window time.Duration) error {
	nets, per := shape(entries)
	st := dataplanetest.L2PopState(n.IP(), nets, per, 50)
	view := l2pop.View{Host: "cost", LocalIP: n.IP(), L2Pop: true, Tunnels: st.Tunnels,
		Networks: map[string]l2pop.NetView{}, Ports: map[string]l2pop.LocalPort{}}
	type vif struct{ port, mac, dev string }
	var vifs []vif
	for i, key := range sortedKeys(st.Networks) {
		nt := st.Networks[key]
		id := fmt.Sprintf("%08d-1111-4000-8000-000000000000", i) // a Neutron-like id: bridge brq<11 chars>
		nv := l2pop.NetView{ID: id, NetHeader: l2pop.NetHeader{Type: "vxlan", VNI: nt.VNI, MTU: 1450}, Flood: nt.Flood}
		for _, e := range nt.Entries {
			nv.Entries = append(nv.Entries, l2pop.Entry{MAC: e.MAC, IP: e.IP, VTEP: e.VTEP})
		}
		view.Networks[id] = nv
		port := fmt.Sprintf("%08d-0000-4000-8000-%012d", i, i)
		v := vif{port: port, mac: fmt.Sprintf("fa:16:3e:77:00:%02x", i), dev: "tap" + port[:11]}
		vifs = append(vifs, v)
		view.Ports[port] = l2pop.LocalPort{ID: port, NetworkID: id, MAC: v.mac, Status: neutron.StatusActive}
	}

	var dp dataplane.Dataplane
	var daemons map[string]string // name -> pidfile
	if mech == agent.KindOVS {
		d, err := ovs.New(ctx, ovs.Config{OVSDB: o.OVSDB(), DatapathType: "netdev"}, log)
		if err != nil {
			return err
		}
		// Bridges first (as an agent's first pass would), then the VM
		// ports, plugged as os-vif does.
		if err := d.Apply(ctx, dataplane.NodeState{LocalIP: n.IP(), UDPPort: 4789}); err != nil {
			return err
		}
		for _, v := range vifs {
			if _, err := o.Vsctl(ctx, "--timeout=20", "add-port", "br-int", v.dev, "--", "set", "Interface", v.dev, "type=internal",
				"external_ids:iface-id="+v.port, "external_ids:attached-mac="+v.mac, "external_ids:iface-status=active"); err != nil {
				return err
			}
			// os-vif's devices are up; an internal port starts down.
			if _, err := lab.Exec(ctx, n.NS, "ip", "link", "set", v.dev, "up"); err != nil {
				return err
			}
		}
		dp = d
		daemons = map[string]string{"ovs-vswitchd": filepath.Join(o.RunDir, "ovs-vswitchd.pid"), "ovsdb-server": filepath.Join(o.RunDir, "ovsdb-server.pid")}
	} else {
		// Taps as veth pairs (this kernel has no dummy module); the peer
		// stands for the VM side.
		for i, v := range vifs {
			if _, err := lab.Exec(ctx, n.NS, "ip", "link", "add", v.dev, "address", v.mac, "type", "veth", "peer", "name", fmt.Sprintf("vmside%d", i)); err != nil {
				return err
			}
			if _, err := lab.Exec(ctx, n.NS, "ip", "link", "set", v.dev, "up"); err != nil {
				return err
			}
		}
		d, err := linux.New(linux.Options{NetNS: n.NS, Logger: log})
		if err != nil {
			return err
		}
		dp = d
	}
	defer dp.Close()

	fmt.Printf("\n%s agent, %d entries (%d networks x %d), polling_interval 2s, window %s\n", mech, nets*per, nets, per, window)
	header := append(append([]string{"phase", "agent process CPU (% of a core)"}, sortedKeys(daemons)...), "total", "Apply calls in window", "full passes in window")
	fmt.Println("\n| " + strings.Join(header, " | ") + " |")
	fmt.Println("|" + strings.Repeat("---|", len(header)))
	for _, ph := range []struct {
		name    string
		resync  time.Duration
		observe bool
	}{
		{"resync_interval 300 s (default)", 300 * time.Second, true},
		{"read-back every pass, as every polling pass did before (resync_interval 2 s, audit off)", 2 * time.Second, false},
		{"full pass with the audit every 2 s (resync_interval 2 s)", 2 * time.Second, true},
	} {
		var agentDP dataplane.Dataplane = dp
		if !ph.observe {
			// Hide dataplane.Observer: the agent then audits nothing and
			// a full pass is one Apply with a read-back, what each
			// polling pass cost before.
			agentDP = noObserve{dp}
		}
		cfg := &config.Agent{Host: "cost", LocalIP: n.IP().String(), L2Population: true, ARPResponder: true,
			TunnelTypes: []string{"vxlan"}, VXLANUDPPort: 4789, PollingInterval: 2 * time.Second, ResyncInterval: ph.resync,
			ReportInterval: 30 * time.Second, IntegrationBridge: "br-int", TunnelBridge: "br-tun", DatapathType: "netdev", EnableVXLAN: true}
		var applies atomic.Int64
		a, err := agent.New(agent.Options{Kind: mech, Config: cfg, Server: staticServer{view}, Dataplane: agentDP, Logger: log,
			OnApplied: func(int64) { applies.Add(1) }})
		if err != nil {
			return err
		}
		actx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); _ = a.Run(actx) }()
		// Converged: applied, then a quiet settle so the start's full pass
		// and the device events are over.
		for a.AppliedRevision() == 0 && ctx.Err() == nil {
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(5 * time.Second)
		if err := printHeld(ctx, mech, n, o); err != nil {
			cancel()
			<-done
			return err
		}
		applies0, full0 := applies.Load(), a.FullPasses()
		self0 := cpuTicks("self")
		d0 := map[string]int64{}
		for name, pf := range daemons {
			d0[name] = cpuTicks(pidOf(pf))
		}
		t0 := time.Now()
		select {
		case <-ctx.Done():
		case <-time.After(window):
		}
		el := time.Since(t0).Seconds()
		pct := func(ticks int64) float64 { return float64(ticks) / 100 / el * 100 } // USER_HZ = 100
		row := fmt.Sprintf("| %s | %.2f %% |", ph.name, pct(cpuTicks("self")-self0))
		total := pct(cpuTicks("self") - self0)
		for _, name := range sortedKeys(daemons) {
			v := pct(cpuTicks(pidOf(daemons[name])) - d0[name])
			total += v
			row += fmt.Sprintf(" %.2f %% |", v)
		}
		fmt.Printf("%s %.2f %% | %d | %d |\n", row, total, applies.Load()-applies0, a.FullPasses()-full0)
		cancel()
		<-done
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return nil
}

// printHeld says how much the node really holds (so the idle figure is
// not that of an empty node).
func printHeld(ctx context.Context, mech string, n *lab.Node, o *lab.OVS) error {
	if mech == agent.KindOVS {
		out, err := o.Ofctl(ctx, "-O", "OpenFlow13", "dump-flows", "br-tun")
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "br-tun holds %d flows\n", strings.Count(out, "cookie="))
		return nil
	}
	fdb, err := lab.Exec(ctx, n.NS, "bridge", "fdb", "show")
	if err != nil {
		return err
	}
	neigh, err := lab.Exec(ctx, n.NS, "ip", "neigh", "show")
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "kernel holds %d static FDB entries, %d permanent neighbour entries\n",
		strings.Count(string(fdb), "self permanent"), strings.Count(string(neigh), "PERMANENT"))
	return nil
}

func pidOf(pidfile string) string {
	b, _ := os.ReadFile(pidfile)
	return strings.TrimSpace(string(b))
}

// cpuTicks is utime+stime of a process plus those of its waited-for
// children (the ovs-ofctl processes the agent runs), in clock ticks.
func cpuTicks(pid string) int64 {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	var t int64
	for _, i := range []int{11, 12, 13, 14} { // utime stime cutime cstime (fields 14-17)
		v, _ := strconv.ParseInt(f[i], 10, 64)
		t += v
	}
	return t
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
