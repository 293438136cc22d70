package api_test

import "testing"

// TestRoutersAPI: routers and floating IPs over HTTP on every database,
// as a project and an admin see them: shapes, the member actions'
// answers, policy on the gateway's admin-only keys, faults, quotas.
func TestRoutersAPI(t *testing.T) {
	eachDB(t, func(t *testing.T, dbName, dbURL string) {
		admin, alice, bob := projectClients(t, dbName, dbURL, "")

		exts := admin.must(200, "GET", "/v2.0/extensions", "")["extensions"].([]any)
		aliases := map[any]bool{}
		for _, e := range exts {
			aliases[e.(map[string]any)["alias"]] = true
		}
		for _, a := range []string{"router", "ext-gw-mode", "extraroute", "fip-port-details"} {
			if !aliases[a] {
				t.Errorf("extension %s not advertised", a)
			}
		}

		pub := admin.must(201, "POST", "/v2.0/networks", `{"network": {"name": "public", "router:external": true}}`)["network"].(map[string]any)
		pubID := pub["id"].(string)
		admin.must(201, "POST", "/v2.0/subnets", `{"subnet": {"network_id": "`+pubID+`", "cidr": "198.18.0.0/24", "ip_version": 4, "enable_dhcp": false}}`)
		net := alice.must(201, "POST", "/v2.0/networks", `{"network": {"name": "private"}}`)["network"].(map[string]any)
		sub := alice.must(201, "POST", "/v2.0/subnets", `{"subnet": {"network_id": "`+net["id"].(string)+`", "cidr": "10.0.0.0/24", "ip_version": 4}}`)["subnet"].(map[string]any)
		subID := sub["id"].(string)

		// A project may name the external network but not choose
		// SNAT or addresses (admin-only keys).
		code, body := alice.do("POST", "/v2.0/routers", `{"router": {"name": "r", "external_gateway_info": {"network_id": "`+pubID+`", "enable_snat": false}}}`)
		if code != 403 || fault(body) != "PolicyNotAuthorized" {
			t.Fatalf("non-admin enable_snat: %d %v", code, body)
		}
		r := alice.must(201, "POST", "/v2.0/routers", `{"router": {"name": "r", "external_gateway_info": {"network_id": "`+pubID+`"}}}`)["router"].(map[string]any)
		rID := r["id"].(string)
		for _, k := range []string{"id", "name", "description", "tenant_id", "project_id", "admin_state_up", "status", "external_gateway_info",
			"routes", "tags", "created_at", "updated_at", "revision_number"} {
			if _, ok := r[k]; !ok {
				t.Errorf("router lacks %s: %v", k, r)
			}
		}
		gw := r["external_gateway_info"].(map[string]any)
		if gw["network_id"] != pubID || gw["enable_snat"] != true || len(gw["external_fixed_ips"].([]any)) != 1 || r["status"] != "ACTIVE" {
			t.Fatalf("router %v", r)
		}
		// Bob does not see it.
		if code, body := bob.do("GET", "/v2.0/routers/"+rID, ""); code != 404 || fault(body) != "RouterNotFound" {
			t.Fatalf("bob reads alice's router: %d %v", code, body)
		}
		if code, _ := bob.do("PUT", "/v2.0/routers/"+rID+"/add_router_interface", `{"subnet_id": "`+subID+`"}`); code != 404 {
			t.Fatalf("bob adds to alice's router: %d", code)
		}
		if l := bob.must(200, "GET", "/v2.0/routers", "")["routers"].([]any); len(l) != 0 {
			t.Fatalf("bob lists %v", l)
		}

		// The member actions answer as Neutron.
		info := alice.must(200, "PUT", "/v2.0/routers/"+rID+"/add_router_interface", `{"subnet_id": "`+subID+`"}`)
		if info["id"] != rID || info["tenant_id"] != "alice" || info["project_id"] != "alice" || info["subnet_id"] != subID ||
			info["network_id"] != net["id"] || len(info["subnet_ids"].([]any)) != 1 || info["port_id"] == nil || len(info) != 7 {
			t.Fatalf("add_router_interface: %v", info)
		}
		if code, body := alice.do("PUT", "/v2.0/routers/"+rID+"/add_router_interface", `{"subnet_id": "`+subID+`"}`); code != 400 || fault(body) != "BadRequest" {
			t.Fatalf("subnet twice: %d %v", code, body)
		}
		if code, body := alice.do("PUT", "/v2.0/routers/"+rID+"/add_router_interface", `{}`); code != 400 || fault(body) != "BadRequest" {
			t.Fatalf("no subnet or port: %d %v", code, body)
		}
		if code, body := alice.do("DELETE", "/v2.0/routers/"+rID, ""); code != 409 || fault(body) != "RouterInUse" {
			t.Fatalf("delete in use: %d %v", code, body)
		}
		if code, body := alice.do("DELETE", "/v2.0/ports/"+info["port_id"].(string), ""); code != 409 || fault(body) != "L3PortInUse" {
			t.Fatalf("delete the interface port: %d %v", code, body)
		}
		rt := alice.must(200, "PUT", "/v2.0/routers/"+rID, `{"router": {"routes": [{"destination": "10.9.0.0/16", "nexthop": "10.0.0.9"}]}}`)["router"].(map[string]any)
		if len(rt["routes"].([]any)) != 1 {
			t.Fatalf("routes: %v", rt)
		}
		alice.must(200, "PUT", "/v2.0/routers/"+rID, `{"router": {"routes": null}}`)

		// Floating IPs: address admin-only, association, port_details.
		vm := alice.must(201, "POST", "/v2.0/ports", `{"port": {"network_id": "`+net["id"].(string)+`"}}`)["port"].(map[string]any)
		vmID := vm["id"].(string)
		if code, body := alice.do("POST", "/v2.0/floatingips", `{"floatingip": {"floating_network_id": "`+pubID+`", "floating_ip_address": "198.18.0.99"}}`); code != 403 || fault(body) != "PolicyNotAuthorized" {
			t.Fatalf("non-admin floating_ip_address: %d %v", code, body)
		}
		f := alice.must(201, "POST", "/v2.0/floatingips", `{"floatingip": {"floating_network_id": "`+pubID+`", "port_id": "`+vmID+`"}}`)["floatingip"].(map[string]any)
		fID := f["id"].(string)
		for _, k := range []string{"id", "floating_ip_address", "floating_network_id", "router_id", "port_id", "fixed_ip_address", "tenant_id",
			"project_id", "status", "description", "port_details", "tags", "created_at", "updated_at", "revision_number"} {
			if _, ok := f[k]; !ok {
				t.Errorf("floating ip lacks %s: %v", k, f)
			}
		}
		if _, ok := f["subnet_id"]; ok {
			t.Errorf("floating ip shows the input-only subnet_id: %v", f)
		}
		pd, _ := f["port_details"].(map[string]any)
		if f["router_id"] != rID || f["status"] != "DOWN" || pd == nil || pd["network_id"] != net["id"] {
			t.Fatalf("floating ip %v", f)
		}
		if code, body := alice.do("POST", "/v2.0/floatingips", `{"floatingip": {"floating_network_id": "`+pubID+`", "port_id": "`+vmID+`"}}`); code != 409 || fault(body) != "FloatingIPPortAlreadyAssociated" {
			t.Fatalf("second association: %d %v", code, body)
		}
		// Bob cannot take alice's port.
		bf := bob.must(201, "POST", "/v2.0/floatingips", `{"floatingip": {"floating_network_id": "`+pubID+`"}}`)["floatingip"].(map[string]any)
		if code, body := bob.do("PUT", "/v2.0/floatingips/"+bf["id"].(string), `{"floatingip": {"port_id": "`+vmID+`"}}`); code != 404 || fault(body) != "PortNotFound" {
			t.Fatalf("bob associates alice's port: %d %v", code, body)
		}
		if l := alice.must(200, "GET", "/v2.0/floatingips?port_id="+vmID+"&fields=id&fields=router_id", "")["floatingips"].([]any); len(l) != 1 || len(l[0].(map[string]any)) != 2 {
			t.Fatalf("filtered floating ips: %v", l)
		}
		f = alice.must(200, "PUT", "/v2.0/floatingips/"+fID, `{"floatingip": {"port_id": null}}`)["floatingip"].(map[string]any)
		if f["port_id"] != nil || f["router_id"] != nil || f["fixed_ip_address"] != nil || f["port_details"] != nil {
			t.Fatalf("disassociated: %v", f)
		}
		alice.must(204, "DELETE", "/v2.0/floatingips/"+fID, "")
		bob.must(204, "DELETE", "/v2.0/floatingips/"+bf["id"].(string), "")

		// Quotas: router 10 by default.
		q := admin.must(200, "GET", "/v2.0/quotas/alice", "")["quota"].(map[string]any)
		if q["router"] != 10.0 || q["floatingip"] != 50.0 {
			t.Fatalf("quota %v", q)
		}
		admin.must(200, "PUT", "/v2.0/quotas/alice", `{"quota": {"router": 1}}`)
		if code, body := alice.do("POST", "/v2.0/routers", `{"router": {"name": "r2"}}`); code != 409 || fault(body) != "OverQuota" {
			t.Fatalf("over quota: %d %v", code, body)
		}

		out := alice.must(200, "PUT", "/v2.0/routers/"+rID+"/remove_router_interface", `{"subnet_id": "`+subID+`"}`)
		if out["port_id"] != info["port_id"] || out["subnet_id"] != subID {
			t.Fatalf("remove_router_interface: %v", out)
		}
		if code, body := alice.do("PUT", "/v2.0/routers/"+rID+"/remove_router_interface", `{"subnet_id": "`+subID+`"}`); code != 404 || fault(body) != "RouterInterfaceNotFoundForSubnet" {
			t.Fatalf("remove twice: %d %v", code, body)
		}
		alice.must(204, "DELETE", "/v2.0/routers/"+rID, "")
		if code, body := alice.do("GET", "/v2.0/routers/"+rID, ""); code != 404 || fault(body) != "RouterNotFound" {
			t.Fatalf("deleted router: %d %v", code, body)
		}
	})
}
