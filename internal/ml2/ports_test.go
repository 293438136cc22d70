package ml2

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"neutrino/internal/config"
	"neutrino/internal/neutron"
	"neutrino/internal/store"
)

const tenant = "b0000000000000000000000000000002"

// fixture: the conformance run's network 66071814 with sub-tenant.
func netAndSubnet(t *testing.T, p *Plugin) (*neutron.Network, *neutron.Subnet) {
	t.Helper()
	ctx := context.Background()
	n, err := p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: tenant, Name: "net-tenant"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := p.CreateSubnet(ctx, neutron.SubnetCreate{ProjectID: tenant, NetworkID: n.ID, Name: "sub-tenant", IPVersion: 4, CIDR: "192.168.1.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	return n, s
}

func TestSubnetsAndPorts(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		p := newPlugin(t, d, seedConfig())
		n, s := netAndSubnet(t, p)
		if s.GatewayIP != "192.168.1.1" || len(s.AllocationPools) != 1 || s.AllocationPools[0] != (neutron.AllocationPool{Start: "192.168.1.2", End: "192.168.1.254"}) ||
			!s.EnableDHCP || s.RevisionNumber != 0 || s.IPVersion != 4 {
			t.Fatalf("subnet: %+v", s)
		}
		// 41-45: overlap, bad CIDRs, version mismatch, missing network.
		_, err := p.CreateSubnet(ctx, neutron.SubnetCreate{NetworkID: n.ID, IPVersion: 4, CIDR: "192.168.1.128/25"})
		wantFault(t, err, 400, "InvalidInput")
		if !strings.Contains(err.Error(), "overlaps with another subnet") {
			t.Fatal(err)
		}
		_, err = p.CreateSubnet(ctx, neutron.SubnetCreate{NetworkID: n.ID, IPVersion: 4, CIDR: "192.168.1.0/33"})
		wantFault(t, err, 400, "InvalidInput")
		_, err = p.CreateSubnet(ctx, neutron.SubnetCreate{NetworkID: n.ID, IPVersion: 6, CIDR: "10.9.0.0/24"})
		wantFault(t, err, 400, "InvalidInput")
		_, err = p.CreateSubnet(ctx, neutron.SubnetCreate{NetworkID: "00000000-0000-0000-0000-000000000000", IPVersion: 4, CIDR: "10.9.0.0/24"})
		wantFault(t, err, 404, "NetworkNotFound")
		// 47: a second subnet without gateway, with pools, routes, DNS.
		s2, err := p.CreateSubnet(ctx, neutron.SubnetCreate{NetworkID: n.ID, IPVersion: 4, CIDR: "10.20.0.0/24", GatewayIP: ptr(""),
			AllocationPools: []neutron.AllocationPool{{Start: "10.20.0.10", End: "10.20.0.20"}}, EnableDHCP: ptr(false),
			DNSNameservers: []string{"10.20.0.2"}, HostRoutes: []neutron.HostRoute{{Destination: "10.30.0.0/24", NextHop: "10.20.0.1"}}})
		if err != nil || s2.GatewayIP != "" || s2.EnableDHCP || s2.ProjectID != tenant {
			t.Fatalf("subnet 2: %v %+v", err, s2)
		}
		subs, err := p.ListSubnets(ctx, neutron.ListQuery{Filters: map[string][]string{"network_id": {n.ID}}})
		if err != nil || len(subs) != 2 {
			t.Fatalf("list subnets: %v %+v", err, subs)
		}
		for _, sub := range subs {
			if sub.ID == s2.ID && (len(sub.HostRoutes) != 1 || sub.HostRoutes[0].NextHop != "10.20.0.1" || sub.DNSNameservers[0] != "10.20.0.2" || sub.AllocationPools[0].Start != "10.20.0.10") {
				t.Fatalf("subnet 2 listed as %+v", sub)
			}
		}
		u, err := p.UpdateSubnet(ctx, s2.ID, neutron.SubnetUpdate{Name: ptr("sub-2")})
		if err != nil || u.Name != "sub-2" || u.RevisionNumber != 1 {
			t.Fatalf("update subnet: %v %+v", err, u)
		}
		if err := p.DeleteSubnet(ctx, s2.ID); err != nil {
			t.Fatal(err)
		}
		// The network lists its remaining subnet.
		got, _ := p.GetNetwork(ctx, n.ID)
		if len(got.Subnets) != 1 || got.Subnets[0] != s.ID {
			t.Fatalf("network subnets: %+v", got.Subnets)
		}

		// 50: plain port.
		plain, err := p.CreatePort(ctx, neutron.PortCreate{ProjectID: tenant, NetworkID: n.ID, Name: "p-plain"})
		if err != nil {
			t.Fatal(err)
		}
		if plain.Status != "DOWN" || plain.VIFType != "unbound" || string(plain.VIFDetails) != "{}" || plain.VNICType != "normal" ||
			string(plain.Profile) != "{}" || len(plain.FixedIPs) != 1 || plain.FixedIPs[0].SubnetID != s.ID ||
			!strings.HasPrefix(plain.MACAddress, "fa:16:3e:") || len(plain.SecurityGroups) != 1 || plain.RevisionNumber != 1 {
			t.Fatalf("plain port: %+v", plain)
		}
		// 51/52: fixed IP, then the same again.
		fixed, err := p.CreatePort(ctx, neutron.PortCreate{ProjectID: tenant, NetworkID: n.ID, FixedIPs: []neutron.FixedIPRequest{{SubnetID: s.ID, IPAddress: "192.168.1.50"}}})
		if err != nil || fixed.FixedIPs[0].IPAddress != "192.168.1.50" || fixed.SecurityGroups[0] != plain.SecurityGroups[0] {
			t.Fatalf("fixed: %v %+v", err, fixed)
		}
		_, err = p.CreatePort(ctx, neutron.PortCreate{ProjectID: tenant, NetworkID: n.ID, FixedIPs: []neutron.FixedIPRequest{{SubnetID: s.ID, IPAddress: "192.168.1.50"}}})
		wantFault(t, err, 409, "IpAddressAlreadyAllocated")
		if err.Error() != "IpAddressAlreadyAllocated: IP address 192.168.1.50 already allocated in subnet "+s.ID {
			t.Fatal(err)
		}
		// 53-55: MACs.
		mp, err := p.CreatePort(ctx, neutron.PortCreate{ProjectID: tenant, NetworkID: n.ID, MACAddress: "fa:16:3e:00:00:01"})
		if err != nil || mp.MACAddress != "fa:16:3e:00:00:01" {
			t.Fatalf("mac port: %v %+v", err, mp)
		}
		_, err = p.CreatePort(ctx, neutron.PortCreate{ProjectID: tenant, NetworkID: n.ID, MACAddress: "fa:16:3e:00:00:01"})
		wantFault(t, err, 409, "MacAddressInUse")
		_, err = p.CreatePort(ctx, neutron.PortCreate{ProjectID: tenant, NetworkID: n.ID, MACAddress: "zz:16:3e:00:00:01"})
		wantFault(t, err, 400, "HTTPBadRequest")
		// 60/61: addresses outside the subnet / network.
		_, err = p.CreatePort(ctx, neutron.PortCreate{ProjectID: tenant, NetworkID: n.ID, FixedIPs: []neutron.FixedIPRequest{{SubnetID: s.ID, IPAddress: "10.0.0.5"}}})
		wantFault(t, err, 400, "InvalidIpForSubnet")
		_, err = p.CreatePort(ctx, neutron.PortCreate{ProjectID: tenant, NetworkID: n.ID, FixedIPs: []neutron.FixedIPRequest{{IPAddress: "172.16.5.5"}}})
		wantFault(t, err, 400, "InvalidIpForNetwork")
		_, err = p.CreatePort(ctx, neutron.PortCreate{ProjectID: tenant, NetworkID: n.ID, FixedIPs: []neutron.FixedIPRequest{{IPAddress: "192.168.1.1"}}})
		wantFault(t, err, 409, "IpAddressAlreadyAllocated")
		// 56: binding host without an agent: binding_failed.
		bound, err := p.CreatePort(ctx, neutron.PortCreate{ProjectID: tenant, NetworkID: n.ID, HostID: "compute-1", DeviceOwner: "compute:nova", DeviceID: "vm-1"})
		if err != nil || bound.VIFType != "binding_failed" || string(bound.VIFDetails) != "{}" || bound.Status != "DOWN" {
			t.Fatalf("bound: %v %+v", err, bound)
		}
		// Neutron's second binding attempt: the response says 1, the port 2.
		if got, _ := p.GetPort(ctx, bound.ID); bound.RevisionNumber != 1 || got.RevisionNumber != 2 {
			t.Fatalf("binding_failed revisions: create %d, show %d", bound.RevisionNumber, got.RevisionNumber)
		}
		// 63: list by network, sorted by id by default.
		ports, err := p.ListPorts(ctx, neutron.ListQuery{Filters: map[string][]string{"network_id": {n.ID}}})
		if err != nil || len(ports) != 4 {
			t.Fatalf("list: %v %d", err, len(ports))
		}
		for i := 1; i < len(ports); i++ {
			if ports[i-1].ID > ports[i].ID {
				t.Fatal("not sorted by id")
			}
		}
		// 64: update.
		up, err := p.UpdatePort(ctx, plain.ID, neutron.PortUpdate{Name: ptr("p-plain-renamed"), AdminStateUp: ptr(false)})
		if err != nil || up.Name != "p-plain-renamed" || up.AdminStateUp || up.RevisionNumber != 2 || up.FixedIPs[0] != plain.FixedIPs[0] {
			t.Fatalf("update: %v %+v", err, up)
		}
		// Changing fixed IPs releases the old address.
		up, err = p.UpdatePort(ctx, plain.ID, neutron.PortUpdate{FixedIPs: &[]neutron.FixedIPRequest{{SubnetID: s.ID, IPAddress: "192.168.1.77"}}})
		if err != nil || len(up.FixedIPs) != 1 || up.FixedIPs[0].IPAddress != "192.168.1.77" {
			t.Fatalf("update ips: %v %+v", err, up)
		}
		if _, err := p.CreatePort(ctx, neutron.PortCreate{NetworkID: n.ID, FixedIPs: []neutron.FixedIPRequest{{IPAddress: plain.FixedIPs[0].IPAddress}}}); err != nil {
			t.Fatalf("old address not released: %v", err)
		}
		// 77: network in use; subnet in use.
		err = p.DeleteNetwork(ctx, n.ID)
		wantFault(t, err, 409, "NetworkInUse")
		if !strings.Contains(err.Error(), plain.ID) || !strings.Contains(err.Error(), "There are one or more ports still in use on the network, id for these ports is: ") {
			t.Fatal(err)
		}
		err = p.DeleteSubnet(ctx, s.ID)
		wantFault(t, err, 409, "SubnetInUse")
		// Filters: fixed_ips, mac, binding host.
		f, err := p.ListPorts(ctx, neutron.ListQuery{Filters: map[string][]string{"fixed_ips": {"ip_address=192.168.1.50"}}})
		if err != nil || len(f) != 1 || f[0].ID != fixed.ID {
			t.Fatalf("fixed_ips filter: %v %+v", err, f)
		}
		f, err = p.ListPorts(ctx, neutron.ListQuery{Filters: map[string][]string{"fixed_ips": {"subnet_id=" + s.ID, "ip_address=192.168.1.50", "ip_address=192.168.1.77"}}})
		if err != nil || len(f) != 2 {
			t.Fatalf("fixed_ips subnet+ips filter: %v %d", err, len(f))
		}
		f, err = p.ListPorts(ctx, neutron.ListQuery{Filters: map[string][]string{"fixed_ips": {"subnet_id=other", "ip_address=192.168.1.50"}}})
		if err != nil || len(f) != 0 {
			t.Fatalf("fixed_ips keys must AND: %v %d", err, len(f))
		}
		f, err = p.ListPorts(ctx, neutron.ListQuery{Filters: map[string][]string{"fixed_ips": {"ip_address_substr=1.50"}}})
		if err != nil || len(f) != 1 || f[0].ID != fixed.ID {
			t.Fatalf("fixed_ips substr filter: %v %+v", err, f)
		}
		f, err = p.ListPorts(ctx, neutron.ListQuery{Filters: map[string][]string{"binding:host_id": {"compute-1"}, "device_owner": {"compute:nova"}}})
		if err != nil || len(f) != 1 || f[0].ID != bound.ID {
			t.Fatalf("host filter: %v %+v", err, f)
		}
		_, err = p.ListPorts(ctx, neutron.ListQuery{Filters: map[string][]string{"frobnicate": {"1"}}})
		wantFault(t, err, 400, "HTTPBadRequest")
		// 79: deletes; then the network can go.
		all, _ := p.ListPorts(ctx, neutron.ListQuery{})
		for _, pt := range all {
			if err := p.DeletePort(ctx, pt.ID); err != nil {
				t.Fatal(err)
			}
		}
		wantFault(t, p.DeletePort(ctx, plain.ID), 404, "PortNotFound")
		if err := p.DeleteNetwork(ctx, n.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := p.GetSubnet(ctx, s.ID); err == nil {
			t.Fatal("subnet survived its network")
		}
		// The change log is gap-free and ends with the network delete.
		cs := mustChanges(t, p, 0)
		for i, c := range cs {
			if c.Revision != int64(i+1) {
				t.Fatalf("gap at %d: %+v", i, c)
			}
		}
		if last := cs[len(cs)-1]; last.Kind != "network" || last.Op != "delete" || last.Object != nil {
			t.Fatalf("last change %+v", last)
		}
	})
}

// A failing port create leaves neither rows nor change-log rows behind.
func TestFailedCreateIsAtomic(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		p := newPlugin(t, d, seedConfig())
		n, s := netAndSubnet(t, p)
		if _, err := p.CreatePort(ctx, neutron.PortCreate{ProjectID: tenant, NetworkID: n.ID, FixedIPs: []neutron.FixedIPRequest{{SubnetID: s.ID, IPAddress: "192.168.1.9"}}}); err != nil {
			t.Fatal(err)
		}
		before := mustChanges(t, p, 0)
		// Second address duplicates the first: the port (which got a MAC,
		// an IP from the first request entry, the default security group
		// of a new project) must vanish completely.
		_, err := p.CreatePort(ctx, neutron.PortCreate{ProjectID: "newproject", NetworkID: n.ID, MACAddress: "fa:16:3e:aa:aa:aa",
			FixedIPs: []neutron.FixedIPRequest{{SubnetID: s.ID, IPAddress: "192.168.1.10"}, {SubnetID: s.ID, IPAddress: "192.168.1.9"}}})
		wantFault(t, err, 409, "IpAddressAlreadyAllocated")
		after := mustChanges(t, p, 0)
		if len(after) != len(before) {
			t.Fatalf("change log grew: %d -> %d", len(before), len(after))
		}
		ports, _ := p.ListPorts(ctx, neutron.ListQuery{})
		if len(ports) != 1 {
			t.Fatalf("%d ports", len(ports))
		}
		db := p.Store().DB()
		for _, q := range []string{
			"SELECT COUNT(*) FROM ipallocations WHERE ip_address = '192.168.1.10'",
			"SELECT COUNT(*) FROM ports WHERE mac_address = 'fa:16:3e:aa:aa:aa'",
			"SELECT COUNT(*) FROM default_security_groups WHERE project_id = 'newproject'",
			"SELECT COUNT(*) FROM securitygroups WHERE project_id = 'newproject'",
		} {
			var k int
			if err := db.QueryRow(q).Scan(&k); err != nil || k != 0 {
				t.Fatalf("%s: %d %v", q, k, err)
			}
		}
		// A failing network create (duplicate provider VNI in a
		// multi-segment request) keeps the first VNI free.
		_, err = p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: tenant, Segments: []neutron.Segment{
			{NetworkType: "vxlan", SegmentationID: 1701}, {NetworkType: "vxlan", SegmentationID: 1701}}})
		wantFault(t, err, 409, "TunnelIdInUse")
		if _, err := p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: tenant, Segment: &neutron.Segment{NetworkType: "vxlan", SegmentationID: 1701}}); err != nil {
			t.Fatalf("1701 leaked: %v", err)
		}
	})
}

