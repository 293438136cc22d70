package dhcp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/vishvananda/netlink"

	"neutrino/internal/dataplane"
	"neutrino/internal/dataplane/linux"
	"neutrino/internal/dataplane/ovs"
	"neutrino/internal/lab"
	"neutrino/internal/vxlan"
)

// bed is a network node ("net", where the DHCP agent runs) and two
// compute nodes joined by a VXLAN underlay, each with the real L2 data plane of
// the mechanism under test: for linuxbridge the kernel's (vxlan devices,
// brq bridges, the DHCP tap enslaved by name), for openvswitch the OVS
// agent's (its own ovsdb-server and ovs-vswitchd per node, br-int and
// br-tun flows, the DHCP tap plugged into br-int by the openvswitch
// interface driver). The test plays the server: it computes what each
// node's L2 agent must hold from the ports it binds there. VMs are
// namespaces asking by DHCP with busybox udhcpc (what cirros runs).
type bed struct {
	t      *testing.T
	ctx    context.Context
	mech   string
	dir    string
	lab    *lab.Lab
	node   *lab.Node // the DHCP node
	other  *lab.Node // a compute node
	far    *lab.Node // a compute node that hosts only another network
	l2     map[*lab.Node]dataplane.Dataplane
	ovs    map[*lab.Node]*lab.OVS
	cfg    Config
	app    *Applier
	vni    map[string]uint32 // network id -> VNI
	bound  []binding         // VM ports
	served []binding         // DHCP ports of the last Apply
}

// binding is a port bound to a node, as the L2 agents learn it.
type binding struct {
	node *lab.Node
	port dataplane.LocalPort
}

// mechanisms are the ML2 mechanism drivers the namespace tests run on,
// with the DHCP agent's interface driver for each.
var mechanisms = []string{"linuxbridge", "openvswitch"}

func requireTools(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root (namespaces, veths, dnsmasq, OVS)")
	}
	for _, b := range []string{"dnsmasq", "busybox", "ovs-vsctl", "ovsdb-server", "ovs-vswitchd"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Fatalf("%s not found (scripts/deps.sh installs dnsmasq-base, busybox and openvswitch-switch): %v", b, err)
		}
	}
}

