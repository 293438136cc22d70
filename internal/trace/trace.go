// Package trace answers "where does this frame go?" for one frame sent by
// a port: hop by hop through the source node's bridge, the table or FDB
// entry that decides (named as the operator knows it: br-tun table 20,
// bridge fdb, ip neigh), the VTEPs that get a copy, and what each
// receiving node does with it.
//
// It is pure: it derives every node's desired state from one database
// snapshot the way the server's stream (l2pop views) and the agents
// (agent.Desired) do, and reads the decision out of the facts each node
// must hold (dataplane.Expected). Every hop names the facts it relies on,
// so a live trace can ask each involved agent whether its data plane
// really holds them (MarkLive).
package trace

import (
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"

	"neutrino/internal/agent"
	"neutrino/internal/dataplane"
	"neutrino/internal/l2pop"
	"neutrino/internal/neutron"
)

// Query is what the operator asks.
type Query struct {
	// Port is the sending port's id or name.
	Port string `json:"port"`
	// Dst is an IP address, a MAC address, "broadcast", or a multicast
	// group (IPv4 multicast address or multicast MAC).
	Dst string `json:"dst"`
	// Network, when set, is the network's id or name: it disambiguates a
	// port name and must be the port's network.
	Network string `json:"network,omitempty"`
}

// Trace is the answer.
type Trace struct {
	Revision    int64       `json:"revision"`
	Network     Network     `json:"network"`
	Source      Endpoint    `json:"source"`
	Destination Destination `json:"destination"`
	Steps       []Step      `json:"steps"`
	// Live is set once MarkLive checked the hops against the agents.
	Live bool `json:"live"`
}

// Network is the network the frame travels on.
type Network struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Type string `json:"type"`
	VNI  uint32 `json:"vni"`
}

// Endpoint is the sending port and its node.
type Endpoint struct {
	PortID    string   `json:"port_id"`
	PortName  string   `json:"port_name"`
	MAC       string   `json:"mac"`
	IPs       []string `json:"ips"`
	Host      string   `json:"host"`
	VTEP      string   `json:"vtep"`
	Mechanism string   `json:"mechanism"`
	// Mode is full-mesh, l2pop or l2pop+arp_responder; multicast
	// <group> for a Linux bridge agent with vxlan_group.
	Mode string `json:"mode"`
}

// Destination is what the frame is addressed to.
type Destination struct {
	Input string `json:"input"`
	// Kind is unicast, broadcast or multicast.
	Kind     string `json:"kind"`
	MAC      string `json:"mac,omitempty"`
	IP       string `json:"ip,omitempty"`
	PortID   string `json:"port_id,omitempty"`
	PortName string `json:"port_name,omitempty"`
	Host     string `json:"host,omitempty"`
}

// Step is one frame: the ARP request that resolves an IP, then the frame
// itself.
type Step struct {
	Title string `json:"title"`
	// Hops are the sending node's decisions.
	Hops []Hop `json:"hops"`
	// Copies are the VXLAN packets that leave the node, one per VTEP (or
	// one to the multicast group).
	Copies []Copy  `json:"copies"`
	Result string  `json:"result"`
	Local  []Local `json:"local,omitempty"`
}

// Local is a port on the sending node that gets the frame without any
// tunnel.
type Local struct {
	PortID string `json:"port_id"`
	Name   string `json:"name"`
}

// Copy is one encapsulated packet and what its receiver does with it.
type Copy struct {
	// To is the outer destination: a VTEP or the multicast group.
	To string `json:"to"`
	// Host is the receiving node ("" when no agent owns To; for a group
	// copy every member is listed in Hops).
	Host     string `json:"host,omitempty"`
	Underlay string `json:"underlay"`
	Hops     []Hop  `json:"hops"`
	Outcome  string `json:"outcome"`
}

// Hop is one decision on one node.
type Hop struct {
	Host string `json:"host"`
	// Where is the table or object, as the operator knows it.
	Where string `json:"where"`
	// Entry is the rule that applies, in the tool's own syntax.
	Entry    string `json:"entry"`
	Decision string `json:"decision"`
	// Checks are the facts the node must hold for this hop.
	Checks []dataplane.Fact `json:"checks,omitempty"`
	// Live is "verified", "missing" or "unknown" after MarkLive;
	// Missing lists the facts not found, Error why the agent could not
	// tell.
	Live    string           `json:"live,omitempty"`
	Missing []dataplane.Fact `json:"missing,omitempty"`
	Error   string           `json:"error,omitempty"`
}

// Input is the state a trace is computed from.
type Input struct {
	State *neutron.State
	L2Pop l2pop.Config
}

