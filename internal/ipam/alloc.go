package ipam

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"

	"neutrino/internal/neutron"
)

// Lookup is what the allocator reads, inside the caller's transaction
// (store.Tx implements it).
type Lookup interface {
	// NetworkSubnets lists the subnets of a network.
	NetworkSubnets(ctx context.Context, networkID string) ([]neutron.Subnet, error)
	// SubnetAllocations maps every allocated address of a subnet to its port.
	SubnetAllocations(ctx context.Context, subnetID string) (map[string]string, error)
	// AllocatedAmong reports which of ips are allocated on the network.
	AllocatedAmong(ctx context.Context, networkID string, ips []string) (map[string]bool, error)
	// IPAllocated returns the port holding ip on the network ("" if none).
	IPAllocated(ctx context.Context, networkID, ip string) (string, error)
}

// Allocator picks fixed IPs for ports. It remembers the addresses that
// requests of this process picked and whose transactions have not
// finished, so concurrent requests in one server do not all race for the
// same first free address; the store's unique index on
// (network_id, ip_address) still guards against other servers.
type Allocator struct {
	mu       sync.Mutex
	rng      *rand.Rand
	inflight map[string]int // network_id + "/" + ip -> holders
	// An address is released once its transaction has committed, but a
	// request that read the allocations before that commit did not see
	// it: an address released after a request began stays busy for that
	// request (released[key] > its begun), or both would insert it and
	// one would fail on the unique index and retry.
	gen      uint64
	released map[string]uint64 // key -> gen of its last release
	active   map[*Allocation]struct{}
	// recent is, per network, the large-pool IPv4 subnet the last
	// request read (ProbeAhead guesses candidates from it).
	recent map[string]subnetInfo
}

// maxRecent bounds recent (networks deleted since are forgotten when it
// is full).
const maxRecent = 4096

// NewAllocator returns an allocator seeded from the runtime's source.
func NewAllocator() *Allocator {
	return &Allocator{rng: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())), inflight: map[string]int{},
		released: map[string]uint64{}, active: map[*Allocation]struct{}{}, recent: map[string]subnetInfo{}}
}

// Request is what a port asks for.
type Request struct {
	NetworkID string
	// Auto asks for the default addresses: one IPv4 and one stateful
	// IPv6 address, plus a SLAAC address per SLAAC subnet. Otherwise
	// FixedIPs lists the wanted addresses or subnets.
	Auto     bool
	FixedIPs []neutron.FixedIPRequest
	// MAC derives SLAAC (EUI-64) addresses.
	MAC string
	// PortID may keep the addresses it holds (port update).
	PortID string
	// MayUseGateway lets a router port take a subnet's gateway address.
	MayUseGateway bool
	// PreferNext takes the lowest free address of the pools instead of a
	// random one: Neutron's IPAM does so for DHCP ports, which therefore
	// sit at the start of the pool.
	PreferNext bool
}

// Allocation is one API request's use of the allocator: it holds the
// addresses picked across retries of the request's transaction until
// Release, which the caller defers once the transaction has finished.
// Begin comes before the transaction, so before every read it makes.
type Allocation struct {
	a     *Allocator
	held  []string
	begun uint64 // the allocator's gen at Begin
	ahead *ahead // candidates ProbeAhead handed out, not yet used
}

// ahead is what ProbeAhead guessed for a network's subnet.
type ahead struct {
	networkID, subnetID string
	cands               []netip.Addr
}

