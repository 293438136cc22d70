// Package ipam owns the address math of Neutron subnets (CIDR and gateway
// validation, default allocation pools, picking a free address, MAC
// generation from base_mac and SLAAC (EUI-64) addresses) and the
// allocation of fixed IPs: an Allocator finds a port's addresses through a
// small Lookup of the caller's transaction. It does no I/O of its own:
// the store persists allocations and its unique indexes on
// (network_id, ip_address) and (network_id, mac_address) are the real guard
// against concurrent allocators. Hand-written on net/netip because the
// needed math is small and Neutron's exact error texts must be produced.
package ipam

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"net"
	"net/netip"
	"sort"
	"strings"

	"neutrino/internal/neutron"
)

// ParseCIDR validates a subnet CIDR for ipVersion (4 or 6) as Neutron does.
func ParseCIDR(cidr string, ipVersion int) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(strings.TrimSpace(cidr))
	if err != nil {
		return netip.Prefix{}, neutron.InvalidInput("%s is not in a CIDR format.", cidr)
	}
	if (ipVersion == 4 && !p.Addr().Is4()) || (ipVersion == 6 && !p.Addr().Is6()) {
		return netip.Prefix{}, neutron.InvalidInput("cidr '%s' does not match the ip_version '%d'.", cidr, ipVersion)
	}
	if ipVersion != 4 && ipVersion != 6 {
		return netip.Prefix{}, neutron.InvalidInput("%d is not in [4, 6].", ipVersion)
	}
	if p.Bits() == 0 {
		return netip.Prefix{}, neutron.InvalidInput("0 is not allowed as CIDR prefix length")
	}
	if m := p.Masked(); m != p {
		return netip.Prefix{}, neutron.InvalidInput("'%s' isn't a recommended CIDR, '%s' should be used instead.", cidr, m)
	}
	return p, nil
}

// Last returns the last address of p (the IPv4 broadcast address).
func Last(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().AsSlice()
	hostBits := len(a)*8 - p.Bits()
	for i := len(a) - 1; i >= 0 && hostBits > 0; i-- {
		n := min(hostBits, 8)
		a[i] |= byte(1<<n - 1)
		hostBits -= n
	}
	r, _ := netip.AddrFromSlice(a)
	return r
}

// DefaultGateway is the first host address, as Neutron picks it.
func DefaultGateway(p netip.Prefix) netip.Addr {
	first := p.Masked().Addr()
	if p.Bits() >= p.Addr().BitLen()-1 {
		return netip.Addr{} // /31, /32 (/127, /128): no room for a gateway
	}
	return first.Next()
}

// ValidHost reports whether ip may be assigned on subnet p: inside it, not
// the network address, and for IPv4 not the broadcast address (/31 and /32
// excepted, as Neutron).
func ValidHost(p netip.Prefix, ip netip.Addr) bool {
	if !p.Contains(ip) {
		return false
	}
	if p.Bits() >= p.Addr().BitLen()-1 {
		return true
	}
	if ip == p.Masked().Addr() {
		return false
	}
	if ip.Is4() && ip == Last(p) {
		return false
	}
	return true
}

// DefaultPools is the CIDR minus the network address, the IPv4 broadcast
// address and the gateway.
func DefaultPools(p netip.Prefix, gateway netip.Addr) []neutron.AllocationPool {
	first := p.Masked().Addr()
	last := Last(p)
	if first == last {
		return []neutron.AllocationPool{{Start: first.String(), End: last.String()}}
	}
	start := first.Next()
	end := last
	if p.Addr().Is4() {
		end = last.Prev()
	}
	if start.Compare(end) >= 0 {
		return []neutron.AllocationPool{}
	}
	var pools []neutron.AllocationPool
	if gateway.IsValid() && gateway.Compare(start) >= 0 && gateway.Compare(end) <= 0 {
		if gateway != start {
			pools = append(pools, neutron.AllocationPool{Start: start.String(), End: gateway.Prev().String()})
		}
		if gateway != end {
			pools = append(pools, neutron.AllocationPool{Start: gateway.Next().String(), End: end.String()})
		}
		return pools
	}
	return []neutron.AllocationPool{{Start: start.String(), End: end.String()}}
}

// Range is a parsed, inclusive allocation pool.
type Range struct{ Start, End netip.Addr }

func (r Range) String() string { return r.Start.String() + "-" + r.End.String() }

