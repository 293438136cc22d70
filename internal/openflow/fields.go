package openflow

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// field is one OXM/NXM field: its class, number and size on the wire,
// and how its values are written in ovs-ofctl syntax.
type field struct {
	nxm   string // the NXM/OXM name OVS prints in subfields, e.g. NXM_NX_REG5
	class uint16
	id    uint8
	size  int // bytes
	kind  valueKind
}

type valueKind int

const (
	kindInt valueKind = iota
	kindMAC
	kindIPv4
	kindIPv6
	kindCTState
)

// header is the field's 32-bit OXM/NXM header; a masked entry is twice
// as long.
func (f *field) header(masked bool) uint32 {
	h := uint32(f.class)<<16 | uint32(f.id)<<9 | uint32(f.size)
	if masked {
		h = uint32(f.class)<<16 | uint32(f.id)<<9 | 1<<8 | uint32(2*f.size)
	}
	return h
}

const (
	classNXM0 = 0x0000
	classNXM1 = 0x0001
	classOXM  = 0x8000
)

// Every field the data plane's flows use, in the order a match is
// encoded: OVS checks each entry's prerequisites against the entries
// before it (eth_type before IP fields, ip_proto before ports).
var fields = []*field{
	{"OXM_OF_IN_PORT", classOXM, 0, 4, kindInt},
	{"OXM_OF_METADATA", classOXM, 2, 8, kindInt},
	{"NXM_NX_REG0", classNXM1, 0, 4, kindInt},
	{"NXM_NX_REG1", classNXM1, 1, 4, kindInt},
	{"NXM_NX_REG2", classNXM1, 2, 4, kindInt},
	{"NXM_NX_REG3", classNXM1, 3, 4, kindInt},
	{"NXM_NX_REG4", classNXM1, 4, 4, kindInt},
	{"NXM_NX_REG5", classNXM1, 5, 4, kindInt},
	{"NXM_NX_REG6", classNXM1, 6, 4, kindInt},
	{"NXM_NX_REG7", classNXM1, 7, 4, kindInt},
	{"NXM_NX_REG8", classNXM1, 8, 4, kindInt},
	{"NXM_NX_REG9", classNXM1, 9, 4, kindInt},
	{"NXM_NX_REG10", classNXM1, 10, 4, kindInt},
	{"NXM_NX_REG11", classNXM1, 11, 4, kindInt},
	{"NXM_NX_REG12", classNXM1, 12, 4, kindInt},
	{"NXM_NX_REG13", classNXM1, 13, 4, kindInt},
	{"NXM_NX_REG14", classNXM1, 14, 4, kindInt},
	{"NXM_NX_REG15", classNXM1, 15, 4, kindInt},
	{"OXM_OF_TUNNEL_ID", classOXM, 38, 8, kindInt},
	{"NXM_NX_CT_STATE", classNXM1, 105, 4, kindCTState},
	{"NXM_NX_CT_ZONE", classNXM1, 106, 2, kindInt},
	{"NXM_NX_CT_MARK", classNXM1, 107, 4, kindInt},
	{"NXM_NX_CONJ_ID", classNXM1, 37, 4, kindInt},
	{"OXM_OF_ETH_SRC", classOXM, 4, 6, kindMAC},
	{"OXM_OF_ETH_DST", classOXM, 3, 6, kindMAC},
	{"NXM_OF_VLAN_TCI", classNXM0, 4, 2, kindInt},
	{"OXM_OF_VLAN_VID", classOXM, 6, 2, kindInt},
	{"OXM_OF_ETH_TYPE", classOXM, 5, 2, kindInt},
	{"OXM_OF_IP_PROTO", classOXM, 10, 1, kindInt},
	{"OXM_OF_IPV4_SRC", classOXM, 11, 4, kindIPv4},
	{"OXM_OF_IPV4_DST", classOXM, 12, 4, kindIPv4},
	{"OXM_OF_IPV6_SRC", classOXM, 26, 16, kindIPv6},
	{"OXM_OF_IPV6_DST", classOXM, 27, 16, kindIPv6},
	{"OXM_OF_ARP_OP", classOXM, 21, 2, kindInt},
	{"OXM_OF_ARP_SPA", classOXM, 22, 4, kindIPv4},
	{"OXM_OF_ARP_TPA", classOXM, 23, 4, kindIPv4},
	{"OXM_OF_ARP_SHA", classOXM, 24, 6, kindMAC},
	{"OXM_OF_ARP_THA", classOXM, 25, 6, kindMAC},
	{"OXM_OF_TCP_SRC", classOXM, 13, 2, kindInt},
	{"OXM_OF_TCP_DST", classOXM, 14, 2, kindInt},
	{"OXM_OF_UDP_SRC", classOXM, 15, 2, kindInt},
	{"OXM_OF_UDP_DST", classOXM, 16, 2, kindInt},
	{"OXM_OF_SCTP_SRC", classOXM, 17, 2, kindInt},
	{"OXM_OF_SCTP_DST", classOXM, 18, 2, kindInt},
	{"OXM_OF_ICMPV4_TYPE", classOXM, 19, 1, kindInt},
	{"OXM_OF_ICMPV4_CODE", classOXM, 20, 1, kindInt},
	{"OXM_OF_ICMPV6_TYPE", classOXM, 29, 1, kindInt},
	{"OXM_OF_ICMPV6_CODE", classOXM, 30, 1, kindInt},

	// Only as subfields (move, load, learn, output, ct zone): the NXM
	// names OVS prints there for fields that have one.
	{"NXM_OF_IN_PORT", classNXM0, 0, 2, kindInt},
	{"NXM_OF_ETH_DST", classNXM0, 1, 6, kindMAC},
	{"NXM_OF_ETH_SRC", classNXM0, 2, 6, kindMAC},
	{"NXM_OF_ETH_TYPE", classNXM0, 3, 2, kindInt},
	{"NXM_OF_IP_PROTO", classNXM0, 6, 1, kindInt},
	{"NXM_OF_IP_SRC", classNXM0, 7, 4, kindIPv4},
	{"NXM_OF_IP_DST", classNXM0, 8, 4, kindIPv4},
	{"NXM_OF_ARP_OP", classNXM0, 15, 2, kindInt},
	{"NXM_OF_ARP_SPA", classNXM0, 16, 4, kindIPv4},
	{"NXM_OF_ARP_TPA", classNXM0, 17, 4, kindIPv4},
	{"NXM_NX_TUN_ID", classNXM1, 16, 8, kindInt},
	{"NXM_NX_ARP_SHA", classNXM1, 17, 6, kindMAC},
	{"NXM_NX_ARP_THA", classNXM1, 18, 6, kindMAC},
	{"NXM_NX_IPV6_SRC", classNXM1, 19, 16, kindIPv6},
	{"NXM_NX_IPV6_DST", classNXM1, 20, 16, kindIPv6},
}

