package linux

import (
	"context"
	"strconv"
	"strings"

	"neutrino/internal/dataplane"
)

var _ dataplane.Observer = (*Dataplane)(nil)

// Observe reads back what the kernel holds as facts: a network per
// vxlan-<vni> device enslaved to a brq bridge, flood and unicast entries
// from its static FDB, ARP answers from its permanent neighbours, and
// the taps in those bridges. It changes nothing: it dumps every device
// from the kernel, not from the record Apply diffs against, and leaves
// that record as it was (a hand edit stays for Resync to repair).
func (d *Dataplane) Observe(ctx context.Context) ([]dataplane.Fact, error) {
	d.mu.Lock()
	record := d.installed
	d.installed = map[string]*devEntries{}
	cur, err := d.read()
	d.installed = record
	d.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return observed(cur), nil
}

// observed turns a kernel state into facts (pure).
func observed(cur kernelState) []dataplane.Fact {
	var out []dataplane.Fact
	vniOf := map[string]uint32{}     // vxlan device -> VNI
	bridgeVNI := map[string]uint32{} // brq bridge -> VNI of its vxlan device
	for _, l := range cur.Links {
		if l.Kind != "vxlan" || !ownedVXLAN.MatchString(l.Name) {
			continue
		}
		vni := uint64(0)
		if l.VXLAN != nil {
			vni = uint64(l.VXLAN.VNI)
		} else {
			vni, _ = strconv.ParseUint(strings.TrimPrefix(l.Name, "vxlan-"), 10, 32)
		}
		vniOf[l.Name] = uint32(vni)
		if ownedBridge.MatchString(l.Master) {
			bridgeVNI[l.Master] = uint32(vni)
			out = append(out, dataplane.Fact{Kind: dataplane.FactNetwork, VNI: uint32(vni)})
		}
	}
	for _, l := range cur.Links {
		if vni, ok := bridgeVNI[l.Master]; ok && strings.HasPrefix(l.Name, "tap") {
			out = append(out, dataplane.Fact{Kind: dataplane.FactPort, VNI: vni, Port: strings.TrimPrefix(l.Name, "tap")})
		}
	}
	for _, e := range cur.FDB {
		vni, ok := vniOf[e.Dev]
		if !ok {
			continue
		}
		if e.MAC == zeroMAC {
			out = append(out, dataplane.Fact{Kind: dataplane.FactFlood, VNI: vni, VTEP: e.Dst})
		} else {
			out = append(out, dataplane.Fact{Kind: dataplane.FactUnicast, VNI: vni, MAC: strings.ToLower(e.MAC), VTEP: e.Dst})
		}
	}
	for _, e := range cur.Neigh {
		if vni, ok := vniOf[e.Dev]; ok {
			out = append(out, dataplane.Fact{Kind: dataplane.FactARP, VNI: vni, IP: e.IP, MAC: strings.ToLower(e.MAC)})
		}
	}
	return dataplane.SortFacts(out)
}
