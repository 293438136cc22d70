package dhcpview

import (
	"fmt"
	"reflect"

	"neutrino/internal/dhcp"
	"neutrino/internal/sortedset"
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

func networkID(n dhcp.Network) string { return n.ID }

// Diff is the delta from old to now; both have networks sorted by id, as
// Model's views do.
func Diff(old, now dhcp.State) Delta {
	up, rm := sortedset.DiffKeyed(old.Networks, now.Networks, networkID, func(a, b dhcp.Network) bool { return reflect.DeepEqual(a, b) })
	return Delta{Upsert: up, Removed: rm}
}

// Apply returns s with d applied (s is not changed). Removing a network s
// does not have is an error: the delta was computed against another state.
func Apply(s dhcp.State, d Delta) (dhcp.State, error) {
	nets, err := sortedset.ApplyKeyed(s.Networks, d.Upsert, d.Removed, networkID)
	if err != nil {
		return s, fmt.Errorf("dhcp delta: network %w", err)
	}
	return dhcp.State{Networks: nets}, nil
}
