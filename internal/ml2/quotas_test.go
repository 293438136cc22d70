package ml2

import (
	"context"
	"errors"
	"maps"
	"sync"
	"testing"
	"time"

	"neutrino/internal/config"
	"neutrino/internal/neutron"
	"neutrino/internal/store"
	"neutrino/internal/store/storetest"
)

func quotaConfig() *config.Server {
	cfg := seedConfig()
	cfg.Quotas = map[string]int{"network": 100, "subnet": 100, "subnetpool": -1, "port": 500, "router": 10,
		"floatingip": 50, "rbac_policy": 10, "security_group": 10, "security_group_rule": 100}
	return cfg
}

func TestQuotaLimits(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		p := newPlugin(t, d, quotaConfig())
		def := p.DefaultQuotas()
		if !maps.Equal(def, quotaConfig().Quotas) {
			t.Fatalf("defaults %v", def)
		}
		q, err := p.Quotas(ctx, tenant)
		if err != nil || !maps.Equal(q, def) {
			t.Fatalf("quotas of a new project: %v %v", q, err)
		}
		all, err := p.AllQuotas(ctx)
		if err != nil || len(all) != 0 {
			t.Fatalf("all quotas before any is set: %v %v", all, err)
		}
		q, err = p.UpdateQuotas(ctx, tenant, map[string]int{"network": 2, "port": -1}, false)
		if err != nil || q["network"] != 2 || q["port"] != -1 || q["subnet"] != 100 {
			t.Fatalf("after update: %v %v", q, err)
		}
		// Setting the same values again, and one of them anew, works.
		if q, err = p.UpdateQuotas(ctx, tenant, map[string]int{"network": 2, "subnet": 5}, false); err != nil || q["network"] != 2 || q["subnet"] != 5 {
			t.Fatalf("second update: %v %v", q, err)
		}
		all, err = p.AllQuotas(ctx)
		if err != nil || len(all) != 1 || all[tenant]["subnet"] != 5 || all[tenant]["router"] != 10 {
			t.Fatalf("all quotas: %v %v", all, err)
		}

		n, _ := netAndSubnet(t, p)
		if _, err := p.CreatePort(ctx, neutron.PortCreate{NetworkID: n.ID}); err != nil {
			t.Fatal(err)
		}
		det, err := p.QuotaDetails(ctx, tenant)
		if err != nil {
			t.Fatal(err)
		}
		if det["network"] != (neutron.QuotaDetail{Limit: 2, Used: 1}) || det["subnet"] != (neutron.QuotaDetail{Limit: 5, Used: 1}) ||
			det["port"] != (neutron.QuotaDetail{Limit: -1, Used: 1}) || det["router"] != (neutron.QuotaDetail{Limit: 10}) || len(det) != len(def) {
			t.Fatalf("details: %v", det)
		}
		// check_limit refuses a limit below what is used.
		_, err = p.UpdateQuotas(ctx, tenant, map[string]int{"network": 0}, true)
		wantFault(t, err, 400, "HTTPBadRequest")
		if q, _ := p.Quotas(ctx, tenant); q["network"] != 2 {
			t.Fatalf("refused update changed the limit: %v", q)
		}

		if err := p.DeleteQuotas(ctx, tenant); err != nil {
			t.Fatal(err)
		}
		wantFault(t, p.DeleteQuotas(ctx, tenant), 404, "TenantQuotaNotFound")
		if q, err := p.Quotas(ctx, tenant); err != nil || !maps.Equal(q, def) {
			t.Fatalf("after delete: %v %v", q, err)
		}
	})
}

