package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"neutrino/internal/neutron"
)

// Tag kinds of the security-group resources (the tags table's kind).
const (
	TagKindSecurityGroup = "security_group"
)

var secgroupRes = &resource{
	kind: TagKindSecurityGroup, noun: "SecurityGroup", table: "securitygroups", tagged: true,
	cols: namedColumns(map[string]column{
		"stateful": {"stateful", colBool},
	}),
	special: func(attr string, vals []string) (string, []any, bool, error) {
		if attr == "shared" {
			// No RBAC for groups: none is shared.
			for _, v := range vals {
				if b, err := boolArg(attr, v); err != nil {
					return "", nil, false, err
				} else if b {
					return "1=0", nil, true, nil
				}
			}
			return "1=1", nil, true, nil
		}
		return "", nil, false, nil
	},
	visible: func(p string) (string, []any) { return "securitygroups.project_id = ?", []any{p} },
}

var secgroupRuleRes = &resource{
	kind: "security_group_rule", noun: "SecurityGroupRule", table: "securitygrouprules",
	cols: standardColumns(map[string]column{
		"security_group_id": {"security_group_id", colString},
		"remote_group_id":   {"remote_group_id", colString},
		"direction":         {"direction", colString},
		"ethertype":         {"ethertype", colString},
		"protocol":          {"protocol", colString},
		"port_range_min":    {"port_range_min", colInt},
		"port_range_max":    {"port_range_max", colInt},
		"remote_ip_prefix":  {"remote_ip_prefix", colString},
	}),
	// Neutron lets a project see the rules of its own groups and the rules
	// it created in others' groups.
	visible: func(p string) (string, []any) {
		return "(securitygrouprules.project_id = ? OR securitygrouprules.security_group_id IN (SELECT id FROM securitygroups WHERE project_id = ?))", []any{p, p}
	},
}

const secgroupCols = "securitygroups.id, securitygroups.project_id, securitygroups.name, securitygroups.description, securitygroups.stateful, securitygroups.created_at, securitygroups.updated_at, securitygroups.revision_number"

