package demo

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"

	"neutrino/internal/apiclient"
	"neutrino/internal/lab"
	"neutrino/internal/neutron"
	"neutrino/internal/vxlan"
)

// Options configure one run.
type Options struct {
	// Mechanism is MechOVS (the seed's, default) or MechLB.
	Mechanism string
	// Keep leaves everything running at the end.
	Keep bool
	// Binary is the neutrino executable the server and agents run as
	// (default: this process's own executable).
	Binary string
	// Dir holds config copies, logs, the SQLite database and the pcaps
	// (default: a new directory under os.TempDir()). It is kept.
	Dir string
	// ControlDir holds demo.json and lab.json (default lab.StateDir("")).
	ControlDir string
	// Out receives the narration (default os.Stdout).
	Out io.Writer
	// Logger gets debug details (default: discarded).
	Logger *slog.Logger
}

// The seed's node names and VTEP addresses (its 10.142.255.101-103 moved
// to the benchmarking range, as the seed's etc/README says); compute-3 is
// the fourth node of the l2population step.
var seedNodes = []struct {
	name string
	ip   netip.Addr
}{
	{"controller", netip.MustParseAddr("198.18.255.101")},
	{"compute-1", netip.MustParseAddr("198.18.255.102")},
	{"compute-2", netip.MustParseAddr("198.18.255.103")},
	{"compute-3", netip.MustParseAddr("198.18.255.104")},
}

const (
	underlayBits = 24
	projectID    = "d3a0000000000000000000000000de00"
	cidr         = "192.168.1.0/24"
	vxlanGroup   = "239.1.1.1" // the seed's vxlan_group
	waitAgents   = 30 * time.Second
	waitPlane    = 20 * time.Second
)

// Result holds the facts the demo printed.
type Result struct {
	Mechanism string
	Prefix    string
	Dir       string
	// VNI is testnet's provider:segmentation_id.
	VNI uint32
	// Tunnels are each node's remote VTEPs before l2population: br-tun's
	// tunnel ports (OVS) or the vxlan device's flood entries (Linux bridge).
	Tunnels map[string][]netip.Addr
	// VMs are the booted VMs in boot order.
	VMs []VMInfo
	// PingOK: the router namespace got its echo reply.
	PingOK bool
	// PingCapture is what the ping looked like on the controller's wire.
	PingCapture []CapturedPacket
	// Floods is one entry per mode, in the order run.
	Floods []Flood
	// Pcaps are the files written.
	Pcaps []string
	// Processes are every process the demo started (server, agents, OVS
	// daemons), for leak checks.
	Processes []ProcRecord
	// OVSRunDirs are the OVS daemons' run directories.
	OVSRunDirs []string
	// Elapsed is the walkthrough's time (without the final cleanup).
	Elapsed time.Duration
}

// VMInfo is a booted VM.
type VMInfo struct {
	ID, Name, Host, IP, MAC, PortID, Namespace string
}

// CapturedPacket is one decoded underlay packet.
type CapturedPacket struct {
	OuterSrc, OuterDst netip.Addr
	DstPort            uint16
	VNI                uint32
	IsVXLAN            bool
	InnerICMP          bool
	InnerICMPType      uint8
	InnerSrc, InnerDst netip.Addr
	Text               string

	innerARP  uint16
	arpTarget netip.Addr
}

// Flood is one ARP broadcast measurement.
type Flood struct {
	Mode string
	// Copies are the outer destinations of the VXLAN copies of the ARP
	// request that left the controller.
	Copies []netip.Addr
	// Compute3 is how many copies reached compute-3 (-1: not in the lab).
	Compute3 int
	// AnsweredBy is the VM whose MAC came back ("" = no answer); ReplyVia
	// is the VTEP the reply crossed the underlay from (invalid = the reply
	// never crossed it: answered on the controller).
	AnsweredBy string
	// AnsweredHost is the answering VM's host ("" when unknown).
	AnsweredHost string
	ReplyVia     netip.Addr
	Pcap         string
}

type runner struct {
	opt    Options
	out    io.Writer
	log    *slog.Logger
	start  time.Time
	res    *Result
	lab    *lab.Lab
	ctl    Control
	ctlMu  sync.Mutex
	nodes  map[string]*lab.Node
	ports  map[string]string // node name -> its port in the underlay namespace
	ovs    map[string]*lab.OVS
	server *child
	agents map[string]*child
	apiURL string
	api    *apiclient.Client
	rpc    int
	net    *neutron.Network
	router *lab.VM
	rtrIP  netip.Addr
	mu     sync.Mutex
}

// Run runs the walkthrough and returns the facts it printed. Unless
// opt.Keep, everything it made is removed before it returns, also on
// failure and when ctx is cancelled (Ctrl-C).
func Run(ctx context.Context, opt Options) (res *Result, err error) {
	if opt.Mechanism == "" {
		opt.Mechanism = MechOVS
	}
	if opt.Mechanism != MechOVS && opt.Mechanism != MechLB {
		return nil, fmt.Errorf("--mechanism %q: want %s or %s", opt.Mechanism, MechOVS, MechLB)
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("the demo builds network namespaces and Open vSwitch bridges: run it as root")
	}
	if opt.Out == nil {
		opt.Out = os.Stdout
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.ControlDir == "" {
		opt.ControlDir = lab.StateDir("")
	}
	if opt.Binary == "" {
		if opt.Binary, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("find own executable: %w", err)
		}
	}
	if err := refuseIfUp(opt.ControlDir); err != nil {
		return nil, err
	}
	if opt.Dir == "" {
		if opt.Dir, err = os.MkdirTemp("", "neutrino-demo-"); err != nil {
			return nil, err
		}
	}
	for _, sub := range []string{"etc", "log", "pcap", "db"} {
		if err := os.MkdirAll(filepath.Join(opt.Dir, sub), 0o755); err != nil {
			return nil, err
		}
	}
	d := &runner{opt: opt, out: opt.Out, log: opt.Logger, start: time.Now(),
		res:   &Result{Mechanism: opt.Mechanism, Dir: opt.Dir, Tunnels: map[string][]netip.Addr{}},
		nodes: map[string]*lab.Node{}, ports: map[string]string{}, ovs: map[string]*lab.OVS{}, agents: map[string]*child{}}
	d.res.Tunnels = map[string][]netip.Addr{}
	defer func() {
		d.ctlMu.Lock()
		d.res.Processes = append([]ProcRecord(nil), d.ctl.Procs...)
		d.res.OVSRunDirs = append([]string(nil), d.ctl.OVSRunDirs...)
		d.ctlMu.Unlock()
		if opt.Keep && err == nil {
			d.printKeep()
			return
		}
		if err != nil {
			d.say("\n!! %v\n   logs: %s\n", err, filepath.Join(opt.Dir, "log"))
		}
		d.say("\nCleaning up ...")
		if cerr := d.cleanup(context.WithoutCancel(ctx)); cerr != nil {
			err = errors.Join(err, fmt.Errorf("cleanup: %w", cerr))
			d.say(" FAILED: %v\n", cerr)
		} else {
			d.say(" done: no namespace, link or process of the demo is left.\n")
		}
	}()
	if err := d.run(ctx); err != nil {
		return d.res, err
	}
	return d.res, nil
}

