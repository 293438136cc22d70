package l3view

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	"neutrino/internal/l3"
	"neutrino/internal/neutron"
)

// world is a neutron.State kept as maps, changed op by op; every change
// is also returned as its change-log row.
type world struct {
	rev      int64
	networks map[string]neutron.Network
	subnets  map[string]neutron.Subnet
	ports    map[string]neutron.Port
	routers  map[string]neutron.Router
	fips     map[string]neutron.FloatingIP
	agents   map[string]neutron.Agent
	bindings map[string]neutron.L3Binding
}

func newWorld() *world {
	return &world{networks: map[string]neutron.Network{}, subnets: map[string]neutron.Subnet{}, ports: map[string]neutron.Port{},
		routers: map[string]neutron.Router{}, fips: map[string]neutron.FloatingIP{},
		agents: map[string]neutron.Agent{}, bindings: map[string]neutron.L3Binding{}}
}

func (w *world) row(c neutron.Change) neutron.Change {
	w.rev++
	c.Revision = w.rev
	return c
}

func (w *world) put(r neutron.Resource) neutron.Change {
	switch v := r.(type) {
	case neutron.Network:
		w.networks[v.ID] = v
	case neutron.Subnet:
		w.subnets[v.ID] = v
	case neutron.Port:
		w.ports[v.ID] = v
	case neutron.Router:
		w.routers[v.ID] = v
	case neutron.FloatingIP:
		w.fips[v.ID] = v
	case neutron.Agent:
		w.agents[v.ID] = v
	case neutron.L3Binding:
		w.bindings[neutron.L3BindingKey(v.RouterID, v.AgentID)] = v
	}
	return w.row(neutron.Updated(r))
}

func (w *world) del(k neutron.ChangeKind, id string) neutron.Change {
	switch k {
	case neutron.KindNetwork:
		delete(w.networks, id)
	case neutron.KindSubnet:
		delete(w.subnets, id)
	case neutron.KindPort:
		delete(w.ports, id)
	case neutron.KindRouter:
		delete(w.routers, id)
	case neutron.KindFloatingIP:
		delete(w.fips, id)
	case neutron.KindAgent:
		delete(w.agents, id)
	case neutron.KindL3Binding:
		delete(w.bindings, id)
	}
	return w.row(neutron.Deleted(k, id))
}

func sorted[V any](m map[string]V) []V {
	var out []V
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[k])
	}
	return out
}

func (w *world) state() *neutron.State {
	return &neutron.State{Revision: w.rev, Networks: sorted(w.networks), Subnets: sorted(w.subnets), Ports: sorted(w.ports),
		Routers: sorted(w.routers), FloatingIPs: sorted(w.fips), Agents: sorted(w.agents), L3Bindings: sorted(w.bindings)}
}

func network(id string, mtu int) neutron.Network {
	n := neutron.Network{MTU: mtu}
	n.ID = id
	return n
}

func subnet(id, net, cidr, gw string) neutron.Subnet {
	s := neutron.Subnet{NetworkID: net, CIDR: cidr, GatewayIP: gw, IPVersion: 4}
	s.ID = id
	return s
}

func port(id, net, mac, owner, device string, ips ...string) neutron.Port {
	p := neutron.Port{NetworkID: net, MACAddress: mac, DeviceOwner: owner, DeviceID: device}
	p.ID = id
	for _, ip := range ips {
		sub, addr, _ := strings.Cut(ip, "=")
		p.FixedIPs = append(p.FixedIPs, neutron.FixedIP{SubnetID: sub, IPAddress: addr})
	}
	return p
}

func router(id string, up bool, gwPort string, snat bool, routes ...string) neutron.Router {
	r := neutron.Router{AdminStateUp: up, GatewayPortID: gwPort, Routes: []neutron.HostRoute{}}
	r.ID = id
	if gwPort != "" {
		r.GatewayInfo = &neutron.GatewayInfo{NetworkID: "ext", EnableSNAT: snat}
	}
	for _, rt := range routes {
		d, h, _ := strings.Cut(rt, ">")
		r.Routes = append(r.Routes, neutron.HostRoute{Destination: d, NextHop: h})
	}
	return r
}

