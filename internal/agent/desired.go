package agent

import (
	"encoding/json"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"neutrino/internal/config"
	"neutrino/internal/dataplane"
	"neutrino/internal/l2pop"
	"neutrino/internal/neutron"
)

// Agent kinds, as the command line names them.
const (
	KindOVS         = "openvswitch"
	KindLinuxBridge = "linuxbridge"
)

// Settings are the agent options that shape the node state.
type Settings struct {
	Kind    string
	LocalIP netip.Addr
	UDPPort int
	// VXLANGroup is the Linux bridge agent's vxlan_group: an address or
	// a CIDR ("239.1.1.0/24": group = base + (VNI & host mask)); "" = none.
	VXLANGroup   string
	ARPResponder bool
	// FirewallDriver is [securitygroup] firewall_driver (config's short
	// name; "" or "noop" filters nothing).
	FirewallDriver string
}

// SettingsFor extracts Settings from an agent's config.
func SettingsFor(kind string, cfg *config.Agent) Settings {
	s := Settings{Kind: kind, UDPPort: cfg.VXLANUDPPort, ARPResponder: cfg.ARPResponder, FirewallDriver: cfg.FirewallDriver}
	if ip, err := netip.ParseAddr(cfg.LocalIP); err == nil {
		s.LocalIP = ip
	}
	if s.UDPPort == 0 {
		s.UDPPort = 4789
	}
	if kind == KindLinuxBridge {
		s.VXLANGroup = cfg.VXLANGroup
	}
	return s
}

