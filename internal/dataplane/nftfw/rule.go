package nftfw

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// rb builds a rule: each step appends the expressions nft itself would
// generate and the words nft prints for them. Dependencies nft leaves out
// when it prints (the ether type of "ip saddr", the nfproto and l4proto of
// "tcp dport") are emitted without words, exactly as nft emits them, so
// that `nft list ruleset` prints our text.
type rb struct {
	words []string
	ex    []expr.Any
}

func newRule() *rb { return &rb{} }

func (r *rb) add(text string, ex ...expr.Any) *rb {
	if text != "" {
		r.words = append(r.words, text)
	}
	r.ex = append(r.ex, ex...)
	return r
}

func (r *rb) rule() Rule { return Rule{Text: strings.Join(r.words, " "), Exprs: r.ex} }

// Matches.

func loadCmp(base expr.PayloadBase, off uint32, data []byte) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: base, Offset: off, Len: uint32(len(data))},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: data},
	}
}

func metaCmp(key expr.MetaKey, data []byte) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: key, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: data},
	}
}

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

func (r *rb) etherSaddr(mac net.HardwareAddr) *rb {
	return r.add("ether saddr "+mac.String(), loadCmp(expr.PayloadBaseLLHeader, 6, mac)...)
}

// bridgeProto is the bridge family's dependency of an ip/ip6 match.
func (r *rb) bridgeProto(etype uint16) *rb {
	return r.add("", metaCmp(expr.MetaKeyPROTOCOL, be16(etype))...)
}

// nfproto is the inet family's dependency of an ip/ip6 match (shown=false)
// or the explicit "meta nfproto" match.
func (r *rb) nfproto(is6, shown bool) *rb {
	v, name := byte(unix.NFPROTO_IPV4), "ipv4"
	if is6 {
		v, name = unix.NFPROTO_IPV6, "ipv6"
	}
	text := ""
	if shown {
		text = "meta nfproto " + name
	}
	return r.add(text, metaCmp(expr.MetaKeyNFPROTO, []byte{v})...)
}

// addr matches the IPv4/IPv6 source or destination against p (a
// prefix; a host prefix prints as an address).
func (r *rb) addr(dir string, p netip.Prefix) *rb {
	fam, off := "ip", uint32(12)
	if p.Addr().Is6() {
		fam, off = "ip6", 8
	}
	if dir == "daddr" {
		off += uint32(p.Addr().BitLen() / 8)
	}
	p = p.Masked()
	text := fmt.Sprintf("%s %s %s", fam, dir, p)
	if p.IsSingleIP() {
		text = fmt.Sprintf("%s %s %s", fam, dir, p.Addr())
	}
	a := p.Addr().AsSlice()
	if p.Bits()%8 == 0 {
		return r.add(text, loadCmp(expr.PayloadBaseNetworkHeader, off, a[:p.Bits()/8])...)
	}
	// Not byte-aligned: nft loads the whole address and masks it.
	n := len(a)
	return r.add(text,
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: uint32(n)},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: uint32(n), Mask: prefixMask(p.Bits(), n), Xor: make([]byte, n)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a[:n]})
}

// prefixMask is the first bits bits set in n bytes.
func prefixMask(bits, n int) []byte {
	m := make([]byte, n)
	for i := range m {
		switch {
		case bits >= 8*(i+1):
			m[i] = 0xff
		case bits > 8*i:
			m[i] = byte(0xff << (8 - (bits - 8*i)))
		}
	}
	return m
}

// addrSet matches the address against a named set (invert: "!=").
func (r *rb) addrSet(dir string, is6, invert bool, set string) *rb {
	fam, off, n := "ip", uint32(12), uint32(4)
	if is6 {
		fam, off, n = "ip6", 8, 16
	}
	if dir == "daddr" {
		off += n
	}
	op := ""
	if invert {
		op = "!= "
	}
	return r.add(fmt.Sprintf("%s %s %s@%s", fam, dir, op, set),
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n},
		&expr.Lookup{SourceRegister: 1, SetName: set, Invert: invert})
}

// l4proto is the dependency of a transport match (shown=false) or the
// explicit "meta l4proto" match.
func (r *rb) l4proto(p uint8, shown bool) *rb {
	text := ""
	if shown {
		text = "meta l4proto " + protoName(p)
	}
	return r.add(text, metaCmp(expr.MetaKeyL4PROTO, []byte{p})...)
}

// port matches the transport source or destination port (or range).
func (r *rb) port(proto uint8, dir string, lo, hi int) *rb {
	off := uint32(0)
	if dir == "dport" {
		off = 2
	}
	name := protoName(proto)
	r.l4proto(proto, false)
	if lo == hi {
		return r.add(fmt.Sprintf("%s %s %d", name, dir, lo), loadCmp(expr.PayloadBaseTransportHeader, off, be16(uint16(lo)))...)
	}
	return r.add(fmt.Sprintf("%s %s %d-%d", name, dir, lo, hi),
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: off, Len: 2},
		&expr.Cmp{Op: expr.CmpOpGte, Register: 1, Data: be16(uint16(lo))},
		&expr.Cmp{Op: expr.CmpOpLte, Register: 1, Data: be16(uint16(hi))})
}

