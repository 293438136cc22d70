package ml2

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"neutrino/internal/neutron"
	"neutrino/internal/store"
)

// extNet makes an external flat network with subnet 198.18.0.0/24.
func extNet(t *testing.T, p *Plugin) (*neutron.Network, *neutron.Subnet) {
	t.Helper()
	ctx := context.Background()
	n, err := p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: "admin", Name: "public", External: ptr(true),
		Segment: &neutron.Segment{NetworkType: neutron.TypeFlat, PhysicalNetwork: "flatnet"}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := p.CreateSubnet(ctx, neutron.SubnetCreate{ProjectID: "admin", NetworkID: n.ID, IPVersion: 4, CIDR: "198.18.0.0/24", EnableDHCP: ptr(false)})
	if err != nil {
		t.Fatal(err)
	}
	return n, s
}

func tenantNet(t *testing.T, p *Plugin, cidr string, gateway *string) (*neutron.Network, *neutron.Subnet) {
	t.Helper()
	ctx := context.Background()
	n, err := p.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: tenant})
	if err != nil {
		t.Fatal(err)
	}
	s, err := p.CreateSubnet(ctx, neutron.SubnetCreate{ProjectID: tenant, NetworkID: n.ID, IPVersion: 4, CIDR: cidr, GatewayIP: gateway})
	if err != nil {
		t.Fatal(err)
	}
	return n, s
}