func fip(id, addr, routerID, portID, fixed string) neutron.FloatingIP {
	f := neutron.FloatingIP{FloatingIPAddress: addr, FloatingNetworkID: "ext", RouterID: routerID, PortID: portID, FixedIPAddress: fixed}
	f.ID = id
	return f
}

func l3Agent(id, host string) neutron.Agent {
	return neutron.Agent{ID: id, Host: host, AgentType: neutron.AgentTypeL3}
}

var (
	pfx  = netip.MustParsePrefix
	addr = netip.MustParseAddr
)

func TestView(t *testing.T) {
	w := newWorld()
	w.put(network("net-a", 1450))
	w.put(network("net-b", 1450))
	w.put(network("ext", 1500))
	w.put(subnet("sub-a", "net-a", "192.168.1.0/24", "192.168.1.1"))
	w.put(subnet("sub-b", "net-b", "192.168.2.0/24", "192.168.2.1"))
	w.put(subnet("sub-ext", "ext", "198.18.100.0/24", "198.18.100.1"))
	w.put(l3Agent("l3-1", "controller"))
	w.put(l3Agent("l3-2", "compute-1"))
	w.put(neutron.Agent{ID: "ovs-1", Host: "compute-2", AgentType: neutron.AgentTypeOVS})
	w.put(router("r1", true, "gw1", true, "10.9.0.0/16>192.168.1.254", "10.8.0.0/16>192.168.2.254"))
	w.put(router("r2", true, "", false))
	w.put(router("r3", false, "", false))
	w.put(neutron.L3Binding{RouterID: "r1", AgentID: "l3-1"})
	w.put(neutron.L3Binding{RouterID: "r2", AgentID: "l3-2"})
	w.put(neutron.L3Binding{RouterID: "r3", AgentID: "l3-1"})
	w.put(port("qr-a", "net-a", "FA:16:3E:00:00:01", neutron.DeviceOwnerRouterInterface, "r1", "sub-a=192.168.1.1"))
	w.put(port("qr-b", "net-b", "fa:16:3e:00:00:02", neutron.DeviceOwnerRouterInterface, "r1", "sub-b=192.168.2.1"))
	w.put(port("gw1", "ext", "fa:16:3e:00:00:03", neutron.DeviceOwnerRouterGateway, "r1", "sub-ext=198.18.100.10"))
	w.put(port("vm1", "net-a", "fa:16:3e:00:00:04", "compute:nova", "vm-1", "sub-a=192.168.1.4"))
	w.put(port("fip-port", "ext", "fa:16:3e:00:00:05", neutron.DeviceOwnerFloatingIP, "f1", "sub-ext=198.18.100.20"))
	w.put(fip("f1", "198.18.100.20", "r1", "vm1", "192.168.1.4"))
	w.put(fip("f2", "198.18.100.21", "", "", ""))
	m := NewModel(w.state())

	want := l3.State{Routers: []l3.Router{{
		ID: "r1",
		Interfaces: []l3.Port{
			{ID: "qr-a", NetworkID: "net-a", MAC: "fa:16:3e:00:00:01", MTU: 1450, Addresses: []netip.Prefix{pfx("192.168.1.1/24")}},
			{ID: "qr-b", NetworkID: "net-b", MAC: "fa:16:3e:00:00:02", MTU: 1450, Addresses: []netip.Prefix{pfx("192.168.2.1/24")}},
		},
		Gateway: &l3.Gateway{Port: l3.Port{ID: "gw1", NetworkID: "ext", MAC: "fa:16:3e:00:00:03", MTU: 1500, Addresses: []netip.Prefix{pfx("198.18.100.10/24")}},
			NextHops: []netip.Addr{addr("198.18.100.1")}, EnableSNAT: true},
		Routes:      []l3.Route{{Destination: pfx("10.8.0.0/16"), NextHop: addr("192.168.2.254")}, {Destination: pfx("10.9.0.0/16"), NextHop: addr("192.168.1.254")}},
		FloatingIPs: []l3.FloatingIP{{ID: "f1", FloatingIP: addr("198.18.100.20"), FixedIP: addr("192.168.1.4"), PortID: "vm1"}},
	}}}
	if got := m.View("controller"); !reflect.DeepEqual(got, want) {
		t.Fatalf("controller (r3 is admin down):\n got %+v\nwant %+v", got, want)
	}
	if got := m.View("compute-1"); !reflect.DeepEqual(got, l3.State{Routers: []l3.Router{{ID: "r2"}}}) {
		t.Fatalf("compute-1: %+v", got)
	}
	if got := m.View("compute-2"); len(got.Routers) != 0 || m.HasHost("compute-2") {
		t.Fatalf("an L2 agent's host has an L3 view: %+v", got)
	}
	if !slices.Equal(m.Hosts(), []string{"compute-1", "controller"}) {
		t.Fatalf("hosts %v", m.Hosts())
	}

	// Spans: a change reaches only the agent hosting the router it touches.
	for _, tc := range []struct {
		name    string
		c       neutron.Change
		hosts   []string
		routers []string
	}{
		{"vm port", w.put(port("vm2", "net-a", "fa:16:3e:00:00:06", "compute:nova", "vm-2", "sub-a=192.168.1.5")), nil, nil},
		{"interface on r2", w.put(port("qr-c", "net-b", "fa:16:3e:00:00:07", neutron.DeviceOwnerRouterInterface, "r2", "sub-b=192.168.2.2")), []string{"compute-1"}, []string{"r2"}},
		{"port status only", func() neutron.Change {
			p := w.ports["qr-c"]
			p.Status, p.HostID = neutron.StatusActive, "compute-1"
			return w.put(p)
		}(), nil, nil},
		// (An interface subnet's gateway_ip is not in the view; the span
		// may be wider than the change, the deltas then are empty.)
		{"subnet b gateway", w.put(subnet("sub-b", "net-b", "192.168.2.0/24", "192.168.2.254")), []string{"compute-1", "controller"}, []string{"r1", "r2"}},
		{"subnet b prefix", w.put(subnet("sub-b", "net-b", "192.168.0.0/22", "192.168.2.254")), []string{"compute-1", "controller"}, []string{"r1", "r2"}},
		{"mtu of a", w.put(network("net-a", 1400)), []string{"controller"}, []string{"r1"}},
		{"fip associate", w.put(fip("f2", "198.18.100.21", "r1", "vm2", "192.168.1.5")), []string{"controller"}, []string{"r1"}},
		{"fip status only", func() neutron.Change {
			f := w.fips["f2"]
			f.Status = neutron.StatusActive
			return w.put(f)
		}(), nil, nil},
		{"router admin down", w.put(router("r2", false, "", false)), []string{"compute-1"}, []string{"r2"}},
		{"agent heartbeat", w.put(l3Agent("l3-1", "controller")), nil, nil},
		{"l2 agent", w.put(neutron.Agent{ID: "ovs-2", Host: "controller", AgentType: neutron.AgentTypeOVS}), nil, nil},
		{"unbinding", w.del(neutron.KindL3Binding, neutron.L3BindingKey("r3", "l3-1")), []string{"controller"}, []string{"r3"}},
		{"binding", w.put(neutron.L3Binding{RouterID: "r3", AgentID: "l3-2"}), []string{"compute-1"}, []string{"r3"}},
		{"agent gone", w.del(neutron.KindAgent, "l3-2"), []string{"compute-1"}, nil},
	} {
		span, err := m.Apply(tc.c)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		hosts, routers := slices.Sorted(maps.Keys(span.Hosts)), slices.Sorted(maps.Keys(span.Routers))
		if !slices.Equal(hosts, tc.hosts) || (tc.hosts != nil && !slices.Equal(routers, tc.routers)) {
			t.Errorf("%s: span hosts %v routers %v, want %v %v", tc.name, hosts, routers, tc.hosts, tc.routers)
		}
	}
	got := m.View("controller")
	if len(got.Routers) != 1 || len(got.Routers[0].FloatingIPs) != 2 || got.Routers[0].Interfaces[0].MTU != 1400 ||
		got.Routers[0].Interfaces[1].Addresses[0] != pfx("192.168.2.1/22") {
		t.Fatalf("controller after the changes: %+v", got)
	}
}

