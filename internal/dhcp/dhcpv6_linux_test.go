package dhcp

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"neutrino/internal/lab"
)

// dhclient6Script is the event script Debian's dhclient runs: it applies
// a DHCPv6 address as a client's own script would and records the
// environment of the event (one file per reason) for the test to read.
const dhclient6Script = `#!/bin/sh
if [ -n "$new_ip6_address" ] && [ -n "$new_ip6_prefixlen" ]; then
	ip -6 addr replace "$new_ip6_address/$new_ip6_prefixlen" dev "$interface"
fi
env | sort > "$OUT.$reason.tmp" && mv "$OUT.$reason.tmp" "$OUT.$reason"
exit 0
`

// dhclient6 runs dhclient -6 (stateful, or -S: stateless, an
// information-request) on a VM namespace's eth0 until its script reports
// an event carrying what it asked for, and returns that event's
// environment. The client is stopped (by PID) before it returns.
func (b *bed) dhclient6(t *testing.T, ns string, stateless bool) map[string]string {
	t.Helper()
	bin, err := exec.LookPath("dhclient")
	if err != nil {
		t.Fatalf("dhclient not found (scripts/deps.sh installs isc-dhcp-client): %v", err)
	}
	// A VM's IPv6 as a guest has it: on, without DAD delay on the
	// link-local address dhclient sends from, and no autoconfiguration.
	if err := lab.InNS(ns, func() error {
		for _, kv := range [][2]string{{"accept_ra", "0"}, {"accept_dad", "0"}, {"disable_ipv6", "0"}} {
			if err := os.WriteFile("/proc/sys/net/ipv6/conf/eth0/"+kv[0], []byte(kv[1]), 0o644); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	waitLinkLocal(t, ns, "eth0")
	dir := filepath.Join(b.dir, ns)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "script")
	if err := os.WriteFile(script, []byte(dhclient6Script), 0o755); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "dhclient.conf")
	if err := os.WriteFile(conf, []byte("request dhcp6.name-servers, dhcp6.domain-search;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "event")
	argv := []string{bin, "-6", "-d", "-v", "-cf", conf, "-sf", script, "-lf", filepath.Join(dir, "leases"),
		"-pf", filepath.Join(dir, "pid"), "-e", "OUT=" + out}
	if stateless {
		argv = append(argv, "-S")
	}
	p, err := lab.Start(ns, append(argv, "eth0")...)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := p.Stop(); err != nil {
			t.Errorf("stop dhclient: %v", err)
		}
		t.Logf("dhclient -6 in %s said:\n%s", ns, p.Output())
	}()
	want := "new_ip6_address"
	if stateless {
		want = "new_dhcp6_name_servers"
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		ents, _ := filepath.Glob(out + ".*")
		for _, e := range ents {
			env := readEnv(e)
			if env[want] != "" {
				return env
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("dhclient -6 got no %s within 60s", want)
	return nil
}

// waitLinkLocal brings dev up and waits for its link-local address, which
// dhclient -6 sends from.
func waitLinkLocal(t *testing.T, ns, dev string) {
	t.Helper()
	h, err := lab.Handle(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	l, err := h.LinkByName(dev)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetUp(l); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		as, _ := h.AddrList(l, netlink.FAMILY_V6)
		for _, a := range as {
			if a.IP.IsLinkLocalUnicast() && a.Flags&unix.IFA_F_TENTATIVE == 0 {
				return
			}
		}
	}
	t.Fatalf("%s in %s has no usable link-local address", dev, ns)
}

func readEnv(path string) map[string]string {
	b, _ := os.ReadFile(path)
	env := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	return env
}

// nsAddrs lists dev's global IPv6 addresses in ns.
func nsAddrs(t *testing.T, ns, dev string) []netip.Prefix {
	t.Helper()
	h, err := lab.Handle(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	l, err := h.LinkByName(dev)
	if err != nil {
		t.Fatal(err)
	}
	as, err := h.AddrList(l, netlink.FAMILY_V6)
	if err != nil {
		t.Fatal(err)
	}
	var out []netip.Prefix
	for _, a := range as {
		if p, ok := prefixOf(a.IPNet); ok && !p.Addr().IsLinkLocalUnicast() {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	return out
}

// TestServeIPv6 serves IPv6 subnets as Neutron's DHCP agent does, against
// the real dnsmasq and Debian's dhclient: a DHCPv6-stateful subnet gives
// a VM its port's fixed IP; a DHCPv6-stateless one answers an
// information-request with the subnet's DNS servers; a SLAAC subnet gets
// the DHCP port's address on the namespace's device but no DHCP.
func TestServeIPv6(t *testing.T) {
	b := newBed(t, "linuxbridge")
	const vmMAC = "fa:16:3e:00:60:04"
	n := Network{ID: uuid.NewString(), MTU: 1450,
		Subnets: []Subnet{{ID: "sub-st", CIDR: pfx("fd00:60::/64"), IPVersion: 6, Gateway: addr("fd00:60::1"), EnableDHCP: true,
			IPv6RAMode: dhcpv6Stateful, IPv6AddressMode: dhcpv6Stateful}},
		DHCPPort: Port{ID: uuid.NewString(), MAC: "fa:16:3e:00:60:02", DeviceOwner: OwnerDHCP,
			FixedIPs: []FixedIP{{SubnetID: "sub-st", Address: addr("fd00:60::2")}}},
		Ports: []Port{{ID: uuid.NewString(), MAC: vmMAC, DeviceOwner: "compute:nova",
			FixedIPs: []FixedIP{{SubnetID: "sub-st", Address: addr("fd00:60::4")}}}},
	}
	b.apply(State{Networks: []Network{n}})
	ns := Namespace(n.ID)
	dev := NSDevice(n.DHCPPort.ID)
	if got := nsAddrs(t, ns, dev); !slices.Equal(got, []netip.Prefix{pfx("fd00:60::2/64")}) {
		t.Fatalf("%s in %s has %v, want fd00:60::2/64", dev, ns, got)
	}
	if gw := defaultRoute(t, ns, dev, netlink.FAMILY_V6); gw != addr("fd00:60::1") {
		t.Fatalf("IPv6 default route of %s via %v, want fd00:60::1", ns, gw)
	}

	t.Run("dhcpv6-stateful gives the fixed IP", func(t *testing.T) {
		vm := b.plugVM("v6a", vmMAC, n.ID, b.node)
		env := b.dhclient6(t, vm, false)
		if env["new_ip6_address"] != "fd00:60::4" {
			t.Fatalf("dhclient -6 got address %q, want fd00:60::4 (event %v)", env["new_ip6_address"], env)
		}
		// No dns_nameservers on the subnet: dnsmasq offers itself.
		if env["new_dhcp6_name_servers"] != "fd00:60::2" {
			t.Errorf("DNS servers %q, want fd00:60::2 (the DHCP port)", env["new_dhcp6_name_servers"])
		}
		if got := nsAddrs(t, vm, "eth0"); !slices.ContainsFunc(got, func(p netip.Prefix) bool { return p.Addr() == addr("fd00:60::4") }) {
			t.Fatalf("VM eth0 has %v, want fd00:60::4", got)
		}
		ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
		defer cancel()
		// DHCPv6 gives a /128; that the /64 is on-link is said by router
		// advertisements (the L3 agent's radvd in Neutron), which this
		// bed has no router to send: add the route an RA would give.
		if out, err := lab.Exec(ctx, vm, "ip", "-6", "route", "add", "fd00:60::/64", "dev", "eth0"); err != nil {
			t.Fatalf("on-link route: %v\n%s", err, out)
		}
		if out, err := lab.Exec(ctx, vm, "ping", "-6", "-c", "1", "-w", "15", "fd00:60::2"); err != nil {
			t.Fatalf("VM cannot reach the DHCP port at fd00:60::2: %v\n%s", err, out)
		}
	})

	t.Run("dhcpv6-stateless answers with options only; slaac gets no DHCP", func(t *testing.T) {
		n.Subnets = []Subnet{
			{ID: "sub-sl", CIDR: pfx("fd00:61::/64"), IPVersion: 6, Gateway: addr("fd00:61::1"), EnableDHCP: true,
				DNSNameservers: []netip.Addr{addr("fd00:61::53")}, IPv6RAMode: dhcpv6Stateless, IPv6AddressMode: dhcpv6Stateless},
			{ID: "sub-slaac", CIDR: pfx("fd00:62::/64"), IPVersion: 6, EnableDHCP: true, IPv6RAMode: ipv6SLAAC, IPv6AddressMode: ipv6SLAAC},
		}
		// Both are auto-address subnets: ports have their EUI-64 addresses.
		n.DHCPPort.FixedIPs = []FixedIP{{SubnetID: "sub-sl", Address: addr("fd00:61::f816:3eff:fe00:6002")},
			{SubnetID: "sub-slaac", Address: addr("fd00:62::f816:3eff:fe00:6002")}}
		n.Ports[0].FixedIPs = []FixedIP{{SubnetID: "sub-sl", Address: addr("fd00:61::f816:3eff:fe00:6004")},
			{SubnetID: "sub-slaac", Address: addr("fd00:62::f816:3eff:fe00:6004")}}
		b.apply(State{Networks: []Network{n}})
		want := []netip.Prefix{pfx("fd00:61::f816:3eff:fe00:6002/64"), pfx("fd00:62::f816:3eff:fe00:6002/64")}
		if got := nsAddrs(t, ns, dev); !slices.Equal(got, want) {
			t.Fatalf("%s has %v, want %v (the stateful address gone)", dev, got, want)
		}
		if gw := defaultRoute(t, ns, dev, netlink.FAMILY_V6); gw != addr("fd00:61::1") {
			t.Fatalf("IPv6 default route via %v, want fd00:61::1", gw)
		}
		cmd := strings.Join(b.app.cmdline(n), " ")
		if !strings.Contains(cmd, "--dhcp-range=set:subnet-sub-sl,fd00:61::,static,64,") || strings.Contains(cmd, "sub-slaac") {
			t.Fatalf("dnsmasq command line %q: want a static range for the stateless subnet and none for SLAAC", cmd)
		}
		vm := b.plugVM("v6b", vmMAC, n.ID, b.node)
		env := b.dhclient6(t, vm, true)
		if env["new_dhcp6_name_servers"] != "fd00:61::53" || env["new_ip6_address"] != "" {
			t.Fatalf("information-request got DNS %q and address %q, want fd00:61::53 and none (event %v)",
				env["new_dhcp6_name_servers"], env["new_ip6_address"], env)
		}
	})

	t.Run("no IPv6 subnet left: IPv6 off on the device", func(t *testing.T) {
		n.Subnets = []Subnet{{ID: "sub-4", CIDR: pfx("192.168.60.0/24"), IPVersion: 4, Gateway: addr("192.168.60.1"), EnableDHCP: true}}
		n.DHCPPort.FixedIPs = []FixedIP{{SubnetID: "sub-4", Address: addr("192.168.60.2")}}
		n.Ports[0].FixedIPs = []FixedIP{{SubnetID: "sub-4", Address: addr("192.168.60.4")}}
		b.apply(State{Networks: []Network{n}})
		if got := nsAddrs(t, ns, dev); len(got) != 0 {
			t.Fatalf("%s still has IPv6 addresses %v", dev, got)
		}
		var v string
		if err := lab.InNS(ns, func() error {
			b, err := os.ReadFile("/proc/sys/net/ipv6/conf/" + dev + "/disable_ipv6")
			v = strings.TrimSpace(string(b))
			return err
		}); err != nil || v != "1" {
			t.Fatalf("disable_ipv6 on %s = %q (%v), want 1", dev, v, err)
		}
	})
}

// defaultRoute is the gateway of dev's default route of family in ns.
func defaultRoute(t *testing.T, ns, dev string, family int) netip.Addr {
	t.Helper()
	h, err := lab.Handle(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	l, err := h.LinkByName(dev)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := h.RouteList(l, family)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if (r.Dst == nil || isDefault(r.Dst)) && r.Gw != nil {
			a, _ := netip.AddrFromSlice(r.Gw)
			return a.Unmap()
		}
	}
	return netip.Addr{}
}
