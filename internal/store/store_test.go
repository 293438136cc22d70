package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"neutrino/internal/neutron"
	"neutrino/internal/store"
	"neutrino/internal/store/storetest"
)

func TestMigrations(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			u := storetest.URL(t, d)
			st := storetest.OpenURL(t, u)
			err := st.CheckMigrated(ctx)
			if !errors.Is(err, store.ErrNotMigrated) || !strings.Contains(err.Error(), "neutrino db upgrade head") {
				t.Fatalf("unmigrated: %v", err)
			}
			if _, err := store.OpenMigrated(ctx, u, false, nil); !errors.Is(err, store.ErrNotMigrated) {
				t.Fatalf("OpenMigrated without auto-migrate: %v", err)
			}
			st2, err := store.OpenMigrated(ctx, u, true, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer st2.Close()
			cur, head, err := st.Version(ctx)
			if err != nil || cur != head || head < 1 {
				t.Fatalf("version %d/%d %v", cur, head, err)
			}
			if err := st.CheckMigrated(ctx); err != nil {
				t.Fatal(err)
			}
			// Upgrading again is a no-op.
			if v, err := st.Migrate(ctx); err != nil || v != head {
				t.Fatalf("second migrate: %d %v", v, err)
			}
		})
	}
}

// Writes from two stores on one database get consecutive revisions, and
// a failing write leaves no revision behind.
func TestWriteRevisions(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			u := storetest.URL(t, d)
			a, b := storetest.OpenURL(t, u), storetest.OpenURL(t, u)
			if _, err := a.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			rev, err := a.Write(ctx, func(tx *store.Tx) error {
				tx.Emit(neutron.Change{Kind: "x", ID: "1", Op: neutron.OpCreate, Object: []byte(`{}`)})
				tx.Emit(neutron.Change{Kind: "x", ID: "2", Op: neutron.OpCreate, Object: []byte(`{}`)})
				return nil
			})
			if err != nil || rev != 2 {
				t.Fatalf("first write: %d %v", rev, err)
			}
			boom := errors.New("boom")
			if _, err := b.Write(ctx, func(tx *store.Tx) error {
				tx.Emit(neutron.Change{Kind: "x", ID: "3", Op: neutron.OpCreate})
				return boom
			}); !errors.Is(err, boom) {
				t.Fatal(err)
			}
			rev, err = b.Write(ctx, func(tx *store.Tx) error {
				tx.Emit(neutron.Change{Kind: "x", ID: "3", Op: neutron.OpDelete})
				return nil
			})
			if err != nil || rev != 3 {
				t.Fatalf("third write: %d %v", rev, err)
			}
			// A write without changes takes no revision.
			if rev, err := a.Write(ctx, func(*store.Tx) error { return nil }); err != nil || rev != 0 {
				t.Fatalf("empty write: %d %v", rev, err)
			}
			// ErrRetry runs the function again.
			runs := 0
			if _, err := a.Write(ctx, func(tx *store.Tx) error {
				runs++
				if runs < 3 {
					return store.ErrRetry
				}
				tx.Emit(neutron.Change{Kind: "x", ID: "4", Op: neutron.OpCreate})
				return nil
			}); err != nil || runs != 3 {
				t.Fatalf("retry: runs %d %v", runs, err)
			}
			cs, err := b.Changes(ctx, 0, 100)
			if err != nil || len(cs) != 4 {
				t.Fatalf("changes: %v %+v", err, cs)
			}
			for i, c := range cs {
				if c.Revision != int64(i+1) {
					t.Fatalf("%+v", cs)
				}
			}
			if cs[2].Op != "delete" || cs[2].Object != nil || string(cs[0].Object) != "{}" {
				t.Fatalf("%+v", cs)
			}
		})
	}
}

