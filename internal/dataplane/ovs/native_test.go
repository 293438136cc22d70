package ovs

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"neutrino/internal/dataplane"
	"neutrino/internal/dataplane/dataplanetest"
	"neutrino/internal/openflow"
)

// The native OpenFlow client (ofnative.go, internal/openflow) must
// install exactly the flows the generators want: every shape is sent
// through it to a real ovs-vswitchd and read back with ovs-ofctl
// dump-flows, and the read-back must equal the wanted text, the same
// comparison (Diff) the data plane relies on to find nothing to do.

// portE has a rule of every remaining shape ruleMatches makes: IPv6 port
// ranges from a prefix, protocols without a keyword (nw_proto), egress to
// a prefix, an IPv6 remote group, ICMPv6 type and code, SCTP, and an IPv6
// allowed prefix.
const portE = "eeeeeeee-0000-4000-8000-000000000005"

func shapesState() (dataplane.NodeState, Layout) {
	s, l := fwState()
	s.Ports[portE] = dataplane.LocalPort{ID: portE, NetworkID: fwNet, MAC: "fa:16:3e:00:00:0e"}
	s.Firewall.Ports[portE] = dataplane.PortFilter{PortID: portE, NetworkID: fwNet, MAC: "fa:16:3e:00:00:0e", PortSecurity: true, Stateful: true,
		Allowed: []dataplane.AllowedAddress{
			{MAC: "fa:16:3e:00:00:0e", Prefix: host("10.0.0.14")},
			{MAC: "fa:16:3e:00:00:0e", Prefix: netip.MustParsePrefix("2001:db8:e::/64")},
		},
		Rules: []dataplane.Rule{
			{Direction: "ingress", Ethertype: "IPv6", Protocol: 6, PortMin: 8000, PortMax: 8999, RemotePrefix: netip.MustParsePrefix("2001:db8:1::/48")},
			{Direction: "ingress", Ethertype: "IPv4", Protocol: 47},
			{Direction: "ingress", Ethertype: "IPv6", Protocol: 47},
			{Direction: "ingress", Ethertype: "IPv6", Protocol: 58, PortMin: 128, PortMax: 0},
			{Direction: "ingress", Ethertype: "IPv4", Protocol: 132, PortMin: 9000, PortMax: 9000},
			{Direction: "ingress", Ethertype: "IPv6", Protocol: 17, PortMin: 53, PortMax: 53},
			{Direction: "egress", Ethertype: "IPv4", Protocol: 6, PortMin: 443, PortMax: 443, RemotePrefix: netip.MustParsePrefix("203.0.113.0/24")},
			{Direction: "egress", Ethertype: "IPv4", Protocol: 17, PortMin: 1, PortMax: 65535},
			{Direction: "egress", Ethertype: "IPv6", RemoteGroup: sgDef},
		}}
	l.Ofports[portE] = 6
	return s, l
}

type flowCase struct {
	name  string
	flows []Flow
}

// generatorCases are every flow shape the generators make, from the
// inputs of their golden tests.
func generatorCases() []flowCase {
	var out []flowCase
	s, l := node1State()
	out = append(out, flowCase{"br-tun, Neutron's node 1", TunFlows(s, l)})
	for _, c := range tunGoldenCases() {
		out = append(out, flowCase{"br-tun, " + c.name, TunFlows(c.state, c.l)})
	}
	out = append(out, flowCase{"br-int", IntFlows(Layout{Cookie: 9})})
	for _, c := range []struct {
		name  string
		state func() (dataplane.NodeState, Layout)
	}{{"br-int firewall", fwState}, {"br-int firewall, shared MACs", sharedMACState}, {"br-int firewall, every rule shape", shapesState}} {
		s, l := c.state()
		out = append(out, flowCase{c.name, intFlowSet(s, l, newFwIDs(), nil).all()})
	}
	s, l = providerState()
	out = append(out, flowCase{"br-int provider networks", IntProviderFlows(s, l)},
		flowCase{"br-ex", PhysFlows(s, l, "physnet1")}, flowCase{"br-vlan", PhysFlows(s, l, "physnet2")})
	return out
}

