// Package dataplane defines what a node agent asks of a data plane: one
// value, NodeState, that describes everything the node must realise, and the
// Dataplane interface that converges the real system (kernel or Open
// vSwitch) to it. Implementations: dataplane/linux (vxlan devices and
// bridges via netlink), dataplane/ovs (OVSDB + OpenFlow) and dataplane/fake
// (in memory, for unit tests and scale runs).
//
// The agent computes NodeState from the server's stream and its own config;
// the data plane never talks to the server or the database.
package dataplane

import (
	"context"
	"net/netip"
)

// NodeState is the whole desired state of one node.
type NodeState struct {
	// LocalIP is this node's VTEP address (local_ip).
	LocalIP netip.Addr
	// UDPPort is the VXLAN destination port (vxlan_udp_port / udp_dstport).
	UDPPort int
	// Tunnels lists the remote VTEPs this node keeps a tunnel to: every
	// other VTEP without l2population (full mesh), only those sharing a
	// network with an active port here with it (partial mesh). OVS creates
	// one tunnel port per entry; the Linux data plane has no per-peer
	// object and ignores it.
	Tunnels []netip.Addr
	// Networks are the networks with at least one local port, by network id.
	Networks map[string]Network
	// Ports are the local VM ports bound to this host, by port id.
	Ports map[string]LocalPort
	// Firewall is what the node's firewall driver enforces (security
	// groups, anti-spoofing, the underlay VXLAN filter).
	Firewall Firewall
}

// Network is one network as this node realises it: an overlay (vxlan,
// gre) tunnelled between VTEPs, or a provider network (flat, vlan) on a
// physical network that the agent's bridge_mappings or
// physical_interface_mappings name.
type Network struct {
	ID string
	// Type is the segment type: "vxlan", "gre", "flat" or "vlan".
	Type string
	// VNI is an overlay's segmentation id; 0 for provider networks.
	VNI uint32
	MTU int
	// PhysicalNetwork is a provider network's physnet; "" for overlays.
	PhysicalNetwork string
	// VLAN is a vlan network's 802.1Q id on its physnet; 0 otherwise
	// (flat networks are untagged).
	VLAN uint16
	// Flood lists the VTEPs that get a copy of broadcast, unknown unicast
	// and multicast frames (head-end replication). Empty with Group set,
	// and for provider networks: the physical network carries their
	// broadcasts. Group, L2Pop, ARPResponder and Entries are likewise
	// overlay-only.
	Flood []netip.Addr
	// Group is the multicast group for BUM traffic (Linux bridge with
	// vxlan_group and without l2population); invalid when unused.
	Group netip.Addr
	// L2Pop is true when forwarding entries come from the server: the
	// data plane turns learning off where it can and installs Entries.
	L2Pop bool
	// ARPResponder answers ARP for Entries locally (arp_responder).
	ARPResponder bool
	// Entries are the remote ports of the network: MAC and IP behind VTEP.
	Entries []Entry
}

// Provider reports whether the network rides a physical network (flat or
// vlan) rather than a tunnel.
func (n Network) Provider() bool { return n.PhysicalNetwork != "" }

// Entry says a MAC (and IP, when the port has one) lives behind a VTEP.
type Entry struct {
	MAC  string // lower-case aa:bb:cc:dd:ee:ff
	IP   netip.Addr
	VTEP netip.Addr
}

// LocalPort is a VM port bound to this host that the data plane must attach
// to its network.
type LocalPort struct {
	ID        string
	NetworkID string
	MAC       string
}

// Device is a VM interface the data plane found on the node: a tap device
// (Linux bridge naming: "tap" + first 11 chars of the port id) or an OVS
// interface with external_ids iface-id.
type Device struct {
	// PortID is the full port id when the data plane knows it (OVS
	// iface-id), else the 11-character prefix from the tap name.
	PortID string
	// Name is the device name on the node.
	Name string
	MAC  string
	// Up is true when the device exists and is administratively up.
	Up bool
}

// Dataplane converges one node's data plane to a NodeState.
type Dataplane interface {
	// Apply makes the data plane match desired: it compares with what the
	// system has (read back, or, for a Resyncer, what it installed
	// itself since its last read-back), adds, changes and removes only the
	// difference, and keeps going
	// past a failing object (errors.Join). It is safe to call again with
	// the same state, and must never tear down and re-create what is
	// already right (traffic keeps flowing). Objects it owns but that are
	// not in desired (left by an earlier run) are removed, so the agent
	// calls Apply only after its first full state from the server.
	Apply(ctx context.Context, desired NodeState) error
	// Devices lists the VM interfaces present on the node.
	Devices(ctx context.Context) ([]Device, error)
	// Close releases connections; it does not remove anything it made.
	Close() error
}

// Resyncer is implemented by data planes whose Apply diffs against a
// record of what they installed instead of reading the whole system back,
// so that the cost of an Apply follows the change, not the node's size.
// The record can go stale behind their back (a flow or entry deleted by
// hand, a daemon restarted): the agent calls Resync at start, after a
// reconnect and periodically (resync_interval), and Drifted on every
// polling pass.
type Resyncer interface {
	// Resync makes the next Apply read the system back completely and
	// repair every difference.
	Resync()
	// Drifted reports, cheaply and without a read-back, whether the next
	// Apply would read back anyway because the data plane knows its record
	// is stale (e.g. the switch daemon restarted), so the agent applies
	// even though its desired state did not change.
	Drifted() bool
}

// DeviceNotifier is implemented by data planes that can tell when VM
// devices may have changed (an OVSDB monitor, a netlink subscription), so
// the agent reacts at once instead of at its next polling_interval. Events
// carry no data and are coalesced: the channel has a buffer of one and
// senders never block, so a burst of changes wakes the reader once and it
// re-reads Devices. Polling stays the safety net for a lost event.
type DeviceNotifier interface {
	DeviceEvents() <-chan struct{}
}

// Events is the coalescing channel behind a DeviceNotifier, one source of
// the buffer-of-one, never-block rule for every data plane.
type Events chan struct{}

// NewEvents makes an Events with its buffer of one.
func NewEvents() Events { return make(Events, 1) }

// Notify signals an event without blocking; one already pending absorbs it.
func (e Events) Notify() {
	select {
	case e <- struct{}{}:
	default:
	}
}
