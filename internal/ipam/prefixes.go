package ipam

import (
	"encoding/binary"
	"net/http"
	"net/netip"
	"sort"
	"strconv"

	"neutrino/internal/neutron"
)

// Subnet pools: the prefix math of Neutron's subnet allocation (a pool's
// prefixes as a set of addresses, the free space left by the subnets
// allocated from it, and which prefix a new subnet gets). Sets are kept
// as sorted, disjoint, non-adjacent address ranges and turned back into
// the fewest CIDRs, as netaddr's IPSet does for Neutron.

// u128 is an address as a 128-bit number (IPv4 in the low 32 bits).
type u128 struct{ hi, lo uint64 }

func toU128(a netip.Addr) u128 {
	if a.Is4() {
		b := a.As4()
		return u128{lo: uint64(binary.BigEndian.Uint32(b[:]))}
	}
	b := a.As16()
	return u128{hi: binary.BigEndian.Uint64(b[:8]), lo: binary.BigEndian.Uint64(b[8:])}
}

func (x u128) addr(v4 bool) netip.Addr {
	if v4 {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(x.lo))
		return netip.AddrFrom4(b)
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], x.hi)
	binary.BigEndian.PutUint64(b[8:], x.lo)
	return netip.AddrFrom16(b)
}

func (x u128) less(y u128) bool { return x.hi < y.hi || x.hi == y.hi && x.lo < y.lo }

func (x u128) add1() u128 {
	if x.lo == ^uint64(0) {
		return u128{x.hi + 1, 0}
	}
	return u128{x.hi, x.lo + 1}
}

func (x u128) sub1() u128 {
	if x.lo == 0 {
		return u128{x.hi - 1, ^uint64(0)}
	}
	return u128{x.hi, x.lo - 1}
}

// hostMask is the mask of the low n bits (0 <= n <= 128).
func hostMask(n int) u128 {
	switch {
	case n >= 128:
		return u128{^uint64(0), ^uint64(0)}
	case n >= 64:
		return u128{^uint64(0) >> (128 - n), ^uint64(0)}
	case n == 0:
		return u128{}
	}
	return u128{0, ^uint64(0) >> (64 - n)}
}

func (x u128) and(m u128) u128 { return u128{x.hi & m.hi, x.lo & m.lo} }
func (x u128) or(m u128) u128  { return u128{x.hi | m.hi, x.lo | m.lo} }

// span is an inclusive address range.
type span struct{ first, last u128 }

func bitsOf(v4 bool) int {
	if v4 {
		return 32
	}
	return 128
}

func prefixSpan(p netip.Prefix) span {
	p = p.Masked()
	first := toU128(p.Addr())
	return span{first, first.or(hostMask(bitsOf(p.Addr().Is4()) - p.Bits()))}
}

// union sorts spans and merges those that overlap or touch.
func union(ss []span) []span {
	sort.Slice(ss, func(i, j int) bool { return ss[i].first.less(ss[j].first) })
	var out []span
	for _, s := range ss {
		if n := len(out); n > 0 {
			top := &out[n-1]
			// s starts at or before the address after top's last one.
			if top.last == hostMask(128) || !top.last.add1().less(s.first) {
				if top.last.less(s.last) {
					top.last = s.last
				}
				continue
			}
		}
		out = append(out, s)
	}
	return out
}

// minus removes the union of b from the union a (both sorted, disjoint).
func minus(a, b []span) []span {
	var out []span
	j := 0
	for _, s := range a {
		cur := s
		ok := true
		for ; j < len(b) && b[j].last.less(cur.first); j++ {
		}
		for k := j; k < len(b) && !cur.last.less(b[k].first); k++ {
			if cur.first.less(b[k].first) {
				out = append(out, span{cur.first, b[k].first.sub1()})
			}
			if !b[k].last.less(cur.last) {
				ok = false
				break
			}
			cur.first = b[k].last.add1()
		}
		if ok {
			out = append(out, cur)
		}
	}
	return out
}

// cidrs splits sorted spans into the fewest prefixes, in address order.
func cidrs(ss []span, v4 bool) []netip.Prefix {
	width := bitsOf(v4)
	var out []netip.Prefix
	for _, s := range ss {
		first := s.first
		for {
			// The largest block aligned at first that ends within s.
			host := 0
			for host < width {
				m := hostMask(host + 1)
				if first.and(m) != (u128{}) || s.last.less(first.or(m)) {
					break
				}
				host++
			}
			out = append(out, netip.PrefixFrom(first.addr(v4), width-host))
			end := first.or(hostMask(host))
			if end == s.last {
				break
			}
			first = end.add1()
		}
	}
	return out
}

func spans(ps []netip.Prefix) []span {
	out := make([]span, len(ps))
	for i, p := range ps {
		out[i] = prefixSpan(p)
	}
	return union(out)
}

// Compact returns the addresses of prefixes (one IP version, host bits
// ignored) as the fewest prefixes in address order: overlapping ones are
// merged, adjacent halves joined (Neutron stores a pool's prefixes so).
func Compact(prefixes []netip.Prefix) []netip.Prefix {
	if len(prefixes) == 0 {
		return nil
	}
	return cidrs(spans(prefixes), prefixes[0].Addr().Is4())
}

// Free returns what of a pool's prefixes no allocated subnet covers, as
// the fewest prefixes in address order.
func Free(pool, allocated []netip.Prefix) []netip.Prefix {
	if len(pool) == 0 {
		return nil
	}
	return cidrs(minus(spans(pool), spans(allocated)), pool[0].Addr().Is4())
}