// newFlowBridge adds a bridge for flows only (as the data plane sets its
// bridges up: netdev, secure, OpenFlow 1.0, 1.3 and 1.4).
func newFlowBridge(t *testing.T, ctx context.Context, n *ovsNode, br string) {
	t.Helper()
	if out, err := n.ovs.Vsctl(ctx, "--timeout=20", "add-br", br, "--", "set", "Bridge", br, "datapath_type=netdev",
		"fail_mode=secure", "protocols=OpenFlow10,OpenFlow13,OpenFlow14"); err != nil {
		t.Fatalf("add-br %s: %v: %s", br, err, out)
	}
}

func addLines(fs []Flow, cookie uint64) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.AddLine(cookie)
	}
	return out
}

// expectHeld reads the bridge back with ovs-ofctl and requires exactly
// want, with our cookie, text for text.
func expectHeld(t *testing.T, ctx context.Context, fc FlowClient, br string, want []Flow, cookie uint64) {
	t.Helper()
	have, err := fc.DumpFlows(ctx, br)
	if err != nil {
		t.Fatal(err)
	}
	if p := Diff(want, have, cookie); !p.Empty() || len(have) != len(want) || p.OurFlows != len(want) {
		var got []string
		for _, f := range have {
			got = append(got, f.String())
		}
		t.Fatalf("%s holds %d flows (%d ours), want %d; plan to fix it: %q\nheld:\n%s", br, len(have), p.OurFlows, len(want),
			p.Lines(), strings.Join(got, "\n"))
	}
}

func TestNativeFlowsReadBackExactly(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	_, nodes := newOVSLab(t, ctx, "of")
	n := nodes["of"]
	const br, cookie = "br-of", 0xc0ffee
	newFlowBridge(t, ctx, n, br)
	nf := newNativeFlows(n.ovs.RunDir, "ovs-ofctl", testLogger(t))
	defer nf.Close()
	for _, c := range generatorCases() {
		t.Run(c.name, func(t *testing.T) {
			if err := nf.Bundle(ctx, br, addLines(c.flows, cookie)); err != nil {
				t.Fatal(err)
			}
			expectHeld(t, ctx, nf, br, c.flows, cookie)
			// Strict deletes take exactly their flows.
			var del []string
			var keep []Flow
			for i, f := range c.flows {
				if i%2 == 0 {
					del = append(del, f.DeleteStrictLine(cookie))
				} else {
					keep = append(keep, f)
				}
			}
			if err := nf.Bundle(ctx, br, del); err != nil {
				t.Fatal(err)
			}
			expectHeld(t, ctx, nf, br, keep, cookie)
			if err := nf.Bundle(ctx, br, Plan{StaleCookies: []uint64{cookie}}.Lines()); err != nil {
				t.Fatal(err)
			}
			expectHeld(t, ctx, nf, br, nil, cookie)
		})
	}
	if d := nf.client(br).Dials(); d != 1 {
		t.Errorf("%d connections for %d bundles, want one kept open", d, 3*len(generatorCases()))
	}
}

// A bundle with one flow the switch rejects changes nothing, and the
// error names that flow; so does one our parser refuses.
func TestNativeBundleAtomic(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	_, nodes := newOVSLab(t, ctx, "of")
	n := nodes["of"]
	const br, cookie = "br-of", 0xabc
	newFlowBridge(t, ctx, n, br)
	nf := newNativeFlows(n.ovs.RunDir, "ovs-ofctl", testLogger(t))
	defer nf.Close()
	base := []Flow{{Table: 0, Priority: 1, Match: "in_port=1", Actions: "goto_table:2"}, {Table: 2, Priority: 0, Actions: "drop"}}
	if err := nf.Bundle(ctx, br, addLines(base, cookie)); err != nil {
		t.Fatal(err)
	}
	good := Flow{Table: 0, Priority: 2, Match: "in_port=2", Actions: "drop"}
	for _, bad := range []Flow{
		{Table: 10, Priority: 5, Match: "nw_src=10.0.0.1", Actions: "drop"}, // no ip: OFPBMC_BAD_PREREQ
		{Table: 10, Priority: 5, Actions: "goto_table:3"},                   // backwards: OFPBRC_BAD_TABLE_ID
	} {
		lines := []string{good.AddLine(cookie), bad.AddLine(cookie), base[1].DeleteStrictLine(cookie)}
		err := nf.Bundle(ctx, br, lines)
		var oe *openflow.Error
		if err == nil || !strings.Contains(err.Error(), lines[1]) || strings.Contains(err.Error(), lines[0]) || !errors.As(err, &oe) {
			t.Errorf("bundle with %q: error %v, want the switch's error naming that flow only", lines[1], err)
		}
		expectHeld(t, ctx, nf, br, base, cookie)
	}
	unsupported := "add cookie=0xabc,table=0,priority=9 actions=mod_nw_tos:4"
	if err := nf.Bundle(ctx, br, []string{good.AddLine(cookie), unsupported}); err == nil || !strings.Contains(err.Error(), "mod_nw_tos") {
		t.Errorf("bundle with %q: error %v, want a parse error naming it", unsupported, err)
	}
	expectHeld(t, ctx, nf, br, base, cookie)
}

