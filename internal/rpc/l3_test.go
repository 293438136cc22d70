package rpc

import (
	"context"
	"encoding/json"
	"reflect"
	"sync"
	"testing"
	"time"

	"neutrino/internal/l3"
	"neutrino/internal/l3view"
	"neutrino/internal/neutron"
	"neutrino/internal/waittest"
)

// l3Follower records what an L3Source yields for one host.
type l3Follower struct {
	mu    sync.Mutex
	st    l3.State
	rev   int64
	calls int
}

func (f *l3Follower) get() (l3.State, int64, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st, f.rev, f.calls
}

// followL3 runs an L3Source for host as the L3 agent does: Watch again
// whenever a stream ends.
func followL3(t *testing.T, c *Client, host string) *l3Follower {
	t.Helper()
	f := &l3Follower{}
	src := &L3Source{Client: c}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			src.Watch(ctx, host, func(st l3.State) error {
				f.mu.Lock()
				f.st, f.rev = st, src.Revision()
				f.calls++
				f.mu.Unlock()
				return nil
			})
			time.Sleep(10 * time.Millisecond)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return f
}

func l3AgentReport(host string) neutron.AgentReport {
	return neutron.AgentReport{AgentType: neutron.AgentTypeL3, Binary: "neutron-l3-agent", Host: host, Topic: "l3_agent",
		Configurations: json.RawMessage(`{"agent_mode":"legacy","interface_driver":"openvswitch","routers":0}`), StartFlag: true}
}

