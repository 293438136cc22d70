package dhcp

import (
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"neutrino/internal/dataplane"
)

// Options are the agent's settings that shape dnsmasq's files and command
// line (dhcp_agent.ini and neutron.conf).
type Options struct {
	// ConfsDir is Neutron's dhcp_confs, $state_path/dhcp: each network's
	// files live in ConfsDir/<network id>/.
	ConfsDir string
	// LeaseDuration is dhcp_lease_duration in seconds; -1 is infinite.
	LeaseDuration int
	// DNSServers are dnsmasq_dns_servers: dnsmasq forwards to them. A
	// subnet without dns_nameservers gets no dns-server option, so
	// dnsmasq offers its own address and forwards the queries here.
	DNSServers []string
	// DNSDomain is dns_domain ("openstacklocal"): host names are
	// host-<ip>.<domain>.
	DNSDomain string
	// LeaseMax is dnsmasq_lease_max (2^24 by default).
	LeaseMax int
	// ConfigFile is dnsmasq_config_file; "" is /dev/null.
	ConfigFile string
}

// DefaultOptions are Neutron's defaults under state_path.
func DefaultOptions(statePath string) Options {
	return Options{ConfsDir: filepath.Join(statePath, "dhcp"), LeaseDuration: 86400,
		DNSDomain: "openstacklocal", LeaseMax: 1 << 24}
}

// Neutron's device owners that matter to DHCP.
const (
	OwnerDHCP             = "network:dhcp"
	ownerFloatingIP       = "network:floatingip"
	ownerRouterHA         = "network:router_ha_interface"
	ownerDistributed      = "network:distributed"
	ownerRouterInterface  = "network:router_interface"
	ownerRouterHAReplica  = "network:ha_router_replicated_interface"
	ownerRouterDistribute = "network:router_interface_distributed"
)

// IPv6 address modes.
const (
	ipv6SLAAC       = "slaac"
	dhcpv6Stateful  = "dhcpv6-stateful"
	dhcpv6Stateless = "dhcpv6-stateless"
)

// metadataCIDR is where the metadata service answers.
const metadataCIDR = "169.254.169.254/32"

// Dir is the directory of a network's files.
func (o Options) Dir(networkID string) string { return filepath.Join(o.ConfsDir, networkID) }

// File is the path of one of a network's files: "host", "addn_hosts",
// "opts", "leases", "pid", "interface".
func (o Options) File(networkID, kind string) string {
	return filepath.Join(o.Dir(networkID), kind)
}

// Namespace is the network's namespace, as Neutron names it.
func Namespace(networkID string) string { return "qdhcp-" + networkID }

// NSDevice is the DHCP port's device inside the namespace: Neutron's
// veth-based interface drivers name it "ns-" + the port id's first 11
// characters; the host side is TapDevice.
func NSDevice(portID string) string { return dataplane.DeviceName("ns-", portID) }

// TapDevice is the host side of the DHCP port: "tap" + the port id's first
// 11 characters, the name the L2 agents look for.
func TapDevice(portID string) string { return dataplane.TapName(portID) }

func subnetTag(id string) string { return "subnet-" + id }
func portTag(id string) string   { return "port-" + id }

// needsHostEntry is Neutron's port_requires_dhcp_configuration.
func needsHostEntry(p Port) bool {
	switch p.DeviceOwner {
	case ownerRouterHA, ownerFloatingIP, OwnerDHCP, ownerDistributed:
		return false
	}
	return true
}

// host is one (port, fixed IP) that dnsmasq knows by name.
type host struct {
	port     Port
	ip       FixedIP
	hostname string
	fqdn     string
	// noDHCP: the address is not handed out by DHCP (SLAAC or
	// DHCPv6-stateless); noOpts: nor are options (SLAAC).
	noDHCP, noOpts bool
	// tag is "tag:dhcpv6," for IPv6 host entries.
	tag string
}

