package l3_test

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
	"regexp"
	"strconv"
	"strings"

	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/vishvananda/netlink"

	"neutrino/internal/dataplane/linux"
	"neutrino/internal/dataplane/ovs"
	"neutrino/internal/l3"
	"neutrino/internal/lab"
)

// The test topology: one node (the network node) holding the L2 side of
// three networks (two tenant networks and a flat external one on
// physnet1), two VMs, and an "outside" namespace on physnet1 playing the
// upstream router at 198.18.100.1. The L2 agent's part is played by the
// test: for linuxbridge it makes the brq bridges (the driver plugs the
// router's taps into them); for openvswitch br-int is a NORMAL switch
// whose ports the test tags per network, as the OVS agent would.
var (
	net1ID, net2ID, extID = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222", "33333333-3333-4333-8333-333333333333"
	outsideAddr           = netip.MustParsePrefix("198.18.100.1/24")
	gwAddr                = netip.MustParsePrefix("198.18.100.2/24")
	fip                   = netip.MustParseAddr("198.18.100.10")
	vm1Addr, vm2Addr      = netip.MustParsePrefix("192.168.1.5/24"), netip.MustParsePrefix("192.168.2.7/24")
	tags                  = map[string]int{net1ID: 1, net2ID: 2, extID: 3}
)

type bed struct {
	t        *testing.T
	ctx      context.Context
	mech     string
	lab      *lab.Lab
	node     *lab.Node
	ovs      *lab.OVS
	vifs     *ovs.VIFs
	out      *lab.Outside
	vm1, vm2 *lab.VM
	cfg      l3.Config
	app      *l3.Applier
	routerID string
	ports    map[string]string // role -> port id
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root (namespaces, veths, nftables)")
	}
	for _, b := range []string{"ping", "nft"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Fatalf("%s not found (scripts/deps.sh installs it): %v", b, err)
		}
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func newBed(t *testing.T, mech string) *bed {
	needRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	log := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	b := &bed{t: t, ctx: ctx, mech: mech, routerID: uuid.NewString(), ports: map[string]string{}}
	for _, role := range []string{"if1", "if2", "gw", "vm1", "vm2"} {
		b.ports[role] = uuid.NewString()
	}
	l, err := lab.New(ctx, log)
	if err != nil {
		t.Fatal(err)
	}
	b.lab = l
	t.Cleanup(func() {
		if err := l.Teardown(context.Background()); err != nil {
			t.Errorf("teardown: %v", err)
		}
	})
	if b.node, err = l.AddNode(ctx, "net"); err != nil {
		t.Fatal(err)
	}
	pn, err := l.AddPhysnet(ctx, "physnet1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pn.Join(ctx, b.node.NS, "eth1"); err != nil {
		t.Fatal(err)
	}
	if b.out, err = pn.AddOutside(ctx, "up", outsideAddr); err != nil {
		t.Fatal(err)
	}
	var driver l3.InterfaceDriver
	switch mech {
	case "linuxbridge":
		h, err := lab.Handle(b.node.NS)
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		for _, n := range []string{net1ID, net2ID, extID} {
			br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: linux.BridgeName(n)}}
			if err := h.LinkAdd(br); err != nil {
				t.Fatal(err)
			}
			if err := h.LinkSetUp(br); err != nil {
				t.Fatal(err)
			}
		}
		b.enslave("eth1", extID)
		driver = l3.BridgeDriver{}
	case "openvswitch":
		b.ovs, err = lab.StartOVS(ctx, b.node.NS, filepath.Join(os.TempDir(), b.node.NS+"-ovs"), log)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := b.ovs.Stop(); err != nil {
				t.Errorf("stop ovs: %v", err)
			}
		})
		b.vsctl("add-br", "br-int", "--", "set", "Bridge", "br-int", "datapath_type=netdev",
			"--", "add-port", "br-int", "eth1", "tag=3")
		if b.vifs, err = ovs.NewVIFs(ctx, b.ovs.OVSDB(), "br-int", log); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(b.vifs.Close)
		driver = l3.OVSDriver{VIFs: b.vifs}
	}
	b.vm1 = b.addVM("vm1", net1ID, vm1Addr, "fa:16:3e:00:01:05")
	b.vm2 = b.addVM("vm2", net2ID, vm2Addr, "fa:16:3e:00:02:07")
	b.cfg = l3.Config{StateDir: t.TempDir(), Driver: driver, HostNS: b.node.NS, GARPs: 2, GARPInterval: 200 * time.Millisecond, Logger: log}
	b.app = l3.NewApplier(b.cfg)
	// Cleanups run last-in first-out: the routers go before OVS and the
	// lab's namespaces.
	t.Cleanup(func() {
		app := l3.NewApplier(b.cfg)
		defer app.Close()
		b.app.Close()
		if err := app.Remove(context.Background()); err != nil {
			t.Errorf("remove routers: %v", err)
		}
		if lab.NSExists(l3.Namespace(b.routerID)) {
			t.Errorf("%s left behind", l3.Namespace(b.routerID))
		}
	})
	return b
}