func (d *runner) say(format string, a ...any) { fmt.Fprintf(d.out, format, a...) }

func (d *runner) heading(n string, title string) {
	d.say("\n== %s. %s %s\n", n, title, strings.Repeat("=", max(3, 66-len(title)-len(n))))
}

func (d *runner) run(ctx context.Context) error {
	mech := d.opt.Mechanism
	d.say("neutrino demo: the seed's ML2/VXLAN walkthrough, live (mechanism %s)\n", mech)
	d.say("state directory: %s (configs in etc/, logs in log/, captures in pcap/)\n", d.opt.Dir)

	// 1. Topology, server, agents.
	d.heading("1", "Topology: 3 nodes on one underlay, server and agents")
	if err := d.buildLab(ctx, seedNodes[:3]); err != nil {
		return err
	}
	if err := d.startServer(ctx, false); err != nil {
		return err
	}
	base := agentSettings{}
	if err := d.startAgents(ctx, base, d.nodeNames()); err != nil {
		return err
	}

	// 2. Agents and tunnels.
	d.heading("2", "Agents and tunnels (full mesh, no l2population)")
	if err := d.printAgentList(ctx); err != nil {
		return err
	}
	if mech == MechOVS {
		if err := d.showOVSTunnels(ctx, d.nodeNames(), false); err != nil {
			return err
		}
	} else {
		d.say("\nThe Linux bridge agent makes a network's vxlan device only when a port of it is on the\nnode: the tunnels (vxlan devices and their FDB) are shown after the VMs boot, in step 3.\n")
	}

	// 3. Network, subnet, VMs.
	d.heading("3", "testnet, 192.168.1.0/24 and two VMs (nova boot --num-instances 2)")
	if err := d.createNetwork(ctx); err != nil {
		return err
	}
	if err := d.bootVMs(ctx); err != nil {
		return err
	}
	if mech == MechLB {
		if err := d.showLBTunnels(ctx, d.nodeNames(), false, true); err != nil {
			return err
		}
	}

	// 4. Unicast.
	d.heading("4", "Unicast: ping a VM from the router namespace")
	if err := d.pingStep(ctx); err != nil {
		return err
	}

	// 5. Broadcast, full mesh.
	d.heading("5", "Broadcast: one ARP request from the router namespace")
	mode := "full mesh"
	if mech == MechLB {
		mode = "full mesh (vxlan_group unset)"
	}
	if err := d.floodStep(ctx, mode, "arp-full-mesh"); err != nil {
		return err
	}
	sub := "abcd"
	step := func() string { s := "6" + sub[:1]; sub = sub[1:]; return s }
	if mech == MechLB {
		d.heading(step(), "Multicast: vxlan_group = "+vxlanGroup+" (Linux bridge only)")
		d.say("Restarting the agents with vxlan_group = %s: BUM traffic goes to the group, the\nunderlay (here one bridge) delivers it to every VTEP.\n", vxlanGroup)
		s := agentSettings{VXLANGroup: vxlanGroup}
		if err := d.restartAgents(ctx, s, d.nodeNames()); err != nil {
			return err
		}
		if err := d.waitPlane(ctx, s, d.vmNodes()); err != nil {
			return err
		}
		if err := d.floodStep(ctx, "multicast group", "arp-multicast"); err != nil {
			return err
		}
	}

	// 6. l2population.
	d.heading(step(), "A 4th node, compute-3, with no port of testnet (still full mesh)")
	d.say("compute-3 (198.18.255.104) joins with an agent but hosts nothing on testnet.\n")
	if err := d.buildLab(ctx, seedNodes[3:]); err != nil {
		return err
	}
	if mech == MechLB {
		// Back to head-end replication after the multicast step.
		if err := d.restartAgents(ctx, base, d.nodeNames()); err != nil {
			return err
		}
	} else if err := d.startAgents(ctx, base, []string{"compute-3"}); err != nil {
		return err
	}
	if err := d.waitPlane(ctx, base, d.vmNodes()); err != nil {
		return err
	}
	if err := d.floodStep(ctx, "full mesh, 4 nodes", "arp-full-mesh-4-nodes"); err != nil {
		return err
	}

	d.heading(step(), "l2population (the seed's *.l2pop.ini)")
	d.say("Stopping the server and all agents and restarting them with ml2_conf.l2pop.ini\n(mechanism_drivers += l2population) and l2_population = True in every agent, as\nthe seed says.\n")
	if err := d.stopAll(); err != nil {
		return err
	}
	if err := d.startServer(ctx, true); err != nil {
		return err
	}
	l2 := agentSettings{L2Pop: true}
	if err := d.startAgents(ctx, l2, d.nodeNames()); err != nil {
		return err
	}
	if err := d.waitPorts(ctx); err != nil {
		return err
	}
	if err := d.waitPlane(ctx, l2, d.vmNodes()); err != nil {
		return err
	}
	if mech == MechOVS {
		if err := d.showOVSTunnels(ctx, d.nodeNames(), true); err != nil {
			return err
		}
	} else if err := d.showLBTunnels(ctx, d.nodeNames(), true, false); err != nil {
		return err
	}
	if err := d.floodStep(ctx, "l2population", "arp-l2pop"); err != nil {
		return err
	}

	d.heading(step(), "l2population + arp_responder")
	d.say("Restarting the agents with arp_responder = True: the controller answers the ARP itself.\n")
	arp := agentSettings{L2Pop: true, ARPResponder: true}
	if err := d.restartAgents(ctx, arp, d.nodeNames()); err != nil {
		return err
	}
	if err := d.waitPlane(ctx, arp, d.vmNodes()); err != nil {
		return err
	}
	if err := d.floodStep(ctx, "l2population + arp_responder", "arp-responder"); err != nil {
		return err
	}

	// 7. Summary.
	d.res.Elapsed = time.Since(d.start)
	d.summary()
	return nil
}