// node is one host as the trace needs it.
type node struct {
	host  string
	mech  string // agent.KindOVS or agent.KindLinuxBridge
	vtep  netip.Addr
	l2pop bool
	arp   bool
	group string
	state dataplane.NodeState
	facts map[string]dataplane.Fact
}

func (n *node) has(f dataplane.Fact) bool {
	h, ok := n.facts[f.Key()]
	return ok && dataplane.Same(f, h)
}

func (n *node) ovs() bool { return n.mech == agent.KindOVS }

// agentConf is the part of an agent's configurations the trace reads.
type agentConf struct {
	TunnelingIP  string `json:"tunneling_ip"`
	L2Population bool   `json:"l2_population"`
	ARPResponder bool   `json:"arp_responder_enabled"`
	VXLANGroup   string `json:"vxlan_group"`
}

// world is the snapshot turned into nodes.
type world struct {
	st     *neutron.State
	nodes  map[string]*node
	byVTEP map[netip.Addr]*node
	ports  map[string]neutron.Port
	nets   map[string]neutron.Network
}

func build(in Input) *world {
	w := &world{st: in.State, nodes: map[string]*node{}, byVTEP: map[netip.Addr]*node{},
		ports: map[string]neutron.Port{}, nets: map[string]neutron.Network{}}
	for _, p := range in.State.Ports {
		w.ports[p.ID] = p
	}
	for _, n := range in.State.Networks {
		w.nets[n.ID] = n
	}
	model := l2pop.NewModel(in.L2Pop, in.State)
	agents := slices.Clone(in.State.Agents)
	slices.SortFunc(agents, func(a, b neutron.Agent) int { return strings.Compare(a.ID, b.ID) })
	for _, a := range agents {
		var kind string
		switch a.AgentType {
		case neutron.AgentTypeOVS:
			kind = agent.KindOVS
		case neutron.AgentTypeLinuxBridge:
			kind = agent.KindLinuxBridge
		default:
			continue
		}
		if _, seen := w.nodes[a.Host]; seen {
			continue
		}
		var c agentConf
		_ = json.Unmarshal(a.Configurations, &c)
		v := model.View(a.Host)
		s := agent.Settings{Kind: kind, LocalIP: v.LocalIP, UDPPort: 4789, ARPResponder: c.ARPResponder}
		if kind == agent.KindLinuxBridge {
			s.VXLANGroup = c.VXLANGroup
		}
		// The server does not know which devices exist: trace as if
		// every bound port were plugged (its status says whether it is).
		var devs []dataplane.Device
		for id := range v.Ports {
			devs = append(devs, dataplane.Device{PortID: id, Up: true})
		}
		ns := agent.Desired(v, s, devs)
		n := &node{host: a.Host, mech: kind, vtep: ns.LocalIP, l2pop: v.L2Pop, arp: c.ARPResponder && v.L2Pop,
			group: s.VXLANGroup, state: ns, facts: map[string]dataplane.Fact{}}
		for _, f := range dataplane.Expected(ns, kind == agent.KindOVS) {
			n.facts[f.Key()] = f
		}
		w.nodes[a.Host] = n
		if n.vtep.IsValid() {
			w.byVTEP[n.vtep] = n
		}
	}
	return w
}

func badRequest(format string, args ...any) error {
	return neutron.BadRequest(format, args...)
}

// Compute traces q. Errors are *neutron.Error: 404 for an unknown port
// or network, 409 for an ambiguous name, 400 for a destination that does
// not parse or a port no agent realises.
func Compute(in Input, q Query) (*Trace, error) {
	if in.State == nil {
		return nil, fmt.Errorf("trace: no state")
	}
	if q.Port == "" || q.Dst == "" {
		return nil, badRequest("trace needs port and dst")
	}
	w := build(in)
	netID := ""
	if q.Network != "" {
		id, err := w.findNetwork(q.Network)
		if err != nil {
			return nil, err
		}
		netID = id
	}
	src, err := w.findPort(q.Port, netID)
	if err != nil {
		return nil, err
	}
	netw := w.nets[src.NetworkID]
	if len(netw.Segments) == 0 || !slices.Contains(overlayTypes(in.L2Pop), netw.Segments[0].NetworkType) {
		return nil, badRequest("network %s is not an overlay network (vxlan/gre): no tunnel to trace", netw.ID)
	}
	n := w.nodes[src.HostID]
	if src.HostID == "" || n == nil {
		return nil, badRequest("port %s is not bound to a host with an L2 agent (binding:host_id %q)", src.ID, src.HostID)
	}
	t := &Trace{
		Revision: in.State.Revision,
		Network:  Network{ID: netw.ID, Name: netw.Name, Type: netw.Segments[0].NetworkType, VNI: uint32(netw.Segments[0].SegmentationID)},
		Source: Endpoint{PortID: src.ID, PortName: src.Name, MAC: strings.ToLower(src.MACAddress), Host: n.host,
			VTEP: addrText(n.vtep), Mechanism: n.mech, Mode: n.mode(uint32(netw.Segments[0].SegmentationID))},
	}
	for _, ip := range src.FixedIPs {
		t.Source.IPs = append(t.Source.IPs, ip.IPAddress)
	}
	tr := tracer{w: w, t: t, src: src, n: n, vni: t.Network.VNI}
	if err := tr.destination(q.Dst); err != nil {
		return nil, err
	}
	tr.run()
	return t, nil
}

