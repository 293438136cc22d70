package l2pop

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"neutrino/internal/neutron"
)

// world is a test database: it holds rows and emits change-log rows as
// the plugin would, so tests drive a Model exactly as the server does.
type world struct {
	rev       int64
	networks  map[string]neutron.Network
	ports     map[string]neutron.Port
	agents    map[string]neutron.Agent
	endpoints map[string]neutron.TunnelEndpoint // by host
	groups    map[string]neutron.SecurityGroup
	// states holds the database after each revision: test tables build
	// all their changes before the first is applied.
	states map[int64]*neutron.State
}

func newWorld() *world {
	return &world{
		networks:  map[string]neutron.Network{},
		ports:     map[string]neutron.Port{},
		agents:    map[string]neutron.Agent{},
		endpoints: map[string]neutron.TunnelEndpoint{},
		groups:    map[string]neutron.SecurityGroup{},
		states:    map[int64]*neutron.State{},
	}
}

func (w *world) state() *neutron.State {
	st := &neutron.State{Revision: w.rev}
	for _, k := range slices.Sorted(maps.Keys(w.networks)) {
		st.Networks = append(st.Networks, w.networks[k])
	}
	for _, k := range slices.Sorted(maps.Keys(w.ports)) {
		st.Ports = append(st.Ports, w.ports[k])
	}
	for _, k := range slices.Sorted(maps.Keys(w.agents)) {
		st.Agents = append(st.Agents, w.agents[k])
	}
	for _, k := range slices.Sorted(maps.Keys(w.endpoints)) {
		st.Endpoints = append(st.Endpoints, w.endpoints[k])
	}
	for _, k := range slices.Sorted(maps.Keys(w.groups)) {
		g := w.groups[k]
		g.Rules = slices.Clone(g.Rules)
		st.SecurityGroups = append(st.SecurityGroups, g)
	}
	return st
}

func (w *world) change(kind neutron.ChangeKind, id string, op neutron.ChangeOp, obj any) neutron.Change {
	w.rev++
	c := neutron.Change{Revision: w.rev, Kind: kind, ID: id, Op: op}
	if obj != nil {
		b, err := json.Marshal(obj)
		if err != nil {
			panic(err)
		}
		c.Object = b
	}
	w.states[w.rev] = w.state()
	return c
}

func (w *world) network(id string, vni int64) neutron.Change {
	n := neutron.Network{MTU: 1450, Segments: []neutron.Segment{{NetworkType: "vxlan", SegmentationID: vni}}}
	n.ID = id
	_, had := w.networks[id]
	w.networks[id] = n
	return w.change("network", id, op(had), n)
}

// providerNetwork is a flat (vlan 0) or vlan network on physnet.
func (w *world) providerNetwork(id, physnet string, vlan int64) neutron.Change {
	seg := neutron.Segment{NetworkType: "flat", PhysicalNetwork: physnet}
	if vlan != 0 {
		seg = neutron.Segment{NetworkType: "vlan", PhysicalNetwork: physnet, SegmentationID: vlan}
	}
	n := neutron.Network{MTU: 1500, Segments: []neutron.Segment{seg}}
	n.ID = id
	_, had := w.networks[id]
	w.networks[id] = n
	return w.change("network", id, op(had), n)
}

func (w *world) deleteNetwork(id string) neutron.Change {
	delete(w.networks, id)
	return w.change("network", id, "delete", nil)
}

// port creates or updates a port bound to host (host "" = unbound).
func (w *world) port(id, net, host, status, mac string, ips ...string) neutron.Change {
	p := neutron.Port{NetworkID: net, MACAddress: mac, Status: status}
	p.ID = id
	p.HostID = host
	p.VIFType = neutron.VIFUnbound
	if host != "" {
		p.VIFType = neutron.VIFOVS
	}
	for _, ip := range ips {
		p.FixedIPs = append(p.FixedIPs, neutron.FixedIP{SubnetID: "sub-" + net, IPAddress: ip})
	}
	_, had := w.ports[id]
	w.ports[id] = p
	return w.change("port", id, op(had), p)
}

func (w *world) status(id, status string) neutron.Change {
	p := w.ports[id]
	p.Status = status
	w.ports[id] = p
	return w.change("port", id, "update", p)
}

func (w *world) deletePort(id string) neutron.Change {
	delete(w.ports, id)
	return w.change("port", id, "delete", nil)
}

// agent registers or refreshes host's OVS agent; l2pop is its
// l2_population option. alive only changes the heartbeat fields.
func (w *world) agent(host, ip string, l2pop, alive bool) neutron.Change {
	id := "agent-" + host
	conf, _ := json.Marshal(map[string]any{"tunneling_ip": ip, "l2_population": l2pop, "tunnel_types": []string{"vxlan"}})
	a := neutron.Agent{ID: id, AgentType: neutron.AgentTypeOVS, Binary: "neutron-openvswitch-agent", Topic: "N/A",
		Host: host, AdminStateUp: true, Configurations: conf, Alive: alive}
	_, had := w.agents[id]
	w.agents[id] = a
	return w.change("agent", id, op(had), a)
}

