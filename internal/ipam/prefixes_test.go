package ipam

import (
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

func pfx(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

func joinPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, " ")
}

// The expectations are what netaddr's IPSet (Neutron's prefix math) gives.
func TestCompact(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"10.0.0.0/24", "10.0.0.0/24"},
		{"10.0.0.5/24", "10.0.0.0/24"},
		{"10.0.1.0/24 10.0.0.0/24", "10.0.0.0/23"},
		{"10.0.0.0/24 10.0.0.128/25", "10.0.0.0/24"},
		{"10.0.1.0/24 10.0.2.0/24", "10.0.1.0/24 10.0.2.0/24"},
		{"10.0.0.0/24 10.0.1.0/24 10.0.2.0/24", "10.0.0.0/23 10.0.2.0/24"},
		{"10.0.0.0/25 10.0.0.128/26 10.0.0.192/26", "10.0.0.0/24"},
		{"192.168.0.0/16 10.0.0.0/8", "10.0.0.0/8 192.168.0.0/16"},
		{"0.0.0.0/1 128.0.0.0/1", "0.0.0.0/0"},
		{"255.255.255.255/32 255.255.255.254/32", "255.255.255.254/31"},
		{"2001:db8::/64 2001:db8:0:1::/64", "2001:db8::/63"},
		{"::/1 8000::/1", "::/0"},
		{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"},
		{"2001:db8::/48 2001:db8::/64", "2001:db8::/48"},
	} {
		if got := joinPrefixes(Compact(pfx(strings.Fields(c.in)...))); got != c.want {
			t.Errorf("Compact(%s) = %s, want %s", c.in, got, c.want)
		}
	}
}

func TestFreeAndAllocate(t *testing.T) {
	for _, c := range []struct {
		pool, used string
		free       string
		len        int
		want       string // "" = SubnetAllocationError
	}{
		{"10.0.0.0/24", "", "10.0.0.0/24", 26, "10.0.0.0/26"},
		{"10.0.0.0/24", "10.0.0.0/26", "10.0.0.64/26 10.0.0.128/25", 26, "10.0.0.64/26"},
		// Best fit: the /26 hole is used before the /25 is split.
		{"10.0.0.0/24", "10.0.0.64/26", "10.0.0.0/26 10.0.0.128/25", 27, "10.0.0.0/27"},
		{"10.0.0.0/24", "10.0.0.0/25", "10.0.0.128/25", 25, "10.0.0.128/25"},
		{"10.0.0.0/24", "10.0.0.0/25 10.0.0.128/25", "", 28, ""},
		{"10.0.0.0/24", "10.0.0.0/25", "10.0.0.128/25", 24, ""},
		{"10.0.0.0/24 10.1.0.0/16", "", "10.0.0.0/24 10.1.0.0/16", 24, "10.0.0.0/24"},
		{"10.0.0.0/24 10.1.0.0/16", "", "10.0.0.0/24 10.1.0.0/16", 20, "10.1.0.0/20"},
		{"10.0.0.0/24", "10.0.0.16/28", "10.0.0.0/28 10.0.0.32/27 10.0.0.64/26 10.0.0.128/25", 27, "10.0.0.32/27"},
		{"2001:db8::/48", "2001:db8::/64", "2001:db8:0:1::/64 2001:db8:0:2::/63 2001:db8:0:4::/62 2001:db8:0:8::/61 2001:db8:0:10::/60 2001:db8:0:20::/59 2001:db8:0:40::/58 2001:db8:0:80::/57 2001:db8:0:100::/56 2001:db8:0:200::/55 2001:db8:0:400::/54 2001:db8:0:800::/53 2001:db8:0:1000::/52 2001:db8:0:2000::/51 2001:db8:0:4000::/50 2001:db8:0:8000::/49", 64, "2001:db8:0:1::/64"},
		{"::/0", "::/1", "8000::/1", 1, "8000::/1"},
	} {
		pool, used := pfx(strings.Fields(c.pool)...), pfx(strings.Fields(c.used)...)
		if got := joinPrefixes(Free(pool, used)); got != c.free {
			t.Errorf("Free(%s - %s) = %s, want %s", c.pool, c.used, got, c.free)
		}
		got, err := AllocatePrefix(pool, used, c.len)
		switch {
		case c.want == "" && err == nil:
			t.Errorf("AllocatePrefix(%s - %s, /%d) = %s, want an error", c.pool, c.used, c.len, got)
		case c.want == "" && fault(t, err) != "SubnetAllocationError: Failed to allocate subnet: Insufficient prefix space to allocate subnet size /"+strconv.Itoa(c.len)+".":
			t.Errorf("AllocatePrefix error %q", fault(t, err))
		case c.want != "" && (err != nil || got.String() != c.want):
			t.Errorf("AllocatePrefix(%s - %s, /%d) = %s, %v, want %s", c.pool, c.used, c.len, got, err, c.want)
		}
	}
}

