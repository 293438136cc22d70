package trace

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"neutrino/internal/dataplane"
	"neutrino/internal/l2pop"
	"neutrino/internal/neutron"
)

var update = flag.Bool("update", false, "rewrite golden files")

// seed is the seed's topology: controller, compute-1, compute-2 (and a
// compute-3 hosting no port of testnet), testnet VNI 1001, vm1 on
// compute-1, vm2 on compute-2, the router port on the controller.
type seed struct {
	mech       string // neutron agent type
	l2pop      bool
	arp        bool
	group      string
	downVM2    bool
	noCompute3 bool
}

func (s seed) state() *neutron.State {
	st := &neutron.State{Revision: 42}
	n := neutron.Network{MTU: 1450, Segments: []neutron.Segment{{NetworkType: "vxlan", SegmentationID: 1001}}}
	n.ID, n.Name = "5c3f0d3e-net0-4000-8000-000000000001", "testnet"
	st.Networks = append(st.Networks, n)
	hosts := []struct{ host, ip string }{
		{"controller", "198.18.255.101"}, {"compute-1", "198.18.255.102"}, {"compute-2", "198.18.255.103"}, {"compute-3", "198.18.255.104"},
	}
	for _, h := range hosts {
		if h.host == "compute-3" && s.noCompute3 {
			continue
		}
		conf := map[string]any{"tunneling_ip": h.ip, "l2_population": s.l2pop, "arp_responder_enabled": s.arp, "tunnel_types": []string{"vxlan"}}
		if s.group != "" {
			conf["vxlan_group"] = s.group
		}
		b, _ := json.Marshal(conf)
		st.Agents = append(st.Agents, neutron.Agent{ID: "agent-" + h.host, AgentType: s.mech, Host: h.host, Configurations: b, Alive: true})
		st.Endpoints = append(st.Endpoints, neutron.TunnelEndpoint{IPAddress: h.ip, UDPPort: 4789, Host: h.host})
	}
	port := func(id, name, host, mac, ip, status string) {
		p := neutron.Port{NetworkID: n.ID, MACAddress: mac, Status: status, FixedIPs: []neutron.FixedIP{{SubnetID: "sub", IPAddress: ip}}}
		p.ID, p.Name, p.HostID, p.VIFType = id, name, host, neutron.VIFOVS
		st.Ports = append(st.Ports, p)
	}
	port("a1b2c3d4-e5f6-4000-8000-00000000000a", "router", "controller", "fa:16:3e:00:00:01", "192.168.1.1", neutron.StatusActive)
	port("b1b2c3d4-e5f6-4000-8000-00000000000b", "vm1", "compute-1", "fa:16:3e:00:00:0b", "192.168.1.11", neutron.StatusActive)
	vm2 := neutron.StatusActive
	if s.downVM2 {
		vm2 = neutron.StatusDown
	}
	port("c1b2c3d4-e5f6-4000-8000-00000000000c", "vm2", "compute-2", "fa:16:3e:00:00:0c", "192.168.1.12", vm2)
	port("d1b2c3d4-e5f6-4000-8000-00000000000d", "vm3", "compute-1", "fa:16:3e:00:00:0d", "192.168.1.13", neutron.StatusActive)
	return st
}

