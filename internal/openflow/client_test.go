package openflow

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A fake switch on a unix socket drives the client through the protocol
// paths a real ovs-vswitchd rarely takes (a rejected add, a failed
// commit, a silent peer). The real switch is exercised by the OVS data
// plane's tests (internal/dataplane/ovs: native_test.go).

type fakeSwitch struct {
	ln   net.Listener
	path string
}

func newFakeSwitch(t *testing.T) *fakeSwitch {
	t.Helper()
	path := filepath.Join(t.TempDir(), "br-test.mgmt")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return &fakeSwitch{ln: ln, path: path}
}

type fakeConn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

// accept takes the client's connection and answers its HELLO with one
// offering versions (a bitmap).
func (s *fakeSwitch) accept(t *testing.T, versions uint32) *fakeConn {
	t.Helper()
	ul := s.ln.(*net.UnixListener)
	_ = ul.SetDeadline(time.Now().Add(30 * time.Second))
	c, err := s.ln.Accept()
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	fc := &fakeConn{t: t, c: c, r: bufio.NewReader(c)}
	if h := fc.read(); h[1] != typeHello {
		t.Fatalf("first message of type %d, want HELLO", h[1])
	}
	hello := appendHeader(nil, typeHello, 16, 1)
	hello = binary.BigEndian.AppendUint16(hello, helloElemVersionBitmap)
	hello = binary.BigEndian.AppendUint16(hello, 8)
	fc.send(binary.BigEndian.AppendUint32(hello, versions))
	return fc
}

// read returns the next whole message the client sent.
func (fc *fakeConn) read() []byte {
	fc.t.Helper()
	_ = fc.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	var hdr [headerLen]byte
	if _, err := fullRead(fc.r, hdr[:]); err != nil {
		fc.t.Fatalf("fake switch read: %v", err)
	}
	b := make([]byte, binary.BigEndian.Uint16(hdr[2:]))
	copy(b, hdr[:])
	if _, err := fullRead(fc.r, b[headerLen:]); err != nil {
		fc.t.Fatalf("fake switch read: %v", err)
	}
	return b
}

