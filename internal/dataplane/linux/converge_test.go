package linux

import (
	"context"
	"net/netip"
	"os"
	"testing"

	"neutrino/internal/dataplane"
	"neutrino/internal/lab"
)

// TestApplyReadsBackConverged checks the reading side against the writing
// side on a real kernel: after Apply, what read() finds plans to nothing,
// in every BUM mode, so a periodic Apply never re-creates a working device.
func TestApplyReadsBackConverged(t *testing.T) {
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
	node, err := l.AddNode(ctx, "compute1")
	if err != nil {
		t.Fatal(err)
	}
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
