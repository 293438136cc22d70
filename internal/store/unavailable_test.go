package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"neutrino/internal/neutron"
)

// TestUnavailableIs503: while the database restarts, requests got 500s
// (found by bench/chaos). A connection that cannot be made, a server that
// is starting up or shutting down, or a connection that broke is a 503
// ServiceUnavailable fault; a refused statement or a cancelled request is
// not.
func TestUnavailableIs503(t *testing.T) {
	// A real connect failure: no server behind this socket directory.
	db, err := sql.Open("pgx", "postgres://postgres@/x?host="+t.TempDir()+"&sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	connectErr := db.PingContext(context.Background())
	if connectErr == nil {
		t.Fatal("ping without a server succeeded")
	}
	// A Store whose database went away answers its own reads (outside a
	// transaction) with the fault too.
	st := &Store{}
	st.reads = reads{st, unavailableQuerier{db}}
	if _, err := st.reads.q.QueryContext(context.Background(), "SELECT 1"); !is503(err) {
		t.Errorf("read without a database: %v, want a 503 ServiceUnavailable", err)
	}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"connect failure", fmt.Errorf("begin: %w", connectErr), true},
		{"starting up", &pgconn.PgError{Code: "57P03"}, true},
		{"admin shutdown", fmt.Errorf("list ports: %w", &pgconn.PgError{Code: "57P01"}), true},
		{"connection exception", &pgconn.PgError{Code: "08006"}, true},
		{"connection gone", sql.ErrConnDone, true},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"cancelled", context.Canceled, false},
		{"neutron fault", neutron.Errorf(409, "Conflict", "x"), false},
		{"plain", errors.New("boom"), false},
	} {
		got := unavailable(tc.err)
		if is503(got) != tc.want {
			t.Errorf("%s: %v gives %v; want 503: %v", tc.name, tc.err, got, tc.want)
		}
		if tc.want && !errors.Is(got, tc.err) {
			t.Errorf("%s: the cause is lost: %v", tc.name, got)
		}
	}
}

func is503(err error) bool {
	e, ok := neutron.AsError(err)
	return ok && e.Status == 503 && e.Type == "ServiceUnavailable"
}
