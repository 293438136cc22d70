package linux

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"neutrino/internal/dataplane"
	"neutrino/internal/dataplane/nftfw"
)

// Options configure the Linux data plane of one node.
type Options struct {
	// NetNS is the named network namespace (/run/netns/NAME) to manage;
	// empty means the namespace the process runs in.
	NetNS string
	// TTL and TOS of the outer IP header ([vxlan] ttl, tos); 0 inherits.
	TTL, TOS int
	// InterfaceMappings is physical_interface_mappings: physnet ->
	// interface, for flat and vlan networks.
	InterfaceMappings map[string]string
	Logger            *slog.Logger
}

// Dataplane is the Linux kernel data plane of one node.
type Dataplane struct {
	opts Options
	log  *slog.Logger
	h    *netlink.Handle
	// fw is the nftables firewall of the namespace (firewall_linux.go).
	fw *nftfw.Applier

	mu sync.Mutex
	// installed is the record of the FDB and neighbour entries on each of
	// our vxlan devices, by device name; see read.
	installed map[string]*devEntries
	// index is each link's ifindex as the last read dumped it: FDB and
	// neighbour changes name their device by index, so they need no
	// lookup request of their own.
	index map[string]int
	// applied is each network as the last Apply without L2 errors
	// realised it (entry slices copied), with the LocalIP and UDP port
	// then: a network the same now, whose device's record holds, is
	// settled (options.Settled) and costs that Apply nothing.
	applied      map[string]dataplane.Network
	appliedLocal netip.Addr
	appliedPort  int
	// stats counts the netlink requests of the Apply in progress (nil
	// outside Apply) and last those of the latest Apply.
	stats, last *ApplyStats

	// Device events (events.go): the coalescing channel, closed-on-Close
	// done channel and the link watcher goroutine.
	events    dataplane.Events
	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// ApplyStats counts the netlink requests one Apply sent, so that a
// benchmark or test can check that a change costs requests in proportion
// to the change, not to what the node holds.
type ApplyStats struct {
	// Dumps are dump requests: the link list and the address list on
	// every Apply, and the FDB and neighbour tables of a vxlan device the
	// record does not hold (ReadBacks of those devices).
	Dumps, ReadBacks int
	// Dumped counts the objects those dumps returned (links, addresses,
	// FDB and neighbour entries): what the Apply read of the kernel.
	Dumped int
	// EntriesPlanned counts the desired entries compared with the
	// kernel's: those of the networks not settled (the ones that changed
	// since the last Apply, or whose device had to be read back).
	EntriesPlanned int
	// Lookups are single-object reads (a link by name or index).
	Lookups int
	// Changes by kind: static FDB entries added (append or replace) and
	// deleted, neighbour entries set and deleted, and link changes
	// (create, delete, MTU, master, up).
	FDBAdds, FDBDels, NeighSets, NeighDels, LinkChanges int
}

// Requests is every netlink request counted.
func (s ApplyStats) Requests() int {
	return s.Dumps + s.Lookups + s.FDBAdds + s.FDBDels + s.NeighSets + s.NeighDels + s.LinkChanges
}

// LastApply returns the counts of the most recent Apply.
func (d *Dataplane) LastApply() ApplyStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.last == nil {
		return ApplyStats{}
	}
	return *d.last
}

// count records one request in the Apply in progress.
func (d *Dataplane) count(f func(*ApplyStats)) {
	if d.stats != nil {
		f(d.stats)
	}
}

var (
	_ dataplane.Dataplane = (*Dataplane)(nil)
	_ dataplane.Resyncer  = (*Dataplane)(nil)
)

// devEntries is what one vxlan device holds of the entries we manage,
// as last read back and changed by us since. index is the device's
// ifindex then: a device deleted and re-created (by anyone) has a new
// index and none of the entries, so the record is only trusted while the
// index is the same.
type devEntries struct {
	index int
	fdb   map[fdbEntry]bool
	neigh map[netip.Addr]neighEntry
}

