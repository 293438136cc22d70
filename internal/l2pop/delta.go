package l2pop

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"neutrino/internal/secgroup"
	"neutrino/internal/sortedset"
)

// Delta turns one view into another. It carries only what changed, down to
// single flood VTEPs and entries, so a port event costs a few entries on
// the wire however big the network is.
type Delta struct {
	// Header is set when LocalIP or L2Pop changed.
	Header                 *Header
	TunnelsAdd, TunnelsDel []netip.Addr
	Networks               []NetDelta // sorted by ID
	PortsSet               []LocalPort
	PortsDel               []string
	// Firewall changes the security-group part.
	Firewall secgroup.Delta
}

// Header is a view's scalar part.
type Header struct {
	LocalIP netip.Addr
	L2Pop   bool
}

// NetDelta changes one network.
type NetDelta struct {
	ID      string
	Removed bool
	// Header is set when the network is new to the host or its type,
	// VNI or MTU changed.
	Header                 *NetHeader
	FloodAdd, FloodDel     []netip.Addr
	EntriesAdd, EntriesDel []Entry
}

// Size counts the items a delta carries (tunnels, networks, flood VTEPs,
// entries, ports).
func (d Delta) Size() int {
	n := len(d.TunnelsAdd) + len(d.TunnelsDel) + len(d.PortsSet) + len(d.PortsDel) + d.Firewall.Size()
	for _, nd := range d.Networks {
		n += 1 + len(nd.FloodAdd) + len(nd.FloodDel) + len(nd.EntriesAdd) + len(nd.EntriesDel)
	}
	return n
}

// Empty reports whether the delta changes nothing.
func (d Delta) Empty() bool {
	return d.Header == nil && len(d.TunnelsAdd) == 0 && len(d.TunnelsDel) == 0 &&
		len(d.Networks) == 0 && len(d.PortsSet) == 0 && len(d.PortsDel) == 0 && d.Firewall.Empty()
}

