package store

import (
	"context"
	"fmt"
	"strings"
)

// IDRange is an inclusive segmentation id range (vni_ranges,
// tunnel_id_ranges, a physnet's VLAN range).
type IDRange struct{ Min, Max int64 }

// tunnelTable maps a tunnel type to its allocation table and column.
func tunnelTable(typ string) (table, col string, err error) {
	switch typ {
	case "vxlan":
		return "vxlan_allocations", "vxlan_vni", nil
	case "gre":
		return "gre_allocations", "gre_id", nil
	}
	return "", "", fmt.Errorf("no allocation table for network type %q", typ)
}

const syncChunk = 500

func (s *Store) insertIgnore() (prefix, suffix string) {
	if s.dialect == MySQL {
		return "INSERT IGNORE INTO ", ""
	}
	return "INSERT INTO ", " ON CONFLICT DO NOTHING"
}

// SyncTunnelAllocations makes the allocation table of typ match ranges as
// Neutron does at start: unallocated rows outside the ranges are deleted,
// missing rows inside are added in bulk; allocated rows are kept.
// Concurrent servers doing the same are harmless (inserts ignore
// duplicates).
func (s *Store) SyncTunnelAllocations(ctx context.Context, typ string, ranges []IDRange) error {
	table, col, err := tunnelTable(typ)
	if err != nil {
		return err
	}
	return s.syncAllocations(ctx, table, col, "", "", ranges)
}