// ovs-vswitchd restarts (new socket, no flows): the next bundle goes out
// on a new connection without the caller doing anything.
func TestNativeReconnectAfterVswitchdRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	_, nodes := newOVSLab(t, ctx, "of")
	n := nodes["of"]
	const br, cookie = "br-of", 0xdef
	newFlowBridge(t, ctx, n, br)
	nf := newNativeFlows(n.ovs.RunDir, "ovs-ofctl", testLogger(t))
	defer nf.Close()
	first := []Flow{{Table: 0, Priority: 1, Match: "in_port=1", Actions: "NORMAL"}}
	if err := nf.Bundle(ctx, br, addLines(first, cookie)); err != nil {
		t.Fatal(err)
	}
	expectHeld(t, ctx, nf, br, first, cookie)
	if err := n.ovs.RestartVswitchd(ctx); err != nil {
		t.Fatal(err)
	}
	expectHeld(t, ctx, nf, br, nil, cookie) // a restarted switch has no flows
	second := []Flow{{Table: 0, Priority: 2, Match: "in_port=2", Actions: "NORMAL"}}
	if err := nf.Bundle(ctx, br, addLines(second, cookie)); err != nil {
		t.Fatalf("bundle after ovs-vswitchd restarted: %v", err)
	}
	expectHeld(t, ctx, nf, br, second, cookie)
	if d := nf.client(br).Dials(); d != 2 {
		t.Errorf("%d connections, want 2 (one reconnect)", d)
	}
}

// The data plane uses the native client unless told otherwise, and both
// clients leave the same flows (the whole-Apply tests run with the
// default).
func TestOFInterfaceChoice(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	_, nodes := newOVSLab(t, ctx, "of")
	n := nodes["of"]
	if _, ok := n.dp.flows.(*nativeFlows); !ok {
		t.Fatalf("default flow client is %T, want the native one", n.dp.flows)
	}
	s := dataplanetest.L2PopState(n.node.IP(), 2, 3, 2)
	if err := n.dp.Apply(ctx, s); err != nil {
		t.Fatal(err)
	}
	native, err := n.dp.flows.DumpFlows(ctx, "br-tun")
	if err != nil {
		t.Fatal(err)
	}
	dp, err := New(ctx, Config{OVSDB: n.ovs.OVSDB(), DatapathType: "netdev", OFInterface: OFOfctl, Cookie: n.dp.Cookie()}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer dp.Close()
	if _, ok := dp.flows.(ofctl); !ok {
		t.Fatalf("of_interface ovs-ofctl gave %T", dp.flows)
	}
	// Same cookie, same state: the ovs-ofctl data plane's read-back finds
	// nothing to change.
	if err := dp.Apply(ctx, s); err != nil {
		t.Fatal(err)
	}
	if st := dp.LastApply(); st.FlowAdds+st.FlowDeletes+st.StaleCookies != 0 || st.ReadBacks != 2 {
		t.Errorf("ovs-ofctl data plane after the native one: %+v, want a read-back with nothing to change", st)
	}
	if _, err := New(ctx, Config{OVSDB: n.ovs.OVSDB(), OFInterface: "ryu"}, testLogger(t)); err == nil {
		t.Error("of_interface ryu accepted")
	}
	if len(native) == 0 {
		t.Error("no flows on br-tun after the native Apply")
	}
}
