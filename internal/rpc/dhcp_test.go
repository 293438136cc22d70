package rpc

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"reflect"
	"sync"
	"testing"
	"time"

	"neutrino/internal/config"
	"neutrino/internal/dhcp"
	"neutrino/internal/dhcpview"
	"neutrino/internal/ml2"
	"neutrino/internal/neutron"
	"neutrino/internal/store"
	"neutrino/internal/store/storetest"
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
	srv := NewServer(p, ServerConfig{PollInterval: 10 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
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
	eventually(t, "compute-1's first (empty) state", func() bool { _, _, calls := f1.get(); return calls == 1 })

	n1, err := p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: "tenant", Name: "testnet"})
	if err != nil {
		t.Fatal(err)
	}
	s1, err := p.CreateSubnet(ctx, neutron.SubnetCreate{ProjectID: "tenant", NetworkID: n1.ID, IPVersion: 4, CIDR: "192.168.1.0/24",
		DNSNameservers: []string{"198.18.0.53"}})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "testnet with its DHCP port on compute-1", func() bool {
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
	eventually(t, "compute-2's first state", func() bool { _, _, calls := f2.get(); return calls == 1 })
	vm, err := p.CreatePort(ctx, neutron.PortCreate{ProjectID: "tenant", NetworkID: n1.ID, Name: "vm-a", DeviceOwner: "compute:nova", DeviceID: "vm-a"})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the VM port on compute-1", func() bool {
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
	eventually(t, "net2 on compute-2", func() bool {
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
	eventually(t, "testnet gone from compute-1", func() bool { st, _, _ := f1.get(); return len(st.Networks) == 0 })

	// What every agent holds equals a fresh snapshot's view.
	snap, err := p.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fresh := dhcpview.NewModel(snap)
	for host, f := range map[string]*dhcpFollower{"compute-1": f1, "compute-2": f2} {
		eventually(t, host+" at the server's revision of its state", func() bool {
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