// Changes stops at a hole in the log and reports a stale hole as gone.
func TestChangesHole(t *testing.T) {
	ctx := context.Background()
	st := storetest.Open(t, store.SQLite)
	for i := 0; i < 4; i++ {
		if _, err := st.Write(ctx, func(tx *store.Tx) error {
			tx.Emit(neutron.Change{Kind: "x", ID: "1", Op: neutron.OpUpdate})
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.DB().Exec("DELETE FROM changes WHERE revision = 3"); err != nil {
		t.Fatal(err)
	}
	cs, err := st.Changes(ctx, 0, 10)
	if err != nil || len(cs) != 2 || cs[1].Revision != 2 {
		t.Fatalf("%v %+v", err, cs)
	}
	// A fresh hole: wait for it to fill.
	if cs, err := st.Changes(ctx, 2, 10); err != nil || len(cs) != 0 {
		t.Fatalf("%v %+v", err, cs)
	}
	// An old one: resync.
	if _, err := st.DB().Exec("UPDATE changes SET created_at = 0"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Changes(ctx, 2, 10); !errors.Is(err, neutron.ErrRevisionGone) {
		t.Fatalf("stale hole: %v", err)
	}
}

// Concurrent writers on two stores (two "servers") never make a revision
// visible before a lower one: a reader polling the raw change log (a fresh
// snapshot per query, no hole handling as in Changes) must always see a
// contiguous run starting right after what it saw before. On MariaDB that
// raw property does not hold even with awaitPredecessor (about one run in
// fifteen showed a hole that filled a moment later: a read view opened
// while both commits happened); there the reader is the tailer the agents'
// stream uses, Store.Changes, which stops at such a hole, and the test
// checks that it never skips a revision.
func TestRevisionsVisibleInOrder(t *testing.T) {
	const writers, writes = 16, 60
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			u := storetest.URL(t, d)
			a, b := storetest.OpenURL(t, u), storetest.OpenURL(t, u)
			if _, err := a.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			// Writer w's write i emits 1 + 10*(i%3) changes.
			want := int64(0)
			for i := 0; i < writes; i++ {
				want += int64(writers * (1 + i%3*10))
			}
			ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			errs := make(chan error, writers+1)
			var wg sync.WaitGroup
			for w := 0; w < writers; w++ {
				st := a
				if w%2 == 1 {
					st = b
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < writes; i++ {
						if _, err := st.Write(ctx, func(tx *store.Tx) error {
							// 1, 11 or 21 rows: longer commits widen the
							// window for out-of-order visibility.
							for k := 0; k <= i%3*10; k++ {
								tx.Emit(neutron.Change{Kind: "x", ID: fmt.Sprintf("%d-%d", w, i), Op: neutron.OpUpdate, Object: []byte(`{}`)})
							}
							return nil
						}); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			var last, polls int64
			go func() {
				defer close(errs)
				q := "SELECT revision FROM changes WHERE revision > ? ORDER BY revision"
				if d == store.Postgres {
					q = "SELECT revision FROM changes WHERE revision > $1 ORDER BY revision"
				}
				for last < want {
					if d == store.MySQL {
						cs, err := b.Changes(ctx, last, 100000)
						if err != nil {
							errs <- err
							return
						}
						for _, c := range cs {
							if c.Revision != last+1 {
								errs <- fmt.Errorf("tailer saw revision %d after %d", c.Revision, last)
								return
							}
							last = c.Revision
						}
						polls++
						continue
					}
					rows, err := a.DB().QueryContext(ctx, q, last)
					if err != nil {
						errs <- err
						return
					}
					for rows.Next() {
						var r int64
						if err := rows.Scan(&r); err != nil {
							errs <- err
							rows.Close()
							return
						}
						if r != last+1 {
							errs <- fmt.Errorf("reader saw revision %d after %d", r, last)
							rows.Close()
							return
						}
						last = r
					}
					rows.Close()
					polls++
				}
			}()
			wg.Wait()
			for err := range errs {
				t.Fatal(err)
			}
			if last != want {
				t.Fatalf("reader ended at revision %d, want %d", last, want)
			}
			t.Logf("%d revisions, %d polls", last, polls)
		})
	}
}

// Committed is closed by a commit that appended change-log rows, and only
// by such a commit.
func TestCommittedSignal(t *testing.T) {
	ctx := context.Background()
	st := storetest.OpenURL(t, storetest.URL(t, store.SQLite))
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	closed := func(ch <-chan struct{}) bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	ch := st.Committed()
	if _, err := st.Write(ctx, func(*store.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Write(ctx, func(tx *store.Tx) error {
		tx.Emit(neutron.Change{Kind: "x", ID: "1", Op: neutron.OpCreate})
		return errors.New("rolled back")
	}); err == nil {
		t.Fatal("failing write succeeded")
	}
	if closed(ch) {
		t.Fatal("closed without a committed change")
	}
	if _, err := st.Write(ctx, func(tx *store.Tx) error {
		tx.Emit(neutron.Change{Kind: "x", ID: "1", Op: neutron.OpCreate})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !closed(ch) {
		t.Fatal("not closed after a committed change")
	}
	if closed(st.Committed()) {
		t.Fatal("a fresh channel is already closed")
	}
}
