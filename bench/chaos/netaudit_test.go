package main

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"neutrino/internal/dhcp"
	"neutrino/internal/l3"
	"neutrino/internal/lab"
)

// auditLab is a lab with one node, removed with the test.
func auditLab(t *testing.T) (context.Context, *lab.Node) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test builds network namespaces and needs root")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	l, err := lab.New(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Teardown(context.Background()); err != nil {
			t.Errorf("teardown: %v", err)
		}
	})
	n, err := l.AddNode(ctx, "net")
	if err != nil {
		t.Fatal(err)
	}
	return ctx, n
}

// wantNamed fails unless every want is a substring of some difference.
func wantNamed(t *testing.T, what string, diffs []string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !slices.ContainsFunc(diffs, func(d string) bool { return strings.Contains(d, w) }) {
			t.Errorf("%s: no difference names %q: %q", what, w, diffs)
		}
	}
}

func nsRun(t *testing.T, ns string, argv ...string) {
	t.Helper()
	if out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, argv...)...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(argv, " "), err, out)
	}
}

// TestRouterAuditNamesDifferences: a router namespace made by the L3
// agent's own applier audits clean against its plan; each thing changed
// by hand behind the agent's back (an address removed and one added, the
// default route deleted, a NAT chain flushed, forwarding off, a stray qr-
// device) is named.
func TestRouterAuditNamesDifferences(t *testing.T) {
	ctx, node := auditLab(t)
	r := l3.Router{ID: uuid.NewString(),
		Interfaces: []l3.Port{{ID: uuid.NewString(), NetworkID: uuid.NewString(), MAC: "fa:16:3e:00:01:01", MTU: 1450,
			Addresses: []netip.Prefix{netip.MustParsePrefix("192.168.1.1/24")}}},
		Gateway: &l3.Gateway{Port: l3.Port{ID: uuid.NewString(), NetworkID: uuid.NewString(), MAC: "fa:16:3e:00:64:02", MTU: 1500,
			Addresses: []netip.Prefix{netip.MustParsePrefix("198.18.200.10/24")}}, NextHops: []netip.Addr{netip.MustParseAddr("198.18.200.1")}, EnableSNAT: true},
		FloatingIPs: []l3.FloatingIP{{ID: "f1", FloatingIP: netip.MustParseAddr("198.18.200.20"), FixedIP: netip.MustParseAddr("192.168.1.5")}}}
	cfg := l3.Config{StateDir: t.TempDir(), Driver: l3.BridgeDriver{}, HostNS: node.NS}
	app := l3.NewApplier(cfg)
	t.Cleanup(func() {
		app.Close()
		if err := l3.NewApplier(cfg).Remove(context.Background()); err != nil {
			t.Errorf("remove the router: %v", err)
		}
		if lab.NSExists(l3.Namespace(r.ID)) {
			t.Errorf("%s left behind", l3.Namespace(r.ID))
		}
	})
	if _, err := app.Apply(ctx, l3.State{Routers: []l3.Router{r}}); err != nil {
		t.Fatal(err)
	}
	p := l3.Plan(r)
	if d := checkRouter(p); len(d) > 0 {
		t.Fatalf("the applied router differs from its plan: %q", d)
	}
	ns, qr := p.Namespace, l3.InternalDevice(r.Interfaces[0].ID)
	nsRun(t, ns, "ip", "addr", "del", "192.168.1.1/24", "dev", qr)
	nsRun(t, ns, "ip", "addr", "add", "192.168.9.1/24", "dev", qr)
	nsRun(t, ns, "ip", "route", "del", "default")
	nsRun(t, ns, "nft", "flush", "chain", "ip", l3.NATTable, "postrouting")
	nsRun(t, ns, "sysctl", "-qw", "net.ipv4.ip_forward=0")
	nsRun(t, ns, "ip", "link", "add", "qr-stray", "type", "veth", "peer", "name", "stray-peer")
	wantNamed(t, "tampered router", checkRouter(p),
		"missing device "+qr+" address 192.168.1.1/24",
		"extra device "+qr+" address 192.168.9.1/24",
		"missing route default via 198.18.200.1 dev "+l3.GatewayDevice(r.Gateway.Port.ID),
		"NAT chain postrouting holds 0 rules",
		"sysctl net.ipv4.ip_forward = 0, want 1",
		"extra device qr-stray")
	if err := lab.DeleteNS(ns); err != nil {
		t.Fatal(err)
	}
	wantNamed(t, "router without its namespace", checkRouter(p), "missing namespace "+ns)
}

