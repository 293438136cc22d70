package l2pop

import (
	"encoding/json"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"neutrino/internal/neutron"
	"neutrino/internal/sortedset"
)

// Config is the server side of l2population.
type Config struct {
	// Enabled is true when [ml2] mechanism_drivers includes l2population.
	Enabled bool
	// NetworkTypes are the segment types agents realise as overlays
	// (Neutron's tunnel types); default vxlan and gre.
	NetworkTypes []string
}

// Span is the set of hosts whose view a change may alter. All means every
// host (without l2population every host's tunnels follow every VTEP).
type Span struct {
	All   bool
	Hosts map[string]struct{}
	// Nets, when not nil, are the only networks whose part of those
	// hosts' views may have changed (besides their ports): UpdateView
	// recomputes just these. nil means anything may have.
	Nets map[string]struct{}
	// VTEPs is set when the set of all VTEPs changed: every host's
	// firewall (its underlay filter) changes, hosts outside Hosts in
	// nothing else.
	VTEPs bool
}

func (s *Span) addNet(id string) {
	if id == "" {
		return
	}
	if s.Nets == nil {
		s.Nets = map[string]struct{}{}
	}
	s.Nets[id] = struct{}{}
}

func (s *Span) add(host string) {
	if host == "" {
		return
	}
	if s.Hosts == nil {
		s.Hosts = map[string]struct{}{}
	}
	s.Hosts[host] = struct{}{}
}

// Empty reports whether the change affects no host.
func (s Span) Empty() bool { return !s.All && len(s.Hosts) == 0 }

// agentInfo is what l2pop needs from an agents row.
type agentInfo struct {
	ID, Host, Type string
	TunnelingIP    netip.Addr
	L2Pop          bool
}

// Model is the server's in-memory copy of the state views derive from,
// indexed by network and host. It is updated change by change from the
// change log; it does no I/O.
type Model struct {
	cfg         Config
	types       map[string]bool
	Revision    int64
	networks    map[string]NetHeader
	ports       map[string]portInfo
	agents      map[string]agentInfo  // by agent id
	endpoints   map[string]netip.Addr // host -> VTEP (ml2_vxlan_endpoints)
	portsByNet  map[string]map[string]struct{}
	portsByHost map[string]map[string]struct{}
	// agentsByHost indexes agents by host and endpointHost endpoints by
	// VTEP, so that a view, a host's VTEP and an endpoint change cost
	// what they touch, not the number of agents in the cloud.
	agentsByHost map[string]map[string]struct{}
	endpointHost map[netip.Addr]string
	fw           fwIndex
	// forwarding caches each overlay network's flood list and entries as
	// the cloud sees them (netForwarding); a port change drops its
	// networks' items, a VTEP change those of the host's networks.
	forwarding map[string]netForwarding
}

// netForwarding is one network's remote part before a host removes
// itself: the VTEPs of the hosts with an ACTIVE bound port there, and
// those ports' (MAC, IP) behind them, both sorted. Every host of the
// network shares it (a host's view drops its own VTEP: forwardingFor), so
// a network is computed once per change, not once per host.
type netForwarding struct {
	flood   []netip.Addr
	entries []Entry
}

// portInfo is the part of a port that views depend on.
type portInfo struct {
	ID, NetworkID, Host, MAC, Status string
	Bound                            bool
	IPs                              []netip.Addr
	fw                               fwPort
}

// NewModel builds a model from a consistent snapshot.
func NewModel(cfg Config, st *neutron.State) *Model {
	if len(cfg.NetworkTypes) == 0 {
		cfg.NetworkTypes = []string{neutron.TypeVXLAN, neutron.TypeGRE}
	}
	m := &Model{
		cfg:         cfg,
		types:       map[string]bool{},
		networks:    map[string]NetHeader{},
		ports:       map[string]portInfo{},
		agents:      map[string]agentInfo{},
		endpoints:   map[string]netip.Addr{},
		portsByNet:  map[string]map[string]struct{}{},
		portsByHost: map[string]map[string]struct{}{},

		agentsByHost: map[string]map[string]struct{}{},
		endpointHost: map[netip.Addr]string{},
		fw:           newFWIndex(),
		forwarding:   map[string]netForwarding{},
	}
	for _, t := range cfg.NetworkTypes {
		m.types[t] = true
	}
	if st == nil {
		return m
	}
	m.Revision = st.Revision
	for _, n := range st.Networks {
		m.setNetwork(n)
	}
	for _, p := range st.Ports {
		m.setPort(p)
	}
	for _, a := range st.Agents {
		m.setAgent(a)
	}
	for _, e := range st.Endpoints {
		m.setEndpoint(e)
	}
	for _, g := range st.SecurityGroups {
		m.setGroup(g)
		for _, r := range g.Rules {
			m.setRule(r)
		}
	}
	return m
}

