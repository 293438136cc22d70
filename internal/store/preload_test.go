package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"neutrino/internal/neutron"
	"neutrino/internal/store"
	"neutrino/internal/store/storetest"
)

// What PreloadPortCreate read ahead answers the reads that follow only
// while it is still what they would read: a missing network is still 404,
// a write of the transaction drops the answers (the subnet it inserted is
// listed), and the address probe answers only the addresses it asked
// about.
func TestPreloadPortCreate(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := storetest.Open(t, d)
			netID, subID, portID := store.NewID(), store.NewID(), store.NewID()
			if _, err := st.Write(ctx, func(tx *store.Tx) error {
				if err := tx.InsertNetwork(ctx, &neutron.Network{Standard: neutron.Standard{ID: netID, ProjectID: "p"}, Status: neutron.StatusActive}); err != nil {
					return err
				}
				s := &neutron.Subnet{Standard: neutron.Standard{ID: subID, ProjectID: "p"}, NetworkID: netID, IPVersion: 4, CIDR: "10.0.0.0/16", GatewayIP: "10.0.0.1"}
				if err := tx.InsertSubnet(ctx, s); err != nil {
					return err
				}
				p := &neutron.Port{Standard: neutron.Standard{ID: portID, ProjectID: "p"}, NetworkID: netID, MACAddress: "fa:16:3e:00:00:01",
					Status: neutron.StatusDown, AdminStateUp: true, FixedIPs: []neutron.FixedIP{{SubnetID: subID, IPAddress: "10.0.0.5"}},
					SecurityGroups: []string{}, AllowedAddressPairs: []neutron.AddressPair{}}
				p.VNICType, p.VIFType = "normal", neutron.VIFUnbound
				return tx.InsertPort(ctx, p)
			}); err != nil {
				t.Fatal(err)
			}

			if _, err := st.Write(ctx, func(tx *store.Tx) error {
				missing := store.NewID()
				if err := tx.PreloadPortCreate(ctx, missing, "p", nil); err != nil {
					return err
				}
				_, err := tx.PortNetwork(ctx, missing)
				var ne *neutron.Error
				if !errors.As(err, &ne) || ne.Type != "NetworkNotFound" {
					t.Errorf("PortNetwork of a missing network after preload: %v, want NetworkNotFound", err)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}

			if _, err := st.Write(ctx, func(tx *store.Tx) error {
				if err := tx.PreloadPortCreate(ctx, netID, "p", []string{"10.0.0.5", "10.0.0.6"}); err != nil {
					return err
				}
				n, err := tx.PortNetwork(ctx, netID)
				if err != nil || n.ID != netID {
					t.Errorf("PortNetwork = %v, %v", n, err)
				}
				// Asked about an address the probe did not cover: read.
				got, err := tx.AllocatedAmong(ctx, netID, []string{"10.0.0.5", "10.0.0.7"})
				if err != nil || len(got) != 1 || !got["10.0.0.5"] {
					t.Errorf("AllocatedAmong(.5, .7) = %v, %v; want .5 only", got, err)
				}
				other := &neutron.Subnet{Standard: neutron.Standard{ID: store.NewID(), ProjectID: "p"}, NetworkID: netID, IPVersion: 4, CIDR: "10.1.0.0/16", GatewayIP: "10.1.0.1"}
				if err := tx.InsertSubnet(ctx, other); err != nil {
					return err
				}
				subs, err := tx.NetworkSubnets(ctx, netID)
				if err != nil || len(subs) != 2 {
					t.Errorf("NetworkSubnets after inserting a second subnet = %d subnets, %v; want 2", len(subs), err)
				}
				return errors.New("roll back")
			}); err == nil {
				t.Fatal("write did not fail")
			}

			if _, err := st.Write(ctx, func(tx *store.Tx) error {
				if err := tx.PreloadPortCreate(ctx, netID, "p", []string{"10.0.0.5", "10.0.0.6"}); err != nil {
					return err
				}
				got, err := tx.AllocatedAmong(ctx, netID, []string{"10.0.0.6", "10.0.0.5"})
				if err != nil || len(got) != 1 || !got["10.0.0.5"] {
					t.Errorf("AllocatedAmong(.6, .5) = %v, %v; want .5 only", got, err)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// On PostgreSQL the address probe is planned for its addresses every
// time, never with the prepared statement's generic plan: that plan, made
// from the statistics of a small table, read every allocation of the
// network (see customPlan). The setting does not outlive the probe on the
// connection.
func TestProbePlannedForItsAddresses(t *testing.T) {
	ctx := context.Background()
	st := storetest.Open(t, store.Postgres)
	// One connection: the prepared statements and settings seen below
	// are those the writes used.
	st.DB().SetMaxOpenConns(1)
	netID, subID := store.NewID(), store.NewID()
	if _, err := st.Write(ctx, func(tx *store.Tx) error {
		if err := tx.InsertNetwork(ctx, &neutron.Network{Standard: neutron.Standard{ID: netID, ProjectID: "p"}, Status: neutron.StatusActive}); err != nil {
			return err
		}
		return tx.InsertSubnet(ctx, &neutron.Subnet{Standard: neutron.Standard{ID: subID, ProjectID: "p"}, NetworkID: netID, IPVersion: 4, CIDR: "10.0.0.0/16", GatewayIP: "10.0.0.1"})
	}); err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		probe := []string{fmt.Sprintf("10.0.1.%d", i), fmt.Sprintf("10.0.2.%d", i)}
		if _, err := st.Write(ctx, func(tx *store.Tx) error {
			if err := tx.PreloadPortCreate(ctx, netID, "p", probe); err != nil {
				return err
			}
			// Answered by the preload, then asked again (a second round
			// of IPAM's probe) inside the transaction.
			if got, err := tx.AllocatedAmong(ctx, netID, probe); err != nil || len(got) != 0 {
				t.Errorf("AllocatedAmong(%v) = %v, %v; want none", probe, got, err)
			}
			if err := tx.SetQuota(ctx, "p", "port", 100+i); err != nil {
				return err
			}
			got, err := tx.AllocatedAmong(ctx, netID, probe[:1])
			if err != nil || len(got) != 0 {
				t.Errorf("AllocatedAmong(%v) in the transaction = %v, %v; want none", probe[:1], got, err)
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	var mode string
	if err := st.DB().QueryRowContext(ctx, "SHOW plan_cache_mode").Scan(&mode); err != nil || mode != "auto" {
		t.Fatalf("plan_cache_mode after the probes = %q, %v; want auto", mode, err)
	}
	rows, err := st.DB().QueryContext(ctx, "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE 'SELECT ip_address FROM ipallocations%'")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var q string
		var generic, custom int64
		if err := rows.Scan(&q, &generic, &custom); err != nil {
			t.Fatal(err)
		}
		n++
		if generic != 0 {
			t.Errorf("%s: %d generic plans (%d custom), want none", q, generic, custom)
		}
	}
	if err := rows.Err(); err != nil || n == 0 {
		t.Fatalf("no prepared probe statement found (%v)", err)
	}
}
