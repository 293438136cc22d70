package ovs

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"neutrino/internal/dataplane"
)

var _ dataplane.Observer = (*Dataplane)(nil)

// Observe reads back what the switch holds as facts: tunnel ports from
// OVSDB, networks (table 4), flood lists (table 22), unicast entries
// (table 20), ARP answers (table 21) from br-tun's flows, whatever their
// cookie, and VM ports tagged with a network's local VLAN. It changes
// nothing.
func (d *Dataplane) Observe(ctx context.Context) ([]dataplane.Fact, error) {
	// Not in the middle of an Apply's bundle.
	d.mu.Lock()
	defer d.mu.Unlock()
	snap, err := takeSnapshot(ctx, d.cli)
	if err != nil {
		return nil, fmt.Errorf("ovs observe: %w", err)
	}
	var sw switchState
	for name, p := range snap.portsOf(snap.bridges[d.cfg.TunnelBridge]) {
		i := snap.firstIface(p)
		if !isTunnelPort(snap, p) || i.Ofport == nil {
			continue
		}
		ip, err := netip.ParseAddr(i.Options["remote_ip"])
		if err != nil {
			continue
		}
		sw.tunnels = append(sw.tunnels, tunnelPort{name: name, ofport: *i.Ofport, remote: ip})
	}
	for _, p := range d.vmPorts(snap) {
		if p.Tag != nil {
			sw.vmPorts = append(sw.vmPorts, vmPort{id: snap.firstIface(p).ExternalIDs["iface-id"], tag: *p.Tag})
		}
	}
	sw.flows, err = d.flows.DumpFlows(ctx, d.cfg.TunnelBridge)
	if err != nil {
		return nil, fmt.Errorf("ovs observe: flows of %s: %w", d.cfg.TunnelBridge, err)
	}
	return sw.facts(), nil
}

type tunnelPort struct {
	name   string
	ofport int
	remote netip.Addr
}

type vmPort struct {
	id  string
	tag int
}

// switchState is what Observe read; facts interprets it (pure).
type switchState struct {
	tunnels []tunnelPort
	vmPorts []vmPort
	flows   []Flow
}

func (sw switchState) facts() []dataplane.Fact {
	var out []dataplane.Fact
	remote := map[int]netip.Addr{}
	for _, t := range sw.tunnels {
		remote[t.ofport] = t.remote
		out = append(out, dataplane.Fact{Kind: dataplane.FactTunnel, VTEP: t.remote})
	}
	// Table 4 maps each VNI to its local VLAN.
	vniOfVLAN := map[int]uint32{}
	for _, f := range sw.flows {
		if f.Table != tunVXLANTunToLV || f.Priority != netInPriority || isLearned(f) {
			continue
		}
		vni, ok1 := hexField(f.Match, "tun_id=")
		vid, ok2 := actionValue(f.Actions, "->vlan_vid")
		if ok1 && ok2 {
			vniOfVLAN[int(vid)-4096] = uint32(vni)
			out = append(out, dataplane.Fact{Kind: dataplane.FactNetwork, VNI: uint32(vni)})
		}
	}
	for _, f := range sw.flows {
		if isLearned(f) {
			continue
		}
		lvid, ok := decField(f.Match, "dl_vlan=")
		if !ok {
			continue
		}
		vni, known := vniOfVLAN[int(lvid)]
		if tid, ok := actionValue(f.Actions, "->tun_id"); ok {
			vni, known = uint32(tid), true
		}
		if !known {
			continue
		}
		switch {
		case f.Table == tunFloodToTun && f.Priority == floodPriority:
			for _, of := range outputs(f.Actions) {
				if ip, ok := remote[of]; ok {
					out = append(out, dataplane.Fact{Kind: dataplane.FactFlood, VNI: vni, VTEP: ip})
				}
			}
		case f.Table == tunUcastToTun && f.Priority == unicastPriority:
			mac := field(f.Match, "dl_dst=")
			for _, of := range outputs(f.Actions) {
				if ip, ok := remote[of]; ok && mac != "" {
					out = append(out, dataplane.Fact{Kind: dataplane.FactUnicast, VNI: vni, MAC: strings.ToLower(mac), VTEP: ip})
				}
			}
		case f.Table == tunARPResponder && f.Priority == arpReplyPriority:
			ip, err := netip.ParseAddr(field(f.Match, "arp_tpa="))
			mac := between(f.Actions, "set_field:", "->arp_sha")
			if err == nil && mac != "" {
				out = append(out, dataplane.Fact{Kind: dataplane.FactARP, VNI: vni, IP: ip, MAC: strings.ToLower(mac)})
			}
		}
	}
	for _, p := range sw.vmPorts {
		if vni, ok := vniOfVLAN[p.tag]; ok && p.id != "" {
			out = append(out, dataplane.Fact{Kind: dataplane.FactPort, VNI: vni, Port: p.id})
		}
	}
	return dataplane.SortFacts(out)
}

// field returns the value of name (e.g. "dl_vlan=") in a comma-separated
// match, "" when absent.
func field(match, name string) string {
	for tok := range strings.SplitSeq(match, ",") {
		if v, ok := strings.CutPrefix(tok, name); ok {
			return v
		}
	}
	return ""
}

func decField(match, name string) (uint64, bool) {
	v, err := strconv.ParseUint(field(match, name), 10, 32)
	return v, err == nil
}

func hexField(match, name string) (uint64, bool) {
	v, err := strconv.ParseUint(strings.TrimPrefix(field(match, name), "0x"), 16, 32)
	return v, err == nil
}

// actionValue finds "set_field:<value><suffix>" in actions and parses
// value (decimal or 0x hex).
func actionValue(actions, suffix string) (uint64, bool) {
	v := between(actions, "set_field:", suffix)
	if v == "" {
		return 0, false
	}
	n, err := strconv.ParseUint(v, 0, 32)
	return n, err == nil
}

// between returns the text of the action that ends with suffix, after
// prefix: between("a,set_field:5->x,b", "set_field:", "->x") = "5".
func between(actions, prefix, suffix string) string {
	for tok := range strings.SplitSeq(actions, ",") {
		if v, ok := strings.CutPrefix(tok, prefix); ok {
			if v, ok := strings.CutSuffix(v, suffix); ok {
				return v
			}
		}
	}
	return ""
}

func outputs(actions string) []int {
	var out []int
	for tok := range strings.SplitSeq(actions, ",") {
		if v, ok := strings.CutPrefix(tok, "output:"); ok {
			if n, err := strconv.Atoi(v); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}
