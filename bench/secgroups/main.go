// Command secgroups measures issue 13's server side: how long a
// security-group change takes from the plugin call (what an API request
// runs) to the agent's data plane holding it, with the real ML2 plugin on
// SQLite, the real gRPC stream and real agents on fake data planes (so the
// run measures the server, the stream and the agent, not a kernel).
//
//	go run ./bench/secgroups -ports 1,100,1000 -events 30 -members 2000
//
// Host A has the measured ports, all in group "web"; web admits the
// members of group "members" (a remote group). Events: a TCP rule created
// in web (one new rule for every port of host A); a port joining
// "members" (one new element of host A's remote-group set). It reports
// latency percentiles and what the server sent per event.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"neutrino/bench/machine"
	"neutrino/internal/agent"
	"neutrino/internal/config"
	"neutrino/internal/dataplane"
	"neutrino/internal/dataplane/fake"
	"neutrino/internal/l2pop"
	"neutrino/internal/ml2"
	"neutrino/internal/neutron"
	"neutrino/internal/rpc"
	"neutrino/internal/store"
)

const project = "bench"

func main() {
	portsFlag := flag.String("ports", "1,100,1000", "ports on host A (cumulative steps)")
	events := flag.Int("events", 30, "measured events of each kind per step")
	members := flag.Int("members", 2000, "members of the remote group before the member events")
	flag.Parse()
	if err := run(*portsFlag, *events, *members); err != nil {
		fmt.Fprintln(os.Stderr, "secgroups:", err)
		os.Exit(1)
	}
}

// watch is host A's data plane hook: it wakes waiters when an applied
// state satisfies their condition.
type watch struct {
	mu   sync.Mutex
	cond func(dataplane.NodeState) bool
	done chan time.Time
	last dataplane.NodeState // the latest applied state
}

func (w *watch) applied(st dataplane.NodeState) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.last = st
	w.check()
}

// check fires the armed condition if the last applied state meets it.
// Callers hold mu.
func (w *watch) check() {
	if w.cond != nil && w.cond(w.last) {
		w.done <- time.Now()
		w.cond = nil
	}
}

// recheck tests the latest state again (a condition that depends on what
// act returned may hold for a state applied before act returned).
func (w *watch) recheck() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.check()
}

// until arms cond, runs act and returns when cond held.
func (w *watch) until(cond func(dataplane.NodeState) bool, act func() error) (time.Time, error) {
	w.mu.Lock()
	w.cond, w.done = cond, make(chan time.Time, 1)
	w.mu.Unlock()
	if err := act(); err != nil {
		return time.Time{}, err
	}
	select {
	case t := <-w.done:
		return t, nil
	case <-time.After(30 * time.Second):
		return time.Time{}, fmt.Errorf("not applied within 30 s")
	}
}

