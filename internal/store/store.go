// Package store owns neutrino's SQL database: opening SQLite (embedded
// default), PostgreSQL or MySQL/MariaDB from a Neutron connection URL,
// versioned migrations (goose, embedded per-dialect SQL), the resource
// tables and the revisioned change log the agents' stream tails.
//
// Transactions. Every write runs in one transaction (Store.Write) that also
// appends one change-log row per resource it changed. Revision numbers are
// taken from a single counter row (table revision, id 1) by an UPDATE
// issued at the very end of the transaction, just before COMMIT. The row
// lock that UPDATE takes is held until commit, so a second writer cannot get
// the next revision before the first one committed: revisions are
// gap-free and strictly increasing in commit order, across goroutines and
// across several server processes on one database. A tailer reading
// "revision > N ORDER BY revision" therefore never skips a row. The lock is
// taken last so that it is held only for the commit itself; the rest of the
// transaction runs concurrently with other writers. Every write holds it,
// so its length bounds write throughput: on PostgreSQL the bump and the
// change rows are one statement (a data-modifying WITH) sent together with
// COMMIT in one pipeline (writeOncePG), so the lock lives only while the
// server runs those two. PostgreSQL makes a commit visible before it
// releases its locks, so holding the lock implies every lower revision is
// visible. On MariaDB the lock is released a moment before a commit
// becomes visible to new readers, so the writer holding it also waits until
// its predecessor's change row is visible (awaitPredecessor). That makes
// out-of-order visibility rare but not impossible there (a read view
// opened while both commits happen can show N+1 without N), so Changes
// stops at a hole and the next poll continues from it
// (TestRevisionsVisibleInOrder: raw reads on PostgreSQL and SQLite, the
// tailer on MariaDB).
//
// Retries. Serialization failures, deadlocks, lock timeouts, SQLite BUSY
// and unique/foreign-key violations (a lost race on an allocation: VNI, IP,
// MAC, default security group; a parent deleted underneath) roll the
// transaction back and run it again (bounded, with jittered backoff), as
// Neutron's RetryRequest does. Callers check user-visible conflicts (an IP
// the user asked for that is taken) with a SELECT first, so on a retry the
// check gives the proper 409 instead of the race.
//
// Round trips. A PostgreSQL write runs on one connection with its own
// BEGIN/COMMIT: inserts whose result nobody reads (a new port's row,
// addresses, tags) are queued and pipelined with the next statement or
// with the change rows and COMMIT (pgConn, writeOncePG), using pgx's batch
// API because database/sql cannot pipeline. BEGIN itself waits for the
// first write or lock: plain reads before it run on their own, which under
// READ COMMITTED is indistinguishable (pgConn), and a port create sends its
// reads as one pipeline (PreloadPortCreate): 2 round trips in all.
//
// SQL is hand-written over database/sql (no ORM): the queries are few and
// the three dialects differ only in placeholders and a few clauses.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"neutrino/internal/neutron"
)

//go:embed migrations
var migrations embed.FS

// Store is an open database.
type Store struct {
	reads // over rdb
	db    *sql.DB
	// rdb serves reads; for a SQLite file it is a second pool whose
	// transactions do not take the write lock.
	rdb     *sql.DB
	dialect Dialect
	target  Target
	log     *slog.Logger
	// writers bounds the write transactions of this process that run at
	// once: one on SQLite, where the database allows one writer anyway
	// and waiting here is cheaper than SQLite's busy-polling;
	// pgWriters on PostgreSQL.
	writers chan struct{}
	// MaxAttempts bounds the retries of one write transaction.
	MaxAttempts int
	retries     atomic.Int64
	commits     commitSignal
	// quotaDefaults are the [quotas] default limits (quotas.go).
	quotaDefaults map[string]int
	// rebound caches rebind's answers (PostgreSQL): a port create
	// rebinds a dozen statements, a few of them long.
	rebound  sync.Map // query -> query with $n
	nRebound atomic.Int64
}

// pgWriters is how many write transactions of one process run at once
// on PostgreSQL; the others wait for a turn in the process, before taking
// a connection. Every write ends by taking the revision row (see the
// package comment), so commits run one at a time whatever the number of
// writers, and writers beyond a few only add backends queued on that row's
// lock: each a process to wake and schedule per commit, and a tuple lock
// and a wait on the holder's transaction to take. Measured with bench/api
// (32 clients, 2 CPUs, 2026-12-05): the database's CPU per port create
// fell from 1.2-1.25 to 0.8-1.0 ms with 8; each of those backends is
// also a connection the pool keeps open.
const pgWriters = 8

