package nftfw_test

import (
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"neutrino/internal/dataplane"
	"neutrino/internal/dataplane/nftfw"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs; got:\n%s", name, got)
	}
}

func plan(t *testing.T, in nftfw.Input, cur nftfw.Ruleset) nftfw.Ruleset {
	t.Helper()
	r, err := nftfw.Plan(in, cur)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestPlanGolden: the whole ruleset of two ports with every kind of rule.
func TestPlanGolden(t *testing.T) {
	golden(t, "rich.nft", plan(t, richInput(), nftfw.Ruleset{}).Render())
}

// TestPlanNothingToFilter: noop, port security off and no VTEPs give no
// table at all; VTEPs alone give only the underlay filter.
func TestPlanNothingToFilter(t *testing.T) {
	in := richInput()
	in.Firewall.VTEPs = nil
	for name, mod := range map[string]func(*nftfw.Input){
		"noop":               func(in *nftfw.Input) { in.Firewall.Driver = "noop" },
		"no driver":          func(in *nftfw.Input) { in.Firewall.Driver = "" },
		"openvswitch":        func(in *nftfw.Input) { in.Firewall.Driver = "openvswitch" },
		"no port security":   func(in *nftfw.Input) { in.Firewall.Ports = offPorts(in.Firewall.Ports) },
		"no tap present yet": func(in *nftfw.Input) { in.Ifaces = nil },
	} {
		c := in
		c.Firewall.Ports = clonePorts(in.Firewall.Ports)
		mod(&c)
		if r := plan(t, c, nftfw.Ruleset{}); len(r.Tables) != 0 {
			t.Errorf("%s: planned\n%s", name, r.Render())
		}
	}
	u := nftfw.Input{Firewall: dataplane.Firewall{Driver: "noop", VTEPs: []netip.Addr{netip.MustParseAddr("198.18.0.101"),
		netip.MustParseAddr("2001:db8::1")}}, VXLANPort: 4789}
	golden(t, "underlay.nft", plan(t, u, nftfw.Ruleset{}).Render())
}

func clonePorts(m map[string]dataplane.PortFilter) map[string]dataplane.PortFilter {
	out := map[string]dataplane.PortFilter{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

func offPorts(m map[string]dataplane.PortFilter) map[string]dataplane.PortFilter {
	out := clonePorts(m)
	for k, v := range out {
		v.PortSecurity = false
		out[k] = v
	}
	return out
}

// change is one kind of change to richInput.
type change struct {
	name string
	mod  func(*nftfw.Input)
}

// changed returns a deep enough copy of base with c applied.
func changed(base nftfw.Input, c change) nftfw.Input {
	in := base
	in.Firewall.Ports = clonePorts(base.Firewall.Ports)
	in.Firewall.RemoteGroups = map[string][]netip.Prefix{}
	for k, v := range base.Firewall.RemoteGroups {
		in.Firewall.RemoteGroups[k] = append([]netip.Prefix(nil), v...)
	}
	in.Ifaces = map[string]nftfw.Iface{}
	for k, v := range base.Ifaces {
		in.Ifaces[k] = v
	}
	c.mod(&in)
	return in
}

func changes() []change {
	return []change{
		{"same input", func(*nftfw.Input) {}},
		{"a member joins a remote group", func(in *nftfw.Input) {
			in.Firewall.RemoteGroups[sgDef] = append(in.Firewall.RemoteGroups[sgDef], pfx("192.168.1.77/32"))
		}},
		{"a member leaves a remote group", func(in *nftfw.Input) {
			in.Firewall.RemoteGroups[sgDef] = in.Firewall.RemoteGroups[sgDef][1:]
		}},
		{"a rule is added to one port", func(in *nftfw.Input) {
			p := in.Firewall.Ports[portB]
			p.Rules = append(append([]dataplane.Rule(nil), p.Rules...), dataplane.Rule{Direction: "ingress", Ethertype: "IPv4", Protocol: 6, PortMin: 80, PortMax: 80})
			in.Firewall.Ports[portB] = p
		}},
		{"a port goes", func(in *nftfw.Input) { delete(in.Firewall.Ports, portB) }},
		{"a port's security is turned off", func(in *nftfw.Input) {
			p := in.Firewall.Ports[portA]
			p.PortSecurity = false
			in.Firewall.Ports[portA] = p
		}},
		{"a port on a second network comes", func(in *nftfw.Input) {
			c := dataplane.PortFilter{PortID: "c", NetworkID: "n2", MAC: "fa:16:3e:00:00:03", PortSecurity: true, Stateful: true,
				Allowed: []dataplane.AllowedAddress{{MAC: "fa:16:3e:00:00:03", Prefix: pfx("192.168.1.4/32")}},
				Rules:   []dataplane.Rule{{Direction: "egress", Ethertype: "IPv4"}}}
			in.Firewall.Ports["c"] = c
			in.Ifaces["c"] = nftfw.Iface{Name: "tapc", Bridge: "brqn2"}
		}},
		{"a VTEP joins", func(in *nftfw.Input) {
			in.Firewall.VTEPs = append(in.Firewall.VTEPs, netip.MustParseAddr("198.18.0.103"))
		}},
		{"the last port goes", func(in *nftfw.Input) { in.Firewall.Ports = nil }},
		{"everything goes", func(in *nftfw.Input) { in.Firewall = dataplane.Firewall{} }},
	}
}

// TestDiffCosts: each kind of change costs what changed, shown as the nft
// commands of its transaction.
func TestDiffCosts(t *testing.T) {
	base := richInput()
	cur := plan(t, base, nftfw.Ruleset{})
	var b strings.Builder
	for _, c := range changes() {
		ops := nftfw.Diff(cur, plan(t, changed(base, c), cur))
		b.WriteString("# " + c.name + " (cost " + strconv.Itoa(nftfw.Cost(ops)) + ")\n")
		for _, o := range ops {
			b.WriteString(o.String() + "\n")
		}
		b.WriteString("\n")
	}
	golden(t, "diffs.txt", b.String())
}

// TestPlanKeepsIndices: a port's mark index and a bridge's zone survive
// other ports coming and going, as read back from the kernel.
func TestPlanKeepsIndices(t *testing.T) {
	in := richInput()
	first := plan(t, in, nftfw.Ruleset{})
	delete(in.Firewall.Ports, portA) // portA had index 1
	second := plan(t, in, first)
	if !strings.Contains(second.Render(), "0x00020000 : jump egress-tap9a1b2c3d-00") {
		t.Errorf("portB lost its index when portA went:\n%s", second.Render())
	}
	in = richInput()
	third := plan(t, in, second)
	r := third.Render()
	if !strings.Contains(r, "0x00010000 : jump egress-tap4f63feaf-e9") || !strings.Contains(r, "0x00020000 : jump egress-tap9a1b2c3d-00") {
		t.Errorf("indices after portA came back:\n%s", r)
	}
}

// TestGroupElems: nested prefixes collapse into the outer one (the kernel
// refuses overlapping intervals), adjacent ones stay separate elements.
func TestGroupElems(t *testing.T) {
	in := richInput()
	in.Firewall.RemoteGroups[sgDef] = []netip.Prefix{pfx("10.0.0.0/8"), pfx("10.1.2.3/32"), pfx("192.168.1.4/32"),
		pfx("192.168.1.5/32"), pfx("::ffff:192.168.9.9/128"), pfx("fd00::/64"), pfx("fd00::9/128"), pfx("0.0.0.0/1")}
	r := plan(t, in, nftfw.Ruleset{})
	got := elemsText(r.Table(nftfw.Inet).Set(nftfw.RemoteSetName(sgDef, false))) + " | " +
		elemsText(r.Table(nftfw.Inet).Set(nftfw.RemoteSetName(sgDef, true)))
	want := "0.0.0.0/1, 192.168.1.4, 192.168.1.5, 192.168.9.9 | fd00::/64"
	if got != want {
		t.Errorf("elements %s, want %s", got, want)
	}
}
