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

// l3AgentState is one L3 agent on host hosting n routers, each with two
// interfaces (its own tenant network), a gateway on one external network
// and fips floating IPs.
func l3AgentState(host string, n, fips int) *neutron.State {
	st := &neutron.State{Revision: 1}
	st.Agents = append(st.Agents, neutron.Agent{ID: "agent-" + host, Host: host, AgentType: neutron.AgentTypeL3})
	var ext neutron.Network
	ext.ID, ext.MTU = "ext", 1500
	st.Networks = append(st.Networks, ext)
	var es neutron.Subnet
	es.ID, es.NetworkID, es.IPVersion, es.CIDR, es.GatewayIP = "ext-sub", "ext", 4, "198.18.0.0/16", "198.18.0.1"
	st.Subnets = append(st.Subnets, es)
	port := func(id, net, owner, router string, ips ...neutron.FixedIP) {
		var p neutron.Port
		p.ID, p.NetworkID, p.DeviceOwner, p.DeviceID, p.FixedIPs = id, net, owner, router, ips
		p.MACAddress = fmt.Sprintf("fa:16:3e:%02x:%02x:%02x", len(st.Ports)>>16&255, len(st.Ports)>>8&255, len(st.Ports)&255)
		st.Ports = append(st.Ports, p)
	}
	for i := 0; i < n; i++ {
		rid := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		var r neutron.Router
		r.ID, r.AdminStateUp, r.GatewayPortID = rid, true, "gw-"+rid
		r.GatewayInfo = &neutron.GatewayInfo{NetworkID: "ext", EnableSNAT: true}
		st.Routers = append(st.Routers, r)
		st.L3Bindings = append(st.L3Bindings, neutron.L3Binding{RouterID: rid, AgentID: "agent-" + host})
		port("gw-"+rid, "ext", neutron.DeviceOwnerRouterGateway, rid, neutron.FixedIP{SubnetID: "ext-sub", IPAddress: fmt.Sprintf("198.18.%d.%d", 1+i/250, 2+i%250)})
		for j := 0; j < 2; j++ {
			netID := fmt.Sprintf("net-%d-%d", i, j)
			var nw neutron.Network
			nw.ID, nw.MTU = netID, 1450
			st.Networks = append(st.Networks, nw)
			var s neutron.Subnet
			s.ID, s.NetworkID, s.IPVersion = "sub-"+netID, netID, 4
			s.CIDR, s.GatewayIP = fmt.Sprintf("10.%d.%d.0/24", j, i%256), fmt.Sprintf("10.%d.%d.1", j, i%256)
			st.Subnets = append(st.Subnets, s)
			port(fmt.Sprintf("qr-%d-%d", i, j), netID, neutron.DeviceOwnerRouterInterface, rid, neutron.FixedIP{SubnetID: s.ID, IPAddress: s.GatewayIP})
		}
		for k := 0; k < fips; k++ {
			var f neutron.FloatingIP
			f.ID, f.RouterID, f.PortID = fmt.Sprintf("fip-%d-%d", i, k), rid, fmt.Sprintf("vm-%d-%d", i, k)
			f.FloatingIPAddress, f.FixedIPAddress = fmt.Sprintf("198.19.%d.%d", i/64, (i%64)*4+k), fmt.Sprintf("10.0.%d.%d", i%256, 10+k)
			st.FloatingIPs = append(st.FloatingIPs, f)
		}
	}
	return st
}

// BenchmarkL3FullSync is an L3 agent's full sync after a restart: it opens
// WatchL3 from revision 0 and decodes the snapshot of every router it
// hosts (two interfaces, a gateway and two floating IPs each), over
// loopback gRPC.
func BenchmarkL3FullSync(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("routers=%d", n), func(b *testing.B) {
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			srv := NewServer(staticBackend{l3AgentState("net-node", n, 2)}, ServerConfig{PollInterval: time.Hour, Logger: slog.New(slog.DiscardHandler)})
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
				got, fips := 0, 0
				err := c.WatchL3(ctx, "net-node", 0, func(u L3Update) error {
					got = len(u.Snapshot.Routers)
					for _, r := range u.Snapshot.Routers {
						if len(r.Interfaces) != 2 || r.Gateway == nil {
							return fmt.Errorf("router %s incomplete: %+v", r.ID, r)
						}
						fips += len(r.FloatingIPs)
					}
					return stop
				})
				if !errors.Is(err, stop) || got != n || fips != 2*n {
					b.Fatalf("sync: %v, %d routers, %d floating IPs", err, got, fips)
				}
			}
			b.StopTimer()
			st := srv.Stats()
			b.ReportMetric(float64(st.Bytes)/float64(st.Messages), "bytes/sync")
		})
	}
}
