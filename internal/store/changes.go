package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"neutrino/internal/neutron"
)

// Revision returns the revision of the newest committed change.
func (t *Tx) Revision(ctx context.Context) (int64, error) {
	var v int64
	if err := t.queryRow(ctx, "SELECT value FROM revision WHERE id = 1").Scan(&v); err != nil {
		return 0, fmt.Errorf("read revision: %w", err)
	}
	return v, nil
}

// Changes returns up to limit change-log rows with revision > after, in
// revision order, or neutron.ErrRevisionGone when rows after `after` were
// pruned.
func (s *Store) Changes(ctx context.Context, after int64, limit int) ([]neutron.Change, error) {
	if limit <= 0 {
		limit = 1000
	}
	var out []neutron.Change
	err := s.Read(ctx, func(t *Tx) error {
		var pruned int64
		if err := t.queryRow(ctx, "SELECT pruned FROM revision WHERE id = 1").Scan(&pruned); err != nil {
			return fmt.Errorf("read pruned revision: %w", err)
		}
		if after < pruned {
			return neutron.ErrRevisionGone
		}
		rows, err := t.query(ctx, "SELECT revision, kind, obj_id, op, object, created_at FROM changes WHERE revision > ? ORDER BY revision LIMIT ?", after, limit)
		if err != nil {
			return fmt.Errorf("read change log: %w", err)
		}
		defer rows.Close()
		next := after + 1
		for rows.Next() {
			var c neutron.Change
			var obj sql.NullString
			var created int64
			if err := rows.Scan(&c.Revision, &c.Kind, &c.ID, &c.Op, &obj, &created); err != nil {
				return err
			}
			if c.Revision != next {
				// Defence in depth: writers make revisions visible in
				// order (see awaitPredecessor), so a hole is either a
				// commit about to show (stop here, the caller polls
				// again) or rows removed by hand (resync).
				if len(out) == 0 && t.now.Sub(fromMicro(created)) > 30*time.Second {
					return neutron.ErrRevisionGone
				}
				break
			}
			next++
			if obj.Valid {
				c.Object = []byte(obj.String)
			}
			out = append(out, c)
		}
		return rows.Err()
	})
	return out, err
}

// Prune deletes change-log rows that are both older than keepFor and not
// among the newest keep revisions, and records the horizon so that
// Changes can answer ErrRevisionGone. It returns the new horizon.
func (s *Store) Prune(ctx context.Context, keep int64, keepFor time.Duration) (int64, error) {
	var horizon int64
	_, err := s.Write(ctx, func(t *Tx) error {
		var value, pruned int64
		if err := t.queryRow(ctx, "SELECT value, pruned FROM revision WHERE id = 1").Scan(&value, &pruned); err != nil {
			return fmt.Errorf("read revision: %w", err)
		}
		limit := value - keep
		// The newest row older than keepFor bounds the horizon too.
		var oldest sql.NullInt64
		cutoff := t.now.Add(-keepFor).UnixMicro()
		if err := t.queryRow(ctx, "SELECT MAX(revision) FROM changes WHERE created_at < ?", cutoff).Scan(&oldest); err != nil {
			return fmt.Errorf("find prunable changes: %w", err)
		}
		if !oldest.Valid {
			horizon = pruned
			return nil
		}
		limit = min(limit, oldest.Int64)
		if limit <= pruned {
			horizon = pruned
			return nil
		}
		if _, err := t.exec(ctx, "DELETE FROM changes WHERE revision <= ?", limit); err != nil {
			return fmt.Errorf("prune change log: %w", err)
		}
		if _, err := t.exec(ctx, "UPDATE revision SET pruned = ? WHERE id = 1", limit); err != nil {
			return fmt.Errorf("record prune horizon: %w", err)
		}
		horizon = limit
		return nil
	})
	return horizon, err
}