// routerMust returns a checker for a router call's results.
func routerMust(t *testing.T) func(*neutron.Router, error) *neutron.Router {
	return func(r *neutron.Router, err error) *neutron.Router {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
}

// TestRouters: Neutron's router and floating-IP semantics on every
// database.
func TestRouters(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		p := newPlugin(t, d, seedConfig())
		mustRouter := routerMust(t)
		ext, extSub := extNet(t, p)
		n1, s1 := tenantNet(t, p, "10.0.0.0/24", nil)
		_, s2 := tenantNet(t, p, "10.0.0.0/25", nil)
		_, noGW := tenantNet(t, p, "10.1.0.0/24", ptr(""))
		n3, s3 := tenantNet(t, p, "10.3.0.0/24", nil)

		// A gateway on a network that is not external: 400.
		_, err := p.CreateRouters(ctx, []neutron.RouterCreate{{ProjectID: tenant, Gateway: &neutron.GatewayRequest{NetworkID: n1.ID}}})
		wantFault(t, err, 400, "BadRequest")
		r := mustRouter(p.CreateRouter(ctx, neutron.RouterCreate{ProjectID: tenant, Name: "r1", Gateway: &neutron.GatewayRequest{NetworkID: ext.ID}}))
		g := r.GatewayInfo
		if r.Status != neutron.StatusActive || !r.AdminStateUp || g == nil || g.NetworkID != ext.ID || !g.EnableSNAT ||
			len(g.ExternalFixedIPs) != 1 || g.ExternalFixedIPs[0].SubnetID != extSub.ID || r.GatewayPortID == "" {
			t.Fatalf("router %+v gateway %+v", r, g)
		}
		gw, err := p.GetPort(ctx, r.GatewayPortID)
		if err != nil || gw.DeviceOwner != neutron.DeviceOwnerRouterGateway || gw.DeviceID != r.ID || gw.ProjectID != "" || gw.FixedIPs[0] != g.ExternalFixedIPs[0] {
			t.Fatalf("gateway port %+v %v", gw, err)
		}
		// ext-gw-mode: SNAT off in place keeps the port.
		r = mustRouter(p.UpdateRouter(ctx, r.ID, neutron.RouterUpdate{SetGateway: true, Gateway: &neutron.GatewayRequest{NetworkID: ext.ID, EnableSNAT: ptr(false)}}))
		if r.GatewayInfo.EnableSNAT || r.GatewayPortID != gw.ID {
			t.Fatalf("snat off: %+v %+v", r, r.GatewayInfo)
		}

		// Interfaces: by subnet (the subnet's gateway address), errors
		// as Neutron's.
		info, err := p.AddRouterInterface(ctx, r.ID, neutron.RouterInterfaceRequest{SubnetID: s1.ID})
		if err != nil {
			t.Fatal(err)
		}
		if info.ID != r.ID || info.ProjectID != tenant || info.TenantID != tenant || info.NetworkID != n1.ID || info.SubnetID != s1.ID ||
			!slices.Equal(info.SubnetIDs, []string{s1.ID}) || info.PortID == "" {
			t.Fatalf("interface info %+v", info)
		}
		qr, err := p.GetPort(ctx, info.PortID)
		if err != nil || qr.DeviceOwner != neutron.DeviceOwnerRouterInterface || qr.DeviceID != r.ID || qr.FixedIPs[0].IPAddress != "10.0.0.1" || qr.ProjectID != tenant {
			t.Fatalf("interface port %+v %v", qr, err)
		}
		_, err = p.AddRouterInterface(ctx, r.ID, neutron.RouterInterfaceRequest{SubnetID: s1.ID})
		wantFault(t, err, 400, "BadRequest")
		_, err = p.AddRouterInterface(ctx, r.ID, neutron.RouterInterfaceRequest{SubnetID: s2.ID})
		wantFault(t, err, 400, "BadRequest")
		_, err = p.AddRouterInterface(ctx, r.ID, neutron.RouterInterfaceRequest{SubnetID: noGW.ID})
		wantFault(t, err, 400, "BadRequest")
		_, err = p.AddRouterInterface(ctx, r.ID, neutron.RouterInterfaceRequest{})
		wantFault(t, err, 400, "BadRequest")
		_, err = p.AddRouterInterface(ctx, "missing", neutron.RouterInterfaceRequest{SubnetID: s3.ID})
		wantFault(t, err, 404, "RouterNotFound")
		// By port: a port with a device is in use; a free one joins. Fixed
		// addresses: the extra-route check below needs 10.3.0.9 to be no port's.
		used, err := p.CreatePort(ctx, neutron.PortCreate{ProjectID: tenant, NetworkID: n3.ID, DeviceID: "vm-x", DeviceOwner: "compute:nova", FixedIPs: []neutron.FixedIPRequest{{IPAddress: "10.3.0.4"}}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.AddRouterInterface(ctx, r.ID, neutron.RouterInterfaceRequest{PortID: used.ID})
		wantFault(t, err, 409, "PortInUse")
		free, err := p.CreatePort(ctx, neutron.PortCreate{ProjectID: tenant, NetworkID: n3.ID, FixedIPs: []neutron.FixedIPRequest{{IPAddress: "10.3.0.5"}}})
		if err != nil {
			t.Fatal(err)
		}
		info3, err := p.AddRouterInterface(ctx, r.ID, neutron.RouterInterfaceRequest{PortID: free.ID})
		if err != nil || info3.PortID != free.ID || info3.SubnetID != s3.ID {
			t.Fatalf("interface by port: %+v %v", info3, err)
		}

		// What a router's ports hold up.
		wantFault(t, p.DeleteRouter(ctx, r.ID), 409, "RouterInUse")
		wantFault(t, p.DeletePort(ctx, qr.ID), 409, "L3PortInUse")
		wantFault(t, p.DeletePort(ctx, gw.ID), 409, "L3PortInUse")
		wantFault(t, p.DeleteSubnet(ctx, s1.ID), 409, "SubnetInUse")
		wantFault(t, p.DeleteNetwork(ctx, n1.ID), 409, "NetworkInUse")

		// Extra routes: next hops on the router's subnets only.
		_, err = p.UpdateRouter(ctx, r.ID, neutron.RouterUpdate{Routes: &[]neutron.HostRoute{{Destination: "10.9.0.0/16", NextHop: "172.16.0.1"}}})
		wantFault(t, err, 400, "InvalidRoutes")
		_, err = p.UpdateRouter(ctx, r.ID, neutron.RouterUpdate{Routes: &[]neutron.HostRoute{{Destination: "10.9.0.0/16", NextHop: "10.0.0.1"}}})
		wantFault(t, err, 400, "InvalidRoutes")
		r = mustRouter(p.UpdateRouter(ctx, r.ID, neutron.RouterUpdate{Routes: &[]neutron.HostRoute{{Destination: "10.9.0.0/16", NextHop: "10.3.0.9"}}}))
		if len(r.Routes) != 1 || r.Routes[0].NextHop != "10.3.0.9" {
			t.Fatalf("routes %+v", r.Routes)
		}
		_, err = p.RemoveRouterInterface(ctx, r.ID, neutron.RouterInterfaceRequest{SubnetID: s3.ID})
		wantFault(t, err, 409, "RouterInterfaceInUseByRoute")
		r = mustRouter(p.UpdateRouter(ctx, r.ID, neutron.RouterUpdate{Routes: &[]neutron.HostRoute{}}))

		// Floating IPs.
		vm, err := p.CreatePort(ctx, neutron.PortCreate{ProjectID: tenant, NetworkID: n1.ID, DeviceID: "vm-1", DeviceOwner: "compute:nova"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.CreateFloatingIPs(ctx, []neutron.FloatingIPCreate{{ProjectID: tenant, FloatingNetworkID: n1.ID}})
		wantFault(t, err, 400, "BadRequest")
		fips, err := p.CreateFloatingIPs(ctx, []neutron.FloatingIPCreate{{ProjectID: tenant, FloatingNetworkID: ext.ID, PortID: vm.ID}})
		if err != nil {
			t.Fatal(err)
		}
		f := fips[0]
		if f.RouterID != r.ID || f.PortID != vm.ID || f.FixedIPAddress != vm.FixedIPs[0].IPAddress || f.Status != neutron.StatusDown ||
			f.FloatingIPAddress == "" || f.PortDetails == nil || f.PortDetails.DeviceID != "vm-1" {
			t.Fatalf("floating ip %+v", f)
		}
		fp, err := p.GetPort(ctx, f.FloatingPortID)
		if err != nil || fp.DeviceOwner != neutron.DeviceOwnerFloatingIP || fp.DeviceID != f.ID || fp.ProjectID != "" || fp.FixedIPs[0].IPAddress != f.FloatingIPAddress {
			t.Fatalf("floating ip port %+v %v", fp, err)
		}
		wantFault(t, p.DeletePort(ctx, fp.ID), 409, "L3PortInUse")
		_, err = p.CreateFloatingIPs(ctx, []neutron.FloatingIPCreate{{ProjectID: tenant, FloatingNetworkID: ext.ID, PortID: vm.ID}})
		wantFault(t, err, 409, "FloatingIPPortAlreadyAssociated")
		// A port on a subnet no router joins to the external network.
		_, s4 := tenantNet(t, p, "10.4.0.0/24", nil)
		lone, err := p.CreatePort(ctx, neutron.PortCreate{ProjectID: tenant, NetworkID: s4.NetworkID})
		if err != nil {
			t.Fatal(err)
		}
		spare, err := p.CreateFloatingIPs(ctx, []neutron.FloatingIPCreate{{ProjectID: tenant, FloatingNetworkID: ext.ID, Description: "spare"}})
		if err != nil || spare[0].PortID != "" || spare[0].RouterID != "" {
			t.Fatalf("unassociated floating ip %+v %v", spare, err)
		}
		_, err = p.UpdateFloatingIP(ctx, spare[0].ID, neutron.FloatingIPUpdate{SetPort: true, PortID: lone.ID})
		wantFault(t, err, 404, "ExternalGatewayForFloatingIPNotFound")
		_, err = p.UpdateFloatingIP(ctx, spare[0].ID, neutron.FloatingIPUpdate{SetPort: true, PortID: vm.ID})
		wantFault(t, err, 409, "FloatingIPPortAlreadyAssociated")
		// The floating IP holds the gateway and the interface.
		_, err = p.UpdateRouter(ctx, r.ID, neutron.RouterUpdate{SetGateway: true})
		wantFault(t, err, 409, "RouterExternalGatewayInUseByFloatingIp")
		_, err = p.RemoveRouterInterface(ctx, r.ID, neutron.RouterInterfaceRequest{SubnetID: s1.ID})
		wantFault(t, err, 409, "RouterInterfaceInUseByFloatingIP")
		// The agent's report.
		if err := p.UpdateFloatingIPStatuses(ctx, map[string]string{f.ID: neutron.StatusActive, "gone": neutron.StatusActive}); err != nil {
			t.Fatal(err)
		}
		if got, err := p.GetFloatingIP(ctx, f.ID); err != nil || got.Status != neutron.StatusActive || got.RevisionNumber != f.RevisionNumber+1 {
			t.Fatalf("after the agent's report: %+v %v", got, err)
		}
		// Deleting the port disassociates.
		if err := p.DeletePort(ctx, vm.ID); err != nil {
			t.Fatal(err)
		}
		if got, err := p.GetFloatingIP(ctx, f.ID); err != nil || got.PortID != "" || got.RouterID != "" || got.FixedIPAddress != "" || got.PortDetails != nil {
			t.Fatalf("after port delete: %+v %v", got, err)
		}

		// Taking it apart.
		info, err = p.RemoveRouterInterface(ctx, r.ID, neutron.RouterInterfaceRequest{SubnetID: s1.ID})
		if err != nil || info.PortID != qr.ID || info.SubnetID != s1.ID {
			t.Fatalf("remove by subnet: %+v %v", info, err)
		}
		if _, err := p.GetPort(ctx, qr.ID); err == nil {
			t.Fatal("interface port survived its removal")
		}
		_, err = p.RemoveRouterInterface(ctx, r.ID, neutron.RouterInterfaceRequest{SubnetID: s1.ID})
		wantFault(t, err, 404, "RouterInterfaceNotFoundForSubnet")
		_, err = p.RemoveRouterInterface(ctx, r.ID, neutron.RouterInterfaceRequest{PortID: qr.ID})
		wantFault(t, err, 404, "RouterInterfaceNotFound")
		if _, err := p.RemoveRouterInterface(ctx, r.ID, neutron.RouterInterfaceRequest{PortID: free.ID}); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{f.ID, spare[0].ID} {
			if err := p.DeleteFloatingIP(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := p.GetPort(ctx, fp.ID); err == nil {
			t.Fatal("floating ip port survived its floating ip")
		}
		if err := p.DeleteRouter(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := p.GetPort(ctx, gw.ID); err == nil {
			t.Fatal("gateway port survived its router")
		}
		if err := p.DeleteNetwork(ctx, ext.ID); err != nil {
			t.Fatalf("external network after its router and floating ips: %v", err)
		}

		// Every change went through the change log with its kind.
		kinds := map[neutron.ChangeKind]int{}
		for _, c := range mustChanges(t, p, 0) {
			kinds[c.Kind]++
		}
		if kinds[neutron.KindRouter] == 0 || kinds[neutron.KindFloatingIP] == 0 {
			t.Fatalf("change kinds %v", kinds)
		}
	})
}

// Two concurrent associations of one fixed IP: one wins, the other gets
// FloatingIPPortAlreadyAssociated, never another error; two concurrent
// overlapping interfaces on one router: one wins, the other gets 400.
func TestRoutersConcurrent(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		p := newPlugin(t, d, seedConfig())
		mustRouter := routerMust(t)
		ext, _ := extNet(t, p)
		n1, s1 := tenantNet(t, p, "10.0.0.0/24", nil)
		r := mustRouter(p.CreateRouter(ctx, neutron.RouterCreate{ProjectID: tenant, Gateway: &neutron.GatewayRequest{NetworkID: ext.ID}}))
		if _, err := p.AddRouterInterface(ctx, r.ID, neutron.RouterInterfaceRequest{SubnetID: s1.ID}); err != nil {
			t.Fatal(err)
		}
		const rounds = 4
		for round := 0; round < rounds; round++ {
			vm, err := p.CreatePort(ctx, neutron.PortCreate{ProjectID: tenant, NetworkID: n1.ID})
			if err != nil {
				t.Fatal(err)
			}
			var fips []*neutron.FloatingIP
			for range 2 {
				f, err := p.CreateFloatingIPs(ctx, []neutron.FloatingIPCreate{{ProjectID: tenant, FloatingNetworkID: ext.ID}})
				if err != nil {
					t.Fatal(err)
				}
				fips = append(fips, f[0])
			}
			errs := make([]error, 2)
			var wg sync.WaitGroup
			for i := range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, errs[i] = p.UpdateFloatingIP(ctx, fips[i].ID, neutron.FloatingIPUpdate{SetPort: true, PortID: vm.ID})
				}()
			}
			wg.Wait()
			ok, conflict := 0, 0
			for _, err := range errs {
				if err == nil {
					ok++
					continue
				}
				if e, isFault := neutron.AsError(err); isFault && e.Type == "FloatingIPPortAlreadyAssociated" {
					conflict++
					continue
				}
				t.Fatalf("round %d: %v", round, err)
			}
			if ok != 1 || conflict != 1 {
				t.Fatalf("round %d: %d associated, %d conflicts (%v)", round, ok, conflict, errors.Join(errs...))
			}
			assoc, err := p.ListFloatingIPs(ctx, neutron.ListQuery{Filters: map[string][]string{"port_id": {vm.ID}}})
			if err != nil || len(assoc) != 1 {
				t.Fatalf("round %d: floating ips of the port: %v %v", round, assoc, err)
			}
		}
		// Overlapping subnets raced onto one router.
		for round := 0; round < rounds; round++ {
			cidrA, cidrB := fmt.Sprintf("10.%d.0.0/24", 10+round), fmt.Sprintf("10.%d.0.0/25", 10+round)
			if round%2 == 1 {
				cidrB = fmt.Sprintf("10.%d.0.128/25", 10+round)
			}
			_, sa := tenantNet(t, p, cidrA, nil)
			_, sb := tenantNet(t, p, cidrB, nil)
			errs := make([]error, 2)
			var wg sync.WaitGroup
			for i, s := range []*neutron.Subnet{sa, sb} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, errs[i] = p.AddRouterInterface(ctx, r.ID, neutron.RouterInterfaceRequest{SubnetID: s.ID})
				}()
			}
			wg.Wait()
			ok, bad := 0, 0
			for _, err := range errs {
				if err == nil {
					ok++
				} else if e, isFault := neutron.AsError(err); isFault && e.Status == 400 {
					bad++
				} else {
					t.Fatalf("round %d: %v", round, err)
				}
			}
			if ok != 1 || bad != 1 {
				t.Fatalf("round %d: %d added, %d refused (%v)", round, ok, bad, errors.Join(errs...))
			}
		}
	})
}

