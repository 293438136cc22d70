package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"neutrino/internal/neutron"
	"neutrino/internal/store"
	"neutrino/internal/store/storetest"
)

// writeTx commits one transaction of n change-log rows and returns its
// last revision.
func writeTx(t *testing.T, st *store.Store, n int) int64 {
	t.Helper()
	rev, err := st.Write(context.Background(), func(tx *store.Tx) error {
		for i := 0; i < n; i++ {
			tx.Emit(neutron.Change{Kind: "x", ID: fmt.Sprint(i), Op: neutron.OpUpdate, Object: []byte(`{}`)})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return rev
}

// revisions lists the revisions of a batch.
func revisions(cs []neutron.Change) []int64 {
	out := make([]int64, len(cs))
	for i, c := range cs {
		out[i] = c.Revision
	}
	return out
}

// A batch never ends inside a transaction: the one its limit-th row
// belongs to comes whole, however large.
func TestChangesWholeTransactions(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := storetest.Open(t, d)
			writeTx(t, st, 1) // 1
			writeTx(t, st, 5) // 2..6
			writeTx(t, st, 2) // 7..8
			for _, c := range []struct {
				after int64
				limit int
				want  string
			}{
				{0, 1, "[1]"},
				{0, 2, "[1 2 3 4 5 6]"},
				{1, 1, "[2 3 4 5 6]"},
				{1, 3, "[2 3 4 5 6]"},
				{1, 5, "[2 3 4 5 6]"},
				{1, 6, "[2 3 4 5 6 7 8]"},
				{6, 1, "[7 8]"},
				{0, 100, "[1 2 3 4 5 6 7 8]"},
				{8, 1, "[]"},
			} {
				cs, err := st.Changes(ctx, c.after, c.limit)
				if got := fmt.Sprint(revisions(cs)); err != nil || got != c.want {
					t.Errorf("Changes(%d, %d) = %s %v, want %s", c.after, c.limit, got, err, c.want)
				}
			}
		})
	}
}

// Random transactions read with random limits: every batch ends exactly
// at the first transaction end at or after its limit-th row (or at the end
// of the log), and the batches together are the whole log.
func TestChangesBatchBoundaries(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := storetest.Open(t, d)
			seed := uint64(time.Now().UnixNano())
			r := rand.New(rand.NewPCG(seed, 1))
			ends := map[int64]bool{}
			var last int64
			for i := 0; i < 40; i++ {
				last = writeTx(t, st, 1+r.IntN(8))
				ends[last] = true
			}
			for round := 0; round < 20; round++ {
				var after int64
				for after < last {
					limit := 1 + r.IntN(12)
					cs, err := st.Changes(ctx, after, limit)
					if err != nil || len(cs) == 0 {
						t.Fatalf("seed %d: Changes(%d, %d): %v, %d rows", seed, after, limit, err, len(cs))
					}
					want := after + int64(limit)
					for want < last && !ends[want] {
						want++
					}
					want = min(want, last)
					if got := revisions(cs); got[0] != after+1 || got[len(got)-1] != want || len(got) != int(want-after) {
						t.Fatalf("seed %d: Changes(%d, %d) = %v, want %d..%d", seed, after, limit, got, after+1, want)
					}
					after = want
				}
			}
		})
	}
}

// Rows written before the tx_end column existed count as a transaction
// each (the migration's default), and Prune deletes whole transactions
// only.
func TestChangesOldRowsAndPrune(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := storetest.Open(t, d)
			// Two rows as an older neutrino wrote them (no tx_end).
			q := "INSERT INTO changes (revision, kind, obj_id, op, object, created_at) VALUES (1, 'x', 'a', 'update', NULL, 0), (2, 'x', 'b', 'update', NULL, 0)"
			if _, err := st.DB().ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
			if _, err := st.DB().ExecContext(ctx, "UPDATE revision SET value = 2 WHERE id = 1"); err != nil {
				t.Fatal(err)
			}
			if cs, err := st.Changes(ctx, 0, 1); err != nil || fmt.Sprint(revisions(cs)) != "[1]" {
				t.Fatalf("old rows: %v %+v", err, cs)
			}
			writeTx(t, st, 3) // 3..5
			writeTx(t, st, 3) // 6..8
			// keep 4 of 8 puts the horizon at 4, inside 3..5: it goes
			// back to 2, the end of the transaction before.
			h, err := st.Prune(ctx, 4, 0)
			if err != nil || h != 2 {
				t.Fatalf("prune keep 4: %d %v", h, err)
			}
			if cs, err := st.Changes(ctx, 2, 1); err != nil || fmt.Sprint(revisions(cs)) != "[3 4 5]" {
				t.Fatalf("after prune: %v %+v", err, cs)
			}
			if h, err := st.Prune(ctx, 1, 0); err != nil || h != 5 {
				t.Fatalf("prune keep 1: %d %v", h, err)
			}
			if cs, err := st.Changes(ctx, 5, 1); err != nil || fmt.Sprint(revisions(cs)) != "[6 7 8]" {
				t.Fatalf("after second prune: %v %+v", err, cs)
			}
		})
	}
}
