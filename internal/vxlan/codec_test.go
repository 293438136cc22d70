package vxlan

import (
	"bytes"
	"net"
	"net/netip"
	"reflect"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

var (
	vtepMAC1 = MAC{0x52, 0x54, 0x00, 0x00, 0x01, 0x01}
	vtepMAC2 = MAC{0x52, 0x54, 0x00, 0x00, 0x01, 0x02}
	vmMAC1   = MAC{0xfa, 0x16, 0x3e, 0x00, 0x00, 0x01}
	vmMAC4   = MAC{0xfa, 0x16, 0x3e, 0x00, 0x00, 0x04}
	vtep1    = netip.MustParseAddr("198.18.255.101")
	vtep2    = netip.MustParseAddr("198.18.255.102")
	vm1      = netip.MustParseAddr("192.168.1.1")
	vm4      = netip.MustParseAddr("192.168.1.4")
)

func echo(typ uint8, src, dst MAC, sip, dip netip.Addr, id, seq uint16) Frame {
	return Frame{
		Layers:   LayerEthernet | LayerIPv4 | LayerICMP,
		Ethernet: Ethernet{Dst: dst, Src: src, EtherType: EtherTypeIPv4},
		IPv4:     IPv4{TTL: 64, Protocol: ProtoICMP, Src: sip, Dst: dip, ID: 0x1234, DontFragment: true},
		ICMP:     ICMP{Type: typ, ID: id, Seq: seq},
		Payload:  []byte("abcdefghijklmnopqrstuvwabcdefghi"),
	}
}

func arp(op uint16, dst, src MAC, sip, tip netip.Addr, tmac MAC) Frame {
	return Frame{
		Layers:   LayerEthernet | LayerARP,
		Ethernet: Ethernet{Dst: dst, Src: src, EtherType: EtherTypeARP},
		ARP:      ARP{Op: op, SenderMAC: src, SenderIP: sip, TargetMAC: tmac, TargetIP: tip},
		Payload:  []byte{},
	}
}

func encap(srcPort, dstPort uint16, vni uint32, inner Frame) Packet {
	return Packet{
		Outer: Frame{
			Layers:   LayerEthernet | LayerIPv4 | LayerUDP,
			Ethernet: Ethernet{Dst: vtepMAC2, Src: vtepMAC1, EtherType: EtherTypeIPv4},
			IPv4:     IPv4{TTL: 64, Protocol: ProtoUDP, Src: vtep1, Dst: vtep2, ID: 7},
			UDP:      UDP{SrcPort: srcPort, DstPort: dstPort},
		},
		IsVXLAN: true,
		VXLAN:   Header{Flags: FlagVNI, VNI: vni},
		Inner:   inner,
	}
}

type sample struct {
	name string
	p    Packet
	text string
}

func samples() []sample {
	vlanEcho := echo(ICMPEchoReply, vmMAC4, vmMAC1, vm4, vm1, 1, 2)
	vlanEcho.Layers |= LayerVLAN
	vlanEcho.Ethernet.VLAN = 100
	udp := Frame{
		Layers:   LayerEthernet | LayerIPv4 | LayerUDP,
		Ethernet: Ethernet{Dst: vmMAC4, Src: vmMAC1, EtherType: EtherTypeIPv4},
		IPv4:     IPv4{TTL: 64, Protocol: ProtoUDP, Src: vm1, Dst: vm4},
		UDP:      UDP{SrcPort: 40000, DstPort: 33434},
		Payload:  []byte("query"),
	}
	tcp := Frame{
		Layers:   LayerEthernet | LayerIPv4 | LayerTCP,
		Ethernet: Ethernet{Dst: vmMAC1, Src: vmMAC4, EtherType: EtherTypeIPv4},
		IPv4:     IPv4{TTL: 63, Protocol: ProtoTCP, Src: vm4, Dst: vm1, DontFragment: true},
		TCP:      TCP{SrcPort: 5201, DstPort: 40000, Seq: 1000, Ack: 2001, Flags: 0x12, Window: 65535},
		Payload:  []byte{},
	}
	experimental := Frame{
		Layers:   LayerEthernet,
		Ethernet: Ethernet{Dst: vmMAC4, Src: vmMAC1, EtherType: 0x88b5}, // IEEE local experimental
		Payload:  []byte{2, 7, 4, 0, 1, 2, 3, 4, 5, 0, 0},
	}
	ll1, ll4 := netip.MustParseAddr("fe80::f816:3eff:fe00:1"), netip.MustParseAddr("fe80::f816:3eff:fe00:4")
	ns := Frame{
		Layers:   LayerEthernet | LayerIPv6 | LayerICMPv6,
		Ethernet: Ethernet{Dst: MAC{0x33, 0x33, 0xff, 0, 0, 4}, Src: vmMAC1, EtherType: EtherTypeIPv6},
		IPv6:     IPv6{NextHeader: ProtoICMPv6, HopLimit: 255, Src: ll1, Dst: netip.MustParseAddr("ff02::1:ff00:4")},
		ICMP:     ICMP{Type: ICMPv6NeighSolicit, Target: ll4},
		Payload:  append([]byte{1, 1}, vmMAC1[:]...), // source link-layer address option
	}
	echo6 := Frame{
		Layers:   LayerEthernet | LayerIPv6 | LayerICMPv6,
		Ethernet: Ethernet{Dst: vmMAC4, Src: vmMAC1, EtherType: EtherTypeIPv6},
		IPv6:     IPv6{TrafficClass: 0x10, FlowLabel: 0xabcde, NextHeader: ProtoICMPv6, HopLimit: 64, Src: ll1, Dst: ll4},
		ICMP:     ICMP{Type: ICMPv6EchoRequest, ID: 77, Seq: 5},
		Payload:  []byte("ping6"),
	}
	over6 := encap(40010, PortIANA, 1001, echo(ICMPEchoRequest, vmMAC1, vmMAC4, vm1, vm4, 1, 9))
	over6.Outer.Layers = LayerEthernet | LayerIPv6 | LayerUDP
	over6.Outer.Ethernet.EtherType = EtherTypeIPv6
	over6.Outer.IPv4 = IPv4{}
	over6.Outer.IPv6 = IPv6{NextHeader: ProtoUDP, HopLimit: 64, Src: netip.MustParseAddr("2001:db8::101"), Dst: netip.MustParseAddr("2001:db8::102")}
	gre := Frame{
		Layers:   LayerEthernet | LayerIPv4,
		Ethernet: Ethernet{Dst: vtepMAC2, Src: vtepMAC1, EtherType: EtherTypeIPv4},
		IPv4:     IPv4{TTL: 64, Protocol: 47, Src: vtep1, Dst: vtep2},
		Payload:  []byte{0, 0, 0x65, 0x58},
	}
	return []sample{
		{"vxlan icmp echo request", encap(40000, PortIANA, 1001, echo(ICMPEchoRequest, vmMAC1, vmMAC4, vm1, vm4, 1, 1)),
			"198.18.255.101.40000 > 198.18.255.102.4789: VXLAN vni 1001: 192.168.1.1 > 192.168.1.4: ICMP echo request id 1 seq 1"},
		{"vxlan icmp echo reply", encap(51234, PortIANA, 1001, echo(ICMPEchoReply, vmMAC4, vmMAC1, vm4, vm1, 1, 1)),
			"198.18.255.101.51234 > 198.18.255.102.4789: VXLAN vni 1001: 192.168.1.4 > 192.168.1.1: ICMP echo reply id 1 seq 1"},
		{"vxlan arp request", encap(40001, PortIANA, 1001, arp(ARPRequest, Broadcast, vmMAC1, vm1, vm4, MAC{})),
			"198.18.255.101.40001 > 198.18.255.102.4789: VXLAN vni 1001: ARP who-has 192.168.1.4 tell 192.168.1.1"},
		{"vxlan arp reply", encap(40002, PortIANA, 16777215, arp(ARPReply, vmMAC1, vmMAC4, vm4, vm1, vmMAC1)),
			"198.18.255.101.40002 > 198.18.255.102.4789: VXLAN vni 16777215: ARP reply 192.168.1.4 is-at fa:16:3e:00:00:04"},
		{"vxlan on the Linux port", encap(40003, PortLinux, 1, udp),
			"198.18.255.101.40003 > 198.18.255.102.8472: VXLAN vni 1: 192.168.1.1.40000 > 192.168.1.4.33434: UDP length 5"},
		{"vlan-tagged echo reply", Packet{Outer: vlanEcho},
			"vlan 100: 192.168.1.4 > 192.168.1.1: ICMP echo reply id 1 seq 2"},
		{"plain udp", Packet{Outer: udp}, "192.168.1.1.40000 > 192.168.1.4.33434: UDP length 5"},
		{"tcp syn-ack", Packet{Outer: tcp}, "192.168.1.4.5201 > 192.168.1.1.40000: TCP [S.] length 0"},
		{"unknown ethertype", Packet{Outer: experimental}, "ethertype 0x88b5 length 11"},
		{"vxlan ipv6 neighbor solicitation", encap(40011, PortIANA, 1001, ns),
			"198.18.255.101.40011 > 198.18.255.102.4789: VXLAN vni 1001: fe80::f816:3eff:fe00:1 > ff02::1:ff00:4: ICMP6 neighbor solicitation who-has fe80::f816:3eff:fe00:4"},
		{"ipv6 echo request", Packet{Outer: echo6}, "fe80::f816:3eff:fe00:1 > fe80::f816:3eff:fe00:4: ICMP6 echo request id 77 seq 5"},
		{"vxlan over an ipv6 underlay", over6,
			"2001:db8::101.40010 > 2001:db8::102.4789: VXLAN vni 1001: 192.168.1.1 > 192.168.1.4: ICMP echo request id 1 seq 9"},
		{"other ip protocol", Packet{Outer: gre}, "198.18.255.101 > 198.18.255.102: ip-proto-47 length 4"},
	}
}

// TestRoundTrip: encode, decode, compare the headers, re-encode to the
// same bytes, and check the one-line text.
func TestRoundTrip(t *testing.T) {
	for _, tc := range samples() {
		t.Run(tc.name, func(t *testing.T) {
			wire := tc.p.Append(nil)
			var got Packet
			if err := Decode(wire, &got); err != nil {
				t.Fatal(err)
			}
			want := tc.p
			if want.IsVXLAN {
				want.Outer.Payload = wire[len(wire)-HeaderLen-len(tc.p.Inner.Append(nil)):]
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("decoded\n got %+v\nwant %+v", got, want)
			}
			if again := got.Append(nil); !bytes.Equal(again, wire) {
				t.Errorf("re-encoding differs:\n% x\n% x", again, wire)
			}
			if s := got.String(); s != tc.text {
				t.Errorf("text\n got %s\nwant %s", s, tc.text)
			}
		})
	}
}

// ethNoPad is gopacket's Ethernet header without the padding to 60 bytes
// that layers.Ethernet always adds (as a NIC would; a veth does not, and
// neither does our encoder). The layers above it are gopacket's own.
type ethNoPad struct{ layers.Ethernet }

func (e *ethNoPad) SerializeTo(b gopacket.SerializeBuffer, _ gopacket.SerializeOptions) error {
	h, err := b.PrependBytes(14)
	if err != nil {
		return err
	}
	copy(h[0:6], e.DstMAC)
	copy(h[6:12], e.SrcMAC)
	h[12], h[13] = byte(e.EthernetType>>8), byte(e.EthernetType)
	return nil
}

// toGopacket builds the same frame with gopacket's layers: an encoder
// written by other people, to check ours against.
func toGopacket(t *testing.T, f *Frame, vx *Header, inner *Frame) []gopacket.SerializableLayer {
	t.Helper()
	var ls []gopacket.SerializableLayer
	eth := &ethNoPad{layers.Ethernet{SrcMAC: net.HardwareAddr(f.Ethernet.Src[:]), DstMAC: net.HardwareAddr(f.Ethernet.Dst[:]),
		EthernetType: layers.EthernetType(f.Ethernet.EtherType)}}
	ls = append(ls, eth)
	if f.Layers&LayerVLAN != 0 {
		eth.EthernetType = layers.EthernetTypeDot1Q
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: f.Ethernet.VLAN, Type: layers.EthernetType(f.Ethernet.EtherType)})
	}
	ip4 := func(a netip.Addr) net.IP { v := a.As4(); return net.IP(v[:]) }
	ip16 := func(a netip.Addr) net.IP { v := a.As16(); return net.IP(v[:]) }
	switch {
	case f.Layers&LayerARP != 0:
		a := f.ARP
		ls = append(ls, &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
			HwAddressSize: 6, ProtAddressSize: 4, Operation: a.Op,
			SourceHwAddress: a.SenderMAC[:], SourceProtAddress: ip4(a.SenderIP),
			DstHwAddress: a.TargetMAC[:], DstProtAddress: ip4(a.TargetIP)})
	case f.Layers&LayerIPv4 != 0:
		ip := &layers.IPv4{Version: 4, IHL: 5, TOS: f.IPv4.TOS, Id: f.IPv4.ID, TTL: f.IPv4.TTL,
			Protocol: layers.IPProtocol(f.IPv4.Protocol), SrcIP: ip4(f.IPv4.Src), DstIP: ip4(f.IPv4.Dst),
			FragOffset: f.IPv4.FragOffset}
		if f.IPv4.DontFragment {
			ip.Flags |= layers.IPv4DontFragment
		}
		ls = append(ls, ip)
		switch {
		case f.Layers&LayerUDP != 0:
			u := &layers.UDP{SrcPort: layers.UDPPort(f.UDP.SrcPort), DstPort: layers.UDPPort(f.UDP.DstPort)}
			if err := u.SetNetworkLayerForChecksum(ip); err != nil {
				t.Fatal(err)
			}
			ls = append(ls, u)
		case f.Layers&LayerICMP != 0:
			ls = append(ls, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(f.ICMP.Type, f.ICMP.Code),
				Id: f.ICMP.ID, Seq: f.ICMP.Seq})
		case f.Layers&LayerTCP != 0:
			c := f.TCP
			tcp := &layers.TCP{SrcPort: layers.TCPPort(c.SrcPort), DstPort: layers.TCPPort(c.DstPort), Seq: c.Seq,
				Ack: c.Ack, DataOffset: 5, Window: c.Window, FIN: c.Flags&1 != 0, SYN: c.Flags&2 != 0,
				RST: c.Flags&4 != 0, PSH: c.Flags&8 != 0, ACK: c.Flags&0x10 != 0, URG: c.Flags&0x20 != 0}
			if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
				t.Fatal(err)
			}
			ls = append(ls, tcp)
		}
	}
	if f.Layers&LayerIPv6 != 0 {
		ip := &layers.IPv6{Version: 6, TrafficClass: f.IPv6.TrafficClass, FlowLabel: f.IPv6.FlowLabel,
			NextHeader: layers.IPProtocol(f.IPv6.NextHeader), HopLimit: f.IPv6.HopLimit,
			SrcIP: ip16(f.IPv6.Src), DstIP: ip16(f.IPv6.Dst)}
		ls = append(ls, ip)
		switch {
		case f.Layers&LayerUDP != 0:
			u := &layers.UDP{SrcPort: layers.UDPPort(f.UDP.SrcPort), DstPort: layers.UDPPort(f.UDP.DstPort)}
			if err := u.SetNetworkLayerForChecksum(ip); err != nil {
				t.Fatal(err)
			}
			ls = append(ls, u)
		case f.Layers&LayerICMPv6 != 0:
			c := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(f.ICMP.Type, f.ICMP.Code)}
			if err := c.SetNetworkLayerForChecksum(ip); err != nil {
				t.Fatal(err)
			}
			ls = append(ls, c)
			switch f.ICMP.Type {
			case ICMPv6EchoRequest, ICMPv6EchoReply:
				ls = append(ls, &layers.ICMPv6Echo{Identifier: f.ICMP.ID, SeqNumber: f.ICMP.Seq})
			case ICMPv6NeighSolicit:
				ls = append(ls, &layers.ICMPv6NeighborSolicitation{TargetAddress: ip16(f.ICMP.Target)})
			default:
				t.Fatalf("no gopacket layer for ICMPv6 type %d in this test", f.ICMP.Type)
			}
		}
	}
	if vx != nil {
		ls = append(ls, &layers.VXLAN{ValidIDFlag: vx.Flags&FlagVNI != 0, VNI: vx.VNI})
		return append(ls, toGopacket(t, inner, nil, nil)...)
	}
	if len(f.Payload) > 0 {
		ls = append(ls, gopacket.Payload(f.Payload))
	}
	return ls
}