// TestDeltasEqualSnapshot: a host that applies the delta of every change
// that concerns it (and only those) ends with exactly the state a fresh
// model of the same database gives, through random changes of networks,
// subnets, router and other ports, routers, floating IPs, agents and
// bindings.
func TestDeltasEqualSnapshot(t *testing.T) {
	hosts := []string{"h0", "h1", "h2"}
	routed, withFIP := 0, 0
	defer func() {
		if routed == 0 || withFIP == 0 {
			t.Errorf("routers held at the end %d, with floating IPs %d: the property was checked on too little", routed, withFIP)
		}
	}()
	for seed := uint64(1); seed <= 8; seed++ {
		r := rand.New(rand.NewPCG(seed, 3))
		w := newWorld()
		m := NewModel(w.state())
		held := map[string]l3.State{} // what each host's agent holds
		views := map[string]l3.State{}
		nets := []string{"n0", "n1", "n2"}
		routers := []string{"r0", "r1", "r2", "r3"}
		for i := 0; i < 500; i++ {
			var c neutron.Change
			net := nets[r.IntN(len(nets))]
			rt := routers[r.IntN(len(routers))]
			host := hosts[r.IntN(len(hosts))]
			agent := "agent-" + host
			sub := "s-" + net
			ip := func() string { return fmt.Sprintf("%s=10.%d.0.%d", sub, net[1]-'0', 1+r.IntN(20)) }
			switch op := r.IntN(14); op {
			case 0:
				c = w.put(network(net, 1400+r.IntN(3)*50))
			case 1:
				c = w.put(subnet(sub, net, fmt.Sprintf("10.%d.0.0/%d", net[1]-'0', 16+r.IntN(2)*8), fmt.Sprintf("10.%d.0.%d", net[1]-'0', 1+r.IntN(2))))
			case 2:
				c = w.del(neutron.KindSubnet, sub)
			case 3, 4:
				owner := neutron.DeviceOwnerRouterInterface
				if r.IntN(4) == 0 {
					owner = "compute:nova"
				}
				c = w.put(port(fmt.Sprintf("p%d", r.IntN(10)), net, fmt.Sprintf("fa:16:3e:00:00:%02x", r.IntN(256)), owner, rt, ip()))
			case 5:
				// The router's gateway port.
				c = w.put(port("gw-"+rt, net, "fa:16:3e:ee:00:01", neutron.DeviceOwnerRouterGateway, rt, ip()))
			case 6:
				ids := slices.Sorted(maps.Keys(w.ports))
				if len(ids) == 0 {
					continue
				}
				c = w.del(neutron.KindPort, ids[r.IntN(len(ids))])
			case 7:
				gw := ""
				if r.IntN(3) != 0 {
					gw = "gw-" + rt
				}
				c = w.put(router(rt, r.IntN(5) != 0, gw, r.IntN(2) == 0, fmt.Sprintf("10.99.%d.0/24>10.0.0.%d", r.IntN(3), 1+r.IntN(3))))
			case 8:
				c = w.del(neutron.KindRouter, rt)
			case 9:
				f := fip(fmt.Sprintf("f%d", r.IntN(5)), fmt.Sprintf("198.18.100.%d", r.IntN(9)), rt, fmt.Sprintf("p%d", r.IntN(10)), fmt.Sprintf("10.0.0.%d", r.IntN(9)))
				if r.IntN(4) == 0 {
					f.RouterID, f.PortID, f.FixedIPAddress = "", "", ""
				}
				c = w.put(f)
			case 10:
				c = w.put(l3Agent(agent, host))
			case 11:
				c = w.del(neutron.KindAgent, agent)
			case 12:
				c = w.put(neutron.L3Binding{RouterID: rt, AgentID: agent})
			case 13:
				if r.IntN(2) == 0 {
					c = w.del(neutron.KindL3Binding, neutron.L3BindingKey(rt, agent))
				} else {
					c = w.del(neutron.KindNetwork, net)
				}
			}
			span, err := m.Apply(c)
			if err != nil {
				t.Fatalf("seed %d op %d: %v", seed, i, err)
			}
			for h := range span.Hosts {
				now := m.UpdateView(h, views[h], span.Routers)
				d := Diff(views[h], now)
				views[h] = now
				if held[h], err = Apply(held[h], d); err != nil {
					t.Fatalf("seed %d op %d host %s: %v", seed, i, h, err)
				}
			}
		}
		fresh := NewModel(w.state())
		for _, h := range hosts {
			for _, rt := range held[h].Routers {
				routed++
				withFIP += len(rt.FloatingIPs)
			}
			if want := fresh.View(h); !reflect.DeepEqual(held[h], want) {
				t.Fatalf("seed %d host %s:\n held %+v\n want %+v", seed, h, held[h], want)
			}
		}
	}
}

