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
		r.probes([]*prober{pair}, []*fault{f}, nil, t0.Add(time.Hour))
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
		r.probes([]*prober{pair, ctl}, []*fault{f}, nil, t0.Add(time.Hour))
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

// TestLossRunCountedWhereItLies: a run of lost echoes is the row's of
// the window that holds most of it. One that began just before an
// ovs-vswitchd crash (the echoes in flight when the datapath stopped) is
// the crash's, not noise between faults: counted there, it set the
// outage floor of a 1,000-fault run to 62 (every such run of that run
// began 0-0.19 s before a crash or flap of a node on the pair's path).
// Losses before the first fault, while the deployment converged, are the
// setup's row and set no floor either.
func TestLossRunCountedWhereItLies(t *testing.T) {
	setup := &fault{Kind: setupKind, Start: t0.Add(-time.Minute), End: t0.Add(-50 * time.Second)}
	crash := &fault{N: 1, Kind: faultVswitchd, Start: t0, End: t0.Add(5 * time.Second)}
	ovsdb := &fault{N: 2, Kind: faultOVSDB, Start: t0.Add(10 * time.Second), End: t0.Add(12 * time.Second)}
	pair := newProber("lb-1->ovs-1", "", netip.Addr{}, 1, probeInterval, "lb-1", "ovs-1")
	add := func(start time.Time, ok, lost int) {
		pair.sent, pair.replied = append(pair.sent, lostRun(start, ok, lost)...), append(pair.replied, replies(ok, lost)...)
	}
	add(setup.Start, 2, 40)                                       // 40 lost while the deployment converged
	add(crash.Start.Add(-3*probeInterval-probeInterval/2), 2, 30) // 2 sent before the crash, 28 in it
	add(ovsdb.Start.Add(500*time.Millisecond), 2, 4)              // 4 in a row during an ovsdb-server kill
	r := newReport(1, dbPostgres)
	r.probes([]*prober{pair}, []*fault{setup, crash, ovsdb}, nil, t0.Add(time.Hour))
	if got := r.Loss[setupKind]; got == nil || got.Lost != 40 || got.MaxRun != 40 {
		t.Errorf("setup row %+v, want 40 lost, 40 in a row", got)
	}
	if got := r.Loss[faultVswitchd]; got == nil || got.MaxRun != 30 || got.Lost != 28 {
		t.Errorf("crash row %+v, want 28 lost in its window and the run of 30", got)
	}
	if got := r.Loss[betweenFaults]; got == nil || got.Lost != 2 || got.MaxRun != 0 {
		t.Errorf("between-faults row %+v, want the 2 echoes before the crash counted, no run of its own", got)
	}
	if f := r.outageFloor(); f != outageRun {
		t.Errorf("outage floor %d, want %d: no run lies between faults", f, outageRun)
	}
	if o := r.judgedOutages(); len(o) != 1 || o[0].Fault != 2 || o[0].Lost != 4 {
		t.Errorf("judged outages %v, want the 4 in a row of fault 2", o)
	}
	if len(r.Quiet) != 1 || r.Quiet[0].Kind != setupKind || r.Quiet[0].Lost != 40 ||
		!strings.Contains(r.Quiet[0].Context, "into the setup") {
		t.Errorf("quiet runs %v, want the setup's 40 named", r.Quiet)
	}
}

// TestQuietRunNamed: a run of lost echoes between faults is named with
// the pair, when, the fault before it and the workload steps under way.
func TestQuietRunNamed(t *testing.T) {
	f := &fault{N: 17, Kind: faultAgent, Target: "lb-2", Start: t0, End: t0.Add(2 * time.Second)}
	at := f.End.Add(1500 * time.Millisecond)
	pair := newProber("ovs-1->lb-3", "", netip.Addr{}, 1, probeInterval, "ovs-1", "lb-3")
	pair.sent, pair.replied = lostRun(at.Add(-2*probeInterval), 2, 51), replies(2, 51)
	steps := []workStep{
		{Start: at.Add(-5 * time.Second), End: at.Add(-3 * time.Second), What: "boot vm chaos-port-3 on lb-1 in chaos-net-1"},
		{Start: at.Add(-300 * time.Millisecond), End: at.Add(time.Second), What: "move vm chaos-port-9 lb-1->ovs-1"},
	}
	r := newReport(1, dbPostgres)
	r.probes([]*prober{pair}, []*fault{f}, steps, t0.Add(time.Hour))
	if len(r.Quiet) != 1 {
		t.Fatalf("quiet runs %v, want one", r.Quiet)
	}
	s := r.Quiet[0].String()
	for _, want := range []string{"ovs-1->lb-3 lost 51 in a row from 07:00:03.500", "1.50 s after fault 17 (agent-kill lb-2) converged",
		"move vm chaos-port-9 lb-1->ovs-1 (-0.30 s to +1.00 s)"} {
		if !strings.Contains(s, want) {
			t.Errorf("%q does not say %q", s, want)
		}
	}
	if strings.Contains(s, "boot vm") {
		t.Errorf("%q names a step that ended seconds before", s)
	}
	if r.Quiet[0].Fault != 17 || r.outageFloor() != 52 {
		t.Errorf("fault %d, floor %d: want 17 and 52 (the run is noise between faults)", r.Quiet[0].Fault, r.outageFloor())
	}
	var b strings.Builder
	r.print(&b)
	if !strings.Contains(b.String(), s) {
		t.Errorf("the printed report does not name the run:\n%s", b.String())
	}
}
