package demo

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"neutrino/internal/lab"
	"neutrino/internal/vxlan"
)

// buildNeutrino builds the binary the demo runs as server and agents
// (NEUTRINO_BIN names a prebuilt one instead).
func buildNeutrino(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("NEUTRINO_BIN"); b != "" {
		return b
	}
	bin := filepath.Join(t.TempDir(), "neutrino")
	out, err := exec.Command("go", "build", "-o", bin, "neutrino/cmd/neutrino").CombinedOutput()
	if err != nil {
		t.Fatalf("go build neutrino: %v\n%s", err, out)
	}
	return bin
}

// demoDir is a state directory for one demo run; if the test fails, the
// warnings, errors and unstructured lines of every log in it are logged (the directory itself
// goes with the test), so a CI failure shows why an agent did not converge.
func demoDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		logs, _ := filepath.Glob(filepath.Join(dir, "log", "*.log"))
		for _, l := range logs {
			b, err := os.ReadFile(l)
			if err != nil {
				continue
			}
			var keep []string
			for _, line := range strings.Split(string(b), "\n") {
				// A process's last words (cobra's "Error: ...") carry
				// no level.
				if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") ||
					line != "" && !strings.HasPrefix(line, "time=") {
					keep = append(keep, line)
				}
			}
			if len(keep) > 200 {
				keep = keep[len(keep)-200:]
			}
			t.Logf("%s (warnings and errors):\n%s", filepath.Base(l), strings.Join(keep, "\n"))
		}
	})
	return dir
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the demo test builds network namespaces and OVS bridges and needs root: run `make test` (as root)")
	}
	for _, tool := range []string{"ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ovs-ofctl", "arping", "ping", "bridge", "ip", "tcpdump"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed: run `make test` (scripts/deps.sh installs it)", tool)
		}
	}
}

var (
	ctlIP = netip.MustParseAddr("198.18.255.101")
	c1IP  = netip.MustParseAddr("198.18.255.102")
	c2IP  = netip.MustParseAddr("198.18.255.103")
	c3IP  = netip.MustParseAddr("198.18.255.104")
	group = netip.MustParseAddr(vxlanGroup)
)

