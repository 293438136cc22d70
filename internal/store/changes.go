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

// Changes returns the change-log rows with revision > after, in revision
// order, or neutron.ErrRevisionGone when rows after `after` were pruned.
// A batch holds limit rows if there are that many, and then the rest of
// the transaction its last row belongs to: one transaction writes several
// consecutive rows (a port update deletes its old binding's rows and adds
// the new ones), and a reader that applied only part of it would publish
// a state that never existed. So every batch ends on a transaction's last
// row (tx_end), and a transaction larger than limit comes whole.
func (s *Store) Changes(ctx context.Context, after int64, limit int) ([]neutron.Change, error) {
	if limit <= 0 {
		limit = 1000
	}
	b := changeBatch{next: after + 1}
	err := s.Read(ctx, func(t *Tx) error {
		var pruned int64
		if err := t.queryRow(ctx, "SELECT pruned FROM revision WHERE id = 1").Scan(&pruned); err != nil {
			return fmt.Errorf("read pruned revision: %w", err)
		}
		if after < pruned {
			return neutron.ErrRevisionGone
		}
		if err := b.read(ctx, t, "revision > ? ORDER BY revision LIMIT ?", after, limit); err != nil {
			return err
		}
		if b.midTx {
			// The limit fell inside a transaction: add its remaining rows,
			// up to its tx_end row. All of them are visible: a transaction
			// commits its rows together.
			last := b.next - 1
			return b.read(ctx, t, "revision > ? AND revision <= (SELECT MIN(revision) FROM changes WHERE revision > ? AND tx_end) ORDER BY revision", last, last)
		}
		return nil
	})
	return b.rows, err
}

// changeBatch collects the contiguous change-log rows a Changes call reads.
type changeBatch struct {
	rows []neutron.Change
	next int64 // the revision the next row must have
	// midTx: the last row read is not its transaction's last and no hole
	// stopped the read.
	midTx bool
}

// read appends the rows `SELECT ... FROM changes WHERE <where>` returns
// while their revisions are contiguous.
func (b *changeBatch) read(ctx context.Context, t *Tx, where string, args ...any) error {
	rows, err := t.query(ctx, "SELECT revision, kind, obj_id, op, object, created_at, tx_end FROM changes WHERE "+where, args...)
	if err != nil {
		return fmt.Errorf("read change log: %w", err)
	}
	defer rows.Close()
	b.midTx = false
	for rows.Next() {
		var c neutron.Change
		var obj sql.NullString
		var created int64
		var end bool
		if err := rows.Scan(&c.Revision, &c.Kind, &c.ID, &c.Op, &obj, &created, &end); err != nil {
			return err
		}
		if c.Revision != b.next {
			// Defence in depth: writers make revisions visible in
			// order (see awaitPredecessor), so a hole is either a
			// commit about to show (stop here, the caller polls
			// again) or rows removed by hand (resync).
			if len(b.rows) == 0 && t.now.Sub(fromMicro(created)) > 30*time.Second {
				return neutron.ErrRevisionGone
			}
			b.midTx = false
			break
		}
		b.next++
		if obj.Valid {
			c.Object = []byte(obj.String)
		}
		b.rows = append(b.rows, c)
		b.midTx = !end
	}
	return rows.Err()
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
		// Delete whole transactions only, so the log starts on a
		// transaction boundary as every batch of Changes does.
		var end sql.NullInt64
		if err := t.queryRow(ctx, "SELECT MAX(revision) FROM changes WHERE revision <= ? AND tx_end", limit).Scan(&end); err != nil {
			return fmt.Errorf("find prunable changes: %w", err)
		}
		limit = end.Int64
		if !end.Valid || limit <= pruned {
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
