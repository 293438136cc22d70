package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// `neutrino server` refuses to start when the agents' endpoint would be
// reachable beyond loopback with neither rpc_token nor client
// certificates, and says which options fix it; nothing is left listening.
func TestServerRefusesOpenAgentEndpoint(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, host := range []string{"0.0.0.0", "::", "198.18.0.1"} {
		t.Run(host, func(t *testing.T) {
			dir := t.TempDir()
			apiPort, rpcPort := freePort(t), freePort(t)
			conf := filepath.Join(dir, "neutron.conf")
			os.WriteFile(conf, []byte(fmt.Sprintf("[DEFAULT]\nbind_port = %d\nrpc_bind_host = %s\nrpc_bind_port = %d\nstate_path = %s\n", apiPort, host, rpcPort, dir)), 0o600)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := runServer(ctx, logger, []string{conf}, true, nil)
			if err == nil {
				t.Fatal("server ran with an open agents' endpoint")
			}
			for _, name := range []string{"rpc_bind_host", "rpc_token", "rpc_tls_cert_file", "rpc_tls_key_file", "rpc_tls_client_ca_file"} {
				if !strings.Contains(err.Error(), name) {
					t.Errorf("error does not name %s: %v", name, err)
				}
			}
			for _, port := range []int{apiPort, rpcPort} {
				if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
					c.Close()
					t.Errorf("port %d is listening after the refusal", port)
				}
			}
		})
	}
}
