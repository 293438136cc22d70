package api

import (
	"context"
	"encoding/json"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"neutrino/internal/neutron"
	"neutrino/internal/secgroup"
)

// security-groups and security-group-rules: Neutron's security-group,
// stateful-security-group and security-groups-normalized-cidr extensions.
// Validation and normalisation of rules is package secgroup's (called by
// the plugin); the converters here only check JSON types, as Neutron's
// attribute map does before its plugin runs.

func securityGroups() *table[neutron.SecurityGroup, neutron.SecurityGroupCreate, neutron.SecurityGroupUpdate] {
	type (
		G  = neutron.SecurityGroup
		GC = neutron.SecurityGroupCreate
		GU = neutron.SecurityGroupUpdate
	)
	t := newTable[G, GC, GU]("security_group", "security_groups")
	t.standard(func(g *G) *neutron.Standard { return &g.Standard },
		func(c *GC, v string) { c.Name = v }, func(c *GC, v string) { c.Description = v },
		func(u *GU, v string) { u.Name = &v }, func(u *GU, v string) { u.Description = &v })
	t.add(rw("stateful", convBool), boolean(func(g *G) bool { return g.Stateful })).
		onCreate(set(func(c *GC, v bool) { c.Stateful = &v })).
		onUpdate(set(func(u *GU, v bool) { u.Stateful = &v }))
	// No RBAC for groups: none is shared.
	t.add(ro("shared"), literal[G]("false"))
	rules := securityGroupRules()
	all := rules.resource().selection(Caller{Admin: true}, nil, false)
	t.add(ro("security_group_rules"), listOf(func(g *G) []neutron.SecurityGroupRule { return g.Rules },
		func(b []byte, r *neutron.SecurityGroupRule) []byte { return rules.encode(b, r, all) }))
	t.tagged()
	t.facts = func(g *G) entity { return entity{id: g.ID, project: g.ProjectID, tags: g.Tags} }
	t.finishCreate = func(c *GC, project string, _ map[string]any) *neutron.Error {
		c.ProjectID = project
		return nil
	}
	t.finishUpdate = func(u *GU, ifRev int64, _ map[string]any) *neutron.Error {
		u.IfRevision = ifRev
		return nil
	}
	return t
}

func securityGroupRules() *table[neutron.SecurityGroupRule, neutron.SecurityGroupRuleCreate, struct{}] {
	type (
		R  = neutron.SecurityGroupRule
		RC = neutron.SecurityGroupRuleCreate
	)
	t := newTable[R, RC, struct{}]("security_group_rule", "security_group_rules")
	project := func(r *R) string { return r.ProjectID }
	t.add(ro("id"), str(func(r *R) string { return r.ID }))
	t.add(po("tenant_id", convString(255)), str(project))
	t.add(po("security_group_id", convUUID).req(), str(func(r *R) string { return r.SecurityGroupID })).
		onCreate(set(func(c *RC, v string) { c.SecurityGroupID = v }))
	t.add(po("ethertype", convEthertype), str(func(r *R) string { return r.Ethertype })).
		onCreate(set(func(c *RC, v string) { c.Ethertype = v }))
	t.add(po("direction", convDirection).req(), str(func(r *R) string { return r.Direction })).
		onCreate(set(func(c *RC, v string) { c.Direction = v }))
	t.add(po("protocol", convProtocol), optStr(func(r *R) *string { return r.Protocol })).
		onCreate(set(func(c *RC, v *string) { c.Protocol = v }))
	t.add(po("port_range_min", convPort), optInt(func(r *R) *int { return r.PortRangeMin })).
		onCreate(set(func(c *RC, v *int) { c.PortRangeMin = v }))
	t.add(po("port_range_max", convPort), optInt(func(r *R) *int { return r.PortRangeMax })).
		onCreate(set(func(c *RC, v *int) { c.PortRangeMax = v }))
	t.add(po("remote_ip_prefix", convOptString), optStr(func(r *R) *string { return r.RemoteIPPrefix })).
		onCreate(set(func(c *RC, v *string) { c.RemoteIPPrefix = v }))
	// Address groups are not served: only null is accepted.
	t.add(po("remote_address_group_id", convNull), literal[R]("null"))
	t.add(ro("normalized_cidr"), optStr(normalizedCIDR))
	// Like Neutron, remote_group_id is not checked for form: an id that
	// names no group is a 404 SecurityGroupNotFound, as Tempest expects.
	t.add(po("remote_group_id", convOptString), optStr(func(r *R) *string { return r.RemoteGroupID })).
		onCreate(set(func(c *RC, v *string) { c.RemoteGroupID = v }))
	t.add(po("description", convString(255)), optStr(func(r *R) *string { return r.Description })).
		onCreate(set(func(c *RC, v string) { c.Description = &v }))
	t.add(ro("tags"), strList(func(r *R) []string { return r.Tags }))
	t.add(ro("created_at"), timestamp(func(r *R) time.Time { return r.CreatedAt }, timeFormat))
	t.add(ro("updated_at"), timestamp(func(r *R) time.Time { return r.UpdatedAt }, timeFormat))
	t.add(ro("revision_number"), integer(func(r *R) int64 { return r.RevisionNumber }))
	t.add(po("project_id", convString(255)), str(project))
	t.facts = func(r *R) entity { return entity{id: r.ID, project: r.ProjectID, groupID: r.SecurityGroupID} }
	t.finishCreate = func(c *RC, project string, _ map[string]any) *neutron.Error {
		c.ProjectID = project
		return nil
	}
	return t
}

