package ml2

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"neutrino/internal/neutron"
	"neutrino/internal/store"
	"neutrino/internal/store/storetest"
)

func TestPlanDHCP(t *testing.T) {
	agents := func(spec ...string) map[string]*schedAgent {
		// "id:load" eligible, "id:load:x" dead (or admin down), "id:load:d"
		// down but not yet dead (keeps what it hosts, takes nothing new).
		out := map[string]*schedAgent{}
		for _, s := range spec {
			var id string
			var load int
			parts := strings.Split(s, ":")
			id = parts[0]
			fmt.Sscan(parts[1], &load)
			out[id] = &schedAgent{ID: id, Host: "host-" + id, Load: load, Eligible: len(parts) == 2, Keeps: len(parts) == 2 || parts[2] == "d"}
		}
		return out
	}
	for _, tc := range []struct {
		name      string
		bound     []string
		agents    map[string]*schedAgent
		want      int
		drop, add []string
	}{
		{"least loaded first", nil, agents("a:3", "b:1", "c:2"), 1, nil, []string{"b"}},
		{"two of three", nil, agents("a:3", "b:1", "c:2"), 2, nil, []string{"b", "c"}},
		{"ties by host", nil, agents("b:0", "a:0"), 1, nil, []string{"a"}},
		{"already hosted", []string{"a"}, agents("a:9", "b:0"), 1, nil, nil},
		{"dead agent replaced", []string{"a"}, agents("a:1:x", "b:5", "c:4"), 1, []string{"a"}, []string{"c"}},
		{"deleted agent dropped", []string{"gone"}, agents("b:0"), 1, []string{"gone"}, []string{"b"}},
		{"down agent keeps its network", []string{"a"}, agents("a:1:d", "b:0"), 1, nil, nil},
		{"down agent takes nothing new", nil, agents("a:0:d", "b:5"), 1, nil, []string{"b"}},
		{"down agent dropped when dhcp goes", []string{"a"}, agents("a:1:d"), 0, []string{"a"}, nil},
		{"ineligible never chosen", nil, agents("a:0:x"), 1, nil, nil},
		{"fewer agents than wanted", nil, agents("a:0", "b:0"), 3, nil, []string{"a", "b"}},
		{"admin extra binding kept", []string{"a", "b"}, agents("a:0", "b:0", "c:0"), 1, nil, nil},
		{"no dhcp subnet drops all", []string{"a", "b"}, agents("a:0", "b:0"), 0, []string{"a", "b"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			drop, add := planAgents(tc.bound, tc.agents, tc.want)
			if !slices.Equal(drop, tc.drop) || !slices.Equal(add, tc.add) {
				t.Fatalf("planAgents = drop %v add %v, want drop %v add %v", drop, add, tc.drop, tc.add)
			}
		})
	}
}

func dhcpReport(host string) neutron.AgentReport {
	return neutron.AgentReport{AgentType: neutron.AgentTypeDHCP, Binary: "neutron-dhcp-agent", Host: host, Topic: "dhcp_agent",
		Configurations: json.RawMessage(`{"dhcp_driver":"neutron.agent.linux.dhcp.Dnsmasq","dhcp_lease_duration":86400,"log_agent_heartbeats":false,"networks":0,"ports":0,"subnets":0}`),
		StartFlag:      true}
}