// icmp matches an ICMP or ICMPv6 type and, when code >= 0, code (after
// the nfproto dependency).
func (r *rb) icmp(is6 bool, typ, code int) *rb {
	name, proto, names := "icmp", uint8(unix.IPPROTO_ICMP), icmpTypes
	if is6 {
		name, proto, names = "icmpv6", unix.IPPROTO_ICMPV6, icmp6Types
	}
	r.l4proto(proto, false)
	t := fmt.Sprint(typ)
	if n, ok := names[typ]; ok {
		t = n
	}
	r.add(name+" type "+t, loadCmp(expr.PayloadBaseTransportHeader, 0, []byte{byte(typ)})...)
	if code >= 0 {
		c := fmt.Sprint(code)
		if n, ok := icmpCodes[code]; ok && !is6 {
			c = n
		}
		r.add(name+" code "+c, loadCmp(expr.PayloadBaseTransportHeader, 1, []byte{byte(code)})...)
	}
	return r
}

// ctState matches any of the conntrack state bits.
func (r *rb) ctState(bits uint32, text string) *rb {
	return r.add("ct state "+text,
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binary.NativeEndian.AppendUint32(nil, bits), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)})
}

// Dispatch and marks.

func (r *rb) ifVmap(key expr.MetaKey, set string) *rb {
	w := "iifname"
	if key == expr.MetaKeyOIFNAME {
		w = "oifname"
	}
	return r.add(w+" vmap @"+set,
		&expr.Meta{Key: key, Register: 1},
		&expr.Lookup{SourceRegister: 1, SetName: set, DestRegister: 0, IsDestRegSet: true})
}

func (r *rb) markVmap(mask uint32, set string) *rb {
	return r.add(fmt.Sprintf("meta mark & 0x%08x vmap @%s", mask, set),
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binary.NativeEndian.AppendUint32(nil, mask), Xor: make([]byte, 4)},
		&expr.Lookup{SourceRegister: 1, SetName: set, DestRegister: 0, IsDestRegSet: true})
}

func (r *rb) setMark(v uint32) *rb {
	return r.add(fmt.Sprintf("meta mark set 0x%08x", v),
		&expr.Immediate{Register: 1, Data: binary.NativeEndian.AppendUint32(nil, v)},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1})
}

func (r *rb) orMark(v uint32) *rb {
	return r.add(fmt.Sprintf("meta mark set meta mark | 0x%08x", v),
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binary.NativeEndian.AppendUint32(nil, ^v), Xor: binary.NativeEndian.AppendUint32(nil, v)},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1})
}

func (r *rb) iifname(name string) *rb {
	return r.add(fmt.Sprintf("iifname %q", name), metaCmp(expr.MetaKeyIIFNAME, ifnameKey(name))...)
}

func (r *rb) setZone(z uint16) *rb {
	return r.add(fmt.Sprintf("ct zone set %d", z),
		&expr.Immediate{Register: 1, Data: binary.NativeEndian.AppendUint16(nil, z)},
		&expr.Ct{Register: 1, SourceRegister: true, Key: expr.CtKeyZONE})
}

// Statements and verdicts.

func (r *rb) counter() *rb { return r.add("counter packets 0 bytes 0", &expr.Counter{}) }

func (r *rb) verdict(k expr.VerdictKind) Rule {
	name := map[expr.VerdictKind]string{expr.VerdictReturn: "return", expr.VerdictDrop: "drop", expr.VerdictAccept: "accept"}[k]
	return r.add(name, &expr.Verdict{Kind: k}).rule()
}

func (r *rb) gotoChain(chain string) Rule {
	return r.add("goto "+chain, &expr.Verdict{Kind: expr.VerdictGoto, Chain: chain}).rule()
}

// Names nft prints.

func protoName(p uint8) string {
	if n, ok := protoNames[p]; ok {
		return n
	}
	return fmt.Sprint(p)
}

// protoNames are the names of /etc/protocols (Debian netbase), which nft
// prints for "meta l4proto"; other numbers print as numbers.
var protoNames = map[uint8]string{1: "icmp", 2: "igmp", 4: "ipencap", 6: "tcp", 17: "udp", 33: "dccp", 41: "ipv6",
	47: "gre", 50: "esp", 51: "ah", 58: "ipv6-icmp", 89: "ospf", 112: "vrrp", 132: "sctp", 136: "udplite"}

var icmpTypes = map[int]string{0: "echo-reply", 3: "destination-unreachable", 4: "source-quench", 5: "redirect",
	8: "echo-request", 9: "router-advertisement", 10: "router-solicitation", 11: "time-exceeded",
	12: "parameter-problem", 13: "timestamp-request", 14: "timestamp-reply", 15: "info-request",
	16: "info-reply", 17: "address-mask-request", 18: "address-mask-reply"}

var icmpCodes = map[int]string{0: "net-unreachable", 1: "host-unreachable", 2: "prot-unreachable",
	3: "port-unreachable", 4: "frag-needed", 9: "net-prohibited", 10: "host-prohibited", 13: "admin-prohibited"}

var icmp6Types = map[int]string{1: "destination-unreachable", 2: "packet-too-big", 3: "time-exceeded",
	4: "parameter-problem", 128: "echo-request", 129: "echo-reply", 130: "mld-listener-query",
	131: "mld-listener-report", 132: "mld-listener-done", 133: "nd-router-solicit", 134: "nd-router-advert",
	135: "nd-neighbor-solicit", 136: "nd-neighbor-advert", 137: "nd-redirect", 138: "router-renumbering",
	141: "ind-neighbor-solicit", 142: "ind-neighbor-advert", 143: "mld2-listener-report"}
