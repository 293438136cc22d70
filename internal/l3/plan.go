package l3

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"neutrino/internal/dataplane"
)

// Namespace is a router's namespace, as Neutron names it.
func Namespace(routerID string) string { return NamespacePrefix + routerID }

// NamespacePrefix starts every router namespace's name.
const NamespacePrefix = "qrouter-"

// InternalDevice is the device of a router interface in the router's
// namespace: "qr-" + the port id's first 11 characters.
func InternalDevice(portID string) string { return dataplane.DeviceName("qr-", portID) }

// GatewayDevice is the device of a router's gateway port: "qg-" + the port
// id's first 11 characters.
func GatewayDevice(portID string) string { return dataplane.DeviceName("qg-", portID) }

// TapDevice is the host end of a router port's veth (the Linux bridge
// interface driver): "tap" + the port id's first 11 characters.
func TapDevice(portID string) string { return dataplane.TapName(portID) }

// RouterPlan is everything one router's namespace must hold, computed from
// the Router alone.
type RouterPlan struct {
	RouterID  string
	Namespace string
	// Sysctls are set inside the namespace, in order.
	Sysctls []Sysctl
	// Devices are the qg- device (if any) and the qr- devices, sorted by
	// name.
	Devices []Device
	// Routes are the routes beyond the connected ones, sorted by
	// destination.
	Routes []PlannedRoute
	NAT    NAT
	// Skipped says what of the Router could not be planned (an extra
	// route whose next hop is on none of the router's subnets, floating
	// IPs without a gateway); the rest is planned anyway.
	Skipped []string
}

// Sysctl is one /proc/sys/<key with dots as slashes> value.
type Sysctl struct{ Key, Value string }

// Path is the sysctl's file under /proc/sys.
func (s Sysctl) Path() string { return "/proc/sys/" + strings.ReplaceAll(s.Key, ".", "/") }

// Device is one qr- or qg- device in the namespace.
type Device struct {
	Name      string
	Gateway   bool // qg-: the external gateway
	PortID    string
	NetworkID string
	MAC       string
	MTU       int // 0: leave the default
	// Addrs are the port's fixed IPs with their prefix length and, on
	// qg-, each floating IP as /32 (so that the namespace answers ARP for
	// it on the external network), sorted.
	Addrs []netip.Prefix
}

// PlannedRoute is one route: Destination via Via out of Dev.
type PlannedRoute struct {
	Destination netip.Prefix
	Via         netip.Addr
	Dev         string
}

// Plan computes a router's namespace. It is pure: same Router, same plan.
func Plan(r Router) RouterPlan {
	p := RouterPlan{RouterID: r.ID, Namespace: Namespace(r.ID)}
	v6 := false
	for _, port := range r.Interfaces {
		p.Devices = append(p.Devices, Device{Name: InternalDevice(port.ID), PortID: port.ID, NetworkID: port.NetworkID,
			MAC: port.MAC, MTU: port.MTU, Addrs: sortedPrefixes(port.Addresses)})
		v6 = v6 || slices.ContainsFunc(port.Addresses, func(a netip.Prefix) bool { return a.Addr().Is6() })
	}
	var gwDev string
	if g := r.Gateway; g != nil {
		gwDev = GatewayDevice(g.Port.ID)
		addrs := slices.Clone(g.Port.Addresses)
		for _, f := range r.FloatingIPs {
			addrs = append(addrs, netip.PrefixFrom(f.FloatingIP, f.FloatingIP.BitLen()))
		}
		p.Devices = append(p.Devices, Device{Name: gwDev, Gateway: true, PortID: g.Port.ID, NetworkID: g.Port.NetworkID,
			MAC: g.Port.MAC, MTU: g.Port.MTU, Addrs: sortedPrefixes(addrs)})
		v6 = v6 || slices.ContainsFunc(g.Port.Addresses, func(a netip.Prefix) bool { return a.Addr().Is6() })
		for _, is6 := range []bool{false, true} {
			if i := slices.IndexFunc(g.NextHops, func(a netip.Addr) bool { return a.Is6() == is6 }); i >= 0 {
				dst := netip.PrefixFrom(netip.IPv4Unspecified(), 0)
				if is6 {
					dst = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
				}
				p.Routes = append(p.Routes, PlannedRoute{Destination: dst, Via: g.NextHops[i], Dev: gwDev})
			}
		}
	} else if len(r.FloatingIPs) > 0 {
		p.Skipped = append(p.Skipped, fmt.Sprintf("%d floating IPs: the router has no gateway", len(r.FloatingIPs)))
	}
	slices.SortFunc(p.Devices, func(a, b Device) int { return cmp.Compare(a.Name, b.Name) })
	for _, rt := range r.Routes {
		dev := ""
		for _, d := range p.Devices {
			if slices.ContainsFunc(d.Addrs, func(a netip.Prefix) bool { return a.Bits() < a.Addr().BitLen() && a.Contains(rt.NextHop) }) {
				dev = d.Name
				break
			}
		}
		if dev == "" {
			p.Skipped = append(p.Skipped, fmt.Sprintf("route %s via %s: the next hop is on none of the router's subnets", rt.Destination, rt.NextHop))
			continue
		}
		p.Routes = append(p.Routes, PlannedRoute{Destination: rt.Destination.Masked(), Via: rt.NextHop, Dev: dev})
	}
	slices.SortStableFunc(p.Routes, func(a, b PlannedRoute) int {
		if c := a.Destination.Addr().Compare(b.Destination.Addr()); c != 0 {
			return c
		}
		return cmp.Compare(a.Destination.Bits(), b.Destination.Bits())
	})
	// A default route given as an extra route loses to the gateway's.
	p.Routes = slices.CompactFunc(p.Routes, func(a, b PlannedRoute) bool { return a.Destination == b.Destination })
	p.Sysctls = sysctls(v6)
	if r.Gateway != nil {
		p.NAT = planNAT(r, gwDev)
	}
	return p
}

