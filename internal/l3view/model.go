// Package l3view computes, purely from the change log, what each L3 agent
// must route (an l3.State per host: the admin-up routers scheduled to its
// agent with their interfaces, gateway, extra routes and floating IPs),
// which agents a change concerns (only those hosting a changed router),
// and the difference between two states at router granularity. The
// server's L3 agents' stream serves it; it does no I/O.
package l3view

import (
	"cmp"
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"strings"

	"neutrino/internal/l3"
	"neutrino/internal/neutron"
)

// Span is the set of hosts whose state a change may alter and, when
// Routers is not nil, the only routers of theirs that may have changed.
type Span struct {
	Hosts   map[string]struct{}
	Routers map[string]struct{}
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

func (s *Span) addRouter(id string) {
	if s.Routers == nil {
		s.Routers = map[string]struct{}{}
	}
	s.Routers[id] = struct{}{}
}

// subnetInfo is what a router port's address needs of its subnet.
type subnetInfo struct {
	bits    int
	gateway netip.Addr
}

type fixedIP struct {
	subnetID string
	addr     netip.Addr
}

// routerPort is a port of device_owner network:router_interface or
// network:router_gateway, as the view needs it.
type routerPort struct {
	routerID, owner, networkID, mac string
	ips                             []fixedIP
}

type routerInfo struct {
	adminUp    bool
	gwPortID   string
	enableSNAT bool
	routes     []l3.Route
}

type fipInfo struct {
	routerID string
	fip      l3.FloatingIP
}

// Model is the server's in-memory copy of what L3 views derive from,
// updated change by change.
type Model struct {
	Revision int64
	mtu      map[string]int // network id -> MTU; present = network exists
	subnets  map[string]subnetInfo
	ports    map[string]routerPort
	routers  map[string]routerInfo
	fips     map[string]fipInfo
	// L3 agents by id and host (one L3 agent per host: agents are unique
	// by type and host).
	agentHost map[string]string
	hostAgent map[string]string
	// Indexes from what a change names to the routers it touches.
	portsOf     map[string]map[string]struct{} // router -> its ports
	netPorts    map[string]map[string]struct{} // network -> router ports on it
	subnetPorts map[string]map[string]struct{} // subnet -> router ports with an address on it
	fipsOf      map[string]map[string]struct{} // router -> its associated floating IPs
	agentsOf    map[string]map[string]struct{} // router -> L3 agents hosting it
	routersOf   map[string]map[string]struct{} // agent -> routers it hosts
	bindingKeys map[string]neutron.L3Binding   // change-log key -> binding
}

// NewModel builds a model from a consistent snapshot.
func NewModel(st *neutron.State) *Model {
	m := &Model{
		mtu: map[string]int{}, subnets: map[string]subnetInfo{}, ports: map[string]routerPort{},
		routers: map[string]routerInfo{}, fips: map[string]fipInfo{},
		agentHost: map[string]string{}, hostAgent: map[string]string{},
		portsOf: map[string]map[string]struct{}{}, netPorts: map[string]map[string]struct{}{},
		subnetPorts: map[string]map[string]struct{}{}, fipsOf: map[string]map[string]struct{}{},
		agentsOf: map[string]map[string]struct{}{}, routersOf: map[string]map[string]struct{}{},
		bindingKeys: map[string]neutron.L3Binding{},
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
	for _, r := range st.Routers {
		m.setRouter(r)
	}
	for _, f := range st.FloatingIPs {
		m.setFIP(f)
	}
	for _, a := range st.Agents {
		m.setAgent(a)
	}
	for _, b := range st.L3Bindings {
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

func (m *Model) setSubnet(s neutron.Subnet) {
	var si subnetInfo
	if p, err := netip.ParsePrefix(s.CIDR); err == nil {
		si.bits = p.Bits()
	}
	si.gateway, _ = netip.ParseAddr(s.GatewayIP)
	m.subnets[s.ID] = si
}

func (m *Model) removeSubnet(id string) { delete(m.subnets, id) }

func isRouterPort(p neutron.Port) bool {
	return p.DeviceID != "" && (p.DeviceOwner == neutron.DeviceOwnerRouterInterface || p.DeviceOwner == neutron.DeviceOwnerRouterGateway)
}

func (m *Model) setPort(p neutron.Port) {
	m.removePort(p.ID)
	if !isRouterPort(p) {
		return
	}
	rp := routerPort{routerID: p.DeviceID, owner: p.DeviceOwner, networkID: p.NetworkID, mac: strings.ToLower(p.MACAddress)}
	for _, f := range p.FixedIPs {
		if a, err := netip.ParseAddr(f.IPAddress); err == nil {
			rp.ips = append(rp.ips, fixedIP{subnetID: f.SubnetID, addr: a})
			add(m.subnetPorts, f.SubnetID, p.ID)
		}
	}
	m.ports[p.ID] = rp
	add(m.portsOf, rp.routerID, p.ID)
	add(m.netPorts, rp.networkID, p.ID)
}

func (m *Model) removePort(id string) {
	old, ok := m.ports[id]
	if !ok {
		return
	}
	delete(m.ports, id)
	remove(m.portsOf, old.routerID, id)
	remove(m.netPorts, old.networkID, id)
	for _, f := range old.ips {
		remove(m.subnetPorts, f.subnetID, id)
	}
}

func (m *Model) setRouter(r neutron.Router) {
	ri := routerInfo{adminUp: r.AdminStateUp, gwPortID: r.GatewayPortID}
	if r.GatewayInfo != nil {
		ri.enableSNAT = r.GatewayInfo.EnableSNAT
	}
	for _, rt := range r.Routes {
		d, err1 := netip.ParsePrefix(rt.Destination)
		h, err2 := netip.ParseAddr(rt.NextHop)
		if err1 == nil && err2 == nil {
			ri.routes = append(ri.routes, l3.Route{Destination: d, NextHop: h})
		}
	}
	slices.SortFunc(ri.routes, func(a, b l3.Route) int {
		return cmp.Or(a.Destination.Addr().Compare(b.Destination.Addr()), cmp.Compare(a.Destination.Bits(), b.Destination.Bits()), a.NextHop.Compare(b.NextHop))
	})
	m.routers[r.ID] = ri
}

func (m *Model) removeRouter(id string) { delete(m.routers, id) }

func (m *Model) setFIP(f neutron.FloatingIP) {
	m.removeFIP(f.ID)
	fl, err1 := netip.ParseAddr(f.FloatingIPAddress)
	fx, err2 := netip.ParseAddr(f.FixedIPAddress)
	if f.RouterID == "" || f.PortID == "" || err1 != nil || err2 != nil {
		// Not associated: no router has anything to do for it.
		return
	}
	m.fips[f.ID] = fipInfo{routerID: f.RouterID, fip: l3.FloatingIP{ID: f.ID, FloatingIP: fl, FixedIP: fx, PortID: f.PortID}}
	add(m.fipsOf, f.RouterID, f.ID)
}

func (m *Model) removeFIP(id string) {
	if old, ok := m.fips[id]; ok {
		delete(m.fips, id)
		remove(m.fipsOf, old.routerID, id)
	}
}

func (m *Model) setAgent(a neutron.Agent) {
	if a.AgentType != neutron.AgentTypeL3 {
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

func (m *Model) setBinding(b neutron.L3Binding) {
	m.bindingKeys[neutron.L3BindingKey(b.RouterID, b.AgentID)] = b
	add(m.agentsOf, b.RouterID, b.AgentID)
	add(m.routersOf, b.AgentID, b.RouterID)
}

func (m *Model) removeBinding(key string) (neutron.L3Binding, bool) {
	b, ok := m.bindingKeys[key]
	if ok {
		delete(m.bindingKeys, key)
		remove(m.agentsOf, b.RouterID, b.AgentID)
		remove(m.routersOf, b.AgentID, b.RouterID)
	}
	return b, ok
}

// hostsOf adds to s router id and the hosts of the agents hosting it.
func (m *Model) hostsOf(s *Span, id string) {
	if id == "" {
		return
	}
	s.addRouter(id)
	for a := range m.agentsOf[id] {
		s.addHost(m.agentHost[a])
	}
}

// routersOfPorts adds to s the routers of the given router ports.
func (m *Model) routersOfPorts(s *Span, ports map[string]struct{}) {
	for id := range ports {
		m.hostsOf(s, m.ports[id].routerID)
	}
}

// Apply updates the model with one change-log row and returns the hosts
// whose state it may alter: only the agents hosting a router the change
// touches. Agent heartbeats, port status changes, ports that are not a
// router's and other kinds alter none.
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
			m.routersOfPorts(&span, m.netPorts[c.ID])
		}
	case neutron.KindSubnet:
		old, had := m.subnets[c.ID]
		if err := neutron.ApplyTo(c, m.setSubnet, m.removeSubnet); err != nil {
			return span, err
		}
		if now, has := m.subnets[c.ID]; had != has || old != now {
			m.routersOfPorts(&span, m.subnetPorts[c.ID])
		}
	case neutron.KindPort:
		old, had := m.ports[c.ID]
		if err := neutron.ApplyTo(c, m.setPort, m.removePort); err != nil {
			return span, err
		}
		if now, has := m.ports[c.ID]; had != has || !reflect.DeepEqual(old, now) {
			m.hostsOf(&span, old.routerID)
			m.hostsOf(&span, now.routerID)
		}
	case neutron.KindRouter:
		old, had := m.routers[c.ID]
		if err := neutron.ApplyTo(c, m.setRouter, m.removeRouter); err != nil {
			return span, err
		}
		if now, has := m.routers[c.ID]; had != has || !reflect.DeepEqual(old, now) {
			m.hostsOf(&span, c.ID)
		}
	case neutron.KindFloatingIP:
		old, had := m.fips[c.ID]
		if err := neutron.ApplyTo(c, m.setFIP, m.removeFIP); err != nil {
			return span, err
		}
		if now, has := m.fips[c.ID]; had != has || old != now {
			m.hostsOf(&span, old.routerID)
			m.hostsOf(&span, now.routerID)
		}
	case neutron.KindAgent:
		oldHost, had := m.agentHost[c.ID]
		if err := neutron.ApplyTo(c, m.setAgent, m.removeAgent); err != nil {
			return span, err
		}
		if now, has := m.agentHost[c.ID]; had != has || oldHost != now {
			// The host's whole state (Routers stays nil).
			span.addHost(oldHost)
			span.addHost(now)
		}
	case neutron.KindL3Binding:
		var b neutron.L3Binding
		if c.Deletion() {
			var ok bool
			if b, ok = m.removeBinding(c.ID); !ok {
				return span, nil
			}
		} else {
			var err error
			if b, err = neutron.Decode[neutron.L3Binding](c); err != nil {
				return span, err
			}
			m.setBinding(b)
		}
		span.addHost(m.agentHost[b.AgentID])
		span.addRouter(b.RouterID)
	}
	return span, nil
}

// Hosts lists the hosts that run an L3 agent, sorted.
func (m *Model) Hosts() []string { return slices.Sorted(maps.Keys(m.hostAgent)) }

// HasHost reports whether host runs an L3 agent.
func (m *Model) HasHost(host string) bool { _, ok := m.hostAgent[host]; return ok }

// port is router port id as the data plane needs it; false when its
// network is unknown.
func (m *Model) port(id string) (l3.Port, bool) {
	rp, ok := m.ports[id]
	if !ok {
		return l3.Port{}, false
	}
	mtu, ok := m.mtu[rp.networkID]
	if !ok {
		return l3.Port{}, false
	}
	p := l3.Port{ID: id, NetworkID: rp.networkID, MAC: rp.mac, MTU: mtu}
	for _, f := range rp.ips {
		if s, ok := m.subnets[f.subnetID]; ok {
			p.Addresses = append(p.Addresses, netip.PrefixFrom(f.addr, s.bits))
		}
	}
	slices.SortFunc(p.Addresses, func(a, b netip.Prefix) int {
		return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
	})
	return p, true
}

// router is router id as host's agent must route it; false when the agent
// does not host it, or it is gone or admin down.
func (m *Model) router(host, id string) (l3.Router, bool) {
	agent, ok := m.hostAgent[host]
	if !ok {
		return l3.Router{}, false
	}
	if _, bound := m.agentsOf[id][agent]; !bound {
		return l3.Router{}, false
	}
	ri, ok := m.routers[id]
	if !ok || !ri.adminUp {
		return l3.Router{}, false
	}
	r := l3.Router{ID: id, Routes: ri.routes}
	for _, pid := range slices.Sorted(maps.Keys(m.portsOf[id])) {
		if m.ports[pid].owner != neutron.DeviceOwnerRouterInterface {
			continue
		}
		if p, ok := m.port(pid); ok {
			r.Interfaces = append(r.Interfaces, p)
		}
	}
	if gp, ok := m.ports[ri.gwPortID]; ok && gp.routerID == id {
		if p, ok := m.port(ri.gwPortID); ok {
			g := &l3.Gateway{Port: p, EnableSNAT: ri.enableSNAT}
			for _, f := range gp.ips {
				if s, ok := m.subnets[f.subnetID]; ok && s.gateway.IsValid() {
					g.NextHops = append(g.NextHops, s.gateway)
				}
			}
			slices.SortFunc(g.NextHops, netip.Addr.Compare)
			g.NextHops = slices.Compact(g.NextHops)
			r.Gateway = g
		}
	}
	for _, fid := range slices.Sorted(maps.Keys(m.fipsOf[id])) {
		r.FloatingIPs = append(r.FloatingIPs, m.fips[fid].fip)
	}
	slices.SortFunc(r.FloatingIPs, func(a, b l3.FloatingIP) int {
		return cmp.Or(a.FloatingIP.Compare(b.FloatingIP), strings.Compare(a.ID, b.ID))
	})
	return r, true
}

// View is what host's L3 agent must route now: its routers by id.
func (m *Model) View(host string) l3.State {
	var st l3.State
	agent := m.hostAgent[host]
	for _, id := range slices.Sorted(maps.Keys(m.routersOf[agent])) {
		if r, ok := m.router(host, id); ok {
			st.Routers = append(st.Routers, r)
		}
	}
	return st
}

// UpdateView is View(host) computed from old, host's previous state, when
// only the routers in routers may have changed (nil: any may have).
func (m *Model) UpdateView(host string, old l3.State, routers map[string]struct{}) l3.State {
	if routers == nil {
		return m.View(host)
	}
	var st l3.State
	for _, r := range old.Routers {
		if _, touched := routers[r.ID]; !touched {
			st.Routers = append(st.Routers, r)
		}
	}
	for id := range routers {
		if r, ok := m.router(host, id); ok {
			st.Routers = append(st.Routers, r)
		}
	}
	slices.SortFunc(st.Routers, func(a, b l3.Router) int { return strings.Compare(a.ID, b.ID) })
	return st
}

// Hosted reports whether host's L3 agent hosts router id.
func (m *Model) Hosted(host, id string) bool {
	agent, ok := m.hostAgent[host]
	if !ok {
		return false
	}
	_, bound := m.agentsOf[id][agent]
	return bound
}

// FloatingIPRouter is the router floating IP id is associated through
// ("" when it is not associated, or unknown).
func (m *Model) FloatingIPRouter(id string) string { return m.fips[id].routerID }

// FilterStatuses keeps of an L3 agent's floating IP status report
// (update_floatingip_statuses from host) what that agent may say: any
// status of a floating IP associated through a router host hosts; DOWN of
// one no longer associated at all. A late report about a floating IP that
// moved to a router elsewhere, or from a host that no longer hosts its
// router, changes nothing.
func (m *Model) FilterStatuses(host string, statuses map[string]string) map[string]string {
	out := map[string]string{}
	for id, st := range statuses {
		switch r := m.FloatingIPRouter(id); {
		case r != "" && m.Hosted(host, r):
			out[id] = st
		case r == "" && st == neutron.StatusDown:
			out[id] = st
		}
	}
	return out
}
