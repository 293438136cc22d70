package l2pop

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"

	"neutrino/internal/neutron"
)

// cloud is a state of hosts L2 agents (l2population on), nets VXLAN
// networks and ports ports, each ACTIVE on a random host, as the
// convergence benchmark builds it.
func cloud(hosts, nets, ports int) *neutron.State {
	r := rand.New(rand.NewPCG(1, 7))
	st := &neutron.State{Revision: int64(hosts + nets + ports)}
	for i := 0; i < hosts; i++ {
		ip := fmt.Sprintf("198.18.%d.%d", i/250, i%250+1)
		conf, _ := json.Marshal(map[string]any{"tunneling_ip": ip, "l2_population": true})
		a := neutron.Agent{ID: fmt.Sprintf("agent-%05d", i), AgentType: neutron.AgentTypeOVS, Host: fmt.Sprintf("node-%05d", i), Configurations: conf}
		st.Agents = append(st.Agents, a)
		st.Endpoints = append(st.Endpoints, neutron.TunnelEndpoint{IPAddress: ip, Host: a.Host})
	}
	for i := 0; i < nets; i++ {
		n := neutron.Network{MTU: 1450, Segments: []neutron.Segment{{NetworkType: "vxlan", SegmentationID: int64(1001 + i)}}}
		n.ID = fmt.Sprintf("net-%05d", i)
		st.Networks = append(st.Networks, n)
	}
	for i := 0; i < ports; i++ {
		p := neutron.Port{NetworkID: fmt.Sprintf("net-%05d", i%nets), MACAddress: fmt.Sprintf("fa:16:3e:%02x:%02x:%02x", i>>16&0xff, i>>8&0xff, i&0xff),
			Status: neutron.StatusActive}
		p.ID = fmt.Sprintf("port-%07d", i)
		p.VIFType = neutron.VIFOVS
		p.HostID = fmt.Sprintf("node-%05d", r.IntN(hosts))
		p.FixedIPs = []neutron.FixedIP{{IPAddress: fmt.Sprintf("10.%d.%d.%d", i>>16&0xff, i>>8&0xff, i&0xff)}}
		st.Ports = append(st.Ports, p)
	}
	return st
}

// BenchmarkEveryView is a server's start at the scale of issue 18: the
// model from the state, then every host's view (what the agents' hub
// holds before it serves).
//
//	go test ./internal/l2pop -run XXX -bench EveryView -benchtime 1x
func BenchmarkEveryView(b *testing.B) {
	for _, size := range []struct{ hosts, nets, ports int }{{1000, 1000, 20000}, {10000, 10000, 200000}} {
		st := cloud(size.hosts, size.nets, size.ports)
		b.Run(fmt.Sprintf("hosts=%d", size.hosts), func(b *testing.B) {
			for b.Loop() {
				m := NewModel(l2popOn, st)
				entries := 0
				for _, h := range m.Hosts() {
					entries += m.View(h).EntryCount()
				}
				b.ReportMetric(float64(entries), "entries")
			}
		})
	}
}
