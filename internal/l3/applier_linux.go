package l3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/userdata"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"neutrino/internal/lab"
)

// Config configures an Applier.
type Config struct {
	// StateDir holds one file per router this agent made (named by the
	// router id): what the Applier owns, so it never touches another
	// agent's qrouter- namespaces. Neutron's $state_path/l3 by default.
	StateDir string
	Driver   InterfaceDriver
	// HostNS is the node's namespace, where the L2 data plane (br-int and
	// ovs-vswitchd, or the brq bridges) lives ([DEFAULT] host_namespace;
	// "" is the agent's own).
	HostNS string
	// GARPs is how many rounds of gratuitous ARP follow a new address
	// (Neutron's send_arp_for_ha, default 3), GARPInterval apart (default
	// 1s); 0 rounds sends none.
	GARPs        int
	GARPInterval time.Duration
	// Workers is how many routers are converged at once (default 8).
	Workers int
	Logger  *slog.Logger
}

// Applier converges a node's routers to a State: per router a qrouter-
// namespace with its devices, addresses, routes, sysctls and NAT table.
// It reads what the namespace holds and changes only the difference, so
// applying a state the node already has changes nothing (a restarted
// agent does not interrupt traffic). After a successful Apply it
// remembers each router's plan and skips routers whose plan is unchanged
// until Resync. Its methods are safe for concurrent use.
type Applier struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	applied map[string]appliedRouter // by router id: what the last Apply left
	// audit makes the next Apply read every namespace's sysctls back
	// (Resync); otherwise a router whose ownership record holds the
	// plan's sysctls is trusted to have them (see Apply).
	audit bool

	// dirty are routers to read back at the next Apply whatever their
	// plan (Watch saw their devices come back to the node's namespace);
	// owners maps the devices of the routers applied to their router.
	dirtyMu sync.Mutex
	dirty   map[string]bool
	owners  map[string]string

	garps sync.WaitGroup
	stop  chan struct{}
	once  sync.Once
}

type appliedRouter struct {
	key  string
	fips map[netip.Addr]netip.Addr // floating IP -> fixed IP
}

// NewApplier returns an Applier; it changes nothing until Apply.
func NewApplier(cfg Config) *Applier {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 8
	}
	if cfg.GARPInterval <= 0 {
		cfg.GARPInterval = time.Second
	}
	return &Applier{cfg: cfg, log: cfg.Logger, applied: map[string]appliedRouter{},
		dirty: map[string]bool{}, owners: map[string]string{}, stop: make(chan struct{})}
}

// Close stops sending the gratuitous ARPs still due.
func (a *Applier) Close() {
	a.once.Do(func() { close(a.stop) })
	a.garps.Wait()
}

// Resync makes the next Apply read every router's namespace back,
// sysctls included, which repairs whatever changed under it.
func (a *Applier) Resync() {
	a.mu.Lock()
	defer a.mu.Unlock()
	clear(a.applied)
	a.audit = true
}

// Result says what an Apply did.
type Result struct {
	// Converged are the routers that were read back (and corrected where
	// they differed); Skipped were unchanged since the last Apply;
	// Removed are the routers deleted because the State no longer has
	// them.
	Converged, Skipped, Removed int
	// ActiveFloatingIPs are the ids of the floating IPs in place after
	// this Apply (translated and announced), sorted.
	ActiveFloatingIPs []string
}

