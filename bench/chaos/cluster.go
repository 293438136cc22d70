package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"neutrino/internal/agent"
	"neutrino/internal/apiclient"
	"neutrino/internal/config"
	"neutrino/internal/lab"
	"neutrino/internal/neutron"
)

// The management network joins the servers and every node's agent; it is
// apart from the underlay so that an OVS node's control traffic does not
// pass through its own ovs-vswitchd, and so that the harness can cut one
// agent's link to the servers without touching tunnels.
var (
	mgmtPrefix  = netip.MustParsePrefix("198.18.1.0/24")
	mgmtHarness = netip.MustParseAddr("198.18.1.254") // on br-mgmt, in the underlay namespace
)

const (
	mgmtBridge = "br-mgmt"
	mgmtDev    = "mgmt"
	apiPort    = 9696
	rpcPort    = 9697
)

// proc is a server, agent or database process the harness started: its
// own process group, killed with the harness (Pdeathsig), output in a log
// file. Kill and stop act on its PID only.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
}

func startProc(name, logPath string, cred *syscall.Credential, argv ...string) (*proc, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: cred}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// signal sends sig and waits up to d for the exit; then SIGKILL.
func (p *proc) signal(sig syscall.Signal, d time.Duration) {
	if p == nil || p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return
	case <-time.After(d):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

func (p *proc) kill() { p.signal(syscall.SIGKILL, 0) }
func (p *proc) stop() { p.signal(syscall.SIGTERM, 10*time.Second) }

// node is one hypervisor: a lab node with an agent of its kind.
type node struct {
	*lab.Node
	kind  string // agent.KindOVS or agent.KindLinuxBridge
	mgmt  netip.Addr
	ovs   *lab.OVS
	files []string // the agent's --config-file arguments
	cfg   *config.Agent
	agent *proc
	mu    sync.Mutex // guards ovs daemons during a crash fault
	// pub is the node's interface on the "public" physnet (the Linux
	// bridge agent's physical_interface_mappings), "" when it has none.
	pub string
}

// server is one neutrino server in its own namespace.
type server struct {
	name string
	ns   string
	addr netip.Addr
	conf string
	p    *proc
	api  *apiclient.Client
}

func (s *server) url() string { return fmt.Sprintf("http://%s:%d", s.addr, apiPort) }

// cluster is everything the harness runs.
type cluster struct {
	dir    string
	bin    string
	log    *slog.Logger
	lab    *lab.Lab
	dbKind string
	db     database
	// firewall: the L2 agents run their real firewall drivers.
	firewall bool
	nodes    []*node
	servers  []*server
	// aux are the L3 and DHCP agents (on nodes that also run an L2
	// agent, as on Neutron's network nodes); public is the external
	// network's upstream.
	aux     []*auxAgent
	public  *lab.Physnet
	outside *lab.Outside
	token   string
	http    *http.Client
}

// nsDial dials from inside the namespace ns: the socket is created on a
// thread switched into it and stays there. The harness reaches the
// servers' API this way without any address or route in the root
// namespace.
func nsDial(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := lab.InNS(ns, func() error {
			var err error
			c, err = (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
}

// nodePlan says which kinds the nodes get: alternating Linux bridge and
// Open vSwitch.
func nodePlan(n int) []struct{ name, kind string } {
	var out []struct{ name, kind string }
	lb, ovs := 0, 0
	for i := 0; i < n; i++ {
		if i%2 == 0 {
			lb++
			out = append(out, struct{ name, kind string }{fmt.Sprintf("lb-%d", lb), agent.KindLinuxBridge})
		} else {
			ovs++
			out = append(out, struct{ name, kind string }{fmt.Sprintf("ovs-%d", ovs), agent.KindOVS})
		}
	}
	return out
}

func newCluster(ctx context.Context, dir, bin, dbKind string, nNodes int, firewall bool, log *slog.Logger) (c *cluster, err error) {
	c = &cluster{dir: dir, bin: bin, log: log, dbKind: dbKind, firewall: firewall, token: "chaos-" + lab.RandomID()}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.teardown())
			c = nil
		}
	}()
	for _, d := range []string{"log", "etc"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return c, err
		}
	}
	db, err := startDatabase(ctx, dbKind, dir)
	if err != nil {
		return c, err
	}
	c.db = db // only a started one: teardown stops it
	if c.lab, err = lab.New(ctx, log); err != nil {
		return c, err
	}
	if err := c.mgmtBridge(); err != nil {
		return c, err
	}
	c.http = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: nsDial(c.lab.Underlay), MaxIdleConnsPerHost: 4}}
	for i := 0; i < 2; i++ {
		n, err := c.lab.AddNode(ctx, fmt.Sprintf("ctl-%d", i+1))
		if err != nil {
			return c, err
		}
		addr := mgmtAddr(1 + i)
		if err := c.joinMgmt(n, i, addr); err != nil {
			return c, err
		}
		s := &server{name: fmt.Sprintf("server-%d", i+1), ns: n.NS, addr: addr}
		s.api = apiclient.New(s.url())
		s.api.HTTP = c.http
		s.api.ProjectID, s.api.Roles, s.api.UserID = project, "admin", "chaos"
		c.servers = append(c.servers, s)
	}
	for i, pl := range nodePlan(nNodes) {
		ln, err := c.lab.AddNode(ctx, pl.name)
		if err != nil {
			return c, err
		}
		n := &node{Node: ln, kind: pl.kind, mgmt: mgmtAddr(11 + i)}
		if pl.kind == agent.KindLinuxBridge {
			// A kernel vxlan device leaves the outer UDP checksum to the
			// "hardware" (CHECKSUM_PARTIAL); over veths nobody completes
			// it, and an OVS userspace datapath (AF_PACKET) on the other
			// side drops the frame. A real NIC computes it, so the lab's
			// underlay NIC does it in software.
			if err := lab.DisableOffloads(ctx, ln.NS, ln.Dev); err != nil {
				return c, err
			}
		}
		if err := c.joinMgmt(ln, 2+i, n.mgmt); err != nil {
			return c, err
		}
		c.nodes = append(c.nodes, n)
	}
	if err := c.addPublic(ctx); err != nil {
		return c, err
	}
	// OVS daemons start in parallel (each waits for its switch).
	var wg sync.WaitGroup
	errs := make([]error, len(c.nodes))
	for i, n := range c.nodes {
		if n.kind != agent.KindOVS {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.ovs, errs[i] = lab.StartNodeOVS(ctx, n.Node, log)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return c, err
	}
	if err := c.writeServerConfigs(); err != nil {
		return c, err
	}
	if out, err := exec.CommandContext(ctx, bin, "db", "upgrade", "head", "--config-file", c.servers[0].conf).CombinedOutput(); err != nil {
		return c, fmt.Errorf("db upgrade: %w: %s", err, out)
	}
	for _, s := range c.servers {
		if err := c.startServer(ctx, s); err != nil {
			return c, err
		}
	}
	for _, n := range c.nodes {
		if err := c.writeAgentConfig(n); err != nil {
			return c, err
		}
		if err := c.startAgent(n); err != nil {
			return c, err
		}
	}
	if err := c.addAuxAgents(); err != nil {
		return c, err
	}
	return c, c.waitAgentsAlive(ctx, time.Now().Add(-2*time.Second), 60*time.Second)
}

