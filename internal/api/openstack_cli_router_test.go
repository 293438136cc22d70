package api_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"neutrino/internal/api/apitest"
)

// TestOpenstackCLIRouters drives `openstack router ...` and `openstack
// floating ip ...` (Debian python3-openstackclient) against our server:
// a router joining a tenant subnet to an external network, a floating IP
// associated with a port and taken off it, and everything taken apart.
func TestOpenstackCLIRouters(t *testing.T) {
	t.Parallel()
	s := stack(t, "sqlite", "", apitest.ReferenceINI)
	srv := httptest.NewServer(s.Handler)
	defer srv.Close()
	osc := openstackCLI(t, srv.URL)
	var pub, priv, privSub, vm map[string]any
	osc.json(&pub, "network", "create", "--external", "public")
	osc.must("subnet", "create", "--network", "public", "--subnet-range", "198.18.0.0/24", "--no-dhcp", "public-sub")
	osc.json(&priv, "network", "create", "private")
	osc.json(&privSub, "subnet", "create", "--network", "private", "--subnet-range", "10.0.0.0/24", "private-sub")
	osc.json(&vm, "port", "create", "--network", "private", "vm-port")

	var r map[string]any
	osc.json(&r, "router", "create", "r1")
	if r["name"] != "r1" || r["status"] != "ACTIVE" || r["admin_state_up"] != true || r["external_gateway_info"] != nil {
		t.Fatalf("router create: %v", r)
	}
	osc.must("router", "add", "subnet", "r1", "private-sub")
	if out, err := osc.run("router", "add", "subnet", "r1", "private-sub"); err == nil || !strings.Contains(out, "Router already has a port on subnet") {
		t.Fatalf("adding the subnet twice: %v\n%s", err, out)
	}
	osc.must("router", "set", "--external-gateway", "public", "r1")
	var shown map[string]any
	osc.json(&shown, "router", "show", "r1")
	gw, _ := shown["external_gateway_info"].(map[string]any)
	if gw == nil || gw["network_id"] != pub["id"] || gw["enable_snat"] != true || len(gw["external_fixed_ips"].([]any)) != 1 {
		t.Fatalf("router show after set --external-gateway: %v", shown)
	}
	var qr []map[string]any
	osc.json(&qr, "port", "list", "--router", "r1", "--long")
	if len(qr) != 2 {
		t.Fatalf("ports of the router: %v", qr)
	}

	var fip map[string]any
	osc.json(&fip, "floating ip", "create", "public")
	id, _ := fip["id"].(string)
	if fip["floating_network_id"] != pub["id"] || fip["port_id"] != nil || fip["status"] != "DOWN" || !strings.HasPrefix(fip["floating_ip_address"].(string), "198.18.0.") {
		t.Fatalf("floating ip create: %v", fip)
	}
	osc.must("floating ip", "set", "--port", "vm-port", id)
	osc.json(&fip, "floating ip", "show", id)
	vmIP := vm["fixed_ips"].([]any)[0].(map[string]any)["ip_address"]
	if fip["port_id"] != vm["id"] || fip["router_id"] != r["id"] || fip["fixed_ip_address"] != vmIP {
		t.Fatalf("floating ip after set --port: %v", fip)
	}
	// The router interface is in use by the floating IP.
	if out, err := osc.run("router", "remove", "subnet", "r1", "private-sub"); err == nil || !strings.Contains(out, "required by one or more floating IPs") {
		t.Fatalf("removing the floating IP's interface: %v\n%s", err, out)
	}
	osc.must("floating ip", "unset", "--port", id)
	osc.json(&fip, "floating ip", "show", id)
	if fip["port_id"] != nil || fip["router_id"] != nil || fip["fixed_ip_address"] != nil {
		t.Fatalf("floating ip after unset --port: %v", fip)
	}
	var fips []map[string]any
	osc.json(&fips, "floating ip", "list")
	if len(fips) != 1 || fips[0]["ID"] != id {
		t.Fatalf("floating ip list: %v", fips)
	}

	osc.must("router", "remove", "subnet", "r1", "private-sub")
	osc.must("router", "unset", "--external-gateway", "r1")
	osc.json(&shown, "router", "show", "r1")
	if shown["external_gateway_info"] != nil {
		t.Fatalf("router after unset --external-gateway: %v", shown)
	}
	osc.must("floating ip", "delete", id)
	osc.must("router", "delete", "r1")
	var routers []map[string]any
	osc.json(&routers, "router", "list")
	if len(routers) != 0 {
		t.Fatalf("routers left: %v", routers)
	}
	// Nothing of the router is left on the networks.
	osc.must("port", "delete", "vm-port")
	osc.must("subnet", "delete", "private-sub")
	osc.must("network", "delete", "private")
	osc.must("network", "delete", "public")
}
