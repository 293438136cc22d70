package ml2

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"neutrino/internal/api"
	"neutrino/internal/config"
	"neutrino/internal/neutron"
	"neutrino/internal/store"
	"neutrino/internal/store/storetest"
)

var _ api.Backend = (*Plugin)(nil)

// seedConfig is the seed's server configuration (vxlan 1001:2000).
func seedConfig() *config.Server {
	return &config.Server{
		GlobalPhysnetMTU: 1500, BaseMAC: "fa:16:3e:00:00:00", AgentDownTime: 75 * time.Second,
		TypeDrivers: []string{"flat", "vlan", "vxlan"}, TenantNetworkTypes: []string{"vxlan"},
		MechanismDrivers:  []string{"openvswitch", "l2population"},
		VNIRanges:         []config.Range{{Min: 1001, Max: 2000}},
		NetworkVLANRanges: []config.VLANRange{{PhysicalNetwork: "physnet1", Min: 100, Max: 199}},
		FlatNetworks:      []string{"flatnet"},
	}
}

func newPlugin(t testing.TB, d store.Dialect, cfg *config.Server) *Plugin {
	t.Helper()
	st := storetest.Open(t, d)
	p, err := New(context.Background(), st, cfg, nil)
	if err != nil {
		t.Fatalf("ml2.New: %v", err)
	}
	return p
}

// forEachDialect runs f as a subtest per database.
func forEachDialect(t *testing.T, f func(t *testing.T, d store.Dialect)) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			f(t, d)
		})
	}
}

func wantFault(t *testing.T, err error, status int, typ string) {
	t.Helper()
	e, ok := neutron.AsError(err)
	if !ok {
		t.Fatalf("want %d %s, got %v", status, typ, err)
	}
	if e.Status != status || e.Type != typ {
		t.Fatalf("want %d %s, got %d %s: %s", status, typ, e.Status, e.Type, e.Message)
	}
}

func ptr[T any](v T) *T { return &v }

func mustChanges(t *testing.T, p *Plugin, after int64) []neutron.Change {
	t.Helper()
	cs, err := p.Changes(context.Background(), after, 100000)
	if err != nil {
		t.Fatalf("changes: %v", err)
	}
	return cs
}

func TestNetworkLifecycle(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		p := newPlugin(t, d, seedConfig())
		n, err := p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: "p1", Name: "net1"})
		if err != nil {
			t.Fatal(err)
		}
		if n.MTU != 1450 || n.Segments[0].NetworkType != "vxlan" || n.Segments[0].SegmentationID < 1001 || n.Segments[0].SegmentationID > 2000 || n.RevisionNumber != 1 || n.Status != "ACTIVE" {
			t.Fatalf("network: %+v", n)
		}
		// Provider VNI, duplicate, outside the pool, out of range.
		pn, err := p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: "p1", Name: "vx1500", Segment: &neutron.Segment{NetworkType: "vxlan", SegmentationID: 1500}})
		if err != nil || pn.Segments[0].SegmentationID != 1500 {
			t.Fatalf("provider 1500: %v %+v", err, pn)
		}
		_, err = p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: "p1", Segment: &neutron.Segment{NetworkType: "vxlan", SegmentationID: 1500}})
		wantFault(t, err, 409, "TunnelIdInUse")
		out, err := p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: "p1", Segment: &neutron.Segment{NetworkType: "vxlan", SegmentationID: 5000}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: "p1", Segment: &neutron.Segment{NetworkType: "vxlan", SegmentationID: 1 << 24}})
		wantFault(t, err, 400, "InvalidInput")
		_, err = p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: "p1", Segment: &neutron.Segment{NetworkType: "vxlan", PhysicalNetwork: "physnet1", SegmentationID: 1600}})
		wantFault(t, err, 400, "InvalidInput")
		_, err = p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: "p1", Segment: &neutron.Segment{NetworkType: "gre", SegmentationID: 10}})
		wantFault(t, err, 400, "InvalidInput")
		_, err = p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: "p1", Segment: &neutron.Segment{NetworkType: "vlan", SegmentationID: 10}})
		wantFault(t, err, 400, "InvalidInput")
		_, err = p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: "p1", MTU: ptr(1500)})
		wantFault(t, err, 400, "InvalidInput")
		vl, err := p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: "p1", Segment: &neutron.Segment{NetworkType: "vlan", PhysicalNetwork: "physnet1"}})
		if err != nil || vl.MTU != 1500 || vl.Segments[0].SegmentationID < 100 || vl.Segments[0].SegmentationID > 199 {
			t.Fatalf("vlan: %v %+v", err, vl)
		}
		// Deleting the out-of-pool network deletes its row, so 5000 can be
		// taken again.
		if err := p.DeleteNetwork(ctx, out.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: "p1", Segment: &neutron.Segment{NetworkType: "vxlan", SegmentationID: 5000}}); err != nil {
			t.Fatal(err)
		}
		err = p.DeleteNetwork(ctx, out.ID)
		wantFault(t, err, 404, "NetworkNotFound")
		u, err := p.UpdateNetwork(ctx, n.ID, neutron.NetworkUpdate{Name: ptr("renamed")})
		if err != nil || u.Name != "renamed" || u.RevisionNumber != 2 {
			t.Fatalf("update: %v %+v", err, u)
		}
		_, err = p.UpdateNetwork(ctx, n.ID, neutron.NetworkUpdate{Segment: &neutron.Segment{SegmentationID: n.Segments[0].SegmentationID%2000 + 1}})
		wantFault(t, err, 400, "InvalidInput")
		_, err = p.UpdateNetwork(ctx, n.ID, neutron.NetworkUpdate{Name: ptr("x"), IfRevision: 1})
		wantFault(t, err, 412, "RevisionNumberConstraintFailed")
		got, err := p.GetNetwork(ctx, n.ID)
		if err != nil || got.Name != "renamed" || got.MTU != 1450 || len(got.Segments) != 1 {
			t.Fatalf("get: %v %+v", err, got)
		}
		cs := mustChanges(t, p, 0)
		for i, c := range cs {
			if c.Revision != int64(i+1) {
				t.Fatalf("change %d has revision %d: %+v", i, c.Revision, cs)
			}
		}
		if len(cs) != 7 { // 5 creates, 1 delete, 1 update
			t.Fatalf("want 7 changes, got %d: %+v", len(cs), cs)
		}
		last := cs[len(cs)-1]
		var obj neutron.Network
		if err := json.Unmarshal(last.Object, &obj); err != nil || last.Kind != "network" || last.Op != "update" || obj.Name != "renamed" {
			t.Fatalf("last change: %+v %v", last, err)
		}
	})
}
