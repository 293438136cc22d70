package rpc

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sync"

	"neutrino/internal/rpc/pb"
	"neutrino/internal/secgroup"
	"neutrino/internal/sortedset"
)

func compareAddr(a, b netip.Addr) int { return a.Compare(b) }

// The firewall part of the wire form (see neutrino.proto): prefixes are
// address bytes plus one length byte, so a 2,000-member remote group is
// about 10 kB.

func prefixBytes(p netip.Prefix) []byte {
	if !p.IsValid() {
		return nil
	}
	return append(p.Addr().AsSlice(), byte(p.Bits()))
}

func bytesPrefix(b []byte) (netip.Prefix, error) {
	if len(b) == 0 {
		return netip.Prefix{}, nil
	}
	a, ok := netip.AddrFromSlice(b[:len(b)-1])
	if !ok {
		return netip.Prefix{}, fmt.Errorf("bad prefix of %d bytes", len(b))
	}
	p := netip.PrefixFrom(a, int(b[len(b)-1]))
	if !p.IsValid() {
		return p, fmt.Errorf("bad prefix length %d", b[len(b)-1])
	}
	return p, nil
}

func prefixesBytes(ps []netip.Prefix) [][]byte {
	out := make([][]byte, len(ps))
	for i, p := range ps {
		out[i] = prefixBytes(p)
	}
	return out
}

func bytesPrefixes(bs [][]byte) ([]netip.Prefix, error) {
	if len(bs) == 0 {
		return nil, nil
	}
	out := make([]netip.Prefix, len(bs))
	for i, b := range bs {
		p, err := bytesPrefix(b)
		if err != nil {
			return nil, err
		}
		out[i] = p
	}
	return out, nil
}

func rulesPB(rs []secgroup.Rule) []*pb.FwRule {
	out := make([]*pb.FwRule, len(rs))
	for i, r := range rs {
		out[i] = &pb.FwRule{Ingress: r.Direction == secgroup.Ingress, Ipv6: r.Ethertype == secgroup.IPv6, Protocol: uint32(r.Protocol),
			PortMin: int32(r.PortMin), PortMax: int32(r.PortMax), RemotePrefix: prefixBytes(r.RemotePrefix), RemoteGroup: r.RemoteGroup}
	}
	return out
}

func pbRules(rs []*pb.FwRule) ([]secgroup.Rule, error) {
	if len(rs) == 0 {
		return nil, nil
	}
	out := make([]secgroup.Rule, len(rs))
	for i, r := range rs {
		pfx, err := bytesPrefix(r.GetRemotePrefix())
		if err != nil {
			return nil, err
		}
		out[i] = secgroup.Rule{Direction: secgroup.Egress, Ethertype: secgroup.IPv4, Protocol: uint8(r.GetProtocol()),
			PortMin: int(r.GetPortMin()), PortMax: int(r.GetPortMax()), RemotePrefix: pfx, RemoteGroup: r.GetRemoteGroup()}
		if r.GetIngress() {
			out[i].Direction = secgroup.Ingress
		}
		if r.GetIpv6() {
			out[i].Ethertype = secgroup.IPv6
		}
	}
	return out, nil
}

func fwPortPB(p secgroup.Port) *pb.FwPort {
	out := &pb.FwPort{Id: p.ID, Mac: macBytes(p.MAC), PortSecurity: p.PortSecurity, Groups: p.Groups}
	for _, a := range p.Allowed {
		out.Allowed = append(out.Allowed, &pb.FwAllowed{Mac: macBytes(a.MAC), Prefix: prefixBytes(a.Prefix)})
	}
	return out
}

func pbFwPort(p *pb.FwPort) (secgroup.Port, error) {
	out := secgroup.Port{ID: p.GetId(), MAC: bytesMAC(p.GetMac()), PortSecurity: p.GetPortSecurity()}
	if len(p.GetGroups()) > 0 {
		out.Groups = p.GetGroups()
	}
	for _, a := range p.GetAllowed() {
		pfx, err := bytesPrefix(a.GetPrefix())
		if err != nil {
			return out, fmt.Errorf("port %s allowed address: %w", out.ID, err)
		}
		out.Allowed = append(out.Allowed, secgroup.AllowedAddress{MAC: bytesMAC(a.GetMac()), Prefix: pfx})
	}
	return out, nil
}

// firewallPB encodes a host's firewall.
func firewallPB(f secgroup.Firewall) *pb.Firewall {
	out := &pb.Firewall{}
	out.Vteps4, out.Vteps6 = packAddrs(f.VTEPs)
	for _, id := range slices.Sorted(maps.Keys(f.Ports)) {
		out.Ports = append(out.Ports, fwPortPB(f.Ports[id]))
	}
	for _, id := range slices.Sorted(maps.Keys(f.Groups)) {
		g := f.Groups[id]
		out.Groups = append(out.Groups, &pb.FwGroup{Id: id, Stateful: g.Stateful, Rules: rulesPB(g.Rules)})
	}
	for _, id := range slices.Sorted(maps.Keys(f.Remote)) {
		out.Remote = append(out.Remote, &pb.FwRemote{Id: id, Members: prefixesBytes(f.Remote[id])})
	}
	return out
}

