package dataplane

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// FactKind names one kind of forwarding object, independent of the data
// plane that realises it.
type FactKind string

// The kinds of facts. How each data plane holds them:
//
//	kind     Open vSwitch (br-tun / br-int)                 Linux bridge
//	tunnel   tunnel port vxlan-<hex remote ip>              (none: the kernel has no per-peer object)
//	network  table 4 tun_id=<vni> -> local VLAN             vxlan-<vni> in brq<net id>
//	flood    table 22 dl_vlan=<lvid> output to the VTEP     bridge fdb 00:00:00:00:00:00 dev vxlan-<vni> dst <vtep or group>
//	unicast  table 20 dl_vlan=<lvid>,dl_dst=<mac> -> VTEP   bridge fdb <mac> dev vxlan-<vni> dst <vtep>
//	arp      table 21 arp_tpa=<ip> answers <mac>            ip neigh <ip> dev vxlan-<vni> lladdr <mac> (proxy)
//	port     VM port tagged with the network's local VLAN   tap<port id[:11]> enslaved to brq<net id>
const (
	FactTunnel  FactKind = "tunnel"
	FactNetwork FactKind = "network"
	FactFlood   FactKind = "flood"
	FactUnicast FactKind = "unicast"
	FactARP     FactKind = "arp"
	FactPort    FactKind = "port"
)

// Fact is one forwarding object a node must (or does) hold. Only the
// fields of its kind are set.
type Fact struct {
	Kind FactKind   `json:"kind"`
	VNI  uint32     `json:"vni,omitempty"`
	MAC  string     `json:"mac,omitempty"`
	IP   netip.Addr `json:"ip,omitzero"`
	// VTEP is the remote VTEP (tunnel, unicast) or the flood destination
	// (a VTEP, or the multicast group).
	VTEP netip.Addr `json:"vtep,omitzero"`
	// Port is the port id; a Linux data plane knows only the 11
	// characters of a tap name, so ports compare on that prefix.
	Port string `json:"port,omitempty"`
}

// Key identifies the object a fact is about: two facts with one key and
// different values mean the node holds the object with a wrong value.
func (f Fact) Key() string {
	switch f.Kind {
	case FactTunnel:
		return "tunnel " + f.VTEP.String()
	case FactNetwork:
		return fmt.Sprintf("network %d", f.VNI)
	case FactFlood:
		return fmt.Sprintf("flood %d %s", f.VNI, f.VTEP)
	case FactUnicast:
		return fmt.Sprintf("unicast %d %s", f.VNI, f.MAC)
	case FactARP:
		return fmt.Sprintf("arp %d %s", f.VNI, f.IP)
	case FactPort:
		return "port " + portPrefix(f.Port)
	}
	return string(f.Kind)
}

func portPrefix(id string) string {
	if len(id) > 11 {
		return id[:11]
	}
	return id
}

// String renders the fact as stable text for logs and golden tests.
func (f Fact) String() string {
	switch f.Kind {
	case FactTunnel:
		return "tunnel to " + f.VTEP.String()
	case FactNetwork:
		return fmt.Sprintf("network vni %d", f.VNI)
	case FactFlood:
		return fmt.Sprintf("flood vni %d to %s", f.VNI, f.VTEP)
	case FactUnicast:
		return fmt.Sprintf("unicast vni %d %s via %s", f.VNI, f.MAC, f.VTEP)
	case FactARP:
		return fmt.Sprintf("arp vni %d %s is %s", f.VNI, f.IP, f.MAC)
	case FactPort:
		return fmt.Sprintf("port %s on vni %d", f.Port, f.VNI)
	}
	return string(f.Kind)
}