// New opens a netlink handle in the node's namespace. It changes nothing.
func New(opts Options) (*Dataplane, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var h *netlink.Handle
	var err error
	if opts.NetNS == "" {
		h, err = netlink.NewHandle()
	} else {
		var fd netns.NsHandle
		fd, err = netns.GetFromName(opts.NetNS)
		if err != nil {
			return nil, fmt.Errorf("linux dataplane: open netns %s: %w", opts.NetNS, err)
		}
		defer fd.Close()
		h, err = netlink.NewHandleAt(fd)
	}
	if err != nil {
		return nil, fmt.Errorf("linux dataplane: netlink: %w", err)
	}
	d := &Dataplane{opts: opts, log: log.With("dataplane", "linux", "netns", opts.NetNS), h: h, fw: nftfw.NewApplier(opts.NetNS, log),
		installed: map[string]*devEntries{}, events: dataplane.NewEvents(), done: make(chan struct{})}
	d.wg.Add(1)
	go d.watchLinks()
	return d, nil
}

// Close stops the link watcher and releases the netlink handle; devices
// and entries stay.
func (d *Dataplane) Close() error {
	d.closeOnce.Do(func() {
		close(d.done)
		d.wg.Wait()
		d.h.Close()
	})
	return nil
}

// Apply converges the kernel to desired (see dataplane.Dataplane): the
// firewall, then L2 (links, FDB, neighbours), each whatever the other's
// result. The firewall goes first: its rules match taps by name, so a tap
// is filtered before it is put on its network's bridge.
func (d *Dataplane) Apply(ctx context.Context, desired dataplane.NodeState) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stats = &ApplyStats{}
	defer func() { d.last, d.stats = d.stats, nil }()
	_, fw := d.fw.Apply(ctx, firewallInput(desired))
	l2 := d.applyL2(ctx, desired)
	return errors.Join(fw, l2)
}

func (d *Dataplane) applyL2(ctx context.Context, desired dataplane.NodeState) error {
	// Networks as last applied: their devices' entries are not read
	// from the record, computed or diffed.
	same := map[string]string{} // vxlan device -> network id
	if d.appliedLocal == desired.LocalIP && d.appliedPort == desired.UDPPort {
		for id, n := range desired.Networks {
			if old, ok := d.applied[id]; ok && !n.Provider() && sameNetwork(old, n) {
				same[VXLANName(n.VNI)] = id
			}
		}
	}
	cur, skipped, err := d.readSkipping(same)
	if err != nil {
		return fmt.Errorf("linux dataplane: read kernel state: %w", err)
	}
	opt := options{TTL: d.opts.TTL, TOS: d.opts.TOS, Mappings: d.opts.InterfaceMappings, Settled: map[string]bool{}}
	for dev := range skipped {
		opt.Settled[same[dev]] = true
	}
	overlays := false
	for _, n := range desired.Networks {
		overlays = overlays || !n.Provider()
	}
	if overlays {
		dev, err := d.deviceWithAddr(desired.LocalIP)
		if err != nil {
			// Without local_ip on an interface every vxlan device would be
			// wrong; change nothing rather than re-create working ones.
			return fmt.Errorf("linux dataplane: local_ip: %w", err)
		}
		opt.VTEPDev = dev
	}
	ops := plan(cur, desired, opt)
	if resettle(ops, desired, opt.Settled) {
		// A settled network's device is re-created: plan everything.
		if cur, _, err = d.readSkipping(nil); err != nil {
			return fmt.Errorf("linux dataplane: read kernel state: %w", err)
		}
		opt.Settled = nil
		ops = plan(cur, desired, opt)
	}
	for id, n := range desired.Networks {
		if !opt.Settled[id] {
			d.count(func(s *ApplyStats) { s.EntriesPlanned += len(n.Entries) })
		}
	}
	errs := providerErrors(cur, desired, opt)
	failed := map[string]bool{} // devices whose creation failed: their later ops are moot
	for _, o := range ops {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		if failed[opDevice(o)] || failed[o.Master] {
			continue
		}
		err := d.exec(o)
		d.record(o, err)
		if err != nil {
			if o.Kind == opAddBridge || o.Kind == opAddVXLAN || o.Kind == opAddVLAN {
				failed[o.Link] = true
			}
			errs = append(errs, fmt.Errorf("%s: %w", o, err))
			continue
		}
		d.log.Debug("applied", "op", o.String())
	}
	if len(ops) > 0 {
		d.log.Info("applied", "ops", len(ops))
	}
	d.remember(desired, opt.Settled, len(errs) == 0)
	return errors.Join(errs...)
}

