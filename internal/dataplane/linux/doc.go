// Package linux is the Linux kernel data plane, as Neutron's Linux bridge
// agent builds it: per network a bridge "brq" + network id[:11] and a vxlan
// device "vxlan-<VNI>" enslaved to it; VM taps ("tap" + port id[:11],
// plugged by Nova/the lab) are found and attached to their network's bridge.
// BUM traffic goes to the multicast group (vxlan_group without
// l2population), to all-zero FDB entries towards the VTEPs in each
// network's flood list (l2population; head-end replication) or to every
// other VTEP (neither). With l2population kernel learning is off and a
// permanent FDB entry per remote MAC is installed; with arp_responder the
// vxlan device's proxy flag answers ARP from permanent neighbour entries.
//
// Flat and vlan (provider) networks: with physical_interface_mappings =
// physnet1:eth1 a flat network's brq bridge enslaves eth1 itself and a
// vlan network's enslaves the subinterface eth1.<vlan> (Neutron's name,
// shortened with a hash when too long), which the agent creates and marks
// with the interface alias "neutrino" so that it deletes only those it
// made; an existing subinterface is used as it is. Kernels without 802.1Q
// devices (no 8021q module) cannot carry vlan networks: Apply says so.
//
// Everything goes through netlink (vishvananda/netlink) against one network
// namespace; nothing execs `ip` or `bridge`. The code is split in two: a pure
// part (model.go) that turns the kernel's current objects and the desired
// NodeState into an ordered list of operations, rendered as the equivalent
// `ip`/`bridge` commands for golden tests, and a thin netlink part that
// reads the kernel and executes those operations.
//
// Ownership: links named brq<11 chars> of kind bridge, vxlan-<digits> of
// kind vxlan and VLAN devices with our alias belong to us; FDB entries
// are managed only when static (permanent/noarp, "self") on our vxlan
// devices and neighbour entries only when permanent on our vxlan devices. Learned entries and every other
// object are never touched. Taps belong to Nova: we attach and detach them
// but never delete them.
//
// The firewall (firewall_driver = iptables, as Neutron names it) is
// dataplane/nftfw on the taps, each on its network's bridge, plus the
// underlay filter for the VTEPs the desired state lists (firewall.go). Apply converges L2 and the firewall
// independently and joins their errors, so one failing never holds up the
// other.
//
// DeviceEvents (dataplane.DeviceNotifier) signals tap changes seen on a
// netlink link subscription in the namespace (events.go), so the agent
// does not wait for its polling pass; Neutron's Linux bridge agent polls.
package linux