// Contains reports whether a lies in r.
func (r Range) Contains(a netip.Addr) bool { return a.Compare(r.Start) >= 0 && a.Compare(r.End) <= 0 }

// Size is the number of addresses in r (big for IPv6).
func (r Range) Size() *big.Int {
	s := new(big.Int).SetBytes(r.Start.AsSlice())
	e := new(big.Int).SetBytes(r.End.AsSlice())
	return e.Sub(e, s).Add(e, big.NewInt(1))
}

// ValidatePools parses user-given pools and checks them against the subnet
// and the gateway with Neutron's fault types. It returns them sorted.
func ValidatePools(p netip.Prefix, pools []neutron.AllocationPool, gateway netip.Addr) ([]Range, error) {
	var rs []Range
	for _, pool := range pools {
		s, err1 := netip.ParseAddr(pool.Start)
		e, err2 := netip.ParseAddr(pool.End)
		if err1 != nil || err2 != nil || s.Is4() != p.Addr().Is4() || e.Compare(s) < 0 {
			return nil, neutron.Errorf(400, "InvalidAllocationPool", "The allocation pool %s-%s is not valid.", pool.Start, pool.End)
		}
		if !p.Contains(s) || !p.Contains(e) {
			return nil, neutron.Errorf(400, "OutOfBoundsAllocationPool",
				"The allocation pool %s-%s spans beyond the subnet cidr %s.", pool.Start, pool.End, p)
		}
		rs = append(rs, Range{s, e})
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].Start.Less(rs[j].Start) })
	for i := 1; i < len(rs); i++ {
		if rs[i].Start.Compare(rs[i-1].End) <= 0 {
			return nil, neutron.Errorf(409, "OverlappingAllocationPools",
				"Found overlapping allocation pools: %s %s for subnet %s.", rs[i-1], rs[i], p)
		}
	}
	if gateway.IsValid() {
		for _, r := range rs {
			if r.Contains(gateway) {
				return nil, neutron.Errorf(409, "GatewayConflictWithAllocationPools",
					"Gateway ip %s conflicts with allocation pool %s.", gateway, r)
			}
		}
	}
	return rs, nil
}

// Pools turns ranges back into the API's allocation_pools (never nil).
func Pools(rs []Range) []neutron.AllocationPool {
	pools := make([]neutron.AllocationPool, len(rs))
	for i, r := range rs {
		pools[i] = neutron.AllocationPool{Start: r.Start.String(), End: r.End.String()}
	}
	return pools
}

// ParsePools parses stored pools (already validated).
func ParsePools(pools []neutron.AllocationPool) []Range {
	rs := make([]Range, 0, len(pools))
	for _, pool := range pools {
		s, err1 := netip.ParseAddr(pool.Start)
		e, err2 := netip.ParseAddr(pool.End)
		if err1 == nil && err2 == nil {
			rs = append(rs, Range{s, e})
		}
	}
	return rs
}

// ValidateGateway checks a user-given gateway_ip for subnet p.
func ValidateGateway(p netip.Prefix, gw string) (netip.Addr, error) {
	a, err := netip.ParseAddr(gw)
	if err != nil || a.Is4() != p.Addr().Is4() {
		return netip.Addr{}, neutron.InvalidInput("'%s' is not a valid IP address.", gw)
	}
	if !ValidHost(p, a) {
		return netip.Addr{}, neutron.InvalidInput("Gateway is not valid on subnet.")
	}
	return a, nil
}

// Overlaps reports whether two prefixes share any address.
func Overlaps(a, b netip.Prefix) bool { return a.Overlaps(b) }

// candidateWindow is how many free addresses PickFree chooses among: a
// random pick from the first few free addresses keeps concurrent allocators
// (several API workers or servers) from colliding on the same address every
// time while keeping allocations compact, as Neutron's IPAM does.
const candidateWindow = 16

// PickFree returns a free address from pools, skipping used, or false when
// the pools are exhausted. It scans at most len(used)+candidateWindow
// addresses, so huge IPv6 pools cost nothing.
func PickFree(pools []Range, used map[netip.Addr]bool, rng *rand.Rand) (netip.Addr, bool) {
	var cands []netip.Addr
	budget := len(used) + candidateWindow
	for _, r := range pools {
		for a := r.Start; a.IsValid() && a.Compare(r.End) <= 0; a = a.Next() {
			if budget == 0 || len(cands) == candidateWindow {
				break
			}
			budget--
			if !used[a] {
				cands = append(cands, a)
			}
		}
	}
	if len(cands) == 0 {
		return netip.Addr{}, false
	}
	if rng == nil {
		return cands[0], true
	}
	return cands[rng.IntN(len(cands))], true
}

