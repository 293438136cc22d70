package ml2

import (
	"encoding/json"
	"slices"

	"neutrino/internal/neutron"
)

// mechanism drivers neutrino binds with, and the agent type each needs.
var mechAgentType = map[string]string{
	"openvswitch": neutron.AgentTypeOVS,
	"linuxbridge": neutron.AgentTypeLinuxBridge,
}

// agentConf is the part of an agent's configurations binding reads.
type agentConf struct {
	TunnelTypes       []string          `json:"tunnel_types"`
	BridgeMappings    map[string]string `json:"bridge_mappings"`
	InterfaceMappings map[string]string `json:"interface_mappings"`
	DatapathType      string            `json:"datapath_type"`
	IntegrationBridge string            `json:"integration_bridge"`
	OVSHybridPlug     *bool             `json:"ovs_hybrid_plug"`
}

// ovsVIFDetails is the OVS driver's binding:vif_details, keys in the order
// Neutron renders them.
type ovsVIFDetails struct {
	Connectivity  string `json:"connectivity"`
	PortFilter    bool   `json:"port_filter"`
	OVSHybridPlug bool   `json:"ovs_hybrid_plug"`
	DatapathType  string `json:"datapath_type"`
	BridgeName    string `json:"bridge_name"`
}

type bridgeVIFDetails struct {
	Connectivity string `json:"connectivity"`
	PortFilter   bool   `json:"port_filter"`
}

// bindWith decides whether mechanism driver mech can bind a port of a
// network with segs to an (alive) agent with configurations conf; it
// returns the vif_type and vif_details. Pure: the caller found the agent.
func bindWith(mech string, conf json.RawMessage, segs []neutron.Segment, vnicType string) (string, json.RawMessage, bool) {
	if vnicType != "" && vnicType != "normal" {
		return "", nil, false
	}
	var c agentConf
	if len(conf) > 0 {
		if err := json.Unmarshal(conf, &c); err != nil {
			return "", nil, false
		}
	}
	mappings := c.BridgeMappings
	if mech == "linuxbridge" {
		mappings = map[string]string{}
		for k, v := range c.InterfaceMappings {
			mappings[k] = v
		}
		for k, v := range c.BridgeMappings {
			mappings[k] = v
		}
	}
	ok := false
	for _, s := range segs {
		switch s.NetworkType {
		case neutron.TypeVXLAN, neutron.TypeGRE:
			ok = slices.Contains(c.TunnelTypes, s.NetworkType)
		case neutron.TypeVLAN, neutron.TypeFlat:
			_, ok = mappings[s.PhysicalNetwork]
		}
		if ok {
			break
		}
	}
	if !ok {
		return "", nil, false
	}
	switch mech {
	case "openvswitch":
		d := ovsVIFDetails{Connectivity: "l2", PortFilter: true, DatapathType: c.DatapathType, BridgeName: c.IntegrationBridge}
		if d.DatapathType == "" {
			d.DatapathType = "system"
		}
		if d.BridgeName == "" {
			d.BridgeName = "br-int"
		}
		if c.OVSHybridPlug != nil {
			d.OVSHybridPlug = *c.OVSHybridPlug
		}
		return neutron.VIFOVS, mustJSON(d), true
	case "linuxbridge":
		return neutron.VIFBridge, mustJSON(bridgeVIFDetails{Connectivity: "l2", PortFilter: true}), true
	}
	return "", nil, false
}

// withBoundDrivers adds Neutron's "bound_drivers" key, which a port's
// vif_details carries once the agent has reported the device.
func withBoundDrivers(details json.RawMessage, vifType string) json.RawMessage {
	mech := ""
	switch vifType {
	case neutron.VIFOVS:
		mech = "openvswitch"
	case neutron.VIFBridge:
		mech = "linuxbridge"
	default:
		return details
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(details, &m); err != nil || m == nil {
		return details
	}
	if _, ok := m["bound_drivers"]; ok {
		return details
	}
	// Re-marshal through an ordered form so the existing keys keep order.
	var d ovsVIFDetails
	if vifType == neutron.VIFOVS && json.Unmarshal(details, &d) == nil {
		return mustJSON(struct {
			ovsVIFDetails
			BoundDrivers map[string]string `json:"bound_drivers"`
		}{d, map[string]string{"0": mech}})
	}
	var b bridgeVIFDetails
	_ = json.Unmarshal(details, &b)
	return mustJSON(struct {
		bridgeVIFDetails
		BoundDrivers map[string]string `json:"bound_drivers"`
	}{b, map[string]string{"0": mech}})
}
