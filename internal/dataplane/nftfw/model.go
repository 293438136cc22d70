package nftfw

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/google/nftables/expr"
)

// TableName is the name of our table in both families.
const TableName = "neutrino"

// Family is an nftables address family.
type Family string

// The families we use.
const (
	Bridge Family = "bridge"
	Inet   Family = "inet"
)

// Ruleset is what we keep in the kernel: the bridge table and the inet
// table, each present only when it has something in it.
type Ruleset struct {
	Tables []*Table
}

// Table returns the table of family f, or nil.
func (r Ruleset) Table(f Family) *Table {
	for _, t := range r.Tables {
		if t.Family == f {
			return t
		}
	}
	return nil
}

// Table is one of our tables.
type Table struct {
	Family Family
	Sets   []*Set
	Chains []*Chain
	// Zones is the conntrack zone of each bridge (inet table): the
	// assignment a later Plan keeps.
	Zones map[string]uint16

	// Indexes by name for Set and Chain, rebuilt when the slices grew
	// (tables are only appended to while they are built).
	setIdx   map[string]*Set
	chainIdx map[string]*Chain
}

// Set returns the named set, or nil.
func (t *Table) Set(name string) *Set {
	if len(t.setIdx) != len(t.Sets) {
		t.setIdx = map[string]*Set{}
		for _, s := range t.Sets {
			t.setIdx[s.Name] = s
		}
	}
	return t.setIdx[name]
}

// Chain returns the named chain, or nil.
func (t *Table) Chain(name string) *Chain {
	if len(t.chainIdx) != len(t.Chains) {
		t.chainIdx = map[string]*Chain{}
		for _, c := range t.Chains {
			t.chainIdx[c.Name] = c
		}
	}
	return t.chainIdx[name]
}

// SetKind is the key (and data) type of a set or map.
type SetKind int

// The set kinds we use.
const (
	IfnameVerdict SetKind = iota // map ifname : verdict
	MarkVerdict                  // map mark : verdict
	IPv4Interval                 // set ipv4_addr, flags interval
	IPv6Interval                 // set ipv6_addr, flags interval
	IPv4Addr                     // set ipv4_addr
	IPv6Addr                     // set ipv6_addr
)

func (k SetKind) isMap() bool    { return k <= MarkVerdict }
func (k SetKind) interval() bool { return k == IPv4Interval || k == IPv6Interval }

func (k SetKind) header() string {
	switch k {
	case IfnameVerdict:
		return "map %s {\n\t\ttype ifname : verdict\n"
	case MarkVerdict:
		return "map %s {\n\t\ttype mark : verdict\n"
	case IPv4Interval:
		return "set %s {\n\t\ttype ipv4_addr\n\t\tflags interval\n"
	case IPv6Interval:
		return "set %s {\n\t\ttype ipv6_addr\n\t\tflags interval\n"
	case IPv4Addr:
		return "set %s {\n\t\ttype ipv4_addr\n"
	}
	return "set %s {\n\t\ttype ipv6_addr\n"
}

// Set is a named set or map.
type Set struct {
	Name  string
	Kind  SetKind
	Elems []Elem // sorted by Text, no duplicates
}

// Elem is one element. Key is in the kernel's byte order; KeyEnd is the
// exclusive end of an interval (nil: to the end of the address space);
// Verdict is the chain a verdict map jumps to.
type Elem struct {
	Key, KeyEnd []byte
	Verdict     string
	kind        SetKind
	text        string // Text, once computed (sortElems)
}

// Text is the element as nft prints it.
func (e Elem) Text() string {
	if e.text != "" {
		return e.text
	}
	return e.render()
}

func (e Elem) render() string {
	var k string
	switch e.kind {
	case IfnameVerdict:
		k = fmt.Sprintf("%q", string(bytes.TrimRight(e.Key, "\x00")))
	case MarkVerdict:
		k = fmt.Sprintf("0x%08x", binary.NativeEndian.Uint32(e.Key))
	case IPv4Addr, IPv6Addr:
		a, _ := netip.AddrFromSlice(e.Key)
		k = a.String()
	case IPv4Interval, IPv6Interval:
		k = intervalText(e.Key, e.KeyEnd)
	}
	switch e.kind {
	case IfnameVerdict, MarkVerdict:
		return k + " : jump " + e.Verdict
	}
	return k
}

