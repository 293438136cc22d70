package dhcp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"neutrino/internal/lab"
)

// Plugger connects the host side of a DHCP port (the tap device) to the
// node's L2 data plane, as Neutron's interface drivers do.
type Plugger interface {
	// Plug attaches tap, the host side of port on network n; it is called
	// on every Apply and must be idempotent.
	Plug(ctx context.Context, tap string, n Network) error
	// Unplug detaches tap (missing is not an error).
	Unplug(ctx context.Context, tap string) error
}

// BridgePlugger is the Linux bridge interface driver's plug: nothing
// beyond the tap device itself, which the Linux bridge agent finds by its
// name (tap + the port id's first 11 characters) and enslaves to the
// network's brq bridge.
type BridgePlugger struct{}

// Plug does nothing: the Linux bridge agent enslaves the tap.
func (BridgePlugger) Plug(context.Context, string, Network) error { return nil }

// Unplug does nothing: deleting the veth removes the tap from its bridge.
func (BridgePlugger) Unplug(context.Context, string) error { return nil }

// VIFPlugger is the integration bridge as the OVS interface driver needs
// it (*ovs.VIFs).
type VIFPlugger interface {
	Plug(ctx context.Context, dev, portID, mac string) error
	Unplug(ctx context.Context, dev string) error
}

// OVSPlugger is interface_driver = openvswitch: the tap becomes a br-int
// port with the DHCP port's iface-id and attached-mac, which the OVS
// agent tags like any VM port.
type OVSPlugger struct{ VIFs VIFPlugger }

// Plug adds the tap to br-int (idempotent).
func (p OVSPlugger) Plug(ctx context.Context, tap string, n Network) error {
	return p.VIFs.Plug(ctx, tap, n.DHCPPort.ID, n.DHCPPort.MAC)
}

// Unplug removes the tap's br-int port (missing is not an error).
func (p OVSPlugger) Unplug(ctx context.Context, tap string) error { return p.VIFs.Unplug(ctx, tap) }

// Config configures an Applier.
type Config struct {
	Options
	// HostNS is the namespace the taps go into, where the L2 agent looks
	// for them ([DEFAULT] host_namespace; "" is the agent's own).
	HostNS string
	// Plugger attaches the taps to the L2 data plane.
	Plugger Plugger
	// Dnsmasq is the dnsmasq binary ("dnsmasq" from PATH by default).
	Dnsmasq string
	Logger  *slog.Logger
}

// Applier converges a node to a State: per served network a qdhcp-
// namespace with the DHCP port's device and addresses, Neutron's files,
// and one dnsmasq. What it owns on the node is what has a directory in
// ConfsDir, so it never touches another agent's namespaces or processes.
// Its methods are safe for concurrent use.
type Applier struct {
	cfg Config
	log *slog.Logger

	mu sync.Mutex
	// served are the networks of the last Apply, by id: what Supervise
	// keeps running.
	served map[string]Network
	// converged are the networks whose last ensure succeeded, as they
	// were then: an Apply leaves a network alone while its desired state
	// is the same, so one port's change costs one network's work, not
	// every network's (Neutron's reload_allocations touches one too).
	// Resync empties it: the next Apply converges everything again.
	converged map[string]Network
}

// NewApplier returns an Applier; it changes nothing until Apply.
func NewApplier(cfg Config) *Applier {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Plugger == nil {
		cfg.Plugger = BridgePlugger{}
	}
	if cfg.Dnsmasq == "" {
		cfg.Dnsmasq = "dnsmasq"
	}
	return &Applier{cfg: cfg, log: cfg.Logger, served: map[string]Network{}, converged: map[string]Network{}}
}

// served reports whether the network needs a dnsmasq here: a DHCP subnet
// and this agent's DHCP port.
func served(n Network) bool { return n.DHCPPort.ID != "" && len(n.DHCPSubnets()) > 0 }

