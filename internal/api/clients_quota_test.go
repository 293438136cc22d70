package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/networkipavailabilities"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/quotas"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"

	"neutrino/internal/api/apitest"
)

// TestGophercloudQuotasBulk drives gophercloud v2 (noauth: an admin of
// fake_project_id) through quotas, a bulk port create (gophercloud has
// no bulk helper for ports: its ServiceClient.Post with the collection
// body, as Heat sends it) and network IP availability.
func TestGophercloudQuotasBulk(t *testing.T) {
	ctx := context.Background()
	s := stack(t, "sqlite", "", apitest.ReferenceINI)
	srv := httptest.NewServer(s.Handler)
	defer srv.Close()
	c := &gophercloud.ServiceClient{
		ProviderClient: &gophercloud.ProviderClient{HTTPClient: http.Client{}},
		Endpoint:       srv.URL + "/",
		ResourceBase:   srv.URL + "/v2.0/",
	}
	const project = "fake_project_id"
	q, err := quotas.Get(ctx, c, project).Extract()
	if err != nil || q.Network != 100 || q.Port != 500 || q.SecurityGroup != 10 || q.SecurityGroupRule != 100 || q.Router != 10 || q.FloatingIP != 50 {
		t.Fatalf("quotas: %+v %v", q, err)
	}
	two, three := 2, 3
	q, err = quotas.Update(ctx, c, project, quotas.UpdateOpts{Network: &two, Port: &three}).Extract()
	if err != nil || q.Network != 2 || q.Port != 3 {
		t.Fatalf("quota update: %+v %v", q, err)
	}
	n, err := networks.Create(ctx, c, networks.CreateOpts{Name: "gc-net"}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Post(ctx, c.ServiceURL("subnets"), map[string]any{"subnet": map[string]any{"network_id": n.ID, "cidr": "10.5.0.0/24", "ip_version": 4}}, nil, nil); err != nil {
		t.Fatal(err)
	}
	var bulk struct{ Ports []ports.Port }
	body := map[string]any{"ports": []any{map[string]any{"network_id": n.ID, "name": "a"}, map[string]any{"network_id": n.ID, "name": "b"}}}
	if _, err := c.Post(ctx, c.ServiceURL("ports"), body, &bulk, &gophercloud.RequestOpts{OkCodes: []int{201}}); err != nil {
		t.Fatal(err)
	}
	if len(bulk.Ports) != 2 || bulk.Ports[0].Name != "a" || bulk.Ports[1].Name != "b" || bulk.Ports[0].FixedIPs[0].IPAddress == bulk.Ports[1].FixedIPs[0].IPAddress {
		t.Fatalf("bulk ports: %+v", bulk.Ports)
	}
	// Two more ports would make four: 409 OverQuota, none created.
	_, err = c.Post(ctx, c.ServiceURL("ports"), body, nil, &gophercloud.RequestOpts{OkCodes: []int{201}})
	if !gophercloud.ResponseCodeIs(err, http.StatusConflict) || !strings.Contains(err.Error(), "OverQuota") {
		t.Fatalf("bulk beyond the quota: %v", err)
	}
	d, err := quotas.GetDetail(ctx, c, project).Extract()
	if err != nil || d.Port != (quotas.QuotaDetail{Used: 2, Limit: 3}) || d.Network != (quotas.QuotaDetail{Used: 1, Limit: 2}) {
		t.Fatalf("quota details: %+v %v", d, err)
	}
	if err := quotas.Delete(ctx, c, project).ExtractErr(); err != nil {
		t.Fatal(err)
	}

	a, err := networkipavailabilities.Get(ctx, c, n.ID).Extract()
	if err != nil || a.TotalIPs != "253" || a.UsedIPs != "2" || len(a.SubnetIPAvailabilities) != 1 || a.SubnetIPAvailabilities[0].CIDR != "10.5.0.0/24" {
		t.Fatalf("ip availability: %+v %v", a, err)
	}
	pages, err := networkipavailabilities.List(c, networkipavailabilities.ListOpts{}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	all, err := networkipavailabilities.ExtractNetworkIPAvailabilities(pages)
	if err != nil || len(all) != 1 || all[0].NetworkName != "gc-net" {
		t.Fatalf("ip availability list: %+v %v", all, err)
	}
}

// TestOpenstackCLIIPAvailability: `openstack ip availability list/show`
// (Debian python3-openstackclient) in noauth mode.
func TestOpenstackCLIIPAvailability(t *testing.T) {
	t.Parallel()
	s := stack(t, "sqlite", "", apitest.ReferenceINI)
	srv := httptest.NewServer(s.Handler)
	defer srv.Close()
	osc := openstackCLI(t, srv.URL)
	var net, sub map[string]any
	osc.json(&net, "network", "create", "osc-net")
	osc.json(&sub, "subnet", "create", "--network", "osc-net", "--subnet-range", "192.168.6.0/24", "osc-sub")
	var port map[string]any
	osc.json(&port, "port", "create", "--network", "osc-net", "p1")
	var list []map[string]any
	osc.json(&list, "ip", "availability", "list")
	if len(list) != 1 || list[0]["Network ID"] != net["id"] || list[0]["Network Name"] != "osc-net" || list[0]["Total IPs"] != float64(253) || list[0]["Used IPs"] != float64(1) {
		t.Fatalf("ip availability list: %v", list)
	}
	var shown map[string]any
	osc.json(&shown, "ip", "availability", "show", "osc-net")
	if shown["network_id"] != net["id"] || shown["used_ips"] != float64(1) || shown["total_ips"] != float64(253) {
		t.Fatalf("ip availability show: %v", shown)
	}
}
