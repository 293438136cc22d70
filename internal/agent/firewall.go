package agent

import (
	"net/netip"

	"neutrino/internal/dataplane"
	"neutrino/internal/secgroup"
)

// firewall maps the view's security-group part onto the data plane's
// Firewall for the attached ports: each port gets the union of its
// groups' rules, remote groups are the ones those rules name. With the
// noop driver no port is filtered, but the underlay still is: VXLAN only
// from the VTEPs the server knows. Neutron has no underlay filter at all
// (its Linux bridge data plane decapsulates VXLAN from any source), so
// there is no Neutron behaviour to keep; accepting forged tenant frames
// because security groups are off would tie two unrelated things. Slices
// are shared with the view, which never changes them in place.
func firewall(fw secgroup.Firewall, driver string, ports map[string]dataplane.LocalPort) dataplane.Firewall {
	if driver == "" || driver == "noop" {
		return dataplane.Firewall{Driver: "noop", VTEPs: fw.VTEPs}
	}
	out := dataplane.Firewall{Driver: driver, Ports: make(map[string]dataplane.PortFilter, len(ports)),
		RemoteGroups: map[string][]netip.Prefix{}, VTEPs: fw.VTEPs}
	for id, lp := range ports {
		p, ok := fw.Ports[id]
		if !ok {
			continue
		}
		rules, stateful, _ := fw.Filter(id)
		pf := dataplane.PortFilter{PortID: id, NetworkID: lp.NetworkID, MAC: p.MAC, PortSecurity: p.PortSecurity, Stateful: stateful}
		for _, a := range p.Allowed {
			pf.Allowed = append(pf.Allowed, dataplane.AllowedAddress(a))
		}
		for _, r := range rules {
			pf.Rules = append(pf.Rules, dataplane.Rule(r))
			if r.RemoteGroup != "" {
				out.RemoteGroups[r.RemoteGroup] = fw.Remote[r.RemoteGroup]
			}
		}
		out.Ports[id] = pf
	}
	return out
}
