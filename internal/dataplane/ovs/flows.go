package ovs

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"

	"neutrino/internal/dataplane"
)

// Neutron's table numbers (neutron_lib ovs_constants).
const (
	// br-tun
	tunLocalSwitching = 0
	tunPatchLVToTun   = 2
	tunGRETunToLV     = 3
	tunVXLANTunToLV   = 4
	tunGeneveTunToLV  = 6
	tunLearnFromTun   = 10
	tunUcastToTun     = 20
	tunARPResponder   = 21
	tunFloodToTun     = 22
	// br-int
	intLocalSwitching = 0
	intCanary         = 23
	intTransient      = 59
	intTransientEgr   = 60

	// deadVLAN is the local VLAN of ports that are not bound (Neutron's 4095).
	deadVLAN = 4095
	// learnedPriority is the priority of flows the learn action adds to
	// table 20; they are the switch's, not ours, and are never diffed.
	learnedPriority = 1

	// Priorities of the per-network br-tun flows, shared by the flows we
	// write (networkFlows) and the read-back that recognises them
	// (observe.go).
	netInPriority    = 1 // table 4: tun_id to local VLAN
	floodPriority    = 1 // table 22: flood to the network's VTEPs
	unicastPriority  = 2 // table 20: one MAC to its VTEP, above learned flows
	arpReplyPriority = 1 // table 21: ARP responder entry
)

// Flow is one OpenFlow rule in the text form ovs-ofctl prints for
// OpenFlow 1.3 with --no-names: Match is the comma-separated match without
// the priority, Actions the action list. Rendering our wanted flows exactly
// as OVS prints them lets a dump be compared with the wanted set by string
// equality.
type Flow struct {
	Table    int
	Priority int
	Match    string
	Actions  string
	// Cookie and HardTimeout are filled for flows read back from a switch.
	Cookie      uint64
	HardTimeout int
}

// Key identifies a flow the way OpenFlow does for add/replace and strict
// delete: table, priority and match.
func (f Flow) Key() string {
	return strconv.Itoa(f.Table) + "/" + strconv.Itoa(f.Priority) + "/" + f.Match
}

func (f Flow) matchPart() string {
	s := "table=" + strconv.Itoa(f.Table) + ",priority=" + strconv.Itoa(f.Priority)
	if f.Match != "" {
		s += "," + f.Match
	}
	return s
}

// AddLine is the flow as one `add` line of an ovs-ofctl add-flows file.
func (f Flow) AddLine(cookie uint64) string {
	return fmt.Sprintf("add cookie=%#x,%s actions=%s", cookie, f.matchPart(), f.Actions)
}

// DeleteStrictLine removes exactly this flow (and only if it still has
// the given cookie).
func (f Flow) DeleteStrictLine(cookie uint64) string {
	return fmt.Sprintf("delete_strict cookie=%#x/-1,%s", cookie, f.matchPart())
}

// String is the flow as `ovs-ofctl -O OpenFlow13 dump-flows` shows it with
// the counters and durations stripped (the golden-text form).
func (f Flow) String() string {
	s := fmt.Sprintf("cookie=%#x, table=%d, ", f.Cookie, f.Table)
	if f.HardTimeout > 0 {
		s += fmt.Sprintf("hard_timeout=%d, ", f.HardTimeout)
	}
	s += "priority=" + strconv.Itoa(f.Priority)
	if f.Match != "" {
		s += "," + f.Match
	}
	return s + " actions=" + f.Actions
}

// Layout is what the flows need to know about the switch besides the
// desired state: the numbers OVS gave our ports and the lvids we chose.
type Layout struct {
	Cookie uint64
	// PatchInt is the ofport of patch-int on br-tun.
	PatchInt int
	// Tunnels maps a remote VTEP to the ofport of its tunnel port.
	Tunnels map[netip.Addr]int
	// LVIDs maps a network id to its local VLAN.
	LVIDs map[string]int
	// Ofports maps a local port id to its ofport on br-int (filtered
	// ports of the openvswitch firewall driver).
	Ofports map[string]int
	// Physnets are the mapped physical networks' bridges and patch
	// ports (bridge_mappings), by physnet.
	Physnets map[string]PhysLayout
}