// Expected lists the facts a node realising s must hold, sorted by key.
// perPeerTunnels is true for data planes with one object per remote VTEP
// (Open vSwitch). The rules are the data planes' own: flood entries go
// to the multicast group instead of the VTEPs when one is set without
// l2population; unicast entries exist only with l2population, ARP answers
// only with l2population and the ARP responder, for IPv4.
func Expected(s NodeState, perPeerTunnels bool) []Fact {
	var out []Fact
	tunnels := map[netip.Addr]bool{}
	addTunnel := func(ip netip.Addr) {
		if perPeerTunnels && ip.IsValid() && ip != s.LocalIP {
			tunnels[ip] = true
		}
	}
	for _, ip := range s.Tunnels {
		addTunnel(ip)
	}
	for _, n := range s.Networks {
		if n.Provider() {
			// Facts describe the overlay (VNI-keyed objects); provider
			// networks are not audited yet.
			continue
		}
		out = append(out, Fact{Kind: FactNetwork, VNI: n.VNI})
		if !n.L2Pop && n.Group.IsValid() {
			out = append(out, Fact{Kind: FactFlood, VNI: n.VNI, VTEP: n.Group})
		} else {
			for _, v := range n.Flood {
				if v.IsValid() && v != s.LocalIP {
					out = append(out, Fact{Kind: FactFlood, VNI: n.VNI, VTEP: v})
					addTunnel(v)
				}
			}
		}
		if !n.L2Pop {
			continue
		}
		for _, e := range n.Entries {
			if !e.VTEP.IsValid() || e.VTEP == s.LocalIP || e.MAC == "" {
				continue
			}
			mac := strings.ToLower(e.MAC)
			out = append(out, Fact{Kind: FactUnicast, VNI: n.VNI, MAC: mac, VTEP: e.VTEP})
			addTunnel(e.VTEP)
			if n.ARPResponder && e.IP.Is4() {
				out = append(out, Fact{Kind: FactARP, VNI: n.VNI, IP: e.IP, MAC: mac})
			}
		}
	}
	for ip := range tunnels {
		out = append(out, Fact{Kind: FactTunnel, VTEP: ip})
	}
	for _, p := range s.Ports {
		if n, ok := s.Networks[p.NetworkID]; ok && !n.Provider() {
			out = append(out, Fact{Kind: FactPort, VNI: n.VNI, Port: p.ID})
		}
	}
	return SortFacts(out)
}

// SortFacts sorts by key, then text, and drops duplicate keys (the first
// value wins, as the data planes keep one destination per unicast MAC and
// one MAC per ARP address).
func SortFacts(fs []Fact) []Fact {
	slices.SortStableFunc(fs, func(a, b Fact) int {
		if c := strings.Compare(a.Key(), b.Key()); c != 0 {
			return c
		}
		return strings.Compare(a.String(), b.String())
	})
	return slices.CompactFunc(fs, func(a, b Fact) bool { return a.Key() == b.Key() })
}

// Same reports whether held realises want: same key and value. Ports
// compare on the tap-name prefix.
func Same(want, held Fact) bool {
	if want.Key() != held.Key() {
		return false
	}
	switch want.Kind {
	case FactUnicast:
		return want.VTEP == held.VTEP
	case FactARP:
		return want.MAC == held.MAC
	case FactPort:
		return want.VNI == held.VNI
	}
	return true
}

// Difference is one way a node's data plane differs from what it must
// hold: Missing (Want set), Extra (Held set) or Wrong (both).
type Difference struct {
	Kind string `json:"kind"` // "missing", "extra", "wrong"
	Want *Fact  `json:"want,omitempty"`
	Held *Fact  `json:"held,omitempty"`
}

func (d Difference) String() string {
	switch d.Kind {
	case "missing":
		return "missing " + d.Want.String()
	case "extra":
		return "extra " + d.Held.String()
	}
	return fmt.Sprintf("wrong %s (holds %s)", d.Want.String(), d.Held.String())
}

// Compare lists the differences between the facts a node must hold and
// those it holds, sorted by key.
func Compare(want, held []Fact) []Difference {
	heldBy := map[string]Fact{}
	for _, h := range held {
		if _, dup := heldBy[h.Key()]; !dup {
			heldBy[h.Key()] = h
		}
	}
	wantKeys := map[string]bool{}
	var out []Difference
	for _, w := range SortFacts(slices.Clone(want)) {
		wantKeys[w.Key()] = true
		h, ok := heldBy[w.Key()]
		switch {
		case !ok:
			out = append(out, Difference{Kind: "missing", Want: &w})
		case !Same(w, h):
			out = append(out, Difference{Kind: "wrong", Want: &w, Held: &h})
		}
	}
	for _, h := range SortFacts(slices.Clone(held)) {
		if !wantKeys[h.Key()] {
			out = append(out, Difference{Kind: "extra", Held: &h})
		}
	}
	slices.SortStableFunc(out, func(a, b Difference) int { return strings.Compare(a.key(), b.key()) })
	return out
}

func (d Difference) key() string {
	if d.Want != nil {
		return d.Want.Key()
	}
	return d.Held.Key()
}

// Observer is implemented by data planes that can read back what they
// hold, as facts, without changing anything: the agent's audit compares
// them with Expected, and a live trace checks single facts.
type Observer interface {
	Observe(ctx context.Context) ([]Fact, error)
}
