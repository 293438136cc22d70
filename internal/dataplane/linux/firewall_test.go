package linux

import (
	"testing"

	"neutrino/internal/dataplane"
	"neutrino/internal/dataplane/nftfw"
)

func TestFirewallInputNamesTapsAndBridges(t *testing.T) {
	port := "4f63feaf-e92a-4045-8e45-d3160c99fb84"
	net := "3f0e2b1c-9d7a-4c55-8f21-6b0d9e4a7c11"
	in := firewallInput(dataplane.NodeState{UDPPort: 4789,
		Ports:    map[string]dataplane.LocalPort{port: {ID: port, NetworkID: net}},
		Firewall: dataplane.Firewall{Driver: "iptables", Ports: map[string]dataplane.PortFilter{port: {PortID: port}}}})
	want := nftfw.Iface{Name: "tap4f63feaf-e9", Bridge: "brq3f0e2b1c-9d"}
	if got := in.Ifaces[port]; got != want || in.VXLANPort != 4789 {
		t.Errorf("iface %+v port %d, want %+v 4789", got, in.VXLANPort, want)
	}
}