func (w *world) deleteAgent(host string) neutron.Change {
	delete(w.agents, "agent-"+host)
	return w.change("agent", "agent-"+host, "delete", nil)
}

func (w *world) endpoint(host, ip string) neutron.Change {
	e := neutron.TunnelEndpoint{IPAddress: ip, UDPPort: 4789, Host: host}
	for h, old := range w.endpoints {
		if old.IPAddress == ip && h != host {
			delete(w.endpoints, h)
		}
	}
	w.endpoints[host] = e
	return w.change("endpoint", ip, "update", e)
}

func (w *world) deleteEndpoint(host string) neutron.Change {
	ip := w.endpoints[host].IPAddress
	delete(w.endpoints, host)
	return w.change("endpoint", ip, "delete", nil)
}

// register is what an agent's first report_state does: agent row and
// endpoint row.
func (w *world) register(host, ip string, l2pop bool) []neutron.Change {
	return []neutron.Change{w.agent(host, ip, l2pop, true), w.endpoint(host, ip)}
}

func op(had bool) neutron.ChangeOp {
	if had {
		return "update"
	}
	return "create"
}

func spanText(s Span) string {
	if s.All {
		return "all"
	}
	if s.VTEPs {
		return strings.Join(slices.Sorted(maps.Keys(s.Hosts)), " ") + " +vteps"
	}
	if len(s.Hosts) == 0 {
		return "none"
	}
	return strings.Join(slices.Sorted(maps.Keys(s.Hosts)), " ")
}

// step applies changes to m, checks the invariants every change must keep
// and returns the text of the step: span, then every host's view.
func step(t *testing.T, cfg Config, w *world, m *Model, title string, changes ...neutron.Change) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "## %s\n", title)
	stepBefore := map[string]View{}
	for _, h := range m.Hosts() {
		stepBefore[h] = m.View(h)
	}
	for _, c := range changes {
		hosts := m.Hosts()
		before := map[string]View{}
		for _, h := range hosts {
			before[h] = m.View(h)
		}
		span, err := m.Apply(c)
		if err != nil {
			t.Fatalf("%s: apply %s %s: %v", title, c.Kind, c.ID, err)
		}
		after := m.Hosts()
		fmt.Fprintf(&b, "span %s %s %s: %s\n", c.Op, c.Kind, c.ID, spanText(span))
		// Span soundness: a host outside the span must see no change.
		for _, h := range hosts {
			if _, in := span.Hosts[h]; in || span.All {
				continue
			}
			now := m.View(h)
			if span.VTEPs {
				// Only the underlay filter's VTEP list may change.
				now.Firewall.VTEPs = before[h].Firewall.VTEPs
			}
			if !now.Equal(before[h]) {
				t.Errorf("%s: change %s %s altered %s outside its span:\n%s", title, c.Kind, c.ID, h, Diff(before[h], now))
			}
		}
		for _, h := range after {
			now := m.View(h)
			// The incremental view (what the server keeps) equals the
			// computed one.
			base := before[h]
			if base.Host == "" {
				base = View{Host: h}
			}
			if got := m.UpdateView(base, span.Nets); !got.Equal(now) {
				t.Errorf("%s: change %s %s: UpdateView of %s (nets %v) differs from View:\n%s\nwant\n%s", title, c.Kind, c.ID, h, slices.Sorted(maps.Keys(span.Nets)), got, now)
			}
			got, err := before[h].Apply(Diff(before[h], now))
			if before[h].Host == "" {
				got, err = View{Host: h}.Apply(Diff(View{Host: h}, now))
			}
			if err != nil || !got.Equal(now) {
				t.Errorf("%s: delta for %s does not reproduce the view (err %v)", title, h, err)
			}
		}
	}
	// The incremental model must equal one built from scratch.
	fresh := NewModel(cfg, w.states[m.Revision])
	for _, h := range m.Hosts() {
		if got, want := m.View(h), fresh.View(h); !got.Equal(want) {
			t.Errorf("%s: incremental view of %s differs from a fresh one:\n%s\nfresh:\n%s", title, h, got, want)
		}
	}
	if !slices.Equal(m.Hosts(), fresh.Hosts()) {
		t.Errorf("%s: hosts %v, fresh model %v", title, m.Hosts(), fresh.Hosts())
	}
	// What each agent is sent for the whole step.
	for _, h := range m.Hosts() {
		d := Diff(stepBefore[h], m.View(h))
		if stepBefore[h].Host == "" {
			d = Diff(View{Host: h}, m.View(h))
		}
		if !d.Empty() {
			fmt.Fprintf(&b, "delta to %s:\n%s", h, indent(d.String()))
		}
	}
	for _, h := range m.Hosts() {
		b.WriteString(m.View(h).String())
	}
	b.WriteString("\n")
	return b.String()
}

func indent(s string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = "    " + l
		}
	}
	return strings.Join(lines, "")
}