// TestDHCPAuditNamesDifferences: a network served by the DHCP agent's
// own applier (a real dnsmasq) audits clean; a host file edited behind
// its back, the namespace device's address removed and the dnsmasq
// killed are each named.
func TestDHCPAuditNamesDifferences(t *testing.T) {
	if _, err := exec.LookPath("dnsmasq"); err != nil {
		t.Fatalf("dnsmasq is not installed (scripts/deps.sh installs dnsmasq-base): %v", err)
	}
	ctx, node := auditLab(t)
	sub := dhcp.Subnet{ID: uuid.NewString(), CIDR: netip.MustParsePrefix("192.168.5.0/24"), IPVersion: 4,
		Gateway: netip.MustParseAddr("192.168.5.1"), EnableDHCP: true}
	dp := dhcp.Port{ID: uuid.NewString(), MAC: "fa:16:3e:00:05:02", DeviceOwner: "network:dhcp",
		FixedIPs: []dhcp.FixedIP{{SubnetID: sub.ID, Address: netip.MustParseAddr("192.168.5.2")}}}
	vmPort := dhcp.Port{ID: uuid.NewString(), MAC: "fa:16:3e:00:05:07", DeviceOwner: "compute:nova",
		FixedIPs: []dhcp.FixedIP{{SubnetID: sub.ID, Address: netip.MustParseAddr("192.168.5.7")}}}
	n := dhcp.Network{ID: uuid.NewString(), MTU: 1450, Subnets: []dhcp.Subnet{sub}, DHCPPort: dp, Ports: []dhcp.Port{dp, vmPort}}
	o := dhcp.DefaultOptions(t.TempDir())
	cfg := dhcp.Config{Options: o, HostNS: node.NS}
	t.Cleanup(func() {
		if err := dhcp.NewApplier(cfg).Remove(context.Background()); err != nil {
			t.Errorf("remove the network: %v", err)
		}
	})
	if err := dhcp.NewApplier(cfg).Apply(ctx, dhcp.State{Networks: []dhcp.Network{n}}); err != nil {
		t.Fatal(err)
	}
	if d := checkDHCPNetwork(n, o); len(d) > 0 {
		t.Fatalf("the served network differs from what the agent must hold: %q", d)
	}
	if err := os.WriteFile(o.File(n.ID, "host"), []byte("fa:16:3e:00:05:99,host-192-168-5-99.openstacklocal,192.168.5.99\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	nsRun(t, dhcp.Namespace(n.ID), "ip", "addr", "flush", "dev", dhcp.NSDevice(dp.ID))
	wantNamed(t, "tampered network", checkDHCPNetwork(n, o),
		"host file holds", "missing device "+dhcp.NSDevice(dp.ID)+" address 192.168.5.2/24")
	b, err := os.ReadFile(o.File(n.ID, "pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid := strings.TrimSpace(string(b))
	if out, err := exec.Command("kill", "-9", pid).CombinedOutput(); err != nil {
		t.Fatalf("kill dnsmasq %s: %v: %s", pid, err, out)
	}
	if err := waitUntil(ctx, time.Minute, "dnsmasq gone", func() (bool, string) {
		_, err := os.Stat("/proc/" + pid + "/cmdline")
		c, _ := os.ReadFile("/proc/" + pid + "/cmdline")
		return err != nil || len(c) == 0, ""
	}); err != nil {
		t.Fatal(err)
	}
	wantNamed(t, "network without its dnsmasq", checkDHCPNetwork(n, o), "dnsmasq not running")
}