func mgmtAddr(host int) netip.Addr {
	b := mgmtPrefix.Addr().As4()
	b[3] = byte(host)
	return netip.AddrFrom4(b)
}

func (c *cluster) mgmtBridge() error {
	h, err := lab.Handle(c.lab.Underlay)
	if err != nil {
		return err
	}
	defer h.Close()
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: mgmtBridge}}
	if err := h.LinkAdd(br); err != nil {
		return fmt.Errorf("mgmt bridge: %w", err)
	}
	if err := h.LinkSetUp(br); err != nil {
		return err
	}
	return h.AddrAdd(br, &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(mgmtHarness, mgmtPrefix.Bits()))})
}

// joinMgmt adds a veth from br-mgmt (port "m<idx>" in the underlay
// namespace) to the node ("mgmt", with addr).
func (c *cluster) joinMgmt(n *lab.Node, idx int, addr netip.Addr) error {
	uh, err := lab.Handle(c.lab.Underlay)
	if err != nil {
		return err
	}
	defer uh.Close()
	fd, err := netns.GetFromName(n.NS)
	if err != nil {
		return err
	}
	defer fd.Close()
	port := fmt.Sprintf("m%d", idx)
	if err := uh.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: port}, PeerName: mgmtDev, PeerNamespace: netlink.NsFd(int(fd))}); err != nil {
		return fmt.Errorf("mgmt veth for %s: %w", n.Name, err)
	}
	br, err := uh.LinkByName(mgmtBridge)
	if err != nil {
		return err
	}
	pl, err := uh.LinkByName(port)
	if err != nil {
		return err
	}
	if err := uh.LinkSetMaster(pl, br); err != nil {
		return err
	}
	if err := uh.LinkSetUp(pl); err != nil {
		return err
	}
	nh, err := lab.Handle(n.NS)
	if err != nil {
		return err
	}
	defer nh.Close()
	dev, err := nh.LinkByName(mgmtDev)
	if err != nil {
		return err
	}
	if err := nh.AddrAdd(dev, &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(addr, mgmtPrefix.Bits()))}); err != nil {
		return err
	}
	return nh.LinkSetUp(dev)
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), 32)}
}

