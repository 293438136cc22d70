package main

import (
	"maps"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"neutrino/internal/lab"
	"neutrino/internal/neutron"
)

// TestAPIAgrees checks the end-of-run comparison of the database with
// what the API answered: each way a success can fail to be in the
// database (missing, other host, other address, other subnet) and each
// way something the workload deleted or never got can still be there.
func TestAPIAgrees(t *testing.T) {
	n1 := &tnet{name: "chaos-net-1", net: &neutron.Network{Standard: neutron.Standard{ID: "n1", Name: "chaos-net-1"}},
		sub: &neutron.Subnet{Standard: neutron.Standard{ID: "s1"}, NetworkID: "n1", CIDR: "10.10.0.0/24"}}
	port := func(id, host, ip string) neutron.Port {
		p := neutron.Port{Standard: neutron.Standard{ID: id, Name: "chaos-port-" + id}, NetworkID: "n1", MACAddress: "fa:16:3e:00:00:" + id,
			FixedIPs: []neutron.FixedIP{{SubnetID: "s1", IPAddress: ip}}}
		p.Binding.HostID = host
		return p
	}
	lb1, ovs1 := &node{Node: &lab.Node{Name: "lb-1"}}, &node{Node: &lab.Node{Name: "ovs-1"}}
	held := func(p neutron.Port, n *node, name string) vm { return vm{port: &p, node: n, net: n1, name: name} }

	good := map[string]vm{"01": held(port("01", "lb-1", "10.10.0.5"), lb1, "a"), "02": held(port("02", "ovs-1", "10.10.0.6"), ovs1, "b")}
	nets := map[string]*tnet{"n1": n1}
	st := &neutron.State{Networks: []neutron.Network{*n1.net}, Ports: []neutron.Port{port("01", "lb-1", "10.10.0.5"), port("02", "ovs-1", "10.10.0.6")}}
	subs := []neutron.Subnet{*n1.sub}
	if got := apiAgrees(st, subs, good, nets); len(got) != 0 {
		t.Fatalf("database equal to the API's answers: got %v", got)
	}

	bad := &neutron.State{
		Networks: []neutron.Network{*n1.net, {Standard: neutron.Standard{ID: "n9", Name: "chaos-net-9"}}},
		Ports: []neutron.Port{
			port("01", "ovs-1", "10.10.0.5"), // bound elsewhere
			port("03", "lb-1", "10.10.0.7"),  // deleted by the workload, still there
		},
	}
	bad.Ports = append(bad.Ports, port("04", "lb-1", "10.10.0.9"))
	withWrongIP := maps.Clone(good)
	withWrongIP["04"] = held(port("04", "lb-1", "10.10.0.8"), lb1, "c")
	got := apiAgrees(bad, []neutron.Subnet{{Standard: neutron.Standard{ID: "s1"}, NetworkID: "n1", CIDR: "10.10.1.0/24"}}, withWrongIP, nets)
	want := []string{
		`port 01 is bound to "ovs-1", the workload moved it to "lb-1"`,
		"port 02 the API created is missing",
		"port 03 (chaos-port-03) exists but the workload did not keep it",
		"port 04 holds network n1, MAC fa:16:3e:00:00:04, addresses [{s1 10.10.0.9}]; the API returned n1, fa:16:3e:00:00:04, [{s1 10.10.0.8}]",
		"network n9 (chaos-net-9) exists but the workload did not keep it",
		"subnet s1 (10.10.0.0/24 on network n1) the API created is missing or changed",
	}
	for _, w := range want {
		if !slices.ContainsFunc(got, func(g string) bool { return strings.HasPrefix(g, w) }) {
			t.Errorf("missing %q in\n%s", w, strings.Join(got, "\n"))
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d findings, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
}

// TestOrphans: a process is the run's own while its parent chain reaches
// the harness; one re-parented away (its starter was killed) is an orphan.
func TestOrphans(t *testing.T) {
	self := os.Getpid()
	ps := []markedProc{
		{pid: 100, ppid: self, cmd: "neutrino agent"},
		{pid: 101, ppid: 100, cmd: "ovs-ofctl"},
		{pid: 102, ppid: 101, cmd: "child of child"},
		{pid: 200, ppid: 1, cmd: "dnsmasq"},
		{pid: 201, ppid: 200, cmd: "its child"},
	}
	got := orphans(ps)
	want := []string{"orphaned process pid 200 (dnsmasq)", "orphaned process pid 201 (its child)"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestHasEnv(t *testing.T) {
	env := []byte("A=1\x00NEUTRINO_CHAOS_RUN=/tmp/x\x00B=2\x00")
	if !hasEnv(env, []byte("NEUTRINO_CHAOS_RUN=/tmp/x")) {
		t.Fatal("entry not found")
	}
	if hasEnv(env, []byte("NEUTRINO_CHAOS_RUN=/tmp")) {
		t.Fatal("a prefix of an entry matched")
	}
}

// TestOutageJudgedAgainstNoise: a run of lost echoes during a fault is an
// outage when it reaches outageRun and outlasts the longest run lost
// between faults in the same run.
func TestOutageJudgedAgainstNoise(t *testing.T) {
	for _, tc := range []struct {
		between, during int
		outage          bool
	}{
		{between: 1, during: 2, outage: false},
		{between: 1, during: 3, outage: true},
		{between: 4, during: 3, outage: false},
		{between: 4, during: 4, outage: false},
		{between: 4, during: 5, outage: true},
		{between: 0, during: 21, outage: true},
	} {
		f := &fault{N: 1, Kind: faultOVSDB, Start: t0, End: t0.Add(10 * time.Second)}
		pair := probeWith("lb-1->ovs-1", 100, 50+tc.between, tc.between) // lost between faults
		pair.sent, pair.replied = append(pair.sent, lostRun(t0.Add(time.Second), 5, tc.during)...), append(pair.replied, replies(5, tc.during)...)
		r := newReport(1, dbPostgres)
		r.probes([]*prober{pair}, []*fault{f}, t0.Add(time.Hour))
		got := slices.ContainsFunc(r.goalsMissed(), func(s string) bool { return strings.Contains(s, "outages during faults") })
		if got != tc.outage {
			t.Errorf("%d lost in a row between faults, %d during: outage %v, want %v (%v)", tc.between, tc.during, got, tc.outage, r.goalsMissed())
		}
	}
}

// TestOutageWithStalledControlNotJudged: an outage during a fault whose
// control probe through one of the pair's nodes lost an echo over the
// same span is a stall of the machine, listed and not judged; a control
// through other nodes, or one that lost nothing then, excuses nothing.
func TestOutageWithStalledControlNotJudged(t *testing.T) {
	f := &fault{N: 7, Kind: faultAgent, Start: t0, End: t0.Add(10 * time.Second)}
	at := t0.Add(2 * time.Second)
	for _, tc := range []struct {
		name      string
		ctlNode   string
		ctlLostAt time.Time
		judged    bool
	}{
		{"control of the pair's node lost then", "ovs-1", at.Add(100 * time.Millisecond), false},
		{"control of another node lost then", "lb-2", at.Add(100 * time.Millisecond), true},
		{"control of the pair's node lost later", "ovs-1", at.Add(5 * time.Second), true},
	} {
		pair := newProber("lb-1->ovs-1", "", netip.Addr{}, 1, probeInterval, "lb-1", "ovs-1")
		pair.sent, pair.replied = lostRun(at, 2, 6), replies(2, 6)
		ctl := newProber("control ctl-1->"+tc.ctlNode, "", netip.Addr{}, 2, probeInterval, tc.ctlNode)
		ctl.control = true
		ctl.sent, ctl.replied = []time.Time{tc.ctlLostAt}, []bool{false}
		r := newReport(1, dbPostgres)
		r.probes([]*prober{pair, ctl}, []*fault{f}, t0.Add(time.Hour))
		if len(r.Outages) != 1 || r.Outages[0].Lost != 6 || r.Outages[0].Fault != 7 {
			t.Fatalf("%s: outages %v, want one of 6 echoes in fault 7", tc.name, r.Outages)
		}
		if got := len(r.judgedOutages()) == 1; got != tc.judged {
			t.Errorf("%s: judged %v, want %v (%v)", tc.name, got, tc.judged, r.Outages)
		}
		if tc.judged && !slices.ContainsFunc(r.goalsMissed(), func(s string) bool { return strings.Contains(s, "lb-1->ovs-1 lost 6 in a row") }) {
			t.Errorf("%s: the goal does not name the pair: %v", tc.name, r.goalsMissed())
		}
	}
}

var t0 = time.Date(2026, 12, 5, 7, 0, 0, 0, time.UTC)

// probeWith is a pair with n echoes sent before t0 (between faults), the
// ones from lostFrom on lost, lost of them in a row.
func probeWith(name string, n, lostFrom, lost int) *prober {
	p := newProber(name, "", netip.Addr{}, 1, probeInterval)
	for i := 0; i < n; i++ {
		p.sent = append(p.sent, t0.Add(-time.Minute+time.Duration(i)*probeInterval))
		p.replied = append(p.replied, !(i >= lostFrom && i < lostFrom+lost))
	}
	return p
}

// lostRun is the send times of ok answered echoes, lost lost ones and ok
// answered ones again, from start; replies their answers.
func lostRun(start time.Time, ok, lost int) []time.Time {
	var out []time.Time
	for i := 0; i < 2*ok+lost; i++ {
		out = append(out, start.Add(time.Duration(i)*probeInterval))
	}
	return out
}

func replies(ok, lost int) []bool {
	var out []bool
	for i := 0; i < 2*ok+lost; i++ {
		out = append(out, i < ok || i >= ok+lost)
	}
	return out
}
