package ovs

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"neutrino/internal/dataplane"
	"neutrino/internal/lab"
)

// TestVIFsPlug: a device plugged with VIFs is a br-int port with os-vif's
// external_ids, the data plane reports it as the port's device, plugging
// again changes nothing and Unplug removes it.
func TestVIFsPlug(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, nodes := newOVSLab(t, ctx, "net1")
	n := nodes["net1"]
	if err := n.dp.Apply(ctx, dataplane.NodeState{}); err != nil { // makes br-int
		t.Fatal(err)
	}
	h, err := lab.Handle(n.node.NS)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "tapd1c2b3a4-00"}, PeerName: "ns-d1c2b3a4-00"}); err != nil {
		t.Fatal(err)
	}
	v, err := NewVIFs(ctx, n.ovs.OVSDB(), "br-int", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	const port, mac = "d1c2b3a4-0000-4000-8000-000000000001", "fa:16:3e:00:00:02"
	for i := 0; i < 2; i++ {
		if err := v.Plug(ctx, "tapd1c2b3a4-00", port, mac); err != nil {
			t.Fatalf("plug #%d: %v", i+1, err)
		}
	}
	out, err := n.ovs.Vsctl(ctx, "get", "Interface", "tapd1c2b3a4-00", "external_ids")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`iface-id="` + port + `"`, `attached-mac="` + mac + `"`, "iface-status=active"} {
		if !strings.Contains(out, want) {
			t.Errorf("external_ids %s lack %s", out, want)
		}
	}
	devs, err := n.dp.Devices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, d := range devs {
		found = found || d.PortID == port
	}
	if !found {
		t.Errorf("the data plane does not see port %s among %+v", port, devs)
	}
	if err := v.Unplug(ctx, "tapd1c2b3a4-00"); err != nil {
		t.Fatal(err)
	}
	if out, err := n.ovs.Vsctl(ctx, "list-ports", "br-int"); err != nil || strings.Contains(out, "tapd1c2b3a4-00") {
		t.Fatalf("after Unplug br-int has %q (%v)", out, err)
	}
	if err := v.Unplug(ctx, "tapd1c2b3a4-00"); err != nil {
		t.Fatalf("second Unplug: %v", err)
	}
}
