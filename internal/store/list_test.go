package store

import (
	"context"
	"path/filepath"
	"testing"

	"neutrino/internal/neutron"
)

// TestFilterColumnsExist: every filter and sort attribute of every listed
// resource names a column its table has, with a value of its kind, so a
// filter or sort_key the API accepts never becomes a SQL error (a 500).
func TestFilterColumnsExist(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, "sqlite:///"+filepath.Join(t.TempDir(), "list.sqlite"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	values := map[colKind]string{colString: "x", colBool: "true", colInt: "1"}
	for _, r := range []*resource{agentRes, networkRes, subnetRes, portRes, routerRes, floatingIPRes,
		secgroupRes, secgroupRuleRes, subnetPoolRes} {
		for attr, col := range r.cols {
			q := neutron.ListQuery{Filters: map[string][]string{attr: {values[col.kind]}},
				Sort: []neutron.SortKey{{Key: attr, Desc: true}}, Limit: 1}
			tail, args, _, err := r.page(ctx, s.rdb, s, q)
			if err != nil {
				t.Errorf("%s?%s: %v", r.table, attr, err)
				continue
			}
			rows, err := s.rdb.QueryContext(ctx, s.rebind("SELECT "+r.table+".id FROM "+r.table+tail), args...)
			if err != nil {
				t.Errorf("%s?%s: %v", r.table, attr, err)
				continue
			}
			rows.Close()
		}
	}
}
