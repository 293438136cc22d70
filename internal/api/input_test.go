package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// inputINI is the reference configuration with every type driver given
// ranges, so that segmentation ids of each type can be tried, and pools
// large enough that FuzzAPI's thousands of creates do not exhaust them
// before its harness purges.
const inputINI = `[DEFAULT]
core_plugin = ml2
auth_strategy = keystone
[keystone_authtoken]
# Required by the config with auth_strategy = keystone; apitest.NewStack
# sets no Options.Authenticate, so the identity headers are trusted.
auth_type = password
auth_url = http://127.0.0.1:5000/v3
username = neutron
password = unused
project_name = service
user_domain_name = Default
project_domain_name = Default
[ml2]
type_drivers = flat,vlan,vxlan,gre
tenant_network_types = vxlan
mechanism_drivers = openvswitch,l2population
extension_drivers = port_security
[ml2_type_flat]
flat_networks = *
[ml2_type_vxlan]
vni_ranges = 1001:5000
[ml2_type_gre]
tunnel_id_ranges = 1:100
[ml2_type_vlan]
network_vlan_ranges = physnet1:100:199
`

// hostile is one request of the hostile-input campaign (issue 10) and the
// answer Neutron gives or, where Neutron has none (it answers 500 on
// PostgreSQL), the 400 neutrino gives on every database.
type hostile struct {
	name, method, path, body string
	hdr                      map[string]string
	status                   int
	typ, msg                 string // "" = not checked (success)
}

