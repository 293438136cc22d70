package main

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"neutrino/internal/agent"
	"neutrino/internal/api"
	"neutrino/internal/config"
	"neutrino/internal/dataplane/linux"
	"neutrino/internal/dhcp"
	"neutrino/internal/l2pop"
	"neutrino/internal/lab"
	"neutrino/internal/ml2"
	"neutrino/internal/neutron"
	"neutrino/internal/rpc"
	"neutrino/internal/store"
	"neutrino/internal/store/storetest"
)

// TestVMBootListDelete drives `neutrino vm boot|list|delete` against the
// real API (ML2 on SQLite), the gRPC agent service and a Linux bridge agent
// per lab node, with the lab state file telling the command which
// namespace is which host.
func TestVMBootListDelete(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test builds network namespaces and needs root: run `make test` (as root)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	st := storetest.Open(t, store.SQLite)
	scfg := &config.Server{GlobalPhysnetMTU: 1500, BaseMAC: "fa:16:3e:00:00:00", AgentDownTime: 75 * time.Second,
		TypeDrivers: []string{"vxlan"}, TenantNetworkTypes: []string{"vxlan"},
		MechanismDrivers: []string{"linuxbridge", "l2population"}, VNIRanges: []config.Range{{Min: 1001, Max: 2000}}}
	plugin, err := ml2.New(ctx, st, scfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	httpSrv := httptest.NewServer(api.New(plugin, api.Options{}))
	defer httpSrv.Close()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rpcSrv := rpc.NewServer(plugin, rpc.ServerConfig{L2Pop: l2pop.Config{Enabled: true}, PollInterval: 50 * time.Millisecond})
	sctx, scancel := context.WithCancel(ctx)
	sdone := make(chan error, 1)
	go func() { sdone <- rpcSrv.Serve(sctx, lis) }()
	defer func() { scancel(); <-sdone }()

	l, err := lab.New(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := l.Teardown(context.Background()); err != nil {
			t.Errorf("teardown: %v", err)
		}
		if left, _ := os.ReadDir("/run/netns"); len(left) > 0 {
			for _, e := range left {
				if strings.HasPrefix(e.Name(), l.Prefix) {
					t.Errorf("namespace %s left behind", e.Name())
				}
			}
		}
	}()
	var stops []func()
	defer func() {
		for _, s := range stops {
			s()
		}
	}()
	for _, name := range []string{"controller", "compute1", "compute2"} {
		node, err := l.AddNode(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		cfg := &config.Agent{Host: name, TransportURL: "grpc://" + lis.Addr().String(), Namespace: node.NS,
			LocalIP: node.IP().String(), L2Population: true, ARPResponder: true, TunnelTypes: []string{"vxlan"},
			EnableVXLAN: true, VXLANUDPPort: 4789, PollingInterval: 100 * time.Millisecond, ReportInterval: 200 * time.Millisecond}
		dp, err := linux.New(linux.Options{NetNS: node.NS})
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
		actx, acancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); _ = a.Run(actx) }()
		stops = append(stops, func() { acancel(); <-done; client.Close(); dp.Close() })
	}
	// The DHCP agent on the controller answers the VMs' udhcpc. dnsmasq
	// reads its files as the dnsmasq user: the directory is reachable.
	dhcpState, err := os.MkdirTemp("", "neutrino-vm-dhcp-")
	if err == nil {
		err = os.Chmod(dhcpState, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	{
		ctlNS := l.Node("controller").NS
		app := dhcp.NewApplier(dhcp.Config{Options: dhcp.DefaultOptions(dhcpState), HostNS: ctlNS})
		client, err := rpc.Dial(rpc.ClientConfig{Target: lis.Addr().String()})
		if err != nil {
			t.Fatal(err)
		}
		a := dhcp.NewAgent(dhcp.AgentConfig{Host: "controller", ReportInterval: 200 * time.Millisecond, LeaseDuration: 86400}, app, client, &rpc.DHCPSource{Client: client})
		actx, acancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); _ = a.Run(actx) }()
		// Stopped before the lab goes: its dnsmasq and qdhcp- namespace
		// stay when the agent stops (for a restart to adopt), so remove them.
		stops = append(stops, func() {
			acancel()
			<-done
			client.Close()
			if err := app.Remove(context.Background()); err != nil {
				t.Errorf("remove the DHCP agent's dnsmasq and namespace: %v", err)
			}
			os.RemoveAll(dhcpState)
		})
	}
	stateDir := t.TempDir()
	if err := lab.WriteState(stateDir, lab.State{Prefix: l.Prefix, Mechanism: "linuxbridge", Hosts: l.HostState("linuxbridge")}); err != nil {
		t.Fatal(err)
	}
	// Agents must be alive before ports can bind to their hosts.
	deadline := time.Now().Add(60 * time.Second)
	for {
		s, err := plugin.Snapshot(ctx)
		if err == nil && len(s.Agents) == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("agents did not register")
		}
		time.Sleep(50 * time.Millisecond)
	}
	const project = "b0000000000000000000000000000002"
	n, err := plugin.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: project, Name: "testnet"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plugin.CreateSubnet(ctx, neutron.SubnetCreate{ProjectID: project, NetworkID: n.ID, IPVersion: 4, CIDR: "192.168.1.0/24"}); err != nil {
		t.Fatal(err)
	}

	run := func(args ...string) string {
		t.Helper()
		cmd := vmCmd(slog.New(slog.DiscardHandler))
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(append(args, "--os-url", httpSrv.URL, "--os-project-id", project, "--state-dir", stateDir))
		if err := cmd.ExecuteContext(ctx); err != nil {
			t.Fatalf("vm %s: %v\n%s", strings.Join(args, " "), err, out.String())
		}
		return out.String()
	}
	out := run("boot", "--network", "testnet", "--host", "compute1", "--name", "web")
	if !strings.Contains(out, "| web ") || !strings.Contains(out, "ACTIVE") || !strings.Contains(out, "compute1") || !strings.Contains(out, "testnet=192.168.1.") {
		t.Errorf("vm boot output:\n%s", out)
	}
	out = run("boot", "--network", n.ID, "--host", "compute2", "--count", "2")
	if strings.Count(out, "ACTIVE") != 2 || strings.Count(out, "compute2") != 2 {
		t.Errorf("vm boot --count 2 output:\n%s", out)
	}
	s, err := lab.ReadState(stateDir)
	if err != nil || len(s.VMs) != 3 {
		t.Fatalf("state after boots: %v %+v", err, s.VMs)
	}
	// The VMs reach each other across the overlay.
	var web lab.VMRecord
	var ips []string
	for _, v := range s.VMs {
		p, err := plugin.GetPort(ctx, v.PortID)
		if err != nil {
			t.Fatal(err)
		}
		if p.DeviceOwner != "compute:nova" || p.HostID != v.Host || p.Status != neutron.StatusActive {
			t.Errorf("port of %s: owner %q host %q status %q", v.Name, p.DeviceOwner, p.HostID, p.Status)
		}
		// The VM got its port's address by DHCP, with the gateway, the
		// network's MTU and the DHCP server as DNS server.
		if l := v.DHCP; l == nil || l.Addr.String() != p.FixedIPs[0].IPAddress+"/24" || l.Router.String() != "192.168.1.1" ||
			l.MTU != n.MTU || len(l.DNS) != 1 || l.DNS[0] != l.ServerID {
			t.Errorf("DHCP lease of %s: %+v, want %s/24 via 192.168.1.1, MTU %d, the DHCP server as DNS", v.Name, l, p.FixedIPs[0].IPAddress, n.MTU)
		}
		if v.Name == "web" {
			web = v
		} else {
			ips = append(ips, p.FixedIPs[0].IPAddress)
		}
	}
	for _, ip := range ips {
		deadline := time.Now().Add(30 * time.Second)
		for {
			_, err := lab.Exec(ctx, web.Namespace, "ping", "-n", "-q", "-c", "2", "-i", "0.2", "-W", "2", ip)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("web -> %s: %v", ip, err)
				break
			}
		}
	}
	list := run("list")
	t.Logf("vm list:\n%s", list)
	if strings.Count(list, "ACTIVE") != 3 || strings.Count(list, "Running") != 3 || !strings.Contains(list, "| Power State |") ||
		strings.Count(list, " mtu 1450 ") != 3 {
		t.Errorf("vm list:\n%s", list)
	}
	run("delete", "web")
	s, _ = lab.ReadState(stateDir)
	if len(s.VMs) != 2 || lab.NSExists(web.Namespace) {
		t.Errorf("after delete: %d VMs in state, namespace left: %v", len(s.VMs), lab.NSExists(web.Namespace))
	}
	if _, err := plugin.GetPort(ctx, web.PortID); err == nil {
		t.Error("web's port survived vm delete")
	}
	if list := run("list"); strings.Contains(list, "web") || strings.Count(list, "ACTIVE") != 2 {
		t.Errorf("vm list after delete:\n%s", list)
	}
}
