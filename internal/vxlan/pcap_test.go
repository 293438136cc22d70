package vxlan

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPcapRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewPcapWriter(&buf, 0)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 23, 21, 0, 0, 123456789, time.UTC)
	var frames [][]byte
	for i, s := range samples() {
		b := s.p.Append(nil)
		frames = append(frames, b)
		if err := w.WritePacket(t0.Add(time.Duration(i)*time.Millisecond), b, len(b)); err != nil {
			t.Fatal(err)
		}
	}
	if got := binary.LittleEndian.Uint32(buf.Bytes()[20:]); got != LinkTypeEthernet {
		t.Fatalf("link type %d", got)
	}
	r, err := NewPcapReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range frames {
		ts, data, orig, err := r.Next()
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		wantTS := t0.Add(time.Duration(i) * time.Millisecond).Truncate(time.Microsecond)
		if !ts.Equal(wantTS) || !bytes.Equal(data, want) || orig != len(want) {
			t.Errorf("record %d: %v %d bytes (orig %d), want %v %d bytes", i, ts, len(data), orig, wantTS, len(want))
		}
	}
	if _, _, _, err := r.Next(); err != io.EOF {
		t.Errorf("after the last record: %v, want io.EOF", err)
	}
	// A record cut short is an error, not a clean end.
	r, _ = NewPcapReader(bytes.NewReader(buf.Bytes()[:buf.Len()-3]))
	for err == nil {
		_, _, _, err = r.Next()
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated file: %v", err)
	}
}

func TestPcapSnaplen(t *testing.T) {
	var buf bytes.Buffer
	w, _ := NewPcapWriter(&buf, 64)
	big := make([]byte, 100)
	if err := w.WritePacket(time.Unix(1, 0), big, 0); err != nil {
		t.Fatal(err)
	}
	r, _ := NewPcapReader(&buf)
	_, data, orig, err := r.Next()
	if err != nil || len(data) != 64 || orig != 100 {
		t.Errorf("snaplen: %d bytes, orig %d, %v", len(data), orig, err)
	}
}

func TestPcapReaderFormats(t *testing.T) {
	// A big-endian nanosecond file, as some tools write.
	var b bytes.Buffer
	be := binary.BigEndian
	h := make([]byte, 24)
	be.PutUint32(h, pcapMagicNano)
	be.PutUint16(h[4:], 2)
	be.PutUint16(h[6:], 4)
	be.PutUint32(h[16:], 65535)
	be.PutUint32(h[20:], LinkTypeEthernet)
	b.Write(h)
	rec := make([]byte, 16)
	be.PutUint32(rec, 10)
	be.PutUint32(rec[4:], 999)
	be.PutUint32(rec[8:], 2)
	be.PutUint32(rec[12:], 2)
	b.Write(rec)
	b.Write([]byte{0xab, 0xcd})
	r, err := NewPcapReader(&b)
	if err != nil {
		t.Fatal(err)
	}
	ts, data, _, err := r.Next()
	if err != nil || !ts.Equal(time.Unix(10, 999)) || !bytes.Equal(data, []byte{0xab, 0xcd}) || r.LinkType() != LinkTypeEthernet {
		t.Errorf("big-endian nano: %v %x %v", ts, data, err)
	}
	if _, err := NewPcapReader(bytes.NewReader(make([]byte, 24))); err == nil {
		t.Error("zero magic accepted")
	}
}

// TestPcapReadByTcpdump: Debian's tcpdump reads our file and decodes the
// same packets (tcpdump knows port 4789 as VXLAN).
func TestPcapReadByTcpdump(t *testing.T) {
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		t.Fatal("tcpdump is not installed (Debian package tcpdump; `make test` installs it via scripts/deps.sh)")
	}
	path := filepath.Join(t.TempDir(), "ours.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewPcapWriter(f, 0)
	if err != nil {
		t.Fatal(err)
	}
	ss := samples()
	for i, s := range ss {
		b := s.p.Append(nil)
		if err := w.WritePacket(time.Unix(1700000000+int64(i), 0), b, len(b)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tcpdump, "-n", "-r", path).CombinedOutput()
	if err != nil {
		t.Fatalf("tcpdump -r: %v\n%s", err, out)
	}
	lines := tcpdumpRecords(string(out))
	if len(lines) != len(ss) {
		t.Fatalf("tcpdump printed %d packets, we wrote %d:\n%s", len(lines), len(ss), out)
	}
	// Fragments tcpdump prints for our samples.
	want := map[string][]string{
		"vxlan icmp echo request": {"198.18.255.101.40000 > 198.18.255.102.4789: VXLAN", "vni 1001",
			"192.168.1.1 > 192.168.1.4: ICMP echo request, id 1, seq 1"},
		"vxlan icmp echo reply":   {"VXLAN", "vni 1001", "192.168.1.4 > 192.168.1.1: ICMP echo reply, id 1, seq 1"},
		"vxlan arp request":       {"VXLAN", "vni 1001", "ARP, Request who-has 192.168.1.4 tell 192.168.1.1"},
		"vxlan arp reply":         {"VXLAN", "vni 16777215", "ARP, Reply 192.168.1.4 is-at fa:16:3e:00:00:04"},
		"vxlan on the Linux port": {"198.18.255.101.40003 > 198.18.255.102.8472"},
		"vlan-tagged echo reply":  {"192.168.1.4 > 192.168.1.1: ICMP echo reply, id 1, seq 2"},
		"plain udp":               {"192.168.1.1.40000 > 192.168.1.4.33434: UDP, length 5"},
		"tcp syn-ack":             {"192.168.1.4.5201 > 192.168.1.1.40000: Flags [S.], seq 1000, ack 2001"},
		"unknown ethertype":       {"0x88b5"},
		"vxlan ipv6 neighbor solicitation": {"VXLAN", "vni 1001",
			"IP6 fe80::f816:3eff:fe00:1 > ff02::1:ff00:4: ICMP6, neighbor solicitation, who has fe80::f816:3eff:fe00:4"},
		"ipv6 echo request":           {"IP6 fe80::f816:3eff:fe00:1 > fe80::f816:3eff:fe00:4: ICMP6, echo request, id 77, seq 5"},
		"vxlan over an ipv6 underlay": {"IP6 2001:db8::101.40010 > 2001:db8::102.4789: VXLAN", "vni 1001", "ICMP echo request, id 1, seq 9"},
		"other ip protocol":           {"198.18.255.101 > 198.18.255.102:"},
	}
	for i, s := range ss {
		frags, ok := want[s.name]
		if !ok {
			t.Errorf("no tcpdump expectation for sample %q", s.name)
		}
		for _, frag := range frags {
			if !strings.Contains(lines[i], frag) {
				t.Errorf("%s: tcpdump line %q lacks %q", s.name, lines[i], frag)
			}
		}
	}
}

// tcpdumpRecords splits tcpdump -r output into one string per packet:
// a packet starts with its timestamp, and tcpdump prints an encapsulated
// frame on a second line.
func tcpdumpRecords(out string) []string {
	var recs []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		switch {
		case strings.HasPrefix(l, "reading from file"), l == "":
		case len(l) > 2 && l[2] == ':' && l[0] >= '0' && l[0] <= '9':
			recs = append(recs, l)
		case len(recs) > 0:
			recs[len(recs)-1] += " | " + l
		}
	}
	return recs
}
