package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"neutrino/internal/agent"
	"neutrino/internal/config"
	"neutrino/internal/dhcp"
	"neutrino/internal/l3"
	"neutrino/internal/lab"
	"neutrino/internal/neutron"
)

// The external network: a flat provider network on the physnet "public",
// which the L3 agent's node joins and whose upstream is an outside
// namespace at publicGateway. Addresses come from the benchmarking range.
const (
	publicPhysnet = "public"
	publicDev     = "pub0"
)

var (
	publicCIDR    = netip.MustParsePrefix("198.18.200.0/24")
	publicGateway = netip.MustParsePrefix("198.18.200.1/24")
	routerExtIP   = netip.MustParseAddr("198.18.200.10")
	floatingIP    = netip.MustParseAddr("198.18.200.20")
)

// Kinds of the agents beside the L2 ones.
const (
	auxL3   = "l3"
	auxDHCP = "dhcp"
)

// auxAgent is an L3 or DHCP agent. It runs on a node that also runs an L2
// agent, as on Neutron's network nodes: its router or DHCP ports are
// plugged into that node's bridges.
type auxAgent struct {
	kind  string // auxL3 or auxDHCP
	node  *node
	files []string
	l3    *config.L3Agent
	dhcp  *config.DHCPAgent
	p     *proc
}

func (x *auxAgent) name() string { return x.kind + "-agent " + x.node.Name }

// agentType is the agent_type the agent reports.
func (x *auxAgent) agentType() string {
	if x.kind == auxL3 {
		return neutron.AgentTypeL3
	}
	return neutron.AgentTypeDHCP
}

// addPublic makes the "public" physnet, joins the first Linux bridge node
// to it (the L3 agent's node) and adds the outside namespace.
func (c *cluster) addPublic(ctx context.Context) error {
	var err error
	if c.public, err = c.lab.AddPhysnet(ctx, publicPhysnet); err != nil {
		return err
	}
	n := c.l3Node()
	if _, err := c.public.Join(ctx, n.NS, publicDev); err != nil {
		return err
	}
	n.pub = publicDev
	c.outside, err = c.public.AddOutside(ctx, "public", publicGateway)
	return err
}

// l3Node is the node of the L3 agent (the first Linux bridge node: its
// interface driver puts router ports in brq bridges); dhcpNode the node of
// the DHCP agent (the first Open vSwitch node: DHCP ports on br-int).
func (c *cluster) l3Node() *node   { return c.firstOf(agent.KindLinuxBridge) }
func (c *cluster) dhcpNode() *node { return c.firstOf(agent.KindOVS) }

func (c *cluster) firstOf(kind string) *node {
	for _, n := range c.nodes {
		if n.kind == kind {
			return n
		}
	}
	return nil
}

// addAuxAgents writes the L3 and DHCP agents' configs and starts them.
func (c *cluster) addAuxAgents() error {
	for _, x := range []*auxAgent{{kind: auxL3, node: c.l3Node()}, {kind: auxDHCP, node: c.dhcpNode()}} {
		state := filepath.Join(c.dir, x.node.Name+"-"+x.kind)
		ini := fmt.Sprintf("[DEFAULT]\nstate_path = %s\n[agent]\nreport_interval = 2\n", state)
		if x.kind == auxL3 {
			ini = "[DEFAULT]\ninterface_driver = linuxbridge\n" + ini
		} else {
			ini = "[DEFAULT]\ninterface_driver = openvswitch\n" + ini +
				fmt.Sprintf("[ovs]\novsdb_connection = %s\n", x.node.ovs.OVSDB())
		}
		path := c.etc(x.node.Name + "-" + x.kind + "_agent.ini")
		if err := os.WriteFile(path, []byte(ini), 0o600); err != nil {
			return err
		}
		// The node's neutron.conf: host, transport_url, rpc_token.
		x.files = []string{"--config-file", x.node.files[1], "--config-file", path}
		var err error
		if x.kind == auxL3 {
			x.l3, _, err = config.LoadL3Agent(x.node.files[1], path)
		} else {
			x.dhcp, _, err = config.LoadDHCPAgent(x.node.files[1], path)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", x.name(), err)
		}
		if err := c.startAux(x); err != nil {
			return err
		}
		c.aux = append(c.aux, x)
	}
	return nil
}