// bitmap is the brute-force model: which of the 256 addresses of
// 10.0.0.0/24 a set of prefixes inside it covers.
type bitmap [256]bool

func (b *bitmap) add(p netip.Prefix) {
	s := p.Masked().Addr().As4()[3]
	for i := 0; i < 1<<(32-p.Bits()); i++ {
		b[int(s)+i] = true
	}
}

func randPrefix(r *rand.Rand, minLen int) netip.Prefix {
	l := minLen + r.IntN(33-minLen)
	a := netip.AddrFrom4([4]byte{10, 0, 0, byte(r.IntN(256))})
	return netip.PrefixFrom(a, l).Masked()
}

// TestFreeExhaustive checks Free and Compact against the brute-force model
// on random pools and allocations: the result covers exactly the free
// addresses, in address order, with no two prefixes that could be one.
func TestFreeExhaustive(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 3000; round++ {
		var pool, used []netip.Prefix
		var want bitmap
		var usedMap bitmap
		for i := 0; i < 1+r.IntN(4); i++ {
			p := randPrefix(r, 24)
			pool = append(pool, p)
			want.add(p)
		}
		for i := 0; i < r.IntN(5); i++ {
			p := randPrefix(r, 25)
			used = append(used, p)
			usedMap.add(p)
		}
		for i := range want {
			want[i] = want[i] && !usedMap[i]
		}
		free := Free(pool, used)
		var got bitmap
		for i, p := range free {
			if p != p.Masked() {
				t.Fatalf("Free gave unmasked %s", p)
			}
			if i > 0 {
				prev := free[i-1]
				if !Last(prev).Less(p.Addr()) {
					t.Fatalf("Free(%v - %v) = %v: not disjoint and ordered", pool, used, free)
				}
				if prev.Bits() == p.Bits() && prev.Bits() > 0 {
					parent, _ := prev.Addr().Prefix(prev.Bits() - 1)
					if parent.Contains(p.Addr()) {
						t.Fatalf("Free(%v - %v) = %v: %s and %s make one prefix", pool, used, free, prev, p)
					}
				}
			}
			got.add(p)
		}
		if got != want {
			t.Fatalf("Free(%v - %v) = %v: wrong address set", pool, used, free)
		}
		if c := Compact(pool); len(used) == 0 && joinPrefixes(c) != joinPrefixes(free) {
			t.Fatalf("Compact(%v) = %v, Free without allocations %v", pool, c, free)
		}
	}
}

// TestAllocateUntilFull allocates random sizes from random pools until
// each size fails: no two allocations overlap, each lies in the pool, and
// a size fails only when no aligned block of it is free (brute force).
func TestAllocateUntilFull(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for round := 0; round < 500; round++ {
		var pool []netip.Prefix
		var inPool bitmap
		for i := 0; i < 1+r.IntN(3); i++ {
			p := randPrefix(r, 24)
			pool = append(pool, p)
			inPool.add(p)
		}
		var used []netip.Prefix
		var taken bitmap
		for tries := 0; tries < 300; tries++ {
			l := 24 + r.IntN(9)
			got, err := AllocatePrefix(pool, used, l)
			fits := false
			for s := 0; s < 256; s += 1 << (32 - l) {
				ok := true
				for i := s; i < s+1<<(32-l); i++ {
					ok = ok && inPool[i] && !taken[i]
				}
				fits = fits || ok
			}
			if err != nil {
				if fits {
					t.Fatalf("pool %v used %v: /%d refused but a block is free", pool, used, l)
				}
				continue
			}
			if !fits || got.Bits() != l || got != got.Masked() {
				t.Fatalf("pool %v used %v: /%d gave %s", pool, used, l, got)
			}
			if err := CheckSpecific(pool, used, got); err != nil {
				t.Fatalf("allocated %s is not free: %v", got, err)
			}
			var b bitmap
			b.add(got)
			for i := range b {
				if b[i] && (taken[i] || !inPool[i]) {
					t.Fatalf("pool %v used %v: %s overlaps or leaves the pool", pool, used, got)
				}
				taken[i] = taken[i] || b[i]
			}
			used = append(used, got)
			if err := CheckSpecific(pool, used, got); err == nil {
				t.Fatalf("%s still free after its allocation", got)
			}
		}
	}
}