// dhcpState is what the scheduler left: network -> hosts of its agents, and
// network -> its DHCP ports as "host ips" ("reserved ips" for a port no
// agent holds).
func dhcpState(t *testing.T, p *Plugin) (map[string][]string, map[string][]string) {
	t.Helper()
	ctx := context.Background()
	bs, err := p.Store().DHCPBindings(ctx, "", "")
	if err != nil {
		t.Fatal(err)
	}
	hosts := map[string][]string{}
	for _, b := range bs {
		a, err := p.GetAgent(ctx, b.AgentID)
		if err != nil {
			t.Fatal(err)
		}
		hosts[b.NetworkID] = append(hosts[b.NetworkID], a.Host)
	}
	ports, err := p.ListPorts(ctx, neutron.ListQuery{Filters: map[string][]string{"device_owner": {neutron.DeviceOwnerDHCP}}})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, pt := range ports {
		var ips []string
		for _, f := range pt.FixedIPs {
			ips = append(ips, f.IPAddress)
		}
		holder := pt.HostID
		if pt.DeviceID == neutron.DeviceIDReservedDHCPPort {
			holder = "reserved"
		} else if pt.DeviceID != neutron.DHCPDeviceID(pt.HostID, pt.NetworkID) {
			t.Errorf("dhcp port %+v: wrong device_id", pt)
		}
		if pt.ProjectID != tenant || !pt.AdminStateUp {
			t.Errorf("dhcp port %+v: wrong project or admin state", pt)
		}
		out[pt.NetworkID] = append(out[pt.NetworkID], holder+" "+strings.Join(ips, ","))
	}
	for _, m := range []map[string][]string{hosts, out} {
		for k := range m {
			slices.Sort(m[k])
		}
	}
	return hosts, out
}

func eq(a, b []string) bool { return slices.Equal(a, b) }