// Config returns the model's configuration.
func (m *Model) Config() Config { return m.cfg }

// setNetwork records a network the L2 agents realise: an overlay of the
// configured types (VNI, flood lists, entries) or a flat or vlan
// provider network (its physnet and VLAN; the physical network carries
// its broadcasts, so it gets neither flood lists nor entries, as
// Neutron's l2population handles only tunnel types).
func (m *Model) setNetwork(n neutron.Network) {
	if len(n.Segments) == 0 {
		delete(m.networks, n.ID)
		return
	}
	s := n.Segments[0]
	h := NetHeader{Type: s.NetworkType, MTU: n.MTU}
	switch {
	case s.NetworkType == neutron.TypeFlat && s.PhysicalNetwork != "":
		h.PhysicalNetwork = s.PhysicalNetwork
	case s.NetworkType == neutron.TypeVLAN && s.PhysicalNetwork != "" && s.SegmentationID >= 1 && s.SegmentationID <= 4094:
		h.PhysicalNetwork, h.VLAN = s.PhysicalNetwork, uint16(s.SegmentationID)
	case m.types[s.NetworkType]:
		h.VNI = uint32(s.SegmentationID)
	default:
		delete(m.networks, n.ID)
		return
	}
	m.networks[n.ID] = h
}

func portFromNeutron(p neutron.Port) portInfo {
	pi := portInfo{
		ID: p.ID, NetworkID: p.NetworkID, Host: p.HostID, MAC: strings.ToLower(p.MACAddress), Status: p.Status,
		Bound: p.HostID != "" && p.VIFType != neutron.VIFUnbound && p.VIFType != neutron.VIFBindingFailed && p.VIFType != "",
	}
	for _, ip := range p.FixedIPs {
		if a, err := netip.ParseAddr(ip.IPAddress); err == nil {
			pi.IPs = append(pi.IPs, a)
		}
	}
	pi.IPs = sortedset.Unique(pi.IPs, compareAddr)
	pi.fw = fwPortOf(p)
	return pi
}

func (m *Model) setPort(p neutron.Port) { m.putPort(portFromNeutron(p)) }

func (m *Model) putPort(pi portInfo) {
	m.removePort(pi.ID)
	delete(m.forwarding, pi.NetworkID)
	m.ports[pi.ID] = pi
	m.indexPort(pi, true)
	index(m.portsByNet, pi.NetworkID, pi.ID)
	index(m.portsByHost, pi.Host, pi.ID)
}

func (m *Model) removePort(id string) {
	old, ok := m.ports[id]
	if !ok {
		return
	}
	delete(m.ports, id)
	delete(m.forwarding, old.NetworkID)
	m.indexPort(old, false)
	unindex(m.portsByNet, old.NetworkID, id)
	unindex(m.portsByHost, old.Host, id)
}

func index(ix map[string]map[string]struct{}, key, id string) {
	if key == "" {
		return
	}
	s := ix[key]
	if s == nil {
		s = map[string]struct{}{}
		ix[key] = s
	}
	s[id] = struct{}{}
}

func unindex(ix map[string]map[string]struct{}, key, id string) {
	if s := ix[key]; s != nil {
		delete(s, id)
		if len(s) == 0 {
			delete(ix, key)
		}
	}
}

// agentConfigurations is the part of an agent's configurations we read.
type agentConfigurations struct {
	TunnelingIP  string `json:"tunneling_ip"`
	L2Population bool   `json:"l2_population"`
}

func agentFromNeutron(a neutron.Agent) agentInfo {
	ai := agentInfo{ID: a.ID, Host: a.Host, Type: a.AgentType}
	var c agentConfigurations
	if len(a.Configurations) > 0 && json.Unmarshal(a.Configurations, &c) == nil {
		ai.L2Pop = c.L2Population
		if ip, err := netip.ParseAddr(c.TunnelingIP); err == nil {
			ai.TunnelingIP = ip
		}
	}
	return ai
}

func isL2Agent(t string) bool {
	return t == neutron.AgentTypeOVS || t == neutron.AgentTypeLinuxBridge
}

