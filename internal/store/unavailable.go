package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"

	"neutrino/internal/neutron"
)

// ErrUnavailable is the fault a request gets while the database cannot be
// reached (restarting, crashed, connection lost): 503, so clients retry,
// never a 500.
func errUnavailable() *neutron.Error {
	return neutron.Errorf(503, "ServiceUnavailable", "The database is unavailable; retry the request.")
}

// unavailable wraps err with the 503 fault when it says the database
// could not be reached; other errors pass unchanged.
func unavailable(err error) error {
	if err == nil || !isUnavailable(err) {
		return err
	}
	return fmt.Errorf("%w: %w", errUnavailable(), err)
}

// isUnavailable reports whether err means the database server was not
// reachable or went away, as opposed to refusing the statement.
func isUnavailable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if _, ok := neutron.AsError(err); ok {
		return false
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		// Class 08: connection exception; 57P01-03: the server is
		// shutting down, crashed, or not yet accepting connections.
		return strings.HasPrefix(pg.Code, "08") || pg.Code == "57P01" || pg.Code == "57P02" || pg.Code == "57P03"
	}
	var my *mysql.MySQLError
	if errors.As(err, &my) {
		return my.Number == 1040 || my.Number == 1053 || my.Number == 1927
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) || errors.Is(err, mysql.ErrInvalidConn) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// unavailableQuerier marks the errors of reads made outside a
// transaction (Store's own List/Get methods) as unavailable when the
// database could not be reached, like Read and Write do.
type unavailableQuerier struct{ *sql.DB }

func (q unavailableQuerier) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	rows, err := q.DB.QueryContext(ctx, query, args...)
	return rows, unavailable(err)
}