func newBed(t *testing.T, mech string) *bed {
	requireTools(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	// dnsmasq reads its files as the dnsmasq user once it has dropped
	// root: the state directory must be reachable (t.TempDir's is not).
	dir, err := os.MkdirTemp("", "neutrino-dhcp-")
	if err == nil {
		err = os.Chmod(dir, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	b := &bed{t: t, ctx: ctx, mech: mech, dir: dir, l2: map[*lab.Node]dataplane.Dataplane{},
		ovs: map[*lab.Node]*lab.OVS{}, vni: map[string]uint32{}}
	if b.lab, err = lab.New(ctx, log); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.lab.Teardown(context.Background()); err != nil {
			t.Errorf("teardown: %v", err)
		}
	})
	for _, name := range []string{"net", "compute", "far"} {
		n, err := b.lab.AddNode(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		var dp dataplane.Dataplane
		switch mech {
		case "linuxbridge":
			dp, err = linux.New(linux.Options{NetNS: n.NS, Logger: log})
		case "openvswitch":
			o, err := lab.StartNodeOVS(ctx, n, log)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := o.Stop(); err != nil {
					t.Errorf("stop ovs of %s: %v", name, err)
				}
			})
			b.ovs[n] = o
			dp, err = ovs.New(ctx, ovs.Config{OVSDB: o.OVSDB(), DatapathType: "netdev", NetNS: n.NS}, log.With("node", name))
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = dp.Close() })
		b.l2[n] = dp
		switch name {
		case "net":
			b.node = n
		case "compute":
			b.other = n
		default:
			b.far = n
		}
	}
	b.syncL2() // OVS: br-int exists before anything is plugged into it
	o := DefaultOptions(b.dir)
	o.DNSServers = []string{"198.18.0.53"}
	o.ConfigFile = os.Getenv("DHCP_TEST_DNSMASQ_CONF")
	b.cfg = Config{Options: o, HostNS: b.node.NS, Logger: log}
	if mech == "openvswitch" {
		vifs, err := ovs.NewVIFs(ctx, b.ovs[b.node].OVSDB(), "br-int", log)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(vifs.Close)
		b.cfg.Plugger = OVSPlugger{VIFs: vifs}
	}
	b.app = NewApplier(b.cfg)
	// Runs before the data planes, OVS and the lab go (cleanups are
	// LIFO): a fresh applier removes what the test's made.
	t.Cleanup(func() {
		if err := NewApplier(b.cfg).Remove(context.Background()); err != nil {
			t.Errorf("remove: %v", err)
		}
	})
	return b
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// syncL2 applies to every node what its L2 agent would hold: the networks
// of its ports (VXLAN, MTU 1450, flooding to the other nodes with ports
// on them) and the ports.
func (b *bed) syncL2() {
	b.t.Helper()
	ports := append(append([]binding(nil), b.bound...), b.served...)
	for node, dp := range b.l2 {
		s := dataplane.NodeState{LocalIP: node.IP(), UDPPort: 4789, Tunnels: []netip.Addr{},
			Networks: map[string]dataplane.Network{}, Ports: map[string]dataplane.LocalPort{}}
		for other := range b.l2 {
			if other != node {
				s.Tunnels = append(s.Tunnels, other.IP())
			}
		}
		for _, p := range ports {
			if p.node != node {
				continue
			}
			s.Ports[p.port.ID] = p.port
			var flood []netip.Addr
			for _, q := range ports {
				if q.port.NetworkID == p.port.NetworkID && q.node != node && !slices.Contains(flood, q.node.IP()) {
					flood = append(flood, q.node.IP())
				}
			}
			s.Networks[p.port.NetworkID] = dataplane.Network{ID: p.port.NetworkID, Type: "vxlan",
				VNI: b.vniOf(p.port.NetworkID), MTU: 1450, Flood: flood}
		}
		if err := dp.Apply(b.ctx, s); err != nil {
			b.t.Fatalf("L2 apply on %s: %v", node.Name, err)
		}
	}
}

func (b *bed) vniOf(network string) uint32 {
	if v, ok := b.vni[network]; ok {
		return v
	}
	b.vni[network] = uint32(1001 + len(b.vni))
	return b.vni[network]
}

// vm plugs a VM with a port's MAC into a node as Nova does and starts
// udhcpc in it. The VM's interface starts without address and with MTU
// 1500: DHCP must give both.
func (b *bed) vm(name, mac, network string, on *lab.Node) *lab.DHCPClient {
	t := b.t
	ns := b.plugVM(name, mac, network, on)
	c, err := lab.StartDHCPClient(ns, "eth0", filepath.Join(b.dir, "vm-"+name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stop udhcpc: %v", err)
		}
		t.Logf("udhcpc in %s said:\n%s", ns, c.Output())
	})
	return c
}

// plugVM makes a VM namespace whose eth0 has mac, plugged into node for
// a port on network, has the node's L2 agent attach it, and returns the
// namespace.
func (b *bed) plugVM(name, mac, network string, on *lab.Node) string {
	t := b.t
	port := uuid.NewString()
	vm, err := b.lab.AddVM(b.ctx, on, name, lab.VIF{PortID: port, MAC: mac, MTU: 1450, DHCP: true})
	if err != nil {
		t.Fatal(err)
	}
	if o := b.ovs[on]; o != nil {
		if err := o.PlugVIF(b.ctx, "br-int", vm.Tap, port, mac, "vm-"+name); err != nil {
			t.Fatal(err)
		}
		// ovs-vswitchd reads the veth with AF_PACKET and does not
		// complete partial checksums.
		if err := lab.DisableOffloads(b.ctx, vm.NS, "eth0"); err != nil {
			t.Fatal(err)
		}
	}
	b.bound = append(b.bound, binding{node: on, port: dataplane.LocalPort{ID: port, NetworkID: network, MAC: mac}})
	b.syncL2()
	return vm.NS
}

