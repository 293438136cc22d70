package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"neutrino/internal/config"
	"neutrino/internal/dhcp"
	"neutrino/internal/dhcpview"
	"neutrino/internal/l2pop"
	"neutrino/internal/ml2"
	"neutrino/internal/neutron"
	"neutrino/internal/store"
	"neutrino/internal/store/storetest"
	"neutrino/internal/waittest"
)

// dhcpFollower records what a DHCPSource yields for one host.
type dhcpFollower struct {
	mu    sync.Mutex
	st    dhcp.State
	rev   int64
	calls int
}

func (f *dhcpFollower) get() (dhcp.State, int64, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st, f.rev, f.calls
}

// follow runs a DHCPSource for host as the DHCP agent does: Watch again
// whenever a stream ends.
func follow(t *testing.T, c *Client, host string) *dhcpFollower {
	t.Helper()
	f := &dhcpFollower{}
	src := &DHCPSource{Client: c}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			src.Watch(ctx, host, func(st dhcp.State) error {
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

// startPluginServer serves agents from a real ml2 plugin on SQLite.
func startPluginServer(t *testing.T) (*ml2.Plugin, *Server, string) {
	t.Helper()
	ctx := context.Background()
	cfg := &config.Server{GlobalPhysnetMTU: 1500, BaseMAC: "fa:16:3e:00:00:00", AgentDownTime: 75 * time.Second,
		TypeDrivers: []string{"vxlan"}, TenantNetworkTypes: []string{"vxlan"}, MechanismDrivers: []string{"openvswitch", "l2population"},
		VNIRanges: []config.Range{{Min: 1001, Max: 2000}}, DHCPAgentsPerNetwork: 1}
	p, err := ml2.New(ctx, storetest.Open(t, store.SQLite), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(p, ServerConfig{PollInterval: 10 * time.Millisecond, Logger: slog.New(slog.DiscardHandler),
		L2Pop: l2pop.Config{Enabled: true}})
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, lis) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	})
	return p, srv, lis.Addr().String()
}

func dhcpAgentReport(host string) neutron.AgentReport {
	return neutron.AgentReport{AgentType: neutron.AgentTypeDHCP, Binary: "neutron-dhcp-agent", Host: host, Topic: "dhcp_agent",
		Configurations: json.RawMessage(`{"dhcp_driver":"neutron.agent.linux.dhcp.Dnsmasq","dhcp_lease_duration":86400,"networks":0,"ports":0,"subnets":0}`),
		StartFlag:      true}
}

// The DHCP agents' stream end to end, with the real scheduler: agents
// register over gRPC, networks are scheduled to them with their DHCP
// ports, each agent's DHCPSource state is what a fresh snapshot gives,
// and a change reaches only the agent hosting its network.
func TestDHCPStream(t *testing.T) {
	ctx := context.Background()
	p, srv, addr := startPluginServer(t)
	c := dial(t, addr, ClientConfig{})
	if _, err := c.ReportState(ctx, dhcpAgentReport("compute-1")); err != nil {
		t.Fatal(err)
	}
	f1 := follow(t, c, "compute-1")
	waittest.For(t, "compute-1's first (empty) state", func() bool { _, _, calls := f1.get(); return calls == 1 })

	n1, err := p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: "tenant", Name: "testnet"})
	if err != nil {
		t.Fatal(err)
	}
	s1, err := p.CreateSubnet(ctx, neutron.SubnetCreate{ProjectID: "tenant", NetworkID: n1.ID, IPVersion: 4, CIDR: "192.168.1.0/24",
		DNSNameservers: []string{"198.18.0.53"}})
	if err != nil {
		t.Fatal(err)
	}
	waittest.For(t, "testnet with its DHCP port on compute-1", func() bool {
		st, _, _ := f1.get()
		return len(st.Networks) == 1 && st.Networks[0].DHCPPort.ID != ""
	})
	st, _, _ := f1.get()
	n := st.Networks[0]
	if n.ID != n1.ID || n.MTU != 1450 || len(n.Subnets) != 1 || n.Subnets[0].ID != s1.ID || !n.Subnets[0].EnableDHCP ||
		n.Subnets[0].Gateway.String() != "192.168.1.1" || len(n.Subnets[0].DNSNameservers) != 1 ||
		len(n.DHCPPort.FixedIPs) != 1 || n.DHCPPort.FixedIPs[0].Address.String() != "192.168.1.2" || n.DHCPPort.DeviceOwner != neutron.DeviceOwnerDHCP {
		t.Fatalf("compute-1 serves %+v", st)
	}

	// A second agent takes the next network; a port on testnet reaches
	// compute-1 only.
	if _, err := c.ReportState(ctx, dhcpAgentReport("compute-2")); err != nil {
		t.Fatal(err)
	}
	f2 := follow(t, c, "compute-2")
	waittest.For(t, "compute-2's first state", func() bool { _, _, calls := f2.get(); return calls == 1 })
	vm, err := p.CreatePort(ctx, neutron.PortCreate{ProjectID: "tenant", NetworkID: n1.ID, Name: "vm-a", DeviceOwner: "compute:nova", DeviceID: "vm-a"})
	if err != nil {
		t.Fatal(err)
	}
	waittest.For(t, "the VM port on compute-1", func() bool {
		st, _, _ := f1.get()
		return len(st.Networks) == 1 && len(st.Networks[0].Ports) == 1 && st.Networks[0].Ports[0].ID == vm.ID
	})
	n2, err := p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: "tenant", Name: "net2"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.CreateSubnet(ctx, neutron.SubnetCreate{ProjectID: "tenant", NetworkID: n2.ID, IPVersion: 4, CIDR: "10.0.2.0/24"}); err != nil {
		t.Fatal(err)
	}
	waittest.For(t, "net2 on compute-2", func() bool {
		st, _, _ := f2.get()
		return len(st.Networks) == 1 && st.Networks[0].ID == n2.ID && st.Networks[0].DHCPPort.ID != ""
	})
	// Messages come in revision order: had compute-2 been sent the VM
	// port's change, it would have come before net2's.
	if _, _, calls := f2.get(); calls > 3 {
		t.Errorf("compute-2 got %d states; changes of testnet reached it", calls)
	}

	// Disabling DHCP takes testnet off compute-1.
	if _, err := p.UpdateSubnet(ctx, s1.ID, neutron.SubnetUpdate{EnableDHCP: new(bool)}); err != nil {
		t.Fatal(err)
	}
	waittest.For(t, "testnet gone from compute-1", func() bool { st, _, _ := f1.get(); return len(st.Networks) == 0 })

	// What every agent holds equals a fresh snapshot's view.
	snap, err := p.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fresh := dhcpview.NewModel(snap)
	for host, f := range map[string]*dhcpFollower{"compute-1": f1, "compute-2": f2} {
		waittest.For(t, host+" at the server's revision of its state", func() bool {
			_, rev, _ := f.get()
			_, want := srv.dhcp.view(host)
			return srv.Revision() >= snap.Revision && rev == want
		})
		held, _, _ := f.get()
		if want := fresh.View(host); !reflect.DeepEqual(held, want) {
			t.Errorf("%s holds %+v, a fresh snapshot gives %+v", host, held, want)
		}
	}
}