func (m *Model) setAgent(a neutron.Agent) {
	if !isL2Agent(a.AgentType) {
		return
	}
	m.removeAgent(a.ID)
	ai := agentFromNeutron(a)
	m.agents[a.ID] = ai
	index(m.agentsByHost, ai.Host, ai.ID)
}

func (m *Model) removeAgent(id string) {
	if old, ok := m.agents[id]; ok {
		delete(m.agents, id)
		unindex(m.agentsByHost, old.Host, id)
	}
}

// setEndpoint records host's VTEP and returns the hosts whose endpoint
// changed.
func (m *Model) setEndpoint(e neutron.TunnelEndpoint) []string {
	ip, err := netip.ParseAddr(e.IPAddress)
	if err != nil || e.Host == "" {
		return nil
	}
	if old, ok := m.endpoints[e.Host]; ok && old == ip {
		return nil
	}
	// One VTEP per host: a new IP for the host replaces the old, and an IP
	// now claimed by another host leaves the old one.
	changed := []string{e.Host}
	if h, ok := m.endpointHost[ip]; ok && h != e.Host {
		delete(m.endpoints, h)
		changed = append(changed, h)
	}
	if old, ok := m.endpoints[e.Host]; ok {
		delete(m.endpointHost, old)
	}
	m.endpoints[e.Host] = ip
	m.endpointHost[ip] = e.Host
	return changed
}

// removeEndpoint drops an endpoint and returns the host that had it.
func (m *Model) removeEndpoint(id string) []string {
	// The change log names an endpoint by its IP (the table's key) or its
	// host; accept either.
	host, ok := id, false
	if _, ok = m.endpoints[id]; !ok {
		if ip, err := netip.ParseAddr(id); err == nil {
			host, ok = m.endpointHost[ip]
		}
	}
	if !ok {
		return nil
	}
	delete(m.endpointHost, m.endpoints[host])
	delete(m.endpoints, host)
	return []string{host}
}

// vtepChanged adds to s the hosts whose view depends on the VTEP of the
// given hosts: the hosts themselves, with l2population the hosts sharing
// a network with one of their ports, and the hosts in full-mesh mode
// (their tunnels go to every VTEP); without l2population, every host.
func (m *Model) vtepChanged(s *Span, hosts ...string) {
	nets := map[string]struct{}{}
	for _, h := range hosts {
		s.add(h)
		for pid := range m.portsByHost[h] {
			nets[m.ports[pid].NetworkID] = struct{}{}
		}
	}
	// The hosts' ports are now behind another VTEP, or none.
	for id := range nets {
		delete(m.forwarding, id)
	}
	if !m.cfg.Enabled {
		s.All = true
		return
	}
	for id := range nets {
		m.hostsOfNetwork(id, s)
	}
	for h, ids := range m.agentsByHost {
		l2 := false
		for id := range ids {
			l2 = l2 || m.agents[id].L2Pop
		}
		if !l2 {
			s.add(h)
		}
	}
}

// hostsOfNetwork adds every host with a port of network id to s.
func (m *Model) hostsOfNetwork(id string, s *Span) {
	for pid := range m.portsByNet[id] {
		s.add(m.ports[pid].Host)
	}
}

