package ovs

import (
	"context"
	"fmt"
	"regexp"
	"sort"

	"neutrino/internal/dataplane"
)

// IntegrationDifferences compares br-int's flows with the ones desired
// asks for: the L2 pipeline and, with firewall_driver = openvswitch, the
// firewall (security groups as conntrack flows, anti-spoofing, remote
// groups as conjunctions). What the flows are made from besides desired
// is read from OVSDB as the switch has it: each bound VM port's local VLAN
// (its tag) and ofport. Flows compare by table, priority, match and
// actions, whatever their cookie; conjunction ids and security-group
// numbers are the applying agent's own numbering, so any id compares
// equal to any other. Provider networks'
// flows compare only when this Dataplane was made with the agent's
// bridge_mappings. It returns one "missing flow ..." or "extra flow ..."
// line per difference and changes nothing (bench/chaos audits every node
// with it after each fault).
func (d *Dataplane) IntegrationDifferences(ctx context.Context, desired dataplane.NodeState) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	snap, err := takeSnapshot(ctx, d.cli)
	if err != nil {
		return nil, fmt.Errorf("ovs audit: %w", err)
	}
	l := Layout{LVIDs: map[string]int{}, Ofports: map[string]int{}}
	for _, p := range d.vmPorts(snap) {
		i := snap.firstIface(p)
		lp, bound := desired.Ports[i.ExternalIDs["iface-id"]]
		if !bound || p.Tag == nil || *p.Tag == deadVLAN {
			continue
		}
		l.LVIDs[lp.NetworkID] = *p.Tag
		if desired.Firewall.Driver == DriverOpenvswitch && i.Ofport != nil && *i.Ofport > 0 {
			l.Ofports[i.ExternalIDs["iface-id"]] = *i.Ofport
		}
	}
	if l.Physnets, err = d.physLayouts(ctx, d.physnets()); err != nil {
		return nil, fmt.Errorf("ovs audit: %w", err)
	}
	want := append(intFlowSet(desired, l, newFwIDs(), nil).all(), IntProviderFlows(desired, l)...)
	held, err := d.flows.DumpFlows(ctx, d.cfg.IntegrationBridge)
	if err != nil {
		return nil, fmt.Errorf("ovs audit: flows of %s: %w", d.cfg.IntegrationBridge, err)
	}
	return flowDifferences(want, held), nil
}

// conjNumbers are the applying agent's own numbers: conjunction ids and
// security-group numbers (reg8).
var conjNumbers = regexp.MustCompile(`(conjunction\(|conj_id=|reg8=|set_field:)(0x[0-9a-f]+|\d+)(->reg8)?`)

// flowDifferences compares two flow lists as multisets of table,
// priority, match and actions, with conjunction ids blanked (pure).
func flowDifferences(want, held []Flow) []string {
	text := func(f Flow) string {
		return conjNumbers.ReplaceAllStringFunc(f.matchPart()+" actions="+f.Actions, func(m string) string {
			sub := conjNumbers.FindStringSubmatch(m)
			if sub[1] == "set_field:" && sub[3] == "" {
				return m // another register's value
			}
			return sub[1] + "N" + sub[3]
		})
	}
	count := map[string]int{}
	for _, f := range want {
		count[text(f)]++
	}
	for _, f := range held {
		count[text(f)]--
	}
	var out []string
	for t, n := range count {
		for ; n > 0; n-- {
			out = append(out, "missing flow "+t)
		}
		for ; n < 0; n++ {
			out = append(out, "extra flow "+t)
		}
	}
	sort.Strings(out)
	return out
}
