package linux_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"neutrino/internal/lab"
)

// capture runs tcpdump on a node's underlay interface into a pcap file.
type capture struct {
	t    *testing.T
	proc *lab.Proc
	file string
}

func (tp *topo) capture(node, filter string) *capture {
	tp.t.Helper()
	file := filepath.Join(tp.t.TempDir(), node+".pcap")
	p, err := tp.lab.Start(tp.lab.Node(node).NS, "tcpdump", "-i", lab.UnderlayDev, "-n", "-U", "--immediate-mode", "-s", "256", "-w", file, filter)
	if err != nil {
		tp.t.Fatalf("tcpdump on %s: %v", node, err)
	}
	c := &capture{t: tp.t, proc: p, file: file}
	tp.t.Cleanup(func() { _ = p.Stop() })
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.Output(), "listening on") {
		select {
		case <-p.Done():
			tp.t.Fatalf("tcpdump on %s exited: %s", node, p.Output())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			tp.t.Fatalf("tcpdump on %s not ready: %s", node, p.Output())
		}
	}
	return c
}

// stop ends tcpdump and returns the decoded packets.
func (c *capture) stop() []vxlanPacket {
	c.t.Helper()
	// Let frames in flight (replies, copies) arrive first.
	time.Sleep(500 * time.Millisecond)
	if err := c.proc.Stop(); err != nil {
		c.t.Fatalf("stop tcpdump: %v", err)
	}
	b, err := os.ReadFile(c.file)
	if err != nil {
		c.t.Fatalf("read capture: %v (tcpdump said: %s)", err, c.proc.Output())
	}
	pkts, err := decodePcap(b)
	if err != nil {
		c.t.Fatalf("decode capture: %v", err)
	}
	return pkts
}

// vxlanPacket is one captured underlay frame, outer and inner headers.
type vxlanPacket struct {
	Src, Dst   netip.Addr
	DstPort    uint16
	VXLAN      bool // UDP payload has a valid VXLAN header (I flag)
	VNI        uint32
	InnerType  uint16 // inner ethertype: 0x0806 ARP, 0x0800 IPv4
	InnerProto uint8  // inner IPv4 protocol (1 = ICMP)
	ICMPType   uint8
	InnerSrc   netip.Addr
	InnerDst   netip.Addr
	ARPOp      uint16
	ARPTarget  netip.Addr
}

func (p vxlanPacket) String() string {
	return fmt.Sprintf("%s > %s udp/%d vni %d inner 0x%04x %s > %s proto %d", p.Src, p.Dst, p.DstPort, p.VNI, p.InnerType, p.InnerSrc, p.InnerDst, p.InnerProto)
}

// decodePcap reads a classic little-endian Ethernet pcap and decodes
// IPv4/UDP/VXLAN frames. (A test-side decoder written independently of
// the product's; tcpdump's own reading is the cross-check.)
func decodePcap(b []byte) ([]vxlanPacket, error) {
	if len(b) < 24 || binary.LittleEndian.Uint32(b) != 0xa1b2c3d4 {
		return nil, errors.New("not a little-endian pcap")
	}
	if lt := binary.LittleEndian.Uint32(b[20:]); lt != 1 {
		return nil, fmt.Errorf("link type %d, want Ethernet", lt)
	}
	var out []vxlanPacket
	for off := 24; off+16 <= len(b); {
		n := int(binary.LittleEndian.Uint32(b[off+8:]))
		if off+16+n > len(b) {
			return nil, errors.New("truncated record")
		}
		if p, ok := decodeFrame(b[off+16 : off+16+n]); ok {
			out = append(out, p)
		}
		off += 16 + n
	}
	return out, nil
}

