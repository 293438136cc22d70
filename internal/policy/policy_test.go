package policy

import (
	"os"
	"path/filepath"
	"testing"
)

func TestParseErrors(t *testing.T) {
	for _, bad := range []string{"role:admin or", "(role:admin", "role:admin)", "and role:x", "justaword", "field:networks:shared"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

func TestDefaults2023(t *testing.T) {
	e, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	admin := Creds{UserID: "a", ProjectID: "adminp", Roles: []string{"admin", "member", "reader"}}
	member := Creds{UserID: "m", ProjectID: "p1", Roles: []string{"member", "reader"}}
	reader := Creds{UserID: "r", ProjectID: "p1", Roles: []string{"reader"}}
	other := Creds{UserID: "o", ProjectID: "p2", Roles: []string{"member"}}
	own := Target{"project_id": "p1", "tenant_id": "p1", "shared": false}
	shared := Target{"project_id": "p2", "tenant_id": "p2", "shared": true}
	port := Target{"project_id": "p2", "tenant_id": "p2", "network:tenant_id": "p1", "network:project_id": "p1", "device_owner": "network:dhcp"}
	for _, tc := range []struct {
		action string
		c      Creds
		t      Target
		want   bool
	}{
		{"create_network", member, own, true},
		{"create_network", reader, own, true}, // deprecated regular_user still applies in 2023.1
		{"create_network:shared", member, own, false},
		{"create_network:shared", admin, own, true},
		{"get_network", other, own, false},
		{"get_network", other, shared, true},
		{"get_network", reader, own, true},
		{"update_network", reader, own, true}, // admin_or_owner (deprecated) still applies
		{"update_network", other, own, false},
		{"delete_network", admin, own, true},
		{"get_network:provider:network_type", member, own, false},
		{"get_port", member, port, true}, // the network's owner sees ports on it
		{"get_port", other, Target{"project_id": "p1", "tenant_id": "p1", "network:tenant_id": "p1"}, false},
		{"create_port:binding:host_id", member, own, false},
		{"get_agent", member, Target{}, false},
		{"get_agent", admin, Target{}, true},
		{"no_such_action", member, own, true}, // "default": admin_or_owner
		{"no_such_action", other, own, false},
	} {
		if got := e.Allowed(tc.action, tc.c, tc.t); got != tc.want {
			t.Errorf("%s by %s on %v: %v, want %v", tc.action, tc.c.UserID, tc.t, got, tc.want)
		}
	}
	if !e.IsAdmin(admin) || e.IsAdmin(member) {
		t.Error("context_is_admin")
	}

	// enforce_new_defaults: a reader may no longer create or update.
	n, err := New(Options{EnforceNewDefaults: true})
	if err != nil {
		t.Fatal(err)
	}
	if n.Allowed("create_network", reader, own) || n.Allowed("update_network", reader, own) || !n.Allowed("update_network", member, own) {
		t.Error("enforce_new_defaults: reader/member split not applied")
	}
}

func TestOverrides(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(`# operator's rules
"context_is_admin": "role:admin or role:cloud_admin"
"create_network:shared": "role:netadmin"
"network_device": "field:port:device_owner=~^network:"
"create_port:device_owner": "not rule:network_device or rule:context_is_admin"
`), 0o600)
	os.MkdirAll(filepath.Join(dir, "policy.d"), 0o755)
	os.WriteFile(filepath.Join(dir, "policy.d", "10-json.json"), []byte(`{"create_network": "role:member"}`), 0o600)
	e, err := New(Options{ConfigDirs: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Files) != 2 {
		t.Fatalf("files loaded: %v", e.Files)
	}
	netadmin := Creds{ProjectID: "p", Roles: []string{"netadmin"}}
	member := Creds{ProjectID: "p", Roles: []string{"member"}}
	if !e.Allowed("create_network:shared", netadmin, Target{}) || e.Allowed("create_network:shared", member, Target{}) {
		t.Error("create_network:shared override")
	}
	if e.Allowed("create_network", netadmin, Target{}) || !e.Allowed("create_network", member, Target{}) {
		t.Error("policy.d override")
	}
	if !e.IsAdmin(Creds{Roles: []string{"cloud_admin"}}) {
		t.Error("context_is_admin override")
	}
	if e.Allowed("create_port:device_owner", member, Target{"device_owner": "network:router_interface"}) ||
		!e.Allowed("create_port:device_owner", member, Target{"device_owner": "compute:nova"}) {
		t.Error("regex field check")
	}
	if _, err := New(Options{PolicyFile: "/nonexistent/policy.yaml"}); err == nil {
		t.Error("a named policy_file that does not exist was accepted")
	}
	os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte(`"x": "role:a or"`), 0o600)
	if _, err := New(Options{PolicyFile: "bad.yaml", ConfigDirs: []string{dir}}); err == nil {
		t.Error("a broken rule was accepted")
	}
}