// serve sends one request straight through the handler (no client
// library in between that would refuse or re-encode a hostile URL).
func serve(t testing.TB, h http.Handler, method, target, body string, hdr map[string]string) (int, map[string]any) {
	t.Helper()
	var req *http.Request
	if body == "" {
		req = httptest.NewRequest(method, target, nil)
	} else {
		req = httptest.NewRequest(method, target, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range map[string]string{"X-User-Id": "u1", "X-Project-Id": "p1", "X-Roles": "admin"} {
		req.Header.Set(k, v)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var m map[string]any
	if rec.Body.Len() > 0 {
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
			t.Fatalf("%s %s: response is not JSON: %q", method, target, rec.Body.String())
		}
	}
	return rec.Code, m
}

func runHostile(t *testing.T, h http.Handler, cases []hostile) {
	t.Helper()
	for _, c := range cases {
		status, m := serve(t, h, c.method, c.path, c.body, c.hdr)
		if status != c.status {
			t.Errorf("%s (%s %q): status %d, want %d: %v", c.name, c.method, c.path, status, c.status, m)
			continue
		}
		if c.typ == "" {
			continue
		}
		ne, _ := m["NeutronError"].(map[string]any)
		if ne == nil || ne["type"] != c.typ || ne["message"] != c.msg {
			t.Errorf("%s: got %v, want %s %q", c.name, m, c.typ, c.msg)
		}
	}
}

const badTextType = "HTTPBadRequest"

// TestHostileText: NUL and invalid UTF-8 anywhere a client controls text
// is a 400 on every database, before the database sees it (c52fbac
// answered 500 on PostgreSQL, and stored or matched other text elsewhere).
func TestHostileText(t *testing.T) {
	eachDB(t, func(t *testing.T, name, admin string) {
		s := stack(t, name, admin, inputINI)
		_, m := serve(t, s.Handler, "POST", "/v2.0/networks", `{"network": {"name": "n1"}}`, nil)
		id := m["network"].(map[string]any)["id"].(string)
		body := func(where string) string {
			return "Invalid " + where + ": NUL characters and invalid UTF-8 are not allowed"
		}
		runHostile(t, s.Handler, []hostile{
			{"filter NUL", "GET", "/v2.0/networks?name=%00", "", nil, 400, badTextType, body("query string")},
			{"filter invalid UTF-8", "GET", "/v2.0/networks?name=%ff%fe", "", nil, 400, badTextType, body("query string")},
			{"port filter NUL", "GET", "/v2.0/ports?device_id=a%00b", "", nil, 400, badTextType, body("query string")},
			{"tag filter NUL", "GET", "/v2.0/networks?tags=x%00", "", nil, 400, badTextType, body("query string")},
			{"filter key NUL", "GET", "/v2.0/networks?na%00me=x", "", nil, 400, badTextType, body("query string")},
			{"path id NUL", "GET", "/v2.0/networks/%00", "", nil, 400, badTextType, body("resource path")},
			{"path id invalid UTF-8", "DELETE", "/v2.0/ports/%c3%28", "", nil, 400, badTextType, body("resource path")},
			{"path tag NUL", "PUT", "/v2.0/networks/" + id + "/tags/a%00b", "", nil, 400, badTextType, body("resource path")},
			{"name NUL", "POST", "/v2.0/networks", `{"network": {"name": "a\u0000b"}}`, nil, 400, badTextType, body("request body")},
			{"description NUL on update", "PUT", "/v2.0/networks/" + id, `{"network": {"description": "\u0000"}}`, nil, 400, badTextType, body("request body")},
			{"key NUL", "POST", "/v2.0/networks", `{"network": {"na\u0000me": "x"}}`, nil, 400, badTextType, body("request body")},
			{"name invalid UTF-8", "POST", "/v2.0/networks", "{\"network\": {\"name\": \"a\xffb\"}}", nil, 400, badTextType, "Body contains invalid data"},
			{"device_id NUL", "POST", "/v2.0/ports", `{"port": {"network_id": "` + id + `", "device_id": "vm\u0000"}}`, nil, 400, badTextType, body("request body")},
			{"tags body NUL", "PUT", "/v2.0/networks/" + id + "/tags", `{"tags": ["ok", "b\u0000d"]}`, nil, 400, badTextType, body("request body")},
			{"project header invalid UTF-8", "POST", "/v2.0/networks", `{"network": {"name": "x"}}`, map[string]string{"X-Project-Id": "p\xff"}, 400, badTextType, body("identity header")},
			{"project header too long", "POST", "/v2.0/networks", `{"network": {"name": "x"}}`, map[string]string{"X-Project-Id": strings.Repeat("p", 256)}, 400, badTextType, "Invalid identity header: longer than 255 characters"},
			// Text that is fine passes through unchanged.
			{"unicode name", "POST", "/v2.0/networks", `{"network": {"name": "réseau-😀"}}`, nil, 201, "", ""},
			{"unicode filter", "GET", "/v2.0/networks?name=r%C3%A9seau-%F0%9F%98%80", "", nil, 200, "", ""},
		})
		_, m = serve(t, s.Handler, "GET", "/v2.0/networks?name=r%C3%A9seau-%F0%9F%98%80", "", nil)
		if l := m["networks"].([]any); len(l) != 1 {
			t.Errorf("filter by unicode name: %d networks, want 1", len(l))
		}
		_, m = serve(t, s.Handler, "GET", "/v2.0/networks", "", nil)
		if l := m["networks"].([]any); len(l) != 2 {
			t.Errorf("%d networks after the refused creates, want 2", len(l))
		}
	})
}

// TestMalformedQuery: a filter whose percent-escape is malformed is a 400.
// c52fbac dropped the pair (url.ParseQuery) and listed everything: a
// script deleting what a filtered list returned would delete all.
func TestMalformedQuery(t *testing.T) {
	eachDB(t, func(t *testing.T, name, admin string) {
		s := stack(t, name, admin, inputINI)
		_, m := serve(t, s.Handler, "POST", "/v2.0/networks", `{"network": {"name": "a;b"}}`, nil)
		id := m["network"].(map[string]any)["id"].(string)
		serve(t, s.Handler, "POST", "/v2.0/ports", `{"port": {"network_id": "`+id+`", "device_id": "vm-1"}}`, nil)
		runHostile(t, s.Handler, []hostile{
			{"name=%zz", "GET", "/v2.0/networks?name=%zz", "", nil, 400, "HTTPBadRequest", `Invalid query string: "name=%zz" is not correctly percent-encoded`},
			{"device_id=%G0", "GET", "/v2.0/ports?device_id=%G0", "", nil, 400, "HTTPBadRequest", `Invalid query string: "device_id=%G0" is not correctly percent-encoded`},
			{"truncated escape", "GET", "/v2.0/ports?device_id=vm-1%2", "", nil, 400, "HTTPBadRequest", `Invalid query string: "device_id=vm-1%2" is not correctly percent-encoded`},
			{"bad key", "GET", "/v2.0/networks?%zz=1", "", nil, 400, "HTTPBadRequest", `Invalid query string: "%zz=1" is not correctly percent-encoded`},
			{"bad escape on show", "GET", "/v2.0/networks/" + id + "?fields=%zz", "", nil, 400, "HTTPBadRequest", `Invalid query string: "fields=%zz" is not correctly percent-encoded`},
		})
		// ';' is a character (Python's parse_qsl), not a separator
		// that drops the pair (Go's url.ParseQuery).
		_, m = serve(t, s.Handler, "GET", "/v2.0/networks?name=a;b", "", nil)
		if l := m["networks"].([]any); len(l) != 1 {
			t.Errorf("name=a;b: %d networks, want 1", len(l))
		}
		_, m = serve(t, s.Handler, "GET", "/v2.0/ports?device_id=vm-2", "", nil)
		if l := m["ports"].([]any); len(l) != 0 {
			t.Errorf("device_id=vm-2: %d ports, want 0", len(l))
		}
	})
}

// TestLengthsInCharacters: Neutron's limits (name and description 255,
// tags 255) count characters; c52fbac counted bytes and refused 128 x "é".
func TestLengthsInCharacters(t *testing.T) {
	eachDB(t, func(t *testing.T, name, admin string) {
		s := stack(t, name, admin, inputINI)
		e255, e256 := strings.Repeat("é", 255), strings.Repeat("é", 256)
		_, m := serve(t, s.Handler, "POST", "/v2.0/networks", `{"network": {"name": "`+e255+`", "description": "`+e255+`"}}`, nil)
		n, _ := m["network"].(map[string]any)
		if n == nil || n["name"] != e255 || n["description"] != e255 {
			t.Fatalf("255 x é: %v", m)
		}
		id := n["id"].(string)
		tooLong := func(attr string) string {
			return "Invalid input for " + attr + ". Reason: '" + e256 + "' exceeds maximum length of 255."
		}
		runHostile(t, s.Handler, []hostile{
			{"256 x é name", "POST", "/v2.0/networks", `{"network": {"name": "` + e256 + `"}}`, nil, 400, "HTTPBadRequest", tooLong("name")},
			{"256 x é description", "PUT", "/v2.0/networks/" + id, `{"network": {"description": "` + e256 + `"}}`, nil, 400, "HTTPBadRequest", tooLong("description")},
			{"256 x é device_id", "POST", "/v2.0/ports", `{"port": {"network_id": "` + id + `", "device_id": "` + e256 + `"}}`, nil, 400, "HTTPBadRequest", tooLong("device_id")},
			{"255 x é port", "POST", "/v2.0/ports", `{"port": {"network_id": "` + id + `", "name": "` + e255 + `", "device_id": "` + e255 + `", "device_owner": "` + e255 + `"}}`, nil, 201, "", ""},
			{"255 x é tag", "PUT", "/v2.0/networks/" + id + "/tags/" + e255, "", nil, 201, "", ""},
			{"256 x é tag", "PUT", "/v2.0/networks/" + id + "/tags", `{"tags": ["` + e256 + `"]}`, nil, 400, "HTTPBadRequest", "Invalid input for tags. Reason: '" + e256 + "' is not a valid tag."},
		})
		_, m = serve(t, s.Handler, "GET", "/v2.0/networks/"+id, "", nil)
		if tags := m["network"].(map[string]any)["tags"].([]any); len(tags) != 1 || tags[0] != e255 {
			t.Errorf("tags: %v", tags)
		}
	})
}

// TestSegmentationIDZero: provider:segmentation_id 0 is an id no type can
// carry, refused as -1 is; c52fbac took it for "not given" and allocated
// a VNI from the pool.
func TestSegmentationIDZero(t *testing.T) {
	s := stack(t, "sqlite", "", inputINI)
	outOfRange := func(max string) string {
		return "Invalid input for operation: segmentation_id out of range (1 through " + max + ")."
	}
	net := func(typ, physnet, seg string) string {
		b := `{"network": {"provider:network_type": "` + typ + `"`
		if physnet != "" {
			b += `, "provider:physical_network": "` + physnet + `"`
		}
		return b + `, "provider:segmentation_id": ` + seg + `}}`
	}
	runHostile(t, s.Handler, []hostile{
		{"vxlan 0", "POST", "/v2.0/networks", net("vxlan", "", "0"), nil, 400, "InvalidInput", outOfRange("16777215")},
		{"vxlan -1", "POST", "/v2.0/networks", net("vxlan", "", "-1"), nil, 400, "InvalidInput", outOfRange("16777215")},
		{"vxlan 2^24", "POST", "/v2.0/networks", net("vxlan", "", "16777216"), nil, 400, "InvalidInput", outOfRange("16777215")},
		{"vxlan \"0\"", "POST", "/v2.0/networks", net("vxlan", "", `"0"`), nil, 400, "InvalidInput", outOfRange("16777215")},
		{"gre 0", "POST", "/v2.0/networks", net("gre", "", "0"), nil, 400, "InvalidInput", outOfRange("4294967295")},
		{"gre 2^32", "POST", "/v2.0/networks", net("gre", "", "4294967296"), nil, 400, "InvalidInput", outOfRange("4294967295")},
		{"vlan 0", "POST", "/v2.0/networks", net("vlan", "physnet1", "0"), nil, 400, "InvalidInput", outOfRange("4094")},
		{"vlan 4095", "POST", "/v2.0/networks", net("vlan", "physnet1", "4095"), nil, 400, "InvalidInput", outOfRange("4094")},
		{"vlan 0 without physnet", "POST", "/v2.0/networks", net("vlan", "", "0"), nil, 400, "InvalidInput", "Invalid input for operation: segmentation_id requires physical_network for VLAN provider network."},
		{"segments vxlan 0", "POST", "/v2.0/networks", `{"network": {"segments": [{"provider:network_type": "vxlan", "provider:segmentation_id": 0}]}}`, nil, 400, "InvalidInput", outOfRange("16777215")},
		{"vxlan 1", "POST", "/v2.0/networks", net("vxlan", "", "1"), nil, 201, "", ""},
		{"gre 1", "POST", "/v2.0/networks", net("gre", "", "1"), nil, 201, "", ""},
		{"vlan 4094", "POST", "/v2.0/networks", net("vlan", "physnet1", "4094"), nil, 201, "", ""},
		{"vxlan null = allocate", "POST", "/v2.0/networks", net("vxlan", "", "null"), nil, 201, "", ""},
	})
	_, m := serve(t, s.Handler, "POST", "/v2.0/networks", net("vlan", "physnet1", "150"), nil)
	id := m["network"].(map[string]any)["id"].(string)
	runHostile(t, s.Handler, []hostile{
		{"update vlan to 0", "PUT", "/v2.0/networks/" + id, `{"network": {"provider:segmentation_id": 0}}`, nil, 400, "InvalidInput", outOfRange("4094")},
	})
	_, m = serve(t, s.Handler, "GET", "/v2.0/networks/"+id, "", nil)
	if got := m["network"].(map[string]any)["provider:segmentation_id"]; got != float64(150) {
		t.Errorf("after refused update: segmentation_id %v, want 150", got)
	}
}

// TestSubnetChecks: the subnet checks Neutron 2023.1 makes
// (db_base_plugin_v2._validate_subnet, _validate_ipv6_attributes) that
// c52fbac did not, through the API on every database.
func TestSubnetChecks(t *testing.T) {
	eachDB(t, func(t *testing.T, name, admin string) {
		s := stack(t, name, admin, inputINI)
		nets := map[string]string{}
		for _, n := range []string{"a", "b", "c", "d", "e"} {
			_, m := serve(t, s.Handler, "POST", "/v2.0/networks", `{"network": {"name": "`+n+`"}}`, nil)
			nets[n] = m["network"].(map[string]any)["id"].(string)
		}
		sub := func(net, cidr string, v int, extra string) string {
			b := `{"subnet": {"network_id": "` + nets[net] + `", "cidr": "` + cidr + `", "ip_version": ` + map[int]string{4: "4", 6: "6"}[v]
			return b + extra + `}}`
		}
		inv := func(m string) string { return "Invalid input for operation: " + m }
		prefixMsg := inv("Subnet has a prefix length that is incompatible with DHCP service enabled.")
		runHostile(t, s.Handler, []hostile{
			{"/31 dhcp", "POST", "/v2.0/subnets", sub("a", "10.0.0.0/31", 4, ""), nil, 400, "InvalidInput", prefixMsg},
			{"/32 dhcp", "POST", "/v2.0/subnets", sub("a", "10.0.0.5/32", 4, `, "enable_dhcp": true`), nil, 400, "InvalidInput", prefixMsg},
			{"/127 dhcp", "POST", "/v2.0/subnets", sub("a", "2001:db8::/127", 6, ""), nil, 400, "InvalidInput", prefixMsg},
			{"/128 dhcp", "POST", "/v2.0/subnets", sub("a", "2001:db8::1/128", 6, ""), nil, 400, "InvalidInput", prefixMsg},
			{"multicast v4", "POST", "/v2.0/subnets", sub("a", "224.1.0.0/24", 4, ""), nil, 400, "InvalidInput", inv("Multicast IP subnet is not supported if enable_dhcp is True.")},
			{"multicast v6", "POST", "/v2.0/subnets", sub("a", "ff05::/64", 6, ""), nil, 400, "InvalidInput", inv("Multicast IP subnet is not supported if enable_dhcp is True.")},
			{"loopback", "POST", "/v2.0/subnets", sub("a", "127.0.0.0/24", 4, ""), nil, 400, "InvalidInput", inv("Loopback IP subnet is not supported if enable_dhcp is True.")},
			{"ipv6 modes differ", "POST", "/v2.0/subnets", sub("a", "2001:db8:1::/64", 6, `, "ipv6_ra_mode": "slaac", "ipv6_address_mode": "dhcpv6-stateful"`), nil, 400, "InvalidInput",
				inv("ipv6_ra_mode set to 'slaac' with ipv6_address_mode set to 'dhcpv6-stateful' is not valid. If both attributes are set, they must be the same value.")},
			{"ipv6 modes without dhcp", "POST", "/v2.0/subnets", sub("a", "2001:db8:1::/64", 6, `, "enable_dhcp": false, "ipv6_address_mode": "slaac"`), nil, 400, "InvalidInput",
				inv("ipv6_ra_mode or ipv6_address_mode cannot be set when enable_dhcp is set to False.")},
			{"slaac not /64", "POST", "/v2.0/subnets", sub("a", "2001:db8:1::/80", 6, `, "ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac"`), nil, 400, "InvalidInput",
				inv("Invalid CIDR 2001:db8:1::/80 for IPv6 address mode. OpenStack uses the EUI-64 address format, which requires the prefix to be /64.")},
			{"dns of the other version", "POST", "/v2.0/subnets", sub("e", "10.7.0.0/24", 4, `, "dns_nameservers": ["10.7.0.2", "2001:db8::53"]`), nil, 400, "InvalidInput", inv("dns_nameserver '2001:db8::53' does not match the ip_version '4'.")},
			{"route of the other version", "POST", "/v2.0/subnets", sub("e", "10.7.0.0/24", 4, `, "host_routes": [{"destination": "2001:db8::/64", "nexthop": "10.7.0.1"}]`), nil, 400, "InvalidInput", inv("destination '2001:db8::/64' does not match the ip_version '4'.")},
			{"six nameservers", "POST", "/v2.0/subnets", sub("e", "10.7.0.0/24", 4, `, "dns_nameservers": ["10.7.0.1", "10.7.0.2", "10.7.0.3", "10.7.0.4", "10.7.0.5", "10.7.0.6"]`), nil, 400, "DNSNameServersExhausted", "Unable to complete operation for new subnet. The number of DNS nameservers exceeds the limit 5."},
			{"ipv6 mode on v4", "POST", "/v2.0/subnets", sub("a", "10.1.0.0/24", 4, `, "ipv6_address_mode": "slaac"`), nil, 400, "InvalidInput", inv("ipv6_address_mode is not valid when ip_version is 4.")},
			// Allowed: without DHCP any prefix; address mode alone; ra mode alone; equal modes.
			{"/31 no dhcp", "POST", "/v2.0/subnets", sub("a", "10.0.0.0/31", 4, `, "enable_dhcp": false`), nil, 201, "", ""},
			{"/128 no dhcp", "POST", "/v2.0/subnets", sub("a", "2001:db8::1/128", 6, `, "enable_dhcp": false`), nil, 201, "", ""},
			{"address mode alone", "POST", "/v2.0/subnets", sub("b", "2001:db8:2::/64", 6, `, "ipv6_address_mode": "dhcpv6-stateful"`), nil, 201, "", ""},
			{"ra mode alone", "POST", "/v2.0/subnets", sub("c", "2001:db8:3::/64", 6, `, "ipv6_ra_mode": "dhcpv6-stateless"`), nil, 201, "", ""},
			{"equal modes", "POST", "/v2.0/subnets", sub("d", "2001:db8:4::/64", 6, `, "ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac"`), nil, 201, "", ""},
		})
		// Updates: turning DHCP on re-checks the prefix; turning it off
		// is refused while IPv6 modes are set.
		_, m := serve(t, s.Handler, "GET", "/v2.0/subnets?network_id="+nets["a"]+"&cidr=10.0.0.0/31", "", nil)
		small := m["subnets"].([]any)[0].(map[string]any)["id"].(string)
		_, m = serve(t, s.Handler, "GET", "/v2.0/subnets?network_id="+nets["d"], "", nil)
		slaac := m["subnets"].([]any)[0].(map[string]any)["id"].(string)
		runHostile(t, s.Handler, []hostile{
			{"enable dhcp on /31", "PUT", "/v2.0/subnets/" + small, `{"subnet": {"enable_dhcp": true}}`, nil, 400, "InvalidInput", prefixMsg},
			{"disable dhcp with slaac", "PUT", "/v2.0/subnets/" + slaac, `{"subnet": {"enable_dhcp": false}}`, nil, 400, "InvalidInput", inv("Cannot disable enable_dhcp with ipv6 attributes set.")},
			{"21 host routes", "PUT", "/v2.0/subnets/" + small, `{"subnet": {"host_routes": [` + strings.TrimSuffix(strings.Repeat(`{"destination": "10.8.0.0/24", "nexthop": "10.0.0.1"},`, 21), ",") + `]}}`, nil, 400, "HostRoutesExhausted",
				"Unable to complete operation for " + small + ". The number of host routes exceeds the limit 20."},
			{"rename /31", "PUT", "/v2.0/subnets/" + small, `{"subnet": {"name": "p2p"}}`, nil, 200, "", ""},
		})
		_, m = serve(t, s.Handler, "GET", "/v2.0/subnets", "", nil)
		if l := m["subnets"].([]any); len(l) != 5 {
			t.Errorf("%d subnets, want the 5 accepted", len(l))
		}
	})
}

// TestSortKeyWithoutDir: Neutron (api_common.get_sorts) wants one
// sort_dir per sort_key; c52fbac sorted ascending instead.
func TestSortKeyWithoutDir(t *testing.T) {
	s := stack(t, "sqlite", "", inputINI)
	const msg = "The number of sort_keys and sort_dirs must be same"
	runHostile(t, s.Handler, []hostile{
		{"sort_key alone", "GET", "/v2.0/networks?sort_key=name", "", nil, 400, "HTTPBadRequest", msg},
		{"two keys one dir", "GET", "/v2.0/ports?sort_key=name&sort_key=id&sort_dir=asc", "", nil, 400, "HTTPBadRequest", msg},
		{"sort_dir alone", "GET", "/v2.0/subnets?sort_dir=desc", "", nil, 400, "HTTPBadRequest", msg},
		{"paired", "GET", "/v2.0/networks?sort_key=name&sort_dir=desc", "", nil, 200, "", ""},
	})
}

// TestContentType: Neutron 2023.1 never looks at a request's Content-Type.
// Pecan (core.py, find_controller) only uses it to pick controller
// kwargs, and Neutron's BodyValidationHook (pecan_wsgi/hooks/
// body_validation.py) runs jsonutils.loads on every non-empty POST/PUT
// body: a JSON body is accepted whatever the header says, anything else
// (a form, plain text, a JSON list) is 400 "Body contains invalid data".
// neutrino does the same.
func TestContentType(t *testing.T) {
	s := stack(t, "sqlite", "", inputINI)
	runHostile(t, s.Handler, []hostile{
		{"text/plain JSON", "POST", "/v2.0/networks", `{"network": {"name": "plain"}}`, map[string]string{"Content-Type": "text/plain"}, 201, "", ""},
		{"no content type", "POST", "/v2.0/networks", `{"network": {"name": "none"}}`, map[string]string{"Content-Type": ""}, 201, "", ""},
		{"form-encoded", "POST", "/v2.0/networks", `network%5Bname%5D=form`, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 400, "HTTPBadRequest", "Body contains invalid data"},
		{"text/plain text", "PUT", "/v2.0/networks/x", `name: x`, map[string]string{"Content-Type": "text/plain"}, 400, "HTTPBadRequest", "Body contains invalid data"},
		{"JSON list", "POST", "/v2.0/networks", `[{"network": {}}]`, nil, 400, "HTTPBadRequest", "Body contains invalid data"},
	})
}
