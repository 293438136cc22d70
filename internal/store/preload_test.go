package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
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

// On PostgreSQL the address probe looks each address up in the primary
// key whatever the table's statistics say: the generic plan of the
// prepared statement the store sent, made while ipallocations has never
// been analysed, has one index condition on network and address per
// candidate and no filter (the earlier "ip_address IN (...)" shape was
// planned as a scan of the network's allocations with a filter, see
// allocatedAmong).
func TestProbeLooksUpEachAddress(t *testing.T) {
	ctx := context.Background()
	st := storetest.Open(t, store.Postgres)
	// One connection: the prepared statements seen below are those the
	// writes used.
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
	probe := []string{"10.0.1.1", "10.0.2.2", "10.0.3.3"}
	for range 3 {
		if _, err := st.Write(ctx, func(tx *store.Tx) error {
			if err := tx.PreloadPortCreate(ctx, netID, "p", probe); err != nil {
				return err
			}
			// Answered by the preload; then a question it did not ask.
			for _, ips := range [][]string{probe, {"10.0.9.9"}} {
				if got, err := tx.AllocatedAmong(ctx, netID, ips); err != nil || len(got) != 0 {
					t.Errorf("AllocatedAmong(%v) = %v, %v; want none", ips, got, err)
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := st.DB().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var name, stmt string
	if err := conn.QueryRowContext(ctx, "SELECT name, statement FROM pg_prepared_statements WHERE statement LIKE 'SELECT ip_address FROM ipallocations%UNION ALL%UNION ALL%'").Scan(&name, &stmt); err != nil {
		t.Fatalf("the store's prepared probe of %d addresses: %v", len(probe), err)
	}
	if _, err := conn.ExecContext(ctx, "SET plan_cache_mode = force_generic_plan"); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(ctx, "RESET plan_cache_mode")
	rows, err := conn.QueryContext(ctx, fmt.Sprintf("EXPLAIN EXECUTE %q('%s', '10.0.1.1', '%s', '10.0.2.2', '%s', '10.0.3.3')", name, netID, netID, netID))
	if err != nil {
		t.Fatalf("explain %s: %v", stmt, err)
	}
	defer rows.Close()
	var plan []string
	conds := 0
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, line)
		if strings.Contains(line, "Index Cond: ((network_id = $") && strings.Contains(line, "ip_address = $") {
			conds++
		}
		if strings.Contains(line, "Filter") || strings.Contains(line, "Seq Scan") {
			t.Errorf("plan line %q: the probe must not read more than the asked addresses", line)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if conds != len(probe) {
		t.Errorf("generic plan of %s has %d primary-key lookups, want %d:\n%s", stmt, conds, len(probe), strings.Join(plan, "\n"))
	}
}
