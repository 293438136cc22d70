package store

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"neutrino/internal/neutron"
)

// Quotas, as Neutron's DbQuotaDriver keeps them: a project's own limits
// are rows of table quotas; a resource without a row has the default of
// [quotas] (SetQuotaDefaults); a negative limit is unlimited.
//
// Enforcement. A transaction that creates a resource charges it to its
// project (Tx.Charge, one line in the create). Write then checks every
// charged (project, resource), after fn and before commit: it locks the
// pair's row in quota_locks, counts the project's rows of the resource
// (this transaction's included) and fails with Neutron's OverQuota if the
// count exceeds the limit. The lock makes concurrent creates of one
// project count one after the other, on every database and across server
// processes: the second counts only once the first has committed or
// rolled back, so two creates at limit-1 cannot both succeed. It is taken
// at the end of the transaction, so it is held only from the count to the
// commit. (SQLite has one writer at a time and needs no lock; MariaDB
// counts under the revision row lock instead, see lockAndCount.) A bulk
// create charges each item and is checked as a whole.

// quotaTables are the tables whose rows count against each quota
// resource (rows whose project_id is the project). Resources not listed
// (RBAC policies) have nothing to count yet. A new resource
// adds its table here and calls t.Charge in its create.
var quotaTables = map[string]string{
	"network":             "networks",
	"subnet":              "subnets",
	"port":                "ports",
	"security_group":      "securitygroups",
	"security_group_rule": "securitygrouprules",
	"router":              "routers",
	"floatingip":          "floatingips",
	"subnetpool":          "subnetpools",
}

// quotaKey is a charged (project, resource) pair.
type quotaKey struct{ project, resource string }

// SetQuotaDefaults sets the default limit of each resource (config
// [quotas]); resources without one are unlimited. Call it before serving.
func (s *Store) SetQuotaDefaults(d map[string]int) { s.quotaDefaults = d }

// QuotaDefaults returns the default limits.
func (s *Store) QuotaDefaults() map[string]int { return s.quotaDefaults }

// Charge records that this transaction creates one resource of the given
// quota resource for project; the quota is checked before commit.
func (t *Tx) Charge(resource, project string) {
	if t.charges == nil {
		t.charges = map[quotaKey]int{}
	}
	t.charges[quotaKey{project, resource}]++
}

// enforceQuotas checks every charged pair (see the comment at the top).
// Pairs are locked in sorted order, so transactions charging several
// cannot deadlock on each other.
func (t *Tx) enforceQuotas(ctx context.Context) error {
	keys := make([]quotaKey, 0, len(t.charges))
	for k := range t.charges {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b quotaKey) int {
		if c := strings.Compare(a.project, b.project); c != 0 {
			return c
		}
		return strings.Compare(a.resource, b.resource)
	})
	limits := map[string]map[string]int{}
	var overs []string
	for i, k := range keys {
		table, ok := quotaTables[k.resource]
		if !ok {
			return fmt.Errorf("quota resource %q has no table to count", k.resource)
		}
		own, ok := limits[k.project]
		if !ok {
			var err error
			if own, err = t.ProjectQuotas(ctx, k.project); err != nil {
				return err
			}
			limits[k.project] = own
		}
		limit, ok := own[k.resource]
		if !ok {
			limit, ok = t.s.quotaDefaults[k.resource]
		}
		if ok && limit >= 0 {
			used, err := t.lockAndCount(ctx, k, table)
			if err != nil {
				return err
			}
			if used > int64(limit) {
				overs = append(overs, k.resource)
			}
		}
		// Neutron reserves per project and stops at the first project
		// over its quota, naming all its resources that are.
		if len(overs) > 0 && (i == len(keys)-1 || keys[i+1].project != k.project) {
			return overQuota(overs)
		}
	}
	return nil
}

// overQuota is Neutron's fault for resources beyond their quota.
func overQuota(resources []string) error {
	quoted := make([]string, len(resources))
	for i, r := range resources {
		quoted[i] = "'" + r + "'"
	}
	return neutron.Conflict("OverQuota", "Quota exceeded for resources: [%s].", strings.Join(quoted, ", "))
}

// lockAndCount locks k's row in quota_locks and counts the project's rows
// of table. On MariaDB, Write holds the revision row lock already and has
// waited until every earlier commit is visible (awaitPredecessor), so no
// other write can commit before this one and a plain count sees all that
// did: no quota_locks row and no locking read, which waited for the
// uncommitted rows of creates that themselves waited for the quota_locks
// row (a deadlock InnoDB broke by failing one of them).
func (t *Tx) lockAndCount(ctx context.Context, k quotaKey, table string) (int64, error) {
	count := "SELECT COUNT(*) FROM " + table + " WHERE project_id = ?"
	var n int64
	switch t.s.dialect {
	case Postgres:
		// The lock and the count go to the server in one pipeline with
		// what is queued (BEGIN and the create's inserts): the lock is
		// then held from this round trip to the commit's, not across
		// three. A failed insert fails the transaction here (pg.failed).
		t.memo = nil
		t.pg.queue(pendingStmt{what: fmt.Sprintf("lock %s quota of %s", k.resource, k.project),
			q: t.s.rebind(pgQuotaLock), args: []any{k.project, k.resource}})
		if err := t.pg.queryRowQueued(ctx, t.s.rebind(count), []any{k.project}, &n); err != nil {
			return 0, fmt.Errorf("count %s of %s: %w", table, k.project, err)
		}
		return n, nil
	case MySQL:
		if !t.revLocked {
			return 0, fmt.Errorf("quota check of %s outside the revision lock", k.project)
		}
	}
	if err := t.queryRow(ctx, count, k.project).Scan(&n); err != nil {
		return 0, fmt.Errorf("count %s of %s: %w", table, k.project, err)
	}
	return n, nil
}

