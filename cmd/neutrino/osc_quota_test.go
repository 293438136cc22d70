package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"neutrino/internal/keystone/keystonetest"
)

// TestOpenstackCLIQuotas drives `openstack quota set/show/list` (Debian
// python3-openstackclient) against `neutrino server` validating the real
// Keystone's tokens: the CLI resolves the project in Keystone and sends
// the admin's token to neutrino (OS_NETWORK_ENDPOINT_OVERRIDE names it, as
// a catalog entry would).
func TestOpenstackCLIQuotas(t *testing.T) {
	bin, err := exec.LookPath("openstack")
	if err != nil {
		t.Fatal("the openstack CLI is not installed (Debian python3-openstackclient); run `make test`, which installs it")
	}
	ks := keystonetest.New(t)
	svc := ks.User(t, ks.Project(t), "service")
	adminProject, target := ks.Project(t), ks.Project(t)
	admin := ks.User(t, adminProject, "admin", "member", "reader")

	dir := t.TempDir()
	conf := filepath.Join(dir, "neutron.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf(`[DEFAULT]
bind_port = %d
rpc_bind_port = %d
state_path = %s
auth_strategy = keystone
[ml2]
type_drivers = vxlan
tenant_network_types = vxlan
mechanism_drivers = openvswitch
[ml2_type_vxlan]
vni_ranges = 1001:2000
[keystone_authtoken]
www_authenticate_uri = %s
auth_url = %s
auth_type = password
username = %s
password = %s
user_domain_name = Default
project_id = %s
`, freePort(t), freePort(t), dir, ks.URL, ks.URL, svc.Username, svc.Password, svc.ProjectID)), 0o600)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- runServer(ctx, slog.New(slog.DiscardHandler), []string{conf}, true, ready) }()
	var base string
	select {
	case addr := <-ready:
		base = "http://" + addr
	case err := <-done:
		t.Fatalf("server exited: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("server did not start")
	}
	defer func() { cancel(); <-done }()

	osc := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "OS_AUTH_URL="+ks.URL, "OS_IDENTITY_API_VERSION=3", "OS_USERNAME="+admin.Username,
			"OS_PASSWORD="+admin.Password, "OS_USER_DOMAIN_NAME=Default", "OS_PROJECT_ID="+adminProject,
			"OS_NETWORK_ENDPOINT_OVERRIDE="+base+"/")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("openstack %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	show := func() map[string]any {
		t.Helper()
		var q map[string]any
		out := osc("quota", "show", target, "-f", "json")
		if err := json.Unmarshal(out, &q); err != nil {
			t.Fatalf("quota show: %v\n%s", err, out)
		}
		return q
	}
	if q := show(); q["networks"] != float64(100) || q["ports"] != float64(500) || q["subnets"] != float64(100) {
		t.Fatalf("default quotas: %v", q)
	}
	osc("quota", "set", "--networks", "3", "--ports", "7", target)
	if q := show(); q["networks"] != float64(3) || q["ports"] != float64(7) || q["subnets"] != float64(100) {
		t.Fatalf("after quota set: %v", q)
	}
	// quota list: the projects whose network quotas differ from the defaults.
	var list []map[string]any
	if err := json.Unmarshal(osc("quota", "list", "--network", "--project", target, "-f", "json"), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0]["Project ID"] != target || list[0]["Networks"] != float64(3) || list[0]["Ports"] != float64(7) {
		t.Fatalf("quota list: %v", list)
	}
}