// hosts lists the network's named addresses in Neutron's order: ports in
// order, each port's DHCPv6-stateless addresses first (dnsmasq reads the
// host file from the end; see Neutron's _sort_fixed_ips_for_dnsmasq).
func hosts(n Network, o Options) []host {
	v6 := map[string]Subnet{}
	for _, s := range n.Subnets {
		if s.IPVersion == 6 {
			v6[s.ID] = s
		}
	}
	stateless := func(f FixedIP) bool {
		s, ok := v6[f.SubnetID]
		return ok && s.IPv6AddressMode == dhcpv6Stateless
	}
	var out []host
	for _, p := range n.Ports {
		if !needsHostEntry(p) {
			continue
		}
		ips := slices.Clone(p.FixedIPs)
		slices.SortStableFunc(ips, func(a, b FixedIP) int {
			sa, sb := stateless(a), stateless(b)
			switch {
			case sa && !sb:
				return -1
			case sb && !sa:
				return 1
			}
			return 0
		})
		for _, f := range ips {
			h := host{port: p, ip: f}
			if s, ok := v6[f.SubnetID]; ok {
				h.noDHCP = s.IPv6AddressMode == ipv6SLAAC || s.IPv6AddressMode == dhcpv6Stateless
				h.noOpts = s.IPv6AddressMode == ipv6SLAAC
				h.tag = "tag:dhcpv6,"
			}
			h.hostname = "host-" + strings.NewReplacer(".", "-", ":", "-").Replace(f.Address.String())
			h.fqdn = h.hostname
			if o.DNSDomain != "" {
				h.fqdn += "." + o.DNSDomain
			}
			out = append(out, h)
		}
	}
	return out
}

// dnsmasqAddr writes IPv6 addresses in brackets, so dnsmasq tells them
// from MACs.
func dnsmasqAddr(a netip.Addr) string {
	if a.Is6() && !a.Is4In6() {
		return "[" + a.String() + "]"
	}
	return a.String()
}

// clientID is the port's client-id extra option (name "client-id" or 61).
func clientID(p Port) (string, bool) {
	for _, o := range p.ExtraDHCPOpts {
		if o.Name == "client-id" || o.Name == "61" {
			return o.Value, true
		}
	}
	return "", false
}

func dhcpSubnetIDs(n Network) map[string]Subnet {
	out := map[string]Subnet{}
	for _, s := range n.Subnets {
		if s.EnableDHCP {
			out[s.ID] = s
		}
	}
	return out
}

// HostsFile is dnsmasq's --dhcp-hostsfile: one line per address it hands
// out, "MAC,[tag:dhcpv6,][id:CLIENTID,]FQDN,IP[,set:port-ID]" (the set:
// tag when the port has extra options). A DHCPv6-stateless address of a
// port with extra options gets "MAC,tag:dhcpv6,set:port-ID", so the
// options still reach it.
func HostsFile(n Network, o Options) string {
	enabled := dhcpSubnetIDs(n)
	var b strings.Builder
	for _, h := range hosts(n, o) {
		mac, extra := h.port.MAC, len(h.port.ExtraDHCPOpts) > 0
		if h.noDHCP {
			if !h.noOpts && extra {
				fmt.Fprintf(&b, "%s,%sset:%s\n", mac, h.tag, portTag(h.port.ID))
			}
			continue
		}
		if _, ok := enabled[h.ip.SubnetID]; !ok {
			continue
		}
		ip := dnsmasqAddr(h.ip.Address)
		cid, hasCID := clientID(h.port)
		switch {
		case extra && hasCID && len(h.port.ExtraDHCPOpts) > 1:
			fmt.Fprintf(&b, "%s,%sid:%s,%s,%s,set:%s\n", mac, h.tag, cid, h.fqdn, ip, portTag(h.port.ID))
		case extra && hasCID:
			fmt.Fprintf(&b, "%s,%sid:%s,%s,%s\n", mac, h.tag, cid, h.fqdn, ip)
		case extra:
			fmt.Fprintf(&b, "%s,%s%s,%s,set:%s\n", mac, h.tag, h.fqdn, ip, portTag(h.port.ID))
		default:
			fmt.Fprintf(&b, "%s,%s%s,%s\n", mac, h.tag, h.fqdn, ip)
		}
	}
	return b.String()
}

