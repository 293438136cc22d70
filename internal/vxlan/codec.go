package vxlan

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// UDP ports that carry VXLAN.
const (
	PortIANA  = 4789 // RFC 7348, Neutron's default vxlan_udp_port
	PortLinux = 8472 // the Linux kernel's default when a vxlan device has no dstport
)

// HeaderLen is the VXLAN header's size; FlagVNI is its "I" flag (VNI valid).
const (
	HeaderLen = 8
	FlagVNI   = 0x08
	MaxVNI    = 1<<24 - 1
)

// EtherTypes and IP protocol numbers the codec knows.
const (
	EtherTypeIPv4 = 0x0800
	EtherTypeARP  = 0x0806
	EtherTypeVLAN = 0x8100
	EtherTypeIPv6 = 0x86dd

	ProtoICMP   = 1
	ProtoTCP    = 6
	ProtoUDP    = 17
	ProtoICMPv6 = 58
)

// ARP operations.
const (
	ARPRequest = 1
	ARPReply   = 2
)

// MAC is an Ethernet address (an array, so decoding does not allocate).
type MAC [6]byte

// Broadcast is ff:ff:ff:ff:ff:ff.
var Broadcast = MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// ParseMAC parses "fa:16:3e:00:00:01".
func ParseMAC(s string) (MAC, error) {
	var m MAC
	if len(s) != 17 {
		return m, fmt.Errorf("parse MAC %q: want 6 colon-separated hex octets", s)
	}
	for i := range 6 {
		if i > 0 && s[3*i-1] != ':' {
			return m, fmt.Errorf("parse MAC %q: want 6 colon-separated hex octets", s)
		}
		hi, ok1 := unhex(s[3*i])
		lo, ok2 := unhex(s[3*i+1])
		if !ok1 || !ok2 {
			return m, fmt.Errorf("parse MAC %q: bad hex digit", s)
		}
		m[i] = hi<<4 | lo
	}
	return m, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func (m MAC) String() string { return string(m.appendTo(nil)) }

func (m MAC) appendTo(b []byte) []byte {
	const digits = "0123456789abcdef"
	for i, o := range m {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, digits[o>>4], digits[o&15])
	}
	return b
}

// Layers says which headers a Frame holds.
type Layers uint16

const (
	LayerEthernet Layers = 1 << iota
	LayerVLAN            // an 802.1Q tag
	LayerARP
	LayerIPv4
	LayerUDP
	LayerTCP
	LayerICMP   // ICMP for IPv4
	LayerIPv6   // fixed header; extension headers are skipped
	LayerICMPv6 // held in Frame.ICMP
)

// Ethernet is the link header. EtherType is the type after any VLAN tag.
type Ethernet struct {
	Dst, Src  MAC
	VLAN      uint16 // VLAN id when LayerVLAN is set
	EtherType uint16
}

// ARP is an Ethernet/IPv4 ARP message.
type ARP struct {
	Op                   uint16
	SenderMAC, TargetMAC MAC
	SenderIP, TargetIP   netip.Addr
}

// IPv4 holds the IPv4 header fields a reader of captures cares about.
// Options are skipped when decoding and never encoded.
type IPv4 struct {
	TOS           uint8
	ID            uint16
	DontFragment  bool
	MoreFragments bool
	FragOffset    uint16 // in 8-byte units
	TTL           uint8
	Protocol      uint8
	Src, Dst      netip.Addr
}

// IPv6 holds the IPv6 header fields. NextHeader is the upper-layer protocol
// after any extension headers (hop-by-hop, routing, destination options,
// fragment), which are skipped when decoding and never encoded; for a
// later fragment it is 44 and Payload starts with the fragment header.
type IPv6 struct {
	TrafficClass uint8
	FlowLabel    uint32
	NextHeader   uint8
	HopLimit     uint8
	Fragment     bool // a non-first fragment: no transport header
	Src, Dst     netip.Addr
}

