package api

import (
	"context"

	"neutrino/internal/neutron"
	"neutrino/internal/policy"
)

// entity is a fetched resource with what policy needs to know about it.
type entity struct {
	id        string
	project   string // "" for agents
	networkID string // subnets, ports: the network they belong to
	groupID   string // security-group rules: their group, whose owner reads them (Neutron's sg_owner)
	shared    bool   // networks
	external  bool   // networks: router:external (readable by every project)
	owner     string // ports: device_owner (policy on router and floating-IP ports)
	tags      []string
	// encode appends the resource as a JSON object with the attributes
	// sel picks (resource.selection).
	encode func(b []byte, sel []int) []byte
}

// kind adapts one Backend resource to the generic handlers; a table makes
// it (table.kind).
type kind struct {
	res  *resource
	get  func(ctx context.Context, id string) (*entity, error)
	list func(ctx context.Context, q neutron.ListQuery) ([]*entity, error)
	// create makes every item in one transaction (a bulk create; a
	// single create is a bulk of one).
	create func(ctx context.Context, items []newItem) ([]*entity, error)
	update func(ctx context.Context, id string, a map[string]any, ifRev int64) (*entity, error)
	delete func(ctx context.Context, id string) error
	// adminOnly: the whole resource is invisible to non-admins (agents).
	adminOnly bool
	// onForeignNetwork: a non-admin creates this resource on a network it
	// can see (its network_id), and this answers when the network is not
	// the caller's (nil: the resource has no network). The network is then
	// in the create's policy target.
	onForeignNetwork func(action string, attrs map[string]any) *neutron.Error
	// deniedUpdate lists the attributes of an update that c may not write
	// beyond the admin-only ones (nil: none; ports: deniedPortAttrs).
	deniedUpdate func(c Caller, cur *entity, attrs map[string]any, t policy.Target) []string
}

// newItem is one resource of a create request: its converted attributes
// and the project it is created for.
type newItem struct {
	attrs   map[string]any
	project string
}

// selection is the indexes of the attributes a response shows c: policy
// (admin-only attributes are left out for other callers), fields= (if
// given, only those), and create-only ones only in POST responses.
func (r *resource) selection(c Caller, fields []string, create bool) []int {
	var want map[string]bool
	if len(fields) > 0 {
		want = make(map[string]bool, len(fields))
		for _, f := range fields {
			want[f] = true
		}
	}
	sel := make([]int, 0, len(r.attrs))
	for i, a := range r.attrs {
		if (a.adminRead && !c.Admin) || (a.createOnly && !create) || (want != nil && !want[a.name]) {
			continue
		}
		sel = append(sel, i)
	}
	return sel
}

// aStr reads a converted string attribute of a body.
func aStr(a map[string]any, k string) (string, bool) {
	v, ok := a[k]
	if !ok || v == nil {
		return "", ok
	}
	return v.(string), true
}