// Apply converges the node to s. Routers are converged concurrently and
// errors collected per router (errors.Join); a router that failed is read
// back again by the next Apply. The routers this agent owns that s no
// longer has are removed: call Apply only with a complete State from the
// server, never before the first one (never flush on start).
//
// Sysctls are the one thing not read back on every full pass: opening a
// file under /proc/sys/net walks a dentry chain as long as the node has
// namespaces, so reading six per router made a restart's sync grow with
// the square of the routers. A router's ownership file records the
// sysctls set in its namespace; a router whose namespace exists and whose
// record matches its plan is trusted, and only the periodic audit
// (Resync) reads them back.
func (a *Applier) Apply(ctx context.Context, s State) (Result, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var res Result
	if err := os.MkdirAll(a.cfg.StateDir, 0o755); err != nil {
		return res, err
	}
	a.dirtyMu.Lock()
	for id := range a.dirty {
		delete(a.applied, id)
	}
	clear(a.dirty)
	a.dirtyMu.Unlock()
	type job struct {
		r    Router
		plan RouterPlan
		key  string
	}
	var jobs []job
	var devs []Device
	want := map[string]bool{}
	for _, r := range s.Routers {
		want[r.ID] = true
		p := Plan(r)
		k := planKey(p)
		if ar, ok := a.applied[r.ID]; ok && ar.key == k {
			res.Skipped++
			res.ActiveFloatingIPs = appendFIPs(res.ActiveFloatingIPs, r)
			continue
		}
		jobs = append(jobs, job{r: r, plan: p, key: k})
		devs = append(devs, p.Devices...)
	}
	host, err := handle(a.cfg.HostNS, unix.NETLINK_ROUTE)
	if err != nil {
		return res, err
	}
	defer host.Close()
	if err := a.cfg.Driver.Prepare(ctx, devs); err != nil {
		return res, fmt.Errorf("prepare %d router ports: %w", len(devs), err)
	}
	audit := a.audit
	errs := make([]error, len(jobs))
	ch := make(chan int)
	var wg sync.WaitGroup
	for range min(a.cfg.Workers, len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ch {
				j := jobs[i]
				errs[i] = a.ensure(ctx, j.plan, j.r, a.applied[j.r.ID], host, audit)
				if errs[i] != nil {
					errs[i] = fmt.Errorf("router %s: %w", j.r.ID, errs[i])
				}
			}
		}()
	}
	for i := range jobs {
		ch <- i
	}
	close(ch)
	wg.Wait()
	for i, j := range jobs {
		if errs[i] != nil {
			delete(a.applied, j.r.ID)
			continue
		}
		res.Converged++
		a.applied[j.r.ID] = appliedRouter{key: j.key, fips: fipMap(j.r)}
		res.ActiveFloatingIPs = appendFIPs(res.ActiveFloatingIPs, j.r)
	}
	owned, err := a.owned()
	errs = append(errs, err)
	for _, id := range owned {
		if want[id] {
			continue
		}
		if err := a.remove(ctx, id, host); err != nil {
			errs = append(errs, fmt.Errorf("router %s: remove: %w", id, err))
			continue
		}
		delete(a.applied, id)
		res.Removed++
	}
	slices.Sort(res.ActiveFloatingIPs)
	owners := map[string]string{}
	for _, r := range s.Routers {
		if _, ok := a.applied[r.ID]; ok {
			for _, d := range Plan(r).Devices {
				owners[d.Name] = r.ID
			}
		}
	}
	a.dirtyMu.Lock()
	a.owners = owners
	a.dirtyMu.Unlock()
	err = errors.Join(errs...)
	if err == nil {
		a.audit = false
	}
	return res, err
}

