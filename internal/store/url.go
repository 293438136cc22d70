package store

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
)

// Dialect is the SQL flavour of a database.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
	MySQL    Dialect = "mysql"
)

// Target is a parsed database URL: the driver to use and its DSN.
type Target struct {
	Dialect Dialect
	Driver  string // database/sql driver name
	DSN     string
	Memory  bool   // sqlite in-memory database
	Path    string // sqlite file path
	// Redacted is the URL without its password, for messages.
	Redacted string
}

// ParseURL turns a Neutron/SQLAlchemy connection URL into a driver DSN:
// sqlite:///relative/path, sqlite:////absolute/path, sqlite:// (memory),
// mysql[+driver]://user:pw@host[:port]/db?charset=utf8 (or
// ?unix_socket=/path, as PyMySQL takes it, for a local server's socket),
// postgresql[+driver]://user:pw@host[:port]/db?sslmode=....
func ParseURL(raw string) (Target, error) {
	raw = strings.TrimSpace(raw)
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return Target{}, fmt.Errorf("database connection %q: not a URL (want sqlite:///path, mysql://..., postgresql://...)", raw)
	}
	base, _, _ := strings.Cut(strings.ToLower(scheme), "+") // mysql+pymysql -> mysql
	switch base {
	case "sqlite", "sqlite3":
		return sqliteTarget(rest)
	case "mysql", "mariadb":
		return mysqlTarget(raw, rest)
	case "postgresql", "postgres":
		return postgresTarget(raw, rest)
	default:
		return Target{}, fmt.Errorf("database connection: unsupported scheme %q (supported: sqlite, mysql, postgresql)", scheme)
	}
}

// sqliteTarget follows SQLAlchemy: "sqlite://" is memory, "sqlite:///x"
// is the relative path x, "sqlite:////x" the absolute path /x.
func sqliteTarget(rest string) (Target, error) {
	path, query, _ := strings.Cut(rest, "?")
	t := Target{Dialect: SQLite, Driver: "sqlite"}
	// Every connection: wait for the write lock instead of failing with
	// SQLITE_BUSY, take the write lock at BEGIN (no lock upgrade deadlocks
	// between two writers), enforce foreign keys, and use WAL so readers
	// do not block the writer.
	params := "_pragma=busy_timeout(20000)&_pragma=foreign_keys(1)&_txlock=immediate"
	if path == "" || path == "/" || path == "/:memory:" {
		t.Memory = true
		t.DSN = "file::memory:?" + params
		t.Redacted = "sqlite://"
		return t, nil
	}
	if !strings.HasPrefix(path, "/") {
		return Target{}, fmt.Errorf("database connection sqlite://%s: want sqlite:///relative/path or sqlite:////absolute/path", rest)
	}
	p := path[1:]
	t.Path = p
	t.DSN = "file:" + p + "?" + params + "&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"
	if query != "" {
		t.DSN += "&" + query
	}
	t.Redacted = "sqlite:///" + p
	return t, nil
}

func mysqlTarget(raw, rest string) (Target, error) {
	u, err := url.Parse("mysql://" + rest)
	if err != nil {
		return Target{}, fmt.Errorf("database connection: %w", err)
	}
	// The socket, when named, is the address (the host part is then
	// only the account's host, "localhost" by convention).
	addr := "unix(" + u.Query().Get("unix_socket") + ")"
	if u.Query().Get("unix_socket") == "" {
		host := u.Host
		if host == "" {
			host = "127.0.0.1"
		}
		if u.Port() == "" {
			host += ":3306"
		}
		addr = "tcp(" + host + ")"
	}
	db := strings.TrimPrefix(u.Path, "/")
	if db == "" {
		return Target{}, fmt.Errorf("database connection %s: no database name", redact(u))
	}
	user := u.User.Username()
	pw, _ := u.User.Password()
	q := url.Values{}
	// Keep only what go-sql-driver understands from SQLAlchemy's options.
	if cs := u.Query().Get("charset"); cs != "" {
		q.Set("charset", cs)
	}
	q.Set("parseTime", "false")
	dsn := fmt.Sprintf("%s:%s@%s/%s?%s", user, pw, addr, db, q.Encode())
	return Target{Dialect: MySQL, Driver: "mysql", DSN: dsn, Redacted: redact(u)}, nil
}

func postgresTarget(raw, rest string) (Target, error) {
	u, err := url.Parse("postgres://" + rest)
	if err != nil {
		return Target{}, fmt.Errorf("database connection: %w", err)
	}
	if strings.TrimPrefix(u.Path, "/") == "" {
		return Target{}, fmt.Errorf("database connection %s: no database name", redact(u))
	}
	q := u.Query()
	q.Del("client_encoding") // SQLAlchemy option pgx does not take
	u.RawQuery = q.Encode()
	return Target{Dialect: Postgres, Driver: "pgx", DSN: u.String(), Redacted: redact(u)}, nil
}

func redact(u *url.URL) string {
	c := *u
	if _, ok := c.User.Password(); ok {
		c.User = url.UserPassword(c.User.Username(), "***")
	}
	return c.String()
}

// ConnectionURL is the database URL a server uses: [database] connection,
// or an SQLite file under state_path when none is configured.
func ConnectionURL(connection, statePath string) string {
	if strings.TrimSpace(connection) != "" {
		return connection
	}
	if statePath == "" {
		statePath = "/var/lib/neutrino"
	}
	p := filepath.Join(statePath, "neutrino.sqlite")
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	return "sqlite:///" + p // "sqlite:///" + "/abs" = sqlite:////abs
}
