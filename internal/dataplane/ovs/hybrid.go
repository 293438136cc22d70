package ovs

import (
	"context"

	"neutrino/internal/dataplane"
)

// portFirewall filters ports outside OVS: with firewall_driver =
// iptables_hybrid, the nftables firewall (dataplane/nftfw, the Linux
// bridge agent's) on each port's qbr bridge, where the VM's tap sits
// between the VM and br-int (os-vif's hybrid plugging). The OVS side
// needs nothing special: qvo is an ordinary VM port on br-int, switched
// with NORMAL. Linux only (hybrid_linux.go).
type portFirewall interface {
	// apply converges the node's nftables to s and returns the number of
	// rules and set elements it changed.
	apply(ctx context.Context, s dataplane.NodeState) (int, error)
	// resync makes the next apply read the kernel back.
	resync()
}