// startAux starts the agent in its node's network namespace with
// nsenter, not `ip netns exec`: that gives the process a mount namespace
// of its own, where the qrouter- and qdhcp- namespaces it creates (bind
// mounts under /run/netns) would be invisible to everyone else.
func (c *cluster) startAux(x *auxAgent) error {
	argv := append([]string{"nsenter", "--net=/run/netns/" + x.node.NS, c.bin, "agent", x.kind}, x.files...)
	p, err := startProc(x.name(), filepath.Join(c.dir, "log", "agent-"+x.node.Name+"-"+x.kind+".log"), nil, argv...)
	if err != nil {
		return err
	}
	x.p = p
	return nil
}

func (c *cluster) auxOf(kind string) *auxAgent {
	for _, x := range c.aux {
		if x.kind == kind {
			return x
		}
	}
	return nil
}

// removeAux removes what the stopped L3 and DHCP agents left (they keep
// routers and dnsmasq across a restart by design): the agents' own
// appliers, given an empty state, delete the qrouter- and qdhcp-
// namespaces they recorded and stop their dnsmasq processes by pid file.
func (c *cluster) removeAux(ctx context.Context) error {
	var errs []error
	for _, x := range c.aux {
		switch x.kind {
		case auxL3:
			a := l3.NewApplier(l3.Config{StateDir: x.l3.RoutersDir, Driver: l3.BridgeDriver{}, HostNS: x.node.NS})
			errs = append(errs, a.Remove(ctx))
			a.Close()
		case auxDHCP:
			errs = append(errs, dhcp.NewApplier(dhcp.Config{Options: dhcpOptions(x.dhcp), HostNS: x.node.NS}).Remove(ctx))
		}
	}
	return errors.Join(errs...)
}

// dhcpOptions are the DHCP agent's dnsmasq options, as `neutrino agent
// dhcp` builds them from its config.
func dhcpOptions(cfg *config.DHCPAgent) dhcp.Options {
	return dhcp.Options{ConfsDir: cfg.ConfsDir, LeaseDuration: cfg.LeaseDuration, DNSServers: cfg.DNSServers,
		DNSDomain: cfg.DNSDomain, LeaseMax: cfg.LeaseMax, ConfigFile: cfg.DNSMasqConfigFile}
}

// ownedDaemon reports whether a process is a dnsmasq of the run's DHCP
// agent: dnsmasq daemonizes (so that it outlives an agent restart, as
// under Neutron), so it descends from no harness process, yet it is no
// orphan while the agent's pid file names it.
func (c *cluster) ownedDaemon(p markedProc) bool {
	x := c.auxOf(auxDHCP)
	if x == nil || !strings.Contains(p.cmd, "--pid-file="+x.dhcp.ConfsDir+"/") {
		return false
	}
	for _, a := range strings.Fields(p.cmd) {
		if f, ok := strings.CutPrefix(a, "--pid-file="); ok {
			b, err := os.ReadFile(f)
			return err == nil && strings.TrimSpace(string(b)) == fmt.Sprint(p.pid)
		}
	}
	return false
}

// leftNamespaces lists the qrouter- and qdhcp- namespaces of the run's
// routers and networks that are still there.
func leftNamespaces(routers, nets []string) []string {
	var out []string
	for _, id := range routers {
		if lab.NSExists(l3.Namespace(id)) {
			out = append(out, "namespace left: "+l3.Namespace(id))
		}
	}
	for _, id := range nets {
		if lab.NSExists(dhcp.Namespace(id)) {
			out = append(out, "namespace left: "+dhcp.Namespace(id))
		}
	}
	return out
}
