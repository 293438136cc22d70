package demo

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"neutrino/internal/lab"
)

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
	if !l2pop {
		d.say("\nEach node tunnels to the other two (full mesh), as in the seed. Tunnel ports are named\nvxlan-<remote IP in hex> as Neutron names them today (the seed's 2013 agent used the dotted IP).\n")
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
