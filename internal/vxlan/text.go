package vxlan

import "strconv"

// String renders the packet on one line in the manner of tcpdump -n:
//
//	198.18.255.101.40000 > 198.18.255.102.4789: VXLAN vni 1001: 192.168.1.1 > 192.168.1.4: ICMP echo request id 1 seq 1
func (p *Packet) String() string { return string(p.AppendText(nil)) }

// AppendText appends String's text to b (no allocation when b has room).
func (p *Packet) AppendText(b []byte) []byte {
	if !p.IsVXLAN {
		return p.Outer.AppendText(b)
	}
	o := &p.Outer
	b = appendHostPort(b, o, true)
	b = append(b, " > "...)
	b = appendHostPort(b, o, false)
	b = append(b, ": VXLAN"...)
	if p.VXLAN.Flags&FlagVNI == 0 {
		b = append(b, " flags 0x"...)
		b = strconv.AppendUint(b, uint64(p.VXLAN.Flags), 16)
	}
	b = append(b, " vni "...)
	b = strconv.AppendUint(b, uint64(p.VXLAN.VNI), 10)
	b = append(b, ": "...)
	return p.Inner.AppendText(b)
}

func (f *Frame) String() string { return string(f.AppendText(nil)) }

// AppendText renders one frame: "vlan N: " when tagged, then the ARP, IP
// or EtherType summary.
func (f *Frame) AppendText(b []byte) []byte {
	if f.Layers&LayerVLAN != 0 {
		b = append(b, "vlan "...)
		b = strconv.AppendUint(b, uint64(f.Ethernet.VLAN), 10)
		b = append(b, ": "...)
	}
	switch {
	case f.Layers&LayerARP != 0:
		a := &f.ARP
		switch a.Op {
		case ARPRequest:
			b = append(b, "ARP who-has "...)
			b = a.TargetIP.AppendTo(b)
			b = append(b, " tell "...)
			b = a.SenderIP.AppendTo(b)
		case ARPReply:
			b = append(b, "ARP reply "...)
			b = a.SenderIP.AppendTo(b)
			b = append(b, " is-at "...)
			b = a.SenderMAC.appendTo(b)
		default:
			b = append(b, "ARP op "...)
			b = strconv.AppendUint(b, uint64(a.Op), 10)
			b = append(b, ' ')
			b = a.SenderIP.AppendTo(b)
			b = append(b, " > "...)
			b = a.TargetIP.AppendTo(b)
		}
		return b
	case f.Layers&(LayerIPv4|LayerIPv6) != 0:
		b = appendHostPort(b, f, true)
		b = append(b, " > "...)
		b = appendHostPort(b, f, false)
		b = append(b, ": "...)
		return f.appendTransport(b)
	}
	switch f.Ethernet.EtherType {
	case EtherTypeARP:
		b = append(b, "ARP (not Ethernet/IPv4)"...)
	default:
		b = append(b, "ethertype 0x"...)
		b = appendHex4(b, f.Ethernet.EtherType)
	}
	b = append(b, " length "...)
	return strconv.AppendInt(b, int64(len(f.Payload)), 10)
}

func (f *Frame) appendTransport(b []byte) []byte {
	switch {
	case f.Layers&LayerICMP != 0:
		c := &f.ICMP
		switch c.Type {
		case ICMPEchoRequest, ICMPEchoReply:
			if c.Type == ICMPEchoRequest {
				b = append(b, "ICMP echo request id "...)
			} else {
				b = append(b, "ICMP echo reply id "...)
			}
			b = strconv.AppendUint(b, uint64(c.ID), 10)
			b = append(b, " seq "...)
			return strconv.AppendUint(b, uint64(c.Seq), 10)
		case ICMPUnreachable:
			b = append(b, "ICMP unreachable code "...)
			return strconv.AppendUint(b, uint64(c.Code), 10)
		case ICMPTimeExceed:
			b = append(b, "ICMP time exceeded code "...)
			return strconv.AppendUint(b, uint64(c.Code), 10)
		}
		b = append(b, "ICMP type "...)
		b = strconv.AppendUint(b, uint64(c.Type), 10)
		b = append(b, " code "...)
		return strconv.AppendUint(b, uint64(c.Code), 10)
	case f.Layers&LayerICMPv6 != 0:
		return appendICMPv6(b, &f.ICMP)
	case f.Layers&LayerUDP != 0:
		b = append(b, "UDP length "...)
	case f.Layers&LayerTCP != 0:
		b = append(b, "TCP ["...)
		b = appendTCPFlags(b, f.TCP.Flags)
		b = append(b, "] length "...)
	default:
		proto, frag := f.IPv4.Protocol, f.IPv4.FragOffset != 0
		if f.Layers&LayerIPv6 != 0 {
			proto, frag = f.IPv6.NextHeader, f.IPv6.Fragment
		}
		b = append(b, "ip-proto-"...)
		b = strconv.AppendUint(b, uint64(proto), 10)
		if frag {
			b = append(b, " fragment"...)
		}
		b = append(b, " length "...)
	}
	return strconv.AppendInt(b, int64(len(f.Payload)), 10)
}

