package dhcpview

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	"neutrino/internal/dhcp"
	"neutrino/internal/neutron"
)

// world is a neutron.State kept as maps, changed op by op; every change
// is also returned as its change-log row.
type world struct {
	rev      int64
	networks map[string]neutron.Network
	subnets  map[string]neutron.Subnet
	ports    map[string]neutron.Port
	agents   map[string]neutron.Agent
	bindings map[string]neutron.DHCPBinding
}

func newWorld() *world {
	return &world{networks: map[string]neutron.Network{}, subnets: map[string]neutron.Subnet{}, ports: map[string]neutron.Port{},
		agents: map[string]neutron.Agent{}, bindings: map[string]neutron.DHCPBinding{}}
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
	case neutron.Agent:
		w.agents[v.ID] = v
	case neutron.DHCPBinding:
		w.bindings[neutron.DHCPBindingKey(v.NetworkID, v.AgentID)] = v
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
	case neutron.KindAgent:
		delete(w.agents, id)
	case neutron.KindDHCPBinding:
		delete(w.bindings, id)
	}
	return w.row(neutron.Deleted(k, id))
}

func (w *world) state() *neutron.State {
	st := &neutron.State{Revision: w.rev}
	for _, k := range slices.Sorted(maps.Keys(w.networks)) {
		st.Networks = append(st.Networks, w.networks[k])
	}
	for _, k := range slices.Sorted(maps.Keys(w.subnets)) {
		st.Subnets = append(st.Subnets, w.subnets[k])
	}
	for _, k := range slices.Sorted(maps.Keys(w.ports)) {
		st.Ports = append(st.Ports, w.ports[k])
	}
	for _, k := range slices.Sorted(maps.Keys(w.agents)) {
		st.Agents = append(st.Agents, w.agents[k])
	}
	for _, k := range slices.Sorted(maps.Keys(w.bindings)) {
		st.DHCPBindings = append(st.DHCPBindings, w.bindings[k])
	}
	return st
}

func network(id string, mtu int) neutron.Network {
	n := neutron.Network{MTU: mtu}
	n.ID = id
	return n
}