// AddnHostsFile is dnsmasq's --addn-hosts, in /etc/hosts form: every
// named address, also those dnsmasq does not hand out, so that it
// resolves them. The FQDN comes first so PTR answers carry it.
func AddnHostsFile(n Network, o Options) string {
	var b strings.Builder
	for _, h := range hosts(n, o) {
		fmt.Fprintf(&b, "%s\t%s %s\n", h.ip.Address, h.fqdn, h.hostname)
	}
	return b.String()
}

// isolated reports, per subnet, whether no router interface holds its
// gateway address (Neutron's get_isolated_subnets).
func isolated(n Network) map[string]bool {
	gw := map[string]netip.Addr{}
	for _, s := range n.Subnets {
		gw[s.ID] = s.Gateway
	}
	out := map[string]bool{}
	for _, s := range n.Subnets {
		out[s.ID] = true
	}
	for _, p := range n.Ports {
		switch p.DeviceOwner {
		case ownerRouterInterface, ownerRouterHAReplica, ownerRouterDistribute:
		default:
			continue
		}
		for _, f := range p.FixedIPs {
			if g, ok := gw[f.SubnetID]; ok && g.IsValid() && g == f.Address {
				out[f.SubnetID] = false
			}
		}
	}
	return out
}

// option formats one line of the opts file: "tag:TAG,option:NAME,ARGS",
// with "option6:" for IPv6 and a bare number for numeric IPv4 options. A
// name may carry its own tag ("tag:foo,bootfile-name"), which is kept.
func option(ipVersion int, tag, name string, args ...string) string {
	name, _, _ = strings.Cut(name, "\n")
	var extra string
	if rest, ok := strings.CutPrefix(name, "tag:"); ok {
		if t, n, ok := strings.Cut(rest, ","); ok {
			extra, name = "tag:"+t, n
		}
	}
	switch {
	case ipVersion == 6:
		name = "option6:" + name
	case !isDigits(name):
		name = "option:" + name
	}
	parts := []string{"tag:" + tag}
	if extra != "" {
		parts = append(parts, extra)
	}
	parts = append(parts, name)
	for _, a := range args {
		a, _, _ = strings.Cut(a, "\n")
		parts = append(parts, a)
	}
	return strings.Join(parts, ",")
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func literalAddrs(ipVersion int, as []netip.Addr) string {
	ss := make([]string, len(as))
	for i, a := range as {
		if ipVersion == 6 {
			ss[i] = "[" + a.String() + "]"
		} else {
			ss[i] = a.String()
		}
	}
	return strings.Join(ss, ",")
}

// OptsFile is dnsmasq's --dhcp-optsfile: per DHCP subnet (tag
// subnet-ID) the DNS servers (6), the host routes (121 and Windows' 249,
// with the metadata route via a routed gateway, on-link routes to the
// network's other IPv4 subnets and the default route last) and the router
// (3; given without a value when the subnet has no gateway, so none is
// sent); then per port (tag port-ID) its extra_dhcp_opts; then, where a
// subnet without dns_nameservers is served by several DHCP agents, all
// their addresses as DNS servers. Lines are joined by newlines with no
// final newline, as Neutron writes it.
func OptsFile(n Network, o Options) string {
	var lines []string
	noNameservers := map[string]bool{}
	iso := isolated(n)
	for _, s := range n.Subnets {
		if !s.EnableDHCP || (s.IPVersion == 6 && s.IPv6AddressMode == ipv6SLAAC) {
			continue
		}
		tag := subnetTag(s.ID)
		switch {
		case len(s.DNSNameservers) == 1 && s.DNSNameservers[0].IsUnspecified():
			lines = append(lines, option(s.IPVersion, tag, "dns-server")) // announce none
		case len(s.DNSNameservers) > 0:
			lines = append(lines, option(s.IPVersion, tag, "dns-server", literalAddrs(s.IPVersion, s.DNSNameservers)))
		default:
			noNameservers[s.ID] = true
		}
		if o.DNSDomain != "" && s.IPVersion == 6 {
			lines = append(lines, option(s.IPVersion, tag, "domain-search", o.DNSDomain))
		}
		gateway := s.Gateway
		var routes []string
		for _, hr := range s.HostRoutes {
			if hr.Destination.Bits() == 0 && hr.Destination.Addr().Is4() {
				if !gateway.IsValid() {
					gateway = hr.Nexthop
				}
				continue
			}
			routes = append(routes, hr.Destination.String()+","+hr.Nexthop.String())
		}
		// Metadata is not served by this agent (enable_isolated_metadata),
		// so only a routed subnet gets the metadata route, via its router.
		if !iso[s.ID] && gateway.IsValid() {
			routes = append(routes, metadataCIDR+","+gateway.String())
		}
		if s.IPVersion != 4 {
			continue
		}
		for _, other := range n.Subnets {
			if other.IPVersion == 4 && other.CIDR != s.CIDR {
				routes = append([]string{other.CIDR.String() + ",0.0.0.0"}, routes...)
			}
		}
		if len(routes) > 0 {
			if gateway.IsValid() {
				routes = append(routes, "0.0.0.0/0,"+gateway.String())
			}
			lines = append(lines,
				option(4, tag, "classless-static-route", strings.Join(routes, ",")),
				option(4, tag, "249", strings.Join(routes, ",")))
		}
		if gateway.IsValid() {
			lines = append(lines, option(4, tag, "router", gateway.String()))
		} else {
			lines = append(lines, option(4, tag, "router"))
		}
	}
	// Per port: extra_dhcp_opts, and the DHCP ports' addresses.
	dhcpIPs := map[string][]netip.Addr{}
	var dhcpOrder []string
	for _, p := range append([]Port{n.DHCPPort}, n.Ports...) {
		if p.ID == "" {
			continue
		}
		versions := map[int]bool{}
		for _, f := range p.FixedIPs {
			versions[ipVersionOf(f.Address)] = true
		}
		for _, e := range p.ExtraDHCPOpts {
			if e.Name == "client-id" || e.Name == "61" {
				continue
			}
			v := e.IPVersion
			if v == 0 {
				v = 4
			}
			if versions[v] {
				lines = append(lines, option(v, portTag(p.ID), e.Name, e.Value))
			}
		}
		if p.ID == n.DHCPPort.ID || p.DeviceOwner == OwnerDHCP {
			for _, f := range p.FixedIPs {
				if !noNameservers[f.SubnetID] {
					continue
				}
				if _, seen := dhcpIPs[f.SubnetID]; !seen {
					dhcpOrder = append(dhcpOrder, f.SubnetID)
				}
				dhcpIPs[f.SubnetID] = append(dhcpIPs[f.SubnetID], f.Address)
			}
		}
	}
	for _, id := range dhcpOrder {
		for _, v := range []int{4, 6} {
			var ips []netip.Addr
			for _, a := range dhcpIPs[id] {
				if ipVersionOf(a) == v {
					ips = append(ips, a)
				}
			}
			if len(ips) > 1 {
				lines = append(lines, option(v, subnetTag(id), "dns-server", literalAddrs(v, ips)))
			}
		}
	}
	return strings.Join(lines, "\n")
}

func ipVersionOf(a netip.Addr) int {
	if a.Is4() || a.Is4In6() {
		return 4
	}
	return 6
}

// LeasesFile is the lease file dnsmasq starts from (--dhcp-leasefile):
// "EXPIRY MAC IP * *" for every address handed out on a DHCP-enabled IPv4
// subnet, so that a (re)started dnsmasq acknowledges the clients' renewals
// instead of refusing leases it does not know. EXPIRY is now + the lease
// time, or 0 for infinite leases. IPv6 leases cannot be made up (their
// IAID is unknown): the server DUID and the leases of addresses still
// handed out are kept from existing, the file dnsmasq last wrote.
func LeasesFile(n Network, o Options, now time.Time, existing string) string {
	expiry := int64(0)
	if o.LeaseDuration != -1 {
		expiry = now.Unix() + int64(o.LeaseDuration)
	}
	v6Leases := map[netip.Addr]string{}
	var b strings.Builder
	for _, line := range strings.SplitAfter(existing, "\n") {
		if strings.HasPrefix(line, "duid ") {
			b.WriteString(line)
			continue
		}
		f := strings.Split(strings.TrimRight(line, "\n"), " ")
		if len(f) != 5 {
			continue
		}
		if a, err := netip.ParseAddr(f[2]); err == nil && a.Is6() {
			v6Leases[a] = strings.TrimRight(line, "\n") + "\n"
		}
	}
	enabled := dhcpSubnetIDs(n)
	for _, h := range hosts(n, o) {
		s, ok := enabled[h.ip.SubnetID]
		if h.noDHCP || !ok {
			continue
		}
		switch s.IPVersion {
		case 4:
			fmt.Fprintf(&b, "%d %s %s * *\n", expiry, h.port.MAC, h.ip.Address)
		case 6:
			if l, ok := v6Leases[h.ip.Address]; ok {
				b.WriteString(l)
			}
		}
	}
	return b.String()
}

// leaseArg is dnsmasq's lease time: "86400s" or "infinite".
func leaseArg(o Options) string {
	if o.LeaseDuration == -1 {
		return "infinite"
	}
	return strconv.Itoa(o.LeaseDuration) + "s"
}

// dhcpMode is the dhcp-range mode of a subnet: "static" (addresses only
// from the host file, no dynamic pool) for IPv4, DHCPv6 subnets and IPv6
// subnets without modes; "" (no range) for SLAAC.
func dhcpMode(s Subnet) string {
	if s.IPVersion == 4 {
		return "static"
	}
	switch {
	case s.IPv6AddressMode == dhcpv6Stateful || s.IPv6AddressMode == dhcpv6Stateless,
		s.IPv6AddressMode == "" && s.IPv6RAMode == "":
		return "static"
	}
	return ""
}

// Cmdline is the dnsmasq command line for a network, as Neutron's DHCP
// agent builds it: no /etc/hosts or resolv.conf, Neutron's files, one
// static dhcp-range per DHCP subnet (tagged subnet-ID, no dynamic pool),
// the network's MTU forced as option 26, a lease cap from the subnets'
// sizes, dnsmasq_dns_servers as upstream servers and dns_domain.
func Cmdline(n Network, o Options) []string {
	f := func(kind string) string { return o.File(n.ID, kind) }
	cmd := []string{"dnsmasq", "--no-hosts", "--no-resolv",
		"--pid-file=" + f("pid"),
		"--dhcp-hostsfile=" + f("host"),
		"--addn-hosts=" + f("addn_hosts"),
		"--dhcp-optsfile=" + f("opts"),
		"--dhcp-leasefile=" + f("leases"),
		"--dhcp-match=set:ipxe,175",
		"--dhcp-userclass=set:ipxe6,iPXE",
		"--local-service",
		"--bind-dynamic",
	}
	possible := new(big.Int)
	for _, s := range n.Subnets {
		mode := dhcpMode(s)
		if !s.EnableDHCP || mode == "" {
			continue
		}
		p := s.CIDR.Masked()
		if s.IPVersion == 4 {
			mask := net.IP(net.CIDRMask(p.Bits(), 32)).String()
			cmd = append(cmd, fmt.Sprintf("--dhcp-range=set:%s,%s,%s,%s,%s", subnetTag(s.ID), p.Addr(), mode, mask, leaseArg(o)))
		} else {
			if p.Bits() < 64 {
				continue // dnsmasq serves DHCPv6 on /64 or longer only
			}
			cmd = append(cmd, fmt.Sprintf("--dhcp-range=set:%s,%s,%s,%d,%s", subnetTag(s.ID), p.Addr(), mode, p.Bits(), leaseArg(o)))
		}
		possible.Add(possible, new(big.Int).Lsh(big.NewInt(1), uint(p.Addr().BitLen()-p.Bits())))
	}
	if n.MTU > 0 {
		cmd = append(cmd, fmt.Sprintf("--dhcp-option-force=option:mtu,%d", n.MTU))
	}
	leaseMax := int64(o.LeaseMax)
	if possible.IsInt64() && possible.Int64() < leaseMax {
		leaseMax = possible.Int64()
	}
	cmd = append(cmd, fmt.Sprintf("--dhcp-lease-max=%d", leaseMax))
	conf := strings.TrimSpace(o.ConfigFile)
	if conf == "" {
		conf = "/dev/null"
	}
	cmd = append(cmd, "--conf-file="+conf)
	for _, s := range o.DNSServers {
		cmd = append(cmd, "--server="+s)
	}
	if o.DNSDomain != "" {
		cmd = append(cmd, "--domain="+o.DNSDomain)
	}
	return cmd
}