func ovsReport(host, ip string) neutron.AgentReport {
	return neutron.AgentReport{AgentType: neutron.AgentTypeOVS, Binary: "neutron-openvswitch-agent", Host: host, Topic: "N/A",
		Configurations: json.RawMessage(`{"tunnel_types":["vxlan"],"tunneling_ip":"` + ip + `","datapath_type":"netdev","integration_bridge":"br-int","l2_population":true}`),
		StartFlag:      true, TunnelIP: ip, TunnelTypes: []string{"vxlan"}}
}

func TestAgentsAndBinding(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		p := newPlugin(t, d, seedConfig())
		clock := time.Date(2026, 11, 23, 19, 36, 28, 0, time.UTC)
		p.SetClock(func() time.Time { return clock })
		n, s := netAndSubnet(t, p)
		a1, err := p.ReportState(ctx, ovsReport("ref-node-1", "198.18.0.1"))
		if err != nil || !a1.Alive || a1.Host != "ref-node-1" || a1.Topic != "N/A" {
			t.Fatalf("report: %v %+v", err, a1)
		}
		if _, err := p.ReportState(ctx, ovsReport("ref-node-2", "198.18.0.2")); err != nil {
			t.Fatal(err)
		}
		// 89: bound to an alive OVS agent.
		_, err = p.CreatePort(ctx, neutron.PortCreate{ProjectID: tenant, NetworkID: n.ID, Name: "vm-a", DeviceOwner: "compute:nova", DeviceID: "vm-a", HostID: "ref-node-1",
			FixedIPs: []neutron.FixedIPRequest{{SubnetID: s.ID, IPAddress: "192.168.77.11"}}})
		wantFault(t, err, 400, "InvalidIpForSubnet")
		pa, err := p.CreatePort(ctx, neutron.PortCreate{ProjectID: tenant, NetworkID: n.ID, Name: "vm-a", DeviceOwner: "compute:nova", DeviceID: "vm-a", HostID: "ref-node-1",
			FixedIPs: []neutron.FixedIPRequest{{SubnetID: s.ID, IPAddress: "192.168.1.11"}}})
		if err != nil {
			t.Fatal(err)
		}
		want := `{"connectivity":"l2","port_filter":true,"ovs_hybrid_plug":false,"datapath_type":"netdev","bridge_name":"br-int"}`
		if pa.VIFType != "ovs" || string(pa.VIFDetails) != want || pa.Status != "DOWN" {
			t.Fatalf("bound port: %+v %s", pa, pa.VIFDetails)
		}
		// 92: the agent reports the device up.
		_, err = p.UpdateDevice(ctx, "ref-node-2", pa.ID, true)
		wantFault(t, err, 409, "PortNotBoundToHost")
		act, err := p.UpdateDevice(ctx, "ref-node-1", pa.ID, true)
		if err != nil || act.Status != "ACTIVE" || act.RevisionNumber != 3 || !strings.Contains(string(act.VIFDetails), `"bound_drivers":{"0":"openvswitch"}`) {
			t.Fatalf("device up: %v %+v %s", err, act, act.VIFDetails)
		}
		again, err := p.UpdateDevice(ctx, "ref-node-1", pa.ID, true)
		if err != nil || again.RevisionNumber != 3 {
			t.Fatalf("idempotent up bumped revision: %v %+v", err, again)
		}
		// Changing the MAC of a bound port is refused.
		_, err = p.UpdatePort(ctx, pa.ID, neutron.PortUpdate{MACAddress: ptr("fa:16:3e:01:02:03")})
		wantFault(t, err, 409, "PortBound")
		// Endpoints and snapshot.
		st, err := p.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Agents) != 2 || len(st.Endpoints) != 2 || len(st.Networks) != 1 || len(st.Ports) != 1 || !st.Agents[0].Alive {
			t.Fatalf("snapshot: %+v", st)
		}
		cs := mustChanges(t, p, 0)
		if st.Revision != cs[len(cs)-1].Revision {
			t.Fatalf("snapshot revision %d, log ends at %d", st.Revision, cs[len(cs)-1].Revision)
		}
		// A new IP for a host replaces its endpoint.
		if _, err := p.ReportState(ctx, ovsReport("ref-node-2", "198.18.0.22")); err != nil {
			t.Fatal(err)
		}
		st, _ = p.Snapshot(ctx)
		if len(st.Endpoints) != 2 || st.Endpoints[1] != (neutron.TunnelEndpoint{IPAddress: "198.18.0.22", UDPPort: 4789, Host: "ref-node-2"}) {
			t.Fatalf("endpoints: %+v", st.Endpoints)
		}
		// The agent on node-1 dies: a new port there fails to bind; when the
		// agent reports again the port is bound.
		clock = clock.Add(76 * time.Second)
		if ag, _ := p.GetAgent(ctx, a1.ID); ag.Alive {
			t.Fatal("agent should be dead")
		}
		dead, _ := p.ListAgents(ctx, neutron.ListQuery{Filters: map[string][]string{"alive": {"false"}}})
		if len(dead) != 2 {
			t.Fatalf("dead agents: %+v", dead)
		}
		pb, err := p.CreatePort(ctx, neutron.PortCreate{ProjectID: tenant, NetworkID: n.ID, HostID: "ref-node-1"})
		if err != nil || pb.VIFType != "binding_failed" {
			t.Fatalf("port on dead agent: %v %+v", err, pb)
		}
		r := ovsReport("ref-node-1", "198.18.0.1")
		r.StartFlag = false
		if _, err := p.ReportState(ctx, r); err != nil {
			t.Fatal(err)
		}
		pb2, _ := p.GetPort(ctx, pb.ID)
		if pb2.VIFType != "ovs" || pb2.RevisionNumber != pb.RevisionNumber+2 {
			t.Fatalf("not rebound: %+v", pb2)
		}
		ag, _ := p.GetAgent(ctx, a1.ID)
		if !ag.StartedAt.Equal(a1.StartedAt) || !ag.HeartbeatAt.Equal(clock) {
			t.Fatalf("timestamps: %+v", ag)
		}
		// Moving a port to another host re-binds it and sets it DOWN.
		mv, err := p.UpdatePort(ctx, pa.ID, neutron.PortUpdate{HostID: ptr("nowhere")})
		if err != nil || mv.VIFType != "binding_failed" || mv.Status != "DOWN" {
			t.Fatalf("move: %v %+v", err, mv)
		}
		mv, err = p.UpdatePort(ctx, pa.ID, neutron.PortUpdate{HostID: ptr("")})
		if err != nil || mv.VIFType != "unbound" {
			t.Fatalf("unbind: %v %+v", err, mv)
		}
		// Agent update / delete.
		ua, err := p.UpdateAgent(ctx, a1.ID, neutron.AgentUpdate{AdminStateUp: ptr(false), Description: ptr("maintenance")})
		if err != nil || ua.AdminStateUp || ua.Description != "maintenance" {
			t.Fatalf("update agent: %v %+v", err, ua)
		}
		if err := p.DeleteAgent(ctx, a1.ID); err != nil {
			t.Fatal(err)
		}
		if eps, _ := p.Store().ListEndpoints(ctx); len(eps) != 1 || eps[0].Host != "ref-node-2" {
			t.Fatalf("endpoints after agent delete: %+v", eps)
		}
		_, err = p.GetAgent(ctx, a1.ID)
		wantFault(t, err, 404, "AgentNotFound")
	})
}