// apply applies s with the bed's applier, then the L2 agents attach the
// DHCP ports it serves on the DHCP node.
func (b *bed) apply(s State) {
	b.t.Helper()
	b.applyOn(b.app, b.node, s)
}

// applyOn applies s with app, a DHCP agent on node, then the L2 agents
// attach the DHCP ports it serves there (the DHCP ports of the last
// applyOn are the ones served).
func (b *bed) applyOn(app *Applier, node *lab.Node, s State) {
	b.t.Helper()
	if err := app.Apply(b.ctx, s); err != nil {
		b.t.Fatalf("apply on %s: %v", node.Name, err)
	}
	b.served = nil
	for _, n := range s.Networks {
		if served(n) {
			b.served = append(b.served, binding{node: node,
				port: dataplane.LocalPort{ID: n.DHCPPort.ID, NetworkID: n.ID, MAC: n.DHCPPort.MAC}})
		}
	}
	b.syncL2()
}

// pid is the network's dnsmasq pid (failing when none runs).
func (b *bed) pid(n Network) int {
	b.t.Helper()
	pid, same := b.app.running(n)
	if pid == 0 || !same {
		b.t.Fatalf("dnsmasq for %s: pid %d, same command line %v", n.ID, pid, same)
	}
	return pid
}

// renew asks udhcpc to renew (SIGUSR1) until its lease satisfies ok,
// again every 5 seconds: a renewal whose request or answer is lost is
// retried, as a client's timers would.
func (b *bed) renew(c *lab.DHCPClient, what string, ok func(lab.Lease) bool) lab.Lease {
	b.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := c.Renew(); err != nil {
			b.t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		l, err := c.WaitLease(ctx, ok)
		cancel()
		if err == nil {
			return l
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s: %v", what, err)
		}
	}
}

// newLease matches the first lease udhcpc got after before. Under load
// udhcpc's unicast renew can time out and it falls back to rebinding or to
// a fresh discover: the lease then comes as "bound", after a "deconfig"
// or "leasefail" event that carries no address and must not be taken for
// the answer.
func newLease(before lab.Lease) func(lab.Lease) bool {
	return func(l lab.Lease) bool {
		return l.Seq > before.Seq && (l.Event == "renew" || l.Event == "bound")
	}
}

func (b *bed) waitLease(c *lab.DHCPClient, what string, ok func(lab.Lease) bool) lab.Lease {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	l, err := c.WaitLease(ctx, ok)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return l
}