// SetPostgresWriters sets how many write transactions of this process
// run at once on PostgreSQL (pgWriters by default; 0: no bound). For
// measuring; call it before the store is used.
func (s *Store) SetPostgresWriters(n int) {
	if s.dialect != Postgres {
		return
	}
	s.writers = nil
	if n > 0 {
		s.writers = make(chan struct{}, n)
	}
}

// maxRebound bounds the rebind cache: the store's statements are a few
// hundred shapes (an IN list of n ids is one per n).
const maxRebound = 4096

// Committed returns a channel that is closed when a write transaction that
// appended change-log rows commits after this call. Followers of the log
// (the agents' stream) take it before reading the log and wait on it, so
// every write path wakes them without being told to.
func (s *Store) Committed() <-chan struct{} { return s.commits.next() }

// commitSignal hands out channels closed by the next fire.
type commitSignal struct {
	mu sync.Mutex
	ch chan struct{}
}

func (c *commitSignal) next() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ch == nil {
		c.ch = make(chan struct{})
	}
	return c.ch
}

func (c *commitSignal) fire() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ch != nil {
		close(c.ch)
		c.ch = nil
	}
}

// Retries counts write transactions run again after a transient conflict
// (for metrics and tests).
func (s *Store) Retries() int64 { return s.retries.Load() }

// Open opens (does not migrate) the database at url.
func Open(ctx context.Context, url string, logger *slog.Logger) (*Store, error) {
	t, err := ParseURL(url)
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if t.Dialect == SQLite && !t.Memory {
		if dir := filepath.Dir(t.Path); dir != "" {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return nil, fmt.Errorf("open %s: %w", t.Redacted, err)
			}
		}
	}
	db, err := sql.Open(t.Driver, t.DSN)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", t.Redacted, err)
	}
	s := &Store{db: db, rdb: db, dialect: t.Dialect, target: t, log: logger, MaxAttempts: 25}
	switch t.Dialect {
	case SQLite:
		s.writers = make(chan struct{}, 1)
		if t.Memory {
			// Each connection to :memory: is its own database.
			db.SetMaxOpenConns(1)
		} else {
			db.SetMaxOpenConns(2)
			rdb, err := sql.Open(t.Driver, strings.Replace(t.DSN, "&_txlock=immediate", "", 1))
			if err != nil {
				db.Close()
				return nil, fmt.Errorf("open %s: %w", t.Redacted, err)
			}
			rdb.SetMaxOpenConns(8)
			s.rdb = rdb
		}
	case Postgres:
		s.writers = make(chan struct{}, pgWriters)
		fallthrough
	default:
		db.SetMaxOpenConns(50)
		db.SetMaxIdleConns(50)
		db.SetConnMaxIdleTime(5 * time.Minute)
	}
	s.reads = reads{s, unavailableQuerier{s.rdb}}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to %s: %w", t.Redacted, err)
	}
	return s, nil
}

