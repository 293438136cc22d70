package dhcp

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"neutrino/internal/lab"
)

// bed is a host namespace with a Linux bridge standing in for the L2
// agent's brq bridge, an Applier whose taps go there, and VM namespaces
// asking by DHCP with busybox udhcpc (what cirros runs).
type bed struct {
	t      *testing.T
	ctx    context.Context
	prefix string
	host   string
	dir    string
	cfg    Config
	app    *Applier
}

const testBridge = "brq-dhcptest"

// bridgePlugger enslaves the tap to the test bridge: the Linux bridge
// agent's part.
type bridgePlugger struct{ ns string }

func (p bridgePlugger) Plug(_ context.Context, tap string, _ Network) error {
	h, err := lab.Handle(p.ns)
	if err != nil {
		return err
	}
	defer h.Close()
	br, err := h.LinkByName(testBridge)
	if err != nil {
		return err
	}
	l, err := h.LinkByName(tap)
	if err != nil {
		return err
	}
	return h.LinkSetMaster(l, br)
}

func (bridgePlugger) Unplug(context.Context, string) error { return nil }

func requireTools(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root (namespaces, veths, dnsmasq)")
	}
	for _, b := range []string{"dnsmasq", "busybox"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Fatalf("%s not found (scripts/deps.sh installs dnsmasq-base and busybox): %v", b, err)
		}
	}
}

func newBed(t *testing.T) *bed {
	requireTools(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
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
	b := &bed{t: t, ctx: ctx, prefix: "nt-" + lab.RandomID(), dir: dir}
	b.host = b.prefix + "-dhcphost"
	if err := lab.CreateNS(b.host); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := lab.TeardownPrefix(context.Background(), b.prefix); err != nil {
			t.Errorf("teardown: %v", err)
		}
	})
	h, err := lab.Handle(b.host)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: testBridge}}
	if err := h.LinkAdd(br); err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetUp(br); err != nil {
		t.Fatal(err)
	}
	o := DefaultOptions(b.dir)
	o.DNSServers = []string{"198.18.0.53"}
	o.ConfigFile = os.Getenv("DHCP_TEST_DNSMASQ_CONF")
	b.cfg = Config{Options: o, HostNS: b.host, Plugger: bridgePlugger{ns: b.host},
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	b.app = NewApplier(b.cfg)
	// Runs before the namespace teardown above (cleanups are LIFO).
	t.Cleanup(func() {
		if err := NewApplier(b.cfg).Remove(context.Background()); err != nil {
			t.Errorf("remove: %v", err)
		}
	})
	return b
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// vm plugs a VM namespace with a port's MAC into the test bridge and
// starts udhcpc in it. The VM's interface starts without address and
// with MTU 1500: DHCP must give both.
func (b *bed) vm(name, mac string) *lab.DHCPClient {
	t := b.t
	ns := b.plugVM(name, mac)
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

// plugVM makes a VM namespace whose eth0 has mac and sits on the test
// bridge, and returns the namespace.
func (b *bed) plugVM(name, mac string) string {
	t := b.t
	ns := b.prefix + "-vm-" + name
	if err := lab.CreateNS(ns); err != nil {
		t.Fatal(err)
	}
	h, err := lab.Handle(b.host)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	fd, err := netns.GetFromName(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	hw, _ := net.ParseMAC(mac)
	tap := "tv-" + name
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: tap}, PeerName: "eth0",
		PeerHardwareAddr: hw, PeerNamespace: netlink.NsFd(int(fd))}); err != nil {
		t.Fatal(err)
	}
	l, err := h.LinkByName(tap)
	if err != nil {
		t.Fatal(err)
	}
	br, err := h.LinkByName(testBridge)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetMaster(l, br); err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetUp(l); err != nil {
		t.Fatal(err)
	}
	return ns
}