// vmAddr reads the VM's eth0: the address, MTU and default route udhcpc's
// script applied from the lease.
func vmAddr(t *testing.T, ns string) (netip.Prefix, int, netip.Addr) {
	t.Helper()
	h, err := lab.Handle(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	l, err := h.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	as, err := h.AddrList(l, netlink.FAMILY_V4)
	if err != nil || len(as) != 1 {
		t.Fatalf("VM addresses %v (%v), want one", as, err)
	}
	p, _ := prefixOf(as[0].IPNet)
	var gw netip.Addr
	rs, _ := h.RouteList(l, netlink.FAMILY_V4)
	for _, r := range rs {
		if (r.Dst == nil || isDefault(r.Dst)) && r.Gw != nil {
			gw, _ = netip.AddrFromSlice(r.Gw)
			gw = gw.Unmap()
		}
	}
	return p, l.Attrs().MTU, gw
}

// TestServeVMs runs the DHCP service for one network against real dnsmasq
// and udhcpc on both mechanisms' data planes: a VM on the DHCP node and
// one on another node (through the VXLAN tunnel; its DISCOVERs go to the
// DHCP node's VTEP only, as the flood list says) get their addresses,
// and the service goes through a port change, an agent restart, a
// dnsmasq crash, a second subnet and DHCP being turned off.
func TestServeVMs(t *testing.T) {
	for _, mech := range mechanisms {
		t.Run(mech, func(t *testing.T) { serveVMs(t, mech) })
	}
}

func serveVMs(t *testing.T, mech string) {
	b := newBed(t, mech)
	n := Network{ID: uuid.NewString(), MTU: 1450,
		Subnets: []Subnet{{ID: "sub-a", CIDR: pfx("192.168.1.0/24"), IPVersion: 4, Gateway: addr("192.168.1.1"), EnableDHCP: true}},
		DHCPPort: Port{ID: uuid.NewString(), MAC: "fa:16:3e:00:00:02", DeviceOwner: OwnerDHCP,
			FixedIPs: []FixedIP{{SubnetID: "sub-a", Address: addr("192.168.1.2")}}},
		Ports: []Port{
			{ID: uuid.NewString(), MAC: "fa:16:3e:00:00:04", DeviceOwner: "compute:nova",
				FixedIPs: []FixedIP{{SubnetID: "sub-a", Address: addr("192.168.1.4")}}},
			{ID: uuid.NewString(), MAC: "fa:16:3e:00:00:05", DeviceOwner: "compute:nova",
				FixedIPs: []FixedIP{{SubnetID: "sub-a", Address: addr("192.168.1.5")}}},
		},
	}
	b.apply(State{Networks: []Network{n}})
	if !lab.NSExists(Namespace(n.ID)) {
		t.Fatalf("namespace %s missing", Namespace(n.ID))
	}
	pid := b.pid(n)

	// A VM on another network on the far node: a VTEP with a tunnel
	// from every node, but not in the network's flood list.
	b.plugVM("far", "fa:16:3e:00:0f:01", uuid.NewString(), b.far)
	// One VM on the DHCP node, one on the compute node: its DISCOVER
	// crosses the tunnel, to the DHCP node's VTEP only.
	vm1 := b.vm("one", "fa:16:3e:00:00:04", n.ID, b.node)
	stop := b.captureDiscovers(b.other, b.vniOf(n.ID))
	vm2 := b.vm("two", "fa:16:3e:00:00:05", n.ID, b.other)
	for _, c := range []struct {
		vm   *lab.DHCPClient
		want netip.Prefix
	}{{vm1, pfx("192.168.1.4/24")}, {vm2, pfx("192.168.1.5/24")}} {
		l := b.waitLease(c.vm, "first lease", func(l lab.Lease) bool { return l.Event == "bound" })
		// No dns_nameservers on the subnet: dnsmasq offers itself (and
		// forwards to dnsmasq_dns_servers).
		if l.Addr != c.want || l.Router != addr("192.168.1.1") || l.MTU != 1450 ||
			!slices.Equal(l.DNS, []netip.Addr{addr("192.168.1.2")}) || l.Lease != 86400 || l.ServerID != addr("192.168.1.2") {
			t.Fatalf("lease %+v in %s, want %s via 192.168.1.1, MTU 1450, DNS 192.168.1.2, 86400s from 192.168.1.2", l, c.vm.NS, c.want)
		}
		if a, mtu, gw := vmAddr(t, c.vm.NS); a != c.want || mtu != 1450 || gw != addr("192.168.1.1") {
			t.Fatalf("VM eth0 in %s: %s mtu %d gw %s, want %s mtu 1450 gw 192.168.1.1", c.vm.NS, a, mtu, gw, c.want)
		}
	}
	got := stop()
	t.Logf("DISCOVER copies the compute node sent, by VTEP: %v", got)
	if got[b.node.IP()] == 0 || len(got) != 1 {
		t.Errorf("the compute node sent its VM's DISCOVERs to VTEPs %v, want the DHCP node's %s only (not the far node's %s)",
			got, b.node.IP(), b.far.IP())
	}

	t.Run("changed fixed IP is given on renew; dnsmasq reloads, not restarts", func(t *testing.T) {
		n.Ports[0].FixedIPs[0].Address = addr("192.168.1.7")
		b.apply(State{Networks: []Network{n}})
		if p := b.pid(n); p != pid {
			t.Fatalf("dnsmasq pid %d after a port change, want %d (SIGHUP, no restart)", p, pid)
		}
		b.renew(vm1, "renew after the change", func(l lab.Lease) bool { return l.Addr == pfx("192.168.1.7/24") })
		if a, _, _ := vmAddr(t, vm1.NS); a != pfx("192.168.1.7/24") {
			t.Fatalf("VM eth0 %s, want 192.168.1.7/24", a)
		}
	})

	t.Run("agent restart adopts dnsmasq", func(t *testing.T) {
		b.app = NewApplier(b.cfg) // a fresh agent process: no memory
		b.apply(State{Networks: []Network{n}})
		if p := b.pid(n); p != pid {
			t.Fatalf("dnsmasq pid %d after an agent restart, want %d (adopted)", p, pid)
		}
		for _, c := range []struct {
			vm   *lab.DHCPClient
			want netip.Prefix
		}{{vm1, pfx("192.168.1.7/24")}, {vm2, pfx("192.168.1.5/24")}} {
			before, _ := c.vm.Lease()
			l := b.renew(c.vm, "renew after the restart", newLease(before))
			if l.Addr != c.want {
				t.Fatalf("after an agent restart the renew in %s gave %+v, want %s", c.vm.NS, l, c.want)
			}
		}
	})

	t.Run("killed dnsmasq is restarted", func(t *testing.T) {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			if p, _ := b.app.running(n); p == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("killed dnsmasq still seen running")
			}
			time.Sleep(20 * time.Millisecond)
		}
		got, err := b.app.Supervise(b.ctx)
		if err != nil || !slices.Equal(got, []string{n.ID}) {
			t.Fatalf("Supervise = %v, %v; want [%s]", got, err, n.ID)
		}
		if pid = b.pid(n); pid == 0 {
			t.Fatal("no dnsmasq after Supervise")
		}
		if got, err := b.app.Supervise(b.ctx); err != nil || len(got) != 0 {
			t.Fatalf("second Supervise = %v, %v; want nothing to do", got, err)
		}
		before, _ := vm2.Lease()
		l := b.renew(vm2, "renew after the crash", newLease(before))
		if l.Addr != pfx("192.168.1.5/24") {
			t.Fatalf("after a dnsmasq restart the renew gave %+v, want 192.168.1.5/24", l)
		}
	})

	t.Run("taken over by another node's agent: same server, same leases", func(t *testing.T) {
		// The DHCP node's agent is dead and the server moves the network
		// to the compute node's agent with its DHCP port (same MAC and
		// address; a dead node's dnsmasq is gone with it): the VMs'
		// renewals, unicast to the server they know, are answered there.
		cfg := b.cfg
		cfg.HostNS, cfg.ConfsDir = b.other.NS, filepath.Join(b.dir, "compute", "dhcp")
		if b.mech == "openvswitch" {
			vifs, err := ovs.NewVIFs(b.ctx, b.ovs[b.other].OVSDB(), "br-int", cfg.Logger)
			if err != nil {
				t.Fatal(err)
			}
			defer vifs.Close()
			cfg.Plugger = OVSPlugger{VIFs: vifs}
		}
		defer func() {
			if err := NewApplier(cfg).Remove(context.Background()); err != nil {
				t.Errorf("remove on the compute node: %v", err)
			}
		}()
		taker := NewApplier(cfg)
		b.applyOn(b.app, b.node, State{})
		b.applyOn(taker, b.other, State{Networks: []Network{n}})
		for _, c := range []struct {
			vm   *lab.DHCPClient
			want netip.Prefix
		}{{vm1, pfx("192.168.1.7/24")}, {vm2, pfx("192.168.1.5/24")}} {
			before, _ := c.vm.Lease()
			l := b.renew(c.vm, "renew after the take-over", newLease(before))
			if l.Addr != c.want || l.ServerID != addr("192.168.1.2") || l.Router != addr("192.168.1.1") {
				t.Fatalf("after the take-over the renew in %s gave %+v, want %s from 192.168.1.2", c.vm.NS, l, c.want)
			}
		}
		// Back to the DHCP node, for what follows.
		b.applyOn(taker, b.other, State{})
		b.apply(State{Networks: []Network{n}})
	})

	t.Run("second subnet", func(t *testing.T) {
		n.Subnets = append(n.Subnets, Subnet{ID: "sub-b", CIDR: pfx("192.168.2.0/24"), IPVersion: 4, EnableDHCP: true,
			DNSNameservers: []netip.Addr{addr("198.18.0.53")}})
		n.DHCPPort.FixedIPs = append(n.DHCPPort.FixedIPs, FixedIP{SubnetID: "sub-b", Address: addr("192.168.2.2")})
		n.Ports = append(n.Ports, Port{ID: uuid.NewString(), MAC: "fa:16:3e:00:00:25", DeviceOwner: "compute:nova",
			FixedIPs: []FixedIP{{SubnetID: "sub-b", Address: addr("192.168.2.5")}}})
		b.apply(State{Networks: []Network{n}})
		vm3 := b.vm("three", "fa:16:3e:00:00:25", n.ID, b.other)
		l := b.waitLease(vm3, "lease on the second subnet", func(l lab.Lease) bool { return l.Event == "bound" })
		if l.Addr != pfx("192.168.2.5/24") || l.Router.IsValid() || l.MTU != 1450 || !slices.Equal(l.DNS, []netip.Addr{addr("198.18.0.53")}) {
			t.Fatalf("lease %+v, want 192.168.2.5/24, no router, MTU 1450, DNS 198.18.0.53", l)
		}
	})

	t.Run("no DHCP subnet, no namespace", func(t *testing.T) {
		pid := b.pid(n)
		for i := range n.Subnets {
			n.Subnets[i].EnableDHCP = false
		}
		b.apply(State{Networks: []Network{n}})
		if lab.NSExists(Namespace(n.ID)) {
			t.Fatalf("namespace %s still there", Namespace(n.ID))
		}
		if !exited(pid) {
			t.Fatalf("dnsmasq pid %d still running", pid)
		}
		if _, err := os.Stat(b.cfg.Dir(n.ID)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("files of %s still there: %v", n.ID, err)
		}
		b.checkTap(n.DHCPPort.ID, false)
	})

	t.Run("a network without DHCP subnets never gets a namespace", func(t *testing.T) {
		m := Network{ID: uuid.NewString(), MTU: 1450,
			Subnets:  []Subnet{{ID: "s", CIDR: pfx("192.168.9.0/24"), IPVersion: 4, Gateway: addr("192.168.9.1")}},
			DHCPPort: Port{ID: uuid.NewString(), MAC: "fa:16:3e:00:09:02", FixedIPs: []FixedIP{{SubnetID: "s", Address: addr("192.168.9.2")}}},
		}
		b.apply(State{Networks: []Network{n, m}})
		if lab.NSExists(Namespace(m.ID)) {
			t.Fatalf("namespace %s exists for a network without DHCP", Namespace(m.ID))
		}
		if _, err := os.Stat(b.cfg.Dir(m.ID)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("files for a network without DHCP: %v", err)
		}
		b.checkTap(m.DHCPPort.ID, false)
	})
}

