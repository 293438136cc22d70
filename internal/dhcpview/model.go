// Package dhcpview computes, purely from the change log, what each DHCP
// agent must serve (a dhcp.State per host: the networks scheduled to its
// agent, their subnets, MTU, the agent's own DHCP port and the other ports
// with their extra_dhcp_opts), which agents a change concerns (only those
// hosting the changed network), and the difference between two states at
// network granularity. The server's DHCP agents' stream serves it; it does
// no I/O.
package dhcpview

import (
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"strings"

	"neutrino/internal/dhcp"
	"neutrino/internal/neutron"
)

// Span is the set of hosts whose state a change may alter and, when Nets
// is not nil, the only networks of theirs that may have changed.
type Span struct {
	Hosts map[string]struct{}
	Nets  map[string]struct{}
}

func (s *Span) addHost(h string) {
	if h == "" {
		return
	}
	if s.Hosts == nil {
		s.Hosts = map[string]struct{}{}
	}
	s.Hosts[h] = struct{}{}
}

func (s *Span) addNet(id string) {
	if s.Nets == nil {
		s.Nets = map[string]struct{}{}
	}
	s.Nets[id] = struct{}{}
}

type subnetInfo struct {
	networkID string
	subnet    dhcp.Subnet
}

type portInfo struct {
	networkID, deviceID string
	port                dhcp.Port
}

// Model is the server's in-memory copy of what DHCP views derive from,
// updated change by change.
type Model struct {
	Revision int64
	mtu      map[string]int // network id -> MTU; present = network exists
	subnets  map[string]subnetInfo
	ports    map[string]portInfo
	// DHCP agents by id and host (one DHCP agent per host: agents are
	// unique by type and host).
	agentHost   map[string]string
	hostAgent   map[string]string
	subnetsOf   map[string]map[string]struct{} // network -> subnets
	portsOf     map[string]map[string]struct{} // network -> ports
	agentsOf    map[string]map[string]struct{} // network -> DHCP agents hosting it
	networksOf  map[string]map[string]struct{} // agent -> networks it hosts
	bindingKeys map[string]neutron.DHCPBinding // change-log key -> binding
}

// NewModel builds a model from a consistent snapshot.
func NewModel(st *neutron.State) *Model {
	m := &Model{
		mtu: map[string]int{}, subnets: map[string]subnetInfo{}, ports: map[string]portInfo{},
		agentHost: map[string]string{}, hostAgent: map[string]string{},
		subnetsOf: map[string]map[string]struct{}{}, portsOf: map[string]map[string]struct{}{},
		agentsOf: map[string]map[string]struct{}{}, networksOf: map[string]map[string]struct{}{},
		bindingKeys: map[string]neutron.DHCPBinding{},
	}
	if st == nil {
		return m
	}
	m.Revision = st.Revision
	for _, n := range st.Networks {
		m.mtu[n.ID] = n.MTU
	}
	for _, s := range st.Subnets {
		m.setSubnet(s)
	}
	for _, p := range st.Ports {
		m.setPort(p)
	}
	for _, a := range st.Agents {
		m.setAgent(a)
	}
	for _, b := range st.DHCPBindings {
		m.setBinding(b)
	}
	return m
}

func add(ix map[string]map[string]struct{}, k, v string) {
	s := ix[k]
	if s == nil {
		s = map[string]struct{}{}
		ix[k] = s
	}
	s[v] = struct{}{}
}

func remove(ix map[string]map[string]struct{}, k, v string) {
	if s := ix[k]; s != nil {
		delete(s, v)
		if len(s) == 0 {
			delete(ix, k)
		}
	}
}

func addrs(in []string) []netip.Addr {
	var out []netip.Addr
	for _, s := range in {
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, a)
		}
	}
	return out
}

func subnetFrom(s neutron.Subnet) dhcp.Subnet {
	out := dhcp.Subnet{ID: s.ID, IPVersion: s.IPVersion, EnableDHCP: s.EnableDHCP, DNSNameservers: addrs(s.DNSNameservers),
		IPv6RAMode: s.IPv6RAMode, IPv6AddressMode: s.IPv6AddressMode}
	out.CIDR, _ = netip.ParsePrefix(s.CIDR)
	out.Gateway, _ = netip.ParseAddr(s.GatewayIP)
	for _, r := range s.HostRoutes {
		d, err1 := netip.ParsePrefix(r.Destination)
		h, err2 := netip.ParseAddr(r.NextHop)
		if err1 == nil && err2 == nil {
			out.HostRoutes = append(out.HostRoutes, dhcp.HostRoute{Destination: d, Nexthop: h})
		}
	}
	return out
}