func TestAgainstGopacket(t *testing.T) {
	for _, tc := range samples() {
		t.Run(tc.name, func(t *testing.T) {
			var ls []gopacket.SerializableLayer
			if tc.p.IsVXLAN {
				ls = toGopacket(t, &tc.p.Outer, &tc.p.VXLAN, &tc.p.Inner)
			} else {
				ls = toGopacket(t, &tc.p.Outer, nil, nil)
			}
			buf := gopacket.NewSerializeBuffer()
			if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
				t.Fatal(err)
			}
			theirs := buf.Bytes()
			ours := tc.p.Append(nil)
			if !bytes.Equal(ours, theirs) {
				t.Fatalf("encoders disagree:\nours   % x\ntheirs % x", ours, theirs)
			}
			// And gopacket's decoder reads our bytes as we meant them.
			pkt := gopacket.NewPacket(ours, layers.LayerTypeEthernet, gopacket.Default)
			// (gopacket reports an EtherType it has no decoder for as an error.)
			if el := pkt.ErrorLayer(); el != nil && tc.p.Outer.Layers != LayerEthernet {
				t.Fatalf("gopacket cannot decode our frame: %v", el.Error())
			}
			if tc.p.IsVXLAN && tc.p.Outer.UDP.DstPort == PortIANA {
				v, ok := pkt.Layer(layers.LayerTypeVXLAN).(*layers.VXLAN)
				if !ok || v.VNI != tc.p.VXLAN.VNI || !v.ValidIDFlag {
					t.Fatalf("gopacket VXLAN layer %+v, want VNI %d", v, tc.p.VXLAN.VNI)
				}
				if tc.p.Inner.Layers&LayerICMP != 0 {
					icmps := 0
					for _, l := range pkt.Layers() {
						if c, ok := l.(*layers.ICMPv4); ok {
							icmps++
							if c.Id != tc.p.Inner.ICMP.ID || c.Seq != tc.p.Inner.ICMP.Seq {
								t.Errorf("gopacket inner ICMP id %d seq %d", c.Id, c.Seq)
							}
						}
					}
					if icmps != 1 {
						t.Errorf("gopacket found %d ICMP layers", icmps)
					}
				}
			}
		})
	}
}

