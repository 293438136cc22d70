package linux

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"

	"neutrino/internal/dataplane"
	"neutrino/internal/lab"
)

// TestApplyReadsBackConverged checks the reading side against the writing
// side on a real kernel: after Apply, what read() finds plans to nothing,
// in every BUM mode, so a periodic Apply never re-creates a working device.
func TestApplyReadsBackConverged(t *testing.T) {
	ctx := context.Background()
	l, node := oneNode(t, ctx)
	port := "4f63feaf-e92a-4045-8e45-d3160c99fb84"
	if _, err := l.AddVM(ctx, node, "vm1", lab.VIF{PortID: port, MAC: "fa:16:3e:00:00:01",
		Addr: netip.MustParsePrefix("192.168.1.4/24"), MTU: 1450}); err != nil {
		t.Fatal(err)
	}
	d, err := New(Options{NetNS: node.NS, TTL: 32, TOS: 0})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	peers := []netip.Addr{netip.MustParseAddr("198.18.0.102"), netip.MustParseAddr("198.18.0.103")}
	ents := []dataplane.Entry{{MAC: "fa:16:3e:00:00:02", IP: netip.MustParseAddr("192.168.1.2"), VTEP: peers[0]}}
	nets := map[string]dataplane.Network{
		"full-mesh":       {Flood: peers},
		"multicast-group": {Group: netip.MustParseAddr("239.1.1.1")},
		"l2population":    {L2Pop: true, Flood: peers[:1], Entries: ents},
		"arp_responder":   {L2Pop: true, ARPResponder: true, Flood: peers[:1], Entries: ents},
	}
	for _, name := range []string{"full-mesh", "multicast-group", "l2population", "arp_responder", "full-mesh"} {
		n := nets[name]
		n.ID, n.VNI, n.MTU = "3f0e2b1c-9d7a-4c55-8f21-6b0d9e4a7c11", 1001, 1450
		want := dataplane.NodeState{LocalIP: node.IP(), UDPPort: 4789, Networks: map[string]dataplane.Network{n.ID: n},
			Ports: map[string]dataplane.LocalPort{port: {ID: port, NetworkID: n.ID}}}
		if err := d.Apply(ctx, want); err != nil {
			t.Fatalf("%s: apply: %v", name, err)
		}
		d.Resync() // read the kernel, not the record
		cur, err := d.read()
		if err != nil {
			t.Fatal(err)
		}
		if ops := lines(plan(cur, want, options{TTL: 32, VTEPDev: lab.UnderlayDev})); ops != "" {
			t.Errorf("%s: kernel read back after Apply still plans:\n%s", name, ops)
		}
		if got, want := renderKernel(cur), renderEntries(want, options{}); got != want {
			t.Errorf("%s: kernel entries:\n%s\nwant:\n%s", name, got, want)
		}
		// The golden text is what iproute2 itself prints for the kernel.
		fdb, err1 := lab.Exec(ctx, node.NS, "bridge", "fdb", "show")
		neigh, err2 := lab.Exec(ctx, node.NS, "ip", "neigh", "show")
		if err1 != nil || err2 != nil {
			t.Fatalf("iproute2: %v %v", err1, err2)
		}
		shown := map[string]bool{}
		for _, l := range strings.Split(string(fdb)+string(neigh), "\n") {
			// The kernel's own group entry also names the underlay device
			// ("via underlay"), which the entry model leaves out.
			shown[strings.Replace(strings.TrimSpace(l), " via "+lab.UnderlayDev, "", 1)] = true
		}
		for _, l := range strings.Split(strings.TrimSpace(renderEntries(want, options{})), "\n") {
			if l != "" && !shown[l] {
				t.Errorf("%s: iproute2 does not print %q:\n%s%s", name, l, fdb, neigh)
			}
		}
	}
	// local_ip on no interface: an error, and nothing is changed (the
	// working device is not re-created without its "dev").
	bad := dataplane.NodeState{LocalIP: netip.MustParseAddr("198.18.0.250"), UDPPort: 4789,
		Networks: map[string]dataplane.Network{"other": {ID: "88aa77bb-1234-4c55-8f21-6b0d9e4a7c22", VNI: 1002, MTU: 1450}}}
	before, _ := d.read()
	if err := d.Apply(ctx, bad); err == nil || !strings.Contains(err.Error(), "local_ip") {
		t.Errorf("Apply with local_ip on no interface: %v", err)
	}
	if after, _ := d.read(); len(after.Links) != len(before.Links) || len(after.FDB) != len(before.FDB) {
		t.Errorf("a refused Apply changed the kernel: %d->%d links, %d->%d fdb", len(before.Links), len(after.Links), len(before.FDB), len(after.FDB))
	}

	// The last port gone: nothing of ours is left, the tap stays.
	if err := d.Apply(ctx, dataplane.NodeState{LocalIP: node.IP(), UDPPort: 4789}); err != nil {
		t.Fatal(err)
	}
	cur, _ := d.read()
	for _, l := range cur.Links {
		if ownedBridge.MatchString(l.Name) || ownedVXLAN.MatchString(l.Name) {
			t.Errorf("%s survived the last port", l.Name)
		}
	}
	if devs, err := d.Devices(ctx); err != nil || len(devs) != 1 {
		t.Errorf("the tap must stay (Nova owns it): %v %v", devs, err)
	}
}

