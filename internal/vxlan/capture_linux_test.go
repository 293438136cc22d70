package vxlan

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"neutrino/internal/lab"
)

// run runs a command and fails the test with its output on error.
func run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func needRoot(t testing.TB, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test creates network namespaces and needs root: run `make test` as root")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed (scripts/deps.sh installs it; run `make test`)", tool)
		}
	}
}

// vxlanPair builds two namespaces joined by a veth (the underlay, in
// 198.18.77.0/24) with a kernel vxlan device (VNI 1001, port 4789, a static
// all-zeros FDB entry to the peer) in each, carrying 192.168.1.0/24. Both
// namespaces are deleted when the test ends, also on failure. It returns
// the two namespace names; the underlay interface in the first is "ul0".
func vxlanPair(t testing.TB) (string, string) {
	t.Helper()
	var rnd [3]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		t.Fatal(err)
	}
	id := hex.EncodeToString(rnd[:])
	nsA, nsB := "nt-"+id+"-vxa", "nt-"+id+"-vxb"
	for _, ns := range []string{nsA, nsB} {
		// CreateNS also turns IPv6 off: no router solicitations or MLD
		// in the captures.
		if err := lab.CreateNS(ns); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := lab.DeleteNS(ns); err != nil {
				t.Error(err)
			}
		})
	}
	// The veth is created inside nsA and its peer moved to nsB at once:
	// nothing is ever created in the root namespace.
	run(t, "ip", "-n", nsA, "link", "add", "ul0", "type", "veth", "peer", "name", "ul0", "netns", nsB)
	for i, ns := range []string{nsA, nsB} {
		local, remote := fmt.Sprintf("198.18.77.%d", i+1), fmt.Sprintf("198.18.77.%d", 2-i)
		run(t, "ip", "-n", ns, "addr", "add", local+"/24", "dev", "ul0")
		run(t, "ip", "-n", ns, "link", "set", "ul0", "up")
		run(t, "ip", "-n", ns, "link", "add", "vx0", "type", "vxlan", "id", "1001", "local", local,
			"dstport", "4789", "dev", "ul0", "nolearning")
		run(t, "ip", "-n", ns, "link", "set", "vx0", "address", fmt.Sprintf("fa:16:3e:00:00:0%d", 1+3*i))
		run(t, "ip", "-n", ns, "addr", "add", fmt.Sprintf("192.168.1.%d/24", 1+3*i), "dev", "vx0")
		run(t, "ip", "-n", ns, "link", "set", "vx0", "up")
		run(t, "bridge", "-n", ns, "fdb", "append", "00:00:00:00:00:00", "dev", "vx0", "dst", remote)
	}
	return nsA, nsB
}

// startTcpdump runs tcpdump in ns writing to path and returns once it is
// listening. stop sends SIGINT to that PID and waits for it to exit.
func startTcpdump(t *testing.T, ns, ifName, path string, filter ...string) (stop func()) {
	t.Helper()
	args := append([]string{"netns", "exec", ns, "tcpdump", "-i", ifName, "-n", "-U", "-Z", "root", "-w", path}, filter...)
	cmd := exec.Command("ip", args...) // ip netns exec execs tcpdump: same PID
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	listening := make(chan bool, 1)
	scanned := make(chan struct{}) // closed once tcpdump closed stderr
	var text strings.Builder       // all of stderr; read after scanned
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		seen := false
		for sc.Scan() {
			text.WriteString(sc.Text() + "\n")
			if !seen && strings.Contains(sc.Text(), "listening on") {
				seen = true
				listening <- true
			}
		}
		if !seen {
			listening <- false
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGINT)
			<-scanned // stderr must be drained before Wait closes it
			_ = cmd.Wait()
		})
	}
	t.Cleanup(stop)
	select {
	case ok := <-listening:
		if !ok {
			stop()
			t.Fatalf("tcpdump did not start:\n%s", text.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("tcpdump did not start listening within 30s")
	}
	return stop
}

// readPcap reads a whole pcap file; a record still being written at the
// end is not an error (tcpdump may be mid-write).
func readPcap(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := NewPcapReader(f)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for {
		_, data, _, err := r.Next()
		if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, bytes.Clone(data))
	}
}

