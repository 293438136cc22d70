package linux_test

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"neutrino/internal/lab"
	"neutrino/internal/vxlan"
)

// capture records a node's underlay twice: with our own AF_PACKET capture
// and VXLAN decoder (internal/vxlan), and with tcpdump into a pcap file as
// the independent cross-check.
type capture struct {
	t      *testing.T
	cancel context.CancelFunc
	recs   <-chan vxlan.Record
	errf   func() error
	proc   *lab.Proc
	file   string
	keep   func(*vxlan.Packet) bool
}

// capture starts both captures of UDP to port 4789 on node's underlay;
// keep selects the frames that count (tcpdump gets filter, the same
// selection in BPF).
func (tp *topo) capture(node, filter string, keep func(*vxlan.Packet) bool) *capture {
	tp.t.Helper()
	ns := tp.lab.Node(node).NS
	ctx, cancel := context.WithCancel(tp.ctx)
	recs, errf, err := vxlan.Capture(ctx, ns, lab.UnderlayDev, vxlan.Options{UDPDstPort: 4789})
	if err != nil {
		cancel()
		tp.t.Fatalf("capture on %s: %v", node, err)
	}
	file := filepath.Join(tp.t.TempDir(), node+".pcap")
	// --immediate-mode: otherwise frames wait in the kernel ring for the
	// block timeout and are lost when tcpdump is stopped.
	p, err := tp.lab.Start(ns, "tcpdump", "-i", lab.UnderlayDev, "-n", "-U", "--immediate-mode", "-s", "256", "-w", file, filter)
	if err != nil {
		cancel()
		tp.t.Fatalf("tcpdump on %s: %v", node, err)
	}
	c := &capture{t: tp.t, cancel: cancel, recs: recs, errf: errf, proc: p, file: file, keep: keep}
	tp.t.Cleanup(func() { cancel(); _ = p.Stop() })
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

// stop ends both captures and returns the frames our decoder kept and
// tcpdump's own reading of its file (one line per packet).
func (c *capture) stop() ([]vxlan.Packet, []string) {
	c.t.Helper()
	// Let frames in flight (replies, copies) arrive first.
	time.Sleep(500 * time.Millisecond)
	c.cancel()
	var pkts []vxlan.Packet
	for r := range c.recs {
		var p vxlan.Packet
		if err := vxlan.Decode(r.Data, &p); err != nil {
			c.t.Errorf("decode captured frame: %v", err)
			continue
		}
		if c.keep(&p) {
			pkts = append(pkts, p)
		}
	}
	if err := c.errf(); err != nil {
		c.t.Errorf("capture: %v", err)
	}
	if err := c.proc.Stop(); err != nil {
		c.t.Fatalf("stop tcpdump: %v", err)
	}
	out, err := exec.Command("tcpdump", "-n", "-r", c.file).Output()
	if err != nil {
		c.t.Fatalf("tcpdump -r: %v (capture said: %s)", err, c.proc.Output())
	}
	// tcpdump prints a VXLAN packet's inner frame on a second line: a
	// packet starts at each timestamp.
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		switch {
		case l == "":
		case tsRE.MatchString(l) || len(lines) == 0:
			lines = append(lines, l)
		default:
			lines[len(lines)-1] += " " + strings.TrimSpace(l)
		}
	}
	return pkts, lines
}

var tsRE = regexp.MustCompile(`^\d\d:\d\d:\d\d\.\d+ `)

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
			out := tp.capture("controller", "udp dst port 4789 and src host "+ctl.String(),
				func(p *vxlan.Packet) bool { return p.Outer.IPv4.Src == ctl })
			var far *capture
			if c.node4Rx >= 0 {
				far = tp.capture("compute3", "udp dst port 4789", func(*vxlan.Packet) bool { return true })
			}
			o, err := lab.Exec(tp.ctx, r.vm.NS, "arping", "-c", "1", "-w", "3", "-I", r.vm.VIF.IfName, v1.addr.Addr().String())
			if err != nil {
				t.Errorf("arping %s: %v", v1.addr.Addr(), err)
			}
			if !strings.Contains(strings.ToLower(string(o)), v1.mac) {
				t.Errorf("arping got no reply with vm1's MAC %s:\n%s", v1.mac, o)
			}
			pkts, dump := out.stop()
			var dsts []netip.Addr
			for _, p := range pkts {
				if !p.IsVXLAN || p.VXLAN.VNI != 1001 || p.Inner.Layers&vxlan.LayerARP == 0 ||
					p.Inner.ARP.Op != vxlan.ARPRequest || p.Inner.ARP.TargetIP != v1.addr.Addr() {
					t.Errorf("unexpected underlay packet: %v", &p)
					continue
				}
				dsts = append(dsts, p.Outer.IPv4.Dst)
			}
			if len(dump) != len(pkts) {
				t.Errorf("tcpdump saw %d packets, our capture %d:\n%s", len(dump), len(pkts), strings.Join(dump, "\n"))
			}
			for _, l := range dump {
				if !strings.Contains(l, "vni 1001") || !strings.Contains(l, "ARP, Request who-has "+v1.addr.Addr().String()) {
					t.Errorf("tcpdump decodes a copy differently: %s", l)
				}
			}
			want := c.want(tp)
			if fmt.Sprint(sorted(dsts)) != fmt.Sprint(sorted(want)) {
				t.Errorf("one ARP broadcast left the controller as %d packets to %v, want %d to %v", len(dsts), dsts, len(want), want)
			}
			if far != nil {
				if got, dump := far.stop(); len(got) != c.node4Rx || len(dump) != c.node4Rx {
					// compute3 hosts no port of the network: what it gets
					// is a wasted copy.
					t.Errorf("compute3 (no port on the network) received %d VXLAN packets (tcpdump: %d), want %d: %v", len(got), len(dump), c.node4Rx, dump)
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
	c := tp.capture("controller", "udp dst port 4789", func(*vxlan.Packet) bool { return true })
	if _, err := lab.Exec(tp.ctx, r.vm.NS, "ping", "-n", "-c", "1", "-W", "2", v1.addr.Addr().String()); err != nil {
		t.Fatalf("ping: %v", err)
	}
	pkts, dump := c.stop()
	var req, rep int
	for _, p := range pkts {
		o, in := &p.Outer, &p.Inner
		ok := p.IsVXLAN && o.UDP.DstPort == 4789 && p.VXLAN.Flags&vxlan.FlagVNI != 0 && p.VXLAN.VNI == 1001 &&
			in.Layers&vxlan.LayerICMP != 0
		switch {
		case ok && o.IPv4.Src == ctl && o.IPv4.Dst == c1 && in.ICMP.Type == vxlan.ICMPEchoRequest &&
			in.IPv4.Src == r.addr.Addr() && in.IPv4.Dst == v1.addr.Addr():
			req++
		case ok && o.IPv4.Src == c1 && o.IPv4.Dst == ctl && in.ICMP.Type == vxlan.ICMPEchoReply &&
			in.IPv4.Src == v1.addr.Addr() && in.IPv4.Dst == r.addr.Addr():
			rep++
		default:
			t.Errorf("unexpected underlay packet: %v", &p)
		}
	}
	if req != 1 || rep != 1 {
		t.Errorf("got %d echo requests and %d replies across the underlay, want 1 and 1", req, rep)
	}
	// Independent cross-check: tcpdump's decoding of its own capture.
	text := strings.Join(dump, "\n")
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