// sysctls are the namespace's settings, as Neutron's router namespace
// has them: forwarding on; ARP answered only for addresses of the
// receiving interface, and sent from the best local address (so a qg-
// never answers for a tenant address, nor a qr- for a floating IP).
// IPv6 stays off (as in every lab namespace: no link-local chatter) unless
// the router has an IPv6 address.
func sysctls(v6 bool) []Sysctl {
	disable := "1"
	if v6 {
		disable = "0"
	}
	return []Sysctl{
		{"net.ipv4.ip_forward", "1"},
		{"net.ipv4.conf.all.arp_ignore", "1"},
		{"net.ipv4.conf.all.arp_announce", "2"},
		{"net.ipv6.conf.all.disable_ipv6", disable},
		{"net.ipv6.conf.default.disable_ipv6", disable},
		{"net.ipv6.conf.all.forwarding", "1"},
	}
}

func sortedPrefixes(ps []netip.Prefix) []netip.Prefix {
	out := slices.Clone(ps)
	slices.SortFunc(out, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return cmp.Compare(a.Bits(), b.Bits())
	})
	return slices.Compact(out)
}

// Render prints the plan as the commands a reader would run in the
// namespace show it: `sysctl`, `ip addr`, `ip route` and `nft list
// ruleset`.
func (p RouterPlan) Render() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# ip netns exec %s sysctl ...\n", p.Namespace)
	for _, s := range p.Sysctls {
		fmt.Fprintf(&b, "%s = %s\n", s.Key, s.Value)
	}
	fmt.Fprintf(&b, "# ip -n %s addr\n", p.Namespace)
	for i, d := range p.Devices {
		mtu := "default"
		if d.MTU > 0 {
			mtu = fmt.Sprint(d.MTU)
		}
		fmt.Fprintf(&b, "%d: %s: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu %s\n    link/ether %s\n", i+2, d.Name, mtu, d.MAC)
		for _, a := range d.Addrs {
			fam := "inet"
			if a.Addr().Is6() {
				fam = "inet6"
			}
			fmt.Fprintf(&b, "    %s %s scope global %s\n", fam, a, d.Name)
		}
	}
	fmt.Fprintf(&b, "# ip -n %s route; ip -n %s -6 route\n", p.Namespace, p.Namespace)
	for _, d := range p.Devices {
		for _, a := range d.Addrs {
			if a.Bits() < a.Addr().BitLen() {
				fmt.Fprintf(&b, "%s dev %s proto kernel scope link src %s\n", a.Masked(), d.Name, a.Addr())
			}
		}
	}
	for _, r := range p.Routes {
		dst := r.Destination.String()
		if r.Destination.Bits() == 0 {
			dst = "default"
		}
		fmt.Fprintf(&b, "%s via %s dev %s proto static\n", dst, r.Via, r.Dev)
	}
	fmt.Fprintf(&b, "# ip netns exec %s nft list ruleset\n", p.Namespace)
	b.WriteString(p.NAT.Render())
	for _, s := range p.Skipped {
		fmt.Fprintf(&b, "# skipped: %s\n", s)
	}
	return b.String()
}