func TestDHCPScheduling(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		p := newPlugin(t, d, seedConfig())
		clock := time.Date(2026, 12, 5, 1, 0, 0, 0, time.UTC)
		p.SetClock(func() time.Time { return clock })
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		// A network created before any DHCP agent stays unhosted.
		n1, s1 := netAndSubnet(t, p)
		if h, ports := dhcpState(t, p); len(h) != 0 || len(ports) != 0 {
			t.Fatalf("no agent yet, but %v %v", h, ports)
		}
		_, err := p.ReportState(ctx, ovsReport("compute-1", "198.18.0.1"))
		must(err)
		a1, err := p.ReportState(ctx, dhcpReport("compute-1"))
		must(err)
		if a1.AgentType != "DHCP agent" || a1.Topic != "dhcp_agent" || !a1.Alive {
			t.Fatalf("dhcp agent row %+v", a1)
		}
		if eps, _ := p.Store().ListEndpoints(ctx); len(eps) != 1 {
			t.Fatalf("a DHCP agent registered a VTEP: %+v", eps)
		}
		// Its first report takes the waiting network; the port gets the
		// first address of the pool and is bound through the host's OVS agent.
		hosts, ports := dhcpState(t, p)
		if !eq(hosts[n1.ID], []string{"compute-1"}) || !eq(ports[n1.ID], []string{"compute-1 192.168.1.2"}) {
			t.Fatalf("after agent start: %v %v", hosts, ports)
		}
		dp, err := p.ListPorts(ctx, neutron.ListQuery{Filters: map[string][]string{"network_id": {n1.ID}, "device_owner": {"network:dhcp"}}})
		must(err)
		if len(dp) != 1 || dp[0].VIFType != "ovs" || len(dp[0].SecurityGroups) != 0 || dp[0].Name != "" {
			t.Fatalf("dhcp port %+v", dp)
		}

		// A second agent: the next network goes to the less loaded one.
		_, err = p.ReportState(ctx, dhcpReport("compute-2"))
		must(err)
		n2, err := p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: tenant, Name: "n2"})
		must(err)
		_, err = p.CreateSubnet(ctx, neutron.SubnetCreate{ProjectID: tenant, NetworkID: n2.ID, IPVersion: 4, CIDR: "10.0.2.0/24"})
		must(err)
		// A second DHCP subnet adds an address to the port; disabling
		// DHCP on it takes the address away again.
		s12, err := p.CreateSubnet(ctx, neutron.SubnetCreate{ProjectID: tenant, NetworkID: n1.ID, IPVersion: 4, CIDR: "10.1.0.0/24",
			AllocationPools: []neutron.AllocationPool{{Start: "10.1.0.100", End: "10.1.0.200"}}})
		must(err)
		hosts, ports = dhcpState(t, p)
		if !eq(hosts[n2.ID], []string{"compute-2"}) || !eq(ports[n2.ID], []string{"compute-2 10.0.2.2"}) ||
			!eq(ports[n1.ID], []string{"compute-1 10.1.0.100,192.168.1.2"}) {
			t.Fatalf("second agent and subnet: %v %v", hosts, ports)
		}
		_, err = p.UpdateSubnet(ctx, s12.ID, neutron.SubnetUpdate{EnableDHCP: ptr(false)})
		must(err)
		if _, ports = dhcpState(t, p); !eq(ports[n1.ID], []string{"compute-1 192.168.1.2"}) {
			t.Fatalf("dhcp disabled on second subnet: %v", ports)
		}
		// A network without DHCP subnets is not hosted until one is enabled.
		n3, err := p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: tenant, Name: "n3"})
		must(err)
		s3, err := p.CreateSubnet(ctx, neutron.SubnetCreate{ProjectID: tenant, NetworkID: n3.ID, IPVersion: 4, CIDR: "10.0.3.0/24", EnableDHCP: ptr(false)})
		must(err)
		if hosts, _ = dhcpState(t, p); len(hosts[n3.ID]) != 0 {
			t.Fatalf("network without dhcp subnet hosted: %v", hosts)
		}
		_, err = p.UpdateSubnet(ctx, s3.ID, neutron.SubnetUpdate{EnableDHCP: ptr(true)})
		must(err)
		if hosts, ports = dhcpState(t, p); len(hosts[n3.ID]) != 1 || len(ports[n3.ID]) != 1 {
			t.Fatalf("enable_dhcp: %v %v", hosts, ports)
		}

		// compute-1's agent dies: after twice agent_down_time the periodic
		// check moves its networks to compute-2 (which keeps reporting),
		// each with its DHCP port: same port, MAC and addresses.
		_, before := dhcpState(t, p)
		cs := mustChanges(t, p, 0)
		rev := cs[len(cs)-1].Revision
		clock = clock.Add(151 * time.Second)
		_, err = p.ReportState(ctx, dhcpReport("compute-2"))
		must(err)
		moved, err := p.RescheduleDHCP(ctx)
		must(err)
		hosts, ports = dhcpState(t, p)
		for _, n := range []string{n1.ID, n2.ID, n3.ID} {
			_, ips, _ := strings.Cut(before[n][0], " ")
			if !eq(hosts[n], []string{"compute-2"}) || !eq(ports[n], []string{"compute-2 " + ips}) {
				t.Fatalf("after compute-1 died (%d moved): %v %v (before %v)", moved, hosts, ports, before)
			}
		}
		kinds := map[neutron.ChangeKind]int{}
		for _, c := range mustChanges(t, p, rev) {
			kinds[c.Kind]++
		}
		if kinds[neutron.KindDHCPBinding] < 2 || kinds[neutron.KindPort] < 2 {
			t.Fatalf("reschedule change rows: %v", kinds)
		}
		if again, err := p.RescheduleDHCP(ctx); err != nil || again != 0 {
			t.Fatalf("second check: %d %v", again, err)
		}

		// compute-1 comes back: nothing moves back (all are hosted), but
		// admin down on compute-2 moves everything to it.
		_, err = p.ReportState(ctx, dhcpReport("compute-1"))
		must(err)
		agents, err := p.ListAgents(ctx, neutron.ListQuery{Filters: map[string][]string{"host": {"compute-2"}, "agent_type": {neutron.AgentTypeDHCP}}})
		must(err)
		_, err = p.UpdateAgent(ctx, agents[0].ID, neutron.AgentUpdate{AdminStateUp: ptr(false)})
		must(err)
		hosts, _ = dhcpState(t, p)
		for _, n := range []string{n1.ID, n2.ID, n3.ID} {
			if !eq(hosts[n], []string{"compute-1"}) {
				t.Fatalf("after admin down: %v", hosts)
			}
		}
		// The network's last DHCP subnet goes: so do its agent and port.
		must(p.DeleteSubnet(ctx, s1.ID))
		if hosts, ports = dhcpState(t, p); len(hosts[n1.ID]) != 0 || len(ports[n1.ID]) != 0 {
			t.Fatalf("after last dhcp subnet deleted: %v %v", hosts, ports)
		}
		// Deleting the DHCP agent moves its networks (none eligible now:
		// they stay unhosted, the port reserved for the next agent),
		// deleting a network drops its binding and ports.
		must(p.DeleteNetwork(ctx, n3.ID))
		if hosts, ports = dhcpState(t, p); len(hosts[n3.ID]) != 0 || len(ports[n3.ID]) != 0 {
			t.Fatalf("deleted network still hosted: %v %v", hosts, ports)
		}
		c1, err := p.ListAgents(ctx, neutron.ListQuery{Filters: map[string][]string{"host": {"compute-1"}, "agent_type": {neutron.AgentTypeDHCP}}})
		must(err)
		must(p.DeleteAgent(ctx, c1[0].ID))
		if hosts, ports = dhcpState(t, p); len(hosts) != 0 || len(ports) != 1 || !eq(ports[n2.ID], []string{"reserved 10.0.2.2"}) {
			t.Fatalf("after the agents went: %v %v", hosts, ports)
		}
		// compute-2 back up takes the network and its reserved port.
		_, err = p.UpdateAgent(ctx, agents[0].ID, neutron.AgentUpdate{AdminStateUp: ptr(true)})
		must(err)
		if hosts, ports = dhcpState(t, p); !eq(hosts[n2.ID], []string{"compute-2"}) || !eq(ports[n2.ID], []string{"compute-2 10.0.2.2"}) {
			t.Fatalf("after compute-2 admin up: %v %v", hosts, ports)
		}
		// The VTEP stays with the host's OVS agent.
		if eps, _ := p.Store().ListEndpoints(ctx); len(eps) != 1 {
			t.Fatalf("deleting the DHCP agent took the VTEP: %+v", eps)
		}
	})
}

