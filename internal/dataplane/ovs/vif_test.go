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

// TestVIFsPlugInternals: many internal ports in one call (the L3 agent's
// restart), each looked up by name: missing ones made, a drifted one
// corrected, the others left as they are (same rows), and a name that is
// a port of another bridge refused.
func TestVIFsPlugInternals(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, nodes := newOVSLab(t, ctx, "net1")
	n := nodes["net1"]
	if err := n.dp.Apply(ctx, dataplane.NodeState{}); err != nil { // makes br-int
		t.Fatal(err)
	}
	v, err := NewVIFs(ctx, n.ovs.OVSDB(), "br-int", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	vifs := []dataplane.VIF{
		{Dev: "qr-a0000000-01", PortID: "a0000000-0100-4000-8000-000000000000", MAC: "fa:16:3e:00:00:01"},
		{Dev: "qr-a0000000-02", PortID: "a0000000-0200-4000-8000-000000000000", MAC: "fa:16:3e:00:00:02"},
		{Dev: "qg-a0000000-03", PortID: "a0000000-0300-4000-8000-000000000000", MAC: "fa:16:3e:00:00:03"},
	}
	defer func() {
		for _, f := range vifs {
			if err := v.Unplug(context.Background(), f.Dev); err != nil {
				t.Error(err)
			}
		}
	}()
	if err := v.PlugInternals(ctx, vifs); err != nil {
		t.Fatal(err)
	}
	get := func(dev, col string) string {
		t.Helper()
		out, err := n.ovs.Vsctl(ctx, "get", "Interface", dev, col)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(out)
	}
	uuids := map[string]string{}
	for _, f := range vifs {
		if typ := get(f.Dev, "type"); typ != "internal" {
			t.Errorf("%s type %s, want internal", f.Dev, typ)
		}
		ext := get(f.Dev, "external_ids")
		for _, want := range []string{`iface-id="` + f.PortID + `"`, `attached-mac="` + f.MAC + `"`, "iface-status=active"} {
			if !strings.Contains(ext, want) {
				t.Errorf("%s external_ids %s lack %s", f.Dev, ext, want)
			}
		}
		uuids[f.Dev] = get(f.Dev, "_uuid")
	}
	if _, err := n.ovs.Vsctl(ctx, "set", "Interface", vifs[1].Dev, "external_ids:attached-mac=02:00:00:00:00:99"); err != nil {
		t.Fatal(err)
	}
	if err := v.PlugInternals(ctx, vifs); err != nil {
		t.Fatal(err)
	}
	if ext := get(vifs[1].Dev, "external_ids"); !strings.Contains(ext, `attached-mac="`+vifs[1].MAC+`"`) {
		t.Errorf("the drifted attached-mac was not corrected: %s", ext)
	}
	for _, f := range vifs {
		if u := get(f.Dev, "_uuid"); u != uuids[f.Dev] {
			t.Errorf("%s was made again (%s, was %s)", f.Dev, u, uuids[f.Dev])
		}
	}
	if err := v.PlugInternals(ctx, []dataplane.VIF{{Dev: "patch-int", PortID: "x", MAC: "fa:16:3e:00:00:09"}}); err == nil {
		t.Error("plugging patch-int (a port of br-tun) into br-int succeeded")
	}
}
