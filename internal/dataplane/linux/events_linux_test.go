package linux_test

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"neutrino/internal/dataplane"
	"neutrino/internal/dataplane/linux"
	"neutrino/internal/lab"
)

// awaitDevices waits for device events until Devices satisfies ok; it
// reads Devices only after an event, so it fails when the event that
// should follow a change is missing.
func awaitDevices(t *testing.T, ctx context.Context, dp *linux.Dataplane, what string, ok func([]dataplane.Device) bool) {
	t.Helper()
	timeout := time.After(30 * time.Second) // bounds a hang only
	for {
		select {
		case <-dp.DeviceEvents():
		case <-timeout:
			devs, _ := dp.Devices(ctx)
			t.Fatalf("%s: no device event made Devices right; Devices now %+v", what, devs)
		}
		devs, err := dp.Devices(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ok(devs) {
			return
		}
	}
}

func tapState(devs []dataplane.Device, name string) (present, up bool) {
	for _, d := range devs {
		if d.Name == name {
			return true, d.Up
		}
	}
	return false, false
}

// TestDeviceEvents: a tap created (as Nova does), set down and removed in
// the node's namespace fires DeviceEvents; Close ends the link watcher.
func TestDeviceEvents(t *testing.T) {
	tp := newTopo(t, modeMesh, "compute1")
	node := tp.lab.Node("compute1")
	// Only this test's data plane may watch links, for the leak check.
	tp.dps["compute1"].Close()
	delete(tp.dps, "compute1")
	dp, err := linux.New(linux.Options{NetNS: node.NS})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			dp.Close()
		}
	})

	n := tp.addNet(1001, "192.168.1.0/24")
	v := tp.plug("vm1", "compute1", n, 4, false)
	tap := lab.TapName(v.port)
	awaitDevices(t, tp.ctx, dp, "tap created", func(devs []dataplane.Device) bool {
		present, up := tapState(devs, tap)
		return present && up
	})

	h, err := lab.Handle(node.NS)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	l, err := h.LinkByName(tap)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetDown(l); err != nil {
		t.Fatal(err)
	}
	awaitDevices(t, tp.ctx, dp, "tap set down", func(devs []dataplane.Device) bool {
		present, up := tapState(devs, tap)
		return present && !up
	})

	tp.unplug(v)
	awaitDevices(t, tp.ctx, dp, "tap removed", func(devs []dataplane.Device) bool {
		present, _ := tapState(devs, tap)
		return !present
	})

	// Close stops the watcher and the library's reader goroutines.
	dp.Close()
	closed = true
	deadline := time.Now().Add(30 * time.Second) // bounds a hang only
	for {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		if !strings.Contains(stacks, "linux.(*Dataplane).watchLinks") && !strings.Contains(stacks, "netlink.linkSubscribeAt") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("link watcher goroutines left after Close:\n%s", stacks)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