// special/97: the VNI pool runs dry.
func TestVNIExhaustion(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		cfg := seedConfig()
		cfg.VNIRanges = []config.Range{{Min: 1001, Max: 1002}}
		p := newPlugin(t, d, cfg)
		seen := map[int64]bool{}
		var nets []*neutron.Network
		for i := 0; i < 2; i++ {
			n, err := p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: tenant})
			if err != nil {
				t.Fatal(err)
			}
			seen[n.Segments[0].SegmentationID] = true
			nets = append(nets, n)
		}
		if !seen[1001] || !seen[1002] {
			t.Fatalf("vnis %v", seen)
		}
		_, err := p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: tenant, Name: "exh-final"})
		wantFault(t, err, 503, "NoNetworkAvailable")
		if err.Error() != "NoNetworkAvailable: Unable to create the network. No tenant network is available for allocation." {
			t.Fatal(err)
		}
		if err := p.DeleteNetwork(ctx, nets[0].ID); err != nil {
			t.Fatal(err)
		}
		n, err := p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: tenant})
		if err != nil || n.Segments[0].SegmentationID != nets[0].Segments[0].SegmentationID {
			t.Fatalf("released vni not reused: %v %+v", err, n)
		}
		// Restart with a different range: free rows outside it go,
		// allocated ones stay.
		cfg2 := seedConfig()
		cfg2.VNIRanges = []config.Range{{Min: 2001, Max: 2010}}
		p2, err := New(ctx, p.Store(), cfg2, nil)
		if err != nil {
			t.Fatal(err)
		}
		free, _ := p2.Store().CountFreeTunnelIDs(ctx, "vxlan")
		if free != 10 {
			t.Fatalf("free vnis after resync: %d", free)
		}
		var total int
		p.Store().DB().QueryRow("SELECT COUNT(*) FROM vxlan_allocations").Scan(&total)
		if total != 12 {
			t.Fatalf("rows after resync: %d", total)
		}
	})
}

