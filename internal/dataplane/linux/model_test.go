package linux

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"neutrino/internal/dataplane"
)

var (
	ctl  = netip.MustParseAddr("198.18.0.101")
	cmp1 = netip.MustParseAddr("198.18.0.102")
	cmp2 = netip.MustParseAddr("198.18.0.103")
	cmp3 = netip.MustParseAddr("198.18.0.104")
	grp  = netip.MustParseAddr("239.1.1.1")
)

const (
	netA  = "3f0e2b1c-9d7a-4c55-8f21-6b0d9e4a7c11"
	netB  = "88aa77bb-1234-4c55-8f21-6b0d9e4a7c22"
	portR = "f3d1a9ea-9a11-4b2c-8d3e-aa0000000001"
	portV = "4f63feaf-e92a-4045-8e45-d3160c99fb84"
	brA   = "brq3f0e2b1c-9d"
	brB   = "brq88aa77bb-12"
)

var opt = options{VTEPDev: "underlay"}

func state(n ...dataplane.Network) dataplane.NodeState {
	s := dataplane.NodeState{LocalIP: ctl, UDPPort: 4789, Networks: map[string]dataplane.Network{},
		Ports: map[string]dataplane.LocalPort{portR: {ID: portR, NetworkID: netA, MAC: "fa:16:3e:00:00:01"}}}
	for _, x := range n {
		s.Networks[x.ID] = x
	}
	return s
}

var entries = []dataplane.Entry{
	{MAC: "fa:16:3e:00:00:04", IP: netip.MustParseAddr("192.168.1.4"), VTEP: cmp1},
	{MAC: "fa:16:3e:00:00:02", IP: netip.MustParseAddr("192.168.1.2"), VTEP: cmp2},
	{MAC: "fa:16:3e:00:00:01", IP: netip.MustParseAddr("192.168.1.1"), VTEP: ctl}, // ourselves: skipped
}

func lines(ops []op) string {
	var b strings.Builder
	for _, o := range ops {
		b.WriteString(o.String() + "\n")
	}
	return b.String()
}

func TestNames(t *testing.T) {
	if got := BridgeName(netA); got != brA || len(got) != 14 {
		t.Errorf("BridgeName = %q", got)
	}
	if got := VXLANName(16777215); got != "vxlan-16777215" {
		t.Errorf("VXLANName = %q", got)
	}
	if got := TapName(portV); got != "tap4f63feaf-e9" {
		t.Errorf("TapName = %q", got)
	}
}

