package lab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// BenchmarkingRange is the only address range the lab gives its
// underlay, management and "outside" hosts (RFC 2544's 198.18.0.0/15).
var BenchmarkingRange = netip.MustParsePrefix("198.18.0.0/15")

// Physnet is a physical network of the lab (Neutron's physical_network):
// a Linux bridge in the underlay namespace acting as the switch, which
// passes 802.1Q tags through untouched, and on every node that joins it a
// "physical" interface (one end of a veth, the other end a port of that
// switch). Provider networks (flat, vlan) ride it: the Linux bridge agent
// enslaves the interface (or its <iface>.<vlan> subinterface) to a
// network's bridge, the OVS agent's provider bridge has it as a port.
type Physnet struct {
	Name string
	// Bridge is the switch's bridge in the lab's underlay namespace.
	Bridge string
	lab    *Lab
	index  int
}

// PhysPort is a node's attachment to a physnet.
type PhysPort struct {
	// Dev is the node's physical interface, in the node's namespace.
	Dev string
	// Port is its peer on the physnet's switch, in the lab's underlay
	// namespace: a capture there sees every frame the node puts on the
	// wire, tags included.
	Port string
}

// AddPhysnet creates a physical network named name (as the agents'
// mappings call it, e.g. "physnet1").
func (l *Lab) AddPhysnet(ctx context.Context, name string) (*Physnet, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l.mu.Lock()
	idx := len(l.physnets)
	for _, p := range l.physnets {
		if p.Name == name {
			l.mu.Unlock()
			return nil, fmt.Errorf("physnet %s exists", name)
		}
	}
	p := &Physnet{Name: name, Bridge: fmt.Sprintf("pn%d", idx), lab: l, index: idx}
	l.physnets = append(l.physnets, p)
	l.mu.Unlock()
	h, err := Handle(l.Underlay)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	off := false
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: p.Bridge}, MulticastSnooping: &off}
	if err := h.LinkAdd(br); err != nil {
		return nil, fmt.Errorf("physnet %s: bridge: %w", name, err)
	}
	if err := h.LinkSetUp(br); err != nil {
		return nil, fmt.Errorf("physnet %s: bridge up: %w", name, err)
	}
	l.log.Info("physnet added", "physnet", name, "switch", p.Bridge)
	return p, nil
}

// Join gives the namespace ns an interface dev (up, no address) plugged
// into the physnet's switch. ns is a node's namespace (its "physical"
// NIC for physical_interface_mappings or a provider bridge) or any lab
// namespace that plays a host on that network (AddOutside).
func (p *Physnet) Join(ctx context.Context, ns, dev string) (PhysPort, error) {
	if err := ctx.Err(); err != nil {
		return PhysPort{}, err
	}
	p.lab.mu.Lock()
	pp := PhysPort{Dev: dev, Port: fmt.Sprintf("pn%dp%d", p.index, p.lab.physPorts)}
	p.lab.physPorts++
	p.lab.mu.Unlock()
	uh, err := Handle(p.lab.Underlay)
	if err != nil {
		return pp, err
	}
	defer uh.Close()
	nfd, err := netns.GetFromName(ns)
	if err != nil {
		return pp, fmt.Errorf("open netns %s: %w", ns, err)
	}
	defer nfd.Close()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: pp.Port}, PeerName: dev, PeerNamespace: netlink.NsFd(int(nfd))}
	if err := uh.LinkAdd(veth); err != nil {
		return pp, fmt.Errorf("physnet %s: veth for %s: %w", p.Name, ns, err)
	}
	port, err := uh.LinkByName(pp.Port)
	if err != nil {
		return pp, err
	}
	br, err := uh.LinkByName(p.Bridge)
	if err != nil {
		return pp, err
	}
	if err := uh.LinkSetMaster(port, br); err != nil {
		return pp, fmt.Errorf("physnet %s: port master: %w", p.Name, err)
	}
	if err := uh.LinkSetUp(port); err != nil {
		return pp, fmt.Errorf("physnet %s: port up: %w", p.Name, err)
	}
	nh, err := Handle(ns)
	if err != nil {
		return pp, err
	}
	defer nh.Close()
	d, err := nh.LinkByName(dev)
	if err != nil {
		return pp, err
	}
	if err := nh.LinkSetUp(d); err != nil {
		return pp, fmt.Errorf("physnet %s: %s up in %s: %w", p.Name, dev, ns, err)
	}
	return pp, nil
}

// Outside is a namespace that plays the upstream network of a physnet
// (the "outside" an external network reaches): one interface on the
// physnet with an address from the benchmarking range.
type Outside struct {
	NS   string
	Dev  string
	Addr netip.Prefix
	Port PhysPort
}

// AddOutside creates the namespace "<prefix>-outside-<name>" on physnet p
// with addr on its interface eth0 (untagged: the upstream of a flat
// network). addr must lie in 198.18.0.0/15; nothing is routed through the
// root namespace. Offloads are off on eth0 because the frames may reach
// an OVS userspace bridge, which does not complete partial checksums
// (DisableOffloads).
func (p *Physnet) AddOutside(ctx context.Context, name string, addr netip.Prefix) (*Outside, error) {
	if !BenchmarkingRange.Contains(addr.Addr()) || addr.Bits() < BenchmarkingRange.Bits() {
		return nil, fmt.Errorf("outside %s: %s is not inside %s", name, addr, BenchmarkingRange)
	}
	o := &Outside{NS: p.lab.Prefix + "-outside-" + name, Dev: "eth0", Addr: addr}
	if slices.ContainsFunc(p.lab.outsides(), func(x string) bool { return x == o.NS }) {
		return nil, fmt.Errorf("outside %s exists", name)
	}
	if err := CreateNS(o.NS); err != nil {
		return nil, err
	}
	fail := func(err error) (*Outside, error) {
		return nil, errors.Join(fmt.Errorf("outside %s: %w", name, err), DeleteNS(o.NS))
	}
	var err error
	if o.Port, err = p.Join(ctx, o.NS, o.Dev); err != nil {
		return fail(err)
	}
	h, err := Handle(o.NS)
	if err != nil {
		return fail(err)
	}
	defer h.Close()
	dev, err := h.LinkByName(o.Dev)
	if err != nil {
		return fail(err)
	}
	if err := h.AddrAdd(dev, &netlink.Addr{IPNet: prefixNet(addr)}); err != nil {
		return fail(err)
	}
	if err := DisableOffloads(ctx, o.NS, o.Dev); err != nil {
		return fail(err)
	}
	p.lab.log.Info("outside added", "ns", o.NS, "physnet", p.Name, "addr", addr)
	return o, nil
}

// outsides lists the lab's outside namespaces.
func (l *Lab) outsides() []string {
	names, _ := listNS(l.Prefix + "-outside-")
	return names
}
