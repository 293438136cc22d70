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

// TestOpenstackCLIQuotas drives `openstack quota set/list` (Debian
// python3-openstackclient) against `neutrino server` validating the real
// Keystone's tokens: the CLI resolves the project in Keystone and sends
// the admin's token to neutrino, found in the catalog.
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

	// The client finds neutrino in the catalog: a region of this test's
	// own with a network endpoint, and Keystone's for the project lookup.
	region := "osc-" + filepath.Base(filepath.Dir(dir))
	ks.Call(t, "POST", "/regions", map[string]any{"region": map[string]any{"id": region}}, 201, nil)
	endpoint := func(typ, name, url string) {
		var svcs struct{ Services []struct{ ID string } }
		ks.Call(t, "GET", "/services?type="+typ, nil, 200, &svcs)
		if len(svcs.Services) == 0 {
			var created struct{ Service struct{ ID string } }
			ks.Call(t, "POST", "/services", map[string]any{"service": map[string]any{"type": typ, "name": name}}, 201, &created)
			svcs.Services = append(svcs.Services, created.Service)
		}
		ks.Call(t, "POST", "/endpoints", map[string]any{"endpoint": map[string]any{"service_id": svcs.Services[0].ID,
			"interface": "public", "region_id": region, "url": url}}, 201, nil)
	}
	endpoint("network", "neutron", base+"/")
	endpoint("identity", "keystone", ks.URL)
	// This client (Debian's 6.0) builds its compute and volume clients for
	// every quota command, which needs them in the catalog; nothing may
	// reach them (a closed port: a request would fail the command).
	closed := fmt.Sprintf("http://127.0.0.1:%d/", freePort(t))
	endpoint("compute", "nova", closed)
	endpoint("volumev3", "cinderv3", closed)

	osc := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "OS_AUTH_URL="+ks.URL, "OS_IDENTITY_API_VERSION=3", "OS_USERNAME="+admin.Username,
			"OS_PASSWORD="+admin.Password, "OS_USER_DOMAIN_NAME=Default", "OS_PROJECT_ID="+adminProject,
			"OS_REGION_NAME="+region)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("openstack %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	// `quota list --network` reads only network quotas (`quota show` asks
	// compute and volume too): a project appears once its own differ from
	// the defaults.
	list := func() []map[string]any {
		t.Helper()
		var l []map[string]any
		out := osc("quota", "list", "--network", "--project", target, "-f", "json")
		if err := json.Unmarshal(out, &l); err != nil {
			t.Fatalf("quota list: %v\n%s", err, out)
		}
		return l
	}
	if l := list(); len(l) != 0 {
		t.Fatalf("a project on the defaults is listed: %v", l)
	}
	osc("quota", "set", "--networks", "3", "--ports", "7", target)
	l := list()
	if len(l) != 1 || l[0]["Project ID"] != target || l[0]["Networks"] != float64(3) || l[0]["Ports"] != float64(7) || l[0]["Subnets"] != float64(100) {
		t.Fatalf("quota list after set: %v", l)
	}
}
