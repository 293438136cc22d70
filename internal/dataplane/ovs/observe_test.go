package ovs

import (
	"fmt"
	"net/netip"
	"testing"

	"neutrino/internal/dataplane"
	"neutrino/internal/dataplane/dataplanetest"
)

// What TunFlows programs reads back as exactly the facts the state
// expects; a flow removed by hand is reported missing.
func TestObservedFactsRoundTrip(t *testing.T) {
	s := dataplanetest.L2PopState(netip.MustParseAddr("198.18.0.1"), 3, 4, 3)
	s.Ports = map[string]dataplane.LocalPort{"port-a-0123456789": {ID: "port-a-0123456789", NetworkID: "net-0001"}}
	l := Layout{Cookie: 7, PatchInt: 1, Tunnels: map[netip.Addr]int{}, LVIDs: map[string]int{}}
	var sw switchState
	for i, ip := range s.Tunnels {
		l.Tunnels[ip] = 10 + i
		sw.tunnels = append(sw.tunnels, tunnelPort{name: fmt.Sprint("t", i), ofport: 10 + i, remote: ip})
	}
	for i, id := range []string{"net-0000", "net-0001", "net-0002"} {
		l.LVIDs[id] = i + 1
	}
	sw.vmPorts = []vmPort{{id: "port-a-0123456789", tag: 2}}
	sw.flows = TunFlows(s, l)
	want := dataplane.Expected(s, true)
	if d := dataplane.Compare(want, sw.facts()); len(d) != 0 {
		t.Fatalf("read back differs: %v", d)
	}
	// Drop one table 20 flow and one tunnel port.
	var cut []Flow
	dropped := false
	for _, f := range sw.flows {
		if !dropped && f.Table == tunUcastToTun && f.Priority == 2 {
			dropped = true
			continue
		}
		cut = append(cut, f)
	}
	sw.flows = cut
	d := dataplane.Compare(want, sw.facts())
	if len(d) != 1 || d[0].Kind != "missing" || d[0].Want.Kind != dataplane.FactUnicast {
		t.Fatalf("after removing a table 20 flow: %v", d)
	}
}