func portFrom(p neutron.Port) dhcp.Port {
	out := dhcp.Port{ID: p.ID, MAC: strings.ToLower(p.MACAddress), DeviceOwner: p.DeviceOwner}
	for _, f := range p.FixedIPs {
		if a, err := netip.ParseAddr(f.IPAddress); err == nil {
			out.FixedIPs = append(out.FixedIPs, dhcp.FixedIP{SubnetID: f.SubnetID, Address: a})
		}
	}
	for _, o := range p.ExtraDHCPOpts {
		v := o.IPVersion
		if v == 0 {
			v = 4
		}
		out.ExtraDHCPOpts = append(out.ExtraDHCPOpts, dhcp.ExtraDHCPOpt{Name: o.OptName, Value: o.OptValue, IPVersion: v})
	}
	return out
}

func (m *Model) setSubnet(s neutron.Subnet) {
	m.removeSubnet(s.ID)
	m.subnets[s.ID] = subnetInfo{networkID: s.NetworkID, subnet: subnetFrom(s)}
	add(m.subnetsOf, s.NetworkID, s.ID)
}

func (m *Model) removeSubnet(id string) {
	if old, ok := m.subnets[id]; ok {
		delete(m.subnets, id)
		remove(m.subnetsOf, old.networkID, id)
	}
}

func (m *Model) setPort(p neutron.Port) {
	m.removePort(p.ID)
	m.ports[p.ID] = portInfo{networkID: p.NetworkID, deviceID: p.DeviceID, port: portFrom(p)}
	add(m.portsOf, p.NetworkID, p.ID)
}

func (m *Model) removePort(id string) {
	if old, ok := m.ports[id]; ok {
		delete(m.ports, id)
		remove(m.portsOf, old.networkID, id)
	}
}

func (m *Model) setAgent(a neutron.Agent) {
	if a.AgentType != neutron.AgentTypeDHCP {
		return
	}
	m.removeAgent(a.ID)
	m.agentHost[a.ID] = a.Host
	m.hostAgent[a.Host] = a.ID
}

func (m *Model) removeAgent(id string) {
	if h, ok := m.agentHost[id]; ok {
		delete(m.agentHost, id)
		if m.hostAgent[h] == id {
			delete(m.hostAgent, h)
		}
	}
}

func (m *Model) setBinding(b neutron.DHCPBinding) {
	m.bindingKeys[neutron.DHCPBindingKey(b.NetworkID, b.AgentID)] = b
	add(m.agentsOf, b.NetworkID, b.AgentID)
	add(m.networksOf, b.AgentID, b.NetworkID)
}

func (m *Model) removeBinding(key string) (neutron.DHCPBinding, bool) {
	b, ok := m.bindingKeys[key]
	if ok {
		delete(m.bindingKeys, key)
		remove(m.agentsOf, b.NetworkID, b.AgentID)
		remove(m.networksOf, b.AgentID, b.NetworkID)
	}
	return b, ok
}

// hostsOf adds to s the hosts of the agents hosting network id, and the
// network.
func (m *Model) hostsOf(s *Span, id string) {
	if id == "" {
		return
	}
	s.addNet(id)
	for a := range m.agentsOf[id] {
		s.addHost(m.agentHost[a])
	}
}

