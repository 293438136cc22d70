package api_test

import (
	"fmt"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"

	"neutrino/internal/api/apitest"
)

// TestSubnetPoolsAPI: subnet pools and subnet allocation over HTTP on
// every database, as projects and an admin see them: shapes (prefix
// lengths as strings, compacted prefixes), policy (shared and is_default
// are admin's, shared pools readable by all), Neutron's faults, tags,
// filters, allocation of the best-fitting free prefix, the default pool.
func TestSubnetPoolsAPI(t *testing.T) {
	eachDB(t, func(t *testing.T, dbName, dbURL string) {
		admin, alice, bob := projectClients(t, dbName, dbURL, "")

		aliases := map[any]bool{}
		for _, e := range admin.must(200, "GET", "/v2.0/extensions", "")["extensions"].([]any) {
			aliases[e.(map[string]any)["alias"]] = true
		}
		if !aliases["subnet_allocation"] || !aliases["default-subnetpools"] {
			t.Errorf("subnet_allocation or default-subnetpools not advertised")
		}

		sp := alice.must(201, "POST", "/v2.0/subnetpools", `{"subnetpool": {"name": "p", "prefixes": ["10.1.0.0/24", "10.1.1.0/24", "10.9.0.0/16"], "default_prefixlen": 26, "min_prefixlen": 24, "max_prefixlen": 28}}`)["subnetpool"].(map[string]any)
		id := sp["id"].(string)
		want := map[string]any{"name": "p", "description": "", "tenant_id": "alice", "project_id": "alice",
			"prefixes": []any{"10.1.0.0/23", "10.9.0.0/16"}, "default_prefixlen": "26", "min_prefixlen": "24", "max_prefixlen": "28",
			"default_quota": nil, "ip_version": float64(4), "is_default": false, "shared": false, "address_scope_id": nil,
			"tags": []any{}, "revision_number": float64(0)}
		for k, v := range want {
			if fmt.Sprint(sp[k]) != fmt.Sprint(v) {
				t.Errorf("subnetpool %s = %v, want %v", k, sp[k], v)
			}
		}
		for _, k := range []string{"id", "created_at", "updated_at"} {
			if sp[k] == nil {
				t.Errorf("subnetpool lacks %s", k)
			}
		}
		if got := alice.must(200, "GET", "/v2.0/subnetpools/"+id, "")["subnetpool"].(map[string]any); fmt.Sprint(got) != fmt.Sprint(sp) {
			t.Errorf("show %v, create %v", got, sp)
		}

		// Neutron's faults.
		for _, c := range []struct {
			who    client
			body   string
			status int
			typ    string
			msg    string
		}{
			{alice, `{"subnetpool": {"prefixes": ["10.0.0.0/8"]}}`, 400, "HTTPBadRequest", "Failed to parse request. Required attribute 'name' not specified"},
			{alice, `{"subnetpool": {"name": "x"}}`, 400, "HTTPBadRequest", "Failed to parse request. Required attribute 'prefixes' not specified"},
			{alice, `{"subnetpool": {"name": "x", "prefixes": []}}`, 400, "EmptySubnetPoolPrefixList", "Empty subnet pool prefix list."},
			{alice, `{"subnetpool": {"name": "x", "prefixes": ["10.0.0.0/8", "2001:db8::/32"]}}`, 400, "PrefixVersionMismatch", "Cannot mix IPv4 and IPv6 prefixes in a subnet pool."},
			{alice, `{"subnetpool": {"name": "x", "prefixes": ["banana"]}}`, 400, "HTTPBadRequest", "Invalid input for prefixes. Reason: 'banana' is not a valid IP subnet."},
			{alice, `{"subnetpool": {"name": "x", "prefixes": ["10.0.0.0/8"], "min_prefixlen": 30, "max_prefixlen": 24}}`, 400, "IllegalSubnetPoolPrefixBounds", "Illegal prefix bounds: min_prefixlen=30, max_prefixlen=24."},
			{alice, `{"subnetpool": {"name": "x", "prefixes": ["10.0.0.0/8"], "max_prefixlen": 33}}`, 400, "IllegalSubnetPoolPrefixBounds", "Illegal prefix bounds: max_prefixlen=33, ip_version_max=32."},
			{alice, `{"subnetpool": {"name": "x", "prefixes": ["10.0.0.0/8"], "min_prefixlen": -1}}`, 400, "HTTPBadRequest", "Invalid input for min_prefixlen. Reason: '-1' should be non-negative."},
			{alice, `{"subnetpool": {"name": " ", "prefixes": ["10.0.0.0/8"]}}`, 400, "HTTPBadRequest", "Invalid input for name. Reason: ' ' Blank strings are not permitted."},
			{alice, `{"subnetpool": {"name": "x", "prefixes": ["10.0.0.0/8"], "shared": true}}`, 403, "PolicyNotAuthorized", "(rule:create_subnetpool and rule:create_subnetpool:shared) is disallowed by policy"},
			{alice, `{"subnetpool": {"name": "x", "prefixes": ["10.0.0.0/8"], "is_default": true}}`, 403, "PolicyNotAuthorized", "(rule:create_subnetpool and rule:create_subnetpool:is_default) is disallowed by policy"},
		} {
			code, body := c.who.do("POST", "/v2.0/subnetpools", c.body)
			ne, _ := body["NeutronError"].(map[string]any)
			if code != c.status || fault(body) != c.typ || ne["message"] != c.msg {
				t.Errorf("POST %s: %d %v, want %d %s %q", c.body, code, body, c.status, c.typ, c.msg)
			}
		}

		// Updates: prefixes only grow (and are compacted), bounds are
		// checked against the stored ones.
		up := alice.must(200, "PUT", "/v2.0/subnetpools/"+id, `{"subnetpool": {"name": "q", "prefixes": ["10.1.0.0/23", "10.9.0.0/16", "10.1.2.0/23"], "default_quota": 700}}`)["subnetpool"].(map[string]any)
		if up["name"] != "q" || fmt.Sprint(up["prefixes"]) != "[10.1.0.0/22 10.9.0.0/16]" || up["default_quota"] != float64(700) || up["revision_number"] != float64(1) {
			t.Fatalf("update: %v", up)
		}
		code, body := alice.do("PUT", "/v2.0/subnetpools/"+id, `{"subnetpool": {"prefixes": ["10.1.0.0/22"]}}`)
		if code != 400 || fault(body) != "IllegalSubnetPoolPrefixUpdate" {
			t.Errorf("shrinking prefixes: %d %v", code, body)
		}
		code, body = alice.do("PUT", "/v2.0/subnetpools/"+id, `{"subnetpool": {"min_prefixlen": 27}}`)
		if code != 400 || body["NeutronError"].(map[string]any)["message"] != "Illegal prefix bounds: default_prefixlen=26, min_prefixlen=27." {
			t.Errorf("min above default: %d %v", code, body)
		}
		if code, body := alice.do("PUT", "/v2.0/subnetpools/"+id, `{"subnetpool": {"is_default": true}}`); code != 403 {
			t.Errorf("non-admin is_default: %d %v", code, body)
		}

		// Bob sees neither alice's pool nor may he allocate from it.
		if code, body := bob.do("GET", "/v2.0/subnetpools/"+id, ""); code != 404 || fault(body) != "SubnetPoolNotFound" {
			t.Errorf("bob reads alice's pool: %d %v", code, body)
		}
		if l := bob.must(200, "GET", "/v2.0/subnetpools", "")["subnetpools"].([]any); len(l) != 0 {
			t.Errorf("bob lists %v", l)
		}
		bnet := bob.must(201, "POST", "/v2.0/networks", `{"network": {"name": "b"}}`)["network"].(map[string]any)["id"].(string)
		if code, body := bob.do("POST", "/v2.0/subnets", `{"subnet": {"network_id": "`+bnet+`", "ip_version": 4, "subnetpool_id": "`+id+`"}}`); code != 404 || fault(body) != "SubnetPoolNotFound" {
			t.Errorf("bob allocates from alice's pool: %d %v", code, body)
		}

		// Allocation: the default length, best fit, bounds, specific CIDRs.
		net := alice.must(201, "POST", "/v2.0/networks", `{"network": {"name": "n"}}`)["network"].(map[string]any)["id"].(string)
		subnet := func(extra string) (int, map[string]any) {
			return alice.do("POST", "/v2.0/subnets", `{"subnet": {"network_id": "`+net+`", "ip_version": 4, "subnetpool_id": "`+id+`"`+extra+`}}`)
		}
		var got []string
		for _, extra := range []string{``, `, "prefixlen": 28`, `, "prefixlen": 24`, `, "cidr": "10.9.3.0/24"`, `, "prefixlen": 27`} {
			code, body := subnet(extra)
			if code != 201 {
				t.Fatalf("allocate %s: %d %v", extra, code, body)
			}
			s := body["subnet"].(map[string]any)
			if s["subnetpool_id"] != id {
				t.Errorf("subnet %v lacks its pool", s)
			}
			got = append(got, s["cidr"].(string))
		}
		if w := "[10.1.0.0/26 10.1.0.64/28 10.1.1.0/24 10.9.3.0/24 10.1.0.96/27]"; fmt.Sprint(got) != w {
			t.Errorf("allocated %v, want %s", got, w)
		}
		for _, c := range []struct{ extra, typ, msg string }{
			{`, "prefixlen": 29`, "MaxPrefixSubnetAllocationError", "Unable to allocate subnet with prefix length 29, maximum allowed prefix is 28."},
			{`, "prefixlen": 20`, "MinPrefixSubnetAllocationError", "Unable to allocate subnet with prefix length 20, minimum allowed prefix is 24."},
			{`, "cidr": "10.1.0.0/26"`, "SubnetAllocationError", "Failed to allocate subnet: Cannot allocate requested subnet from the available set of prefixes."},
			{`, "cidr": "10.2.0.0/26"`, "SubnetAllocationError", "Failed to allocate subnet: Cannot allocate requested subnet from the available set of prefixes."},
			{`, "cidr": "10.9.9.0/24", "prefixlen": 24`, "BadRequest", "Bad subnets request: cidr and prefixlen must not be supplied together."},
			{`, "use_default_subnetpool": true`, "BadRequest", "Bad subnets request: subnetpool_id and use_default_subnetpool cannot both be specified."},
			{`, "allocation_pools": [{"start": "10.1.3.2", "end": "10.1.3.9"}]`, "BadRequest", "Bad subnets request: allocation_pools allowed only for specific subnet requests.."},
		} {
			code, body := subnet(c.extra)
			ne, _ := body["NeutronError"].(map[string]any)
			if code != 400 || fault(body) != c.typ || ne["message"] != c.msg {
				t.Errorf("allocate %s: %d %v, want %s %q", c.extra, code, body, c.typ, c.msg)
			}
		}
		code, body = alice.do("POST", "/v2.0/subnets", `{"subnet": {"network_id": "`+net+`", "ip_version": 4}}`)
		if code != 400 || body["NeutronError"].(map[string]any)["message"] != "Bad subnets request: a subnetpool must be specified in the absence of a cidr." {
			t.Errorf("no cidr, no pool: %d %v", code, body)
		}
		// Subnets of one version on a network come from one pool.
		code, body = alice.do("POST", "/v2.0/subnets", `{"subnet": {"network_id": "`+net+`", "ip_version": 4, "cidr": "192.168.0.0/24"}}`)
		if code != 400 || fault(body) != "NetworkSubnetPoolAffinityError" {
			t.Errorf("affinity: %d %v", code, body)
		}
		// default_quota 700 addresses: 64+16+256+256+32 are used.
		code, body = subnet(`, "prefixlen": 24`)
		if code != 409 || fault(body) != "SubnetPoolQuotaExceeded" {
			t.Errorf("pool quota: %d %v", code, body)
		}
		l := alice.must(200, "GET", "/v2.0/subnets?subnetpool_id="+id+"&fields=cidr&sort_key=cidr&sort_dir=asc", "")["subnets"].([]any)
		if len(l) != 5 || fmt.Sprint(l[0]) != "map[cidr:10.1.0.0/26]" {
			t.Errorf("subnets of the pool: %v", l)
		}
		if l := alice.must(200, "GET", "/v2.0/subnets?subnetpool_id=", "")["subnets"].([]any); len(l) != 0 {
			t.Errorf("subnets of no pool: %v", l)
		}

		// A pool with subnets cannot be deleted.
		code, body = alice.do("DELETE", "/v2.0/subnetpools/"+id, "")
		if code != 400 || fault(body) != "SubnetPoolDeleteError" || body["NeutronError"].(map[string]any)["message"] != "Unable to delete subnet pool: Subnet pool has existing allocations." {
			t.Errorf("delete a used pool: %d %v", code, body)
		}

		// Tags, filters, sorting.
		alice.must(201, "PUT", "/v2.0/subnetpools/"+id+"/tags/red", "")
		alice.must(201, "POST", "/v2.0/subnetpools", `{"subnetpool": {"name": "v6", "prefixes": ["2001:db8::/48"]}}`)
		if l := alice.must(200, "GET", "/v2.0/subnetpools?tags=red", "")["subnetpools"].([]any); len(l) != 1 || l[0].(map[string]any)["id"] != id {
			t.Errorf("tags=red: %v", l)
		}
		l = alice.must(200, "GET", "/v2.0/subnetpools?ip_version=6&fields=name&fields=min_prefixlen", "")["subnetpools"].([]any)
		if len(l) != 1 || fmt.Sprint(l[0]) != "map[min_prefixlen:64 name:v6]" {
			t.Errorf("ip_version=6: %v", l)
		}
		var names []string
		for _, x := range alice.must(200, "GET", "/v2.0/subnetpools?sort_key=name&sort_dir=desc", "")["subnetpools"].([]any) {
			names = append(names, x.(map[string]any)["name"].(string))
		}
		if fmt.Sprint(names) != "[v6 q]" {
			t.Errorf("sorted %v", names)
		}

		// An admin's shared default pool: everyone reads it, and
		// use_default_subnetpool allocates from it.
		def := admin.must(201, "POST", "/v2.0/subnetpools", `{"subnetpool": {"name": "d", "prefixes": ["172.16.0.0/16"], "default_prefixlen": 24, "shared": true, "is_default": true}}`)["subnetpool"].(map[string]any)
		code, body = admin.do("POST", "/v2.0/subnetpools", `{"subnetpool": {"name": "d2", "prefixes": ["172.17.0.0/16"], "is_default": true}}`)
		if code != 400 || fault(body) != "InvalidInput" {
			t.Errorf("second default: %d %v", code, body)
		}
		bob.must(200, "GET", "/v2.0/subnetpools/"+def["id"].(string), "")
		bs := bob.must(201, "POST", "/v2.0/subnets", `{"subnet": {"network_id": "`+bnet+`", "ip_version": 4, "use_default_subnetpool": true}}`)["subnet"].(map[string]any)
		if bs["cidr"] != "172.16.0.0/24" || bs["subnetpool_id"] != def["id"] || bs["gateway_ip"] != "172.16.0.1" {
			t.Errorf("from the default pool: %v", bs)
		}
		if _, ok := bs["use_default_subnetpool"]; ok {
			t.Errorf("use_default_subnetpool rendered: %v", bs)
		}
		code, body = bob.do("POST", "/v2.0/subnets", `{"subnet": {"network_id": "`+bnet+`", "ip_version": 6, "use_default_subnetpool": true}}`)
		if code != 400 || body["NeutronError"].(map[string]any)["message"] != "Bad subnets request: No default subnetpool found for IPv6." {
			t.Errorf("no v6 default: %d %v", code, body)
		}
		// A default pool a project cannot see is none for it.
		admin.must(201, "POST", "/v2.0/subnetpools", `{"subnetpool": {"name": "d6", "prefixes": ["2001:db8::/48"], "is_default": true}}`)
		code, body = bob.do("POST", "/v2.0/subnets", `{"subnet": {"network_id": "`+bnet+`", "ip_version": 6, "use_default_subnetpool": true}}`)
		if code != 400 || body["NeutronError"].(map[string]any)["message"] != "Bad subnets request: No default subnetpool found for IPv6." {
			t.Errorf("unshared v6 default: %d %v", code, body)
		}
		if code, body := bob.do("PUT", "/v2.0/subnetpools/"+def["id"].(string), `{"subnetpool": {"name": "mine"}}`); code != 403 && code != 404 {
			t.Errorf("bob updates the shared pool: %d %v", code, body)
		}

		// Deleting the subnets frees the pool.
		for _, x := range alice.must(200, "GET", "/v2.0/subnets?subnetpool_id="+id, "")["subnets"].([]any) {
			alice.must(204, "DELETE", "/v2.0/subnets/"+x.(map[string]any)["id"].(string), "")
		}
		alice.must(204, "DELETE", "/v2.0/subnetpools/"+id, "")
		if code, body := alice.do("GET", "/v2.0/subnetpools/"+id, ""); code != 404 || fault(body) != "SubnetPoolNotFound" {
			t.Errorf("deleted pool: %d %v", code, body)
		}
	})
}

