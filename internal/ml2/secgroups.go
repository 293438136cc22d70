package ml2

import (
	"context"
	"slices"
	"strings"

	"neutrino/internal/neutron"
	"neutrino/internal/secgroup"
	"neutrino/internal/store"
)

// Security groups as Neutron's SecurityGroupDbMixin and the port_security
// extension driver behave: every write is one transaction that also logs
// the group, rule and port rows the agents' firewall views follow.

const defaultGroupDescription = "Default security group"

// ensureDefaultGroup returns the project's default group, creating it with
// Neutron's default rules on first use. Two transactions creating it at
// once collide on default_security_groups' primary key; the loser is
// retried and finds the winner's group.
func (p *Plugin) ensureDefaultGroup(ctx context.Context, t *store.Tx, project string) (string, error) {
	id, err := t.DefaultSecurityGroupID(ctx, project)
	if err != nil || id != "" {
		return id, err
	}
	g := p.newGroup(t, project, "default", defaultGroupDescription, true, nil)
	g.Rules = p.newRules(t, secgroup.DefaultRules(project, g.ID, true))
	if err := t.InsertSecurityGroup(ctx, g, true); err != nil {
		return "", err
	}
	emitGroup(t, g)
	return g.ID, nil
}

func (p *Plugin) newGroup(t *store.Tx, project, name, desc string, stateful bool, tags []string) *neutron.SecurityGroup {
	return &neutron.SecurityGroup{
		Standard: neutron.Standard{ID: store.NewID(), ProjectID: project, Name: name, Description: desc,
			Tags: sortedUnique(tags), CreatedAt: t.Now(), UpdatedAt: t.Now(), RevisionNumber: 1},
		Stateful: stateful,
	}
}

// newRules gives rules ids and timestamps (rules start at revision 0, as
// Neutron's).
func (p *Plugin) newRules(t *store.Tx, rules []neutron.SecurityGroupRule) []neutron.SecurityGroupRule {
	for i := range rules {
		rules[i].ID = store.NewID()
		rules[i].CreatedAt, rules[i].UpdatedAt = t.Now(), t.Now()
		rules[i].Tags = []string{}
	}
	return rules
}

func emitGroup(t *store.Tx, g *neutron.SecurityGroup) {
	t.Emit(neutron.Created(*g))
	for _, r := range g.Rules {
		t.Emit(neutron.Created(r))
	}
}

// EnsureDefaultSecurityGroup creates project's default group if it has
// none (Neutron does so when a project lists its groups or rules).
func (p *Plugin) EnsureDefaultSecurityGroup(ctx context.Context, project string) error {
	if project == "" {
		return nil
	}
	var have bool
	err := p.st.Read(ctx, func(t *store.Tx) error {
		id, err := t.DefaultSecurityGroupID(ctx, project)
		have = id != ""
		return err
	})
	if err != nil || have {
		return err
	}
	_, err = p.st.Write(ctx, func(t *store.Tx) error {
		_, err := p.ensureDefaultGroup(ctx, t, project)
		return err
	})
	return err
}

// CreateSecurityGroup creates a group with Neutron's egress rules (and
// the project's default group first, if it has none).
func (p *Plugin) CreateSecurityGroup(ctx context.Context, req neutron.SecurityGroupCreate) (*neutron.SecurityGroup, error) {
	return one(p.CreateSecurityGroups(ctx, []neutron.SecurityGroupCreate{req}))
}

// CreateSecurityGroups creates every group of reqs in one transaction
// (bulk create).
func (p *Plugin) CreateSecurityGroups(ctx context.Context, reqs []neutron.SecurityGroupCreate) ([]*neutron.SecurityGroup, error) {
	for _, req := range reqs {
		if err := nameNotDefault(&req.Name); err != nil {
			return nil, err
		}
	}
	return createAll(ctx, p, reqs, func(ctx context.Context, t *store.Tx, req neutron.SecurityGroupCreate) (*neutron.SecurityGroup, error) {
		if _, err := p.ensureDefaultGroup(ctx, t, req.ProjectID); err != nil {
			return nil, err
		}
		g := p.newGroup(t, req.ProjectID, req.Name, req.Description, deref(req.Stateful, true), req.Tags)
		g.Rules = p.newRules(t, secgroup.DefaultRules(req.ProjectID, g.ID, false))
		if err := t.InsertSecurityGroup(ctx, g, false); err != nil {
			return nil, err
		}
		t.Charge("security_group", g.ProjectID)
		for range g.Rules {
			t.Charge("security_group_rule", g.ProjectID)
		}
		emitGroup(t, g)
		return g, nil
	})
}

