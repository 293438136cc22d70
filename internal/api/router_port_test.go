package api_test

import (
	"strings"
	"testing"
)

// TestRouterPortUpdatePolicy: the port API cannot rewrite the ports the
// router service owns, on every database. A project may not change the
// device_owner of its router's interface or gateway port (403
// PolicyNotAuthorized); nobody, admin included, changes a router
// interface's IPv4 addresses (400 IPAddressChangeNotAllowed, Neutron's
// l3-port-ip-change-not-allowed); on other ports Neutron's rules hold:
// fixed_ips and network:* owners only by the network's owner.
func TestRouterPortUpdatePolicy(t *testing.T) {
	eachDB(t, func(t *testing.T, dbName, dbURL string) {
		admin, alice, bob := projectClients(t, dbName, dbURL, "")
		denied := func(c client, path, body, attr string) {
			t.Helper()
			code, m := c.do("PUT", path, body)
			msg, _ := m["NeutronError"].(map[string]any)["message"].(string)
			if code != 403 || fault(m) != "PolicyNotAuthorized" || !strings.Contains(msg, "rule:update_port:"+attr+")") {
				t.Fatalf("PUT %s %s: %d %v", path, body, code, m)
			}
		}

		pub := admin.must(201, "POST", "/v2.0/networks", `{"network": {"name": "public", "router:external": true}}`)["network"].(map[string]any)
		admin.must(201, "POST", "/v2.0/subnets", `{"subnet": {"network_id": "`+pub["id"].(string)+`", "cidr": "198.18.0.0/24", "ip_version": 4, "enable_dhcp": false}}`)
		net := alice.must(201, "POST", "/v2.0/networks", `{"network": {"name": "private"}}`)["network"].(map[string]any)
		sub := alice.must(201, "POST", "/v2.0/subnets", `{"subnet": {"network_id": "`+net["id"].(string)+`", "cidr": "10.0.0.0/24", "ip_version": 4, "enable_dhcp": false}}`)["subnet"].(map[string]any)
		subID := sub["id"].(string)
		r := alice.must(201, "POST", "/v2.0/routers", `{"router": {"name": "r", "external_gateway_info": {"network_id": "`+pub["id"].(string)+`"}}}`)["router"].(map[string]any)
		rID := r["id"].(string)
		qr := "/v2.0/ports/" + alice.must(200, "PUT", "/v2.0/routers/"+rID+"/add_router_interface", `{"subnet_id": "`+subID+`"}`)["port_id"].(string)
		gws := admin.must(200, "GET", "/v2.0/ports?device_owner=network:router_gateway&device_id="+rID, "")["ports"].([]any)
		if len(gws) != 1 {
			t.Fatalf("gateway ports %v", gws)
		}
		qg := "/v2.0/ports/" + gws[0].(map[string]any)["id"].(string)

		// The router's owner, who owns the network too, may rename the
		// port but not re-own it or move its IPv4 addresses; naming
		// the subnet it is on again keeps its address (Tempest's
		// test_router_interface_port_update_with_fixed_ip).
		alice.must(200, "PUT", qr, `{"port": {"name": "renamed"}}`)
		denied(alice, qr, `{"port": {"device_owner": "compute:nova"}}`, "device_owner")
		for _, body := range []string{`{"port": {"fixed_ips": [{"subnet_id": "` + subID + `", "ip_address": "10.0.0.250"}]}}`, `{"port": {"fixed_ips": []}}`} {
			if code, m := alice.do("PUT", qr, body); code != 400 || fault(m) != "IPAddressChangeNotAllowed" {
				t.Fatalf("alice PUT %s: %d %v", body, code, m)
			}
		}
		same := alice.must(200, "PUT", qr, `{"port": {"fixed_ips": [{"subnet_id": "`+subID+`"}]}}`)["port"].(map[string]any)
		if ips := same["fixed_ips"].([]any); len(ips) != 1 || ips[0].(map[string]any)["ip_address"] != "10.0.0.1" {
			t.Fatalf("the interface's subnet named again: %v", ips)
		}
		// Its own value again is no change.
		alice.must(200, "PUT", qr, `{"port": {"device_owner": "network:router_interface"}}`)
		// The gateway port has no project (as Neutron's): hidden from it.
		if code, _ := alice.do("PUT", qg, `{"port": {"device_owner": ""}}`); code != 404 {
			t.Fatalf("alice updates the gateway port: %d", code)
		}
		// Nobody moves a router interface's IPv4 address.
		code, m := admin.do("PUT", qr, `{"port": {"fixed_ips": [{"subnet_id": "`+subID+`", "ip_address": "10.0.0.250"}]}}`)
		if code != 400 || fault(m) != "IPAddressChangeNotAllowed" {
			t.Fatalf("admin moves the interface address: %d %v", code, m)
		}
		p := admin.must(200, "GET", qr, "")["port"].(map[string]any)
		if ip := p["fixed_ips"].([]any)[0].(map[string]any)["ip_address"]; p["device_owner"] != "network:router_interface" || ip != "10.0.0.1" || p["name"] != "renamed" {
			t.Fatalf("router port after refused updates: %v", p)
		}
		// The router still has its interface.
		alice.must(200, "PUT", "/v2.0/routers/"+rID+"/remove_router_interface", `{"subnet_id": "`+subID+`"}`)

		// Ordinary ports: Neutron's update_port:fixed_ips and
		// update_port:device_owner on a shared network of the admin.
		shared := admin.must(201, "POST", "/v2.0/networks", `{"network": {"name": "shared", "shared": true}}`)["network"].(map[string]any)
		ssub := admin.must(201, "POST", "/v2.0/subnets", `{"subnet": {"network_id": "`+shared["id"].(string)+`", "cidr": "10.1.0.0/24", "ip_version": 4, "enable_dhcp": false}}`)["subnet"].(map[string]any)
		bp := "/v2.0/ports/" + bob.must(201, "POST", "/v2.0/ports", `{"port": {"network_id": "`+shared["id"].(string)+`"}}`)["port"].(map[string]any)["id"].(string)
		denied(bob, bp, `{"port": {"fixed_ips": [{"subnet_id": "`+ssub["id"].(string)+`"}]}}`, "fixed_ips")
		denied(bob, bp, `{"port": {"device_owner": "network:dhcp"}}`, "device_owner")
		if p := bob.must(200, "PUT", bp, `{"port": {"device_owner": "compute:nova"}}`)["port"].(map[string]any); p["device_owner"] != "compute:nova" {
			t.Fatalf("bob's port %v", p)
		}
	})
}

