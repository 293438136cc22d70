package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"neutrino/internal/sharedtest"
)

// TestServerSeedConfig starts `neutrino server` on the seed's own files
// (plus an override for the database, the state path and the ports),
// creates a network over HTTP and stops it by cancelling the context, as
// SIGTERM does.
func TestServerSeedConfig(t *testing.T) {
	seed := sharedtest.Path(t, "NEUTRINO_SEED_ETC", "seed/etc")
	for _, f := range []string{"neutron.conf", "ml2_conf.ini"} {
		if _, err := os.Stat(filepath.Join(seed, f)); err != nil {
			t.Fatalf("seed config %s missing (set NEUTRINO_SEED_ETC): %v", f, err)
		}
	}
	dir := t.TempDir()
	over := filepath.Join(dir, "override.conf")
	rpcPort := freePort(t)
	os.WriteFile(over, []byte(fmt.Sprintf("[DEFAULT]\nbind_port = %d\nrpc_bind_port = %d\nstate_path = %s\n[database]\nconnection =\n", freePort(t), rpcPort, dir)), 0o600)
	files := []string{filepath.Join(seed, "neutron.conf"), filepath.Join(seed, "ml2_conf.ini"), over}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))

	// Without --auto-migrate a fresh database is refused, naming the fix.
	err := runServer(context.Background(), logger, files, false, nil)
	if err == nil || !strings.Contains(err.Error(), "neutrino db upgrade head") {
		t.Fatalf("un-migrated database: got %v, want a message naming `neutrino db upgrade head`", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- runServer(ctx, logger, files, true, ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("server exited: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("server did not start")
	}
	resp, err := http.Post("http://"+addr+"/v2.0/networks", "application/json", strings.NewReader(`{"network": {"name": "seed-net"}}`))
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Network map[string]any `json:"network"`
	}
	json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	// The seed: type_drivers = vxlan, vni_ranges = 1001:2000.
	vni, _ := out.Network["provider:segmentation_id"].(float64)
	if resp.StatusCode != 201 || out.Network["provider:network_type"] != "vxlan" || vni < 1001 || vni > 2000 {
		t.Fatalf("create on the seed config: %d %v", resp.StatusCode, out.Network)
	}
	// The agents' gRPC endpoint listens too.
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", rpcPort), 5*time.Second)
	if err != nil {
		t.Fatalf("agents' gRPC port: %v", err)
	}
	conn.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("server stopped with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("server did not stop")
	}
	if _, err := http.Get("http://" + addr + "/"); err == nil {
		t.Fatal("API still answers after stop")
	}
}

// freePort asks the kernel for a free loopback port (config refuses 0).
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