func decodeFrame(f []byte) (vxlanPacket, bool) {
	var p vxlanPacket
	if len(f) < 14+20 || binary.BigEndian.Uint16(f[12:]) != 0x0800 {
		return p, false
	}
	ip := f[14:]
	ihl := int(ip[0]&0x0f) * 4
	if ip[9] != 17 || len(ip) < ihl+8 {
		return p, false
	}
	p.Src = netip.AddrFrom4([4]byte(ip[12:16]))
	p.Dst = netip.AddrFrom4([4]byte(ip[16:20]))
	udp := ip[ihl:]
	p.DstPort = binary.BigEndian.Uint16(udp[2:])
	vx := udp[8:]
	if len(vx) < 8+14 || vx[0]&0x08 == 0 {
		return p, true
	}
	p.VXLAN = true
	p.VNI = uint32(vx[4])<<16 | uint32(vx[5])<<8 | uint32(vx[6])
	inner := vx[8:]
	p.InnerType = binary.BigEndian.Uint16(inner[12:])
	l3 := inner[14:]
	switch p.InnerType {
	case 0x0806:
		if len(l3) >= 28 {
			p.ARPOp = binary.BigEndian.Uint16(l3[6:])
			p.InnerSrc = netip.AddrFrom4([4]byte(l3[14:18]))
			p.ARPTarget = netip.AddrFrom4([4]byte(l3[24:28]))
		}
	case 0x0800:
		if len(l3) >= 20 {
			p.InnerProto = l3[9]
			p.InnerSrc = netip.AddrFrom4([4]byte(l3[12:16]))
			p.InnerDst = netip.AddrFrom4([4]byte(l3[16:20]))
			if h := int(l3[0]&0x0f) * 4; p.InnerProto == 1 && len(l3) > h {
				p.ICMPType = l3[h]
			}
		}
	}
	return p, true
}

// TestBroadcastCopies sends one ARP broadcast from the controller's router
// namespace and counts what leaves the controller on the underlay (and
// what a fourth node, hosting no port of the network, receives).
func TestBroadcastCopies(t *testing.T) {
	cases := []struct {
		m     mode
		nodes []string
		// want: destinations of the copies leaving the controller.
		want    func(tp *topo) []netip.Addr
		node4Rx int
	}{
		{modeMesh, []string{"controller", "compute1", "compute2"}, func(tp *topo) []netip.Addr {
			return []netip.Addr{tp.lab.Node("compute1").IP(), tp.lab.Node("compute2").IP()}
		}, -1},
		// The seed plus a fourth node without a port: full mesh floods to
		// it too (the contrast to l2population below).
		{modeMesh, []string{"controller", "compute1", "compute2", "compute3"}, func(tp *topo) []netip.Addr {
			return []netip.Addr{tp.lab.Node("compute1").IP(), tp.lab.Node("compute2").IP(), tp.lab.Node("compute3").IP()}
		}, 1},
		{modeGroup, []string{"controller", "compute1", "compute2"}, func(*topo) []netip.Addr {
			return []netip.Addr{group}
		}, -1},
		{modeL2Pop, []string{"controller", "compute1", "compute2", "compute3"}, func(tp *topo) []netip.Addr {
			return []netip.Addr{tp.lab.Node("compute1").IP(), tp.lab.Node("compute2").IP()}
		}, 0},
		{modeL2PopARP, []string{"controller", "compute1", "compute2", "compute3"}, func(*topo) []netip.Addr {
			return nil
		}, 0},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/%d-nodes", c.m, len(c.nodes)), func(t *testing.T) {
			tp := newTopo(t, c.m, c.nodes...)
			n := tp.addNet(1001, "192.168.1.0/24")
			r := tp.plug("r1", "controller", n, 1, true)
			v1 := tp.plug("vm1", "compute1", n, 4, false)
			tp.plug("vm2", "compute2", n, 2, false)
			tp.apply()
			ctl := tp.lab.Node("controller").IP()
			out := tp.capture("controller", "udp dst port 4789 and src host "+ctl.String())
			var far *capture
			if c.node4Rx >= 0 {
				far = tp.capture("compute3", "udp port 4789")
			}
			o, err := lab.Exec(tp.ctx, r.vm.NS, "arping", "-c", "1", "-w", "3", "-I", r.vm.VIF.IfName, v1.addr.Addr().String())
			if err != nil {
				t.Errorf("arping %s: %v", v1.addr.Addr(), err)
			}
			if !strings.Contains(strings.ToLower(string(o)), v1.mac) {
				t.Errorf("arping got no reply with vm1's MAC %s:\n%s", v1.mac, o)
			}
			pkts := out.stop()
			var dsts []netip.Addr
			for _, p := range pkts {
				if !p.VXLAN || p.VNI != 1001 || p.InnerType != 0x0806 || p.ARPOp != 1 || p.ARPTarget != v1.addr.Addr() {
					t.Errorf("unexpected underlay packet: %v", p)
					continue
				}
				dsts = append(dsts, p.Dst)
			}
			want := c.want(tp)
			if fmt.Sprint(sorted(dsts)) != fmt.Sprint(sorted(want)) {
				t.Errorf("one ARP broadcast left the controller as %d packets to %v, want %d to %v", len(dsts), dsts, len(want), want)
			}
			if far != nil {
				if got := far.stop(); len(got) != c.node4Rx {
					// compute3 hosts no port of the network: what it gets
					// is a wasted copy.
					t.Errorf("compute3 (no port on the network) received %d VXLAN packets, want %d: %v", len(got), c.node4Rx, got)
				}
			}
		})
	}
}

