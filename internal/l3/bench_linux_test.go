package l3_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"

	"neutrino/internal/l3"
	"neutrino/internal/lab"
)

// benchState is n routers, each with one interface, a gateway with SNAT
// and a floating IP (three devices' worth of addresses, routes and NAT).
func benchState(n int) l3.State {
	var s l3.State
	for i := range n {
		hi, lo := byte(i/250), byte(i%250+1)
		r := l3.Router{ID: uuid.NewString(),
			Interfaces: []l3.Port{{ID: uuid.NewString(), NetworkID: uuid.NewString(), MAC: fmt.Sprintf("fa:16:3e:01:%02x:%02x", hi, lo), MTU: 1450,
				Addresses: []netip.Prefix{netip.MustParsePrefix("192.168.1.1/24")}}},
			Gateway: &l3.Gateway{Port: l3.Port{ID: uuid.NewString(), NetworkID: extID, MAC: fmt.Sprintf("fa:16:3e:02:%02x:%02x", hi, lo), MTU: 1500,
				Addresses: []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 19, hi, lo}), 16)}},
				NextHops: []netip.Addr{netip.MustParseAddr("198.19.255.254")}, EnableSNAT: true},
			FloatingIPs: []l3.FloatingIP{{ID: uuid.NewString(), FloatingIP: netip.AddrFrom4([4]byte{198, 19, 100 + hi, lo}),
				FixedIP: netip.MustParseAddr("192.168.1.5")}},
		}
		s.Routers = append(s.Routers, r)
	}
	return s
}

// BenchmarkRestartSync: the full sync of a restarted L3 agent (a new
// Applier that remembers nothing) over n routers the node already has:
// every namespace's devices, addresses, routes, sysctls and NAT table read
// back and compared, nothing changed. Linux bridge driver (veths into a
// host namespace).
func BenchmarkRestartSync(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Fatal("needs root (namespaces)")
	}
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("routers=%d", n), func(b *testing.B) {
			ctx := context.Background()
			host := "nt-" + lab.RandomID() + "-l3bench"
			if err := lab.CreateNS(host); err != nil {
				b.Fatal(err)
			}
			cfg := l3.Config{StateDir: b.TempDir(), Driver: l3.BridgeDriver{}, HostNS: host}
			defer func() {
				start := time.Now()
				if err := l3.NewApplier(cfg).Remove(ctx); err != nil {
					b.Error(err)
				}
				b.Logf("removed %d routers in %s", n, time.Since(start))
				if err := lab.DeleteNS(host); err != nil {
					b.Error(err)
				}
			}()
			s := benchState(n)
			start := time.Now()
			if res, err := l3.NewApplier(cfg).Apply(ctx, s); err != nil || res.Converged != n {
				b.Fatalf("create: %+v %v", res, err)
			}
			b.Logf("created %d routers in %s", n, time.Since(start))
			sample := l3.Namespace(s.Routers[n/2].ID)
			before, err := lab.Exec(ctx, sample, "sh", "-c", "nft -a list ruleset; ip -o link; ip -o addr; ip route")
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				app := l3.NewApplier(cfg)
				res, err := app.Apply(ctx, s)
				if err != nil || res.Converged != n || res.Removed != 0 {
					b.Fatalf("restart sync: %+v %v", res, err)
				}
			}
			b.StopTimer()
			after, err := lab.Exec(ctx, sample, "sh", "-c", "nft -a list ruleset; ip -o link; ip -o addr; ip route")
			if err != nil {
				b.Fatal(err)
			}
			if string(after) != string(before) {
				b.Errorf("the restart sync changed %s:\n%s\n---\n%s", sample, before, after)
			}
		})
	}
}
