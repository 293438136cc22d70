package store

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"sort"
	"strconv"
	"strings"

	"neutrino/internal/neutron"
)

// querier is what both *sql.DB and *sql.Tx offer.
type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

// scanOne reads the first row of query into dest (sql.ErrNoRows if none).
// It goes through QueryContext, not QueryRowContext, so that the Store's
// reads classify a lost database as unavailable (unavailableQuerier).
func scanOne(ctx context.Context, db querier, query string, args []any, dest []any) error {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return sql.ErrNoRows
	}
	return rows.Scan(dest...)
}

type colKind int

const (
	colString colKind = iota
	colBool
	colInt
)

// column is what a filter or sort key names: a column of the resource's
// table and how its query values convert.
type column struct {
	name string
	kind colKind
}

// standardColumns adds to own the filter columns of the attributes that
// every project-owned Neutron resource has: id, project_id (tenant_id is
// its old name), and Neutron's standard attributes description,
// revision_number, created_at and updated_at.
func standardColumns(own map[string]column) map[string]column {
	cols := map[string]column{
		"id":              {"id", colString},
		"project_id":      {"project_id", colString},
		"tenant_id":       {"project_id", colString},
		"description":     {"description", colString},
		"revision_number": {"revision_number", colInt},
		"created_at":      {"created_at", colInt},
		"updated_at":      {"updated_at", colInt},
	}
	maps.Copy(cols, own)
	return cols
}

// namedColumns is standardColumns for a resource that also has a name.
func namedColumns(own map[string]column) map[string]column {
	cols := standardColumns(own)
	cols["name"] = column{"name", colString}
	return cols
}

// resource describes how a collection is filtered and sorted in SQL.
type resource struct {
	kind  string // "network", "subnet", "port", "agent"
	noun  string // for NotFound: "Network"
	table string
	cols  map[string]column // by attribute; columns of table
	// special handles filters that are not plain columns.
	special func(attr string, vals []string) (cond string, args []any, ok bool, err error)
	// visible builds the VisibleTo condition.
	visible func(project string) (string, []any)
	tagged  bool
}

func boolArg(attr, v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true", "1", "t", "yes", "on":
		return true, nil
	case "false", "0", "f", "no", "off":
		return false, nil
	}
	return false, neutron.InvalidInput("'%s' cannot be converted to boolean.", v)
}

// where builds the WHERE clause (without the keyword; "1=1" when empty).
func (r *resource) where(q neutron.ListQuery) (string, []any, error) {
	var conds []string
	var args []any
	for attr, vals := range q.Filters {
		if len(vals) == 0 {
			continue
		}
		if r.tagged && strings.HasPrefix(attr, "tags") || r.tagged && strings.HasPrefix(attr, "not-tags") {
			c, a, err := r.tagFilter(attr, vals)
			if err != nil {
				return "", nil, err
			}
			conds = append(conds, c)
			args = append(args, a...)
			continue
		}
		if r.special != nil {
			c, a, ok, err := r.special(attr, vals)
			if err != nil {
				return "", nil, err
			}
			if ok {
				conds = append(conds, c)
				args = append(args, a...)
				continue
			}
		}
		col, ok := r.cols[attr]
		if !ok {
			return "", nil, neutron.BadRequest("%s is an invalid filter for %s.", attr, r.table)
		}
		ph := make([]string, 0, len(vals))
		for _, v := range vals {
			switch col.kind {
			case colBool:
				b, err := boolArg(attr, v)
				if err != nil {
					return "", nil, err
				}
				args = append(args, b)
			case colInt:
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return "", nil, neutron.InvalidInput("'%s' is not an integer.", v)
				}
				args = append(args, n)
			default:
				args = append(args, v)
			}
			ph = append(ph, "?")
		}
		conds = append(conds, fmt.Sprintf("%s.%s IN (%s)", r.table, col.name, strings.Join(ph, ", ")))
	}
	if q.VisibleTo != "" && r.visible != nil {
		c, a := r.visible(q.VisibleTo)
		conds = append(conds, c)
		args = append(args, a...)
	}
	if len(conds) == 0 {
		return "1=1", nil, nil
	}
	// Deterministic order helps tests and query caches.
	return strings.Join(conds, " AND "), args, nil
}

