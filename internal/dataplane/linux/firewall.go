package linux

import (
	"neutrino/internal/dataplane"
	"neutrino/internal/dataplane/nftfw"
)

// firewallInput is what the nftables firewall must enforce for desired:
// each filtered port's tap on its network's bridge. A tap that is not
// there yet is named all the same: its rules match by name, so they are
// in place before Nova plugs it.
func firewallInput(desired dataplane.NodeState) nftfw.Input {
	in := nftfw.Input{Firewall: desired.Firewall, Ifaces: map[string]nftfw.Iface{}, VXLANPort: desired.UDPPort}
	for id, f := range desired.Firewall.Ports {
		netID := f.NetworkID
		if p, ok := desired.Ports[id]; ok && p.NetworkID != "" {
			netID = p.NetworkID
		}
		in.Ifaces[id] = nftfw.Iface{Name: TapName(id), Bridge: BridgeName(netID)}
	}
	return in
}