var (
	byNXM   = map[string]*field{}
	byOrder = map[*field]int{}
	// byName maps the ovs-ofctl field names (as in matches and
	// set_field) to their field; tp_src, tp_dst, icmp_type and icmp_code
	// depend on the protocol and are resolved in the match parser.
	byName = map[string]*field{}
)

func init() {
	for i, f := range fields {
		byNXM[f.nxm] = f
		byOrder[f] = i
	}
	names := map[string]string{
		"in_port": "OXM_OF_IN_PORT", "metadata": "OXM_OF_METADATA",
		"tun_id": "OXM_OF_TUNNEL_ID", "tunnel_id": "OXM_OF_TUNNEL_ID",
		"ct_state": "NXM_NX_CT_STATE", "ct_zone": "NXM_NX_CT_ZONE", "ct_mark": "NXM_NX_CT_MARK", "conj_id": "NXM_NX_CONJ_ID",
		"dl_src": "OXM_OF_ETH_SRC", "eth_src": "OXM_OF_ETH_SRC", "dl_dst": "OXM_OF_ETH_DST", "eth_dst": "OXM_OF_ETH_DST",
		"vlan_tci": "NXM_OF_VLAN_TCI", "vlan_vid": "OXM_OF_VLAN_VID",
		"dl_type": "OXM_OF_ETH_TYPE", "eth_type": "OXM_OF_ETH_TYPE", "nw_proto": "OXM_OF_IP_PROTO", "ip_proto": "OXM_OF_IP_PROTO",
		"nw_src": "OXM_OF_IPV4_SRC", "ip_src": "OXM_OF_IPV4_SRC", "nw_dst": "OXM_OF_IPV4_DST", "ip_dst": "OXM_OF_IPV4_DST",
		"ipv6_src": "OXM_OF_IPV6_SRC", "ipv6_dst": "OXM_OF_IPV6_DST",
		"arp_op": "OXM_OF_ARP_OP", "arp_spa": "OXM_OF_ARP_SPA", "arp_tpa": "OXM_OF_ARP_TPA", "arp_sha": "OXM_OF_ARP_SHA", "arp_tha": "OXM_OF_ARP_THA",
		"tcp_src": "OXM_OF_TCP_SRC", "tcp_dst": "OXM_OF_TCP_DST", "udp_src": "OXM_OF_UDP_SRC", "udp_dst": "OXM_OF_UDP_DST",
		"sctp_src": "OXM_OF_SCTP_SRC", "sctp_dst": "OXM_OF_SCTP_DST",
		"icmpv6_type": "OXM_OF_ICMPV6_TYPE", "icmpv6_code": "OXM_OF_ICMPV6_CODE",
	}
	for i := range 16 {
		names["reg"+strconv.Itoa(i)] = "NXM_NX_REG" + strconv.Itoa(i)
	}
	for name, nxm := range names {
		byName[name] = byNXM[nxm]
	}
}

