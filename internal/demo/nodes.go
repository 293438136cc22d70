package demo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"neutrino/internal/apiclient"
	"neutrino/internal/lab"
	"neutrino/internal/neutron"
)

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
	// Nodes are added one by one at the seed's VTEP addresses, then set
	// up in parallel.
	for _, s := range nodes {
		n, err := d.lab.AddNodeAt(ctx, s.name, netip.PrefixFrom(s.ip, underlayBits))
		if err != nil {
			return err
		}
		d.nodes[s.name] = n
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
	var err error
	if d.rpc == 0 {
		if d.rpc, err = freePort(); err != nil {
			return err
		}
	}
	suffix := ""
	if l2pop {
		suffix = ".l2pop"
	}
	ncPath, mcPath := d.etc("neutron.conf"), d.etc("ml2_conf"+suffix+".ini")
	var c *child
	// The API port is free when picked but not reserved: another process
	// on this busy machine may bind it (an outgoing connection's
	// ephemeral port) before the server does. Then a new one is picked.
	for attempt := 1; ; attempt++ {
		api, err := freePort()
		if err != nil {
			return err
		}
		nc, mc := serverFiles(d.opt.Mechanism, l2pop, api, d.rpc, filepath.Join(d.opt.Dir, "db"))
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
		c, err = d.launchServer(ctx, args)
		if err == nil {
			break
		}
		log, _ := os.ReadFile(filepath.Join(d.opt.Dir, "log", "server.log"))
		if attempt == 3 || !strings.Contains(string(log), fmt.Sprintf("API listen: listen tcp 127.0.0.1:%d: bind: address already in use", api)) {
			return err
		}
		d.log.Warn("the API port was taken before the server bound it; picking another", "port", api)
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
	nc, ac, acName := agentFiles(d.opt.Mechanism, s, d.rpc, name, n.NS, n.IP().String(), ovsdb, name == "controller")
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
			if a.Alive && !a.StartedAt.Before(since) && (a.AgentType == neutron.AgentTypeOVS || a.AgentType == neutron.AgentTypeLinuxBridge) {
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
	if d.dhcpAgent != nil {
		err = errors.Join(err, d.dhcpAgent.stop())
		d.dhcpAgent = nil
	}
	if d.l3Agent != nil {
		err = errors.Join(err, d.l3Agent.stop())
		d.l3Agent = nil
	}
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

// cleanup stops what the demo started and deletes the lab.
func (d *runner) cleanup(ctx context.Context) error {
	var errs []error
	errs = append(errs, d.stopAll(), d.removeDHCP(ctx), d.removeL3())
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