// TestDeleteExternalNetworkWithFloatingIPs: an external network goes with
// its floating IPs (their ports are auto-deleted, as Neutron's), while a
// router gateway on it still keeps it (NetworkInUse).
func TestDeleteExternalNetworkWithFloatingIPs(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		p := newPlugin(t, d, seedConfig())
		ext, _ := extNet(t, p)
		fips, err := p.CreateFloatingIPs(ctx, []neutron.FloatingIPCreate{{ProjectID: tenant, FloatingNetworkID: ext.ID}, {ProjectID: "admin", FloatingNetworkID: ext.ID}})
		if err != nil || len(fips) != 2 {
			t.Fatalf("floating IPs %v %v", fips, err)
		}
		r, err := p.CreateRouter(ctx, neutron.RouterCreate{ProjectID: tenant, Gateway: &neutron.GatewayRequest{NetworkID: ext.ID}})
		if err != nil {
			t.Fatal(err)
		}
		wantFault(t, p.DeleteNetwork(ctx, ext.ID), 409, "NetworkInUse")
		if _, err := p.UpdateRouter(ctx, r.ID, neutron.RouterUpdate{SetGateway: true}); err != nil {
			t.Fatal(err)
		}
		if err := p.DeleteNetwork(ctx, ext.ID); err != nil {
			t.Fatalf("delete the external network: %v", err)
		}
		for _, f := range fips {
			_, err := p.GetFloatingIP(ctx, f.ID)
			wantFault(t, err, 404, "FloatingIPNotFound")
			_, err = p.GetPort(ctx, f.FloatingPortID)
			wantFault(t, err, 404, "PortNotFound")
		}
		left, err := p.ListFloatingIPs(ctx, neutron.ListQuery{})
		if err != nil || len(left) != 0 {
			t.Fatalf("floating IPs left: %v %v", left, err)
		}
	})
}
