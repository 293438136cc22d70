package ml2

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"neutrino/internal/neutron"
	"neutrino/internal/store"
)

// counts is how many networks, subnets and ports exist, the free VNIs and
// the newest change-log revision: what a failed bulk create must leave
// exactly as it found it.
type counts struct{ networks, subnets, ports, freeVNIs, changes int }

func countAll(t *testing.T, p *Plugin) counts {
	t.Helper()
	ctx := context.Background()
	ns, err := p.ListNetworks(ctx, neutron.ListQuery{})
	if err != nil {
		t.Fatal(err)
	}
	ss, err := p.ListSubnets(ctx, neutron.ListQuery{})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := p.ListPorts(ctx, neutron.ListQuery{})
	if err != nil {
		t.Fatal(err)
	}
	free, err := p.Store().CountFreeTunnelIDs(ctx, neutron.TypeVXLAN)
	if err != nil {
		t.Fatal(err)
	}
	return counts{len(ns), len(ss), len(ps), int(free), len(mustChanges(t, p, 0))}
}

func TestBulkCreate(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		p := newPlugin(t, d, seedConfig())

		nets, err := p.CreateNetworks(ctx, []neutron.NetworkCreate{
			{ProjectID: tenant, Name: "a"}, {ProjectID: tenant, Name: "b"}, {ProjectID: tenant, Name: "c"}})
		if err != nil {
			t.Fatal(err)
		}
		vnis := map[int64]bool{}
		for i, n := range nets {
			if n.Name != string(rune('a'+i)) || len(n.Segments) != 1 {
				t.Fatalf("network %d: %+v", i, n)
			}
			vnis[n.Segments[0].SegmentationID] = true
		}
		if len(vnis) != 3 {
			t.Fatalf("VNIs %v: want 3 distinct", vnis)
		}

		// Two subnets on one network and one on another; the second on
		// the first network is checked against the first for overlap.
		subs, err := p.CreateSubnets(ctx, []neutron.SubnetCreate{
			{NetworkID: nets[0].ID, IPVersion: 4, CIDR: "10.0.0.0/24", Name: "s0"},
			{NetworkID: nets[0].ID, IPVersion: 4, CIDR: "10.0.1.0/24", Name: "s1"},
			{NetworkID: nets[1].ID, IPVersion: 6, CIDR: "2001:db8::/64", Name: "s2"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(subs) != 3 || subs[0].Name != "s0" || subs[1].Name != "s1" || subs[2].Name != "s2" || subs[0].ProjectID != tenant {
			t.Fatalf("subnets: %+v", subs)
		}
		n0, err := p.GetNetwork(ctx, nets[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(n0.Subnets) != 2 || n0.RevisionNumber != 3 {
			t.Fatalf("network after two subnets: subnets %v revision %d, want 2 and 3", n0.Subnets, n0.RevisionNumber)
		}

		// Ports: automatic addresses never collide with the earlier
		// items' (the transaction reads its own writes).
		reqs := make([]neutron.PortCreate, 20)
		for i := range reqs {
			reqs[i] = neutron.PortCreate{NetworkID: nets[0].ID, Name: fmt.Sprintf("p%d", i)}
		}
		reqs[3].FixedIPs = []neutron.FixedIPRequest{{SubnetID: subs[1].ID, IPAddress: "10.0.1.200"}}
		ports, err := p.CreatePorts(ctx, reqs)
		if err != nil {
			t.Fatal(err)
		}
		ips, macs := map[string]bool{}, map[string]bool{}
		for i, pt := range ports {
			if pt.Name != reqs[i].Name || len(pt.FixedIPs) != 1 || pt.ProjectID != tenant {
				t.Fatalf("port %d: %+v", i, pt)
			}
			ips[pt.FixedIPs[0].IPAddress] = true
			macs[pt.MACAddress] = true
		}
		if len(ips) != len(reqs) || len(macs) != len(reqs) || ports[3].FixedIPs[0].IPAddress != "10.0.1.200" {
			t.Fatalf("addresses %v macs %v: want %d distinct, port 3 on 10.0.1.200", ips, macs, len(reqs))
		}
		cs := mustChanges(t, p, 0)
		created := 0
		for _, c := range cs {
			if c.Kind == neutron.KindPort && c.Op == neutron.OpCreate {
				created++
			}
		}
		if created != len(reqs) {
			t.Fatalf("change log has %d port creations, want %d", created, len(reqs))
		}
	})
}

// A failing item anywhere in a bulk leaves nothing behind: no row, no
// allocated VNI, no change-log entry; the error is the failing item's.
func TestBulkCreateAllOrNothing(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		p := newPlugin(t, d, seedConfig())
		n, s := netAndSubnet(t, p)
		if _, err := p.CreatePort(ctx, neutron.PortCreate{NetworkID: n.ID, FixedIPs: []neutron.FixedIPRequest{{IPAddress: "192.168.1.50"}}}); err != nil {
			t.Fatal(err)
		}
		before := countAll(t, p)

		_, err := p.CreateNetworks(ctx, []neutron.NetworkCreate{
			{ProjectID: tenant, Name: "ok1"},
			{ProjectID: tenant, Name: "bad", Segment: &neutron.Segment{NetworkType: neutron.TypeVLAN, PhysicalNetwork: "nosuch", SegmentationID: 5}},
			{ProjectID: tenant, Name: "ok2"},
		})
		wantFault(t, err, 400, "InvalidInput")
		if after := countAll(t, p); after != before {
			t.Fatalf("failed network bulk left %+v, had %+v", after, before)
		}

		_, err = p.CreateSubnets(ctx, []neutron.SubnetCreate{
			{NetworkID: n.ID, IPVersion: 4, CIDR: "10.9.0.0/24"},
			{NetworkID: n.ID, IPVersion: 4, CIDR: "10.9.0.128/25"}, // overlaps the first item
			{NetworkID: n.ID, IPVersion: 4, CIDR: "10.9.2.0/24"},
		})
		wantFault(t, err, 400, "InvalidInput")
		if after := countAll(t, p); after != before {
			t.Fatalf("failed subnet bulk left %+v, had %+v", after, before)
		}

		// The middle port asks for an address the first one took.
		_, err = p.CreatePorts(ctx, []neutron.PortCreate{
			{NetworkID: n.ID, FixedIPs: []neutron.FixedIPRequest{{SubnetID: s.ID, IPAddress: "192.168.1.60"}}},
			{NetworkID: n.ID, FixedIPs: []neutron.FixedIPRequest{{IPAddress: "192.168.1.60"}}},
			{NetworkID: n.ID},
		})
		wantFault(t, err, 409, "IpAddressAlreadyAllocated")
		// The last one asks for an address an existing port holds.
		_, err = p.CreatePorts(ctx, []neutron.PortCreate{{NetworkID: n.ID}, {NetworkID: n.ID}, {NetworkID: n.ID, FixedIPs: []neutron.FixedIPRequest{{IPAddress: "192.168.1.50"}}}})
		wantFault(t, err, 409, "IpAddressAlreadyAllocated")
		// Two items with one MAC.
		_, err = p.CreatePorts(ctx, []neutron.PortCreate{{NetworkID: n.ID, MACAddress: "fa:16:3e:00:00:01"}, {NetworkID: n.ID, MACAddress: "fa:16:3e:00:00:01"}})
		wantFault(t, err, 409, "MacAddressInUse")
		if after := countAll(t, p); after != before {
			t.Fatalf("failed port bulks left %+v, had %+v", after, before)
		}
		// The address the failed bulk wanted is still free.
		pt, err := p.CreatePort(ctx, neutron.PortCreate{NetworkID: n.ID, FixedIPs: []neutron.FixedIPRequest{{IPAddress: "192.168.1.60"}}})
		if err != nil || pt.FixedIPs[0].IPAddress != "192.168.1.60" {
			t.Fatalf("port on the failed bulk's address: %+v, %v", pt, err)
		}
	})
}

// Bulk and single port creates race for the addresses of a small subnet:
// every address is given at most once, a bulk gets all its ports or none,
// and exactly the ports the callers were told about exist.
func TestBulkCreateConcurrent(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d store.Dialect) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		p := newPlugin(t, d, seedConfig())
		n, err := p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: tenant})
		if err != nil {
			t.Fatal(err)
		}
		// 192.168.7.2-.30: 29 addresses for 8 bulks of 4 and 8 singles
		// (40 wanted), so some requests must fail for want of addresses.
		if _, err := p.CreateSubnet(ctx, neutron.SubnetCreate{NetworkID: n.ID, IPVersion: 4, CIDR: "192.168.7.0/27"}); err != nil {
			t.Fatal(err)
		}
		var (
			mu      sync.Mutex
			got     []*neutron.Port
			wg      sync.WaitGroup
			failed  int
			unknown []error
		)
		record := func(ps []*neutron.Port, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if e, ok := neutron.AsError(err); ok && e.Type == "IpAddressGenerationFailure" {
					failed++
				} else {
					unknown = append(unknown, err)
				}
				return
			}
			got = append(got, ps...)
		}
		for i := 0; i < 8; i++ {
			wg.Add(2)
			go func() {
				defer wg.Done()
				record(p.CreatePorts(ctx, make4(n.ID)))
			}()
			go func() {
				defer wg.Done()
				pt, err := p.CreatePort(ctx, neutron.PortCreate{NetworkID: n.ID})
				record([]*neutron.Port{pt}, err)
			}()
		}
		wg.Wait()
		if len(unknown) > 0 {
			t.Fatalf("unexpected errors: %v", unknown)
		}
		if failed == 0 || len(got) == 0 {
			t.Fatalf("%d ports made, %d requests failed: want both", len(got), failed)
		}
		seen := map[string]string{}
		for _, pt := range got {
			ip := pt.FixedIPs[0].IPAddress
			if other, dup := seen[ip]; dup {
				t.Fatalf("%s given to %s and %s", ip, other, pt.ID)
			}
			seen[ip] = pt.ID
		}
		stored, err := p.ListPorts(ctx, neutron.ListQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if len(stored) != len(got) {
			t.Fatalf("%d ports stored, %d reported created", len(stored), len(got))
		}
		for _, pt := range stored {
			if seen[pt.FixedIPs[0].IPAddress] != pt.ID {
				t.Fatalf("stored port %s (%s) was not reported", pt.ID, pt.FixedIPs[0].IPAddress)
			}
		}
	})
}

func make4(netID string) []neutron.PortCreate {
	return []neutron.PortCreate{{NetworkID: netID}, {NetworkID: netID}, {NetworkID: netID}, {NetworkID: netID}}
}
