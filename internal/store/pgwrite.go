package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// writeOncePG runs one write transaction on PostgreSQL. It uses a plain
// connection with BEGIN/COMMIT statements instead of database/sql's Tx so
// that the last statement (revision bump + change rows) and COMMIT reach
// the server in one pipeline: the revision row lock, which every write
// takes, is then held only while the server executes those two, never
// across a client round trip. Measured with 32 concurrent port creates on
// a 2-CPU machine, most backends were waiting for that lock while its
// holder sat "idle in transaction" until its goroutine got scheduled to
// send COMMIT.
func (s *Store) writeOncePG(ctx context.Context, fn func(*Tx) error) (rev int64, err error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	defer conn.Close()
	done := false
	defer func() {
		if !done {
			abortPG(conn)
		}
	}()
	t := &Tx{s: s, now: time.Now().UTC().Truncate(time.Microsecond)}
	pc := &pgConn{conn: conn, t: t}
	t.tx, t.pg, t.reads = pc, pc, reads{s, pc}
	err = fn(t)
	if err == nil {
		err = t.enforceQuotas(ctx)
	}
	if pc.failed != nil {
		// A queued insert failed when sent with a later statement; that
		// failure (e.g. a unique violation: retry) is the cause of
		// whatever fn saw afterwards (transaction aborted).
		return 0, pc.failed
	}
	if err != nil {
		return 0, err
	}
	if len(t.changes) > 0 {
		pc.begin()
	}
	if !pc.begun {
		// Nothing was written, locked or logged: the reads ran on their
		// own and there is no transaction to commit.
		done = true
		return 0, nil
	}
	rev, err = t.commitPG(ctx, conn)
	done = err == nil
	return rev, err
}

// beginStmt starts a write transaction; pgConn sends it with the first
// statement that writes or locks.
const beginStmt = "BEGIN ISOLATION LEVEL READ COMMITTED"

// errRolledBack is a COMMIT that the server answered with ROLLBACK (the
// transaction had failed).
var errRolledBack = errors.New("transaction was rolled back")

// commitPG appends the queued changes and commits in one round trip:
//
//	WITH r AS (UPDATE revision ... RETURNING value),
//	     i AS (INSERT INTO changes ... SELECT r.value - n + k ... FROM r, (VALUES ...))
//	SELECT value FROM r;
//	COMMIT
//
// The UPDATE waits for the previous writer's row lock. PostgreSQL makes a
// commit visible to new snapshots before it releases the committer's
// locks, so once the UPDATE holds the lock every lower revision is visible
// to any reader that could see ours: no wait is needed as on MariaDB
// (awaitPredecessor).
func (t *Tx) commitPG(ctx context.Context, conn *sql.Conn) (int64, error) {
	b := &pgx.Batch{}
	t.pg.queueTo(b)
	n := int64(len(t.changes))
	if n > 0 {
		vals, args := t.changeRows(func(int) string {
			return "(?::bigint, ?::text, ?::text, ?::text, ?::text, ?::bigint, ?::boolean)"
		}, func(i int) any { return int64(i + 1) })
		q := "WITH r AS (UPDATE revision SET value = value + ? WHERE id = 1 RETURNING value), " +
			"i AS (INSERT INTO changes (revision, kind, obj_id, op, object, created_at, tx_end) " +
			"SELECT r.value - ? + v.k, v.kind, v.obj_id, v.op, v.object, v.created_at, v.tx_end FROM r, (VALUES " + vals + ") AS v (k, kind, obj_id, op, object, created_at, tx_end)) " +
			"SELECT value FROM r"
		b.Queue(t.s.rebind(q), append([]any{n, n}, args...)...)
	}
	b.Queue("COMMIT")
	var last int64
	err := conn.Raw(func(dc any) error {
		pc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("commit: unexpected driver connection %T", dc)
		}
		br := pc.Conn().SendBatch(ctx, b)
		var errs []error
		for _, q := range t.pg.pending {
			if _, err := br.Exec(); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", q.what, err))
			}
		}
		t.pg.pending = nil
		if n > 0 {
			if err := br.QueryRow().Scan(&last); err != nil {
				errs = append(errs, fmt.Errorf("append change log: %w", err))
			}
		}
		tag, err := br.Exec()
		if err != nil {
			errs = append(errs, fmt.Errorf("commit: %w", err))
		} else if tag.String() != "COMMIT" {
			errs = append(errs, fmt.Errorf("commit: %w", errRolledBack))
		}
		if err := br.Close(); err != nil {
			errs = append(errs, fmt.Errorf("commit: %w", err))
		}
		// A failed first statement makes the server skip COMMIT (the
		// pipeline stops at the error); the first error is the cause.
		if len(errs) > 0 {
			return errs[0]
		}
		return nil
	})
	return last, err
}

// abortPG ends a failed transaction. If ROLLBACK cannot be sent the
// connection is closed, so that no backend stays in a transaction holding
// locks (the pool discards closed connections).
func abortPG(conn *sql.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = conn.Raw(func(dc any) error {
		pc, ok := dc.(*stdlib.Conn)
		if !ok {
			return nil
		}
		c := pc.Conn()
		if c.IsClosed() || c.PgConn().TxStatus() == 'I' {
			return nil
		}
		if _, err := c.Exec(ctx, "ROLLBACK"); err != nil || c.PgConn().TxStatus() != 'I' {
			_ = c.Close(ctx)
		}
		return nil
	})
}