func (c *cluster) etc(name string) string { return filepath.Join(c.dir, "etc", name) }

func (c *cluster) writeServerConfigs() error {
	for _, s := range c.servers {
		s.conf = c.etc(s.name + ".conf")
		text := fmt.Sprintf(`[DEFAULT]
bind_host = %[1]s
bind_port = %[2]d
rpc_bind_host = %[1]s
rpc_bind_port = %[3]d
rpc_token = %[4]s
state_path = %[5]s
service_plugins = router
[database]
connection = %[6]s
[ml2]
type_drivers = vxlan,flat
tenant_network_types = vxlan
mechanism_drivers = openvswitch,linuxbridge,l2population
[ml2_type_flat]
flat_networks = %[7]s
[ml2_type_vxlan]
vni_ranges = 1001:2000
`, s.addr, apiPort, rpcPort, c.token, filepath.Join(c.dir, s.name), c.db.URL(), publicPhysnet)
		if err := os.WriteFile(s.conf, []byte(text), 0o600); err != nil {
			return err
		}
	}
	return nil
}

func (c *cluster) transportURL() string {
	var hosts []string
	for _, s := range c.servers {
		hosts = append(hosts, fmt.Sprintf("%s:%d", s.addr, rpcPort))
	}
	return "grpc://" + strings.Join(hosts, ",")
}