// TestCreateOnForeignNetworkPolicy: on a network another project shares,
// a project may create ports but not choose their addresses or MAC
// (create_port:fixed_ips:ip_address, create_port:mac_address: the
// network's owner or an admin), nor add subnets; the owner and the admin
// may.
func TestCreateOnForeignNetworkPolicy(t *testing.T) {
	eachDB(t, func(t *testing.T, dbName, dbURL string) {
		admin, alice, bob := projectClients(t, dbName, dbURL, "")
		net := alice.must(201, "POST", "/v2.0/networks", `{"network": {"name": "n"}}`)["network"].(map[string]any)
		netID := net["id"].(string)
		admin.must(200, "PUT", "/v2.0/networks/"+netID, `{"network": {"shared": true}}`)
		sub := alice.must(201, "POST", "/v2.0/subnets", `{"subnet": {"network_id": "`+netID+`", "cidr": "10.2.0.0/24", "ip_version": 4, "enable_dhcp": false}}`)["subnet"].(map[string]any)
		subID := sub["id"].(string)
		for _, tc := range []struct{ path, body, rule string }{
			{"/v2.0/subnets", `{"subnet": {"network_id": "` + netID + `", "cidr": "10.3.0.0/24", "ip_version": 4}}`, "(rule:create_subnet)"},
			{"/v2.0/ports", `{"port": {"network_id": "` + netID + `", "mac_address": "fa:16:3e:00:00:01"}}`, "(rule:create_port and rule:create_port:mac_address)"},
			{"/v2.0/ports", `{"port": {"network_id": "` + netID + `", "fixed_ips": [{"subnet_id": "` + subID + `", "ip_address": "10.2.0.9"}]}}`, "(rule:create_port and rule:create_port:fixed_ips:ip_address)"},
			{"/v2.0/ports", `{"port": {"network_id": "` + netID + `", "mac_address": "fa:16:3e:00:00:01", "fixed_ips": [{"ip_address": "10.2.0.9"}]}}`,
				"((rule:create_port and rule:create_port:fixed_ips:ip_address) and rule:create_port:mac_address)"},
		} {
			code, m := bob.do("POST", tc.path, tc.body)
			ne, _ := m["NeutronError"].(map[string]any)
			msg, _ := ne["message"].(string)
			if code != 403 || fault(m) != "PolicyNotAuthorized" || msg != tc.rule+" is disallowed by policy" {
				t.Errorf("bob POST %s %s: %d %v, want 403 %s", tc.path, tc.body, code, m, tc.rule)
			}
		}
		// The owner and the admin choose addresses and MACs (before bob's
		// port takes a random address); a port the server addresses is
		// bob's to create.
		alice.must(201, "POST", "/v2.0/ports", `{"port": {"network_id": "`+netID+`", "mac_address": "fa:16:3e:00:00:02", "fixed_ips": [{"subnet_id": "`+subID+`", "ip_address": "10.2.0.10"}]}}`)
		admin.must(201, "POST", "/v2.0/ports", `{"port": {"network_id": "`+netID+`", "project_id": "bob", "mac_address": "fa:16:3e:00:00:03", "fixed_ips": [{"subnet_id": "`+subID+`", "ip_address": "10.2.0.11"}]}}`)
		bob.must(201, "POST", "/v2.0/ports", `{"port": {"network_id": "`+netID+`", "fixed_ips": [{"subnet_id": "`+subID+`"}]}}`)
	})
}