// pgConn runs the statements of a PostgreSQL write transaction.
//
// BEGIN is sent late: plain reads (a SELECT without a locking clause) that
// come before the transaction's first write or lock run on their own, and
// BEGIN goes in one pipeline with that first write (for a port create: with
// the inserts, the change rows and COMMIT). Under READ COMMITTED this
// changes nothing a transaction can observe: every statement takes its own
// snapshot either way, and a plain SELECT keeps no row lock until COMMIT.
// What the reads saw is then checked by the writes themselves as before
// (foreign keys for a parent deleted meanwhile, unique indexes for a lost
// allocation race: both retried).
//
// Inserts whose result nobody reads (execBlind: a new port's row,
// addresses, tags) are queued and sent in one pipeline with the next
// statement, or with the change rows and COMMIT. Every statement (also the
// list/get helpers that take the Tx's querier) flushes the queue first, so
// a transaction always reads its own writes.
type pgConn struct {
	conn    *sql.Conn
	t       *Tx
	begun   bool // BEGIN has been queued or sent
	pending []pendingStmt
	// failed is the first error of a flushed queue.
	failed error
}

type pendingStmt struct {
	what string
	q    string
	args []any
}

func (c *pgConn) queueTo(b *pgx.Batch) {
	for _, p := range c.pending {
		b.Queue(p.q, p.args...)
	}
}

// flush sends the queued statements (one round trip).
func (c *pgConn) flush(ctx context.Context) error {
	if len(c.pending) == 0 {
		return nil
	}
	return c.pipeline(ctx, nil, nil)
}

// queryRowQueued sends the queued statements and q in one pipeline (one
// round trip) and scans q's one row into dest. A failure of a queued
// statement is the transaction's (c.failed) and is returned.
func (c *pgConn) queryRowQueued(ctx context.Context, q string, args []any, dest ...any) error {
	return c.pipeline(ctx, func(b *pgx.Batch) { b.Queue(q, args...) },
		func(br pgx.BatchResults) error { return br.QueryRow().Scan(dest...) })
}

// pipeline sends the queued statements, then what more queues, in one
// round trip. A queued statement's failure is the transaction's (kept in
// c.failed) and is returned; when they all succeeded, read takes the
// results of what more queued, and its error is returned but not kept:
// a read may fail without failing the transaction's writes.
func (c *pgConn) pipeline(ctx context.Context, more func(*pgx.Batch), read func(pgx.BatchResults) error) error {
	pending := c.pending
	c.pending = nil
	var readErr error
	err := c.conn.Raw(func(dc any) error {
		pc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("unexpected driver connection %T", dc)
		}
		b := &pgx.Batch{}
		for _, p := range pending {
			b.Queue(p.q, p.args...)
		}
		if more != nil {
			more(b)
		}
		br := pc.Conn().SendBatch(ctx, b)
		var first error
		for _, p := range pending {
			if _, err := br.Exec(); err != nil && first == nil {
				first = fmt.Errorf("%s: %w", p.what, err)
			}
		}
		if first == nil && read != nil {
			readErr = read(br)
		}
		if err := br.Close(); err != nil && first == nil && readErr == nil {
			first = err
		}
		return first
	})
	if err != nil {
		if c.failed == nil {
			c.failed = err
		}
		return err
	}
	return readErr
}

// begin queues BEGIN ahead of the transaction's first write or lock.
// Until then nothing is queued (only writes are), so BEGIN comes first.
func (c *pgConn) begin() {
	if !c.begun {
		c.begun = true
		c.pending = append(c.pending, pendingStmt{what: "begin", q: beginStmt})
	}
}

// queue adds a write whose result nobody reads.
func (c *pgConn) queue(p pendingStmt) {
	c.begin()
	c.pending = append(c.pending, p)
}

// plainRead reports whether q only reads: a SELECT without FOR UPDATE /
// FOR NO KEY UPDATE / FOR SHARE / FOR KEY SHARE. (No query of the store
// calls a function with side effects from a SELECT.)
func plainRead(q string) bool {
	q = strings.TrimSpace(q)
	if len(q) < 6 || !strings.EqualFold(q[:6], "SELECT") {
		return false
	}
	up := strings.ToUpper(q)
	return !strings.Contains(up, " FOR UPDATE") && !strings.Contains(up, " FOR NO KEY UPDATE") &&
		!strings.Contains(up, " FOR SHARE") && !strings.Contains(up, " FOR KEY SHARE")
}

// prepare starts the transaction unless q is a plain read before it, then
// sends what is queued.
func (c *pgConn) prepare(ctx context.Context, q string) error {
	if !plainRead(q) {
		c.begin()
	}
	return c.flush(ctx)
}

func (c *pgConn) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	c.begin()
	if err := c.flush(ctx); err != nil {
		return nil, err
	}
	return c.conn.ExecContext(ctx, q, args...)
}

func (c *pgConn) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if err := c.prepare(ctx, q); err != nil {
		return nil, err
	}
	return c.conn.QueryContext(ctx, q, args...)
}

// QueryRowContext cannot return the flush error itself; the statement then
// fails on the aborted transaction and writeOncePG reports c.failed.
func (c *pgConn) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	_ = c.prepare(ctx, q)
	return c.conn.QueryRowContext(ctx, q, args...)
}
