package ovs

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"neutrino/internal/dataplane"
	"neutrino/internal/dataplane/dataplanetest"
)

// sortedLines is a plan as sorted lines, for comparison with Diff.
func sortedLines(p Plan) []string {
	l := slices.Clone(p.Lines())
	slices.Sort(l)
	return l
}

// TestDiffSetsEqualsReadBack: for random changes of a node's state, the
// incremental plan (diffSets against what was installed) is exactly the
// plan Diff computes against a switch that holds what was installed, and
// networks whose inputs did not change are reused without being recomputed.
func TestDiffSetsEqualsReadBack(t *testing.T) {
	const cookie = 0x5
	local := netip.MustParseAddr("198.18.0.1")
	rng := rand.New(rand.NewPCG(1, 2))
	s := dataplanetest.L2PopState(local, 4, 20, 5)
	l := Layout{Cookie: cookie, PatchInt: 1, Tunnels: map[netip.Addr]int{}, LVIDs: map[string]int{}}
	for i, v := range s.Tunnels {
		l.Tunnels[v] = 2 + i
	}
	for i, id := range slices.Sorted(maps.Keys(s.Networks)) {
		l.LVIDs[id] = 1 + i
	}
	cur := tunFlowSet(s, l, nil)
	for step := range 300 {
		next := cloneState(s)
		nl := Layout{Cookie: cookie, PatchInt: 1, Tunnels: l.Tunnels, LVIDs: maps.Clone(l.LVIDs)}
		ids := slices.Sorted(maps.Keys(next.Networks))
		id := ids[rng.IntN(len(ids))]
		n := next.Networks[id]
		what := rng.IntN(8)
		switch what {
		case 0: // change one entry's MAC
			if len(n.Entries) > 0 {
				n.Entries[rng.IntN(len(n.Entries))].MAC = fmt.Sprintf("fa:16:3e:aa:%02x:%02x", step>>8, step&0xff)
			}
		case 1: // move an entry to another VTEP
			if len(n.Entries) > 0 {
				n.Entries[rng.IntN(len(n.Entries))].VTEP = s.Tunnels[rng.IntN(len(s.Tunnels))]
			}
		case 2: // remove an entry
			if len(n.Entries) > 0 {
				k := rng.IntN(len(n.Entries))
				n.Entries = slices.Delete(n.Entries, k, k+1)
			}
		case 3: // add an entry
			n.Entries = append(n.Entries, dataplane.Entry{MAC: fmt.Sprintf("fa:16:3e:bb:%02x:%02x", step>>8, step&0xff),
				IP: netip.AddrFrom4([4]byte{10, 200, byte(step >> 8), byte(step)}), VTEP: s.Tunnels[rng.IntN(len(s.Tunnels))]})
		case 4: // ARP responder toggled
			n.ARPResponder = !n.ARPResponder
		case 5: // network gone, a new one takes its lvid
			delete(next.Networks, id)
			nid := fmt.Sprintf("new-%04d", step)
			n.ID, n.VNI = nid, uint32(5000+step)
			next.Networks[nid] = n
			nl.LVIDs[nid] = nl.LVIDs[id]
			delete(nl.LVIDs, id)
			id = nid
		case 6: // flood list shrinks
			if len(n.Flood) > 1 {
				n.Flood = n.Flood[1:]
			}
		case 7: // nothing changes
		}
		if what != 5 {
			next.Networks[id] = n
		}
		want := tunFlowSet(next, nl, cur)
		got := sortedLines(diffSets(cur, want, cookie))
		ref := sortedLines(Diff(want.all(), cur.all(), cookie))
		if !slices.Equal(got, ref) {
			t.Fatalf("step %d (change %d): incremental plan\n%q\nread-back plan\n%q", step, what, got, ref)
		}
		if render(want.all()) != render(TunFlows(next, nl)) {
			t.Fatalf("step %d: reused set differs from a fresh computation", step)
		}
		for oid, g := range want.groups {
			if oid != "" && oid != id && g != cur.groups[oid] {
				t.Fatalf("step %d: unchanged network %s recomputed", step, oid)
			}
		}
		s, l, cur = next, nl, want
	}
}

// TestDiffSetsTunnelChange: a new tunnel port changes every network's
// layout, so every group is recomputed, and the plan still equals the
// read-back plan.
func TestDiffSetsTunnelChange(t *testing.T) {
	s, l := node1State()
	cur := tunFlowSet(s, l, nil)
	s.Tunnels = append(s.Tunnels, vtep3)
	n := s.Networks["net"]
	n.Flood = append(slices.Clone(n.Flood), vtep3)
	n.Entries = append(slices.Clone(n.Entries), dataplane.Entry{MAC: "fa:16:3e:00:00:33", IP: netip.MustParseAddr("192.168.77.33"), VTEP: vtep3})
	s.Networks["net"] = n
	l2 := l
	l2.Tunnels = map[netip.Addr]int{vtep2: 2, vtep3: 3}
	want := tunFlowSet(s, l2, cur)
	got, ref := sortedLines(diffSets(cur, want, refCookie)), sortedLines(Diff(want.all(), cur.all(), refCookie))
	if !slices.Equal(got, ref) || len(got) == 0 {
		t.Fatalf("incremental plan\n%q\nread-back plan\n%q", got, ref)
	}
	if p := diffSets(want, tunFlowSet(s, l2, want), refCookie); !p.Empty() {
		t.Errorf("same state again: %q", p.Lines())
	}
}

func cloneState(s dataplane.NodeState) dataplane.NodeState {
	out := s
	out.Networks = map[string]dataplane.Network{}
	for id, n := range s.Networks {
		n.Entries = slices.Clone(n.Entries)
		n.Flood = slices.Clone(n.Flood)
		out.Networks[id] = n
	}
	return out
}

// BenchmarkOneEntryPlan is the in-process part of a one-entry change on a
// node holding N entries (networks of 1,000): tunnels wanted, br-tun's flow
// set from the record, and the plan. It should not grow with N.
//
//	go test ./internal/dataplane/ovs -run '^$' -bench OneEntryPlan
func BenchmarkOneEntryPlan(b *testing.B) {
	for _, n := range []int{1000, 10000, 50000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			s := dataplanetest.L2PopState(netip.MustParseAddr("198.18.0.1"), n/1000, 1000, 50)
			l := Layout{Cookie: 5, PatchInt: 1, Tunnels: map[netip.Addr]int{}, LVIDs: map[string]int{}}
			for i, v := range s.Tunnels {
				l.Tunnels[v] = 2 + i
			}
			for i, id := range slices.Sorted(maps.Keys(s.Networks)) {
				l.LVIDs[id] = 1 + i
			}
			cur := tunFlowSet(s, l, nil)
			i := 0
			for b.Loop() {
				net := s.Networks["net-0000"]
				net.Entries = slices.Clone(net.Entries)
				net.Entries[0].MAC = fmt.Sprintf("fa:16:3e:fe:%02x:%02x", i>>8&0xff, i&0xff)
				s.Networks["net-0000"] = net
				i++
				if _, err := wantedTunnels(s); err != nil {
					b.Fatal(err)
				}
				want := tunFlowSet(s, l, cur)
				if p := diffSets(cur, want, 5); len(p.Adds) != 2 || len(p.Deletes) != 1 {
					b.Fatalf("plan %q", p.Lines())
				}
				cur = want
			}
		})
	}
}