// pgQuotaLock takes a (project, resource) pair's row lock on PostgreSQL,
// making the row on first use.
const pgQuotaLock = "INSERT INTO quota_locks (project_id, resource, n) VALUES (?, ?, 1) ON CONFLICT (project_id, resource) DO UPDATE SET n = quota_locks.n + 1"

// ProjectQuotas returns the limits set for project (no defaults).
func (r reads) ProjectQuotas(ctx context.Context, project string) (map[string]int, error) {
	all, err := r.quotaRows(ctx, " WHERE project_id = ?", project)
	if err != nil {
		return nil, err
	}
	if all[project] == nil {
		return map[string]int{}, nil
	}
	return all[project], nil
}

// AllQuotas returns the limits of every project that has any set.
func (r reads) AllQuotas(ctx context.Context) (map[string]map[string]int, error) {
	return r.quotaRows(ctx, "")
}

// ProjectQuotas is reads.ProjectQuotas, answered from Preload if that
// read them.
func (t *Tx) ProjectQuotas(ctx context.Context, project string) (map[string]int, error) {
	if v, err, ok := t.preloaded(memoQuotas, project); ok {
		q, _ := v.(map[string]int)
		return q, err
	}
	return t.reads.ProjectQuotas(ctx, project)
}

const quotasQuery = "SELECT project_id, resource, quota_limit FROM quotas"

func (r reads) quotaRows(ctx context.Context, where string, args ...any) (map[string]map[string]int, error) {
	rows, err := r.q.QueryContext(ctx, r.rs.rebind(quotasQuery+where), args...)
	if err != nil {
		return nil, fmt.Errorf("read quotas: %w", err)
	}
	defer rows.Close()
	return scanQuotaRows(rows)
}

func scanQuotaRows(rows rowScanner) (map[string]map[string]int, error) {
	out := map[string]map[string]int{}
	for rows.Next() {
		var p, res string
		var limit int
		if err := rows.Scan(&p, &res, &limit); err != nil {
			return nil, fmt.Errorf("read quotas: %w", err)
		}
		if out[p] == nil {
			out[p] = map[string]int{}
		}
		out[p][res] = limit
	}
	return out, rows.Err()
}

// QuotaUsage counts project's resources of every quota resource that has
// a table.
func (r reads) QuotaUsage(ctx context.Context, project string) (map[string]int, error) {
	out := make(map[string]int, len(quotaTables))
	for res, table := range quotaTables {
		var n int
		if err := scanOne(ctx, r.q, r.rs.rebind("SELECT COUNT(*) FROM "+table+" WHERE project_id = ?"), []any{project}, []any{&n}); err != nil {
			return nil, fmt.Errorf("count %s of %s: %w", table, project, err)
		}
		out[res] = n
	}
	return out, nil
}

// SetQuota sets project's limit of resource.
func (t *Tx) SetQuota(ctx context.Context, project, resource string, limit int) error {
	res, err := t.exec(ctx, "UPDATE quotas SET quota_limit = ? WHERE project_id = ? AND resource = ?", limit, project, resource)
	if err != nil {
		return fmt.Errorf("set %s quota of %s: %w", resource, project, err)
	}
	if n, err := res.RowsAffected(); err == nil && n > 0 {
		return nil
	}
	// No row yet (or MySQL, which counts only changed rows, saw the same
	// value): insert; a duplicate (same value, or a concurrent insert)
	// retries the transaction, which then updates.
	var have int
	err = t.queryRow(ctx, "SELECT quota_limit FROM quotas WHERE project_id = ? AND resource = ?", project, resource).Scan(&have)
	if err == nil && have == limit {
		return nil
	}
	if _, err := t.exec(ctx, "INSERT INTO quotas (project_id, resource, quota_limit) VALUES (?, ?, ?)", project, resource, limit); err != nil {
		return fmt.Errorf("set %s quota of %s: %w", resource, project, err)
	}
	return nil
}

// DeleteQuotas removes project's own limits (back to the defaults) and
// reports whether it had any.
func (t *Tx) DeleteQuotas(ctx context.Context, project string) (bool, error) {
	res, err := t.exec(ctx, "DELETE FROM quotas WHERE project_id = ?", project)
	if err != nil {
		return false, fmt.Errorf("delete quotas of %s: %w", project, err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}