// intervalText prints [start, end) as a prefix when it is one, else a range.
func intervalText(start, end []byte) string {
	a, _ := netip.AddrFromSlice(start)
	last := lastOf(end, len(start))
	for bits := a.BitLen(); bits >= 0; bits-- {
		p := netip.PrefixFrom(a, bits)
		if p.Masked().Addr() != a {
			break
		}
		if lastAddr(p) == last {
			if bits == a.BitLen() {
				return a.String()
			}
			return p.String()
		}
	}
	return a.String() + "-" + last.String()
}

// lastOf is the last address before the exclusive end (nil: the top).
func lastOf(end []byte, n int) netip.Addr {
	if end == nil {
		b := bytes.Repeat([]byte{0xff}, n)
		a, _ := netip.AddrFromSlice(b)
		return a
	}
	a, _ := netip.AddrFromSlice(end)
	return a.Prev()
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := range b {
		bit := i * 8
		switch {
		case bit >= p.Bits():
			b[i] = 0xff
		case bit+8 > p.Bits():
			b[i] |= 0xff >> (p.Bits() - bit)
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// prefixElem is the interval element of a prefix.
func prefixElem(p netip.Prefix) Elem {
	p = p.Masked()
	k := IPv4Interval
	if p.Addr().Is6() {
		k = IPv6Interval
	}
	e := Elem{Key: p.Addr().AsSlice(), kind: k}
	if next := lastAddr(p).Next(); next.IsValid() {
		e.KeyEnd = next.AsSlice()
	}
	return e
}

func sortElems(es []Elem) []Elem {
	for i := range es {
		es[i].text = es[i].render()
	}
	slices.SortFunc(es, func(a, b Elem) int { return cmp.Compare(a.Text(), b.Text()) })
	return slices.CompactFunc(es, func(a, b Elem) bool { return a.Text() == b.Text() })
}

// Chain is a chain with its rules. Hook is empty for a regular chain.
type Chain struct {
	Name     string
	Hook     string // "prerouting", "forward", "input"
	Priority int
	Rules    []Rule
	// Sum is the checksum of the chain's definition, kept in the comment
	// of its last rule; read back from the kernel, it is all the
	// Applier knows of a chain's content.
	Sum string
	// key identifies the inputs a per-port chain was made from (see
	// portChains); empty for other chains and for chains read back.
	key string
	// target is the rules chain a port's egress or ingress chain goes to
	// (planned, or read back from its goto).
	target string
}

// Rule is one rule: its expressions and the text nft prints for them.
type Rule struct {
	Text  string
	Exprs []expr.Any
}

// header is the base chain line as nft prints it.
func (c *Chain) header() string {
	if c.Hook == "" {
		return ""
	}
	return fmt.Sprintf("type filter hook %s priority %s; policy accept;", c.Hook, priorityName(c.Priority))
}

func priorityName(p int) string {
	switch p {
	case -300:
		return "raw"
	case 0:
		return "filter"
	case -200:
		return "filter" // the bridge family's filter priority
	}
	return fmt.Sprint(p)
}

// sum computes the checksum of the chain's header and rules.
func (c *Chain) sum() string {
	h := sha256.New()
	fmt.Fprintln(h, c.header())
	for _, r := range c.Rules {
		fmt.Fprintln(h, r.Text)
	}
	return hex.EncodeToString(h.Sum(nil))[:8]
}

// comment is the comment of the chain's last rule.
func (c *Chain) comment() string { return "sum " + c.Sum }

// Render prints the ruleset as `nft list ruleset` would, except that set
// elements come one per line, sorted, and counters are zero: the golden
// text of the tests.
func (r Ruleset) Render() string {
	var b strings.Builder
	for _, t := range r.Tables {
		fmt.Fprintf(&b, "table %s %s {\n", t.Family, TableName)
		for _, s := range t.Sets {
			fmt.Fprintf(&b, "\t"+s.Kind.header(), s.Name)
			if len(s.Elems) > 0 {
				b.WriteString("\t\telements = {\n")
				for _, e := range s.Elems {
					fmt.Fprintf(&b, "\t\t\t%s\n", e.Text())
				}
				b.WriteString("\t\t}\n")
			}
			b.WriteString("\t}\n")
		}
		for _, c := range t.Chains {
			fmt.Fprintf(&b, "\tchain %s {\n", c.Name)
			if h := c.header(); h != "" {
				fmt.Fprintf(&b, "\t\t%s\n", h)
			}
			for i, rl := range c.Rules {
				fmt.Fprintf(&b, "\t\t%s", rl.Text)
				if i == len(c.Rules)-1 {
					fmt.Fprintf(&b, " comment %q", c.comment())
				}
				b.WriteString("\n")
			}
			b.WriteString("\t}\n")
		}
		b.WriteString("}\n")
	}
	return b.String()
}