func (d *runner) nodeNames() []string {
	var out []string
	for _, s := range seedNodes {
		if d.nodes[s.name] != nil {
			out = append(out, s.name)
		}
	}
	return out
}

// vmNodes are the nodes hosting testnet ports: the router's and the VMs'.
func (d *runner) vmNodes() []string { return []string{"controller", "compute-1", "compute-2"} }

func (d *runner) record(fn func(*Control)) error {
	d.ctlMu.Lock()
	defer d.ctlMu.Unlock()
	fn(&d.ctl)
	return writeControl(d.opt.ControlDir, d.ctl)
}

// buildLab creates the lab (first call) and adds nodes in parallel: each
// gets the seed's VTEP address on its underlay interface and, for OVS, its
// own ovsdb-server and ovs-vswitchd.
func (d *runner) buildLab(ctx context.Context, nodes []struct {
	name string
	ip   netip.Addr
}) error {
	if d.lab == nil {
		l, err := lab.New(ctx, d.log)
		if err != nil {
			return err
		}
		d.lab = l
		d.res.Prefix = l.Prefix
		if err := d.record(func(c *Control) {
			c.Prefix, c.Mechanism, c.Dir = l.Prefix, d.opt.Mechanism, d.opt.Dir
		}); err != nil {
			return err
		}
		d.say("Namespaces are named %s-<node> (a random prefix keeps them apart from anything else on\nthis machine); the underlay is a bridge in %s.\n\n", l.Prefix, l.Underlay)
	}
	// Nodes are added in order (underlay port n<index>), then set up in
	// parallel.
	for _, s := range nodes {
		n, err := d.lab.AddNode(ctx, s.name)
		if err != nil {
			return err
		}
		idx := len(d.lab.Nodes()) - 1
		if err := readdress(n, netip.PrefixFrom(s.ip, underlayBits)); err != nil {
			return err
		}
		d.nodes[s.name] = n
		d.ports[s.name] = fmt.Sprintf("n%d", idx)
	}
	if err := d.checkPorts(); err != nil {
		return err
	}
	t0 := time.Now()
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, s := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = d.setupNode(ctx, d.nodes[s.name], t0)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// checkPorts makes sure each node's underlay port exists where the lab
// puts it (the lab names them n0, n1, ... in the order nodes are added).
func (d *runner) checkPorts() error {
	h, err := lab.Handle(d.lab.Underlay)
	if err != nil {
		return err
	}
	defer h.Close()
	for name, p := range d.ports {
		if _, err := h.LinkByName(p); err != nil {
			return fmt.Errorf("underlay port %s of %s: %w", p, name, err)
		}
	}
	return nil
}

// readdress moves a lab node to the seed's VTEP address (the lab numbers
// nodes 198.18.0.101, ...; the seed's last octets stay, the third is 255).
func readdress(n *lab.Node, p netip.Prefix) error {
	h, err := lab.Handle(n.NS)
	if err != nil {
		return err
	}
	defer h.Close()
	link, err := h.LinkByName(n.Dev)
	if err != nil {
		return fmt.Errorf("%s: %w", n.Name, err)
	}
	old := &netlink.Addr{IPNet: &net.IPNet{IP: n.Addr.Addr().AsSlice(), Mask: net.CIDRMask(n.Addr.Bits(), 32)}}
	if err := h.AddrDel(link, old); err != nil {
		return fmt.Errorf("%s: remove %s: %w", n.Name, n.Addr, err)
	}
	nw := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 32)}}
	if err := h.AddrAdd(link, nw); err != nil {
		return fmt.Errorf("%s: add %s: %w", n.Name, p, err)
	}
	n.Addr = p
	return nil
}

