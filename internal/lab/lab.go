package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// UnderlayDev is the name of every node's underlay interface (its "NIC").
const UnderlayDev = "underlay"

// underlayBridge is the bridge in the underlay namespace joining the nodes.
const underlayBridge = "br-underlay"

// UnderlayPrefix is the underlay subnet every lab uses. Labs never see each
// other (each has its own namespaces), so they may reuse it; host numbers
// start at 101 like the seed's 10.142.255.101.
var UnderlayPrefix = netip.MustParsePrefix("198.18.0.0/24")

// Lab is one topology. All of its namespaces start with Prefix.
type Lab struct {
	// ID is 6 random hex digits; Prefix is "nt-" + ID.
	ID, Prefix string
	// Underlay is the namespace holding the underlay bridge.
	Underlay string

	log   *slog.Logger
	mu    sync.Mutex
	nodes []*Node
	vms   []*VM
	procs []*Proc
	// physnets are the lab's physical networks; physPorts numbers their
	// switch ports (physnet.go).
	physnets  []*Physnet
	physPorts int
}

// Node is a hypervisor or controller: a namespace with an underlay address.
type Node struct {
	Name string
	// NS is the node's namespace.
	NS string
	// Addr is the node's underlay address with its prefix length; Addr.Addr()
	// is its VTEP (local_ip).
	Addr netip.Prefix
	// Dev is the underlay interface inside NS.
	Dev string
	// Port is the node's port on the underlay bridge, in the underlay
	// namespace: where a capture sees everything the node sends and gets.
	Port string
}

// IP is the node's underlay (VTEP) address.
func (n *Node) IP() netip.Addr { return n.Addr.Addr() }

// RandomID returns 6 random hex digits for unique names.
func RandomID() string {
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return hex.EncodeToString(b[:])
}

// New creates an empty lab: the underlay namespace with its bridge. On
// error nothing is left behind.
func New(ctx context.Context, logger *slog.Logger) (*Lab, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	id := RandomID()
	l := &Lab{ID: id, Prefix: "nt-" + id, log: logger}
	l.Underlay = l.Prefix + "-underlay"
	if err := l.buildUnderlay(); err != nil {
		return nil, errors.Join(err, l.Teardown(context.WithoutCancel(ctx)))
	}
	logger.Info("lab created", "prefix", l.Prefix)
	return l, nil
}

func (l *Lab) buildUnderlay() error {
	if err := CreateNS(l.Underlay); err != nil {
		return err
	}
	h, err := Handle(l.Underlay)
	if err != nil {
		return err
	}
	defer h.Close()
	off := false
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: underlayBridge}, MulticastSnooping: &off}
	if err := h.LinkAdd(br); err != nil {
		return fmt.Errorf("underlay bridge: %w", err)
	}
	if err := h.LinkSetUp(br); err != nil {
		return fmt.Errorf("underlay bridge up: %w", err)
	}
	return nil
}

// AddNode creates a node namespace "<prefix>-<name>" joined to the underlay
// with the next free address (198.18.0.101, .102, ...).
func (l *Lab) AddNode(ctx context.Context, name string) (*Node, error) {
	return l.AddNodeAt(ctx, name, netip.Prefix{})
}

// AddNodeAt is AddNode with a chosen underlay address (the demo uses the
// seed's last octets); an invalid addr means the next default address.
func (l *Lab) AddNodeAt(ctx context.Context, name string, addr netip.Prefix) (*Node, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l.mu.Lock()
	idx := len(l.nodes)
	for _, n := range l.nodes {
		if n.Name == name {
			l.mu.Unlock()
			return nil, fmt.Errorf("node %s exists", name)
		}
	}
	if !addr.IsValid() {
		base := UnderlayPrefix.Addr().As4()
		base[3] = byte(101 + idx)
		addr = netip.PrefixFrom(netip.AddrFrom4(base), UnderlayPrefix.Bits())
	}
	n := &Node{
		Name: name,
		NS:   l.Prefix + "-" + name,
		Addr: addr,
		Dev:  UnderlayDev,
		Port: fmt.Sprintf("n%d", idx),
	}
	l.nodes = append(l.nodes, n)
	l.mu.Unlock()
	if err := l.joinUnderlay(n); err != nil {
		return nil, fmt.Errorf("add node %s: %w", name, err)
	}
	l.log.Info("node added", "node", name, "ns", n.NS, "ip", n.Addr)
	return n, nil
}