// ProbeAhead returns random candidate addresses for req before its
// transaction has read the network's subnets, so that the caller can ask
// which of them are taken together with its other first reads (one round
// trip fewer). They are drawn from the pools the previous request on the
// network saw; FixedIPs uses those of them that are valid for the subnets
// it then reads and whose answer the Lookup gives for exactly them, so a
// stale guess costs only the round trip it meant to save. Nil when req
// would not probe (explicit fixed_ips, no large IPv4 pool seen yet).
func (al *Allocation) ProbeAhead(req Request) []string {
	if !req.Auto || req.PreferNext {
		return nil
	}
	al.a.mu.Lock()
	si, ok := al.a.recent[req.NetworkID]
	al.a.mu.Unlock()
	if !ok {
		return nil
	}
	skip := map[netip.Addr]bool{}
	if gw, err := netip.ParseAddr(si.s.GatewayIP); err == nil {
		skip[gw] = true
	}
	cands := RandomCandidates(ParsePools(si.s.AllocationPools), probeCandidates, skip, al.rand())
	al.ahead = &ahead{networkID: req.NetworkID, subnetID: si.s.ID, cands: cands}
	out := make([]string, len(cands))
	for i, c := range cands {
		out[i] = c.String()
	}
	return out
}

// remember records the subnet a probing request of the network used.
func (a *Allocator) remember(networkID string, si subnetInfo) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.recent[networkID]; !ok && len(a.recent) >= maxRecent {
		clear(a.recent)
	}
	a.recent[networkID] = si
}

// probeCandidates is how many random addresses one probe asks about.
const probeCandidates = 16

// Begin starts an allocation.
func (a *Allocator) Begin() *Allocation {
	a.mu.Lock()
	defer a.mu.Unlock()
	al := &Allocation{a: a, begun: a.gen}
	a.active[al] = struct{}{}
	return al
}

// Release forgets the addresses this allocation picked.
func (al *Allocation) Release() {
	a := al.a
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(al.held) > 0 {
		a.gen++
	}
	for _, k := range al.held {
		if a.inflight[k]--; a.inflight[k] <= 0 {
			delete(a.inflight, k)
		}
		a.released[k] = a.gen
	}
	al.held = nil
	delete(a.active, al)
	// A release matters only to allocations begun before it.
	oldest := a.gen
	for other := range a.active {
		oldest = min(oldest, other.begun)
	}
	for k, g := range a.released {
		if g <= oldest {
			delete(a.released, k)
		}
	}
}

// claim marks ip as being allocated unless another request already is,
// or released it after this one began.
func (al *Allocation) claim(netID string, ip netip.Addr) bool {
	k := netID + "/" + ip.String()
	al.a.mu.Lock()
	defer al.a.mu.Unlock()
	if al.a.inflight[k] > 0 || al.a.released[k] > al.begun {
		return false
	}
	al.a.inflight[k]++
	al.held = append(al.held, k)
	return true
}

// rand returns a generator for one request (callers stay free of the
// allocator's mutex).
func (al *Allocation) rand() *rand.Rand {
	al.a.mu.Lock()
	defer al.a.mu.Unlock()
	return rand.New(rand.NewPCG(al.a.rng.Uint64(), al.a.rng.Uint64()))
}

// subnetInfo is a subnet with its parsed prefix.
type subnetInfo struct {
	s      neutron.Subnet
	prefix netip.Prefix
}

func (si subnetInfo) slaac() bool { return si.prefix.Addr().Is6() && IsSLAAC(si.s.IPv6AddressMode) }

// picking is the state of one FixedIPs call.
type picking struct {
	al     *Allocation
	l      Lookup
	req    Request
	subs   []subnetInfo
	chosen map[netip.Addr]bool
	rng    *rand.Rand
	out    []neutron.FixedIP
}

// FixedIPs turns the request into addresses, checking them as Neutron
// does, and returns them sorted.
func (al *Allocation) FixedIPs(ctx context.Context, l Lookup, req Request) ([]neutron.FixedIP, error) {
	subs, err := l.NetworkSubnets(ctx, req.NetworkID)
	if err != nil {
		return nil, err
	}
	p := &picking{al: al, l: l, req: req, chosen: map[netip.Addr]bool{}, rng: al.rand()}
	for _, s := range subs {
		if pf, err := netip.ParsePrefix(s.CIDR); err == nil {
			p.subs = append(p.subs, subnetInfo{s, pf})
		}
	}
	if req.Auto {
		err = p.auto(ctx)
	} else {
		err = p.requested(ctx)
	}
	if err != nil {
		return nil, err
	}
	neutron.SortFixedIPs(p.out)
	if p.out == nil {
		p.out = []neutron.FixedIP{}
	}
	return p.out, nil
}

