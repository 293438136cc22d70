package l2pop

import (
	"slices"
	"testing"

	"neutrino/internal/neutron"
)

// The security-group rows of the test world, as ml2 logs them.

func (w *world) group(id string, stateful bool) neutron.Change {
	g, had := w.groups[id]
	g.ID, g.Stateful = id, stateful
	w.groups[id] = g
	return w.change(neutron.KindSecurityGroup, id, op(had), g)
}

func (w *world) deleteGroup(id string) []neutron.Change {
	var cs []neutron.Change
	for _, r := range w.groups[id].Rules {
		cs = append(cs, w.deleteRule(r.ID))
	}
	delete(w.groups, id)
	return append(cs, w.change(neutron.KindSecurityGroup, id, "delete", nil))
}

// rule adds a rule: proto "" = any, remote "" = none.
func (w *world) rule(id, group, dir, ether, proto string, port int, remote string) neutron.Change {
	r := neutron.SecurityGroupRule{ID: id, SecurityGroupID: group, Direction: dir, Ethertype: ether}
	if proto != "" {
		r.Protocol = &proto
	}
	if port != 0 {
		r.PortRangeMin, r.PortRangeMax = &port, &port
	}
	if remote != "" {
		r.RemoteGroupID = &remote
	}
	g := w.groups[group]
	g.Rules = append(slices.Clone(g.Rules), r)
	w.groups[group] = g
	return w.change(neutron.KindSecurityGroupRule, id, "create", r)
}

func (w *world) deleteRule(id string) neutron.Change {
	for gid, g := range w.groups {
		g.Rules = slices.DeleteFunc(slices.Clone(g.Rules), func(r neutron.SecurityGroupRule) bool { return r.ID == id })
		w.groups[gid] = g
	}
	return w.change(neutron.KindSecurityGroupRule, id, "delete", nil)
}

// secure sets a port's port security, groups and address pairs.
func (w *world) secure(id string, portSecurity bool, pairs []string, groups ...string) neutron.Change {
	p := w.ports[id]
	p.PortSecurityEnabled, p.SecurityGroups = portSecurity, groups
	p.AllowedAddressPairs = nil
	for _, a := range pairs {
		p.AllowedAddressPairs = append(p.AllowedAddressPairs, neutron.AddressPair{IPAddress: a})
	}
	w.ports[id] = p
	return w.change("port", id, "update", p)
}

func sgScenario(w *world) []namedStep {
	return []namedStep{
		s("seed with a default group: egress anywhere, ingress from the group",
			flat(seed(w, true), []neutron.Change{
				w.group("sg-def", true),
				w.rule("r-e4", "sg-def", "egress", "IPv4", "", 0, ""),
				w.rule("r-i4", "sg-def", "ingress", "IPv4", "", 0, "sg-def"),
				w.secure("vm-a", true, nil, "sg-def"),
				w.secure("vm-b", true, nil, "sg-def"),
			})...),
		s("a group no local port is in changes no host", w.group("sg-web", true), w.rule("r-web", "sg-web", "ingress", "IPv4", "tcp", 80, "")),
		s("a third port joins the default group on compute-2: compute-1 gets one member",
			w.port("vm-c", "net-a", "compute-2", neutron.StatusDown, "fa:16:3e:00:00:0c", "192.168.1.13"),
			w.secure("vm-c", true, nil, "sg-def")),
		s("an allowed address pair adds an allowed source and a member", w.secure("vm-c", true, []string{"10.9.0.0/16"}, "sg-def")),
		s("a rule in the default group: one rule to each host with a member port",
			w.rule("r-ssh", "sg-def", "ingress", "IPv4", "tcp", 22, "")),
		s("vm-a moves to the web group, which admits the default group: compute-1 swaps groups, compute-2 loses a member",
			w.rule("r-web-def", "sg-web", "ingress", "IPv4", "", 0, "sg-def"),
			w.secure("vm-a", true, nil, "sg-web")),
		s("the web group turns stateless", w.group("sg-web", false)),
		s("port security off on vm-b: no groups, it leaves the member set", w.secure("vm-b", false, nil)),
		s("the ssh rule is deleted", w.deleteRule("r-ssh")),
		s("vm-a leaves web and web is deleted", append([]neutron.Change{w.secure("vm-a", true, nil)}, w.deleteGroup("sg-web")...)...),
		s("vm-c is deleted: the default group has no member left", w.deletePort("vm-c")),
	}
}

// TestTrustedPortsUnfiltered: router and DHCP ports (network: owners)
// are never filtered, whatever their port_security_enabled says.
func TestTrustedPortsUnfiltered(t *testing.T) {
	for owner, want := range map[string]bool{"compute:nova": true, "": true, "network:router_interface": false, "network:dhcp": false, "neutron:LOADBALANCERV2": false} {
		if got := fwPortOf(neutron.Port{DeviceOwner: owner, PortSecurityEnabled: true}).PortSecurity; got != want {
			t.Errorf("owner %q: port security %v, want %v", owner, got, want)
		}
	}
}
