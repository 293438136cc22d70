package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/userdata"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"neutrino/internal/dhcp"
	"neutrino/internal/dhcpview"
	"neutrino/internal/l3"
	"neutrino/internal/l3view"
	"neutrino/internal/lab"
	"neutrino/internal/neutron"
)

// The L3 and DHCP parts of the audit. What a node must hold comes from the
// database through the servers' own views (l3view, dhcpview: the states
// the agents' streams carry) and the agents' own pure planners (l3.Plan,
// dhcp's HostsFile and Cmdline); what it holds is read from the kernel
// (namespaces, links, addresses, routes, sysctls, nftables), the files
// and /proc by the harness, not reported by the agents.

// auditRouters compares the L3 agent's qrouter- namespaces with st.
func auditRouters(x *auxAgent, st *neutron.State) []string {
	want := l3view.NewModel(st).View(x.node.Name)
	var out []string
	wanted := map[string]bool{}
	for _, r := range want.Routers {
		wanted[r.ID] = true
		for _, d := range checkRouter(l3.Plan(r)) {
			out = append(out, fmt.Sprintf("%s: router %s: %s", x.name(), r.ID, d))
		}
	}
	// Routers the agent made (its state directory) that it must not
	// hold any more, and their namespaces.
	ents, _ := os.ReadDir(x.l3.RoutersDir)
	for _, e := range ents {
		if id := e.Name(); uuidLike(id) && !wanted[id] {
			out = append(out, fmt.Sprintf("%s: extra router %s (still recorded)", x.name(), id))
		}
	}
	for _, r := range st.Routers {
		if !wanted[r.ID] && lab.NSExists(l3.Namespace(r.ID)) {
			out = append(out, fmt.Sprintf("%s: extra namespace %s", x.name(), l3.Namespace(r.ID)))
		}
	}
	for _, f := range st.FloatingIPs {
		if f.PortID != "" && f.RouterID != "" && wanted[f.RouterID] && f.Status != neutron.StatusActive {
			out = append(out, fmt.Sprintf("%s: floating IP %s is %s, not ACTIVE", x.name(), f.FloatingIPAddress, f.Status))
		}
	}
	return out
}

func uuidLike(s string) bool { return len(s) == 36 && strings.Count(s, "-") == 4 }

// checkRouter reads one router's namespace and lists how it differs from
// the plan: devices (MAC, MTU, up, addresses), routes beyond the
// connected ones, sysctls, and the NAT table's chains (each chain's last
// rule carries the checksum of the rules the applier wrote).
func checkRouter(p l3.RouterPlan) []string {
	if !lab.NSExists(p.Namespace) {
		return []string{"missing namespace " + p.Namespace}
	}
	h, err := lab.Handle(p.Namespace)
	if err != nil {
		return []string{"cannot read " + p.Namespace + ": " + err.Error()}
	}
	defer h.Close()
	var out []string
	links, err := h.LinkList()
	if err != nil {
		return []string{"list links: " + err.Error()}
	}
	byName := map[string]netlink.Link{}
	for _, l := range links {
		byName[l.Attrs().Name] = l
		if n := l.Attrs().Name; (strings.HasPrefix(n, "qr-") || strings.HasPrefix(n, "qg-")) &&
			!slices.ContainsFunc(p.Devices, func(d l3.Device) bool { return d.Name == n }) {
			out = append(out, "extra device "+n)
		}
	}
	for _, d := range p.Devices {
		l, ok := byName[d.Name]
		if !ok {
			out = append(out, "missing device "+d.Name)
			continue
		}
		a := l.Attrs()
		if a.HardwareAddr.String() != strings.ToLower(d.MAC) {
			out = append(out, fmt.Sprintf("device %s has MAC %s, want %s", d.Name, a.HardwareAddr, d.MAC))
		}
		if d.MTU > 0 && a.MTU != d.MTU {
			out = append(out, fmt.Sprintf("device %s has MTU %d, want %d", d.Name, a.MTU, d.MTU))
		}
		if a.Flags&net.FlagUp == 0 {
			out = append(out, "device "+d.Name+" is down")
		}
		addrs, err := h.AddrList(l, netlink.FAMILY_ALL)
		if err != nil {
			out = append(out, "device "+d.Name+": "+err.Error())
			continue
		}
		var have []netip.Prefix
		for _, ad := range addrs {
			if pf, ok := prefixOf(ad.IPNet); ok && !pf.Addr().IsLinkLocalUnicast() {
				have = append(have, pf)
			}
		}
		out = append(out, setDiff("device "+d.Name+" address", d.Addrs, have)...)
	}
	out = append(out, checkRoutes(h, p)...)
	out = append(out, checkSysctls(p)...)
	out = append(out, checkNAT(p)...)
	return out
}

