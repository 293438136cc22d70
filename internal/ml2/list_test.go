package ml2

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"neutrino/internal/neutron"
	"neutrino/internal/store"
	"neutrino/internal/store/storetest"
)

func names(ns []neutron.Network) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.Name
	}
	return out
}

func TestListing(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		p := newPlugin(t, d, seedConfig())
		// n0..n5: projects alternate, n5 shared, n1 carries tags.
		var nets []*neutron.Network
		for i := 0; i < 6; i++ {
			proj := "pa"
			if i%2 == 1 {
				proj = "pb"
			}
			req := neutron.NetworkCreate{ProjectID: proj, Name: fmt.Sprintf("n%d", i), Shared: ptr(i == 5), AdminStateUp: ptr(i != 3)}
			if i == 4 {
				req.Segment = &neutron.Segment{NetworkType: "vlan", PhysicalNetwork: "physnet1", SegmentationID: 150}
			}
			n, err := p.CreateNetwork(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			nets = append(nets, n)
		}
		if _, err := p.ReplaceTags(ctx, "network", nets[1].ID, []string{"red", "blue"}); err != nil {
			t.Fatal(err)
		}
		if _, err := p.ReplaceTags(ctx, "network", nets[2].ID, []string{"red"}); err != nil {
			t.Fatal(err)
		}
		list := func(q neutron.ListQuery) []string {
			t.Helper()
			ns, err := p.ListNetworks(ctx, q)
			if err != nil {
				t.Fatalf("%+v: %v", q, err)
			}
			return names(ns)
		}
		eq := func(got []string, want ...string) {
			t.Helper()
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("got %v, want %v", got, want)
			}
		}
		byName := []neutron.SortKey{{Key: "name"}}
		eq(list(neutron.ListQuery{Sort: byName}), "n0", "n1", "n2", "n3", "n4", "n5")
		eq(list(neutron.ListQuery{Sort: []neutron.SortKey{{Key: "name", Desc: true}}}), "n5", "n4", "n3", "n2", "n1", "n0")
		// Repeated values OR, different attributes AND.
		eq(list(neutron.ListQuery{Sort: byName, Filters: map[string][]string{"name": {"n1", "n2", "n3"}, "project_id": {"pb"}}}), "n1", "n3")
		eq(list(neutron.ListQuery{Sort: byName, Filters: map[string][]string{"admin_state_up": {"False"}}}), "n3")
		eq(list(neutron.ListQuery{Sort: byName, Filters: map[string][]string{"shared": {"true"}}}), "n5")
		eq(list(neutron.ListQuery{Sort: byName, Filters: map[string][]string{"provider:network_type": {"vlan"}}}), "n4")
		eq(list(neutron.ListQuery{Sort: byName, Filters: map[string][]string{"provider:segmentation_id": {"150"}, "provider:physical_network": {"physnet1"}}}), "n4")
		eq(list(neutron.ListQuery{Sort: byName, Filters: map[string][]string{"tags": {"red,blue"}}}), "n1")
		eq(list(neutron.ListQuery{Sort: byName, Filters: map[string][]string{"tags-any": {"blue", "red"}}}), "n1", "n2")
		eq(list(neutron.ListQuery{Sort: byName, Filters: map[string][]string{"not-tags": {"red"}}}), "n0", "n3", "n4", "n5")
		eq(list(neutron.ListQuery{Sort: byName, Filters: map[string][]string{"not-tags-any": {"blue"}}}), "n0", "n2", "n3", "n4", "n5")
		eq(list(neutron.ListQuery{Sort: byName, Filters: map[string][]string{"name": {""}}}))
		// VisibleTo: own networks and shared ones.
		eq(list(neutron.ListQuery{Sort: byName, VisibleTo: "pa"}), "n0", "n2", "n4", "n5")
		// Pages forward and backward.
		eq(list(neutron.ListQuery{Sort: byName, Limit: 2}), "n0", "n1")
		eq(list(neutron.ListQuery{Sort: byName, Limit: 2, Marker: nets[1].ID}), "n2", "n3")
		eq(list(neutron.ListQuery{Sort: byName, Limit: 2, Marker: nets[5].ID}))
		eq(list(neutron.ListQuery{Sort: byName, Limit: 2, Marker: nets[4].ID, PageReverse: true}), "n2", "n3")
		eq(list(neutron.ListQuery{Sort: byName, Limit: 10, Marker: nets[1].ID, PageReverse: true}), "n0")
		eq(list(neutron.ListQuery{Sort: []neutron.SortKey{{Key: "admin_state_up"}, {Key: "name", Desc: true}}, Limit: 3}), "n3", "n5", "n4")
		eq(list(neutron.ListQuery{Sort: []neutron.SortKey{{Key: "admin_state_up"}, {Key: "name", Desc: true}}, Limit: 3, Marker: nets[4].ID}), "n2", "n1", "n0")
		// Default order is by id; walking by id pages covers everything once.
		all, _ := p.ListNetworks(ctx, neutron.ListQuery{})
		for i := 1; i < len(all); i++ {
			if all[i-1].ID >= all[i].ID {
				t.Fatal("default order is not by id")
			}
		}
		var walked []string
		marker := ""
		for {
			page, err := p.ListNetworks(ctx, neutron.ListQuery{Limit: 4, Marker: marker})
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range page {
				walked = append(walked, n.ID)
			}
			if len(page) < 4 {
				break
			}
			marker = page[len(page)-1].ID
		}
		if len(walked) != 6 {
			t.Fatalf("walk: %v", walked)
		}
		// Tags are loaded with the listing; bad input is a Neutron fault.
		tagged, _ := p.ListNetworks(ctx, neutron.ListQuery{Filters: map[string][]string{"id": {nets[1].ID}}})
		if fmt.Sprint(tagged[0].Tags) != "[blue red]" || tagged[0].RevisionNumber != 2 {
			t.Fatalf("tags: %+v", tagged[0])
		}
		_, err := p.ListNetworks(ctx, neutron.ListQuery{Marker: "00000000-0000-0000-0000-000000000000"})
		wantFault(t, err, 404, "NetworkNotFound")
		_, err = p.ListNetworks(ctx, neutron.ListQuery{Filters: map[string][]string{"bogus": {"1"}}})
		wantFault(t, err, 400, "HTTPBadRequest")
		_, err = p.ListNetworks(ctx, neutron.ListQuery{Sort: []neutron.SortKey{{Key: "bogus"}}})
		wantFault(t, err, 400, "HTTPBadRequest")
		_, err = p.ListNetworks(ctx, neutron.ListQuery{Filters: map[string][]string{"shared": {"maybe"}}})
		wantFault(t, err, 400, "InvalidInput")
		_, err = p.ListNetworks(ctx, neutron.ListQuery{Filters: map[string][]string{"mtu": {"big"}}})
		wantFault(t, err, 400, "InvalidInput")
	})
}