// captureDiscovers records on node's underlay the VXLAN copies of DHCP
// DISCOVERs (inner UDP to port 67) it sends on vni; stop returns how
// many went to each VTEP.
func (b *bed) captureDiscovers(node *lab.Node, vni uint32) (stop func() map[netip.Addr]int) {
	b.t.Helper()
	ctx, cancel := context.WithCancel(b.ctx)
	ch, cerr, err := vxlan.Capture(ctx, node.NS, node.Dev, vxlan.Options{UDPDstPort: 4789})
	if err != nil {
		cancel()
		b.t.Fatal(err)
	}
	got := map[netip.Addr]int{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for r := range ch {
			var p vxlan.Packet
			if r.Outgoing && vxlan.Decode(r.Data, &p) == nil && p.IsVXLAN && p.VXLAN.VNI == vni &&
				p.Inner.Layers&vxlan.LayerUDP != 0 && p.Inner.UDP.DstPort == 67 {
				got[p.Outer.IPv4.Dst]++
			}
		}
	}()
	b.t.Cleanup(cancel)
	return func() map[netip.Addr]int {
		cancel()
		<-done
		if err := cerr(); err != nil {
			b.t.Errorf("capture on %s: %v", node.Name, err)
		}
		return got
	}
}

// checkTap checks whether the DHCP node has the DHCP port's tap, and for
// openvswitch its br-int port.
func (b *bed) checkTap(portID string, want bool) {
	b.t.Helper()
	tap := TapDevice(portID)
	h, err := lab.Handle(b.node.NS)
	if err != nil {
		b.t.Fatal(err)
	}
	defer h.Close()
	if _, err := h.LinkByName(tap); (err == nil) != want {
		b.t.Errorf("tap %s on the DHCP node: present %v, want %v", tap, err == nil, want)
	}
	if o := b.ovs[b.node]; o != nil {
		out, err := o.Vsctl(b.ctx, "--timeout=20", "list-ports", "br-int")
		if err != nil {
			b.t.Fatal(err)
		}
		if got := slices.Contains(strings.Fields(out), tap); got != want {
			b.t.Errorf("br-int port %s: present %v, want %v (ports: %s)", tap, got, want, out)
		}
	}
}