// Creates beyond a project's limit are OverQuota; a bulk counts as a
// whole and leaves nothing; other projects and unlimited resources are
// not affected.
func TestQuotaEnforced(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		p := newPlugin(t, d, quotaConfig())
		if _, err := p.UpdateQuotas(ctx, tenant, map[string]int{"network": 2, "subnet": 1, "port": 3}, false); err != nil {
			t.Fatal(err)
		}
		n, err := p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: tenant})
		if err != nil {
			t.Fatal(err)
		}
		// One network left: a bulk of two is refused whole.
		_, err = p.CreateNetworks(ctx, []neutron.NetworkCreate{{ProjectID: tenant}, {ProjectID: tenant}})
		wantFault(t, err, 409, "OverQuota")
		if e, _ := neutron.AsError(err); e.Message != "Quota exceeded for resources: ['network']." {
			t.Fatalf("message %q", e.Message)
		}
		if _, err := p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: tenant}); err != nil {
			t.Fatal(err)
		}
		_, err = p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: tenant})
		wantFault(t, err, 409, "OverQuota")
		// Another project, and an admin bulk for both projects: the
		// over-quota project fails it.
		other, err := p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: "other"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.CreateNetworks(ctx, []neutron.NetworkCreate{{ProjectID: "other"}, {ProjectID: tenant}})
		wantFault(t, err, 409, "OverQuota")
		if ns, _ := p.ListNetworks(ctx, neutron.ListQuery{}); len(ns) != 3 {
			t.Fatalf("%d networks, want 3", len(ns))
		}

		if _, err := p.CreateSubnet(ctx, neutron.SubnetCreate{NetworkID: n.ID, IPVersion: 4, CIDR: "10.0.0.0/24"}); err != nil {
			t.Fatal(err)
		}
		_, err = p.CreateSubnet(ctx, neutron.SubnetCreate{NetworkID: n.ID, IPVersion: 4, CIDR: "10.0.1.0/24"})
		wantFault(t, err, 409, "OverQuota")
		// A subnet on this project's network made for another project
		// counts against that project.
		if _, err := p.CreateSubnet(ctx, neutron.SubnetCreate{NetworkID: other.ID, IPVersion: 4, CIDR: "10.0.1.0/24"}); err != nil {
			t.Fatal(err)
		}

		if _, err := p.CreatePorts(ctx, []neutron.PortCreate{{NetworkID: n.ID}, {NetworkID: n.ID}}); err != nil {
			t.Fatal(err)
		}
		_, err = p.CreatePorts(ctx, []neutron.PortCreate{{NetworkID: n.ID}, {NetworkID: n.ID}})
		wantFault(t, err, 409, "OverQuota")
		pt, err := p.CreatePort(ctx, neutron.PortCreate{NetworkID: n.ID})
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.CreatePort(ctx, neutron.PortCreate{NetworkID: n.ID})
		wantFault(t, err, 409, "OverQuota")
		// Freed quota can be used again; -1 lifts the limit.
		if err := p.DeletePort(ctx, pt.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := p.CreatePort(ctx, neutron.PortCreate{NetworkID: n.ID}); err != nil {
			t.Fatal(err)
		}
		if _, err := p.UpdateQuotas(ctx, tenant, map[string]int{"port": -1}, false); err != nil {
			t.Fatal(err)
		}
		if _, err := p.CreatePorts(ctx, make4(n.ID)); err != nil {
			t.Fatal(err)
		}
	})
}

