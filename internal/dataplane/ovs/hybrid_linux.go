package ovs

import (
	"context"
	"log/slog"

	"neutrino/internal/dataplane"
	"neutrino/internal/dataplane/nftfw"
)

type nftPorts struct{ a *nftfw.Applier }

func newPortFirewall(netns string, log *slog.Logger) portFirewall {
	return nftPorts{nftfw.NewApplier(netns, log)}
}

func (n nftPorts) apply(ctx context.Context, s dataplane.NodeState) (int, error) {
	res, err := n.a.Apply(ctx, hybridInput(s))
	return res.Cost, err
}

func (n nftPorts) resync() { n.a.Resync() }

// hybridInput is the nftables firewall's input for s: every port's tap on
// its qbr bridge (a tap not plugged yet is named all the same; its rules
// match by name). A driver other than iptables_hybrid filters no port
// (nftfw.Filtering), which removes what an earlier hybrid run installed.
// The underlay part (VXLAN only from Firewall.VTEPs) is the nftables
// input filter: it sees VXLAN with the kernel datapath; with the
// userspace datapath ovs-vswitchd decapsulates before netfilter and only
// for the VTEPs it has tunnel ports to (TestOVSUnderlaySpoofedVXLAN).
func hybridInput(s dataplane.NodeState) nftfw.Input {
	in := nftfw.Input{Firewall: s.Firewall, Ifaces: map[string]nftfw.Iface{}, VXLANPort: s.UDPPort}
	if in.VXLANPort == 0 {
		in.VXLANPort = 4789
	}
	for id := range s.Firewall.Ports {
		qbr, tap, _, _ := HybridNames(id)
		in.Ifaces[id] = nftfw.Iface{Name: tap, Bridge: qbr}
	}
	return in
}
