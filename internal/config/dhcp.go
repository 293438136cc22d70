package config

import (
	"path/filepath"
	"strings"
)

// DHCPAgent is the DHCP agent's configuration (neutron-dhcp-agent):
// neutron.conf plus dhcp_agent.ini, with Neutron's defaults applied.
type DHCPAgent struct {
	// Agent holds what every agent reads: host, transport_url, the rpc_*
	// options, host_namespace (where the taps go), report_interval, and
	// for the openvswitch interface driver [ovs] integration_bridge and
	// ovsdb_connection.
	Agent
	// InterfaceDriver is interface_driver: "openvswitch" or "linuxbridge"
	// (Neutron's class paths are accepted and mapped).
	InterfaceDriver string
	StatePath       string // state_path, default /var/lib/neutrino
	// ConfsDir is dhcp_confs, default $state_path/dhcp.
	ConfsDir          string
	DNSServers        []string // dnsmasq_dns_servers
	DNSMasqConfigFile string   // dnsmasq_config_file
	LeaseMax          int      // dnsmasq_lease_max, default 2^24
	DNSDomain         string   // dns_domain, default openstacklocal
	// LeaseDuration is dhcp_lease_duration in seconds (default 86400; -1
	// is infinite).
	LeaseDuration int
	// EnableIsolatedMetadata and ForceMetadata are accepted; the metadata
	// proxy is not served yet (the agent says so at start).
	EnableIsolatedMetadata bool
	ForceMetadata          bool
}

// interfaceDrivers maps interface_driver values to the driver's name.
var interfaceDrivers = map[string]string{
	"openvswitch": "openvswitch",
	"neutron.agent.linux.interface.OVSInterfaceDriver": "openvswitch",
	"linuxbridge": "linuxbridge",
	"neutron.agent.linux.interface.BridgeInterfaceDriver": "linuxbridge",
}

// LoadDHCPAgent reads the DHCP agent's files (later files win).
func LoadDHCPAgent(paths ...string) (*DHCPAgent, []string, error) {
	s, err := readFiles(rDHCP, paths)
	if err != nil {
		return nil, nil, err
	}
	c := &DHCPAgent{Agent: Agent{Files: append([]string(nil), paths...)}}
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
	s.str(&c.ConfsDir, "DEFAULT", "dhcp_confs", filepath.Join(c.StatePath, "dhcp"))
	s.list(&c.DNSServers, "DEFAULT", "dnsmasq_dns_servers", nil)
	s.str(&c.DNSMasqConfigFile, "DEFAULT", "dnsmasq_config_file", "")
	s.integer(&c.LeaseMax, "DEFAULT", "dnsmasq_lease_max", 1<<24, 1, 1<<31-1)
	s.str(&c.DNSDomain, "DEFAULT", "dns_domain", "openstacklocal")
	if e := s.integer(&c.LeaseDuration, "DEFAULT", "dhcp_lease_duration", 86400, -1, 1<<31-1); c.LeaseDuration == 0 {
		s.fail(e, "must be positive, or -1 for infinite leases")
	}
	s.boolean(&c.EnableIsolatedMetadata, "DEFAULT", "enable_isolated_metadata", false)
	s.boolean(&c.ForceMetadata, "DEFAULT", "force_metadata", false)
	if c.InterfaceDriver == "openvswitch" {
		s.str(&c.IntegrationBridge, "ovs", "integration_bridge", "br-int")
		if e := s.str(&c.OVSDBConnection, "ovs", "ovsdb_connection", "unix:/var/run/openvswitch/db.sock"); !strings.HasPrefix(c.OVSDBConnection, "unix:") &&
			!strings.HasPrefix(c.OVSDBConnection, "tcp:") && !strings.HasPrefix(c.OVSDBConnection, "ssl:") {
			s.fail(e, "must be unix:PATH, tcp:IP:PORT or ssl:IP:PORT")
		}
	}
	return c, s.warnings, s.err()
}
