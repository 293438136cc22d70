// Package lab builds test and demo topologies out of Linux network
// namespaces: "nodes" (a controller and computes) joined by an underlay
// bridge that lives in its own namespace, "VMs" (namespaces plugged into a
// node with a veth pair, the way Nova plugs a Linux bridge VIF), and a
// router-like namespace carrying a network's gateway IP.
//
// Every object is named "nt-<6 hex>-<role>" so that labs of several
// concurrent test runs never collide, and nothing is ever created in the
// root namespace: the underlay (198.18.0.0/15) exists only inside the lab's
// namespaces. Teardown removes everything the lab made, including VM
// namespaces made by other processes (`neutrino vm boot`) under the lab's
// prefix, and kills the processes the lab started, by PID.
//
// Namespaces are created and entered with vishvananda/netns and links made
// with vishvananda/netlink; the only external programs are the probes that
// tests and benchmarks run inside namespaces (ping, arping, iperf3, tcpdump).
// Those are started with the calling OS thread switched into the namespace,
// so the child inherits it without needing `ip netns exec`.
package lab
