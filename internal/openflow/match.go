package openflow

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
)

// Match is a flow's match as OXM/NXM entries, in encoding order.
type Match struct {
	entries []matchEntry
}

type matchEntry struct {
	f           *field
	value, mask []byte // mask nil: exact
}

// shorthands are ovs-ofctl's protocol keywords: an Ethernet type and,
// for some, an IP protocol.
var shorthands = map[string]struct {
	ethType uint16
	proto   uint8
}{
	"ip": {0x0800, 0}, "ipv6": {0x86dd, 0}, "arp": {0x0806, 0},
	"icmp": {0x0800, 1}, "icmp6": {0x86dd, 58},
	"tcp": {0x0800, 6}, "tcp6": {0x86dd, 6},
	"udp": {0x0800, 17}, "udp6": {0x86dd, 17},
	"sctp": {0x0800, 132}, "sctp6": {0x86dd, 132},
}

// parseMatch reads match tokens ("arp", "dl_vlan=5", "nw_src=10.0.0.0/24",
// "ct_state=+est-rel", ...) in any order.
func parseMatch(toks []string) (Match, error) {
	var m Match
	add := func(f *field, value, mask []byte) error {
		for _, e := range m.entries {
			if e.f == f {
				return fmt.Errorf("field %s given twice", f.nxm)
			}
		}
		if mask != nil && allBytes(mask, 0xff) {
			mask = nil
		}
		if mask != nil && allBytes(mask, 0) {
			return nil // fully wildcarded: matches anything
		}
		m.entries = append(m.entries, matchEntry{f: f, value: value, mask: mask})
		return nil
	}
	var protoDependent [][2]string
	for _, tok := range toks {
		name, val, hasVal := strings.Cut(tok, "=")
		if !hasVal {
			sh, ok := shorthands[name]
			if !ok {
				return m, fmt.Errorf("unsupported match keyword %q", tok)
			}
			if err := add(byNXM["OXM_OF_ETH_TYPE"], uintBytes(uint64(sh.ethType), 2), nil); err != nil {
				return m, fmt.Errorf("%q: %w", tok, err)
			}
			if sh.proto != 0 {
				if err := add(byNXM["OXM_OF_IP_PROTO"], []byte{sh.proto}, nil); err != nil {
					return m, fmt.Errorf("%q: %w", tok, err)
				}
			}
			continue
		}
		var err error
		switch name {
		case "dl_vlan":
			// The VLAN id with the "present" bit, as ovs-ofctl matches it.
			var vid uint64
			if vid, err = parseUint(val, 12); err == nil {
				err = add(byNXM["NXM_OF_VLAN_TCI"], uintBytes(0x1000|vid, 2), uintBytes(0x1fff, 2))
			}
		case "tp_src", "tp_dst", "icmp_type", "icmp_code":
			protoDependent = append(protoDependent, [2]string{name, val})
		default:
			f := byName[name]
			if f == nil || f.nxm == "OXM_OF_VLAN_VID" {
				return m, fmt.Errorf("unsupported match field %q", name)
			}
			var value, mask []byte
			if value, mask, err = parseValueMask(f, val); err == nil {
				err = add(f, value, mask)
			}
		}
		if err != nil {
			return m, fmt.Errorf("match %q: %w", tok, err)
		}
	}
	ethType, proto := m.exact("OXM_OF_ETH_TYPE"), m.exact("OXM_OF_IP_PROTO")
	for _, pd := range protoDependent {
		nxm := ""
		switch pd[0] {
		case "tp_src", "tp_dst":
			l4 := map[uint64]string{6: "TCP", 17: "UDP", 132: "SCTP"}[proto]
			if l4 != "" && (ethType == 0x0800 || ethType == 0x86dd) {
				nxm = "OXM_OF_" + l4 + strings.ToUpper(strings.TrimPrefix(pd[0], "tp"))
			}
		case "icmp_type", "icmp_code":
			suffix := strings.ToUpper(strings.TrimPrefix(pd[0], "icmp"))
			switch {
			case ethType == 0x0800 && proto == 1:
				nxm = "OXM_OF_ICMPV4" + suffix
			case ethType == 0x86dd && proto == 58:
				nxm = "OXM_OF_ICMPV6" + suffix
			}
		}
		if nxm == "" {
			return m, fmt.Errorf("match %s=%s: needs a protocol it applies to (tcp, udp, sctp; icmp, icmp6)", pd[0], pd[1])
		}
		f := byNXM[nxm]
		value, mask, err := parseValueMask(f, pd[1])
		if err == nil {
			err = add(f, value, mask)
		}
		if err != nil {
			return m, fmt.Errorf("match %s=%s: %w", pd[0], pd[1], err)
		}
	}
	slices.SortStableFunc(m.entries, func(a, b matchEntry) int { return byOrder[a.f] - byOrder[b.f] })
	return m, nil
}

// exact is the value of an exactly matched field, or 0.
func (m Match) exact(nxm string) uint64 {
	for _, e := range m.entries {
		if e.f.nxm == nxm && e.mask == nil {
			var b [8]byte
			copy(b[8-len(e.value):], e.value)
			return binary.BigEndian.Uint64(b[:])
		}
	}
	return 0
}

func allBytes(b []byte, v byte) bool {
	for _, c := range b {
		if c != v {
			return false
		}
	}
	return true
}

// append encodes the match as an OpenFlow 1.2+ ofp_match (OXM type),
// padded to 8 bytes.
func (m Match) append(b []byte) []byte {
	start := len(b)
	b = append(b, 0, 1, 0, 0) // OFPMT_OXM, length below
	for _, e := range m.entries {
		b = binary.BigEndian.AppendUint32(b, e.f.header(e.mask != nil))
		b = append(b, e.value...)
		b = append(b, e.mask...)
	}
	binary.BigEndian.PutUint16(b[start+2:], uint16(len(b)-start))
	return pad8(b, start)
}

// pad8 zero-pads b so that the part from start is a multiple of 8 bytes.
func pad8(b []byte, start int) []byte {
	for (len(b)-start)%8 != 0 {
		b = append(b, 0)
	}
	return b
}
