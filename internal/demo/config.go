package demo

import (
	"embed"
	"fmt"
	"regexp"
	"strings"
)

// The seed's configuration files, byte for byte as internal/config loads
// them (a test checks they equal internal/config/testdata/seed). go:embed
// cannot reach another package's directory, hence the copy.
//
//go:embed seed/*
var seedFS embed.FS

func seedFile(name string) string {
	b, err := seedFS.ReadFile("seed/" + name)
	if err != nil {
		panic(err) // embedded at build time
	}
	return string(b)
}

// kv is one option written into a config copy.
type kv struct{ key, value string }

var sectionRE = regexp.MustCompile(`^\s*\[([^\]]+)\]`)

// setOption sets key in section (both case-insensitive, like oslo) and
// returns the new text. An existing line keeps what surrounds the value
// (spacing, trailing `#` comment), so only the value changes; a missing
// option is added right after the section header; a missing section is
// appended. Every other line is left exactly as it was.
func setOption(text, section, key, value string) string {
	lines := strings.Split(text, "\n")
	in, header := false, -1
	for i, l := range lines {
		if m := sectionRE.FindStringSubmatch(l); m != nil {
			in = strings.EqualFold(strings.TrimSpace(m[1]), section)
			if in && header < 0 {
				header = i
			}
			continue
		}
		if !in {
			continue
		}
		k, rest, ok := strings.Cut(l, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), key) {
			continue
		}
		// rest is " value   # comment  ": keep the leading spaces and
		// whatever follows the value.
		lead := rest[:len(rest)-len(strings.TrimLeft(rest, " \t"))]
		val := strings.TrimLeft(rest, " \t")
		tail := ""
		if j := strings.IndexAny(val, " \t#"); j >= 0 {
			tail = val[j:]
		}
		lines[i] = k + "=" + lead + value + tail
		return strings.Join(lines, "\n")
	}
	line := key + " = " + value
	if header >= 0 {
		lines = append(lines[:header+1], append([]string{line}, lines[header+1:]...)...)
		return strings.Join(lines, "\n")
	}
	if !strings.HasSuffix(text, "\n") && text != "" {
		text += "\n"
	}
	return text + "[" + section + "]\n" + line + "\n"
}

// commentOut turns key's line in section into a comment with a reason.
func commentOut(text, section, key, why string) string {
	lines := strings.Split(text, "\n")
	in := false
	for i, l := range lines {
		if m := sectionRE.FindStringSubmatch(l); m != nil {
			in = strings.EqualFold(strings.TrimSpace(m[1]), section)
			continue
		}
		if k, _, ok := strings.Cut(l, "="); in && ok && strings.EqualFold(strings.TrimSpace(k), key) {
			lines[i] = "# " + l + "  # neutrino demo: " + why
		}
	}
	return strings.Join(lines, "\n")
}

