package ml2

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"neutrino/internal/neutron"
	"neutrino/internal/store"
)

func l3Report(host string) neutron.AgentReport {
	return neutron.AgentReport{AgentType: neutron.AgentTypeL3, Binary: "neutron-l3-agent", Host: host, Topic: "l3_agent",
		Configurations: json.RawMessage(`{"agent_mode":"legacy","interface_driver":"openvswitch","routers":0}`), StartFlag: true}
}

// l3State is what the L3 scheduler left: router -> host of its agent, and
// router port id -> "host vif_type".
func l3State(t *testing.T, p *Plugin) (map[string]string, map[string]string) {
	t.Helper()
	ctx := context.Background()
	bs, err := p.Store().L3Bindings(ctx, "", "")
	if err != nil {
		t.Fatal(err)
	}
	hosts := map[string]string{}
	for _, b := range bs {
		a, err := p.GetAgent(ctx, b.AgentID)
		if err != nil {
			t.Fatal(err)
		}
		if _, dup := hosts[b.RouterID]; dup {
			t.Fatalf("router %s bound twice: %+v", b.RouterID, bs)
		}
		hosts[b.RouterID] = a.Host
	}
	ps, err := p.ListPorts(ctx, neutron.ListQuery{Filters: map[string][]string{"device_owner": {neutron.DeviceOwnerRouterInterface}}})
	if err != nil {
		t.Fatal(err)
	}
	ports := map[string]string{}
	for _, pt := range ps {
		ports[pt.ID] = pt.HostID + " " + pt.VIFType
	}
	return hosts, ports
}

func schedule(t *testing.T, p *Plugin, router string) string {
	t.Helper()
	var host string
	_, err := p.st.Write(context.Background(), func(tx *store.Tx) error {
		var err error
		host, err = p.scheduleRouter(context.Background(), tx, router)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return host
}

// The L3 scheduler on the real store (routers named by id only: placement
// needs no more of them): least routers first, ports follow their router's
// agent, a deleted agent's routers move with change-log rows.
func TestL3Scheduling(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		p := newPlugin(t, d, seedConfig())
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		r := func(i int) string { return fmt.Sprintf("00000000-0000-0000-0000-0000000000%02d", i) }
		n, _ := netAndSubnet(t, p)
		// A router interface port made before any L3 agent: unbound.
		qr, err := p.CreatePort(ctx, neutron.PortCreate{ProjectID: tenant, NetworkID: n.ID, DeviceID: r(1), DeviceOwner: neutron.DeviceOwnerRouterInterface})
		must(err)
		if h := schedule(t, p, r(1)); h != "" {
			t.Fatalf("no L3 agent, but router placed on %q", h)
		}
		for _, h := range []string{"net-1", "net-2"} {
			_, err := p.ReportState(ctx, ovsReport(h, "198.18.1."+h[4:]))
			must(err)
		}
		_, err = p.ReportState(ctx, l3Report("net-2"))
		must(err)
		a1, err := p.ReportState(ctx, l3Report("net-1"))
		must(err)
		if a1.AgentType != "L3 agent" || a1.Binary != "neutron-l3-agent" || a1.Topic != "l3_agent" {
			t.Fatalf("l3 agent row %+v", a1)
		}
		// Least routers, ties by host: r1 net-1, r2 net-2, r3 net-1.
		for i, want := range []string{"net-1", "net-2", "net-1"} {
			if h := schedule(t, p, r(i+1)); h != want {
				t.Fatalf("router %d on %q, want %q", i+1, h, want)
			}
		}
		// Scheduling again moves nothing.
		if h := schedule(t, p, r(2)); h != "net-2" {
			t.Fatalf("rescheduled r2 to %q", h)
		}
		hosts, ports := l3State(t, p)
		if len(hosts) != 3 || ports[qr.ID] != "net-1 ovs" {
			t.Fatalf("after scheduling: %v %v", hosts, ports)
		}
		rev := mustChanges(t, p, 0)
		last := rev[len(rev)-1].Revision

		// net-1's agent is deleted: its routers go to net-2, the port
		// with them, and the change log says so.
		must(p.DeleteAgent(ctx, a1.ID))
		hosts, ports = l3State(t, p)
		if hosts[r(1)] != "net-2" || hosts[r(3)] != "net-2" || ports[qr.ID] != "net-2 ovs" {
			t.Fatalf("after agent delete: %v %v", hosts, ports)
		}
		kinds := map[string]int{}
		for _, c := range mustChanges(t, p, last) {
			kinds[string(c.Kind)+" "+string(c.Op)]++
		}
		if kinds["l3_binding delete"] != 2 || kinds["l3_binding create"] != 2 || kinds["port update"] != 1 {
			t.Fatalf("change rows after agent delete: %v", kinds)
		}
		st, err := p.Snapshot(ctx)
		must(err)
		if len(st.L3Bindings) != 3 {
			t.Fatalf("snapshot bindings %+v", st.L3Bindings)
		}
		// The router goes: so does its binding.
		_, err = p.st.Write(ctx, func(tx *store.Tx) error { return p.unscheduleRouter(ctx, tx, r(2)) })
		must(err)
		if hosts, _ = l3State(t, p); len(hosts) != 2 || hosts[r(2)] != "" {
			t.Fatalf("after unschedule: %v", hosts)
		}
	})
}

