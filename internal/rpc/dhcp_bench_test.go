package rpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"testing"
	"time"

	"neutrino/internal/neutron"
)

// staticBackend serves one fixed state and an empty change log.
type staticBackend struct{ st *neutron.State }

func (b staticBackend) ReportState(context.Context, neutron.AgentReport) (*neutron.Agent, error) {
	return nil, errors.New("static")
}
func (b staticBackend) UpdateDevice(context.Context, string, string, bool) (*neutron.Port, error) {
	return nil, errors.New("static")
}
func (b staticBackend) Snapshot(context.Context) (*neutron.State, error) { return b.st, nil }
func (b staticBackend) Changes(context.Context, int64, int) ([]neutron.Change, error) {
	return nil, nil
}
func (b staticBackend) Committed() <-chan struct{} { return make(chan struct{}) }

// dhcpAgentState is one DHCP agent on host hosting n networks, each with a
// DHCP subnet, the agent's DHCP port and vms VM ports.
func dhcpAgentState(host string, n, vms int) *neutron.State {
	st := &neutron.State{Revision: 1}
	st.Agents = append(st.Agents, neutron.Agent{ID: "agent-" + host, Host: host, AgentType: neutron.AgentTypeDHCP})
	for i := 0; i < n; i++ {
		netID := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		var nw neutron.Network
		nw.ID, nw.MTU = netID, 1450
		st.Networks = append(st.Networks, nw)
		var s neutron.Subnet
		s.ID, s.NetworkID, s.IPVersion, s.EnableDHCP = fmt.Sprintf("sub-%d", i), netID, 4, true
		s.CIDR, s.GatewayIP, s.DNSNameservers = fmt.Sprintf("10.%d.%d.0/24", i/256, i%256), fmt.Sprintf("10.%d.%d.1", i/256, i%256), []string{"198.18.0.53"}
		st.Subnets = append(st.Subnets, s)
		st.DHCPBindings = append(st.DHCPBindings, neutron.DHCPBinding{NetworkID: netID, AgentID: "agent-" + host})
		for j := 0; j <= vms; j++ {
			var p neutron.Port
			p.ID, p.NetworkID = fmt.Sprintf("port-%d-%d", i, j), netID
			p.MACAddress = fmt.Sprintf("fa:16:3e:%02x:%02x:%02x", i/256, i%256, j)
			p.FixedIPs = []neutron.FixedIP{{SubnetID: s.ID, IPAddress: fmt.Sprintf("10.%d.%d.%d", i/256, i%256, j+2)}}
			p.DeviceOwner = "compute:nova"
			if j == 0 {
				p.DeviceOwner, p.DeviceID = neutron.DeviceOwnerDHCP, neutron.DHCPDeviceID(host, netID)
			}
			st.Ports = append(st.Ports, p)
		}
	}
	return st
}

// BenchmarkDHCPFullSync is a DHCP agent's full sync after a restart: it
// opens WatchDHCP from revision 0 and decodes the snapshot of every
// network it hosts (each with 10 VM ports), over loopback gRPC.
func BenchmarkDHCPFullSync(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("networks=%d", n), func(b *testing.B) {
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			srv := NewServer(staticBackend{dhcpAgentState("net-node", n, 10)}, ServerConfig{PollInterval: time.Hour, Logger: slog.New(slog.DiscardHandler)})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- srv.Serve(ctx, lis) }()
			defer func() { cancel(); <-done }()
			c, err := Dial(ClientConfig{Target: lis.Addr().String()})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			stop := errors.New("synced")
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				got := 0
				err := c.WatchDHCP(ctx, "net-node", 0, func(u DHCPUpdate) error {
					got = len(u.Snapshot.Networks)
					return stop
				})
				if !errors.Is(err, stop) || got != n {
					b.Fatalf("sync: %v, %d networks", err, got)
				}
			}
			b.StopTimer()
			st := srv.Stats()
			b.ReportMetric(float64(st.Bytes)/float64(st.Messages), "bytes/sync")
		})
	}
}
