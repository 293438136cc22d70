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
	"time"

	"github.com/gopacket/gopacket"
	gplayers "github.com/gopacket/gopacket/layers"

	"neutrino/internal/apiclient"
	"neutrino/internal/dhcp"
	"neutrino/internal/lab"
	"neutrino/internal/neutron"
	"neutrino/internal/vxlan"
)

// dhcpAgentFiles are the DHCP agent's config copies: the seed's
// neutron.conf with the controller's host name, namespace and the
// server's gRPC address, and a dhcp_agent.ini (the seed has none) with
// the mechanism's interface driver.
func dhcpAgentFiles(mech string, rpcPort int, host, namespace, statePath, ovsdb string) (neutronConf, dhcpConf string) {
	neutronConf = seedFile("neutron.conf")
	for _, o := range []kv{
		{"host_namespace", namespace},
		{"host", host},
		{"transport_url", fmt.Sprintf("grpc://127.0.0.1:%d", rpcPort)},
		{"state_path", statePath},
	} {
		neutronConf = setOption(neutronConf, "DEFAULT", o.key, o.value)
	}
	dhcpConf = "# neutrino demo: the DHCP agent on the controller\n[DEFAULT]\ninterface_driver = " + mech + "\n"
	if mech == MechOVS {
		dhcpConf += "[ovs]\novsdb_connection = " + ovsdb + "\n"
	}
	return neutronConf, dhcpConf
}

// dhcpStateDir is the DHCP agent's state_path; its dhcp/ holds the
// dnsmasq files. dnsmasq reads them after dropping root, so it lives
// directly under the system's temporary directory (the demo's own
// directory may sit under a private one, as a test's does), named after
// the lab, and goes with the demo.
func (d *runner) dhcpStateDir() string {
	return filepath.Join(os.TempDir(), "neutrino-dhcp-"+d.lab.Prefix)
}