func fullRead(r *bufio.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (fc *fakeConn) send(b []byte) {
	fc.t.Helper()
	if _, err := fc.c.Write(b); err != nil {
		fc.t.Fatalf("fake switch write: %v", err)
	}
}

func xidOf(b []byte) uint32 { return binary.BigEndian.Uint32(b[4:]) }

func ctrlReply(req []byte, typ uint16) []byte {
	b := appendHeader(nil, typeBundleControl, 16, xidOf(req))
	b = append(b, req[8:12]...) // bundle id
	b = binary.BigEndian.AppendUint16(b, typ)
	return binary.BigEndian.AppendUint16(b, 0)
}

func errorReply(req []byte, typ, code uint16) []byte {
	data := req[:min(len(req), 64)]
	b := appendHeader(nil, typeError, 12+len(data), xidOf(req))
	b = binary.BigEndian.AppendUint16(b, typ)
	b = binary.BigEndian.AppendUint16(b, code)
	return append(b, data...)
}

var testFlows = []string{
	"add cookie=0x1,table=0,priority=1,in_port=1 actions=goto_table:2",
	"add cookie=0x1,table=0,priority=2,nw_src=10.0.0.1 actions=drop",
	"delete_strict cookie=0x1/-1,table=0,priority=3,in_port=2",
}

func parseAll(t *testing.T, lines []string) []*FlowMod {
	t.Helper()
	var out []*FlowMod
	for _, l := range lines {
		m, err := ParseFlowMod(l)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// expectBundleStart reads OPEN, the ADDs and the BARRIER of a bundle of
// n flow mods, answers OPEN, and returns the ADDs and the barrier.
func (fc *fakeConn) expectBundleStart(n int) (adds [][]byte, barrier []byte) {
	fc.t.Helper()
	open := fc.read()
	if open[1] != typeBundleControl || binary.BigEndian.Uint16(open[12:]) != bundleOpenRequest {
		fc.t.Fatalf("want bundle OPEN, got type %d", open[1])
	}
	if flags := binary.BigEndian.Uint16(open[14:]); flags != bundleAtomic|bundleOrdered {
		fc.t.Errorf("bundle flags %#x, want atomic|ordered", flags)
	}
	fc.send(ctrlReply(open, bundleOpenReply))
	for range n {
		add := fc.read()
		if add[1] != typeBundleAdd {
			fc.t.Fatalf("want BUNDLE_ADD, got type %d", add[1])
		}
		inner := add[16:]
		if inner[1] != typeFlowMod || xidOf(inner) != xidOf(add) || int(binary.BigEndian.Uint16(inner[2:])) != len(inner) {
			fc.t.Fatalf("bundle add does not embed one flow mod with its xid: % x", add[:24])
		}
		adds = append(adds, add)
	}
	barrier = fc.read()
	if barrier[1] != typeBarrierRequest {
		fc.t.Fatalf("want BARRIER after the adds, got type %d", barrier[1])
	}
	return adds, barrier
}

func TestBundleCommits(t *testing.T) {
	sw := newFakeSwitch(t)
	c := NewClient(sw.path, Options{})
	defer c.Close()
	errc := make(chan error, 1)
	mods := parseAll(t, testFlows)
	go func() { errc <- c.Bundle(context.Background(), mods) }()
	fc := sw.accept(t, 1<<Version|1<<4|1<<1)
	_, barrier := fc.expectBundleStart(len(testFlows))
	fc.send(appendHeader(nil, typeBarrierReply, headerLen, xidOf(barrier)))
	commit := fc.read()
	if commit[1] != typeBundleControl || binary.BigEndian.Uint16(commit[12:]) != bundleCommitRequest {
		t.Fatalf("want COMMIT, got type %d", commit[1])
	}
	fc.send(ctrlReply(commit, bundleCommitReply))
	if err := <-errc; err != nil {
		t.Fatalf("bundle: %v", err)
	}
}

// An add the switch rejects (OVS would leave it out and commit the rest)
// makes the client discard the whole bundle and name the flow.
func TestBundleRejectedAddDiscards(t *testing.T) {
	sw := newFakeSwitch(t)
	c := NewClient(sw.path, Options{})
	defer c.Close()
	errc := make(chan error, 1)
	mods := parseAll(t, testFlows)
	go func() { errc <- c.Bundle(context.Background(), mods) }()
	fc := sw.accept(t, 1<<Version)
	adds, barrier := fc.expectBundleStart(len(testFlows))
	fc.send(errorReply(adds[1], 4, 9)) // OFPET_BAD_MATCH / BAD_PREREQ
	fc.send(appendHeader(nil, typeBarrierReply, headerLen, xidOf(barrier)))
	ctl := fc.read()
	if ctl[1] != typeBundleControl || binary.BigEndian.Uint16(ctl[12:]) != bundleDiscardRequest {
		t.Fatalf("want DISCARD after a rejected add, got type %d control %d", ctl[1], binary.BigEndian.Uint16(ctl[12:]))
	}
	fc.send(ctrlReply(ctl, bundleDiscardReply))
	err := <-errc
	if err == nil || !strings.Contains(err.Error(), testFlows[1]) || !strings.Contains(err.Error(), "BAD_PREREQ") ||
		strings.Contains(err.Error(), testFlows[0]) {
		t.Fatalf("error %v: want it to name %q and BAD_PREREQ, and only that flow", err, testFlows[1])
	}
	var oe *Error
	if !errors.As(err, &oe) || oe.Type != 4 || oe.Code != 9 {
		t.Errorf("error %v does not unwrap to the switch's *Error", err)
	}
}

// A flow that fails at commit: OVS sends its error (with the flow's xid),
// then MSG_FAILED for the commit; nothing was applied.
func TestBundleCommitFailure(t *testing.T) {
	sw := newFakeSwitch(t)
	c := NewClient(sw.path, Options{})
	defer c.Close()
	errc := make(chan error, 1)
	mods := parseAll(t, testFlows)
	go func() { errc <- c.Bundle(context.Background(), mods) }()
	fc := sw.accept(t, 1<<Version)
	adds, barrier := fc.expectBundleStart(len(testFlows))
	fc.send(appendHeader(nil, typeBarrierReply, headerLen, xidOf(barrier)))
	commit := fc.read()
	fc.send(errorReply(adds[0], 5, 1)) // FLOW_MOD_FAILED / TABLE_FULL
	fc.send(errorReply(commit, errTypeBundleFailed, errBundleMsgFailed))
	err := <-errc
	if err == nil || !strings.Contains(err.Error(), testFlows[0]) || !strings.Contains(err.Error(), "TABLE_FULL") || !strings.Contains(err.Error(), "MSG_FAILED") {
		t.Fatalf("error %v: want the failed flow %q, TABLE_FULL and MSG_FAILED", err, testFlows[0])
	}
}

func TestVersionMismatch(t *testing.T) {
	sw := newFakeSwitch(t)
	c := NewClient(sw.path, Options{})
	defer c.Close()
	errc := make(chan error, 1)
	one := parseAll(t, testFlows[:1])
	go func() { errc <- c.Bundle(context.Background(), one) }()
	sw.accept(t, 1<<4|1<<1) // OpenFlow 1.3 and 1.0 only
	if err := <-errc; err == nil || !strings.Contains(err.Error(), "OpenFlow14") {
		t.Fatalf("error %v, want a version mismatch naming OpenFlow14", err)
	}
}

// The switch's echo requests are answered; a silent switch gets our echo
// request and, staying silent, is dropped; the next bundle reconnects.
func TestEchoAndReconnect(t *testing.T) {
	sw := newFakeSwitch(t)
	c := NewClient(sw.path, Options{EchoInterval: 50 * time.Millisecond, EchoTimeout: 100 * time.Millisecond})
	defer c.Close()
	errc := make(chan error, 1)
	one := parseAll(t, testFlows[:1])
	go func() { errc <- c.Bundle(context.Background(), one) }()
	fc := sw.accept(t, 1<<Version)
	_, barrier := fc.expectBundleStart(1)
	// An echo request in the middle of the bundle is answered at once.
	fc.send(echoMsg(typeEchoRequest, 0xabc, []byte("ping")))
	if r := fc.read(); r[1] != typeEchoReply || xidOf(r) != 0xabc || string(r[8:]) != "ping" {
		t.Fatalf("want echo reply xid 0xabc with our data, got type %d xid %#x", r[1], xidOf(r))
	}
	fc.send(appendHeader(nil, typeBarrierReply, headerLen, xidOf(barrier)))
	commit := fc.read()
	fc.send(ctrlReply(commit, bundleCommitReply))
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	// Idle and silent: the client asks, then hangs up.
	if r := fc.read(); r[1] != typeEchoRequest {
		t.Fatalf("want an echo request from the idle client, got type %d", r[1])
	}
	_ = fc.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		if _, err := fc.r.ReadByte(); err != nil {
			break // closed by the client (or the deadline, which the next check catches)
		}
	}
	go func() { errc <- c.Bundle(context.Background(), one) }()
	fc2 := sw.accept(t, 1<<Version)
	_, barrier = fc2.expectBundleStart(1)
	fc2.send(appendHeader(nil, typeBarrierReply, headerLen, xidOf(barrier)))
	fc2.send(ctrlReply(fc2.read(), bundleCommitReply))
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if n := c.Dials(); n != 2 {
		t.Errorf("dials = %d, want 2 (one reconnect)", n)
	}
}

// A connection that breaks in the middle of a bundle (ovs-vswitchd
// restarting) gets the bundle again on a new connection.
func TestBundleRetriedOnNewConnection(t *testing.T) {
	sw := newFakeSwitch(t)
	c := NewClient(sw.path, Options{})
	defer c.Close()
	errc := make(chan error, 1)
	mods := parseAll(t, testFlows)
	go func() { errc <- c.Bundle(context.Background(), mods) }()
	fc := sw.accept(t, 1<<Version)
	fc.expectBundleStart(len(testFlows))
	fc.c.Close() // the switch dies before answering the barrier
	fc2 := sw.accept(t, 1<<Version)
	_, barrier := fc2.expectBundleStart(len(testFlows))
	fc2.send(appendHeader(nil, typeBarrierReply, headerLen, xidOf(barrier)))
	fc2.send(ctrlReply(fc2.read(), bundleCommitReply))
	if err := <-errc; err != nil {
		t.Fatalf("bundle after a broken connection: %v", err)
	}
}
