package neutron

import "encoding/json"

// OVSHybridPlug reports whether binding:vif_details say ovs_hybrid_plug:
// the OVS agent filters with iptables_hybrid, so Nova (os-vif) plugs the
// VM through a qbr bridge and a qvb/qvo veth pair instead of putting its
// tap on br-int.
func (b Binding) OVSHybridPlug() bool {
	var d struct {
		Hybrid bool `json:"ovs_hybrid_plug"`
	}
	return len(b.VIFDetails) > 0 && json.Unmarshal(b.VIFDetails, &d) == nil && d.Hybrid
}
