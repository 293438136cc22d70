package l2pop

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"neutrino/internal/neutron"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

const (
	ctl = "198.18.255.101"
	c1  = "198.18.255.102"
	c2  = "198.18.255.103"
	c3  = "198.18.255.104"
)

// seed builds the seed's topology: a controller and two computes with
// agents, one tenant network, a VM port on each compute (bound, DOWN).
func seed(w *world, l2pop bool) []neutron.Change {
	var cs []neutron.Change
	cs = append(cs, w.register("controller", ctl, l2pop)...)
	cs = append(cs, w.register("compute-1", c1, l2pop)...)
	cs = append(cs, w.register("compute-2", c2, l2pop)...)
	cs = append(cs, w.network("net-a", 1001))
	cs = append(cs, w.port("vm-a", "net-a", "compute-1", neutron.StatusDown, "fa:16:3e:00:00:0a", "192.168.1.11"))
	cs = append(cs, w.port("vm-b", "net-a", "compute-2", neutron.StatusDown, "fa:16:3e:00:00:0b", "192.168.1.12"))
	return cs
}

type scenario struct {
	name  string
	cfg   Config
	steps func(w *world) []namedStep
}

type namedStep struct {
	title   string
	changes []neutron.Change
}

func s(title string, cs ...neutron.Change) namedStep { return namedStep{title, cs} }

func flat(css ...[]neutron.Change) []neutron.Change {
	var out []neutron.Change
	for _, cs := range css {
		out = append(out, cs...)
	}
	return out
}

var l2popOn = Config{Enabled: true}

