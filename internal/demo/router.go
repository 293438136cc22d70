package demo

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"neutrino/internal/l3"
	"neutrino/internal/lab"
	"neutrino/internal/neutron"
)

// RouterInfo is the router the demo creates through the API and where the
// L3 agent built it.
type RouterInfo struct {
	ID string
	// Namespace is qrouter-<router id>, a named namespace (`ip netns`)
	// the L3 agent made.
	Namespace string
	// PortID is the router's interface on testnet; Interface is its
	// device qr-<port id[:11]>, holding the subnet's gateway IP.
	PortID, Interface string
	// GatewayIP is the router's address on the external network public.
	GatewayIP string
}

// PingCount is what ping said: its counts, or (Sent 0) why it sent
// nothing.
type PingCount struct {
	Sent, Received int
	Error          string
}

// FloatingIPResult is the floating-IP step: the outside pings the VM's
// floating IP while it is associated, the VM's fixed IP, and the floating
// IP again after the disassociation.
type FloatingIPResult struct {
	ID, Address, FixedIP, VM string
	// Status is the floating IP's status once associated (the L3 agent
	// reports ACTIVE when its DNAT is in place).
	Status string
	// DNAT is the rule the router's prerouting chain holds for it.
	DNAT                            string
	Associated, Fixed, Unassociated PingCount
}

// l3StateDir is the L3 agent's state_path: its l3/ names the routers it
// made (one file per router id), which is how the demo and `neutrino demo
// down` find the qrouter- namespaces to delete (they are named after the
// router alone, not the lab's prefix).
func (d *runner) l3StateDir() string { return filepath.Join(d.opt.Dir, l3StateName) }

const l3StateName = "l3-agent"

// l3AgentFiles are the L3 agent's config copies: the seed's neutron.conf
// with the controller's host name, namespace, state_path and the server's
// gRPC address, and an l3_agent.ini (the seed has none) with the
// mechanism's interface driver.
func l3AgentFiles(mech string, rpcPort int, host, namespace, statePath, ovsdb string) (neutronConf, l3Conf string) {
	neutronConf = seedFile("neutron.conf")
	for _, o := range []kv{
		{"host_namespace", namespace},
		{"host", host},
		{"transport_url", fmt.Sprintf("grpc://127.0.0.1:%d", rpcPort)},
		{"state_path", statePath},
	} {
		neutronConf = setOption(neutronConf, "DEFAULT", o.key, o.value)
	}
	l3Conf = "# neutrino demo: the L3 agent on the controller (the seed's qrouter- namespaces)\n[DEFAULT]\ninterface_driver = " + mech + "\n"
	if mech == MechOVS {
		l3Conf += "[ovs]\novsdb_connection = " + ovsdb + "\n"
	}
	return neutronConf, l3Conf
}

// buildOutside makes physnet1, puts the controller's eth1 on it (in br-ex
// for OVS, as an operator does before starting the agent) and the
// "outside" namespace playing the upstream router at 198.18.100.1.
func (d *runner) buildOutside(ctx context.Context) error {
	pn, err := d.lab.AddPhysnet(ctx, physnet)
	if err != nil {
		return err
	}
	ctl := d.nodes["controller"]
	if _, err := pn.Join(ctx, ctl.NS, physDev); err != nil {
		return err
	}
	where := physDev
	if o := d.ovs["controller"]; o != nil {
		if err := o.SetupProviderBridge(ctx, extBridge, physDev); err != nil {
			return err
		}
		where = fmt.Sprintf("%s in %s (bridge_mappings = %s:%s)", physDev, extBridge, physnet, extBridge)
	} else {
		where = fmt.Sprintf("%s (physical_interface_mappings = %s:%s)", physDev, physnet, physDev)
	}
	if d.outside, err = pn.AddOutside(ctx, "upstream", netip.MustParsePrefix(extGateway+"/24")); err != nil {
		return err
	}
	d.say("  %-10s  netns %-22s  %s on %s, the upstream network; the controller joins %s by %s\n",
		"outside", d.outside.NS, d.outside.Addr, physnet, physnet, where)
	return nil
}