// tagSecurityGroup replaces a group's tags and bumps its revision.
func tagSecurityGroup(ctx context.Context, t *store.Tx, id string, tags []string) error {
	g, err := t.GetSecurityGroup(ctx, id)
	if err != nil {
		return err
	}
	g.Tags = tags
	if err := t.SetTags(ctx, store.TagKindSecurityGroup, id, tags); err != nil {
		return err
	}
	return saveGroup(ctx, t, g)
}

// GetSecurityGroup reads a group with its rules.
func (p *Plugin) GetSecurityGroup(ctx context.Context, id string) (*neutron.SecurityGroup, error) {
	return p.st.GetSecurityGroup(ctx, id)
}

// ListSecurityGroups lists groups with their rules.
func (p *Plugin) ListSecurityGroups(ctx context.Context, q neutron.ListQuery) ([]neutron.SecurityGroup, error) {
	return p.st.ListSecurityGroups(ctx, q)
}

// UpdateSecurityGroup changes name, description or stateful. The default
// group keeps its name (Neutron's SecurityGroupCannotUpdateDefault).
func (p *Plugin) UpdateSecurityGroup(ctx context.Context, id string, req neutron.SecurityGroupUpdate) (*neutron.SecurityGroup, error) {
	if err := nameNotDefault(req.Name); err != nil {
		return nil, err
	}
	var out *neutron.SecurityGroup
	_, err := p.st.Write(ctx, func(t *store.Tx) error {
		g, err := t.GetSecurityGroup(ctx, id)
		if err != nil {
			return err
		}
		if err := checkRevision("security_group", id, req.IfRevision, g.RevisionNumber); err != nil {
			return err
		}
		if g.Name == "default" && req.Name != nil {
			return neutron.Conflict("SecurityGroupCannotUpdateDefault", "Updating default security group not allowed.")
		}
		if req.Stateful != nil && *req.Stateful != g.Stateful {
			// Neutron: a group's statefulness changes only while no
			// port is in it.
			used, err := t.SecurityGroupInUse(ctx, id)
			if err != nil {
				return err
			}
			if used {
				return neutron.Conflict("SecurityGroupInUse", "Security Group %s in use.", id)
			}
		}
		if req.Name != nil {
			g.Name = *req.Name
		}
		if req.Description != nil {
			g.Description = *req.Description
		}
		if req.Stateful != nil {
			g.Stateful = *req.Stateful
		}
		if err := saveGroup(ctx, t, g); err != nil {
			return err
		}
		out = g
		return nil
	})
	return out, err
}

// nameNotDefault is Neutron's name_not_default validator: no group but
// the project's own default may be called default (any case).
func nameNotDefault(name *string) error {
	if name != nil && strings.EqualFold(*name, "default") {
		return neutron.Conflict("SecurityGroupDefaultAlreadyExists", "Default security group already exists.")
	}
	return nil
}

// saveGroup writes g as its next revision and logs it.
func saveGroup(ctx context.Context, t *store.Tx, g *neutron.SecurityGroup) error {
	prev := g.RevisionNumber
	g.RevisionNumber++
	g.UpdatedAt = t.Now()
	if err := t.UpdateSecurityGroup(ctx, g, prev); err != nil {
		return err
	}
	t.Emit(neutron.Updated(*g))
	return nil
}

