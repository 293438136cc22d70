package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"neutrino/internal/keystone/keystonetest"
)

// TestServerKeystone runs `neutrino server` with auth_strategy = keystone
// against the real Keystone: tokens decide who the caller is, projects are
// isolated from each other, forged identity headers change nothing, and the
// version document needs no token.
func TestServerKeystone(t *testing.T) {
	ks := keystonetest.New(t)
	svc := ks.User(t, ks.Project(t), "service")
	projA, projB := ks.Project(t), ks.Project(t)
	userA, userB := ks.User(t, projA, "member"), ks.User(t, projB, "member")
	tokA, _ := ks.Token(t, ks.Client, userA)
	tokB, _ := ks.Token(t, ks.Client, userB)

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
memcached_servers = 127.0.0.1:11211
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

	call := func(method, path, token, body string, headers ...string) (int, map[string]any, http.Header) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("X-Auth-Token", token)
		}
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		var out map[string]any
		json.Unmarshal(data, &out)
		return resp.StatusCode, out, resp.Header
	}

	if code, _, _ := call("GET", "/", "", ""); code != 200 {
		t.Fatalf("version document without a token: %d", code)
	}
	code, _, h := call("GET", "/v2.0/networks", "", "", "X-User-Id", "u", "X-Project-Id", projA, "X-Roles", "admin")
	if code != 401 || h.Get("WWW-Authenticate") != `Keystone uri="`+ks.URL+`"` {
		t.Fatalf("identity headers without a token: %d %v", code, h)
	}

	code, out, _ := call("POST", "/v2.0/networks", tokA, `{"network": {"name": "a-net"}}`)
	if code != 201 {
		t.Fatalf("create as A: %d %v", code, out)
	}
	netA := out["network"].(map[string]any)
	if netA["project_id"] != projA {
		t.Fatalf("network owned by %v, want A's project %s", netA["project_id"], projA)
	}
	if _, hidden := netA["provider:segmentation_id"]; hidden {
		t.Error("a member sees provider attributes")
	}
	id := netA["id"].(string)

	// B, even claiming to be admin in A's project, sees nothing of A's.
	forged := []string{"X-Roles", "admin", "X-Project-Id", projA, "X-Tenant-Id", projA}
	code, out, _ = call("GET", "/v2.0/networks", tokB, "", forged...)
	if code != 200 || len(out["networks"].([]any)) != 0 {
		t.Fatalf("B lists: %d %v", code, out)
	}
	if code, _, _ := call("GET", "/v2.0/networks/"+id, tokB, "", forged...); code != 404 {
		t.Fatalf("B shows A's network: %d", code)
	}
	if code, _, _ := call("DELETE", "/v2.0/networks/"+id, tokB, "", forged...); code != 404 {
		t.Fatalf("B deletes A's network: %d", code)
	}
	if code, _, _ := call("POST", "/v2.0/networks", tokB, `{"network": {"name": "x", "provider:network_type": "vxlan"}}`, forged...); code != 403 {
		t.Fatalf("B sets a provider attribute: %d", code)
	}
	// The cloud admin sees A's network.
	code, out, _ = call("GET", "/v2.0/networks/"+id, ks.AdminToken(t), "")
	if code != 200 || out["network"].(map[string]any)["provider:segmentation_id"] == nil {
		t.Fatalf("admin shows A's network: %d %v", code, out)
	}
	if code, _, _ := call("DELETE", "/v2.0/networks/"+id, tokA, ""); code != 204 {
		t.Fatalf("A deletes its network: %d", code)
	}
}