func splitTags(vals []string) []string {
	var out []string
	for _, v := range vals {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				out = append(out, t)
			}
		}
	}
	return out
}

func (r *resource) tagFilter(attr string, vals []string) (string, []any, error) {
	tags := splitTags(vals)
	if len(tags) == 0 {
		return "1=1", nil, nil
	}
	id := r.table + ".id"
	sub := "SELECT resource_id FROM tags WHERE kind = ? AND tag = ?"
	switch attr {
	case "tags", "not-tags":
		var cs []string
		var args []any
		for _, t := range tags {
			cs = append(cs, id+" IN ("+sub+")")
			args = append(args, r.kind, t)
		}
		c := "(" + strings.Join(cs, " AND ") + ")"
		if attr == "not-tags" {
			c = "NOT " + c
		}
		return c, args, nil
	case "tags-any", "not-tags-any":
		ph := strings.TrimSuffix(strings.Repeat("?, ", len(tags)), ", ")
		args := []any{r.kind}
		for _, t := range tags {
			args = append(args, t)
		}
		op := " IN "
		if attr == "not-tags-any" {
			op = " NOT IN "
		}
		return id + op + "(SELECT resource_id FROM tags WHERE kind = ? AND tag IN (" + ph + "))", args, nil
	}
	return "", nil, neutron.BadRequest("%s is an invalid filter for %s.", attr, r.table)
}

// order builds ORDER BY and the keyset condition for the marker.
// markerVals are the marker row's values of the sort columns (nil = no
// marker). reverse flips every direction (page_reverse).
func (r *resource) order(q neutron.ListQuery) (cols []string, desc []bool, err error) {
	seenID := false
	for _, k := range q.Sort {
		col, ok := r.cols[k.Key]
		if !ok {
			return nil, nil, neutron.BadRequest("%s is an invalid attribute for sort_keys.", k.Key)
		}
		if k.Key == "id" {
			seenID = true
		}
		cols = append(cols, r.table+"."+col.name)
		desc = append(desc, k.Desc)
	}
	if !seenID {
		// id makes the order total, so markers work.
		cols = append(cols, r.table+".id")
		desc = append(desc, false)
	}
	return cols, desc, nil
}

// page returns the full "WHERE ... ORDER BY ... LIMIT" tail for a listing,
// resolving the marker with q (a query on the same connection).
func (r *resource) page(ctx context.Context, db querier, s *Store, q neutron.ListQuery) (tail string, args []any, reversed bool, err error) {
	where, args, err := r.where(q)
	if err != nil {
		return "", nil, false, err
	}
	cols, desc, err := r.order(q)
	if err != nil {
		return "", nil, false, err
	}
	reversed = q.PageReverse
	if reversed {
		for i := range desc {
			desc[i] = !desc[i]
		}
	}
	if q.Marker != "" {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := scanOne(ctx, db, s.rebind(fmt.Sprintf("SELECT %s FROM %s WHERE %s.id = ?", strings.Join(cols, ", "), r.table, r.table)), []any{q.Marker}, ptrs); err != nil {
			if err == sql.ErrNoRows {
				return "", nil, false, neutron.NotFound(r.noun, q.Marker)
			}
			return "", nil, false, fmt.Errorf("read marker: %w", err)
		}
		// (c1 > v1) OR (c1 = v1 AND c2 > v2) OR ...
		var ors []string
		for i := range cols {
			var ands []string
			for j := 0; j < i; j++ {
				ands = append(ands, cols[j]+" = ?")
				args = append(args, vals[j])
			}
			op := " > ?"
			if desc[i] {
				op = " < ?"
			}
			ands = append(ands, cols[i]+op)
			args = append(args, vals[i])
			ors = append(ors, "("+strings.Join(ands, " AND ")+")")
		}
		where += " AND (" + strings.Join(ors, " OR ") + ")"
	}
	var ob []string
	for i, c := range cols {
		if desc[i] {
			ob = append(ob, c+" DESC")
		} else {
			ob = append(ob, c+" ASC")
		}
	}
	tail = " WHERE " + where + " ORDER BY " + strings.Join(ob, ", ")
	if q.Limit > 0 {
		tail += " LIMIT " + strconv.Itoa(q.Limit)
	}
	return tail, args, reversed, nil
}