// UDP holds the ports of a UDP header.
type UDP struct{ SrcPort, DstPort uint16 }

// TCP holds the TCP header fields printed for a capture (no options).
type TCP struct {
	SrcPort, DstPort uint16
	Seq, Ack         uint32
	Flags            uint8 // FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, URG 0x20
	Window           uint16
}

// ICMP is an ICMPv4 or ICMPv6 header; ID and Seq are the echo identifier
// and sequence (the second 32-bit word of any type). Target is the target
// address of an IPv6 neighbor solicitation or advertisement.
type ICMP struct {
	Type, Code uint8
	ID, Seq    uint16
	Target     netip.Addr
}

// ICMP types.
const (
	ICMPEchoReply   = 0
	ICMPUnreachable = 3
	ICMPEchoRequest = 8
	ICMPTimeExceed  = 11

	ICMPv6Unreachable   = 1
	ICMPv6TimeExceeded  = 3
	ICMPv6EchoRequest   = 128
	ICMPv6EchoReply     = 129
	ICMPv6RouterSolicit = 133
	ICMPv6RouterAdvert  = 134
	ICMPv6NeighSolicit  = 135
	ICMPv6NeighAdvert   = 136
	ICMPv6MLDv2Report   = 143
)

// Frame is one decoded Ethernet frame. Payload is what follows the last
// decoded header (an ICMP echo's data, a UDP datagram's payload, the bytes
// of an unknown EtherType); it aliases the decoded buffer.
type Frame struct {
	Layers   Layers
	Ethernet Ethernet
	ARP      ARP
	IPv4     IPv4
	IPv6     IPv6
	UDP      UDP
	TCP      TCP
	ICMP     ICMP
	Payload  []byte
}

// Header is the VXLAN header: flags (FlagVNI set in a valid header) and the
// 24-bit VXLAN network identifier.
type Header struct {
	Flags uint8
	VNI   uint32
}

// Packet is a captured frame: Outer as it crossed the wire and, when it is
// VXLAN, the VXLAN header and the encapsulated Inner frame. For VXLAN,
// Outer.Payload is the VXLAN header plus the inner frame.
type Packet struct {
	Outer   Frame
	IsVXLAN bool
	VXLAN   Header
	Inner   Frame
}

// Decoder decodes frames. Ports lists the UDP destination ports that carry
// VXLAN; empty means PortIANA and PortLinux.
type Decoder struct {
	Ports []uint16
}

// Decode decodes b with the default VXLAN ports (4789 and 8472).
func Decode(b []byte, p *Packet) error { return Decoder{}.Decode(b, p) }

func (d Decoder) isVXLAN(port uint16) bool {
	if len(d.Ports) == 0 {
		return port == PortIANA || port == PortLinux
	}
	for _, x := range d.Ports {
		if x == port {
			return true
		}
	}
	return false
}

// TruncatedError says a header did not fit in what was captured.
type TruncatedError struct {
	Layer      string
	Need, Have int
}

func (e *TruncatedError) Error() string {
	return fmt.Sprintf("decode %s: truncated: need %d bytes, have %d", e.Layer, e.Need, e.Have)
}

// Decode decodes b into p, which is reset first; p's slices alias b. It
// does not allocate on success. On error p holds the layers decoded so far.
func (d Decoder) Decode(b []byte, p *Packet) error {
	*p = Packet{}
	if err := decodeFrame(b, &p.Outer); err != nil {
		return err
	}
	if p.Outer.Layers&LayerUDP == 0 || !d.isVXLAN(p.Outer.UDP.DstPort) {
		return nil
	}
	vx := p.Outer.Payload
	if len(vx) < HeaderLen {
		return &TruncatedError{"vxlan", HeaderLen, len(vx)}
	}
	p.IsVXLAN = true
	p.VXLAN = Header{Flags: vx[0], VNI: binary.BigEndian.Uint32(vx[4:8]) >> 8}
	if err := decodeFrame(vx[HeaderLen:], &p.Inner); err != nil {
		return fmt.Errorf("inner frame: %w", err)
	}
	return nil
}