// IntFlows is br-int's pipeline: drop the dead VLAN, keep the canary
// (table 23) that tells us whether OVS lost our flows, and switch
// everything else with NORMAL on the local VLANs.
func IntFlows(l Layout) []Flow {
	fs := []Flow{
		{Table: intLocalSwitching, Priority: 65535, Match: "dl_vlan=" + strconv.Itoa(deadVLAN), Actions: "drop"},
		{Table: intLocalSwitching, Priority: 0, Actions: "goto_table:" + strconv.Itoa(intTransient)},
		{Table: intCanary, Priority: 0, Actions: "drop"},
		{Table: intTransient, Priority: 0, Actions: "goto_table:" + strconv.Itoa(intTransientEgr)},
		{Table: intTransientEgr, Priority: 3, Actions: "NORMAL"},
	}
	return withCookie(fs, l.Cookie)
}

// TunFlows is br-tun's pipeline in Neutron's layout for desired state s.
// Networks without an lvid in l are skipped (they have no local port
// plugged yet); VTEPs without a tunnel port are left out of outputs.
func TunFlows(s dataplane.NodeState, l Layout) []Flow {
	return tunFlowSet(s, l, nil).all()
}

// tunBaseFlows are br-tun's flows that belong to no single network: the
// table-miss and dispatch flows, the learn flow, ARP broadcast to the
// responder when any network uses it.
func tunBaseFlows(s dataplane.NodeState, l Layout, tunOfports []int) []Flow {
	var fs []Flow
	add := func(table, prio int, match, actions string) {
		fs = append(fs, Flow{Table: table, Priority: prio, Match: match, Actions: actions, Cookie: l.Cookie})
	}
	// Table 0: from br-int -> 2, from a tunnel -> 4.
	add(tunLocalSwitching, 1, "in_port="+strconv.Itoa(l.PatchInt), "goto_table:"+strconv.Itoa(tunPatchLVToTun))
	for _, of := range tunOfports {
		add(tunLocalSwitching, 1, "in_port="+strconv.Itoa(of), "goto_table:"+strconv.Itoa(tunVXLANTunToLV))
	}
	add(tunLocalSwitching, 0, "", "drop")

	// Table 2: broadcast ARP -> responder, unicast -> 20, multicast -> 22.
	arp := false
	for _, n := range s.Networks {
		arp = arp || (n.L2Pop && n.ARPResponder)
	}
	if arp {
		add(tunPatchLVToTun, 1, "arp,dl_dst=ff:ff:ff:ff:ff:ff", "goto_table:"+strconv.Itoa(tunARPResponder))
	}
	add(tunPatchLVToTun, 0, "dl_dst=00:00:00:00:00:00/01:00:00:00:00:00", "goto_table:"+strconv.Itoa(tunUcastToTun))
	add(tunPatchLVToTun, 0, "dl_dst=01:00:00:00:00:00/01:00:00:00:00:00", "goto_table:"+strconv.Itoa(tunFloodToTun))
	add(tunGRETunToLV, 0, "", "drop")
	add(tunVXLANTunToLV, 0, "", "drop")
	add(tunGeneveTunToLV, 0, "", "drop")

	// Table 10: learn the sender behind the tunnel into table 20, then
	// hand the frame to br-int.
	add(tunLearnFromTun, 1, "", fmt.Sprintf("learn(table=%d,hard_timeout=300,priority=%d,cookie=%#x,"+
		"NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],"+
		"load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:OXM_OF_IN_PORT[]),output:%d",
		tunUcastToTun, learnedPriority, l.Cookie, l.PatchInt))
	add(tunUcastToTun, 0, "", "goto_table:"+strconv.Itoa(tunFloodToTun))
	add(tunARPResponder, 0, "", "goto_table:"+strconv.Itoa(tunFloodToTun))
	add(tunFloodToTun, 0, "", "drop")
	return fs
}