func overlayTypes(c l2pop.Config) []string {
	if len(c.NetworkTypes) == 0 {
		return []string{neutron.TypeVXLAN, neutron.TypeGRE}
	}
	return c.NetworkTypes
}

func (n *node) mode(vni uint32) string {
	for _, nw := range n.state.Networks {
		if nw.VNI == vni && nw.Group.IsValid() {
			return "multicast " + nw.Group.String()
		}
	}
	switch {
	case n.arp:
		return "l2pop+arp_responder"
	case n.l2pop:
		return "l2pop"
	}
	return "full-mesh"
}

func addrText(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func (w *world) findNetwork(ref string) (string, error) {
	if _, ok := w.nets[ref]; ok {
		return ref, nil
	}
	var ids []string
	for _, n := range w.st.Networks {
		if n.Name == ref {
			ids = append(ids, n.ID)
		}
	}
	switch len(ids) {
	case 0:
		return "", neutron.NotFound("Network", ref)
	case 1:
		return ids[0], nil
	}
	return "", neutron.Conflict("NetworkNameAmbiguous", "more than one network is named %q; use its id", ref)
}

func (w *world) findPort(ref, netID string) (neutron.Port, error) {
	if p, ok := w.ports[ref]; ok {
		if netID != "" && p.NetworkID != netID {
			return p, badRequest("port %s is on network %s, not %s", p.ID, p.NetworkID, netID)
		}
		return p, nil
	}
	var found []neutron.Port
	for _, p := range w.st.Ports {
		if p.Name == ref && (netID == "" || p.NetworkID == netID) {
			found = append(found, p)
		}
	}
	switch len(found) {
	case 0:
		return neutron.Port{}, neutron.NotFound("Port", ref)
	case 1:
		return found[0], nil
	}
	return neutron.Port{}, neutron.Conflict("PortNameAmbiguous", "more than one port is named %q; use its id or --network", ref)
}

// tracer walks one query.
type tracer struct {
	w   *world
	t   *Trace
	src neutron.Port
	n   *node // the sending node
	vni uint32
}

// destination parses dst and resolves the port it names.
func (tr *tracer) destination(dst string) error {
	d := Destination{Input: dst}
	s := strings.ToLower(strings.TrimSpace(dst))
	switch {
	case s == "broadcast" || s == "ff:ff:ff:ff:ff:ff":
		d.Kind, d.MAC = "broadcast", "ff:ff:ff:ff:ff:ff"
	default:
		if ip, err := netip.ParseAddr(s); err == nil {
			if ip.IsMulticast() {
				d.Kind, d.IP, d.MAC = "multicast", ip.String(), multicastMAC(ip)
				break
			}
			d.Kind, d.IP = "unicast", ip.String()
			if p, ok := tr.portWithIP(ip); ok {
				d.PortID, d.PortName, d.MAC, d.Host = p.ID, p.Name, strings.ToLower(p.MACAddress), p.HostID
			}
			break
		}
		hw, err := net.ParseMAC(s)
		if err != nil || len(hw) != 6 {
			return badRequest("dst %q is not an IP address, a MAC address, \"broadcast\" or a multicast group", dst)
		}
		d.MAC = hw.String()
		if hw[0]&1 == 1 {
			d.Kind = "multicast"
			break
		}
		d.Kind = "unicast"
		if p, ok := tr.portWithMAC(d.MAC); ok {
			d.PortID, d.PortName, d.Host = p.ID, p.Name, p.HostID
		}
	}
	tr.t.Destination = d
	return nil
}

// multicastMAC maps an IP multicast group to its Ethernet address
// (RFC 1112: 01:00:5e + low 23 bits; RFC 2464: 33:33 + low 32 bits).
func multicastMAC(ip netip.Addr) string {
	if ip.Is4() {
		b := ip.As4()
		return fmt.Sprintf("01:00:5e:%02x:%02x:%02x", b[1]&0x7f, b[2], b[3])
	}
	b := ip.As16()
	return fmt.Sprintf("33:33:%02x:%02x:%02x:%02x", b[12], b[13], b[14], b[15])
}

func (tr *tracer) portWithIP(ip netip.Addr) (neutron.Port, bool) {
	for _, p := range tr.w.st.Ports {
		if p.NetworkID != tr.src.NetworkID {
			continue
		}
		for _, f := range p.FixedIPs {
			if a, err := netip.ParseAddr(f.IPAddress); err == nil && a == ip {
				return p, true
			}
		}
	}
	return neutron.Port{}, false
}

func (tr *tracer) portWithMAC(mac string) (neutron.Port, bool) {
	for _, p := range tr.w.st.Ports {
		if p.NetworkID == tr.src.NetworkID && strings.EqualFold(p.MACAddress, mac) {
			return p, true
		}
	}
	return neutron.Port{}, false
}

func (tr *tracer) run() {
	d := tr.t.Destination
	switch d.Kind {
	case "broadcast", "multicast":
		tr.t.Steps = append(tr.t.Steps, tr.bum(fmt.Sprintf("%s frame to %s", d.Kind, d.MAC), false))
	default:
		if d.IP != "" {
			ip := netip.MustParseAddr(d.IP)
			arp := tr.arp(ip, d.MAC)
			tr.t.Steps = append(tr.t.Steps, arp)
			if d.MAC == "" {
				return // nobody answers: the frame is never sent
			}
		}
		tr.t.Steps = append(tr.t.Steps, tr.unicast(d.MAC))
	}
}

// localPorts are the ports of the network on node n other than the
// sender, sorted by id.
func (tr *tracer) localPorts(n *node) []Local {
	var out []Local
	for _, id := range slices.Sorted(maps.Keys(n.state.Ports)) {
		p := n.state.Ports[id]
		if p.NetworkID == tr.src.NetworkID && id != tr.src.ID {
			out = append(out, Local{PortID: id, Name: tr.w.ports[id].Name})
		}
	}
	return out
}

func (tr *tracer) portName(id string) string {
	if p, ok := tr.w.ports[id]; ok && p.Name != "" {
		return p.Name
	}
	return id
}

func (tr *tracer) portFact(n *node, id string) []dataplane.Fact {
	f := dataplane.Fact{Kind: dataplane.FactPort, VNI: tr.vni, Port: id}
	if n.has(f) {
		return []dataplane.Fact{f}
	}
	return nil
}

// ingress is the sender's first hop: its port in the local bridge.
func (tr *tracer) ingress(what string) Hop {
	n := tr.n
	h := Hop{Host: n.host, Checks: tr.portFact(n, tr.src.ID)}
	if n.ovs() {
		h.Where = "br-int"
		h.Entry = fmt.Sprintf("port iface-id=%s tag=<local vlan of vni %d>", tr.src.ID, tr.vni)
		h.Decision = what + " -> patch-tun -> br-tun table 0 (in_port=patch-int) -> table 2"
	} else {
		h.Where = bridgeName(tr.src.NetworkID)
		h.Entry = fmt.Sprintf("%s master %s", tapName(tr.src.ID), bridgeName(tr.src.NetworkID))
		h.Decision = what + " -> " + vxlanName(tr.vni)
	}
	if len(h.Checks) == 0 {
		h.Decision += fmt.Sprintf(" (the port is not realised here: status %s)", tr.src.Status)
	}
	return h
}

func bridgeName(netID string) string { return dataplane.BridgeName(netID) }
func tapName(portID string) string   { return dataplane.TapName(portID) }
func vxlanName(vni uint32) string    { return fmt.Sprintf("vxlan-%d", vni) }

// tunnelPort is Neutron's OVS tunnel port name for a remote VTEP.
func tunnelPort(ip netip.Addr) string {
	if ip.Is4() {
		b := ip.As4()
		return fmt.Sprintf("vxlan-%02x%02x%02x%02x", b[0], b[1], b[2], b[3])
	}
	return "vxlan-" + ip.String()
}

func (tr *tracer) tunID() string { return fmt.Sprintf("%#x", tr.vni) }

// arp is the ARP request that resolves ip: answered by the sender's ARP
// responder when it has the entry, else flooded like any broadcast.
func (tr *tracer) arp(ip netip.Addr, mac string) Step {
	n := tr.n
	title := fmt.Sprintf("ARP request: who has %s? (broadcast)", ip)
	if n.arp {
		f := dataplane.Fact{Kind: dataplane.FactARP, VNI: tr.vni, IP: ip, MAC: mac}
		if mac != "" && n.has(f) {
			st := Step{Title: title, Hops: []Hop{tr.ingress("broadcast ARP")}}
			if n.ovs() {
				st.Hops = append(st.Hops,
					Hop{Host: n.host, Where: "br-tun table 2", Entry: "priority=1,arp,dl_dst=ff:ff:ff:ff:ff:ff actions=goto_table:21",
						Decision: "broadcast ARP -> ARP responder"},
					Hop{Host: n.host, Where: "br-tun table 21",
						Entry:    fmt.Sprintf("priority=1,arp,dl_vlan=<lvid>,arp_tpa=%s actions=set_field:2->arp_op,...,set_field:%s->arp_sha,...,IN_PORT", ip, mac),
						Decision: fmt.Sprintf("ARP responder answers %s is-at %s", ip, mac), Checks: []dataplane.Fact{f}})
			} else {
				st.Hops = append(st.Hops, Hop{Host: n.host, Where: "ip neigh",
					Entry:    fmt.Sprintf("%s dev %s lladdr %s PERMANENT", ip, vxlanName(tr.vni), mac),
					Decision: fmt.Sprintf("%s proxy (arp_responder) answers %s is-at %s", vxlanName(tr.vni), ip, mac), Checks: []dataplane.Fact{f}})
			}
			st.Result = fmt.Sprintf("answered on %s by the ARP responder: no copy on the underlay", n.host)
			return st
		}
	}
	st := tr.bum(title, true)
	if n.arp {
		miss := "no ARP responder entry for " + ip.String()
		if n.ovs() {
			st.Hops = slices.Insert(st.Hops, 1, Hop{Host: n.host, Where: "br-tun table 21", Entry: "priority=0 actions=goto_table:22",
				Decision: miss + " -> flood"})
		} else {
			st.Hops = slices.Insert(st.Hops, 1, Hop{Host: n.host, Where: "ip neigh", Entry: "(none for " + ip.String() + " on " + vxlanName(tr.vni) + ")",
				Decision: miss + ": the proxy does not answer and the request is flooded"})
		}
	}
	if mac == "" {
		st.Result += fmt.Sprintf("; no port on network %s holds %s: nobody answers", tr.src.NetworkID, ip)
	} else {
		st.Result += fmt.Sprintf("; %s answers %s is-at %s", tr.ownerText(ip), ip, mac)
	}
	return st
}

func (tr *tracer) ownerText(ip netip.Addr) string {
	if p, ok := tr.portWithIP(ip); ok {
		return fmt.Sprintf("port %s on %s", tr.portName(p.ID), orDash(p.HostID))
	}
	return "nobody"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// floodFacts are the sender's flood destinations for the network.
func (tr *tracer) floodFacts() []dataplane.Fact {
	var out []dataplane.Fact
	for _, k := range slices.Sorted(maps.Keys(tr.n.facts)) {
		f := tr.n.facts[k]
		if f.Kind == dataplane.FactFlood && f.VNI == tr.vni {
			out = append(out, f)
		}
	}
	return out
}

// bum floods a broadcast, multicast or unknown-unicast frame: local ports
// get it, and one copy per flood destination leaves the node.
func (tr *tracer) bum(title string, arpReq bool) Step {
	n := tr.n
	st := Step{Title: title, Hops: []Hop{tr.ingress("flooded in the local bridge")}}
	st.Local = tr.localPorts(n)
	floods := tr.floodFacts()
	if n.ovs() {
		entry := "priority=0,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=goto_table:22"
		if arpReq && n.arp {
			entry = "priority=1,arp,dl_dst=ff:ff:ff:ff:ff:ff actions=goto_table:21"
		}
		st.Hops = append(st.Hops, Hop{Host: n.host, Where: "br-tun table 2", Entry: entry, Decision: "broadcast/multicast"})
	}
	st.Hops = append(st.Hops, tr.floodHop(floods))
	tr.copies(&st, floods, "")
	st.Result = tr.bumResult(st)
	return st
}

func (tr *tracer) floodHop(floods []dataplane.Fact) Hop {
	n := tr.n
	if n.ovs() {
		outs := make([]string, len(floods))
		for i, f := range floods {
			outs[i] = "output:" + tunnelPort(f.VTEP)
		}
		h := Hop{Host: n.host, Where: "br-tun table 22", Checks: floods}
		if len(floods) == 0 {
			h.Entry, h.Decision = "priority=0 actions=drop", "no flood list for this network: no copy leaves "+n.host
			return h
		}
		h.Entry = fmt.Sprintf("priority=1,dl_vlan=<lvid> actions=pop_vlan,set_field:%s->tun_id,%s", tr.tunID(), strings.Join(outs, ","))
		h.Decision = fmt.Sprintf("%d cop%s (head-end replication)", len(floods), plural(len(floods), "y", "ies"))
		return h
	}
	h := Hop{Host: n.host, Where: "bridge fdb", Checks: floods}
	if len(floods) == 0 {
		h.Entry, h.Decision = "(no 00:00:00:00:00:00 entry on "+vxlanName(tr.vni)+")", "no flood list for this network: no copy leaves "+n.host
		return h
	}
	lines := make([]string, len(floods))
	for i, f := range floods {
		lines[i] = fmt.Sprintf("00:00:00:00:00:00 dev %s dst %s self permanent", vxlanName(tr.vni), f.VTEP)
	}
	h.Entry = strings.Join(lines, "; ")
	if len(floods) == 1 && floods[0].VTEP.IsMulticast() {
		h.Where = vxlanName(tr.vni)
		h.Decision = fmt.Sprintf("one copy to multicast group %s (vxlan_group)", floods[0].VTEP)
	} else {
		h.Decision = fmt.Sprintf("%d cop%s (head-end replication)", len(floods), plural(len(floods), "y", "ies"))
	}
	return h
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// copies adds one Copy per flood fact. target is the MAC the frame is
// for when it is unknown unicast ("" for BUM: every port takes it).
func (tr *tracer) copies(st *Step, floods []dataplane.Fact, target string) {
	for _, f := range floods {
		c := Copy{To: f.VTEP.String(), Underlay: tr.underlay(f.VTEP)}
		if f.VTEP.IsMulticast() {
			c.Outcome = tr.groupCopy(&c, f.VTEP, target)
		} else {
			c.Outcome = tr.receive(&c, f.VTEP, target)
		}
		st.Copies = append(st.Copies, c)
	}
}

func (tr *tracer) underlay(to netip.Addr) string {
	return fmt.Sprintf("VXLAN VNI %d, UDP %s -> %s:%d", tr.vni, tr.n.vtep, to, tr.n.state.UDPPort)
}

// groupCopy: every node that joined the group for this VNI receives it.
func (tr *tracer) groupCopy(c *Copy, group netip.Addr, target string) string {
	var got []string
	for _, host := range slices.Sorted(maps.Keys(tr.w.nodes)) {
		m := tr.w.nodes[host]
		if m == tr.n || !m.has(dataplane.Fact{Kind: dataplane.FactFlood, VTEP: group, VNI: tr.vni}) {
			continue
		}
		var sub Copy
		out := tr.receive(&sub, m.vtep, target)
		c.Hops = append(c.Hops, sub.Hops...)
		got = append(got, host+": "+out)
	}
	if len(got) == 0 {
		return "no other node joined " + group.String() + " for this VNI"
	}
	return strings.Join(got, "; ")
}

// receive walks a copy into the node owning vtep. target is the unicast
// MAC the frame is for ("" for BUM).
func (tr *tracer) receive(c *Copy, vtep netip.Addr, target string) string {
	m := tr.w.byVTEP[vtep]
	if m == nil {
		return "no agent owns VTEP " + vtep.String() + ": the packet is lost"
	}
	c.Host = m.host
	netFact := dataplane.Fact{Kind: dataplane.FactNetwork, VNI: tr.vni}
	if m.ovs() {
		tun := dataplane.Fact{Kind: dataplane.FactTunnel, VTEP: tr.n.vtep}
		h := Hop{Host: m.host, Where: "br-tun table 0", Entry: "priority=1,in_port=" + tunnelPort(tr.n.vtep) + " actions=goto_table:4"}
		if !m.has(tun) {
			h.Entry = "(no tunnel port to " + tr.n.vtep.String() + ")"
			h.Decision = "dropped: " + m.host + " keeps no tunnel to " + tr.n.host
			c.Hops = append(c.Hops, h)
			return "dropped on " + m.host + " (no tunnel port from " + tr.n.host + ")"
		}
		h.Checks, h.Decision = []dataplane.Fact{tun}, "from a tunnel"
		c.Hops = append(c.Hops, h)
		if !m.has(netFact) {
			c.Hops = append(c.Hops, Hop{Host: m.host, Where: "br-tun table 4", Entry: "priority=0 actions=drop",
				Decision: fmt.Sprintf("no tun_id=%s flow: no port of the network here", tr.tunID())})
			return "dropped on " + m.host + " (hosts no port of the network)"
		}
		c.Hops = append(c.Hops,
			Hop{Host: m.host, Where: "br-tun table 4", Entry: fmt.Sprintf("priority=1,tun_id=%s actions=push_vlan:0x8100,set_field:<lvid>->vlan_vid,goto_table:10", tr.tunID()),
				Decision: "VNI -> local VLAN", Checks: []dataplane.Fact{netFact}},
			Hop{Host: m.host, Where: "br-tun table 10", Entry: "priority=1 actions=learn(table=20,...),output:patch-int",
				Decision: "learn the sender's MAC behind " + tunnelPort(tr.n.vtep) + " -> br-int"})
	} else {
		if !m.has(netFact) {
			c.Hops = append(c.Hops, Hop{Host: m.host, Where: vxlanName(tr.vni), Entry: "(no such device)",
				Decision: "no port of the network here: the kernel drops the packet"})
			return "dropped on " + m.host + " (hosts no port of the network)"
		}
		c.Hops = append(c.Hops, Hop{Host: m.host, Where: vxlanName(tr.vni),
			Entry: fmt.Sprintf("%s master %s", vxlanName(tr.vni), bridgeName(tr.src.NetworkID)), Decision: "decapsulated into the network's bridge",
			Checks: []dataplane.Fact{netFact}})
	}
	return tr.deliver(c, m, target)
}

// deliver is the last hop on a receiving node.
func (tr *tracer) deliver(c *Copy, m *node, target string) string {
	var to []string
	for _, l := range tr.localPorts(m) {
		p := tr.w.ports[l.PortID]
		if target != "" && !strings.EqualFold(p.MACAddress, target) {
			continue
		}
		to = append(to, l.PortID)
	}
	if len(to) == 0 {
		if target != "" {
			where := "br-int"
			if !m.ovs() {
				where = bridgeName(tr.src.NetworkID)
			}
			c.Hops = append(c.Hops, Hop{Host: m.host, Where: where, Entry: "(no port with " + target + ")", Decision: "not for this node: dropped"})
			return "dropped on " + m.host + " (not the destination)"
		}
		return "no port of the network on " + m.host + " to deliver to"
	}
	var names []string
	for _, id := range to {
		h := Hop{Host: m.host, Checks: tr.portFact(m, id)}
		if m.ovs() {
			h.Where, h.Entry, h.Decision = "br-int", "port iface-id="+id, "NORMAL -> delivered to port "+tr.portName(id)
		} else {
			h.Where, h.Entry, h.Decision = bridgeName(tr.src.NetworkID), tapName(id)+" master "+bridgeName(tr.src.NetworkID), "delivered to port "+tr.portName(id)
		}
		c.Hops = append(c.Hops, h)
		names = append(names, tr.portName(id))
	}
	return "delivered on " + m.host + " to " + strings.Join(names, ", ")
}

func (tr *tracer) bumResult(st Step) string {
	var parts []string
	if len(st.Local) > 0 {
		names := make([]string, len(st.Local))
		for i, l := range st.Local {
			names[i] = tr.portName(l.PortID)
		}
		parts = append(parts, "local delivery on "+tr.n.host+" to "+strings.Join(names, ", "))
	}
	delivered, dropped := 0, 0
	for _, c := range st.Copies {
		if strings.Contains(c.Outcome, "delivered") {
			delivered++
		} else {
			dropped++
		}
	}
	parts = append(parts, fmt.Sprintf("%d cop%s on the underlay (%d reach a port of the network, %d dropped)",
		len(st.Copies), plural(len(st.Copies), "y", "ies"), delivered, dropped))
	return strings.Join(parts, "; ")
}

// unicast sends a frame to mac: switched locally, sent to the one VTEP
// an l2pop entry names, or flooded as unknown unicast.
func (tr *tracer) unicast(mac string) Step {
	n := tr.n
	title := fmt.Sprintf("frame to %s (unicast)", mac)
	d := tr.t.Destination
	// Local: the bridge switches it without a tunnel.
	for _, l := range tr.localPorts(n) {
		if strings.EqualFold(tr.w.ports[l.PortID].MACAddress, mac) {
			st := Step{Title: title, Hops: []Hop{tr.ingress("switched locally")}}
			var c Copy
			tr.deliver(&c, n, mac)
			st.Hops = append(st.Hops, c.Hops...)
			st.Result = fmt.Sprintf("delivered on %s to %s without leaving the node", n.host, tr.portName(l.PortID))
			return st
		}
	}
	st := Step{Title: title, Hops: []Hop{tr.ingress("not a local MAC")}}
	if n.ovs() {
		st.Hops = append(st.Hops, Hop{Host: n.host, Where: "br-tun table 2", Entry: "priority=0,dl_dst=00:00:00:00:00:00/01:00:00:00:00:00 actions=goto_table:20",
			Decision: "unicast"})
	}
	var uf *dataplane.Fact
	for _, f := range n.facts {
		if f.Kind == dataplane.FactUnicast && f.VNI == tr.vni && f.MAC == mac {
			uf = &f
			break
		}
	}
	if uf != nil {
		h := Hop{Host: n.host, Checks: []dataplane.Fact{*uf}}
		if n.ovs() {
			h.Where = "br-tun table 20"
			h.Entry = fmt.Sprintf("priority=2,dl_vlan=<lvid>,dl_dst=%s actions=pop_vlan,set_field:%s->tun_id,output:%s", mac, tr.tunID(), tunnelPort(uf.VTEP))
			if tun := (dataplane.Fact{Kind: dataplane.FactTunnel, VTEP: uf.VTEP}); n.has(tun) {
				h.Checks = append(h.Checks, tun)
			}
		} else {
			h.Where = "bridge fdb"
			h.Entry = fmt.Sprintf("%s dev %s dst %s self permanent", mac, vxlanName(tr.vni), uf.VTEP)
		}
		h.Decision = fmt.Sprintf("l2population entry: one copy to %s (%s)", uf.VTEP, tr.hostOf(uf.VTEP))
		st.Hops = append(st.Hops, h)
		c := Copy{To: uf.VTEP.String(), Underlay: tr.underlay(uf.VTEP)}
		c.Outcome = tr.receive(&c, uf.VTEP, mac)
		st.Copies = []Copy{c}
		st.Result = "one copy: " + c.Outcome
		return st
	}
	// No server-given entry: learned, or flooded as unknown unicast.
	miss := Hop{Host: n.host}
	learned := ""
	if d.Host != "" {
		if m := tr.w.nodes[d.Host]; m != nil && m != n {
			learned = fmt.Sprintf("; once learned from its replies, one copy goes to %s (%s)", m.vtep, m.host)
		}
	}
	switch {
	case n.ovs() && !n.l2pop:
		miss.Where, miss.Entry = "br-tun table 20", "priority=1,dl_vlan=<lvid>,dl_dst="+mac+" (learned by table 10, hard_timeout=300) else priority=0 actions=goto_table:22"
		miss.Decision = "full mesh: no static entry; until learned the frame is flooded as unknown unicast"
	case n.ovs():
		miss.Where, miss.Entry = "br-tun table 20", "priority=0 actions=goto_table:22"
		miss.Decision = "no l2population entry for " + mac + ": flooded as unknown unicast"
		learned = ""
	case !n.l2pop:
		miss.Where, miss.Entry = "bridge fdb", mac+" dev "+vxlanName(tr.vni)+" dst <learned> (vxlan learning)"
		miss.Decision = "full mesh: the kernel learns the MAC from received packets; until then the frame is flooded"
	default:
		miss.Where, miss.Entry = "bridge fdb", "(no entry for "+mac+" on "+vxlanName(tr.vni)+")"
		miss.Decision = "no l2population entry for " + mac + ": flooded as unknown unicast"
		learned = ""
	}
	st.Hops = append(st.Hops, miss)
	floods := tr.floodFacts()
	st.Hops = append(st.Hops, tr.floodHop(floods))
	tr.copies(&st, floods, mac)
	delivered := ""
	for _, c := range st.Copies {
		if strings.Contains(c.Outcome, "delivered") {
			delivered = c.Outcome
		}
	}
	if delivered == "" {
		delivered = "no copy reaches a port with " + mac
	}
	st.Result = fmt.Sprintf("%d cop%s as unknown unicast: %s%s", len(st.Copies), plural(len(st.Copies), "y", "ies"), delivered, learned)
	return st
}

func (tr *tracer) hostOf(vtep netip.Addr) string {
	if m := tr.w.byVTEP[vtep]; m != nil {
		return m.host
	}
	return "no agent"
}

// HostChecks are the facts a live trace asks one node about.
type HostChecks map[string][]dataplane.Fact

// Checks collects, per host, the facts the trace's hops rely on.
func (t *Trace) Checks() HostChecks {
	out := HostChecks{}
	t.eachHop(func(h *Hop) {
		for _, f := range h.Checks {
			if !slices.Contains(out[h.Host], f) {
				out[h.Host] = append(out[h.Host], f)
			}
		}
	})
	return out
}

func (t *Trace) eachHop(fn func(*Hop)) {
	for i := range t.Steps {
		s := &t.Steps[i]
		for j := range s.Hops {
			fn(&s.Hops[j])
		}
		for j := range s.Copies {
			for k := range s.Copies[j].Hops {
				fn(&s.Copies[j].Hops[k])
			}
		}
	}
}

// Observation is one host's answer to its checks: the facts it found
// (Present[i] answers the i-th check) or why it could not tell.
type Observation struct {
	Present []bool
	Err     error
}

// MarkLive marks each hop with a check verified, missing or unknown from
// the hosts' answers to Checks().
func (t *Trace) MarkLive(checks HostChecks, obs map[string]Observation) {
	t.Live = true
	t.eachHop(func(h *Hop) {
		if len(h.Checks) == 0 {
			return
		}
		o, ok := obs[h.Host]
		if !ok || o.Err != nil {
			h.Live = "unknown"
			if ok {
				h.Error = o.Err.Error()
			} else {
				h.Error = "no answer from the agent on " + h.Host
			}
			return
		}
		h.Live = "verified"
		for _, f := range h.Checks {
			i := slices.Index(checks[h.Host], f)
			if i < 0 || i >= len(o.Present) || !o.Present[i] {
				h.Live = "missing"
				h.Missing = append(h.Missing, f)
			}
		}
	})
}
