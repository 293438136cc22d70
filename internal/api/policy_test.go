package api_test

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"neutrino/internal/api"
	"neutrino/internal/api/apitest"
	"neutrino/internal/policy"
)

// Policy overrides and enforce_new_defaults reach the API's decisions.
func TestPolicyOverrides(t *testing.T) {
	ini := strings.Replace(apitest.ReferenceINI, "auth_strategy = noauth", "auth_strategy = keystone", 1)
	s := stack(t, "sqlite", "", ini)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(`"create_network:shared": "rule:admin_only or role:netadmin"
"context_is_admin": "role:admin or role:cloud_admin"
`), 0o600)
	for _, newDefaults := range []bool{false, true} {
		pol, err := policy.New(policy.Options{ConfigDirs: []string{dir}, EnforceNewDefaults: newDefaults})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(api.New(s.Plugin, api.Options{AuthStrategy: api.AuthKeystone, Policy: pol}))
		defer srv.Close()
		c := client{t: t, url: srv.URL}
		netadmin := c.as(map[string]string{"X-User-Id": "n", "X-Project-Id": "p1", "X-Roles": "member,netadmin"})
		member := c.as(map[string]string{"X-User-Id": "m", "X-Project-Id": "p1", "X-Roles": "member,reader"})
		reader := c.as(map[string]string{"X-User-Id": "r", "X-Project-Id": "p1", "X-Roles": "reader"})
		cloudAdmin := c.as(map[string]string{"X-User-Id": "c", "X-Project-Id": "p9", "X-Roles": "cloud_admin"})

		shared := netadmin.must(201, "POST", "/v2.0/networks", `{"network": {"name": "s", "shared": true}}`)["network"].(map[string]any)
		if shared["shared"] != true {
			t.Fatalf("netadmin's shared network: %v", shared)
		}
		member.must(403, "POST", "/v2.0/networks", `{"network": {"name": "s2", "shared": true}}`)
		// context_is_admin decides who is an admin: cloud_admin sees the
		// provider attributes of another project's network.
		got := cloudAdmin.must(200, "GET", "/v2.0/networks/"+shared["id"].(string), "")["network"].(map[string]any)
		if got["provider:network_type"] != "vxlan" {
			t.Errorf("cloud_admin is not an admin: %v", got)
		}
		// A reader may create and delete in 2023.1's default mode, not with
		// the new defaults.
		if newDefaults {
			reader.must(403, "POST", "/v2.0/networks", `{"network": {"name": "r"}}`)
			reader.must(403, "DELETE", "/v2.0/networks/"+shared["id"].(string), "")
		} else {
			id := reader.must(201, "POST", "/v2.0/networks", `{"network": {"name": "r"}}`)["network"].(map[string]any)["id"].(string)
			reader.must(204, "DELETE", "/v2.0/networks/"+id, "")
		}
		member.must(204, "DELETE", "/v2.0/networks/"+shared["id"].(string), "")
	}
}