// TestDemo runs `neutrino demo` non-interactively for both mechanisms and
// checks the facts it printed, then that nothing of it is left.
func TestDemo(t *testing.T) {
	needRoot(t)
	bin := buildNeutrino(t)
	type flood struct {
		mode     string
		copies   []netip.Addr
		compute3 int
		local    bool // answered without crossing the underlay
	}
	for _, c := range []struct {
		mech   string
		floods []flood
	}{
		{MechOVS, []flood{
			{"full mesh", []netip.Addr{c1IP, c2IP}, -1, false},
			{"full mesh, 4 nodes", []netip.Addr{c1IP, c2IP, c3IP}, 1, false},
			{"l2population", []netip.Addr{c1IP, c2IP}, 0, false},
			{"l2population + arp_responder", nil, 0, true},
		}},
		{MechLB, []flood{
			{"full mesh (vxlan_group unset)", []netip.Addr{c1IP, c2IP}, -1, false},
			{"multicast group", []netip.Addr{group}, -1, false},
			{"full mesh, 4 nodes", []netip.Addr{c1IP, c2IP, c3IP}, 1, false},
			{"l2population", []netip.Addr{c1IP, c2IP}, 0, false},
			{"l2population + arp_responder", nil, 0, true},
		}},
	} {
		t.Run(c.mech, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			var out bytes.Buffer
			ctlDir := t.TempDir()
			res, err := Run(ctx, Options{Mechanism: c.mech, Binary: bin, Dir: demoDir(t), ControlDir: ctlDir,
				Out: &out})
			t.Logf("demo output:\n%s", out.String())
			if res != nil {
				defer checkNothingLeft(t, res, ctlDir)
			}
			if err != nil {
				t.Fatalf("demo: %v", err)
			}
			t.Logf("%s walkthrough took %s", c.mech, res.Elapsed.Round(100*time.Millisecond))

			// Tunnels per node before l2population: full mesh.
			wantTun := map[string][]netip.Addr{"controller": {c1IP, c2IP}, "compute-1": {ctlIP, c2IP}, "compute-2": {ctlIP, c1IP}}
			if fmt.Sprint(res.Tunnels) != fmt.Sprint(wantTun) {
				t.Errorf("tunnels %v, want %v", res.Tunnels, wantTun)
			}
			if res.VNI < 1001 || res.VNI > 2000 {
				t.Errorf("VNI %d outside the seed's vni_ranges 1001:2000", res.VNI)
			}
			if len(res.VMs) != 2 || res.VMs[0].Host != "compute-1" || res.VMs[1].Host != "compute-2" {
				t.Fatalf("VMs %+v: want one on compute-1 and one on compute-2", res.VMs)
			}
			// Security groups: the default group drops the router's
			// pings at the VM until the ICMP rule is created, and again
			// after it is deleted.
			if len(res.SecGroup) != 3 || res.SecGroup[0].Rule || !res.SecGroup[1].Rule || res.SecGroup[2].Rule {
				t.Fatalf("security-group pings %+v: want without, with and without the rule", res.SecGroup)
			}
			for i, p := range res.SecGroup {
				want := map[bool]int{false: 0, true: 3}[p.Rule]
				if p.Sent != 3 || p.Received != want {
					t.Errorf("security-group ping %d (rule %v): %d of %d answered, want %d", i, p.Rule, p.Received, p.Sent, want)
				}
				// Blocked echo requests were counted by the VM port's
				// drop; each rule change rewrote the chain (a new
				// counter), and the answered ones were not dropped.
				if (!p.Rule && p.Dropped < 3) || (p.Rule && p.Dropped != 0) {
					t.Errorf("security-group ping %d (rule %v): drop counter %d (want at least 3 without the rule, 0 with it)", i, p.Rule, p.Dropped)
				}
			}
			// The router is real: the L3 agent's qrouter-<router id> with
			// qr-<port id[:11]>, and the seed's two commands ran against
			// it as written.
			r := res.Router
			if _, err := uuid.Parse(r.ID); err != nil || r.Namespace != "qrouter-"+r.ID || len(r.PortID) < 11 || r.Interface != "qr-"+r.PortID[:11] {
				t.Errorf("router %+v: want qrouter-<router id> and qr-<port id[:11]>", r)
			}
			text := out.String()
			for _, want := range []string{
				"[root@controller ~]# ip netns exec " + r.Namespace + " ping -c 1 " + res.VMs[0].IP + "\n",
				"[root@controller ~]# ip netns exec " + r.Namespace + " arping -c 1 -I " + r.Interface + " " + res.VMs[0].IP + "\n",
			} {
				if !strings.Contains(text, want) {
					t.Errorf("output lacks the seed's command %q", want)
				}
			}
			// The ping: 1 of 1 answered, and on the wire the VXLAN echo
			// request controller -> compute-1 and its reply, with the
			// network's VNI.
			if res.RouterPing.Sent != 1 || res.RouterPing.Received != 1 {
				t.Errorf("ping from the router namespace: %d of %d answered, want 1 of 1", res.RouterPing.Received, res.RouterPing.Sent)
			}
			// The floating IP: the outside reaches the VM by it (and the
			// router holds its DNAT) and not by the VM's fixed IP; after
			// the disassociation not at all.
			if f := res.FloatingIP; f == nil {
				t.Error("no floating-IP step")
			} else {
				ext := netip.MustParsePrefix(extCIDR)
				if a, err := netip.ParseAddr(f.Address); err != nil || !ext.Contains(a) || f.Status != "ACTIVE" {
					t.Errorf("floating IP %q status %q: want an ACTIVE address of %s", f.Address, f.Status, ext)
				}
				if want := "ip daddr " + f.Address + " dnat to " + f.FixedIP; !strings.HasPrefix(f.DNAT, want) {
					t.Errorf("the router's DNAT rule %q, want %q", f.DNAT, want)
				}
				if f.Associated.Sent != 3 || f.Associated.Received != 3 {
					t.Errorf("outside -> floating IP: %s, want 3 of 3 answered", f.Associated)
				}
				if f.Fixed.Received != 0 || (f.Fixed.Sent == 0) == (f.Fixed.Error == "") {
					t.Errorf("outside -> fixed IP %s: %s, want no answer", f.FixedIP, f.Fixed)
				}
				if f.Unassociated.Sent != 3 || f.Unassociated.Received != 0 {
					t.Errorf("outside -> floating IP after the disassociation: %s, want 3 sent, none answered", f.Unassociated)
				}
			}
			// The VMs got their ports' addresses by DHCP; the first one's
			// exchange crossed the controller's underlay port, in order.
			for _, v := range res.VMs {
				if !strings.HasPrefix(v.DHCP, v.IP+"/24 via 192.168.1.1 mtu 1450") {
					t.Errorf("VM %s (port %s) got by DHCP %q", v.Name, v.IP, v.DHCP)
				}
			}
			// A DISCOVER unanswered within udhcpc's 1s is sent again
			// (same xid): repeats of a message count once.
			var kinds []string
			for _, l := range res.DHCPExchange {
				if _, m, ok := strings.Cut(l, "| "); ok {
					if k := strings.Fields(m)[0]; len(kinds) == 0 || kinds[len(kinds)-1] != k {
						kinds = append(kinds, k)
					}
				}
			}
			if strings.Join(kinds, " ") != "DHCPDISCOVER DHCPOFFER DHCPREQUEST DHCPACK" {
				t.Errorf("DHCP exchange %q, want DISCOVER, OFFER, REQUEST, ACK", res.DHCPExchange)
			}
			vm := netip.MustParseAddr(res.VMs[0].IP)
			var req, rep int
			for _, p := range res.PingCapture {
				if !p.IsVXLAN || p.VNI != res.VNI || p.DstPort != 4789 || !p.InnerICMP {
					t.Errorf("unexpected packet in the ping capture: %s", p.Text)
					continue
				}
				switch {
				case p.OuterSrc == ctlIP && p.OuterDst == c1IP && p.InnerICMPType == vxlan.ICMPEchoRequest && p.InnerDst == vm:
					req++
				case p.OuterSrc == c1IP && p.OuterDst == ctlIP && p.InnerICMPType == vxlan.ICMPEchoReply && p.InnerSrc == vm:
					rep++
				default:
					t.Errorf("unexpected packet in the ping capture: %s", p.Text)
				}
			}
			if req != 1 || rep != 1 {
				t.Errorf("ping capture: %d requests and %d replies, want 1 and 1", req, rep)
			}
			// Copies per ARP in each mode.
			if len(res.Floods) != len(c.floods) {
				t.Fatalf("%d flood measurements, want %d: %+v", len(res.Floods), len(c.floods), res.Floods)
			}
			for i, w := range c.floods {
				f := res.Floods[i]
				if f.Mode != w.mode {
					t.Errorf("flood %d: mode %q, want %q", i, f.Mode, w.mode)
				}
				if got := addrList(sortAddrs(append([]netip.Addr(nil), f.Copies...))); got != addrList(w.copies) {
					t.Errorf("%s: one ARP broadcast left the controller as %d copies to %s, want %s", w.mode, len(f.Copies), got, addrList(w.copies))
				}
				if f.Compute3 != w.compute3 {
					t.Errorf("%s: compute-3 received %d copies, want %d", w.mode, f.Compute3, w.compute3)
				}
				if !strings.Contains(f.AnsweredBy, "compute-1") {
					t.Errorf("%s: answered by %q, want the VM on compute-1", w.mode, f.AnsweredBy)
				}
				if w.local == f.ReplyVia.IsValid() || !w.local && f.ReplyVia != c1IP {
					t.Errorf("%s: reply crossed the underlay from %v; want local answer = %v", w.mode, f.ReplyVia, w.local)
				}
				// Independent count: tcpdump reading the flood's pcap (the
				// controller's port, plus compute-3's when it exists).
				dump, err := exec.Command("tcpdump", "-n", "-r", f.Pcap).CombinedOutput()
				if err != nil {
					t.Fatalf("tcpdump -r %s: %v\n%s", f.Pcap, err, dump)
				}
				want := len(w.copies) + max(w.compute3, 0)
				if got := strings.Count(string(dump), "Request who-has "+vm.String()+" "); got != want {
					t.Errorf("%s: tcpdump sees %d ARP requests in %s, want %d:\n%s", w.mode, got, f.Pcap, want, dump)
				}
			}
			// The pcaps: ours read back, and tcpdump decodes the ping's VXLAN.
			if len(res.Pcaps) != 1+len(c.floods) {
				t.Errorf("pcaps %v", res.Pcaps)
			}
			for _, p := range res.Pcaps {
				n := countPcap(t, p)
				if strings.HasSuffix(p, "ping.pcap") && n != 2 {
					t.Errorf("%s holds %d packets, want 2", p, n)
				}
			}
			dump, err := exec.Command("tcpdump", "-n", "-r", res.Pcaps[0]).CombinedOutput()
			if err != nil {
				t.Fatalf("tcpdump -r %s: %v\n%s", res.Pcaps[0], err, dump)
			}
			for _, want := range []string{fmt.Sprintf("VXLAN, flags [I] (0x08), vni %d", res.VNI), "ICMP echo request", "ICMP echo reply", "198.18.255.101", "198.18.255.102.4789"} {
				if !strings.Contains(string(dump), want) {
					t.Errorf("tcpdump's reading of the ping capture lacks %q:\n%s", want, dump)
				}
			}
			// The narration shows what the seed shows.
			for _, want := range []string{"testnet=192.168.1.", "| ACTIVE |", "VXLAN vni", "ARP who-has", "Total time:", "no namespace, link or process of the demo is left"} {
				if !strings.Contains(text, want) {
					t.Errorf("output lacks %q", want)
				}
			}
			if c.mech == MechOVS && (!strings.Contains(text, "Bridge br-tun") || !strings.Contains(text, `remote_ip="198.18.255.103"`)) {
				t.Error("output lacks br-tun of ovs-vsctl show")
			}
			if c.mech == MechLB && !strings.Contains(text, "00:00:00:00:00:00 dst 198.18.255.102 self permanent") {
				t.Error("output lacks the vxlan FDB")
			}
		})
	}
}

