package vxlan

import (
	"context"
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"neutrino/internal/lab"
)

// auxCmsg builds the PACKET_AUXDATA control message the kernel sends.
func auxCmsg(status uint32, tci, tpid uint16) []byte {
	b := make([]byte, cmsgAlign(unix.SizeofCmsghdr+int(unsafe.Sizeof(unix.TpacketAuxdata{}))))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = unix.SOL_PACKET, unix.PACKET_AUXDATA
	h.SetLen(unix.SizeofCmsghdr + int(unsafe.Sizeof(unix.TpacketAuxdata{})))
	aux := (*unix.TpacketAuxdata)(unsafe.Pointer(&b[unix.SizeofCmsghdr]))
	aux.Status, aux.Vlan_tci, aux.Vlan_tpid = status, tci, tpid
	return b
}

func TestVLANTagFromAuxdata(t *testing.T) {
	ts := make([]byte, cmsgAlign(unix.SizeofCmsghdr+16)) // a timestamp first, as the kernel sends it
	th := (*unix.Cmsghdr)(unsafe.Pointer(&ts[0]))
	th.Level, th.Type = unix.SOL_SOCKET, unix.SCM_TIMESTAMPNS
	th.SetLen(unix.SizeofCmsghdr + 16)
	for _, tc := range []struct {
		name      string
		oob       []byte
		tpid, tci uint16
		ok        bool
	}{
		{"no auxdata", ts, 0, 0, false},
		{"untagged", append(ts, auxCmsg(unix.TP_STATUS_USER, 0, 0)...), 0, 0, false},
		{"VLAN 100, priority 5", append(ts, auxCmsg(unix.TP_STATUS_VLAN_VALID, 5<<13|100, 0)...), EtherTypeVLAN, 5<<13 | 100, true},
		{"VLAN 0 (priority tag) is a tag too", append(ts, auxCmsg(unix.TP_STATUS_VLAN_VALID, 0, 0)...), EtherTypeVLAN, 0, true},
		{"802.1ad TPID", append(ts, auxCmsg(unix.TP_STATUS_VLAN_VALID|unix.TP_STATUS_VLAN_TPID_VALID, 7, 0x88a8)...), 0x88a8, 7, true},
	} {
		tpid, tci, ok := vlanTag(tc.oob)
		if tpid != tc.tpid || tci != tc.tci || ok != tc.ok {
			t.Errorf("%s: vlanTag = %#x %#x %v, want %#x %#x %v", tc.name, tpid, tci, ok, tc.tpid, tc.tci, tc.ok)
		}
	}
	frame := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x08, 0x06, 0xaa}
	got := withVLAN(frame, EtherTypeVLAN, 100)
	want := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x81, 0x00, 0x00, 100, 0x08, 0x06, 0xaa}
	if string(got) != string(want) {
		t.Errorf("withVLAN = % x, want % x", got, want)
	}
}