// startDHCPAgent starts `neutrino agent dhcp` for the controller and waits
// until it registered.
func (d *runner) startDHCPAgent(ctx context.Context) error {
	name := "controller"
	n := d.nodes[name]
	ovsdb := ""
	if o := d.ovs[name]; o != nil {
		ovsdb = o.OVSDB()
	}
	state := d.dhcpStateDir()
	if err := os.MkdirAll(state, 0o755); err != nil {
		return err
	}
	if err := dhcp.CheckReachable(state); err != nil {
		return err
	}
	nc, dc := dhcpAgentFiles(d.opt.Mechanism, d.rpc, name, n.NS, state, ovsdb)
	dir := d.etc("dhcp-agent")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ncPath, dcPath := filepath.Join(dir, "neutron.conf"), filepath.Join(dir, "dhcp_agent.ini")
	if err := os.WriteFile(ncPath, []byte(nc), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(dcPath, []byte(dc), 0o644); err != nil {
		return err
	}
	if err := d.record(func(ct *Control) { ct.DHCPConfsDir, ct.DHCPHostNS = filepath.Join(state, "dhcp"), n.NS }); err != nil {
		return err
	}
	c, err := d.startServiceAgent(ctx, "dhcp", neutron.AgentTypeDHCP, name, ncPath, dcPath)
	d.dhcpAgent = c // nil if it did not start; else stopped by cleanup, also on error
	if err != nil {
		return err
	}
	d.say("  DHCP agent  neutrino agent dhcp on controller, pid %d, interface_driver = %s (dnsmasq in qdhcp- namespaces)\n",
		c.pid(), d.opt.Mechanism)
	return nil
}

// startServiceAgent starts `neutrino agent KIND` on the controller with
// the server's and its own config file, records it for cleanup, and waits
// until it has registered (since its start: a restarted agent's old
// record does not count).
func (d *runner) startServiceAgent(ctx context.Context, kind, agentType, host, serverConf, agentConf string) (*child, error) {
	since := time.Now().Add(-time.Second)
	name := "agent " + kind
	c, err := startChild(d.opt.Binary, name, filepath.Join(d.opt.Dir, "log", "agent-"+kind+".log"),
		"agent", kind, "--config-file", serverConf, "--config-file", agentConf)
	if err != nil {
		return nil, err
	}
	if err := d.record(func(ct *Control) {
		ct.Procs = append(ct.Procs, ProcRecord{Name: name, PID: c.pid(), Program: filepath.Base(d.opt.Binary)})
	}); err != nil {
		return c, err
	}
	err = poll(ctx, agentType+" registered", waitAgents, func() (bool, string) {
		if c.exited() {
			return false, name + " exited (see " + c.log + ")"
		}
		ags, err := d.api.ListAgents(ctx, "")
		if err != nil {
			return false, err.Error()
		}
		for _, a := range ags {
			if a.AgentType == agentType && a.Host == host && a.Alive && !a.StartedAt.Before(since) {
				return true, ""
			}
		}
		return false, "no " + agentType + " on " + host + " yet"
	})
	return c, err
}

// removeDHCP stops the DHCP agent and removes what it left on purpose
// (a restarted agent adopts them): dnsmasq processes, qdhcp- namespaces,
// taps, files.
func (d *runner) removeDHCP(ctx context.Context) error {
	var errs []error
	if d.dhcpAgent != nil {
		errs = append(errs, d.dhcpAgent.stop())
		d.dhcpAgent = nil
	}
	d.ctlMu.Lock()
	confs, hostNS := d.ctl.DHCPConfsDir, d.ctl.DHCPHostNS
	d.ctlMu.Unlock()
	errs = append(errs, removeDHCPState(ctx, confs, hostNS))
	return errors.Join(errs...)
}

// removeDHCPState removes a stopped DHCP agent's dnsmasq processes,
// namespaces and taps, then its state directory ("" confs: none).
func removeDHCPState(ctx context.Context, confs, hostNS string) error {
	if confs == "" {
		return nil
	}
	state := filepath.Dir(confs)
	if !strings.HasPrefix(filepath.Base(state), "neutrino-dhcp-nt-") {
		return fmt.Errorf("not removing %s: not a demo's DHCP agent state", state)
	}
	if hostNS != "" && !lab.NSExists(hostNS) {
		hostNS = "" // the node is gone, and its taps with it
	}
	opts := dhcp.DefaultOptions(state)
	opts.ConfsDir = confs
	if err := dhcp.NewApplier(dhcp.Config{Options: opts, HostNS: hostNS}).Remove(ctx); err != nil {
		return err
	}
	return os.RemoveAll(state)
}

// waitDHCPPort waits until the DHCP agent's port on testnet is ACTIVE:
// the scheduler made it, the agent plugged it, the controller's L2 agent
// wired it.
func (d *runner) waitDHCPPort(ctx context.Context) (*neutron.Port, error) {
	var port *neutron.Port
	err := poll(ctx, "DHCP port ACTIVE", waitAgents, func() (bool, string) {
		ps, err := d.api.ListPorts(ctx, apiclient.Query("network_id", d.net.ID, "device_owner", neutron.DeviceOwnerDHCP))
		if err != nil {
			return false, err.Error()
		}
		if len(ps) == 0 {
			return false, "no DHCP port on testnet yet"
		}
		if ps[0].Status != neutron.StatusActive {
			return false, "DHCP port " + ps[0].ID + " is " + ps[0].Status
		}
		port = &ps[0]
		return true, ""
	})
	return port, err
}

// dhcpVMs lets every VM ask for its address with udhcpc (what cirros
// runs), capturing the first VM's exchange on the controller's underlay
// port, and shows it decoded.
func (d *runner) dhcpVMs(ctx context.Context) error {
	dp, err := d.waitDHCPPort(ctx)
	if err != nil {
		return err
	}
	d.res.DHCPNamespace = dhcp.Namespace(d.net.ID)
	var dhcpIP string
	if len(dp.FixedIPs) > 0 {
		dhcpIP = dp.FixedIPs[0].IPAddress
	}
	d.say("\nThe DHCP agent serves testnet from namespace qdhcp-%s: dnsmasq on port %s (%s, %s on controller).\n",
		d.net.ID, dp.ID, dhcpIP, "tap"+dp.ID[:11])
	for i := range d.res.VMs {
		v := &d.res.VMs[i]
		// udhcpc gives up after 10 DISCOVERs; like a booting cirros VM
		// it is run again, twice at most, on a loaded machine.
		var l lab.Lease
		var recs []captured
		for attempt := 1; ; attempt++ {
			var c *capture
			if i == 0 {
				if c, err = d.startCapture(ctx, "controller"); err != nil {
					return err
				}
			}
			dctx, cancel := context.WithTimeout(ctx, waitPlane)
			l, err = lab.DHCPOnce(dctx, v.Namespace, "eth0", filepath.Join(d.opt.Dir, "vm-dhcp", v.ID))
			cancel()
			if c != nil {
				var cerr error
				recs, cerr = c.stop()
				err = errors.Join(err, cerr)
			}
			if err == nil || attempt == 3 || ctx.Err() != nil {
				break
			}
			d.log.Warn("no DHCP lease yet; asking again", "vm", v.Name, "attempt", attempt, "err", err)
		}
		if err != nil {
			return fmt.Errorf("vm %s: DHCP: %w", v.Name, err)
		}
		if l.Addr.Addr().String() != v.IP {
			return fmt.Errorf("vm %s got %s by DHCP, but its port has %s", v.Name, l.Addr, v.IP)
		}
		v.DHCP = l.String()
		d.leases[v.ID] = l
		d.say("[%s]$ udhcpc -i eth0   -> %s (from %s)\n", v.Name, l.String(), l.ServerID)
		if i != 0 {
			continue
		}
		file, err := d.writePcap("dhcp", recs)
		if err != nil {
			return err
		}
		lines := dhcpLines(recs)
		d.say("\nThe DHCP exchange as captured on the controller's underlay port (%s): the VM's\nbroadcasts reach the controller as VXLAN copies, dnsmasq's answers go back unicast.\n", file)
		for _, l := range lines {
			d.say("  %s\n", l)
		}
		d.res.DHCPExchange = lines
	}
	return nil
}

// dhcpLines decodes the DHCP messages among captured frames, one line each
// with the VXLAN hop it crossed ("DHCPDISCOVER xid ... " etc.).
func dhcpLines(recs []captured) []string {
	var out []string
	for _, r := range recs {
		var p vxlan.Packet
		if err := vxlan.Decode(r.rec.Data, &p); err != nil || !p.IsVXLAN || p.Inner.Layers&vxlan.LayerUDP == 0 {
			continue
		}
		if !(p.Inner.UDP.DstPort == 67 || p.Inner.UDP.DstPort == 68) {
			continue
		}
		msg, ok := decodeDHCP(p.Inner.Payload)
		if !ok {
			continue
		}
		out = append(out, fmt.Sprintf("%s > %s VNI %d | %s", p.Outer.IPv4.Src, p.Outer.IPv4.Dst, p.VXLAN.VNI, msg))
	}
	return out
}

// decodeDHCP describes one DHCPv4 message: its type, transaction id, the
// client's MAC and the addresses and options that matter to the VM.
func decodeDHCP(b []byte) (string, bool) {
	var m gplayers.DHCPv4
	if err := m.DecodeFromBytes(b, gopacket.NilDecodeFeedback); err != nil {
		return "", false
	}
	typ := ""
	var extra []string
	for _, o := range m.Options {
		switch o.Type {
		case gplayers.DHCPOptMessageType:
			if len(o.Data) == 1 {
				typ = "DHCP" + strings.ToUpper(gplayers.DHCPMsgType(o.Data[0]).String())
			}
		case gplayers.DHCPOptRequestIP:
			extra = append(extra, "requested "+ip4(o.Data))
		case gplayers.DHCPOptServerID:
			extra = append(extra, "server "+ip4(o.Data))
		case gplayers.DHCPOptRouter:
			extra = append(extra, "router "+ip4(o.Data))
		case gplayers.DHCPOptDNS:
			extra = append(extra, "dns "+ip4(o.Data))
		case gplayers.DHCPOptInterfaceMTU:
			if len(o.Data) == 2 {
				extra = append(extra, fmt.Sprintf("mtu %d", int(o.Data[0])<<8|int(o.Data[1])))
			}
		case gplayers.DHCPOptLeaseTime:
			if len(o.Data) == 4 {
				extra = append(extra, fmt.Sprintf("lease %ds", int(o.Data[0])<<24|int(o.Data[1])<<16|int(o.Data[2])<<8|int(o.Data[3])))
			}
		}
	}
	if typ == "" {
		return "", false
	}
	s := fmt.Sprintf("%-12s xid %#08x chaddr %s", typ, m.Xid, net.HardwareAddr(m.ClientHWAddr))
	if !m.YourClientIP.IsUnspecified() && m.YourClientIP != nil {
		s += " yiaddr " + m.YourClientIP.String()
	}
	if len(extra) > 0 {
		s += " (" + strings.Join(extra, ", ") + ")"
	}
	return s, true
}

func ip4(b []byte) string {
	var out []string
	for len(b) >= 4 {
		a, _ := netip.AddrFromSlice(b[:4])
		out = append(out, a.String())
		b = b[4:]
	}
	return strings.Join(out, ",")
}