// Apply updates the model with one change-log row and returns the hosts
// whose state it may alter: only the agents hosting the changed network.
// Agent heartbeats, port status changes and other kinds alter none.
func (m *Model) Apply(c neutron.Change) (Span, error) {
	var span Span
	if c.Revision > m.Revision {
		m.Revision = c.Revision
	}
	switch c.Kind {
	case neutron.KindNetwork:
		old, had := m.mtu[c.ID]
		if err := neutron.ApplyTo(c, func(n neutron.Network) { m.mtu[n.ID] = n.MTU },
			func(id string) { delete(m.mtu, id) }); err != nil {
			return span, err
		}
		if now, has := m.mtu[c.ID]; had != has || old != now {
			m.hostsOf(&span, c.ID)
		}
	case neutron.KindSubnet:
		old, had := m.subnets[c.ID]
		if err := neutron.ApplyTo(c, m.setSubnet, m.removeSubnet); err != nil {
			return span, err
		}
		if now, has := m.subnets[c.ID]; had != has || !reflect.DeepEqual(old, now) {
			m.hostsOf(&span, old.networkID)
			m.hostsOf(&span, now.networkID)
		}
	case neutron.KindPort:
		old, had := m.ports[c.ID]
		if err := neutron.ApplyTo(c, m.setPort, m.removePort); err != nil {
			return span, err
		}
		if now, has := m.ports[c.ID]; had != has || !reflect.DeepEqual(old, now) {
			m.hostsOf(&span, old.networkID)
			m.hostsOf(&span, now.networkID)
		}
	case neutron.KindAgent:
		oldHost, had := m.agentHost[c.ID]
		if err := neutron.ApplyTo(c, m.setAgent, m.removeAgent); err != nil {
			return span, err
		}
		if now, has := m.agentHost[c.ID]; had != has || oldHost != now {
			// The host's whole state (Nets stays nil).
			span.addHost(oldHost)
			span.addHost(now)
		}
	case neutron.KindDHCPBinding:
		var b neutron.DHCPBinding
		if c.Deletion() {
			var ok bool
			if b, ok = m.removeBinding(c.ID); !ok {
				return span, nil
			}
		} else {
			var err error
			if b, err = neutron.Decode[neutron.DHCPBinding](c); err != nil {
				return span, err
			}
			m.setBinding(b)
		}
		span.addHost(m.agentHost[b.AgentID])
		span.addNet(b.NetworkID)
	}
	return span, nil
}

// Hosts lists the hosts that run a DHCP agent, sorted.
func (m *Model) Hosts() []string { return slices.Sorted(maps.Keys(m.hostAgent)) }

// HasHost reports whether host runs a DHCP agent.
func (m *Model) HasHost(host string) bool { _, ok := m.hostAgent[host]; return ok }

// network is network id as host's agent must serve it; false when the
// agent does not host it (or the network is gone).
func (m *Model) network(host, id string) (dhcp.Network, bool) {
	agent, ok := m.hostAgent[host]
	if !ok {
		return dhcp.Network{}, false
	}
	if _, bound := m.agentsOf[id][agent]; !bound {
		return dhcp.Network{}, false
	}
	mtu, ok := m.mtu[id]
	if !ok {
		return dhcp.Network{}, false
	}
	n := dhcp.Network{ID: id, MTU: mtu}
	for _, sid := range slices.Sorted(maps.Keys(m.subnetsOf[id])) {
		n.Subnets = append(n.Subnets, m.subnets[sid].subnet)
	}
	own := neutron.DHCPDeviceID(host, id)
	for _, pid := range slices.Sorted(maps.Keys(m.portsOf[id])) {
		pi := m.ports[pid]
		if pi.port.DeviceOwner == neutron.DeviceOwnerDHCP {
			switch pi.deviceID {
			case own:
				n.DHCPPort = pi.port
				continue
			case neutron.DeviceIDReservedDHCPPort:
				// No agent answers on a reserved port: unlike Neutron's
				// agents, do not hand its address out as a DNS server.
				continue
			}
		}
		n.Ports = append(n.Ports, pi.port)
	}
	return n, true
}

// View is what host's DHCP agent must serve now: its networks by id.
func (m *Model) View(host string) dhcp.State {
	var st dhcp.State
	agent := m.hostAgent[host]
	for _, id := range slices.Sorted(maps.Keys(m.networksOf[agent])) {
		if n, ok := m.network(host, id); ok {
			st.Networks = append(st.Networks, n)
		}
	}
	return st
}

// UpdateView is View(host) computed from old, host's previous state, when
// only the networks in nets may have changed (nil: any may have).
func (m *Model) UpdateView(host string, old dhcp.State, nets map[string]struct{}) dhcp.State {
	if nets == nil {
		return m.View(host)
	}
	var st dhcp.State
	for _, n := range old.Networks {
		if _, touched := nets[n.ID]; !touched {
			st.Networks = append(st.Networks, n)
		}
	}
	for id := range nets {
		if n, ok := m.network(host, id); ok {
			st.Networks = append(st.Networks, n)
		}
	}
	slices.SortFunc(st.Networks, func(a, b dhcp.Network) int { return strings.Compare(a.ID, b.ID) })
	return st
}