// l2Flood is the flood list of network id in host's L2 view, from a fresh
// snapshot of the watch stream; ok is false when the view lacks the
// network.
func l2Flood(t *testing.T, c *Client, host, id string) (flood []netip.Addr, ok bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errGot := errors.New("got the snapshot")
	err := c.Watch(ctx, host, 0, func(u Update) error {
		if u.Snapshot != nil {
			var nv l2pop.NetView
			nv, ok = u.Snapshot.Networks[id]
			flood = nv.Flood
		}
		return errGot
	})
	if !errors.Is(err, errGot) {
		t.Fatalf("watch %s: %v", host, err)
	}
	return flood, ok
}

// With l2population, the flood list of a network includes the node whose
// DHCP agent serves it, once its L2 agent has the DHCP port up, so a VM's
// DISCOVER is copied to that node; a node without ports on the network is
// not in the list, and gets no copy.
func TestFloodListIncludesDHCPNode(t *testing.T) {
	ctx := context.Background()
	p, _, addr := startPluginServer(t)
	c := dial(t, addr, ClientConfig{})
	vteps := map[string]netip.Addr{"controller": netip.MustParseAddr("198.18.0.1"),
		"compute-1": netip.MustParseAddr("198.18.0.2"), "compute-2": netip.MustParseAddr("198.18.0.3")}
	for host, ip := range vteps {
		register(t, c, host, ip.String(), true)
	}
	if _, err := c.ReportState(ctx, dhcpAgentReport("controller")); err != nil {
		t.Fatal(err)
	}
	dhcpView := follow(t, c, "controller")
	vmOn := func(host, network string) {
		t.Helper()
		pt, err := p.CreatePort(ctx, neutron.PortCreate{ProjectID: "tenant", NetworkID: network, DeviceOwner: "compute:nova",
			DeviceID: "vm-" + host, HostID: host})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.UpdateDevice(ctx, host, pt.ID, true); err != nil {
			t.Fatal(err)
		}
	}
	network := func(name, cidr string) string {
		t.Helper()
		n, err := p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: "tenant", Name: name})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.CreateSubnet(ctx, neutron.SubnetCreate{ProjectID: "tenant", NetworkID: n.ID, IPVersion: 4, CIDR: cidr}); err != nil {
			t.Fatal(err)
		}
		return n.ID
	}
	testnet := network("testnet", "192.168.1.0/24")
	vmOn("compute-1", testnet)
	// compute-2 is a VTEP with a VM, on another network only.
	vmOn("compute-2", network("other", "10.0.2.0/24"))

	var dhcpPort string
	waittest.For(t, "the controller's DHCP agent serving testnet", func() bool {
		st, _, _ := dhcpView.get()
		for _, n := range st.Networks {
			if n.ID == testnet && n.DHCPPort.ID != "" {
				dhcpPort = n.DHCPPort.ID
			}
		}
		return dhcpPort != ""
	})
	// Bound to the controller but not up yet: no flood entry (as
	// Neutron's l2population, which announces ports once ACTIVE).
	if flood, _ := l2Flood(t, c, "compute-1", testnet); slices.Contains(flood, vteps["controller"]) {
		t.Fatalf("compute-1 floods testnet to %v before the DHCP port is up", flood)
	}
	// The controller's L2 agent plugs the DHCP agent's tap and reports it.
	if _, err := c.UpdateDevice(ctx, "controller", dhcpPort, true); err != nil {
		t.Fatal(err)
	}
	waittest.For(t, "compute-1 flooding testnet to the DHCP node only", func() bool {
		flood, _ := l2Flood(t, c, "compute-1", testnet)
		return slices.Equal(flood, []netip.Addr{vteps["controller"]})
	})
	if flood, ok := l2Flood(t, c, "controller", testnet); !ok || !slices.Equal(flood, []netip.Addr{vteps["compute-1"]}) {
		t.Errorf("the controller floods testnet to %v (in view: %v), want compute-1's VTEP only", flood, ok)
	}
	if flood, ok := l2Flood(t, c, "compute-2", testnet); ok {
		t.Errorf("compute-2, without ports on testnet, has it in its view (flood %v)", flood)
	}
}

