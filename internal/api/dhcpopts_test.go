package api_test

import (
	"fmt"
	"net/http/httptest"
	"reflect"
	"testing"

	"neutrino/internal/api/apitest"
)

// TestExtraDHCPOpts: the extra_dhcp_opt extension end to end on every
// database, as Tempest's test_create_list_port_with_extra_dhcp_options and
// test_update_show_port_with_extra_dhcp_options use it, plus Neutron's
// update semantics (an entry changes only its own option; null removes
// it) and its validation faults.
func TestExtraDHCPOpts(t *testing.T) {
	eachDB(t, func(t *testing.T, db, admin string) {
		s := stack(t, db, admin, apitest.ReferenceINI)
		srv := httptest.NewServer(s.Handler)
		defer srv.Close()
		c := client{t: t, url: srv.URL}
		net := c.must(201, "POST", "/v2.0/networks", `{"network": {"name": "edo"}}`)["network"].(map[string]any)["id"].(string)
		c.must(201, "POST", "/v2.0/subnets", fmt.Sprintf(`{"subnet": {"network_id": %q, "cidr": "10.9.0.0/24", "ip_version": 4}}`, net))
		opts := `[{"opt_value": "pxelinux.0", "opt_name": "bootfile-name"}, {"opt_value": "123.123.123.123", "opt_name": "tftp-server"},
			{"opt_value": "2015::badd", "opt_name": "server-ip-address", "ip_version": "6"}, {"opt_name": "router", "opt_value": ""}, {"opt_name": "mtu", "opt_value": null}]`
		created := c.must(201, "POST", "/v2.0/ports", fmt.Sprintf(`{"port": {"network_id": %q, "extra_dhcp_opts": %s}}`, net, opts))["port"].(map[string]any)
		want := []any{opt("bootfile-name", "pxelinux.0", 4), opt("tftp-server", "123.123.123.123", 4), opt("server-ip-address", "2015::badd", 6), opt("router", "", 4)}
		id := created["id"].(string)
		optsOf := func(p map[string]any) []any { return p["extra_dhcp_opts"].([]any) }
		if got := optsOf(created); !reflect.DeepEqual(got, want) {
			t.Fatalf("create: %v\nwant %v", got, want)
		}
		for _, p := range c.must(200, "GET", "/v2.0/ports", "")["ports"].([]any) {
			if p := p.(map[string]any); p["id"] == id && !reflect.DeepEqual(optsOf(p), want) {
				t.Errorf("list: %v", optsOf(p))
			}
		}
		// Update: replace one value, add one, remove one (null), a null
		// for an option the port lacks changes nothing; the others stay.
		updated := c.must(200, "PUT", "/v2.0/ports/"+id, `{"port": {"name": "p2", "extra_dhcp_opts": [
			{"opt_name": "bootfile-name", "opt_value": "grub.efi"}, {"opt_name": "tftp-server", "opt_value": null},
			{"opt_name": "domain-search", "opt_value": "example.org", "ip_version": 4}, {"opt_name": "nope", "opt_value": null, "ip_version": 6}]}}`)["port"].(map[string]any)
		want = []any{opt("bootfile-name", "grub.efi", 4), opt("server-ip-address", "2015::badd", 6), opt("router", "", 4), opt("domain-search", "example.org", 4)}
		if got := optsOf(updated); !reflect.DeepEqual(got, want) {
			t.Fatalf("update: %v\nwant %v", got, want)
		}
		if got := optsOf(c.must(200, "GET", "/v2.0/ports/"+id, "")["port"].(map[string]any)); !reflect.DeepEqual(got, want) {
			t.Errorf("show after update: %v", got)
		}
		// [] and null change nothing; an option is keyed by its IP version too.
		c.must(200, "PUT", "/v2.0/ports/"+id, `{"port": {"extra_dhcp_opts": []}}`)
		c.must(200, "PUT", "/v2.0/ports/"+id, `{"port": {"extra_dhcp_opts": null}}`)
		got := optsOf(c.must(200, "PUT", "/v2.0/ports/"+id, `{"port": {"extra_dhcp_opts": [{"opt_name": "server-ip-address", "opt_value": null}]}}`)["port"].(map[string]any))
		if !reflect.DeepEqual(got, want) {
			t.Errorf("after [], null and removing the IPv4 server-ip-address the port lacks: %v", got)
		}
		// Validation faults: Neutron's types and texts; nothing created.
		for _, x := range []struct{ opts, msg string }{
			{`"x"`, "Invalid input for operation: 'x' is not a list."},
			{`[{"opt_name": "a", "opt_value": "b"}, {"opt_name": "a", "opt_value": "b"}]`, "Invalid input for operation: Duplicate items in the list: '{'opt_name': 'a', 'opt_value': 'b'}'."},
			{`[{"opt_name": "bootfile-name"}]`, "Invalid input for operation: No valid key specs matched for: {'opt_name': 'bootfile-name'}."},
			{`[{"opt_name": "bootfile-name", "opt_value": ""}]`, "Invalid input for operation: No valid key specs matched for: {'opt_name': 'bootfile-name', 'opt_value': ''}."},
			{`[{"opt_name": "a\nb", "opt_value": "v"}]`, "Invalid input for operation: No valid key specs matched for: {'opt_name': 'a\\nb', 'opt_value': 'v'}."},
			{`[{"opt_name": "a", "opt_value": "v", "ip_version": 5}]`, "Invalid input for operation: No valid key specs matched for: {'opt_name': 'a', 'opt_value': 'v', 'ip_version': 5}."},
			{`[{"opt_name": "a", "opt_value": "v", "ip_version": "six"}]`, "Invalid input for operation: 'six' is not an integer."},
			{`[{"opt_name": "a", "opt_value": "v", "extra": 1}]`, "Invalid input for operation: No valid key specs matched for: {'opt_name': 'a', 'opt_value': 'v', 'extra': 1}."},
			{`[7]`, "Invalid input for operation: No valid key specs matched for: 7."},
		} {
			m := c.must(400, "POST", "/v2.0/ports", fmt.Sprintf(`{"port": {"network_id": %q, "extra_dhcp_opts": %s}}`, net, x.opts))
			if f := m["NeutronError"].(map[string]any); f["type"] != "InvalidInput" || f["message"] != x.msg {
				t.Errorf("%s: %v, want InvalidInput %q", x.opts, f, x.msg)
			}
		}
		// One option twice in a create is Neutron's duplicate-entry conflict.
		m := c.must(409, "POST", "/v2.0/ports", fmt.Sprintf(`{"port": {"network_id": %q, "extra_dhcp_opts": [{"opt_name": "a", "opt_value": "1"}, {"opt_name": "a", "opt_value": "2"}]}}`, net))
		if m["NeutronError"].(map[string]any)["type"] != "NeutronDbObjectDuplicateEntry" {
			t.Errorf("duplicate option: %v", m)
		}
		if n := len(c.must(200, "GET", "/v2.0/ports", "")["ports"].([]any)); n != 1 {
			t.Errorf("%d ports after refused creates, want 1", n)
		}
	})
}

func opt(name, value string, version int) any {
	return map[string]any{"opt_name": name, "opt_value": value, "ip_version": float64(version)}
}
