package ml2

import (
	"context"
	"strings"
	"testing"

	"neutrino/internal/neutron"
	"neutrino/internal/store"
)

// Distributed routers with only legacy L3 agents, as Neutron 2023.1 treats
// them: stored and returned, never scheduled (automatically or by hand),
// their ports unbound; converted either way only while admin down, after
// which a centralized router is scheduled again. ha = true is refused.
func TestDistributedRouters(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		cfg := seedConfig()
		p := newPlugin(t, d, cfg)
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		yes, no := true, false
		_, err := p.ReportState(ctx, ovsReport("net-1", "198.18.1.1"))
		must(err)
		agent, err := p.ReportState(ctx, l3Report("net-1"))
		must(err)
		_, sub := netAndSubnet(t, p)

		dvr, err := p.CreateRouter(ctx, neutron.RouterCreate{ProjectID: tenant, Name: "dvr", Distributed: &yes})
		must(err)
		if !dvr.Distributed {
			t.Fatalf("created %+v", dvr)
		}
		_, err = p.AddRouterInterface(ctx, dvr.ID, neutron.RouterInterfaceRequest{SubnetID: sub.ID})
		must(err)
		legacy, err := p.CreateRouter(ctx, neutron.RouterCreate{ProjectID: tenant, Name: "legacy"})
		must(err)
		if legacy.Distributed {
			t.Fatalf("router_distributed is false, got %+v", legacy)
		}
		hosts, ports := l3State(t, p)
		if _, ok := hosts[dvr.ID]; ok || hosts[legacy.ID] != "net-1" || len(ports) != 1 {
			t.Fatalf("bindings %v ports %v", hosts, ports)
		}
		for _, hv := range ports {
			if hv != " unbound" {
				t.Fatalf("distributed router's port bound: %v", ports)
			}
		}
		// A new L3 agent's auto-scheduling passes it by too.
		_, err = p.ReportState(ctx, l3Report("net-2"))
		must(err)
		if hosts, _ = l3State(t, p); len(hosts) != 1 {
			t.Fatalf("auto-scheduled a distributed router: %v", hosts)
		}
		err = p.AddRouterToL3Agent(ctx, agent.ID, dvr.ID)
		if e, ok := err.(*neutron.Error); !ok || e.Status != 409 || e.Type != "RouterL3AgentMismatch" {
			t.Fatalf("manual scheduling: %v", err)
		}

		// Conversion needs admin_state_up false before and after.
		_, err = p.UpdateRouter(ctx, legacy.ID, neutron.RouterUpdate{Distributed: &yes})
		if e, ok := err.(*neutron.Error); !ok || e.Status != 400 || !strings.Contains(e.Message, "Cannot change the 'distributed' attribute of active routers") {
			t.Fatalf("active conversion: %v", err)
		}
		_, err = p.UpdateRouter(ctx, legacy.ID, neutron.RouterUpdate{Distributed: &yes, AdminStateUp: &no})
		if e, ok := err.(*neutron.Error); !ok || e.Status != 400 {
			t.Fatalf("conversion while setting admin down: %v", err)
		}
		_, err = p.UpdateRouter(ctx, legacy.ID, neutron.RouterUpdate{AdminStateUp: &no})
		must(err)
		got, err := p.UpdateRouter(ctx, legacy.ID, neutron.RouterUpdate{Distributed: &yes})
		must(err)
		if !got.Distributed {
			t.Fatalf("converted %+v", got)
		}
		if hosts, _ = l3State(t, p); len(hosts) != 0 {
			t.Fatalf("converted router still scheduled: %v", hosts)
		}
		// And back (Neutron migrates both ways): scheduled again.
		_, err = p.UpdateRouter(ctx, dvr.ID, neutron.RouterUpdate{AdminStateUp: &no})
		must(err)
		got, err = p.UpdateRouter(ctx, dvr.ID, neutron.RouterUpdate{Distributed: &no})
		must(err)
		if got.Distributed {
			t.Fatalf("converted back %+v", got)
		}
		hosts, ports = l3State(t, p)
		if hosts[dvr.ID] == "" || len(hosts) != 1 {
			t.Fatalf("centralized again but not scheduled: %v", hosts)
		}
		for _, hv := range ports {
			if hv != hosts[dvr.ID]+" ovs" {
				t.Fatalf("port not with its router: %v %v", hosts, ports)
			}
		}
		// Same value: no conversion, no admin-state rule.
		_, err = p.UpdateRouter(ctx, dvr.ID, neutron.RouterUpdate{AdminStateUp: &yes})
		must(err)
		_, err = p.UpdateRouter(ctx, dvr.ID, neutron.RouterUpdate{Distributed: &no, HA: &no})
		must(err)

		for _, err := range []error{
			func() error {
				_, err := p.CreateRouter(ctx, neutron.RouterCreate{ProjectID: tenant, HA: &yes})
				return err
			}(),
			func() error { _, err := p.UpdateRouter(ctx, dvr.ID, neutron.RouterUpdate{HA: &yes}); return err }(),
		} {
			if e, ok := err.(*neutron.Error); !ok || e.Status != 400 || !strings.Contains(e.Message, "HA") {
				t.Fatalf("ha = true: %v", err)
			}
		}

		// [DEFAULT] router_distributed = True: the default flips.
		cfg.RouterDistributed = true
		def, err := p.CreateRouter(ctx, neutron.RouterCreate{ProjectID: tenant})
		must(err)
		cen, err := p.CreateRouter(ctx, neutron.RouterCreate{ProjectID: tenant, Distributed: &no})
		must(err)
		if !def.Distributed || cen.Distributed {
			t.Fatalf("router_distributed: default %v, explicit false %v", def.Distributed, cen.Distributed)
		}
		// Read back from the database.
		rs, err := p.ListRouters(ctx, neutron.ListQuery{Filters: map[string][]string{"distributed": {"true"}}})
		must(err)
		if len(rs) != 2 {
			t.Fatalf("distributed routers listed: %+v", rs)
		}
	})
}