// SubnetAllocationError is Neutron's fault when a pool cannot give the
// requested prefix (a plain NeutronException: 500 in Neutron's own
// mapping; its API turns it into 400, as here).
func SubnetAllocationError(reason string) error {
	return neutron.Errorf(http.StatusBadRequest, "SubnetAllocationError", "Failed to allocate subnet: %s.", reason)
}

// AllocatePrefix picks a subnet of prefixlen from the free space of a pool
// as Neutron's subnet allocator does: the smallest free block that can
// hold it (the lowest address among equals), and its first prefixlen
// subnet. Best fit keeps large blocks whole for large requests.
func AllocatePrefix(pool, allocated []netip.Prefix, prefixlen int) (netip.Prefix, error) {
	free := Free(pool, allocated)
	sort.SliceStable(free, func(i, j int) bool { return free[i].Bits() > free[j].Bits() })
	for _, f := range free {
		if f.Bits() <= prefixlen {
			return netip.PrefixFrom(f.Addr(), prefixlen), nil
		}
	}
	return netip.Prefix{}, SubnetAllocationError("Insufficient prefix space to allocate subnet size /" + strconv.Itoa(prefixlen))
}

// CheckSpecific reports whether a requested subnet lies wholly in the free
// space of a pool.
func CheckSpecific(pool, allocated []netip.Prefix, want netip.Prefix) error {
	w := prefixSpan(want)
	for _, f := range minus(spans(pool), spans(allocated)) {
		if !w.first.less(f.first) && !f.last.less(w.last) {
			return nil
		}
	}
	return SubnetAllocationError("Cannot allocate requested subnet from the available set of prefixes")
}

// Pool is a subnet pool's address space and prefix-length bounds, read
// and checked as Neutron's SubnetPoolReader does.
type Pool struct {
	IPVersion         int
	Prefixes          []netip.Prefix // compacted
	Min, Max, Default int
}

// Neutron's defaults for a pool's min_prefixlen (max_prefixlen defaults to
// the address width; default_prefixlen to min_prefixlen).
func defaultMinPrefixlen(version int) int {
	if version == 4 {
		return 8
	}
	return 64
}

// ReadPool checks a pool's prefixes (one IP version, at least one) and its
// prefix-length bounds; nil bounds take Neutron's defaults. The faults are
// Neutron's (EmptySubnetPoolPrefixList, PrefixVersionMismatch,
// IllegalSubnetPoolPrefixBounds).
func ReadPool(prefixes []string, min, max, def *int) (Pool, error) {
	if len(prefixes) == 0 {
		return Pool{}, neutron.Errorf(http.StatusBadRequest, "EmptySubnetPoolPrefixList", "Empty subnet pool prefix list.")
	}
	var p Pool
	ps := make([]netip.Prefix, 0, len(prefixes))
	for _, s := range prefixes {
		x, err := netip.ParsePrefix(s)
		if err != nil {
			return Pool{}, neutron.InvalidInput("%s is not in a CIDR format.", s)
		}
		v := 6
		if x.Addr().Is4() {
			v = 4
		}
		if p.IPVersion == 0 {
			p.IPVersion = v
		} else if v != p.IPVersion {
			return Pool{}, neutron.Errorf(http.StatusBadRequest, "PrefixVersionMismatch", "Cannot mix IPv4 and IPv6 prefixes in a subnet pool.")
		}
		ps = append(ps, x.Masked())
	}
	p.Prefixes = Compact(ps)
	width := 32
	if p.IPVersion == 6 {
		width = 128
	}
	pick := func(v *int, d int) int {
		if v != nil {
			return *v
		}
		return d
	}
	p.Min = pick(min, defaultMinPrefixlen(p.IPVersion))
	p.Max = pick(max, width)
	p.Default = pick(def, p.Min)
	bounds := func(typ string, n int, base string, b int) error {
		return neutron.Errorf(http.StatusBadRequest, "IllegalSubnetPoolPrefixBounds",
			"Illegal prefix bounds: %s=%d, %s=%d.", typ, n, base, b)
	}
	switch {
	case p.Min < 0:
		return Pool{}, neutron.Errorf(http.StatusBadRequest, "UnsupportedMinSubnetPoolPrefix",
			"Prefix '%d' not supported in IPv4 pool.", p.Min)
	case p.Min > p.Max:
		return Pool{}, bounds("min_prefixlen", p.Min, "max_prefixlen", p.Max)
	case p.Max > width:
		return Pool{}, bounds("max_prefixlen", p.Max, "ip_version_max", width)
	case p.Default < p.Min:
		return Pool{}, bounds("default_prefixlen", p.Default, "min_prefixlen", p.Min)
	case p.Default > p.Max:
		return Pool{}, bounds("default_prefixlen", p.Default, "max_prefixlen", p.Max)
	}
	return p, nil
}

// GrowPrefixes is a pool update's new prefixes: they must cover every
// address of the old ones (a pool never shrinks: IllegalSubnetPoolPrefixUpdate).
func GrowPrefixes(old, new []netip.Prefix) error {
	if len(minus(spans(old), spans(new))) > 0 {
		return neutron.Errorf(http.StatusBadRequest, "IllegalSubnetPoolPrefixUpdate",
			"Illegal update to prefixes: Existing prefixes must be a subset of the new prefixes.")
	}
	return nil
}

// QuotaUnits is what a subnet of prefixlen costs against a pool's
// default_quota: addresses for IPv4, /64 networks for IPv6 (saturated).
func QuotaUnits(version, prefixlen int) int64 {
	unit := 32
	if version == 6 {
		unit = 64
	}
	n := unit - prefixlen
	switch {
	case n < 0:
		return 0
	case n >= 62:
		return 1 << 62
	}
	return 1 << n
}
