// Package l2pop computes what each node agent must know to forward overlay
// traffic: for every host, the networks it hosts (VNI, MTU), the VTEPs that
// get flooded copies (partial mesh with l2population, full mesh without),
// the remote ports' (MAC, IP) behind their VTEP, and the tunnels to keep.
// It also says which hosts a change can affect (the span), so the server
// sends an update only to those agents, and it diffs and applies views so a
// stream of deltas can be checked against a fresh snapshot.
//
// Everything here is pure: no I/O, no clocks. A View depends only on the
// database state at one revision, never on heartbeat times, so two servers
// tailing the same change log compute the same view for the same revision.
// In particular an agent that misses heartbeats keeps its entries: the data
// plane of a host whose agent restarts keeps forwarding (Neutron keeps them
// too); only removing the agent (and so its VTEP) withdraws them.
//
// Hand-written because the rules are Neutron's l2population semantics,
// which no library implements.
package l2pop

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"neutrino/internal/neutron"
	"neutrino/internal/secgroup"
)

// View is everything one agent must realise, as of one revision.
type View struct {
	Host    string
	LocalIP netip.Addr // the host's VTEP; invalid when it has none yet
	// L2Pop is true when the server runs the l2population driver and the
	// agent asked for it: flood lists and entries are then per network.
	L2Pop bool
	// Tunnels are the remote VTEPs to keep a tunnel to, sorted.
	Tunnels []netip.Addr
	// Networks are the networks with a port bound to this host, by id.
	Networks map[string]NetView
	// Ports are the ports bound to this host, by id.
	Ports map[string]LocalPort
	// Firewall is what the host's firewall must enforce for Ports.
	Firewall secgroup.Firewall
}

// NetHeader is what identifies a network on the wire.
type NetHeader struct {
	Type string // "vxlan", "gre" (overlays); "flat", "vlan" (provider)
	// VNI is the overlay's segmentation id; 0 for flat and vlan.
	VNI uint32
	MTU int
	// PhysicalNetwork is the physnet of a flat or vlan network (the
	// agent maps it to a bridge or an interface); "" for overlays.
	PhysicalNetwork string
	// VLAN is a vlan network's 802.1Q id; 0 for every other type.
	VLAN uint16
}

// Overlay reports whether the network is tunnelled between VTEPs (it
// has flood lists and entries); flat and vlan networks ride the
// physical network, which carries their broadcasts itself.
func (h NetHeader) Overlay() bool { return h.Type != neutron.TypeFlat && h.Type != neutron.TypeVLAN }

// segmentText is the header's segment as views and deltas print it.
func (h NetHeader) segmentText() string {
	switch {
	case h.Overlay():
		return fmt.Sprintf("%s %d", h.Type, h.VNI)
	case h.Type == "vlan":
		return fmt.Sprintf("%s %s %d", h.Type, h.PhysicalNetwork, h.VLAN)
	}
	return h.Type + " " + h.PhysicalNetwork
}

// NetView is one network as one host sees it.
type NetView struct {
	ID string
	NetHeader
	// Flood lists the remote VTEPs that get BUM copies, sorted. Without
	// l2population: every other VTEP. With it: the VTEPs of other hosts
	// with an ACTIVE port on the network, and only once this host has one.
	Flood []netip.Addr
	// Entries are the remote ACTIVE ports, one per fixed IP, sorted
	// (l2population only).
	Entries []Entry
}

// Entry says a MAC with an IP lives behind a VTEP.
type Entry struct {
	MAC  string
	IP   netip.Addr
	VTEP netip.Addr
}

// LocalPort is a port bound to this host.
type LocalPort struct {
	ID        string
	NetworkID string
	MAC       string
	Status    string // ACTIVE, DOWN, BUILD: the agent reports up/down to change it
}