// idsIn renders "col IN (?, ?, ...)" for ids.
func idsIn(col string, ids []string) (string, []any) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return col + " IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ") + ")", args
}

// childChunk bounds the ids of one child query: big enough that 10,000
// ports need a handful of queries, small enough for every dialect's
// parameter limit. Child rows are always loaded by explicit parent ids
// (the primary-key/index lookups keep a good plan even when the planner's
// statistics are stale, which a "parent_id IN (SELECT ...)" subquery does
// not: PostgreSQL picked a 50-million-comparison nested loop right after a
// bulk load).
const childChunk = 2000

// childScope lists the parent rows whose children are loaded.
type childScope struct{ ids []string }

// each runs q once per chunk of ids with "col IN (...)" as cond.
func (c childScope) each(col string, q func(cond string, args []any) error) error {
	for lo := 0; lo < len(c.ids); lo += childChunk {
		cond, args := idsIn(col, c.ids[lo:min(lo+childChunk, len(c.ids))])
		if err := q(cond, args); err != nil {
			return err
		}
	}
	return nil
}

// attachTags loads the tags of kind for scope and hands each loaded
// resource's to set, by its index in idx (resource id -> index).
func (s *Store) attachTags(ctx context.Context, db querier, kind string, scope childScope, idx map[string]int, set func(i int, tags []string)) error {
	tags, err := s.loadTags(ctx, db, kind, scope)
	if err != nil {
		return err
	}
	for id, ts := range tags {
		if i, ok := idx[id]; ok {
			set(i, ts)
		}
	}
	return nil
}

// loadTags returns resource id -> tags for kind.
func (s *Store) loadTags(ctx context.Context, db querier, kind string, scope childScope) (map[string][]string, error) {
	out := map[string][]string{}
	err := scope.each("resource_id", func(cond string, args []any) error {
		rows, err := db.QueryContext(ctx, s.rebind("SELECT resource_id, tag FROM tags WHERE kind = ? AND "+cond+" ORDER BY tag"), append([]any{kind}, args...)...)
		if err != nil {
			return fmt.Errorf("load tags: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var id, tag string
			if err := rows.Scan(&id, &tag); err != nil {
				return err
			}
			out[id] = append(out[id], tag)
		}
		return rows.Err()
	})
	// Byte order, whatever the database collation says, so that stored
	// and freshly built objects compare equal.
	for _, ts := range out {
		sort.Strings(ts)
	}
	return out, err
}

// listPage runs r's filtered, sorted page query through load and puts the
// rows back in the requested order (a page before a marker is read
// backwards). It serves every List of the store.
func listPage[T any](ctx context.Context, db querier, s *Store, r *resource, q neutron.ListQuery, load func(tail string, args []any) ([]T, error)) ([]T, error) {
	tail, args, rev, err := r.page(ctx, db, s, q)
	if err != nil {
		return nil, err
	}
	out, err := load(tail, args)
	if rev {
		reverse(out)
	}
	return out, err
}

// firstOr404 returns the first row a Get loaded, or noun's 404 when there
// was none.
func firstOr404[T any](out []T, err error, noun, id string) (*T, error) {
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, neutron.NotFound(noun, id)
	}
	return &out[0], nil
}