// Apply updates the model with one change-log row and returns the hosts
// whose view it may alter. Heartbeats (agent rows whose tunnel IP, type
// and l2_population flag are unchanged) and subnets affect no view.
func (m *Model) Apply(c neutron.Change) (Span, error) {
	var span Span
	if c.Revision > m.Revision {
		m.Revision = c.Revision
	}
	del := c.Deletion()
	switch c.Kind {
	case neutron.KindNetwork:
		old, had := m.networks[c.ID]
		if err := neutron.ApplyTo(c, m.setNetwork, func(id string) { delete(m.networks, id) }); err != nil {
			return span, err
		}
		now, has := m.networks[c.ID]
		if had != has || old != now {
			m.hostsOfNetwork(c.ID, &span)
			span.addNet(c.ID)
		}
	case neutron.KindPort:
		old, had := m.ports[c.ID]
		if err := neutron.ApplyTo(c, m.setPort, m.removePort); err != nil {
			return span, err
		}
		now, has := m.ports[c.ID]
		m.portFirewallSpan(old, now, &span)
		if had == has && portEqual(old, now) {
			return span, nil
		}
		// The port's own hosts, and every host on its old and new
		// overlay network (their flood lists and entries may change; a
		// provider network has neither).
		for _, pi := range []portInfo{old, now} {
			span.add(pi.Host)
			if h, ok := m.networks[pi.NetworkID]; ok && h.Overlay() {
				m.hostsOfNetwork(pi.NetworkID, &span)
			}
		}
		// A port touches its host's ports and, for everyone, only its old
		// and new network (its host's VTEP does not move with it).
		span.addNet(old.NetworkID)
		span.addNet(now.NetworkID)
		if span.Nets == nil {
			span.Nets = map[string]struct{}{}
		}
	case neutron.KindSecurityGroup, neutron.KindSecurityGroupRule:
		return span, m.applyFirewall(c, &span)
	case neutron.KindAgent:
		old, had := m.agents[c.ID]
		if err := neutron.ApplyTo(c, m.setAgent, m.removeAgent); err != nil {
			return span, err
		}
		now, has := m.agents[c.ID]
		if had != has || old != now {
			// The agent's host (its VTEP, mode, whether it has a view) and
			// whoever sees that host's VTEP.
			m.vtepChanged(&span, old.Host, now.Host)
			m.vtepsChanged(&span)
		}
	case neutron.KindEndpoint:
		var changed []string
		if del {
			changed = m.removeEndpoint(c.ID)
		} else {
			e, err := neutron.Decode[neutron.TunnelEndpoint](c)
			if err != nil {
				return span, err
			}
			changed = m.setEndpoint(e)
		}
		if len(changed) > 0 {
			m.vtepChanged(&span, changed...)
			m.vtepsChanged(&span)
		}
	}
	return span, nil
}

// vtepsChanged marks the span when the set of all VTEPs moved (every
// host's underlay filter follows it).
func (m *Model) vtepsChanged(s *Span) {
	old := m.fw.vteps
	m.fw.vtepsValid = false
	if !slices.Equal(old, m.cachedVTEPs()) {
		s.VTEPs = true
	}
}

// portEqual compares the forwarding part of two ports.
func portEqual(a, b portInfo) bool {
	return a.ID == b.ID && a.NetworkID == b.NetworkID && a.Host == b.Host && a.MAC == b.MAC &&
		a.Status == b.Status && a.Bound == b.Bound && slices.Equal(a.IPs, b.IPs)
}

// Hosts lists the hosts that run an L2 agent, sorted.
func (m *Model) Hosts() []string { return slices.Sorted(maps.Keys(m.agentsByHost)) }

// HasAgent reports whether host runs an L2 agent.
func (m *Model) HasAgent(host string) bool { return len(m.agentsByHost[host]) > 0 }

// vtep is host's tunnel address: its ml2_vxlan_endpoints row, else the
// tunneling_ip its agent reports.
func (m *Model) vtep(host string) netip.Addr {
	if ip, ok := m.endpoints[host]; ok {
		return ip
	}
	var best agentInfo
	for id := range m.agentsByHost[host] {
		// Lowest agent id wins so the answer is deterministic.
		if a := m.agents[id]; a.TunnelingIP.IsValid() && (!best.TunnelingIP.IsValid() || a.ID < best.ID) {
			best = a
		}
	}
	return best.TunnelingIP
}

// allVTEPs lists every known VTEP, sorted and unique.
func (m *Model) allVTEPs() []netip.Addr {
	hosts := map[string]struct{}{}
	for h := range m.endpoints {
		hosts[h] = struct{}{}
	}
	for h := range m.agentsByHost {
		hosts[h] = struct{}{}
	}
	var out []netip.Addr
	for h := range hosts {
		if ip := m.vtep(h); ip.IsValid() {
			out = append(out, ip)
		}
	}
	return sortedset.Unique(out, compareAddr)
}

// View computes what the agent on host must realise.
func (m *Model) View(host string) View { return m.view(host, nil, nil) }

// UpdateView is View(old.Host) for a model that changed, since old was
// computed, only as a Span with Nets says: the networks outside nets keep
// old's flood lists and entries (the same slices), so the cost follows
// the changed networks, not the host's whole view. nets nil recomputes
// everything.
func (m *Model) UpdateView(old View, nets map[string]struct{}) View {
	if nets == nil {
		return m.View(old.Host)
	}
	return m.view(old.Host, &old, nets)
}

