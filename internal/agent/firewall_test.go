package agent

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"neutrino/internal/config"
	"neutrino/internal/dataplane"
	"neutrino/internal/dataplane/fake"
	"neutrino/internal/l2pop"
	"neutrino/internal/ml2"
	"neutrino/internal/neutron"
	"neutrino/internal/rpc"
	"neutrino/internal/secgroup"
	"neutrino/internal/store"
	"neutrino/internal/store/storetest"
	"neutrino/internal/waittest"
)

func TestFirewallMapping(t *testing.T) {
	in := Rule("ingress", 6, 22)
	fw := secgroup.Firewall{
		Ports: map[string]secgroup.Port{
			"p1": {ID: "p1", MAC: "fa:16:3e:00:00:01", PortSecurity: true, Groups: []string{"a", "b"},
				Allowed: []secgroup.AllowedAddress{{MAC: "fa:16:3e:00:00:01", Prefix: netip.MustParsePrefix("192.168.1.5/32")}}},
			"p2":       {ID: "p2", MAC: "fa:16:3e:00:00:02"},
			"detached": {ID: "detached", PortSecurity: true, Groups: []string{"c"}},
		},
		Groups: map[string]secgroup.Group{
			"a": {Stateful: true, Rules: []secgroup.Rule{in, {Direction: "ingress", Ethertype: "IPv4", RemoteGroup: "a"}}},
			"b": {Stateful: false, Rules: []secgroup.Rule{in}},
			"c": {Stateful: true, Rules: []secgroup.Rule{{Direction: "ingress", Ethertype: "IPv4", RemoteGroup: "c"}}},
		},
		Remote: map[string][]netip.Prefix{"a": {netip.MustParsePrefix("192.168.1.5/32")}, "c": nil},
		VTEPs:  []netip.Addr{netip.MustParseAddr("198.18.0.1")},
	}
	ports := map[string]dataplane.LocalPort{"p1": {ID: "p1", NetworkID: "n"}, "p2": {ID: "p2", NetworkID: "n"}}
	got := fake.Render(dataplane.NodeState{Firewall: firewall(fw, "openvswitch", ports)})
	want := `local_ip - udp 0
firewall openvswitch
  vtep 198.18.0.1
  filter p1 network n mac fa:16:3e:00:00:01 port_security true stateful true
    allow fa:16:3e:00:00:01 192.168.1.5/32
    rule ingress IPv4 proto 0 ports 0:0 group a
    rule ingress IPv4 proto 6 ports 22:22
  filter p2 network n mac fa:16:3e:00:00:02 port_security false stateful true
  remote a 192.168.1.5/32
`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	// Each port names its groups, whose rules are given once (the OVS
	// firewall writes a rule per group, not per port); c has no local port.
	out := firewall(fw, "openvswitch", ports)
	if g := out.Ports["p1"].Groups; !slices.Equal(g, []string{"a", "b"}) {
		t.Errorf("p1's groups %v, want [a b]", g)
	}
	wantGroups := map[string][]dataplane.Rule{
		"a": {dataplane.Rule(in), {Direction: "ingress", Ethertype: "IPv4", RemoteGroup: "a"}},
		"b": {dataplane.Rule(in)},
	}
	if len(out.Groups) != len(wantGroups) || !slices.Equal(out.Groups["a"], wantGroups["a"]) || !slices.Equal(out.Groups["b"], wantGroups["b"]) {
		t.Errorf("groups %v, want %v", out.Groups, wantGroups)
	}
	// noop filters no port, but the underlay filter stays on.
	got = fake.Render(dataplane.NodeState{Firewall: firewall(fw, "noop", ports)})
	want = "local_ip - udp 0\nfirewall noop\n  vtep 198.18.0.1\n"
	if got != want {
		t.Errorf("noop: got\n%s\nwant\n%s", got, want)
	}
}

// Rule is a TCP/UDP rule for tests.
func Rule(dir string, proto uint8, port int) secgroup.Rule {
	return secgroup.Rule{Direction: dir, Ethertype: "IPv4", Protocol: proto, PortMin: port, PortMax: port}
}