// The only DHCP agent is down for longer than agent_down_time (a restart
// that took a while): its networks stay with it, port and all, as Neutron
// skips rescheduling when no DHCP agent is alive; when it reports again it
// finds the same ports (a new port would mean a new device in every
// namespace, remade by the restarted agent).
func TestDHCPOnlyAgentDownKeepsItsNetworks(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		p := newPlugin(t, d, seedConfig())
		clock := time.Date(2026, 12, 5, 1, 0, 0, 0, time.UTC)
		p.SetClock(func() time.Time { return clock })
		if _, err := p.ReportState(ctx, dhcpReport("net-1")); err != nil {
			t.Fatal(err)
		}
		n, _ := netAndSubnet(t, p)
		ports := func() []neutron.Port {
			t.Helper()
			dp, err := p.ListPorts(ctx, neutron.ListQuery{Filters: map[string][]string{"network_id": {n.ID}, "device_owner": {"network:dhcp"}}})
			if err != nil {
				t.Fatal(err)
			}
			return dp
		}
		before := ports()
		if hosts, _ := dhcpState(t, p); len(before) != 1 || !eq(hosts[n.ID], []string{"net-1"}) {
			t.Fatalf("scheduled: %v, ports %+v", hosts, before)
		}
		clock = clock.Add(10 * time.Minute)
		if moved, err := p.RescheduleDHCP(ctx); err != nil || moved != 0 {
			t.Fatalf("reschedule with no DHCP agent alive: %d networks, %v", moved, err)
		}
		if _, err := p.ReportState(ctx, dhcpReport("net-1")); err != nil {
			t.Fatal(err)
		}
		after := ports()
		if hosts, _ := dhcpState(t, p); !eq(hosts[n.ID], []string{"net-1"}) || len(after) != 1 ||
			after[0].ID != before[0].ID || after[0].MACAddress != before[0].MACAddress {
			t.Fatalf("after the agent came back: %v, ports %+v, before %+v", hosts, after, before)
		}
	})
}