func (d *runner) setupNode(ctx context.Context, n *lab.Node, t0 time.Time) error {
	extra := "Linux bridge agent drives the kernel (vxlan devices, bridges) via netlink"
	if d.opt.Mechanism == MechOVS {
		o, err := lab.StartNodeOVS(ctx, n, d.log)
		if err != nil {
			return fmt.Errorf("node %s: %w", n.Name, err)
		}
		d.mu.Lock()
		d.ovs[n.Name] = o
		d.mu.Unlock()
		pids := o.PIDs()
		if err := d.record(func(c *Control) {
			for i, p := range pids {
				c.Procs = append(c.Procs, ProcRecord{Name: n.Name + " " + []string{"ovsdb-server", "ovs-vswitchd"}[i], PID: p,
					Program: []string{"ovsdb-server", "ovs-vswitchd"}[i]})
			}
			c.OVSRunDirs = append(c.OVSRunDirs, o.RunDir)
		}); err != nil {
			return err
		}
		extra = fmt.Sprintf("ovsdb-server + ovs-vswitchd (pids %v), br-phy holds the VTEP", pids)
	}
	d.mu.Lock()
	d.say("  %-10s  netns %-22s  VTEP %-15s  %s  [%.1fs]\n", n.Name, n.NS, n.IP(), extra, time.Since(t0).Seconds())
	d.mu.Unlock()
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (d *runner) etc(name string) string { return filepath.Join(d.opt.Dir, "etc", name) }

// startServer writes the server's config copies and starts it; it waits
// until the API answers and the agents' gRPC port accepts connections.
func (d *runner) startServer(ctx context.Context, l2pop bool) error {
	api, err := freePort()
	if err != nil {
		return err
	}
	if d.rpc == 0 {
		if d.rpc, err = freePort(); err != nil {
			return err
		}
	}
	nc, mc := serverFiles(d.opt.Mechanism, l2pop, api, d.rpc, filepath.Join(d.opt.Dir, "db"))
	suffix := ""
	if l2pop {
		suffix = ".l2pop"
	}
	ncPath, mcPath := d.etc("neutron.conf"), d.etc("ml2_conf"+suffix+".ini")
	if err := os.WriteFile(ncPath, []byte(nc), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(mcPath, []byte(mc), 0o644); err != nil {
		return err
	}
	args := []string{"server", "--config-file", ncPath, "--config-file", mcPath, "--auto-migrate"}
	d.apiURL = fmt.Sprintf("http://127.0.0.1:%d", api)
	d.api = apiclient.New(d.apiURL)
	d.api.ProjectID, d.api.Roles, d.api.UserID = projectID, "admin", "demo"
	_ = d.record(func(ct *Control) { ct.APIURL = d.apiURL })
	c, err := d.launchServer(ctx, args)
	if err != nil {
		return err
	}
	d.server = c
	drivers := "openvswitch"
	if d.opt.Mechanism == MechLB {
		drivers = "linuxbridge"
	}
	if l2pop {
		drivers += ",l2population"
	}
	d.say("  server      pid %-7d API %s, agents' gRPC 127.0.0.1:%d, mechanism_drivers = %s\n", c.pid(), d.apiURL, d.rpc, drivers)
	d.say("              database: embedded SQLite under %s (the seed's sql_connection = mysql://... is\n              commented out in the copy %s)\n", filepath.Join(d.opt.Dir, "db"), mcPath)
	return nil
}

// launchServer starts the server process and waits for its API and its
// agents' gRPC port.
func (d *runner) launchServer(ctx context.Context, args []string) (*child, error) {
	c, err := startChild(d.opt.Binary, "server", filepath.Join(d.opt.Dir, "log", "server.log"), args...)
	if err != nil {
		return nil, err
	}
	if err := d.record(func(ct *Control) {
		ct.Procs = append(ct.Procs, ProcRecord{Name: "server", PID: c.pid(), Program: filepath.Base(d.opt.Binary)})
	}); err != nil {
		return nil, errors.Join(err, c.stop())
	}
	err = poll(ctx, "server API and agents' gRPC port", 20*time.Second, func() (bool, string) {
		if c.exited() {
			return false, "server exited (see " + c.log + ")"
		}
		if _, err := d.api.ListNetworks(ctx, ""); err != nil {
			return false, err.Error()
		}
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", d.rpc), time.Second)
		if err != nil {
			return false, "agents' gRPC port: " + err.Error()
		}
		conn.Close()
		return true, ""
	})
	if err != nil {
		return nil, errors.Join(err, c.stop())
	}
	return c, nil
}

func (d *runner) writeAgentConfig(s agentSettings, name string) ([]string, error) {
	n := d.nodes[name]
	ovsdb := ""
	if o := d.ovs[name]; o != nil {
		ovsdb = o.OVSDB()
	}
	nc, ac, acName := agentFiles(d.opt.Mechanism, s, d.rpc, name, n.NS, n.IP().String(), ovsdb)
	dir := d.etc(name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	tag := "seed"
	switch {
	case s.ARPResponder:
		tag = "arp-responder"
	case s.L2Pop:
		tag = "l2pop"
	case s.VXLANGroup != "":
		tag = "multicast"
	}
	ncPath := filepath.Join(dir, "neutron.conf")
	acPath := filepath.Join(dir, tag+"."+acName)
	if err := os.WriteFile(ncPath, []byte(nc), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(acPath, []byte(ac), 0o644); err != nil {
		return nil, err
	}
	return []string{"--config-file", ncPath, "--config-file", acPath}, nil
}

// startAgents starts one agent per node and waits until every one has
// (re)registered since now.
func (d *runner) startAgents(ctx context.Context, s agentSettings, names []string) error {
	since := time.Now().Add(-time.Second) // the server's clock has second granularity at worst
	for _, name := range names {
		files, err := d.writeAgentConfig(s, name)
		if err != nil {
			return err
		}
		c, err := startChild(d.opt.Binary, "agent "+name, filepath.Join(d.opt.Dir, "log", "agent-"+name+".log"),
			append([]string{"agent", d.opt.Mechanism}, files...)...)
		if err != nil {
			return err
		}
		d.agents[name] = c
		if err := d.record(func(ct *Control) {
			ct.Procs = append(ct.Procs, ProcRecord{Name: "agent " + name, PID: c.pid(), Program: filepath.Base(d.opt.Binary)})
		}); err != nil {
			return err
		}
	}
	err := poll(ctx, "agents registered", waitAgents, func() (bool, string) {
		for _, name := range names {
			if c := d.agents[name]; c.exited() {
				return false, fmt.Sprintf("agent %s exited (see %s)", name, c.log)
			}
		}
		ags, err := d.api.ListAgents(ctx, "")
		if err != nil {
			return false, err.Error()
		}
		ok := map[string]bool{}
		for _, a := range ags {
			if a.Alive && !a.StartedAt.Before(since) {
				ok[a.Host] = true
			}
		}
		var missing []string
		for _, name := range names {
			if !ok[name] {
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 {
			return false, "waiting for " + strings.Join(missing, ", ")
		}
		return true, ""
	})
	if err != nil {
		return err
	}
	var pids []string
	for _, name := range names {
		pids = append(pids, fmt.Sprintf("%s=%d", name, d.agents[name].pid()))
	}
	d.say("  agents      neutrino agent %s, one per node, up: %s\n", d.opt.Mechanism, strings.Join(pids, " "))
	return nil
}

func (d *runner) stopAgents() error {
	var errs []error
	var wg sync.WaitGroup
	var mu sync.Mutex
	for name, c := range d.agents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.stop(); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
		delete(d.agents, name)
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (d *runner) stopAll() error {
	err := d.stopAgents()
	if d.server != nil {
		err = errors.Join(err, d.server.stop())
		d.server = nil
	}
	return err
}

func (d *runner) restartAgents(ctx context.Context, s agentSettings, names []string) error {
	if err := d.stopAgents(); err != nil {
		return err
	}
	return d.startAgents(ctx, s, names)
}

func (d *runner) printAgentList(ctx context.Context) error {
	ags, err := d.api.ListAgents(ctx, "")
	if err != nil {
		return fmt.Errorf("agent list: %w", err)
	}
	sort.Slice(ags, func(i, j int) bool { return ags[i].Host < ags[j].Host })
	var rows [][]string
	for _, a := range ags {
		alive := ":-)"
		if !a.Alive {
			alive = "xxx"
		}
		state := "UP"
		if !a.AdminStateUp {
			state = "DOWN"
		}
		rows = append(rows, []string{a.ID, a.AgentType, a.Host, alive, state, a.Binary})
	}
	d.say("Agents (GET %s/v2.0/agents, the columns of `neutron agent-list`):\n%s", d.apiURL,
		table([]string{"ID", "Agent Type", "Host", "Alive", "State", "Binary"}, rows, true))
	return nil
}

// showOVSTunnels waits until each node's br-tun has the tunnels the mode
// calls for, then prints br-tun as `ovs-vsctl show` prints it.
func (d *runner) showOVSTunnels(ctx context.Context, names []string, l2pop bool) error {
	var rows [][]string
	for _, name := range names {
		want := d.wantTunnels(name, l2pop)
		o := d.ovs[name]
		var section string
		err := poll(ctx, "tunnels on "+name, waitPlane, func() (bool, string) {
			show, err := o.Vsctl(ctx, "show")
			if err != nil {
				return false, err.Error()
			}
			section = bridgeSection(show, "br-tun")
			got := tunnelRemotes(section)
			if addrList(got) != addrList(want) {
				return false, fmt.Sprintf("br-tun has tunnels to %s, want %s", addrList(got), addrList(want))
			}
			return true, ""
		})
		if err != nil {
			return err
		}
		if !l2pop {
			d.res.Tunnels[name] = want
			d.say("\n[root@%s ~]# ovs-vsctl show   (br-tun; %d tunnel(s))\n%s", name, len(want), indent(section, ""))
			continue
		}
		rows = append(rows, []string{name, d.nodes[name].IP().String(), strconv.Itoa(len(want)), addrList(want)})
	}
	if l2pop {
		d.say("\nbr-tun tunnels now (partial mesh: only between nodes hosting ports of testnet):\n%s",
			indent(table([]string{"node", "VTEP", "tunnels", "to"}, rows, false), "  "))
	}
	return nil
}

// wantTunnels: without l2population every node tunnels to every other
// node; with it, only between nodes hosting ports of the same network.
func (d *runner) wantTunnels(name string, l2pop bool) []netip.Addr {
	var out []netip.Addr
	hosts := d.nodeNames()
	if l2pop {
		hosts = d.vmNodes()
		if !contains(hosts, name) {
			return nil
		}
	}
	for _, h := range hosts {
		if h != name {
			out = append(out, d.nodes[h].IP())
		}
	}
	return sortAddrs(out)
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func (d *runner) vxlanDev() string { return fmt.Sprintf("vxlan-%d", d.res.VNI) }

// showLBTunnels prints each node's vxlan device and FDB (the Linux bridge
// agent's tunnels), after waiting for the flood entries to be in place.
func (d *runner) showLBTunnels(ctx context.Context, names []string, l2pop, record bool) error {
	for _, name := range names {
		n := d.nodes[name]
		want := d.wantTunnels(name, l2pop)
		if l2pop && len(want) == 0 {
			d.say("\n[root@%s ~]# ip -d link show type vxlan\n    (none: no port of testnet here, so no vxlan device and no tunnel)\n", name)
			continue
		}
		var fdb string
		err := poll(ctx, "vxlan FDB on "+name, waitPlane, func() (bool, string) {
			b, err := lab.Exec(ctx, n.NS, "bridge", "fdb", "show", "dev", d.vxlanDev())
			if err != nil {
				return false, err.Error()
			}
			fdb = string(b)
			if got := floodDsts(fdb); addrList(got) != addrList(want) {
				return false, fmt.Sprintf("flood entries to %s, want %s", addrList(got), addrList(want))
			}
			return true, ""
		})
		if err != nil {
			return err
		}
		if record {
			d.res.Tunnels[name] = want
		}
		link, _ := lab.Exec(ctx, n.NS, "ip", "-d", "-o", "link", "show", d.vxlanDev())
		d.say("\n[root@%s ~]# ip -d link show %s; bridge fdb show dev %s\n%s%s", name, d.vxlanDev(), d.vxlanDev(),
			indent(vxlanSummary(string(link)), "    "), indent(strings.TrimSpace(fdb), "    "))
	}
	return nil
}

var vxlanAttrRE = regexp.MustCompile(`vxlan id \d+( group \S+)?( remote \S+)?( local \S+)?( dev \S+)?.*?( dstport \d+)`)

// vxlanSummary keeps the interesting part of `ip -d -o link show`.
func vxlanSummary(s string) string {
	name := ""
	if f := strings.Fields(s); len(f) > 1 {
		name = strings.TrimSuffix(f[1], ":")
	}
	if m := vxlanAttrRE.FindString(s); m != "" {
		return name + ": " + m
	}
	return strings.TrimSpace(s)
}

// createNetwork creates testnet and its subnet through the API.
func (d *runner) createNetwork(ctx context.Context) error {
	n, err := d.api.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: projectID, Name: "testnet"})
	if err != nil {
		return fmt.Errorf("create testnet: %w", err)
	}
	d.net = n
	sub, err := d.api.CreateSubnet(ctx, neutron.SubnetCreate{ProjectID: projectID, NetworkID: n.ID, Name: "testsubnet", IPVersion: 4, CIDR: cidr})
	if err != nil {
		return fmt.Errorf("create subnet: %w", err)
	}
	if len(n.Segments) > 0 {
		d.res.VNI = uint32(n.Segments[0].SegmentationID)
	}
	d.say("$ neutrino network create testnet        -> %s, provider:network_type vxlan, provider:segmentation_id (VNI) %d, mtu %d\n", n.ID, d.res.VNI, n.MTU)
	d.say("$ neutrino subnet create --network testnet %s -> %s, gateway %s\n", cidr, sub.ID, sub.GatewayIP)
	if d.res.VNI == 0 {
		return errors.New("testnet has no VNI")
	}
	gw, err := netip.ParseAddr(sub.GatewayIP)
	if err != nil {
		return fmt.Errorf("gateway %q: %w", sub.GatewayIP, err)
	}
	d.rtrIP = gw
	return nil
}

func newUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// plug creates a port bound to host and plugs a namespace into it the way
// Nova's VIF driver for the mechanism does (a veth; on OVS also the br-int
// port with os-vif's external_ids). router makes it the qrouter's qr-
// interface holding the gateway IP.
func (d *runner) plug(ctx context.Context, host, deviceID, owner string, router bool) (*lab.VM, *neutron.Port, error) {
	pc := neutron.PortCreate{ProjectID: projectID, NetworkID: d.net.ID, DeviceID: deviceID, DeviceOwner: owner, HostID: host}
	if router {
		pc.FixedIPs = []neutron.FixedIPRequest{{IPAddress: d.rtrIP.String()}}
	}
	p, err := d.api.CreatePort(ctx, pc)
	if err != nil {
		return nil, nil, fmt.Errorf("create port on %s: %w", host, err)
	}
	if len(p.FixedIPs) == 0 {
		return nil, nil, fmt.Errorf("port %s has no fixed IP", p.ID)
	}
	ip, err := netip.ParseAddr(p.FixedIPs[0].IPAddress)
	if err != nil {
		return nil, nil, err
	}
	vif := lab.VIF{PortID: p.ID, MAC: p.MACAddress, Addr: netip.PrefixFrom(ip, 24), MTU: d.net.MTU}
	node := d.nodes[host]
	var vm *lab.VM
	if router {
		vm, err = d.lab.AddRouter(ctx, node, deviceID, vif)
	} else {
		vif.Gateway = d.rtrIP
		vm, err = d.lab.AddVM(ctx, node, deviceID, vif)
	}
	if err != nil {
		return nil, nil, err
	}
	if o := d.ovs[host]; o != nil {
		if err := o.PlugVIF(ctx, "br-int", vm.Tap, p.ID, p.MACAddress, deviceID); err != nil {
			return nil, nil, err
		}
	}
	return vm, p, nil
}

// bootVMs is `nova boot --num-instances 2`: one VM per compute node (the
// scheduler spreads them), plus the L3 agent's router port on the
// controller.
func (d *runner) bootVMs(ctx context.Context) error {
	// The br-int bridge is the agent's; wait for it before plugging.
	for name, o := range d.ovs {
		if err := poll(ctx, "br-int on "+name, waitPlane, func() (bool, string) {
			_, err := o.Vsctl(ctx, "br-exists", "br-int")
			return err == nil, "br-int not created yet"
		}); err != nil {
			return err
		}
	}
	routerID := newUUID()
	r, rp, err := d.plug(ctx, "controller", routerID, "network:router_interface", true)
	if err != nil {
		return fmt.Errorf("router port: %w", err)
	}
	d.router = r
	d.say("router port %s (%s) on controller, namespace %s (qrouter-%s), interface %s\n",
		rp.ID, d.rtrIP, r.NS, routerID, r.VIF.IfName)
	for _, host := range []string{"compute-1", "compute-2"} {
		id := newUUID()
		vm, p, err := d.plug(ctx, host, id, "compute:nova", false)
		if err != nil {
			return fmt.Errorf("boot on %s: %w", host, err)
		}
		d.res.VMs = append(d.res.VMs, VMInfo{ID: id, Name: "vm-" + id, Host: host, IP: p.FixedIPs[0].IPAddress,
			MAC: strings.ToLower(p.MACAddress), PortID: p.ID, Namespace: vm.NS})
	}
	if err := d.writeLabState(); err != nil {
		return err
	}
	if err := d.waitPorts(ctx); err != nil {
		return err
	}
	var rows [][]string
	for _, v := range d.res.VMs {
		rows = append(rows, []string{v.ID, v.Name, "ACTIVE", "Running", v.Host, "testnet=" + v.IP})
	}
	d.say("\n$ nova list --fields name,status,power_state,host,networks   (neutrino vm list)\n%s",
		table([]string{"ID", "Name", "Status", "Power State", "Host", "Networks"}, rows, true))
	return nil
}

// writeLabState lets `neutrino vm list` (and vm boot/delete) work on a
// kept demo.
func (d *runner) writeLabState() error {
	mech := d.opt.Mechanism
	st := lab.State{Prefix: d.lab.Prefix, Mechanism: mech, Hosts: map[string]lab.Host{}, VMs: map[string]lab.VMRecord{}}
	for name, n := range d.nodes {
		h := lab.Host{Namespace: n.NS, LocalIP: n.IP(), Mechanism: mech}
		if o := d.ovs[name]; o != nil {
			h.OVSRunDir = o.RunDir
		}
		st.Hosts[name] = h
	}
	for _, v := range d.res.VMs {
		st.VMs[v.ID] = lab.VMRecord{Name: v.Name, Host: v.Host, Namespace: v.Namespace, PortID: v.PortID}
	}
	return lab.WriteState(d.opt.ControlDir, st)
}

// waitPorts waits until the router's and the VMs' ports are ACTIVE (their
// agents saw the devices and reported them up).
func (d *runner) waitPorts(ctx context.Context) error {
	ids := []string{d.router.VIF.PortID}
	for _, v := range d.res.VMs {
		ids = append(ids, v.PortID)
	}
	return poll(ctx, "ports ACTIVE", waitAgents, func() (bool, string) {
		for _, id := range ids {
			p, err := d.api.GetPort(ctx, id)
			if err != nil {
				return false, err.Error()
			}
			if p.Status != neutron.StatusActive {
				return false, fmt.Sprintf("port %s is %s", id, p.Status)
			}
		}
		return true, ""
	})
}

// waitPlane waits until the data plane on the given nodes realises the
// mode: multicast group on the vxlan device, l2population flood lists,
// ARP responder entries.
func (d *runner) waitPlane(ctx context.Context, s agentSettings, names []string) error {
	for _, name := range names {
		n := d.nodes[name]
		want := d.wantTunnels(name, s.L2Pop)
		var remoteIPs []string
		for _, v := range d.res.VMs {
			if v.Host != name {
				remoteIPs = append(remoteIPs, v.IP)
			}
		}
		err := poll(ctx, "data plane on "+name, waitPlane, func() (bool, string) {
			if d.opt.Mechanism == MechLB {
				link, err := lab.Exec(ctx, n.NS, "ip", "-d", "-o", "link", "show", d.vxlanDev())
				if err != nil {
					return false, err.Error()
				}
				hasGroup := strings.Contains(string(link), " group "+vxlanGroup+" ")
				if (s.VXLANGroup != "") != hasGroup {
					return false, "vxlan device group: " + vxlanSummary(string(link))
				}
				if s.VXLANGroup == "" {
					fdb, err := lab.Exec(ctx, n.NS, "bridge", "fdb", "show", "dev", d.vxlanDev())
					if err != nil {
						return false, err.Error()
					}
					if got := floodDsts(string(fdb)); addrList(got) != addrList(want) {
						return false, fmt.Sprintf("flood entries to %s, want %s", addrList(got), addrList(want))
					}
				}
				if s.ARPResponder {
					neigh, err := lab.Exec(ctx, n.NS, "ip", "neigh", "show", "dev", d.vxlanDev())
					if err != nil {
						return false, err.Error()
					}
					for _, ip := range remoteIPs {
						if !strings.Contains(string(neigh), ip+" ") {
							return false, "no ARP entry for " + ip
						}
					}
				}
				return true, ""
			}
			o := d.ovs[name]
			show, err := o.Vsctl(ctx, "show")
			if err != nil {
				return false, err.Error()
			}
			if got := tunnelRemotes(bridgeSection(show, "br-tun")); addrList(got) != addrList(want) {
				return false, fmt.Sprintf("br-tun tunnels to %s, want %s", addrList(got), addrList(want))
			}
			ifaces, err := o.Vsctl(ctx, "--bare", "--columns=ofport,options", "find", "Interface", "type=vxlan")
			if err != nil {
				return false, err.Error()
			}
			flows, err := o.Ofctl(ctx, "dump-flows", "br-tun", "table=22")
			if err != nil {
				return false, err.Error()
			}
			if got, wantPorts := floodOutputs(flows), tunnelOfports(ifaces, want); got != wantPorts {
				return false, fmt.Sprintf("br-tun flood flow outputs to ports %q, want %q", got, wantPorts)
			}
			if s.ARPResponder {
				flows, err := o.Ofctl(ctx, "dump-flows", "br-tun", "table=21")
				if err != nil {
					return false, err.Error()
				}
				for _, ip := range remoteIPs {
					if !strings.Contains(flows, "arp_tpa="+ip+" ") && !strings.Contains(flows, "arp_tpa="+ip+",") {
						return false, "no ARP responder flow for " + ip
					}
				}
			}
			return true, ""
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// capture records VXLAN (UDP 4789) frames on one node's port of the
// underlay bridge: what the node sends arrives there (Outgoing false),
// what is sent to the node leaves there (Outgoing true).
type capture struct {
	cancel context.CancelFunc
	recs   []captured
	errf   func() error
	done   chan struct{}
}

type captured struct {
	node string
	rec  vxlan.Record
}

func (d *runner) startCapture(ctx context.Context, nodes ...string) (*capture, error) {
	cctx, cancel := context.WithCancel(ctx)
	c := &capture{cancel: cancel, done: make(chan struct{})}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errfs []func() error
	for _, name := range nodes {
		ch, errf, err := openCapture(cctx, d.lab.Underlay, d.ports[name])
		if err != nil {
			cancel()
			wg.Wait()
			return nil, fmt.Errorf("capture on %s's underlay port: %w", name, err)
		}
		errfs = append(errfs, errf)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range ch {
				mu.Lock()
				c.recs = append(c.recs, captured{node: name, rec: r})
				mu.Unlock()
			}
		}()
	}
	go func() { wg.Wait(); close(c.done) }()
	c.errf = func() error {
		var errs []error
		for _, f := range errfs {
			errs = append(errs, f())
		}
		return errors.Join(errs...)
	}
	return c, nil
}

// stop lets frames in flight (copies, replies) arrive, then ends the
// capture and returns the frames in time order.
func (c *capture) stop() ([]captured, error) {
	time.Sleep(300 * time.Millisecond)
	c.cancel()
	<-c.done
	sort.SliceStable(c.recs, func(i, j int) bool { return c.recs[i].rec.Time.Before(c.recs[j].rec.Time) })
	return c.recs, c.errf()
}

// pingStep pings the VM on compute-1 from the qrouter namespace and shows
// the decoded capture from the controller's underlay port.
func (d *runner) pingStep(ctx context.Context) error {
	vm := d.res.VMs[0]
	// Warm-up: resolves ARP and proves the path, so the captured ping is
	// the seed's single ICMP exchange.
	err := poll(ctx, "first ping "+vm.IP, waitPlane, func() (bool, string) {
		_, err := lab.Exec(ctx, d.router.NS, "ping", "-n", "-c", "1", "-W", "1", vm.IP)
		if err != nil {
			return false, err.Error()
		}
		return true, ""
	})
	if err != nil {
		return err
	}
	c, err := d.startCapture(ctx, "controller")
	if err != nil {
		return err
	}
	cmd := fmt.Sprintf("ping -c 1 %s", vm.IP)
	out, perr := lab.Exec(ctx, d.router.NS, "ping", "-n", "-c", "1", "-W", "3", vm.IP)
	recs, cerr := c.stop()
	if cerr != nil {
		return cerr
	}
	d.res.PingOK = perr == nil
	d.say("[root@controller ~]# ip netns exec qrouter-%s %s\n%s", d.router.Name, cmd, indent(pingSummary(string(out)), "    "))
	if perr != nil {
		return fmt.Errorf("ping %s from the router namespace: %w", vm.IP, perr)
	}
	file, err := d.writePcap("ping", recs)
	if err != nil {
		return err
	}
	d.say("\nCaptured on the controller's underlay port (%d packets, %s):\n", len(recs), file)
	for _, r := range recs {
		p, text := decode(r.rec)
		d.res.PingCapture = append(d.res.PingCapture, p)
		d.say("  %s\n", text)
	}
	for _, r := range recs {
		var p vxlan.Packet
		if err := vxlan.Decode(r.rec.Data, &p); err != nil || !p.IsVXLAN || p.Inner.Layers&vxlan.LayerICMP == 0 {
			continue
		}
		d.say("\nThe echo request, header by header (as Wireshark shows the seed's capture):\n%s", indent(layers(&p), "  "))
		d.say("The ping crossed the underlay as one unicast VXLAN packet each way, %s <-> %s, VNI %d.\n",
			p.Outer.IPv4.Src, p.Outer.IPv4.Dst, p.VXLAN.VNI)
		break
	}
	return nil
}

func pingSummary(out string) string {
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "bytes from") || strings.Contains(l, "packets transmitted") {
			keep = append(keep, strings.TrimSpace(l))
		}
	}
	return strings.Join(keep, "\n")
}

var arpingReplyRE = regexp.MustCompile(`(?i)reply from (\S+) \[([0-9a-f:]+)\]`)

// floodStep sends one ARP broadcast for the compute-1 VM from the router
// namespace and counts its copies on the underlay.
func (d *runner) floodStep(ctx context.Context, mode, pcapName string) error {
	vm := d.res.VMs[0]
	target, _ := netip.ParseAddr(vm.IP)
	nodes := []string{"controller"}
	has3 := d.nodes["compute-3"] != nil
	if has3 {
		nodes = append(nodes, "compute-3")
	}
	c, err := d.startCapture(ctx, nodes...)
	if err != nil {
		return err
	}
	out, aerr := lab.Exec(ctx, d.router.NS, "arping", "-c", "1", "-w", "2", "-I", d.router.VIF.IfName, vm.IP)
	recs, cerr := c.stop()
	if cerr != nil {
		return cerr
	}
	f := Flood{Mode: mode, Compute3: -1}
	if has3 {
		f.Compute3 = 0
	}
	ctlIP := d.nodes["controller"].IP()
	var lines []string
	for _, r := range recs {
		p, text := decode(r.rec)
		isReq := p.IsVXLAN && p.innerARP == vxlan.ARPRequest && p.arpTarget == target
		switch {
		case r.node == "controller" && !r.rec.Outgoing && p.OuterSrc == ctlIP && isReq:
			f.Copies = append(f.Copies, p.OuterDst)
			lines = append(lines, "  copy     "+text)
		case r.node == "controller" && r.rec.Outgoing && p.IsVXLAN && p.innerARP == vxlan.ARPReply:
			f.ReplyVia = p.OuterSrc
			lines = append(lines, "  reply    "+text)
		case r.node == "compute-3" && r.rec.Outgoing && isReq:
			f.Compute3++
			lines = append(lines, "  at c-3   "+text)
		}
	}
	if m := arpingReplyRE.FindStringSubmatch(string(out)); m != nil {
		for _, v := range d.res.VMs {
			if strings.EqualFold(v.MAC, m[2]) {
				f.AnsweredBy = "the VM on " + v.Host + " (" + v.IP + ")"
				f.AnsweredHost = v.Host
			}
		}
		if f.AnsweredBy == "" {
			f.AnsweredBy = "unknown MAC " + m[2]
		}
	}
	file, err := d.writePcap(pcapName, recs)
	if err != nil {
		return err
	}
	f.Pcap = file
	d.res.Floods = append(d.res.Floods, f)
	d.res.Pcaps = append(d.res.Pcaps, file)

	d.say("\n[root@controller ~]# ip netns exec qrouter-%s arping -c 1 -I %s %s\n", d.router.Name, d.router.VIF.IfName, vm.IP)
	d.say("%s", indent(arpingSummary(string(out)), "    "))
	d.say("\nOn the underlay (%s; copy = sent by the controller, at c-3 = delivered to compute-3):\n", file)
	if len(lines) == 0 {
		d.say("  (no VXLAN packet at all)\n")
	}
	for _, l := range lines {
		d.say("%s\n", l)
	}
	d.say("\n=> %s: the broadcast left the controller as %d VXLAN packet(s)", mode, len(f.Copies))
	if len(f.Copies) > 0 {
		d.say(" to %s", addrList(sortAddrs(append([]netip.Addr(nil), f.Copies...))))
	}
	d.say(".\n")
	if has3 {
		d.say("   compute-3 (no port of testnet) received %d of them.\n", f.Compute3)
	}
	switch {
	case f.AnsweredBy == "":
		d.say("   Nobody answered.\n")
	case f.ReplyVia.IsValid():
		d.say("   %s answered; the reply came back over the underlay from %s.\n", f.AnsweredBy, f.ReplyVia)
	default:
		d.say("   The answer (the MAC of %s) never crossed the underlay: the controller's ARP responder replied.\n", f.AnsweredBy)
	}
	if aerr != nil && f.AnsweredBy == "" {
		return fmt.Errorf("arping %s: %w", vm.IP, aerr)
	}
	return nil
}

func arpingSummary(out string) string {
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "reply from") || strings.HasPrefix(l, "Sent") || strings.HasPrefix(l, "Received") {
			keep = append(keep, strings.TrimSpace(l))
		}
	}
	return strings.Join(keep, "\n")
}

func (d *runner) writePcap(name string, recs []captured) (string, error) {
	file := filepath.Join(d.opt.Dir, "pcap", name+".pcap")
	rs := make([]vxlan.Record, len(recs))
	for i, r := range recs {
		rs[i] = r.rec
	}
	if err := writePcapFile(file, rs); err != nil {
		return "", err
	}
	if name == "ping" {
		d.res.Pcaps = append(d.res.Pcaps, file)
	}
	return file, nil
}

// summary prints the closing table.
func (d *runner) summary() {
	d.heading("7", "Summary")
	var rows [][]string
	for _, f := range d.res.Floods {
		c3 := "-"
		if f.Compute3 >= 0 {
			c3 = strconv.Itoa(f.Compute3)
		}
		ans := "nobody"
		switch {
		case f.AnsweredBy != "" && f.ReplyVia.IsValid():
			ans = "VM on " + f.AnsweredHost
		case f.AnsweredBy != "":
			ans = "ARP responder on controller"
		}
		rows = append(rows, []string{f.Mode, strconv.Itoa(len(f.Copies)), addrList(sortAddrs(append([]netip.Addr(nil), f.Copies...))), c3, ans, filepath.Base(f.Pcap)})
	}
	d.say("Flood copies per ARP broadcast (mechanism %s, testnet VNI %d):\n\n%s", d.opt.Mechanism, d.res.VNI,
		indent(table([]string{"mode", "copies", "to", "compute-3 got", "answered by", "pcap"}, rows, false), "  "))
	d.say("\nCaptures (open with Wireshark or tcpdump -r): %s\n", filepath.Join(d.opt.Dir, "pcap"))
	d.say("Total time: %.1fs\n", d.res.Elapsed.Seconds())
}

func (d *runner) printKeep() {
	d.say("\nEverything is still running (--keep). Explore it:\n")
	d.say("  neutrino port list --os-url %s --os-roles admin\n", d.apiURL)
	d.say("  neutrino network show testnet --os-url %s --os-roles admin\n", d.apiURL)
	d.say("  neutrino vm list --os-url %s --state-dir %s\n", d.apiURL, d.opt.ControlDir)
	d.say("  openstack --os-auth-type none --os-endpoint %s network agent list\n", d.apiURL)
	for _, name := range d.nodeNames() {
		d.say("  ip netns exec %s bash     # %s\n", d.nodes[name].NS, name)
	}
	if d.router != nil {
		d.say("  ip netns exec %s ping %s\n", d.router.NS, d.res.VMs[0].IP)
	}
	if o := d.ovs["controller"]; o != nil {
		d.say("  ovs-vsctl --db=%s show\n", o.OVSDB())
		d.say("  OVS_RUNDIR=%s ovs-ofctl dump-flows br-tun\n", o.RunDir)
	}
	d.say("Logs: %s\nRemove it all with: neutrino demo down", filepath.Join(d.opt.Dir, "log"))
	if d.opt.ControlDir != lab.StateDir("") {
		d.say(" --state-dir %s", d.opt.ControlDir)
	}
	d.say("\n")
}

// cleanup stops what the demo started and deletes the lab.
func (d *runner) cleanup(ctx context.Context) error {
	var errs []error
	errs = append(errs, d.stopAll())
	for _, o := range d.ovs {
		errs = append(errs, o.Stop())
	}
	if d.lab != nil {
		errs = append(errs, d.lab.Teardown(ctx))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return removeControl(d.opt.ControlDir)
}

func removeControl(dir string) error {
	var errs []error
	for _, f := range []string{ControlFileName, lab.StateFileName, lab.StateFileName + ".lock"} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