// TestChecksumsVerify recomputes the checksums over the encoded bytes: a
// correct Internet checksum sums to zero.
func TestChecksumsVerify(t *testing.T) {
	p := encap(40000, PortIANA, 1001, echo(ICMPEchoRequest, vmMAC1, vmMAC4, vm1, vm4, 9, 3))
	b := p.Append(nil)
	outerIP := b[14:34]
	if c := checksum(outerIP, 0); c != 0 {
		t.Errorf("outer IPv4 header checksum does not verify: %#x", c)
	}
	udp := b[34:]
	if c := checksum(udp, sum16(b[26:34], 0)+ProtoUDP+uint32(len(udp))); c != 0 {
		t.Errorf("outer UDP checksum does not verify: %#x", c)
	}
	icmp := b[34+8+8+14+20:]
	if c := checksum(icmp, 0); c != 0 {
		t.Errorf("inner ICMP checksum does not verify: %#x", c)
	}
}

func TestDecodeTrimsPaddingAndOptions(t *testing.T) {
	// An ARP frame padded to 60 bytes, as it arrives from a real NIC.
	f := arp(ARPRequest, Broadcast, vmMAC1, vm1, vm4, MAC{})
	b := f.Append(nil)
	b = append(b, make([]byte, 60-len(b))...)
	var got Frame
	if err := DecodeFrame(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.ARP != f.ARP || len(got.Payload) != 18 {
		t.Errorf("padded ARP: %+v", got)
	}
	// IPv4 with 4 bytes of options and Ethernet padding after the datagram.
	e := echo(ICMPEchoRequest, vmMAC1, vmMAC4, vm1, vm4, 5, 6)
	e.Payload = []byte{1, 2}
	raw := e.Append(nil)
	withOpts := append(append(append([]byte{}, raw[:34]...), 1, 1, 1, 0), raw[34:]...)
	withOpts[14] = 0x46
	withOpts[17] += 4 // total length
	withOpts = append(withOpts, 0, 0, 0, 0, 0, 0)
	if err := DecodeFrame(withOpts, &got); err != nil {
		t.Fatal(err)
	}
	if got.ICMP != e.ICMP || !bytes.Equal(got.Payload, []byte{1, 2}) {
		t.Errorf("options: %+v", got)
	}
}

func TestDecodeErrors(t *testing.T) {
	gp := encap(40000, PortIANA, 1001, echo(ICMPEchoRequest, vmMAC1, vmMAC4, vm1, vm4, 1, 1))
	good := gp.Append(nil)
	tests := []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "decode ethernet: truncated: need 14 bytes, have 0"},
		{"short ipv4", good[:30], "decode ipv4: truncated: need 20 bytes, have 16"},
		{"ipv4 cut", good[:60], "decode ipv4: truncated: need 110 bytes, have 46"},
		{"bad version", func() []byte { b := bytes.Clone(good); b[14] = 0x65; return b }(), "decode ipv4: version 6"},
		{"vxlan header cut", func() []byte {
			b := bytes.Clone(good[:34+8+4])
			b[17] = 32 // IPv4 total length
			b[39] = 12 // UDP length
			return b
		}(), "decode vxlan: truncated: need 8 bytes, have 4"},
		{"inner cut", func() []byte {
			b := bytes.Clone(good[:34+8+8+10])
			b[17] = 46
			b[39] = 26
			return b
		}(), "inner frame: decode ethernet: truncated: need 14 bytes, have 10"},
	}
	for _, tc := range tests {
		var p Packet
		err := Decode(tc.b, &p)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: error %v, want %s", tc.name, err, tc.want)
		}
	}
}