// SyncVLANAllocations does the same for one physnet's VLAN ranges.
func (s *Store) SyncVLANAllocations(ctx context.Context, physnets map[string][]IDRange) error {
	// Rows of physnets no longer configured go too (when unallocated).
	var names []string
	var args []any
	for p := range physnets {
		names = append(names, "?")
		args = append(args, p)
	}
	q := "DELETE FROM vlan_allocations WHERE allocated = ?"
	if len(names) > 0 {
		q += " AND physical_network NOT IN (" + strings.Join(names, ", ") + ")"
	}
	if _, err := s.db.ExecContext(ctx, s.rebind(q), append([]any{false}, args...)...); err != nil {
		return fmt.Errorf("sync vlan allocations: %w", err)
	}
	for p, rs := range physnets {
		if err := s.syncAllocations(ctx, "vlan_allocations", "vlan_id", "physical_network", p, rs); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) syncAllocations(ctx context.Context, table, col, keyCol, key string, ranges []IDRange) error {
	scope, scopeArgs := "", []any{}
	if keyCol != "" {
		scope = " AND " + keyCol + " = ?"
		scopeArgs = []any{key}
	}
	// Delete unallocated rows outside every range.
	var inside []string
	var args []any
	args = append(args, false)
	args = append(args, scopeArgs...)
	for _, r := range ranges {
		inside = append(inside, "("+col+" BETWEEN ? AND ?)")
		args = append(args, r.Min, r.Max)
	}
	q := "DELETE FROM " + table + " WHERE allocated = ?" + scope
	if len(inside) > 0 {
		q += " AND NOT (" + strings.Join(inside, " OR ") + ")"
	}
	if _, err := s.db.ExecContext(ctx, s.rebind(q), args...); err != nil {
		return fmt.Errorf("sync %s: delete stale rows: %w", table, err)
	}
	pre, suf := s.insertIgnore()
	for _, r := range ranges {
		// A complete range (every restart after the first) costs one query.
		var have int64
		if err := s.db.QueryRowContext(ctx, s.rebind("SELECT COUNT(*) FROM "+table+" WHERE "+col+" BETWEEN ? AND ?"+scope), append([]any{r.Min, r.Max}, scopeArgs...)...).Scan(&have); err != nil {
			return fmt.Errorf("sync %s: %w", table, err)
		}
		if have == r.Max-r.Min+1 {
			continue
		}
		for lo := r.Min; lo <= r.Max; lo += syncChunk {
			hi := min(lo+syncChunk-1, r.Max)
			have := map[int64]bool{}
			rows, err := s.db.QueryContext(ctx, s.rebind("SELECT "+col+" FROM "+table+" WHERE "+col+" BETWEEN ? AND ?"+scope), append([]any{lo, hi}, scopeArgs...)...)
			if err != nil {
				return fmt.Errorf("sync %s: %w", table, err)
			}
			for rows.Next() {
				var v int64
				if err := rows.Scan(&v); err != nil {
					rows.Close()
					return err
				}
				have[v] = true
			}
			rows.Close()
			if int64(len(have)) == hi-lo+1 {
				continue
			}
			var vals []string
			var iargs []any
			for v := lo; v <= hi; v++ {
				if have[v] {
					continue
				}
				if keyCol != "" {
					vals = append(vals, "(?, ?, ?)")
					iargs = append(iargs, key, v, false)
				} else {
					vals = append(vals, "(?, ?)")
					iargs = append(iargs, v, false)
				}
			}
			cols := col + ", allocated"
			if keyCol != "" {
				cols = keyCol + ", " + cols
			}
			if _, err := s.db.ExecContext(ctx, s.rebind(pre+table+" ("+cols+") VALUES "+strings.Join(vals, ", ")+suf), iargs...); err != nil {
				return fmt.Errorf("sync %s: insert: %w", table, err)
			}
		}
	}
	return nil
}

// AllocateVNI marks the lowest free VXLAN VNI allocated; ok is false when
// none is free. On PostgreSQL and MariaDB/MySQL the row is taken with
// FOR UPDATE SKIP LOCKED, so concurrent creators get different ids without
// waiting for each other (Neutron picks a random free row and retries the
// whole request on a collision); SQLite has one writer at a time anyway.
// Lowest-first also keeps provider ids high in the range free and makes
// allocations reproducible.
func (t *Tx) AllocateVNI(ctx context.Context) (int64, bool, error) {
	return t.allocateTunnelID(ctx, "vxlan")
}

// AllocateGREKey marks the lowest free GRE key allocated, as AllocateVNI.
func (t *Tx) AllocateGREKey(ctx context.Context) (int64, bool, error) {
	return t.allocateTunnelID(ctx, "gre")
}

func (t *Tx) allocateTunnelID(ctx context.Context, typ string) (int64, bool, error) {
	table, col, err := tunnelTable(typ)
	if err != nil {
		return 0, false, err
	}
	return t.allocate(ctx, table, col, "", "")
}

// AllocateVLAN marks the lowest free VLAN of physnet allocated.
func (t *Tx) AllocateVLAN(ctx context.Context, physnet string) (int64, bool, error) {
	return t.allocate(ctx, "vlan_allocations", "vlan_id", "physical_network", physnet)
}

func (t *Tx) allocate(ctx context.Context, table, col, keyCol, key string) (int64, bool, error) {
	scope, scopeArgs := "", []any{}
	if keyCol != "" {
		scope = " AND " + keyCol + " = ?"
		scopeArgs = []any{key}
	}
	q := "SELECT " + col + " FROM " + table + " WHERE allocated = ?" + scope + " ORDER BY " + col + " LIMIT 1"
	if t.s.dialect != SQLite {
		q += " FOR UPDATE SKIP LOCKED"
	}
	var id int64
	err := t.queryRow(ctx, q, append([]any{false}, scopeArgs...)...).Scan(&id)
	if isNoRows(err) && t.s.dialect != SQLite {
		// Everything free may be locked by allocators still running; if
		// any free row exists, wait for them (retry) instead of reporting
		// the pool exhausted.
		err = t.queryRow(ctx, "SELECT "+col+" FROM "+table+" WHERE allocated = ?"+scope+" LIMIT 1", append([]any{false}, scopeArgs...)...).Scan(&id)
		if err == nil {
			return 0, false, ErrRetry
		}
	}
	if isNoRows(err) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("find free %s: %w", col, err)
	}
	res, err := t.exec(ctx, "UPDATE "+table+" SET allocated = ? WHERE "+col+" = ? AND allocated = ?"+scope,
		append([]any{true, id, false}, scopeArgs...)...)
	if err != nil {
		return 0, false, fmt.Errorf("allocate %s %d: %w", col, id, err)
	}
	if err := casResult(res); err != nil {
		return 0, false, err
	}
	return id, true, nil
}

// ReserveTunnelID marks a specific tunnel id (the VNI of a vxlan network,
// the key of a gre one) allocated (provider networks); inUse
// reports that it already was. Ids outside the ranges get a row.
func (t *Tx) ReserveTunnelID(ctx context.Context, typ string, id int64) (inUse bool, err error) {
	table, col, err := tunnelTable(typ)
	if err != nil {
		return false, err
	}
	return t.reserve(ctx, table, col, "", "", id)
}

// ReserveVLAN marks a specific VLAN of physnet allocated.
func (t *Tx) ReserveVLAN(ctx context.Context, physnet string, id int64) (bool, error) {
	return t.reserve(ctx, "vlan_allocations", "vlan_id", "physical_network", physnet, id)
}

