package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Database kinds (-db).
const (
	dbPostgres = "postgresql"
	dbMariaDB  = "mariadb"
	dbSQLite   = "sqlite"
)

// database is the deployment's SQL database, owned by the harness: a
// server of its own on a unix socket in the run directory (no TCP port,
// so nothing collides with other servers on the machine), or an SQLite
// file both neutrino servers share.
type database interface {
	// URL is the servers' [database] connection.
	URL() string
	// crash ends the server without a clean shutdown and starts it
	// again (an error for SQLite, which has no server).
	crash(ctx context.Context) error
	stop()
	// describe names the database for the report ("PostgreSQL pid 123").
	describe() string
}

func startDatabase(ctx context.Context, kind, dir string) (database, error) {
	switch kind {
	case dbPostgres:
		return startPostgres(ctx, dir)
	case dbMariaDB:
		return startMariaDB(ctx, dir)
	case dbSQLite:
		return &sqliteDB{path: filepath.Join(dir, "neutrino.sqlite")}, nil
	}
	return nil, fmt.Errorf("-db %q: want %s, %s or %s", kind, dbPostgres, dbMariaDB, dbSQLite)
}

// serviceUser is the credential a database server runs as.
func serviceUser(name string) (*syscall.Credential, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("%s user: %w", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// ownedDir makes dir (and parents) and gives it to cred.
func ownedDir(dir string, cred *syscall.Credential) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.Chown(dir, int(cred.Uid), int(cred.Gid))
}

// postgres is the harness's own PostgreSQL: unix socket only (no TCP
// port at all), data in the run directory, restarted by its PID.
type postgres struct {
	bin, data, sock, log string
	cred                 *syscall.Credential
	p                    *proc
}

func startPostgres(ctx context.Context, dir string) (*postgres, error) {
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	if len(bins) == 0 {
		return nil, errors.New("PostgreSQL is not installed (scripts/deps.sh installs it)")
	}
	cred, err := serviceUser("postgres")
	if err != nil {
		return nil, err
	}
	pg := &postgres{bin: filepath.Dir(bins[len(bins)-1]), data: filepath.Join(dir, "pg", "data"), sock: filepath.Join(dir, "pg"),
		log: filepath.Join(dir, "log", "postgres.log"), cred: cred}
	if err := ownedDir(pg.sock, cred); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(pg.bin, "initdb"), "-D", pg.data, "-U", "postgres", "--auth=trust")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: pg.cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %w: %s", err, out)
	}
	if err := pg.start(ctx); err != nil {
		return nil, err
	}
	out, err := exec.CommandContext(ctx, "psql", "-h", pg.sock, "-U", "postgres", "-qc", "CREATE DATABASE chaos").CombinedOutput()
	if err != nil {
		pg.stop()
		return nil, fmt.Errorf("create database: %w: %s", err, out)
	}
	return pg, nil
}

func (pg *postgres) URL() string {
	return "postgresql://postgres@/chaos?host=" + pg.sock + "&sslmode=disable"
}

func (pg *postgres) describe() string { return fmt.Sprintf("PostgreSQL pid %d", pg.p.pid()) }

func (pg *postgres) start(ctx context.Context) error {
	p, err := startProc("postgres", pg.log, pg.cred, filepath.Join(pg.bin, "postgres"), "-D", pg.data, "-k", pg.sock,
		"-c", "listen_addresses=", "-c", "fsync=off", "-c", "max_connections=200")
	if err != nil {
		return err
	}
	pg.p = p
	return waitUntil(ctx, 60*time.Second, "postgres accepts connections", func() (bool, string) {
		if p.exited() {
			return false, "postgres exited (see " + pg.log + ")"
		}
		out, err := exec.CommandContext(ctx, filepath.Join(pg.bin, "pg_isready"), "-h", pg.sock, "-U", "postgres").CombinedOutput()
		return err == nil, string(out)
	})
}

// crash is an immediate shutdown (SIGQUIT: no checkpoint, crash recovery
// at the next start), then a start.
func (pg *postgres) crash(ctx context.Context) error {
	pg.p.signal(syscall.SIGQUIT, 20*time.Second)
	return pg.start(ctx)
}