func (m *Model) view(host string, old *View, nets map[string]struct{}) (v View) {
	v = View{Host: host, Networks: map[string]NetView{}, Ports: map[string]LocalPort{}}
	ids := m.agentsByHost[host]
	if len(ids) == 0 {
		return v
	}
	for id := range ids {
		v.L2Pop = v.L2Pop || m.agents[id].L2Pop
	}
	v.L2Pop = v.L2Pop && m.cfg.Enabled
	v.LocalIP = m.vtep(host)
	defer func() { v.Firewall = m.firewall(v.Ports) }()

	active := map[string]bool{}
	for pid := range m.portsByHost[host] {
		p := m.ports[pid]
		hdr, ok := m.networks[p.NetworkID]
		if !p.Bound || !ok {
			continue
		}
		v.Ports[p.ID] = LocalPort{ID: p.ID, NetworkID: p.NetworkID, MAC: p.MAC, Status: p.Status}
		if _, seen := v.Networks[p.NetworkID]; !seen {
			v.Networks[p.NetworkID] = NetView{ID: p.NetworkID, NetHeader: hdr}
		}
		if p.Status == neutron.StatusActive {
			active[p.NetworkID] = true
		}
	}

	if !v.L2Pop {
		// Full mesh: every other VTEP, on every network.
		for _, ip := range m.allVTEPs() {
			if ip != v.LocalIP {
				v.Tunnels = append(v.Tunnels, ip)
			}
		}
		for id, n := range v.Networks {
			if n.Overlay() {
				n.Flood = slices.Clone(v.Tunnels)
				v.Networks[id] = n
			}
		}
		return v
	}

	reuse := old != nil && old.LocalIP == v.LocalIP && old.L2Pop == v.L2Pop
	var floods [][]netip.Addr
	total := 0
	for id, n := range v.Networks {
		if !active[id] || !n.Overlay() {
			// Like Neutron, a host learns a network's FDB only once it
			// has an active port there.
			continue
		}
		o, had := old.networkIfReused(reuse, id, nets)
		if had && o.NetHeader == n.NetHeader {
			n.Flood, n.Entries = o.Flood, o.Entries
		} else {
			n.Flood, n.Entries = m.networkForwarding(id).without(v.LocalIP)
		}
		v.Networks[id] = n
		floods = append(floods, n.Flood)
		total += len(n.Flood)
	}
	// The tunnels are the union of the flood lists: one allocation.
	tunnels := make([]netip.Addr, 0, total)
	for _, f := range floods {
		tunnels = append(tunnels, f...)
	}
	v.Tunnels = sortedset.Unique(tunnels, compareAddr)
	return v
}

// networkIfReused is network id of old when UpdateView may keep it (reuse,
// and id is not among the changed nets).
func (old *View) networkIfReused(reuse bool, id string, nets map[string]struct{}) (NetView, bool) {
	if !reuse {
		return NetView{}, false
	}
	if _, changed := nets[id]; changed {
		return NetView{}, false
	}
	o, ok := old.Networks[id]
	return o, ok
}

// networkForwarding is network id's shared forwarding part, computed on
// first use after a change.
func (m *Model) networkForwarding(id string) netForwarding {
	if f, ok := m.forwarding[id]; ok {
		return f
	}
	var f netForwarding
	for pid := range m.portsByNet[id] {
		p := m.ports[pid]
		if !p.Bound || p.Status != neutron.StatusActive {
			continue
		}
		vt := m.vtep(p.Host)
		if !vt.IsValid() {
			continue
		}
		f.flood = append(f.flood, vt)
		for _, ip := range p.IPs {
			f.entries = append(f.entries, Entry{MAC: p.MAC, IP: ip, VTEP: vt})
		}
	}
	f.flood = sortedset.Unique(f.flood, compareAddr)
	f.entries = sortedset.Unique(f.entries, compareEntry)
	m.forwarding[id] = f
	return f
}

// without is the network as the host with VTEP local sees it: its own
// VTEP and the entries behind it are local, not remote (a host's own
// ports are behind its own VTEP). When the host has nothing there, the
// shared slices are returned as they are (views never change them in
// place).
func (f netForwarding) without(local netip.Addr) ([]netip.Addr, []Entry) {
	i, found := slices.BinarySearchFunc(f.flood, local, compareAddr)
	if !found {
		return f.flood, f.entries
	}
	flood := sortedset.Unique(slices.Delete(slices.Clone(f.flood), i, i+1), compareAddr)
	entries := make([]Entry, 0, len(f.entries))
	for _, e := range f.entries {
		if e.VTEP != local {
			entries = append(entries, e)
		}
	}
	if len(entries) == 0 {
		entries = nil
	}
	return flood, entries
}
