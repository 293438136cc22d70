// Package nftfw is the nftables firewall for ports on Linux bridges: the
// security groups and anti-spoofing of dataplane.Firewall for Linux bridge
// taps (firewall_driver = iptables) and the per-port qbr bridges of Open
// vSwitch's hybrid plugging (iptables_hybrid), plus the underlay filter that
// accepts VXLAN only from known VTEPs.
//
// Why nftables through a library, not iptables: Neutron's iptables driver
// forks iptables-save/iptables-restore for every change and rewrites whole
// tables, and it keeps remote groups in ipsets maintained by more forks. Here
// one update is one netlink transaction (atomic: the kernel sees the old or
// the new ruleset, never half of it) that carries only the difference: a
// member joining a remote group is one set element, a rule change rewrites
// the one chain of that rule set. github.com/google/nftables speaks the nf_tables
// netlink protocol directly, so nothing is exec'd and nothing is parsed
// from text.
//
// How the packet path works on this kernel: the nftables bridge family has
// no conntrack (CONFIG_NF_CONNTRACK_BRIDGE is off), but br_netfilter passes
// bridged IPv4/IPv6 through the inet family's hooks, where conntrack works,
// with the bridge (not the port) as in/out interface. So the bridge table
// classifies by port: its prerouting chain jumps, per tap, to spoof-<tap>
// (anti-spoofing: the port's MAC and allowed addresses, ARP included) which
// also puts the port's index in the upper half of the packet mark; its
// forward chain jumps to to-<tap>, which ORs the receiving port's index into
// the lower half. The inet table's forward chain dispatches on the two
// halves with verdict maps to egress-<tap> and ingress-<tap> (Neutron's
// o- and i- chains of the same tap; spoof-<tap> is its s- chain): what
// every port may do (DHCP client, ICMPv6 neighbour discovery; no DHCP
// server, no router advertisements), established and related return,
// invalid drops, then a goto to the chain of the port's security-group
// rules. Ports with the same rules share one such chain (rules-egress-<n>,
// rules-ingress-<n>): an allowed packet returns, the rest drops. So a rule
// change rewrites the one shared chain in place, whatever the number of
// ports it applies to. Conntrack zones are per bridge (a network for Linux
// bridge, a port for qbr), so overlapping subnets of different networks
// never share connections.
// Remote groups are named sets (IPv4-<group id>, IPv6-<group id>).
//
// The code is split like dataplane/linux: Plan is pure (Input -> Ruleset,
// rendered as the `nft list ruleset`-like text of the golden tests), Diff
// compares two Rulesets into the operations of one transaction, and the
// Applier reads what the kernel holds, runs the difference and never
// flushes on start: what an earlier run made is adopted (port indices,
// rules chains and zones are read back from the kernel's maps and rules),
// so a restarted agent does not drop a packet. A chain's content is
// compared by a checksum kept in the comment of its last rule. Big element
// lists go in several messages of one batch (a netlink attribute holds 64
// KiB at most) and the socket buffers are forced up as nft does, so even a
// first Apply of a thousand ports is one transaction.
package nftfw