func TestGolden(t *testing.T) {
	ovs, lb := neutron.AgentTypeOVS, neutron.AgentTypeLinuxBridge
	cases := []struct {
		name string
		seed seed
		q    Query
	}{
		{"ovs-full-mesh-ip", seed{mech: ovs}, Query{Port: "router", Dst: "192.168.1.12"}},
		{"ovs-full-mesh-broadcast", seed{mech: ovs}, Query{Port: "router", Dst: "broadcast"}},
		{"ovs-l2pop-ip", seed{mech: ovs, l2pop: true}, Query{Port: "router", Dst: "192.168.1.12"}},
		{"ovs-l2pop-broadcast", seed{mech: ovs, l2pop: true}, Query{Port: "router", Dst: "broadcast"}},
		{"ovs-l2pop-arp-ip", seed{mech: ovs, l2pop: true, arp: true}, Query{Port: "router", Dst: "192.168.1.12"}},
		{"ovs-l2pop-arp-unknown-ip", seed{mech: ovs, l2pop: true, arp: true}, Query{Port: "router", Dst: "192.168.1.99"}},
		{"ovs-l2pop-down-port", seed{mech: ovs, l2pop: true, downVM2: true}, Query{Port: "router", Dst: "fa:16:3e:00:00:0c"}},
		{"ovs-local", seed{mech: ovs, l2pop: true}, Query{Port: "vm1", Dst: "192.168.1.13"}},
		{"lb-full-mesh-ip", seed{mech: lb}, Query{Port: "router", Dst: "192.168.1.12"}},
		{"lb-l2pop-arp-ip", seed{mech: lb, l2pop: true, arp: true}, Query{Port: "router", Dst: "192.168.1.12"}},
		{"lb-multicast-group-broadcast", seed{mech: lb, group: "239.1.1.0/24"}, Query{Port: "router", Dst: "broadcast"}},
		{"lb-multicast-dst", seed{mech: lb, l2pop: true}, Query{Port: "vm1", Dst: "224.0.0.251"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr, err := Compute(Input{State: c.seed.state(), L2Pop: l2pop.Config{Enabled: c.seed.l2pop}}, c.q)
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			Render(&b, tr)
			golden(t, c.name, b.String())
		})
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from golden:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// The facts the seed's traces rely on: full mesh sends compute-3 a copy it
// drops; l2pop sends one copy to compute-2 and none to compute-3; the ARP
// responder keeps the request on the controller.
func TestCopies(t *testing.T) {
	ovs := neutron.AgentTypeOVS
	count := func(s seed, q Query, step int) (copies int, to []string) {
		tr, err := Compute(Input{State: s.state(), L2Pop: l2pop.Config{Enabled: s.l2pop}}, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range tr.Steps[step].Copies {
			to = append(to, c.Host)
		}
		return len(tr.Steps[step].Copies), to
	}
	if n, to := count(seed{mech: ovs}, Query{Port: "router", Dst: "broadcast"}, 0); n != 3 || !strings.Contains(strings.Join(to, ","), "compute-3") {
		t.Errorf("full mesh broadcast: %d copies to %v, want 3 including compute-3", n, to)
	}
	if n, to := count(seed{mech: ovs, l2pop: true}, Query{Port: "router", Dst: "broadcast"}, 0); n != 2 || strings.Contains(strings.Join(to, ","), "compute-3") {
		t.Errorf("l2pop broadcast: %d copies to %v, want 2 without compute-3", n, to)
	}
	if n, _ := count(seed{mech: ovs, l2pop: true, arp: true}, Query{Port: "router", Dst: "192.168.1.12"}, 0); n != 0 {
		t.Errorf("ARP responder: %d copies of the ARP request, want 0", n)
	}
	if n, to := count(seed{mech: ovs, l2pop: true}, Query{Port: "router", Dst: "192.168.1.12"}, 1); n != 1 || to[0] != "compute-2" {
		t.Errorf("l2pop unicast: %d copies to %v, want 1 to compute-2", n, to)
	}
}

func TestErrors(t *testing.T) {
	s := seed{mech: neutron.AgentTypeOVS}
	in := Input{State: s.state()}
	for _, c := range []struct {
		q      Query
		status int
	}{
		{Query{Port: "nope", Dst: "broadcast"}, http.StatusNotFound},
		{Query{Port: "vm1", Dst: "not-an-address"}, http.StatusBadRequest},
		{Query{Port: "vm1", Dst: ""}, http.StatusBadRequest},
		{Query{Port: "vm1", Dst: "broadcast", Network: "other"}, http.StatusNotFound},
	} {
		_, err := Compute(in, c.q)
		e, ok := neutron.AsError(err)
		if !ok || e.Status != c.status {
			t.Errorf("%+v: err %v, want status %d", c.q, err, c.status)
		}
	}
}

func TestMarkLive(t *testing.T) {
	s := seed{mech: neutron.AgentTypeOVS, l2pop: true}
	tr, err := Compute(Input{State: s.state(), L2Pop: l2pop.Config{Enabled: true}}, Query{Port: "router", Dst: "fa:16:3e:00:00:0c"})
	if err != nil {
		t.Fatal(err)
	}
	checks := tr.Checks()
	want := dataplane.Fact{Kind: dataplane.FactUnicast, VNI: 1001, MAC: "fa:16:3e:00:00:0c", VTEP: mustAddr("198.18.255.103")}
	obs := map[string]Observation{}
	found := false
	for host, fs := range checks {
		o := Observation{Present: make([]bool, len(fs))}
		for i, f := range fs {
			o.Present[i] = !(host == "controller" && f == want)
			found = found || (host == "controller" && f == want)
		}
		obs[host] = o
	}
	if !found {
		t.Fatalf("controller's checks %v lack the table 20 entry %v", checks["controller"], want)
	}
	tr.MarkLive(checks, obs)
	var b bytes.Buffer
	Render(&b, tr)
	golden(t, "live-missing-unicast", b.String())
	missing := 0
	tr.eachHop(func(h *Hop) {
		if h.Live == "missing" {
			missing++
			if h.Where != "br-tun table 20" || h.Host != "controller" {
				t.Errorf("hop %s %s marked missing", h.Host, h.Where)
			}
		}
	})
	if missing != 1 {
		t.Errorf("%d hops missing, want 1", missing)
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
