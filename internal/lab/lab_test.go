package lab

import (
	"context"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("lab tests create network namespaces and need root: run `make test` (as root)")
	}
}

// testLab is a new lab for one test (root checked first), torn down when
// the test ends, with nothing under its prefix left behind.
func testLab(t *testing.T, ctx context.Context) *Lab {
	t.Helper()
	needRoot(t)
	l, err := New(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Teardown(context.Background()); err != nil {
			t.Errorf("teardown: %v", err)
		}
		if left := leftovers(l.Prefix); len(left) > 0 {
			t.Errorf("left behind: %v", left)
		}
	})
	return l
}

func leftovers(prefix string) []string {
	names, _ := listNS(prefix)
	return names
}

// TestTopology: nodes reach each other over the underlay, a VM plugged
// into a node has its port's MAC, IP and MTU, and Teardown (twice) leaves
// no namespace behind.
func TestTopology(t *testing.T) {
	needRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := New(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := l.Teardown(ctx); err != nil {
			t.Errorf("teardown: %v", err)
		}
		if err := l.Teardown(ctx); err != nil {
			t.Errorf("second teardown: %v", err)
		}
		if left := leftovers(l.Prefix); len(left) > 0 {
			t.Errorf("left behind: %v", left)
		}
	}()
	if !strings.HasPrefix(l.Prefix, "nt-") || len(l.ID) != 6 {
		t.Errorf("prefix %q id %q", l.Prefix, l.ID)
	}
	a, err := l.AddNode(ctx, "controller")
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.AddNode(ctx, "compute1")
	if err != nil {
		t.Fatal(err)
	}
	if a.IP() != netip.MustParseAddr("198.18.0.101") || b.IP() != netip.MustParseAddr("198.18.0.102") {
		t.Errorf("underlay addresses %s %s", a.IP(), b.IP())
	}
	if _, err := l.AddNode(ctx, "controller"); err == nil {
		t.Error("a second node named controller was accepted")
	}
	if out, err := Exec(ctx, a.NS, "ping", "-c", "1", "-W", "2", b.IP().String()); err != nil {
		t.Errorf("controller -> compute1 on the underlay: %v\n%s", err, out)
	}
	vif := VIF{PortID: "4f63feaf-e92a-4045-8e45-d3160c99fb84", MAC: "fa:16:3e:12:34:56",
		Addr: netip.MustParsePrefix("192.168.1.4/24"), MTU: 1450, Gateway: netip.MustParseAddr("192.168.1.1")}
	vm, err := l.AddVM(ctx, b, "vm1", vif)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Exec(ctx, vm.NS, "ip", "-o", "addr", "show", "dev", "eth0")
	if err != nil || !strings.Contains(string(out), "192.168.1.4/24") {
		t.Errorf("VM address: %v %s", err, out)
	}
	out, err = Exec(ctx, vm.NS, "ip", "-o", "link", "show", "dev", "eth0")
	if err != nil || !strings.Contains(string(out), "fa:16:3e:12:34:56") || !strings.Contains(string(out), "mtu 1450") {
		t.Errorf("VM link: %v %s", err, out)
	}
	out, err = Exec(ctx, vm.NS, "ip", "route", "show", "default")
	if err != nil || !strings.Contains(string(out), "via 192.168.1.1") {
		t.Errorf("VM default route: %v %s", err, out)
	}
	out, err = Exec(ctx, b.NS, "ip", "-o", "link", "show", "dev", "tap4f63feaf-e9")
	if err != nil || !strings.Contains(string(out), "mtu 1450") || strings.Contains(string(out), "master") {
		t.Errorf("node tap (up, MTU, not enslaved): %v %s", err, out)
	}
	// Nothing of the lab is visible in the root namespace.
	if out, err := os.ReadFile("/proc/net/dev"); err == nil && strings.Contains(string(out), "tap4f63feaf") {
		t.Error("tap device visible in the root namespace")
	}
	if err := l.RemoveVM(ctx, vm); err != nil {
		t.Fatal(err)
	}
	if NSExists(vm.NS) {
		t.Error("VM namespace survived RemoveVM")
	}
	if _, err := Exec(ctx, b.NS, "ip", "link", "show", "dev", "tap4f63feaf-e9"); err == nil {
		t.Error("tap survived RemoveVM")
	}
}

// TestTeardownStopsProcesses: a process the lab started is gone after
// Teardown, and so are namespaces made under the prefix by someone else
// (as `neutrino vm boot` does).
func TestTeardownStopsProcesses(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	l, err := New(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := l.AddNode(ctx, "compute1")
	if err != nil {
		_ = l.Teardown(ctx)
		t.Fatal(err)
	}
	p, err := l.Start(n.NS, "sleep", "600")
	if err != nil {
		_ = l.Teardown(ctx)
		t.Fatal(err)
	}
	if err := PlugVIF(ctx, n.NS, l.Prefix+"-vm-other", VIF{PortID: "abc", MAC: "fa:16:3e:00:00:01", Addr: netip.MustParsePrefix("192.168.1.9/24")}); err != nil {
		t.Errorf("plug: %v", err)
	}
	if err := l.Teardown(ctx); err != nil {
		t.Errorf("teardown: %v", err)
	}
	select {
	case <-p.Done():
	default:
		t.Errorf("pid %d still running after teardown", p.PID())
	}
	if left := leftovers(l.Prefix); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

func TestTeardownPrefixRefusesForeign(t *testing.T) {
	if err := TeardownPrefix(context.Background(), "foo"); err == nil {
		t.Error("TeardownPrefix accepted a prefix that is not a lab's")
	}
}

func TestStateFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadState(dir); err == nil {
		t.Error("ReadState of an empty dir succeeded")
	}
	s := State{Prefix: "nt-abcdef", Mechanism: "linuxbridge", Hosts: map[string]Host{
		"compute1": {Namespace: "nt-abcdef-compute1", LocalIP: netip.MustParseAddr("198.18.0.102"), Mechanism: "linuxbridge"},
	}}
	if err := WriteState(dir, s); err != nil {
		t.Fatal(err)
	}
	if err := UpdateState(dir, func(s *State) error {
		s.VMs = map[string]VMRecord{"id1": {Name: "vm1", Host: "compute1", Namespace: "nt-abcdef-vm-id1", PortID: "p1"}}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got, err := ReadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Hosts["compute1"].LocalIP.String() != "198.18.0.102" || got.VMs["id1"].PortID != "p1" || got.Prefix != "nt-abcdef" {
		t.Errorf("round trip: %+v", got)
	}
	b, _ := os.ReadFile(dir + "/" + StateFileName)
	for _, want := range []string{`"prefix": "nt-abcdef"`, `"local_ip": "198.18.0.102"`, `"namespace": "nt-abcdef-compute1"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("state file lacks %s:\n%s", want, b)
		}
	}
}

// TestStopRecorded: a recorded process is stopped by PID; a record whose
// command line does not match (a recycled PID) is left alone.
func TestStopRecorded(t *testing.T) {
	p, err := Start("", "sleep", "600")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	wrong := p.Record()
	wrong.Cmd = "sleep 601"
	if err := StopRecorded(context.Background(), wrong); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
		t.Fatal("a process with another command line was stopped")
	case <-time.After(100 * time.Millisecond):
	}
	if err := StopRecorded(context.Background(), p.Record()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("recorded process still running")
	}
}