// DeleteSecurityGroup deletes a group no port is in; a project may not
// delete its default group (an admin may). Rules naming it as remote
// group go with it, as in Neutron.
func (p *Plugin) DeleteSecurityGroup(ctx context.Context, id string, admin bool) error {
	_, err := p.st.Write(ctx, func(t *store.Tx) error {
		used, err := t.SecurityGroupInUse(ctx, id)
		if err != nil {
			return err
		}
		if used {
			return neutron.Conflict("SecurityGroupInUse", "Security Group %s in use.", id)
		}
		g, err := t.GetSecurityGroup(ctx, id)
		if err != nil {
			return err
		}
		if g.Name == "default" && !admin {
			return neutron.Conflict("SecurityGroupCannotRemoveDefault", "Insufficient rights for removing default security group.")
		}
		rules, err := t.DeleteSecurityGroup(ctx, id)
		if err != nil {
			return err
		}
		for _, r := range rules {
			t.Emit(neutron.Deleted(neutron.KindSecurityGroupRule, r))
		}
		t.Emit(neutron.Deleted(neutron.KindSecurityGroup, id))
		return nil
	})
	return err
}

// CreateSecurityGroupRule validates a rule as Neutron, refuses a
// duplicate (409 SecurityGroupRuleExists) and adds it, bumping the
// group's revision. The group's compare-and-set revision makes two
// concurrent creates of the same rule one success and one 409.
func (p *Plugin) CreateSecurityGroupRule(ctx context.Context, req neutron.SecurityGroupRuleCreate) (*neutron.SecurityGroupRule, error) {
	return one(p.CreateSecurityGroupRules(ctx, []neutron.SecurityGroupRuleCreate{req}))
}

// CreateSecurityGroupRules creates every rule of reqs in one transaction
// (Neutron's native bulk: two equal rules in one request are
// DuplicateSecurityGroupRuleInPost).
func (p *Plugin) CreateSecurityGroupRules(ctx context.Context, reqs []neutron.SecurityGroupRuleCreate) ([]*neutron.SecurityGroupRule, error) {
	rules := make([]neutron.SecurityGroupRule, len(reqs))
	seen := map[string]bool{}
	for i, req := range reqs {
		r, err := secgroup.Normalize(req)
		if err != nil {
			return nil, err
		}
		if k := secgroup.Key(r); seen[k] {
			return nil, neutron.Conflict("DuplicateSecurityGroupRuleInPost", "Duplicate Security Group Rule in POST.")
		} else {
			seen[k] = true
		}
		rules[i] = r
	}
	return createAll(ctx, p, rules, p.createRule)
}

// createRule adds one normalised rule inside t.
func (p *Plugin) createRule(ctx context.Context, t *store.Tx, rule neutron.SecurityGroupRule) (*neutron.SecurityGroupRule, error) {
	g, err := t.GetSecurityGroup(ctx, rule.SecurityGroupID)
	if err != nil {
		return nil, err
	}
	if rule.RemoteGroupID != nil && *rule.RemoteGroupID != g.ID {
		found, err := t.SecurityGroupProjects(ctx, []string{*rule.RemoteGroupID})
		if err != nil {
			return nil, err
		}
		if _, ok := found[*rule.RemoteGroupID]; !ok {
			return nil, neutron.NotFound("SecurityGroup", *rule.RemoteGroupID)
		}
	}
	if err := secgroup.Duplicate(rule, g.Rules); err != nil {
		return nil, err
	}
	if rule.ProjectID == "" {
		rule.ProjectID = g.ProjectID
	}
	if rule.Description == nil {
		rule.Description = new(string)
	}
	r := p.newRules(t, []neutron.SecurityGroupRule{rule})[0]
	if err := t.InsertSecurityGroupRule(ctx, &r); err != nil {
		return nil, err
	}
	t.Charge("security_group_rule", r.ProjectID)
	t.Emit(neutron.Created(r))
	g.Rules = append(g.Rules, r)
	if err := saveGroup(ctx, t, g); err != nil {
		return nil, err
	}
	return &r, nil
}

// GetSecurityGroupRule reads a rule.
func (p *Plugin) GetSecurityGroupRule(ctx context.Context, id string) (*neutron.SecurityGroupRule, error) {
	return p.st.GetSecurityGroupRule(ctx, id)
}

// ListSecurityGroupRules lists rules.
func (p *Plugin) ListSecurityGroupRules(ctx context.Context, q neutron.ListQuery) ([]neutron.SecurityGroupRule, error) {
	return p.st.ListSecurityGroupRules(ctx, q)
}

