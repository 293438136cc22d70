package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/subnets"
	"github.com/gophercloud/gophercloud/v2/pagination"

	"neutrino/internal/api/apitest"
)

// TestGophercloud drives gophercloud v2 (a noauth service client pointed
// at our endpoint) through networks, subnets, ports and pagination.
func TestGophercloud(t *testing.T) {
	ctx := context.Background()
	s := stack(t, "sqlite", "", apitest.ReferenceINI)
	srv := httptest.NewServer(s.Handler)
	defer srv.Close()
	c := &gophercloud.ServiceClient{
		ProviderClient: &gophercloud.ProviderClient{HTTPClient: http.Client{}},
		Endpoint:       srv.URL + "/",
		ResourceBase:   srv.URL + "/v2.0/",
	}
	up := true
	n, err := networks.Create(ctx, c, networks.CreateOpts{Name: "gc-net", AdminStateUp: &up}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	if n.Name != "gc-net" || n.Status != "ACTIVE" || n.TenantID != "fake_project_id" || n.ProjectID != "fake_project_id" {
		t.Fatalf("network: %+v", n)
	}
	sn, err := subnets.Create(ctx, c, subnets.CreateOpts{NetworkID: n.ID, CIDR: "192.168.7.0/24", IPVersion: gophercloud.IPv4, Name: "gc-sub"}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	if sn.GatewayIP != "192.168.7.1" || len(sn.AllocationPools) != 1 || sn.AllocationPools[0].Start != "192.168.7.2" {
		t.Fatalf("subnet: %+v", sn)
	}
	p, err := ports.Create(ctx, c, ports.CreateOpts{NetworkID: n.ID, Name: "gc-port",
		FixedIPs: []ports.IP{{SubnetID: sn.ID, IPAddress: "192.168.7.50"}}}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	if len(p.FixedIPs) != 1 || p.FixedIPs[0].IPAddress != "192.168.7.50" || p.Status != "DOWN" {
		t.Fatalf("port: %+v", p)
	}
	name := "gc-port-2"
	p2, err := ports.Update(ctx, c, p.ID, ports.UpdateOpts{Name: &name}).Extract()
	if err != nil || p2.Name != name || p2.RevisionNumber <= p.RevisionNumber {
		t.Fatalf("port update: %+v %v", p2, err)
	}
	got, err := networks.Get(ctx, c, n.ID).Extract()
	if err != nil || len(got.Subnets) != 1 || got.Subnets[0] != sn.ID {
		t.Fatalf("network get: %+v %v", got, err)
	}
	if _, err := networks.Get(ctx, c, "00000000-0000-0000-0000-000000000000").Extract(); !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		t.Fatalf("get unknown: %v", err)
	}

	// Pagination: gophercloud follows networks_links rel=next.
	for i := 0; i < 6; i++ {
		if _, err := networks.Create(ctx, c, networks.CreateOpts{Name: fmt.Sprintf("gc-page-%d", i)}).Extract(); err != nil {
			t.Fatal(err)
		}
	}
	pages, seen := 0, map[string]bool{}
	err = networks.List(c, networks.ListOpts{Limit: 3}).EachPage(ctx, func(_ context.Context, pg pagination.Page) (bool, error) {
		l, err := networks.ExtractNetworks(pg)
		if err != nil {
			return false, err
		}
		pages++
		for _, x := range l {
			if seen[x.ID] {
				return false, fmt.Errorf("network %s on two pages", x.ID)
			}
			seen[x.ID] = true
		}
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 7 || pages != 3 {
		t.Fatalf("paged through %d networks in %d pages, want 7 in 3", len(seen), pages)
	}
	all, err := ports.List(c, ports.ListOpts{NetworkID: n.ID}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pl, _ := ports.ExtractPorts(all)
	if len(pl) != 1 || pl[0].ID != p.ID {
		t.Fatalf("port list: %+v", pl)
	}

	if err := ports.Delete(ctx, c, p.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	if err := subnets.Delete(ctx, c, sn.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	if err := networks.Delete(ctx, c, n.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	if err := networks.Delete(ctx, c, n.ID).ExtractErr(); !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}
