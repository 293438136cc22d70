package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"neutrino/internal/api/apitest"
)

// runCLI runs `neutrino <args>` (client verbs only) and returns stdout.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := &cobra.Command{Use: "neutrino", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(clientCmds()...)
	agent := &cobra.Command{Use: "agent"}
	agent.AddCommand(agentClientSubcommands()...)
	root.AddCommand(agent)
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func TestClientVerbs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg, err := apitest.LoadConfig(dir, apitest.ReferenceINI)
	if err != nil {
		t.Fatal(err)
	}
	s, err := apitest.NewStack(ctx, dir, "", cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	srv := httptest.NewServer(s.Handler)
	defer srv.Close()
	t.Setenv("OS_URL", srv.URL)
	must := func(args ...string) string {
		t.Helper()
		out, err := runCLI(t, args...)
		if err != nil {
			t.Fatalf("neutrino %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	jsonOf := func(out string) map[string]any {
		t.Helper()
		var m map[string]any
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, out)
		}
		return m
	}

	n := jsonOf(must("network", "create", "cli-net", "--provider-network-type", "vxlan", "--provider-segment", "1234", "-f", "json"))
	if n["provider:segmentation_id"] != float64(1234) || n["name"] != "cli-net" {
		t.Fatalf("network create: %v", n)
	}
	// In noauth mode --os-project-id goes into the body too (else Neutron
	// answers 400 "Running without keystone AuthN ...").
	tn := jsonOf(must("network", "create", "cli-tenant", "--os-project-id", "b2", "-f", "json"))
	if tn["project_id"] != "b2" {
		t.Fatalf("tenant network: %v", tn)
	}
	sub := jsonOf(must("subnet", "create", "cli-sub", "--network", "cli-net", "--subnet-range", "192.168.4.0/24", "-f", "json"))
	if sub["gateway_ip"] != "192.168.4.1" {
		t.Fatalf("subnet: %v", sub)
	}
	p := jsonOf(must("port", "create", "cli-port", "--network", "cli-net", "--fixed-ip", "subnet="+sub["id"].(string)+",ip-address=192.168.4.20", "--host", "compute-1", "-f", "json"))
	if p["binding:host_id"] != "compute-1" || !strings.Contains(must("port", "show", "cli-port"), "192.168.4.20") {
		t.Fatalf("port: %v", p)
	}
	table := must("network", "list")
	lines := strings.Split(strings.TrimSpace(table), "\n")
	// +---+ / header / +---+ / 2 rows / +---+, every line the same width.
	if len(lines) != 6 || !strings.HasPrefix(lines[1], "| ID ") || !strings.Contains(table, "cli-net") || !strings.Contains(table, sub["id"].(string)) {
		t.Fatalf("network list:\n%s", table)
	}
	for _, l := range lines {
		if len(l) != len(lines[0]) {
			t.Fatalf("ragged table:\n%s", table)
		}
	}
	up := jsonOf(must("network", "update", "cli-net", "--name", "cli-net2", "--disable", "-f", "json"))
	if up["name"] != "cli-net2" || up["admin_state_up"] != false {
		t.Fatalf("update: %v", up)
	}
	if out := must("agent", "list"); !strings.Contains(out, "Agent Type") {
		t.Fatalf("agent list:\n%s", out)
	}
	if _, err := runCLI(t, "network", "show", "nope"); err == nil || !strings.Contains(err.Error(), `no network with a name or ID of "nope"`) {
		t.Fatalf("show unknown: %v", err)
	}
	if _, err := runCLI(t, "network", "delete", "cli-net2"); err == nil || !strings.Contains(err.Error(), "NetworkInUse") {
		t.Fatalf("delete in use: %v", err)
	}
	must("port", "delete", "cli-port")
	must("subnet", "delete", "cli-sub")
	must("network", "delete", "cli-net2", "cli-tenant")
	if out := must("network", "list", "-f", "json"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("after delete: %s", out)
	}
}