// Watch follows the links of the node's namespace until ctx ends and
// calls notify when a device of an applied router appears there: a qr- or
// qg- device belongs in its router's namespace, and one in the node's
// means that what held it went away and made it again. That is what an
// ovs-vswitchd restart does to the OVS driver's internal ports (the new
// switch makes every tap again in its own namespace, the old ones in the
// routers' namespaces are gone): the router is marked for a read back,
// and the next Apply plugs it again, without waiting for the periodic
// full pass. The subscription is renewed if it breaks.
func (a *Applier) Watch(ctx context.Context, notify func()) {
	for ctx.Err() == nil {
		err := a.watchOnce(ctx, notify)
		if ctx.Err() != nil {
			return
		}
		a.log.Warn("watching the node's links failed; again in a second", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (a *Applier) watchOnce(ctx context.Context, notify func()) error {
	ch := make(chan netlink.LinkUpdate, 256)
	done := make(chan struct{})
	defer close(done)
	failed := make(chan error, 1)
	opts := netlink.LinkSubscribeOptions{ListExisting: true, ErrorCallback: func(err error) {
		select {
		case failed <- err:
		default:
		}
	}}
	if a.cfg.HostNS != "" {
		fd, err := netns.GetFromName(a.cfg.HostNS)
		if err != nil {
			return fmt.Errorf("open netns %s: %w", a.cfg.HostNS, err)
		}
		defer fd.Close()
		opts.Namespace = &fd
	}
	if err := netlink.LinkSubscribeWithOptions(ch, done, opts); err != nil {
		return fmt.Errorf("subscribe to links: %w", err)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-failed:
			return err
		case u, ok := <-ch:
			if !ok {
				return errors.New("link subscription closed")
			}
			if u.Header.Type != unix.RTM_NEWLINK || u.Link == nil {
				continue
			}
			name := u.Link.Attrs().Name
			a.dirtyMu.Lock()
			id, mine := a.owners[name]
			a.dirtyMu.Unlock()
			// Events queue: the device may have been moved into its
			// router's namespace since (as every new one is).
			if !mine || !a.inHost(name) {
				continue
			}
			a.dirtyMu.Lock()
			if mine && !a.dirty[id] {
				a.dirty[id] = true
				a.log.Info("router device back in the node's namespace; plugging it again", "router", id, "device", name)
			}
			a.dirtyMu.Unlock()
			notify()
		}
	}
}

// inHost reports whether the node's namespace has a device named dev.
func (a *Applier) inHost(dev string) bool {
	h, err := handle(a.cfg.HostNS, unix.NETLINK_ROUTE)
	if err != nil {
		return true // let the Apply find out
	}
	defer h.Close()
	_, err = h.LinkByName(dev)
	return err == nil
}

// Remove deletes every router this agent owns.
func (a *Applier) Remove(ctx context.Context) error {
	_, err := a.Apply(ctx, State{})
	return err
}

func appendFIPs(ids []string, r Router) []string {
	if r.Gateway == nil {
		return ids
	}
	for _, f := range r.FloatingIPs {
		ids = append(ids, f.ID)
	}
	return ids
}

func fipMap(r Router) map[netip.Addr]netip.Addr {
	m := map[netip.Addr]netip.Addr{}
	if r.Gateway != nil {
		for _, f := range r.FloatingIPs {
			m[f.FloatingIP] = f.FixedIP
		}
	}
	return m
}

// planKey identifies a plan completely (the rendering carries everything
// but the ports' and networks' ids, which the drivers use).
func planKey(p RouterPlan) string {
	var b strings.Builder
	b.WriteString(p.Render())
	for _, d := range p.Devices {
		fmt.Fprintf(&b, "%s %s %s\n", d.Name, d.PortID, d.NetworkID)
	}
	return b.String()
}

// owned lists the routers with a file in StateDir.
func (a *Applier) owned() ([]string, error) {
	ents, err := os.ReadDir(a.cfg.StateDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", a.cfg.StateDir, err)
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// ensure converges one router's namespace to p. prev is what the last
// Apply left (zero after a restart); host is a handle in the node's
// namespace, shared by the workers. sysctls says whether the namespace's
// sysctls are read back (see Apply).
//
// Everything inside the namespace goes through sockets opened there in
// one visit (a netlink handle and an nftables connection): entering a
// namespace is a system call per thread switch, and the applier's cost on
// a restart is per router, so it pays one.
func (a *Applier) ensure(ctx context.Context, p RouterPlan, r Router, prev appliedRouter, host *netlink.Handle, sysctls bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// Owned before it exists: a crash half-way leaves nothing unowned.
	// The full record (with the sysctls) is written once they are set.
	file := filepath.Join(a.cfg.StateDir, r.ID)
	record := ownership(p)
	if old, _ := os.ReadFile(file); string(old) != record {
		if err := os.WriteFile(file, []byte(p.Namespace+"\n"), 0o644); err != nil {
			return err
		}
		sysctls = true
	}
	if !lab.NSExists(p.Namespace) {
		if err := lab.CreateNS(p.Namespace); err != nil {
			return err
		}
		a.log.Info("created router namespace", "router", r.ID, "netns", p.Namespace)
		sysctls = true
	}
	var h *netlink.Handle
	var nft *nftables.Conn
	err := lab.InNS(p.Namespace, func() error {
		if sysctls {
			if err := ensureSysctls(p); err != nil {
				return err
			}
			if err := os.WriteFile(file, []byte(record), 0o644); err != nil {
				return err
			}
		}
		var err error
		if h, err = netlink.NewHandle(unix.NETLINK_ROUTE); err != nil {
			return fmt.Errorf("netlink handle: %w", err)
		}
		if nft, err = nftables.New(nftables.AsLasting()); err != nil {
			h.Close()
			return fmt.Errorf("nftables connection: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	defer h.Close()
	defer nft.CloseLasting()
	links, err := h.LinkList()
	if err != nil {
		return fmt.Errorf("list links: %w", err)
	}
	var errs []error
	wanted := map[string]bool{"lo": true}
	for _, d := range p.Devices {
		wanted[d.Name] = true
	}
	have := map[string]netlink.Link{}
	for _, l := range links {
		name := l.Attrs().Name
		have[name] = l
		if !wanted[name] {
			errs = append(errs, a.unplug(ctx, h, host, p.Namespace, l))
		}
	}
	var removedAddrs []netip.Addr
	var garp []garpJob
	for _, d := range p.Devices {
		added, removed, err := a.ensureDevice(ctx, h, host, p.Namespace, d, have[d.Name])
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", d.Name, err))
			continue
		}
		removedAddrs = append(removedAddrs, removed...)
		for _, ad := range added {
			if ad.Is4() {
				garp = append(garp, garpJob{ns: p.Namespace, dev: d.Name, addr: ad})
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err // routes and NAT need the devices
	}
	names := map[int]string{}
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
	}
	if err := ensureRoutes(h, p, names); err != nil {
		return err
	}
	if err := ensureNAT(nft, p); err != nil {
		return fmt.Errorf("nat: %w", err)
	}
	// Connections translated for a floating IP that went away or now
	// points elsewhere would keep their old translation (a continuous
	// ping would keep reaching the old VM): forget them, as Neutron does.
	stale := removedAddrs
	now := fipMap(r)
	for fip, fixed := range prev.fips {
		if f, ok := now[fip]; ok && f != fixed {
			stale = append(stale, fip)
		}
	}
	if err := forgetConntrack(p.Namespace, stale); err != nil {
		return fmt.Errorf("conntrack: %w", err)
	}
	a.announce(garp)
	return nil
}

// ownership is a router's ownership file: its namespace and the sysctls
// set in it.
func ownership(p RouterPlan) string {
	var b strings.Builder
	b.WriteString(p.Namespace + "\n")
	for _, s := range p.Sysctls {
		fmt.Fprintf(&b, "%s = %s\n", s.Key, s.Value)
	}
	return b.String()
}

// ensureSysctls sets the sysctls that differ; the caller is in the
// router's namespace.
func ensureSysctls(p RouterPlan) error {
	for _, s := range p.Sysctls {
		b, err := os.ReadFile(s.Path())
		if errors.Is(err, os.ErrNotExist) && strings.HasPrefix(s.Key, "net.ipv6.") {
			continue // a kernel without IPv6
		}
		if err != nil {
			return fmt.Errorf("sysctl %s: %w", s.Key, err)
		}
		if strings.TrimSpace(string(b)) == s.Value {
			continue
		}
		if err := os.WriteFile(s.Path(), []byte(s.Value), 0o644); err != nil {
			return fmt.Errorf("sysctl %s=%s: %w", s.Key, s.Value, err)
		}
	}
	return nil
}

// unplug removes a device the plan does not have (a removed router
// interface, or a gateway that changed).
func (a *Applier) unplug(ctx context.Context, h, host *netlink.Handle, ns string, l netlink.Link) error {
	name := l.Attrs().Name
	if !strings.HasPrefix(name, "qr-") && !strings.HasPrefix(name, "qg-") {
		return h.LinkDel(l)
	}
	err := a.cfg.Driver.Unplug(ctx, host, name)
	// The device may have gone with its host side, also between the
	// lookup and the delete (ovs-vswitchd removes an internal port's
	// device on its own once the port is out of OVSDB): gone is the goal.
	if l2, lerr := h.LinkByName(name); lerr == nil {
		if derr := h.LinkDel(l2); !errors.Is(derr, unix.ENODEV) {
			err = errors.Join(err, derr)
		}
	}
	if err != nil {
		return fmt.Errorf("unplug %s: %w", name, err)
	}
	a.log.Info("unplugged router port", "netns", ns, "device", name)
	return nil
}

// ensureDevice plugs d (cur is the device the namespace has, nil if
// none), sets its MAC, MTU and addresses and brings it up. It returns the
// addresses it added and removed.
func (a *Applier) ensureDevice(ctx context.Context, h, host *netlink.Handle, ns string, d Device, cur netlink.Link) (added, removed []netip.Addr, err error) {
	l, err := a.cfg.Driver.Plug(ctx, ns, h, host, d, cur)
	if err != nil {
		return nil, nil, fmt.Errorf("plug: %w", err)
	}
	if mac, err := net.ParseMAC(d.MAC); err == nil && !bytes.Equal(l.Attrs().HardwareAddr, mac) {
		if err := h.LinkSetHardwareAddr(l, mac); err != nil {
			return nil, nil, fmt.Errorf("mac %s: %w", mac, err)
		}
	}
	if d.MTU > 0 && l.Attrs().MTU != d.MTU {
		if err := h.LinkSetMTU(l, d.MTU); err != nil {
			return nil, nil, fmt.Errorf("mtu %d: %w", d.MTU, err)
		}
	}
	if l.Attrs().Flags&net.FlagUp == 0 {
		if err := h.LinkSetUp(l); err != nil {
			return nil, nil, fmt.Errorf("up: %w", err)
		}
	}
	have, err := h.AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		return nil, nil, fmt.Errorf("list addresses: %w", err)
	}
	want := map[netip.Prefix]bool{}
	for _, p := range d.Addrs {
		want[p] = true
	}
	var errs []error
	for _, ad := range have {
		p, ok := prefixOf(ad.IPNet)
		if !ok || p.Addr().IsLinkLocalUnicast() {
			continue
		}
		if want[p] {
			delete(want, p)
			continue
		}
		if err := h.AddrDel(l, &ad); err != nil {
			errs = append(errs, fmt.Errorf("delete address %s: %w", p, err))
			continue
		}
		removed = append(removed, p.Addr())
	}
	for _, p := range d.Addrs {
		if !want[p] {
			continue
		}
		// No DAD on a router's own address (Neutron's nodad): the
		// address works at once.
		ad := &netlink.Addr{IPNet: ipNet(p)}
		if p.Addr().Is6() {
			ad.Flags = unix.IFA_F_NODAD
		}
		if err := h.AddrAdd(l, ad); err != nil {
			errs = append(errs, fmt.Errorf("add address %s: %w", p, err))
			continue
		}
		added = append(added, p.Addr())
	}
	return added, removed, errors.Join(errs...)
}

// ensureRoutes makes the main table's routes beyond the connected ones
// (the kernel's) exactly p.Routes. names are the namespace's devices by
// index as listed before plugging (a device not among them is looked up).
func ensureRoutes(h *netlink.Handle, p RouterPlan, names map[int]string) error {
	have, err := h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return fmt.Errorf("list routes: %w", err)
	}
	want := map[PlannedRoute]bool{}
	for _, r := range p.Routes {
		want[r] = true
	}
	var errs []error
	for _, r := range have {
		if r.Protocol == unix.RTPROT_KERNEL || r.Type != unix.RTN_UNICAST {
			continue
		}
		if pr, ok := readRoute(h, r, names); ok && want[pr] {
			delete(want, pr)
			continue
		}
		if err := h.RouteDel(&r); err != nil {
			errs = append(errs, fmt.Errorf("delete route %s via %s: %w", r.Dst, r.Gw, err))
		}
	}
	for _, r := range p.Routes {
		if !want[r] {
			continue
		}
		l, err := h.LinkByName(r.Dev)
		if err != nil {
			errs = append(errs, fmt.Errorf("route %s: %w", r.Destination, err))
			continue
		}
		nr := &netlink.Route{LinkIndex: l.Attrs().Index, Dst: ipNet(r.Destination), Gw: net.IP(r.Via.AsSlice()),
			Protocol: unix.RTPROT_STATIC, Table: unix.RT_TABLE_MAIN}
		if err := h.RouteReplace(nr); err != nil {
			errs = append(errs, fmt.Errorf("route %s via %s dev %s: %w", r.Destination, r.Via, r.Dev, err))
		}
	}
	return errors.Join(errs...)
}

// readRoute is a kernel route as a PlannedRoute (false: not one of the
// shapes we make).
func readRoute(h *netlink.Handle, r netlink.Route, names map[int]string) (PlannedRoute, bool) {
	gw, ok := netip.AddrFromSlice(r.Gw)
	if !ok || r.LinkIndex == 0 {
		return PlannedRoute{}, false
	}
	gw = gw.Unmap()
	var dst netip.Prefix
	if r.Dst == nil {
		dst = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
		if gw.Is6() {
			dst = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
		}
	} else if dst, ok = prefixOf(r.Dst); !ok {
		return PlannedRoute{}, false
	}
	name, ok := names[r.LinkIndex]
	if !ok {
		l, err := h.LinkByIndex(r.LinkIndex)
		if err != nil {
			return PlannedRoute{}, false
		}
		name = l.Attrs().Name
	}
	return PlannedRoute{Destination: dst, Via: gw, Dev: name}, true
}

// ensureNAT makes the namespace's nftables table NATTable hold p.NAT: in
// one transaction, only the chains whose checksum (or hook) differs are
// rewritten (flush and refill, atomically), extra chains are deleted, and
// the table goes when the plan has no chains. Established connections
// keep their translation (conntrack), whatever is rewritten. c is a
// lasting connection opened in the router's namespace.
func ensureNAT(c *nftables.Conn, p RouterPlan) error {
	t := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: NATTable}
	have := map[string]*nftables.Chain{}
	sums := map[string]string{}
	_, err := c.ListTableOfFamily(NATTable, nftables.TableFamilyIPv4)
	exists := err == nil
	if err != nil && !errors.Is(err, unix.ENOENT) && !strings.Contains(err.Error(), "no such file") {
		return fmt.Errorf("read table: %w", err)
	}
	if exists {
		chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
		if err != nil {
			return fmt.Errorf("read chains: %w", err)
		}
		for _, ch := range chains {
			if ch.Table.Name != NATTable {
				continue
			}
			have[ch.Name] = ch
			rules, err := c.GetRules(t, ch)
			if err != nil {
				return fmt.Errorf("read rules of %s: %w", ch.Name, err)
			}
			if n := len(rules); n > 0 {
				s, _ := userdata.GetString(rules[n-1].UserData, userdata.TypeComment)
				sums[ch.Name] = s
				if s == "" {
					sums[ch.Name] = "?" // not ours: rewrite
				}
			}
		}
	}
	if len(p.NAT.Chains) == 0 {
		if !exists {
			return nil
		}
		c.DelTable(t)
		return c.Flush()
	}
	changed := false
	if !exists {
		c.AddTable(t)
		changed = true
	}
	for _, want := range p.NAT.Chains {
		hook, prio := natHooks[want.Hook], nftables.ChainPriority(want.Priority)
		cur := have[want.Name]
		delete(have, want.Name)
		same := cur != nil && cur.Hooknum != nil && *cur.Hooknum == *hook && cur.Priority != nil &&
			*cur.Priority == prio && cur.Type == nftables.ChainTypeNAT
		if same && sumOf(sums[want.Name]) == want.Sum() {
			continue
		}
		changed = true
		ch := &nftables.Chain{Name: want.Name, Table: t}
		if cur != nil && !same {
			c.DelChain(ch) // a hook or priority is changed only by a new chain
			cur = nil
		}
		if cur == nil {
			pol := nftables.ChainPolicyAccept
			ch.Hooknum, ch.Priority, ch.Type, ch.Policy = hook, &prio, nftables.ChainTypeNAT, &pol
			c.AddChain(ch)
		} else {
			c.FlushChain(ch)
		}
		for i, r := range want.Rules {
			lr := &nftables.Rule{Table: t, Chain: ch, Exprs: r.Exprs}
			if i == len(want.Rules)-1 {
				lr.UserData = userdata.AppendString(nil, userdata.TypeComment, want.comment())
			}
			c.AddRule(lr)
		}
	}
	for name := range have {
		changed = true
		c.DelChain(&nftables.Chain{Name: name, Table: t})
	}
	if !changed {
		return nil
	}
	return c.Flush()
}

var natHooks = map[string]*nftables.ChainHook{
	"prerouting": nftables.ChainHookPrerouting, "output": nftables.ChainHookOutput, "postrouting": nftables.ChainHookPostrouting,
}

func sumOf(comment string) string { s, _ := strings.CutPrefix(comment, "sum "); return s }

// forgetConntrack deletes the connections to or translated to any of
// addrs in namespace ns. The netfilter socket it needs is opened only
// when there is something to forget.
func forgetConntrack(ns string, addrs []netip.Addr) error {
	var filters []netlink.CustomConntrackFilter
	for _, ad := range addrs {
		if !ad.Is4() {
			continue
		}
		for _, k := range []netlink.ConntrackFilterType{netlink.ConntrackOrigDstIP, netlink.ConntrackReplyDstIP} {
			f := &netlink.ConntrackFilter{}
			if err := f.AddIP(k, net.IP(ad.AsSlice())); err != nil {
				return err
			}
			filters = append(filters, f)
		}
	}
	if len(filters) == 0 {
		return nil
	}
	h, err := handle(ns, unix.NETLINK_NETFILTER)
	if err != nil {
		return err
	}
	defer h.Close()
	if _, err := h.ConntrackDeleteFilters(netlink.ConntrackTable, unix.AF_INET, filters...); err != nil {
		return fmt.Errorf("%v: %w", addrs, err)
	}
	return nil
}

type garpJob struct {
	ns, dev string
	addr    netip.Addr
}

// announce sends the gratuitous ARPs for newly added addresses: the
// first round at once, the others GARPInterval apart in the background.
func (a *Applier) announce(jobs []garpJob) {
	if a.cfg.GARPs <= 0 || len(jobs) == 0 {
		return
	}
	send := func() {
		for _, j := range jobs {
			if err := sendGARP(j.ns, j.dev, j.addr); err != nil && lab.NSExists(j.ns) {
				a.log.Warn("gratuitous ARP", "netns", j.ns, "device", j.dev, "addr", j.addr, "err", err)
			}
		}
	}
	send()
	if a.cfg.GARPs == 1 {
		return
	}
	a.garps.Add(1)
	go func() {
		defer a.garps.Done()
		t := time.NewTicker(a.cfg.GARPInterval)
		defer t.Stop()
		for range a.cfg.GARPs - 1 {
			select {
			case <-a.stop:
				return
			case <-t.C:
				send()
			}
		}
	}()
}

// remove deletes a router: its devices' host sides, its namespace, its
// ownership file.
func (a *Applier) remove(ctx context.Context, id string, host *netlink.Handle) error {
	ns := Namespace(id)
	var errs []error
	if lab.NSExists(ns) {
		h, err := handle(ns, unix.NETLINK_ROUTE)
		if err != nil {
			return err
		}
		defer h.Close()
		links, err := h.LinkList()
		if err != nil {
			return err
		}
		for _, l := range links {
			if n := l.Attrs().Name; n != "lo" {
				errs = append(errs, a.unplug(ctx, h, host, ns, l))
			}
		}
		errs = append(errs, lab.DeleteNS(ns))
	}
	if err := errors.Join(errs...); err != nil {
		return err // keep the file: the next Apply retries
	}
	a.log.Info("router removed", "router", id, "netns", ns)
	return os.Remove(filepath.Join(a.cfg.StateDir, id))
}

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
