package dhcpview

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"neutrino/internal/dhcp"
)

// Delta turns one DHCP state into another at network granularity: a
// network whose anything changed is sent whole (a dnsmasq's files are
// rewritten whole anyway), a network no longer hosted is named.
type Delta struct {
	Upsert  []dhcp.Network // sorted by id
	Removed []string       // sorted
}

// Empty reports whether the delta changes nothing.
func (d Delta) Empty() bool { return len(d.Upsert) == 0 && len(d.Removed) == 0 }

// Size counts the networks a delta carries.
func (d Delta) Size() int { return len(d.Upsert) + len(d.Removed) }

// Size counts the networks of a state.
func Size(s dhcp.State) int { return len(s.Networks) }

// Diff is the delta from old to now; both have networks sorted by id, as
// Model's views do.
func Diff(old, now dhcp.State) Delta {
	var d Delta
	i, j := 0, 0
	for i < len(old.Networks) || j < len(now.Networks) {
		switch {
		case j == len(now.Networks) || (i < len(old.Networks) && old.Networks[i].ID < now.Networks[j].ID):
			d.Removed = append(d.Removed, old.Networks[i].ID)
			i++
		case i == len(old.Networks) || now.Networks[j].ID < old.Networks[i].ID:
			d.Upsert = append(d.Upsert, now.Networks[j])
			j++
		default:
			if !reflect.DeepEqual(old.Networks[i], now.Networks[j]) {
				d.Upsert = append(d.Upsert, now.Networks[j])
			}
			i++
			j++
		}
	}
	return d
}

// Apply returns s with d applied (s is not changed). Removing a network s
// does not have is an error: the delta was computed against another state.
func Apply(s dhcp.State, d Delta) (dhcp.State, error) {
	byID := make(map[string]dhcp.Network, len(s.Networks)+len(d.Upsert))
	for _, n := range s.Networks {
		byID[n.ID] = n
	}
	for _, id := range d.Removed {
		if _, ok := byID[id]; !ok {
			return s, fmt.Errorf("delta removes network %s, which the state does not have", id)
		}
		delete(byID, id)
	}
	for _, n := range d.Upsert {
		byID[n.ID] = n
	}
	out := dhcp.State{}
	for _, n := range byID {
		out.Networks = append(out.Networks, n)
	}
	slices.SortFunc(out.Networks, func(a, b dhcp.Network) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}