func TestRenderEntries(t *testing.T) {
	tests := []struct {
		name string
		net  dataplane.Network
		want string
	}{
		{"full mesh: every other VTEP, no unicast entries",
			dataplane.Network{ID: netA, VNI: 1001, MTU: 1450, Flood: []netip.Addr{cmp2, cmp1, ctl}, Entries: entries},
			`00:00:00:00:00:00 dev vxlan-1001 dst 198.18.0.102 self permanent
00:00:00:00:00:00 dev vxlan-1001 dst 198.18.0.103 self permanent
`},
		{"multicast group: one entry to the group, flood list ignored",
			dataplane.Network{ID: netA, VNI: 1001, Group: grp, Flood: []netip.Addr{cmp1}},
			"00:00:00:00:00:00 dev vxlan-1001 dst 239.1.1.1 self permanent\n"},
		{"l2population: flood list plus one entry per remote MAC",
			dataplane.Network{ID: netA, VNI: 1001, L2Pop: true, Group: grp, Flood: []netip.Addr{cmp1}, Entries: entries},
			`00:00:00:00:00:00 dev vxlan-1001 dst 198.18.0.102 self permanent
fa:16:3e:00:00:02 dev vxlan-1001 dst 198.18.0.103 self permanent
fa:16:3e:00:00:04 dev vxlan-1001 dst 198.18.0.102 self permanent
`},
		{"l2population with arp_responder: permanent neighbours too",
			dataplane.Network{ID: netA, VNI: 1001, L2Pop: true, ARPResponder: true, Flood: []netip.Addr{cmp1, cmp2}, Entries: entries},
			`00:00:00:00:00:00 dev vxlan-1001 dst 198.18.0.102 self permanent
00:00:00:00:00:00 dev vxlan-1001 dst 198.18.0.103 self permanent
fa:16:3e:00:00:02 dev vxlan-1001 dst 198.18.0.103 self permanent
fa:16:3e:00:00:04 dev vxlan-1001 dst 198.18.0.102 self permanent
192.168.1.2 dev vxlan-1001 lladdr fa:16:3e:00:00:02 PERMANENT
192.168.1.4 dev vxlan-1001 lladdr fa:16:3e:00:00:04 PERMANENT
`},
		{"arp_responder without l2population: nothing to answer from",
			dataplane.Network{ID: netA, VNI: 1001, ARPResponder: true, Flood: []netip.Addr{cmp1}, Entries: entries},
			"00:00:00:00:00:00 dev vxlan-1001 dst 198.18.0.102 self permanent\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := renderEntries(state(tt.net), opt); got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

// converged is the kernel as Apply leaves it for state(l2popNet).
func converged() kernelState {
	spec := vxlanSpec{VNI: 1001, Port: 4789, Local: ctl, Dev: "underlay", Learning: false, Proxy: true}
	return kernelState{
		Links: []link{
			{Name: "lo", Kind: "device", Up: true, MTU: 65536},
			{Name: "underlay", Kind: "veth", Up: true, MTU: 1500},
			{Name: brA, Kind: "bridge", Up: true, MTU: 1450},
			{Name: "vxlan-1001", Kind: "vxlan", Master: brA, Up: true, MTU: 1450, VXLAN: &spec},
			{Name: "tapf3d1a9ea-9a", Kind: "veth", Master: brA, Up: true, MTU: 1450},
		},
		FDB: []fdbEntry{
			{Dev: "vxlan-1001", MAC: zeroMAC, Dst: cmp1},
			{Dev: "vxlan-1001", MAC: zeroMAC, Dst: cmp2},
			{Dev: "vxlan-1001", MAC: "fa:16:3e:00:00:02", Dst: cmp2},
			{Dev: "vxlan-1001", MAC: "fa:16:3e:00:00:04", Dst: cmp1},
		},
		Neigh: []neighEntry{
			{Dev: "vxlan-1001", IP: netip.MustParseAddr("192.168.1.2"), MAC: "fa:16:3e:00:00:02"},
			{Dev: "vxlan-1001", IP: netip.MustParseAddr("192.168.1.4"), MAC: "fa:16:3e:00:00:04"},
		},
	}
}

var l2popNet = dataplane.Network{ID: netA, VNI: 1001, MTU: 1450, L2Pop: true, ARPResponder: true,
	Flood: []netip.Addr{cmp1, cmp2}, Entries: entries}

func TestPlan(t *testing.T) {
	bare := kernelState{Links: []link{
		{Name: "lo", Kind: "device", Up: true},
		{Name: "underlay", Kind: "veth", Up: true, MTU: 1500},
		{Name: "tapf3d1a9ea-9a", Kind: "veth", Up: true, MTU: 1500},
	}}
	mut := func(f func(*kernelState)) kernelState { k := converged(); f(&k); return k }
	tests := []struct {
		name string
		cur  kernelState
		want dataplane.NodeState
		ops  string
	}{
		{"from nothing: bridge, vxlan with explicit dstport, tap, entries", bare, state(l2popNet), `ip link add brq3f0e2b1c-9d type bridge mcast_snooping 0
ip link set brq3f0e2b1c-9d up
ip link add vxlan-1001 mtu 1450 type vxlan id 1001 dstport 4789 local 198.18.0.101 dev underlay ttl 0 tos 0 nolearning proxy
ip link set vxlan-1001 master brq3f0e2b1c-9d
ip link set vxlan-1001 up
ip link set tapf3d1a9ea-9a mtu 1450
ip link set tapf3d1a9ea-9a master brq3f0e2b1c-9d
bridge fdb append 00:00:00:00:00:00 dev vxlan-1001 dst 198.18.0.102 self permanent
bridge fdb append 00:00:00:00:00:00 dev vxlan-1001 dst 198.18.0.103 self permanent
bridge fdb append fa:16:3e:00:00:02 dev vxlan-1001 dst 198.18.0.103 self permanent
bridge fdb append fa:16:3e:00:00:04 dev vxlan-1001 dst 198.18.0.102 self permanent
ip neigh replace 192.168.1.2 lladdr fa:16:3e:00:00:02 dev vxlan-1001 nud permanent
ip neigh replace 192.168.1.4 lladdr fa:16:3e:00:00:04 dev vxlan-1001 nud permanent
`},
		{"converged: nothing to do", converged(), state(l2popNet), ""},
		{"UDP port 0 means 4789, still converged", converged(),
			func() dataplane.NodeState { s := state(l2popNet); s.UDPPort = 0; return s }(), ""},
		{"learned and foreign objects are not in the state and stay untouched",
			mut(func(k *kernelState) {
				k.Links = append(k.Links, link{Name: "br-other", Kind: "bridge"}, link{Name: "vxlan0", Kind: "vxlan"},
					link{Name: "brq-not-ours", Kind: "bridge"})
			}), state(l2popNet), ""},
		{"hand-deleted FDB entry and neighbour are restored",
			mut(func(k *kernelState) { k.FDB = k.FDB[1:]; k.Neigh = k.Neigh[:1] }), state(l2popNet),
			`bridge fdb append 00:00:00:00:00:00 dev vxlan-1001 dst 198.18.0.102 self permanent
ip neigh replace 192.168.1.4 lladdr fa:16:3e:00:00:04 dev vxlan-1001 nud permanent
`},
		{"VM on compute2 deleted: its MAC, IP and flood entry go",
			converged(), state(dataplane.Network{ID: netA, VNI: 1001, MTU: 1450, L2Pop: true, ARPResponder: true,
				Flood: []netip.Addr{cmp1}, Entries: entries[:1]}),
			`bridge fdb del 00:00:00:00:00:00 dev vxlan-1001 dst 198.18.0.103 self
bridge fdb del fa:16:3e:00:00:02 dev vxlan-1001 dst 198.18.0.103 self
ip neigh del 192.168.1.2 dev vxlan-1001
`},
		{"VM moved to another VTEP: replaced in place, new flood target first",
			converged(), state(dataplane.Network{ID: netA, VNI: 1001, MTU: 1450, L2Pop: true, ARPResponder: true,
				Flood: []netip.Addr{cmp1, cmp3}, Entries: []dataplane.Entry{entries[0],
					{MAC: "fa:16:3e:00:00:02", IP: netip.MustParseAddr("192.168.1.2"), VTEP: cmp3}}}),
			`bridge fdb append 00:00:00:00:00:00 dev vxlan-1001 dst 198.18.0.104 self permanent
bridge fdb replace fa:16:3e:00:00:02 dev vxlan-1001 dst 198.18.0.104 self permanent
bridge fdb del 00:00:00:00:00:00 dev vxlan-1001 dst 198.18.0.103 self
`},
		{"MTU changed: set in place, tap follows",
			converged(), state(func() dataplane.Network { n := l2popNet; n.MTU = 1400; return n }()),
			`ip link set vxlan-1001 mtu 1400
ip link set tapf3d1a9ea-9a mtu 1400
`},
		{"l2population switched off: device re-created (learning), entries go with it",
			converged(), state(dataplane.Network{ID: netA, VNI: 1001, MTU: 1450, Group: grp}),
			`ip link del vxlan-1001
ip link add vxlan-1001 mtu 1450 type vxlan id 1001 dstport 4789 local 198.18.0.101 group 239.1.1.1 dev underlay ttl 0 tos 0
ip link set vxlan-1001 master brq3f0e2b1c-9d
ip link set vxlan-1001 up
`},
		{"wrong dstport from an old run (kernel default 8472): re-created",
			mut(func(k *kernelState) {
				s := *k.Links[3].VXLAN
				s.Port = 8472
				k.Links[3].VXLAN = &s
				k.FDB, k.Neigh = nil, nil
			}),
			state(dataplane.Network{ID: netA, VNI: 1001, MTU: 1450, Flood: []netip.Addr{cmp1, cmp2}}),
			`ip link del vxlan-1001
ip link add vxlan-1001 mtu 1450 type vxlan id 1001 dstport 4789 local 198.18.0.101 dev underlay ttl 0 tos 0
ip link set vxlan-1001 master brq3f0e2b1c-9d
ip link set vxlan-1001 up
bridge fdb append 00:00:00:00:00:00 dev vxlan-1001 dst 198.18.0.102 self permanent
bridge fdb append 00:00:00:00:00:00 dev vxlan-1001 dst 198.18.0.103 self permanent
`},
		{"last port gone: network's devices removed, tap left alone",
			converged(), dataplane.NodeState{LocalIP: ctl, UDPPort: 4789},
			`ip link del vxlan-1001
ip link del brq3f0e2b1c-9d
`},
		{"stale devices of an earlier run removed, second network added",
			mut(func(k *kernelState) {
				k.Links = append(k.Links, link{Name: "vxlan-1999", Kind: "vxlan", VXLAN: &vxlanSpec{VNI: 1999}},
					link{Name: "brq99999999-99", Kind: "bridge"})
				k.FDB = append(k.FDB, fdbEntry{Dev: "vxlan-1999", MAC: zeroMAC, Dst: cmp3})
			}), state(l2popNet, dataplane.Network{ID: netB, VNI: 1002, MTU: 1450, Flood: []netip.Addr{cmp3}}),
			`ip link del vxlan-1999
ip link del brq99999999-99
ip link add brq88aa77bb-12 type bridge mcast_snooping 0
ip link set brq88aa77bb-12 up
ip link add vxlan-1002 mtu 1450 type vxlan id 1002 dstport 4789 local 198.18.0.101 dev underlay ttl 0 tos 0
ip link set vxlan-1002 master brq88aa77bb-12
ip link set vxlan-1002 up
bridge fdb append 00:00:00:00:00:00 dev vxlan-1002 dst 198.18.0.104 self permanent
`},
		{"group mode from nothing: the kernel's own group entry is not re-added",
			bare, state(dataplane.Network{ID: netA, VNI: 1001, MTU: 1450, Group: grp}),
			`ip link add brq3f0e2b1c-9d type bridge mcast_snooping 0
ip link set brq3f0e2b1c-9d up
ip link add vxlan-1001 mtu 1450 type vxlan id 1001 dstport 4789 local 198.18.0.101 group 239.1.1.1 dev underlay ttl 0 tos 0
ip link set vxlan-1001 master brq3f0e2b1c-9d
ip link set vxlan-1001 up
ip link set tapf3d1a9ea-9a mtu 1450
ip link set tapf3d1a9ea-9a master brq3f0e2b1c-9d
`},
		{"tap of a port moved to another network, tap of an unknown port detached",
			mut(func(k *kernelState) {
				k.Links = append(k.Links, link{Name: "tap4f63feaf-e9", Kind: "veth", Master: brA, Up: true, MTU: 1450})
			}),
			func() dataplane.NodeState {
				s := state(l2popNet, dataplane.Network{ID: netB, VNI: 1002, MTU: 1450, Flood: []netip.Addr{cmp3}})
				s.Ports[portR] = dataplane.LocalPort{ID: portR, NetworkID: netB}
				return s
			}(),
			`ip link add brq88aa77bb-12 type bridge mcast_snooping 0
ip link set brq88aa77bb-12 up
ip link add vxlan-1002 mtu 1450 type vxlan id 1002 dstport 4789 local 198.18.0.101 dev underlay ttl 0 tos 0
ip link set vxlan-1002 master brq88aa77bb-12
ip link set vxlan-1002 up
ip link set tap4f63feaf-e9 nomaster
ip link set tapf3d1a9ea-9a master brq88aa77bb-12
bridge fdb append 00:00:00:00:00:00 dev vxlan-1002 dst 198.18.0.104 self permanent
`},
		{"unicast MAC with an extra destination: only the extra one goes",
			mut(func(k *kernelState) {
				k.FDB = append(k.FDB, fdbEntry{Dev: "vxlan-1001", MAC: "fa:16:3e:00:00:04", Dst: cmp3})
			}), state(l2popNet),
			"bridge fdb del fa:16:3e:00:00:04 dev vxlan-1001 dst 198.18.0.104 self\n"},
		{"unicast MAC with several wrong destinations: all removed, ours added",
			mut(func(k *kernelState) {
				k.FDB[3].Dst = cmp3
				k.FDB = append(k.FDB, fdbEntry{Dev: "vxlan-1001", MAC: "fa:16:3e:00:00:04", Dst: cmp2})
			}), state(l2popNet),
			`bridge fdb del fa:16:3e:00:00:04 dev vxlan-1001 dst 198.18.0.103 self
bridge fdb del fa:16:3e:00:00:04 dev vxlan-1001 dst 198.18.0.104 self
bridge fdb append fa:16:3e:00:00:04 dev vxlan-1001 dst 198.18.0.102 self permanent
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := lines(plan(tt.cur, tt.want, opt)); got != tt.ops {
				t.Errorf("plan:\n%s\nwant:\n%s", got, tt.ops)
			}
		})
	}
}

func TestSubinterfaceName(t *testing.T) {
	for _, tc := range []struct {
		iface string
		vlan  uint16
		want  string
	}{
		{"eth1", 100, "eth1.100"},
		{"eth-physica", 100, "eth-physica.100"}, // 15 characters fit
		// Too long: Neutron keeps the start and appends sha1(iface)[:6]
		// (expected value computed with Python's hashlib).
		{"eth-physical0", 100, "eth-p9d1d15.100"},
	} {
		if got := SubinterfaceName(tc.iface, tc.vlan); got != tc.want || len(got) > 15 {
			t.Errorf("SubinterfaceName(%q, %d) = %q, want %q", tc.iface, tc.vlan, got, tc.want)
		}
	}
}

const (
	netV  = "5e5e5e5e-0000-4c55-8f21-6b0d9e4a7c33"
	netF  = "6f6f6f6f-0000-4c55-8f21-6b0d9e4a7c44"
	brV   = "brq5e5e5e5e-00"
	brF   = "brq6f6f6f6f-00"
	portP = "7a7a7a7a-0000-4b2c-8d3e-aa0000000002"
)

// providerKernel is a node with the physical interface eth1 (down) and
// the taps of portR (vlan network) and portP (flat network).
func providerKernel(extra ...link) kernelState {
	return kernelState{Links: append([]link{
		{Name: "lo", Kind: "device", Up: true},
		{Name: "eth1", Kind: "veth", MTU: 1500},
		{Name: TapName(portR), Kind: "veth", Up: true, MTU: 1500},
		{Name: TapName(portP), Kind: "veth", Up: true, MTU: 1500},
	}, extra...)}
}

func providerNodeState(nets ...dataplane.Network) dataplane.NodeState {
	s := dataplane.NodeState{Networks: map[string]dataplane.Network{}, Ports: map[string]dataplane.LocalPort{
		portR: {ID: portR, NetworkID: netV}, portP: {ID: portP, NetworkID: netF}}}
	for _, n := range nets {
		s.Networks[n.ID] = n
	}
	return s
}

var (
	vlanNet = dataplane.Network{ID: netV, Type: "vlan", MTU: 1500, PhysicalNetwork: "physnet1", VLAN: 100}
	flatNet = dataplane.Network{ID: netF, Type: "flat", MTU: 1500, PhysicalNetwork: "physnet1"}
	provOpt = options{Mappings: map[string]string{"physnet1": "eth1"}}
)

func TestPlanProvider(t *testing.T) {
	// Converged: eth1 up in the flat bridge, our eth1.100 in the vlan
	// bridge, each tap in its network's bridge.
	converged := kernelState{Links: []link{
		{Name: "lo", Kind: "device", Up: true},
		{Name: "eth1", Kind: "veth", MTU: 1500, Up: true, Master: brF},
		{Name: TapName(portR), Kind: "veth", Up: true, MTU: 1500, Master: brV},
		{Name: TapName(portP), Kind: "veth", Up: true, MTU: 1500, Master: brF},
		{Name: brV, Kind: "bridge", Up: true}, {Name: brF, Kind: "bridge", Up: true},
		{Name: "eth1.100", Kind: "vlan", Up: true, Master: brV, Alias: ownedAlias, VLAN: &vlanLink{Parent: "eth1", ID: 100}},
	}}
	without := func(k kernelState, name string) kernelState {
		k.Links = slices.DeleteFunc(slices.Clone(k.Links), func(l link) bool { return l.Name == name })
		return k
	}

	tests := []struct {
		name string
		cur  kernelState
		want dataplane.NodeState
		ops  string
	}{
		{"from nothing: a vlan network's bridge enslaves the subinterface it creates, a flat network's the interface",
			providerKernel(), providerNodeState(vlanNet, flatNet), `ip link add brq5e5e5e5e-00 type bridge mcast_snooping 0
ip link set brq5e5e5e5e-00 up
ip link set eth1 up
ip link add link eth1 name eth1.100 type vlan id 100; ip link set eth1.100 alias neutrino
ip link set eth1.100 master brq5e5e5e5e-00
ip link set eth1.100 up
ip link add brq6f6f6f6f-00 type bridge mcast_snooping 0
ip link set brq6f6f6f6f-00 up
ip link set eth1 master brq6f6f6f6f-00
ip link set tap7a7a7a7a-00 master brq6f6f6f6f-00
ip link set tapf3d1a9ea-9a master brq5e5e5e5e-00
`},
		{"converged: nothing to do", converged, providerNodeState(vlanNet, flatNet), ""},
		{"an operator's own eth1.100 (no alias) is used as it is",
			providerKernel(link{Name: "eth1.100", Kind: "vlan", Up: true, VLAN: &vlanLink{Parent: "eth1", ID: 100}}),
			providerNodeState(vlanNet), `ip link add brq5e5e5e5e-00 type bridge mcast_snooping 0
ip link set brq5e5e5e5e-00 up
ip link set eth1 up
ip link set eth1.100 master brq5e5e5e5e-00
ip link set tapf3d1a9ea-9a master brq5e5e5e5e-00
`},
		{"vlan network gone: its bridge and our subinterface are deleted; eth1 stays in the flat bridge",
			converged, providerNodeState(flatNet), `ip link del eth1.100
ip link del brq5e5e5e5e-00
`},
		{"flat network gone: its bridge goes, the interface is not deleted",
			converged, providerNodeState(vlanNet), `ip link del brq6f6f6f6f-00
`},
		{"the network moves to VLAN 200: the old subinterface goes, a new one comes",
			converged, providerNodeState(func() dataplane.Network { n := vlanNet; n.VLAN = 200; return n }(), flatNet),
			`ip link del eth1.100
ip link add link eth1 name eth1.200 type vlan id 200; ip link set eth1.200 alias neutrino
ip link set eth1.200 master brq5e5e5e5e-00
ip link set eth1.200 up
`},
		{"our subinterface with a wrong id is re-created",
			func() kernelState {
				k := without(converged, "eth1.100")
				k.Links = append(k.Links, link{Name: "eth1.100", Kind: "vlan", Up: true, Master: brV, Alias: ownedAlias, VLAN: &vlanLink{Parent: "eth1", ID: 101}})
				return k
			}(), providerNodeState(vlanNet, flatNet),
			`ip link del eth1.100
ip link add link eth1 name eth1.100 type vlan id 100; ip link set eth1.100 alias neutrino
ip link set eth1.100 master brq5e5e5e5e-00
ip link set eth1.100 up
`},
		{"unmapped physnet or missing interface: bridge only",
			without(providerKernel(), "eth1"), providerNodeState(vlanNet), `ip link add brq5e5e5e5e-00 type bridge mcast_snooping 0
ip link set brq5e5e5e5e-00 up
ip link set tapf3d1a9ea-9a master brq5e5e5e5e-00
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := lines(plan(tt.cur, tt.want, provOpt)); got != tt.ops {
				t.Errorf("plan:\n%s\nwant:\n%s", got, tt.ops)
			}
		})
	}
}

func TestProviderErrors(t *testing.T) {
	s := providerNodeState(vlanNet, flatNet, dataplane.Network{ID: "net-x", Type: "flat", PhysicalNetwork: "physnet9"})
	got := fmt.Sprint(providerErrors(providerKernel(), s, provOpt))
	if want := "[network net-x: physical network physnet9 is not in physical_interface_mappings]"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	k := providerKernel()
	k.Links = k.Links[:1]
	got = fmt.Sprint(providerErrors(k, providerNodeState(vlanNet), provOpt))
	if want := "[network " + netV + ": interface eth1 of physical network physnet1 does not exist]"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