// A network moved off a dead DHCP agent reaches the agent that takes it
// over the stream with the same DHCP port (id, MAC, address: the server
// its VMs renew their leases from), and leaves the dead agent's view.
func TestDHCPStreamTakeOver(t *testing.T) {
	ctx := context.Background()
	p, _, addr := startPluginServer(t)
	var skew atomic.Int64 // how far the server's clock is ahead
	p.SetClock(func() time.Time { return time.Now().Add(time.Duration(skew.Load())) })
	c := dial(t, addr, ClientConfig{})
	report := func(host string) {
		t.Helper()
		if _, err := c.ReportState(ctx, dhcpAgentReport(host)); err != nil {
			t.Fatal(err)
		}
	}
	report("compute-1")
	f1 := follow(t, c, "compute-1")
	n1, err := p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: "tenant", Name: "testnet"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.CreateSubnet(ctx, neutron.SubnetCreate{ProjectID: "tenant", NetworkID: n1.ID, IPVersion: 4, CIDR: "192.168.1.0/24"}); err != nil {
		t.Fatal(err)
	}
	waittest.For(t, "testnet with its DHCP port on compute-1", func() bool {
		st, _, _ := f1.get()
		return len(st.Networks) == 1 && st.Networks[0].DHCPPort.ID != ""
	})
	st, _, _ := f1.get()
	was := st.Networks[0].DHCPPort
	report("compute-2")
	f2 := follow(t, c, "compute-2")

	// compute-1 silent for more than agent_down_time (75 s): dead, but it
	// keeps the network; for more than twice that, it loses it.
	skew.Store(int64(100 * time.Second))
	report("compute-2")
	if n, err := p.RescheduleDHCP(ctx); err != nil || n != 0 {
		t.Fatalf("reschedule 100 s after compute-1's report: %d networks, %v", n, err)
	}
	skew.Store(int64(151 * time.Second))
	report("compute-2")
	if n, err := p.RescheduleDHCP(ctx); err != nil || n != 1 {
		t.Fatalf("reschedule 151 s after compute-1's report: %d networks, %v", n, err)
	}
	waittest.For(t, "testnet on compute-2", func() bool {
		st, _, _ := f2.get()
		return len(st.Networks) == 1 && st.Networks[0].DHCPPort.ID != ""
	})
	waittest.For(t, "testnet gone from compute-1", func() bool { st, _, _ := f1.get(); return len(st.Networks) == 0 })
	st, _, _ = f2.get()
	if got := st.Networks[0].DHCPPort; !reflect.DeepEqual(got, was) || got.FixedIPs[0].Address.String() != "192.168.1.2" {
		t.Fatalf("compute-2 serves on %+v; compute-1 served on %+v", got, was)
	}
}
