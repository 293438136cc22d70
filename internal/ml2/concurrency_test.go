package ml2

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"neutrino/internal/neutron"
	"neutrino/internal/store"
	"neutrino/internal/store/storetest"
)

// tail follows the change log like the agents' stream does and checks that
// every batch continues exactly where the previous one ended: a revision
// that became visible after a higher one would show up as a gap here.
func tail(ctx context.Context, p *Plugin, done <-chan struct{}) (last int64, err error) {
	for {
		// Look at done before reading, so the final empty read started
		// after every writer had returned.
		finished := false
		select {
		case <-done:
			finished = true
		default:
		}
		cs, err := p.Changes(ctx, last, 1000)
		if err != nil {
			return last, err
		}
		for _, c := range cs {
			if c.Revision != last+1 {
				return last, fmt.Errorf("tailer saw revision %d after %d", c.Revision, last)
			}
			last = c.Revision
		}
		if finished && len(cs) == 0 {
			return last, nil
		}
		if len(cs) == 0 {
			time.Sleep(time.Millisecond)
		}
	}
}

// Two plugins ("two servers") on one database create networks and ports
// concurrently: no duplicate VNI, IP or MAC, every request succeeds or gets
// a Neutron fault, and the change log is gap-free in commit order.
func TestConcurrentServers(t *testing.T) {
	const n = 200
	forEachDialect(t, func(t *testing.T, d store.Dialect) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		u := storetest.URL(t, d)
		st1, st2 := storetest.OpenURL(t, u), storetest.OpenURL(t, u)
		if _, err := st1.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		p1, err := New(ctx, st1, seedConfig(), nil)
		if err != nil {
			t.Fatal(err)
		}
		p2, err := New(ctx, st2, seedConfig(), nil)
		if err != nil {
			t.Fatal(err)
		}
		plugins := []*Plugin{p1, p2}
		base, s := netAndSubnet(t, p1)

		done := make(chan struct{})
		tailErr := make(chan error, 1)
		var tailLast int64
		go func() {
			var err error
			tailLast, err = tail(ctx, p2, done)
			tailErr <- err
		}()

		var wg sync.WaitGroup
		var mu sync.Mutex
		var nets []*neutron.Network
		var ports []*neutron.Port
		faults := map[string]int{}
		record := func(err error) {
			e, ok := neutron.AsError(err)
			if !ok {
				t.Errorf("not a Neutron fault: %v", err)
				return
			}
			mu.Lock()
			faults[e.Type]++
			mu.Unlock()
		}
		for i := 0; i < n; i++ {
			wg.Add(2)
			p := plugins[i%2]
			go func() {
				defer wg.Done()
				net, err := p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: tenant, Name: fmt.Sprintf("n%d", i)})
				if err != nil {
					record(err)
					return
				}
				mu.Lock()
				nets = append(nets, net)
				mu.Unlock()
			}()
			go func() {
				defer wg.Done()
				pt, err := p.CreatePort(ctx, neutron.PortCreate{ProjectID: tenant, NetworkID: base.ID, Name: fmt.Sprintf("p%d", i)})
				if err != nil {
					record(err)
					return
				}
				mu.Lock()
				ports = append(ports, pt)
				mu.Unlock()
			}()
		}
		wg.Wait()
		close(done)
		if err := <-tailErr; err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d networks, %d ports created, faults %v, transactions retried %d+%d", d, len(nets), len(ports), faults, st1.Retries(), st2.Retries())
		// 1000 free VNIs and 253 free addresses: everything must succeed.
		if len(nets) != n || len(ports) != n {
			t.Fatalf("created %d networks and %d ports of %d; faults %v", len(nets), len(ports), n, faults)
		}
		vnis := map[int64]bool{}
		for _, net := range nets {
			v := net.Segments[0].SegmentationID
			if vnis[v] || v < 1001 || v > 2000 {
				t.Fatalf("VNI %d duplicated or outside the pool", v)
			}
			vnis[v] = true
		}
		ips, macs := map[string]bool{}, map[string]bool{}
		for _, pt := range ports {
			if len(pt.FixedIPs) != 1 || pt.FixedIPs[0].SubnetID != s.ID {
				t.Fatalf("port %+v", pt)
			}
			ip := pt.FixedIPs[0].IPAddress
			if ips[ip] || macs[pt.MACAddress] {
				t.Fatalf("duplicate ip %s or mac %s", ip, pt.MACAddress)
			}
			ips[ip], macs[pt.MACAddress] = true, true
		}
		// What the database holds agrees.
		listed, err := p2.ListPorts(ctx, neutron.ListQuery{Filters: map[string][]string{"network_id": {base.ID}}})
		if err != nil || len(listed) != n {
			t.Fatalf("listed %d ports: %v", len(listed), err)
		}
		free, _ := st1.CountFreeTunnelIDs(ctx, "vxlan")
		if free != 1000-int64(n)-1 {
			t.Fatalf("%d free VNIs, want %d", free, 1000-n-1)
		}
		// The ports' project got exactly one default security group
		// (the first ports of both servers raced to create it).
		groups, err := p2.ListSecurityGroups(ctx, neutron.ListQuery{Filters: map[string][]string{"name": {"default"}}})
		if err != nil || len(groups) != 1 || len(groups[0].Rules) != 4 {
			t.Fatalf("default groups %+v: %v", groups, err)
		}
		for _, pt := range ports {
			if len(pt.SecurityGroups) != 1 || pt.SecurityGroups[0] != groups[0].ID {
				t.Fatalf("port %s has groups %v, want the default %s", pt.ID, pt.SecurityGroups, groups[0].ID)
			}
		}
		// Gap-free, ordered change log: setup (network, subnet, network
		// update), the default group and its four rules, plus one row per
		// create.
		cs := mustChanges(t, p1, 0)
		if len(cs) != 3+5+2*n {
			t.Fatalf("%d change rows, want %d", len(cs), 3+5+2*n)
		}
		for i, c := range cs {
			if c.Revision != int64(i+1) {
				t.Fatalf("change %d has revision %d", i, c.Revision)
			}
		}
		if tailLast != int64(len(cs)) {
			t.Fatalf("tailer stopped at %d of %d", tailLast, len(cs))
		}
	})
}

