package ml2

import (
	"context"
	"math/big"
	"testing"

	"neutrino/internal/neutron"
	"neutrino/internal/store"
)

func TestNetworkIPAvailability(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		p := newPlugin(t, d, seedConfig())
		n, s4 := netAndSubnet(t, p) // 192.168.1.0/24: pool .2-.254
		s6, err := p.CreateSubnet(ctx, neutron.SubnetCreate{NetworkID: n.ID, IPVersion: 6, CIDR: "2001:db8::/64"})
		if err != nil {
			t.Fatal(err)
		}
		pools, err := p.CreateSubnet(ctx, neutron.SubnetCreate{NetworkID: n.ID, IPVersion: 4, CIDR: "10.0.0.0/24",
			AllocationPools: []neutron.AllocationPool{{Start: "10.0.0.10", End: "10.0.0.19"}, {Start: "10.0.0.100", End: "10.0.0.104"}}})
		if err != nil {
			t.Fatal(err)
		}
		empty, err := p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: "other", Name: "empty"})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ { // each takes a v4 and a v6 address
			if _, err := p.CreatePort(ctx, neutron.PortCreate{NetworkID: n.ID}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := p.CreatePort(ctx, neutron.PortCreate{NetworkID: n.ID, FixedIPs: []neutron.FixedIPRequest{{SubnetID: pools.ID}}}); err != nil {
			t.Fatal(err)
		}

		all, err := p.NetworkIPAvailabilities(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 2 {
			t.Fatalf("%d networks, want 2: %+v", len(all), all)
		}
		var a, e neutron.NetworkIPAvailability
		for _, x := range all {
			if x.NetworkID == n.ID {
				a = x
			} else {
				e = x
			}
		}
		if e.NetworkID != empty.ID || e.ProjectID != "other" || e.NetworkName != "empty" || len(e.Subnets) != 0 || e.UsedIPs != 0 || e.TotalIPs.Sign() != 0 {
			t.Fatalf("network without subnets: %+v", e)
		}
		v6 := new(big.Int).Lsh(big.NewInt(1), 64)
		v6.Sub(v6, big.NewInt(2)) // ::2 .. ::ffff:ffff:ffff:ffff
		want := map[string]struct {
			used  int64
			total *big.Int
		}{s4.ID: {3, big.NewInt(253)}, s6.ID: {3, v6}, pools.ID: {1, big.NewInt(15)}}
		if len(a.Subnets) != 3 || a.UsedIPs != 7 || a.NetworkName != n.Name || a.ProjectID != tenant {
			t.Fatalf("network: %+v", a)
		}
		sum := new(big.Int)
		for _, s := range a.Subnets {
			w := want[s.SubnetID]
			if w.total == nil || s.UsedIPs != w.used || s.TotalIPs.Cmp(w.total) != 0 {
				t.Fatalf("subnet %s (%s): used %d total %s, want %d %s", s.SubnetID, s.CIDR, s.UsedIPs, s.TotalIPs, w.used, w.total)
			}
			sum.Add(sum, w.total)
		}
		if a.TotalIPs.Cmp(sum) != 0 {
			t.Fatalf("network total %s, want %s", a.TotalIPs, sum)
		}

		// ip_version=6 keeps only the IPv6 subnet and drops the network
		// without one; the network filters select.
		v6only, err := p.NetworkIPAvailabilities(ctx, map[string][]string{"ip_version": {"6"}})
		if err != nil || len(v6only) != 1 || len(v6only[0].Subnets) != 1 || v6only[0].Subnets[0].SubnetID != s6.ID || v6only[0].UsedIPs != 3 {
			t.Fatalf("ip_version=6: %+v %v", v6only, err)
		}
		for _, f := range []map[string][]string{{"network_id": {empty.ID}}, {"network_name": {"empty"}}, {"project_id": {"other"}}, {"tenant_id": {"other"}}} {
			got, err := p.NetworkIPAvailabilities(ctx, f)
			if err != nil || len(got) != 1 || got[0].NetworkID != empty.ID {
				t.Fatalf("%v: %+v %v", f, got, err)
			}
		}
	})
}