// A DHCP agent that stops reporting keeps its networks until it has been
// silent for twice agent_down_time (Neutron's agent_dead_limit_seconds),
// though it shows dead after agent_down_time; then the network moves to
// another agent with its DHCP port: the same port, MAC and addresses (the
// DHCP server VMs renew from), bound to the new host. An admin taking the
// network off an agent reserves the port; adding it back takes the
// reserved port again.
func TestDHCPRescheduleAfterDeadLimit(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		p := newPlugin(t, d, seedConfig()) // agent_down_time 75 s
		start := time.Date(2026, 12, 5, 1, 0, 0, 0, time.UTC)
		clock := start
		p.SetClock(func() time.Time { return clock })
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		a, err := p.ReportState(ctx, dhcpReport("net-a"))
		must(err)
		n, _ := netAndSubnet(t, p)
		b, err := p.ReportState(ctx, dhcpReport("net-b"))
		must(err)
		reportB := func() {
			t.Helper()
			_, err := p.ReportState(ctx, dhcpReport("net-b"))
			must(err)
			_, err = p.ReportState(ctx, ovsReport("net-b", "198.18.0.2"))
			must(err)
		}
		reportB()
		dhcpPort := func() neutron.Port {
			t.Helper()
			dp, err := p.ListPorts(ctx, neutron.ListQuery{Filters: map[string][]string{"network_id": {n.ID}, "device_owner": {"network:dhcp"}}})
			must(err)
			if len(dp) != 1 {
				t.Fatalf("network's dhcp ports: %+v", dp)
			}
			return dp[0]
		}
		hostedBy := func(want ...string) {
			t.Helper()
			if hosts, ports := dhcpState(t, p); !eq(hosts[n.ID], want) {
				t.Fatalf("network hosted by %v, want %v (ports %v)", hosts[n.ID], want, ports)
			}
		}
		first := dhcpPort()
		hostedBy("net-a")
		if first.DeviceID != neutron.DHCPDeviceID("net-a", n.ID) || first.HostID != "net-a" {
			t.Fatalf("first port %+v", first)
		}
		// net-a is silent, net-b reports: just short of the dead limit
		// nothing moves, though net-a shows dead and a subnet change
		// reschedules the network meanwhile.
		clock = start.Add(149 * time.Second)
		reportB()
		if got, err := p.GetAgent(ctx, a.ID); err != nil || got.Alive {
			t.Fatalf("net-a silent for 149 s: alive %v, %v", got.Alive, err)
		}
		_, err = p.CreateSubnet(ctx, neutron.SubnetCreate{ProjectID: tenant, NetworkID: n.ID, IPVersion: 4, CIDR: "10.9.0.0/24", EnableDHCP: ptr(false)})
		must(err)
		if moved, err := p.RescheduleDHCP(ctx); err != nil || moved != 0 {
			t.Fatalf("reschedule before the dead limit: %d networks, %v", moved, err)
		}
		hostedBy("net-a")
		if pt := dhcpPort(); pt.DeviceID != first.DeviceID || pt.HostID != "net-a" {
			t.Fatalf("port before the dead limit: %+v", pt)
		}
		// Past twice agent_down_time it moves, port and all.
		clock = start.Add(151 * time.Second)
		reportB()
		if moved, err := p.RescheduleDHCP(ctx); err != nil || moved != 1 {
			t.Fatalf("reschedule past the dead limit: %d networks, %v", moved, err)
		}
		hostedBy("net-b")
		moved := dhcpPort()
		if moved.ID != first.ID || moved.MACAddress != first.MACAddress || !slices.Equal(moved.FixedIPs, first.FixedIPs) ||
			moved.DeviceID != neutron.DHCPDeviceID("net-b", n.ID) || moved.HostID != "net-b" || moved.Status != neutron.StatusDown || moved.VIFType != "ovs" {
			t.Fatalf("port after the move %+v, was %+v", moved, first)
		}

		// Taken off net-b by hand: reserved with its address and MAC;
		// added back: net-b holds it again.
		must(p.RemoveNetworkFromDHCPAgent(ctx, b.ID, n.ID))
		hostedBy()
		if pt := dhcpPort(); pt.ID != first.ID || pt.DeviceID != neutron.DeviceIDReservedDHCPPort || !slices.Equal(pt.FixedIPs, first.FixedIPs) {
			t.Fatalf("port after remove: %+v", pt)
		}
		if moved, err := p.RescheduleDHCP(ctx); err != nil || moved != 1 {
			t.Fatalf("reschedule of the unhosted network: %d networks, %v", moved, err)
		}
		hostedBy("net-b")
		if pt := dhcpPort(); pt.ID != first.ID || pt.MACAddress != first.MACAddress || pt.DeviceID != neutron.DHCPDeviceID("net-b", n.ID) ||
			!slices.Equal(pt.FixedIPs, first.FixedIPs) {
			t.Fatalf("port after the periodic check: %+v", pt)
		}
		must(p.RemoveNetworkFromDHCPAgent(ctx, b.ID, n.ID))
		must(p.AddNetworkToDHCPAgent(ctx, b.ID, n.ID))
		hostedBy("net-b")
		if pt := dhcpPort(); pt.ID != first.ID || pt.DeviceID != neutron.DHCPDeviceID("net-b", n.ID) || !slices.Equal(pt.FixedIPs, first.FixedIPs) {
			t.Fatalf("port after add: %+v", pt)
		}
	})
}