func (c *cluster) writeAgentConfig(n *node) error {
	nc := fmt.Sprintf("[DEFAULT]\nhost = %s\ndebug = True\ntransport_url = %s\nrpc_token = %s\n", n.Name, c.transportURL(), c.token)
	var ac, acName string
	switch n.kind {
	case agent.KindOVS:
		acName = "openvswitch_agent.ini"
		ac = fmt.Sprintf("[OVS]\nlocal_ip = %s\novsdb_connection = %s\ndatapath_type = netdev\n"+
			"[AGENT]\ntunnel_types = vxlan\nl2_population = True\npolling_interval = 1\nreport_interval = 2\n", n.IP(), n.ovs.OVSDB())
	default:
		acName = "linuxbridge_agent.ini"
		ac = fmt.Sprintf("[vxlan]\nenable_vxlan = True\nlocal_ip = %s\nudp_dstport = 4789\nl2_population = True\n"+
			"[agent]\npolling_interval = 1\nreport_interval = 2\n", n.IP())
		if n.pub != "" {
			ac += fmt.Sprintf("[linux_bridge]\nphysical_interface_mappings = %s:%s\n", publicPhysnet, n.pub)
		}
	}
	ac += "[securitygroup]\nfirewall_driver = " + c.firewallDriver(n.kind) + "\n"
	ncPath, acPath := c.etc(n.Name+"-neutron.conf"), c.etc(n.Name+"-"+acName)
	if err := os.WriteFile(ncPath, []byte(nc), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(acPath, []byte(ac), 0o600); err != nil {
		return err
	}
	n.files = []string{"--config-file", ncPath, "--config-file", acPath}
	cfg, _, err := config.LoadAgent(n.kind, ncPath, acPath)
	if err != nil {
		return fmt.Errorf("%s: %w", n.Name, err)
	}
	n.cfg = cfg
	return nil
}

// firewallDriver is the [securitygroup] firewall_driver of an L2 agent:
// nftables on Linux bridge (Neutron's name, iptables), conntrack flows in
// br-int on Open vSwitch (openvswitch), or noop without -firewall.
func (c *cluster) firewallDriver(kind string) string {
	switch {
	case !c.firewall:
		return "noop"
	case kind == agent.KindOVS:
		return "openvswitch"
	}
	return "iptables"
}

// startServer starts s in its namespace and waits for its API.
func (c *cluster) startServer(ctx context.Context, s *server) error {
	p, err := startProc(s.name, filepath.Join(c.dir, "log", s.name+".log"), nil,
		"ip", "netns", "exec", s.ns, c.bin, "server", "--config-file", s.conf)
	if err != nil {
		return err
	}
	s.p = p
	return waitUntil(ctx, 60*time.Second, s.name+" API", func() (bool, string) {
		if p.exited() {
			return false, s.name + " exited (see its log)"
		}
		_, err := s.api.ListNetworks(ctx, "")
		if err != nil {
			return false, err.Error()
		}
		return true, ""
	})
}

func (c *cluster) startAgent(n *node) error {
	argv := append([]string{"ip", "netns", "exec", n.NS, c.bin, "agent", n.kind}, n.files...)
	p, err := startProc("agent "+n.Name, filepath.Join(c.dir, "log", "agent-"+n.Name+".log"), nil, argv...)
	if err != nil {
		return err
	}
	n.agent = p
	return nil
}

// server is the server named name, or nil.
func (c *cluster) server(name string) *server {
	for _, s := range c.servers {
		if s.name == name {
			return s
		}
	}
	return nil
}

// anyAPI returns the client of a server that is running.
func (c *cluster) anyAPI() *apiclient.Client {
	for _, s := range c.servers {
		if s.p != nil && !s.p.exited() {
			return s.api
		}
	}
	return c.servers[0].api
}

// waitAgentsAlive waits until every agent (each node's L2 agent, the L3
// and DHCP agents) is running and has reported since since (its
// heartbeat reached a server after that).
func (c *cluster) waitAgentsAlive(ctx context.Context, since time.Time, bound time.Duration) error {
	return waitUntil(ctx, bound, "agents report", func() (bool, string) {
		for _, n := range c.nodes {
			if n.agent == nil || n.agent.exited() {
				return false, "agent " + n.Name + " is not running"
			}
		}
		for _, x := range c.aux {
			if x.p == nil || x.p.exited() {
				return false, x.name() + " is not running"
			}
		}
		last, err := c.heartbeats(ctx)
		if err != nil {
			return false, err.Error()
		}
		for _, k := range c.agentKeys() {
			if last[k].Before(since.UTC().Truncate(time.Second)) {
				return false, "no heartbeat from " + k.String()
			}
		}
		return true, ""
	})
}

// agentKey names one agent: its host and agent_type.
type agentKey struct{ host, typ string }

func (k agentKey) String() string { return k.typ + " on " + k.host }

// agentKeys lists every agent the harness runs.
func (c *cluster) agentKeys() []agentKey {
	var out []agentKey
	for _, n := range c.nodes {
		out = append(out, n.key())
	}
	for _, x := range c.aux {
		out = append(out, agentKey{x.node.Name, x.agentType()})
	}
	return out
}

func (n *node) key() agentKey {
	if n.kind == agent.KindOVS {
		return agentKey{n.Name, neutron.AgentTypeOVS}
	}
	return agentKey{n.Name, neutron.AgentTypeLinuxBridge}
}

// heartbeats returns each alive agent's last heartbeat.
func (c *cluster) heartbeats(ctx context.Context) (map[agentKey]time.Time, error) {
	ags, err := c.anyAPI().ListAgents(ctx, "")
	if err != nil {
		return nil, err
	}
	last := map[agentKey]time.Time{}
	for _, a := range ags {
		if a.Alive {
			last[agentKey{a.Host, a.AgentType}] = a.HeartbeatAt
		}
	}
	return last, nil
}

// cutLink drops the node's traffic to every server inside the node's
// namespace (blackhole routes for the servers' addresses), or restores it.
func (c *cluster) cutLink(n *node, cut bool) error {
	h, err := lab.Handle(n.NS)
	if err != nil {
		return err
	}
	defer h.Close()
	var errs []error
	for _, s := range c.servers {
		r := &netlink.Route{Dst: ipNet(netip.PrefixFrom(s.addr, 32)), Type: unix.RTN_BLACKHOLE}
		if cut {
			errs = append(errs, h.RouteAdd(r))
		} else if err := h.RouteDel(r); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// flapUnderlay sets the node's port on the underlay bridge down or up
// (in the underlay namespace).
func (c *cluster) flapUnderlay(n *node, up bool) error {
	h, err := lab.Handle(c.lab.Underlay)
	if err != nil {
		return err
	}
	defer h.Close()
	l, err := h.LinkByName(n.Port)
	if err != nil {
		return err
	}
	if up {
		return h.LinkSetUp(l)
	}
	return h.LinkSetDown(l)
}

// teardown stops every process the harness started (agents, servers,
// OVS daemons, PostgreSQL), each by its PID, and deletes the lab.
func (c *cluster) teardown() error {
	var errs []error
	for _, n := range c.nodes {
		if n.agent != nil {
			n.agent.stop()
		}
	}
	for _, x := range c.aux {
		if x.p != nil {
			x.p.stop()
		}
	}
	errs = append(errs, c.removeAux(context.Background()))
	for _, s := range c.servers {
		if s.p != nil {
			s.p.stop()
		}
	}
	for _, n := range c.nodes {
		if n.ovs != nil {
			c.keepOVSLogs(n)
			errs = append(errs, n.ovs.Stop())
		}
	}
	if c.lab != nil {
		errs = append(errs, c.lab.Teardown(context.Background()))
	}
	if c.db != nil {
		c.db.stop()
	}
	return errors.Join(errs...)
}

// waitUntil polls ok every 50 ms until it holds; past bound it fails with
// the last reason. Bounds only end a hang: no success depends on a sleep.
func waitUntil(ctx context.Context, bound time.Duration, what string, ok func() (bool, string)) error {
	deadline := time.Now().Add(bound)
	last := ""
	for {
		done, why := ok()
		if done {
			return nil
		}
		if why != "" {
			last = why
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not after %s: %s", what, bound, last)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", what, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// keepOVSLogs copies a node's ovs-vswitchd and ovsdb-server logs into the
// run's log directory before Stop removes the OVS run directory: they say
// what the switch did around a fault.
func (c *cluster) keepOVSLogs(n *node) {
	for _, d := range []string{"ovs-vswitchd", "ovsdb-server"} {
		if b, err := os.ReadFile(filepath.Join(n.ovs.RunDir, d+".log")); err == nil {
			_ = os.WriteFile(filepath.Join(c.dir, "log", n.Name+"-"+d+".log"), b, 0o644)
		}
	}
}