// option reads key from section of an INI text ("" when absent); an
// inline `#` comment and surrounding spaces are dropped.
func option(text, section, key string) string {
	in := false
	for _, l := range strings.Split(text, "\n") {
		if m := sectionRE.FindStringSubmatch(l); m != nil {
			in = strings.EqualFold(strings.TrimSpace(m[1]), section)
			continue
		}
		if k, v, ok := strings.Cut(l, "="); in && ok && strings.EqualFold(strings.TrimSpace(k), key) {
			if j := strings.Index(v, "#"); j >= 0 {
				v = v[:j]
			}
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// Mechanisms the demo runs.
const (
	MechOVS = "openvswitch"
	MechLB  = "linuxbridge"
)

// serverFiles are the server's config copies for one phase: the seed's
// neutron.conf with where to listen and where the embedded database lives,
// and the seed's ml2_conf.ini (or ml2_conf.l2pop.ini) without its MySQL
// URL. For linuxbridge the mechanism driver is swapped, nothing else.
func serverFiles(mech string, l2pop bool, apiPort, rpcPort int, statePath string) (neutronConf, ml2Conf string) {
	neutronConf = seedFile("neutron.conf")
	for _, o := range []kv{
		{"state_path", statePath},
		{"rpc_bind_port", fmt.Sprint(rpcPort)},
		{"rpc_bind_host", "127.0.0.1"},
		{"bind_port", fmt.Sprint(apiPort)},
		{"bind_host", "127.0.0.1"},
	} {
		neutronConf = setOption(neutronConf, "DEFAULT", o.key, o.value)
	}
	name := "ml2_conf.ini"
	if l2pop {
		name = "ml2_conf.l2pop.ini"
	}
	ml2Conf = commentOut(seedFile(name), "database", "sql_connection",
		"the demo uses the embedded SQLite database under state_path")
	if mech == MechLB {
		cur := option(ml2Conf, "ml2", "mechanism_drivers")
		ml2Conf = setOption(ml2Conf, "ml2", "mechanism_drivers", strings.Replace(cur, "openvswitch", "linuxbridge", 1))
	}
	// The external network of the router (the seed's L3RouterPlugin) is
	// a flat provider network on physnet1.
	ml2Conf = setOption(ml2Conf, "ml2", "type_drivers", option(ml2Conf, "ml2", "type_drivers")+",flat")
	ml2Conf = setOption(ml2Conf, "ml2_type_flat", "flat_networks", physnet)
	return neutronConf, ml2Conf
}

// The external network: a flat network on physnet1, which reaches the
// controller (the network node) on its interface eth1 and the "outside"
// namespace playing the upstream router at 198.18.100.1.
const (
	physnet     = "physnet1"
	physDev     = "eth1"
	extBridge   = "br-ex" // the OVS agent's provider bridge for physnet1
	extCIDR     = "198.18.100.0/24"
	extGateway  = "198.18.100.1"
	extPoolFrom = "198.18.100.10"
	extPoolTo   = "198.18.100.99"
)

// agentSettings are what differs between the agents' phases.
type agentSettings struct {
	L2Pop        bool
	ARPResponder bool
	// VXLANGroup is the Linux bridge agent's vxlan_group ("" = head-end
	// replication, one unicast copy per peer, as OVS does).
	VXLANGroup string
}

// agentFiles are one node's config copies: the seed's neutron.conf with
// the server's gRPC address, the host name and the namespace, and the
// agent's ini file. For openvswitch that is the seed's
// ovs_neutron_plugin.ini (or .l2pop.ini) with the node's local_ip and this
// machine's OVS settings (userspace datapath, the node's own ovsdb
// socket); for linuxbridge, the seed has no file, so linuxbridge_agent.ini
// carries the same values in the Linux bridge agent's [vxlan] section.
// external adds the mapping of physnet1 (bridge_mappings or
// physical_interface_mappings): the node is on the external network's wire.
func agentFiles(mech string, s agentSettings, rpcPort int, host, namespace, localIP, ovsdb string, external bool) (neutronConf, agentConf, agentName string) {
	neutronConf = seedFile("neutron.conf")
	for _, o := range []kv{
		{"host_namespace", namespace},
		{"host", host},
		{"transport_url", fmt.Sprintf("grpc://127.0.0.1:%d", rpcPort)},
	} {
		neutronConf = setOption(neutronConf, "DEFAULT", o.key, o.value)
	}
	name := "ovs_neutron_plugin.ini"
	if s.L2Pop {
		name = "ovs_neutron_plugin.l2pop.ini"
	}
	ovsConf := setOption(seedFile(name), "OVS", "local_ip", localIP)
	if mech == MechOVS {
		ovsConf = setOption(ovsConf, "OVS", "ovsdb_connection", ovsdb)
		ovsConf = setOption(ovsConf, "OVS", "datapath_type", "netdev")
		if s.ARPResponder {
			ovsConf = setOption(ovsConf, "AGENT", "arp_responder", "True")
		}
		if external {
			ovsConf = setOption(ovsConf, "OVS", "bridge_mappings", physnet+":"+extBridge)
		}
		return neutronConf, ovsConf, name
	}
	b := func(v bool) string { return map[bool]string{true: "True", false: "False"}[v] }
	lb := "# neutrino demo: the Linux bridge agent's options, with the values of the seed's " + name + "\n" +
		"[vxlan]\n" +
		"enable_vxlan = True\n" +
		"local_ip = " + option(ovsConf, "OVS", "local_ip") + "\n" +
		"udp_dstport = " + option(ovsConf, "OVS", "vxlan_udp_port") + "\n" +
		"l2_population = " + b(s.L2Pop) + "\n" +
		"arp_responder = " + b(s.ARPResponder) + "\n" +
		"vxlan_group = " + s.VXLANGroup + "\n" +
		"[agent]\n" +
		"polling_interval = " + option(ovsConf, "AGENT", "polling_interval") + "\n" +
		"# The seed runs a firewall on every agent; this is the Linux bridge agent's.\n" +
		"[securitygroup]\n" +
		"firewall_driver = iptables\n"
	if external {
		lb += "[linux_bridge]\nphysical_interface_mappings = " + physnet + ":" + physDev + "\n"
	}
	return neutronConf, lb, "linuxbridge_agent.ini"
}
