package store

import (
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		in       string
		dialect  Dialect
		dsn      string // substring of the DSN
		redacted string
		memory   bool
		err      string
	}{
		{in: "sqlite://", dialect: SQLite, dsn: "file::memory:?", redacted: "sqlite://", memory: true},
		{in: "sqlite:///neutron.db", dialect: SQLite, dsn: "file:neutron.db?", redacted: "sqlite:///neutron.db"},
		{in: "sqlite:////var/lib/neutron/neutron.db", dialect: SQLite, dsn: "file:/var/lib/neutron/neutron.db?", redacted: "sqlite:////var/lib/neutron/neutron.db"},
		{in: "mysql://neutron:83105f1d6ded47cc@127.0.0.1/neutron_ml2", dialect: MySQL,
			dsn: "neutron:83105f1d6ded47cc@tcp(127.0.0.1:3306)/neutron_ml2?", redacted: "mysql://neutron:%2A%2A%2A@127.0.0.1/neutron_ml2"},
		{in: "mysql+pymysql://u:p@db.example:3307/neutron?charset=utf8", dialect: MySQL, dsn: "u:p@tcp(db.example:3307)/neutron?charset=utf8"},
		{in: "mysql+pymysql://u:p@localhost/neutron?unix_socket=/run/mysqld/mysqld.sock", dialect: MySQL, dsn: "u:p@unix(/run/mysqld/mysqld.sock)/neutron?"},
		{in: "postgresql://u:p@127.0.0.1:54320/neutron?sslmode=disable", dialect: Postgres, dsn: "postgres://u:p@127.0.0.1:54320/neutron?sslmode=disable"},
		{in: "postgresql+psycopg2://u@h/neutron", dialect: Postgres, dsn: "postgres://u@h/neutron"},
		{in: "oracle://u@h/x", err: "unsupported scheme"},
		{in: "not a url", err: "not a URL"},
		{in: "mysql://u:p@h/", err: "no database name"},
		{in: "postgresql://u@h", err: "no database name"},
		{in: "sqlite://relative", err: "want sqlite:///relative/path"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseURL(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("want error %q, got %v (%+v)", tc.err, err, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Dialect != tc.dialect || !strings.Contains(got.DSN, tc.dsn) || got.Memory != tc.memory {
				t.Fatalf("got %+v", got)
			}
			if tc.redacted != "" && got.Redacted != tc.redacted {
				t.Fatalf("redacted %q, want %q", got.Redacted, tc.redacted)
			}
			if strings.Contains(got.Redacted, "83105f1d6ded47cc") {
				t.Fatalf("password in %q", got.Redacted)
			}
		})
	}
}

func TestConnectionURL(t *testing.T) {
	if got := ConnectionURL("", "/var/lib/neutrino"); got != "sqlite:////var/lib/neutrino/neutrino.sqlite" {
		t.Fatal(got)
	}
	if got := ConnectionURL("mysql://a@b/c", "/x"); got != "mysql://a@b/c" {
		t.Fatal(got)
	}
}

func TestRebind(t *testing.T) {
	pg := &Store{dialect: Postgres}
	for range 2 { // the second answer comes from the cache
		if got := pg.rebind("SELECT a FROM t WHERE a = ? AND b IN (?, ?) AND c = 'é?'"); got != "SELECT a FROM t WHERE a = $1 AND b IN ($2, $3) AND c = 'é$4'" {
			t.Fatal(got)
		}
	}
	my := &Store{dialect: MySQL}
	if got := my.rebind("a = ?"); got != "a = ?" {
		t.Fatal(got)
	}
}
