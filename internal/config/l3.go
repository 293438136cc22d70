package config

import (
	"path/filepath"
	"strings"
)

// L3Agent is the L3 agent's configuration (neutron-l3-agent):
// neutron.conf plus l3_agent.ini, with Neutron's defaults applied.
type L3Agent struct {
	// Agent holds what every agent reads (host, transport_url, rpc_*,
	// host_namespace, report_interval) and, for the openvswitch
	// interface driver, [ovs] integration_bridge and ovsdb_connection.
	Agent
	// InterfaceDriver is interface_driver: "openvswitch" or "linuxbridge"
	// (Neutron's class paths are accepted and mapped).
	InterfaceDriver string
	StatePath       string // state_path, default /var/lib/neutrino
	// RoutersDir is where the agent records the routers it made
	// ($state_path/l3): it never touches another agent's namespaces.
	RoutersDir string
	// SendARPForHA is send_arp_for_ha: rounds of gratuitous ARP after an
	// address is added (default 3; 0 sends none).
	SendARPForHA int
}

// LoadL3Agent reads the L3 agent's files (later files win).
func LoadL3Agent(paths ...string) (*L3Agent, []string, error) {
	s, err := readFiles(rL3, paths)
	if err != nil {
		return nil, nil, err
	}
	c := &L3Agent{Agent: Agent{Files: append([]string(nil), paths...)}}
	if err := s.agentCommon(&c.Agent); err != nil {
		return nil, nil, err
	}
	e := s.str(&c.InterfaceDriver, "DEFAULT", "interface_driver", "")
	if d, ok := interfaceDrivers[strings.TrimSpace(c.InterfaceDriver)]; ok {
		c.InterfaceDriver = d
	} else {
		s.fail(e, "want openvswitch or linuxbridge (or Neutron's OVSInterfaceDriver / BridgeInterfaceDriver class path)")
	}
	s.str(&c.StatePath, "DEFAULT", "state_path", substDefaults["state_path"])
	c.RoutersDir = filepath.Join(c.StatePath, "l3")
	s.integer(&c.SendARPForHA, "DEFAULT", "send_arp_for_ha", 3, 0, 100)
	var bridge, mode string
	if e := s.str(&bridge, "DEFAULT", "external_network_bridge", ""); bridge != "" {
		s.fail(e, "is gone from Neutron 2023.1: leave it unset (the gateway port is plugged by interface_driver like any router port)")
	}
	if e := s.str(&mode, "DEFAULT", "agent_mode", "legacy"); mode != "legacy" {
		// A DVR agent would be asked for a different data plane (routers
		// on compute nodes, SNAT namespaces) than this one builds: refuse
		// to start rather than run it silently as legacy. Distributed
		// routers stay unscheduled, as Neutron leaves them with only
		// legacy agents.
		s.fail(e, "neutrino's L3 agent runs legacy (centralized) routers only; DVR modes (dvr, dvr_snat, dvr_no_external) are not implemented: set agent_mode = legacy")
	}
	var veth bool
	if s.boolean(&veth, "DEFAULT", "ovs_use_veth", false); veth {
		s.warnings = append(s.warnings, "[DEFAULT] ovs_use_veth = True is ignored: router ports are OVS internal ports")
	}
	if c.InterfaceDriver == "openvswitch" {
		s.str(&c.IntegrationBridge, "ovs", "integration_bridge", "br-int")
		if e := s.str(&c.OVSDBConnection, "ovs", "ovsdb_connection", "unix:/var/run/openvswitch/db.sock"); !strings.HasPrefix(c.OVSDBConnection, "unix:") &&
			!strings.HasPrefix(c.OVSDBConnection, "tcp:") && !strings.HasPrefix(c.OVSDBConnection, "ssl:") {
			s.fail(e, "must be unix:PATH, tcp:IP:PORT or ssl:IP:PORT")
		}
	}
	return c, s.warnings, s.err()
}
