package rpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"neutrino/internal/l2pop"
	"neutrino/internal/rpc/pb"
	"neutrino/internal/rpc/rpctest"
	"neutrino/internal/secgroup"
	"neutrino/internal/waittest"
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
	// A registered host's watch is served the view the server has
	// applied: wait for compute-2's registration to be in it.
	waittest.For(t, "server at the backend's revision", func() bool { return h.srv.Revision() == mem.Revision() })
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

// firstSnapshot watches host from revision 0 on c and returns the first
// snapshot, decoded, with its size on the wire.
func firstSnapshot(t *testing.T, c *Client, host string) Update {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var got Update
	errDone := errors.New("done")
	err := c.Watch(ctx, host, 0, func(u Update) error {
		if u.Snapshot == nil {
			return fmt.Errorf("first message of %s is not a snapshot", host)
		}
		got = u
		return errDone
	})
	if !errors.Is(err, errDone) {
		t.Fatalf("watch %s: %v", host, err)
	}
	return got
}

// TestVTEPSetSentOnce: a client that holds the cloud's VTEP set from one
// agent's snapshot names it in its next watches, and the server leaves it
// out of their snapshots; each decodes to exactly the view a fresh
// computation gives (as a snapshot with the set does). A moved set is sent
// again.
func TestVTEPSetSentOnce(t *testing.T) {
	cfg := l2pop.Config{Enabled: true}
	mem := rpctest.NewMemory()
	h := startServer(t, mem, ServerConfig{L2Pop: cfg}, "")
	c := dial(t, h.addr, ClientConfig{})
	const hosts = 50
	for i := range hosts {
		register(t, c, fmt.Sprintf("compute-%d", i), fmt.Sprintf("198.18.0.%d", i+1), true)
	}
	mem.CreateNetwork("net-a", 1001)
	mem.PutPort("vm-a", "net-a", "compute-1", "fa:16:3e:00:00:0a", "192.168.1.11")
	mem.PutPort("vm-b", "net-a", "compute-2", "fa:16:3e:00:00:0b", "192.168.1.12")
	waittest.For(t, "server at the backend's revision", func() bool { return h.srv.Revision() == mem.Revision() })

	nodes := hosts
	check := func(u Update, host string) {
		t.Helper()
		if want := expected(cfg, mem, host); !u.Snapshot.Equal(want) {
			t.Fatalf("%s decoded to\n%+v\nwant\n%+v", host, *u.Snapshot, want)
		}
		if len(u.Snapshot.Firewall.VTEPs) != nodes {
			t.Fatalf("%s: %d VTEPs, want %d", host, len(u.Snapshot.Firewall.VTEPs), nodes)
		}
	}
	first := firstSnapshot(t, c, "compute-1")
	check(first, "compute-1")
	again := firstSnapshot(t, c, "compute-1")
	check(again, "compute-1")
	// Left out: the 4 bytes of each VTEP, less the 32-byte digest that
	// names them (and a few bytes of field headers).
	const saving = 4*hosts - 40
	if saved := first.Size - again.Size; saved < saving {
		t.Fatalf("snapshot with the held set %d bytes, first %d: want the %d bytes of VTEPs left out", again.Size, first.Size, 4*hosts)
	}
	other := firstSnapshot(t, c, "compute-2")
	check(other, "compute-2")
	fresh := firstSnapshot(t, dial(t, h.addr, ClientConfig{}), "compute-2")
	check(fresh, "compute-2")
	if fresh.Size-other.Size < saving {
		t.Fatalf("compute-2: %d bytes on a client holding the set, %d on a new client: want the VTEPs left out", other.Size, fresh.Size)
	}

	// A new node moves the set: the next snapshot carries it again, and
	// the one after names it.
	register(t, c, "compute-new", "198.18.1.1", true)
	nodes++
	waittest.For(t, "server at the backend's revision", func() bool { return h.srv.Revision() == mem.Revision() })
	moved := firstSnapshot(t, c, "compute-1")
	check(moved, "compute-1")
	if moved.Size < again.Size+saving {
		t.Fatalf("after a new node: %d bytes, want the %d VTEPs sent in full", moved.Size, nodes)
	}
}

// TestHeldVTEPsRefused: a snapshot naming a set its watch did not ask
// with is refused, not decoded without its underlay filter; a request
// naming another set gets the set in full.
func TestHeldVTEPsRefused(t *testing.T) {
	set := firewallPB(secgroup.Firewall{VTEPs: addrs("198.18.0.1", "198.18.0.2")})
	digest := vtepsDigest(set.Vteps4, set.Vteps6)
	var c vtepCache
	if _, err := c.unpack(set.Vteps4, set.Vteps6); err != nil {
		t.Fatal(err)
	}
	held := c.held()
	if held == nil || !bytes.Equal(held.digest, digest) {
		t.Fatal("cache holds no set, or another digest")
	}
	other := firewallPB(secgroup.Firewall{VTEPs: addrs("198.18.0.1", "198.18.0.3")})
	omitHeldVTEPs(other, digest)
	if len(other.Vteps4) != 8 || other.VtepsDigest != nil {
		t.Fatalf("another set was left out for the digest of this one: %+v", other)
	}
	same := firewallPB(secgroup.Firewall{VTEPs: addrs("198.18.0.1", "198.18.0.2")})
	omitHeldVTEPs(same, digest)
	if len(same.Vteps4) != 0 || !bytes.Equal(same.VtepsDigest, digest) {
		t.Fatalf("the held set was sent: %+v", same)
	}
	named := &pb.Firewall{VtepsDigest: vtepsDigest([]byte{198, 18, 0, 9}, nil)}
	if err := restoreHeldVTEPs(named, held); err == nil {
		t.Fatal("a snapshot naming a set the watch does not hold was taken")
	}
	if err := restoreHeldVTEPs(&pb.Firewall{VtepsDigest: digest}, nil); err == nil {
		t.Fatal("a snapshot naming a set was taken by a watch that named none")
	}
	if err := restoreHeldVTEPs(same, held); err != nil {
		t.Fatal(err)
	}
	f, err := pbFirewall(same, &c)
	if err != nil || !slices.Equal(f.VTEPs, addrs("198.18.0.1", "198.18.0.2")) {
		t.Fatalf("restored set decoded to %v, %v", f.VTEPs, err)
	}
	// Different splits of the same bytes are different sets.
	if bytes.Equal(vtepsDigest(make([]byte, 16), nil), vtepsDigest(nil, make([]byte, 16))) {
		t.Fatal("four IPv4 VTEPs and one IPv6 VTEP of the same bytes share a digest")
	}
}