// TestCaptureSeesVLANTag sends 802.1Q-tagged frames over a veth and
// checks that our capture on the receiving end shows the tag they carry on
// the wire (the kernel takes it off and hands it to packet sockets beside
// the data), as tcpdump does. The frames are injected with a packet socket,
// so the test needs no VLAN device (this kernel may lack 8021q).
func TestCaptureSeesVLANTag(t *testing.T) {
	needRoot(t, "ip", "tcpdump")
	nsA, nsB := vxlanPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ch, cerr, err := Capture(ctx, nsA, "ul0", Options{})
	if err != nil {
		t.Fatal(err)
	}
	td, err := lab.Start(nsA, "tcpdump", "-l", "-n", "-e", "-i", "ul0", "vlan 42")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = td.Stop() }()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(td.Output(), "listening on"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("tcpdump did not start: %s", td.Output())
		}
	}
	tx, err := Open(nsB, "ul0", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	f := Frame{Layers: LayerEthernet | LayerVLAN | LayerARP,
		Ethernet: Ethernet{Dst: MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, Src: MAC{0xfa, 0x16, 0x3e, 0, 0, 0x42}, VLAN: 42},
		ARP: ARP{Op: 1, SenderMAC: MAC{0xfa, 0x16, 0x3e, 0, 0, 0x42},
			SenderIP: netip.MustParseAddr("198.18.78.2"), TargetIP: netip.MustParseAddr("198.18.78.1")}}
	for range 3 {
		if err := tx.Send(f.Append(nil)); err != nil {
			t.Fatal(err)
		}
	}
	// Read until the three frames are in (not for a fixed time: under
	// load the capture falls behind, and frames it has not read when it
	// is cancelled are lost), then drain what else came.
	tagged := 0
	count := func(r Record) {
		var p Packet
		if err := Decode(r.Data, &p); err != nil || p.Outer.Layers&LayerARP == 0 || p.Outer.ARP.SenderIP != f.ARP.SenderIP {
			return
		}
		if p.Outer.Layers&LayerVLAN == 0 || p.Outer.Ethernet.VLAN != 42 {
			t.Errorf("frame sent with tag 42 captured as %s", r.String())
			return
		}
		if binary.BigEndian.Uint16(r.Data[12:]) != EtherTypeVLAN || r.OrigLen != len(r.Data) {
			t.Errorf("tag not in the frame data (orig len %d, data %d): % x", r.OrigLen, len(r.Data), r.Data[:18])
		}
		tagged++
	}
	for tagged < 3 {
		r, ok := <-ch // the capture ends with ctx (30 s) at the latest
		if !ok {
			break
		}
		count(r)
	}
	cancel()
	for r := range ch {
		count(r)
	}
	if err := cerr(); err != nil && err != context.Canceled {
		t.Errorf("capture: %v", err)
	}
	if tagged != 3 {
		t.Errorf("captured %d frames tagged 42, want 3", tagged)
	}
	// tcpdump prints late under load too: wait for its three lines.
	for deadline := time.Now().Add(20 * time.Second); strings.Count(td.Output(), "vlan 42") < 3 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	_ = td.Stop()
	if n := strings.Count(td.Output(), "vlan 42"); n != 3 {
		t.Errorf("tcpdump saw %d frames tagged vlan 42, want 3:\n%s", n, td.Output())
	}
}

// TestSnifferReadsQueuedWithoutWaiting: a read that must not wait takes
// the frames the socket has queued and then reports that none is left
// (what Capture delivers after its context ends, so a capture stopped
// while its reader lags loses nothing that crossed the interface).
func TestSnifferReadsQueuedWithoutWaiting(t *testing.T) {
	needRoot(t, "ip")
	nsA, nsB := vxlanPair(t)
	rx, err := Open(nsA, "ul0", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	tx, err := Open(nsB, "ul0", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	sender := netip.MustParseAddr("198.18.78.9")
	f := Frame{Layers: LayerEthernet | LayerARP,
		Ethernet: Ethernet{Dst: MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, Src: MAC{0xfa, 0x16, 0x3e, 0, 0, 0x49}},
		ARP:      ARP{Op: 1, SenderMAC: MAC{0xfa, 0x16, 0x3e, 0, 0, 0x49}, SenderIP: sender, TargetIP: netip.MustParseAddr("198.18.78.1")}}
	ours := func(r Record) bool {
		var p Packet
		return Decode(r.Data, &p) == nil && p.Outer.Layers&LayerARP != 0 && p.Outer.ARP.SenderIP == sender
	}
	for range 3 {
		if err := tx.Send(f.Append(nil)); err != nil {
			t.Fatal(err)
		}
	}
	got := 0
	for deadline := time.Now().Add(20 * time.Second); got < 3; {
		r, err := rx.read(context.Background(), false)
		switch {
		case errors.Is(err, errNoFrame):
			if time.Now().After(deadline) {
				t.Fatalf("%d of 3 frames read", got)
			}
			time.Sleep(10 * time.Millisecond) // not yet delivered to the socket
		case err != nil:
			t.Fatal(err)
		case ours(r):
			got++
		}
	}
	for {
		r, err := rx.read(context.Background(), false)
		if errors.Is(err, errNoFrame) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if ours(r) {
			t.Fatal("a fourth frame read")
		}
	}
}