// TestSubnetPoolConcurrentAllocation: subnets created at once from one
// pool, on different networks, all get distinct prefixes, on every
// database.
func TestSubnetPoolConcurrentAllocation(t *testing.T) {
	eachDB(t, func(t *testing.T, dbName, dbURL string) {
		ini := strings.Replace(apitest.ReferenceINI, "auth_strategy = noauth", "auth_strategy = keystone", 1)
		s := stack(t, dbName, dbURL, ini)
		srv := httptest.NewServer(s.Handler)
		defer srv.Close()
		c := client{t: t, url: srv.URL, hdr: map[string]string{"X-User-Id": "u", "X-Project-Id": "p", "X-Roles": "member"}}
		id := c.must(201, "POST", "/v2.0/subnetpools", `{"subnetpool": {"name": "p", "prefixes": ["10.0.0.0/24"], "default_prefixlen": 28}}`)["subnetpool"].(map[string]any)["id"].(string)
		const n = 12
		nets := make([]string, n)
		for i := range nets {
			nets[i] = c.must(201, "POST", "/v2.0/networks", `{"network": {"name": "n"}}`)["network"].(map[string]any)["id"].(string)
		}
		var mu sync.Mutex
		var cidrs []string
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(net string) {
				defer wg.Done()
				code, body := c.do("POST", "/v2.0/subnets", `{"subnet": {"network_id": "`+net+`", "ip_version": 4, "subnetpool_id": "`+id+`", "enable_dhcp": false}}`)
				if code != 201 {
					t.Errorf("allocate: %d %v", code, body)
					return
				}
				mu.Lock()
				cidrs = append(cidrs, body["subnet"].(map[string]any)["cidr"].(string))
				mu.Unlock()
			}(nets[i])
		}
		wg.Wait()
		sort.Strings(cidrs)
		for i := 1; i < len(cidrs); i++ {
			if cidrs[i] == cidrs[i-1] {
				t.Fatalf("two subnets got %s: %v", cidrs[i], cidrs)
			}
		}
		if len(cidrs) != n {
			t.Fatalf("%d of %d allocated: %v", len(cidrs), n, cidrs)
		}
	})
}
