package api

import (
	"encoding/json"

	"neutrino/internal/neutron"
)

// Struct views of ports and networks for the common case (no fields=
// selection): encoding/json encodes a struct several times faster than
// a map, which matters when listing 10,000 ports. They must render the
// same JSON as renderPort/renderNetwork + shape; TestViewsMatchMaps
// checks that.

type portView struct {
	ID                  string                `json:"id"`
	Name                string                `json:"name"`
	NetworkID           string                `json:"network_id"`
	TenantID            string                `json:"tenant_id"`
	MACAddress          string                `json:"mac_address"`
	AdminStateUp        bool                  `json:"admin_state_up"`
	Status              string                `json:"status"`
	DeviceID            string                `json:"device_id"`
	DeviceOwner         string                `json:"device_owner"`
	FixedIPs            []neutron.FixedIP     `json:"fixed_ips"`
	AllowedAddressPairs []neutron.AddressPair `json:"allowed_address_pairs"`
	ExtraDHCPOpts       []string              `json:"extra_dhcp_opts"`
	SecurityGroups      []string              `json:"security_groups"`
	Description         string                `json:"description"`
	VNICType            string                `json:"binding:vnic_type"`
	// Admin-only: nil for other callers, and then left out.
	Profile             json.RawMessage `json:"binding:profile,omitempty"`
	HostID              *string         `json:"binding:host_id,omitempty"`
	VIFType             *string         `json:"binding:vif_type,omitempty"`
	VIFDetails          json.RawMessage `json:"binding:vif_details,omitempty"`
	PortSecurityEnabled *bool           `json:"port_security_enabled,omitempty"`
	Tags                []string        `json:"tags"`
	CreatedAt           any             `json:"created_at"`
	UpdatedAt           any             `json:"updated_at"`
	RevisionNumber      int64           `json:"revision_number"`
	ProjectID           string          `json:"project_id"`
}

func viewPort(p *neutron.Port, o attrOptions, admin bool) *portView {
	v := &portView{
		ID: p.ID, Name: p.Name, NetworkID: p.NetworkID, TenantID: p.ProjectID, MACAddress: p.MACAddress,
		AdminStateUp: p.AdminStateUp, Status: p.Status, DeviceID: p.DeviceID, DeviceOwner: p.DeviceOwner,
		FixedIPs: p.FixedIPs, AllowedAddressPairs: p.AllowedAddressPairs, ExtraDHCPOpts: []string{},
		SecurityGroups: strs(p.SecurityGroups), Description: p.Description, VNICType: p.VNICType,
		Tags: strs(p.Tags), CreatedAt: ts(p.CreatedAt, timeFormat), UpdatedAt: ts(p.UpdatedAt, timeFormat),
		RevisionNumber: p.RevisionNumber, ProjectID: p.ProjectID,
	}
	if v.FixedIPs == nil {
		v.FixedIPs = []neutron.FixedIP{}
	}
	if v.AllowedAddressPairs == nil {
		v.AllowedAddressPairs = []neutron.AddressPair{}
	}
	if v.VNICType == "" {
		v.VNICType = "normal"
	}
	if admin {
		host, vif := p.HostID, p.VIFType
		if vif == "" {
			vif = neutron.VIFUnbound
		}
		v.HostID, v.VIFType = &host, &vif
		v.Profile, v.VIFDetails = rawOr(p.Profile, "{}"), rawOr(p.VIFDetails, "{}")
	}
	if o.PortSecurity {
		ps := p.PortSecurityEnabled
		v.PortSecurityEnabled = &ps
	}
	return v
}

type networkView struct {
	ID                    string   `json:"id"`
	Name                  string   `json:"name"`
	TenantID              string   `json:"tenant_id"`
	AdminStateUp          bool     `json:"admin_state_up"`
	MTU                   int      `json:"mtu"`
	Status                string   `json:"status"`
	Subnets               []string `json:"subnets"`
	Shared                bool     `json:"shared"`
	AvailabilityZoneHints []string `json:"availability_zone_hints"`
	AvailabilityZones     []string `json:"availability_zones"`
	IPv4AddressScope      *string  `json:"ipv4_address_scope"`
	IPv6AddressScope      *string  `json:"ipv6_address_scope"`
	External              bool     `json:"router:external"`
	Description           string   `json:"description"`
	PortSecurityEnabled   *bool    `json:"port_security_enabled,omitempty"`
	Tags                  []string `json:"tags"`
	CreatedAt             any      `json:"created_at"`
	UpdatedAt             any      `json:"updated_at"`
	RevisionNumber        int64    `json:"revision_number"`
	ProjectID             string   `json:"project_id"`
	*providerView         `json:",omitempty"`
	Segments              []map[string]any `json:"segments,omitempty"`
}

// providerView is embedded so its keys sit at the top level; a nil
// pointer (non-admin, or several segments) leaves them out.
type providerView struct {
	NetworkType     string `json:"provider:network_type"`
	PhysicalNetwork any    `json:"provider:physical_network"`
	SegmentationID  any    `json:"provider:segmentation_id"`
}

func viewNetwork(n *neutron.Network, o attrOptions, admin bool) *networkView {
	v := &networkView{
		ID: n.ID, Name: n.Name, TenantID: n.ProjectID, AdminStateUp: n.AdminStateUp, MTU: n.MTU, Status: n.Status,
		Subnets: strs(n.Subnets), Shared: n.Shared, AvailabilityZoneHints: []string{}, AvailabilityZones: []string{},
		External: n.External, Description: n.Description, Tags: strs(n.Tags),
		CreatedAt: ts(n.CreatedAt, timeFormat), UpdatedAt: ts(n.UpdatedAt, timeFormat),
		RevisionNumber: n.RevisionNumber, ProjectID: n.ProjectID,
	}
	if o.PortSecurity {
		ps := n.PortSecurityEnabled
		v.PortSecurityEnabled = &ps
	}
	if !admin {
		return v
	}
	if len(n.Segments) > 1 {
		for _, s := range n.Segments {
			v.Segments = append(v.Segments, segmentMap(map[string]any{}, s))
		}
		return v
	}
	var s neutron.Segment
	if len(n.Segments) == 1 {
		s = n.Segments[0]
	}
	m := segmentMap(map[string]any{}, s)
	v.providerView = &providerView{NetworkType: s.NetworkType, PhysicalNetwork: m["provider:physical_network"], SegmentationID: m["provider:segmentation_id"]}
	return v
}