// TestDemoKeepAndDown: --keep leaves the demo up (a second demo is
// refused), `demo down` removes all of it.
func TestDemoKeepAndDown(t *testing.T) {
	needRoot(t)
	bin := buildNeutrino(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	ctlDir := t.TempDir()
	var out bytes.Buffer
	res, err := Run(ctx, Options{Mechanism: MechLB, Keep: true, Binary: bin, Dir: demoDir(t), ControlDir: ctlDir,
		Out: &out})
	if res != nil {
		defer checkNothingLeft(t, res, ctlDir)
	}
	if err != nil {
		// A failed --keep run cleans up by itself.
		t.Fatalf("demo --keep: %v\n%s", err, out.String())
	}
	defer func() { _ = Down(context.Background(), ctlDir, io.Discard) }()
	if !strings.Contains(out.String(), "neutrino demo down") || !strings.Contains(out.String(), "ip netns exec "+res.Prefix+"-compute-1") {
		t.Errorf("--keep output lacks the commands to explore it:\n%s", out.String())
	}
	var up int
	for _, p := range res.Processes {
		if alive(p.PID, p.Program) {
			up++
		}
	}
	if up != 6 { // server, 4 L2 agents and the L3 agent
		t.Errorf("%d of the demo's processes run after --keep, want 6: %+v", up, res.Processes)
	}
	for _, ns := range []string{res.Prefix + "-controller", res.Prefix + "-outside-upstream", res.Router.Namespace} {
		if !lab.NSExists(ns) {
			t.Errorf("namespace %s gone after --keep", ns)
		}
	}
	_, err = Run(ctx, Options{Mechanism: MechLB, Binary: bin, Dir: demoDir(t), ControlDir: ctlDir, Out: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "neutrino demo down") {
		t.Errorf("second demo while one is up: err %v, want a refusal naming `neutrino demo down`", err)
	}
	var dout bytes.Buffer
	if err := Down(ctx, ctlDir, &dout); err != nil {
		t.Fatalf("demo down: %v\n%s", err, dout.String())
	}
	t.Logf("demo down:\n%s", dout.String())
}

func countPcap(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := vxlan.NewPcapReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	n := 0
	for {
		_, _, _, err := r.Next()
		if err == io.EOF {
			return n
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		n++
	}
}

// checkNothingLeft: no namespace under the demo's prefix, no process it
// started, no OVS run directory, no control file.
func checkNothingLeft(t *testing.T, res *Result, ctlDir string) {
	t.Helper()
	if res.Prefix != "" {
		ents, _ := os.ReadDir("/run/netns")
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), res.Prefix+"-") {
				t.Errorf("namespace %s left behind", e.Name())
			}
		}
	}
	if len(res.Processes) == 0 {
		t.Error("the demo recorded no process")
	}
	for _, p := range res.Processes {
		if alive(p.PID, p.Program) {
			t.Errorf("%s (pid %d) still running", p.Name, p.PID)
		}
	}
	if res.Router.Namespace != "" && lab.NSExists(res.Router.Namespace) {
		t.Errorf("router namespace %s left behind", res.Router.Namespace)
	}
	if res.DHCPNamespace != "" && lab.NSExists(res.DHCPNamespace) {
		t.Errorf("DHCP namespace %s left behind", res.DHCPNamespace)
	}
	// dnsmasq outlives the DHCP agent on purpose; the demo removes it.
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && strings.HasPrefix(string(b), "dnsmasq\x00") && strings.Contains(string(b), "neutrino-dhcp-"+res.Prefix) {
			t.Errorf("dnsmasq of the demo left running: %s", p)
		}
	}
	for _, d := range res.OVSRunDirs {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("OVS run directory %s left behind", d)
		}
	}
	for _, f := range []string{ControlFileName, "lab.json"} {
		if _, err := os.Stat(filepath.Join(ctlDir, f)); err == nil {
			t.Errorf("%s left in %s", f, ctlDir)
		}
	}
}

