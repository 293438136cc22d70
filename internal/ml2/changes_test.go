package ml2

import (
	"context"
	"encoding/json"
	"testing"

	"neutrino/internal/neutron"
	"neutrino/internal/store"
)

// The object in the newest change-log row of a resource equals what a
// fresh read returns: applying the log gives the same state as a snapshot
// (the agents' stream relies on it).
func TestChangeObjectsMatchReads(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		p := newPlugin(t, d, seedConfig())
		latest := func(kind neutron.ChangeKind, id string) json.RawMessage {
			t.Helper()
			var obj json.RawMessage
			for _, c := range mustChanges(t, p, 0) {
				if c.Kind == kind && c.ID == id {
					obj = c.Object
				}
			}
			if obj == nil {
				t.Fatalf("no change for %s %s", kind, id)
			}
			return obj
		}
		same := func(what string, logged json.RawMessage, read any, into any) {
			t.Helper()
			if err := json.Unmarshal(logged, into); err != nil {
				t.Fatal(err)
			}
			a, _ := json.Marshal(into)
			b, _ := json.Marshal(read)
			if string(a) != string(b) {
				t.Fatalf("%s: change log has\n%s\nread gives\n%s", what, a, b)
			}
		}
		n, s := netAndSubnet(t, p)
		gn, _ := p.GetNetwork(ctx, n.ID)
		same("network after subnet create", latest("network", n.ID), gn, &neutron.Network{})
		gs, _ := p.GetSubnet(ctx, s.ID)
		same("subnet", latest("subnet", s.ID), gs, &neutron.Subnet{})
		if _, err := p.ReportState(ctx, ovsReport("node-1", "198.18.0.1")); err != nil {
			t.Fatal(err)
		}
		pt, err := p.CreatePort(ctx, neutron.PortCreate{ProjectID: tenant, NetworkID: n.ID, HostID: "node-1", Tags: []string{"b", "A", "a"},
			FixedIPs: []neutron.FixedIPRequest{{IPAddress: "192.168.1.10"}, {IPAddress: "192.168.1.9"}}})
		if err != nil {
			t.Fatal(err)
		}
		if pt.FixedIPs[0].IPAddress != "192.168.1.9" {
			t.Fatalf("fixed ips not in address order: %+v", pt.FixedIPs)
		}
		gp, _ := p.GetPort(ctx, pt.ID)
		same("port", latest("port", pt.ID), gp, &neutron.Port{})
		if _, err := p.UpdateDevice(ctx, "node-1", pt.ID, true); err != nil {
			t.Fatal(err)
		}
		gp, _ = p.GetPort(ctx, pt.ID)
		same("port up", latest("port", pt.ID), gp, &neutron.Port{})
		failed, err := p.CreatePort(ctx, neutron.PortCreate{ProjectID: tenant, NetworkID: n.ID, HostID: "node-9"})
		if err != nil {
			t.Fatal(err)
		}
		gp, _ = p.GetPort(ctx, failed.ID)
		same("binding_failed port", latest("port", failed.ID), gp, &neutron.Port{})
		st, err := p.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ag := st.Agents[0]
		same("agent", latest("agent", ag.ID), ag, &neutron.Agent{})
		same("endpoint", latest("endpoint", "node-1"), st.Endpoints[0], &neutron.TunnelEndpoint{})
	})
}