// multicastGroup is Neutron's Linux bridge group choice for a VNI.
func multicastGroup(spec string, vni uint32) netip.Addr {
	if spec == "" {
		return netip.Addr{}
	}
	if !strings.Contains(spec, "/") {
		a, _ := netip.ParseAddr(spec)
		return a
	}
	p, err := netip.ParsePrefix(spec)
	if err != nil || !p.Addr().Is4() {
		return netip.Addr{}
	}
	base := p.Masked().Addr().As4()
	hostBits := 32 - p.Bits()
	var mask uint32
	if hostBits >= 32 {
		mask = ^uint32(0)
	} else {
		mask = (uint32(1) << hostBits) - 1
	}
	n := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	n += vni & mask
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

// deviceFor finds the device of port id: an exact iface-id, or a tap
// name's 11-character prefix.
func deviceIndex(devs []dataplane.Device) (full map[string]dataplane.Device, prefix map[string]dataplane.Device) {
	full, prefix = map[string]dataplane.Device{}, map[string]dataplane.Device{}
	for _, d := range devs {
		if d.PortID == "" {
			continue
		}
		if len(d.PortID) == 11 {
			prefix[d.PortID] = d
		} else {
			full[d.PortID] = d
		}
	}
	return full, prefix
}

func lookupDevice(id string, full, prefix map[string]dataplane.Device) (dataplane.Device, bool) {
	if d, ok := full[id]; ok {
		return d, true
	}
	if len(id) >= 11 {
		d, ok := prefix[id[:11]]
		return d, ok
	}
	return dataplane.Device{}, false
}

// Desired turns the server's view and the agent's settings into the node
// state the data plane must realise. Only ports whose device exists are
// attached; every network with a port bound here is set up, so a VM's
// device finds its network when it appears.
func Desired(v l2pop.View, s Settings, devs []dataplane.Device) dataplane.NodeState {
	st := dataplane.NodeState{
		LocalIP:  s.LocalIP,
		UDPPort:  s.UDPPort,
		Networks: make(map[string]dataplane.Network, len(v.Networks)),
		Ports:    map[string]dataplane.LocalPort{},
	}
	if !st.LocalIP.IsValid() {
		st.LocalIP = v.LocalIP
	}
	st.Tunnels = append([]netip.Addr(nil), v.Tunnels...)
	for id, n := range v.Networks {
		if !n.Overlay() {
			// Provider networks: the physical network carries BUM
			// traffic; no flood list, entries or learning switch.
			st.Networks[id] = dataplane.Network{ID: id, Type: n.Type, MTU: n.MTU, PhysicalNetwork: n.PhysicalNetwork, VLAN: n.VLAN}
			continue
		}
		dn := dataplane.Network{ID: id, Type: n.Type, VNI: n.VNI, MTU: n.MTU, L2Pop: v.L2Pop, ARPResponder: s.ARPResponder && v.L2Pop}
		if s.Kind == KindLinuxBridge && !v.L2Pop && s.VXLANGroup != "" {
			// Multicast mode: BUM traffic goes to the group, not to
			// per-peer copies.
			dn.Group = multicastGroup(s.VXLANGroup, n.VNI)
		}
		if !dn.Group.IsValid() {
			dn.Flood = append([]netip.Addr(nil), n.Flood...)
		}
		if len(n.Entries) > 0 {
			dn.Entries = make([]dataplane.Entry, len(n.Entries))
			for i, e := range n.Entries {
				dn.Entries[i] = dataplane.Entry{MAC: e.MAC, IP: e.IP, VTEP: e.VTEP}
			}
		}
		st.Networks[id] = dn
	}
	full, prefix := deviceIndex(devs)
	for id, p := range v.Ports {
		if _, ok := lookupDevice(id, full, prefix); !ok {
			continue
		}
		if _, ok := st.Networks[p.NetworkID]; !ok {
			continue
		}
		st.Ports[id] = dataplane.LocalPort{ID: id, NetworkID: p.NetworkID, MAC: p.MAC}
	}
	st.Firewall = firewall(v.Firewall, s.FirewallDriver, st.Ports)
	return st
}

// DeviceReport is one up/down report the agent owes the server.
type DeviceReport struct {
	PortID string
	Up     bool
}

// PendingReports compares the ports bound here with the devices found:
// a port whose device is present and up must be ACTIVE, any other DOWN.
// It returns the reports for ports whose status differs, sorted by id.
func PendingReports(v l2pop.View, devs []dataplane.Device) []DeviceReport {
	full, prefix := deviceIndex(devs)
	var out []DeviceReport
	for _, id := range slices.Sorted(maps.Keys(v.Ports)) {
		p := v.Ports[id]
		d, ok := lookupDevice(id, full, prefix)
		up := ok && d.Up
		// ACTIVE needs an up device; anything else (DOWN, BUILD) settles
		// DOWN without one.
		if up && p.Status != neutron.StatusActive || !up && p.Status != neutron.StatusDown {
			out = append(out, DeviceReport{PortID: id, Up: up})
		}
	}
	return out
}

// Report builds the report_state payload: agent type, binary and
// configurations as Neutron's agents send them.
func Report(kind string, cfg *config.Agent, devices int, start bool) neutron.AgentReport {
	r := neutron.AgentReport{Host: cfg.Host, Topic: "N/A", StartFlag: start, TunnelIP: cfg.LocalIP, TunnelTypes: cfg.TunnelTypes}
	rpDefaults := map[string]any{"allocation_ratio": json.RawMessage("1.0"), "min_unit": 1, "step_size": 1, "reserved": 0}
	conf := map[string]any{
		"devices":                              devices,
		"extensions":                           []string{},
		"l2_population":                        cfg.L2Population,
		"arp_responder_enabled":                cfg.ARPResponder,
		"tunnel_types":                         nonNil(cfg.TunnelTypes),
		"tunneling_ip":                         cfg.LocalIP,
		"bridge_mappings":                      nonNilMap(cfg.BridgeMappings),
		"log_agent_heartbeats":                 false,
		"resource_provider_bandwidths":         map[string]any{},
		"resource_provider_inventory_defaults": rpDefaults,
		"resource_provider_hypervisors":        map[string]any{},
	}
	switch kind {
	case KindLinuxBridge:
		r.AgentType, r.Binary = neutron.AgentTypeLinuxBridge, "neutron-linuxbridge-agent"
		conf["interface_mappings"] = nonNilMap(cfg.InterfaceMappings)
		// The Linux bridge agent's own bridge_mappings (existing
		// bridges) is not implemented.
		conf["bridge_mappings"] = map[string]string{}
		if cfg.VXLANGroup != "" {
			// Not in Neutron's report: neutrino trace reads it to show
			// where BUM copies go.
			conf["vxlan_group"] = cfg.VXLANGroup
		}
		if cfg.EnableVXLAN {
			r.TunnelTypes = []string{"vxlan"}
			conf["tunnel_types"] = r.TunnelTypes
		}
	default:
		r.AgentType, r.Binary = neutron.AgentTypeOVS, "neutron-openvswitch-agent"
		conf["integration_bridge"] = cfg.IntegrationBridge
		conf["datapath_type"] = cfg.DatapathType
		// As Neutron's agent: the hybrid driver filters on a qbr bridge,
		// so the server tells Nova (binding:vif_details) to plug there.
		conf["ovs_hybrid_plug"] = cfg.FirewallDriver == "iptables_hybrid"
		conf["enable_distributed_routing"] = false
		conf["in_distributed_mode"] = false
		conf["baremetal_smartnic"] = false
		conf["vhostuser_socket_dir"] = "/var/run/openvswitch"
		conf["resource_provider_packet_processing_inventory_defaults"] = rpDefaults
		conf["resource_provider_packet_processing_with_direction"] = map[string]any{}
		conf["resource_provider_packet_processing_without_direction"] = map[string]any{}
	}
	if len(r.TunnelTypes) == 0 {
		r.TunnelIP = ""
	}
	r.Configurations, _ = json.Marshal(conf)
	return r
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
