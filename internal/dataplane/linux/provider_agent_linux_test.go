package linux_test

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"neutrino/internal/config"
	"neutrino/internal/l2pop"
	"neutrino/internal/lab"
	"neutrino/internal/ml2"
	"neutrino/internal/neutron"
	"neutrino/internal/rpc"
	"neutrino/internal/store"
	"neutrino/internal/store/storetest"
)

// TestAgentFlatNetwork is a flat provider network end to end: the real
// server (ML2 with the flat type driver and l2population), the real Linux
// bridge agent on two computes with physical_interface_mappings =
// physnet1:eth1 (eth1 on the lab's physnet1 switch) and a third node
// whose agent has no mapping. Ports bind only where the physnet is
// mapped, go ACTIVE once the agent plugged them, and the VMs reach each
// other over the physical network.
func TestAgentFlatNetwork(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	st := storetest.Open(t, store.SQLite)
	scfg := &config.Server{GlobalPhysnetMTU: 1500, BaseMAC: "fa:16:3e:00:00:00", AgentDownTime: 75 * time.Second,
		TypeDrivers: []string{"vxlan", "flat"}, TenantNetworkTypes: []string{"vxlan"}, FlatNetworks: []string{"physnet1"},
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
	tp := newTopo(t, modeL2Pop, "compute1", "compute2", "compute3")
	pn, err := tp.lab.AddPhysnet(tp.ctx, "physnet1")
	if err != nil {
		t.Fatal(err)
	}
	var agents []*lbNode
	t.Cleanup(func() {
		for _, a := range agents {
			a.stop()
		}
	})
	for _, name := range tp.names {
		node := tp.lab.Node(name)
		cfg := &config.Agent{Host: name, TransportURL: "grpc://" + lis.Addr().String(), Namespace: node.NS, LocalIP: node.IP().String(),
			L2Population: true, TunnelTypes: []string{"vxlan"}, EnableVXLAN: true, VXLANUDPPort: 4789,
			PollingInterval: 100 * time.Millisecond, ReportInterval: 200 * time.Millisecond}
		if name != "compute3" {
			if _, err := pn.Join(tp.ctx, node.NS, "eth1"); err != nil {
				t.Fatal(err)
			}
			cfg.InterfaceMappings = map[string]string{"physnet1": "eth1"}
		}
		agents = append(agents, startLBAgent(t, node, cfg))
	}
	waitUntil(t, "three agents, two reporting physnet1", func() bool {
		snap, err := plugin.Snapshot(ctx)
		if err != nil {
			return false
		}
		mapped, all := 0, 0
		for _, a := range snap.Agents {
			all++
			if strings.Contains(string(a.Configurations), `"interface_mappings":{"physnet1":"eth1"}`) {
				mapped++
			}
		}
		return all == 3 && mapped == 2
	})
	netw, err := plugin.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: sysProject, Name: "public",
		Segment: &neutron.Segment{NetworkType: neutron.TypeFlat, PhysicalNetwork: "physnet1"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plugin.CreateSubnet(ctx, neutron.SubnetCreate{ProjectID: sysProject, NetworkID: netw.ID, IPVersion: 4, CIDR: "198.18.100.0/24"}); err != nil {
		t.Fatal(err)
	}
	// compute3 does not map physnet1: Neutron refuses to bind there.
	p3, err := plugin.CreatePort(ctx, neutron.PortCreate{ProjectID: sysProject, NetworkID: netw.ID, DeviceOwner: "compute:nova", DeviceID: "dev-vm3", HostID: "compute3"})
	if err != nil {
		t.Fatal(err)
	}
	if p3.VIFType != neutron.VIFBindingFailed {
		t.Errorf("port on compute3 (no mapping) bound as %q, want binding_failed", p3.VIFType)
	}
	var vms []*tvm
	for i, host := range []string{"compute1", "compute2"} {
		p, err := plugin.CreatePort(ctx, neutron.PortCreate{ProjectID: sysProject, NetworkID: netw.ID, DeviceOwner: "compute:nova", DeviceID: "dev-vm", HostID: host})
		if err != nil {
			t.Fatal(err)
		}
		if p.VIFType != neutron.VIFBridge {
			t.Fatalf("port on %s bound as %q, want bridge", host, p.VIFType)
		}
		a := netip.MustParseAddr(p.FixedIPs[0].IPAddress)
		v := &tvm{name: "vm" + string(rune('1'+i)), node: host, port: p.ID, mac: p.MACAddress, addr: netip.PrefixFrom(a, 24)}
		if v.vm, err = tp.lab.AddVM(tp.ctx, tp.lab.Node(host), v.name, labVIF(p, v.addr, netw.MTU)); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "port on "+host+" ACTIVE", func() bool {
			q, err := plugin.GetPort(ctx, p.ID)
			return err == nil && q.Status == neutron.StatusActive
		})
		vms = append(vms, v)
	}
	// The agents put eth1 in the network's bridge and the taps with it.
	for _, host := range []string{"compute1", "compute2"} {
		waitUntil(t, "eth1 in the flat network's bridge on "+host, func() bool {
			out, err := execIn(tp, host, "ip", "-o", "link", "show", "eth1")
			return err == nil && strings.Contains(out, "master brq"+netw.ID[:11])
		})
	}
	waitUntil(t, "vm1 reaches vm2 over physnet1", func() bool { return tp.ping(vms[0], vms[1].addr.Addr()) == nil })
	if err := tp.ping(vms[1], vms[0].addr.Addr()); err != nil {
		t.Errorf("vm2 -> vm1: %v", err)
	}
	// No vxlan device for a flat network.
	if out, _ := execIn(tp, "compute1", "ip", "-o", "link", "show", "type", "vxlan"); strings.TrimSpace(out) != "" {
		t.Errorf("vxlan devices on compute1 for a flat network: %s", out)
	}
}

func labVIF(p *neutron.Port, addr netip.Prefix, mtu int) lab.VIF {
	return lab.VIF{PortID: p.ID, MAC: p.MACAddress, Addr: addr, MTU: mtu}
}

func execIn(tp *topo, node string, argv ...string) (string, error) {
	out, err := lab.Exec(tp.ctx, tp.lab.Node(node).NS, argv...)
	return string(out), err
}
