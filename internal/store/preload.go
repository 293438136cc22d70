package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"neutrino/internal/neutron"
)

// rowScanner is what the scanning loops need of a result: *sql.Rows, or
// pgx rows of a pipelined batch (pgxRows).
type rowScanner interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close() error
}

// pgxRows gives pgx's rows database/sql's Close signature.
type pgxRows struct{ pgx.Rows }

func (r pgxRows) Close() error {
	r.Rows.Close()
	return r.Rows.Err()
}

// What a Preload can answer; each answer is keyed by its argument.
const (
	memoPortNetwork  = "port-network"  // PortNetwork(network id)
	memoSubnets      = "subnets"       // NetworkSubnets(network id)
	memoDefaultGroup = "default-group" // DefaultSecurityGroupID(project)
	memoQuotas       = "quotas"        // ProjectQuotas(project)
	memoAllocated    = "allocated"     // AllocatedAmong(network id, a subset of the probe)
)

// probed is the answer to "which of these addresses are allocated".
type probed struct {
	asked, taken map[string]bool
}

type memoKey struct{ what, arg string }

type memoEntry struct {
	v   any
	err error
}

// preloaded returns, once, the answer Preload read for (what, arg).
func (t *Tx) preloaded(what, arg string) (any, error, bool) {
	k := memoKey{what, arg}
	e, ok := t.memo[k]
	if ok {
		delete(t.memo, k)
	}
	return e.v, e.err, ok
}

// PreloadPortCreate reads, in one round trip, what creating a port on
// network for project reads before it writes: the network and its
// segments (PortNetwork), its subnets (NetworkSubnets), the project's
// default security group and its quota limits, and which of probe (IPAM's
// candidate addresses, ipam.Allocation.ProbeAhead) are allocated on the
// network. The calls that follow get these answers once each instead of
// asking the database one after the other.
//
// The reads are the same plain SELECTs, only sent together: under READ
// COMMITTED each statement has its own snapshot wherever it runs, so
// reading them together at the start is what running them one by one
// before the first write gives (see pgConn). An answer is dropped when the
// transaction writes anything but a blind insert (Tx.exec), so nothing is
// answered from before the transaction's own changes.
//
// Only on PostgreSQL before the transaction's first write (pipelining is
// what makes it cheaper); elsewhere it does nothing and each read runs
// when asked.
func (t *Tx) PreloadPortCreate(ctx context.Context, networkID, project string, probe []string) error {
	if t.pg == nil || t.pg.begun {
		return nil
	}
	type read struct {
		what, arg, q string
		args         []any // nil: arg alone
		scan         func(rowScanner) (any, error)
	}
	reads := []read{
		{memoPortNetwork, networkID, portNetworkQuery, nil, func(r rowScanner) (any, error) {
			return scanPortNetwork(r, networkID)
		}},
		{memoSubnets, networkID, "SELECT " + subnetCols + " FROM subnets" + networkSubnetsTail, nil, func(r rowScanner) (any, error) {
			return scanSubnetRows(r)
		}},
		{memoDefaultGroup, project, defaultGroupQuery, nil, func(r rowScanner) (any, error) {
			var id string
			for r.Next() {
				if err := r.Scan(&id); err != nil {
					return nil, err
				}
			}
			return id, r.Err()
		}},
		{memoQuotas, project, quotasQuery + " WHERE project_id = ?", nil, func(r rowScanner) (any, error) {
			all, err := scanQuotaRows(r)
			if err != nil || all[project] == nil {
				return map[string]int{}, err
			}
			return all[project], nil
		}},
	}
	if len(probe) > 0 {
		q, args := allocatedAmong(networkID, probe)
		reads = append(reads, read{memoAllocated, networkID, q, args, func(r rowScanner) (any, error) {
			taken, err := scanStrings(r)
			p := probed{asked: map[string]bool{}, taken: taken}
			for _, ip := range probe {
				p.asked[ip] = true
			}
			return p, err
		}})
	}
	memo := map[memoKey]memoEntry{}
	err := t.pg.conn.Raw(func(dc any) error {
		pc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("preload: unexpected driver connection %T", dc)
		}
		b := &pgx.Batch{}
		for _, r := range reads {
			if r.args == nil {
				r.args = []any{r.arg}
			}
			b.Queue(t.s.rebind(r.q), r.args...)
		}
		br := pc.Conn().SendBatch(ctx, b)
		defer br.Close()
		for _, r := range reads {
			rows, err := br.Query()
			if err != nil {
				return fmt.Errorf("preload %s %s: %w", r.what, r.arg, err)
			}
			v, err := r.scan(pgxRows{rows})
			if cerr := (pgxRows{rows}).Close(); err == nil {
				err = cerr
			}
			var ne *neutron.Error
			if err != nil && !errors.As(err, &ne) {
				return fmt.Errorf("preload %s %s: %w", r.what, r.arg, err)
			}
			memo[memoKey{r.what, r.arg}] = memoEntry{v, err}
		}
		return br.Close()
	})
	if err != nil {
		return err
	}
	t.memo = memo
	return nil
}
