package ovs

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"neutrino/internal/agent"
	"neutrino/internal/config"
	"neutrino/internal/l2pop"
	"neutrino/internal/lab"
	"neutrino/internal/ml2"
	"neutrino/internal/neutron"
	"neutrino/internal/rpc"
	"neutrino/internal/store"
	"neutrino/internal/store/storetest"
)

const e2eProject = "b0000000000000000000000000000003"

// e2eSystem is the server side (ML2 plugin on SQLite, the agents' gRPC
// service with l2population) and the real OVS agent, in process, on this
// data plane on two nodes.
type e2eSystem struct {
	t      *testing.T
	ctx    context.Context
	lab    *lab.Lab
	nodes  map[string]*ovsNode
	plugin *ml2.Plugin
	net    *neutron.Network
	sub    *neutron.Subnet
}

func newE2E(t *testing.T, ctx context.Context, firewallDriver string) *e2eSystem {
	t.Helper()
	l, nodes := newOVSLab(t, ctx, "compute1", "compute2")
	st := storetest.Open(t, store.SQLite)
	scfg := &config.Server{GlobalPhysnetMTU: 1500, BaseMAC: "fa:16:3e:00:00:00", AgentDownTime: 75 * time.Second,
		TypeDrivers: []string{"vxlan"}, TenantNetworkTypes: []string{"vxlan"},
		MechanismDrivers: []string{"openvswitch", "l2population"}, VNIRanges: []config.Range{{Min: 1001, Max: 2000}}}
	plugin, err := ml2.New(ctx, st, scfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := rpc.NewServer(plugin, rpc.ServerConfig{L2Pop: l2pop.Config{Enabled: true}, PollInterval: 50 * time.Millisecond})
	sctx, scancel := context.WithCancel(ctx)
	sdone := make(chan error, 1)
	go func() { sdone <- srv.Serve(sctx, lis) }()
	t.Cleanup(func() {
		scancel()
		if err := <-sdone; err != nil {
			t.Errorf("rpc server: %v", err)
		}
	})
	for name, n := range nodes {
		cfg := &config.Agent{Host: name, TransportURL: "grpc://" + lis.Addr().String(), Namespace: n.node.NS,
			LocalIP: n.node.IP().String(), L2Population: true, ARPResponder: true, TunnelTypes: []string{"vxlan"},
			EnableVXLAN: true, VXLANUDPPort: 4789, PollingInterval: 100 * time.Millisecond, ReportInterval: 200 * time.Millisecond,
			IntegrationBridge: "br-int", DatapathType: "netdev", FirewallDriver: firewallDriver}
		cc, err := rpc.ClientConfigFor(cfg)
		if err != nil {
			t.Fatal(err)
		}
		client, err := rpc.Dial(cc)
		if err != nil {
			t.Fatal(err)
		}
		a, err := agent.New(agent.Options{Kind: agent.KindOVS, Config: cfg, Server: client, Dataplane: n.dp})
		if err != nil {
			t.Fatal(err)
		}
		actx, acancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); _ = a.Run(actx) }()
		t.Cleanup(func() { acancel(); <-done; client.Close() })
	}
	s := &e2eSystem{t: t, ctx: ctx, lab: l, nodes: nodes, plugin: plugin}
	s.waitUntil("two OVS agents", func() bool {
		snap, err := plugin.Snapshot(ctx)
		return err == nil && len(snap.Agents) == 2
	})
	if s.net, err = plugin.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: e2eProject, Name: "testnet"}); err != nil {
		t.Fatal(err)
	}
	if s.sub, err = plugin.CreateSubnet(ctx, neutron.SubnetCreate{ProjectID: e2eProject, NetworkID: s.net.ID, IPVersion: 4, CIDR: "192.168.1.0/24"}); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *e2eSystem) waitUntil(what string, cond func() bool) {
	s.t.Helper()
	// Bounds a hang only; nothing is measured.
	for deadline := time.Now().Add(60 * time.Second); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// boot creates a port on host (in groups, nil = the default group) and
// plugs a VM into it as Nova would after reading the binding: hybrid
// (qbr/qvb/qvo) when binding:vif_details say ovs_hybrid_plug.
func (s *e2eSystem) boot(name, host string, groups []string) (*neutron.Port, *lab.VM) {
	s.t.Helper()
	p, err := s.plugin.CreatePort(s.ctx, neutron.PortCreate{ProjectID: e2eProject, NetworkID: s.net.ID, DeviceOwner: "compute:nova",
		DeviceID: "dev-" + name, HostID: host, SecurityGroups: groups})
	if err != nil {
		s.t.Fatalf("port %s: %v", name, err)
	}
	spec := vmSpec{name: name, portID: p.ID, mac: p.MACAddress, ip: netip.PrefixFrom(netip.MustParseAddr(p.FixedIPs[0].IPAddress), 24)}
	var vm *lab.VM
	if strings.Contains(strings.ReplaceAll(string(p.VIFDetails), " ", ""), `"ovs_hybrid_plug":true`) {
		vm = plugHybrid(s.t, s.ctx, s.lab, s.nodes[host], spec)
	} else {
		vm = plug(s.t, s.ctx, s.lab, s.nodes[host], spec)
	}
	s.waitUntil("port "+name+" ACTIVE", func() bool {
		q, err := s.plugin.GetPort(s.ctx, p.ID)
		return err == nil && q.Status == neutron.StatusActive
	})
	return p, vm
}

func (s *e2eSystem) reach(from *lab.VM, to *neutron.Port) bool {
	_, err := lab.Exec(s.ctx, from.NS, "ping", "-n", "-q", "-c", "1", "-W", "1", to.FixedIPs[0].IPAddress)
	return err == nil
}

// TestAgentSecurityGroupsOVS is security groups end to end on the OVS
// agent: rules and groups made through the ML2 plugin (the calls the API
// handlers make), the agents' view from the server, the real OVS agent
// with each firewall driver. The default group's VMs reach each other,
// a VM in a new group is unreachable until a rule is created and again
// once it is deleted, and a VM booted later into a remote group a rule
// names is let in.
func TestAgentSecurityGroupsOVS(t *testing.T) {
	for _, driver := range []string{DriverOpenvswitch, DriverHybrid} {
		t.Run(driver, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			s := newE2E(t, ctx, driver)
			p1, vm1 := s.boot("vm1", "compute1", nil)
			if hybrid := strings.Contains(string(p1.VIFDetails), "ovs_hybrid_plug\":true"); hybrid != (driver == DriverHybrid) {
				t.Errorf("binding:vif_details %s with firewall_driver %s", p1.VIFDetails, driver)
			}
			p2, vm2 := s.boot("vm2", "compute2", nil)
			web, err := s.plugin.CreateSecurityGroup(ctx, neutron.SecurityGroupCreate{ProjectID: e2eProject, Name: "web"})
			if err != nil {
				t.Fatal(err)
			}
			p3, _ := s.boot("vm3", "compute2", []string{web.ID})
			s.waitUntil("vm1 -> vm2, both in the default group", func() bool { return s.reach(vm1, p2) })
			s.waitUntil("vm2 -> vm1", func() bool { return s.reach(vm2, p1) })
			if s.reach(vm1, p3) {
				t.Error("vm1 reached vm3, whose group web has no ingress rule")
			}
			icmp := "icmp"
			rule, err := s.plugin.CreateSecurityGroupRule(ctx, neutron.SecurityGroupRuleCreate{ProjectID: e2eProject, SecurityGroupID: web.ID,
				Direction: "ingress", Ethertype: "IPv4", Protocol: &icmp})
			if err != nil {
				t.Fatal(err)
			}
			s.waitUntil("vm1 -> vm3 after the ICMP rule", func() bool { return s.reach(vm1, p3) })
			if err := s.plugin.DeleteSecurityGroupRule(ctx, rule.ID); err != nil {
				t.Fatal(err)
			}
			s.waitUntil("vm1 -> vm3 blocked again after the rule's delete", func() bool { return !s.reach(vm1, p3) })

			// web admits ICMP from the group "friends"; vm4 boots into it
			// later, on the other node.
			friends, err := s.plugin.CreateSecurityGroup(ctx, neutron.SecurityGroupCreate{ProjectID: e2eProject, Name: "friends"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.plugin.CreateSecurityGroupRule(ctx, neutron.SecurityGroupRuleCreate{ProjectID: e2eProject, SecurityGroupID: web.ID,
				Direction: "ingress", Ethertype: "IPv4", Protocol: &icmp, RemoteGroupID: &friends.ID}); err != nil {
				t.Fatal(err)
			}
			_, vm4 := s.boot("vm4", "compute1", []string{friends.ID})
			s.waitUntil("vm4 (remote group member booted later) -> vm3", func() bool { return s.reach(vm4, p3) })
			if s.reach(vm1, p3) {
				t.Error("vm1 (not in friends) reached vm3")
			}
		})
	}
}