func (p *picking) add(si subnetInfo, a netip.Addr) {
	p.chosen[a] = true
	p.out = append(p.out, neutron.FixedIP{SubnetID: si.s.ID, IPAddress: a.String()})
}

// auto picks one IPv4 and one stateful IPv6 address (the first subnet of
// each family with room) and an address on every SLAAC subnet.
func (p *picking) auto(ctx context.Context) error {
	for _, v6 := range []bool{false, true} {
		tried := false
		for _, si := range p.subs {
			if si.prefix.Addr().Is6() != v6 || si.slaac() {
				continue
			}
			tried = true
			a, ok, err := p.pick(ctx, si)
			if err != nil {
				return err
			}
			if ok {
				p.add(si, a)
				tried = false
				break
			}
		}
		if tried {
			return neutron.Conflict("IpAddressGenerationFailure", "No more IP addresses available on network %s.", p.req.NetworkID)
		}
	}
	for _, si := range p.subs {
		if !si.slaac() {
			continue
		}
		a, ok, err := p.pick(ctx, si)
		if err != nil {
			return err
		}
		if ok {
			p.out = append(p.out, neutron.FixedIP{SubnetID: si.s.ID, IPAddress: a.String()})
		}
	}
	return nil
}

// requested serves the explicit fixed_ips entries: a subnet (any free
// address of it), an address, or both.
func (p *picking) requested(ctx context.Context) error {
	for _, r := range p.req.FixedIPs {
		var si *subnetInfo
		if r.SubnetID != "" {
			for i := range p.subs {
				if p.subs[i].s.ID == r.SubnetID {
					si = &p.subs[i]
				}
			}
			if si == nil {
				return neutron.InvalidInput("Failed to create port on network %s, because fixed_ips included invalid subnet %s", p.req.NetworkID, r.SubnetID)
			}
		}
		if r.IPAddress != "" {
			if err := p.fixed(ctx, r, si); err != nil {
				return err
			}
			continue
		}
		if si == nil {
			return neutron.InvalidInput("IP allocation requires subnet_id or ip_address")
		}
		a, ok, err := p.pick(ctx, *si)
		if err != nil {
			return err
		}
		if !ok {
			return neutron.Conflict("IpAddressGenerationFailure", "No more IP addresses available for subnet %s.", si.s.ID)
		}
		p.add(*si, a)
	}
	return nil
}

// fixed checks one requested address (on subnet si, or on the subnet that
// contains it when si is nil) and takes it.
func (p *picking) fixed(ctx context.Context, r neutron.FixedIPRequest, si *subnetInfo) error {
	a, err := netip.ParseAddr(r.IPAddress)
	if err != nil {
		return neutron.InvalidInput("'%s' is not a valid IP address.", r.IPAddress)
	}
	if si == nil {
		for i := range p.subs {
			if p.subs[i].prefix.Contains(a) {
				si = &p.subs[i]
				break
			}
		}
		if si == nil {
			return neutron.Errorf(400, "InvalidIpForNetwork", "IP address %s is not a valid IP for any of the subnets on the specified network.", a)
		}
	}
	if !ValidHost(si.prefix, a) {
		if r.SubnetID == "" {
			return neutron.Errorf(400, "InvalidIpForNetwork", "IP address %s is not a valid IP for any of the subnets on the specified network.", a)
		}
		return neutron.Errorf(400, "InvalidIpForSubnet", "IP address %s is not a valid IP for the specified subnet.", a)
	}
	inUse := neutron.Conflict("IpAddressAlreadyAllocated", "IP address %s already allocated in subnet %s", a, si.s.ID)
	if p.chosen[a] || (si.s.GatewayIP == a.String() && !p.req.MayUseGateway) {
		return inUse
	}
	holder, err := p.l.IPAllocated(ctx, p.req.NetworkID, a.String())
	if err != nil {
		return err
	}
	if holder != "" && holder != p.req.PortID {
		return inUse
	}
	p.add(*si, a)
	return nil
}

