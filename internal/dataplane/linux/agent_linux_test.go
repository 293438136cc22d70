package linux_test

import (
	"context"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"neutrino/internal/agent"
	"neutrino/internal/config"
	"neutrino/internal/dataplane/linux"
	"neutrino/internal/l2pop"
	"neutrino/internal/lab"
	"neutrino/internal/ml2"
	"neutrino/internal/neutron"
	"neutrino/internal/rpc"
	"neutrino/internal/store"
	"neutrino/internal/store/storetest"
)

// lbNode is a node running the real Linux bridge agent (in process) on
// this package's data plane in the node's namespace.
type lbNode struct {
	node   *lab.Node
	cfg    *config.Agent
	dp     *linux.Dataplane
	agent  *agent.Agent
	cancel context.CancelFunc
	done   chan struct{}
}

func startLBAgent(t *testing.T, node *lab.Node, cfg *config.Agent) *lbNode {
	t.Helper()
	dp, err := linux.New(linux.Options{NetNS: cfg.Namespace, InterfaceMappings: cfg.InterfaceMappings})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := rpc.ClientConfigFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	client, err := rpc.Dial(cc)
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(agent.Options{Kind: agent.KindLinuxBridge, Config: cfg, Server: client, Dataplane: dp})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &lbNode{node: node, cfg: cfg, dp: dp, agent: a, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(n.done)
		defer client.Close()
		if err := a.Run(ctx); err != nil {
			t.Errorf("agent on %s: %v", node.Name, err)
		}
	}()
	return n
}

