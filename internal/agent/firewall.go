package agent

import (
	"net/netip"
	"strings"

	"neutrino/internal/dataplane"
	"neutrino/internal/secgroup"
)

// firewall maps the view's security-group part onto the data plane's
// Firewall for the attached ports: each port gets the union of its
// groups' rules and the list of its groups, whose rules are given once
// (Groups), remote groups are the ones those rules name. With the
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
		RemoteGroups: map[string][]netip.Prefix{}, Groups: map[string][]dataplane.Rule{}, VTEPs: fw.VTEPs}
	// Ports in the same groups get the same rules: the union is computed
	// once per distinct group list and its slice shared (data planes never
	// change a filter's slices), so a pass costs O(ports + groups x rules),
	// not O(ports x rules) with a sort per port.
	type union struct {
		rules    []dataplane.Rule
		stateful bool
	}
	unions := map[string]union{}
	for id, lp := range ports {
		p, ok := fw.Ports[id]
		if !ok {
			continue
		}
		key := strings.Join(p.Groups, "\x00")
		u, ok := unions[key]
		if !ok {
			rules, stateful, _ := fw.Filter(id)
			u = union{stateful: stateful}
			for _, r := range rules {
				u.rules = append(u.rules, dataplane.Rule(r))
				if r.RemoteGroup != "" {
					out.RemoteGroups[r.RemoteGroup] = fw.Remote[r.RemoteGroup]
				}
			}
			unions[key] = u
		}
		pf := dataplane.PortFilter{PortID: id, NetworkID: lp.NetworkID, MAC: p.MAC, PortSecurity: p.PortSecurity, Stateful: u.stateful, Rules: u.rules, Groups: p.Groups}
		for _, g := range p.Groups {
			if _, ok := out.Groups[g]; !ok {
				rules := make([]dataplane.Rule, len(fw.Groups[g].Rules))
				for i, r := range fw.Groups[g].Rules {
					rules[i] = dataplane.Rule(r)
				}
				out.Groups[g] = rules
			}
		}
		if len(p.Allowed) > 0 {
			pf.Allowed = make([]dataplane.AllowedAddress, len(p.Allowed))
			for i, a := range p.Allowed {
				pf.Allowed[i] = dataplane.AllowedAddress(a)
			}
		}
		out.Ports[id] = pf
	}
	return out
}