// normalizedCIDR is the rule's remote prefix without host bits.
func normalizedCIDR(r *neutron.SecurityGroupRule) *string {
	if r.RemoteIPPrefix == nil {
		return nil
	}
	p, err := netip.ParsePrefix(*r.RemoteIPPrefix)
	if err != nil {
		return r.RemoteIPPrefix
	}
	s := p.Masked().String()
	return &s
}

func optStr[T any](get func(*T) *string) encoder[T] {
	return encoder[T]{fn: func(b []byte, x *T) []byte {
		if p := get(x); p != nil {
			return appendString(b, *p)
		}
		return append(b, "null"...)
	}}
}

func optInt[T any](get func(*T) *int) encoder[T] {
	return encoder[T]{fn: func(b []byte, x *T) []byte {
		if p := get(x); p != nil {
			return strconv.AppendInt(b, int64(*p), 10)
		}
		return append(b, "null"...)
	}}
}

func convDirection(name string, v any) (any, *neutron.Error) {
	if s, ok := v.(string); ok && (s == secgroup.Ingress || s == secgroup.Egress) {
		return s, nil
	}
	return nil, invalidFor(name, v, "is not in ['ingress', 'egress']")
}

// convEthertype accepts strings; package secgroup matches them
// case-insensitively (SecurityGroupRuleInvalidEtherType otherwise).
func convEthertype(name string, v any) (any, *neutron.Error) {
	if s, ok := v.(string); ok {
		return s, nil
	}
	e, _ := neutron.AsError(secgroup.InvalidEtherType(v))
	return nil, e
}

// convProtocol hands a name or number (a JSON number as its text) to
// package secgroup; null is any.
func convProtocol(name string, v any) (any, *neutron.Error) {
	switch x := v.(type) {
	case nil:
		return (*string)(nil), nil
	case string:
		return &x, nil
	case json.Number:
		s := x.String()
		return &s, nil
	}
	return nil, neutron.Errorf(400, "SecurityGroupRuleInvalidProtocol", "Security group rule protocol %s not supported.", pyRepr(v))
}

// convPort is Neutron's convert_validate_port_value: null, or a port
// number given as a number or a string.
func convPort(name string, v any) (any, *neutron.Error) {
	if v == nil {
		return (*int)(nil), nil
	}
	n, ok := toInt(v)
	if !ok || n < 0 || n > 65535 {
		e, _ := neutron.AsError(secgroup.InvalidPort(strings.Trim(pyRepr(v), "'")))
		return nil, e
	}
	p := int(n)
	return &p, nil
}

func convOptString(name string, v any) (any, *neutron.Error) {
	if v == nil {
		return (*string)(nil), nil
	}
	s, ok := v.(string)
	if !ok {
		return nil, invalidFor(name, v, "is not a valid string")
	}
	if s == "" {
		return (*string)(nil), nil
	}
	return &s, nil
}

func securityGroupKind(b Backend) *kind {
	return securityGroups().kind(crud[neutron.SecurityGroup, neutron.SecurityGroupCreate, neutron.SecurityGroupUpdate]{
		get: b.GetSecurityGroup, create: b.CreateSecurityGroups, update: b.UpdateSecurityGroup,
		list: func(ctx context.Context, q neutron.ListQuery) ([]neutron.SecurityGroup, error) {
			if err := ensureDefaultGroup(ctx, b, q); err != nil {
				return nil, err
			}
			return b.ListSecurityGroups(ctx, q)
		},
		// A project may not delete its default group; an admin may.
		delete: func(ctx context.Context, id string) error {
			return b.DeleteSecurityGroup(ctx, id, CallerFrom(ctx).Admin)
		},
	})
}

func securityGroupRuleKind(b Backend) *kind {
	return securityGroupRules().kind(crud[neutron.SecurityGroupRule, neutron.SecurityGroupRuleCreate, struct{}]{
		get: b.GetSecurityGroupRule, delete: b.DeleteSecurityGroupRule,
		list: func(ctx context.Context, q neutron.ListQuery) ([]neutron.SecurityGroupRule, error) {
			if err := ensureDefaultGroup(ctx, b, q); err != nil {
				return nil, err
			}
			return b.ListSecurityGroupRules(ctx, q)
		},
		create: func(ctx context.Context, reqs []neutron.SecurityGroupRuleCreate) ([]*neutron.SecurityGroupRule, error) {
			if c := CallerFrom(ctx); !c.Admin {
				// Neutron's _check_security_group with the rule's
				// project: a group (or remote group) of another project
				// does not exist for it.
				for _, r := range reqs {
					for _, id := range []*string{&r.SecurityGroupID, r.RemoteGroupID} {
						if id == nil {
							continue
						}
						g, err := b.GetSecurityGroup(ctx, *id)
						if err != nil {
							return nil, err
						}
						if g.ProjectID != r.ProjectID {
							return nil, neutron.NotFound("SecurityGroup", *id)
						}
					}
				}
			}
			return b.CreateSecurityGroupRules(ctx, reqs)
		},
	})
}

// ensureDefaultGroup creates the default group of the project a listing
// is for (its project filter, else the caller's), as Neutron does on
// every security-group or rule listing.
func ensureDefaultGroup(ctx context.Context, b Backend, q neutron.ListQuery) error {
	project := CallerFrom(ctx).ProjectID
	for _, k := range []string{"project_id", "tenant_id"} {
		if v := q.Filters[k]; len(v) > 0 {
			project = v[0]
		}
	}
	return b.EnsureDefaultSecurityGroup(ctx, project)
}
