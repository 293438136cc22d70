package linux_test

import (
	"strings"
	"testing"

	"neutrino/internal/dataplane"
	"neutrino/internal/lab"
)

// TestSeedPing is the seed: a controller with a router-like namespace
// holding the gateway IP and two computes with a VM each; every one pings
// every other, in each of the three BUM modes.
func TestSeedPing(t *testing.T) {
	for _, m := range []mode{modeMesh, modeGroup, modeL2Pop, modeL2PopARP} {
		t.Run(m.String(), func(t *testing.T) {
			tp := newTopo(t, m, "controller", "compute1", "compute2")
			n := tp.addNet(1001, "192.168.1.0/24")
			r := tp.plug("r1", "controller", n, 1, true)
			v1 := tp.plug("vm1", "compute1", n, 4, false)
			v2 := tp.plug("vm2", "compute2", n, 2, false)
			tp.apply()
			// A second Apply of the same state must change nothing.
			tp.apply()
			for _, a := range []*tvm{r, v1, v2} {
				for _, b := range []*tvm{r, v1, v2} {
					if a != b {
						if err := tp.ping(a, b.addr.Addr()); err != nil {
							t.Errorf("%s -> %s (%s): %v", a.name, b.name, b.addr.Addr(), err)
						}
					}
				}
			}
		})
	}
}

// TestOverlappingSubnetsIsolated: two networks, different VNIs, the same
// subnet and host numbers; each VM reaches its own network's peer only.
func TestOverlappingSubnetsIsolated(t *testing.T) {
	tp := newTopo(t, modeMesh, "compute1", "compute2")
	a := tp.addNet(1001, "192.168.1.0/24")
	b := tp.addNet(1002, "192.168.1.0/24")
	a1 := tp.plug("a1", "compute1", a, 10, false)
	a2 := tp.plug("a2", "compute2", a, 20, false)
	b1 := tp.plug("b1", "compute1", b, 10, false)
	b2 := tp.plug("b2", "compute2", b, 30, false)
	tp.apply()
	if err := tp.ping(a1, a2.addr.Addr()); err != nil {
		t.Errorf("a1 -> a2 inside network A: %v", err)
	}
	if err := tp.ping(b1, b2.addr.Addr()); err != nil {
		t.Errorf("b1 -> b2 inside network B: %v", err)
	}
	// 192.168.1.30 exists only in B, .20 only in A.
	if err := tp.ping(a1, b2.addr.Addr()); err == nil {
		t.Errorf("a1 reached %s, which lives only in network B", b2.addr.Addr())
	}
	if err := tp.ping(b1, a2.addr.Addr()); err == nil {
		t.Errorf("b1 reached %s, which lives only in network A", a2.addr.Addr())
	}
	// Each node carries both VNIs on separate bridges.
	for _, node := range []string{"compute1", "compute2"} {
		out := show(t, tp, node, "ip", "-d", "link", "show", "type", "vxlan")
		for _, want := range []string{"vxlan id 1001", "vxlan id 1002", "dstport 4789"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: `ip -d link` lacks %q:\n%s", node, want, out)
			}
		}
	}
}

func show(t *testing.T, tp *topo, node string, argv ...string) string {
	t.Helper()
	out, err := lab.Exec(tp.ctx, tp.lab.Node(node).NS, argv...)
	if err != nil {
		t.Fatalf("%s: %v", node, err)
	}
	return string(out)
}