// DecodeFrame decodes one Ethernet frame without looking for VXLAN.
func DecodeFrame(b []byte, f *Frame) error { return decodeFrame(b, f) }

func decodeFrame(b []byte, f *Frame) error {
	*f = Frame{}
	if len(b) < 14 {
		return &TruncatedError{"ethernet", 14, len(b)}
	}
	copy(f.Ethernet.Dst[:], b[0:6])
	copy(f.Ethernet.Src[:], b[6:12])
	f.Layers = LayerEthernet
	et := be16(b[12:])
	b = b[14:]
	if et == EtherTypeVLAN {
		if len(b) < 4 {
			return &TruncatedError{"802.1q", 4, len(b)}
		}
		f.Layers |= LayerVLAN
		f.Ethernet.VLAN = be16(b) & 0x0fff
		et = be16(b[2:])
		b = b[4:]
	}
	f.Ethernet.EtherType = et
	switch et {
	case EtherTypeARP:
		return decodeARP(b, f)
	case EtherTypeIPv4:
		return decodeIPv4(b, f)
	case EtherTypeIPv6:
		return decodeIPv6(b, f)
	}
	f.Payload = b
	return nil
}

func decodeARP(b []byte, f *Frame) error {
	if len(b) < 8 {
		return &TruncatedError{"arp", 8, len(b)}
	}
	if be16(b) != 1 || be16(b[2:]) != EtherTypeIPv4 || b[4] != 6 || b[5] != 4 {
		f.Payload = b // not Ethernet/IPv4 ARP: leave it undecoded
		return nil
	}
	if len(b) < 28 {
		return &TruncatedError{"arp", 28, len(b)}
	}
	f.Layers |= LayerARP
	a := &f.ARP
	a.Op = be16(b[6:])
	copy(a.SenderMAC[:], b[8:14])
	a.SenderIP = netip.AddrFrom4([4]byte(b[14:18]))
	copy(a.TargetMAC[:], b[18:24])
	a.TargetIP = netip.AddrFrom4([4]byte(b[24:28]))
	f.Payload = b[28:] // Ethernet padding, if any
	return nil
}

func decodeIPv4(b []byte, f *Frame) error {
	if len(b) < 20 {
		return &TruncatedError{"ipv4", 20, len(b)}
	}
	if b[0]>>4 != 4 {
		return fmt.Errorf("decode ipv4: version %d", b[0]>>4)
	}
	ihl := int(b[0]&0x0f) * 4
	total := int(be16(b[2:]))
	if ihl < 20 || total < ihl {
		return fmt.Errorf("decode ipv4: header length %d, total length %d", ihl, total)
	}
	if len(b) < total {
		return &TruncatedError{"ipv4", total, len(b)}
	}
	f.Layers |= LayerIPv4
	ip := &f.IPv4
	ip.TOS = b[1]
	ip.ID = be16(b[4:])
	frag := be16(b[6:])
	ip.DontFragment = frag&0x4000 != 0
	ip.MoreFragments = frag&0x2000 != 0
	ip.FragOffset = frag & 0x1fff
	ip.TTL = b[8]
	ip.Protocol = b[9]
	ip.Src = netip.AddrFrom4([4]byte(b[12:16]))
	ip.Dst = netip.AddrFrom4([4]byte(b[16:20]))
	b = b[ihl:total] // drops Ethernet padding
	if ip.FragOffset != 0 {
		f.Payload = b // a later fragment has no transport header
		return nil
	}
	return decodeTransport(b, ip.Protocol, false, f)
}