// parseValue reads one value of f (without mask) in ovs-ofctl syntax into
// f.size big-endian bytes.
func parseValue(f *field, s string) ([]byte, error) {
	switch f.kind {
	case kindMAC:
		hw, err := net.ParseMAC(s)
		if err != nil || len(hw) != 6 {
			return nil, fmt.Errorf("bad Ethernet address %q", s)
		}
		return hw, nil
	case kindIPv4, kindIPv6:
		a, err := netip.ParseAddr(s)
		if err != nil || a.Is4() != (f.kind == kindIPv4) || a.Zone() != "" {
			return nil, fmt.Errorf("bad %s address %q", map[bool]string{true: "IPv4", false: "IPv6"}[f.kind == kindIPv4], s)
		}
		return a.AsSlice(), nil
	}
	v, err := parseUint(s, f.size*8)
	if err != nil {
		return nil, err
	}
	return uintBytes(v, f.size), nil
}

// parseValueMask reads "value" or "value/mask"; IP fields also take a
// prefix length. A nil mask means an exact match.
func parseValueMask(f *field, s string) (value, mask []byte, err error) {
	if f.kind == kindCTState {
		return parseCTState(s)
	}
	v, m, hasMask := strings.Cut(s, "/")
	if value, err = parseValue(f, v); err != nil {
		return nil, nil, err
	}
	if !hasMask {
		return value, nil, nil
	}
	if f.kind == kindIPv4 || f.kind == kindIPv6 {
		if bits, err := strconv.Atoi(m); err == nil {
			if bits < 0 || bits > f.size*8 {
				return nil, nil, fmt.Errorf("bad prefix length in %q", s)
			}
			mask = make([]byte, f.size)
			for i := range bits {
				mask[i/8] |= 0x80 >> (i % 8)
			}
			return maskValue(value, mask), mask, nil
		}
	}
	if mask, err = parseValue(f, m); err != nil {
		return nil, nil, err
	}
	return maskValue(value, mask), mask, nil
}