// sameSlice reports whether a and b are the same slice (same backing
// array and length), which views never modify in place.
func sameSlice[T any](a, b []T) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// Diff returns the delta that turns old into new.
func Diff(old, new View) Delta {
	var d Delta
	if old.LocalIP != new.LocalIP || old.L2Pop != new.L2Pop {
		d.Header = &Header{LocalIP: new.LocalIP, L2Pop: new.L2Pop}
	}
	d.TunnelsAdd, d.TunnelsDel = sortedset.Diff(old.Tunnels, new.Tunnels, compareAddr)
	ids := map[string]struct{}{}
	for id := range old.Networks {
		ids[id] = struct{}{}
	}
	for id := range new.Networks {
		ids[id] = struct{}{}
	}
	for _, id := range slices.Sorted(maps.Keys(ids)) {
		o, hadOld := old.Networks[id]
		n, hasNew := new.Networks[id]
		switch {
		case !hasNew:
			d.Networks = append(d.Networks, NetDelta{ID: id, Removed: true})
		default:
			nd := NetDelta{ID: id}
			if !hadOld || o.NetHeader != n.NetHeader {
				h := n.NetHeader
				nd.Header = &h
			}
			// Unchanged networks share their slices (Model.UpdateView):
			// nothing to compare.
			if !sameSlice(o.Flood, n.Flood) {
				nd.FloodAdd, nd.FloodDel = sortedset.Diff(o.Flood, n.Flood, compareAddr)
			}
			if !sameSlice(o.Entries, n.Entries) {
				nd.EntriesAdd, nd.EntriesDel = sortedset.Diff(o.Entries, n.Entries, compareEntry)
			}
			if nd.Header != nil || len(nd.FloodAdd)+len(nd.FloodDel)+len(nd.EntriesAdd)+len(nd.EntriesDel) > 0 {
				d.Networks = append(d.Networks, nd)
			}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(new.Ports)) {
		if p, ok := old.Ports[id]; !ok || p != new.Ports[id] {
			d.PortsSet = append(d.PortsSet, new.Ports[id])
		}
	}
	for _, id := range slices.Sorted(maps.Keys(old.Ports)) {
		if _, ok := new.Ports[id]; !ok {
			d.PortsDel = append(d.PortsDel, id)
		}
	}
	d.Firewall = secgroup.Diff(old.Firewall, new.Firewall)
	return d
}

// Apply returns v with d applied; v is not modified. It fails when d does
// not fit v (a change to a network v does not have), which means the
// sender and receiver disagree about the base revision. The result shares
// v's unchanged slices (views never change them in place): an agent's
// delta costs what it changes plus its maps, not a copy of the view.
func (v View) Apply(d Delta) (View, error) {
	out := v
	out.Networks = make(map[string]NetView, len(v.Networks))
	maps.Copy(out.Networks, v.Networks)
	out.Ports = make(map[string]LocalPort, len(v.Ports))
	maps.Copy(out.Ports, v.Ports)
	if d.Header != nil {
		out.LocalIP, out.L2Pop = d.Header.LocalIP, d.Header.L2Pop
	}
	out.Tunnels = sortedset.Apply(v.Tunnels, d.TunnelsAdd, sorted(d.TunnelsDel, compareAddr), compareAddr)
	for _, nd := range d.Networks {
		if nd.Removed {
			delete(out.Networks, nd.ID)
			continue
		}
		n, ok := out.Networks[nd.ID]
		if !ok {
			if nd.Header == nil {
				return v, fmt.Errorf("delta changes network %s the view does not have", nd.ID)
			}
			n = NetView{ID: nd.ID}
		}
		if nd.Header != nil {
			n.NetHeader = *nd.Header
		}
		n.Flood = sortedset.Apply(n.Flood, nd.FloodAdd, sorted(nd.FloodDel, compareAddr), compareAddr)
		n.Entries = sortedset.Apply(n.Entries, nd.EntriesAdd, sorted(nd.EntriesDel, compareEntry), compareEntry)
		out.Networks[nd.ID] = n
	}
	for _, p := range d.PortsSet {
		out.Ports[p.ID] = p
	}
	for _, id := range d.PortsDel {
		delete(out.Ports, id)
	}
	fw, err := v.Firewall.Apply(d.Firewall)
	if err != nil {
		return v, err
	}
	out.Firewall = fw
	return out, nil
}

func sorted[T any](s []T, cmpf func(a, b T) int) []T {
	return sortedset.Unique(slices.Clone(s), cmpf)
}

// String renders the delta as stable text for tests and logs.
func (d Delta) String() string {
	var b strings.Builder
	if d.Header != nil {
		mode := "full-mesh"
		if d.Header.L2Pop {
			mode = "l2pop"
		}
		fmt.Fprintf(&b, "local_ip %s %s\n", addrText(d.Header.LocalIP), mode)
	}
	for _, a := range d.TunnelsAdd {
		fmt.Fprintf(&b, "+tunnel %s\n", a)
	}
	for _, a := range d.TunnelsDel {
		fmt.Fprintf(&b, "-tunnel %s\n", a)
	}
	for _, n := range d.Networks {
		if n.Removed {
			fmt.Fprintf(&b, "-network %s\n", n.ID)
			continue
		}
		if n.Header != nil {
			fmt.Fprintf(&b, "network %s %s mtu %d\n", n.ID, n.Header.segmentText(), n.Header.MTU)
		} else {
			fmt.Fprintf(&b, "network %s\n", n.ID)
		}
		for _, a := range n.FloodAdd {
			fmt.Fprintf(&b, "  +flood %s\n", a)
		}
		for _, a := range n.FloodDel {
			fmt.Fprintf(&b, "  -flood %s\n", a)
		}
		for _, e := range n.EntriesAdd {
			fmt.Fprintf(&b, "  +entry %s %s via %s\n", e.MAC, addrText(e.IP), e.VTEP)
		}
		for _, e := range n.EntriesDel {
			fmt.Fprintf(&b, "  -entry %s %s via %s\n", e.MAC, addrText(e.IP), e.VTEP)
		}
	}
	for _, p := range d.PortsSet {
		fmt.Fprintf(&b, "port %s network %s mac %s %s\n", p.ID, p.NetworkID, p.MAC, p.Status)
	}
	for _, id := range d.PortsDel {
		fmt.Fprintf(&b, "-port %s\n", id)
	}
	b.WriteString(d.Firewall.String())
	return b.String()
}