func TestViews(t *testing.T) {
	scenarios := []scenario{
		{name: "seed-l2pop", cfg: l2popOn, steps: func(w *world) []namedStep {
			return []namedStep{
				s("seed: ports bound, DOWN: networks set up, nothing announced", seed(w, true)...),
				s("vm-a ACTIVE: compute-1 has an active port but no remote is active yet", w.status("vm-a", neutron.StatusActive)),
				s("vm-b ACTIVE: both computes learn each other", w.status("vm-b", neutron.StatusActive)),
				s("vm-c on compute-1 ACTIVE: compute-2 gets one more entry, flood unchanged",
					w.port("vm-c", "net-a", "compute-1", neutron.StatusActive, "fa:16:3e:00:00:0c", "192.168.1.13")),
				s("vm-c deleted", w.deletePort("vm-c")),
				s("vm-a deleted: the last port of net-a leaves compute-1", w.deletePort("vm-a")),
			}
		}},
		{name: "seed-full-mesh", cfg: Config{}, steps: func(w *world) []namedStep {
			return []namedStep{
				s("seed without l2population: every agent tunnels to every VTEP", seed(w, false)...),
				s("ports ACTIVE: full mesh does not depend on ports", w.status("vm-a", neutron.StatusActive), w.status("vm-b", neutron.StatusActive)),
				s("compute-3 joins: every agent learns it", w.register("compute-3", c3, false)...),
				s("compute-3 leaves (agent deleted, endpoint removed)", w.deleteAgent("compute-3"), w.deleteEndpoint("compute-3")),
			}
		}},
		{name: "agent-l2pop-server-without", cfg: Config{}, steps: func(w *world) []namedStep {
			return []namedStep{
				s("agents ask for l2population but the server does not run it: full mesh", seed(w, true)...),
			}
		}},
		{name: "fourth-node", cfg: l2popOn, steps: func(w *world) []namedStep {
			return []namedStep{
				s("seed, both VMs ACTIVE", flat(seed(w, true), []neutron.Change{w.status("vm-a", neutron.StatusActive), w.status("vm-b", neutron.StatusActive)})...),
				s("compute-3 registers with no port on net-a: it learns no entries; the others learn only its VTEP (underlay filter)", w.register("compute-3", c3, true)...),
				s("a port on another network on compute-3 changes nothing for net-a hosts",
					w.network("net-b", 1002),
					w.port("vm-x", "net-b", "compute-3", neutron.StatusActive, "fa:16:3e:00:00:1a", "192.168.2.11")),
			}
		}},
		{name: "port-move", cfg: l2popOn, steps: func(w *world) []namedStep {
			return []namedStep{
				s("seed with compute-3, both VMs ACTIVE, a second port on compute-2 keeps it on the network",
					flat(seed(w, true), w.register("compute-3", c3, true), []neutron.Change{
						w.status("vm-a", neutron.StatusActive), w.status("vm-b", neutron.StatusActive),
						w.port("vm-d", "net-a", "compute-2", neutron.StatusActive, "fa:16:3e:00:00:0d", "192.168.1.14"),
					})...),
				s("vm-b moves to compute-3 (rebound, DOWN until its agent reports it up)",
					w.port("vm-b", "net-a", "compute-3", neutron.StatusDown, "fa:16:3e:00:00:0b", "192.168.1.12")),
				s("vm-b ACTIVE on compute-3: entries move to its VTEP", w.status("vm-b", neutron.StatusActive)),
			}
		}},
		{name: "last-port-removed", cfg: l2popOn, steps: func(w *world) []namedStep {
			return []namedStep{
				s("three computes on net-a, all ACTIVE",
					flat(seed(w, true), w.register("compute-3", c3, true), []neutron.Change{
						w.status("vm-a", neutron.StatusActive), w.status("vm-b", neutron.StatusActive),
						w.port("vm-e", "net-a", "compute-3", neutron.StatusActive, "fa:16:3e:00:00:0e", "192.168.1.15"),
					})...),
				s("vm-e goes DOWN: compute-3 keeps the network but loses its FDB; others drop it from floods", w.status("vm-e", neutron.StatusDown)),
				s("vm-e deleted: net-a vanishes from compute-3", w.deletePort("vm-e")),
				s("network deleted after its ports", w.deletePort("vm-a"), w.deletePort("vm-b"), w.deleteNetwork("net-a")),
			}
		}},
		{name: "two-networks-overlapping", cfg: l2popOn, steps: func(w *world) []namedStep {
			return []namedStep{
				s("net-a on compute-1+2, net-b on compute-2+3",
					flat(seed(w, true), w.register("compute-3", c3, true), []neutron.Change{
						w.status("vm-a", neutron.StatusActive), w.status("vm-b", neutron.StatusActive),
						w.network("net-b", 1002),
						w.port("vm-p", "net-b", "compute-2", neutron.StatusActive, "fa:16:3e:00:00:1b", "192.168.2.12"),
						w.port("vm-q", "net-b", "compute-3", neutron.StatusActive, "fa:16:3e:00:00:1c", "192.168.2.13", "fd00::13"),
					})...),
				s("fixed IP change on vm-q updates its entries", w.port("vm-q", "net-b", "compute-3", neutron.StatusActive, "fa:16:3e:00:00:1c", "192.168.2.23")),
				s("net-b's MTU changes (header delta only to its hosts)", func() neutron.Change {
					n := w.networks["net-b"]
					n.MTU = 1400
					w.networks["net-b"] = n
					return w.change("network", "net-b", "update", n)
				}()),
			}
		}},
		{name: "agent-dead-alive", cfg: l2popOn, steps: func(w *world) []namedStep {
			return []namedStep{
				s("seed, both VMs ACTIVE", flat(seed(w, true), []neutron.Change{w.status("vm-a", neutron.StatusActive), w.status("vm-b", neutron.StatusActive)})...),
				s("compute-2's agent misses heartbeats (dead): no view changes", w.agent("compute-2", c2, true, false)),
				s("compute-2's agent is back (alive): no view changes", w.agent("compute-2", c2, true, true)),
				s("compute-2's agent comes back with a new local_ip: its old endpoint is replaced",
					w.agent("compute-2", "198.18.255.113", true, true), w.endpoint("compute-2", "198.18.255.113")),
				s("compute-2's agent is deleted: its VTEP and entries go", w.deleteAgent("compute-2"), w.deleteEndpoint("compute-2")),
			}
		}},
		{name: "unbound-and-unknown", cfg: l2popOn, steps: func(w *world) []namedStep {
			return []namedStep{
				s("seed", seed(w, true)...),
				s("an unbound port and a port bound to a host without agent are not announced",
					w.status("vm-a", neutron.StatusActive),
					w.port("vm-u", "net-a", "", neutron.StatusDown, "fa:16:3e:00:00:f0", "192.168.1.40"),
					w.port("vm-n", "net-a", "nohost", neutron.StatusActive, "fa:16:3e:00:00:f1", "192.168.1.41")),
				s("a local network is realised by no agent here: ignored", func() neutron.Change {
					n := neutron.Network{MTU: 1500, Segments: []neutron.Segment{{NetworkType: "local"}}}
					n.ID = "net-l"
					w.networks["net-l"] = n
					return w.change("network", "net-l", "create", n)
				}(), w.port("vm-l", "net-l", "compute-1", neutron.StatusActive, "fa:16:3e:00:00:f2", "10.0.0.2")),
			}
		}},
		{name: "provider-networks", cfg: l2popOn, steps: func(w *world) []namedStep {
			return []namedStep{
				s("seed, both VMs ACTIVE on the vxlan network", flat(seed(w, true), []neutron.Change{w.status("vm-a", neutron.StatusActive), w.status("vm-b", neutron.StatusActive)})...),
				s("a vlan network with an ACTIVE port on each compute: realised (physnet, VLAN), no flood list, no entries, no tunnel",
					w.providerNetwork("net-v", "physnet1", 100),
					w.port("vm-v1", "net-v", "compute-1", neutron.StatusActive, "fa:16:3e:00:01:01", "10.0.0.11"),
					w.port("vm-v2", "net-v", "compute-2", neutron.StatusActive, "fa:16:3e:00:01:02", "10.0.0.12")),
				s("a flat network on compute-2 and the controller: only the port's own host is in the span",
					w.providerNetwork("net-f", "physnet2", 0),
					w.port("vm-f1", "net-f", "compute-2", neutron.StatusActive, "fa:16:3e:00:02:01", "198.18.100.11"),
					w.port("vm-f2", "net-f", "controller", neutron.StatusActive, "fa:16:3e:00:02:02", "198.18.100.12")),
				s("the vlan network moves to VLAN 200 (header delta to its hosts)", w.providerNetwork("net-v", "physnet1", 200)),
				s("vm-v1 deleted: the vlan network leaves compute-1, compute-2 is untouched", w.deletePort("vm-v1")),
			}
		}},
		{name: "provider-networks-full-mesh", cfg: Config{}, steps: func(w *world) []namedStep {
			return []namedStep{
				s("without l2population overlays flood to every VTEP; a vlan network floods to none",
					flat(seed(w, false), []neutron.Change{
						w.providerNetwork("net-v", "physnet1", 100),
						w.port("vm-v1", "net-v", "compute-1", neutron.StatusActive, "fa:16:3e:00:01:01", "10.0.0.11"),
					})...),
			}
		}},
	}
	scenarios = append(scenarios, scenario{name: "security-groups", cfg: l2popOn, steps: sgScenario})
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			w := newWorld()
			m := NewModel(sc.cfg, nil)
			var b strings.Builder
			for _, st := range sc.steps(w) {
				b.WriteString(step(t, sc.cfg, w, m, st.title, st.changes...))
			}
			golden(t, filepath.Join("testdata", sc.name+".golden"), b.String())
		})
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden %s (run go test -update to create it): %v", path, err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden text.\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}