// The L3 agents' stream end to end, with the real router service and
// scheduler: the L3 agent registers over gRPC, a router with an interface
// and a gateway is scheduled to it with its ports bound there, a floating
// IP reaches it, its status report is taken only from the hosting agent,
// and a change reaches only the agent hosting the router.
func TestL3Stream(t *testing.T) {
	ctx := context.Background()
	p, srv, addr := startPluginServer(t)
	c := dial(t, addr, ClientConfig{})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range []string{"controller", "compute-1"} {
		_, err := c.ReportState(ctx, neutron.AgentReport{AgentType: neutron.AgentTypeOVS, Binary: "neutron-openvswitch-agent", Host: h,
			Configurations: json.RawMessage(`{"tunnel_types":["vxlan"]}`), TunnelIP: "198.18.0." + map[string]string{"controller": "1", "compute-1": "2"}[h], TunnelTypes: []string{"vxlan"}})
		must(err)
	}
	// A router made before any L3 agent waits, its port unbound; the
	// first L3 agent takes it when it registers.
	n0, err := p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: "tenant", Name: "early"})
	must(err)
	s0, err := p.CreateSubnet(ctx, neutron.SubnetCreate{ProjectID: "tenant", NetworkID: n0.ID, IPVersion: 4, CIDR: "192.168.0.0/24"})
	must(err)
	rs, err := p.CreateRouters(ctx, []neutron.RouterCreate{{ProjectID: "tenant", Name: "router0"}})
	must(err)
	r0 := rs[0]
	info0, err := p.AddRouterInterface(ctx, r0.ID, neutron.RouterInterfaceRequest{SubnetID: s0.ID})
	must(err)
	if qr0, err := p.GetPort(ctx, info0.PortID); err != nil || qr0.HostID != "" {
		t.Fatalf("router0's port before any L3 agent: %+v %v", qr0, err)
	}
	_, err = c.ReportState(ctx, l3AgentReport("controller"))
	must(err)
	f1 := followL3(t, c, "controller")
	waittest.For(t, "controller's first state, with router0", func() bool {
		st, _, calls := f1.get()
		return calls == 1 && len(st.Routers) == 1 && st.Routers[0].ID == r0.ID && len(st.Routers[0].Interfaces) == 1
	})
	if qr0, err := p.GetPort(ctx, info0.PortID); err != nil || qr0.HostID != "controller" {
		t.Fatalf("router0's port after the L3 agent came: %+v %v", qr0, err)
	}

	ext, err := p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: "admin", Name: "public", External: ptrTo(true)})
	must(err)
	_, err = p.CreateSubnet(ctx, neutron.SubnetCreate{ProjectID: "admin", NetworkID: ext.ID, IPVersion: 4, CIDR: "198.18.100.0/24", EnableDHCP: ptrTo(false)})
	must(err)
	n1, err := p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: "tenant", Name: "testnet"})
	must(err)
	s1, err := p.CreateSubnet(ctx, neutron.SubnetCreate{ProjectID: "tenant", NetworkID: n1.ID, IPVersion: 4, CIDR: "192.168.1.0/24"})
	must(err)
	rs, err = p.CreateRouters(ctx, []neutron.RouterCreate{{ProjectID: "tenant", Name: "router1", Gateway: &neutron.GatewayRequest{NetworkID: ext.ID}}})
	must(err)
	r1 := rs[0]
	info, err := p.AddRouterInterface(ctx, r1.ID, neutron.RouterInterfaceRequest{SubnetID: s1.ID})
	must(err)
	waittest.For(t, "router1 with its interface and gateway on the controller", func() bool {
		st, _, _ := f1.get()
		rt := routerIn(st, r1.ID)
		return len(st.Routers) == 2 && len(rt.Interfaces) == 1 && rt.Gateway != nil
	})
	st, _, _ := f1.get()
	rt := routerIn(st, r1.ID)
	if rt.ID != r1.ID || rt.Interfaces[0].ID != info.PortID || rt.Interfaces[0].MTU != 1450 ||
		rt.Interfaces[0].Addresses[0].String() != "192.168.1.1/24" || rt.Gateway.NextHops[0].String() != "198.18.100.1" || !rt.Gateway.EnableSNAT {
		t.Fatalf("controller routes %+v", st)
	}
	qr, err := p.GetPort(ctx, info.PortID)
	must(err)
	if qr.HostID != "controller" || qr.VIFType != "ovs" {
		t.Fatalf("router interface bound to %q (%s), want the L3 agent's host", qr.HostID, qr.VIFType)
	}

	// A second L3 agent: router1's changes never reach it.
	_, err = c.ReportState(ctx, l3AgentReport("compute-1"))
	must(err)
	f2 := followL3(t, c, "compute-1")
	waittest.For(t, "compute-1's first state", func() bool { _, _, calls := f2.get(); return calls == 1 })
	vm, err := p.CreatePort(ctx, neutron.PortCreate{ProjectID: "tenant", NetworkID: n1.ID, Name: "vm-a", DeviceOwner: "compute:nova", DeviceID: "vm-a"})
	must(err)
	fips, err := p.CreateFloatingIPs(ctx, []neutron.FloatingIPCreate{{ProjectID: "tenant", FloatingNetworkID: ext.ID, PortID: vm.ID}})
	must(err)
	fip := fips[0]
	waittest.For(t, "the floating IP on router1", func() bool {
		st, _, _ := f1.get()
		return len(routerIn(st, r1.ID).FloatingIPs) == 1
	})
	st, _, _ = f1.get()
	if f := routerIn(st, r1.ID).FloatingIPs[0]; f.ID != fip.ID || f.FloatingIP.String() != fip.FloatingIPAddress || f.FixedIP.String() != vm.FixedIPs[0].IPAddress || f.PortID != vm.ID {
		t.Fatalf("floating IP %+v, want %+v", f, fip)
	}
	if st, _, calls := f2.get(); calls != 1 || len(st.Routers) != 0 {
		t.Errorf("compute-1 got %d states (%+v); router1's changes reached it", calls, st)
	}

	// Status reports: compute-1 does not host router1, its word is not
	// taken; the controller's is.
	must(c.UpdateFloatingIPStatuses(ctx, "compute-1", map[string]string{fip.ID: neutron.StatusActive}))
	if got, _ := p.GetFloatingIP(ctx, fip.ID); got.Status != neutron.StatusDown {
		t.Fatalf("status %s after a report from a host not hosting the router", got.Status)
	}
	must(c.UpdateFloatingIPStatuses(ctx, "controller", map[string]string{fip.ID: neutron.StatusActive}))
	if got, _ := p.GetFloatingIP(ctx, fip.ID); got.Status != neutron.StatusActive {
		t.Fatalf("status %s after the hosting agent's ACTIVE", got.Status)
	}

	// What every agent holds equals a fresh snapshot's view.
	snap, err := p.Snapshot(ctx)
	must(err)
	fresh := l3view.NewModel(snap)
	for host, f := range map[string]*l3Follower{"controller": f1, "compute-1": f2} {
		waittest.For(t, host+" at the server's revision of its state", func() bool {
			_, rev, _ := f.get()
			_, want := srv.l3.view(host)
			return srv.Revision() >= snap.Revision && rev == want
		})
		held, _, _ := f.get()
		if want := fresh.View(host); !reflect.DeepEqual(held, want) {
			t.Errorf("%s holds %+v, a fresh snapshot gives %+v", host, held, want)
		}
	}
}

func routerIn(st l3.State, id string) l3.Router {
	for _, r := range st.Routers {
		if r.ID == id {
			return r
		}
	}
	return l3.Router{}
}

func ptrTo[T any](v T) *T { return &v }
