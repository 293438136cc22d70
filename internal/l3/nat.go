package l3

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"

	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// NATTable is the name of the router's nftables table (family ip) in its
// namespace; nothing else in the namespace uses nftables.
const NATTable = "neutrino-l3"

// NAT is the router's nftables NAT table: a base chain per hook, in the
// order they are listed. A router without a gateway has none.
type NAT struct {
	Chains []NATChain
}

// NATChain is one base chain of type nat.
type NATChain struct {
	Name     string // prerouting, output, postrouting
	Hook     string // the same names
	Priority int    // -100 (dstnat) or 100 (srcnat)
	Rules    []Rule
}

// Rule is one rule: its expressions and the text `nft list ruleset`
// prints for them.
type Rule struct {
	Text  string
	Exprs []expr.Any
}

// planNAT is Neutron's legacy router NAT in nftables terms:
//   - prerouting and output (the namespace's own traffic): each floating
//     IP is translated to its fixed IP (DNAT);
//   - postrouting: traffic between the router's own subnets that was not
//     translated is left alone; a fixed IP with a floating IP leaves as
//     its floating IP; with enable_snat everything else leaving through
//     qg- leaves as the gateway's first IPv4 address, and so does
//     traffic from inside to a floating IP (translated to a fixed IP
//     behind this router), so that the answer comes back through the
//     router even when both ends share a subnet.
//
// IPv6 is routed, never translated (as Neutron).
func planNAT(r Router, qg string) NAT {
	var pre, out, post []Rule
	for _, f := range r.FloatingIPs {
		if !f.FloatingIP.Is4() || !f.FixedIP.Is4() {
			continue
		}
		dnat := newRule().addr("daddr", f.FloatingIP).nat("dnat", f.FixedIP).rule()
		pre, out = append(pre, dnat), append(out, dnat)
	}
	post = append(post, newRule().ifname("iifname", false, qg).ifname("oifname", false, qg).ctDNAT(false).accept().rule())
	for _, f := range r.FloatingIPs {
		if f.FloatingIP.Is4() && f.FixedIP.Is4() {
			post = append(post, newRule().addr("saddr", f.FixedIP).nat("snat", f.FloatingIP).rule())
		}
	}
	if gw := firstIPv4(r.Gateway.Port.Addresses); r.Gateway.EnableSNAT && gw.IsValid() {
		post = append(post,
			newRule().ifname("oifname", true, qg).nat("snat", gw).rule(),
			newRule().ifname("iifname", false, qg).ctDNAT(true).nat("snat", gw).rule())
	}
	chains := []NATChain{
		{Name: "prerouting", Hook: "prerouting", Priority: -100, Rules: pre},
		{Name: "output", Hook: "output", Priority: -100, Rules: out},
		{Name: "postrouting", Hook: "postrouting", Priority: 100, Rules: post},
	}
	return NAT{Chains: chains}
}

func firstIPv4(ps []netip.Prefix) netip.Addr {
	for _, p := range ps {
		if p.Addr().Is4() {
			return p.Addr()
		}
	}
	return netip.Addr{}
}

// Chain returns the named chain, or nil.
func (n NAT) Chain(name string) *NATChain {
	for i := range n.Chains {
		if n.Chains[i].Name == name {
			return &n.Chains[i]
		}
	}
	return nil
}

// header is the base chain line as nft prints it.
func (c NATChain) header() string {
	prio := fmt.Sprint(c.Priority)
	switch {
	case c.Hook == "prerouting" && c.Priority == -100:
		prio = "dstnat"
	case c.Hook == "postrouting" && c.Priority == 100:
		prio = "srcnat"
	}
	return fmt.Sprintf("type nat hook %s priority %s; policy accept;", c.Hook, prio)
}

// Sum is a checksum of the chain's header and rules. It is kept in the
// comment of the chain's last rule (or, for an empty chain, the chain's
// absence of rules is compared instead), so reading a chain back needs no
// parsing of expressions: the Applier compares sums.
func (c NATChain) Sum() string {
	if len(c.Rules) == 0 {
		return ""
	}
	h := sha256.New()
	fmt.Fprintln(h, c.header())
	for _, r := range c.Rules {
		fmt.Fprintln(h, r.Text)
	}
	return hex.EncodeToString(h.Sum(nil))[:8]
}

func (c NATChain) comment() string { return "sum " + c.Sum() }

// Render prints the table as `nft list ruleset` does (without the blank
// lines between chains); nothing when there are no chains.
func (n NAT) Render() string {
	if len(n.Chains) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "table ip %s {\n", NATTable)
	for _, c := range n.Chains {
		fmt.Fprintf(&b, "\tchain %s {\n\t\t%s\n", c.Name, c.header())
		for i, r := range c.Rules {
			fmt.Fprintf(&b, "\t\t%s", r.Text)
			if i == len(c.Rules)-1 {
				fmt.Fprintf(&b, " comment %q", c.comment())
			}
			b.WriteString("\n")
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// rb builds a rule: each step appends the expressions nft generates for
// it and the words nft prints for them (nftfw's style, for the ip family
// and NAT).
type rb struct {
	words []string
	ex    []expr.Any
}

func newRule() *rb { return &rb{} }

func (r *rb) add(text string, ex ...expr.Any) *rb {
	r.words = append(r.words, text)
	r.ex = append(r.ex, ex...)
	return r
}

func (r *rb) rule() Rule { return Rule{Text: strings.Join(r.words, " "), Exprs: r.ex} }

// addr matches the IPv4 source or destination address.
func (r *rb) addr(dir string, a netip.Addr) *rb {
	off := uint32(12)
	if dir == "daddr" {
		off = 16
	}
	return r.add(fmt.Sprintf("ip %s %s", dir, a),
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a.AsSlice()})
}

// ifname matches the input or output interface's name (eq, or not eq).
func (r *rb) ifname(key string, eq bool, name string) *rb {
	mk, op, word := expr.MetaKeyIIFNAME, expr.CmpOpEq, key
	if key == "oifname" {
		mk = expr.MetaKeyOIFNAME
	}
	if !eq {
		op, word = expr.CmpOpNeq, key+" !="
	}
	data := make([]byte, unix.IFNAMSIZ)
	copy(data, name)
	return r.add(fmt.Sprintf("%s %q", word, name),
		&expr.Meta{Key: mk, Register: 1},
		&expr.Cmp{Op: op, Register: 1, Data: data})
}

// ctDNAT matches connections that were (or, set false, were not)
// destination-translated.
func (r *rb) ctDNAT(set bool) *rb {
	op, text := expr.CmpOpNeq, "ct status dnat"
	if !set {
		op, text = expr.CmpOpEq, "ct status ! dnat"
	}
	mask := binary.NativeEndian.AppendUint32(nil, 0x20) // IPS_DST_NAT
	return r.add(text,
		&expr.Ct{Key: expr.CtKeySTATUS, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: make([]byte, 4)},
		&expr.Cmp{Op: op, Register: 1, Data: make([]byte, 4)})
}

// nat translates the source ("snat") or destination ("dnat") to a.
func (r *rb) nat(kind string, a netip.Addr) *rb {
	t := expr.NATTypeSourceNAT
	if kind == "dnat" {
		t = expr.NATTypeDestNAT
	}
	return r.add(fmt.Sprintf("%s to %s", kind, a),
		&expr.Immediate{Register: 1, Data: a.AsSlice()},
		&expr.NAT{Type: t, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegAddrMax: 1})
}

func (r *rb) accept() *rb {
	return r.add("accept", &expr.Verdict{Kind: expr.VerdictAccept})
}
