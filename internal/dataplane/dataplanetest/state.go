// Package dataplanetest builds NodeStates for data plane tests and
// benchmarks, so that a benchmark in the tree and the stand-alone bench
// program measure the same state.
package dataplanetest

import (
	"fmt"
	"net/netip"

	"neutrino/internal/dataplane"
)

// L2PopState is a node with nets networks and perNet remote ports each,
// spread over vteps remote VTEPs (198.18.1.x), ARP responder on: every
// entry is one table-20 and one table-21 flow in the OVS data plane.
func L2PopState(local netip.Addr, nets, perNet, vteps int) dataplane.NodeState {
	s := dataplane.NodeState{LocalIP: local, UDPPort: 4789, Networks: map[string]dataplane.Network{}}
	vtep := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 18, 1, byte(1 + i%vteps)}) }
	for v := range vteps {
		s.Tunnels = append(s.Tunnels, vtep(v))
	}
	for n := range nets {
		id := fmt.Sprintf("net-%04d", n)
		nt := dataplane.Network{ID: id, VNI: uint32(1000 + n), L2Pop: true, ARPResponder: true, Flood: s.Tunnels}
		for p := range perNet {
			k := n*perNet + p
			nt.Entries = append(nt.Entries, dataplane.Entry{
				MAC:  fmt.Sprintf("fa:16:3e:%02x:%02x:%02x", n, k>>8&0xff, k&0xff),
				IP:   netip.AddrFrom4([4]byte{10, byte(n), byte(k >> 8), byte(k)}),
				VTEP: vtep(k),
			})
		}
		s.Networks[id] = nt
	}
	return s
}
