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
	return &Applier{cfg: cfg, log: cfg.Logger, applied: map[string]appliedRouter{}, stop: make(chan struct{})}
}

// Close stops sending the gratuitous ARPs still due.
func (a *Applier) Close() {
	a.once.Do(func() { close(a.stop) })
	a.garps.Wait()
}

// Resync makes the next Apply read every router's namespace back, which
// repairs whatever changed under it.
func (a *Applier) Resync() {
	a.mu.Lock()
	defer a.mu.Unlock()
	clear(a.applied)
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
func (a *Applier) Apply(ctx context.Context, s State) (Result, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var res Result
	if err := os.MkdirAll(a.cfg.StateDir, 0o755); err != nil {
		return res, err
	}
	type job struct {
		r    Router
		plan RouterPlan
		key  string
	}
	var jobs []job
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
	}
	errs := make([]error, len(jobs))
	ch := make(chan int)
	var wg sync.WaitGroup
	for range min(a.cfg.Workers, len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ch {
				j := jobs[i]
				errs[i] = a.ensure(ctx, j.plan, j.r, a.applied[j.r.ID])
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
		if err := a.remove(ctx, id); err != nil {
			errs = append(errs, fmt.Errorf("router %s: remove: %w", id, err))
			continue
		}
		delete(a.applied, id)
		res.Removed++
	}
	slices.Sort(res.ActiveFloatingIPs)
	return res, errors.Join(errs...)
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
// Apply left (zero after a restart).
func (a *Applier) ensure(ctx context.Context, p RouterPlan, r Router, prev appliedRouter) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// Owned before it exists: a crash half-way leaves nothing unowned.
	if err := os.WriteFile(filepath.Join(a.cfg.StateDir, r.ID), []byte(p.Namespace+"\n"), 0o644); err != nil {
		return err
	}
	if !lab.NSExists(p.Namespace) {
		if err := lab.CreateNS(p.Namespace); err != nil {
			return err
		}
		a.log.Info("created router namespace", "router", r.ID, "netns", p.Namespace)
	}
	if err := ensureSysctls(p); err != nil {
		return err
	}
	h, err := handle(p.Namespace)
	if err != nil {
		return err
	}
	defer h.Close()
	host, err := handle(a.cfg.HostNS)
	if err != nil {
		return err
	}
	defer host.Close()
	links, err := h.LinkList()
	if err != nil {
		return fmt.Errorf("list links: %w", err)
	}
	var errs []error
	wanted := map[string]bool{"lo": true}
	for _, d := range p.Devices {
		wanted[d.Name] = true
	}
	for _, l := range links {
		if name := l.Attrs().Name; !wanted[name] {
			errs = append(errs, a.unplug(ctx, h, host, p.Namespace, l))
		}
	}
	var removedAddrs []netip.Addr
	var garp []garpJob
	for _, d := range p.Devices {
		added, removed, err := a.ensureDevice(ctx, h, host, p.Namespace, d)
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
	if err := ensureRoutes(h, p); err != nil {
		return err
	}
	if err := ensureNAT(p); err != nil {
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
	if err := forgetConntrack(h, stale); err != nil {
		return fmt.Errorf("conntrack: %w", err)
	}
	a.announce(garp)
	return nil
}

// ensureSysctls sets the namespace's sysctls that differ.
func ensureSysctls(p RouterPlan) error {
	return lab.InNS(p.Namespace, func() error {
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
	})
}

// unplug removes a device the plan does not have (a removed router
// interface, or a gateway that changed).
func (a *Applier) unplug(ctx context.Context, h, host *netlink.Handle, ns string, l netlink.Link) error {
	name := l.Attrs().Name
	if !strings.HasPrefix(name, "qr-") && !strings.HasPrefix(name, "qg-") {
		return h.LinkDel(l)
	}
	err := a.cfg.Driver.Unplug(ctx, host, name)
	// The device may have gone with its host side.
	if l2, lerr := h.LinkByName(name); lerr == nil {
		err = errors.Join(err, h.LinkDel(l2))
	}
	if err != nil {
		return fmt.Errorf("unplug %s: %w", name, err)
	}
	a.log.Info("unplugged router port", "netns", ns, "device", name)
	return nil
}

// ensureDevice plugs d, sets its MAC, MTU and addresses and brings it up.
// It returns the addresses it added and removed.
func (a *Applier) ensureDevice(ctx context.Context, h, host *netlink.Handle, ns string, d Device) (added, removed []netip.Addr, err error) {
	if err := a.cfg.Driver.Plug(ctx, ns, h, host, d); err != nil {
		return nil, nil, fmt.Errorf("plug: %w", err)
	}
	l, err := h.LinkByName(d.Name)
	if err != nil {
		return nil, nil, err
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
// (the kernel's) exactly p.Routes.
func ensureRoutes(h *netlink.Handle, p RouterPlan) error {
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
		if pr, ok := readRoute(h, r); ok && want[pr] {
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
func readRoute(h *netlink.Handle, r netlink.Route) (PlannedRoute, bool) {
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
	l, err := h.LinkByIndex(r.LinkIndex)
	if err != nil {
		return PlannedRoute{}, false
	}
	return PlannedRoute{Destination: dst, Via: gw, Dev: l.Attrs().Name}, true
}

// ensureNAT makes the namespace's nftables table NATTable hold p.NAT: in
// one transaction, only the chains whose checksum (or hook) differs are
// rewritten (flush and refill, atomically), extra chains are deleted, and
// the table goes when the plan has no chains. Established connections
// keep their translation (conntrack), whatever is rewritten.
func ensureNAT(p RouterPlan) error {
	fd, err := netns.GetFromName(p.Namespace)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", p.Namespace, err)
	}
	defer fd.Close()
	// One socket for the reads and the commit (each request of a
	// non-lasting connection opens a socket inside the namespace).
	c, err := nftables.New(nftables.WithNetNSFd(int(fd)), nftables.AsLasting())
	if err != nil {
		return err
	}
	defer c.CloseLasting()
	t := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: NATTable}
	have := map[string]*nftables.Chain{}
	sums := map[string]string{}
	_, err = c.ListTableOfFamily(NATTable, nftables.TableFamilyIPv4)
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
// addrs.
func forgetConntrack(h *netlink.Handle, addrs []netip.Addr) error {
	var errs []error
	for _, ad := range addrs {
		if !ad.Is4() {
			continue
		}
		var filters []netlink.CustomConntrackFilter
		for _, k := range []netlink.ConntrackFilterType{netlink.ConntrackOrigDstIP, netlink.ConntrackReplyDstIP} {
			f := &netlink.ConntrackFilter{}
			if err := f.AddIP(k, net.IP(ad.AsSlice())); err != nil {
				return err
			}
			filters = append(filters, f)
		}
		if _, err := h.ConntrackDeleteFilters(netlink.ConntrackTable, unix.AF_INET, filters...); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", ad, err))
		}
	}
	return errors.Join(errs...)
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
func (a *Applier) remove(ctx context.Context, id string) error {
	ns := Namespace(id)
	var errs []error
	if lab.NSExists(ns) {
		h, err := handle(ns)
		if err != nil {
			return err
		}
		defer h.Close()
		host, err := handle(a.cfg.HostNS)
		if err != nil {
			return err
		}
		defer host.Close()
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
