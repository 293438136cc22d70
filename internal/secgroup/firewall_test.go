package secgroup

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"neutrino/internal/sortedset"
)

func randFirewall(r *rand.Rand) Firewall {
	f := Firewall{Ports: map[string]Port{}, Groups: map[string]Group{}, Remote: map[string][]netip.Prefix{}}
	for i := range r.IntN(4) {
		f.VTEPs = append(f.VTEPs, netip.AddrFrom4([4]byte{198, 18, 0, byte(1 + r.IntN(3) + i*3)}))
	}
	f.VTEPs = sortedset.Unique(f.VTEPs, compareAddr)
	for range r.IntN(4) {
		id := fmt.Sprintf("p%d", r.IntN(5))
		p := Port{ID: id, MAC: "fa:16:3e:00:00:0" + id[1:], PortSecurity: r.IntN(3) != 0}
		for range r.IntN(3) {
			p.Groups = append(p.Groups, fmt.Sprintf("g%d", r.IntN(3)))
			p.Allowed = append(p.Allowed, AllowedAddress{MAC: p.MAC, Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(r.IntN(4))}), 32)})
		}
		p.Groups = sortedset.Unique(p.Groups, strings.Compare)
		p.Allowed = sortedset.Unique(p.Allowed, CompareAllowed)
		f.Ports[id] = p
	}
	for range r.IntN(4) {
		g := Group{Stateful: r.IntN(2) == 0}
		for range r.IntN(4) {
			g.Rules = append(g.Rules, Rule{Direction: []string{Ingress, Egress}[r.IntN(2)], Ethertype: IPv4, Protocol: uint8(r.IntN(3) * 6), PortMin: r.IntN(3), PortMax: 3, RemoteGroup: fmt.Sprintf("g%d", r.IntN(3))})
		}
		g.Rules = sortedset.Unique(g.Rules, CompareRules)
		f.Groups[fmt.Sprintf("g%d", r.IntN(3))] = g
	}
	for range r.IntN(4) {
		var m []netip.Prefix
		for range r.IntN(5) {
			m = append(m, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, 1, byte(r.IntN(8))}), 32))
		}
		f.Remote[fmt.Sprintf("g%d", r.IntN(3))] = sortedset.Unique(m, ComparePrefix)
	}
	return f
}

// TestDiffApply: applying Diff(a, b) to a gives b, for random pairs.
func TestDiffApply(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 13))
	for n := range 2000 {
		a, b := randFirewall(r), randFirewall(r)
		got, err := a.Apply(Diff(a, b))
		if err != nil || !got.Equal(b) {
			t.Fatalf("case %d: apply(diff) = %v\n%s\nwant\n%s\ndelta\n%s", n, err, got, b, Diff(a, b))
		}
		if d := Diff(b, b); !d.Empty() {
			t.Fatalf("case %d: Diff(b, b) not empty: %s", n, d)
		}
	}
}

// TestMemberChangeIsOneElement: one member joining a 2,000-member remote
// group is a one-item delta.
func TestMemberChangeIsOneElement(t *testing.T) {
	var members []netip.Prefix
	for i := range 2000 {
		members = append(members, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 1, byte(i / 256), byte(i % 256)}), 32))
	}
	a := Firewall{Remote: map[string][]netip.Prefix{"g": members}}
	b := a.Clone()
	b.Remote["g"] = sortedset.Unique(append(append([]netip.Prefix(nil), members...), netip.MustParsePrefix("10.2.0.1/32")), ComparePrefix)
	d := Diff(a, b)
	if d.Size() != 2 || d.String() != "remote g\n  +member 10.2.0.1/32\n" {
		t.Errorf("delta (size %d):\n%s", d.Size(), d)
	}
}

func TestFilterUnion(t *testing.T) {
	rIn := Rule{Direction: Ingress, Ethertype: IPv4, Protocol: 6, PortMin: 22, PortMax: 22}
	rOut := Rule{Direction: Egress, Ethertype: IPv4}
	f := Firewall{
		Ports:  map[string]Port{"p": {ID: "p", PortSecurity: true, Groups: []string{"a", "b"}}, "q": {ID: "q"}},
		Groups: map[string]Group{"a": {Stateful: false, Rules: []Rule{rIn, rOut}}, "b": {Stateful: true, Rules: []Rule{rOut}}},
	}
	rules, stateful, ok := f.Filter("p")
	if !ok || !stateful || len(rules) != 2 {
		t.Errorf("Filter(p) = %v %v %v", rules, stateful, ok)
	}
	if _, _, ok := f.Filter("missing"); ok {
		t.Error("Filter of an unknown port is ok")
	}
	if rules, stateful, ok := f.Filter("q"); !ok || len(rules) != 0 || !stateful {
		t.Errorf("Filter(q) = %v %v %v", rules, stateful, ok)
	}
}
