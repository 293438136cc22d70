package ui

import (
	"encoding/json"
	"testing"

	"neutrino/internal/l2pop"
	"neutrino/internal/neutron"
)

// The seed with a 4th node: full mesh draws every pair, l2pop only the
// hosts with ports of testnet, and compute-3 keeps no tunnel.
func TestBuild(t *testing.T) {
	st := &neutron.State{Revision: 9}
	n := neutron.Network{MTU: 1450, Segments: []neutron.Segment{{NetworkType: "vxlan", SegmentationID: 1001}}}
	n.ID, n.Name = "net-1", "testnet"
	st.Networks = []neutron.Network{n}
	for i, h := range []string{"controller", "compute-1", "compute-2", "compute-3"} {
		conf, _ := json.Marshal(map[string]any{"tunneling_ip": "198.18.0." + string(rune('1'+i)), "l2_population": true})
		st.Agents = append(st.Agents, neutron.Agent{ID: "a-" + h, Host: h, AgentType: neutron.AgentTypeOVS, Configurations: conf, Alive: true})
		if h == "compute-3" {
			continue
		}
		p := neutron.Port{NetworkID: "net-1", MACAddress: "FA:16:3E:00:00:0" + string(rune('1'+i)), Status: neutron.StatusActive}
		p.ID, p.Name, p.HostID, p.VIFType = "p-"+h, "vm-"+h, h, neutron.VIFOVS
		st.Ports = append(st.Ports, p)
	}
	full := Build(st, l2pop.Config{})
	part := Build(st, l2pop.Config{Enabled: true})
	if len(full.Tunnels) != 6 || len(part.Tunnels) != 3 || len(full.Ports) != 3 || full.Ports[0].MAC != "fa:16:3e:00:00:02" {
		t.Fatalf("tunnels full %v, l2pop %v; ports %v", full.Tunnels, part.Tunnels, full.Ports)
	}
	for _, nd := range part.Nodes {
		if nd.Host == "compute-3" && len(nd.Tunnels) != 0 {
			t.Errorf("l2pop: compute-3 tunnels %v", nd.Tunnels)
		}
		if nd.Host == "compute-1" && len(nd.Flood["net-1"]) != 2 {
			t.Errorf("l2pop: compute-1 floods to %v", nd.Flood["net-1"])
		}
	}
}