func sorted(a []netip.Addr) []netip.Addr {
	out := append([]netip.Addr(nil), a...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j].Less(out[i]) {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// TestUnicastCapture: a ping from the router namespace to vm1 crosses the
// underlay as UDP 4789 from the controller's VTEP to compute1's with the
// network's VNI and the inner ICMP; tcpdump reading the same file agrees.
func TestUnicastCapture(t *testing.T) {
	tp := newTopo(t, modeMesh, "controller", "compute1", "compute2")
	n := tp.addNet(1001, "192.168.1.0/24")
	r := tp.plug("r1", "controller", n, 1, true)
	v1 := tp.plug("vm1", "compute1", n, 4, false)
	tp.plug("vm2", "compute2", n, 2, false)
	tp.apply()
	if err := tp.ping(r, v1.addr.Addr()); err != nil { // resolves ARP and learns MACs
		t.Fatalf("warm-up ping: %v", err)
	}
	ctl, c1 := tp.lab.Node("controller").IP(), tp.lab.Node("compute1").IP()
	c := tp.capture("controller", "udp port 4789")
	if _, err := lab.Exec(tp.ctx, r.vm.NS, "ping", "-n", "-c", "1", "-W", "2", v1.addr.Addr().String()); err != nil {
		t.Fatalf("ping: %v", err)
	}
	pkts := c.stop()
	var req, rep int
	for _, p := range pkts {
		switch {
		case p.Src == ctl && p.Dst == c1 && p.DstPort == 4789 && p.VXLAN && p.VNI == 1001 &&
			p.InnerProto == 1 && p.ICMPType == 8 && p.InnerSrc == r.addr.Addr() && p.InnerDst == v1.addr.Addr():
			req++
		case p.Src == c1 && p.Dst == ctl && p.DstPort == 4789 && p.VXLAN && p.VNI == 1001 &&
			p.InnerProto == 1 && p.ICMPType == 0 && p.InnerSrc == v1.addr.Addr() && p.InnerDst == r.addr.Addr():
			rep++
		default:
			t.Errorf("unexpected underlay packet: %v", p)
		}
	}
	if req != 1 || rep != 1 {
		t.Errorf("got %d echo requests and %d replies across the underlay, want 1 and 1: %v", req, rep, pkts)
	}
	// Independent cross-check: tcpdump decodes the same capture.
	o, err := lab.Exec(tp.ctx, tp.lab.Node("controller").NS, "tcpdump", "-n", "-r", c.file)
	if err != nil {
		t.Fatalf("tcpdump -r: %v", err)
	}
	text := string(o)
	for _, want := range []string{
		ctl.String() + ".", "> " + c1.String() + ".4789: VXLAN", "vni 1001",
		r.addr.Addr().String() + " > " + v1.addr.Addr().String() + ": ICMP echo request",
		v1.addr.Addr().String() + " > " + r.addr.Addr().String() + ": ICMP echo reply",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("tcpdump's reading lacks %q:\n%s", want, text)
		}
	}
	if got := strings.Count(text, "VXLAN"); got != len(pkts) {
		t.Errorf("tcpdump saw %d VXLAN packets, our decoder %d:\n%s", got, len(pkts), text)
	}
}