// startL3Agent starts `neutrino agent l3` for the controller and waits
// until it has (re)registered.
func (d *runner) startL3Agent(ctx context.Context) error {
	name := "controller"
	ovsdb := ""
	if o := d.ovs[name]; o != nil {
		ovsdb = o.OVSDB()
	}
	state := d.l3StateDir()
	nc, lc := l3AgentFiles(d.opt.Mechanism, d.rpc, name, d.nodes[name].NS, state, ovsdb)
	dir := d.etc("l3-agent")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ncPath, lcPath := filepath.Join(dir, "neutron.conf"), filepath.Join(dir, "l3_agent.ini")
	if err := os.WriteFile(ncPath, []byte(nc), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(lcPath, []byte(lc), 0o644); err != nil {
		return err
	}
	if err := d.record(func(ct *Control) { ct.L3StateDir = state }); err != nil {
		return err
	}
	c, err := d.startServiceAgent(ctx, "l3", neutron.AgentTypeL3, name, ncPath, lcPath)
	d.l3Agent = c // nil if it did not start; else stopped by cleanup, also on error
	if err != nil {
		return err
	}
	d.say("  L3 agent    neutrino agent l3 on controller, pid %d, interface_driver = %s (qrouter- namespaces)\n",
		c.pid(), d.opt.Mechanism)
	return nil
}

// createRouter is the L3 part of the seed's setup: the external network
// public (flat, physnet1), a router with its gateway there and testnet's
// subnet as its interface. The L3 agent it is scheduled to builds
// qrouter-<id>; this waits until its qr- device holds the gateway IP and
// the L2 agent has the port ACTIVE.
func (d *runner) createRouter(ctx context.Context) error {
	yes := true
	pub, err := d.api.CreateNetwork(ctx, neutron.NetworkCreate{ProjectID: projectID, Name: "public", External: &yes,
		Segment: &neutron.Segment{NetworkType: "flat", PhysicalNetwork: physnet}})
	if err != nil {
		return fmt.Errorf("create the external network: %w", err)
	}
	gw, no := extGateway, false
	psub, err := d.api.CreateSubnet(ctx, neutron.SubnetCreate{ProjectID: projectID, NetworkID: pub.ID, Name: "public-subnet",
		IPVersion: 4, CIDR: extCIDR, GatewayIP: &gw, EnableDHCP: &no,
		AllocationPools: []neutron.AllocationPool{{Start: extPoolFrom, End: extPoolTo}}})
	if err != nil {
		return fmt.Errorf("create the external subnet: %w", err)
	}
	d.extNet = pub.ID
	d.say("\n$ openstack network create public --external --provider-network-type flat --provider-physical-network %s\n    -> %s\n", physnet, pub.ID)
	d.say("$ openstack subnet create --network public --subnet-range %s --gateway %s --no-dhcp \\\n      --allocation-pool start=%s,end=%s public-subnet -> %s\n",
		extCIDR, extGateway, extPoolFrom, extPoolTo, psub.ID)

	var created struct {
		Router neutron.Router `json:"router"`
	}
	body := map[string]any{"router": map[string]any{"name": "router1", "project_id": projectID,
		"external_gateway_info": map[string]any{"network_id": pub.ID}}}
	if err := d.api.Do(ctx, "POST", "/v2.0/routers", body, &created); err != nil {
		return fmt.Errorf("create the router: %w", err)
	}
	r := created.Router
	d.router = RouterInfo{ID: r.ID, Namespace: l3.Namespace(r.ID)}
	if g := r.GatewayInfo; g != nil && len(g.ExternalFixedIPs) > 0 {
		d.router.GatewayIP = g.ExternalFixedIPs[0].IPAddress
	}
	d.say("$ openstack router create router1 --external-gateway public -> %s, gateway %s (SNAT on)\n", r.ID, d.router.GatewayIP)
	t0 := time.Now()
	var info neutron.RouterInterfaceInfo
	if err := d.api.Do(ctx, "PUT", "/v2.0/routers/"+r.ID+"/add_router_interface", map[string]any{"subnet_id": d.subnetID}, &info); err != nil {
		return fmt.Errorf("add testsubnet to the router: %w", err)
	}
	d.router.PortID, d.router.Interface = info.PortID, l3.InternalDevice(info.PortID)
	d.res.Router = d.router
	d.say("$ openstack router add subnet router1 testsubnet -> port %s (%s)\n", info.PortID, d.rtrIP)

	// The L3 agent builds the namespace; the controller's L2 agent wires
	// the qr- port into testnet and reports it ACTIVE.
	var addrs string
	err = poll(ctx, d.router.Namespace+" with "+d.router.Interface, waitAgents, func() (bool, string) {
		if !lab.NSExists(d.router.Namespace) {
			return false, "no namespace " + d.router.Namespace + " yet"
		}
		out, err := lab.Exec(ctx, d.router.Namespace, "ip", "-4", "-br", "addr", "show")
		if err != nil {
			return false, err.Error()
		}
		addrs = string(out)
		if !strings.Contains(addrs, d.rtrIP.String()+"/24") || !strings.Contains(addrs, d.router.GatewayIP+"/24") {
			return false, "addresses: " + strings.Join(strings.Fields(addrs), " ")
		}
		p, err := d.api.GetPort(ctx, d.router.PortID)
		if err != nil {
			return false, err.Error()
		}
		if p.Status != neutron.StatusActive {
			return false, "router port " + p.ID + " is " + p.Status
		}
		return true, ""
	})
	if err != nil {
		return err
	}
	d.say("\nThe L3 agent on controller was scheduled router1 and built its namespace; the port is\nACTIVE %.1fs after the interface was added:\n", time.Since(t0).Seconds())
	d.say("[root@controller ~]# ip netns exec %s ip -4 -br addr\n%s", d.router.Namespace, indent(strings.TrimSpace(addrs), "    "))
	return nil
}

// seedCmd runs a command as the seed's reader types it on the
// controller: from the root namespace, `ip netns exec qrouter-<id> ...`.
func seedCmd(ctx context.Context, argv ...string) ([]byte, error) {
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return out, nil
}

// noStats is the line of a ping that sent nothing ("connect: Network is
// unreachable").
var noStats = regexp.MustCompile(`(?mi)^.*unreachable.*$`)

// countPings runs ping with count packets in ns and reads its counts; a
// ping that sends nothing (no route) says why in Error.
func countPings(ctx context.Context, ns, dst string, count int) (PingCount, error) {
	out, err := lab.Exec(ctx, ns, "ping", "-n", "-c", strconv.Itoa(count), "-i", "0.3", "-W", "1", dst)
	if m := pingCounts.FindStringSubmatch(string(out)); m != nil {
		var p PingCount
		p.Sent, _ = strconv.Atoi(m[1])
		p.Received, _ = strconv.Atoi(m[2])
		return p, nil
	}
	if m := noStats.FindString(string(out)); m != "" {
		return PingCount{Error: strings.TrimSpace(m)}, nil
	}
	return PingCount{}, fmt.Errorf("ping %s in %s: no statistics in %q: %v", dst, ns, out, err)
}

func (p PingCount) String() string {
	if p.Sent == 0 && p.Error != "" {
		return p.Error
	}
	return fmt.Sprintf("%d packets transmitted, %d received", p.Sent, p.Received)
}

// floatingIPStep gives the VM on compute-2 a floating IP on public and
// shows the outside reaching it by that address only, and no longer
// once the address is disassociated.
func (d *runner) floatingIPStep(ctx context.Context) error {
	vm := d.res.VMs[1]
	out := d.outside.NS
	f := FloatingIPResult{FixedIP: vm.IP, VM: vm.Name}
	var created struct {
		FIP neutron.FloatingIP `json:"floatingip"`
	}
	body := map[string]any{"floatingip": map[string]any{"project_id": projectID, "floating_network_id": d.extNet, "port_id": vm.PortID}}
	if err := d.api.Do(ctx, "POST", "/v2.0/floatingips", body, &created); err != nil {
		return fmt.Errorf("create the floating IP: %w", err)
	}
	f.ID, f.Address = created.FIP.ID, created.FIP.FloatingIPAddress
	d.say("The outside (netns %s, %s) is the upstream network of public: it knows\npublic's addresses, not the tenants' 192.168.1.0/24.\n", out, d.outside.Addr)
	d.say("$ openstack floating ip create public --port %s\n    -> %s, floating_ip_address %s, fixed_ip_address %s (%s on %s)\n",
		vm.PortID, f.ID, f.Address, vm.IP, vm.Name, vm.Host)
	t0 := time.Now()
	err := poll(ctx, "floating IP "+f.Address+" ACTIVE", waitPlane, func() (bool, string) {
		var got struct {
			FIP neutron.FloatingIP `json:"floatingip"`
		}
		if err := d.api.Do(ctx, "GET", "/v2.0/floatingips/"+f.ID, nil, &got); err != nil {
			return false, err.Error()
		}
		f.Status = got.FIP.Status
		return f.Status == neutron.StatusActive, "status " + f.Status
	})
	if err != nil {
		return err
	}
	reach := func(want bool) error {
		what := map[bool]string{true: "reachable", false: "unreachable"}[want]
		return poll(ctx, "floating IP "+f.Address+" "+what+" from the outside", waitPlane, func() (bool, string) {
			_, err := lab.Exec(ctx, out, "ping", "-n", "-c", "1", "-W", "1", f.Address)
			return (err == nil) == want, "ping " + map[bool]string{true: "not answered", false: "still answered"}[want]
		})
	}
	if err := reach(true); err != nil {
		return err
	}
	d.say("The L3 agent reported it %s %.1fs after the association; the router translates it:\n", f.Status, time.Since(t0).Seconds())
	chain, err := seedCmd(ctx, "ip", "netns", "exec", d.router.Namespace, "nft", "list", "chain", "ip", l3.NATTable, "prerouting")
	if err != nil {
		return err
	}
	for _, l := range strings.Split(string(chain), "\n") {
		if strings.Contains(l, "dnat to") {
			f.DNAT = strings.TrimSpace(l)
		}
	}
	d.say("[root@controller ~]# ip netns exec %s nft list chain ip %s prerouting\n    %s\n", d.router.Namespace, l3.NATTable, f.DNAT)
	if f.Associated, err = countPings(ctx, out, f.Address, 3); err != nil {
		return err
	}
	d.say("[root@outside ~]# ping -c 3 %s     (the floating IP)\n    %s\n", f.Address, f.Associated)
	if f.Fixed, err = countPings(ctx, out, vm.IP, 3); err != nil {
		return err
	}
	d.say("[root@outside ~]# ping -c 3 %s      (the VM's fixed IP)\n    %s\n", vm.IP, f.Fixed)

	body = map[string]any{"floatingip": map[string]any{"port_id": nil}}
	if err := d.api.Do(ctx, "PUT", "/v2.0/floatingips/"+f.ID, body, nil); err != nil {
		return fmt.Errorf("disassociate the floating IP: %w", err)
	}
	d.say("$ openstack floating ip unset --port %s\n", f.ID)
	if err := reach(false); err != nil {
		return err
	}
	if f.Unassociated, err = countPings(ctx, out, f.Address, 3); err != nil {
		return err
	}
	d.say("[root@outside ~]# ping -c 3 %s\n    %s\n", f.Address, f.Unassociated)
	d.res.FloatingIP = &f
	return nil
}

// removeL3State deletes the qrouter- namespaces of a stopped L3 agent
// (the agent leaves them on purpose: a restarted agent adopts them) and
// then its state directory ("" state: none). Deleting a namespace takes
// its router devices with it: the veth pairs into the node
// (linuxbridge), the OVS internal ports' devices (openvswitch).
func removeL3State(state string) error {
	if state == "" {
		return nil
	}
	if filepath.Base(state) != l3StateName {
		return fmt.Errorf("not removing %s: not a demo's L3 agent state", state)
	}
	var errs []error
	for _, ns := range routerNamespaces(state) {
		if lab.NSExists(ns) {
			errs = append(errs, lab.DeleteNS(ns))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return os.RemoveAll(state)
}

// routerNamespaces are the qrouter- namespaces of the routers the L3 agent
// with state_path state made: it records each in $state_path/l3 (a file
// named by the router id) before it creates the namespace.
func routerNamespaces(state string) []string {
	if state == "" {
		return nil
	}
	ents, _ := os.ReadDir(filepath.Join(state, "l3"))
	var out []string
	for _, e := range ents {
		if !e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, l3.Namespace(e.Name()))
		}
	}
	return out
}

// removeL3 stops the L3 agent and deletes what it made.
func (d *runner) removeL3() error {
	var errs []error
	if d.l3Agent != nil {
		errs = append(errs, d.l3Agent.stop())
		d.l3Agent = nil
	}
	d.ctlMu.Lock()
	state := d.ctl.L3StateDir
	d.ctlMu.Unlock()
	return errors.Join(append(errs, removeL3State(state))...)
}
