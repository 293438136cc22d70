package store_test

import (
	"context"
	"errors"
	"testing"

	"neutrino/internal/neutron"
	"neutrino/internal/store"
	"neutrino/internal/store/storetest"
)

// A failing insert whose result nobody read (on PostgreSQL it is queued
// and sent later, with the next statement or with COMMIT) still fails the
// whole write as the lost race it is (retried, then 409), whether the
// failure shows at COMMIT or at a later read; and a write whose context
// ends before COMMIT leaves nothing behind and no connection stuck in a
// transaction.
func TestWriteFailures(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := storetest.Open(t, d)
			netID, portID := store.NewID(), store.NewID()
			port := func(id string) *neutron.Port {
				p := &neutron.Port{Standard: neutron.Standard{ID: id, ProjectID: "p", Tags: []string{"a", "b"}}, NetworkID: netID,
					MACAddress: "fa:16:3e:00:00:01", Status: neutron.StatusDown, AdminStateUp: true,
					FixedIPs: []neutron.FixedIP{}, SecurityGroups: []string{}, AllowedAddressPairs: []neutron.AddressPair{}}
				p.VNICType, p.VIFType = "normal", neutron.VIFUnbound
				return p
			}
			if _, err := st.Write(ctx, func(tx *store.Tx) error {
				if err := tx.InsertNetwork(ctx, &neutron.Network{Standard: neutron.Standard{ID: netID, ProjectID: "p"}, Status: neutron.StatusActive}); err != nil {
					return err
				}
				if err := tx.InsertPort(ctx, port(portID)); err != nil {
					return err
				}
				tx.Emit(neutron.Change{Kind: "port", ID: portID, Op: neutron.OpCreate, Object: []byte(`{}`)})
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			st.MaxAttempts = 2
			revision := func() int64 {
				var rev int64
				if err := st.Read(ctx, func(tx *store.Tx) error {
					var err error
					rev, err = tx.Revision(ctx)
					return err
				}); err != nil {
					t.Fatal(err)
				}
				return rev
			}
			conflict := func(name string, err error, retriesBefore int64) {
				t.Helper()
				if e, ok := neutron.AsError(err); !ok || e.Status != 409 {
					t.Fatalf("%s: got %v, want the 409 of a write that kept losing races", name, err)
				}
				if got := st.Retries() - retriesBefore; got != 2 {
					t.Fatalf("%s: %d retries, want 2 (the duplicate must count as a lost race)", name, got)
				}
			}

			// The duplicate MAC fails at COMMIT (PostgreSQL) or at once.
			r0 := st.Retries()
			_, err := st.Write(ctx, func(tx *store.Tx) error {
				if err := tx.InsertPort(ctx, port(store.NewID())); err != nil {
					return err
				}
				tx.Emit(neutron.Change{Kind: "port", ID: "x", Op: neutron.OpCreate, Object: []byte(`{}`)})
				return nil
			})
			conflict("duplicate at commit", err, r0)

			// The duplicate shows at the next read; the read's error
			// (transaction aborted) must not hide it.
			r0 = st.Retries()
			_, err = st.Write(ctx, func(tx *store.Tx) error {
				if err := tx.InsertPort(ctx, port(store.NewID())); err != nil {
					return err
				}
				if _, err := tx.Revision(ctx); err != nil {
					return err
				}
				tx.Emit(neutron.Change{Kind: "port", ID: "x", Op: neutron.OpCreate, Object: []byte(`{}`)})
				return nil
			})
			conflict("duplicate at a later read", err, r0)
			if rev := revision(); rev != 1 {
				t.Fatalf("revision %d after failed writes, want 1", rev)
			}

			// The context ends before COMMIT.
			cctx, cancel := context.WithCancel(ctx)
			other := port(store.NewID())
			other.MACAddress = "fa:16:3e:00:00:02"
			_, err = st.Write(cctx, func(tx *store.Tx) error {
				if err := tx.InsertPort(cctx, other); err != nil {
					return err
				}
				tx.Emit(neutron.Change{Kind: "port", ID: other.ID, Op: neutron.OpCreate, Object: []byte(`{}`)})
				cancel()
				return nil
			})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("cancelled write: %v", err)
			}
			if _, err := st.GetPort(ctx, other.ID); err == nil {
				t.Fatal("port of the cancelled write exists")
			}
			// Every connection is usable again: writes from many at once.
			st.MaxAttempts = 25
			errs := make(chan error, 20)
			for i := 0; i < 20; i++ {
				go func() {
					_, err := st.Write(ctx, func(tx *store.Tx) error {
						tx.Emit(neutron.Change{Kind: "x", ID: "y", Op: neutron.OpUpdate})
						return nil
					})
					errs <- err
				}()
			}
			for i := 0; i < 20; i++ {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
			if rev := revision(); rev != 21 {
				t.Fatalf("revision %d, want 21", rev)
			}
			p, err := st.GetPort(ctx, portID)
			if err != nil || len(p.Tags) != 2 {
				t.Fatalf("first port: %+v %v", p, err)
			}
			if d == store.Postgres {
				var stuck int
				if err := st.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'").Scan(&stuck); err != nil {
					t.Fatal(err)
				}
				if stuck != 0 {
					t.Fatalf("%d connections idle in transaction", stuck)
				}
			}
		})
	}
}
