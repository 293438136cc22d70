package ovs

import (
	"fmt"
	"maps"
	"slices"
	"strconv"

	"neutrino/internal/dataplane"
)

// Provider networks (bridge_mappings = physnet1:br-ex), as Neutron's OVS
// agent builds them. The operator creates the provider bridge and puts
// the physical interface on it; the agent adopts it (fail_mode secure,
// datapath_type, OpenFlow versions, a NORMAL table-miss) and joins it to
// br-int with two patch ports, int-br-ex on br-int and phy-br-ex on
// br-ex. Frames cross them tagged with the network's local VLAN on the
// br-int side and with the provider's VLAN (vlan networks) or untagged
// (flat networks) on the physical side:
//
//	br-int  table 0  priority 3  in_port=int-br-ex,dl_vlan=<vlan>          -> set local VLAN, goto 59
//	                 priority 3  in_port=int-br-ex,vlan_tci=0x0000/0x1fff   -> push local VLAN, goto 59 (flat)
//	                 priority 2  in_port=int-br-ex                          -> drop (nothing untranslated gets in)
//	br-ex   table 0  priority 4  in_port=phy-br-ex,dl_vlan=<local VLAN>     -> set provider VLAN (or pop for flat), NORMAL
//	                 priority 2  in_port=phy-br-ex                          -> drop
//	                 priority 0                                             -> NORMAL
//
// A new patch port pair is created with a peer that does not exist and is
// connected only after both bridges hold the drop flows, as Neutron does,
// so that the physical network's frames never reach br-int's NORMAL
// switching on a local VLAN they happen to carry.

// Neutron's prefixes for the patch ports (PEER_INTEGRATION_PREFIX,
// PEER_PHYSICAL_PREFIX) and the placeholder peer of a port not yet
// connected (NONEXISTENT_PEER).
const (
	peerIntegrationPrefix = "int-"
	peerPhysicalPrefix    = "phy-"
	nonexistentPeer       = "nonexistent-peer"

	// Priorities of the provider flows (Neutron's br_int / br_phys).
	intFromPhysPriority = 3 // br-int: provider VLAN -> local VLAN
	dropPortPriority    = 2 // both: untranslated frames from the patch port
	physFromIntPriority = 4 // br-ex: local VLAN -> provider VLAN
)

// PeerPortNames are the patch ports joining a provider bridge to br-int:
// "int-<bridge>" on br-int and "phy-<bridge>" on the provider bridge.
func PeerPortNames(bridge string) (intPort, phyPort string) {
	return dataplane.InterfaceName(peerIntegrationPrefix, bridge, dataplane.DeviceNameMax),
		dataplane.InterfaceName(peerPhysicalPrefix, bridge, dataplane.DeviceNameMax)
}

// providerGroup is the br-int flow group of IntProviderFlows (other
// groups are keyed by network or port ids, never by this).
const providerGroup = "provider-networks"

// PhysLayout is one mapped physical network's bridge and the ofports of
// its patch ports, as OVS numbered them.
type PhysLayout struct {
	Bridge string
	// Int is int-<bridge> on br-int, Phy is phy-<bridge> on Bridge.
	Int, Phy int
}

// providerNetworks are s's provider networks on physnet that have a
// local VLAN, sorted by id.
func providerNetworks(s dataplane.NodeState, l Layout, physnet string) []dataplane.Network {
	var out []dataplane.Network
	for _, id := range slices.Sorted(maps.Keys(s.Networks)) {
		n := s.Networks[id]
		if _, ok := l.LVIDs[id]; ok && n.Provider() && n.PhysicalNetwork == physnet {
			out = append(out, n)
		}
	}
	return out
}

// IntProviderFlows are br-int's flows for the mapped physical networks:
// per physnet, drop what arrives untranslated from int-<bridge>; per
// provider network, translate its provider VLAN (flat: no tag) to its
// local VLAN. Physnets without an ofport in l are skipped.
func IntProviderFlows(s dataplane.NodeState, l Layout) []Flow {
	var fs []Flow
	for _, physnet := range slices.Sorted(maps.Keys(l.Physnets)) {
		pl := l.Physnets[physnet]
		if pl.Int <= 0 {
			continue
		}
		in := "in_port=" + strconv.Itoa(pl.Int)
		fs = append(fs, Flow{Table: intLocalSwitching, Priority: dropPortPriority, Match: in, Actions: "drop", Cookie: l.Cookie})
		for _, n := range providerNetworks(s, l, physnet) {
			local := "set_field:" + strconv.Itoa(4096+l.LVIDs[n.ID]) + "->vlan_vid,goto_table:" + strconv.Itoa(intTransient)
			f := Flow{Table: intLocalSwitching, Priority: intFromPhysPriority, Cookie: l.Cookie}
			if n.VLAN == 0 {
				f.Match, f.Actions = in+",vlan_tci=0x0000/0x1fff", "push_vlan:0x8100,"+local
			} else {
				f.Match, f.Actions = in+",dl_vlan="+strconv.Itoa(int(n.VLAN)), local
			}
			fs = append(fs, f)
		}
	}
	return fs
}

// PhysFlows are the provider bridge's flows for physnet: NORMAL switching,
// and from phy-<bridge> only the local VLANs of its provider networks,
// rewritten to their provider VLAN (flat: untagged).
func PhysFlows(s dataplane.NodeState, l Layout, physnet string) []Flow {
	fs := []Flow{{Table: 0, Priority: 0, Actions: "NORMAL", Cookie: l.Cookie}}
	pl, ok := l.Physnets[physnet]
	if !ok || pl.Phy <= 0 {
		return fs
	}
	in := "in_port=" + strconv.Itoa(pl.Phy)
	fs = append(fs, Flow{Table: 0, Priority: dropPortPriority, Match: in, Actions: "drop", Cookie: l.Cookie})
	for _, n := range providerNetworks(s, l, physnet) {
		f := Flow{Table: 0, Priority: physFromIntPriority, Match: in + ",dl_vlan=" + strconv.Itoa(l.LVIDs[n.ID]), Cookie: l.Cookie}
		if n.VLAN == 0 {
			f.Actions = "pop_vlan,NORMAL"
		} else {
			f.Actions = "set_field:" + strconv.Itoa(4096+int(n.VLAN)) + "->vlan_vid,NORMAL"
		}
		fs = append(fs, f)
	}
	return fs
}

// unmappedPhysnets reports provider networks whose physnet has no bridge
// (the server should not have bound their ports here).
func unmappedPhysnets(s dataplane.NodeState, mappings map[string]string) error {
	var missing []string
	for _, id := range slices.Sorted(maps.Keys(s.Networks)) {
		n := s.Networks[id]
		if n.Provider() && mappings[n.PhysicalNetwork] == "" {
			missing = append(missing, fmt.Sprintf("network %s on physical network %s", id, n.PhysicalNetwork))
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("no bridge_mappings entry for %v", missing)
}
