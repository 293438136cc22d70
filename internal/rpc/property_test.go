package rpc

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"neutrino/internal/l2pop"
	"neutrino/internal/neutron"
	"neutrino/internal/rpc/rpctest"
	"neutrino/internal/waittest"
)

// TestDeltasEqualSnapshot is the stream's central property: an agent that
// applies the deltas it is sent, through random disconnects and resumes,
// ends with exactly the view a fresh snapshot of the database gives.
func TestDeltasEqualSnapshot(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 42))
			cfg := l2pop.Config{Enabled: seed%2 == 1}
			mem := rpctest.NewMemory()
			h := startServer(t, mem, ServerConfig{L2Pop: cfg, LogLength: 8}, "")
			c := dial(t, h.addr, ClientConfig{})
			ctx := context.Background()
			hosts := []string{"h0", "h1", "h2", "h3", "h4"}
			for i, host := range hosts[:4] {
				register(t, c, host, fmt.Sprintf("198.18.2.%d", i+1), r.IntN(4) != 0)
			}
			for n := 0; n < 3; n++ {
				mem.CreateNetwork(fmt.Sprintf("net-%d", n), int64(1001+n))
			}
			ws := map[string]*watcher{}
			cancels := map[string]context.CancelFunc{}
			done := map[string]chan struct{}{}
			start := func(host string) {
				wctx, cancel := context.WithCancel(ctx)
				cancels[host] = cancel
				d := make(chan struct{})
				done[host] = d
				w := ws[host]
				go func() { defer close(d); w.run(wctx, c, host) }()
			}
			for _, host := range hosts {
				ws[host] = newWatcher()
				start(host)
			}
			ports := []string{}
			groups := []string{"sg-0", "sg-1", "sg-2"}
			for _, g := range groups {
				mem.PutSecurityGroup(g, true)
			}
			rules := []string{}
			for i := 0; i < 160; i++ {
				if op := r.IntN(14); op >= 10 && len(ports) > 0 {
					// Security groups: rules (some naming a remote
					// group), stateful flips, ports joining and leaving.
					switch op {
					case 10:
						id := fmt.Sprintf("r%03d", i)
						rules = append(rules, id)
						remote := ""
						if r.IntN(2) == 0 {
							remote = groups[r.IntN(len(groups))]
						}
						mem.PutRule(id, groups[r.IntN(len(groups))], 1+r.IntN(3), remote)
					case 11:
						if len(rules) > 0 {
							k := r.IntN(len(rules))
							mem.DeleteRule(rules[k])
							rules = append(rules[:k], rules[k+1:]...)
						}
					case 12:
						mem.PutSecurityGroup(groups[r.IntN(len(groups))], r.IntN(2) == 0)
					default:
						var gs []string
						for _, g := range groups {
							if r.IntN(2) == 0 {
								gs = append(gs, g)
							}
						}
						mem.SetPortGroups(ports[r.IntN(len(ports))], gs...)
					}
					continue
				}
				switch op := r.IntN(10); {
				case op < 3 || len(ports) == 0:
					id := fmt.Sprintf("p%03d", i)
					ports = append(ports, id)
					mem.PutPort(id, fmt.Sprintf("net-%d", r.IntN(3)), hosts[r.IntN(len(hosts))],
						fmt.Sprintf("fa:16:3e:00:%02x:%02x", i/256, i%256), fmt.Sprintf("192.168.%d.%d", r.IntN(3), 10+i))
				case op < 6:
					id := ports[r.IntN(len(ports))]
					if p, ok := mem.Port(id); ok {
						mem.UpdateDevice(ctx, p.HostID, id, r.IntN(3) != 0)
					}
				case op < 7:
					// Move or re-address a port.
					id := ports[r.IntN(len(ports))]
					if p, ok := mem.Port(id); ok {
						mem.PutPort(id, p.NetworkID, hosts[r.IntN(len(hosts))], p.MACAddress, fmt.Sprintf("192.168.9.%d", i))
					}
				case op < 8:
					k := r.IntN(len(ports))
					mem.DeletePort(ports[k])
					ports = append(ports[:k], ports[k+1:]...)
				case op < 9:
					// Disconnect an agent; it resumes later.
					host := hosts[r.IntN(len(hosts))]
					cancels[host]()
					<-done[host]
					start(host)
				default:
					host := hosts[r.IntN(len(hosts))]
					if r.IntN(2) == 0 {
						register(t, c, host, fmt.Sprintf("198.18.3.%d", r.IntN(5)+1), r.IntN(2) == 0)
					} else {
						mem.DeleteAgent(host)
					}
				}
				if r.IntN(4) == 0 {
					time.Sleep(time.Duration(r.IntN(15)) * time.Millisecond)
				}
			}
			waittest.For(t, "every watcher equals a fresh snapshot", func() bool {
				for _, host := range hosts {
					v, _, _, _ := ws[host].state()
					if !v.Equal(expected(cfg, mem, host)) {
						return false
					}
				}
				return true
			})
			for _, host := range hosts {
				cancels[host]()
				<-done[host]
				ws[host].mu.Lock()
				if ws[host].rejected != 0 {
					t.Errorf("%s was sent %d deltas that did not follow its revision", host, ws[host].rejected)
				}
				ws[host].mu.Unlock()
			}
		})
	}
}