func TestReadPool(t *testing.T) {
	n := func(v int) *int { return &v }
	for _, c := range []struct {
		prefixes      []string
		min, max, def *int
		want          string
	}{
		{[]string{"10.0.0.0/24"}, nil, nil, nil, "4 [10.0.0.0/24] 8 32 8"},
		{[]string{"2001:db8::/48"}, nil, nil, nil, "6 [2001:db8::/48] 64 128 64"},
		{[]string{"10.0.0.0/24", "10.0.1.5/24"}, n(24), n(28), nil, "4 [10.0.0.0/23] 24 28 24"},
		{[]string{"10.0.0.0/24"}, n(24), n(28), n(26), "4 [10.0.0.0/24] 24 28 26"},
		{nil, nil, nil, nil, "EmptySubnetPoolPrefixList: Empty subnet pool prefix list."},
		{[]string{"10.0.0.0/24", "2001:db8::/64"}, nil, nil, nil, "PrefixVersionMismatch: Cannot mix IPv4 and IPv6 prefixes in a subnet pool."},
		{[]string{"10.0.0.0/24"}, n(28), n(24), nil, "IllegalSubnetPoolPrefixBounds: Illegal prefix bounds: min_prefixlen=28, max_prefixlen=24."},
		{[]string{"10.0.0.0/24"}, nil, n(33), nil, "IllegalSubnetPoolPrefixBounds: Illegal prefix bounds: max_prefixlen=33, ip_version_max=32."},
		{[]string{"10.0.0.0/24"}, n(24), nil, n(20), "IllegalSubnetPoolPrefixBounds: Illegal prefix bounds: default_prefixlen=20, min_prefixlen=24."},
		{[]string{"10.0.0.0/24"}, nil, n(26), n(28), "IllegalSubnetPoolPrefixBounds: Illegal prefix bounds: default_prefixlen=28, max_prefixlen=26."},
		{[]string{"2001:db8::/48"}, nil, n(129), nil, "IllegalSubnetPoolPrefixBounds: Illegal prefix bounds: max_prefixlen=129, ip_version_max=128."},
	} {
		p, err := ReadPool(c.prefixes, c.min, c.max, c.def)
		got := fault(t, err)
		if err == nil {
			got = fmtPool(p)
		}
		if got != c.want {
			t.Errorf("ReadPool(%v, %v, %v, %v) = %s, want %s", c.prefixes, c.min, c.max, c.def, got, c.want)
		}
	}
}

func fmtPool(p Pool) string {
	return strings.Join([]string{strconv.Itoa(p.IPVersion), "[" + joinPrefixes(p.Prefixes) + "]", strconv.Itoa(p.Min), strconv.Itoa(p.Max), strconv.Itoa(p.Default)}, " ")
}

func TestGrowPrefixes(t *testing.T) {
	if err := GrowPrefixes(pfx("10.0.0.0/24"), pfx("10.0.0.0/23")); err != nil {
		t.Errorf("growing: %v", err)
	}
	if err := GrowPrefixes(pfx("10.0.0.0/24", "10.0.2.0/24"), pfx("10.0.0.0/23", "10.0.2.0/24")); err != nil {
		t.Errorf("adding: %v", err)
	}
	want := "IllegalSubnetPoolPrefixUpdate: Illegal update to prefixes: Existing prefixes must be a subset of the new prefixes."
	if got := fault(t, GrowPrefixes(pfx("10.0.0.0/23"), pfx("10.0.0.0/24"))); got != want {
		t.Errorf("shrinking: %s", got)
	}
	if got := fault(t, GrowPrefixes(pfx("10.0.0.0/24"), pfx("10.0.1.0/24"))); got != want {
		t.Errorf("replacing: %s", got)
	}
}

func TestQuotaUnits(t *testing.T) {
	for _, c := range []struct {
		v, l int
		want int64
	}{{4, 32, 1}, {4, 24, 256}, {4, 8, 1 << 24}, {6, 64, 1}, {6, 48, 1 << 16}, {6, 0, 1 << 62}} {
		if got := QuotaUnits(c.v, c.l); got != c.want {
			t.Errorf("QuotaUnits(%d, %d) = %d, want %d", c.v, c.l, got, c.want)
		}
	}
}
