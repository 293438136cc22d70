package store

import (
	"context"
	"database/sql"
	"fmt"

	"neutrino/internal/neutron"
)

// TagKindSubnetPool is the tags table's kind of subnet pools.
const TagKindSubnetPool = "subnetpool"

var subnetPoolRes = &resource{
	kind: TagKindSubnetPool, noun: "SubnetPool", table: "subnetpools", tagged: true,
	cols: namedColumns(map[string]column{
		"ip_version":        {"ip_version", colInt},
		"default_prefixlen": {"default_prefixlen", colInt},
		"min_prefixlen":     {"min_prefixlen", colInt},
		"max_prefixlen":     {"max_prefixlen", colInt},
		"default_quota":     {"default_quota", colInt},
		"shared":            {"shared", colBool},
		"is_default":        {"is_default", colBool},
	}),
	special: func(attr string, vals []string) (string, []any, bool, error) {
		if attr == "address_scope_id" {
			// No address scopes: every pool has none.
			for _, v := range vals {
				if v == "" {
					return "1=1", nil, true, nil
				}
			}
			return "1=0", nil, true, nil
		}
		return "", nil, false, nil
	},
	// A project sees its own pools and shared ones (Neutron's
	// shared_subnetpools rule).
	visible: func(p string) (string, []any) {
		return "(subnetpools.project_id = ? OR subnetpools.shared = ?)", []any{p, true}
	},
}

const subnetPoolCols = "subnetpools.id, subnetpools.project_id, subnetpools.name, subnetpools.description, subnetpools.ip_version, subnetpools.prefixes, subnetpools.default_prefixlen, subnetpools.min_prefixlen, subnetpools.max_prefixlen, subnetpools.default_quota, subnetpools.shared, subnetpools.is_default, subnetpools.created_at, subnetpools.updated_at, subnetpools.revision_number"

