package linux_test

import (
	"slices"
	"strings"
	"testing"

	"neutrino/internal/dataplane"
	"neutrino/internal/dataplane/linux"
	"neutrino/internal/dataplane/nftfw"
)

// TestFirewallDifferences: a node's firewall as the agent applied it has
// no difference; a rule set changed behind it, a rules chain flushed by
// hand, a remote-group member missing from the kernel's set each show (the
// audit bench/chaos runs after every fault).
func TestFirewallDifferences(t *testing.T) {
	s := newSGTopo(t, "compute1", "compute2")
	n := s.addNet(1001, "192.168.1.0/24")
	s.rules["default"] = append(slices.Clone(egressAll),
		dataplane.Rule{Direction: "ingress", Ethertype: "IPv4", RemoteGroup: "default"})
	a1 := s.boot("a1", "compute1", n, 11, "default")
	s.boot("a2", "compute2", n, 12, "default")
	s.apply()
	ns := s.lab.Node("compute1").NS
	state := func() dataplane.NodeState {
		st := s.desired("compute1")
		st.Firewall = s.firewall("compute1")
		return st
	}
	diffs := func() []string {
		t.Helper()
		d, err := linux.FirewallDifferences(ns, state())
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if d := diffs(); len(d) != 0 {
		t.Fatalf("differences right after Apply: %q", d)
	}

	// The desired rules change but the kernel still has the old ones.
	s.rules["default"] = append(s.rules["default"], pingAny)
	if d := diffs(); len(d) == 0 {
		t.Error("a rule the kernel lacks is no difference")
	}
	s.apply()
	if d := diffs(); len(d) != 0 {
		t.Fatalf("differences after applying the new rule: %q", d)
	}

	// A rules chain flushed behind the agent's back.
	chain := s.rulesChain(a1, "ingress")
	s.nft("compute1", "flush", "chain", "inet", nftfw.TableName, chain)
	if d := diffs(); !slices.ContainsFunc(d, func(l string) bool { return strings.Contains(l, chain) }) {
		t.Errorf("flushed chain %s: differences %q", chain, d)
	}
	s.dps["compute1"].Resync() // its record still says in step
	s.apply()
	if d := diffs(); len(d) != 0 {
		t.Fatalf("differences after a resync: %q", d)
	}

	// A member of the remote group gone from the kernel's set.
	set := nftfw.RemoteSetName("default", false)
	s.nft("compute1", "delete", "element", "inet", nftfw.TableName, set, "{ 192.168.1.12 }")
	if d := diffs(); !slices.ContainsFunc(d, func(l string) bool { return strings.Contains(l, set) && strings.Contains(l, "192.168.1.12") }) {
		t.Errorf("member removed from %s: differences %q", set, d)
	}
}
