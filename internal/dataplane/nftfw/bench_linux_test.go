package nftfw_test

import (
	"context"
	"fmt"
	"testing"

	"neutrino/internal/dataplane/nftfw"
	"neutrino/internal/lab"
)

// BenchmarkKernelApply times one Apply (plan, diff, one transaction) in a
// namespace holding n filtered ports of one group with 1000 more members
// elsewhere: nothing changed (the reference: plan and diff only), a member
// joining or leaving, and a rule added to or removed from the group.
// Run: go test -run XXX -bench KernelApply ./internal/dataplane/nftfw/
func BenchmarkKernelApply(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		for _, change := range []struct {
			name string
			mod  func(nftfw.Input) nftfw.Input
		}{{"none", func(in nftfw.Input) nftfw.Input { return in }}, {"member", joinMember}, {"rule", addRule}} {
			b.Run(fmt.Sprintf("%s/ports=%d", change.name, n), func(b *testing.B) {
				ns := "nt-" + lab.RandomID() + "-bench"
				if err := lab.CreateNS(ns); err != nil {
					b.Fatal(err)
				}
				defer lab.DeleteNS(ns)
				ctx := context.Background()
				a := nftfw.NewApplier(ns, nil)
				base := groupNode(n, 1000)
				alt := change.mod(base)
				if _, err := a.Apply(ctx, base); err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				cost := 0
				for i := range b.N {
					in := alt
					if i%2 == 1 {
						in = base
					}
					res, err := a.Apply(ctx, in)
					if err != nil {
						b.Fatal(err)
					}
					cost += res.Cost
				}
				b.ReportMetric(float64(cost)/float64(b.N), "objects/op")
			})
		}
	}
}
