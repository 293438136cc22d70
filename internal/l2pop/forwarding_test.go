package l2pop

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"neutrino/internal/neutron"
)

// TestSharedForwardingRandom drives a model through random port, status,
// agent, endpoint and network changes while every host's view is read
// after each change (so each network's shared forwarding part is cached
// and must be dropped by exactly the changes that alter it). After every
// change each host's view must equal the view of a model built from
// scratch at that revision, which has no cache; step also checks
// UpdateView and the spans.
func TestSharedForwardingRandom(t *testing.T) {
	hosts := []string{"h0", "h1", "h2", "h3", "h4", "h5"}
	nets := []string{"net-0", "net-1", "net-2"}
	statuses := []string{neutron.StatusActive, neutron.StatusActive, neutron.StatusDown, neutron.StatusBuild}
	for seed := uint64(1); seed <= 6; seed++ {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 18))
			cfg := l2popOn
			w := newWorld()
			m := NewModel(cfg, w.state())
			vtep := func() string { return fmt.Sprintf("198.18.4.%d", 1+r.IntN(8)) }
			var cs []neutron.Change
			for _, h := range hosts {
				cs = append(cs, w.register(h, vtep(), r.IntN(5) != 0)...)
			}
			for i, n := range nets {
				cs = append(cs, w.network(n, int64(2001+i)))
			}
			step(t, cfg, w, m, "setup", cs...)
			var ports []string
			for i := 0; i < 120 && !t.Failed(); i++ {
				var c neutron.Change
				switch op := r.IntN(12); {
				case op < 4 || len(ports) == 0:
					id := fmt.Sprintf("p%03d", i)
					ports = append(ports, id)
					c = w.port(id, nets[r.IntN(len(nets))], hosts[r.IntN(len(hosts))], statuses[r.IntN(len(statuses))],
						fmt.Sprintf("fa:16:3e:00:01:%02x", i), fmt.Sprintf("192.168.%d.%d", r.IntN(3), 10+i))
				case op < 7:
					c = w.status(ports[r.IntN(len(ports))], statuses[r.IntN(len(statuses))])
				case op < 8:
					// Move a port to another host or network, or unbind it.
					p := w.ports[ports[r.IntN(len(ports))]]
					host := hosts[r.IntN(len(hosts))]
					if r.IntN(4) == 0 {
						host = ""
					}
					c = w.port(p.ID, nets[r.IntN(len(nets))], host, p.Status, p.MACAddress, p.FixedIPs[0].IPAddress)
				case op < 9:
					k := r.IntN(len(ports))
					c = w.deletePort(ports[k])
					ports = append(ports[:k], ports[k+1:]...)
				case op < 10:
					// A host's VTEP moves (its endpoint row, or its agent's
					// tunneling_ip when it has no endpoint row).
					h := hosts[r.IntN(len(hosts))]
					switch r.IntN(3) {
					case 0:
						c = w.endpoint(h, vtep())
					case 1:
						if _, ok := w.endpoints[h]; ok {
							c = w.deleteEndpoint(h)
						} else {
							c = w.endpoint(h, vtep())
						}
					default:
						c = w.agent(h, vtep(), r.IntN(5) != 0, true)
					}
				case op < 11:
					h := hosts[r.IntN(len(hosts))]
					if _, ok := w.agents["agent-"+h]; ok && r.IntN(2) == 0 {
						c = w.deleteAgent(h)
					} else {
						c = w.agent(h, vtep(), r.IntN(5) != 0, true)
					}
				default:
					n := nets[r.IntN(len(nets))]
					if _, ok := w.networks[n]; ok && r.IntN(3) == 0 {
						c = w.deleteNetwork(n)
					} else {
						c = w.network(n, int64(2001+r.IntN(5)))
					}
				}
				step(t, cfg, w, m, fmt.Sprintf("change %d", i), c)
			}
		})
	}
}