func TestChangeLogPrune(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		p := newPlugin(t, d, seedConfig())
		for i := 0; i < 10; i++ {
			if _, err := p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: "p"}); err != nil {
				t.Fatal(err)
			}
		}
		// Rows younger than keepFor stay whatever keep says.
		if h, err := p.PruneChanges(ctx, 2, time.Hour); err != nil || h != 0 {
			t.Fatalf("prune young: %d %v", h, err)
		}
		h, err := p.PruneChanges(ctx, 3, 0)
		if err != nil || h != 7 {
			t.Fatalf("prune: %d %v", h, err)
		}
		if _, err := p.Changes(ctx, 6, 10); !errors.Is(err, neutron.ErrRevisionGone) {
			t.Fatalf("after pruned revision: %v", err)
		}
		cs, err := p.Changes(ctx, 7, 10)
		if err != nil || len(cs) != 3 || cs[0].Revision != 8 {
			t.Fatalf("changes after 7: %v %+v", err, cs)
		}
		// Revisions keep counting after a prune.
		if _, err := p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: "p"}); err != nil {
			t.Fatal(err)
		}
		cs, _ = p.Changes(ctx, 10, 10)
		if len(cs) != 1 || cs[0].Revision != 11 {
			t.Fatalf("%+v", cs)
		}
		st, _ := p.Snapshot(ctx)
		if st.Revision != 11 || len(st.Networks) != 11 {
			t.Fatalf("snapshot %d %d", st.Revision, len(st.Networks))
		}
	})
}

func TestRunPruner(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := newPlugin(t, store.SQLite, seedConfig())
	for i := 0; i < 5; i++ {
		if _, err := p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: "p"}); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan struct{})
	go func() { p.RunPruner(ctx, time.Millisecond, 1, 0); close(done) }()
	deadline := time.After(30 * time.Second)
	for {
		if _, err := p.Changes(ctx, 3, 10); errors.Is(err, neutron.ErrRevisionGone) {
			break
		}
		select {
		case <-deadline:
			t.Fatal("pruner did not prune")
		case <-time.After(5 * time.Millisecond):
		}
	}
	cancel()
	<-done
	cs, err := p.Changes(context.Background(), 4, 10)
	if err != nil || len(cs) != 1 || cs[0].Revision != 5 {
		t.Fatalf("%v %+v", err, cs)
	}
}

// sqlite:// (memory, one connection) works end to end.
func TestInMemorySQLite(t *testing.T) {
	ctx := context.Background()
	st := storetest.OpenURL(t, "sqlite://")
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	p, err := New(ctx, st, seedConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := netAndSubnet(t, p)
	if _, err := p.ReportState(ctx, ovsReport("h1", "198.18.0.1")); err != nil {
		t.Fatal(err)
	}
	pt, err := p.CreatePort(ctx, neutron.PortCreate{NetworkID: n.ID, HostID: "h1"})
	if err != nil || pt.VIFType != "ovs" {
		t.Fatalf("%v %+v", err, pt)
	}
	s, err := p.Snapshot(ctx)
	if err != nil || len(s.Ports) != 1 || len(s.Agents) != 1 || s.Revision != int64(len(mustChanges(t, p, 0))) {
		t.Fatalf("%v %+v", err, s)
	}
}