func appendICMPv6(b []byte, c *ICMP) []byte {
	b = append(b, "ICMP6 "...)
	switch c.Type {
	case ICMPv6EchoRequest, ICMPv6EchoReply:
		if c.Type == ICMPv6EchoRequest {
			b = append(b, "echo request id "...)
		} else {
			b = append(b, "echo reply id "...)
		}
		b = strconv.AppendUint(b, uint64(c.ID), 10)
		b = append(b, " seq "...)
		return strconv.AppendUint(b, uint64(c.Seq), 10)
	case ICMPv6NeighSolicit:
		b = append(b, "neighbor solicitation who-has "...)
		return c.Target.AppendTo(b)
	case ICMPv6NeighAdvert:
		b = append(b, "neighbor advertisement tgt-is "...)
		return c.Target.AppendTo(b)
	case ICMPv6RouterSolicit:
		return append(b, "router solicitation"...)
	case ICMPv6RouterAdvert:
		return append(b, "router advertisement"...)
	case ICMPv6MLDv2Report:
		return append(b, "multicast listener report v2"...)
	case ICMPv6Unreachable:
		b = append(b, "unreachable code "...)
		return strconv.AppendUint(b, uint64(c.Code), 10)
	case ICMPv6TimeExceeded:
		b = append(b, "time exceeded code "...)
		return strconv.AppendUint(b, uint64(c.Code), 10)
	}
	b = append(b, "type "...)
	b = strconv.AppendUint(b, uint64(c.Type), 10)
	b = append(b, " code "...)
	return strconv.AppendUint(b, uint64(c.Code), 10)
}

// appendHostPort writes "IP" or, with a UDP/TCP header, "IP.PORT".
func appendHostPort(b []byte, f *Frame, src bool) []byte {
	ip, port := f.IPv4.Dst, f.UDP.DstPort
	if f.Layers&LayerIPv6 != 0 {
		ip = f.IPv6.Dst
	}
	if f.Layers&LayerTCP != 0 {
		port = f.TCP.DstPort
	}
	if src {
		ip, port = f.IPv4.Src, f.UDP.SrcPort
		if f.Layers&LayerIPv6 != 0 {
			ip = f.IPv6.Src
		}
		if f.Layers&LayerTCP != 0 {
			port = f.TCP.SrcPort
		}
	}
	b = ip.AppendTo(b)
	if f.Layers&(LayerUDP|LayerTCP) != 0 {
		b = append(b, '.')
		b = strconv.AppendUint(b, uint64(port), 10)
	}
	return b
}

// appendTCPFlags writes flags as tcpdump does: S F R P U, "." for ACK.
func appendTCPFlags(b []byte, fl uint8) []byte {
	for _, x := range []struct {
		bit uint8
		c   byte
	}{{0x02, 'S'}, {0x01, 'F'}, {0x04, 'R'}, {0x08, 'P'}, {0x20, 'U'}, {0x10, '.'}} {
		if fl&x.bit != 0 {
			b = append(b, x.c)
		}
	}
	if fl&0x3f == 0 {
		b = append(b, "none"...)
	}
	return b
}

func appendHex4(b []byte, v uint16) []byte {
	const digits = "0123456789abcdef"
	return append(b, digits[v>>12], digits[v>>8&15], digits[v>>4&15], digits[v&15])
}
