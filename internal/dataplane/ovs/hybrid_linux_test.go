package ovs

import (
	"testing"

	"neutrino/internal/dataplane/nftfw"
)

// TestHybridInput: each port is filtered on its tap on its own qbr bridge
// (os-vif's names), and the underlay filter gets the VXLAN port.
func TestHybridInput(t *testing.T) {
	s, _ := fwState()
	s.Firewall.Driver = DriverHybrid
	in := hybridInput(s)
	if got, want := in.Ifaces[portA], (nftfw.Iface{Name: "tapaaaaaaaa-00", Bridge: "qbraaaaaaaa-00"}); got != want {
		t.Errorf("port A iface %+v, want %+v", got, want)
	}
	if len(in.Ifaces) != len(s.Firewall.Ports) || in.VXLANPort != 4789 {
		t.Errorf("input %+v", in)
	}
	if qbr, tap, qvb, qvo := HybridNames(portB); qbr != "qbrbbbbbbbb-00" || tap != "tapbbbbbbbb-00" || qvb != "qvbbbbbbbbb-00" || qvo != "qvobbbbbbbb-00" {
		t.Errorf("HybridNames = %s %s %s %s", qbr, tap, qvb, qvo)
	}
}