func (b *bed) apply(s State) {
	b.t.Helper()
	if err := b.app.Apply(b.ctx, s); err != nil {
		b.t.Fatalf("apply: %v", err)
	}
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
// and udhcpc, through a port change, an agent restart, a dnsmasq crash, a
// second subnet and DHCP being turned off.
func TestServeVMs(t *testing.T) {
	b := newBed(t)
	n := Network{ID: uuid.NewString(), MTU: 1450,
		Subnets: []Subnet{{ID: "sub-a", CIDR: pfx("192.168.1.0/24"), IPVersion: 4, Gateway: addr("192.168.1.1"), EnableDHCP: true}},
		DHCPPort: Port{ID: uuid.NewString(), MAC: "fa:16:3e:00:00:02", DeviceOwner: OwnerDHCP,
			FixedIPs: []FixedIP{{SubnetID: "sub-a", Address: addr("192.168.1.2")}}},
		Ports: []Port{{ID: uuid.NewString(), MAC: "fa:16:3e:00:00:04", DeviceOwner: "compute:nova",
			FixedIPs: []FixedIP{{SubnetID: "sub-a", Address: addr("192.168.1.4")}}}},
	}
	b.apply(State{Networks: []Network{n}})
	if !lab.NSExists(Namespace(n.ID)) {
		t.Fatalf("namespace %s missing", Namespace(n.ID))
	}
	pid := b.pid(n)

	vm1 := b.vm("one", "fa:16:3e:00:00:04")
	l := b.waitLease(vm1, "first lease", func(l lab.Lease) bool { return l.Event == "bound" })
	// No dns_nameservers on the subnet: dnsmasq offers itself (and
	// forwards to dnsmasq_dns_servers).
	if l.Addr != pfx("192.168.1.4/24") || l.Router != addr("192.168.1.1") || l.MTU != 1450 ||
		!slices.Equal(l.DNS, []netip.Addr{addr("192.168.1.2")}) || l.Lease != 86400 || l.ServerID != addr("192.168.1.2") {
		t.Fatalf("lease %+v, want 192.168.1.4/24 via 192.168.1.1, MTU 1450, DNS 192.168.1.2, 86400s from 192.168.1.2", l)
	}
	if a, mtu, gw := vmAddr(t, vm1.NS); a != pfx("192.168.1.4/24") || mtu != 1450 || gw != addr("192.168.1.1") {
		t.Fatalf("VM eth0 %s mtu %d gw %s, want 192.168.1.4/24 mtu 1450 gw 192.168.1.1", a, mtu, gw)
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
		before, _ := vm1.Lease()
		l := b.renew(vm1, "renew after the restart", newLease(before))
		if l.Addr != pfx("192.168.1.7/24") {
			t.Fatalf("after an agent restart the renew gave %+v, want 192.168.1.7/24", l)
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
		before, _ := vm1.Lease()
		l := b.renew(vm1, "renew after the crash", newLease(before))
		if l.Addr != pfx("192.168.1.7/24") {
			t.Fatalf("after a dnsmasq restart the renew gave %+v, want 192.168.1.7/24", l)
		}
	})

	t.Run("second subnet", func(t *testing.T) {
		n.Subnets = append(n.Subnets, Subnet{ID: "sub-b", CIDR: pfx("192.168.2.0/24"), IPVersion: 4, EnableDHCP: true,
			DNSNameservers: []netip.Addr{addr("198.18.0.53")}})
		n.DHCPPort.FixedIPs = append(n.DHCPPort.FixedIPs, FixedIP{SubnetID: "sub-b", Address: addr("192.168.2.2")})
		n.Ports = append(n.Ports, Port{ID: uuid.NewString(), MAC: "fa:16:3e:00:00:25", DeviceOwner: "compute:nova",
			FixedIPs: []FixedIP{{SubnetID: "sub-b", Address: addr("192.168.2.5")}}})
		b.apply(State{Networks: []Network{n}})
		vm2 := b.vm("two", "fa:16:3e:00:00:25")
		l := b.waitLease(vm2, "lease on the second subnet", func(l lab.Lease) bool { return l.Event == "bound" })
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
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Fatalf("dnsmasq pid %d still alive (%v)", pid, err)
		}
		if _, err := os.Stat(b.cfg.Dir(n.ID)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("files of %s still there: %v", n.ID, err)
		}
	})
}

// TestNoDHCPNoNamespace: a network none of whose subnets has DHCP gets no
// namespace and no process.
func TestNoDHCPNoNamespace(t *testing.T) {
	b := newBed(t)
	n := Network{ID: uuid.NewString(), MTU: 1450,
		Subnets:  []Subnet{{ID: "s", CIDR: pfx("192.168.9.0/24"), IPVersion: 4, Gateway: addr("192.168.9.1")}},
		DHCPPort: Port{ID: uuid.NewString(), MAC: "fa:16:3e:00:09:02", FixedIPs: []FixedIP{{SubnetID: "s", Address: addr("192.168.9.2")}}},
	}
	b.apply(State{Networks: []Network{n}})
	if lab.NSExists(Namespace(n.ID)) {
		t.Fatalf("namespace %s exists for a network without DHCP", Namespace(n.ID))
	}
	if _, err := os.Stat(b.cfg.Dir(n.ID)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("files for a network without DHCP: %v", err)
	}
}

// TestApplyTouchesChangedNetworksOnly: Apply leaves a network whose
// desired state did not change alone (one port's change costs one
// network's work), so drift under it waits for Resync, the agent's
// periodic full pass, which repairs it.
func TestApplyTouchesChangedNetworksOnly(t *testing.T) {
	b := newBed(t)
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
