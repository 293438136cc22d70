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

func startLBAgent(t *testing.T, node *lab.Node, url string) *lbNode {
	t.Helper()
	cfg := &config.Agent{Host: node.Name, TransportURL: url, Namespace: node.NS, LocalIP: node.IP().String(),
		L2Population: true, ARPResponder: true, TunnelTypes: []string{"vxlan"}, EnableVXLAN: true, VXLANUDPPort: 4789,
		PollingInterval: 100 * time.Millisecond, ReportInterval: 200 * time.Millisecond}
	dp, err := linux.New(linux.Options{NetNS: cfg.Namespace})
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

// TestAgentRestartKeepsTraffic runs the seed with the real server side
// (ML2 plugin on SQLite, the gRPC agent service with l2population) and the
// real Linux bridge agent on each node. A continuous ping between the VMs
// loses nothing while compute1's agent is stopped and started again, and
// an FDB entry an earlier run left behind is gone after the restart's
// first full sync.
func TestAgentRestartKeepsTraffic(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	st := storetest.Open(t, store.SQLite)
	scfg := &config.Server{GlobalPhysnetMTU: 1500, BaseMAC: "fa:16:3e:00:00:00", AgentDownTime: 75 * time.Second,
		TypeDrivers: []string{"vxlan"}, TenantNetworkTypes: []string{"vxlan"},
		MechanismDrivers: []string{"linuxbridge", "l2population"}, VNIRanges: []config.Range{{Min: 1001, Max: 2000}}}
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
	url := "grpc://" + lis.Addr().String()

	tp := newTopo(t, modeL2PopARP, "controller", "compute1", "compute2")
	agents := map[string]*lbNode{}
	for _, name := range tp.names {
		// The topo's own data planes stay idle here: the agents program.
		agents[name] = startLBAgent(t, tp.lab.Node(name), url)
	}
	t.Cleanup(func() {
		for _, a := range agents {
			a.stop()
		}
	})
	waitUntil(t, "three live Linux bridge agents", func() bool {
		s, err := plugin.Snapshot(ctx)
		if err != nil {
			return false
		}
		alive := 0
		for _, a := range s.Agents {
			if a.AgentType == neutron.AgentTypeLinuxBridge {
				alive++
			}
		}
		return alive == 3
	})

	const project = "b0000000000000000000000000000002"
	n, err := plugin.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: project, Name: "testnet"})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := plugin.CreateSubnet(ctx, neutron.SubnetCreate{ProjectID: project, NetworkID: n.ID, IPVersion: 4, CIDR: "192.168.1.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	boot := func(name, host, owner string, ips []neutron.FixedIPRequest) (*neutron.Port, *lab.VM) {
		t.Helper()
		p, err := plugin.CreatePort(ctx, neutron.PortCreate{ProjectID: project, NetworkID: n.ID, DeviceOwner: owner,
			DeviceID: "dev-" + name, HostID: host, FixedIPs: ips})
		if err != nil {
			t.Fatalf("port %s: %v", name, err)
		}
		if p.VIFType != "bridge" {
			t.Fatalf("port %s bound as %q, want bridge", name, p.VIFType)
		}
		vif := lab.VIF{PortID: p.ID, MAC: p.MACAddress, Addr: netip.PrefixFrom(netip.MustParseAddr(p.FixedIPs[0].IPAddress), 24), MTU: n.MTU}
		var vm *lab.VM
		if owner == "network:router_interface" {
			vm, err = tp.lab.AddRouter(ctx, tp.lab.Node(host), name, vif)
		} else {
			vm, err = tp.lab.AddVM(ctx, tp.lab.Node(host), name, vif)
		}
		if err != nil {
			t.Fatal(err)
		}
		return p, vm
	}
	rp, router := boot("r1", "controller", "network:router_interface", []neutron.FixedIPRequest{{SubnetID: sub.ID, IPAddress: sub.GatewayIP}})
	p1, vm1 := boot("vm1", "compute1", "compute:nova", nil)
	p2, vm2 := boot("vm2", "compute2", "compute:nova", nil)
	for _, p := range []*neutron.Port{rp, p1, p2} {
		waitUntil(t, "port "+p.ID+" ACTIVE", func() bool {
			q, err := plugin.GetPort(ctx, p.ID)
			return err == nil && q.Status == neutron.StatusActive
		})
	}
	ipOf := func(p *neutron.Port) string { return p.FixedIPs[0].IPAddress }
	pingOnce := func(from *lab.VM, to string) error {
		_, err := lab.Exec(ctx, from.NS, "ping", "-n", "-q", "-c", "3", "-i", "0.2", "-W", "2", to)
		return err
	}
	// Entries arrive asynchronously after ACTIVE; wait for them.
	waitUntil(t, "l2population entries on every node", func() bool {
		return pingOnce(router, ipOf(p1)) == nil && pingOnce(vm1, ipOf(p2)) == nil && pingOnce(vm2, ipOf(rp)) == nil
	})

	// A stale entry "from an earlier run" on compute1's vxlan device.
	vxl := linux.VXLANName(uint32(n.Segments[0].SegmentationID))
	show(t, tp, "compute1", "bridge", "fdb", "append", "00:00:00:00:00:00", "dev", vxl, "dst", "198.18.0.199", "self", "permanent")

	// 300 pings, 20 ms apart (6 s); the agent restarts in the middle.
	pinger, err := tp.lab.Start(vm1.NS, "ping", "-n", "-q", "-c", "300", "-i", "0.02", "-W", "1", ipOf(p2))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1 * time.Second)
	agents["compute1"].stop()
	time.Sleep(500 * time.Millisecond)
	agents["compute1"] = startLBAgent(t, tp.lab.Node("compute1"), url)
	waitUntil(t, "restarted agent's first full sync", func() bool { return agents["compute1"].agent.AppliedRevision() > 0 })
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
		if err := pingOnce(c[0], to); err != nil {
			t.Errorf("%s -> %s after restart: %v", c[0].Name, c[1].Name, err)
		}
	}
}
