package ml2

import (
	"context"
	"testing"

	"neutrino/internal/neutron"
	"neutrino/internal/store"
)

// TestSecurityGroups: Neutron's security-group semantics on every database.
func TestSecurityGroups(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		p := newPlugin(t, d, seedConfig())
		n, _ := netAndSubnet(t, p)

		// A port without security_groups gets the project's default
		// group, created on first use with Neutron's four rules.
		pt, err := p.CreatePort(ctx, neutron.PortCreate{ProjectID: tenant, NetworkID: n.ID})
		if err != nil {
			t.Fatal(err)
		}
		def, err := p.ListSecurityGroups(ctx, neutron.ListQuery{Filters: map[string][]string{"name": {"default"}}})
		if err != nil || len(def) != 1 {
			t.Fatalf("default groups: %v %v", def, err)
		}
		if len(pt.SecurityGroups) != 1 || pt.SecurityGroups[0] != def[0].ID || len(def[0].Rules) != 4 || def[0].Description != "Default security group" {
			t.Fatalf("port groups %v, default %+v", pt.SecurityGroups, def[0])
		}
		// A new group: two egress rules; it cannot be called default.
		_, err = p.CreateSecurityGroup(ctx, neutron.SecurityGroupCreate{ProjectID: tenant, Name: "Default"})
		wantFault(t, err, 409, "SecurityGroupDefaultAlreadyExists")
		web, err := p.CreateSecurityGroup(ctx, neutron.SecurityGroupCreate{ProjectID: tenant, Name: "web", Tags: []string{"b", "a"}})
		if err != nil || len(web.Rules) != 2 || !web.Stateful || web.RevisionNumber != 1 || len(web.Tags) != 2 {
			t.Fatalf("web = %+v, %v", web, err)
		}
		// Rules: created, duplicate 409, bad 400, unknown group 404.
		r, err := p.CreateSecurityGroupRule(ctx, neutron.SecurityGroupRuleCreate{SecurityGroupID: web.ID, Direction: "ingress", Protocol: ptr("tcp"), PortRangeMin: ptr(80), PortRangeMax: ptr(80)})
		if err != nil || r.ProjectID != tenant || r.Description == nil || *r.Description != "" || r.RevisionNumber != 0 {
			t.Fatalf("rule %+v, %v", r, err)
		}
		_, err = p.CreateSecurityGroupRule(ctx, neutron.SecurityGroupRuleCreate{SecurityGroupID: web.ID, Direction: "ingress", Protocol: ptr("6"), PortRangeMin: ptr(80), PortRangeMax: ptr(80)})
		wantFault(t, err, 409, "SecurityGroupRuleExists")
		_, err = p.CreateSecurityGroupRule(ctx, neutron.SecurityGroupRuleCreate{SecurityGroupID: web.ID, Direction: "ingress", Protocol: ptr("tcp"), PortRangeMin: ptr(90), PortRangeMax: ptr(80)})
		wantFault(t, err, 400, "SecurityGroupInvalidPortRange")
		_, err = p.CreateSecurityGroupRule(ctx, neutron.SecurityGroupRuleCreate{SecurityGroupID: "missing", Direction: "ingress"})
		wantFault(t, err, 404, "SecurityGroupNotFound")
		_, err = p.CreateSecurityGroupRule(ctx, neutron.SecurityGroupRuleCreate{SecurityGroupID: web.ID, Direction: "ingress", RemoteGroupID: ptr("missing")})
		wantFault(t, err, 404, "SecurityGroupNotFound")
		// A rule in web naming the default group as remote.
		rr, err := p.CreateSecurityGroupRule(ctx, neutron.SecurityGroupRuleCreate{SecurityGroupID: web.ID, Direction: "ingress", RemoteGroupID: &def[0].ID})
		if err != nil {
			t.Fatal(err)
		}
		got, err := p.GetSecurityGroup(ctx, web.ID)
		if err != nil || len(got.Rules) != 4 || got.RevisionNumber != 3 {
			t.Fatalf("web after two rules: rev %d, %d rules, %v", got.RevisionNumber, len(got.Rules), err)
		}
		// Port security off: no groups, no address pairs.
		_, err = p.CreatePort(ctx, neutron.PortCreate{ProjectID: tenant, NetworkID: n.ID, PortSecurityEnabled: ptr(false), SecurityGroups: []string{web.ID}})
		wantFault(t, err, 400, "PortSecurityAndIPRequiredForSecurityGroups")
		_, err = p.CreatePort(ctx, neutron.PortCreate{ProjectID: tenant, NetworkID: n.ID, PortSecurityEnabled: ptr(false), AllowedAddressPairs: []neutron.AddressPair{{IPAddress: "10.0.0.1"}}})
		wantFault(t, err, 409, "AddressPairAndPortSecurityRequired")
		open, err := p.CreatePort(ctx, neutron.PortCreate{ProjectID: tenant, NetworkID: n.ID, PortSecurityEnabled: ptr(false)})
		if err != nil || len(open.SecurityGroups) != 0 {
			t.Fatalf("port without port security: %+v %v", open, err)
		}
		_, err = p.UpdatePort(ctx, pt.ID, neutron.PortUpdate{PortSecurityEnabled: ptr(false)})
		wantFault(t, err, 409, "PortSecurityPortHasSecurityGroup")
		if _, err := p.UpdatePort(ctx, pt.ID, neutron.PortUpdate{PortSecurityEnabled: ptr(false), SecurityGroups: ptr([]string{})}); err != nil {
			t.Fatalf("port security off with groups removed: %v", err)
		}
		// Move the port into web: web is in use, the default is not.
		if _, err := p.UpdatePort(ctx, pt.ID, neutron.PortUpdate{PortSecurityEnabled: ptr(true), SecurityGroups: ptr([]string{web.ID})}); err != nil {
			t.Fatal(err)
		}
		if ps, err := p.ListPorts(ctx, neutron.ListQuery{Filters: map[string][]string{"security_groups": {web.ID}}}); err != nil || len(ps) != 1 || ps[0].ID != pt.ID {
			t.Fatalf("ports of web: %v %v", ps, err)
		}
		wantFault(t, p.DeleteSecurityGroup(ctx, web.ID, true), 409, "SecurityGroupInUse")
		// The default group: not by its project, but by an admin, and its
		// rules go, with the rule in web that named it.
		wantFault(t, p.DeleteSecurityGroup(ctx, def[0].ID, false), 409, "SecurityGroupCannotRemoveDefault")
		_, err = p.UpdateSecurityGroup(ctx, def[0].ID, neutron.SecurityGroupUpdate{Name: ptr("other")})
		wantFault(t, err, 409, "SecurityGroupCannotUpdateDefault")
		before := mustChanges(t, p, 0)
		if err := p.DeleteSecurityGroup(ctx, def[0].ID, true); err != nil {
			t.Fatal(err)
		}
		dels := map[neutron.ChangeKind]int{}
		for _, c := range mustChanges(t, p, before[len(before)-1].Revision) {
			if c.Deletion() {
				dels[c.Kind]++
			}
		}
		if dels[neutron.KindSecurityGroup] != 1 || dels[neutron.KindSecurityGroupRule] != 5 {
			t.Errorf("deleting the default group logged %v deletions, want 1 group and 5 rules", dels)
		}
		_, err = p.GetSecurityGroupRule(ctx, rr.ID)
		wantFault(t, err, 404, "SecurityGroupRuleNotFound")
		// Rule delete bumps the group; stateful can change.
		if err := p.DeleteSecurityGroupRule(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
		wantFault(t, p.DeleteSecurityGroupRule(ctx, r.ID), 404, "SecurityGroupRuleNotFound")
		_, err = p.UpdateSecurityGroup(ctx, web.ID, neutron.SecurityGroupUpdate{Stateful: ptr(false)})
		wantFault(t, err, 409, "SecurityGroupInUse")
		if _, err := p.UpdatePort(ctx, pt.ID, neutron.PortUpdate{SecurityGroups: ptr([]string{})}); err != nil {
			t.Fatal(err)
		}
		up, err := p.UpdateSecurityGroup(ctx, web.ID, neutron.SecurityGroupUpdate{Stateful: ptr(false), Description: ptr("d"), IfRevision: 4})
		if err != nil || up.Stateful || up.Description != "d" || up.RevisionNumber != 5 {
			t.Fatalf("update: %+v %v", up, err)
		}
		if err := p.DeleteSecurityGroup(ctx, web.ID, false); err != nil {
			t.Fatalf("delete unused group: %v", err)
		}
		if rs, err := p.ListSecurityGroupRules(ctx, neutron.ListQuery{}); err != nil || len(rs) != 0 {
			t.Fatalf("rules left: %v %v", rs, err)
		}
	})
}