// TestFirewallEndToEnd: security-group writes through the real ML2 plugin
// on SQLite reach the agents' data planes (fake) through the stream: a
// rule created lands in every member host's Firewall, a port joining the
// group adds one member on the other host, a deleted rule goes.
func TestFirewallEndToEnd(t *testing.T) {
	ctx := context.Background()
	st := storetest.Open(t, store.SQLite)
	p, err := ml2.New(ctx, st, &config.Server{GlobalPhysnetMTU: 1500, BaseMAC: "fa:16:3e:00:00:00", AgentDownTime: 75 * time.Second,
		TypeDrivers: []string{"vxlan"}, TenantNetworkTypes: []string{"vxlan"},
		MechanismDrivers: []string{"openvswitch", "l2population"}, VNIRanges: []config.Range{{Min: 1001, Max: 2000}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := ml2Backend{p}
	w := &ml2Writer{p: p, subnet: map[string]string{}}
	l2cfg := l2pop.Config{Enabled: true}
	logger := testLogger(t)
	addr := freeAddr(t)
	srv := startServer(t, b, rpc.ServerConfig{L2Pop: l2cfg, Logger: logger}, addr)
	var agents []*agentProc
	for i := range 2 {
		cfg := agentConfig(fmt.Sprintf("node-%d", i), fmt.Sprintf("198.18.6.%d", i+1), "grpc://"+addr, true)
		cfg.FirewallDriver = "openvswitch"
		agents = append(agents, startAgent(t, cfg, fake.New(), logger))
	}
	t.Cleanup(func() {
		for _, a := range agents {
			a.stop()
		}
		srv.stop(t)
	})
	waittest.For(t, "agents registered", func() bool { return len(b.State().Agents) == 2 })
	net := w.network(t, "net")
	place := func(node int) (string, string) {
		id, mac := w.port(t, net, agents[node].host)
		plug(agents[node].dp, id, mac)
		pt, err := p.GetPort(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return id, pt.FixedIPs[0].IPAddress
	}
	a, ipA := place(0)
	_, ipB := place(1)
	waitConverged(t, "two ports in the default group", l2cfg, b, agents)
	fw := func(node int) dataplane.Firewall {
		s, _ := agents[node].dp.Applied()
		return s.Firewall
	}
	f := fw(0)
	def := p.GetPort
	pa, _ := def(ctx, a)
	group := pa.SecurityGroups[0]
	if f.Driver != "openvswitch" || len(f.Ports[a].Rules) != 4 || len(f.RemoteGroups[group]) != 2 || len(f.VTEPs) != 2 {
		t.Fatalf("node-0 firewall after the first ports:\n%s", fake.Render(dataplane.NodeState{Firewall: f}))
	}
	if !slices.Contains(f.RemoteGroups[group], netip.MustParsePrefix(ipB+"/32")) || !f.Ports[a].PortSecurity ||
		f.Ports[a].Allowed[0].Prefix != netip.MustParsePrefix(ipA+"/32") {
		t.Fatalf("node-0 firewall lacks node-1's member or its own allowed address:\n%s", fake.Render(dataplane.NodeState{Firewall: f}))
	}
	// A rule created through the plugin reaches both hosts.
	r, err := p.CreateSecurityGroupRule(ctx, neutron.SecurityGroupRuleCreate{SecurityGroupID: group, Direction: "ingress",
		Protocol: ptr("tcp"), PortRangeMin: ptr(22), PortRangeMax: ptr(22)})
	if err != nil {
		t.Fatal(err)
	}
	ssh := dataplane.Rule{Direction: "ingress", Ethertype: "IPv4", Protocol: 6, PortMin: 22, PortMax: 22}
	for node := range agents {
		waittest.For(t, fmt.Sprintf("the ssh rule on node-%d", node), func() bool {
			for _, pf := range fw(node).Ports {
				return slices.Contains(pf.Rules, ssh)
			}
			return false
		})
	}
	// A third port joins the group on node-1: node-0's member set grows.
	_, ipC := place(1)
	waittest.For(t, "the third member on node-0", func() bool {
		return slices.Contains(fw(0).RemoteGroups[group], netip.MustParsePrefix(ipC+"/32"))
	})
	if err := p.DeleteSecurityGroupRule(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	waittest.For(t, "the ssh rule gone from node-0", func() bool { return !slices.Contains(fw(0).Ports[a].Rules, ssh) })
	waitConverged(t, "at the end", l2cfg, b, agents)
	if s := fake.Render(dataplane.NodeState{Firewall: fw(0)}); !strings.Contains(s, "remote "+group) {
		t.Errorf("node-0 firewall at the end:\n%s", s)
	}
}

func ptr[T any](v T) *T { return &v }