// TestCaptureMatchesTcpdump sends real VXLAN traffic between two kernel
// vxlan devices, captures it on the underlay with our AF_PACKET capture and
// with tcpdump at the same time, and checks that both saw the same frames,
// that they decode to the ping that was sent, and that tcpdump reads the
// pcap file we write from our capture the same way as its own.
func TestCaptureMatchesTcpdump(t *testing.T) {
	needRoot(t, "ip", "bridge", "tcpdump", "ping")
	nsA, _ := vxlanPair(t)
	dir := t.TempDir()
	theirsPath, oursPath := filepath.Join(dir, "tcpdump.pcap"), filepath.Join(dir, "ours.pcap")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	recs, stopErr, err := Capture(ctx, nsA, "ul0", Options{UDPDstPort: PortIANA})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		ours []Record
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		for r := range recs {
			mu.Lock()
			ours = append(ours, r)
			mu.Unlock()
		}
	}()
	stopTcpdump := startTcpdump(t, nsA, "ul0", theirsPath, "udp", "dst", "port", "4789")

	run(t, "ip", "netns", "exec", nsA, "ping", "-n", "-c", "3", "-i", "0.2", "-W", "5", "192.168.1.4")

	// Wait until both captures hold the same number of frames (at least the
	// ARP exchange and three echo round trips) and that number holds still.
	const atLeast = 8
	var n, same int
	for deadline := time.Now().Add(20 * time.Second); ; {
		theirs, err := readPcap(theirsPath)
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		nOurs := len(ours)
		mu.Unlock()
		if nOurs == len(theirs) && nOurs >= atLeast && nOurs == n {
			same++
		} else {
			same = 0
		}
		n = nOurs
		if same >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("captures did not settle: ours %d frames, tcpdump %d", nOurs, len(theirs))
		}
		time.Sleep(100 * time.Millisecond)
	}
	stopTcpdump()
	cancel()
	<-done
	if err := stopErr(); err != nil {
		t.Fatalf("capture stopped with %v", err)
	}

	theirs, err := readPcap(theirsPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(ours) != len(theirs) {
		t.Fatalf("ours %d frames, tcpdump %d", len(ours), len(theirs))
	}
	var requests, replies, arps int
	for i := range ours {
		if !bytes.Equal(ours[i].Data, theirs[i]) {
			t.Errorf("frame %d differs:\nours    % x\ntcpdump % x", i, ours[i].Data, theirs[i])
		}
		if i > 0 && ours[i].Time.Before(ours[i-1].Time) {
			t.Errorf("frame %d: timestamp %v before the previous %v", i, ours[i].Time, ours[i-1].Time)
		}
		var p Packet
		if err := Decode(ours[i].Data, &p); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		t.Log(ours[i].String())
		if !p.IsVXLAN || p.VXLAN.VNI != 1001 || p.VXLAN.Flags != FlagVNI {
			t.Errorf("frame %d is not VXLAN VNI 1001: %s", i, p.String())
		}
		fromA := p.Outer.IPv4.Src.String() == "198.18.77.1"
		if ours[i].Outgoing != fromA {
			t.Errorf("frame %d: outgoing=%v but outer source %s", i, ours[i].Outgoing, p.Outer.IPv4.Src)
		}
		in := &p.Inner
		switch {
		case in.Layers&LayerICMP != 0 && in.ICMP.Type == ICMPEchoRequest:
			requests++
			if !fromA || in.IPv4.Src.String() != "192.168.1.1" || in.IPv4.Dst.String() != "192.168.1.4" || in.ICMP.Seq != uint16(requests) {
				t.Errorf("frame %d: unexpected echo request %s", i, p.String())
			}
		case in.Layers&LayerICMP != 0 && in.ICMP.Type == ICMPEchoReply:
			replies++
			if fromA || in.IPv4.Src.String() != "192.168.1.4" || in.ICMP.Seq != uint16(replies) {
				t.Errorf("frame %d: unexpected echo reply %s", i, p.String())
			}
		case in.Layers&LayerARP != 0:
			arps++
		}
	}
	if requests != 3 || replies != 3 || arps < 2 {
		t.Errorf("saw %d echo requests, %d replies, %d ARP; want 3, 3, >= 2", requests, replies, arps)
	}
	first := ours[0]
	var p Packet
	if err := Decode(first.Data, &p); err == nil {
		if want := "198.18.77.1"; p.Outer.IPv4.Src.String() != want || !strings.Contains(p.String(), "ARP who-has 192.168.1.4 tell 192.168.1.1") {
			t.Errorf("first frame should be A's ARP request, is %s", p.String())
		}
	}

	// Our pcap file of our capture reads in tcpdump exactly like its own.
	f, err := os.Create(oursPath)
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewPcapWriter(f, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range ours {
		if err := w.WritePacket(r.Time, r.Data, r.OrigLen); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	oursText := untimed(tcpdumpRecords(run(t, "tcpdump", "-n", "-r", oursPath)))
	theirsText := untimed(tcpdumpRecords(run(t, "tcpdump", "-n", "-r", theirsPath)))
	if strings.Join(oursText, "\n") != strings.Join(theirsText, "\n") {
		t.Errorf("tcpdump -r reads our file differently:\nours:\n%s\ntheirs:\n%s",
			strings.Join(oursText, "\n"), strings.Join(theirsText, "\n"))
	}
	if len(oursText) != len(ours) || strings.Count(strings.Join(oursText, "\n"), "vni 1001") != len(ours) {
		t.Errorf("tcpdump -r of our file: %d packets, want %d, each VXLAN vni 1001:\n%s", len(oursText), len(ours), strings.Join(oursText, "\n"))
	}
}

// TestCaptureStopsOnCancel: a capture with no traffic ends when its
// context does, and closes its channel.
func TestCaptureStopsOnCancel(t *testing.T) {
	needRoot(t, "ip", "bridge")
	nsA, _ := vxlanPair(t)
	ctx, cancel := context.WithCancel(context.Background())
	recs, stopErr, err := Capture(ctx, nsA, "ul0", Options{UDPDstPort: 1})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	for range recs {
		t.Error("no frame to port 1 was sent")
	}
	if err := stopErr(); err != nil {
		t.Errorf("stop error %v, want nil after cancel", err)
	}
}

func TestOpenErrors(t *testing.T) {
	needRoot(t, "ip")
	if _, err := Open("nt-does-not-exist", "ul0", Options{}); err == nil || !strings.Contains(err.Error(), "nt-does-not-exist") {
		t.Errorf("missing namespace: %v", err)
	}
	nsA, _ := vxlanPair(t)
	if _, err := Open(nsA, "nope0", Options{}); err == nil || !strings.Contains(err.Error(), "nope0") {
		t.Errorf("missing interface: %v", err)
	}
}

func TestIsUDPTo(t *testing.T) {
	for _, s := range samples() {
		b := s.p.Append(nil)
		want := s.p.Outer.Layers&LayerUDP != 0 && s.p.Outer.UDP.DstPort == PortIANA && s.p.Outer.Layers&LayerVLAN == 0
		if got := isUDPTo(b, PortIANA); got != want {
			t.Errorf("%s: isUDPTo = %v, want %v", s.name, got, want)
		}
	}
	if isUDPTo([]byte{1, 2, 3}, PortIANA) {
		t.Error("short frame matched")
	}
}

// untimed drops the leading timestamp of each tcpdump record: ours comes
// from SO_TIMESTAMPNS, tcpdump's from libpcap's ring, and they need not agree.
func untimed(recs []string) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		_, rest, _ := strings.Cut(r, " ")
		out[i] = rest
	}
	return out
}

