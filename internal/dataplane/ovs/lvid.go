package ovs

import (
	"sort"
	"strconv"

	"neutrino/internal/dataplane"
)

// Port.other_config keys Neutron stores on a VM port, so that a restarted
// agent gives a network the same local VLAN again.
const (
	ocNetUUID         = "net_uuid"
	ocNetworkType     = "network_type"
	ocPhysicalNetwork = "physical_network"
	ocSegmentationID  = "segmentation_id"
	ocTag             = "tag"
)

// vlanMapping is the part of Port.other_config that describes the
// network's segment, as Neutron writes it: physical_network is "None" for
// overlays (Python's str(None)) and segmentation_id is absent for flat.
func vlanMapping(n dataplane.Network) map[string]string {
	typ := n.Type
	if typ == "" {
		typ = "vxlan"
	}
	m := map[string]string{ocNetworkType: typ, ocPhysicalNetwork: "None"}
	switch {
	case !n.Provider():
		m[ocSegmentationID] = strconv.FormatUint(uint64(n.VNI), 10)
	case n.VLAN != 0:
		m[ocPhysicalNetwork] = n.PhysicalNetwork
		m[ocSegmentationID] = strconv.Itoa(int(n.VLAN))
	default:
		m[ocPhysicalNetwork] = n.PhysicalNetwork
	}
	return m
}

const (
	minLVID = 1
	maxLVID = 4094
)

// PersistedLVIDs reads network -> lvid from ports' other_config (in the
// given order; the first port of a network wins, invalid tags are ignored).
func PersistedLVIDs(otherConfigs []map[string]string) map[string]int {
	out := map[string]int{}
	for _, oc := range otherConfigs {
		net := oc[ocNetUUID]
		tag, err := strconv.Atoi(oc[ocTag])
		if net == "" || err != nil || tag < minLVID || tag > maxLVID {
			continue
		}
		if _, ok := out[net]; !ok {
			out[net] = tag
		}
	}
	return out
}

// AssignLVIDs gives every wanted network a local VLAN: the persisted one
// when it is valid and not taken by another wanted network, otherwise the
// lowest free one. Networks beyond 4094 get none (the caller reports it).
func AssignLVIDs(persisted map[string]int, want []string) map[string]int {
	want = append([]string(nil), want...)
	sort.Strings(want)
	out := make(map[string]int, len(want))
	used := map[int]bool{}
	for _, net := range want {
		if tag, ok := persisted[net]; ok && tag >= minLVID && tag <= maxLVID && !used[tag] {
			out[net] = tag
			used[tag] = true
		}
	}
	next := minLVID
	for _, net := range want {
		if _, ok := out[net]; ok {
			continue
		}
		for next <= maxLVID && used[next] {
			next++
		}
		if next > maxLVID {
			break
		}
		out[net] = next
		used[next] = true
	}
	return out
}
