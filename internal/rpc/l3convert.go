package rpc

import (
	"fmt"
	"net/netip"

	"neutrino/internal/l3"
	"neutrino/internal/l3view"
	"neutrino/internal/rpc/pb"
)

// L3 states and deltas on the wire; addresses as text, as the DHCP
// stream's.

// L3StateToPB encodes an L3 agent's state.
func L3StateToPB(s l3.State) *pb.L3State {
	out := &pb.L3State{}
	for _, r := range s.Routers {
		out.Routers = append(out.Routers, l3RouterToPB(r))
	}
	return out
}

// L3DeltaToPB encodes an L3 state delta.
func L3DeltaToPB(d l3view.Delta) *pb.L3Delta {
	out := &pb.L3Delta{Removed: d.Removed}
	for _, r := range d.Upsert {
		out.Upsert = append(out.Upsert, l3RouterToPB(r))
	}
	return out
}

func l3PortToPB(p l3.Port) *pb.L3Port {
	out := &pb.L3Port{Id: p.ID, NetworkId: p.NetworkID, Mac: p.MAC, Mtu: int32(p.MTU)}
	for _, a := range p.Addresses {
		out.Addresses = append(out.Addresses, a.String())
	}
	return out
}

func l3RouterToPB(r l3.Router) *pb.L3Router {
	out := &pb.L3Router{Id: r.ID}
	for _, p := range r.Interfaces {
		out.Interfaces = append(out.Interfaces, l3PortToPB(p))
	}
	if g := r.Gateway; g != nil {
		pg := &pb.L3Gateway{Port: l3PortToPB(g.Port), EnableSnat: g.EnableSNAT}
		for _, a := range g.NextHops {
			pg.NextHops = append(pg.NextHops, a.String())
		}
		out.Gateway = pg
	}
	for _, rt := range r.Routes {
		out.Routes = append(out.Routes, &pb.L3Route{Destination: rt.Destination.String(), Nexthop: rt.NextHop.String()})
	}
	for _, f := range r.FloatingIPs {
		out.FloatingIps = append(out.FloatingIps, &pb.L3FloatingIP{Id: f.ID, FloatingIp: f.FloatingIP.String(), FixedIp: f.FixedIP.String(), PortId: f.PortID})
	}
	return out
}

// L3StateFromPB decodes an L3 agent's state.
func L3StateFromPB(m *pb.L3State) (l3.State, error) {
	var out l3.State
	for _, r := range m.GetRouters() {
		lr, err := l3RouterFromPB(r)
		if err != nil {
			return out, err
		}
		out.Routers = append(out.Routers, lr)
	}
	return out, nil
}

// L3DeltaFromPB decodes an L3 state delta.
func L3DeltaFromPB(m *pb.L3Delta) (l3view.Delta, error) {
	out := l3view.Delta{Removed: m.GetRemoved()}
	for _, r := range m.GetUpsert() {
		lr, err := l3RouterFromPB(r)
		if err != nil {
			return out, err
		}
		out.Upsert = append(out.Upsert, lr)
	}
	return out, nil
}

func l3PortFromPB(m *pb.L3Port) (l3.Port, error) {
	out := l3.Port{ID: m.GetId(), NetworkID: m.GetNetworkId(), MAC: m.GetMac(), MTU: int(m.GetMtu())}
	for _, s := range m.GetAddresses() {
		a, err := netip.ParsePrefix(s)
		if err != nil {
			return out, fmt.Errorf("router port %s: %w", out.ID, err)
		}
		out.Addresses = append(out.Addresses, a)
	}
	return out, nil
}

func l3RouterFromPB(m *pb.L3Router) (l3.Router, error) {
	out := l3.Router{ID: m.GetId()}
	for _, p := range m.GetInterfaces() {
		lp, err := l3PortFromPB(p)
		if err != nil {
			return out, fmt.Errorf("router %s: %w", out.ID, err)
		}
		out.Interfaces = append(out.Interfaces, lp)
	}
	if g := m.GetGateway(); g != nil {
		gp, err := l3PortFromPB(g.GetPort())
		if err != nil {
			return out, fmt.Errorf("router %s gateway: %w", out.ID, err)
		}
		lg := &l3.Gateway{Port: gp, EnableSNAT: g.GetEnableSnat()}
		for _, s := range g.GetNextHops() {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return out, fmt.Errorf("router %s gateway: %w", out.ID, err)
			}
			lg.NextHops = append(lg.NextHops, a)
		}
		out.Gateway = lg
	}
	for _, rt := range m.GetRoutes() {
		d, err1 := netip.ParsePrefix(rt.GetDestination())
		h, err2 := netip.ParseAddr(rt.GetNexthop())
		if err1 != nil || err2 != nil {
			return out, fmt.Errorf("router %s route %s via %s: bad address", out.ID, rt.GetDestination(), rt.GetNexthop())
		}
		out.Routes = append(out.Routes, l3.Route{Destination: d, NextHop: h})
	}
	for _, f := range m.GetFloatingIps() {
		fl, err1 := netip.ParseAddr(f.GetFloatingIp())
		fx, err2 := netip.ParseAddr(f.GetFixedIp())
		if err1 != nil || err2 != nil {
			return out, fmt.Errorf("router %s floating IP %s: bad address", out.ID, f.GetId())
		}
		out.FloatingIPs = append(out.FloatingIPs, l3.FloatingIP{ID: f.GetId(), FloatingIP: fl, FixedIP: fx, PortID: f.GetPortId()})
	}
	return out, nil
}