func TestRecordString(t *testing.T) {
	p := encap(40000, PortIANA, 1001, echo(ICMPEchoRequest, vmMAC1, vmMAC4, vm1, vm4, 1, 1))
	r := Record{Time: time.Date(2026, 11, 23, 21, 4, 5, 123456000, time.UTC), Data: p.Append(nil)}
	want := "21:04:05.123456 198.18.255.101.40000 > 198.18.255.102.4789: VXLAN vni 1001: 192.168.1.1 > 192.168.1.4: ICMP echo request id 1 seq 1"
	if got := r.String(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	r.Data = r.Data[:20]
	if got := r.String(); got != "21:04:05.123456 decode ipv4: truncated: need 20 bytes, have 6" {
		t.Errorf("undecodable: %s", got)
	}
}

// linkMAC reads an interface's MAC in a namespace.
func linkMAC(t testing.TB, ns, ifName string) MAC {
	t.Helper()
	var links []struct {
		Address string `json:"address"`
	}
	if err := json.Unmarshal([]byte(run(t, "ip", "-n", ns, "-j", "link", "show", ifName)), &links); err != nil || len(links) != 1 {
		t.Fatalf("ip -j link show %s: %v %v", ifName, links, err)
	}
	m, err := ParseMAC(links[0].Address)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestInjectedFrameIsAnswered checks our encoder against the kernel: a VXLAN
// echo request built by Packet.Append and sent raw on A's underlay must be
// decapsulated by B's vxlan device and answered, and the answer must come
// back through B's vxlan device as VXLAN to A.
func TestInjectedFrameIsAnswered(t *testing.T) {
	needRoot(t, "ip", "bridge")
	nsA, nsB := vxlanPair(t)
	// B knows A's VM without asking, so its first packet is the echo reply.
	run(t, "ip", "-n", nsB, "neigh", "replace", "192.168.1.1", "lladdr", "fa:16:3e:00:00:01", "dev", "vx0")

	req := Packet{
		Outer: Frame{
			Layers:   LayerEthernet | LayerIPv4 | LayerUDP,
			Ethernet: Ethernet{Dst: linkMAC(t, nsB, "ul0"), Src: linkMAC(t, nsA, "ul0")},
			IPv4:     IPv4{TTL: 64, Src: netip.MustParseAddr("198.18.77.1"), Dst: netip.MustParseAddr("198.18.77.2")},
			UDP:      UDP{SrcPort: 54321, DstPort: PortIANA},
		},
		IsVXLAN: true,
		VXLAN:   Header{Flags: FlagVNI, VNI: 1001},
		Inner:   echo(ICMPEchoRequest, MAC{0xfa, 0x16, 0x3e, 0, 0, 1}, MAC{0xfa, 0x16, 0x3e, 0, 0, 4}, vm1, vm4, 4242, 7),
	}
	capture, err := Open(nsA, "ul0", Options{UDPDstPort: PortIANA})
	if err != nil {
		t.Fatal(err)
	}
	defer capture.Close()
	sender, err := Open(nsA, "ul0", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	if err := sender.Send(req.Append(nil)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		r, err := capture.Read(ctx)
		if err != nil {
			t.Fatalf("no VXLAN echo reply from B: %v", err)
		}
		var p Packet
		if err := Decode(r.Data, &p); err != nil {
			t.Fatalf("%v: % x", err, r.Data)
		}
		t.Log(r.String())
		if r.Outgoing {
			continue // our own request, seen leaving
		}
		in := p.Inner
		if !p.IsVXLAN || p.VXLAN.VNI != 1001 || in.Layers&LayerICMP == 0 || in.ICMP.Type != ICMPEchoReply {
			t.Fatalf("first frame from B is not the VXLAN echo reply: %s", p.String())
		}
		if in.ICMP.ID != 4242 || in.ICMP.Seq != 7 || !bytes.Equal(in.Payload, req.Inner.Payload) ||
			p.Outer.IPv4.Src.String() != "198.18.77.2" || in.IPv4.Dst != vm1 {
			t.Fatalf("reply does not answer our request: %s payload %q", p.String(), in.Payload)
		}
		return
	}
}

// BenchmarkCaptureDecode measures the capture path end to end: frames
// injected on A's underlay are read on B's by our AF_PACKET socket with the
// UDP port filter and decoded. It reports frames lost to a full socket
// buffer. VNI 1002 exists on neither side, so B's kernel drops the frames
// after the capture and sends nothing back.
func BenchmarkCaptureDecode(b *testing.B) {
	needRoot(b, "ip", "bridge")
	nsA, nsB := vxlanPair(b)
	p := encap(54321, PortIANA, 1002, echo(ICMPEchoRequest, vmMAC1, vmMAC4, vm1, vm4, 1, 1))
	p.Outer.Ethernet = Ethernet{Dst: linkMAC(b, nsB, "ul0"), Src: linkMAC(b, nsA, "ul0")}
	p.Outer.IPv4.Src, p.Outer.IPv4.Dst = netip.MustParseAddr("198.18.77.1"), netip.MustParseAddr("198.18.77.2")
	frame := p.Append(nil)
	capture, err := Open(nsB, "ul0", Options{UDPDstPort: PortIANA})
	if err != nil {
		b.Fatal(err)
	}
	defer capture.Close()
	sender, err := Open(nsA, "ul0", Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer sender.Close()

	got := make(chan int)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.SetBytes(int64(len(frame)))
	b.ResetTimer()
	go func() {
		n := 0
		var pk Packet
		for n < b.N {
			r, err := capture.Read(ctx)
			if err != nil {
				break
			}
			if Decode(r.Data, &pk) == nil && pk.VXLAN.VNI == 1002 {
				n++
			}
		}
		got <- n
	}()
	for range b.N {
		if err := sender.Send(frame); err != nil {
			b.Fatal(err)
		}
	}
	var n int
	select {
	case n = <-got:
	case <-time.After(10 * time.Second): // frames lost: stop waiting for them
		cancel()
		n = <-got
	}
	b.StopTimer()
	st, err := capture.Stats()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N-n), "lost")
	b.ReportMetric(float64(st.Drops), "drops")
}
