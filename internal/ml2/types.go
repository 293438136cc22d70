package ml2

import (
	"fmt"
	"slices"

	"neutrino/internal/config"
	"neutrino/internal/neutron"
	"neutrino/internal/store"
)

// Limits of segmentation ids per type.
const (
	maxVNI   = 1<<24 - 1
	maxGREID = 1<<32 - 1
	maxVLAN  = 4094
)

// Encapsulation overheads without the outer IP header, as Neutron's
// constants: VXLAN = inner Ethernet 14 + UDP 8 + VXLAN 8, GRE 22.
const (
	vxlanOverhead = 30
	greOverhead   = 22
)

// typeDrivers is the pure part of the ML2 type drivers: which types are
// enabled, their ranges, segment validation and MTU.
type typeDrivers struct {
	enabled     map[string]bool
	tenantTypes []string
	vni         []store.IDRange
	gre         []store.IDRange
	vlan        map[string][]store.IDRange // physnet -> tenant ranges (may be empty)
	flatAny     bool
	flat        map[string]bool
	physnetMTU  int
	pathMTU     int
	overlayIPv6 bool
}

var supportedTypes = []string{neutron.TypeVXLAN, neutron.TypeVLAN, neutron.TypeFlat, neutron.TypeGRE}

func newTypeDrivers(c *config.Server) (*typeDrivers, error) {
	td := &typeDrivers{enabled: map[string]bool{}, vlan: map[string][]store.IDRange{}, flat: map[string]bool{},
		physnetMTU: c.GlobalPhysnetMTU, pathMTU: c.PathMTU, overlayIPv6: c.OverlayIPVersion == 6}
	if td.physnetMTU <= 0 {
		td.physnetMTU = 1500
	}
	types := c.TypeDrivers
	if len(types) == 0 {
		types = supportedTypes
	}
	for _, t := range types {
		if slices.Contains(supportedTypes, t) {
			td.enabled[t] = true
		}
		// local and geneve are Neutron types neutrino does not implement;
		// they are ignored like an unloaded driver.
	}
	for _, t := range c.TenantNetworkTypes {
		if t == "local" && !td.enabled["local"] {
			continue
		}
		if !td.enabled[t] {
			return nil, fmt.Errorf("[ml2] tenant_network_types: %q is not in type_drivers (or not supported by neutrino: flat, vlan, gre, vxlan)", t)
		}
		td.tenantTypes = append(td.tenantTypes, t)
	}
	for _, r := range c.VNIRanges {
		if r.Min < 1 || r.Max > maxVNI || r.Min > r.Max {
			return nil, fmt.Errorf("[ml2_type_vxlan] vni_ranges: %d:%d is not a valid range of 1..%d", r.Min, r.Max, maxVNI)
		}
		td.vni = append(td.vni, store.IDRange{Min: r.Min, Max: r.Max})
	}
	for _, r := range c.TunnelIDRanges {
		if r.Min < 1 || r.Max > maxGREID || r.Min > r.Max {
			return nil, fmt.Errorf("[ml2_type_gre] tunnel_id_ranges: %d:%d is not a valid range of 1..%d", r.Min, r.Max, int64(maxGREID))
		}
		td.gre = append(td.gre, store.IDRange{Min: r.Min, Max: r.Max})
	}
	for _, r := range c.NetworkVLANRanges {
		rs := td.vlan[r.PhysicalNetwork]
		if r.Min != 0 || r.Max != 0 {
			if r.Min < 1 || r.Max > maxVLAN || r.Min > r.Max {
				return nil, fmt.Errorf("[ml2_type_vlan] network_vlan_ranges: %s:%d:%d is not a valid range of 1..%d", r.PhysicalNetwork, r.Min, r.Max, maxVLAN)
			}
			rs = append(rs, store.IDRange{Min: r.Min, Max: r.Max})
		}
		td.vlan[r.PhysicalNetwork] = rs
	}
	for _, f := range c.FlatNetworks {
		if f == "*" {
			td.flatAny = true
		} else {
			td.flat[f] = true
		}
	}
	return td, nil
}

func inRanges(rs []store.IDRange, id int64) bool {
	for _, r := range rs {
		if id >= r.Min && id <= r.Max {
			return true
		}
	}
	return false
}

