package ovs

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"neutrino/internal/lab"
)

// spoofedVXLAN is a VXLAN payload (header + inner frame) carrying an ICMP
// echo request from an address nobody owns to the VM dst on vni.
func spoofedVXLAN(t *testing.T, vni uint32, dstMAC string, dst netip.Addr) []byte {
	t.Helper()
	dmac, _ := net.ParseMAC(dstMAC)
	smac, _ := net.ParseMAC("fa:16:3e:00:00:77")
	eth := &layers.Ethernet{SrcMAC: smac, DstMAC: dmac, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4,
		SrcIP: net.IP{192, 168, 1, 77}, DstIP: net.IP(dst.AsSlice())}
	icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 7, Seq: 1}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true},
		eth, ip, icmp, gopacket.Payload("spoofed")); err != nil {
		t.Fatal(err)
	}
	hdr := make([]byte, 8)
	hdr[0] = 0x08 // I flag: the VNI is valid
	binary.BigEndian.PutUint32(hdr[4:], vni<<8)
	return append(hdr, buf.Bytes()...)
}

// sendUDP sends payload from namespace ns to to:4789 (the kernel picks
// the source address: the namespace's own).
func sendUDP(t *testing.T, ns string, to netip.Addr, payload []byte, n int) {
	t.Helper()
	err := lab.InNS(ns, func() error {
		// Unconnected: a port-unreachable from the target (its kernel has
		// no VXLAN socket) must not fail the next send.
		c, err := net.ListenUDP("udp4", nil)
		if err != nil {
			return err
		}
		defer c.Close()
		for range n {
			if _, err := c.WriteToUDPAddrPort(payload, netip.AddrPortFrom(to, 4789)); err != nil {
				return err
			}
			time.Sleep(100 * time.Millisecond)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("send VXLAN from %s: %v", ns, err)
	}
}

// inEchos is the number of ICMP echo requests namespace ns has received.
func inEchos(t *testing.T, ns string) int {
	t.Helper()
	var n int
	err := lab.InNS(ns, func() error {
		// thread-self: /proc/net follows the process's namespace, not
		// this (locked) thread's.
		b, err := os.ReadFile("/proc/thread-self/net/snmp")
		if err != nil {
			return err
		}
		var head []string
		for line := range strings.SplitSeq(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) == 0 || f[0] != "Icmp:" {
				continue
			}
			if head == nil {
				head = f
				continue
			}
			for i, h := range head {
				if h == "InEchos" {
					n, err = strconv.Atoi(f[i])
					return err
				}
			}
		}
		return fmt.Errorf("no Icmp InEchos in /proc/net/snmp")
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestOVSUnderlaySpoofedVXLAN sends the same VXLAN packet (an echo request
// for vm1 inside) to compute1's underlay address twice: from a host on the
// underlay that is not a VTEP, and from compute2, a VTEP. Only the VTEP's
// copy reaches vm1. With the userspace datapath the filter is OVS's own
// tunnel lookup: a packet is decapsulated only by a tunnel port whose
// remote_ip is its outer source, and the data plane makes tunnel ports
// only to the VTEPs the server sends (NodeState.Tunnels, a subset of
// Firewall.VTEPs); nftables in the node namespace would not see these
// packets at all (ovs-vswitchd reads the NIC with AF_PACKET ahead of the
// kernel's netfilter hooks).
func TestOVSUnderlaySpoofedVXLAN(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	l, nodes := newOVSLab(t, ctx, "compute1", "compute2")
	c1, c2 := nodes["compute1"], nodes["compute2"]
	attacker, err := l.AddNode(ctx, "attacker") // on the underlay, not a VTEP
	if err != nil {
		t.Fatal(err)
	}
	w := &fwWorld{nodes: []*ovsNode{c1, c2}}
	w.applyAll(t, ctx, "noop")
	vm1 := &fwVM{spec: vm1Port, node: c1}
	vm2 := &fwVM{spec: vm2Port, node: c2}
	for _, v := range []*fwVM{vm1, vm2} {
		v.vm = plug(t, ctx, l, v.node, v.spec)
		w.vms = append(w.vms, v)
	}
	w.applyAll(t, ctx, "noop")
	reach(t, ctx, vm2, vm1, true, "tunnel up")

	// Both senders address compute1's br-phy MAC: only frames to the
	// bridge's own MAC are decapsulated (compute1's kernel also answers
	// ARP on its underlay NIC, with that NIC's MAC).
	out, err := lab.Exec(ctx, c1.node.NS, "ip", "-br", "link", "show", "br-phy")
	if f := strings.Fields(string(out)); err != nil || len(f) < 3 {
		t.Fatalf("br-phy MAC: %v: %s", err, out)
	}
	mac := strings.Fields(string(out))[2]
	for _, h := range [][2]string{{attacker.NS, attacker.Dev}, {c2.node.NS, "br-phy"}} {
		if _, err := lab.Exec(ctx, h[0], "ip", "neigh", "replace", c1.node.IP().String(), "lladdr", mac,
			"dev", h[1], "nud", "permanent"); err != nil {
			t.Fatal(err)
		}
	}
	pkt := spoofedVXLAN(t, vni, vm1Port.mac, vm1Port.ip.Addr())
	before, popErrs := inEchos(t, vm1.vm.NS), tunnelPopErrors(t, ctx, c1)
	sendUDP(t, attacker.NS, c1.node.IP(), pkt, 3)
	// Where it was dropped: after decapsulation, no tunnel port for
	// that source (ovs-vswitchd's drop counter). Waited for, not slept
	// on: the switch takes its time under load, and only once it has
	// dropped all three does "no echo reached vm1" mean anything.
	drops := 0
	waitCount(t, "the three spoofed packets dropped", func() bool {
		drops = tunnelPopErrors(t, ctx, c1) - popErrs
		return drops >= 3
	})
	if drops != 3 {
		t.Errorf("datapath_drop_tunnel_pop_error grew by %d, want 3", drops)
	}
	if got := inEchos(t, vm1.vm.NS) - before; got != 0 {
		t.Errorf("VXLAN from non-VTEP %s delivered %d echo requests to vm1, want 0", attacker.IP(), got)
	}
	before = inEchos(t, vm1.vm.NS)
	sendUDP(t, c2.node.NS, c1.node.IP(), pkt, 3)
	waitCount(t, "control: the same VXLAN packet from VTEP "+c2.node.IP().String()+" delivers an echo request to vm1 (is the packet well formed?)",
		func() bool { return inEchos(t, vm1.vm.NS) > before })
}

// waitCount polls cond until it holds; the deadline only bounds a hang.
func waitCount(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
	}
}

// tunnelPopErrors reads ovs-vswitchd's count of decapsulated packets no
// tunnel port took.
func tunnelPopErrors(t *testing.T, ctx context.Context, n *ovsNode) int {
	t.Helper()
	out, err := n.ovs.Appctl(ctx, "coverage/read-counter", "datapath_drop_tunnel_pop_error")
	if err != nil {
		t.Fatal(err)
	}
	v, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("coverage counter %q: %v", out, err)
	}
	return v
}