// TestApplyTouchesChangedNetworksOnly: Apply leaves a network whose
// desired state did not change alone (one port's change costs one
// network's work), so drift under it waits for Resync, the agent's
// periodic full pass, which repairs it.
func TestApplyTouchesChangedNetworksOnly(t *testing.T) {
	b := newBed(t, "linuxbridge")
	n := Network{ID: uuid.NewString(), MTU: 1450,
		Subnets: []Subnet{{ID: "s", CIDR: pfx("192.168.8.0/24"), IPVersion: 4, Gateway: addr("192.168.8.1"), EnableDHCP: true}},
		DHCPPort: Port{ID: uuid.NewString(), MAC: "fa:16:3e:00:08:02", DeviceOwner: OwnerDHCP,
			FixedIPs: []FixedIP{{SubnetID: "s", Address: addr("192.168.8.2")}}},
	}
	b.apply(State{Networks: []Network{n}})
	h, err := lab.Handle(Namespace(n.ID))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	dev := NSDevice(n.DHCPPort.ID)
	l, err := h.LinkByName(dev)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetDown(l); err != nil {
		t.Fatal(err)
	}
	up := func() bool {
		l, err := h.LinkByName(dev)
		return err == nil && l.Attrs().Flags&net.FlagUp != 0
	}
	b.apply(State{Networks: []Network{n}})
	if up() {
		t.Fatalf("an Apply of an unchanged network touched %s", dev)
	}
	b.app.Resync()
	b.apply(State{Networks: []Network{n}})
	if !up() {
		t.Fatalf("%s still down after Resync and Apply", dev)
	}
	// A changed network is converged at once.
	if err := h.LinkSetDown(l); err != nil {
		t.Fatal(err)
	}
	n.Ports = append(n.Ports, Port{ID: uuid.NewString(), MAC: "fa:16:3e:00:08:04", DeviceOwner: "compute:nova",
		FixedIPs: []FixedIP{{SubnetID: "s", Address: addr("192.168.8.4")}}})
	b.apply(State{Networks: []Network{n}})
	if !up() {
		t.Fatalf("%s down after an Apply of a changed network", dev)
	}
}