// Apply converges the node to s: it first removes the networks it owns
// that s no longer serves (a deleted network's dnsmasq must not answer
// for longer than its removal takes, whatever else is to do), then sets
// up every served network whose desired state changed since it last
// converged (reusing what is already right: a running dnsmasq with the
// same command line is kept and only signalled when its files changed).
// Errors are collected per network; calling it again retries.
func (a *Applier) Apply(ctx context.Context, s State) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	var errs []error
	want := map[string]Network{}
	for _, n := range s.Networks {
		if served(n) {
			want[n.ID] = n
		}
	}
	owned, err := a.owned()
	errs = append(errs, err)
	for _, id := range owned {
		if _, ok := want[id]; !ok {
			delete(a.converged, id)
			if err := a.remove(ctx, id); err != nil {
				errs = append(errs, fmt.Errorf("network %s: remove: %w", id, err))
			}
		}
	}
	for _, n := range s.Networks {
		if _, ok := want[n.ID]; !ok {
			continue
		}
		if c, ok := a.converged[n.ID]; ok && reflect.DeepEqual(c, n) {
			continue
		}
		delete(a.converged, n.ID)
		if err := a.ensure(ctx, n); err != nil {
			errs = append(errs, fmt.Errorf("network %s: %w", n.ID, err))
			continue
		}
		a.converged[n.ID] = n.Clone()
	}
	a.served = want
	return errors.Join(errs...)
}

// Supervise restarts the dnsmasq of every served network that is not
// running (crashed or killed) and returns the networks it restarted. It
// only reads pid files and /proc, so it is cheap to call every second.
func (a *Applier) Supervise(ctx context.Context) ([]string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var restarted []string
	var errs []error
	for id, n := range a.served {
		if pid, _ := a.running(n); pid > 0 {
			continue
		}
		a.log.Warn("dnsmasq is not running; restarting it", "network", id)
		delete(a.converged, id)
		if err := a.ensure(ctx, n); err != nil {
			errs = append(errs, fmt.Errorf("network %s: %w", id, err))
			continue
		}
		a.converged[id] = n.Clone()
		restarted = append(restarted, id)
	}
	slices.Sort(restarted)
	return restarted, errors.Join(errs...)
}

// Resync makes the next Apply converge every network again, also those
// whose desired state did not change: the agent's periodic full pass,
// which repairs what changed under it (a deleted namespace or device).
func (a *Applier) Resync() {
	a.mu.Lock()
	defer a.mu.Unlock()
	clear(a.converged)
}

// Remove stops everything the applier owns (dnsmasq processes,
// namespaces, taps, files): what a network leaving the agent gets, for
// all networks at once.
func (a *Applier) Remove(ctx context.Context) error {
	return a.Apply(ctx, State{})
}

