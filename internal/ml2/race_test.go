package ml2

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"neutrino/internal/config"
	"neutrino/internal/ipam"
	"neutrino/internal/neutron"
	"neutrino/internal/store"
	"neutrino/internal/store/storetest"
)

// racers is how many writers race for one thing in the tests below.
const racers = 24

// twoServers opens two plugins, each with its own store (connection pool),
// on one fresh database of dialect d: what two server processes on one
// database look like to the database. (cmd/neutrino's
// TestTwoServerProcessesOneWinner runs real processes.)
func twoServers(t *testing.T, d store.Dialect, cfg *config.Server) (*Plugin, *Plugin) {
	t.Helper()
	ctx := context.Background()
	u := storetest.URL(t, d)
	st1, st2 := storetest.OpenURL(t, u), storetest.OpenURL(t, u)
	if _, err := st1.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	p1, err := New(ctx, st1, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := New(ctx, st2, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p1, p2
}

// race runs f(0..n-1) at once and counts what each racer got: "ok" or
// the Neutron fault's status and type. Anything that is not a Neutron 4xx
// fault (the API would answer 500) fails the test.
func race(t *testing.T, n int, f func(i int) error) map[string]int {
	t.Helper()
	var mu sync.Mutex
	got := map[string]int{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			err := f(i)
			k := "ok"
			if err != nil {
				e, ok := neutron.AsError(err)
				if !ok || e.Status >= 500 {
					t.Errorf("racer %d: not a Neutron 4xx fault (the API would answer 500): %v", i, err)
					return
				}
				k = fmt.Sprintf("%d %s", e.Status, e.Type)
			}
			mu.Lock()
			got[k]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	return got
}

// wantOneWinner requires exactly one success and every other racer to get
// the fault loser.
func wantOneWinner(t *testing.T, what string, got map[string]int, loser string) {
	t.Helper()
	if got["ok"] != 1 || got[loser] != racers-1 {
		t.Errorf("%s: %v; want 1 ok and %d %q", what, got, racers-1, loser)
	}
}

// Overlapping subnets created at once on one network, by writers spread
// over two servers: never two overlapping subnets, whatever the database.
func TestRaceOverlappingSubnets(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d store.Dialect) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		p1, p2 := twoServers(t, d, seedConfig())
		plugins := []*Plugin{p1, p2}
		// The same /24 by everyone; then a /24 and the four /26s in it.
		mixed := []string{"10.9.0.0/24", "10.9.0.0/26", "10.9.0.64/26", "10.9.0.128/26", "10.9.0.192/26"}
		for round := 0; round < 3; round++ {
			for _, mode := range []string{"same", "mixed"} {
				n, err := p1.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: tenant})
				if err != nil {
					t.Fatal(err)
				}
				got := race(t, racers, func(i int) error {
					cidr := "10.9.0.0/24"
					if mode == "mixed" {
						cidr = mixed[i%len(mixed)]
					}
					_, err := plugins[i%2].CreateSubnet(ctx, neutron.SubnetCreate{ProjectID: tenant, NetworkID: n.ID, IPVersion: 4, CIDR: cidr})
					return err
				})
				subs, err := p2.ListSubnets(ctx, neutron.ListQuery{Filters: map[string][]string{"network_id": {n.ID}}})
				if err != nil {
					t.Fatal(err)
				}
				for i := range subs {
					for j := range i {
						a, b := netip.MustParsePrefix(subs[i].CIDR), netip.MustParsePrefix(subs[j].CIDR)
						if ipam.Overlaps(a, b) {
							t.Errorf("round %d %s: overlapping subnets %s and %s stored (outcomes %v)", round, mode, a, b, got)
						}
					}
				}
				if got["ok"] != len(subs) || got["ok"]+got["400 InvalidInput"] != racers {
					t.Errorf("round %d %s: outcomes %v, %d subnets stored", round, mode, got, len(subs))
				}
				if mode == "same" {
					wantOneWinner(t, "same /24", got, "400 InvalidInput")
				}
			}
		}
	})
}