// Deleting an IPv6 auto-address subnet takes its addresses off the ports
// that have them (Neutron; Tempest's test_dhcp_ipv6 and
// test_create_delete_slaac_subnet_with_ports), unless a router port holds
// one: then it is SubnetInUse, as for any subnet in use.
func TestDeleteAutoAddressSubnet(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		p := newPlugin(t, d, seedConfig())
		n, s4 := netAndSubnet(t, p)
		for _, modes := range [][2]string{{"slaac", "slaac"}, {"", "dhcpv6-stateless"}, {"dhcpv6-stateless", ""}} {
			s6, err := p.CreateSubnet(ctx, neutron.SubnetCreate{ProjectID: tenant, NetworkID: n.ID, IPVersion: 6, CIDR: "2001:db8:1::/64",
				IPv6RAMode: modes[0], IPv6AddressMode: modes[1]})
			if err != nil {
				t.Fatalf("%v: create: %v", modes, err)
			}
			vm, err := p.CreatePort(ctx, neutron.PortCreate{ProjectID: tenant, NetworkID: n.ID, DeviceOwner: "compute:nova",
				FixedIPs: []neutron.FixedIPRequest{{SubnetID: s4.ID}, {SubnetID: s6.ID}}})
			if err != nil || len(vm.FixedIPs) != 2 {
				t.Fatalf("%v: port: %v %+v", modes, err, vm)
			}
			router, err := p.CreatePort(ctx, neutron.PortCreate{ProjectID: tenant, NetworkID: n.ID, DeviceOwner: "network:router_interface",
				FixedIPs: []neutron.FixedIPRequest{{SubnetID: s6.ID}}})
			if err != nil {
				t.Fatalf("%v: router port: %v", modes, err)
			}
			wantFault(t, p.DeleteSubnet(ctx, s6.ID), 409, "SubnetInUse")
			if err := p.DeletePort(ctx, router.ID); err != nil {
				t.Fatal(err)
			}
			if err := p.DeleteSubnet(ctx, s6.ID); err != nil {
				t.Fatalf("%v: delete with a VM port: %v", modes, err)
			}
			got, err := p.GetPort(ctx, vm.ID)
			if err != nil || len(got.FixedIPs) != 1 || got.FixedIPs[0].SubnetID != s4.ID || got.RevisionNumber <= vm.RevisionNumber {
				t.Fatalf("%v: port after the delete: %v %+v", modes, err, got)
			}
			if err := p.DeletePort(ctx, vm.ID); err != nil {
				t.Fatal(err)
			}
		}
		// Any other subnet with a VM's address still refuses.
		if _, err := p.CreatePort(ctx, neutron.PortCreate{ProjectID: tenant, NetworkID: n.ID, DeviceOwner: "compute:nova"}); err != nil {
			t.Fatal(err)
		}
		wantFault(t, p.DeleteSubnet(ctx, s4.ID), 409, "SubnetInUse")
	})
}