func (b *bed) vsctl(args ...string) {
	b.t.Helper()
	if out, err := b.ovs.Vsctl(b.ctx, append([]string{"--timeout=20"}, args...)...); err != nil {
		b.t.Fatalf("ovs-vsctl %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

func (b *bed) enslave(dev, network string) {
	b.t.Helper()
	h, err := lab.Handle(b.node.NS)
	if err != nil {
		b.t.Fatal(err)
	}
	defer h.Close()
	l, err := h.LinkByName(dev)
	if err != nil {
		b.t.Fatal(err)
	}
	br, err := h.LinkByName(linux.BridgeName(network))
	if err != nil {
		b.t.Fatal(err)
	}
	if err := h.LinkSetMaster(l, br); err != nil {
		b.t.Fatal(err)
	}
}

func (b *bed) addVM(name, network string, addr netip.Prefix, mac string) *lab.VM {
	b.t.Helper()
	gw := addr.Masked().Addr().Next()
	vm, err := b.lab.AddVM(b.ctx, b.node, name, lab.VIF{PortID: b.ports[name], MAC: mac, Addr: addr, Gateway: gw, MTU: 1450})
	if err != nil {
		b.t.Fatal(err)
	}
	if b.mech == "linuxbridge" {
		b.enslave(vm.Tap, network)
	} else {
		if err := b.ovs.PlugVIF(b.ctx, "br-int", vm.Tap, b.ports[name], mac, ""); err != nil {
			b.t.Fatal(err)
		}
		b.vsctl("set", "Port", vm.Tap, fmt.Sprintf("tag=%d", tags[network]))
		// ovs-vswitchd reads the veth with AF_PACKET and does not
		// complete partial checksums (UDP from the VM).
		if err := lab.DisableOffloads(b.ctx, vm.NS, "eth0"); err != nil {
			b.t.Fatal(err)
		}
	}
	return vm
}

// router is the test's router: interfaces as asked, the gateway with SNAT,
// the floating IP of vm1 when fip.
func (b *bed) router(ifs []string, withFIP bool) l3.Router {
	r := l3.Router{ID: b.routerID}
	for _, role := range ifs {
		p := l3.Port{ID: b.ports[role], MTU: 1450}
		switch role {
		case "if1":
			p.NetworkID, p.MAC, p.Addresses = net1ID, "fa:16:3e:00:01:01", []netip.Prefix{netip.MustParsePrefix("192.168.1.1/24")}
		case "if2":
			p.NetworkID, p.MAC, p.Addresses = net2ID, "fa:16:3e:00:02:01", []netip.Prefix{netip.MustParsePrefix("192.168.2.1/24")}
		}
		r.Interfaces = append(r.Interfaces, p)
	}
	r.Gateway = &l3.Gateway{Port: l3.Port{ID: b.ports["gw"], NetworkID: extID, MAC: "fa:16:3e:00:64:02", MTU: 1500,
		Addresses: []netip.Prefix{gwAddr}}, NextHops: []netip.Addr{outsideAddr.Addr()}, EnableSNAT: true}
	if withFIP {
		r.FloatingIPs = []l3.FloatingIP{{ID: "fip-1", FloatingIP: fip, FixedIP: vm1Addr.Addr(), PortID: b.ports["vm1"]}}
	}
	return r
}

// apply applies the state with app and plays the OVS agent: it tags the
// router's ports with their network's VLAN.
func (b *bed) apply(app *l3.Applier, routers ...l3.Router) l3.Result {
	b.t.Helper()
	res, err := app.Apply(b.ctx, l3.State{Routers: routers})
	if err != nil {
		b.t.Fatalf("apply: %v", err)
	}
	if b.mech == "openvswitch" {
		for _, r := range routers {
			for _, d := range l3.Plan(r).Devices {
				b.vsctl("set", "Port", d.Name, fmt.Sprintf("tag=%d", tags[d.NetworkID]))
			}
		}
	}
	return res
}

// reaches pings to from ns until an answer (true) or, when want is false,
// checks that three pings get none.
func (b *bed) reaches(ns string, to netip.Addr, want bool) {
	b.t.Helper()
	if !want {
		if out, err := lab.Exec(b.ctx, ns, "ping", "-n", "-c", "3", "-i", "0.2", "-W", "1", to.String()); err == nil {
			b.t.Fatalf("%s reaches %s, but must not:\n%s", ns, to, out)
		}
		return
	}
	var out []byte
	var err error
	for range 10 {
		if out, err = lab.Exec(b.ctx, ns, "ping", "-n", "-c", "1", "-W", "1", to.String()); err == nil {
			return
		}
	}
	b.t.Fatalf("%s does not reach %s: %v\n%s", ns, to, err, out)
}

// sourceSeen sends a UDP datagram from namespace from to `to` and returns
// the source address the receiver (listening in namespace at) sees.
func (b *bed) sourceSeen(from, at string, to netip.Addr) netip.Addr {
	b.t.Helper()
	var conn *net.UDPConn
	if err := lab.InNS(at, func() (err error) {
		conn, err = net.ListenUDP("udp4", &net.UDPAddr{Port: 5353})
		return err
	}); err != nil {
		b.t.Fatal(err)
	}
	defer conn.Close()
	var snd *net.UDPConn
	if err := lab.InNS(from, func() (err error) {
		snd, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IP(to.AsSlice()), Port: 5353})
		return err
	}); err != nil {
		b.t.Fatal(err)
	}
	defer snd.Close()
	buf := make([]byte, 64)
	for range 10 {
		if _, err := snd.Write([]byte("hello")); err != nil {
			nft, _ := lab.Exec(b.ctx, l3.Namespace(b.routerID), "nft", "--debug=netlink", "list", "ruleset")
			ct, _ := lab.Exec(b.ctx, l3.Namespace(b.routerID), "conntrack", "-L")
			b.t.Fatalf("%v\n%s\n%s", err, nft, ct)
		}
		conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		_, src, err := conn.ReadFromUDPAddrPort(buf)
		if err == nil {
			return src.Addr().Unmap()
		}
	}
	b.t.Fatalf("no datagram from %s reached %s at %s", from, to, at)
	return netip.Addr{}
}

// routerState is what a restart must not change: the devices' indexes and
// the NAT ruleset with its rule handles.
func (b *bed) routerState() string {
	b.t.Helper()
	ns := l3.Namespace(b.routerID)
	nft, err := lab.Exec(b.ctx, ns, "nft", "-a", "list", "ruleset")
	if err != nil {
		b.t.Fatal(err)
	}
	links, err := lab.Exec(b.ctx, ns, "ip", "-o", "link")
	if err != nil {
		b.t.Fatal(err)
	}
	addrs, err := lab.Exec(b.ctx, ns, "ip", "-o", "addr")
	if err != nil {
		b.t.Fatal(err)
	}
	return string(nft) + string(links) + string(addrs)
}

var pingStats = regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`)

// pinger is a continuous ping (every 0.2 s); lost counts what went
// unanswered.
type pinger struct {
	proc *lab.Proc
	what string
}

func (b *bed) startPing(ns string, to netip.Addr, count int) pinger {
	b.t.Helper()
	p, err := b.lab.Start(ns, "ping", "-n", "-i", "0.2", "-c", strconv.Itoa(count), "-W", "1", to.String())
	if err != nil {
		b.t.Fatal(err)
	}
	return pinger{proc: p, what: fmt.Sprintf("%s -> %s", ns, to)}
}

func (b *bed) lost(p pinger) int {
	b.t.Helper()
	_ = p.proc.Wait(b.ctx)
	m := pingStats.FindStringSubmatch(p.proc.Output())
	if m == nil {
		b.t.Fatalf("ping %s: %s", p.what, p.proc.Output())
	}
	sent, _ := strconv.Atoi(m[1])
	got, _ := strconv.Atoi(m[2])
	return sent - got
}

func (b *bed) outsideNeigh(a netip.Addr) net.HardwareAddr {
	b.t.Helper()
	h, err := lab.Handle(b.out.NS)
	if err != nil {
		b.t.Fatal(err)
	}
	defer h.Close()
	ns, err := h.NeighList(0, netlink.FAMILY_V4)
	if err != nil {
		b.t.Fatal(err)
	}
	for _, n := range ns {
		if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap() == a {
			return n.HardwareAddr
		}
	}
	return nil
}

func TestRouterLinuxBridge(t *testing.T) { routerScenario(t, "linuxbridge") }
func TestRouterOVS(t *testing.T)         { routerScenario(t, "openvswitch") }

// routerScenario: two tenant networks joined by a router, a gateway with
// SNAT to the outside, a floating IP, a restart of the applier under a
// continuous ping, disassociation and interface removal.
func routerScenario(t *testing.T, mech string) {
	b := newBed(t, mech)
	ns := l3.Namespace(b.routerID)
	vm1, vm2, out := b.vm1.NS, b.vm2.NS, b.out.NS

	b.apply(b.app, b.router([]string{"if1", "if2"}, false))
	b.reaches(vm1, vm2Addr.Addr(), true)
	b.reaches(vm2, vm1Addr.Addr(), true)
	// Between the router's own subnets nothing is translated.
	if got := b.sourceSeen(vm1, vm2, vm2Addr.Addr()); got != vm1Addr.Addr() {
		t.Errorf("vm2 sees vm1 as %s, want %s (no NAT between the router's subnets)", got, vm1Addr.Addr())
	}
	// SNAT: the outside sees the gateway's address.
	b.reaches(vm1, outsideAddr.Addr(), true)
	if got := b.sourceSeen(vm1, out, outsideAddr.Addr()); got != gwAddr.Addr() {
		t.Errorf("the outside sees vm1 as %s, want the gateway %s", got, gwAddr.Addr())
	}
	// Without a floating IP, neither the floating IP nor the fixed IP
	// (the outside has no route to the tenant subnets) answers.
	b.reaches(out, fip, false)
	b.reaches(out, vm1Addr.Addr(), false)

	// The outside holds a stale entry for the floating IP (another MAC):
	// the gratuitous ARP of the association corrects it.
	oh, err := lab.Handle(out)
	if err != nil {
		t.Fatal(err)
	}
	dev, err := oh.LinkByName(b.out.Dev)
	if err != nil {
		t.Fatal(err)
	}
	bogus, _ := net.ParseMAC("02:00:00:00:00:99")
	if err := oh.NeighSet(&netlink.Neigh{LinkIndex: dev.Attrs().Index, IP: net.IP(fip.AsSlice()), HardwareAddr: bogus,
		State: netlink.NUD_STALE, Family: netlink.FAMILY_V4}); err != nil {
		t.Fatal(err)
	}
	oh.Close()
	withFIP := b.router([]string{"if1", "if2"}, true)
	res := b.apply(b.app, withFIP)
	if strings.Join(res.ActiveFloatingIPs, ",") != "fip-1" {
		t.Errorf("active floating IPs %v, want fip-1", res.ActiveFloatingIPs)
	}
	if got := b.outsideNeigh(fip); got.String() != "fa:16:3e:00:64:02" {
		t.Errorf("the outside's entry for %s is %s after the association, want the gateway's MAC (gratuitous ARP)", fip, got)
	}
	// The kernel holds what the plan renders: nft prints our text.
	nft, err := lab.Exec(b.ctx, ns, "nft", "list", "ruleset")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.ReplaceAll(string(nft), "\n\n", "\n"), l3.Plan(withFIP).NAT.Render(); got != want {
		t.Errorf("nft list ruleset in %s:\n%s\nwant:\n%s", ns, got, want)
	}
	b.reaches(out, fip, true)
	if got := b.sourceSeen(out, vm1, fip); got != outsideAddr.Addr() {
		t.Errorf("vm1 sees the outside as %s, want %s (only the destination is translated)", got, outsideAddr.Addr())
	}
	if got := b.sourceSeen(vm1, out, outsideAddr.Addr()); got != fip {
		t.Errorf("the outside sees vm1 as %s, want its floating IP %s", got, fip)
	}
	b.reaches(out, vm1Addr.Addr(), false)
	// vm2 has no floating IP: still the gateway's address.
	if got := b.sourceSeen(vm2, out, outsideAddr.Addr()); got != gwAddr.Addr() {
		t.Errorf("the outside sees vm2 as %s, want the gateway %s", got, gwAddr.Addr())
	}
	// vm2 reaches vm1 by its floating IP (hairpin through the router).
	b.reaches(vm2, fip, true)

	// A restarted agent (a new Applier, nothing remembered) applying the
	// same state changes nothing and loses no packet.
	before := b.routerState()
	east := b.startPing(vm1, vm2Addr.Addr(), 25)
	north := b.startPing(out, fip, 25)
	time.Sleep(2 * time.Second)
	app2 := l3.NewApplier(b.cfg)
	defer app2.Close()
	if res := b.apply(app2, withFIP); res.Converged != 1 || res.Removed != 0 {
		t.Errorf("restart: %+v, want one router read back, none removed", res)
	}
	if res := b.apply(app2, withFIP); res.Skipped != 1 || res.Converged != 0 {
		t.Errorf("second apply: %+v, want the router skipped as unchanged", res)
	}
	if after := b.routerState(); after != before {
		t.Errorf("the restart changed the namespace:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if n := b.lost(east); n != 0 {
		t.Errorf("%s lost %d of 25 pings across the restart", east.what, n)
	}
	if n := b.lost(north); n != 0 {
		t.Errorf("%s lost %d of 25 pings across the restart", north.what, n)
	}
	b.app = app2

	// Drift is repaired after Resync: a deleted address and NAT table.
	if _, err := lab.Exec(b.ctx, ns, "nft", "delete", "table", "ip", l3.NATTable); err != nil {
		t.Fatal(err)
	}
	b.app.Resync()
	b.apply(b.app, withFIP)
	b.reaches(out, fip, true)

	// Disassociation stops the floating IP.
	b.apply(b.app, b.router([]string{"if1", "if2"}, false))
	b.reaches(out, fip, false)
	if got := b.sourceSeen(vm1, out, outsideAddr.Addr()); got != gwAddr.Addr() {
		t.Errorf("after disassociation the outside sees vm1 as %s, want the gateway %s", got, gwAddr.Addr())
	}

	// Removing the router interface stops routing to its network.
	b.apply(b.app, b.router([]string{"if1"}, false))
	b.reaches(vm1, vm2Addr.Addr(), false)
	b.reaches(vm1, outsideAddr.Addr(), true)
	if _, err := lab.Exec(b.ctx, ns, "ip", "link", "show", l3.InternalDevice(b.ports["if2"])); err == nil {
		t.Errorf("%s still in %s", l3.InternalDevice(b.ports["if2"]), ns)
	}
	b.checkHostSide(b.ports["if2"], false)
	b.checkHostSide(b.ports["if1"], true)

	// An empty state removes the router and everything of it.
	if res := b.apply(b.app); res.Removed != 1 {
		t.Errorf("empty state: %+v, want the router removed", res)
	}
	if lab.NSExists(ns) {
		t.Errorf("%s still exists", ns)
	}
	b.checkHostSide(b.ports["if1"], false)
	b.checkHostSide(b.ports["gw"], false)
}

// checkHostSide checks the host side of a router port: the tap
// (linuxbridge) or the br-int port (openvswitch).
func (b *bed) checkHostSide(portID string, want bool) {
	b.t.Helper()
	var err error
	var what string
	if b.mech == "linuxbridge" {
		what = l3.TapDevice(portID)
		_, err = lab.Exec(b.ctx, b.node.NS, "ip", "link", "show", what)
	} else {
		what = "br-int port " + l3.InternalDevice(portID)
		var out string
		out, err = b.ovs.Vsctl(b.ctx, "list-ports", "br-int")
		if err == nil && !strings.Contains(out, l3.InternalDevice(portID)) && !strings.Contains(out, l3.GatewayDevice(portID)) {
			err = errors.New("absent")
		}
	}
	if got := err == nil; got != want {
		b.t.Errorf("%s present %v, want %v", what, got, want)
	}
}