func run(portsFlag string, events, members int) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "secgroups-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	st, err := store.OpenMigrated(ctx, "sqlite:///"+filepath.Join(dir, "neutrino.db"), true, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	p, err := ml2.New(ctx, st, &config.Server{GlobalPhysnetMTU: 1500, BaseMAC: "fa:16:3e:00:00:00", AgentDownTime: 75 * time.Second,
		TypeDrivers: []string{"vxlan"}, TenantNetworkTypes: []string{"vxlan"}, MechanismDrivers: []string{"openvswitch", "l2population"},
		VNIRanges: []config.Range{{Min: 1001, Max: 2000}}}, nil)
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := rpc.NewServer(p, rpc.ServerConfig{L2Pop: l2pop.Config{Enabled: true}})
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	go srv.Serve(sctx, lis)
	w := &watch{}
	dpA := fake.New()
	dpA.OnApply = w.applied
	for i, h := range []struct {
		host string
		dp   *fake.Dataplane
	}{{"host-a", dpA}, {"host-b", fake.New()}} {
		cfg := &config.Agent{Host: h.host, TransportURL: "grpc://" + lis.Addr().String(), LocalIP: fmt.Sprintf("198.18.9.%d", i+1),
			L2Population: true, TunnelTypes: []string{"vxlan"}, VXLANUDPPort: 4789, PollingInterval: 2 * time.Second,
			ResyncInterval: 300 * time.Second, ReportInterval: 30 * time.Second, IntegrationBridge: "br-int", TunnelBridge: "br-tun",
			DatapathType: "netdev", FirewallDriver: "openvswitch"}
		cc, err := rpc.ClientConfigFor(cfg)
		if err != nil {
			return err
		}
		client, err := rpc.Dial(cc)
		if err != nil {
			return err
		}
		defer client.Close()
		a, err := agent.New(agent.Options{Kind: agent.KindOVS, Config: cfg, Server: client, Dataplane: h.dp, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			return err
		}
		go a.Run(sctx)
	}
	for {
		if as, _ := p.ListAgents(ctx, neutron.ListQuery{}); len(as) == 2 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	n, err := p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: project, Name: "bench"})
	if err != nil {
		return err
	}
	if _, err := p.CreateSubnet(ctx, neutron.SubnetCreate{ProjectID: project, NetworkID: n.ID, IPVersion: 4, CIDR: "10.64.0.0/16"}); err != nil {
		return err
	}
	web, err := p.CreateSecurityGroup(ctx, neutron.SecurityGroupCreate{ProjectID: project, Name: "web"})
	if err != nil {
		return err
	}
	mem, err := p.CreateSecurityGroup(ctx, neutron.SecurityGroupCreate{ProjectID: project, Name: "members"})
	if err != nil {
		return err
	}
	if _, err := p.CreateSecurityGroupRule(ctx, neutron.SecurityGroupRuleCreate{SecurityGroupID: web.ID, Direction: "ingress", RemoteGroupID: &mem.ID}); err != nil {
		return err
	}
	info := machine.Read()
	fmt.Printf("# secgroups benchmark: %s, load %s\n", info, machine.LoadAvg())
	fmt.Println("| ports on host A | remote-group members | event | p50 | p90 | p99 | max | bytes sent per event (mean) |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	have, nextPort, nMembers := 0, 0, 0
	memberPort := func(host string) (*neutron.Port, error) {
		return p.CreatePort(ctx, neutron.PortCreate{ProjectID: project, NetworkID: n.ID, HostID: host, SecurityGroups: []string{mem.ID}})
	}
	for _, f := range strings.Split(portsFlag, ",") {
		want, err := strconv.Atoi(f)
		if err != nil {
			return err
		}
		for ; have < want; have++ {
			pt, err := p.CreatePort(ctx, neutron.PortCreate{ProjectID: project, NetworkID: n.ID, HostID: "host-a", SecurityGroups: []string{web.ID}})
			if err != nil {
				return err
			}
			dpA.SetDevice(dataplane.Device{PortID: pt.ID, Name: "tap" + pt.ID[:11], MAC: pt.MACAddress, Up: true})
		}
		// Every port attached and filtered before measuring.
		if _, err := w.until(func(s dataplane.NodeState) bool { return len(s.Firewall.Ports) == want }, func() error { dpA.Notify(); return nil }); err != nil {
			return fmt.Errorf("attaching %d ports: %w", want, err)
		}
		// ... and reported up (ACTIVE), so no status traffic is counted.
		for {
			up, err := p.ListPorts(ctx, neutron.ListQuery{Filters: map[string][]string{"binding:host_id": {"host-a"}, "status": {neutron.StatusActive}}})
			if err != nil {
				return err
			}
			if len(up) == want {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		var ruleLat, joinLat []time.Duration
		var ruleBytes, joinBytes int64
		for e := 0; e < events; e++ {
			nextPort++
			port := 1000 + nextPort
			rule := dataplane.Rule{Direction: "ingress", Ethertype: "IPv4", Protocol: 6, PortMin: port, PortMax: port}
			b0 := srv.Stats().Bytes
			var start time.Time
			var r *neutron.SecurityGroupRule
			end, err := w.until(func(s dataplane.NodeState) bool {
				for _, pf := range s.Firewall.Ports {
					if !slices.Contains(pf.Rules, rule) {
						return false
					}
				}
				return true
			}, func() error {
				start = time.Now()
				var err error
				r, err = p.CreateSecurityGroupRule(ctx, neutron.SecurityGroupRuleCreate{SecurityGroupID: web.ID, Direction: "ingress",
					Protocol: strPtr("tcp"), PortRangeMin: &port, PortRangeMax: &port})
				return err
			})
			if err != nil {
				return fmt.Errorf("rule event: %w", err)
			}
			ruleLat = append(ruleLat, end.Sub(start))
			time.Sleep(20 * time.Millisecond) // let stragglers (host B) finish before counting
			ruleBytes += srv.Stats().Bytes - b0
			if err := p.DeleteSecurityGroupRule(ctx, r.ID); err != nil {
				return err
			}
			time.Sleep(20 * time.Millisecond) // the deletion's deltas are not the next event's
		}
		for nMembers < members {
			if _, err := memberPort(""); err != nil {
				return err
			}
			nMembers++
		}
		for e := 0; e < events; e++ {
			b0 := srv.Stats().Bytes
			var start time.Time
			var ip netip.Prefix
			end, err := w.until(func(s dataplane.NodeState) bool {
				return ip.IsValid() && slices.Contains(s.Firewall.RemoteGroups[mem.ID], ip)
			}, func() error {
				start = time.Now()
				pt, err := memberPort("host-b")
				if err == nil {
					a := netip.MustParseAddr(pt.FixedIPs[0].IPAddress)
					w.mu.Lock()
					ip = netip.PrefixFrom(a, 32)
					w.mu.Unlock()
					w.recheck()
				}
				return err
			})
			if err != nil {
				return fmt.Errorf("member event: %w", err)
			}
			nMembers++
			joinLat = append(joinLat, end.Sub(start))
			time.Sleep(20 * time.Millisecond)
			joinBytes += srv.Stats().Bytes - b0
		}
		row(want, nMembers, "rule created in the ports' group -> on every port of host A", ruleLat, ruleBytes, events)
		row(want, nMembers, "port joins the remote group -> member in host A's set", joinLat, joinBytes, events)
	}
	fmt.Printf("# load after: %s\n", machine.LoadAvg())
	return nil
}

func strPtr(s string) *string { return &s }

func row(ports, members int, event string, lat []time.Duration, bytes int64, n int) {
	slices.Sort(lat)
	q := func(f float64) string {
		return fmt.Sprintf("%.1f ms", float64(lat[min(len(lat)-1, int(f*float64(len(lat))))])/1e6)
	}
	fmt.Printf("| %d | %d | %s | %s | %s | %s | %s | %d |\n", ports, members, event, q(0.5), q(0.9), q(0.99), q(1), bytes/int64(n))
}
