package rpc

import (
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"

	"neutrino/internal/l2pop"
	"neutrino/internal/rpc/pb"
)

// The wire form carries addresses and MACs as raw bytes: a view with ten
// thousand entries is then about a third of its text size.

func addrBytes(a netip.Addr) []byte {
	if !a.IsValid() {
		return nil
	}
	return a.AsSlice()
}

func bytesAddr(b []byte) (netip.Addr, error) {
	if len(b) == 0 {
		return netip.Addr{}, nil
	}
	a, ok := netip.AddrFromSlice(b)
	if !ok {
		return a, fmt.Errorf("bad address of %d bytes", len(b))
	}
	return a.Unmap(), nil
}

func addrsBytes(as []netip.Addr) [][]byte {
	out := make([][]byte, len(as))
	for i, a := range as {
		out[i] = addrBytes(a)
	}
	return out
}

func bytesAddrs(bs [][]byte) ([]netip.Addr, error) {
	if len(bs) == 0 {
		return nil, nil
	}
	out := make([]netip.Addr, len(bs))
	for i, b := range bs {
		a, err := bytesAddr(b)
		if err != nil {
			return nil, err
		}
		out[i] = a
	}
	return out, nil
}

func macBytes(s string) []byte {
	hw, err := net.ParseMAC(s)
	if err != nil {
		// Not a MAC we can pack: send the text; the receiver accepts both.
		return []byte(s)
	}
	return hw
}

func bytesMAC(b []byte) string {
	if len(b) == 6 {
		return net.HardwareAddr(b).String()
	}
	return strings.ToLower(string(b))
}

func entriesPB(es []l2pop.Entry) []*pb.Entry {
	out := make([]*pb.Entry, len(es))
	for i, e := range es {
		out[i] = &pb.Entry{Mac: macBytes(e.MAC), Ip: addrBytes(e.IP), Vtep: addrBytes(e.VTEP)}
	}
	return out
}

func pbEntries(es []*pb.Entry) ([]l2pop.Entry, error) {
	if len(es) == 0 {
		return nil, nil
	}
	out := make([]l2pop.Entry, len(es))
	for i, e := range es {
		ip, err := bytesAddr(e.GetIp())
		if err != nil {
			return nil, err
		}
		vt, err := bytesAddr(e.GetVtep())
		if err != nil {
			return nil, err
		}
		out[i] = l2pop.Entry{MAC: bytesMAC(e.GetMac()), IP: ip, VTEP: vt}
	}
	return out, nil
}

func headerPB(h l2pop.NetHeader) *pb.NetHeader {
	return &pb.NetHeader{Type: h.Type, Vni: h.VNI, Mtu: int32(h.MTU), PhysicalNetwork: h.PhysicalNetwork, Vlan: uint32(h.VLAN)}
}

func pbHeader(h *pb.NetHeader) l2pop.NetHeader {
	return l2pop.NetHeader{Type: h.GetType(), VNI: h.GetVni(), MTU: int(h.GetMtu()),
		PhysicalNetwork: h.GetPhysicalNetwork(), VLAN: uint16(h.GetVlan())}
}

func portPB(p l2pop.LocalPort) *pb.LocalPort {
	return &pb.LocalPort{Id: p.ID, NetworkId: p.NetworkID, Mac: macBytes(p.MAC), Status: p.Status}
}

func pbPort(p *pb.LocalPort) l2pop.LocalPort {
	return l2pop.LocalPort{ID: p.GetId(), NetworkID: p.GetNetworkId(), MAC: bytesMAC(p.GetMac()), Status: p.GetStatus()}
}

// ViewToPB encodes a view.
func ViewToPB(v l2pop.View) *pb.View {
	out := &pb.View{Host: v.Host, LocalIp: addrBytes(v.LocalIP), L2Pop: v.L2Pop, Tunnels: addrsBytes(v.Tunnels)}
	for _, id := range slices.Sorted(maps.Keys(v.Networks)) {
		n := v.Networks[id]
		out.Networks = append(out.Networks, &pb.Network{Id: id, Header: headerPB(n.NetHeader), Flood: addrsBytes(n.Flood), Entries: entriesPB(n.Entries)})
	}
	for _, id := range slices.Sorted(maps.Keys(v.Ports)) {
		out.Ports = append(out.Ports, portPB(v.Ports[id]))
	}
	out.Firewall = firewallPB(v.Firewall)
	return out
}

// ViewFromPB decodes a view.
func ViewFromPB(p *pb.View) (l2pop.View, error) { return viewFromPB(p, nil) }