func compareEntry(a, b Entry) int {
	if c := strings.Compare(a.MAC, b.MAC); c != 0 {
		return c
	}
	if c := a.IP.Compare(b.IP); c != 0 {
		return c
	}
	return a.VTEP.Compare(b.VTEP)
}

func compareAddr(a, b netip.Addr) int { return a.Compare(b) }

// Clone returns a deep copy (views are values; callers may keep both).
func (v View) Clone() View {
	out := v
	out.Tunnels = slices.Clone(v.Tunnels)
	out.Networks = make(map[string]NetView, len(v.Networks))
	for id, n := range v.Networks {
		n.Flood = slices.Clone(n.Flood)
		n.Entries = slices.Clone(n.Entries)
		out.Networks[id] = n
	}
	out.Ports = make(map[string]LocalPort, len(v.Ports))
	for id, p := range v.Ports {
		out.Ports[id] = p
	}
	out.Firewall = v.Firewall.Clone()
	return out
}

// Equal reports whether two views hold the same state (nil and empty
// collections are equal).
func (v View) Equal(w View) bool {
	if v.Host != w.Host || v.LocalIP != w.LocalIP || v.L2Pop != w.L2Pop ||
		!slices.Equal(v.Tunnels, w.Tunnels) || len(v.Networks) != len(w.Networks) || len(v.Ports) != len(w.Ports) {
		return false
	}
	for id, n := range v.Networks {
		m, ok := w.Networks[id]
		if !ok || !n.equal(m) {
			return false
		}
	}
	for id, p := range v.Ports {
		if q, ok := w.Ports[id]; !ok || p != q {
			return false
		}
	}
	return v.Firewall.Equal(w.Firewall)
}

func (n NetView) equal(m NetView) bool {
	return n.ID == m.ID && n.NetHeader == m.NetHeader && slices.Equal(n.Flood, m.Flood) && slices.Equal(n.Entries, m.Entries)
}

// EntryCount is the number of forwarding entries (flood + unicast) in the
// view, the size that matters for a resync.
func (v View) EntryCount() int {
	n := 0
	for _, nv := range v.Networks {
		n += len(nv.Flood) + len(nv.Entries)
	}
	return n
}

// Size counts the items of a view as Delta.Size counts a delta's.
func (v View) Size() int {
	n := len(v.Tunnels) + len(v.Ports) + v.Firewall.Size()
	for _, nv := range v.Networks {
		n += 1 + len(nv.Flood) + len(nv.Entries)
	}
	return n
}

// String renders the view as stable text for golden tests and logs.
func (v View) String() string {
	var b strings.Builder
	mode := "full-mesh"
	if v.L2Pop {
		mode = "l2pop"
	}
	fmt.Fprintf(&b, "host %s local_ip %s %s\n", v.Host, addrText(v.LocalIP), mode)
	fmt.Fprintf(&b, "tunnels %s\n", addrsText(v.Tunnels))
	for _, id := range slices.Sorted(maps.Keys(v.Networks)) {
		n := v.Networks[id]
		fmt.Fprintf(&b, "network %s %s mtu %d\n", id, n.segmentText(), n.MTU)
		if n.Overlay() {
			fmt.Fprintf(&b, "  flood %s\n", addrsText(n.Flood))
		}
		for _, e := range n.Entries {
			fmt.Fprintf(&b, "  entry %s %s via %s\n", e.MAC, addrText(e.IP), addrText(e.VTEP))
		}
	}
	for _, id := range slices.Sorted(maps.Keys(v.Ports)) {
		p := v.Ports[id]
		fmt.Fprintf(&b, "port %s network %s mac %s %s\n", id, p.NetworkID, p.MAC, p.Status)
	}
	b.WriteString(v.Firewall.String())
	return b.String()
}

func addrText(a netip.Addr) string {
	if !a.IsValid() {
		return "-"
	}
	return a.String()
}

func addrsText(as []netip.Addr) string {
	if len(as) == 0 {
		return "-"
	}
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, " ")
}