// pbFirewall decodes a host's firewall; vt, when not nil, shares the
// VTEP list with the views it decoded before.
func pbFirewall(p *pb.Firewall, vt *vtepCache) (secgroup.Firewall, error) {
	f := secgroup.Firewall{Ports: map[string]secgroup.Port{}, Groups: map[string]secgroup.Group{}, Remote: map[string][]netip.Prefix{}}
	var err error
	if f.VTEPs, err = vt.unpack(p.GetVteps4(), p.GetVteps6()); err != nil {
		return f, fmt.Errorf("firewall vteps: %w", err)
	}
	if len(p.GetVteps()) > 0 {
		// From a server that sends one address per item.
		old, err := bytesAddrs(p.GetVteps())
		if err != nil {
			return f, fmt.Errorf("firewall vteps: %w", err)
		}
		f.VTEPs = sortedset.Unique(append(slices.Clone(f.VTEPs), old...), compareAddr)
	}
	for _, pp := range p.GetPorts() {
		port, err := pbFwPort(pp)
		if err != nil {
			return f, err
		}
		f.Ports[port.ID] = port
	}
	for _, g := range p.GetGroups() {
		rules, err := pbRules(g.GetRules())
		if err != nil {
			return f, fmt.Errorf("group %s: %w", g.GetId(), err)
		}
		f.Groups[g.GetId()] = secgroup.Group{Stateful: g.GetStateful(), Rules: rules}
	}
	for _, r := range p.GetRemote() {
		ms, err := bytesPrefixes(r.GetMembers())
		if err != nil {
			return f, fmt.Errorf("remote group %s: %w", r.GetId(), err)
		}
		f.Remote[r.GetId()] = ms
	}
	return f, nil
}

// firewallDeltaPB encodes a firewall delta.
func firewallDeltaPB(d secgroup.Delta) *pb.FirewallDelta {
	out := &pb.FirewallDelta{PortsDel: d.PortsDel, VtepsAdd: addrsBytes(d.VTEPsAdd), VtepsDel: addrsBytes(d.VTEPsDel)}
	for _, p := range d.PortsSet {
		out.PortsSet = append(out.PortsSet, fwPortPB(p))
	}
	for _, g := range d.Groups {
		gd := &pb.FwGroupDelta{Id: g.ID, Removed: g.Removed, RulesAdd: rulesPB(g.RulesAdd), RulesDel: rulesPB(g.RulesDel)}
		if g.Stateful != nil {
			gd.HasStateful, gd.Stateful = true, *g.Stateful
		}
		out.Groups = append(out.Groups, gd)
	}
	for _, r := range d.Remote {
		out.Remote = append(out.Remote, &pb.FwRemoteDelta{Id: r.ID, Removed: r.Removed, New: r.New, Add: prefixesBytes(r.Add), Del: prefixesBytes(r.Del)})
	}
	return out
}

// pbFirewallDelta decodes a firewall delta.
func pbFirewallDelta(p *pb.FirewallDelta) (secgroup.Delta, error) {
	var d secgroup.Delta
	var err error
	if d.VTEPsAdd, err = bytesAddrs(p.GetVtepsAdd()); err != nil {
		return d, err
	}
	if d.VTEPsDel, err = bytesAddrs(p.GetVtepsDel()); err != nil {
		return d, err
	}
	d.PortsDel = p.GetPortsDel()
	for _, pp := range p.GetPortsSet() {
		port, err := pbFwPort(pp)
		if err != nil {
			return d, err
		}
		d.PortsSet = append(d.PortsSet, port)
	}
	for _, g := range p.GetGroups() {
		gd := secgroup.GroupDelta{ID: g.GetId(), Removed: g.GetRemoved()}
		if g.GetHasStateful() {
			st := g.GetStateful()
			gd.Stateful = &st
		}
		if gd.RulesAdd, err = pbRules(g.GetRulesAdd()); err != nil {
			return d, err
		}
		if gd.RulesDel, err = pbRules(g.GetRulesDel()); err != nil {
			return d, err
		}
		d.Groups = append(d.Groups, gd)
	}
	for _, r := range p.GetRemote() {
		rd := secgroup.RemoteDelta{ID: r.GetId(), Removed: r.GetRemoved(), New: r.GetNew()}
		if rd.Add, err = bytesPrefixes(r.GetAdd()); err != nil {
			return d, err
		}
		if rd.Del, err = bytesPrefixes(r.GetDel()); err != nil {
			return d, err
		}
		d.Remote = append(d.Remote, rd)
	}
	return d, nil
}

