package ovs

import (
	"context"
	"testing"
	"time"
)

// TestVMOfportsSkipsUnpluggedPort: a VM port unplugged after Apply listed
// it (bench/chaos: the workload moved a VM away during the pass) will
// never be numbered. Waiting OfportTimeout for it kept every other port
// of that pass, the ones just plugged too, DOWN for 10 s; it must be left
// out without an error, the others' ofports returned.
func TestVMOfportsSkipsUnpluggedPort(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	l, nodes := newOVSLab(t, ctx, "compute1")
	c1 := nodes["compute1"]
	apply(t, ctx, c1, nodeState(c1, []*ovsNode{c1}, map[*ovsNode][]vmSpec{}, true, true)) // the bridges
	vm1 := plug(t, ctx, l, c1, vm1Port)
	vm2 := plug(t, ctx, l, c1, vm2Port)
	if err := c1.ovs.UnplugVIF(ctx, "br-int", vm2.Tap); err != nil {
		t.Fatal(err)
	}
	// The data plane reads OVSDB through its client's cache: wait until
	// that has seen both the plug and the unplug.
	for {
		devs, err := c1.dp.Devices(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(devs) == 1 && devs[0].PortID == vm1Port.portID {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("devices %v, want only %s", devs, vm1Port.portID)
		case <-time.After(20 * time.Millisecond):
		}
	}
	c1.dp.cfg.OfportTimeout = 2 * time.Second
	got, err := c1.dp.vmOfports(ctx, map[string]string{vm1Port.portID: vm1.Tap, vm2Port.portID: vm2.Tap})
	if err != nil {
		t.Fatalf("vmOfports with %s unplugged: %v", vm2.Tap, err)
	}
	if len(got) != 1 || got[vm1Port.portID] <= 0 {
		t.Fatalf("vmOfports = %v, want only %s with its ofport", got, vm1Port.portID)
	}
}