func decodeIPv6(b []byte, f *Frame) error {
	if len(b) < 40 {
		return &TruncatedError{"ipv6", 40, len(b)}
	}
	if b[0]>>4 != 6 {
		return fmt.Errorf("decode ipv6: version %d", b[0]>>4)
	}
	total := 40 + int(be16(b[4:]))
	if len(b) < total {
		return &TruncatedError{"ipv6", total, len(b)}
	}
	f.Layers |= LayerIPv6
	ip := &f.IPv6
	ip.TrafficClass = uint8(be16(b) >> 4)
	ip.FlowLabel = be32(b) & 0xfffff
	ip.HopLimit = b[7]
	ip.Src = netip.AddrFrom16([16]byte(b[8:24]))
	ip.Dst = netip.AddrFrom16([16]byte(b[24:40]))
	next := b[6]
	b = b[40:total]
	for { // skip extension headers
		switch next {
		case 0, 43, 60: // hop-by-hop, routing, destination options
			if len(b) < 8 || len(b) < 8+int(b[1])*8 {
				return &TruncatedError{"ipv6 extension header", 8, len(b)}
			}
			next, b = b[0], b[8+int(b[1])*8:]
			continue
		case 44: // fragment
			if len(b) < 8 {
				return &TruncatedError{"ipv6 fragment header", 8, len(b)}
			}
			if be16(b[2:])&0xfff8 != 0 {
				// A later fragment: keep the fragment header in the
				// payload, so the frame re-encodes as it was.
				ip.NextHeader, ip.Fragment, f.Payload = 44, true, b
				return nil
			}
			next, b = b[0], b[8:]
			continue
		}
		break
	}
	ip.NextHeader = next
	return decodeTransport(b, next, true, f)
}

// decodeTransport decodes the UDP, TCP or ICMP header after an IP header.
func decodeTransport(b []byte, proto uint8, v6 bool, f *Frame) error {
	switch {
	case proto == ProtoUDP:
		if len(b) < 8 {
			return &TruncatedError{"udp", 8, len(b)}
		}
		f.Layers |= LayerUDP
		f.UDP = UDP{SrcPort: be16(b), DstPort: be16(b[2:])}
		if n := int(be16(b[4:])); n >= 8 && n <= len(b) {
			b = b[:n]
		}
		f.Payload = b[8:]
	case proto == ProtoICMP && !v6, proto == ProtoICMPv6 && v6:
		if len(b) < 8 {
			return &TruncatedError{"icmp", 8, len(b)}
		}
		f.ICMP = ICMP{Type: b[0], Code: b[1], ID: be16(b[4:]), Seq: be16(b[6:])}
		f.Payload = b[8:]
		if !v6 {
			f.Layers |= LayerICMP
			return nil
		}
		f.Layers |= LayerICMPv6
		if (b[0] == ICMPv6NeighSolicit || b[0] == ICMPv6NeighAdvert) && len(b) >= 24 {
			f.ICMP.Target = netip.AddrFrom16([16]byte(b[8:24]))
			f.Payload = b[24:]
		}
	case proto == ProtoTCP:
		if len(b) < 20 {
			return &TruncatedError{"tcp", 20, len(b)}
		}
		off := int(b[12]>>4) * 4
		if off < 20 || off > len(b) {
			return fmt.Errorf("decode tcp: data offset %d of %d bytes", off, len(b))
		}
		f.Layers |= LayerTCP
		f.TCP = TCP{SrcPort: be16(b), DstPort: be16(b[2:]), Seq: be32(b[4:]), Ack: be32(b[8:]),
			Flags: b[13], Window: be16(b[14:])}
		f.Payload = b[off:]
	default:
		f.Payload = b
	}
	return nil
}

func be16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }
func be32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }

// Append encodes the frame after b and returns the extended slice: Ethernet
// (with an 802.1Q tag when LayerVLAN is set), then ARP, or IPv4/IPv6 with
// UDP, TCP or ICMP, then Payload. Lengths and checksums are computed;
// EtherType and the IP protocol follow from Layers when left zero. An
// address of the wrong family encodes as zeros.
func (f *Frame) Append(b []byte) []byte {
	b = append(b, f.Ethernet.Dst[:]...)
	b = append(b, f.Ethernet.Src[:]...)
	if f.Layers&LayerVLAN != 0 {
		b = binary.BigEndian.AppendUint16(b, EtherTypeVLAN)
		b = binary.BigEndian.AppendUint16(b, f.Ethernet.VLAN&0x0fff)
	}
	et := f.Ethernet.EtherType
	switch {
	case et != 0:
	case f.Layers&LayerARP != 0:
		et = EtherTypeARP
	case f.Layers&LayerIPv4 != 0:
		et = EtherTypeIPv4
	case f.Layers&LayerIPv6 != 0:
		et = EtherTypeIPv6
	}
	b = binary.BigEndian.AppendUint16(b, et)
	switch {
	case f.Layers&LayerARP != 0:
		a := &f.ARP
		b = append(b, 0, 1, 0x08, 0x00, 6, 4)
		b = binary.BigEndian.AppendUint16(b, a.Op)
		b = append(b, a.SenderMAC[:]...)
		b = append4(b, a.SenderIP)
		b = append(b, a.TargetMAC[:]...)
		b = append4(b, a.TargetIP)
		return append(b, f.Payload...)
	case f.Layers&(LayerIPv4|LayerIPv6) != 0:
		return f.appendIP(b)
	}
	return append(b, f.Payload...)
}

func append4(b []byte, a netip.Addr) []byte {
	if !a.Is4() {
		return append(b, 0, 0, 0, 0)
	}
	v := a.As4()
	return append(b, v[:]...)
}

func append16(b []byte, a netip.Addr) []byte {
	if !a.Is6() {
		return append(b, make([]byte, 16)...)
	}
	v := a.As16()
	return append(b, v[:]...)
}

// transport is the protocol number and header size Append writes after
// the IP header.
func (f *Frame) transport() (proto uint8, hdr int) {
	switch {
	case f.Layers&LayerUDP != 0:
		return ProtoUDP, 8
	case f.Layers&LayerICMP != 0:
		return ProtoICMP, 8
	case f.Layers&LayerICMPv6 != 0:
		if (f.ICMP.Type == ICMPv6NeighSolicit || f.ICMP.Type == ICMPv6NeighAdvert) && f.ICMP.Target.IsValid() {
			return ProtoICMPv6, 24
		}
		return ProtoICMPv6, 8
	case f.Layers&LayerTCP != 0:
		return ProtoTCP, 20
	}
	if f.Layers&LayerIPv6 != 0 {
		return f.IPv6.NextHeader, 0
	}
	return f.IPv4.Protocol, 0
}

