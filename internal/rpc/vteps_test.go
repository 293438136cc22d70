package rpc

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"neutrino/internal/l2pop"
	"neutrino/internal/rpc/pb"
	"neutrino/internal/rpc/rpctest"
	"neutrino/internal/secgroup"
)

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

// TestVTEPsPacked: the firewall's VTEP set goes out packed (two bytes
// fields, not one item per address), comes back equal and in order, with
// IPv4 and IPv6 mixed; a list in the per-item form older servers send is
// still read (and merged), and bad lengths are refused.
func TestVTEPsPacked(t *testing.T) {
	vteps := addrs("198.18.0.1", "198.18.0.2", "198.18.1.7", "2001:db8::1", "2001:db8::a")
	p := firewallPB(secgroup.Firewall{VTEPs: vteps})
	if len(p.GetVteps()) != 0 || len(p.GetVteps4()) != 12 || len(p.GetVteps6()) != 32 {
		t.Fatalf("encoded vteps %d items, vteps4 %d bytes, vteps6 %d bytes; want 0, 12, 32", len(p.GetVteps()), len(p.GetVteps4()), len(p.GetVteps6()))
	}
	f, err := pbFirewall(p, nil)
	if err != nil || !slices.Equal(f.VTEPs, vteps) {
		t.Fatalf("decoded %v (err %v), want %v", f.VTEPs, err, vteps)
	}
	old := &pb.Firewall{Vteps: addrsBytes(addrs("198.18.0.9", "198.18.0.1"))}
	old.Vteps4, _ = packAddrs(addrs("198.18.0.5"))
	f, err = pbFirewall(old, nil)
	if want := addrs("198.18.0.1", "198.18.0.5", "198.18.0.9"); err != nil || !slices.Equal(f.VTEPs, want) {
		t.Errorf("old and packed forms: decoded %v (err %v), want %v", f.VTEPs, err, want)
	}
	if _, err := pbFirewall(&pb.Firewall{Vteps4: []byte{198, 18, 0}}, nil); err == nil {
		t.Error("3 bytes of IPv4 VTEPs accepted")
	}
	if _, err := pbFirewall(&pb.Firewall{Vteps6: make([]byte, 17)}, nil); err == nil {
		t.Error("17 bytes of IPv6 VTEPs accepted")
	}
	unsorted := &pb.Firewall{Vteps4: []byte{198, 18, 0, 9, 198, 18, 0, 1}}
	if f, err := pbFirewall(unsorted, nil); err != nil || !slices.Equal(f.VTEPs, addrs("198.18.0.1", "198.18.0.9")) {
		t.Errorf("unsorted packed list decoded to %v (err %v)", f.VTEPs, err)
	}
}

// TestVTEPCacheShares: snapshots with the same VTEP set decoded by one
// client share one list; a different set is decoded afresh and equals
// what an uncached decode gives.
func TestVTEPCacheShares(t *testing.T) {
	var c vtepCache
	a := firewallPB(secgroup.Firewall{VTEPs: addrs("198.18.0.1", "198.18.0.2")})
	b := firewallPB(secgroup.Firewall{VTEPs: addrs("198.18.0.1", "198.18.0.3")})
	f1, _ := pbFirewall(a, &c)
	f2, _ := pbFirewall(firewallPB(secgroup.Firewall{VTEPs: addrs("198.18.0.1", "198.18.0.2")}), &c)
	if &f1.VTEPs[0] != &f2.VTEPs[0] {
		t.Error("equal VTEP sets were decoded into two lists")
	}
	f3, _ := pbFirewall(b, &c)
	want, _ := pbFirewall(b, nil)
	if !slices.Equal(f3.VTEPs, want.VTEPs) || &f3.VTEPs[0] == &f1.VTEPs[0] {
		t.Errorf("another set decoded to %v, want %v in a list of its own", f3.VTEPs, want.VTEPs)
	}
	if !slices.Equal(f1.VTEPs, addrs("198.18.0.1", "198.18.0.2")) {
		t.Errorf("first list changed to %v", f1.VTEPs)
	}
	if f, _ := pbFirewall(&pb.Firewall{}, &c); f.VTEPs != nil {
		t.Errorf("no VTEPs decoded to %v", f.VTEPs)
	}
}

// TestWatchPacksVTEPsOnlyWhenAsked: a server sends the VTEP set packed
// only to an agent whose watch says it reads that form; an agent built
// before it (no packed_vteps in its request) gets one item per address,
// so upgrading the server first keeps every agent's underlay filter.
func TestWatchPacksVTEPsOnlyWhenAsked(t *testing.T) {
	mem := rpctest.NewMemory()
	h := startServer(t, mem, ServerConfig{L2Pop: l2pop.Config{Enabled: true}}, "")
	c := dial(t, h.addr, ClientConfig{})
	register(t, c, "compute-1", "198.18.0.1", true)
	register(t, c, "compute-2", "198.18.0.2", true)
	for _, packed := range []bool{false, true} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		stream, err := c.api.Watch(ctx, &pb.WatchRequest{Host: "compute-1", PackedVteps: packed})
		if err != nil {
			t.Fatal(err)
		}
		m, err := stream.Recv()
		cancel()
		if err != nil {
			t.Fatalf("packed=%v: %v", packed, err)
		}
		fw := m.GetSnapshot().GetFirewall()
		items, bytes4 := len(fw.GetVteps()), len(fw.GetVteps4())
		if packed && (items != 0 || bytes4 != 8) || !packed && (items != 2 || bytes4 != 0) {
			t.Errorf("packed_vteps=%v: got %d items and %d packed bytes", packed, items, bytes4)
		}
		f, err := pbFirewall(fw, nil)
		if want := addrs("198.18.0.1", "198.18.0.2"); err != nil || !slices.Equal(f.VTEPs, want) {
			t.Errorf("packed_vteps=%v: decoded %v (err %v), want %v", packed, f.VTEPs, err, want)
		}
	}
}