// probePlugger plugs as the Linux bridge driver (nothing) and runs check
// at every Plug, collecting what it reports.
type probePlugger struct {
	BridgePlugger
	check   func() string
	plugged int
	found   []string
}

func (p *probePlugger) Plug(_ context.Context, tap string, _ Network) error {
	p.plugged++
	if s := p.check(); s != "" {
		p.found = append(p.found, tap+": "+s)
	}
	return nil
}

// A restarted agent's first Apply may have hundreds of networks to set
// up: a network deleted meanwhile stops being served before any of them,
// not after all.
func TestApplyRemovesDeletedNetworksFirst(t *testing.T) {
	b := newBed(t, "linuxbridge")
	net := func(i int) Network {
		sub := fmt.Sprintf("192.168.%d.", 20+i)
		return Network{ID: uuid.NewString(), MTU: 1450,
			Subnets: []Subnet{{ID: "s", CIDR: pfx(sub + "0/24"), IPVersion: 4, Gateway: addr(sub + "1"), EnableDHCP: true}},
			DHCPPort: Port{ID: uuid.NewString(), MAC: fmt.Sprintf("fa:16:3e:00:%02x:02", 20+i), DeviceOwner: OwnerDHCP,
				FixedIPs: []FixedIP{{SubnetID: "s", Address: addr(sub + "2")}}}}
	}
	deleted, kept, added := net(1), net(2), net(3)
	b.apply(State{Networks: []Network{deleted, kept}})
	pid := b.pid(deleted)
	probe := &probePlugger{check: func() string {
		var s []string
		if lab.NSExists(Namespace(deleted.ID)) {
			s = append(s, "the deleted network's namespace is still there")
		}
		if !exited(pid) {
			s = append(s, fmt.Sprintf("the deleted network's dnsmasq (pid %d) still runs", pid))
		}
		return strings.Join(s, "; ")
	}}
	cfg := b.cfg
	cfg.Plugger = probe
	// A new applier, as after an agent restart: it converges every network.
	if err := NewApplier(cfg).Apply(b.ctx, State{Networks: []Network{kept, added}}); err != nil {
		t.Fatal(err)
	}
	if probe.plugged != 2 {
		t.Fatalf("plugged %d networks, want 2", probe.plugged)
	}
	if len(probe.found) > 0 {
		t.Fatalf("networks were set up before the deleted one was removed:\n%s", strings.Join(probe.found, "\n"))
	}
}

