package store_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"neutrino/internal/neutron"
	"neutrino/internal/store"
	"neutrino/internal/store/storetest"
)

// Routers and floating IPs round-trip through every database, with the
// gateway rendered from the gateway port; the database refuses a second
// router for a port, a second floating IP for one fixed IP on one
// external network, and deleting a router that still has ports.
func TestRoutersAndFloatingIPs(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := storetest.Open(t, d)
			st.MaxAttempts = 1
			ext, tenant := store.NewID(), store.NewID()
			extSub, tenSub := store.NewID(), store.NewID()
			gw, intf, vm, fipPort, fipPort2 := store.NewID(), store.NewID(), store.NewID(), store.NewID(), store.NewID()
			routerID, fipID := store.NewID(), store.NewID()
			mac := 0
			port := func(id, netID, owner, device string, ips ...neutron.FixedIP) *neutron.Port {
				mac++
				p := &neutron.Port{Standard: neutron.Standard{ID: id, ProjectID: "p"}, NetworkID: netID,
					MACAddress: fmt.Sprintf("fa:16:3e:00:00:%02x", mac), Status: neutron.StatusDown, AdminStateUp: true,
					DeviceOwner: owner, DeviceID: device,
					FixedIPs: ips, SecurityGroups: []string{}, AllowedAddressPairs: []neutron.AddressPair{}}
				p.VNICType, p.VIFType = "normal", neutron.VIFUnbound
				return p
			}
			subnet := func(id, netID, cidr, gwIP string) *neutron.Subnet {
				return &neutron.Subnet{Standard: neutron.Standard{ID: id, ProjectID: "p"}, NetworkID: netID, IPVersion: 4, CIDR: cidr, GatewayIP: gwIP,
					AllocationPools: []neutron.AllocationPool{}, DNSNameservers: []string{}, HostRoutes: []neutron.HostRoute{}}
			}
			router := &neutron.Router{Standard: neutron.Standard{ID: routerID, ProjectID: "p", Name: "r1", Tags: []string{"t"}, RevisionNumber: 1},
				AdminStateUp: true, Status: neutron.StatusActive, GatewayPortID: gw,
				GatewayInfo: &neutron.GatewayInfo{NetworkID: ext, EnableSNAT: false, ExternalFixedIPs: []neutron.FixedIP{{SubnetID: extSub, IPAddress: "198.18.0.10"}}},
				Routes:      []neutron.HostRoute{{Destination: "10.9.0.0/16", NextHop: "10.0.0.9"}, {Destination: "10.8.0.0/16", NextHop: "10.0.0.8"}}}
			fip := &neutron.FloatingIP{Standard: neutron.Standard{ID: fipID, ProjectID: "p", Tags: []string{}, RevisionNumber: 1},
				FloatingIPAddress: "198.18.0.11", FloatingNetworkID: ext, FloatingPortID: fipPort,
				RouterID: routerID, PortID: vm, FixedIPAddress: "10.0.0.5", Status: neutron.StatusDown}
			if _, err := st.Write(ctx, func(tx *store.Tx) error {
				for _, n := range []string{ext, tenant} {
					if err := tx.InsertNetwork(ctx, &neutron.Network{Standard: neutron.Standard{ID: n, ProjectID: "p"}, Status: neutron.StatusActive, External: n == ext}); err != nil {
						return err
					}
				}
				for _, s := range []*neutron.Subnet{subnet(extSub, ext, "198.18.0.0/24", "198.18.0.1"), subnet(tenSub, tenant, "10.0.0.0/24", "10.0.0.1")} {
					if err := tx.InsertSubnet(ctx, s); err != nil {
						return err
					}
				}
				for _, p := range []*neutron.Port{
					port(gw, ext, neutron.DeviceOwnerRouterGateway, routerID, neutron.FixedIP{SubnetID: extSub, IPAddress: "198.18.0.10"}),
					port(intf, tenant, neutron.DeviceOwnerRouterInterface, routerID, neutron.FixedIP{SubnetID: tenSub, IPAddress: "10.0.0.1"}),
					port(vm, tenant, "compute:nova", "vm", neutron.FixedIP{SubnetID: tenSub, IPAddress: "10.0.0.5"}),
					port(fipPort, ext, neutron.DeviceOwnerFloatingIP, fipID, neutron.FixedIP{SubnetID: extSub, IPAddress: "198.18.0.11"}),
					port(fipPort2, ext, neutron.DeviceOwnerFloatingIP, "other", neutron.FixedIP{SubnetID: extSub, IPAddress: "198.18.0.12"}),
				} {
					if err := tx.InsertPort(ctx, p); err != nil {
						return err
					}
				}
				if err := tx.InsertRouter(ctx, router); err != nil {
					return err
				}
				for _, rp := range []store.RouterPort{{RouterID: routerID, PortID: gw, Type: neutron.DeviceOwnerRouterGateway}, {RouterID: routerID, PortID: intf, Type: neutron.DeviceOwnerRouterInterface}} {
					if err := tx.AddRouterPort(ctx, rp); err != nil {
						return err
					}
				}
				return tx.InsertFloatingIP(ctx, fip)
			}); err != nil {
				t.Fatal(err)
			}
			got, err := st.GetRouter(ctx, routerID)
			if err != nil {
				t.Fatal(err)
			}
			store.SortRoutes(router.Routes)
			got.CreatedAt, got.UpdatedAt = router.CreatedAt, router.UpdatedAt
			if !reflect.DeepEqual(got, router) {
				t.Fatalf("router:\n got %+v %+v\nwant %+v %+v", got, got.GatewayInfo, router, router.GatewayInfo)
			}
			gf, err := st.GetFloatingIP(ctx, fipID)
			if err != nil {
				t.Fatal(err)
			}
			if gf.PortID != vm || gf.RouterID != routerID || gf.FixedIPAddress != "10.0.0.5" || gf.PortDetails == nil || gf.PortDetails.DeviceID != "vm" {
				t.Fatalf("floating ip: %+v %+v", gf, gf.PortDetails)
			}
			if l, err := st.ListFloatingIPs(ctx, neutron.ListQuery{Filters: map[string][]string{"port_id": {vm}}}); err != nil || len(l) != 1 {
				t.Fatalf("filter by port_id: %v %v", l, err)
			}
			if l, err := st.ListRouters(ctx, neutron.ListQuery{Filters: map[string][]string{"tags": {"t"}}}); err != nil || len(l) != 1 {
				t.Fatalf("filter routers by tag: %v %v", l, err)
			}

			refused := func(what string, fn func(tx *store.Tx) error) {
				t.Helper()
				_, err := st.Write(ctx, fn)
				if err == nil {
					t.Fatalf("%s: the database accepted it", what)
				}
				if e, ok := neutron.AsError(err); !ok || e.Status != 409 {
					t.Fatalf("%s: %v, want the 409 of a lost race", what, err)
				}
			}
			refused("second floating ip for one fixed ip", func(tx *store.Tx) error {
				f := *fip
				f.ID, f.FloatingIPAddress, f.FloatingPortID = store.NewID(), "198.18.0.12", fipPort2
				return tx.InsertFloatingIP(ctx, &f)
			})
			refused("one address twice", func(tx *store.Tx) error {
				f := *fip
				f.ID, f.PortID, f.FixedIPAddress, f.RouterID, f.FloatingPortID = store.NewID(), "", "", "", fipPort2
				return tx.InsertFloatingIP(ctx, &f)
			})
			refused("port on a second router", func(tx *store.Tx) error {
				r2 := &neutron.Router{Standard: neutron.Standard{ID: store.NewID(), ProjectID: "p"}, Status: neutron.StatusActive}
				if err := tx.InsertRouter(ctx, r2); err != nil {
					return err
				}
				return tx.AddRouterPort(ctx, store.RouterPort{RouterID: r2.ID, PortID: intf, Type: neutron.DeviceOwnerRouterInterface})
			})
			refused("router with ports deleted", func(tx *store.Tx) error { return tx.DeleteRouter(ctx, routerID) })

			// Taken apart in order, nothing is left.
			if _, err := st.Write(ctx, func(tx *store.Tx) error {
				if err := tx.DeleteFloatingIP(ctx, fipID); err != nil {
					return err
				}
				for _, p := range []string{intf, fipPort} {
					if err := tx.DeletePort(ctx, p); err != nil {
						return err
					}
				}
				if err := tx.RemoveRouterPort(ctx, gw); err != nil {
					return err
				}
				if err := tx.DeleteRouter(ctx, routerID); err != nil {
					return err
				}
				return tx.DeletePort(ctx, gw)
			}); err != nil {
				t.Fatal(err)
			}
			if _, err := st.GetRouter(ctx, routerID); err == nil {
				t.Fatal("router still there")
			}
			if n, err := st.ListRouters(ctx, neutron.ListQuery{}); err != nil || len(n) != 0 {
				t.Fatalf("routers left: %v %v", n, err)
			}
		})
	}
}