// owned lists the networks with a directory in ConfsDir.
func (a *Applier) owned() ([]string, error) {
	ents, err := os.ReadDir(a.cfg.ConfsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", a.cfg.ConfsDir, err)
	}
	var out []string
	for _, e := range ents {
		if uuidLike(e.Name()) && e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// ensure converges one served network.
func (a *Applier) ensure(ctx context.Context, n Network) error {
	if err := os.MkdirAll(a.cfg.Dir(n.ID), 0o755); err != nil {
		return err
	}
	changed := false
	for kind, content := range map[string]string{
		"host": HostsFile(n, a.cfg.Options), "addn_hosts": AddnHostsFile(n, a.cfg.Options), "opts": OptsFile(n, a.cfg.Options),
	} {
		c, err := writeIfChanged(a.cfg.File(n.ID, kind), content)
		if err != nil {
			return err
		}
		changed = changed || c
	}
	ns := Namespace(n.ID)
	if !lab.NSExists(ns) {
		if err := lab.CreateNS(ns); err != nil {
			return err
		}
		a.log.Info("created namespace", "netns", ns)
	}
	if err := a.ensureDevice(n); err != nil {
		return err
	}
	tap := TapDevice(n.DHCPPort.ID)
	if err := a.cfg.Plugger.Plug(ctx, tap, n); err != nil {
		return fmt.Errorf("plug %s: %w", tap, err)
	}
	if _, err := writeIfChanged(a.cfg.File(n.ID, "interface"), NSDevice(n.DHCPPort.ID)); err != nil {
		return err
	}
	pid, same := a.running(n)
	switch {
	case pid > 0 && same:
		if changed {
			if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
				return fmt.Errorf("reload dnsmasq pid %d: %w", pid, err)
			}
			a.log.Info("dnsmasq reloaded (SIGHUP)", "network", n.ID, "pid", pid)
		}
		return nil
	case pid > 0:
		// The subnets, lease time or MTU changed: that is dnsmasq's
		// command line, which only a restart changes (as Neutron).
		a.log.Info("dnsmasq command line changed; restarting it", "network", n.ID, "pid", pid)
		if err := a.stop(n.ID, pid); err != nil {
			return err
		}
	}
	return a.start(ctx, n)
}

// writeIfChanged replaces path with content (atomically, by rename) when
// it differs, and reports whether it did.
func writeIfChanged(path, content string) (bool, error) {
	if old, err := os.ReadFile(path); err == nil && string(old) == content {
		return false, nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		return false, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return false, err
	}
	return true, nil
}

// ensureDevice makes the DHCP port's veth: the tap in HostNS, its peer
// ns-<id> in the namespace with the port's MAC, the network's MTU, the
// port's addresses on the DHCP subnets (IPv4 and IPv6) and the default
// routes (ensureAddrs). Other devices in the namespace (a former DHCP
// port's) are deleted.
func (a *Applier) ensureDevice(n Network) error {
	ns := Namespace(n.ID)
	nsh, err := lab.Handle(ns)
	if err != nil {
		return err
	}
	defer nsh.Close()
	host, err := hostHandle(a.cfg.HostNS)
	if err != nil {
		return err
	}
	defer host.Close()
	p := n.DHCPPort
	tap, dev := TapDevice(p.ID), NSDevice(p.ID)
	mac, err := net.ParseMAC(p.MAC)
	if err != nil {
		return fmt.Errorf("dhcp port %s: %w", p.ID, err)
	}
	links, err := nsh.LinkList()
	if err != nil {
		return fmt.Errorf("list links in %s: %w", ns, err)
	}
	var link netlink.Link
	for _, l := range links {
		switch l.Attrs().Name {
		case "lo":
		case dev:
			link = l
		default:
			if err := nsh.LinkDel(l); err != nil {
				return fmt.Errorf("delete stale %s in %s: %w", l.Attrs().Name, ns, err)
			}
			a.log.Info("deleted stale device", "netns", ns, "device", l.Attrs().Name)
		}
	}
	if link != nil {
		// A half-made pair (the tap gone) is made again.
		if _, err := host.LinkByName(tap); err != nil {
			if err := nsh.LinkDel(link); err != nil {
				return fmt.Errorf("delete %s without its tap: %w", dev, err)
			}
			link = nil
		}
	}
	if link == nil {
		if l, err := host.LinkByName(tap); err == nil {
			if err := host.LinkDel(l); err != nil {
				return fmt.Errorf("delete stray %s: %w", tap, err)
			}
		}
		fd, err := netns.GetFromName(ns)
		if err != nil {
			return fmt.Errorf("open netns %s: %w", ns, err)
		}
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: tap, MTU: n.MTU},
			PeerName: dev, PeerHardwareAddr: mac, PeerNamespace: netlink.NsFd(int(fd))}
		err = host.LinkAdd(veth)
		fd.Close()
		if err != nil {
			return fmt.Errorf("add veth %s/%s: %w", tap, dev, err)
		}
		if link, err = nsh.LinkByName(dev); err != nil {
			return fmt.Errorf("find %s in %s: %w", dev, ns, err)
		}
		// Replies leave with complete UDP checksums: an OVS userspace
		// datapath reading the veth does not fill partial ones (Neutron
		// adds an iptables CHECKSUM rule for the same reason).
		if err := lab.InNS(ns, func() error { return txChecksumOff(dev) }); err != nil {
			return fmt.Errorf("%s: checksum offload off: %w", dev, err)
		}
		a.log.Info("plugged DHCP port", "netns", ns, "device", dev, "tap", tap)
	}
	if !bytes.Equal(link.Attrs().HardwareAddr, mac) {
		if err := nsh.LinkSetHardwareAddr(link, mac); err != nil {
			return fmt.Errorf("%s mac: %w", dev, err)
		}
	}
	hl, err := host.LinkByName(tap)
	if err != nil {
		return fmt.Errorf("find %s: %w", tap, err)
	}
	if n.MTU > 0 {
		for _, x := range []struct {
			h *netlink.Handle
			l netlink.Link
		}{{nsh, link}, {host, hl}} {
			if x.l.Attrs().MTU != n.MTU {
				if err := x.h.LinkSetMTU(x.l, n.MTU); err != nil {
					return fmt.Errorf("%s mtu: %w", x.l.Attrs().Name, err)
				}
			}
		}
	}
	if err := host.LinkSetUp(hl); err != nil {
		return fmt.Errorf("%s up: %w", tap, err)
	}
	if err := nsh.LinkSetUp(link); err != nil {
		return fmt.Errorf("%s up: %w", dev, err)
	}
	return ensureAddrs(nsh, ns, link, n)
}

