package agent

import (
	"fmt"
	"net/netip"
	"testing"

	"neutrino/internal/dataplane"
	"neutrino/internal/l2pop"
	"neutrino/internal/neutron"
	"neutrino/internal/secgroup"
)

// sgView is host A of bench/secgroups: n ports in group web, whose rules
// admit the members of group members (m addresses on other hosts), all on
// one network whose entries hold every port.
func sgView(n, m int) (l2pop.View, []dataplane.Device) {
	v := l2pop.View{Host: "a", LocalIP: netip.MustParseAddr("198.18.0.1"), L2Pop: true,
		Networks: map[string]l2pop.NetView{}, Ports: map[string]l2pop.LocalPort{},
		Firewall: secgroup.Firewall{Ports: map[string]secgroup.Port{}, Groups: map[string]secgroup.Group{}, Remote: map[string][]netip.Prefix{}}}
	nv := l2pop.NetView{ID: "net", NetHeader: l2pop.NetHeader{Type: "vxlan", VNI: 1001, MTU: 1450}}
	var devs []dataplane.Device
	for i := range n {
		id := fmt.Sprintf("port-%05d", i)
		mac := fmt.Sprintf("fa:16:3e:00:%02x:%02x", i>>8, i&0xff)
		ip := netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
		v.Ports[id] = l2pop.LocalPort{ID: id, NetworkID: "net", MAC: mac, Status: neutron.StatusActive}
		v.Firewall.Ports[id] = secgroup.Port{ID: id, MAC: mac, PortSecurity: true, Groups: []string{"web"},
			Allowed: []secgroup.AllowedAddress{{MAC: mac, Prefix: netip.PrefixFrom(ip, 32)}}}
		devs = append(devs, dataplane.Device{PortID: id, Name: "tap" + id[:8], MAC: mac, Up: true})
	}
	var members []netip.Prefix
	for i := range m {
		ip := netip.AddrFrom4([4]byte{10, 2, byte(i >> 8), byte(i)})
		members = append(members, netip.PrefixFrom(ip, 32))
		nv.Entries = append(nv.Entries, l2pop.Entry{MAC: fmt.Sprintf("fa:16:3e:01:%02x:%02x", i>>8, i&0xff), IP: ip, VTEP: netip.MustParseAddr("198.18.0.2")})
	}
	nv.Flood = []netip.Addr{netip.MustParseAddr("198.18.0.2")}
	v.Networks["net"] = nv
	v.Tunnels = nv.Flood
	v.Firewall.Groups["web"] = secgroup.Group{Stateful: true, Rules: []secgroup.Rule{
		{Direction: "egress", Ethertype: "IPv4"}, {Direction: "egress", Ethertype: "IPv6"},
		{Direction: "ingress", Ethertype: "IPv4", RemoteGroup: "members"}}}
	v.Firewall.Remote["members"] = members
	return v, devs
}

// BenchmarkPassPlan is the agent's in-process work for one member joining
// the remote group on a node with n ports: apply the delta to the view,
// derive the desired node state, list the reports owed.
//
//	go test ./internal/agent -run '^$' -bench PassPlan
func BenchmarkPassPlan(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("ports=%d", n), func(b *testing.B) {
			v, devs := sgView(n, 2000)
			s := Settings{Kind: KindOVS, FirewallDriver: "openvswitch", UDPPort: 4789}
			join := netip.MustParsePrefix("10.3.0.1/32")
			i := 0
			for b.Loop() {
				d := l2pop.Delta{Firewall: secgroup.Delta{Remote: []secgroup.RemoteDelta{{ID: "members"}}}}
				if i%2 == 0 {
					d.Firewall.Remote[0].Add = []netip.Prefix{join}
				} else {
					d.Firewall.Remote[0].Del = []netip.Prefix{join}
				}
				i++
				nv, err := v.Apply(d)
				if err != nil {
					b.Fatal(err)
				}
				v = nv
				st := Desired(v, s, devs)
				if len(st.Firewall.Ports) != n {
					b.Fatalf("%d filtered ports, want %d", len(st.Firewall.Ports), n)
				}
				if r := PendingReports(v, devs); len(r) != 0 {
					b.Fatalf("reports %v", r)
				}
			}
		})
	}
}
