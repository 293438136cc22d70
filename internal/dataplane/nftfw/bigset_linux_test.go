package nftfw_test

import (
	"context"
	"testing"

	"neutrino/internal/dataplane/nftfw"
)

// TestKernelBigSet: a remote group of 3000 members is one set in one
// transaction (its element list is split over messages, each under the
// 64 KiB a netlink attribute can hold) and reads back whole.
func TestKernelBigSet(t *testing.T) {
	ns := scratchNS(t)
	in := groupNode(1, 2999)
	a := nftfw.NewApplier(ns, nil)
	if _, err := a.Apply(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	back, err := a.Read()
	if err != nil {
		t.Fatal(err)
	}
	set := back.Table(nftfw.Inet).Set(nftfw.RemoteSetName(sgDef, false))
	if set == nil || len(set.Elems) != 3000 {
		t.Fatalf("the remote group set reads back with %v elements, want 3000", set)
	}
	want, _ := nftfw.Plan(in, back)
	if ops := nftfw.Diff(back, want); len(ops) != 0 {
		t.Errorf("read back differs:\n%s", opsText(ops))
	}
}