// Two servers on one database schedule at once: subnets created on many
// networks while DHCP agents register, die and come back; at the end every
// DHCP network has exactly dhcp_agents_per_network agents and one port per
// agent, and nothing else is scheduled.
func TestDHCPSchedulingConcurrentServers(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d store.Dialect) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		u := storetest.URL(t, d)
		st1, st2 := storetest.OpenURL(t, u), storetest.OpenURL(t, u)
		if _, err := st1.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		cfg := seedConfig()
		cfg.DHCPAgentsPerNetwork = 2
		var plugins []*Plugin
		for _, st := range []*store.Store{st1, st2} {
			p, err := New(ctx, st, cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			plugins = append(plugins, p)
		}
		const nets = 12
		var ids []string
		for i := 0; i < nets; i++ {
			n, err := plugins[0].CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: tenant, Name: fmt.Sprint(i)})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, n.ID)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 100)
		for i, id := range ids {
			for j := 0; j < 2; j++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := plugins[(i+j)%2].CreateSubnet(ctx, neutron.SubnetCreate{ProjectID: tenant, NetworkID: id, IPVersion: 4, CIDR: fmt.Sprintf("10.%d.%d.0/24", i, j)})
					errs <- err
				}()
			}
		}
		for h := 0; h < 3; h++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := plugins[h%2].ReportState(ctx, dhcpReport(fmt.Sprintf("node-%d", h)))
				errs <- err
			}()
		}
		wg.Add(2)
		for _, p := range plugins {
			go func() {
				defer wg.Done()
				_, err := p.RescheduleDHCP(ctx)
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		// Settle what raced (an agent registering while a subnet commits
		// sees no network yet, and vice versa), as the periodic check does.
		if _, err := plugins[1].RescheduleDHCP(ctx); err != nil {
			t.Fatal(err)
		}
		hosts, ports := dhcpState(t, plugins[0])
		for _, id := range ids {
			if len(hosts[id]) != 2 || hosts[id][0] == hosts[id][1] || len(ports[id]) != 2 {
				t.Fatalf("network %s: agents %v ports %v", id, hosts[id], ports[id])
			}
			for k, pt := range ports[id] {
				host, ips, _ := strings.Cut(pt, " ")
				if host != hosts[id][k] || strings.Count(ips, ",") != 1 {
					t.Fatalf("network %s: ports %v for agents %v", id, ports[id], hosts[id])
				}
			}
		}
		if n, err := plugins[0].RescheduleDHCP(ctx); err != nil || n != 0 {
			t.Fatalf("settled state rescheduled again: %d %v", n, err)
		}
	})
}
