package linux

import (
	"net/netip"
	"testing"

	"neutrino/internal/dataplane"
	"neutrino/internal/dataplane/dataplanetest"
)

// A kernel holding exactly what the plan builds reads back as the facts
// the state expects; an FDB entry deleted by hand is reported missing.
func TestObservedFactsRoundTrip(t *testing.T) {
	s := dataplanetest.L2PopState(netip.MustParseAddr("198.18.0.1"), 2, 3, 2)
	// Neutron's ids are UUIDs: bridges are brq + 11 characters.
	nets := map[string]dataplane.Network{}
	for id, n := range s.Networks {
		n.ID = id + "-0000-4000"
		nets[n.ID] = n
	}
	s.Networks = nets
	s.Ports = map[string]dataplane.LocalPort{"port-a-0123456789": {ID: "port-a-0123456789", NetworkID: "net-0001-0000-4000"}}
	var k kernelState
	for _, p := range desiredNetworks(s, options{}) {
		k.Links = append(k.Links, link{Name: p.Bridge, Kind: "bridge", Up: true},
			link{Name: p.VXLAN, Kind: "vxlan", Master: p.Bridge, Up: true, VXLAN: &p.Spec})
		k.FDB = append(k.FDB, p.FDB...)
		k.Neigh = append(k.Neigh, p.Neigh...)
	}
	k.Links = append(k.Links, link{Name: TapName("port-a-0123456789"), Kind: "tun", Master: BridgeName("net-0001-0000-4000"), Up: true})
	want := dataplane.Expected(s, false)
	if d := dataplane.Compare(want, observed(k)); len(d) != 0 {
		t.Fatalf("read back differs: %v", d)
	}
	var unicast int
	for i, e := range k.FDB {
		if e.MAC != zeroMAC {
			unicast = i
			break
		}
	}
	k.FDB = append(k.FDB[:unicast], k.FDB[unicast+1:]...)
	d := dataplane.Compare(want, observed(k))
	if len(d) != 1 || d[0].Kind != "missing" || d[0].Want.Kind != dataplane.FactUnicast {
		t.Fatalf("after deleting an FDB entry: %v", d)
	}
}