// checkRoutes compares the main table's static unicast routes with the
// plan's (the connected ones are the kernel's).
func checkRoutes(h *netlink.Handle, p l3.RouterPlan) []string {
	rs, err := h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return []string{"list routes: " + err.Error()}
	}
	var have []string
	for _, r := range rs {
		if r.Protocol == unix.RTPROT_KERNEL || r.Type != unix.RTN_UNICAST {
			continue
		}
		dst := "default"
		if ones, _ := r.Dst.Mask.Size(); r.Dst != nil && ones > 0 {
			dst = r.Dst.String()
		}
		dev := "?"
		if l, err := h.LinkByIndex(r.LinkIndex); err == nil {
			dev = l.Attrs().Name
		}
		have = append(have, fmt.Sprintf("%s via %s dev %s", dst, r.Gw, dev))
	}
	var want []string
	for _, r := range p.Routes {
		dst := r.Destination.String()
		if r.Destination.Bits() == 0 {
			dst = "default"
		}
		want = append(want, fmt.Sprintf("%s via %s dev %s", dst, r.Via, r.Dev))
	}
	return setDiff("route", want, have)
}

func checkSysctls(p l3.RouterPlan) []string {
	var out []string
	err := lab.InNS(p.Namespace, func() error {
		for _, s := range p.Sysctls {
			b, err := os.ReadFile(s.Path())
			if errors.Is(err, os.ErrNotExist) && strings.HasPrefix(s.Key, "net.ipv6.") {
				continue
			}
			if err != nil {
				return err
			}
			if v := strings.TrimSpace(string(b)); v != s.Value {
				out = append(out, fmt.Sprintf("sysctl %s = %s, want %s", s.Key, v, s.Value))
			}
		}
		return nil
	})
	if err != nil {
		out = append(out, "sysctls: "+err.Error())
	}
	return out
}

// checkNAT reads the namespace's nftables table l3.NATTable: the chains
// (hook, priority, type nat), how many rules each holds and the checksum
// comment of its last rule must be the plan's.
func checkNAT(p l3.RouterPlan) []string {
	fd, err := netns.GetFromName(p.Namespace)
	if err != nil {
		return []string{"open " + p.Namespace + ": " + err.Error()}
	}
	defer fd.Close()
	c, err := nftables.New(nftables.WithNetNSFd(int(fd)), nftables.AsLasting())
	if err != nil {
		return []string{"nftables: " + err.Error()}
	}
	defer c.CloseLasting()
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return []string{"nftables chains: " + err.Error()}
	}
	have := map[string]*nftables.Chain{}
	for _, ch := range chains {
		if ch.Table.Name == l3.NATTable {
			have[ch.Name] = ch
		}
	}
	var out []string
	t := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: l3.NATTable}
	for _, want := range p.NAT.Chains {
		ch := have[want.Name]
		delete(have, want.Name)
		if ch == nil {
			out = append(out, "missing NAT chain "+want.Name)
			continue
		}
		if ch.Type != nftables.ChainTypeNAT || ch.Priority == nil || int(*ch.Priority) != want.Priority {
			out = append(out, "NAT chain "+want.Name+" has the wrong type or priority")
		}
		rules, err := c.GetRules(t, ch)
		if err != nil {
			out = append(out, "NAT chain "+want.Name+": "+err.Error())
			continue
		}
		sum := ""
		if n := len(rules); n > 0 {
			sum, _ = userdata.GetString(rules[n-1].UserData, userdata.TypeComment)
		}
		if len(rules) != len(want.Rules) || sum != "sum "+want.Sum() {
			out = append(out, fmt.Sprintf("NAT chain %s holds %d rules (%q), want %d (sum %s): %s", want.Name, len(rules), sum,
				len(want.Rules), want.Sum(), ruleTexts(want.Rules)))
		}
	}
	for name := range have {
		out = append(out, "extra NAT chain "+name)
	}
	return out
}

func ruleTexts(rs []l3.Rule) string {
	var b bytes.Buffer
	for i, r := range rs {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(r.Text)
	}
	return b.String()
}