// networkFlows are one network's br-tun flows on local VLAN lvid: tunnel
// to VLAN, flood, and with l2pop one unicast flow per remote MAC and one
// ARP responder flow per remote IPv4 address.
func networkFlows(n dataplane.Network, lvid int, local netip.Addr, l Layout, tunOfports []int) []Flow {
	fs := make([]Flow, 0, 2+2*len(n.Entries))
	add := func(table, prio int, match, actions string) {
		fs = append(fs, Flow{Table: table, Priority: prio, Match: match, Actions: actions, Cookie: l.Cookie})
	}
	vlan := "dl_vlan=" + strconv.Itoa(lvid)
	tun := "set_field:0x" + strconv.FormatUint(uint64(n.VNI), 16) + "->tun_id"
	add(tunVXLANTunToLV, netInPriority, "tun_id=0x"+strconv.FormatUint(uint64(n.VNI), 16),
		"push_vlan:0x8100,set_field:"+strconv.Itoa(4096+lvid)+"->vlan_vid,goto_table:"+strconv.Itoa(tunLearnFromTun))

	// Flood: the network's VTEPs; without l2pop and no list, every
	// tunnel (Neutron's full-mesh behaviour).
	var flood []int
	if !n.L2Pop && len(n.Flood) == 0 {
		flood = tunOfports
	} else {
		for _, vtep := range n.Flood {
			if of, ok := l.Tunnels[vtep]; ok && vtep != local && !slices.Contains(flood, of) {
				flood = append(flood, of)
			}
		}
		sort.Ints(flood)
	}
	if len(flood) > 0 {
		outs := make([]string, len(flood))
		for i, of := range flood {
			outs[i] = "output:" + strconv.Itoa(of)
		}
		add(tunFloodToTun, floodPriority, vlan, "pop_vlan,"+tun+","+strings.Join(outs, ","))
	}
	if !n.L2Pop {
		return fs // unicast is learned (table 10), no ARP responder
	}
	seenMAC := make(map[string]bool, len(n.Entries))
	seenIP := make(map[netip.Addr]bool, len(n.Entries))
	for _, e := range n.Entries {
		of, ok := l.Tunnels[e.VTEP]
		if !ok || e.VTEP == local {
			continue
		}
		mac := strings.ToLower(e.MAC)
		if !seenMAC[mac] {
			seenMAC[mac] = true
			add(tunUcastToTun, unicastPriority, vlan+",dl_dst="+mac, "pop_vlan,"+tun+",output:"+strconv.Itoa(of))
		}
		if n.ARPResponder && e.IP.Is4() && !seenIP[e.IP] {
			seenIP[e.IP] = true
			ip := e.IP.String()
			add(tunARPResponder, arpReplyPriority, "arp,"+vlan+",arp_tpa="+ip,
				"set_field:2->arp_op,move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],"+
					"set_field:"+mac+"->arp_sha,set_field:"+ip+"->arp_spa,move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],"+
					"set_field:"+mac+"->eth_src,IN_PORT")
		}
	}
	return fs
}

func withCookie(fs []Flow, c uint64) []Flow {
	for i := range fs {
		fs[i].Cookie = c
	}
	return fs
}

// sortFlows orders flows as dump-flows tends to (table, then priority
// descending, then match) so golden text is stable.
func sortFlows(fs []Flow) []Flow {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.Table != b.Table {
			return a.Table < b.Table
		}
		if a.Priority != b.Priority {
			return a.Priority > b.Priority
		}
		return a.Match < b.Match
	})
	return fs
}

// isLearned reports whether a dumped flow was made by the learn action
// (table 20, priority 1, with a hard timeout): it belongs to the switch's
// MAC learning and is neither desired nor stale.
func isLearned(f Flow) bool {
	return f.Table == tunUcastToTun && f.Priority == learnedPriority && f.HardTimeout > 0
}

