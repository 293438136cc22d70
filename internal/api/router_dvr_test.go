package api_test

import (
	"strings"
	"testing"
)

// TestDistributedRouterAPI: the dvr and l3-ha attributes over HTTP as
// Tempest's RoutersTestDVR and DvrRoutersNegativeTest use them, on every
// database: admin-only on create, update and read (a project neither sets
// nor sees them), the conversion rule's fault, ha = true refused, and
// [DEFAULT] router_distributed as the default.
func TestDistributedRouterAPI(t *testing.T) {
	eachDB(t, func(t *testing.T, dbName, dbURL string) {
		admin, alice, _ := projectClients(t, dbName, dbURL, "\nrouter_distributed = True")

		aliases := map[any]bool{}
		for _, e := range admin.must(200, "GET", "/v2.0/extensions", "")["extensions"].([]any) {
			aliases[e.(map[string]any)["alias"]] = true
		}
		for _, a := range []string{"dvr", "l3-ha", "router-admin-state-down-before-update"} {
			if !aliases[a] {
				t.Errorf("extension %s not advertised", a)
			}
		}

		// router_distributed = True: the default; explicit false wins.
		def := admin.must(201, "POST", "/v2.0/routers", `{"router": {"name": "d"}}`)["router"].(map[string]any)
		if def["distributed"] != true || def["ha"] != false {
			t.Fatalf("default router %v", def)
		}
		cen := admin.must(201, "POST", "/v2.0/routers", `{"router": {"name": "c", "distributed": false}}`)["router"].(map[string]any)
		if cen["distributed"] != false {
			t.Fatalf("centralized router %v", cen)
		}
		if l := admin.must(200, "GET", "/v2.0/routers/"+def["id"].(string)+"/l3-agents", "")["agents"].([]any); len(l) != 0 {
			t.Fatalf("distributed router hosted: %v", l)
		}

		// A project may not ask for either attribute, nor see them.
		if code, body := alice.do("POST", "/v2.0/routers", `{"router": {"name": "x", "distributed": true}}`); code != 403 || fault(body) != "PolicyNotAuthorized" {
			t.Fatalf("member distributed=true: %d %v", code, body)
		}
		if code, body := alice.do("POST", "/v2.0/routers", `{"router": {"name": "x", "ha": false}}`); code != 403 || fault(body) != "PolicyNotAuthorized" {
			t.Fatalf("member ha=false: %d %v", code, body)
		}

		// test_centralized_router_update_to_dvr, as Tempest makes it.
		r := admin.must(201, "POST", "/v2.0/routers", `{"router": {"name": "m", "distributed": false, "admin_state_up": false, "ha": false, "project_id": "alice"}}`)["router"].(map[string]any)
		rID := r["id"].(string)
		if code, body := alice.do("PUT", "/v2.0/routers/"+rID, `{"router": {"distributed": true}}`); code != 403 || fault(body) != "PolicyNotAuthorized" {
			t.Fatalf("member converts: %d %v", code, body)
		}
		if u := admin.must(200, "PUT", "/v2.0/routers/"+rID, `{"router": {"distributed": true}}`)["router"].(map[string]any); u["distributed"] != true {
			t.Fatalf("converted %v", u)
		}
		if g := admin.must(200, "GET", "/v2.0/routers/"+rID, "")["router"].(map[string]any); g["distributed"] != true {
			t.Fatalf("admin show %v", g)
		}
		g := alice.must(200, "GET", "/v2.0/routers/"+rID, "")["router"].(map[string]any)
		if _, ok := g["distributed"]; ok {
			t.Fatalf("member sees distributed: %v", g)
		}
		if _, ok := g["ha"]; ok {
			t.Fatalf("member sees ha: %v", g)
		}

		// Converting an active router: Neutron's 400.
		code, body := admin.do("PUT", "/v2.0/routers/"+cen["id"].(string), `{"router": {"distributed": true}}`)
		msg, _ := body["NeutronError"].(map[string]any)["message"].(string)
		if code != 400 || fault(body) != "BadRequest" || !strings.Contains(msg, "Please set router admin_state_up to False prior to upgrade") {
			t.Fatalf("active conversion: %d %v", code, body)
		}
		if code, body := admin.do("POST", "/v2.0/routers", `{"router": {"ha": true}}`); code != 400 || fault(body) != "BadRequest" {
			t.Fatalf("ha=true: %d %v", code, body)
		}
		if code, body := admin.do("POST", "/v2.0/routers", `{"router": {"distributed": "maybe"}}`); code != 400 || fault(body) != "InvalidInput" {
			t.Fatalf("distributed=maybe: %d %v", code, body)
		}
		// null is "not specified": the configured default.
		if n := admin.must(201, "POST", "/v2.0/routers", `{"router": {"distributed": null}}`)["router"].(map[string]any); n["distributed"] != true {
			t.Fatalf("distributed=null: %v", n)
		}
	})
}
