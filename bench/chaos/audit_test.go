package main

import (
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

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
		r := newReport(1, dbPostgres)
		r.Loss[betweenFaults] = &probeLoss{Sent: 100, Lost: tc.between, MaxRun: tc.between}
		r.Loss[faultOVSDB] = &probeLoss{Sent: 100, Lost: tc.during, MaxRun: tc.during}
		got := slices.ContainsFunc(r.goalsMissed(), func(s string) bool { return strings.HasPrefix(s, "an outage") })
		if got != tc.outage {
			t.Errorf("%d lost in a row between faults, %d during: outage %v, want %v (%v)", tc.between, tc.during, got, tc.outage, r.goalsMissed())
		}
	}
}