// ensureAddrs puts the DHCP port's addresses on the DHCP subnets onto the
// device (with the subnet's prefix length; IPv6 only where the network
// has a DHCP IPv6 subnet), removes others (not the kernel's link-local
// ones) and sets the default routes as Neutron's DeviceManager does.
func ensureAddrs(h *netlink.Handle, ns string, link netlink.Link, n Network) error {
	subnets := map[string]Subnet{}
	v6 := false
	for _, s := range n.DHCPSubnets() {
		subnets[s.ID] = s
		v6 = v6 || s.IPVersion == 6
	}
	if err := setIPv6(ns, link.Attrs().Name, v6); err != nil {
		return err
	}
	want := map[netip.Prefix]bool{}
	for _, f := range n.DHCPPort.FixedIPs {
		if s, ok := subnets[f.SubnetID]; ok && s.CIDR.Addr().Is4() == f.Address.Is4() {
			want[netip.PrefixFrom(f.Address, s.CIDR.Bits())] = true
		}
	}
	have, err := h.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return fmt.Errorf("list addresses: %w", err)
	}
	for _, ad := range have {
		p, ok := prefixOf(ad.IPNet)
		if ok && (want[p] || p.Addr().IsLinkLocalUnicast()) {
			delete(want, p)
			continue
		}
		if err := h.AddrDel(link, &ad); err != nil {
			return fmt.Errorf("delete address %s: %w", ad.IPNet, err)
		}
	}
	for p := range want {
		if err := h.AddrAdd(link, &netlink.Addr{IPNet: ipNet(p)}); err != nil {
			return fmt.Errorf("add address %s: %w", p, err)
		}
	}
	for _, family := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		if err := ensureDefaultRoute(h, link, family, defaultGateway(n, family == netlink.FAMILY_V6)); err != nil {
			return err
		}
	}
	return nil
}

// defaultGateway is the gateway of the first DHCP subnet of the family
// that has one, skipping what Neutron skips: IPv6 prefixes of length 0 or
// over 126, and SLAAC or DHCPv6-stateless ones that are not /64.
func defaultGateway(n Network, v6 bool) netip.Addr {
	for _, s := range n.DHCPSubnets() {
		if (s.IPVersion == 6) != v6 || !s.Gateway.IsValid() {
			continue
		}
		if v6 {
			bits := s.CIDR.Bits()
			auto := func(m string) bool { return m == ipv6SLAAC || m == dhcpv6Stateless }
			if bits == 0 || bits > 126 || bits != 64 && (auto(s.IPv6AddressMode) || auto(s.IPv6RAMode)) {
				continue
			}
		}
		return s.Gateway
	}
	return netip.Addr{}
}