// validateProvider checks a provider segment (provider:* attributes) as
// Neutron's type drivers do; SegmentationID 0 means "allocate".
func (td *typeDrivers) validateProvider(s neutron.Segment) error {
	if s.NetworkType == "" {
		return neutron.InvalidInput("network_type required")
	}
	if !td.enabled[s.NetworkType] {
		return neutron.InvalidInput("network_type value '%s' not supported.", s.NetworkType)
	}
	switch s.NetworkType {
	case neutron.TypeVXLAN, neutron.TypeGRE:
		if s.PhysicalNetwork != "" {
			return neutron.InvalidInput("provider:physical_network specified for %s network.", s.NetworkType)
		}
		max := int64(maxVNI)
		if s.NetworkType == neutron.TypeGRE {
			max = maxGREID
		}
		// Neutron does not range-check provider tunnel ids; neutrino
		// refuses ids a VXLAN header / GRE key cannot carry (deliberate).
		if s.SegmentationID < 0 || s.SegmentationID > max {
			return neutron.InvalidInput("segmentation_id out of range (1 through %d).", max)
		}
	case neutron.TypeVLAN:
		if s.PhysicalNetwork == "" {
			if s.SegmentationID != 0 {
				return neutron.InvalidInput("segmentation_id requires physical_network for VLAN provider network.")
			}
			return nil // any physnet with a free tenant VLAN
		}
		if _, ok := td.vlan[s.PhysicalNetwork]; !ok {
			return neutron.InvalidInput("physical_network '%s' unknown for VLAN provider network.", s.PhysicalNetwork)
		}
		if s.SegmentationID < 0 || s.SegmentationID > maxVLAN {
			return neutron.InvalidInput("segmentation_id out of range (1 through %d).", maxVLAN)
		}
	case neutron.TypeFlat:
		if s.SegmentationID != 0 {
			return neutron.InvalidInput("segmentation_id prohibited for flat provider network.")
		}
		if s.PhysicalNetwork == "" {
			return neutron.InvalidInput("physical_network required for flat provider network.")
		}
		if !td.flatAny && len(td.flat) == 0 {
			return neutron.InvalidInput("Flat provider networks are disabled.")
		}
		if !td.flatAny && !td.flat[s.PhysicalNetwork] {
			return neutron.InvalidInput("physical_network '%s' unknown for flat provider network.", s.PhysicalNetwork)
		}
	}
	return nil
}

// mtu is the largest MTU a segment can carry.
func (td *typeDrivers) mtu(s neutron.Segment) int {
	switch s.NetworkType {
	case neutron.TypeVXLAN, neutron.TypeGRE:
		base := td.physnetMTU
		if td.pathMTU > 0 && td.pathMTU < base {
			base = td.pathMTU
		}
		ipHeader := 20
		if td.overlayIPv6 {
			ipHeader = 40
		}
		over := vxlanOverhead
		if s.NetworkType == neutron.TypeGRE {
			over = greOverhead
		}
		return base - ipHeader - over
	default:
		return td.physnetMTU
	}
}

// networkMTU is the minimum over the segments.
func (td *typeDrivers) networkMTU(segs []neutron.Segment) int {
	m := 0
	for _, s := range segs {
		if v := td.mtu(s); m == 0 || v < m {
			m = v
		}
	}
	if m == 0 {
		m = td.physnetMTU
	}
	return m
}

// checkMTU validates a user-set mtu against the segments' maximum.
func (td *typeDrivers) checkMTU(want int, segs []neutron.Segment) error {
	max := td.networkMTU(segs)
	if want > max {
		return neutron.InvalidInput("Requested MTU is too big, maximum is %d", max)
	}
	if want < 68 {
		return neutron.InvalidInput("Requested MTU is too small, minimum is 68")
	}
	return nil
}

// segmentInRanges reports whether a segment's id belongs to the
// configured pool (decides release: back to the pool or row deleted).
func (td *typeDrivers) segmentInRanges(s neutron.Segment) bool {
	switch s.NetworkType {
	case neutron.TypeVXLAN:
		return inRanges(td.vni, s.SegmentationID)
	case neutron.TypeGRE:
		return inRanges(td.gre, s.SegmentationID)
	case neutron.TypeVLAN:
		return inRanges(td.vlan[s.PhysicalNetwork], s.SegmentationID)
	}
	return false
}
