// Package storetest gives tests a fresh, migrated database of each
// dialect: a SQLite file in a temporary directory, and a new database on
// the PostgreSQL and MariaDB servers `make test` starts (URLs in
// NEUTRINO_TEST_POSTGRES / NEUTRINO_TEST_MYSQL). Each database is dropped
// when the test ends. A missing server URL fails the test: these tests
// must run, not skip.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"neutrino/internal/store"
)

// Dialects are the databases every store test runs against.
var Dialects = []store.Dialect{store.SQLite, store.Postgres, store.MySQL}

// URL creates a fresh empty database of dialect d and returns its URL.
func URL(t testing.TB, d store.Dialect) string {
	t.Helper()
	switch d {
	case store.SQLite:
		return "sqlite:///" + filepath.Join(t.TempDir(), "neutrino.db")
	case store.Postgres:
		return serverDB(t, "NEUTRINO_TEST_POSTGRES", `DROP DATABASE IF EXISTS %s WITH (FORCE)`)
	case store.MySQL:
		return serverDB(t, "NEUTRINO_TEST_MYSQL", `DROP DATABASE IF EXISTS %s`)
	}
	t.Fatalf("unknown dialect %q", d)
	return ""
}

func serverDB(t testing.TB, env, drop string) string {
	t.Helper()
	admin := os.Getenv(env)
	if admin == "" {
		t.Fatalf("%s is not set: these tests need the PostgreSQL and MariaDB servers; run `make test` (or `eval \"$(bash scripts/testdb.sh start DIR)\"`)", env)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := store.Open(ctx, admin, nil)
	if err != nil {
		t.Fatalf("connect to %s: %v", env, err)
	}
	defer st.Close()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "t_" + hex.EncodeToString(b)
	if _, err := st.DB().ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		st, err := store.Open(ctx, admin, nil)
		if err != nil {
			t.Errorf("drop database %s: %v", name, err)
			return
		}
		defer st.Close()
		if _, err := st.DB().ExecContext(ctx, strings.Replace(drop, "%s", name, 1)); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("%s: %v", env, err)
	}
	u.Path = "/" + name
	return u.String()
}

// Open returns a migrated store on a fresh database of dialect d, closed
// when the test ends.
func Open(t testing.TB, d store.Dialect) *store.Store {
	t.Helper()
	st := OpenURL(t, URL(t, d))
	if _, err := st.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate %s: %v", d, err)
	}
	return st
}

// OpenURL opens (without migrating) the store at u, closed at cleanup.
func OpenURL(t testing.TB, u string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), u, nil)
	if err != nil {
		t.Fatalf("open %s: %v", u, err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