// packAddrs packs sorted addresses for the wire: the IPv4 ones 4 bytes
// each, the IPv6 ones 16 bytes each (netip sorts IPv4 first, so unpacking
// v4 then v6 keeps the order).
func packAddrs(as []netip.Addr) (v4, v6 []byte) {
	for _, a := range as {
		switch {
		case a.Is4():
			b := a.As4()
			v4 = append(v4, b[:]...)
		case a.Is6():
			b := a.As16()
			v6 = append(v6, b[:]...)
		}
	}
	return v4, v6
}

// unpackAddrs is packAddrs' inverse.
func unpackAddrs(v4, v6 []byte) ([]netip.Addr, error) {
	if len(v4)%4 != 0 || len(v6)%16 != 0 {
		return nil, fmt.Errorf("packed addresses of %d and %d bytes", len(v4), len(v6))
	}
	if len(v4)+len(v6) == 0 {
		return nil, nil
	}
	out := make([]netip.Addr, 0, len(v4)/4+len(v6)/16)
	for i := 0; i < len(v4); i += 4 {
		out = append(out, netip.AddrFrom4([4]byte(v4[i:i+4])))
	}
	for i := 0; i < len(v6); i += 16 {
		out = append(out, netip.AddrFrom16([16]byte(v6[i:i+16])))
	}
	if !slices.IsSortedFunc(out, compareAddr) {
		// Order is the sender's promise; a list that breaks it is
		// sorted here rather than trusted.
		out = sortedset.Unique(out, compareAddr)
	}
	return out, nil
}

// vtepCache shares one decoded VTEP list between the views a client
// decodes: every agent's snapshot carries the cloud's whole VTEP set (its
// underlay filter), the same for all of them, and views are values never
// changed in place. A nil cache decodes afresh. The set it holds is named
// in the client's watch requests by its digest, so the server can leave
// it out of the snapshots (pb.WatchRequest.vteps_digest).
type vtepCache struct {
	mu  sync.Mutex
	cur *vtepSet
}

// vtepSet is one decoded VTEP set, its wire form and that form's digest;
// never changed once made.
type vtepSet struct {
	v4, v6 []byte
	digest []byte
	addrs  []netip.Addr
}

// vtepsDigest names a packed VTEP set: SHA-256 over the length of v4,
// v4, then v6 (the length, so that no two sets share the bytes).
func vtepsDigest(v4, v6 []byte) []byte {
	h := sha256.New()
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(v4))))
	h.Write(v4)
	h.Write(v6)
	return h.Sum(nil)
}

// held returns the set the cache holds (nil: none).
func (c *vtepCache) held() *vtepSet {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur
}

func (c *vtepCache) unpack(v4, v6 []byte) ([]netip.Addr, error) {
	if c == nil {
		return unpackAddrs(v4, v6)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur != nil && bytes.Equal(v4, c.cur.v4) && bytes.Equal(v6, c.cur.v6) {
		return c.cur.addrs, nil
	}
	as, err := unpackAddrs(v4, v6)
	if err != nil || as == nil {
		return as, err
	}
	c.cur = &vtepSet{v4: bytes.Clone(v4), v6: bytes.Clone(v6), digest: vtepsDigest(v4, v6), addrs: as}
	return as, nil
}

// omitHeldVTEPs leaves a snapshot's VTEP set out when it is the one the
// watch request named by digest (the agent's connection holds it).
func omitHeldVTEPs(f *pb.Firewall, digest []byte) {
	if f == nil || len(digest) == 0 || len(f.Vteps4)+len(f.Vteps6) == 0 || len(f.Vteps) > 0 {
		return
	}
	if bytes.Equal(digest, vtepsDigest(f.Vteps4, f.Vteps6)) {
		f.Vteps4, f.Vteps6, f.VtepsDigest = nil, nil, digest
	}
}

// restoreHeldVTEPs puts back a VTEP set the server left out because the
// request named it (held: the set named, nil when none was). A snapshot
// naming another set is refused: the agent must not apply an underlay
// filter it cannot know.
func restoreHeldVTEPs(f *pb.Firewall, held *vtepSet) error {
	d := f.GetVtepsDigest()
	if len(d) == 0 {
		return nil
	}
	if held == nil || !bytes.Equal(d, held.digest) || len(f.Vteps4)+len(f.Vteps6) > 0 {
		return fmt.Errorf("snapshot names a VTEP set (digest %x) this watch did not ask with", d)
	}
	f.Vteps4, f.Vteps6, f.VtepsDigest = held.v4, held.v6, nil
	return nil
}