// OpenMigrated opens url for a server: with autoMigrate the schema is
// upgraded to head (the embedded SQLite default needs no separate step),
// otherwise an out-of-date schema is refused with a message naming
// `neutrino db upgrade head`.
func OpenMigrated(ctx context.Context, url string, autoMigrate bool, logger *slog.Logger) (*Store, error) {
	s, err := Open(ctx, url, logger)
	if err != nil {
		return nil, err
	}
	if autoMigrate {
		_, err = s.Migrate(ctx)
	} else {
		err = s.CheckMigrated(ctx)
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error {
	if s.rdb != s.db {
		s.rdb.Close()
	}
	return s.db.Close()
}

// Dialect reports the SQL flavour.
func (s *Store) Dialect() Dialect { return s.dialect }

// DB exposes the handle for tests and tools.
func (s *Store) DB() *sql.DB { return s.db }

// Redacted is the connection URL without password.
func (s *Store) Redacted() string { return s.target.Redacted }

func (s *Store) provider() (*goose.Provider, error) {
	var d goose.Dialect
	switch s.dialect {
	case SQLite:
		d = goose.DialectSQLite3
	case Postgres:
		d = goose.DialectPostgres
	case MySQL:
		d = goose.DialectMySQL
	}
	sub, err := fs.Sub(migrations, "migrations/"+string(s.dialect))
	if err != nil {
		return nil, err
	}
	return goose.NewProvider(d, s.db, sub)
}

// Migrate applies every pending migration ("db upgrade head") and returns
// the resulting version.
func (s *Store) Migrate(ctx context.Context) (int64, error) {
	p, err := s.provider()
	if err != nil {
		return 0, fmt.Errorf("migrations: %w", err)
	}
	res, err := p.Up(ctx)
	if err != nil {
		return 0, fmt.Errorf("migrate %s: %w", s.target.Redacted, err)
	}
	for _, r := range res {
		s.log.Info("applied migration", "version", r.Source.Version, "file", r.Source.Path, "duration", r.Duration)
	}
	return p.GetDBVersion(ctx)
}

// Version returns the current and the newest known migration version.
func (s *Store) Version(ctx context.Context) (current, head int64, err error) {
	p, err := s.provider()
	if err != nil {
		return 0, 0, fmt.Errorf("migrations: %w", err)
	}
	return p.GetVersions(ctx)
}

// ErrNotMigrated is returned by CheckMigrated when the schema is behind.
var ErrNotMigrated = errors.New("database schema is not up to date")

// CheckMigrated fails unless every migration has been applied; the
// message names the command that fixes it.
func (s *Store) CheckMigrated(ctx context.Context) error {
	cur, head, err := s.Version(ctx)
	if err != nil {
		return fmt.Errorf("read schema version of %s: %w", s.target.Redacted, err)
	}
	if cur < head {
		return fmt.Errorf("%w: %s is at version %d, this neutrino needs %d; run `neutrino db upgrade head --config-file ...` first",
			ErrNotMigrated, s.target.Redacted, cur, head)
	}
	return nil
}

// Tx is one transaction. Queries use '?' placeholders in every dialect.
type Tx struct {
	reads // over tx
	// tx is a *sql.Tx, or on PostgreSQL writes a *sql.Conn inside BEGIN
	// (see writeOncePG).
	tx      txRunner
	pg      *pgConn // PostgreSQL writes only
	s       *Store
	changes []neutron.Change
	charges map[quotaKey]int // quota resources created (Charge)
	// revLocked: this MariaDB transaction holds the revision row lock
	// and every earlier commit is visible (awaitPredecessor returned
	// predecessor, the current revision).
	revLocked   bool
	predecessor int64
	now         time.Time
	// memo holds the answers PreloadPortCreate read ahead.
	memo map[memoKey]memoEntry
}

// txRunner is what statements of a transaction run on.
type txRunner interface {
	querier
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
}

// Now is the transaction's timestamp (all rows written by one transaction
// share it).
func (t *Tx) Now() time.Time { return t.now }

// Dialect of the underlying store.
func (t *Tx) Dialect() Dialect { return t.s.dialect }

// Emit queues a change-log row (made by neutron.Created, Updated or
// Deleted); Write stores it with the next revision when the transaction
// commits.
func (t *Tx) Emit(c neutron.Change) {
	t.changes = append(t.changes, c)
}

func (t *Tx) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	t.memo = nil // a write may change what was read ahead
	return t.tx.ExecContext(ctx, t.s.rebind(q), args...)
}

// execBlind runs an INSERT whose result is not needed. On PostgreSQL
// writes it is queued and sent with the next statement or COMMIT (its
// error, e.g. a lost allocation race, then fails the transaction there);
// what says what it was for the error message.
func (t *Tx) execBlind(ctx context.Context, what, q string, args ...any) error {
	if t.pg != nil {
		t.pg.queue(pendingStmt{what: what, q: t.s.rebind(q), args: args})
		return nil
	}
	if _, err := t.exec(ctx, q, args...); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

func (t *Tx) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(ctx, t.s.rebind(q), args...)
}

func (t *Tx) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(ctx, t.s.rebind(q), args...)
}

// rebind turns '?' placeholders into $n for PostgreSQL. Queries never
// contain a literal '?'.
func (s *Store) rebind(q string) string {
	if s.dialect != Postgres || !strings.Contains(q, "?") {
		return q
	}
	if r, ok := s.rebound.Load(q); ok {
		return r.(string)
	}
	b := make([]byte, 0, len(q)+8*strings.Count(q, "?"))
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b = append(b, '$')
			b = strconv.AppendInt(b, int64(n), 10)
			continue
		}
		b = append(b, q[i])
	}
	r := string(b)
	if s.nRebound.Load() < maxRebound {
		if _, loaded := s.rebound.LoadOrStore(q, r); !loaded {
			s.nRebound.Add(1)
		}
	}
	return r
}

