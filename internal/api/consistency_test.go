package api_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"neutrino/internal/api/apitest"
)

// TestCheckConsistencyDetects: the checker FuzzAPI relies on passes a
// consistent database and names each inconsistency written behind the
// API's back.
func TestCheckConsistencyDetects(t *testing.T) {
	eachDB(t, func(t *testing.T, name, admin string) {
		s := stack(t, name, admin, inputINI)
		ctx := context.Background()
		_, m := serve(t, s.Handler, "POST", "/v2.0/networks", `{"network": {"name": "n"}}`, nil)
		n := m["network"].(map[string]any)
		serve(t, s.Handler, "POST", "/v2.0/subnets", `{"subnet": {"network_id": "`+n["id"].(string)+`", "cidr": "10.0.0.0/24", "ip_version": 4}}`, nil)
		_, m = serve(t, s.Handler, "POST", "/v2.0/ports", `{"port": {"network_id": "`+n["id"].(string)+`"}}`, nil)
		port := m["port"].(map[string]any)["id"].(string)
		if err := apitest.CheckConsistency(ctx, s.Store); err != nil {
			t.Fatalf("consistent database reported: %v", err)
		}
		vni := fmt.Sprint(n["provider:segmentation_id"])
		for _, c := range []struct{ sql, want string }{
			{"INSERT INTO tags (kind, resource_id, tag) VALUES ('network', 'no-such-network', 'x')", `tag "x" of missing network no-such-network`},
			{"UPDATE vxlan_allocations SET allocated = false WHERE vxlan_vni = " + vni, "vxlan id /" + vni + " is used by network"},
			{"UPDATE vxlan_allocations SET allocated = true WHERE vxlan_vni = 2000", "vxlan id /2000 is allocated but no network uses it"},
			{"UPDATE ipallocations SET ip_address = '10.9.9.9' WHERE port_id = '" + port + "'", "IP 10.9.9.9 outside subnet"},
		} {
			if _, err := s.Store.DB().ExecContext(ctx, c.sql); err != nil {
				t.Fatalf("%s: %v", c.sql, err)
			}
			err := apitest.CheckConsistency(ctx, s.Store)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("after %s: %v, want %q", c.sql, err, c.want)
			}
		}
	})
}