func (t *Tx) reserve(ctx context.Context, table, col, keyCol, key string, id int64) (bool, error) {
	scope, scopeArgs := "", []any{}
	if keyCol != "" {
		scope = " AND " + keyCol + " = ?"
		scopeArgs = []any{key}
	}
	var allocated bool
	err := t.queryRow(ctx, "SELECT allocated FROM "+table+" WHERE "+col+" = ?"+scope, append([]any{id}, scopeArgs...)...).Scan(&allocated)
	switch {
	case isNoRows(err):
		cols, ph := col+", allocated", "?, ?"
		args := []any{id, true}
		if keyCol != "" {
			cols, ph = keyCol+", "+cols, "?, "+ph
			args = append([]any{key}, args...)
		}
		// A concurrent insert of the same id fails the primary key and
		// the transaction is retried; it then sees the row allocated.
		if _, err := t.exec(ctx, "INSERT INTO "+table+" ("+cols+") VALUES ("+ph+")", args...); err != nil {
			return false, fmt.Errorf("reserve %s %d: %w", col, id, err)
		}
		return false, nil
	case err != nil:
		return false, fmt.Errorf("read %s %d: %w", col, id, err)
	case allocated:
		return true, nil
	}
	res, err := t.exec(ctx, "UPDATE "+table+" SET allocated = ? WHERE "+col+" = ? AND allocated = ?"+scope, append([]any{true, id, false}, scopeArgs...)...)
	if err != nil {
		return false, fmt.Errorf("reserve %s %d: %w", col, id, err)
	}
	return false, casResult(res)
}

// ReleaseTunnelID frees a tunnel id (VNI or GRE key): back to the pool inside the ranges, row
// deleted outside them.
func (t *Tx) ReleaseTunnelID(ctx context.Context, typ string, id int64, inRanges bool) error {
	table, col, err := tunnelTable(typ)
	if err != nil {
		return err
	}
	return t.release(ctx, table, col, "", "", id, inRanges)
}

// ReleaseVLAN frees a VLAN of physnet.
func (t *Tx) ReleaseVLAN(ctx context.Context, physnet string, id int64, inRanges bool) error {
	return t.release(ctx, "vlan_allocations", "vlan_id", "physical_network", physnet, id, inRanges)
}

func (t *Tx) release(ctx context.Context, table, col, keyCol, key string, id int64, inRanges bool) error {
	scope, scopeArgs := "", []any{}
	if keyCol != "" {
		scope = " AND " + keyCol + " = ?"
		scopeArgs = []any{key}
	}
	var err error
	if inRanges {
		_, err = t.exec(ctx, "UPDATE "+table+" SET allocated = ? WHERE "+col+" = ?"+scope, append([]any{false, id}, scopeArgs...)...)
	} else {
		_, err = t.exec(ctx, "DELETE FROM "+table+" WHERE "+col+" = ?"+scope, append([]any{id}, scopeArgs...)...)
	}
	if err != nil {
		return fmt.Errorf("release %s %d: %w", col, id, err)
	}
	return nil
}

// ReserveFlat claims a flat physnet; inUse reports it already had a network.
func (t *Tx) ReserveFlat(ctx context.Context, physnet string) (bool, error) {
	var p string
	err := t.queryRow(ctx, "SELECT physical_network FROM flat_allocations WHERE physical_network = ?", physnet).Scan(&p)
	if err == nil {
		return true, nil
	}
	if !isNoRows(err) {
		return false, fmt.Errorf("read flat allocation %s: %w", physnet, err)
	}
	if _, err := t.exec(ctx, "INSERT INTO flat_allocations (physical_network) VALUES (?)", physnet); err != nil {
		return false, fmt.Errorf("reserve flat %s: %w", physnet, err)
	}
	return false, nil
}

// ReleaseFlat frees a flat physnet.
func (t *Tx) ReleaseFlat(ctx context.Context, physnet string) error {
	if _, err := t.exec(ctx, "DELETE FROM flat_allocations WHERE physical_network = ?", physnet); err != nil {
		return fmt.Errorf("release flat %s: %w", physnet, err)
	}
	return nil
}

// CountFreeTunnelIDs is for tests and diagnostics.
func (s *Store) CountFreeTunnelIDs(ctx context.Context, typ string) (int64, error) {
	table, _, err := tunnelTable(typ)
	if err != nil {
		return 0, err
	}
	var n int64
	err = s.rdb.QueryRowContext(ctx, s.rebind("SELECT COUNT(*) FROM "+table+" WHERE allocated = ?"), false).Scan(&n)
	return n, err
}
