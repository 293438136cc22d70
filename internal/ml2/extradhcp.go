package ml2

import (
	"neutrino/internal/neutron"
)

// extraDHCPOpts applies the extra_dhcp_opts entries of a port body to the
// port's options cur, as Neutron's extra_dhcp_opt does. An option is keyed
// by (opt_name, ip_version). On create every entry with a value is added
// (an entry without one is skipped) and a key given twice is a conflict,
// as Neutron's unique (port, opt_name, ip_version) is. On update an entry
// changes only its own option: a value replaces it or adds it, null
// removes it; options the body does not name stay, so [] changes nothing.
func extraDHCPOpts(portID string, cur []neutron.ExtraDHCPOpt, reqs []neutron.ExtraDHCPOptRequest, create bool) ([]neutron.ExtraDHCPOpt, error) {
	out := append([]neutron.ExtraDHCPOpt{}, cur...)
	for _, r := range reqs {
		i := indexOfDHCPOpt(out, r.OptName, r.IPVersion)
		switch {
		case create && r.OptValue == nil:
		case create && i >= 0:
			return nil, neutron.Conflict("NeutronDbObjectDuplicateEntry",
				"Failed to create a duplicate ExtraDhcpOpt: for attribute(s) ['port_id', 'opt_name', 'ip_version'] with value(s) %s-%s-%d",
				portID, r.OptName, r.IPVersion)
		case r.OptValue == nil && i >= 0:
			out = append(out[:i], out[i+1:]...)
		case r.OptValue == nil:
			// Removing an option the port does not have: nothing to do.
		case i >= 0:
			out[i].OptValue = *r.OptValue
		default:
			out = append(out, neutron.ExtraDHCPOpt{OptName: r.OptName, OptValue: *r.OptValue, IPVersion: r.IPVersion})
		}
	}
	return out, nil
}

func indexOfDHCPOpt(l []neutron.ExtraDHCPOpt, name string, version int) int {
	for i, o := range l {
		if o.OptName == name && o.IPVersion == version {
			return i
		}
	}
	return -1
}