// Two servers on one database, many creates at once with one network and
// one port left in the project's quota: exactly one of each succeeds, the
// others get OverQuota, and the limit holds.
func TestQuotaConcurrent(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d store.Dialect) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		u := storetest.URL(t, d)
		st1, st2 := storetest.OpenURL(t, u), storetest.OpenURL(t, u)
		if _, err := st1.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		p1, err := New(ctx, st1, quotaConfig(), nil)
		if err != nil {
			t.Fatal(err)
		}
		p2, err := New(ctx, st2, quotaConfig(), nil)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := netAndSubnet(t, p1)
		for i := 0; i < 3; i++ {
			if _, err := p1.CreatePort(ctx, neutron.PortCreate{NetworkID: n.ID}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := p1.UpdateQuotas(ctx, tenant, map[string]int{"network": 2, "port": 4}, false); err != nil {
			t.Fatal(err)
		}
		const racers = 12
		var wg sync.WaitGroup
		var mu sync.Mutex
		outcomes := map[string]int{}
		record := func(what string, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				outcomes[what+" ok"]++
				return
			}
			e, ok := neutron.AsError(err)
			if !ok {
				t.Errorf("%s: %v", what, err)
				return
			}
			outcomes[what+" "+e.Type]++
		}
		for i := 0; i < racers; i++ {
			p := []*Plugin{p1, p2}[i%2]
			wg.Add(2)
			go func() {
				defer wg.Done()
				_, err := p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: tenant})
				record("network", err)
			}()
			go func() {
				defer wg.Done()
				_, err := p.CreatePort(ctx, neutron.PortCreate{NetworkID: n.ID})
				record("port", err)
			}()
		}
		wg.Wait()
		want := map[string]int{"network ok": 1, "network OverQuota": racers - 1, "port ok": 1, "port OverQuota": racers - 1}
		if !maps.Equal(outcomes, want) {
			t.Fatalf("outcomes %v, want %v", outcomes, want)
		}
		det, err := p2.QuotaDetails(ctx, tenant)
		if err != nil {
			t.Fatal(err)
		}
		if det["network"].Used != 2 || det["port"].Used != 4 {
			t.Fatalf("usage after the race: %v", det)
		}
	})
}

// Security groups and their rules count against their quotas (groups and
// rules made automatically count as used, as in Neutron's usage).
func TestQuotaSecurityGroups(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		p := newPlugin(t, d, quotaConfig())
		// The first group also makes the project's default group.
		if _, err := p.UpdateQuotas(ctx, tenant, map[string]int{"security_group": 2}, false); err != nil {
			t.Fatal(err)
		}
		web, err := p.CreateSecurityGroup(ctx, neutron.SecurityGroupCreate{ProjectID: tenant, Name: "web"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.CreateSecurityGroup(ctx, neutron.SecurityGroupCreate{ProjectID: tenant, Name: "db"})
		wantFault(t, err, 409, "OverQuota")
		det, err := p.QuotaDetails(ctx, tenant)
		if err != nil {
			t.Fatal(err)
		}
		if det["security_group"].Used != 2 || det["security_group_rule"].Used != 6 {
			t.Fatalf("usage: %v (want 2 groups; 4 default + 2 egress rules)", det)
		}
		if _, err := p.UpdateQuotas(ctx, tenant, map[string]int{"security_group_rule": 7}, false); err != nil {
			t.Fatal(err)
		}
		rule := func(port int) error {
			_, err := p.CreateSecurityGroupRule(ctx, neutron.SecurityGroupRuleCreate{SecurityGroupID: web.ID, Direction: "ingress",
				Protocol: ptr("tcp"), PortRangeMin: ptr(port), PortRangeMax: ptr(port)})
			return err
		}
		if err := rule(80); err != nil {
			t.Fatal(err)
		}
		wantFault(t, rule(443), 409, "OverQuota")
	})
}

// Concurrent creates in one project under a quota never deadlock, so
// none needs a retry for it: with one attempt each, all succeed. On
// MariaDB the quota check used to lock the project's quota_locks row and
// then count its ports with a locking read, which waited for the
// uncommitted port of a create that itself waited for that row; InnoDB
// broke the cycle by failing one (1213), and at load 50 some creates used
// up their retries and answered 409 (found by bench/chaos).
func TestQuotaConcurrentCreatesDoNotDeadlock(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d store.Dialect) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		st := storetest.Open(t, d)
		p, err := New(ctx, st, quotaConfig(), nil)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := netAndSubnet(t, p)
		// The project's default security group exists before the race.
		if _, err := p.CreatePort(ctx, neutron.PortCreate{NetworkID: n.ID}); err != nil {
			t.Fatal(err)
		}
		st.MaxAttempts = 1
		const racers = 24
		errs := make([]error, racers)
		var wg sync.WaitGroup
		for i := range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = p.CreatePort(ctx, neutron.PortCreate{NetworkID: n.ID})
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("concurrent port creates failed on their first attempt: %v", err)
		}
	})
}
