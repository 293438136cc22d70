package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"neutrino/internal/agent"
	"neutrino/internal/config"
	"neutrino/internal/rpc"
)

// The seed's files as copied into the config package's test data.
var seedEtc = filepath.Join("..", "..", "internal", "config", "testdata", "seed")

func seedFile(t *testing.T, name string) string {
	t.Helper()
	for _, dir := range []string{seedEtc, os.Getenv("NEUTRINO_SEED_ETC")} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatalf("seed file %s not found in %s", name, seedEtc)
	return ""
}

// The seed's agent files load unchanged and give the agent what the
// seed's agents run with.
func TestSeedAgentFiles(t *testing.T) {
	for _, tc := range []struct {
		file  string
		l2pop bool
	}{{"ovs_neutron_plugin.ini", false}, {"ovs_neutron_plugin.l2pop.ini", true}} {
		cfg, _, err := config.LoadAgent(agent.KindOVS, seedFile(t, "neutron.conf"), seedFile(t, tc.file))
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		s := agent.SettingsFor(agent.KindOVS, cfg)
		if s.LocalIP.String() != "198.18.255.101" || s.UDPPort != 4789 || cfg.L2Population != tc.l2pop {
			t.Errorf("%s: settings %+v l2_population %t", tc.file, s, cfg.L2Population)
		}
		if _, err := rpc.ClientConfigFor(cfg); err != nil {
			t.Errorf("%s: transport: %v", tc.file, err)
		}
		r := agent.Report(agent.KindOVS, cfg, 0, true)
		if r.TunnelIP != "198.18.255.101" || len(r.TunnelTypes) != 1 || r.TunnelTypes[0] != "vxlan" {
			t.Errorf("%s: report %+v", tc.file, r)
		}
	}
}

// A rabbit:// transport_url is refused with advice before the data plane
// is touched.
func TestAgentRefusesRabbit(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "neutron.conf")
	if err := os.WriteFile(conf, []byte("[DEFAULT]\ntransport_url = rabbit://guest:secret@controller:5672/\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := runAgent(context.Background(), agent.KindOVS, []string{conf, seedFile(t, "ovs_neutron_plugin.l2pop.ini")}, "", slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "grpc://") {
		t.Fatalf("err %v, want advice to write grpc://", err)
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("error leaks the password: %v", err)
	}
}