func (l *Lab) joinUnderlay(n *Node) error {
	if err := CreateNS(n.NS); err != nil {
		return err
	}
	uh, err := Handle(l.Underlay)
	if err != nil {
		return err
	}
	defer uh.Close()
	nfd, err := netns.GetFromName(n.NS)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", n.NS, err)
	}
	defer nfd.Close()
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: n.Port},
		PeerName:      n.Dev,
		PeerNamespace: netlink.NsFd(int(nfd)),
	}
	if err := uh.LinkAdd(veth); err != nil {
		return fmt.Errorf("underlay veth: %w", err)
	}
	br, err := uh.LinkByName(underlayBridge)
	if err != nil {
		return fmt.Errorf("underlay bridge: %w", err)
	}
	port, err := uh.LinkByName(n.Port)
	if err != nil {
		return fmt.Errorf("underlay port: %w", err)
	}
	if err := uh.LinkSetMaster(port, br); err != nil {
		return fmt.Errorf("underlay port master: %w", err)
	}
	if err := uh.LinkSetUp(port); err != nil {
		return fmt.Errorf("underlay port up: %w", err)
	}
	nh, err := Handle(n.NS)
	if err != nil {
		return err
	}
	defer nh.Close()
	dev, err := nh.LinkByName(n.Dev)
	if err != nil {
		return fmt.Errorf("node underlay dev: %w", err)
	}
	if err := nh.AddrAdd(dev, &netlink.Addr{IPNet: prefixNet(n.Addr)}); err != nil {
		return fmt.Errorf("node underlay address: %w", err)
	}
	if err := nh.LinkSetUp(dev); err != nil {
		return fmt.Errorf("node underlay up: %w", err)
	}
	return nil
}

// Node returns the node with the given name, or nil.
func (l *Lab) Node(name string) *Node {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, n := range l.nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// Nodes returns the nodes in the order they were added.
func (l *Lab) Nodes() []*Node {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*Node(nil), l.nodes...)
}

// Start starts a process in a namespace and tracks it, so Teardown kills it
// (by PID) if the caller did not.
func (l *Lab) Start(ns string, argv ...string) (*Proc, error) {
	p, err := Start(ns, argv...)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.procs = append(l.procs, p)
	l.mu.Unlock()
	return p, nil
}

// Teardown stops the lab's processes and deletes every namespace under the
// lab's prefix (VMs first, the underlay last). It collects errors instead of
// stopping, and is safe to call again.
func (l *Lab) Teardown(ctx context.Context) error {
	l.mu.Lock()
	procs := l.procs
	l.procs = nil
	l.mu.Unlock()
	var errs []error
	for _, p := range procs {
		if err := p.Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, TeardownPrefix(ctx, l.Prefix))
	return errors.Join(errs...)
}

// TeardownPrefix deletes every namespace whose name starts with prefix+"-",
// VM namespaces before node namespaces and the underlay last. It is what
// Teardown and `neutrino demo down` use; processes must be stopped first
// (a process inside a namespace keeps it alive after deletion).
func TeardownPrefix(_ context.Context, prefix string) error {
	if !strings.HasPrefix(prefix, "nt-") {
		return fmt.Errorf("teardown: refusing prefix %q (not a lab prefix)", prefix)
	}
	names, err := listNS(prefix + "-")
	if err != nil {
		return err
	}
	rank := func(n string) int {
		switch {
		case strings.HasSuffix(n, "-underlay"):
			return 2
		case strings.Contains(n, "-vm-") || strings.Contains(n, "-qrouter-"):
			return 0
		}
		return 1
	}
	sort.SliceStable(names, func(i, j int) bool { return rank(names[i]) < rank(names[j]) })
	var errs []error
	for _, n := range names {
		if err := DeleteNS(n); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func prefixNet(p netip.Prefix) *net.IPNet {
	a := p.Addr()
	bits := 32
	if a.Is6() {
		bits = 128
	}
	return &net.IPNet{IP: net.IP(a.AsSlice()), Mask: net.CIDRMask(p.Bits(), bits)}
}
