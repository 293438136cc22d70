package ovs

import (
	"context"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ovn-kubernetes/libovsdb/cache"
	"github.com/ovn-kubernetes/libovsdb/model"

	"neutrino/internal/dataplane"
	"neutrino/internal/lab"
)

func TestDeviceRowChanged(t *testing.T) {
	vm := func(ext map[string]string, of int) *iface {
		return &iface{Name: "tapX", ExternalIDs: ext, Ofport: &of}
	}
	withID := map[string]string{"iface-id": "p1", "attached-mac": "fa:16:3e:00:00:01"}
	tag := func(n int) *int { return &n }
	for _, tc := range []struct {
		name     string
		table    string
		old, new model.Model
		want     bool
	}{
		{"os-vif plug (iface-id in the insert)", "Interface", nil, vm(withID, 0), true},
		{"plug without iface-id", "Interface", nil, vm(nil, 0), false},
		{"iface-id set later", "Interface", vm(nil, 5), vm(withID, 5), true},
		{"iface-id removed", "Interface", vm(withID, 5), vm(nil, 5), true},
		{"ofport numbered by vswitchd", "Interface", vm(withID, 0), vm(withID, 7), true},
		{"unplug", "Interface", vm(withID, 7), nil, true},
		{"tunnel interface added", "Interface", nil, &iface{Name: "vxlan-c6120065", Type: "vxlan"}, false},
		{"tunnel interface changed", "Interface", &iface{Name: "vxlan-c6120065"}, &iface{Name: "vxlan-c6120065", Options: map[string]string{"k": "v"}}, false},
		{"port added", "Port", nil, &port{Name: "tapX", Interfaces: []string{"i1"}}, true},
		{"port deleted", "Port", &port{Name: "tapX", Interfaces: []string{"i1"}}, nil, true},
		{"port interfaces changed", "Port", &port{Name: "tapX", Interfaces: []string{"i1"}}, &port{Name: "tapX", Interfaces: []string{"i2"}}, true},
		{"Apply tags a port", "Port", &port{Name: "tapX", Interfaces: []string{"i1"}}, &port{Name: "tapX", Interfaces: []string{"i1"}, Tag: tag(1), OtherConfig: map[string]string{"tag": "1"}}, false},
		{"bridge changed", "Bridge", &bridge{Name: "br-int"}, &bridge{Name: "br-int", Ports: []string{"p"}}, false},
		{"root changed", "Open_vSwitch", &ovsRoot{}, &ovsRoot{ExternalIDs: map[string]string{"a": "b"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := deviceRowChanged(tc.table, tc.old, tc.new); got != tc.want {
				t.Errorf("deviceRowChanged = %t, want %t", got, tc.want)
			}
		})
	}
}

// eventProbe tells a test when OVSDB changes made so far have been
// through the data plane's event handler: it bumps a counter in the
// Open_vSwitch row's external_ids and waits until the cache dispatched
// that update. libovsdb dispatches events one at a time, in order, to the
// handlers in the order they were added (ours first), so after the
// barrier every earlier change has been signalled or filtered.
type eventProbe struct {
	t    *testing.T
	n    *ovsNode
	seen chan string
	seq  int
}

func newEventProbe(t *testing.T, n *ovsNode) *eventProbe {
	p := &eventProbe{t: t, n: n, seen: make(chan string, 64)}
	// After a reconnect libovsdb refills its cache: rows come as adds.
	see := func(table string, m model.Model) {
		if r, ok := m.(*ovsRoot); ok && table == "Open_vSwitch" && r.ExternalIDs["nt-barrier"] != "" {
			p.seen <- r.ExternalIDs["nt-barrier"]
		}
	}
	n.dp.cli.Cache().AddEventHandler(&cache.EventHandlerFuncs{
		AddFunc:    see,
		UpdateFunc: func(table string, _, m model.Model) { see(table, m) },
	})
	return p
}

// settle waits for the barrier, then empties the device event channel.
func (p *eventProbe) settle(ctx context.Context) {
	p.t.Helper()
	p.seq++
	want := strconv.Itoa(p.seq)
	if _, err := p.n.ovs.Vsctl(ctx, "set", "Open_vSwitch", ".", "external_ids:nt-barrier="+want); err != nil {
		p.t.Fatal(err)
	}
	for {
		select {
		case got := <-p.seen:
			if got != want {
				continue
			}
			select {
			case <-p.n.dp.DeviceEvents():
			default:
			}
			return
		case <-time.After(30 * time.Second): // bounds a hang only
			p.t.Fatal("ovsdb barrier update never reached the cache")
		}
	}
}

// quiet fails if a device event is pending once earlier changes have
// been dispatched.
func (p *eventProbe) quiet(ctx context.Context, after string) {
	p.t.Helper()
	p.seq++
	want := strconv.Itoa(p.seq)
	if _, err := p.n.ovs.Vsctl(ctx, "set", "Open_vSwitch", ".", "external_ids:nt-barrier="+want); err != nil {
		p.t.Fatal(err)
	}
	for got := ""; got != want; {
		select {
		case got = <-p.seen:
		case <-time.After(30 * time.Second):
			p.t.Fatal("ovsdb barrier update never reached the cache")
		}
	}
	select {
	case <-p.n.dp.DeviceEvents():
		p.t.Errorf("device event after %s", after)
	default:
	}
}

// awaitDevices waits for device events until Devices satisfies ok; it
// never polls Devices without an event, so it fails when the event that
// should follow a change is missing.
func awaitDevices(t *testing.T, ctx context.Context, dp *Dataplane, what string, ok func([]dataplane.Device) bool) {
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

func findDevice(devs []dataplane.Device, portID string) (dataplane.Device, bool) {
	for _, d := range devs {
		if d.PortID == portID {
			return d, true
		}
	}
	return dataplane.Device{}, false
}

// TestDeviceEvents: ovs-vsctl run by another process (as os-vif does)
// plugging, re-identifying and unplugging VM interfaces fires
// DeviceEvents; the data plane's own Apply (port tags) does not.
func TestDeviceEvents(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	l, nodes := newOVSLab(t, ctx, "compute1")
	n := nodes["compute1"]
	apply(t, ctx, n, dataplane.NodeState{LocalIP: n.node.IP(), UDPPort: 4789})
	probe := newEventProbe(t, n)

	// os-vif: one transaction adds the port with iface-id and
	// attached-mac. ovs-vswitchd then numbers it and sets admin_state,
	// each a further Interface update: Up must arrive by event too.
	const p1, mac1 = "a1b2c3d1-0000-4000-8000-000000000e01", "fa:16:3e:00:0e:01"
	vm1, err := l.AddVM(ctx, n.node, "vm1", lab.VIF{PortID: p1, MAC: mac1, Addr: netip.MustParsePrefix("192.168.1.1/24"), MTU: 1450})
	if err != nil {
		t.Fatal(err)
	}
	probe.settle(ctx)
	if _, err := n.ovs.Vsctl(ctx, "--timeout=20", "add-port", "br-int", vm1.Tap, "--", "set", "Interface", vm1.Tap,
		"external_ids:iface-id="+p1, "external_ids:attached-mac="+mac1, "external_ids:iface-status=active"); err != nil {
		t.Fatal(err)
	}
	awaitDevices(t, ctx, n.dp, "os-vif plug", func(devs []dataplane.Device) bool {
		d, ok := findDevice(devs, p1)
		return ok && d.Up && d.Name == vm1.Tap && d.MAC == mac1
	})

	// Apply tagging the plugged port changes Port rows only: no event, so
	// an agent pass does not wake the agent again.
	probe.settle(ctx)
	st := dataplane.NodeState{LocalIP: n.node.IP(), UDPPort: 4789,
		Networks: map[string]dataplane.Network{"net-1": {ID: "net-1", VNI: 1001, MTU: 1450}},
		Ports:    map[string]dataplane.LocalPort{p1: {ID: p1, NetworkID: "net-1", MAC: mac1}}}
	apply(t, ctx, n, st)
	if out, err := n.ovs.Vsctl(ctx, "get", "Port", vm1.Tap, "tag"); err != nil || strings.TrimSpace(out) == "[]" || strings.TrimSpace(out) == "4095" {
		t.Fatalf("Apply did not tag %s (tag %q, %v): the quiet check below would prove nothing", vm1.Tap, out, err)
	}
	probe.quiet(ctx, "the data plane's own Apply")

	// Older plugging: the port first, iface-id in a second transaction.
	const p2, mac2 = "a1b2c3d2-0000-4000-8000-000000000e02", "fa:16:3e:00:0e:02"
	vm2, err := l.AddVM(ctx, n.node, "vm2", lab.VIF{PortID: p2, MAC: mac2, Addr: netip.MustParsePrefix("192.168.1.2/24"), MTU: 1450})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.ovs.Vsctl(ctx, "--timeout=20", "add-port", "br-int", vm2.Tap); err != nil {
		t.Fatal(err)
	}
	probe.settle(ctx)
	if _, err := n.ovs.Vsctl(ctx, "set", "Interface", vm2.Tap, "external_ids:iface-id="+p2, "external_ids:attached-mac="+mac2); err != nil {
		t.Fatal(err)
	}
	awaitDevices(t, ctx, n.dp, "iface-id set on an existing port", func(devs []dataplane.Device) bool {
		_, ok := findDevice(devs, p2)
		return ok
	})

	// Unplug (os-vif del-port).
	probe.settle(ctx)
	if err := n.ovs.UnplugVIF(ctx, "br-int", vm1.Tap); err != nil {
		t.Fatal(err)
	}
	awaitDevices(t, ctx, n.dp, "unplug", func(devs []dataplane.Device) bool {
		_, ok := findDevice(devs, p1)
		return !ok
	})

	// ovsdb-server restarts: libovsdb reconnects (same cache, handlers
	// kept) and plugs are events again. The barrier returns once the
	// session is back and its monitor delivers updates.
	if err := n.ovs.RestartOVSDB(ctx); err != nil {
		t.Fatal(err)
	}
	probe.settle(ctx)
	if err := n.ovs.PlugVIF(ctx, "br-int", vm1.Tap, p1, mac1, "vm-1"); err != nil {
		t.Fatal(err)
	}
	awaitDevices(t, ctx, n.dp, "plug after an ovsdb-server restart", func(devs []dataplane.Device) bool {
		_, ok := findDevice(devs, p1)
		return ok
	})
}