func TestDecoderPorts(t *testing.T) {
	pp := encap(40000, 4790, 77, echo(ICMPEchoRequest, vmMAC1, vmMAC4, vm1, vm4, 1, 1))
	b := pp.Append(nil)
	var p Packet
	if err := Decode(b, &p); err != nil || p.IsVXLAN {
		t.Fatalf("port 4790 is not VXLAN by default: %v %v", err, p.IsVXLAN)
	}
	if err := (Decoder{Ports: []uint16{4790}}).Decode(b, &p); err != nil || !p.IsVXLAN || p.VXLAN.VNI != 77 {
		t.Fatalf("configured port: %v %+v", err, p.VXLAN)
	}
}

func TestDecodeAllocs(t *testing.T) {
	for _, tc := range samples() {
		b := tc.p.Append(nil)
		var p Packet
		text := make([]byte, 0, 256)
		allocs := testing.AllocsPerRun(100, func() {
			if err := Decode(b, &p); err != nil {
				t.Fatal(err)
			}
			text = p.AppendText(text[:0])
		})
		if allocs != 0 {
			t.Errorf("%s: Decode + AppendText allocate %.1f times per frame, want 0", tc.name, allocs)
		}
	}
}

func TestParseMAC(t *testing.T) {
	m, err := ParseMAC("FA:16:3e:00:0a:ff")
	if err != nil || m != (MAC{0xfa, 0x16, 0x3e, 0, 0x0a, 0xff}) || m.String() != "fa:16:3e:00:0a:ff" {
		t.Errorf("ParseMAC: %v %v", m, err)
	}
	for _, bad := range []string{"", "fa:16:3e:00:00", "fa-16-3e-00-00-01", "fa:16:3e:00:00:0g"} {
		if _, err := ParseMAC(bad); err == nil {
			t.Errorf("ParseMAC(%q) accepted", bad)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	pp := encap(40000, PortIANA, 1001, echo(ICMPEchoRequest, vmMAC1, vmMAC4, vm1, vm4, 1, 1))
	wire := pp.Append(nil)
	var p Packet
	b.SetBytes(int64(len(wire)))
	b.ReportAllocs()
	for b.Loop() {
		if err := Decode(wire, &p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeGopacket(b *testing.B) {
	pp := encap(40000, PortIANA, 1001, echo(ICMPEchoRequest, vmMAC1, vmMAC4, vm1, vm4, 1, 1))
	wire := pp.Append(nil)
	b.SetBytes(int64(len(wire)))
	b.ReportAllocs()
	for b.Loop() {
		pkt := gopacket.NewPacket(wire, layers.LayerTypeEthernet, gopacket.NoCopy)
		if pkt.ErrorLayer() != nil {
			b.Fatal(pkt.ErrorLayer().Error())
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range samples() {
		f.Add(s.p.Append(nil))
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Packet
		err := Decode(b, &p)
		_ = p.String() // must not panic, decoded or not
		if err != nil {
			return
		}
		// Whatever decodes re-encodes and decodes to the same headers.
		var q Packet
		if err := Decode(p.Append(nil), &q); err != nil {
			t.Fatalf("re-encoded frame does not decode: %v\n% x", err, b)
		}
		if q.IsVXLAN != p.IsVXLAN || q.VXLAN.VNI != p.VXLAN.VNI || q.Inner.Layers != p.Inner.Layers ||
			q.Outer.Layers != p.Outer.Layers || q.Inner.ARP != p.Inner.ARP || q.Inner.ICMP != p.Inner.ICMP {
			t.Fatalf("re-encoding changed the packet:\n%+v\n%+v", p, q)
		}
	})
}