// ensureDefaultRoute makes the device's default route of family point at
// gw (none when gw is invalid).
func ensureDefaultRoute(h *netlink.Handle, link netlink.Link, family int, gw netip.Addr) error {
	routes, err := h.RouteList(link, family)
	if err != nil {
		return fmt.Errorf("list routes: %w", err)
	}
	for _, r := range routes {
		if r.Dst != nil && !isDefault(r.Dst) || r.Gw == nil {
			continue
		}
		if g, ok := netip.AddrFromSlice(r.Gw); ok && g.Unmap() == gw {
			return nil
		}
		if err := h.RouteDel(&r); err != nil {
			return fmt.Errorf("delete default route via %s: %w", r.Gw, err)
		}
	}
	if gw.IsValid() {
		if err := h.RouteAdd(&netlink.Route{LinkIndex: link.Attrs().Index, Gw: net.IP(gw.AsSlice())}); err != nil {
			return fmt.Errorf("default route via %s: %w", gw, err)
		}
	}
	return nil
}

// setIPv6 turns IPv6 on or off on the namespace's device. Namespaces are
// made with IPv6 off (lab.CreateNS); a network with a DHCP IPv6 subnet
// needs it on, and then, as in Neutron's DHCP namespaces, router
// advertisements are not accepted: the device's addresses are the DHCP
// port's, set here, never autoconfigured.
func setIPv6(ns, dev string, on bool) error {
	disable := "1"
	if on {
		disable = "0"
	}
	return lab.InNS(ns, func() error {
		for _, kv := range [][2]string{{"accept_ra", "0"}, {"disable_ipv6", disable}} {
			p := "/proc/sys/net/ipv6/conf/" + dev + "/" + kv[0]
			if old, err := os.ReadFile(p); err == nil && strings.TrimSpace(string(old)) == kv[1] {
				continue
			} else if errors.Is(err, os.ErrNotExist) && !on {
				return nil // a kernel without IPv6 has nothing to turn off
			}
			if err := os.WriteFile(p, []byte(kv[1]), 0o644); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
		}
		return nil
	})
}

func isDefault(n *net.IPNet) bool { o, _ := n.Mask.Size(); return o == 0 }

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	bits, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), bits), true
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// hostHandle is a netlink handle in the host namespace ("" = ours).
func hostHandle(ns string) (*netlink.Handle, error) {
	if ns == "" {
		return netlink.NewHandle()
	}
	return lab.Handle(ns)
}

// running returns the pid of the network's dnsmasq from its pid file, and
// whether its command line is the one n needs. A pid whose process is not
// a dnsmasq for this network's files (gone, or the number reused) is 0:
// such a process is never signalled.
func (a *Applier) running(n Network) (pid int, same bool) {
	pid, args := a.pidOf(n.ID)
	if pid == 0 {
		return 0, false
	}
	return pid, slices.Equal(args, a.cmdline(n))
}

// pidOf reads the network's pid file and checks the process is a dnsmasq
// started with that pid file; it returns the process's arguments.
func (a *Applier) pidOf(networkID string) (int, []string) {
	pidFile := a.cfg.File(networkID, "pid")
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return 0, nil
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return 0, nil
	}
	cl, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(cl) == 0 { // gone, or a zombie
		return 0, nil
	}
	args := strings.Split(strings.TrimRight(string(cl), "\x00"), "\x00")
	if !slices.Contains(args, "--pid-file="+pidFile) {
		return 0, nil
	}
	return pid, args
}

func (a *Applier) cmdline(n Network) []string {
	cmd := Cmdline(n, a.cfg.Options)
	cmd[0] = a.cfg.Dnsmasq
	return cmd
}