func TestDiffApply(t *testing.T) {
	old := l3.State{Routers: []l3.Router{{ID: "a"}, {ID: "b"}, {ID: "c"}}}
	now := l3.State{Routers: []l3.Router{{ID: "b"}, {ID: "c", Routes: []l3.Route{{Destination: pfx("10.0.0.0/8"), NextHop: addr("192.168.1.9")}}}, {ID: "d"}}}
	d := Diff(old, now)
	if !reflect.DeepEqual(d, Delta{Upsert: now.Routers[1:], Removed: []string{"a"}}) || d.Size() != 3 {
		t.Fatalf("diff %+v", d)
	}
	got, err := Apply(old, d)
	if err != nil || !reflect.DeepEqual(got, now) {
		t.Fatalf("apply = %+v, %v", got, err)
	}
	if !Diff(now, now).Empty() {
		t.Fatal("diff of equal states is not empty")
	}
	if _, err := Apply(l3.State{}, Delta{Removed: []string{"x"}}); err == nil {
		t.Fatal("removing a router the state lacks is no error")
	}
}

func TestFilterStatuses(t *testing.T) {
	w := newWorld()
	w.put(l3Agent("l3-1", "controller"))
	w.put(l3Agent("l3-2", "compute-1"))
	w.put(router("r1", true, "", false))
	w.put(router("r2", true, "", false))
	w.put(neutron.L3Binding{RouterID: "r1", AgentID: "l3-1"})
	w.put(neutron.L3Binding{RouterID: "r2", AgentID: "l3-2"})
	w.put(fip("f1", "198.18.100.20", "r1", "vm1", "192.168.1.4"))
	w.put(fip("f2", "198.18.100.21", "r2", "vm2", "192.168.2.4"))
	w.put(fip("f3", "198.18.100.22", "", "", ""))
	m := NewModel(w.state())
	in := map[string]string{"f1": "ACTIVE", "f2": "DOWN", "f3": "DOWN", "f9": "DOWN"}
	got := m.FilterStatuses("controller", in)
	if want := map[string]string{"f1": "ACTIVE", "f3": "DOWN", "f9": "DOWN"}; !maps.Equal(got, want) {
		t.Fatalf("controller: %v, want %v", got, want)
	}
	// compute-1 does not host r1: it can only speak of f2 (r2), and say
	// that unassociated floating IPs are down.
	got = m.FilterStatuses("compute-1", map[string]string{"f1": "DOWN", "f2": "ERROR", "f3": "ACTIVE", "f9": "DOWN"})
	if want := map[string]string{"f2": "ERROR", "f9": "DOWN"}; !maps.Equal(got, want) {
		t.Fatalf("compute-1: %v, want %v", got, want)
	}
}