// TestRaceSecurityGroups: concurrent first ports of a project make one
// default group; the same rule created at once is one success and 409s;
// deleting a group while ports join it never leaves a port in a deleted
// group.
func TestRaceSecurityGroups(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		p1, p2 := twoServers(t, d, seedConfig())
		n, err := p1.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: "admin", Name: "shared", Shared: ptr(true)})
		if err != nil {
			t.Fatal(err)
		}
		got := race(t, racers, func(i int) error {
			p := []*Plugin{p1, p2}[i%2]
			_, err := p.CreatePort(ctx, neutron.PortCreate{ProjectID: "racer", NetworkID: n.ID})
			return err
		})
		if got["ok"] != racers {
			t.Fatalf("ports: %v", got)
		}
		def, err := p1.ListSecurityGroups(ctx, neutron.ListQuery{Filters: map[string][]string{"project_id": {"racer"}}})
		if err != nil || len(def) != 1 || len(def[0].Rules) != 4 {
			t.Fatalf("racer's groups: %+v %v", def, err)
		}
		g, err := p1.CreateSecurityGroup(ctx, neutron.SecurityGroupCreate{ProjectID: "racer", Name: "g"})
		if err != nil {
			t.Fatal(err)
		}
		got = race(t, racers, func(i int) error {
			p := []*Plugin{p1, p2}[i%2]
			_, err := p.CreateSecurityGroupRule(ctx, neutron.SecurityGroupRuleCreate{SecurityGroupID: g.ID, Direction: "ingress", Protocol: ptr("tcp"), PortRangeMin: ptr(22), PortRangeMax: ptr(22)})
			return err
		})
		wantOneWinner(t, "same rule", got, "409 SecurityGroupRuleExists")
		victim, err := p1.CreateSecurityGroup(ctx, neutron.SecurityGroupCreate{ProjectID: "racer", Name: "victim"})
		if err != nil {
			t.Fatal(err)
		}
		race(t, racers, func(i int) error {
			if i == 0 {
				return p2.DeleteSecurityGroup(ctx, victim.ID, false)
			}
			_, err := []*Plugin{p1, p2}[i%2].CreatePort(ctx, neutron.PortCreate{ProjectID: "racer", NetworkID: n.ID, SecurityGroups: []string{victim.ID}})
			return err
		})
		_, gerr := p1.GetSecurityGroup(ctx, victim.ID)
		members, err := p1.ListPorts(ctx, neutron.ListQuery{Filters: map[string][]string{"security_groups": {victim.ID}}})
		if err != nil {
			t.Fatal(err)
		}
		if gerr != nil && len(members) > 0 {
			t.Fatalf("group deleted but %d ports are in it", len(members))
		}
	})
}