func renderKernel(k kernelState) string {
	var s string
	for _, e := range uniqFDB(k.FDB) {
		s += e.String() + "\n"
	}
	for _, e := range uniqNeigh(k.Neigh) {
		s += e.String() + "\n"
	}
	return s
}

// TestPlanTextIsIproute2: the rendered plan is not just text for golden
// files: run by iproute2 in a fresh node, it builds a state our reader
// finds converged (so the golden text says what Apply does).
func TestPlanTextIsIproute2(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test builds network namespaces and needs root: run `make test` (as root)")
	}
	ctx := context.Background()
	l, err := lab.New(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Teardown(ctx); err != nil {
			t.Errorf("teardown: %v", err)
		}
	})
	port := "4f63feaf-e92a-4045-8e45-d3160c99fb84"
	peer := netip.MustParseAddr("198.18.0.102")
	for i, n := range []dataplane.Network{
		{Flood: []netip.Addr{peer, netip.MustParseAddr("198.18.0.103")}},
		{Group: netip.MustParseAddr("239.1.1.1")},
		{L2Pop: true, ARPResponder: true, Flood: []netip.Addr{peer},
			Entries: []dataplane.Entry{{MAC: "fa:16:3e:00:00:02", IP: netip.MustParseAddr("192.168.1.2"), VTEP: peer}}},
	} {
		node, err := l.AddNode(ctx, fmt.Sprintf("n%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.AddVM(ctx, node, fmt.Sprintf("vm%d", i), lab.VIF{PortID: port, MAC: "fa:16:3e:00:00:01",
			Addr: netip.MustParsePrefix("192.168.1.4/24"), MTU: 1500}); err != nil {
			t.Fatal(err)
		}
		n.ID, n.VNI, n.MTU = "3f0e2b1c-9d7a-4c55-8f21-6b0d9e4a7c11", 1001, 1450
		want := dataplane.NodeState{LocalIP: node.IP(), UDPPort: 4789, Networks: map[string]dataplane.Network{n.ID: n},
			Ports: map[string]dataplane.LocalPort{port: {ID: port, NetworkID: n.ID}}}
		d, err := New(Options{NetNS: node.NS})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		opt := options{VTEPDev: lab.UnderlayDev}
		cur, err := d.read()
		if err != nil {
			t.Fatal(err)
		}
		ops := plan(cur, want, opt)
		if len(ops) == 0 {
			t.Fatal("empty plan from an empty node")
		}
		for _, o := range ops {
			if out, err := lab.Exec(ctx, node.NS, strings.Fields(o.String())...); err != nil {
				t.Fatalf("iproute2 rejects %q: %v %s", o, err, out)
			}
		}
		cur, err = d.read()
		if err != nil {
			t.Fatal(err)
		}
		if rest := lines(plan(cur, want, opt)); rest != "" {
			t.Errorf("network %d: after running the plan with iproute2, still to do:\n%s", i, rest)
		}
	}
}