func (s *Store) loadSubnetPools(ctx context.Context, db querier, tail string, args []any) ([]neutron.SubnetPool, error) {
	rows, err := db.QueryContext(ctx, s.rebind("SELECT "+subnetPoolCols+" FROM subnetpools"+tail), args...)
	if err != nil {
		return nil, fmt.Errorf("list subnet pools: %w", err)
	}
	var out []neutron.SubnetPool
	for rows.Next() {
		var p neutron.SubnetPool
		var prefixes string
		var quota sql.NullInt64
		var c, u int64
		if err := rows.Scan(&p.ID, &p.ProjectID, &p.Name, &p.Description, &p.IPVersion, &prefixes, &p.DefaultPrefixlen,
			&p.MinPrefixlen, &p.MaxPrefixlen, &quota, &p.Shared, &p.IsDefault, &c, &u, &p.RevisionNumber); err != nil {
			rows.Close()
			return nil, err
		}
		p.CreatedAt, p.UpdatedAt = fromMicro(c), fromMicro(u)
		p.Tags, p.Prefixes = []string{}, []string{}
		if quota.Valid {
			q := int(quota.Int64)
			p.DefaultQuota = &q
		}
		if err := unmarshalAll(prefixes, &p.Prefixes); err != nil {
			rows.Close()
			return nil, fmt.Errorf("subnet pool %s: %w", p.ID, err)
		}
		out = append(out, p)
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
	if err := s.attachTags(ctx, db, TagKindSubnetPool, childScope{ids: ids}, idx, func(i int, ts []string) { out[i].Tags = ts }); err != nil {
		return nil, err
	}
	return out, nil
}

// ListSubnetPools lists subnet pools.
func (r reads) ListSubnetPools(ctx context.Context, q neutron.ListQuery) ([]neutron.SubnetPool, error) {
	return listPage(ctx, r.q, r.rs, subnetPoolRes, q, func(tail string, args []any) ([]neutron.SubnetPool, error) {
		return r.rs.loadSubnetPools(ctx, r.q, tail, args)
	})
}

// GetSubnetPool reads one subnet pool (404 SubnetPoolNotFound).
func (r reads) GetSubnetPool(ctx context.Context, id string) (*neutron.SubnetPool, error) {
	out, err := r.rs.loadSubnetPools(ctx, r.q, " WHERE subnetpools.id = ?", []any{id})
	if err == nil && len(out) == 0 {
		return nil, neutron.NotFound("SubnetPool", id)
	}
	return firstOr404(out, err, "SubnetPool", id)
}

// DefaultSubnetPool returns the default pool of an IP version (nil if
// there is none).
func (t *Tx) DefaultSubnetPool(ctx context.Context, version int) (*neutron.SubnetPool, error) {
	out, err := t.rs.loadSubnetPools(ctx, t.q, " WHERE subnetpools.default_for = ?", []any{version})
	if err != nil || len(out) == 0 {
		return nil, err
	}
	return &out[0], nil
}

// LockSubnetPool holds a pool's row until commit (PostgreSQL, MariaDB;
// SQLite has one writer) and reads the pool: allocations from one pool,
// its updates and its deletion run one at a time, so a pool's subnets
// never overlap and a pool is not deleted under a new subnet.
func (t *Tx) LockSubnetPool(ctx context.Context, id string) (*neutron.SubnetPool, error) {
	q := "SELECT id FROM subnetpools WHERE id = ?"
	switch t.s.dialect {
	case Postgres:
		q += " FOR NO KEY UPDATE"
	case MySQL:
		q += " FOR UPDATE"
	}
	var got string
	err := t.queryRow(ctx, q, id).Scan(&got)
	if isNoRows(err) {
		return nil, neutron.NotFound("SubnetPool", id)
	}
	if err != nil {
		return nil, fmt.Errorf("lock subnet pool %s: %w", id, err)
	}
	return t.GetSubnetPool(ctx, id)
}

// PoolSubnet is a subnet allocated from a pool: its CIDR and project.
type PoolSubnet struct{ CIDR, ProjectID string }

// SubnetPoolSubnets lists the subnets allocated from a pool.
func (t *Tx) SubnetPoolSubnets(ctx context.Context, poolID string) ([]PoolSubnet, error) {
	rows, err := t.query(ctx, "SELECT cidr, project_id FROM subnets WHERE subnetpool_id = ? ORDER BY cidr", poolID)
	if err != nil {
		return nil, fmt.Errorf("read subnets of pool %s: %w", poolID, err)
	}
	defer rows.Close()
	var out []PoolSubnet
	for rows.Next() {
		var s PoolSubnet
		if err := rows.Scan(&s.CIDR, &s.ProjectID); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func defaultFor(p *neutron.SubnetPool) any {
	if p.IsDefault {
		return p.IPVersion
	}
	return nil
}

func quotaArg(q *int) any {
	if q == nil {
		return nil
	}
	return *q
}

// InsertSubnetPool inserts a pool and its tags. A second default pool of
// an IP version fails a unique index (the caller checks first; a racing
// create retries into that check).
func (t *Tx) InsertSubnetPool(ctx context.Context, p *neutron.SubnetPool) error {
	if _, err := t.exec(ctx, "INSERT INTO subnetpools (id, project_id, name, description, ip_version, prefixes, default_prefixlen, min_prefixlen, max_prefixlen, default_quota, shared, is_default, default_for, created_at, updated_at, revision_number) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		p.ID, p.ProjectID, p.Name, p.Description, p.IPVersion, string(mustMarshal(nonNil(p.Prefixes))), p.DefaultPrefixlen,
		p.MinPrefixlen, p.MaxPrefixlen, quotaArg(p.DefaultQuota), p.Shared, p.IsDefault, defaultFor(p),
		micro(p.CreatedAt), micro(p.UpdatedAt), p.RevisionNumber); err != nil {
		return fmt.Errorf("insert subnet pool %s: %w", p.ID, err)
	}
	return t.insertTags(ctx, TagKindSubnetPool, p.ID, p.Tags)
}

// UpdateSubnetPool writes a pool's mutable columns (compare-and-set on
// the revision; ErrRetry when it moved).
func (t *Tx) UpdateSubnetPool(ctx context.Context, p *neutron.SubnetPool, prevRev int64) error {
	res, err := t.exec(ctx, "UPDATE subnetpools SET name = ?, description = ?, prefixes = ?, default_prefixlen = ?, min_prefixlen = ?, max_prefixlen = ?, default_quota = ?, is_default = ?, default_for = ?, updated_at = ?, revision_number = ? WHERE id = ? AND revision_number = ?",
		p.Name, p.Description, string(mustMarshal(nonNil(p.Prefixes))), p.DefaultPrefixlen, p.MinPrefixlen, p.MaxPrefixlen,
		quotaArg(p.DefaultQuota), p.IsDefault, defaultFor(p), micro(p.UpdatedAt), p.RevisionNumber, p.ID, prevRev)
	if err != nil {
		return fmt.Errorf("update subnet pool %s: %w", p.ID, err)
	}
	return casResult(res)
}

// DeleteSubnetPool deletes a pool and its tags (404 when absent). Its
// subnets must be gone (the caller checks under LockSubnetPool).
func (t *Tx) DeleteSubnetPool(ctx context.Context, id string) error {
	if err := t.deleteTags(ctx, TagKindSubnetPool, id); err != nil {
		return err
	}
	res, err := t.exec(ctx, "DELETE FROM subnetpools WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("delete subnet pool %s: %w", id, err)
	}
	if k, _ := res.RowsAffected(); k == 0 {
		return neutron.NotFound("SubnetPool", id)
	}
	return nil
}