// ParseMAC validates a user-given MAC address (Neutron's validate_mac_address)
// and returns it in the canonical lowercase colon form.
func ParseMAC(s string) (string, error) {
	bad := neutron.BadRequest("Invalid input for mac_address. Reason: '%s' is not a valid MAC address.", s)
	if strings.TrimSpace(s) != s || s == "" {
		return "", bad
	}
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		return "", bad
	}
	m := hw.String()
	if m == "00:00:00:00:00:00" || m == "ff:ff:ff:ff:ff:ff" {
		return "", bad
	}
	return m, nil
}

// GenerateMAC returns a random MAC from base_mac as Neutron does: the first
// three octets are kept, and the fourth too when base_mac's is not 00.
func GenerateMAC(baseMAC string, rng *rand.Rand) (string, error) {
	base, err := net.ParseMAC(baseMAC)
	if err != nil || len(base) != 6 {
		return "", fmt.Errorf("invalid base_mac %q", baseMAC)
	}
	mac := net.HardwareAddr{base[0], base[1], base[2], byte(rng.UintN(256)), byte(rng.UintN(256)), byte(rng.UintN(256))}
	if base[3] != 0 {
		mac[3] = base[3]
	}
	return mac.String(), nil
}

// EUI64 returns the SLAAC address of mac in a /64 prefix.
func EUI64(p netip.Prefix, mac string) (netip.Addr, error) {
	hw, err := net.ParseMAC(mac)
	if err != nil || len(hw) != 6 {
		return netip.Addr{}, fmt.Errorf("eui64: bad mac %q", mac)
	}
	if !p.Addr().Is6() || p.Bits() > 64 {
		return netip.Addr{}, fmt.Errorf("eui64: prefix %s is not an IPv6 /64 or shorter", p)
	}
	a := p.Masked().Addr().As16()
	a[8] = hw[0] ^ 0x02
	a[9], a[10], a[11], a[12] = hw[1], hw[2], 0xff, 0xfe
	a[13], a[14], a[15] = hw[3], hw[4], hw[5]
	return netip.AddrFrom16(a), nil
}

// IsSLAAC reports whether addresses of a subnet with this ipv6_address_mode
// are computed from the MAC instead of allocated.
func IsSLAAC(addressMode string) bool {
	return addressMode == "slaac" || addressMode == "dhcpv6-stateless"
}

// LargePool is the pool size above which IPAM probes random addresses
// instead of reading every allocation of the subnet: in a big, mostly
// empty pool a random address is almost always free, so one lookup of a
// few candidates replaces a read that grows with the number of ports.
const LargePool = 4096

// PoolSize is the number of addresses in pools, saturated at 2^63.
func PoolSize(pools []Range) uint64 {
	var total uint64
	for _, r := range pools {
		s := r.Size()
		if !s.IsUint64() || s.Uint64() > 1<<63 || total+s.Uint64() > 1<<63 {
			return 1 << 63
		}
		total += s.Uint64()
	}
	return total
}

// AddOffset returns a + off (wrapping is the caller's concern).
func AddOffset(a netip.Addr, off uint64) netip.Addr {
	b := a.As16()
	carry := off
	for i := 15; i >= 0 && carry > 0; i-- {
		sum := uint64(b[i]) + carry&0xff
		b[i] = byte(sum)
		carry = carry>>8 + sum>>8
	}
	r := netip.AddrFrom16(b)
	if a.Is4() {
		return r.Unmap()
	}
	return r
}

// RandomCandidates returns up to n distinct random addresses from pools
// (uniform over all their addresses), skipping those in skip.
func RandomCandidates(pools []Range, n int, skip map[netip.Addr]bool, rng *rand.Rand) []netip.Addr {
	total := PoolSize(pools)
	if total == 0 {
		return nil
	}
	seen := map[netip.Addr]bool{}
	var out []netip.Addr
	for tries := 0; tries < 4*n && len(out) < n; tries++ {
		off := rng.Uint64N(total)
		for _, r := range pools {
			s := r.Size()
			if s.IsUint64() && off >= s.Uint64() {
				off -= s.Uint64()
				continue
			}
			a := AddOffset(r.Start, off)
			if r.Contains(a) && !skip[a] && !seen[a] {
				seen[a] = true
				out = append(out, a)
			}
			break
		}
	}
	return out
}