// remember keeps desired's networks as applied (see applied): settled
// ones as they were, the others copied, so the cost follows the change.
// After an error nothing is trusted.
func (d *Dataplane) remember(desired dataplane.NodeState, settled map[string]bool, ok bool) {
	if !ok {
		d.applied = nil
		return
	}
	next := make(map[string]dataplane.Network, len(desired.Networks))
	for id, n := range desired.Networks {
		if settled[id] {
			next[id] = d.applied[id]
			continue
		}
		n.Flood, n.Entries = slices.Clone(n.Flood), slices.Clone(n.Entries)
		next[id] = n
	}
	d.applied, d.appliedLocal, d.appliedPort = next, desired.LocalIP, desired.UDPPort
}

// CheckInterfaceMappings reports mapped physical interfaces that do not
// exist. Neutron's agent refuses to start then ("Interface eth1 for
// physical network physnet1 does not exist. Agent terminated!").
func (d *Dataplane) CheckInterfaceMappings() error {
	var errs []error
	for _, physnet := range slices.Sorted(maps.Keys(d.opts.InterfaceMappings)) {
		iface := d.opts.InterfaceMappings[physnet]
		if _, err := d.h.LinkByName(iface); err != nil {
			errs = append(errs, fmt.Errorf("interface %s for physical network %s does not exist: %w", iface, physnet, err))
		}
	}
	return errors.Join(errs...)
}

// Resync makes the next Apply read every managed FDB and neighbour entry
// back from the kernel (dataplane.Resyncer).
func (d *Dataplane) Resync() {
	d.mu.Lock()
	defer d.mu.Unlock()
	clear(d.installed)
	d.applied = nil
	d.fw.Resync()
}

// Drifted reports whether one of the vxlan devices we hold a record of
// is gone or was re-created since (one link dump; dataplane.Resyncer).
// Entries changed by hand on a surviving device wait for the audit.
func (d *Dataplane) Drifted() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.installed) == 0 {
		return false
	}
	links, err := d.linkList()
	if err != nil {
		return true
	}
	seen := 0
	for _, l := range links {
		if rec, ok := d.installed[l.Attrs().Name]; ok {
			if rec.index != l.Attrs().Index {
				return true
			}
			seen++
		}
	}
	return seen != len(d.installed)
}

// opDevice is the device an op changes.
func opDevice(o op) string {
	switch o.Kind {
	case opFDBAppend, opFDBReplace, opFDBDel:
		return o.FDB.Dev
	case opNeighReplace, opNeighDel:
		return o.Neigh.Dev
	}
	return o.Link
}

// record brings the entry record up to date after op ran with result
// err. A device whose op failed, and a device just created (its index is
// not known here), lose their record: the next Apply reads them back.
func (d *Dataplane) record(o op, err error) {
	dev := opDevice(o)
	rec, ok := d.installed[dev]
	if !ok {
		return
	}
	if err != nil {
		delete(d.installed, dev)
		return
	}
	switch o.Kind {
	case opDelLink, opAddVXLAN:
		delete(d.installed, dev)
	case opFDBReplace:
		for e := range rec.fdb {
			if e.MAC == o.FDB.MAC {
				delete(rec.fdb, e)
			}
		}
		rec.fdb[o.FDB] = true
	case opFDBAppend:
		rec.fdb[o.FDB] = true
	case opFDBDel:
		delete(rec.fdb, o.FDB)
	case opNeighReplace:
		rec.neigh[o.Neigh.IP] = o.Neigh
	case opNeighDel:
		delete(rec.neigh, o.Neigh.IP)
	}
}