// TestRecordFollowsKernel: Apply keeps a record of the entries it
// installed and diffs against it instead of dumping the FDB and the
// neighbour table; after changes of every kind the record equals what the
// kernel has. A hand deletion waits for the audit (Resync); a vxlan device
// deleted by hand is seen by Drifted and rebuilt by the next Apply.
func TestRecordFollowsKernel(t *testing.T) {
	ctx := context.Background()
	_, node := oneNode(t, ctx)
	d, err := New(Options{NetNS: node.NS})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	vtep := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 18, 1, byte(1 + i%5)}) }
	state := func(shift int, n int) dataplane.NodeState {
		nt := dataplane.Network{ID: "3f0e2b1c-9d7a-4c55-8f21-6b0d9e4a7c11", VNI: 1001, MTU: 1450, L2Pop: true, ARPResponder: true,
			Flood: []netip.Addr{vtep(0), vtep(1), vtep(shift)}}
		for i := range n {
			nt.Entries = append(nt.Entries, dataplane.Entry{MAC: fmt.Sprintf("fa:16:3e:00:%02x:%02x", i>>8, i),
				IP: netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), VTEP: vtep(i + shift)})
		}
		return dataplane.NodeState{LocalIP: node.IP(), UDPPort: 4789, Networks: map[string]dataplane.Network{nt.ID: nt}}
	}
	apply := func(s dataplane.NodeState) {
		t.Helper()
		if err := d.Apply(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	// recordMatchesKernel compares what the record says with a dump.
	recordMatchesKernel := func(what string) {
		t.Helper()
		rec, err := d.read()
		if err != nil {
			t.Fatal(err)
		}
		if len(d.installed) == 0 {
			t.Fatalf("%s: no record kept", what)
		}
		d.Resync()
		kern, err := d.read()
		if err != nil {
			t.Fatal(err)
		}
		if got, want := renderKernel(rec), renderKernel(kern); got != want {
			t.Errorf("%s: record\n%s\nkernel\n%s", what, got, want)
		}
	}
	apply(state(0, 200))
	apply(state(0, 200)) // reads the new device back once: the record starts
	recordMatchesKernel("after the first apply")
	// Entries moved to other VTEPs (FDB replace, flood list changed),
	// some gone (FDB and neighbour deletes), some new.
	apply(state(0, 150))
	apply(state(2, 180))
	recordMatchesKernel("after moves, removals and additions")

	// A hand deletion: invisible to Apply until the audit.
	mac := "fa:16:3e:00:00:07"
	if _, err := lab.Exec(ctx, node.NS, "bridge", "fdb", "del", mac, "dev", "vxlan-1001", "dst", vtep(7+2).String(), "self"); err != nil {
		t.Fatal(err)
	}
	has := func() bool {
		out, err := lab.Exec(ctx, node.NS, "bridge", "fdb", "show", "dev", "vxlan-1001")
		if err != nil {
			t.Fatal(err)
		}
		return strings.Contains(string(out), mac+" dst "+vtep(7+2).String())
	}
	if has() {
		t.Fatal("hand deletion did not delete")
	}
	if d.Drifted() {
		t.Error("Drifted() after a hand edit no cheap check can see")
	}
	apply(state(2, 180))
	if has() {
		t.Error("Apply without Resync read the FDB back")
	}
	d.Resync()
	apply(state(2, 180))
	if !has() {
		t.Error("audit (Resync + Apply) did not restore the entry")
	}

	// The vxlan device deleted by hand: Drifted sees it, Apply rebuilds.
	if _, err := lab.Exec(ctx, node.NS, "ip", "link", "del", "vxlan-1001"); err != nil {
		t.Fatal(err)
	}
	if !d.Drifted() {
		t.Error("vxlan device deleted by hand: Drifted() is false")
	}
	apply(state(2, 180))
	if !has() {
		t.Error("re-created device lacks its entries")
	}
	apply(state(2, 180))
	recordMatchesKernel("after the device was rebuilt")
}

// TestOneChangeCostsItsEntries counts the netlink requests of Apply: one
// entry's MAC changed costs the same requests whether the node holds 200
// or 4,000 entries (the link and address lists, the local_ip device, the
// FDB entry's delete and add and the neighbour's set), reads none of the
// entries back and plans only the changed network's entries; an Apply
// with nothing to change plans and changes nothing. The kernel then holds
// the change.
func TestOneChangeCostsItsEntries(t *testing.T) {
	ctx := context.Background()
	_, node := oneNode(t, ctx)
	d, err := New(Options{NetNS: node.NS})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	// Two networks of n entries; the first entry of the first changes.
	state := func(n int, mac0 string) dataplane.NodeState {
		s := dataplane.NodeState{LocalIP: node.IP(), UDPPort: 4789, Networks: map[string]dataplane.Network{}}
		for k, id := range []string{"3f0e2b1c-9d7a-4c55-8f21-6b0d9e4a7c11", "4f0e2b1c-9d7a-4c55-8f21-6b0d9e4a7c12"} {
			nt := dataplane.Network{ID: id, VNI: uint32(1001 + k), MTU: 1450, L2Pop: true, ARPResponder: true,
				Flood: []netip.Addr{netip.MustParseAddr("198.18.1.1")}}
			for i := range n {
				nt.Entries = append(nt.Entries, dataplane.Entry{MAC: fmt.Sprintf("fa:16:3e:%02x:%02x:%02x", k, i>>8, i&0xff),
					IP: netip.AddrFrom4([4]byte{10, byte(k), byte(i >> 8), byte(i)}), VTEP: netip.AddrFrom4([4]byte{198, 18, 1, byte(1 + i%5)})})
			}
			if k == 0 {
				nt.Entries[0].MAC = mac0
			}
			s.Networks[id] = nt
		}
		return s
	}
	apply := func(s dataplane.NodeState) ApplyStats {
		t.Helper()
		if err := d.Apply(ctx, s); err != nil {
			t.Fatal(err)
		}
		return d.LastApply()
	}
	var changed []ApplyStats
	for _, n := range []int{100, 2000} {
		apply(state(n, "fa:16:3e:aa:00:00"))
		// The device made by the first Apply is read back once.
		if st := apply(state(n, "fa:16:3e:aa:00:00")); st.FDBAdds+st.FDBDels+st.NeighSets+st.NeighDels+st.LinkChanges != 0 {
			t.Fatalf("%d entries: second Apply of the same state changed the kernel: %+v", n, st)
		}
		st := apply(state(n, "fa:16:3e:aa:00:00"))
		if want := (ApplyStats{Dumps: 2, Dumped: st.Dumped, Lookups: 1}); st != want {
			t.Errorf("%d entries: Apply with nothing to change: %+v, want %+v (no entry planned)", n, st, want)
		}
		st = apply(state(n, "fa:16:3e:bb:00:00"))
		// Only the changed network's entries are planned.
		if want := (ApplyStats{Dumps: 2, Dumped: st.Dumped, Lookups: 1, FDBAdds: 1, FDBDels: 1, NeighSets: 1, EntriesPlanned: n}); st != want {
			t.Errorf("%d entries: one MAC changed: %+v, want %+v", n, st, want)
		}
		changed = append(changed, st)
		fdb, err := lab.Exec(ctx, node.NS, "bridge", "fdb", "show", "dev", "vxlan-1001")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(fdb), "fa:16:3e:aa:00:00") || !strings.Contains(string(fdb), "fa:16:3e:bb:00:00 dst 198.18.1.1") ||
			!strings.Contains(string(fdb), "fa:16:3e:00:00:01 dst 198.18.1.2") {
			t.Errorf("%d entries: kernel FDB after the change:\n%s", n, fdb)
		}
		// The read-back path for comparison: every entry is dumped.
		d.Resync()
		if st := apply(state(n, "fa:16:3e:bb:00:00")); st.ReadBacks != 2 || st.Dumped < 4*n || st.EntriesPlanned != 2*n {
			t.Errorf("%d entries: Apply after Resync read back %d devices, %d objects, planned %d entries; want 2 devices, at least %d objects, %d entries",
				n, st.ReadBacks, st.Dumped, st.EntriesPlanned, 4*n, 2*n)
		}
	}
	changed[0].EntriesPlanned, changed[1].EntriesPlanned = 0, 0 // the changed network's size, checked above
	if changed[0] != changed[1] {
		t.Errorf("one change costs more at 2,000 entries than at 100: %+v against %+v", changed[1], changed[0])
	}
}

// oneNode makes a lab with one node, compute1, torn down when t ends.
func oneNode(t *testing.T, ctx context.Context) (*lab.Lab, *lab.Node) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test builds network namespaces and needs root: run `make test` (as root)")
	}
	l, err := lab.New(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Teardown(ctx); err != nil {
			t.Errorf("teardown: %v", err)
		}
	})
	node, err := l.AddNode(ctx, "compute1")
	if err != nil {
		t.Fatal(err)
	}
	return l, node
}