// TestEntriesFollowState: deleting a VM removes its FDB and neighbour
// entries on the other nodes; an entry deleted by hand comes back with the
// next Apply; with the last port the devices go.
func TestEntriesFollowState(t *testing.T) {
	tp := newTopo(t, modeL2PopARP, "controller", "compute1", "compute2")
	n := tp.addNet(1001, "192.168.1.0/24")
	r := tp.plug("r1", "controller", n, 1, true)
	v1 := tp.plug("vm1", "compute1", n, 4, false)
	v2 := tp.plug("vm2", "compute2", n, 2, false)
	tp.apply()
	fdb := func() string { return show(t, tp, "controller", "bridge", "fdb", "show", "dev", "vxlan-1001") }
	neigh := func() string { return show(t, tp, "controller", "ip", "neigh", "show", "dev", "vxlan-1001") }
	vtep2 := tp.lab.Node("compute2").IP().String()
	for _, want := range []string{
		"00:00:00:00:00:00 dst " + tp.lab.Node("compute1").IP().String(),
		"00:00:00:00:00:00 dst " + vtep2,
		v1.mac + " dst " + tp.lab.Node("compute1").IP().String(),
		v2.mac + " dst " + vtep2,
	} {
		if !strings.Contains(fdb(), want) {
			t.Fatalf("controller fdb lacks %q:\n%s", want, fdb())
		}
	}
	if !strings.Contains(neigh(), v2.addr.Addr().String()+" lladdr "+v2.mac+" PERMANENT") {
		t.Fatalf("controller neighbours lack vm2:\n%s", neigh())
	}

	// Delete an entry by hand; the next Apply restores exactly it.
	show(t, tp, "controller", "bridge", "fdb", "del", v2.mac, "dev", "vxlan-1001", "dst", vtep2, "self")
	show(t, tp, "controller", "ip", "neigh", "del", v2.addr.Addr().String(), "dev", "vxlan-1001")
	if strings.Contains(fdb(), v2.mac) {
		t.Fatal("hand deletion did not take")
	}
	tp.apply()
	if !strings.Contains(fdb(), v2.mac+" dst "+vtep2) || !strings.Contains(neigh(), v2.addr.Addr().String()) {
		t.Fatalf("Apply did not restore the deleted entries:\nfdb:\n%s\nneigh:\n%s", fdb(), neigh())
	}
	if err := tp.ping(r, v2.addr.Addr()); err != nil {
		t.Errorf("after restore: %v", err)
	}

	// Delete vm2: its entries and compute2's flood entry go everywhere.
	tp.unplug(v2)
	tp.apply()
	for _, node := range []string{"controller", "compute1"} {
		// Only the vxlan device's own ("self") entries: the bridge's
		// learned entry for vm2's MAC ages out by itself, as in Neutron.
		f := selfOnly(show(t, tp, node, "bridge", "fdb", "show", "dev", "vxlan-1001"))
		nb := show(t, tp, node, "ip", "neigh", "show", "dev", "vxlan-1001")
		if strings.Contains(f, v2.mac) || strings.Contains(f, vtep2) || strings.Contains(nb, v2.addr.Addr().String()) {
			t.Errorf("%s still has vm2's entries:\nfdb:\n%s\nneigh:\n%s", node, f, nb)
		}
	}
	if out := show(t, tp, "compute2", "ip", "-o", "link", "show"); strings.Contains(out, "vxlan-1001") || strings.Contains(out, "brq") {
		t.Errorf("compute2 has no port left but keeps the network's devices:\n%s", out)
	}
	if err := tp.ping(r, v1.addr.Addr()); err != nil {
		t.Errorf("r1 -> vm1 after vm2 left: %v", err)
	}

	// Stale objects from an "earlier run" are removed, others are not.
	show(t, tp, "compute1", "ip", "link", "add", "vxlan-4242", "type", "vxlan", "id", "4242", "dstport", "4789")
	show(t, tp, "compute1", "ip", "link", "add", "brq0123456789a", "type", "bridge")
	show(t, tp, "compute1", "ip", "link", "add", "keepme0", "type", "bridge")
	tp.apply()
	out := show(t, tp, "compute1", "ip", "-o", "link", "show")
	if strings.Contains(out, "vxlan-4242") || strings.Contains(out, "brq0123456789a") {
		t.Errorf("stale owned devices survived Apply:\n%s", out)
	}
	if !strings.Contains(out, "keepme0") {
		t.Errorf("Apply removed a device it does not own:\n%s", out)
	}
}

// TestDevices: the taps the lab plugs are reported with their port prefix.
func TestDevices(t *testing.T) {
	tp := newTopo(t, modeMesh, "compute1")
	n := tp.addNet(1001, "192.168.1.0/24")
	v := tp.plug("vm1", "compute1", n, 4, false)
	devs, err := tp.dps["compute1"].Devices(tp.ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := dataplane.Device{PortID: v.port[:11], Name: "tap" + v.port[:11], Up: true}
	if len(devs) != 1 || devs[0].PortID != want.PortID || devs[0].Name != want.Name || !devs[0].Up || devs[0].MAC == "" {
		t.Fatalf("Devices = %+v, want one like %+v", devs, want)
	}
}

func selfOnly(fdb string) string {
	var b strings.Builder
	for _, l := range strings.Split(fdb, "\n") {
		if strings.Contains(l, " self") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}