// Devices lists the tap devices on the node.
func (d *Dataplane) Devices(ctx context.Context) ([]dataplane.Device, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	links, err := d.linkList()
	if err != nil {
		return nil, fmt.Errorf("linux dataplane: list links: %w", err)
	}
	var out []dataplane.Device
	for _, l := range links {
		a := l.Attrs()
		if !strings.HasPrefix(a.Name, "tap") {
			continue
		}
		out = append(out, dataplane.Device{
			PortID: strings.TrimPrefix(a.Name, "tap"),
			Name:   a.Name,
			MAC:    a.HardwareAddr.String(),
			Up:     a.Flags&net.FlagUp != 0,
		})
	}
	return out, nil
}

// linkList retries a dump the kernel interrupted (links changed meanwhile).
func (d *Dataplane) linkList() ([]netlink.Link, error) {
	for i := 0; ; i++ {
		ls, err := d.h.LinkList()
		d.count(func(s *ApplyStats) { s.Dumps++; s.Dumped += len(ls) })
		if errors.Is(err, netlink.ErrDumpInterrupted) && i < 5 {
			continue
		}
		return ls, err
	}
}

func (d *Dataplane) neighList(index, family int) ([]netlink.Neigh, error) {
	for i := 0; ; i++ {
		ns, err := d.h.NeighList(index, family)
		d.count(func(s *ApplyStats) { s.Dumps++; s.Dumped += len(ns) })
		if errors.Is(err, netlink.ErrDumpInterrupted) && i < 5 {
			continue
		}
		return ns, err
	}
}

// read collects the links and, on our vxlan devices, the entries we own:
// from the record where it holds the device (same ifindex), else from the
// kernel (an FDB and a neighbour dump of that device), which then becomes
// the record. Only links are dumped on every Apply; their number follows
// the networks and ports, not the entries.
func (d *Dataplane) read() (kernelState, error) {
	st, _, err := d.readSkipping(nil)
	return st, err
}

// readSkipping is read that leaves out the entries of the vxlan devices
// in skip whose record holds (returned as skipped).
func (d *Dataplane) readSkipping(skip map[string]string) (kernelState, map[string]bool, error) {
	var st kernelState
	skipped := map[string]bool{}
	links, err := d.linkList()
	if err != nil {
		return st, nil, err
	}
	names := map[int]string{}
	d.index = make(map[string]int, len(links))
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
		d.index[l.Attrs().Name] = l.Attrs().Index
	}
	var errs []error
	for _, l := range links {
		a := l.Attrs()
		k := link{Name: a.Name, Kind: l.Type(), Master: names[a.MasterIndex], Up: a.Flags&net.FlagUp != 0, MTU: a.MTU}
		k.Alias = a.Alias
		if v, ok := l.(*netlink.Vlan); ok {
			k.VLAN = &vlanLink{Parent: names[a.ParentIndex], ID: v.VlanId}
		}
		if v, ok := l.(*netlink.Vxlan); ok {
			k.VXLAN = &vxlanSpec{
				VNI: uint32(v.VxlanId), Port: v.Port, Local: addr(v.SrcAddr), Group: addr(v.Group),
				Dev: names[v.VtepDevIndex], TTL: v.TTL, TOS: v.TOS, Learning: v.Learning, Proxy: v.Proxy,
			}
		}
		st.Links = append(st.Links, k)
		if k.Kind != "vxlan" || !ownedVXLAN.MatchString(k.Name) {
			continue
		}
		if rec, ok := d.installed[a.Name]; ok && rec.index == a.Index {
			if _, ok := skip[a.Name]; ok {
				skipped[a.Name] = true
				continue
			}
			for e := range rec.fdb {
				st.FDB = append(st.FDB, e)
			}
			for _, e := range rec.neigh {
				st.Neigh = append(st.Neigh, e)
			}
			continue
		}
		delete(d.installed, a.Name)
		d.count(func(s *ApplyStats) { s.ReadBacks++ })
		rec := &devEntries{index: a.Index, fdb: map[fdbEntry]bool{}, neigh: map[netip.Addr]neighEntry{}}
		nFDB, nNeigh := len(st.FDB), len(st.Neigh)
		fdb, err := d.neighList(a.Index, unix.AF_BRIDGE)
		if err != nil {
			errs = append(errs, fmt.Errorf("fdb of %s: %w", a.Name, err))
		}
		for _, n := range fdb {
			// Static "self" entries only: learned ones belong to the kernel.
			if n.Flags&netlink.NTF_SELF == 0 || n.State&(netlink.NUD_PERMANENT|netlink.NUD_NOARP) == 0 {
				continue
			}
			dst := addr(n.IP)
			if !dst.IsValid() || len(n.HardwareAddr) == 0 {
				continue
			}
			st.FDB = append(st.FDB, fdbEntry{Dev: a.Name, MAC: n.HardwareAddr.String(), Dst: dst})
		}
		neigh, err := d.neighList(a.Index, netlink.FAMILY_V4)
		if err != nil {
			errs = append(errs, fmt.Errorf("neighbours of %s: %w", a.Name, err))
		}
		for _, n := range neigh {
			ip := addr(n.IP)
			if n.State&netlink.NUD_PERMANENT == 0 || !ip.IsValid() {
				continue
			}
			st.Neigh = append(st.Neigh, neighEntry{Dev: a.Name, IP: ip, MAC: n.HardwareAddr.String()})
		}
		if len(errs) > 0 {
			continue // keep no record of a device we could not read
		}
		for _, e := range st.FDB[nFDB:] {
			rec.fdb[e] = true
		}
		for _, e := range st.Neigh[nNeigh:] {
			rec.neigh[e.IP] = e
		}
		d.installed[a.Name] = rec
	}
	return st, skipped, errors.Join(errs...)
}