// ErrRetry asks Write to run the transaction again (a lost race detected
// by the caller, e.g. a conditional UPDATE that changed no row).
var ErrRetry = errors.New("retry transaction")

// Write runs fn in one transaction, appends the change-log rows fn emitted
// and commits; it returns the revision of the last change row (0 if none).
// fn may run several times (see the package comment) and must not have
// side effects outside the transaction.
func (s *Store) Write(ctx context.Context, fn func(*Tx) error) (int64, error) {
	var last error
	for attempt := 1; attempt <= s.MaxAttempts; attempt++ {
		rev, err := s.writeOnce(ctx, fn)
		if err == nil && rev > 0 {
			s.commits.fire()
		}
		if err == nil || !retryable(err) {
			return rev, unavailable(err)
		}
		last = err
		s.retries.Add(1)
		s.log.Debug("retrying transaction", "attempt", attempt, "err", err)
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		// Jittered, growing backoff: 1ms .. ~100ms.
		d := time.Duration(rand.Int64N(int64(time.Millisecond)*int64(min(attempt*attempt, 100)))) + time.Millisecond
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	s.log.Warn("write transaction gave up", "attempts", s.MaxAttempts, "err", last)
	return 0, neutron.Errorf(409, "Conflict", "The request could not be completed due to concurrent changes; retry it.")
}

func (s *Store) writeOnce(ctx context.Context, fn func(*Tx) error) (rev int64, err error) {
	if s.writers != nil {
		select {
		case s.writers <- struct{}{}:
			defer func() { <-s.writers }()
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	if s.dialect == Postgres {
		return s.writeOncePG(ctx, fn)
	}
	opts := &sql.TxOptions{}
	if s.dialect == MySQL {
		// READ COMMITTED: no gap locks on the allocation indexes, so
		// concurrent inserts do not deadlock; conflicts surface as unique
		// violations and are retried.
		opts.Isolation = sql.LevelReadCommitted
	}
	stx, err := s.db.BeginTx(ctx, opts)
	if err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	t := &Tx{reads: reads{s, stx}, tx: stx, s: s, now: time.Now().UTC().Truncate(time.Microsecond)}
	defer func() {
		if err != nil {
			_ = stx.Rollback()
		}
	}()
	if err = fn(t); err != nil {
		return 0, err
	}
	if s.dialect == MySQL && len(t.charges) > 0 {
		// The quota check runs under the revision lock (see
		// lockAndCount): take it now, before the check, not after.
		if t.predecessor, err = t.awaitPredecessor(ctx); err != nil {
			return 0, err
		}
		t.revLocked = true
	}
	if err = t.enforceQuotas(ctx); err != nil {
		return 0, err
	}
	if len(t.changes) > 0 {
		if rev, err = t.appendChanges(ctx); err != nil {
			return 0, err
		}
	}
	if err = stx.Commit(); err != nil {
		return 0, fmt.Errorf("commit: %w", err)
	}
	return rev, nil
}

// appendChanges takes len(changes) revisions from the counter row (its row
// lock orders commits, see the package comment) and inserts the rows. It
// is the last thing a transaction does before COMMIT, so the counter lock
// is held for as few round trips as possible: on SQLite two, on MariaDB the
// lock, the visibility wait, the bump and the insert. (PostgreSQL:
// commitPG.)
func (t *Tx) appendChanges(ctx context.Context) (int64, error) {
	n := int64(len(t.changes))
	switch t.s.dialect {
	case MySQL:
		cur := t.predecessor
		if !t.revLocked {
			var err error
			if cur, err = t.awaitPredecessor(ctx); err != nil {
				return 0, err
			}
		}
		if _, err := t.exec(ctx, "UPDATE revision SET value = value + ? WHERE id = 1", n); err != nil {
			return 0, fmt.Errorf("bump revision: %w", err)
		}
		return t.insertChanges(ctx, cur+1)
	default:
		// SQLite: one writer at a time (the writers channel and the
		// database lock), so the counter only has to be read back.
		var last int64
		if err := t.queryRow(ctx, "UPDATE revision SET value = value + ? WHERE id = 1 RETURNING value", n).Scan(&last); err != nil {
			return 0, fmt.Errorf("bump revision: %w", err)
		}
		return t.insertChanges(ctx, last-n+1)
	}
}

// changeRows renders the VALUES tuples of the queued changes; first is the
// value of the leading column of row i. The last row carries tx_end (see
// Changes, which never ends a batch inside a transaction).
func (t *Tx) changeRows(tuple func(i int) string, first func(i int) any) (string, []any) {
	var b strings.Builder
	args := make([]any, 0, 7*len(t.changes))
	for i, c := range t.changes {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(tuple(i))
		var obj any
		if c.Object != nil {
			obj = string(c.Object)
		}
		args = append(args, first(i), c.Kind, c.ID, c.Op, obj, t.now.UnixMicro(), i == len(t.changes)-1)
	}
	return b.String(), args
}

// insertChanges stores the queued changes with revisions first, first+1, ...
// and returns the last one.
func (t *Tx) insertChanges(ctx context.Context, first int64) (int64, error) {
	vals, args := t.changeRows(func(int) string { return "(?, ?, ?, ?, ?, ?, ?)" }, func(i int) any { return first + int64(i) })
	if _, err := t.exec(ctx, "INSERT INTO changes (revision, kind, obj_id, op, object, created_at, tx_end) VALUES "+vals, args...); err != nil {
		return 0, fmt.Errorf("append change log: %w", err)
	}
	return first + int64(len(t.changes)) - 1, nil
}

// awaitPredecessor takes the revision row lock and waits until the
// transaction that wrote the current revision is visible to new readers;
// it returns the current revision. The row lock alone does not guarantee
// that on MariaDB/InnoDB: it is released a moment before the commit shows
// in new read views, so a reader could see revision N+1 without N
// (TestConcurrentServers caught exactly that). Waiting here, while holding
// the lock, makes "visible" order equal revision order: our commit comes
// after the predecessor is visible. (PostgreSQL marks a transaction
// committed before releasing its locks and skips this.)
func (t *Tx) awaitPredecessor(ctx context.Context) (int64, error) {
	var cur, pruned int64
	if err := t.queryRow(ctx, "SELECT value, pruned FROM revision WHERE id = 1 FOR UPDATE").Scan(&cur, &pruned); err != nil {
		return 0, fmt.Errorf("lock revision: %w", err)
	}
	for i := 0; ; i++ {
		var max sql.NullInt64
		// A plain read under READ COMMITTED sees what new readers see.
		if err := t.queryRow(ctx, "SELECT MAX(revision) FROM changes").Scan(&max); err != nil {
			return 0, fmt.Errorf("read newest change: %w", err)
		}
		if max.Int64 >= cur || pruned >= cur {
			return cur, nil
		}
		if i == 10000 {
			return 0, fmt.Errorf("revision %d not visible after waiting: %w", cur, ErrRetry)
		}
		select {
		case <-time.After(100 * time.Microsecond):
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// Read runs fn in a read-only transaction that sees one consistent
// snapshot of the database.
func (s *Store) Read(ctx context.Context, fn func(*Tx) error) error {
	opts := &sql.TxOptions{ReadOnly: true}
	switch s.dialect {
	case Postgres, MySQL:
		opts.Isolation = sql.LevelRepeatableRead
	case SQLite:
		// rdb's deferred transactions see a WAL snapshot without taking
		// the write lock.
		opts = &sql.TxOptions{}
	}
	stx, err := s.rdb.BeginTx(ctx, opts)
	if err != nil {
		return unavailable(fmt.Errorf("begin read: %w", err))
	}
	defer stx.Rollback()
	return unavailable(fn(&Tx{reads: reads{s, stx}, tx: stx, s: s, now: time.Now().UTC().Truncate(time.Microsecond)}))
}

// retryable reports whether err is a transient conflict worth a retry.
func retryable(err error) bool {
	if errors.Is(err, ErrRetry) {
		return true
	}
	if _, ok := neutron.AsError(err); ok {
		return false
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch pg.Code {
		case "40001", "40P01", "55P03", "23505", "23503":
			return true
		}
		return false
	}
	var my *mysql.MySQLError
	if errors.As(err, &my) {
		switch my.Number {
		case 1213, 1205, 1062, 1020, 1451, 1452:
			return true
		}
		return false
	}
	var lite *sqlite.Error
	if errors.As(err, &lite) {
		switch lite.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return true
		}
		switch lite.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return true
		}
	}
	return false
}

// IsRetryable is exported for callers that run their own loops.
func IsRetryable(err error) bool { return retryable(err) }