// stop ends the agent like a process exit: nothing is removed.
func (n *lbNode) stop() {
	n.cancel()
	<-n.done
	n.dp.Close()
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	// Bounds a hang only; nothing is measured.
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var pingStats = regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`)

// system is the seed with the real server side (ML2 plugin on SQLite,
// the gRPC agent service) and the real Linux bridge agent on every node,
// configured for one BUM mode.
type system struct {
	t      *testing.T
	ctx    context.Context
	plugin *ml2.Plugin
	url    string
	mode   mode
	tp     *topo
	agents map[string]*lbNode
	net    *neutron.Network
	sub    *neutron.Subnet
	// firewall is the agents' [securitygroup] firewall_driver.
	firewall string
}

const sysProject = "b0000000000000000000000000000002"

func newSystem(t *testing.T, m mode) *system {
	t.Helper()
	return newSystemWith(t, m, "")
}

// newSystemWith is newSystem with the agents' firewall_driver.
func newSystemWith(t *testing.T, m mode, firewall string) *system {
	t.Helper()
	needRoot(t)
	ctx := context.Background()
	st := storetest.Open(t, store.SQLite)
	mech := []string{"linuxbridge"}
	l2 := m == modeL2Pop || m == modeL2PopARP
	if l2 {
		mech = append(mech, "l2population")
	}
	scfg := &config.Server{GlobalPhysnetMTU: 1500, BaseMAC: "fa:16:3e:00:00:00", AgentDownTime: 75 * time.Second,
		TypeDrivers: []string{"vxlan"}, TenantNetworkTypes: []string{"vxlan"},
		MechanismDrivers: mech, VNIRanges: []config.Range{{Min: 1001, Max: 2000}}}
	plugin, err := ml2.New(ctx, st, scfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := rpc.NewServer(plugin, rpc.ServerConfig{L2Pop: l2pop.Config{Enabled: l2}, PollInterval: 50 * time.Millisecond})
	sctx, scancel := context.WithCancel(ctx)
	sdone := make(chan error, 1)
	go func() { sdone <- srv.Serve(sctx, lis) }()
	t.Cleanup(func() {
		scancel()
		if err := <-sdone; err != nil {
			t.Errorf("rpc server: %v", err)
		}
	})
	s := &system{t: t, ctx: ctx, plugin: plugin, url: "grpc://" + lis.Addr().String(), mode: m, agents: map[string]*lbNode{}, firewall: firewall}
	s.tp = newTopo(t, m, "controller", "compute1", "compute2")
	for _, name := range s.tp.names {
		// The topo's own data planes stay idle here: the agents program.
		s.startAgent(name)
	}
	t.Cleanup(func() {
		for _, a := range s.agents {
			a.stop()
		}
	})
	waitUntil(t, "three live Linux bridge agents", func() bool {
		st, err := plugin.Snapshot(ctx)
		if err != nil {
			return false
		}
		alive := 0
		for _, a := range st.Agents {
			if a.AgentType == neutron.AgentTypeLinuxBridge {
				alive++
			}
		}
		return alive == 3
	})
	if s.net, err = plugin.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: sysProject, Name: "testnet"}); err != nil {
		t.Fatal(err)
	}
	if s.sub, err = plugin.CreateSubnet(ctx, neutron.SubnetCreate{ProjectID: sysProject, NetworkID: s.net.ID, IPVersion: 4, CIDR: "192.168.1.0/24"}); err != nil {
		t.Fatal(err)
	}
	return s
}

// startAgent starts the agent of a node with the mode's configuration
// ([vxlan] l2_population, arp_responder, vxlan_group).
func (s *system) startAgent(name string) {
	node := s.tp.lab.Node(name)
	cfg := &config.Agent{Host: name, TransportURL: s.url, Namespace: node.NS, LocalIP: node.IP().String(),
		L2Population: s.mode == modeL2Pop || s.mode == modeL2PopARP, ARPResponder: s.mode == modeL2PopARP,
		TunnelTypes: []string{"vxlan"}, EnableVXLAN: true, VXLANUDPPort: 4789,
		PollingInterval: 100 * time.Millisecond, ReportInterval: 200 * time.Millisecond, FirewallDriver: s.firewall}
	if s.mode == modeGroup {
		cfg.VXLANGroup = group.String()
	}
	s.agents[name] = startLBAgent(s.t, node, cfg)
}

// boot creates a port bound to host and plugs it (a VM, or the router
// namespace for device_owner network:router_interface).
func (s *system) boot(name, host, owner string, ips []neutron.FixedIPRequest) (*neutron.Port, *lab.VM) {
	t := s.t
	t.Helper()
	p, err := s.plugin.CreatePort(s.ctx, neutron.PortCreate{ProjectID: sysProject, NetworkID: s.net.ID, DeviceOwner: owner,
		DeviceID: "dev-" + name, HostID: host, FixedIPs: ips})
	if err != nil {
		t.Fatalf("port %s: %v", name, err)
	}
	if p.VIFType != "bridge" {
		t.Fatalf("port %s bound as %q, want bridge", name, p.VIFType)
	}
	vif := lab.VIF{PortID: p.ID, MAC: p.MACAddress, Addr: netip.PrefixFrom(netip.MustParseAddr(p.FixedIPs[0].IPAddress), 24), MTU: s.net.MTU}
	var vm *lab.VM
	if owner == "network:router_interface" {
		vm, err = s.tp.lab.AddRouter(s.ctx, s.tp.lab.Node(host), name, vif)
	} else {
		vm, err = s.tp.lab.AddVM(s.ctx, s.tp.lab.Node(host), name, vif)
	}
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "port "+p.ID+" ACTIVE", func() bool {
		q, err := s.plugin.GetPort(s.ctx, p.ID)
		return err == nil && q.Status == neutron.StatusActive
	})
	return p, vm
}

// seed boots the seed's router port (gateway IP) and a VM per compute and
// waits until they all reach each other.
func (s *system) seed() (ports []*neutron.Port, vms []*lab.VM) {
	s.t.Helper()
	rp, router := s.boot("r1", "controller", "network:router_interface", []neutron.FixedIPRequest{{SubnetID: s.sub.ID, IPAddress: s.sub.GatewayIP}})
	p1, vm1 := s.boot("vm1", "compute1", "compute:nova", nil)
	p2, vm2 := s.boot("vm2", "compute2", "compute:nova", nil)
	ports, vms = []*neutron.Port{rp, p1, p2}, []*lab.VM{router, vm1, vm2}
	// Entries may arrive after ACTIVE; wait (bounded) for every pair.
	for i := range vms {
		for j := range vms {
			if i != j {
				waitUntil(s.t, vms[i].Name+" -> "+vms[j].Name, func() bool { return pingOnce(s.ctx, vms[i], ipOf(ports[j])) == nil })
			}
		}
	}
	return ports, vms
}

func ipOf(p *neutron.Port) string { return p.FixedIPs[0].IPAddress }

func pingOnce(ctx context.Context, from *lab.VM, to string) error {
	_, err := lab.Exec(ctx, from.NS, "ping", "-n", "-q", "-c", "3", "-i", "0.2", "-W", "2", to)
	return err
}

// TestAgentSeed: the seed, end to end, in each BUM mode the Linux bridge
// agent's configuration selects; every namespace reaches every other and
// the vxlan device carries the mode's settings.
func TestAgentSeed(t *testing.T) {
	for _, m := range []mode{modeMesh, modeGroup, modeL2Pop, modeL2PopARP} {
		t.Run(m.String(), func(t *testing.T) {
			s := newSystem(t, m)
			s.seed()
			vxl := linux.VXLANName(uint32(s.net.Segments[0].SegmentationID))
			// The "vxlan id ..." line of `ip -d link` (bridge_slave's
			// proxy_arp is another thing).
			var out string
			for _, l := range strings.Split(show(t, s.tp, "compute1", "ip", "-d", "link", "show", "dev", vxl), "\n") {
				if strings.Contains(l, "vxlan id") {
					out = l + " "
				}
			}
			want := map[mode][]string{
				modeMesh:     {"dstport 4789", "local " + s.tp.lab.Node("compute1").IP().String(), " ttl auto "},
				modeGroup:    {"dstport 4789", "group " + group.String()},
				modeL2Pop:    {"dstport 4789", "nolearning"},
				modeL2PopARP: {"dstport 4789", "nolearning", " proxy "},
			}[m]
			for _, w := range want {
				if !strings.Contains(out, w) {
					t.Errorf("%s lacks %q:\n%s", vxl, w, out)
				}
			}
			if m != modeL2PopARP && strings.Contains(out, " proxy ") {
				t.Errorf("proxy without arp_responder:\n%s", out)
			}
		})
	}
}

// TestAgentRestartKeepsTraffic: with l2population and arp_responder, a
// continuous ping between the VMs loses nothing while compute1's agent is
// stopped and started again, and an FDB entry an earlier run left behind
// is gone after the restart's first full sync.
func TestAgentRestartKeepsTraffic(t *testing.T) {
	s := newSystem(t, modeL2PopARP)
	ports, vms := s.seed()
	rp, p1, p2 := ports[0], ports[1], ports[2]
	router, vm1, vm2 := vms[0], vms[1], vms[2]
	tp, n, ctx := s.tp, s.net, s.ctx

	// A stale entry "from an earlier run" on compute1's vxlan device.
	vxl := linux.VXLANName(uint32(n.Segments[0].SegmentationID))
	show(t, tp, "compute1", "bridge", "fdb", "append", "00:00:00:00:00:00", "dev", vxl, "dst", "198.18.0.199", "self", "permanent")

	// 300 pings, 20 ms apart (6 s); the agent restarts in the middle.
	pinger, err := tp.lab.Start(vm1.NS, "ping", "-n", "-q", "-c", "300", "-i", "0.02", "-W", "1", ipOf(p2))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1 * time.Second)
	s.agents["compute1"].stop()
	time.Sleep(500 * time.Millisecond)
	s.startAgent("compute1")
	waitUntil(t, "restarted agent's first full sync", func() bool { return s.agents["compute1"].agent.AppliedRevision() > 0 })
	waitUntil(t, "stale flood entry removed", func() bool {
		out, err := lab.Exec(ctx, tp.lab.Node("compute1").NS, "bridge", "fdb", "show", "dev", vxl)
		return err == nil && !strings.Contains(string(out), "198.18.0.199")
	})
	if err := pinger.Wait(context.Background()); err != nil {
		t.Errorf("ping across the restart: %v\n%s", err, pinger.Output())
	}
	m := pingStats.FindStringSubmatch(pinger.Output())
	if m == nil {
		t.Fatalf("ping output: %s", pinger.Output())
	}
	sent, _ := strconv.Atoi(m[1])
	got, _ := strconv.Atoi(m[2])
	if sent != 300 || got != sent {
		t.Errorf("continuous ping across the agent restart: %d sent, %d received (want no loss)", sent, got)
	}
	t.Logf("continuous ping across agent restart: %d/%d", got, sent)
	// Everything still reaches everything.
	for _, c := range [][2]*lab.VM{{router, vm1}, {vm1, vm2}, {vm2, router}} {
		to := map[*lab.VM]string{router: ipOf(rp), vm1: ipOf(p1), vm2: ipOf(p2)}[c[1]]
		if err := pingOnce(ctx, c[0], to); err != nil {
			t.Errorf("%s -> %s after restart: %v", c[0].Name, c[1].Name, err)
		}
	}
}