// pick finds a free address on si: the EUI-64 address on a SLAAC subnet,
// else a random free one from the pools.
func (p *picking) pick(ctx context.Context, si subnetInfo) (netip.Addr, bool, error) {
	if si.slaac() {
		a, err := EUI64(si.prefix, p.req.MAC)
		return a, err == nil, err
	}
	pools := ParsePools(si.s.AllocationPools)
	if PoolSize(pools) > LargePool && !p.req.PreferNext {
		a, ok, err := p.probe(ctx, si, pools)
		if err != nil || ok {
			return a, ok, err
		}
		// Nearly full: fall back to reading the allocations.
	}
	return p.scan(ctx, si, pools)
}

// probe tries random addresses of a large pool against the allocations,
// instead of reading them all.
func (p *picking) probe(ctx context.Context, si subnetInfo, pools []Range) (netip.Addr, bool, error) {
	skip := map[netip.Addr]bool{}
	for a := range p.chosen {
		skip[a] = true
	}
	if gw, err := netip.ParseAddr(si.s.GatewayIP); err == nil {
		skip[gw] = true
	}
	p.al.a.remember(p.req.NetworkID, si)
	guess := p.takeAhead(si, pools, skip)
	for round := 0; round < 4; round++ {
		cands := guess
		if len(cands) == 0 {
			cands = RandomCandidates(pools, probeCandidates, skip, p.rng)
		}
		guess = nil
		strs := make([]string, len(cands))
		for i, c := range cands {
			strs[i] = c.String()
		}
		taken, err := p.l.AllocatedAmong(ctx, p.req.NetworkID, strs)
		if err != nil {
			return netip.Addr{}, false, err
		}
		for _, c := range cands {
			if !taken[c.String()] && p.al.claim(p.req.NetworkID, c) {
				return c, true, nil
			}
			skip[c] = true
		}
	}
	return netip.Addr{}, false, nil
}

// takeAhead returns the candidates ProbeAhead guessed for si that are
// still valid for it (within its pools as read now, not skipped), once.
func (p *picking) takeAhead(si subnetInfo, pools []Range, skip map[netip.Addr]bool) []netip.Addr {
	g := p.al.ahead
	if g == nil || g.networkID != p.req.NetworkID || g.subnetID != si.s.ID {
		return nil
	}
	p.al.ahead = nil
	var out []netip.Addr
	for _, c := range g.cands {
		if !skip[c] && slices.ContainsFunc(pools, func(r Range) bool { return r.Contains(c) }) {
			out = append(out, c)
		}
	}
	return out
}

// scan reads the subnet's allocations and picks a free address, avoiding
// what other requests of this server are allocating right now unless
// nothing else is left.
func (p *picking) scan(ctx context.Context, si subnetInfo, pools []Range) (netip.Addr, bool, error) {
	allocs, err := p.l.SubnetAllocations(ctx, si.s.ID)
	if err != nil {
		return netip.Addr{}, false, err
	}
	used := make(map[netip.Addr]bool, len(allocs)+len(p.chosen)+1)
	for ip := range allocs {
		if a, err := netip.ParseAddr(ip); err == nil {
			used[a] = true
		}
	}
	for a := range p.chosen {
		used[a] = true
	}
	if gw, err := netip.ParseAddr(si.s.GatewayIP); err == nil {
		used[gw] = true
	}
	busy := make(map[netip.Addr]bool, len(used))
	for a := range used {
		busy[a] = true
	}
	rng := p.rng
	if p.req.PreferNext {
		rng = nil // PickFree then returns the lowest free address
	}
	for tries := 0; tries < 64; tries++ {
		a, ok := PickFree(pools, busy, rng)
		if !ok {
			break
		}
		if p.al.claim(p.req.NetworkID, a) {
			return a, true, nil
		}
		busy[a] = true
	}
	a, ok := PickFree(pools, used, rng)
	return a, ok, nil
}
