package linux

import (
	"strconv"
	"strings"

	"neutrino/internal/dataplane"
)

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