// TestAppliedSnapshotEqualsFresh: the snapshot a registered agent's watch
// is served without reading the change log first (the view the server
// has applied, at its revision) equals a fresh computation from the
// database as it was at that revision, however far the log has moved on
// since.
func TestAppliedSnapshotEqualsFresh(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 7))
			cfg := l2pop.Config{Enabled: seed%2 == 1}
			ctx := context.Background()
			mem := rpctest.NewMemory()
			s := NewServer(mem, ServerConfig{L2Pop: cfg})
			hosts := []string{"h0", "h1", "h2", "h3"}
			report := func(host string, ip int) {
				conf := fmt.Sprintf(`{"tunneling_ip":"198.18.4.%d","l2_population":%t,"tunnel_types":["vxlan"]}`, ip, r.IntN(4) != 0)
				if _, err := mem.ReportState(ctx, neutron.AgentReport{AgentType: neutron.AgentTypeOVS, Host: host,
					Configurations: []byte(conf), StartFlag: true, TunnelIP: fmt.Sprintf("198.18.4.%d", ip)}); err != nil {
					t.Fatal(err)
				}
			}
			for i, host := range hosts[:3] {
				report(host, i+1)
			}
			for n := 0; n < 3; n++ {
				mem.CreateNetwork(fmt.Sprintf("net-%d", n), int64(1001+n))
			}
			st, err := mem.Snapshot(ctx)
			if err != nil {
				t.Fatal(err)
			}
			s.load(st)
			// The database at every revision the server may stand at.
			states := map[int64]*neutron.State{mem.Revision(): mem.State()}
			var ports []string
			checked := 0
			for i := 0; i < 200; i++ {
				switch op := r.IntN(10); {
				case op < 4 || len(ports) == 0:
					id := fmt.Sprintf("p%03d", i)
					ports = append(ports, id)
					mem.PutPort(id, fmt.Sprintf("net-%d", r.IntN(3)), hosts[r.IntN(len(hosts))],
						fmt.Sprintf("fa:16:3e:00:%02x:%02x", i/256, i%256), fmt.Sprintf("192.168.%d.%d", r.IntN(3), 10+i))
				case op < 7:
					id := ports[r.IntN(len(ports))]
					if p, ok := mem.Port(id); ok {
						mem.UpdateDevice(ctx, p.HostID, id, r.IntN(3) != 0)
					}
				case op < 8:
					k := r.IntN(len(ports))
					mem.DeletePort(ports[k])
					ports = append(ports[:k], ports[k+1:]...)
				default:
					report(hosts[r.IntN(len(hosts))], r.IntN(5)+1)
				}
				states[mem.Revision()] = mem.State()
				if r.IntN(3) == 0 {
					if err := s.catchUp(ctx); err != nil {
						t.Fatal(err)
					}
				}
				for _, host := range hosts {
					known, rev := s.hub.registered(host)
					if !known || r.IntN(3) != 0 {
						continue
					}
					p := s.hub.pendingFor(host, 0)
					if p.snapshot == nil || p.rev > rev {
						t.Fatalf("%s: pending %+v at server revision %d, want a snapshot", host, p, rev)
					}
					at, ok := states[p.rev]
					if !ok {
						t.Fatalf("%s: snapshot at revision %d, between two writes", host, p.rev)
					}
					if want := l2pop.NewModel(cfg, at).View(host); !p.snapshot.Equal(want) {
						t.Fatalf("%s at revision %d (log at %d): served\n%s\nfresh\n%s", host, p.rev, mem.Revision(), p.snapshot, want)
					}
					checked++
				}
			}
			if checked < 50 {
				t.Fatalf("only %d snapshots checked", checked)
			}
		})
	}
}
