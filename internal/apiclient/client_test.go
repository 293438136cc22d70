package apiclient_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"neutrino/internal/api/apitest"
	"neutrino/internal/apiclient"
	"neutrino/internal/neutron"
)

// The client against the real server stack: typed decoding of provider:*
// (into Segments), binding:*, agents' zone-less timestamps, and faults.
func TestClientRoundTrip(t *testing.T) {
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
	c := apiclient.New(srv.URL)

	n, err := c.CreateNetwork(ctx, neutron.NetworkCreate{Name: "n1", Segment: &neutron.Segment{NetworkType: "vxlan", SegmentationID: 1500}})
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Segments) != 1 || n.Segments[0].SegmentationID != 1500 || n.Segments[0].NetworkType != "vxlan" || n.MTU != 1450 {
		t.Fatalf("network: %+v", n)
	}
	if n.CreatedAt.IsZero() || n.ProjectID != "fake_project_id" {
		t.Fatalf("standard attributes: %+v", n.Standard)
	}
	gw := ""
	sn, err := c.CreateSubnet(ctx, neutron.SubnetCreate{NetworkID: n.ID, CIDR: "192.168.3.0/24", GatewayIP: &gw})
	if err != nil {
		t.Fatal(err)
	}
	if sn.GatewayIP != "" || sn.IPVersion != 4 {
		t.Fatalf("subnet: %+v", sn)
	}
	p, err := c.CreatePort(ctx, neutron.PortCreate{NetworkID: n.ID, Name: "p", HostID: "compute-9", DeviceOwner: "compute:nova",
		FixedIPs: []neutron.FixedIPRequest{{SubnetID: sn.ID, IPAddress: "192.168.3.7"}}})
	if err != nil {
		t.Fatal(err)
	}
	if p.HostID != "compute-9" || p.VIFType != neutron.VIFBindingFailed || len(p.FixedIPs) != 1 || p.FixedIPs[0].IPAddress != "192.168.3.7" {
		t.Fatalf("port: %+v", p)
	}
	l, err := c.ListPorts(ctx, apiclient.Query("network_id", n.ID))
	if err != nil || len(l) != 1 || l[0].ID != p.ID {
		t.Fatalf("list ports: %v %v", l, err)
	}
	if _, err := c.UpdatePort(ctx, p.ID, map[string]any{"name": "p2"}); err != nil {
		t.Fatal(err)
	}
	_, err = c.CreatePort(ctx, neutron.PortCreate{NetworkID: n.ID, FixedIPs: []neutron.FixedIPRequest{{SubnetID: sn.ID, IPAddress: "192.168.3.7"}}})
	if e, ok := neutron.AsError(err); !ok || e.Status != http.StatusConflict || e.Type != "IpAddressAlreadyAllocated" {
		t.Fatalf("duplicate IP: %v", err)
	}

	conf, _ := json.Marshal(map[string]any{"tunneling_ip": "198.18.0.9"})
	if _, err := s.Plugin.ReportState(ctx, neutron.AgentReport{AgentType: neutron.AgentTypeLinuxBridge, Binary: "neutron-linuxbridge-agent",
		Host: "compute-9", Topic: "N/A", Configurations: conf, StartFlag: true}); err != nil {
		t.Fatal(err)
	}
	agents, err := c.ListAgents(ctx, "")
	if err != nil || len(agents) != 1 {
		t.Fatalf("agents: %v %v", agents, err)
	}
	a := agents[0]
	if a.Host != "compute-9" || !a.Alive || time.Since(a.HeartbeatAt) > time.Hour || a.StartedAt.IsZero() {
		t.Fatalf("agent: %+v", a)
	}
	off := false
	if a2, err := c.UpdateAgent(ctx, a.ID, neutron.AgentUpdate{AdminStateUp: &off}); err != nil || a2.AdminStateUp {
		t.Fatalf("agent update: %+v %v", a2, err)
	}
	if err := c.DeleteAgent(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.DeletePort(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteSubnet(ctx, sn.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteNetwork(ctx, n.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetNetwork(ctx, n.ID); err == nil {
		t.Fatal("network still there")
	} else if e, ok := neutron.AsError(err); !ok || e.Type != "NetworkNotFound" {
		t.Fatalf("get deleted: %v", err)
	}
}
