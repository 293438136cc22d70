package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
)

// The L3 agent refuses to start in a DVR mode (it builds legacy routers
// only) before it dials the server or touches the host.
func TestL3AgentRefusesDVRModes(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "neutron.conf")
	writeFile(t, conf, "[DEFAULT]\ntransport_url = grpc://127.0.0.1:1\nstate_path = "+dir+"\n")
	for _, mode := range []string{"dvr", "dvr_snat", "dvr_no_external"} {
		ini := filepath.Join(dir, "l3_agent.ini")
		writeFile(t, ini, "[DEFAULT]\ninterface_driver = linuxbridge\nagent_mode = "+mode+"\n")
		err := runL3Agent(context.Background(), []string{conf, ini}, slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), "agent_mode") || !strings.Contains(err.Error(), "legacy") {
			t.Errorf("agent_mode = %s: %v", mode, err)
		}
	}
}