func (pg *postgres) stop() {
	if pg.p != nil {
		pg.p.signal(syscall.SIGTERM, 20*time.Second)
	}
}

// mariadb is the harness's own MariaDB: --skip-networking (unix socket
// only), data in the run directory. Committed transactions survive a
// process crash (innodb_flush_log_at_trx_commit=2 writes the log at
// every commit; only an OS crash could lose the last second).
type mariadb struct {
	data, sock, log string
	cred            *syscall.Credential
	p               *proc
}

func startMariaDB(ctx context.Context, dir string) (*mariadb, error) {
	if _, err := exec.LookPath("mariadbd"); err != nil {
		return nil, fmt.Errorf("MariaDB is not installed (scripts/deps.sh installs it): %w", err)
	}
	cred, err := serviceUser("mysql")
	if err != nil {
		return nil, err
	}
	base := filepath.Join(dir, "mariadb")
	m := &mariadb{data: filepath.Join(base, "data"), sock: filepath.Join(base, "mysqld.sock"),
		log: filepath.Join(dir, "log", "mariadb.log"), cred: cred}
	if err := ownedDir(m.data, cred); err != nil {
		return nil, err
	}
	if err := ownedDir(base, cred); err != nil {
		return nil, err
	}
	out, err := exec.CommandContext(ctx, "mariadb-install-db", "--no-defaults", "--user=mysql", "--datadir="+m.data,
		"--auth-root-authentication-method=socket", "--skip-test-db").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("mariadb-install-db: %w: %s", err, out)
	}
	if err := m.start(ctx); err != nil {
		return nil, err
	}
	// root reaches the server by socket authentication (the harness runs
	// as root); the servers log in as chaos with a password.
	sql := "CREATE DATABASE chaos; CREATE USER chaos@localhost IDENTIFIED BY 'chaos'; GRANT ALL ON chaos.* TO chaos@localhost"
	if out, err := exec.CommandContext(ctx, "mariadb", "--no-defaults", "-S", m.sock, "-u", "root", "-e", sql).CombinedOutput(); err != nil {
		m.stop()
		return nil, fmt.Errorf("create database: %w: %s", err, out)
	}
	return m, nil
}

func (m *mariadb) URL() string {
	return "mysql+pymysql://chaos:chaos@localhost/chaos?unix_socket=" + m.sock
}

func (m *mariadb) describe() string { return fmt.Sprintf("MariaDB pid %d", m.p.pid()) }

func (m *mariadb) start(ctx context.Context) error {
	p, err := startProc("mariadbd", m.log, m.cred, "mariadbd", "--no-defaults", "--datadir="+m.data, "--socket="+m.sock,
		"--skip-networking", "--pid-file="+filepath.Join(filepath.Dir(m.sock), "mariadbd.pid"),
		"--innodb-flush-log-at-trx-commit=2", "--max-connections=300", "--log-error="+m.log)
	if err != nil {
		return err
	}
	m.p = p
	return waitUntil(ctx, 60*time.Second, "mariadb accepts connections", func() (bool, string) {
		if p.exited() {
			return false, "mariadbd exited (see " + m.log + ")"
		}
		out, err := exec.CommandContext(ctx, "mariadb-admin", "--no-defaults", "-S", m.sock, "-u", "root", "ping").CombinedOutput()
		return err == nil, string(out)
	})
}

// crash is SIGKILL (InnoDB crash recovery at the next start), then a
// start.
func (m *mariadb) crash(ctx context.Context) error {
	m.p.kill()
	return m.start(ctx)
}

func (m *mariadb) stop() {
	if m.p != nil {
		m.p.signal(syscall.SIGTERM, 30*time.Second)
	}
}

// sqliteDB is one SQLite file both servers open (WAL; the store takes
// the write lock at BEGIN). There is no server to crash: the
// database-restart fault is not drawn.
type sqliteDB struct{ path string }

func (s *sqliteDB) URL() string                 { return "sqlite:///" + s.path }
func (s *sqliteDB) describe() string            { return "SQLite " + s.path }
func (s *sqliteDB) crash(context.Context) error { return errors.New("SQLite has no server to restart") }
func (s *sqliteDB) stop()                       {}