func (f *Frame) appendIP(b []byte) []byte {
	proto, l4 := f.transport()
	n := l4 + len(f.Payload) // upper-layer length
	var sum uint32           // pseudo-header sum for UDP, TCP and ICMPv6
	if f.Layers&LayerIPv6 != 0 {
		ip := &f.IPv6
		b = binary.BigEndian.AppendUint32(b, 6<<28|uint32(ip.TrafficClass)<<20|ip.FlowLabel&0xfffff)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
		b = append(b, proto, ip.HopLimit)
		start := len(b)
		b = append16(b, ip.Src)
		b = append16(b, ip.Dst)
		sum = sum16(b[start:], 0) + uint32(n>>16) + uint32(n&0xffff) + uint32(proto)
	} else {
		ip := &f.IPv4
		start := len(b)
		b = append(b, 0x45, ip.TOS)
		b = binary.BigEndian.AppendUint16(b, uint16(20+n))
		b = binary.BigEndian.AppendUint16(b, ip.ID)
		frag := ip.FragOffset & 0x1fff
		if ip.DontFragment {
			frag |= 0x4000
		}
		if ip.MoreFragments {
			frag |= 0x2000
		}
		b = binary.BigEndian.AppendUint16(b, frag)
		b = append(b, ip.TTL, proto, 0, 0)
		b = append4(b, ip.Src)
		b = append4(b, ip.Dst)
		binary.BigEndian.PutUint16(b[start+10:], checksum(b[start:start+20], 0))
		sum = sum16(b[start+12:start+20], 0) + uint32(proto) + uint32(n)
	}

	l4start := len(b)
	switch {
	case l4 == 0:
		return append(b, f.Payload...)
	case proto == ProtoUDP:
		b = binary.BigEndian.AppendUint16(b, f.UDP.SrcPort)
		b = binary.BigEndian.AppendUint16(b, f.UDP.DstPort)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
		b = append(b, 0, 0)
		b = append(b, f.Payload...)
		c := checksum(b[l4start:], sum)
		if c == 0 {
			c = 0xffff // zero means "no checksum" in UDP
		}
		binary.BigEndian.PutUint16(b[l4start+6:], c)
	case proto == ProtoICMP || proto == ProtoICMPv6:
		b = append(b, f.ICMP.Type, f.ICMP.Code, 0, 0)
		b = binary.BigEndian.AppendUint16(b, f.ICMP.ID)
		b = binary.BigEndian.AppendUint16(b, f.ICMP.Seq)
		if l4 == 24 {
			b = append16(b, f.ICMP.Target)
		}
		b = append(b, f.Payload...)
		if proto == ProtoICMP {
			sum = 0 // ICMPv4 has no pseudo-header
		}
		binary.BigEndian.PutUint16(b[l4start+2:], checksum(b[l4start:], sum))
	case proto == ProtoTCP:
		t := &f.TCP
		b = binary.BigEndian.AppendUint16(b, t.SrcPort)
		b = binary.BigEndian.AppendUint16(b, t.DstPort)
		b = binary.BigEndian.AppendUint32(b, t.Seq)
		b = binary.BigEndian.AppendUint32(b, t.Ack)
		b = append(b, 5<<4, t.Flags)
		b = binary.BigEndian.AppendUint16(b, t.Window)
		b = append(b, 0, 0, 0, 0) // checksum, urgent pointer
		b = append(b, f.Payload...)
		binary.BigEndian.PutUint16(b[l4start+16:], checksum(b[l4start:], sum))
	}
	return b
}

// sum16 adds b as big-endian 16-bit words to sum (not folded).
func sum16(b []byte, sum uint32) uint32 {
	for ; len(b) >= 2; b = b[2:] {
		sum += uint32(b[0])<<8 | uint32(b[1])
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	return sum
}

// checksum is the Internet checksum (RFC 1071) of b, starting from sum.
func checksum(b []byte, sum uint32) uint16 {
	sum = sum16(b, sum)
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// Append encodes the packet after b. A VXLAN packet is encoded as Outer's
// Ethernet/IP/UDP headers (UDP is implied, and IPv4 unless Outer has
// LayerIPv6), the VXLAN header and Inner; Outer.Payload is ignored then.
func (p *Packet) Append(b []byte) []byte {
	if !p.IsVXLAN {
		return p.Outer.Append(b)
	}
	vx := make([]byte, HeaderLen, HeaderLen+64+len(p.Inner.Payload))
	vx[0] = p.VXLAN.Flags
	binary.BigEndian.PutUint32(vx[4:], p.VXLAN.VNI<<8)
	vx = p.Inner.Append(vx)
	outer := p.Outer
	outer.Layers |= LayerUDP
	if outer.Layers&LayerIPv6 == 0 {
		outer.Layers |= LayerIPv4
	}
	outer.Layers &^= LayerARP | LayerTCP | LayerICMP | LayerICMPv6
	outer.Payload = vx
	return outer.Append(b)
}