// The l3_agent_scheduler extension's writes: an admin moves a router
// between L3 agents, its ports follow; Neutron's faults otherwise.
func TestL3AgentSchedulerAdmin(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		p := newPlugin(t, d, seedConfig())
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		ovs, err := p.ReportState(ctx, ovsReport("net-1", "198.18.1.1"))
		must(err)
		_, err = p.ReportState(ctx, ovsReport("net-2", "198.18.1.2"))
		must(err)
		a1, err := p.ReportState(ctx, l3Report("net-1"))
		must(err)
		a2, err := p.ReportState(ctx, l3Report("net-2"))
		must(err)
		_, s := netAndSubnet(t, p)
		rs, err := p.CreateRouters(ctx, []neutron.RouterCreate{{ProjectID: tenant, Name: "r"}})
		must(err)
		r := rs[0]
		info, err := p.AddRouterInterface(ctx, r.ID, neutron.RouterInterfaceRequest{SubnetID: s.ID})
		must(err)
		bs, err := p.L3Bindings(ctx, r.ID, "")
		must(err)
		if len(bs) != 1 || bs[0].AgentID != a1.ID {
			t.Fatalf("router scheduled to %+v, want net-1's agent", bs)
		}
		wantFault(t, p.AddRouterToL3Agent(ctx, a2.ID, r.ID), 409, "RouterHostedByL3Agent")
		wantFault(t, p.AddRouterToL3Agent(ctx, ovs.ID, r.ID), 404, "InvalidL3Agent")
		wantFault(t, p.RemoveRouterFromL3Agent(ctx, a2.ID, r.ID), 409, "RouterNotHostedByL3Agent")
		_, err = p.L3Bindings(ctx, "00000000-0000-0000-0000-000000000000", "")
		wantFault(t, err, 404, "RouterNotFound")

		must(p.RemoveRouterFromL3Agent(ctx, a1.ID, r.ID))
		if _, ports := l3State(t, p); ports[info.PortID] != " unbound" {
			t.Fatalf("port after removal: %v", ports)
		}
		must(p.AddRouterToL3Agent(ctx, a2.ID, r.ID))
		hosts, ports := l3State(t, p)
		if hosts[r.ID] != "net-2" || ports[info.PortID] != "net-2 ovs" {
			t.Fatalf("after the move: %v %v", hosts, ports)
		}
		bs, err = p.L3Bindings(ctx, "", a2.ID)
		must(err)
		if len(bs) != 1 || bs[0].RouterID != r.ID {
			t.Fatalf("net-2's routers %+v", bs)
		}
	})
}
