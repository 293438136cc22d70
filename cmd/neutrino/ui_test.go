package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"neutrino/internal/agent"
	"neutrino/internal/api"
	"neutrino/internal/config"
	"neutrino/internal/l2pop"
	"neutrino/internal/ml2"
	"neutrino/internal/neutron"
	"neutrino/internal/rpc"
	"neutrino/internal/store"
	"neutrino/internal/store/storetest"
	"neutrino/internal/ui"
)

// chromium runs Debian's headless Chromium on url with extra flags and
// returns its standard output. Its whole process group is ended when it
// is done or the time is up.
func chromium(t *testing.T, ctx context.Context, url string, flags ...string) string {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("this test drives the page in Debian's chromium: apt-get install chromium")
	}
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
		"--user-data-dir=" + t.TempDir(), "--virtual-time-budget=8000"}, flags...)
	cmd := exec.Command(bin, append(args, url)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // its renderers and helpers, by our group id
	if err != nil {
		t.Fatalf("chromium %s: %v", url, err)
	}
	return out.String()
}

// uiWorld is the seed with a 4th node: OVS agents on controller and
// compute-1..3, testnet with the router on the controller and a VM on
// compute-1 and compute-2, nothing on compute-3; plus extra hosts.
func uiWorld(t *testing.T, ctx context.Context, extraHosts int) (*ml2.Plugin, string) {
	t.Helper()
	st := storetest.Open(t, store.SQLite)
	scfg := &config.Server{GlobalPhysnetMTU: 1500, BaseMAC: "fa:16:3e:00:00:00", AgentDownTime: 75 * time.Second,
		TypeDrivers: []string{"vxlan"}, TenantNetworkTypes: []string{"vxlan"},
		MechanismDrivers: []string{"openvswitch", "l2population"}, VNIRanges: []config.Range{{Min: 1001, Max: 2000}}}
	plugin, err := ml2.New(ctx, st, scfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	hosts := []string{"controller", "compute-1", "compute-2", "compute-3"}
	for i := range extraHosts {
		hosts = append(hosts, fmt.Sprintf("node-%03d", i))
	}
	for i, host := range hosts {
		cfg := &config.Agent{Host: host, LocalIP: fmt.Sprintf("198.18.%d.%d", 1+i/200, 1+i%200), L2Population: true, TunnelTypes: []string{"vxlan"}}
		if _, err := plugin.ReportState(ctx, agent.Report(agent.KindOVS, cfg, 0, true)); err != nil {
			t.Fatal(err)
		}
	}
	const project = "b0000000000000000000000000000002"
	n, err := plugin.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: project, Name: "testnet"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plugin.CreateSubnet(ctx, neutron.SubnetCreate{ProjectID: project, NetworkID: n.ID, IPVersion: 4, CIDR: "192.168.0.0/20"}); err != nil {
		t.Fatal(err)
	}
	vms := [][2]string{{"router", "controller"}, {"vm1", "compute-1"}, {"vm2", "compute-2"}}
	for i := range extraHosts {
		if i%2 == 0 { // half the extra nodes host a port
			vms = append(vms, [2]string{fmt.Sprintf("vm-%03d", i), fmt.Sprintf("node-%03d", i)})
		}
	}
	for _, vm := range vms {
		p, err := plugin.CreatePort(ctx, neutron.PortCreate{ProjectID: project, NetworkID: n.ID, Name: vm[0], HostID: vm[1], DeviceOwner: "compute:nova"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := plugin.UpdateDevice(ctx, vm[1], p.ID, true); err != nil {
			t.Fatal(err)
		}
	}
	return plugin, n.ID
}

func uiServer(t *testing.T, plugin *ml2.Plugin, agents *rpc.Server) string {
	t.Helper()
	reg := newRegistry()
	srv := httptest.NewServer(withObserve(api.New(plugin, api.Options{}), reg, ui.Handler(uiSource{plugin, agents}, 100*time.Millisecond, nil)))
	t.Cleanup(srv.Close)
	return srv.URL
}

var (
	lineRE   = regexp.MustCompile(`<line class="tunnel[^"]*" data-a="([^"]+)" data-b="([^"]+)"`)
	floodRE  = regexp.MustCompile(`<line class="flood" data-from="([^"]+)" data-to="([^"]+)"`)
	circleRE = regexp.MustCompile(`<circle class="([^"]+)"[^>]* data-host="([^"]+)"[^>]* data-tunnels="([^"]*)"`)
)

// drawnTunnels are the host pairs the page drew.
func drawnTunnels(dom string) [][2]string {
	var out [][2]string
	for _, m := range lineRE.FindAllStringSubmatch(dom, -1) {
		out = append(out, [2]string{m[1], m[2]})
	}
	slices.SortFunc(out, func(a, b [2]string) int { return strings.Compare(a[0]+" "+a[1], b[0]+" "+b[1]) })
	return out
}

// viewTunnels are the host pairs the agents' views hold.
func viewTunnels(t *testing.T, ctx context.Context, plugin *ml2.Plugin, cfg l2pop.Config) (pairs [][2]string, perHost map[string]int) {
	t.Helper()
	st, err := plugin.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m := l2pop.NewModel(cfg, st)
	hostOf := map[string]string{}
	for _, h := range m.Hosts() {
		hostOf[m.View(h).LocalIP.String()] = h
	}
	seen := map[[2]string]bool{}
	perHost = map[string]int{}
	for _, h := range m.Hosts() {
		for _, ip := range m.View(h).Tunnels {
			perHost[h]++
			p := [2]string{h, hostOf[ip.String()]}
			if p[1] < p[0] {
				p[0], p[1] = p[1], p[0]
			}
			if !seen[p] {
				seen[p] = true
				pairs = append(pairs, p)
			}
		}
	}
	slices.SortFunc(pairs, func(a, b [2]string) int { return strings.Compare(a[0]+" "+a[1], b[0]+" "+b[1]) })
	return pairs, perHost
}

// shotDir keeps screenshots: NEUTRINO_UI_SHOTS, else the test's temp dir.
func shotDir(t *testing.T) string {
	if d := os.Getenv("NEUTRINO_UI_SHOTS"); d != "" {
		return d
	}
	return t.TempDir()
}

// TestUIPage drives /ui in headless Chromium for the seed with a 4th node,
// in full mesh and with l2population: the tunnels drawn are exactly the
// agents' views (compute-3 has three in full mesh, none with l2pop), the
// flood arrows of testnet are the flood lists, and a screenshot of each
// stage is taken.
func TestUIPage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	plugin, netID := uiWorld(t, ctx, 0)
	dir := shotDir(t)
	for _, stage := range []struct {
		name  string
		l2pop bool
	}{{"full-mesh", false}, {"l2pop", true}} {
		cfg := l2pop.Config{Enabled: stage.l2pop}
		base := uiServer(t, plugin, rpc.NewServer(plugin, rpc.ServerConfig{L2Pop: cfg}))
		dom := chromium(t, ctx, base+"/ui/?live=0&network="+netID, "--dump-dom")
		want, perHost := viewTunnels(t, ctx, plugin, cfg)
		got := drawnTunnels(dom)
		if !slices.Equal(got, want) || len(got) == 0 {
			t.Errorf("%s: drawn tunnels %v, views hold %v", stage.name, got, want)
		}
		c3 := ""
		for _, m := range circleRE.FindAllStringSubmatch(dom, -1) {
			if m[2] == "compute-3" {
				c3 = m[3]
			}
		}
		switch {
		case !stage.l2pop && (perHost["compute-3"] != 3 || len(strings.Fields(c3)) != 3):
			t.Errorf("full mesh: compute-3 drawn with tunnels %q, view has %d; want 3", c3, perHost["compute-3"])
		case stage.l2pop && (perHost["compute-3"] != 0 || c3 != ""):
			t.Errorf("l2pop: compute-3 drawn with tunnels %q, view has %d; want none", c3, perHost["compute-3"])
		}
		floods := floodRE.FindAllStringSubmatch(dom, -1)
		wantFloods := 6 // every pair of the 3 hosts with a port, both ways
		if !stage.l2pop {
			wantFloods = 9 // each of them floods to the 3 others, compute-3 included
		}
		if len(floods) != wantFloods {
			t.Errorf("%s: %d flood arrows, want %d", stage.name, len(floods), wantFloods)
		}
		shot := filepath.Join(dir, "ui-"+stage.name+".png")
		chromium(t, ctx, base+"/ui/?live=0&network="+netID, "--screenshot="+shot, "--window-size=1400,860")
		if fi, err := os.Stat(shot); err != nil || fi.Size() < 10000 {
			t.Errorf("screenshot %s: %v", shot, err)
		}
	}
}

// TestUIPageAt100Nodes renders 104 nodes and searches a port's MAC: every
// node is drawn, the one hosting it is marked. (Not its IP: the search
// matches substrings, and 192.168.0.4 is also in 192.168.0.40-49.)
func TestUIPageAt100Nodes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	plugin, _ := uiWorld(t, ctx, 100)
	cfg := l2pop.Config{Enabled: true}
	base := uiServer(t, plugin, rpc.NewServer(plugin, rpc.ServerConfig{L2Pop: cfg}))
	ports, err := plugin.ListPorts(ctx, neutron.ListQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var target neutron.Port
	for _, p := range ports {
		if p.Name == "vm-042" {
			target = p
		}
	}
	dom := chromium(t, ctx, base+"/ui/?live=0&q="+target.MACAddress, "--dump-dom")
	circles := circleRE.FindAllStringSubmatch(dom, -1)
	var matched []string
	for _, m := range circles {
		if strings.Contains(m[1], "match") {
			matched = append(matched, m[2])
		}
	}
	if len(circles) != 104 || !slices.Equal(matched, []string{"node-042"}) {
		t.Errorf("%d nodes drawn (want 104), search marked %v (want node-042)", len(circles), matched)
	}
	want, _ := viewTunnels(t, ctx, plugin, cfg)
	if got := drawnTunnels(dom); !slices.Equal(got, want) {
		t.Errorf("drawn %d tunnels, views hold %d", len(got), len(want))
	}
	shot := filepath.Join(shotDir(t), "ui-100-nodes.png")
	chromium(t, ctx, base+"/ui/?live=0&q="+target.MACAddress, "--screenshot="+shot, "--window-size=1400,860")
	if fi, err := os.Stat(shot); err != nil || fi.Size() < 10000 {
		t.Errorf("screenshot %s: %v", shot, err)
	}
}

// TestUIEvents: /ui/events announces a new revision when the change log
// moves (the agents' server tails it), and state.json then has the port.
func TestUIEvents(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	plugin, netID := uiWorld(t, ctx, 0)
	agents := rpc.NewServer(plugin, rpc.ServerConfig{L2Pop: l2pop.Config{Enabled: true}, PollInterval: 20 * time.Millisecond})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithCancel(ctx)
	sdone := make(chan error, 1)
	go func() { sdone <- agents.Serve(sctx, lis) }()
	defer func() { scancel(); <-sdone }()
	base := uiServer(t, plugin, agents)
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/ui/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	revs := make(chan int64, 16)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				revs <- n
			}
		}
		close(revs)
	}()
	first := <-revs
	p, err := plugin.CreatePort(ctx, neutron.PortCreate{ProjectID: "b0000000000000000000000000000002", NetworkID: netID, Name: "late", HostID: "compute-3"})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-revs:
		if r <= first {
			t.Errorf("revision event %d after %d", r, first)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no revision event after a port was created")
	}
	sresp, err := http.Get(base + "/ui/state.json")
	if err != nil {
		t.Fatal(err)
	}
	defer sresp.Body.Close()
	var b strings.Builder
	sc := bufio.NewScanner(sresp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<22)
	for sc.Scan() {
		b.WriteString(sc.Text())
	}
	if !strings.Contains(b.String(), p.ID) {
		t.Error("state.json lacks the new port")
	}
}