// viewFromPB decodes a view, sharing its VTEP list through vt (nil: not).
func viewFromPB(p *pb.View, vt *vtepCache) (l2pop.View, error) {
	v := l2pop.View{Host: p.GetHost(), L2Pop: p.GetL2Pop(), Networks: map[string]l2pop.NetView{}, Ports: map[string]l2pop.LocalPort{}}
	var err error
	if v.LocalIP, err = bytesAddr(p.GetLocalIp()); err != nil {
		return v, fmt.Errorf("view local_ip: %w", err)
	}
	if v.Tunnels, err = bytesAddrs(p.GetTunnels()); err != nil {
		return v, fmt.Errorf("view tunnels: %w", err)
	}
	for _, n := range p.GetNetworks() {
		nv := l2pop.NetView{ID: n.GetId(), NetHeader: pbHeader(n.GetHeader())}
		if nv.Flood, err = bytesAddrs(n.GetFlood()); err != nil {
			return v, fmt.Errorf("network %s flood: %w", nv.ID, err)
		}
		if nv.Entries, err = pbEntries(n.GetEntries()); err != nil {
			return v, fmt.Errorf("network %s entries: %w", nv.ID, err)
		}
		v.Networks[nv.ID] = nv
	}
	for _, pp := range p.GetPorts() {
		lp := pbPort(pp)
		v.Ports[lp.ID] = lp
	}
	if v.Firewall, err = pbFirewall(p.GetFirewall(), vt); err != nil {
		return v, err
	}
	return v, nil
}

// DeltaToPB encodes a delta.
func DeltaToPB(d l2pop.Delta) *pb.Delta {
	out := &pb.Delta{TunnelsAdd: addrsBytes(d.TunnelsAdd), TunnelsDel: addrsBytes(d.TunnelsDel), PortsDel: d.PortsDel}
	if d.Header != nil {
		out.Header = &pb.Header{LocalIp: addrBytes(d.Header.LocalIP), L2Pop: d.Header.L2Pop}
	}
	for _, n := range d.Networks {
		nd := &pb.NetworkDelta{Id: n.ID, Removed: n.Removed,
			FloodAdd: addrsBytes(n.FloodAdd), FloodDel: addrsBytes(n.FloodDel),
			EntriesAdd: entriesPB(n.EntriesAdd), EntriesDel: entriesPB(n.EntriesDel)}
		if n.Header != nil {
			nd.Header = headerPB(*n.Header)
		}
		out.Networks = append(out.Networks, nd)
	}
	for _, p := range d.PortsSet {
		out.PortsSet = append(out.PortsSet, portPB(p))
	}
	out.Firewall = firewallDeltaPB(d.Firewall)
	return out
}

// DeltaFromPB decodes a delta.
func DeltaFromPB(p *pb.Delta) (l2pop.Delta, error) {
	var d l2pop.Delta
	var err error
	if h := p.GetHeader(); h != nil {
		ip, err := bytesAddr(h.GetLocalIp())
		if err != nil {
			return d, fmt.Errorf("delta local_ip: %w", err)
		}
		d.Header = &l2pop.Header{LocalIP: ip, L2Pop: h.GetL2Pop()}
	}
	if d.TunnelsAdd, err = bytesAddrs(p.GetTunnelsAdd()); err != nil {
		return d, err
	}
	if d.TunnelsDel, err = bytesAddrs(p.GetTunnelsDel()); err != nil {
		return d, err
	}
	for _, n := range p.GetNetworks() {
		nd := l2pop.NetDelta{ID: n.GetId(), Removed: n.GetRemoved()}
		if n.GetHeader() != nil {
			h := pbHeader(n.GetHeader())
			nd.Header = &h
		}
		if nd.FloodAdd, err = bytesAddrs(n.GetFloodAdd()); err != nil {
			return d, err
		}
		if nd.FloodDel, err = bytesAddrs(n.GetFloodDel()); err != nil {
			return d, err
		}
		if nd.EntriesAdd, err = pbEntries(n.GetEntriesAdd()); err != nil {
			return d, err
		}
		if nd.EntriesDel, err = pbEntries(n.GetEntriesDel()); err != nil {
			return d, err
		}
		d.Networks = append(d.Networks, nd)
	}
	for _, pp := range p.GetPortsSet() {
		d.PortsSet = append(d.PortsSet, pbPort(pp))
	}
	d.PortsDel = p.GetPortsDel()
	if d.Firewall, err = pbFirewallDelta(p.GetFirewall()); err != nil {
		return d, err
	}
	return d, nil
}
