// Package ovs is the Open vSwitch data plane: it converges one node's OVS to
// a dataplane.NodeState the way neutron-openvswitch-agent does, so that
// operators see the same bridges, ports and flow tables.
//
// What it owns
//   - br-int and br-tun (integration_bridge, tunnel_bridge), fail_mode
//     secure, datapath_type from config, joined by patch-tun/patch-int.
//   - Tunnel ports on br-tun named "vxlan-" + the remote IPv4 as 8 hex
//     digits, type vxlan, options in_key=flow, out_key=flow, local_ip,
//     remote_ip (dst_port when not 4789). Ports named vxlan-* of type vxlan
//     that the state does not want are removed (after their flows).
//   - VM ports: interfaces on br-int with external_ids iface-id (as
//     Nova/os-vif plugs them). Devices() lists them; Apply sets Port.tag to
//     the network's local VLAN and stores net_uuid, network_type,
//     segmentation_id and tag in Port.other_config, as Neutron does, so a
//     restarted agent reuses the lvid. Ports the state does not bind get
//     the dead VLAN 4095. DeviceEvents (dataplane.DeviceNotifier) signals
//     when such an interface is added, changed or removed, from the same
//     OVSDB monitor cache, so the agent reacts without waiting for its
//     next polling pass.
//   - Provider bridges of [ovs] bridge_mappings (made by the operator,
//     adopted here), joined to br-int by int-<bridge>/phy-<bridge> patch
//     ports, with the VLAN translation flows of flat and vlan networks
//     (provider.go).
//   - Flows in Neutron's table layout (br-tun 0, 2, 3, 4, 6, 10, 20, 21,
//     22; br-int 0, 23, 59, 60), all tagged with this instance's cookie.
//   - With [securitygroup] firewall_driver = openvswitch, the security
//     groups of NodeState.Firewall as conntrack flows in br-int tables 60,
//     71-76, 81-86, 91-94 (firewall.go has the layout). A rule is written
//     once per security group on the node, not per port. The record is
//     grouped per port, per security group, per conjunction and per
//     remote-group member address, so a rule change sends the rule's flow
//     and a member joining or leaving one flow per direction.
//
// Layers. Flow computation is pure (IntFlows, TunFlows: state + Layout ->
// flows, in exactly the text `ovs-ofctl -O OpenFlow13 dump-flows` prints,
// checked against a dump recorded from the real Neutron agent), and so is
// the reconciliation (Diff: wanted vs dumped flows -> one bundle; diffSets:
// wanted vs installed, group by group). The I/O is OVSDB (libovsdb, typed
// hand-written models for the five tables we use, a monitor cache, one
// transaction per step) and OpenFlow (FlowClient).
//
// Apply order: bridges and patch ports; add or fix tunnel ports; tag VM
// ports; wait for ofports; per bridge, apply the difference as ONE
// OpenFlow bundle (adds first: an add replaces a flow with the same
// table/priority/match in place and gives it our cookie, so forwarding
// never stops; then strict deletes of our unwanted flows; then deletion of
// every other cookie with a full cookie mask); last, remove unwanted
// tunnel ports. Nothing is flushed at start.
//
// Cost per change. The data plane keeps what it installed on each bridge
// (a flowSet: the base pipeline plus one group per network, with the
// inputs each was computed from). An Apply recomputes only the networks
// whose entries, flood list or local VLAN changed and sends the difference
// of those groups; nothing is read from the switch, so one l2pop entry
// changed among 10,000 costs one bundle of three flow mods on the
// bridge's open OpenFlow connection (docs/BENCHMARKS.md). The bridge
// is read back (dump-flows) and compared flow by flow only when there is
// no trustworthy record: the first Apply (stale cookies of an earlier run
// are removed then), after Resync (the agent calls it at start, after a
// new snapshot or a reconnect, and every resync_interval: the audit that
// brings back flows deleted or changed by hand), after a failed bundle,
// and when ovs-vswitchd replaced the bridge's management socket, which it
// does when it restarts (a restarted switch has no flows; a br-tun with
// none of ours is reprogrammed completely and logged,
// LastApply().Reprogrammed). Drifted tells the agent about that restart
// with two stat calls, so it reprograms at its next polling pass, not at
// the next audit. Flows made by the learn action (table 20, priority 1,
// hard_timeout) are left alone.
//
// OpenFlow: our own persistent connection, not a process per change.
// Every bundle used to be one `ovs-ofctl --bundle add-flows` process; with
// the diff taken in memory that process was the whole cost of a change,
// and docs/BENCHMARKS.md measured it at 0.09-0.26 s for a bare `ovs-ofctl
// probe` and 0.7-1.9 s for a 1,000-flow bundle at load 30: above issue
// 13's 100 ms for a security-group change by itself. So the data plane
// keeps one OpenFlow 1.4 connection per bridge (internal/openflow; the Go
// OpenFlow libraries antrea.io/libOpenflow and ofnet are refused by this
// build's module proxy, so that package is the smallest client that does
// it), opened on first use, re-dialled when ovs-vswitchd restarts, closed
// by Close. A bundle is the same add-flows lines as before, parsed into
// typed flow mods (an unsupported token is an error, never dropped) and
// sent as OPEN, ADDs, BARRIER, COMMIT: atomic, and a rejected flow is
// named in the error. Every flow shape the generators make is installed
// through it and read back by ovs-ofctl in the tests, text for text.
// Reading flows back stays with `ovs-ofctl dump-flows` (start, resync and
// audit only; its text is the one our flows are written in).
// Config.OFInterface = "ovs-ofctl" (Neutron's of_interface values) brings
// back the process per bundle, for comparison (bench/dataplane/cost).
//
// vxlan_group (multicast BUM) is a Linux bridge feature; this data plane
// ignores Network.Group with a warning and always uses head-end
// replication.
package ovs
