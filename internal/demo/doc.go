// Package demo is `neutrino demo`: the seed document's walkthrough, live,
// with real packets. It builds the seed's three nodes (and a fourth for the
// l2population step) as network namespaces on one underlay (internal/lab),
// starts `neutrino server` on an embedded SQLite database and one
// `neutrino agent` per node as child processes of the same binary,
// configured with copies of the seed's own files (each agent with a
// firewall, as the seed's), plus the DHCP and L3 agents on the controller.
// It creates testnet, the external network public (flat, on physnet1,
// whose upstream is the lab's "outside" namespace) and a router joining
// them, which the L3 agent builds as qrouter-<router id> (router.go); boots
// two VMs, shows the default security group dropping the router's pings
// until a rule admits ICMP (secgroups.go), runs the seed's ping and arping
// from the router's namespace, reaches a VM from the outside by a floating
// IP, and counts the copies of one ARP broadcast on the underlay in each
// mode (full mesh, multicast group for linuxbridge, l2population, ARP
// responder), with captures decoded by internal/vxlan and written as pcap
// files.
//
// Run returns a Result (the facts it printed) besides the narration, so a
// test can assert them. Everything it makes is recorded in a control file
// (demo.json in the lab state directory) as it is made, so that
// `neutrino demo down` can remove it after `--keep` or a crash; processes
// are ended by PID only after checking /proc says they are what was started.
//
// The pure parts (config copies, tables, parsing of ovs-vsctl, ovs-ofctl and
// bridge output) are in config.go and render.go, unit-tested. The I/O:
// demo.go runs the steps, nodes.go builds nodes and starts the server and
// agents, vms.go creates testnet and plugs the VMs, router.go runs the L3
// agent, the router and the floating-IP step, tunnels.go reads and
// waits for the data planes, packets.go and capture.go capture and count,
// proc.go and down.go keep the control file and remove a demo.
package demo
