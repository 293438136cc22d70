package ovs

import (
	"fmt"
	"net/netip"
)

// TunnelPortName is Neutron's tunnel port name for an IPv4 remote VTEP:
// "vxlan-" + the address as 8 hex digits (198.18.0.2 -> vxlan-c6120002).
func TunnelPortName(remote netip.Addr) (string, error) {
	if !remote.Is4() {
		return "", fmt.Errorf("tunnel to %s: only IPv4 VTEPs are supported", remote)
	}
	b := remote.As4()
	return fmt.Sprintf("vxlan-%02x%02x%02x%02x", b[0], b[1], b[2], b[3]), nil
}

// Patch port names (Neutron's defaults for int_peer_patch_port and
// tun_peer_patch_port).
const (
	patchTun = "patch-tun" // on br-int
	patchInt = "patch-int" // on br-tun
)

// HybridNames are the devices os-vif makes for a port with hybrid plugging
// (binding:vif_details ovs_hybrid_plug = true, firewall_driver =
// iptables_hybrid): the Linux bridge qbr<id>, the VM's tap<id> on it, and
// the veth pair qvb<id> (on qbr) / qvo<id> (on br-int, with iface-id),
// each suffixed with the first 11 characters of the port id.
func HybridNames(portID string) (qbr, tap, qvb, qvo string) {
	id := portID
	if len(id) > 11 {
		id = id[:11]
	}
	return "qbr" + id, "tap" + id, "qvb" + id, "qvo" + id
}
