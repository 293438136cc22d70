package l3view

import (
	"fmt"
	"reflect"

	"neutrino/internal/l3"
	"neutrino/internal/sortedset"
)

// Delta turns one L3 state into another at router granularity: a router
// whose anything changed is sent whole (the agent plans a router's
// namespace as a whole anyway), a router no longer hosted is named.
type Delta struct {
	Upsert  []l3.Router // sorted by id
	Removed []string    // sorted
}

// Empty reports whether the delta changes nothing.
func (d Delta) Empty() bool { return len(d.Upsert) == 0 && len(d.Removed) == 0 }

// Size counts the routers a delta carries.
func (d Delta) Size() int { return len(d.Upsert) + len(d.Removed) }

// Size counts the routers of a state.
func Size(s l3.State) int { return len(s.Routers) }

func routerID(r l3.Router) string { return r.ID }

// Diff is the delta from old to now; both have routers sorted by id, as
// Model's views do.
func Diff(old, now l3.State) Delta {
	up, rm := sortedset.DiffKeyed(old.Routers, now.Routers, routerID, func(a, b l3.Router) bool { return reflect.DeepEqual(a, b) })
	return Delta{Upsert: up, Removed: rm}
}

// Apply returns s with d applied (s is not changed). Removing a router s
// does not have is an error: the delta was computed against another state.
func Apply(s l3.State, d Delta) (l3.State, error) {
	routers, err := sortedset.ApplyKeyed(s.Routers, d.Upsert, d.Removed, routerID)
	if err != nil {
		return s, fmt.Errorf("l3 delta: router %w", err)
	}
	return l3.State{Routers: routers}, nil
}