// stop returns once dnsmasq has exited, without waiting for its parent to
// reap it (init reaps a daemonized dnsmasq, which here took 2 s each:
// removing 1,000 networks took over half an hour).
func TestStopDoesNotWaitForReaping(t *testing.T) {
	requireTools(t)
	dir, err := os.MkdirTemp("", "neutrino-dhcp-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ns := "dstop-" + uuid.NewString()[:8]
	if err := lab.CreateNS(ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := lab.DeleteNS(ns); err != nil {
			t.Error(err)
		}
	})
	app := NewApplier(Config{Options: DefaultOptions(dir)})
	id := uuid.NewString()
	if err := os.MkdirAll(app.cfg.Dir(id), 0o755); err != nil {
		t.Fatal(err)
	}
	// Our own child, in the foreground: it stays a zombie until we reap it.
	cmd := exec.Command("dnsmasq", "--keep-in-foreground", "--port=0", "--conf-file=/dev/null", "--pid-file="+app.cfg.File(id, "pid"))
	if err := lab.InNS(ns, cmd.Start); err != nil {
		t.Fatal(err)
	}
	reaped := false
	t.Cleanup(func() {
		if !reaped {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	pid := cmd.Process.Pid
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if p, _ := app.pidOf(id); p == pid {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dnsmasq pid %d wrote no pid file", pid)
		}
	}
	if err := app.stop(id, pid); err != nil {
		t.Fatalf("stop of an exited, unreaped dnsmasq: %v", err)
	}
	for deadline := time.Now().Add(30 * time.Second); !exited(pid); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("stop returned, but dnsmasq pid %d runs", pid)
		}
	}
	_ = cmd.Wait()
	reaped = true
}