// auditDHCP compares the DHCP agent's qdhcp- namespaces, dnsmasq
// processes and host files with st.
func auditDHCP(x *auxAgent, st *neutron.State) []string {
	o := dhcpOptions(x.dhcp)
	want := dhcpview.NewModel(st).View(x.node.Name)
	var out []string
	wanted := map[string]bool{}
	for _, n := range want.Networks {
		if n.DHCPPort.ID == "" || len(n.DHCPSubnets()) == 0 {
			continue // not served here (the applier's rule)
		}
		wanted[n.ID] = true
		for _, d := range checkDHCPNetwork(n, o) {
			out = append(out, fmt.Sprintf("%s: network %s: %s", x.name(), n.ID, d))
		}
	}
	ents, _ := os.ReadDir(o.ConfsDir)
	for _, e := range ents {
		if id := e.Name(); uuidLike(id) && e.IsDir() && !wanted[id] {
			out = append(out, fmt.Sprintf("%s: extra network %s (still in %s)", x.name(), id, o.ConfsDir))
		}
	}
	for _, n := range st.Networks {
		if !wanted[n.ID] && lab.NSExists(dhcp.Namespace(n.ID)) {
			out = append(out, fmt.Sprintf("%s: extra namespace %s", x.name(), dhcp.Namespace(n.ID)))
		}
	}
	return out
}

// checkDHCPNetwork: the namespace with the DHCP port's device (up, its
// addresses), the host file as dhcp.HostsFile renders it, and a dnsmasq
// running with the pid file's pid and the command line dhcp.Cmdline
// builds.
func checkDHCPNetwork(n dhcp.Network, o dhcp.Options) []string {
	ns := dhcp.Namespace(n.ID)
	if !lab.NSExists(ns) {
		return []string{"missing namespace " + ns}
	}
	var out []string
	h, err := lab.Handle(ns)
	if err != nil {
		return []string{"cannot read " + ns + ": " + err.Error()}
	}
	defer h.Close()
	dev := dhcp.NSDevice(n.DHCPPort.ID)
	if l, err := h.LinkByName(dev); err != nil {
		out = append(out, "missing device "+dev)
	} else {
		if l.Attrs().Flags&net.FlagUp == 0 {
			out = append(out, "device "+dev+" is down")
		}
		if l.Attrs().HardwareAddr.String() != strings.ToLower(n.DHCPPort.MAC) {
			out = append(out, fmt.Sprintf("device %s has MAC %s, want %s", dev, l.Attrs().HardwareAddr, n.DHCPPort.MAC))
		}
		var want, have []netip.Prefix
		for _, f := range n.DHCPPort.FixedIPs {
			for _, s := range n.DHCPSubnets() {
				if s.ID == f.SubnetID {
					want = append(want, netip.PrefixFrom(f.Address, s.CIDR.Bits()))
				}
			}
		}
		addrs, _ := h.AddrList(l, netlink.FAMILY_ALL)
		for _, ad := range addrs {
			if pf, ok := prefixOf(ad.IPNet); ok && !pf.Addr().IsLinkLocalUnicast() {
				have = append(have, pf)
			}
		}
		out = append(out, setDiff("device "+dev+" address", want, have)...)
	}
	if b, err := os.ReadFile(o.File(n.ID, "host")); err != nil {
		out = append(out, "host file: "+err.Error())
	} else if want := dhcp.HostsFile(n, o); string(b) != want {
		out = append(out, fmt.Sprintf("host file holds %q, want %q", b, want))
	}
	pidFile := o.File(n.ID, "pid")
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return append(out, "dnsmasq not running: "+err.Error())
	}
	pid := strings.TrimSpace(string(b))
	cl, err := os.ReadFile("/proc/" + pid + "/cmdline")
	if err != nil || len(cl) == 0 {
		return append(out, "dnsmasq not running (pid file says "+pid+")")
	}
	args := strings.Split(strings.TrimRight(string(cl), "\x00"), "\x00")
	if want := dhcp.Cmdline(n, o); !slices.Equal(args[1:], want[1:]) {
		out = append(out, fmt.Sprintf("dnsmasq pid %s runs %q, want %q", pid, args[1:], want[1:]))
	}
	return out
}

// setDiff lists what want has and have lacks ("missing"), and the
// reverse ("extra").
func setDiff[T comparable](what string, want, have []T) []string {
	var out []string
	for _, w := range want {
		if !slices.Contains(have, w) {
			out = append(out, fmt.Sprintf("missing %s %v", what, w))
		}
	}
	for _, h := range have {
		if !slices.Contains(want, h) {
			out = append(out, fmt.Sprintf("extra %s %v", what, h))
		}
	}
	return out
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	bits, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), bits), true
}
