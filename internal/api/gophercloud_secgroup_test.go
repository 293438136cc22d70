package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/groups"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/rules"

	"neutrino/internal/api/apitest"
)

// TestGophercloudSecurityGroups drives gophercloud v2's security-group
// and rule calls (the ones Terraform and Go tools use).
func TestGophercloudSecurityGroups(t *testing.T) {
	ctx := context.Background()
	s := stack(t, "sqlite", "", apitest.ReferenceINI)
	srv := httptest.NewServer(s.Handler)
	defer srv.Close()
	c := &gophercloud.ServiceClient{
		ProviderClient: &gophercloud.ProviderClient{HTTPClient: http.Client{}},
		Endpoint:       srv.URL + "/",
		ResourceBase:   srv.URL + "/v2.0/",
	}
	g, err := groups.Create(ctx, c, groups.CreateOpts{Name: "gc-sg", Description: "d"}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	if g.Name != "gc-sg" || !g.Stateful || len(g.Rules) != 2 || g.ProjectID != "fake_project_id" {
		t.Fatalf("group: %+v", g)
	}
	r, err := rules.Create(ctx, c, rules.CreateOpts{Direction: rules.DirIngress, EtherType: rules.EtherType4, SecGroupID: g.ID,
		Protocol: rules.ProtocolTCP, PortRangeMin: 443, PortRangeMax: 443, RemoteIPPrefix: "198.18.0.0/15"}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	if r.Protocol != "tcp" || r.PortRangeMin != 443 || r.RemoteIPPrefix != "198.18.0.0/15" || r.SecGroupID != g.ID {
		t.Fatalf("rule: %+v", r)
	}
	bulk, err := rules.CreateBulk(ctx, c, []rules.CreateOpts{
		{Direction: rules.DirIngress, EtherType: rules.EtherType4, SecGroupID: g.ID, Protocol: rules.ProtocolICMP},
		{Direction: rules.DirIngress, EtherType: rules.EtherType6, SecGroupID: g.ID, Protocol: rules.ProtocolIPv6ICMP},
	}).Extract()
	if err != nil || len(bulk) != 2 || bulk[1].Protocol != "ipv6-icmp" {
		t.Fatalf("bulk rules: %+v %v", bulk, err)
	}
	_, err = rules.Create(ctx, c, rules.CreateOpts{Direction: rules.DirIngress, EtherType: rules.EtherType4, SecGroupID: g.ID,
		Protocol: rules.ProtocolTCP, PortRangeMin: 443, PortRangeMax: 443, RemoteIPPrefix: "198.18.0.0/15"}).Extract()
	if !gophercloud.ResponseCodeIs(err, http.StatusConflict) {
		t.Fatalf("duplicate rule: %v", err)
	}
	pages, err := groups.List(c, groups.ListOpts{Name: "gc-sg"}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	all, err := groups.ExtractGroups(pages)
	if err != nil || len(all) != 1 || len(all[0].Rules) != 5 {
		t.Fatalf("list: %+v %v", all, err)
	}
	name := "gc-sg2"
	up, err := groups.Update(ctx, c, g.ID, groups.UpdateOpts{Name: name}).Extract()
	if err != nil || up.Name != name {
		t.Fatalf("update: %+v %v", up, err)
	}
	rpages, err := rules.List(c, rules.ListOpts{SecGroupID: g.ID, Protocol: "tcp"}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rl, err := rules.ExtractRules(rpages)
	if err != nil || len(rl) != 1 || rl[0].ID != r.ID {
		t.Fatalf("rule list: %+v %v", rl, err)
	}
	if err := rules.Delete(ctx, c, r.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	if _, err := rules.Get(ctx, c, r.ID).Extract(); !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		t.Fatalf("deleted rule: %v", err)
	}
	if err := groups.Delete(ctx, c, g.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
}