func maskValue(v, m []byte) []byte {
	for i := range v {
		v[i] &= m[i]
	}
	return v
}

// parseUint reads a decimal or 0x-prefixed hexadecimal number of at most
// bits bits.
func parseUint(s string, bits int) (uint64, error) {
	v, err := strconv.ParseUint(s, 0, bits)
	if err != nil || strings.Contains(s, "_") || strings.HasPrefix(s, "0") && len(s) > 1 && !strings.HasPrefix(s, "0x") {
		// ParseUint's base 0 also reads 0b, 0o, leading-zero octal and
		// digit separators, which ovs-ofctl does not: refuse them.
		return 0, fmt.Errorf("bad %d-bit number %q", bits, s)
	}
	return v, nil
}

func uintBytes(v uint64, size int) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return append([]byte(nil), b[8-size:]...)
}

// ctStates are the ct_state flags in the order of their bits.
var ctStates = []string{"new", "est", "rel", "rpl", "inv", "trk", "snat", "dnat"}

// parseCTState reads ct_state as flags ("+est-rel+rpl": the named bits
// must be set or clear, the others are wildcarded) or as value/mask.
func parseCTState(s string) (value, mask []byte, err error) {
	if s == "" || s[0] != '+' && s[0] != '-' {
		v, m, hasMask := strings.Cut(s, "/")
		val, err := parseUint(v, 32)
		if err != nil {
			return nil, nil, err
		}
		if !hasMask {
			return uintBytes(val, 4), nil, nil
		}
		msk, err := parseUint(m, 32)
		if err != nil {
			return nil, nil, err
		}
		return uintBytes(val&msk, 4), uintBytes(msk, 4), nil
	}
	var val, msk uint64
	for s != "" {
		set := s[0] == '+'
		if s[0] != '+' && s[0] != '-' {
			return nil, nil, fmt.Errorf("bad ct_state flags %q", s)
		}
		s = s[1:]
		end := strings.IndexAny(s, "+-")
		if end < 0 {
			end = len(s)
		}
		name := s[:end]
		s = s[end:]
		bit := -1
		for i, n := range ctStates {
			if n == name {
				bit = i
			}
		}
		if bit < 0 || msk&(1<<bit) != 0 {
			return nil, nil, fmt.Errorf("bad or repeated ct_state flag %q", name)
		}
		msk |= 1 << bit
		if set {
			val |= 1 << bit
		}
	}
	return uintBytes(val, 4), uintBytes(msk, 4), nil
}

// subfield is a bit range of a field, as in NXM_NX_REG6[0..15].
type subfield struct {
	f         *field
	ofs, bits int
}

// parseSubfield reads FIELD[], FIELD[n] or FIELD[a..b] with an NXM/OXM
// field name.
func parseSubfield(s string) (subfield, error) {
	name, rng, ok := strings.Cut(s, "[")
	if !ok || !strings.HasSuffix(rng, "]") {
		return subfield{}, fmt.Errorf("bad subfield %q (want NAME[] or NAME[a..b])", s)
	}
	f := byNXM[name]
	if f == nil {
		return subfield{}, fmt.Errorf("unsupported field %q", name)
	}
	rng = strings.TrimSuffix(rng, "]")
	sf := subfield{f: f, bits: f.size * 8}
	if rng == "" {
		return sf, nil
	}
	lo, hi, isRange := strings.Cut(rng, "..")
	if !isRange {
		hi = lo
	}
	a, err1 := strconv.Atoi(lo)
	b, err2 := strconv.Atoi(hi)
	if err1 != nil || err2 != nil || a < 0 || b < a || b >= f.size*8 {
		return subfield{}, fmt.Errorf("bad bit range in %q", s)
	}
	sf.ofs, sf.bits = a, b-a+1
	return sf, nil
}

// ofsNbits is the (ofs << 6) | (n_bits - 1) encoding of NXM actions.
func (s subfield) ofsNbits() uint16 { return uint16(s.ofs<<6 | (s.bits - 1)) }
