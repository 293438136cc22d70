package ml2

import (
	"context"
	"fmt"
	"testing"

	"neutrino/internal/neutron"
	"neutrino/internal/store"
)

// benchPorts fills a network with n ports (one fixed IP and one tag each)
// in one transaction, bypassing allocation so setup stays fast.
func benchPorts(b *testing.B, d store.Dialect, n int) (*Plugin, string) {
	b.Helper()
	ctx := context.Background()
	p := newPlugin(b, d, seedConfig())
	net, err := p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: tenant})
	if err != nil {
		b.Fatal(err)
	}
	sub, err := p.CreateSubnet(ctx, neutron.SubnetCreate{NetworkID: net.ID, IPVersion: 4, CIDR: "10.0.0.0/16"})
	if err != nil {
		b.Fatal(err)
	}
	for lo := 0; lo < n; lo += 1000 {
		if _, err := p.st.Write(ctx, func(t *store.Tx) error {
			for i := lo; i < min(lo+1000, n); i++ {
				pt := &neutron.Port{Standard: neutron.Standard{ID: store.NewID(), ProjectID: tenant, Name: fmt.Sprintf("p%d", i), Tags: []string{"bench"},
					CreatedAt: t.Now(), UpdatedAt: t.Now(), RevisionNumber: 1},
					NetworkID: net.ID, MACAddress: fmt.Sprintf("fa:16:3e:%02x:%02x:%02x", i>>16&0xff, i>>8&0xff, i&0xff),
					FixedIPs: []neutron.FixedIP{{SubnetID: sub.ID, IPAddress: fmt.Sprintf("10.0.%d.%d", (i+2)>>8, (i+2)&0xff)}},
					Status:   neutron.StatusDown, AdminStateUp: true, SecurityGroups: []string{}, AllowedAddressPairs: []neutron.AddressPair{}}
				pt.VIFType, pt.VNICType = neutron.VIFUnbound, "normal"
				if err := t.InsertPort(ctx, pt); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	return p, net.ID
}

// BenchmarkListPorts10k lists 10,000 ports with fixed IPs and tags (three
// queries); the reference is one bare SELECT of the same port rows.
func BenchmarkListPorts10k(b *testing.B) {
	const n = 10000
	for _, d := range []store.Dialect{store.SQLite, store.Postgres, store.MySQL} {
		b.Run(string(d), func(b *testing.B) {
			p, netID := benchPorts(b, d, n)
			ctx := context.Background()
			b.Run("ListPorts", func(b *testing.B) {
				for b.Loop() {
					ps, err := p.ListPorts(ctx, neutron.ListQuery{Filters: map[string][]string{"network_id": {netID}}})
					if err != nil || len(ps) != n || len(ps[n-1].FixedIPs) != 1 || len(ps[0].Tags) != 1 {
						b.Fatalf("%d ports, %v", len(ps), err)
					}
				}
			})
			b.Run("reference-bare-select", func(b *testing.B) {
				for b.Loop() {
					rows, err := p.st.DB().QueryContext(ctx, "SELECT "+portColsForBench+" FROM ports")
					if err != nil {
						b.Fatal(err)
					}
					k := 0
					for rows.Next() {
						var id, name, mac, net string
						if err := rows.Scan(&id, &name, &mac, &net); err != nil {
							b.Fatal(err)
						}
						k++
					}
					rows.Close()
					if k != n {
						b.Fatal(k)
					}
				}
			})
		})
	}
}

const portColsForBench = "id, name, mac_address, network_id"

// BenchmarkCreatePortParallel creates ports on one /16 from 16 goroutines
// (one plugin); the reference is a bare write transaction that appends
// one change-log row (the revision-counter floor every write pays).
func BenchmarkCreatePortParallel(b *testing.B) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres, store.MySQL} {
		b.Run(string(d), func(b *testing.B) {
			ctx := context.Background()
			p := newPlugin(b, d, seedConfig())
			net, err := p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: tenant})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := p.CreateSubnet(ctx, neutron.SubnetCreate{NetworkID: net.ID, IPVersion: 4, CIDR: "10.0.0.0/16"}); err != nil {
				b.Fatal(err)
			}
			b.Run("CreatePort", func(b *testing.B) {
				b.SetParallelism(8) // 2 CPUs x 8 = 16 goroutines
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := p.CreatePort(ctx, neutron.PortCreate{ProjectID: tenant, NetworkID: net.ID}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
			b.Run("reference-empty-write", func(b *testing.B) {
				b.SetParallelism(8)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := p.st.Write(ctx, func(t *store.Tx) error {
							t.Emit(neutron.Change{Kind: "bench", ID: "x", Op: neutron.OpUpdate})
							return nil
						}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		})
	}
}