// Port creates racing a network delete never leave a port, address or
// subnet of a deleted network behind; every call ends in success or a
// Neutron fault.
func TestDeleteRacesCreate(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d store.Dialect) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		u := storetest.URL(t, d)
		st1, st2 := storetest.OpenURL(t, u), storetest.OpenURL(t, u)
		if _, err := st1.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		p1, err := New(ctx, st1, seedConfig(), nil)
		if err != nil {
			t.Fatal(err)
		}
		p2, err := New(ctx, st2, seedConfig(), nil)
		if err != nil {
			t.Fatal(err)
		}
		outcomes := map[string]int{}
		var mu sync.Mutex
		note := func(err error) {
			k := "ok"
			if err != nil {
				e, ok := neutron.AsError(err)
				if !ok {
					t.Errorf("not a Neutron fault: %v", err)
					return
				}
				k = e.Type
			}
			mu.Lock()
			outcomes[k]++
			mu.Unlock()
		}
		for round := 0; round < 5; round++ {
			n, _ := netAndSubnet(t, p1)
			var wg sync.WaitGroup
			for i := 0; i < 20; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := p2.CreatePort(ctx, neutron.PortCreate{ProjectID: tenant, NetworkID: n.ID})
					note(err)
				}()
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := 0; k < 20; k++ {
					err := p1.DeleteNetwork(ctx, n.ID)
					note(err)
					if err == nil {
						return
					}
					// Clear the ports that made it and try again.
					ps, _ := p1.ListPorts(ctx, neutron.ListQuery{Filters: map[string][]string{"network_id": {n.ID}}})
					for _, pt := range ps {
						note(p1.DeletePort(ctx, pt.ID))
					}
				}
			}()
			wg.Wait()
		}
		t.Logf("%s outcomes: %v", d, outcomes)
		db := st1.DB()
		for _, q := range []string{
			"SELECT COUNT(*) FROM ports WHERE network_id NOT IN (SELECT id FROM networks)",
			"SELECT COUNT(*) FROM ipallocations WHERE port_id NOT IN (SELECT id FROM ports)",
			"SELECT COUNT(*) FROM subnets WHERE network_id NOT IN (SELECT id FROM networks)",
			"SELECT COUNT(*) FROM ipallocations WHERE subnet_id NOT IN (SELECT id FROM subnets)",
		} {
			var k int
			if err := db.QueryRowContext(ctx, q).Scan(&k); err != nil || k != 0 {
				t.Fatalf("%s: %d %v", q, k, err)
			}
		}
		cs := mustChanges(t, p1, 0)
		for i, c := range cs {
			if c.Revision != int64(i+1) {
				t.Fatalf("change %d has revision %d", i, c.Revision)
			}
		}
	})
}

// In a large pool addresses are probed at random (no full read of the
// allocations); concurrent creates from two servers still get distinct,
// valid addresses.
func TestLargePoolAllocation(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		u := storetest.URL(t, d)
		st1, st2 := storetest.OpenURL(t, u), storetest.OpenURL(t, u)
		if _, err := st1.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		p1, _ := New(ctx, st1, seedConfig(), nil)
		p2, err := New(ctx, st2, seedConfig(), nil)
		if err != nil || p1 == nil {
			t.Fatal(err)
		}
		n, err := p1.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: tenant})
		if err != nil {
			t.Fatal(err)
		}
		s, err := p1.CreateSubnet(ctx, neutron.SubnetCreate{NetworkID: n.ID, IPVersion: 4, CIDR: "10.8.0.0/19"})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		ips := map[string]bool{}
		for i := 0; i < 100; i++ {
			wg.Add(1)
			p := []*Plugin{p1, p2}[i%2]
			go func() {
				defer wg.Done()
				pt, err := p.CreatePort(ctx, neutron.PortCreate{ProjectID: tenant, NetworkID: n.ID})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				ip := pt.FixedIPs[0].IPAddress
				if ips[ip] || ip == s.GatewayIP || pt.FixedIPs[0].SubnetID != s.ID {
					t.Errorf("bad or duplicate address %s", ip)
				}
				ips[ip] = true
			}()
		}
		wg.Wait()
		if len(ips) != 100 {
			t.Fatalf("%d addresses", len(ips))
		}
		for ip := range ips {
			if !strings.HasPrefix(ip, "10.8.") {
				t.Fatal(ip)
			}
		}
	})
}
