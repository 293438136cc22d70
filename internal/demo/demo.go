package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"neutrino/internal/apiclient"
	"neutrino/internal/lab"
	"neutrino/internal/neutron"
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
	// DHCPExchange is the first VM's DHCP exchange as captured on the
	// controller's underlay port, one decoded message per line.
	DHCPExchange []string
	// DHCPNamespace is the DHCP agent's qdhcp- namespace for testnet.
	DHCPNamespace string
	// Router is the router the L3 agent built.
	Router RouterInfo
	// RouterPing is the seed's `ip netns exec qrouter-<id> ping -c 1`.
	RouterPing PingCount
	// FloatingIP is the floating-IP step (nil until it ran).
	FloatingIP *FloatingIPResult
	// SecGroup are the counted pings of the security-group step: without
	// the ICMP rule, with it, and after it was deleted.
	SecGroup []SecGroupPing
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
	// DHCP is what the VM got by DHCP.
	DHCP string
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
	arpSender netip.Addr
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
	ovs    map[string]*lab.OVS
	server *child
	agents map[string]*child
	// dhcpAgent is the controller's DHCP agent; it runs through every
	// step (the L2 agents' restarts do not concern it).
	dhcpAgent *child
	// l3Agent is the controller's L3 agent.
	l3Agent  *child
	leases   map[string]lab.Lease // by VM id
	apiURL   string
	api      *apiclient.Client
	rpc      int
	net      *neutron.Network
	subnetID string
	// rtrIP is testsubnet's gateway IP, the router's address on testnet.
	rtrIP   netip.Addr
	router  RouterInfo
	extNet  string       // the external network public
	outside *lab.Outside // the upstream network's namespace on physnet1
	mu      sync.Mutex
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
		nodes: map[string]*lab.Node{}, ovs: map[string]*lab.OVS{}, agents: map[string]*child{}, leases: map[string]lab.Lease{}}
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
	d.heading("1", "Topology: 3 nodes on one underlay, an outside, server and agents")
	if err := d.buildLab(ctx, seedNodes[:3]); err != nil {
		return err
	}
	if err := d.buildOutside(ctx); err != nil {
		return err
	}
	if err := d.startServer(ctx, false); err != nil {
		return err
	}
	base := agentSettings{}
	if err := d.startAgents(ctx, base, d.nodeNames()); err != nil {
		return err
	}
	if err := d.startDHCPAgent(ctx); err != nil {
		return err
	}
	if err := d.startL3Agent(ctx); err != nil {
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
	d.heading("3", "testnet, 192.168.1.0/24, a router and two VMs (nova boot --num-instances 2)")
	if err := d.createNetwork(ctx); err != nil {
		return err
	}
	if err := d.createRouter(ctx); err != nil {
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

	// 4. Security groups, unicast.
	d.heading("4", "Security groups: the default group, a rule admitting ICMP, the rule deleted")
	if err := d.secGroupStep(ctx); err != nil {
		return err
	}
	d.heading("4b", "Unicast: ping a VM from the router namespace")
	if err := d.pingStep(ctx); err != nil {
		return err
	}
	d.heading("4c", "Floating IP: the outside reaches a VM by its floating IP only")
	if err := d.floatingIPStep(ctx); err != nil {
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
	d.say("Stopping the server and all agents and restarting them with ml2_conf.l2pop.ini\n(mechanism_drivers += l2population) and l2_population = True in every L2 agent, as\nthe seed says. The L3 agent comes back too and adopts %s as it is.\n", d.router.Namespace)
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
	if err := d.startL3Agent(ctx); err != nil {
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
	d.say("  live picture of the mesh: %s/ui/   (metrics: %s/metrics)\n", d.apiURL, d.apiURL)
	d.say("  neutrino trace --port <vm port> --dst broadcast --live --os-url %s\n", d.apiURL)
	d.say("  neutrino audit --os-url %s\n", d.apiURL)
	d.say("  neutrino port list --os-url %s --os-roles admin\n", d.apiURL)
	d.say("  neutrino network show testnet --os-url %s --os-roles admin\n", d.apiURL)
	d.say("  neutrino vm list --os-url %s --state-dir %s\n", d.apiURL, d.opt.ControlDir)
	d.say("  openstack --os-auth-type none --os-endpoint %s network agent list\n", d.apiURL)
	for _, name := range d.nodeNames() {
		d.say("  ip netns exec %s bash     # %s\n", d.nodes[name].NS, name)
	}
	if d.router.ID != "" {
		d.say("  ip netns exec %s ping %s\n", d.router.Namespace, d.res.VMs[0].IP)
	}
	if d.outside != nil {
		d.say("  ip netns exec %s bash     # the outside, on %s\n", d.outside.NS, physnet)
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