// deviceWithAddr names the interface holding ip (the vxlan devices' "dev",
// as Neutron's agent derives it from local_ip).
func (d *Dataplane) deviceWithAddr(ip netip.Addr) (string, error) {
	if !ip.IsValid() {
		return "", errors.New("local_ip is not set")
	}
	family := netlink.FAMILY_V4
	if ip.Is6() {
		family = netlink.FAMILY_V6
	}
	addrs, err := d.h.AddrList(nil, family)
	d.count(func(s *ApplyStats) { s.Dumps++; s.Dumped += len(addrs) })
	if err != nil {
		return "", fmt.Errorf("list addresses: %w", err)
	}
	for _, a := range addrs {
		if addr(a.IP) == ip {
			d.count(func(s *ApplyStats) { s.Lookups++ })
			l, err := d.h.LinkByIndex(a.LinkIndex)
			if err != nil {
				return "", fmt.Errorf("link of %s: %w", ip, err)
			}
			return l.Attrs().Name, nil
		}
	}
	return "", fmt.Errorf("%s is on no interface", ip)
}

func (d *Dataplane) exec(o op) error {
	byName := func(n string) (netlink.Link, error) {
		d.count(func(s *ApplyStats) { s.Lookups++ })
		return d.h.LinkByName(n)
	}
	// indexOf is the device's ifindex from the last dump; a device made
	// since (or unknown) is looked up.
	indexOf := func(n string) (int, error) {
		if i, ok := d.index[n]; ok {
			return i, nil
		}
		l, err := byName(n)
		if err != nil {
			return 0, err
		}
		d.index[n] = l.Attrs().Index
		return l.Attrs().Index, nil
	}
	switch o.Kind {
	case opFDBAppend, opFDBReplace:
		d.count(func(s *ApplyStats) { s.FDBAdds++ })
	case opFDBDel:
		d.count(func(s *ApplyStats) { s.FDBDels++ })
	case opNeighReplace:
		d.count(func(s *ApplyStats) { s.NeighSets++ })
	case opNeighDel:
		d.count(func(s *ApplyStats) { s.NeighDels++ })
	case opDelLink, opAddBridge, opAddVXLAN, opAddVLAN:
		// A link made or deleted here has another index (or none) now.
		delete(d.index, o.Link)
		d.count(func(s *ApplyStats) { s.LinkChanges++ })
	default:
		d.count(func(s *ApplyStats) { s.LinkChanges++ })
	}
	switch o.Kind {
	case opDelLink:
		l, err := byName(o.Link)
		if err != nil {
			return err
		}
		return d.h.LinkDel(l)
	case opAddBridge:
		// Snooping off: a snooping bridge joins the all-snoopers group and
		// sends IGMP reports into the overlay; without a querier in the
		// tenant network it floods multicast to every port anyway.
		off := false
		return d.h.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: o.Link}, MulticastSnooping: &off})
	case opAddVXLAN:
		v := &netlink.Vxlan{
			LinkAttrs: netlink.LinkAttrs{Name: o.Link, MTU: o.MTU},
			VxlanId:   int(o.Spec.VNI), Port: o.Spec.Port, TTL: o.Spec.TTL, TOS: o.Spec.TOS,
			Learning: o.Spec.Learning, Proxy: o.Spec.Proxy,
			SrcAddr: ipOf(o.Spec.Local), Group: ipOf(o.Spec.Group),
		}
		if o.Spec.Dev != "" {
			dev, err := byName(o.Spec.Dev)
			if err != nil {
				return err
			}
			v.VtepDevIndex = dev.Attrs().Index
		}
		return d.h.LinkAdd(v)
	case opAddVLAN:
		parent, err := byName(o.VLAN.Parent)
		if err != nil {
			return err
		}
		err = d.h.LinkAdd(&netlink.Vlan{
			LinkAttrs: netlink.LinkAttrs{Name: o.Link, ParentIndex: parent.Attrs().Index, Alias: ownedAlias},
			VlanId:    o.VLAN.ID,
		})
		if errors.Is(err, unix.EOPNOTSUPP) {
			return fmt.Errorf("this kernel has no 802.1Q VLAN devices (module 8021q), so vlan networks cannot be realised: %w", err)
		}
		return err
	case opSetMTU:
		l, err := byName(o.Link)
		if err != nil {
			return err
		}
		return d.h.LinkSetMTU(l, o.MTU)
	case opSetMaster:
		l, err := byName(o.Link)
		if err != nil {
			return err
		}
		m, err := byName(o.Master)
		if err != nil {
			return err
		}
		return d.h.LinkSetMasterByIndex(l, m.Attrs().Index)
	case opNoMaster:
		l, err := byName(o.Link)
		if err != nil {
			return err
		}
		return d.h.LinkSetNoMaster(l)
	case opSetUp:
		l, err := byName(o.Link)
		if err != nil {
			return err
		}
		return d.h.LinkSetUp(l)
	case opFDBAppend, opFDBReplace, opFDBDel:
		index, err := indexOf(o.FDB.Dev)
		if err != nil {
			return err
		}
		mac, err := net.ParseMAC(o.FDB.MAC)
		if err != nil {
			return err
		}
		n := &netlink.Neigh{
			LinkIndex: index, Family: unix.AF_BRIDGE, State: netlink.NUD_PERMANENT,
			Flags: netlink.NTF_SELF, IP: ipOf(o.FDB.Dst), HardwareAddr: mac,
		}
		switch o.Kind {
		case opFDBAppend:
			return d.h.NeighAppend(n)
		case opFDBReplace:
			return d.h.NeighSet(n)
		}
		return d.h.NeighDel(n)
	case opNeighReplace, opNeighDel:
		index, err := indexOf(o.Neigh.Dev)
		if err != nil {
			return err
		}
		n := &netlink.Neigh{LinkIndex: index, Family: netlink.FAMILY_V4, IP: ipOf(o.Neigh.IP)}
		if o.Kind == opNeighDel {
			return d.h.NeighDel(n)
		}
		mac, err := net.ParseMAC(o.Neigh.MAC)
		if err != nil {
			return err
		}
		n.HardwareAddr, n.State = mac, netlink.NUD_PERMANENT
		return d.h.NeighSet(n)
	}
	return fmt.Errorf("unknown op %d", o.Kind)
}

// addr converts a net.IP; nil and the unspecified address give the zero
// Addr, IPv4-mapped addresses are unmapped.
func addr(ip net.IP) netip.Addr {
	a, ok := netip.AddrFromSlice(ip)
	if !ok || a.IsUnspecified() {
		return netip.Addr{}
	}
	return a.Unmap()
}

func ipOf(a netip.Addr) net.IP {
	if !a.IsValid() {
		return nil
	}
	return net.IP(a.AsSlice())
}