// start writes the initial lease file and starts dnsmasq in the network's
// namespace. dnsmasq daemonizes (as under Neutron) so it outlives an
// agent restart; the agent finds it again by its pid file.
func (a *Applier) start(ctx context.Context, n Network) error {
	leases := a.cfg.File(n.ID, "leases")
	old, _ := os.ReadFile(leases)
	if _, err := writeIfChanged(leases, LeasesFile(n, a.cfg.Options, time.Now(), string(old))); err != nil {
		return err
	}
	argv := a.cmdline(n)
	errf, err := os.CreateTemp("", "dnsmasq-err-")
	if err != nil {
		return err
	}
	defer os.Remove(errf.Name())
	defer errf.Close()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	// A file, not a pipe: the daemon keeps no pipe open that Wait would
	// wait for.
	cmd.Stderr, cmd.Stdout = errf, errf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := lab.InNS(Namespace(n.ID), cmd.Start); err != nil {
		return fmt.Errorf("start dnsmasq: %w", err)
	}
	if err := cmd.Wait(); err != nil { // the parent exits once the daemon runs
		msg, _ := os.ReadFile(errf.Name())
		return fmt.Errorf("dnsmasq: %w: %s", err, bytes.TrimSpace(msg))
	}
	pid, _ := a.pidOf(n.ID)
	a.log.Info("dnsmasq started", "network", n.ID, "netns", Namespace(n.ID), "pid", pid)
	return nil
}

// stop ends the network's dnsmasq by pid: SIGTERM, then SIGKILL after 5s.
// It returns once the process has exited: a zombie counts as gone (its
// sockets and namespace are released at exit; reaping it is its parent's
// business, init's for a daemonized dnsmasq, which may take seconds).
func (a *Applier) stop(networkID string, pid int) error {
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop dnsmasq pid %d: %w", pid, err)
	}
	for _, sig := range []syscall.Signal{syscall.SIGKILL, 0} {
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if exited(pid) {
				return nil
			}
			if p, _ := a.pidOf(networkID); p != pid {
				return nil // the pid now belongs to another process
			}
			time.Sleep(10 * time.Millisecond)
		}
		if sig == 0 {
			break
		}
		if err := syscall.Kill(pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("kill dnsmasq pid %d: %w", pid, err)
		}
	}
	return fmt.Errorf("dnsmasq pid %d did not go away", pid)
}

// exited reports whether pid is gone or a zombie (exited, not yet reaped).
func exited(pid int) bool {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// The state follows the command name in parentheses; Z: a zombie, X: dead.
	i := bytes.LastIndexByte(st, ')')
	return i < 0 || i+2 >= len(st) || st[i+2] == 'Z' || st[i+2] == 'X'
}

// remove ends a network's service here: its dnsmasq, its tap (and with it
// the namespace's device), its namespace and its files.
func (a *Applier) remove(ctx context.Context, id string) error {
	var errs []error
	if pid, _ := a.pidOf(id); pid > 0 {
		errs = append(errs, a.stop(id, pid))
	}
	if b, err := os.ReadFile(a.cfg.File(id, "interface")); err == nil {
		dev := strings.TrimSpace(string(b))
		tap := "tap" + strings.TrimPrefix(dev, "ns-")
		errs = append(errs, a.cfg.Plugger.Unplug(ctx, tap))
		if h, err := hostHandle(a.cfg.HostNS); err == nil {
			if l, err := h.LinkByName(tap); err == nil {
				errs = append(errs, h.LinkDel(l))
			}
			h.Close()
		} else if a.cfg.HostNS == "" || lab.NSExists(a.cfg.HostNS) {
			errs = append(errs, err)
		}
	}
	errs = append(errs, lab.DeleteNS(Namespace(id)))
	if err := errors.Join(errs...); err != nil {
		return err // keep the directory: the next Apply retries
	}
	a.log.Info("network removed", "network", id, "netns", Namespace(id))
	return os.RemoveAll(filepath.Clean(a.cfg.Dir(id)))
}