func (s *Store) loadSecurityGroups(ctx context.Context, db querier, tail string, args []any) ([]neutron.SecurityGroup, error) {
	rows, err := db.QueryContext(ctx, s.rebind("SELECT "+secgroupCols+" FROM securitygroups"+tail), args...)
	if err != nil {
		return nil, fmt.Errorf("list security groups: %w", err)
	}
	var out []neutron.SecurityGroup
	for rows.Next() {
		var g neutron.SecurityGroup
		var c, u int64
		if err := rows.Scan(&g.ID, &g.ProjectID, &g.Name, &g.Description, &g.Stateful, &c, &u, &g.RevisionNumber); err != nil {
			rows.Close()
			return nil, err
		}
		g.CreatedAt, g.UpdatedAt = fromMicro(c), fromMicro(u)
		g.Tags, g.Rules = []string{}, []neutron.SecurityGroupRule{}
		out = append(out, g)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(out) == 0 {
		return out, err
	}
	idx := make(map[string]int, len(out))
	ids := make([]string, len(out))
	for i := range out {
		idx[out[i].ID], ids[i] = i, out[i].ID
	}
	scope := childScope{ids: ids}
	err = scope.each("security_group_id", func(cond string, cargs []any) error {
		rules, err := s.loadRules(ctx, db, " WHERE "+cond+" ORDER BY securitygrouprules.security_group_id, securitygrouprules.created_at, securitygrouprules.id", cargs)
		for _, r := range rules {
			if i, ok := idx[r.SecurityGroupID]; ok {
				out[i].Rules = append(out[i].Rules, r)
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := s.attachTags(ctx, db, TagKindSecurityGroup, scope, idx, func(i int, ts []string) { out[i].Tags = ts }); err != nil {
		return nil, err
	}
	return out, nil
}

const ruleCols = "securitygrouprules.id, securitygrouprules.project_id, securitygrouprules.security_group_id, securitygrouprules.remote_group_id, securitygrouprules.direction, securitygrouprules.ethertype, securitygrouprules.protocol, securitygrouprules.port_range_min, securitygrouprules.port_range_max, securitygrouprules.remote_ip_prefix, securitygrouprules.description, securitygrouprules.created_at, securitygrouprules.updated_at, securitygrouprules.revision_number"

func (s *Store) loadRules(ctx context.Context, db querier, tail string, args []any) ([]neutron.SecurityGroupRule, error) {
	rows, err := db.QueryContext(ctx, s.rebind("SELECT "+ruleCols+" FROM securitygrouprules"+tail), args...)
	if err != nil {
		return nil, fmt.Errorf("list security group rules: %w", err)
	}
	defer rows.Close()
	var out []neutron.SecurityGroupRule
	for rows.Next() {
		var r neutron.SecurityGroupRule
		var remote, proto, prefix, desc sql.NullString
		var lo, hi sql.NullInt64
		var c, u int64
		if err := rows.Scan(&r.ID, &r.ProjectID, &r.SecurityGroupID, &remote, &r.Direction, &r.Ethertype, &proto, &lo, &hi, &prefix, &desc, &c, &u, &r.RevisionNumber); err != nil {
			return nil, err
		}
		r.RemoteGroupID, r.Protocol, r.RemoteIPPrefix, r.Description = nullStr(remote), nullStr(proto), nullStr(prefix), nullStr(desc)
		r.PortRangeMin, r.PortRangeMax = nullInt(lo), nullInt(hi)
		r.CreatedAt, r.UpdatedAt = fromMicro(c), fromMicro(u)
		r.Tags = []string{}
		out = append(out, r)
	}
	return out, rows.Err()
}

func nullStr(n sql.NullString) *string {
	if !n.Valid {
		return nil
	}
	return &n.String
}

func nullInt(n sql.NullInt64) *int {
	if !n.Valid {
		return nil
	}
	v := int(n.Int64)
	return &v
}

func strArg(p *string) any {
	if p == nil {
		return nil
	}
	return *p
}

func intArg(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

// ListSecurityGroups lists groups with their rules inline.
func (r reads) ListSecurityGroups(ctx context.Context, q neutron.ListQuery) ([]neutron.SecurityGroup, error) {
	return listPage(ctx, r.q, r.rs, secgroupRes, q, func(tail string, args []any) ([]neutron.SecurityGroup, error) {
		return r.rs.loadSecurityGroups(ctx, r.q, tail, args)
	})
}

// GetSecurityGroup reads one group (404 SecurityGroupNotFound).
func (r reads) GetSecurityGroup(ctx context.Context, id string) (*neutron.SecurityGroup, error) {
	out, err := r.rs.loadSecurityGroups(ctx, r.q, " WHERE securitygroups.id = ?", []any{id})
	if err == nil && len(out) == 0 {
		return nil, neutron.NotFound("SecurityGroup", id)
	}
	return firstOr404(out, err, "SecurityGroup", id)
}

// ListSecurityGroupRules lists rules.
func (r reads) ListSecurityGroupRules(ctx context.Context, q neutron.ListQuery) ([]neutron.SecurityGroupRule, error) {
	return listPage(ctx, r.q, r.rs, secgroupRuleRes, q, func(tail string, args []any) ([]neutron.SecurityGroupRule, error) {
		return r.rs.loadRules(ctx, r.q, tail, args)
	})
}

// GetSecurityGroupRule reads one rule (404 SecurityGroupRuleNotFound).
func (r reads) GetSecurityGroupRule(ctx context.Context, id string) (*neutron.SecurityGroupRule, error) {
	out, err := r.rs.loadRules(ctx, r.q, " WHERE securitygrouprules.id = ?", []any{id})
	if err == nil && len(out) == 0 {
		return nil, neutron.NotFound("SecurityGroupRule", id)
	}
	return firstOr404(out, err, "SecurityGroupRule", id)
}

// DefaultSecurityGroupID returns the project's default group id, "" when
// it has none yet.
func (t *Tx) DefaultSecurityGroupID(ctx context.Context, project string) (string, error) {
	if v, err, ok := t.preloaded(memoDefaultGroup, project); ok {
		id, _ := v.(string)
		return id, err
	}
	var id string
	err := t.queryRow(ctx, defaultGroupQuery, project).Scan(&id)
	if isNoRows(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read default security group of %s: %w", project, err)
	}
	return id, nil
}

const defaultGroupQuery = "SELECT security_group_id FROM default_security_groups WHERE project_id = ?"

// InsertSecurityGroup inserts a group, its rules and tags; isDefault also
// records it as its project's default. Two transactions making the same
// project's default collide on default_security_groups' primary key; the
// loser is retried and then finds the winner's group.
func (t *Tx) InsertSecurityGroup(ctx context.Context, g *neutron.SecurityGroup, isDefault bool) error {
	if _, err := t.exec(ctx, "INSERT INTO securitygroups (id, project_id, name, description, stateful, created_at, updated_at, revision_number) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		g.ID, g.ProjectID, g.Name, g.Description, g.Stateful, micro(g.CreatedAt), micro(g.UpdatedAt), g.RevisionNumber); err != nil {
		return fmt.Errorf("insert security group %s: %w", g.ID, err)
	}
	if isDefault {
		if _, err := t.exec(ctx, "INSERT INTO default_security_groups (project_id, security_group_id) VALUES (?, ?)", g.ProjectID, g.ID); err != nil {
			return fmt.Errorf("record default security group of %s: %w", g.ProjectID, err)
		}
	}
	for i := range g.Rules {
		if err := t.InsertSecurityGroupRule(ctx, &g.Rules[i]); err != nil {
			return err
		}
	}
	return t.insertTags(ctx, TagKindSecurityGroup, g.ID, g.Tags)
}

// UpdateSecurityGroup writes a group's mutable columns (compare-and-set on
// the revision; ErrRetry when it moved).
func (t *Tx) UpdateSecurityGroup(ctx context.Context, g *neutron.SecurityGroup, prevRev int64) error {
	res, err := t.exec(ctx, "UPDATE securitygroups SET name = ?, description = ?, stateful = ?, updated_at = ?, revision_number = ? WHERE id = ? AND revision_number = ?",
		g.Name, g.Description, g.Stateful, micro(g.UpdatedAt), g.RevisionNumber, g.ID, prevRev)
	if err != nil {
		return fmt.Errorf("update security group %s: %w", g.ID, err)
	}
	return casResult(res)
}

// SecurityGroupInUse reports whether a port is in the group.
func (t *Tx) SecurityGroupInUse(ctx context.Context, id string) (bool, error) {
	var x string
	err := t.queryRow(ctx, "SELECT port_id FROM securitygroupportbindings WHERE security_group_id = ? LIMIT 1", id).Scan(&x)
	if isNoRows(err) {
		return false, nil
	}
	return err == nil, err
}

// DeleteSecurityGroup deletes a group, its rules and the rules of other
// groups that name it as remote group (Neutron's cascade); it returns the
// ids of the rules deleted. A port still in the group fails the
// binding's foreign key (the caller checks first; a racing port makes the
// transaction retry and the check then answers).
func (t *Tx) DeleteSecurityGroup(ctx context.Context, id string) ([]string, error) {
	ids, err := t.ruleIDs(ctx, "security_group_id = ? OR remote_group_id = ?", id, id)
	if err != nil {
		return nil, err
	}
	if _, err := t.exec(ctx, "DELETE FROM securitygrouprules WHERE security_group_id = ? OR remote_group_id = ?", id, id); err != nil {
		return nil, fmt.Errorf("delete rules of security group %s: %w", id, err)
	}
	if _, err := t.exec(ctx, "DELETE FROM default_security_groups WHERE security_group_id = ?", id); err != nil {
		return nil, fmt.Errorf("delete default mark of security group %s: %w", id, err)
	}
	if err := t.deleteTags(ctx, TagKindSecurityGroup, id); err != nil {
		return nil, err
	}
	res, err := t.exec(ctx, "DELETE FROM securitygroups WHERE id = ?", id)
	if err != nil {
		return nil, fmt.Errorf("delete security group %s: %w", id, err)
	}
	if k, _ := res.RowsAffected(); k == 0 {
		return nil, neutron.NotFound("SecurityGroup", id)
	}
	return ids, nil
}

func (t *Tx) ruleIDs(ctx context.Context, cond string, args ...any) ([]string, error) {
	rows, err := t.query(ctx, "SELECT id FROM securitygrouprules WHERE "+cond+" ORDER BY id", args...)
	if err != nil {
		return nil, fmt.Errorf("read rule ids: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// InsertSecurityGroupRule inserts a rule.
func (t *Tx) InsertSecurityGroupRule(ctx context.Context, r *neutron.SecurityGroupRule) error {
	if _, err := t.exec(ctx, "INSERT INTO securitygrouprules (id, project_id, security_group_id, remote_group_id, direction, ethertype, protocol, port_range_min, port_range_max, remote_ip_prefix, description, created_at, updated_at, revision_number) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		r.ID, r.ProjectID, r.SecurityGroupID, strArg(r.RemoteGroupID), r.Direction, r.Ethertype, strArg(r.Protocol),
		intArg(r.PortRangeMin), intArg(r.PortRangeMax), strArg(r.RemoteIPPrefix), strArg(r.Description),
		micro(r.CreatedAt), micro(r.UpdatedAt), r.RevisionNumber); err != nil {
		return fmt.Errorf("insert security group rule %s: %w", r.ID, err)
	}
	return nil
}

// DeleteSecurityGroupRule deletes a rule (404 when absent).
func (t *Tx) DeleteSecurityGroupRule(ctx context.Context, id string) error {
	res, err := t.exec(ctx, "DELETE FROM securitygrouprules WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("delete security group rule %s: %w", id, err)
	}
	if k, _ := res.RowsAffected(); k == 0 {
		return neutron.NotFound("SecurityGroupRule", id)
	}
	return nil
}

// LockSecurityGroup reads a group's id and project and, on PostgreSQL and
// MariaDB, holds its row until commit, so that rules of one group are
// checked for duplicates and inserted one transaction at a time (SQLite
// has one writer anyway). 404 when the group does not exist.
func (t *Tx) LockSecurityGroup(ctx context.Context, id string) (project string, err error) {
	q := "SELECT project_id FROM securitygroups WHERE id = ?"
	if t.s.dialect != SQLite {
		q += " FOR UPDATE"
	}
	err = t.queryRow(ctx, q, id).Scan(&project)
	if isNoRows(err) {
		return "", neutron.NotFound("SecurityGroup", id)
	}
	if err != nil {
		return "", fmt.Errorf("lock security group %s: %w", id, err)
	}
	return project, nil
}

// SecurityGroupProjects returns the project of each existing group among
// ids (missing ones are absent).
func (t *Tx) SecurityGroupProjects(ctx context.Context, ids []string) (map[string]string, error) {
	out := map[string]string{}
	if len(ids) == 0 {
		return out, nil
	}
	cond, args := idsIn("id", ids)
	rows, err := t.query(ctx, "SELECT id, project_id FROM securitygroups WHERE "+cond, args...)
	if err != nil {
		return nil, fmt.Errorf("read security groups: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, p string
		if err := rows.Scan(&id, &p); err != nil {
			return nil, err
		}
		out[id] = p
	}
	return out, rows.Err()
}

// setPortGroups replaces a port's group memberships (old -> new).
func (t *Tx) setPortGroups(ctx context.Context, portID string, old, new []string) error {
	keep := map[string]bool{}
	for _, g := range new {
		keep[g] = true
	}
	have := map[string]bool{}
	for _, g := range old {
		have[g] = true
		if !keep[g] {
			if _, err := t.exec(ctx, "DELETE FROM securitygroupportbindings WHERE port_id = ? AND security_group_id = ?", portID, g); err != nil {
				return fmt.Errorf("remove port %s from security group %s: %w", portID, g, err)
			}
		}
	}
	var vals []string
	var args []any
	for _, g := range new {
		if !have[g] {
			vals = append(vals, "(?, ?)")
			args = append(args, portID, g)
		}
	}
	if len(vals) == 0 {
		return nil
	}
	return t.execBlind(ctx, "add port "+portID+" to security groups", "INSERT INTO securitygroupportbindings (port_id, security_group_id) VALUES "+strings.Join(vals, ", "), args...)
}