func subnet(id, net, cidr, gw string, dhcpOn bool) neutron.Subnet {
	s := neutron.Subnet{NetworkID: net, CIDR: cidr, GatewayIP: gw, EnableDHCP: dhcpOn, IPVersion: 4,
		DNSNameservers: []string{"198.18.0.53"}, HostRoutes: []neutron.HostRoute{{Destination: "198.19.0.0/16", NextHop: gw}}}
	if strings.Contains(cidr, ":") {
		s.IPVersion, s.IPv6AddressMode, s.IPv6RAMode = 6, "dhcpv6-stateful", "dhcpv6-stateful"
	}
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

func dhcpAgent(id, host string) neutron.Agent {
	return neutron.Agent{ID: id, Host: host, AgentType: neutron.AgentTypeDHCP}
}

func TestView(t *testing.T) {
	w := newWorld()
	w.put(network("net-a", 1450))
	w.put(network("net-b", 1500))
	w.put(subnet("sub-a4", "net-a", "192.168.1.0/24", "192.168.1.1", true))
	w.put(subnet("sub-a6", "net-a", "2001:db8::/64", "2001:db8::1", false))
	w.put(subnet("sub-b", "net-b", "10.0.0.0/24", "10.0.0.1", true))
	w.put(dhcpAgent("agent-1", "compute-1"))
	w.put(dhcpAgent("agent-2", "compute-2"))
	w.put(neutron.Agent{ID: "ovs-1", Host: "compute-3", AgentType: neutron.AgentTypeOVS})
	w.put(neutron.DHCPBinding{NetworkID: "net-a", AgentID: "agent-1"})
	w.put(neutron.DHCPBinding{NetworkID: "net-b", AgentID: "agent-2"})
	w.put(port("dp1", "net-a", "FA:16:3E:00:00:01", neutron.DeviceOwnerDHCP, neutron.DHCPDeviceID("compute-1", "net-a"), "sub-a4=192.168.1.2"))
	vm := port("vm1", "net-a", "fa:16:3e:00:00:02", "compute:nova", "vm-1", "sub-a4=192.168.1.4")
	vm.ExtraDHCPOpts = []neutron.ExtraDHCPOpt{{OptName: "bootfile-name", OptValue: "pxelinux.0"}}
	w.put(vm)
	w.put(port("vm2", "net-b", "fa:16:3e:00:00:03", "compute:nova", "vm-2", "sub-b=10.0.0.5"))
	m := NewModel(w.state())

	want := dhcp.State{Networks: []dhcp.Network{{
		ID: "net-a", MTU: 1450,
		Subnets: []dhcp.Subnet{
			{ID: "sub-a4", CIDR: netip.MustParsePrefix("192.168.1.0/24"), IPVersion: 4, Gateway: netip.MustParseAddr("192.168.1.1"),
				DNSNameservers: []netip.Addr{netip.MustParseAddr("198.18.0.53")}, EnableDHCP: true,
				HostRoutes: []dhcp.HostRoute{{Destination: netip.MustParsePrefix("198.19.0.0/16"), Nexthop: netip.MustParseAddr("192.168.1.1")}}},
			{ID: "sub-a6", CIDR: netip.MustParsePrefix("2001:db8::/64"), IPVersion: 6, Gateway: netip.MustParseAddr("2001:db8::1"),
				DNSNameservers: []netip.Addr{netip.MustParseAddr("198.18.0.53")}, IPv6RAMode: "dhcpv6-stateful", IPv6AddressMode: "dhcpv6-stateful",
				HostRoutes: []dhcp.HostRoute{{Destination: netip.MustParsePrefix("198.19.0.0/16"), Nexthop: netip.MustParseAddr("2001:db8::1")}}},
		},
		DHCPPort: dhcp.Port{ID: "dp1", MAC: "fa:16:3e:00:00:01", DeviceOwner: neutron.DeviceOwnerDHCP,
			FixedIPs: []dhcp.FixedIP{{SubnetID: "sub-a4", Address: netip.MustParseAddr("192.168.1.2")}}},
		Ports: []dhcp.Port{{ID: "vm1", MAC: "fa:16:3e:00:00:02", DeviceOwner: "compute:nova",
			FixedIPs:      []dhcp.FixedIP{{SubnetID: "sub-a4", Address: netip.MustParseAddr("192.168.1.4")}},
			ExtraDHCPOpts: []dhcp.ExtraDHCPOpt{{Name: "bootfile-name", Value: "pxelinux.0", IPVersion: 4}}}},
	}}}
	if got := m.View("compute-1"); !reflect.DeepEqual(got, want) {
		t.Fatalf("compute-1:\n got %+v\nwant %+v", got, want)
	}
	if got := m.View("compute-2"); len(got.Networks) != 1 || got.Networks[0].ID != "net-b" || got.Networks[0].DHCPPort.ID != "" {
		t.Fatalf("compute-2 (no port of its own yet): %+v", got)
	}
	if got := m.View("compute-3"); len(got.Networks) != 0 || m.HasHost("compute-3") {
		t.Fatalf("an L2 agent's host has a DHCP view: %+v", got)
	}
	if !slices.Equal(m.Hosts(), []string{"compute-1", "compute-2"}) {
		t.Fatalf("hosts %v", m.Hosts())
	}

	// Spans: a change reaches only the agents hosting its network.
	for _, tc := range []struct {
		name  string
		c     neutron.Change
		hosts []string
		nets  []string
	}{
		{"port on net-b", w.put(port("vm3", "net-b", "fa:16:3e:00:00:04", "compute:nova", "vm-3", "sub-b=10.0.0.6")), []string{"compute-2"}, []string{"net-b"}},
		{"port status only", func() neutron.Change {
			p := w.ports["vm3"]
			p.Status = neutron.StatusActive
			return w.put(p)
		}(), nil, nil},
		{"port moves a to b", w.put(port("vm1", "net-b", "fa:16:3e:00:00:02", "compute:nova", "vm-1", "sub-b=10.0.0.7")), []string{"compute-1", "compute-2"}, []string{"net-a", "net-b"}},
		{"subnet of a", w.put(subnet("sub-a4", "net-a", "192.168.1.0/24", "192.168.1.254", true)), []string{"compute-1"}, []string{"net-a"}},
		{"mtu of b", w.put(network("net-b", 1400)), []string{"compute-2"}, []string{"net-b"}},
		{"agent heartbeat", w.put(dhcpAgent("agent-1", "compute-1")), nil, nil},
		{"l2 agent", w.put(neutron.Agent{ID: "ovs-2", Host: "compute-1", AgentType: neutron.AgentTypeOVS}), nil, nil},
		{"binding", w.put(neutron.DHCPBinding{NetworkID: "net-b", AgentID: "agent-1"}), []string{"compute-1"}, []string{"net-b"}},
		{"unbinding", w.del(neutron.KindDHCPBinding, neutron.DHCPBindingKey("net-b", "agent-1")), []string{"compute-1"}, []string{"net-b"}},
		{"agent gone", w.del(neutron.KindAgent, "agent-2"), []string{"compute-2"}, nil},
	} {
		span, err := m.Apply(tc.c)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		hosts, nets := slices.Sorted(maps.Keys(span.Hosts)), slices.Sorted(maps.Keys(span.Nets))
		if !slices.Equal(hosts, tc.hosts) || (tc.hosts != nil && !slices.Equal(nets, tc.nets)) {
			t.Errorf("%s: span hosts %v nets %v, want %v %v", tc.name, hosts, nets, tc.hosts, tc.nets)
		}
	}
}

// A network moved from compute-1's agent to compute-2's, as the scheduler
// commits it: compute-2 serves it on the same DHCP port (id, MAC,
// address), compute-1 drops it; a reserved port is nobody's, and no agent
// lists it among the network's ports (it would be handed out as a DNS
// server).
func TestViewTakeOver(t *testing.T) {
	w := newWorld()
	w.put(network("net-a", 1450))
	w.put(subnet("sub-a", "net-a", "192.168.1.0/24", "192.168.1.1", true))
	w.put(dhcpAgent("agent-1", "compute-1"))
	w.put(dhcpAgent("agent-2", "compute-2"))
	w.put(neutron.DHCPBinding{NetworkID: "net-a", AgentID: "agent-1"})
	w.put(port("dp1", "net-a", "fa:16:3e:00:00:01", neutron.DeviceOwnerDHCP, neutron.DHCPDeviceID("compute-1", "net-a"), "sub-a=192.168.1.2"))
	m := NewModel(w.state())
	apply := func(cs ...neutron.Change) {
		t.Helper()
		for _, c := range cs {
			if _, err := m.Apply(c); err != nil {
				t.Fatal(err)
			}
		}
	}
	dp := dhcp.Port{ID: "dp1", MAC: "fa:16:3e:00:00:01", DeviceOwner: neutron.DeviceOwnerDHCP,
		FixedIPs: []dhcp.FixedIP{{SubnetID: "sub-a", Address: netip.MustParseAddr("192.168.1.2")}}}
	if got := m.View("compute-1"); len(got.Networks) != 1 || !reflect.DeepEqual(got.Networks[0].DHCPPort, dp) {
		t.Fatalf("compute-1 before: %+v", got)
	}
	apply(w.del(neutron.KindDHCPBinding, neutron.DHCPBindingKey("net-a", "agent-1")),
		w.put(neutron.DHCPBinding{NetworkID: "net-a", AgentID: "agent-2"}),
		w.put(port("dp1", "net-a", "fa:16:3e:00:00:01", neutron.DeviceOwnerDHCP, neutron.DHCPDeviceID("compute-2", "net-a"), "sub-a=192.168.1.2")))
	if got := m.View("compute-2"); len(got.Networks) != 1 || !reflect.DeepEqual(got.Networks[0].DHCPPort, dp) || len(got.Networks[0].Ports) != 0 {
		t.Fatalf("compute-2 after the take-over: %+v", got)
	}
	if got := m.View("compute-1"); len(got.Networks) != 0 {
		t.Fatalf("compute-1 after the take-over: %+v", got)
	}
	// compute-2 gets a port of its own (as when an admin adds the network
	// to a second agent) while dp1 is reserved: compute-2 does not list dp1.
	apply(w.put(port("dp1", "net-a", "fa:16:3e:00:00:01", neutron.DeviceOwnerDHCP, neutron.DeviceIDReservedDHCPPort, "sub-a=192.168.1.2")),
		w.put(port("dp2", "net-a", "fa:16:3e:00:00:02", neutron.DeviceOwnerDHCP, neutron.DHCPDeviceID("compute-2", "net-a"), "sub-a=192.168.1.3")))
	if got := m.View("compute-2"); len(got.Networks) != 1 || got.Networks[0].DHCPPort.ID != "dp2" || len(got.Networks[0].Ports) != 0 {
		t.Fatalf("compute-2 with dp1 reserved: %+v", got)
	}
}

func TestDiffApply(t *testing.T) {
	n := func(id string, mtu int) dhcp.Network { return dhcp.Network{ID: id, MTU: mtu} }
	old := dhcp.State{Networks: []dhcp.Network{n("a", 1), n("b", 1), n("c", 1)}}
	now := dhcp.State{Networks: []dhcp.Network{n("b", 1), n("c", 2), n("d", 1)}}
	d := Diff(old, now)
	if !reflect.DeepEqual(d, Delta{Upsert: []dhcp.Network{n("c", 2), n("d", 1)}, Removed: []string{"a"}}) {
		t.Fatalf("diff %+v", d)
	}
	got, err := Apply(old, d)
	if err != nil || !reflect.DeepEqual(got, now) {
		t.Fatalf("apply = %+v, %v", got, err)
	}
	if !Diff(now, now).Empty() {
		t.Fatal("diff of equal states is not empty")
	}
	if _, err := Apply(dhcp.State{}, Delta{Removed: []string{"x"}}); err == nil {
		t.Fatal("removing a network the state lacks is no error")
	}
}

// TestDeltasEqualSnapshot: a host that applies the delta of every change
// that concerns it (and only those) ends with exactly the state a fresh
// model of the same database gives, through random changes of networks,
// subnets, ports (also the agent's own), agents and bindings.
func TestDeltasEqualSnapshot(t *testing.T) {
	hosts := []string{"h0", "h1", "h2"}
	served := 0
	defer func() {
		if served == 0 {
			t.Error("no host ended up serving a network: the property was checked on empty states only")
		}
	}()
	for seed := uint64(1); seed <= 8; seed++ {
		r := rand.New(rand.NewPCG(seed, 7))
		w := newWorld()
		m := NewModel(w.state())
		held := map[string]dhcp.State{} // what each host's agent holds
		views := map[string]dhcp.State{}
		nets := []string{"n0", "n1", "n2", "n3"}
		for i := 0; i < 400; i++ {
			var c neutron.Change
			net := nets[r.IntN(len(nets))]
			host := hosts[r.IntN(len(hosts))]
			agent := "agent-" + host
			switch op := r.IntN(12); op {
			case 0:
				c = w.put(network(net, 1400+r.IntN(3)*50))
			case 1:
				c = w.put(subnet(fmt.Sprintf("s-%s-%d", net, r.IntN(2)), net, fmt.Sprintf("10.%d.%d.0/24", r.IntN(4), r.IntN(2)), "", r.IntN(3) != 0))
			case 2:
				ids := slices.Sorted(maps.Keys(w.subnets))
				if len(ids) == 0 {
					continue
				}
				c = w.del(neutron.KindSubnet, ids[r.IntN(len(ids))])
			case 3, 4:
				p := port(fmt.Sprintf("p%d", r.IntN(12)), net, fmt.Sprintf("fa:16:3e:00:00:%02x", r.IntN(256)), "compute:nova", "vm", fmt.Sprintf("s-%s-0=10.0.0.%d", net, r.IntN(250)))
				if r.IntN(3) == 0 {
					p.ExtraDHCPOpts = []neutron.ExtraDHCPOpt{{OptName: "tftp-server", OptValue: fmt.Sprint(r.IntN(3)), IPVersion: 4}}
				}
				c = w.put(p)
			case 5:
				// A DHCP port on the network: the agent's own, or
				// reserved, or taken over from another host.
				dev := neutron.DHCPDeviceID(host, net)
				if r.IntN(4) == 0 {
					dev = neutron.DeviceIDReservedDHCPPort
				}
				c = w.put(port(fmt.Sprintf("dhcp-%s-%d", net, r.IntN(2)), net, "fa:16:3e:dd:00:01", neutron.DeviceOwnerDHCP, dev, fmt.Sprintf("s-%s-0=10.0.0.%d", net, 2+r.IntN(2))))
			case 6:
				ids := slices.Sorted(maps.Keys(w.ports))
				if len(ids) == 0 {
					continue
				}
				c = w.del(neutron.KindPort, ids[r.IntN(len(ids))])
			case 7:
				c = w.put(dhcpAgent(agent, host))
			case 8:
				c = w.del(neutron.KindAgent, agent)
			case 9, 10:
				c = w.put(neutron.DHCPBinding{NetworkID: net, AgentID: agent})
			case 11:
				if r.IntN(2) == 0 {
					c = w.del(neutron.KindDHCPBinding, neutron.DHCPBindingKey(net, agent))
				} else {
					c = w.del(neutron.KindNetwork, net)
				}
			}
			span, err := m.Apply(c)
			if err != nil {
				t.Fatalf("seed %d op %d: %v", seed, i, err)
			}
			for h := range span.Hosts {
				now := m.UpdateView(h, views[h], span.Nets)
				d := Diff(views[h], now)
				views[h] = now
				if held[h], err = Apply(held[h], d); err != nil {
					t.Fatalf("seed %d op %d host %s: %v", seed, i, h, err)
				}
			}
		}
		fresh := NewModel(w.state())
		for _, h := range hosts {
			served += len(held[h].Networks)
			if want := fresh.View(h); !reflect.DeepEqual(held[h], want) && !(len(held[h].Networks) == 0 && len(want.Networks) == 0) {
				t.Fatalf("seed %d host %s:\n held %+v\n want %+v", seed, h, held[h], want)
			}
		}
	}
}
