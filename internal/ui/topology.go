// Package ui serves /ui: a live picture of the overlay in the browser.
// Nodes with their VTEPs, the tunnels each keeps (full mesh, or the
// l2pop partial mesh), each network's flood lists and ports, updated from
// the change stream with server-sent events. The page is embedded (no
// external assets); the picture's data is a pure function of one database
// snapshot, computed with the same l2pop views the agents get.
package ui

import (
	"encoding/json"
	"net/netip"
	"slices"
	"strings"

	"neutrino/internal/l2pop"
	"neutrino/internal/neutron"
)

// Topology is what the page draws.
type Topology struct {
	Revision int64       `json:"revision"`
	L2Pop    bool        `json:"l2pop"`
	Nodes    []Node      `json:"nodes"`
	Networks []Network   `json:"networks"`
	Ports    []Port      `json:"ports"`
	Tunnels  [][2]string `json:"tunnels"` // host pairs, each once, sorted
}

// Node is one host with an L2 agent.
type Node struct {
	Host      string `json:"host"`
	VTEP      string `json:"vtep"`
	AgentType string `json:"agent_type"`
	Alive     bool   `json:"alive"`
	L2Pop     bool   `json:"l2pop"`
	// Tunnels are the hosts this node keeps a tunnel to (its view).
	Tunnels []string `json:"tunnels"`
	// Flood is, per network id this node hosts, the hosts it floods to.
	Flood map[string][]string `json:"flood"`
}

// Network is an overlay network.
type Network struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	VNI  int64  `json:"vni"`
}

// Port is a bound port.
type Port struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	NetworkID string   `json:"network_id"`
	Host      string   `json:"host"`
	MAC       string   `json:"mac"`
	IPs       []string `json:"ips"`
	Status    string   `json:"status"`
}

// Build computes the topology from a snapshot.
func Build(st *neutron.State, cfg l2pop.Config) Topology {
	t := Topology{Revision: st.Revision, L2Pop: cfg.Enabled, Nodes: []Node{}, Networks: []Network{}, Ports: []Port{}, Tunnels: [][2]string{}}
	model := l2pop.NewModel(cfg, st)
	agents := map[string]neutron.Agent{}
	for _, a := range st.Agents {
		if a.AgentType != neutron.AgentTypeOVS && a.AgentType != neutron.AgentTypeLinuxBridge {
			continue
		}
		if old, ok := agents[a.Host]; !ok || a.ID < old.ID {
			agents[a.Host] = a
		}
	}
	hostOf := map[netip.Addr]string{}
	views := map[string]l2pop.View{}
	for _, h := range model.Hosts() {
		v := model.View(h)
		views[h] = v
		if v.LocalIP.IsValid() {
			hostOf[v.LocalIP] = h
		}
	}
	hostsOf := func(as []netip.Addr) []string {
		out := []string{}
		for _, a := range as {
			if h, ok := hostOf[a]; ok {
				out = append(out, h)
			} else {
				out = append(out, a.String())
			}
		}
		slices.Sort(out)
		return out
	}
	pairs := map[[2]string]bool{}
	for _, h := range model.Hosts() {
		v, a := views[h], agents[h]
		n := Node{Host: h, AgentType: a.AgentType, Alive: a.Alive, L2Pop: v.L2Pop, Tunnels: hostsOf(v.Tunnels), Flood: map[string][]string{}}
		if v.LocalIP.IsValid() {
			n.VTEP = v.LocalIP.String()
		}
		for id, nv := range v.Networks {
			n.Flood[id] = hostsOf(nv.Flood)
		}
		for _, peer := range n.Tunnels {
			p := [2]string{h, peer}
			if p[1] < p[0] {
				p[0], p[1] = p[1], p[0]
			}
			pairs[p] = true
		}
		t.Nodes = append(t.Nodes, n)
	}
	for p := range pairs {
		t.Tunnels = append(t.Tunnels, p)
	}
	slices.SortFunc(t.Tunnels, func(a, b [2]string) int { return strings.Compare(a[0]+"\x00"+a[1], b[0]+"\x00"+b[1]) })
	overlay := map[string]bool{}
	for _, n := range st.Networks {
		if len(n.Segments) == 0 || !slices.Contains(overlayTypes(cfg), n.Segments[0].NetworkType) {
			continue
		}
		overlay[n.ID] = true
		t.Networks = append(t.Networks, Network{ID: n.ID, Name: n.Name, VNI: n.Segments[0].SegmentationID})
	}
	slices.SortFunc(t.Networks, func(a, b Network) int { return strings.Compare(a.Name+a.ID, b.Name+b.ID) })
	for _, p := range st.Ports {
		if p.HostID == "" || !overlay[p.NetworkID] {
			continue
		}
		q := Port{ID: p.ID, Name: p.Name, NetworkID: p.NetworkID, Host: p.HostID, MAC: strings.ToLower(p.MACAddress), Status: p.Status, IPs: []string{}}
		for _, ip := range p.FixedIPs {
			q.IPs = append(q.IPs, ip.IPAddress)
		}
		t.Ports = append(t.Ports, q)
	}
	slices.SortFunc(t.Ports, func(a, b Port) int { return strings.Compare(a.Host+a.Name+a.ID, b.Host+b.Name+b.ID) })
	return t
}

func overlayTypes(c l2pop.Config) []string {
	if len(c.NetworkTypes) == 0 {
		return []string{neutron.TypeVXLAN, neutron.TypeGRE}
	}
	return c.NetworkTypes
}

// JSON renders the topology.
func (t Topology) JSON() []byte {
	b, _ := json.Marshal(t)
	return b
}