// cancelAt cancels when the narration reaches a marker (like Ctrl-C
// pressed while the ARP broadcast is being captured).
type cancelAt struct {
	buf    bytes.Buffer
	marker string
	cancel context.CancelFunc
}

func (w *cancelAt) Write(b []byte) (int, error) {
	w.buf.Write(b)
	if strings.Contains(w.buf.String(), w.marker) {
		w.cancel()
	}
	return len(b), nil
}

// TestDemoInterruptedCleansUp: a demo cancelled half-way (Ctrl-C) removes
// everything it made and says so.
func TestDemoInterruptedCleansUp(t *testing.T) {
	needRoot(t)
	bin := buildNeutrino(t)
	for _, mech := range []string{MechOVS, MechLB} {
		t.Run(mech, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			ctlDir := t.TempDir()
			w := &cancelAt{marker: "== 5.", cancel: cancel}
			res, err := Run(ctx, Options{Mechanism: mech, Binary: bin, Dir: demoDir(t), ControlDir: ctlDir, Out: w})
			defer func() {
				if t.Failed() {
					t.Logf("output:\n%s", w.buf.String())
				}
			}()
			if err == nil {
				t.Fatalf("demo cancelled at step 5 returned no error:\n%s", w.buf.String())
			}
			if res == nil {
				t.Fatalf("no result: %v", err)
			}
			if !strings.Contains(err.Error(), "context canceled") || !strings.Contains(w.buf.String(), "== 5.") {
				t.Errorf("demo failed before step 5 or not by the cancel: %v\n%s", err, w.buf.String())
			}
			checkNothingLeft(t, res, ctlDir)
			if !strings.Contains(w.buf.String(), "no namespace, link or process of the demo is left") {
				t.Errorf("output does not report the cleanup:\n%s", w.buf.String())
			}
		})
	}
}