// Plan is the difference between the flows a bridge has and the flows it
// should have, as ovs-ofctl add-flows lines for one bundle.
type Plan struct {
	Adds, Deletes []string
	// StaleCookies are the foreign cookies whose flows are removed.
	StaleCookies []uint64
	// OurFlows counts flows found with our cookie (0 on a fresh switch,
	// after an OVS restart, or when a previous run used another cookie).
	OurFlows int
}

// Lines is the bundle: first every add (an add replaces a flow with the
// same table/priority/match in place, taking our cookie, so forwarding
// never stops), then the strict deletes of our own flows that are no
// longer wanted, then the removal of flows still carrying another cookie.
func (p Plan) Lines() []string {
	out := make([]string, 0, len(p.Adds)+len(p.Deletes)+len(p.StaleCookies))
	out = append(out, p.Adds...)
	out = append(out, p.Deletes...)
	for _, c := range p.StaleCookies {
		out = append(out, fmt.Sprintf("delete cookie=%#x/-1", c))
	}
	return out
}

// Empty reports whether the bridge already matches.
func (p Plan) Empty() bool { return len(p.Adds)+len(p.Deletes)+len(p.StaleCookies) == 0 }

// Diff computes the plan that turns have into want for cookie.
func Diff(want, have []Flow, cookie uint64) Plan {
	var p Plan
	haveByKey := make(map[string]Flow, len(have))
	stale := map[uint64]bool{}
	for _, h := range have {
		if h.Cookie == cookie {
			p.OurFlows++
		}
		if isLearned(h) && h.Cookie == cookie {
			continue
		}
		haveByKey[h.Key()] = h
	}
	wantKeys := make(map[string]bool, len(want))
	for _, w := range want {
		wantKeys[w.Key()] = true
		h, ok := haveByKey[w.Key()]
		if ok && h.Cookie == cookie && h.Actions == w.Actions && h.HardTimeout == 0 {
			continue
		}
		p.Adds = append(p.Adds, w.AddLine(cookie))
	}
	for _, h := range have {
		switch {
		case h.Cookie == cookie && isLearned(h):
		case h.Cookie == cookie && !wantKeys[h.Key()]:
			p.Deletes = append(p.Deletes, h.DeleteStrictLine(cookie))
		case h.Cookie != cookie && !wantKeys[h.Key()]:
			stale[h.Cookie] = true
		}
	}
	for c := range stale {
		p.StaleCookies = append(p.StaleCookies, c)
	}
	slices.Sort(p.StaleCookies)
	return p
}

// ParseDump reads `ovs-ofctl -O OpenFlow13 --no-names dump-flows` output.
func ParseDump(text string) ([]Flow, error) {
	var out []Flow
	for line := range strings.SplitSeq(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "OFPST_FLOW") || strings.HasPrefix(line, "NXST_FLOW") {
			continue
		}
		f, err := parseFlowLine(line)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

func parseFlowLine(line string) (Flow, error) {
	var f Flow
	left, actions, ok := strings.Cut(line, " actions=")
	if !ok {
		return f, fmt.Errorf("flow without actions: %q", line)
	}
	f.Actions = actions
	f.Priority = 32768 // OpenFlow's default, which OVS does not print
	for tok := range strings.SplitSeq(left, ", ") {
		name, val, _ := strings.Cut(tok, "=")
		var err error
		switch name {
		case "cookie":
			f.Cookie, err = strconv.ParseUint(strings.TrimPrefix(val, "0x"), 16, 64)
		case "table":
			f.Table, err = strconv.Atoi(val)
		case "hard_timeout":
			f.HardTimeout, err = strconv.Atoi(val)
		case "duration", "n_packets", "n_bytes", "idle_age", "hard_age", "idle_timeout", "reset_counts", "send_flow_rem", "importance":
		default:
			// The match: "priority=N,field=..,field" (priority may be absent).
			m := tok
			if name == "priority" {
				p, rest, _ := strings.Cut(val, ",")
				f.Priority, err = strconv.Atoi(p)
				m = rest
			}
			f.Match = m
		}
		if err != nil {
			return f, fmt.Errorf("flow %q: %s: %w", line, name, err)
		}
	}
	return f, nil
}