// DeleteSecurityGroupRule deletes a rule and bumps its group's revision.
func (p *Plugin) DeleteSecurityGroupRule(ctx context.Context, id string) error {
	_, err := p.st.Write(ctx, func(t *store.Tx) error {
		r, err := t.GetSecurityGroupRule(ctx, id)
		if err != nil {
			return err
		}
		g, err := t.GetSecurityGroup(ctx, r.SecurityGroupID)
		if err != nil {
			return err
		}
		if err := t.DeleteSecurityGroupRule(ctx, id); err != nil {
			return err
		}
		t.Emit(neutron.Deleted(neutron.KindSecurityGroupRule, id))
		g.Rules = slices.DeleteFunc(g.Rules, func(x neutron.SecurityGroupRule) bool { return x.ID == id })
		return saveGroup(ctx, t, g)
	})
	return err
}

// trustedOwner reports a port Neutron never filters (DHCP, router and
// other network: / neutron: owners): it gets no security groups.
func trustedOwner(owner string) bool {
	return strings.HasPrefix(owner, "network:") || strings.HasPrefix(owner, "neutron:")
}

// portSecurityGroups decides a port's groups: want nil means the
// project's default group (created on first use) when the port has port
// security; groups need port security; trusted ports get none. Unless
// anyProject (an admin's request), the groups must be the port's
// project's.
func (p *Plugin) portSecurityGroups(ctx context.Context, t *store.Tx, pt *neutron.Port, want []string, anyProject bool) ([]string, error) {
	if trustedOwner(pt.DeviceOwner) {
		return []string{}, nil
	}
	if want == nil {
		if !pt.PortSecurityEnabled {
			return []string{}, nil
		}
		id, err := p.ensureDefaultGroup(ctx, t, pt.ProjectID)
		if err != nil {
			return nil, err
		}
		return []string{id}, nil
	}
	out := sortedUnique(want)
	found, err := t.SecurityGroupProjects(ctx, out)
	if err != nil {
		return nil, err
	}
	for _, id := range out {
		// A group of another project does not exist for this port (its
		// membership would open that project's rules to it).
		if project, ok := found[id]; !ok || !anyProject && project != pt.ProjectID {
			return nil, neutron.NotFound("SecurityGroup", id)
		}
	}
	if len(out) > 0 && !pt.PortSecurityEnabled {
		return nil, neutron.Errorf(400, "PortSecurityAndIPRequiredForSecurityGroups", "Port security must be enabled and port must have an IP address in order to use security groups.")
	}
	return out, nil
}

// checkAddressPairs: allowed address pairs need port security (Neutron's
// AddressPairAndPortSecurityRequired).
func checkAddressPairs(pt *neutron.Port) error {
	if len(pt.AllowedAddressPairs) > 0 && !pt.PortSecurityEnabled {
		return neutron.Conflict("AddressPairAndPortSecurityRequired", "Port Security must be enabled in order to have allowed address pairs on a port.")
	}
	return nil
}

// updatePortSecurity applies a port update's security_groups and checks
// port_security_enabled against the groups and address pairs the port
// keeps.
func (p *Plugin) updatePortSecurity(ctx context.Context, t *store.Tx, pt *neutron.Port, req neutron.PortUpdate) error {
	old := pt.SecurityGroups
	if req.SecurityGroups != nil {
		want := *req.SecurityGroups
		if want == nil {
			want = []string{}
		}
		groups, err := p.portSecurityGroups(ctx, t, pt, want, req.AnyProjectGroups)
		if err != nil {
			return err
		}
		pt.SecurityGroups = groups
	} else if !pt.PortSecurityEnabled && len(pt.SecurityGroups) > 0 {
		return neutron.Conflict("PortSecurityPortHasSecurityGroup", "Port has security group associated. Cannot disable port security or IP address until security group is removed")
	}
	if err := checkAddressPairs(pt); err != nil {
		return err
	}
	if !slices.Equal(old, pt.SecurityGroups) {
		return t.SetPortSecurityGroups(ctx, pt.ID, old, pt.SecurityGroups)
	}
	return nil
}