// The same fixed IP or MAC asked for by many port creates at once: one
// port gets it, the others get Neutron's 409.
func TestRaceSameAddress(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d store.Dialect) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		p1, p2 := twoServers(t, d, seedConfig())
		plugins := []*Plugin{p1, p2}
		n, s := netAndSubnet(t, p1)
		for round := 0; round < 2; round++ {
			ip := fmt.Sprintf("192.168.1.%d", 50+round)
			got := race(t, racers, func(i int) error {
				_, err := plugins[i%2].CreatePort(ctx, neutron.PortCreate{ProjectID: tenant, NetworkID: n.ID,
					FixedIPs: []neutron.FixedIPRequest{{SubnetID: s.ID, IPAddress: ip}}})
				return err
			})
			wantOneWinner(t, "fixed ip "+ip, got, "409 IpAddressAlreadyAllocated")

			mac := fmt.Sprintf("fa:16:3e:aa:bb:%02x", round)
			got = race(t, racers, func(i int) error {
				_, err := plugins[i%2].CreatePort(ctx, neutron.PortCreate{ProjectID: tenant, NetworkID: n.ID, MACAddress: mac})
				return err
			})
			wantOneWinner(t, "mac "+mac, got, "409 MacAddressInUse")
		}
		ports, err := p1.ListPorts(ctx, neutron.ListQuery{Filters: map[string][]string{"network_id": {n.ID}}})
		if err != nil {
			t.Fatal(err)
		}
		if len(ports) != 4 {
			t.Fatalf("%d ports stored, want 4 (one per contested IP and MAC)", len(ports))
		}

		// Existing ports updated to one address or MAC at once.
		var ids []string
		for range racers {
			pt, err := p1.CreatePort(ctx, neutron.PortCreate{ProjectID: tenant, NetworkID: n.ID})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, pt.ID)
		}
		got := race(t, racers, func(i int) error {
			_, err := plugins[i%2].UpdatePort(ctx, ids[i], neutron.PortUpdate{
				FixedIPs: &[]neutron.FixedIPRequest{{SubnetID: s.ID, IPAddress: "192.168.1.250"}}})
			return err
		})
		wantOneWinner(t, "update to one fixed ip", got, "409 IpAddressAlreadyAllocated")
		got = race(t, racers, func(i int) error {
			_, err := plugins[i%2].UpdatePort(ctx, ids[i], neutron.PortUpdate{MACAddress: ptr("fa:16:3e:aa:bb:ff")})
			return err
		})
		wantOneWinner(t, "update to one mac", got, "409 MacAddressInUse")
		var holders int
		if err := p1.st.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM ipallocations WHERE ip_address = '192.168.1.250'").Scan(&holders); err != nil || holders != 1 {
			t.Fatalf("192.168.1.250 held %d times (%v)", holders, err)
		}
		// Every loser's address went back: nothing allocated without a port.
		var orphans int
		if err := p1.st.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM ipallocations WHERE port_id NOT IN (SELECT id FROM ports)").Scan(&orphans); err != nil || orphans != 0 {
			t.Fatalf("%d orphaned allocations (%v)", orphans, err)
		}
	})
}

// The same provider VNI (inside and outside vni_ranges) asked for by many
// network creates at once; and a small pool drained by more creators than
// it has VNIs: each VNI has exactly one network.
func TestRaceSameVNI(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d store.Dialect) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cfg := seedConfig()
		const pool = 10
		cfg.VNIRanges = []config.Range{{Min: 1001, Max: 1000 + pool}}
		p1, p2 := twoServers(t, d, cfg)
		plugins := []*Plugin{p1, p2}
		for _, vni := range []int64{1005, 7000} {
			got := race(t, racers, func(i int) error {
				_, err := plugins[i%2].CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: tenant,
					Segment: &neutron.Segment{NetworkType: neutron.TypeVXLAN, SegmentationID: vni}})
				return err
			})
			wantOneWinner(t, fmt.Sprintf("vni %d", vni), got, "409 TunnelIdInUse")
		}
		// 9 pool VNIs are left; 24 creators ask for any of them.
		var mu sync.Mutex
		vnis := map[int64]int{}
		got := map[string]int{}
		var wg sync.WaitGroup
		for i := 0; i < racers; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				net, err := plugins[i%2].CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: tenant})
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					e, ok := neutron.AsError(err)
					if !ok {
						t.Errorf("not a Neutron fault: %v", err)
						return
					}
					got[fmt.Sprintf("%d %s", e.Status, e.Type)]++
					return
				}
				got["ok"]++
				vnis[net.Segments[0].SegmentationID]++
			}()
		}
		wg.Wait()
		// Neutron answers an exhausted pool with 503 NoNetworkAvailable.
		if got["ok"] != pool-1 || got["503 NoNetworkAvailable"] != racers-pool+1 {
			t.Errorf("pool allocation: %v; want %d ok, the rest 503 NoNetworkAvailable", got, pool-1)
		}
		for v, k := range vnis {
			if k != 1 || v < 1001 || v > 1000+pool || v == 1005 {
				t.Errorf("VNI %d given to %d networks", v, k)
			}
		}
		nets, err := p2.ListNetworks(ctx, neutron.ListQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if len(nets) != pool+1 {
			t.Errorf("%d networks stored, want %d", len(nets), pool+1)
		}
		if free, err := p1.st.CountFreeTunnelIDs(ctx, "vxlan"); err != nil || free != 0 {
			t.Errorf("%d free VNIs left (%v), want 0", free, err)
		}
	})
}
