package config

import (
	"fmt"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Limits of Neutron's id spaces.
const (
	MaxVNI       = 1<<24 - 1 // VXLAN network identifier, 24 bits
	MaxVLAN      = 4094
	MaxGREKey    = 1<<32 - 1
	DefaultRPC   = 9697
	vxlanOverlay = 50 // outer IPv4 + UDP + VXLAN + inner Ethernet
)

// Supported driver names.
var (
	supportedTypes      = []string{"flat", "vlan", "gre", "vxlan"}
	warnTypes           = map[string]bool{"local": true, "geneve": true}
	supportedMechanisms = []string{"openvswitch", "linuxbridge", "l2population"}
	dbSchemes           = []string{"sqlite", "mysql", "mysql+pymysql", "postgresql", "postgresql+psycopg2", "postgres"}
)

// LoadServer reads neutron-server's files (neutron.conf, ml2_conf.ini, ...)
// in order and applies Neutron's defaults. The warnings name options that
// are unknown, deprecated or not acted on; the error joins every invalid
// value, each naming file, section and option.
func LoadServer(paths ...string) (*Server, []string, error) {
	s, err := readFiles(rServer, paths)
	if err != nil {
		return nil, nil, err
	}
	c := &Server{Files: append([]string(nil), paths...)}

	s.host(&c.BindHost, "DEFAULT", "bind_host", "127.0.0.1")
	s.port(&c.BindPort, "DEFAULT", "bind_port", 9696)
	if e := s.str(&c.AuthStrategy, "DEFAULT", "auth_strategy", "noauth"); c.AuthStrategy != "noauth" && c.AuthStrategy != "keystone" {
		s.fail(e, "must be noauth or keystone")
	}
	if e := s.str(&c.CorePlugin, "DEFAULT", "core_plugin", "ml2"); c.CorePlugin == "ml2" || c.CorePlugin == "neutron.plugins.ml2.plugin.Ml2Plugin" {
		c.CorePlugin = "ml2"
	} else {
		s.fail(e, "neutrino implements only the ML2 core plugin (core_plugin = ml2)")
	}
	e := s.list(&c.ServicePlugins, "DEFAULT", "service_plugins", nil)
	for _, p := range c.ServicePlugins {
		if servedServicePlugins[p] {
			continue
		}
		if what, ok := servicePlugins[p]; ok {
			s.warnings = append(s.warnings, fmt.Sprintf("%s: service plugin %s (%s) is not implemented by neutrino; ignored", e.where(), p, what))
		} else {
			s.warnings = append(s.warnings, fmt.Sprintf("%s: unknown service plugin %q; ignored", e.where(), p))
		}
	}
	s.integer(&c.GlobalPhysnetMTU, "DEFAULT", "global_physnet_mtu", 1500, 68+vxlanOverlay, 65535)
	if e := s.str(&c.BaseMAC, "DEFAULT", "base_mac", "fa:16:3e:00:00:00"); e.Value != "" {
		if mac, err := net.ParseMAC(e.Value); err != nil || len(mac) != 6 {
			s.fail(e, "not a MAC address like fa:16:3e:00:00:00")
		} else if mac[0]&1 != 0 {
			s.fail(e, "is a multicast MAC; ports need a unicast base (first octet even)")
		} else {
			c.BaseMAC = mac.String()
		}
	} else {
		s.fail(e, "must not be empty")
	}
	if e := s.str(&c.StatePath, "DEFAULT", "state_path", "/var/lib/neutrino"); c.StatePath == "" {
		s.fail(e, "must not be empty")
	}
	var secs int
	s.integer(&secs, "DEFAULT", "agent_down_time", 75, 1, 1<<31-1)
	c.AgentDownTime = time.Duration(secs) * time.Second
	s.integer(&c.DHCPAgentsPerNetwork, "DEFAULT", "dhcp_agents_per_network", 1, 1, 1<<31-1)
	s.integer(&c.MaxRequestBody, "DEFAULT", "max_request_body_size", 114688, 1, 1<<31-1)
	s.boolean(&c.RouterDistributed, "DEFAULT", "router_distributed", false)
	var ha bool
	if e := s.boolean(&ha, "DEFAULT", "l3_ha", false); ha {
		s.fail(e, "neutrino's L3 agents run no HA (VRRP) routers: leave l3_ha False")
	}
	rpcHostE := s.host(&c.RPCBindHost, "DEFAULT", "rpc_bind_host", "127.0.0.1")
	s.port(&c.RPCBindPort, "DEFAULT", "rpc_bind_port", DefaultRPC)
	s.str(&c.RPCToken, "DEFAULT", "rpc_token", "")
	certE := s.str(&c.RPCTLSCert, "DEFAULT", "rpc_tls_cert_file", "")
	keyE := s.str(&c.RPCTLSKey, "DEFAULT", "rpc_tls_key_file", "")
	caE := s.str(&c.RPCTLSClientCA, "DEFAULT", "rpc_tls_client_ca_file", "")
	s.pair(certE, keyE)
	if c.RPCTLSClientCA != "" && c.RPCTLSCert == "" {
		s.fail(caE, "client certificates need server TLS: set rpc_tls_cert_file and rpc_tls_key_file too")
	}
	if err := c.CheckRPCAuth(); err != nil {
		s.fail(rpcHostE, "%s", rpcOpenAdvice)
	} else if !LoopbackHost(c.RPCBindHost) && c.RPCTLSCert == "" {
		s.warnings = append(s.warnings, fmt.Sprintf("%s: rpc_token travels in clear text beyond this machine; "+
			"set rpc_tls_cert_file, rpc_tls_key_file (and rpc_tls_client_ca_file) to encrypt the agents' channel", rpcHostE.where()))
	}

	if e := s.str(&c.Connection, "database", "connection", ""); c.Connection != "" {
		scheme, rest, ok := strings.Cut(c.Connection, "://")
		if !ok || !contains(dbSchemes, strings.ToLower(scheme)) {
			s.fail(e, "unsupported database URL; use one of %s://...", strings.Join(dbSchemes, ", "))
		} else if rest == "" && !strings.EqualFold(scheme, "sqlite") {
			s.fail(e, "no host or database in the URL")
		}
	}

	s.serverML2(c)
	s.quotas(c)
	s.keystoneAuthtoken(c)
	s.nova(c)
	s.str(&c.PolicyFile, "oslo_policy", "policy_file", "policy.yaml")
	s.list(&c.PolicyDirs, "oslo_policy", "policy_dirs", []string{"policy.d"})
	s.boolean(&c.EnforceNewDefaults, "oslo_policy", "enforce_new_defaults", false)
	if e := s.boolean(&c.EnforceScope, "oslo_policy", "enforce_scope", false); c.EnforceScope {
		s.warnings = append(s.warnings, fmt.Sprintf("%s: not implemented: token scope is not checked (every rule neutrino enforces is project-scoped in Neutron 2023.1)", e.where()))
	}
	return c, s.warnings, s.err()
}

// keystoneAuthtoken reads [keystone_authtoken]; its credentials are
// required only with auth_strategy = keystone (a missing one would
// otherwise surface as 503s on every request).
func (s *source) keystoneAuthtoken(c *Server) {
	k := &c.KeystoneAuthtoken
	uriE := s.str(&k.WWWAuthenticateURI, "keystone_authtoken", "www_authenticate_uri", "")
	typeE := s.str(new(string), "keystone_authtoken", "auth_type", "")
	s.passwordAuth(&k.Auth, "keystone_authtoken")
	s.list(&k.ServiceTokenRoles, "keystone_authtoken", "service_token_roles", []string{"service"})
	s.boolean(&k.ServiceTokenRolesRequired, "keystone_authtoken", "service_token_roles_required", false)
	var secs int
	s.integer(&secs, "keystone_authtoken", "token_cache_time", 300, -1, 1<<31-1)
	k.TokenCacheTime = time.Duration(secs) * time.Second
	s.integer(&k.TokenCacheSize, "keystone_authtoken", "token_cache_size", 10000, 1, 1<<24)
	s.integer(&secs, "keystone_authtoken", "http_connect_timeout", 10, 1, 3600)
	k.HTTPConnectTimeout = time.Duration(secs) * time.Second
	s.integer(&k.HTTPRequestMaxRetries, "keystone_authtoken", "http_request_max_retries", 3, 0, 100)
	if c.AuthStrategy != "keystone" {
		return
	}
	// Missing credentials are kept in k.Err for the token validator to
	// refuse at start: the API alone (its tests) loads without them.
	outer := s.errs
	s.errs = nil
	if t := typeE.Value; t != "password" && t != "v3password" {
		s.fail(typeE, "auth_strategy = keystone needs auth_type = password in [keystone_authtoken] (neutrino implements the password plugin only)")
	}
	s.requirePasswordAuth(&k.Auth, "keystone_authtoken")
	k.Err, s.errs = s.err(), outer
	if k.WWWAuthenticateURI == "" {
		k.WWWAuthenticateURI = k.Auth.AuthURL
		if k.Auth.AuthURL != "" {
			s.warnings = append(s.warnings, fmt.Sprintf("%s: not set; 401 answers name auth_url (%s), set it to Keystone's public endpoint", uriE.where(), k.Auth.AuthURL))
		}
	}
}

// nova reads the Nova notifier's options. Notifications are on by default
// in Neutron; without [nova] credentials there is nobody to tell, which is
// a warning, not an error (a network-only cloud).
func (s *source) nova(c *Server) {
	s.boolean(&c.NotifyNovaOnPortStatusChanges, "DEFAULT", "notify_nova_on_port_status_changes", true)
	s.boolean(&c.NotifyNovaOnPortDataChanges, "DEFAULT", "notify_nova_on_port_data_changes", true)
	var secs int
	s.integer(&secs, "DEFAULT", "send_events_interval", 2, 1, 3600)
	c.SendEventsInterval = time.Duration(secs) * time.Second
	n := &c.Nova
	typeE := s.str(&n.AuthType, "nova", "auth_type", "")
	s.passwordAuth(&n.Auth, "nova")
	if e := s.str(&n.EndpointType, "nova", "endpoint_type", "public"); !slices.Contains([]string{"public", "internal", "admin", "publicURL", "internalURL", "adminURL"}, n.EndpointType) {
		s.fail(e, "must be public, internal or admin")
	}
	s.integer(&secs, "nova", "timeout", 30, 1, 3600)
	n.Timeout = time.Duration(secs) * time.Second
	if !c.NotifyNovaOnPortStatusChanges && !c.NotifyNovaOnPortDataChanges {
		return
	}
	if n.Auth.AuthURL == "" {
		if typeE.File != "" || n.Auth.Username != "" {
			s.warnings = append(s.warnings, "[nova] auth_url is not set: Nova is not notified of port changes")
		}
		return
	}
	if n.AuthType != "password" && n.AuthType != "v3password" {
		s.fail(typeE, "neutrino reaches Nova with auth_type = password only")
	}
	s.requirePasswordAuth(&n.Auth, "nova")
}

// passwordAuth reads keystoneauth's password plugin options from section.
func (s *source) passwordAuth(a *PasswordAuth, section string) {
	s.str(&a.AuthURL, section, "auth_url", "")
	s.str(&a.Username, section, "username", "")
	s.str(&a.UserID, section, "user_id", "")
	s.str(&a.Password, section, "password", "")
	s.str(&a.UserDomainName, section, "user_domain_name", "")
	s.str(&a.UserDomainID, section, "user_domain_id", "")
	s.str(&a.ProjectName, section, "project_name", "")
	s.str(&a.ProjectID, section, "project_id", "")
	s.str(&a.ProjectDomainName, section, "project_domain_name", "")
	s.str(&a.ProjectDomainID, section, "project_domain_id", "")
	s.str(&a.RegionName, section, "region_name", "")
}

// requirePasswordAuth fails the options a password authentication cannot
// do without.
func (s *source) requirePasswordAuth(a *PasswordAuth, section string) {
	need := func(name, why string) {
		e, _ := s.get(section, name, "")
		s.fail(e, "%s", why)
	}
	if e, _ := s.get(section, "auth_url", ""); a.AuthURL == "" {
		need("auth_url", "required: Keystone's identity endpoint, e.g. http://controller:5000/v3")
	} else if !strings.HasPrefix(a.AuthURL, "http://") && !strings.HasPrefix(a.AuthURL, "https://") {
		s.fail(e, "not an http(s) URL")
	} else if strings.HasSuffix(strings.TrimRight(a.AuthURL, "/"), "/v2.0") {
		s.fail(e, "Keystone's v2.0 API is gone; use the v3 endpoint")
	}
	if a.Username == "" && a.UserID == "" {
		need("username", "required (or user_id)")
	}
	if a.Username != "" && a.UserID == "" && a.UserDomainName == "" && a.UserDomainID == "" {
		need("user_domain_name", "required with username (or user_domain_id), e.g. Default")
	}
	if a.Password == "" {
		need("password", "required")
	}
	if a.ProjectName == "" && a.ProjectID == "" {
		need("project_name", "required (or project_id): the service project")
	}
	if a.ProjectName != "" && a.ProjectID == "" && a.ProjectDomainName == "" && a.ProjectDomainID == "" {
		need("project_domain_name", "required with project_name (or project_domain_id), e.g. Default")
	}
}

func (s *source) serverML2(c *Server) {
	typesE := s.list(&c.TypeDrivers, "ml2", "type_drivers", []string{"local", "flat", "vlan", "gre", "vxlan", "geneve"})
	for _, t := range c.TypeDrivers {
		switch {
		case contains(supportedTypes, t):
		case warnTypes[t]:
			if typesE.File != "" { // Neutron's default list names them too: no warning then
				s.warnings = append(s.warnings, fmt.Sprintf("%s: type driver %q is not implemented by neutrino; networks of that type cannot be created", typesE.where(), t))
			}
		default:
			s.fail(typesE, "unknown type driver %q (neutrino supports %s)", t, strings.Join(supportedTypes, ", "))
		}
	}
	tenantE := s.list(&c.TenantNetworkTypes, "ml2", "tenant_network_types", []string{"local"})
	for _, t := range c.TenantNetworkTypes {
		switch {
		case !contains(c.TypeDrivers, t):
			s.fail(tenantE, "tenant network type %q is not in [ml2] type_drivers (%s)", t, strings.Join(c.TypeDrivers, ","))
		case t == "geneve":
			s.fail(tenantE, "tenant network type %q is not implemented by neutrino (use vxlan)", t)
		}
	}
	mechE := s.list(&c.MechanismDrivers, "ml2", "mechanism_drivers", nil)
	for _, m := range c.MechanismDrivers {
		if !contains(supportedMechanisms, m) {
			s.fail(mechE, "unknown mechanism driver %q (neutrino supports %s)", m, strings.Join(supportedMechanisms, ", "))
		}
	}
	if len(c.MechanismDrivers) == 0 {
		s.warnings = append(s.warnings, "[ml2] mechanism_drivers is empty: no port can be bound (set openvswitch or linuxbridge)")
	} else if !contains(c.MechanismDrivers, "openvswitch") && !contains(c.MechanismDrivers, "linuxbridge") {
		s.warnings = append(s.warnings, fmt.Sprintf("%s: no binding driver (openvswitch or linuxbridge): no port can be bound", mechE.where()))
	}
	s.list(&c.ExtensionDrivers, "ml2", "extension_drivers", nil)
	if e := s.integer(&c.PathMTU, "ml2", "path_mtu", 0, 0, 65535); c.PathMTU != 0 && c.PathMTU < 68+vxlanOverlay {
		s.fail(e, "must be 0 (unset) or at least %d", 68+vxlanOverlay)
	}
	if e := s.integer(&c.OverlayIPVersion, "ml2", "overlay_ip_version", 4, 0, 6); c.OverlayIPVersion != 4 && c.OverlayIPVersion != 6 {
		s.fail(e, "must be 4 or 6")
	}

	vniE, _ := s.get("ml2_type_vxlan", "vni_ranges", "")
	c.VNIRanges = s.ranges(vniE, "VNI", 1, MaxVNI)
	if contains(c.TenantNetworkTypes, "vxlan") && len(c.VNIRanges) == 0 {
		s.warnings = append(s.warnings, "[ml2_type_vxlan] vni_ranges is empty: no tenant vxlan network can be allocated")
	}
	s.multicast(&c.VXLANGroup, "ml2_type_vxlan", "vxlan_group", "")
	greE, _ := s.get("ml2_type_gre", "tunnel_id_ranges", "")
	c.TunnelIDRanges = s.ranges(greE, "GRE key", 1, MaxGREKey)
	vlanE, _ := s.get("ml2_type_vlan", "network_vlan_ranges", "")
	c.NetworkVLANRanges = s.vlanRanges(vlanE)
	s.list(&c.FlatNetworks, "ml2_type_flat", "flat_networks", []string{"*"})
}

// LoadAgent reads a node agent's files (neutron.conf plus the OVS agent's or
// Linux bridge agent's file) for kind "openvswitch" or "linuxbridge".
func LoadAgent(kind string, paths ...string) (*Agent, []string, error) {
	var by reader
	switch kind {
	case "openvswitch":
		by = rOVS
	case "linuxbridge":
		by = rLB
	default:
		return nil, nil, fmt.Errorf("agent kind %q: want openvswitch or linuxbridge", kind)
	}
	s, err := readFiles(by, paths)
	if err != nil {
		return nil, nil, err
	}
	c := &Agent{Files: append([]string(nil), paths...)}
	if err := s.agentCommon(c); err != nil {
		return nil, nil, err
	}
	s.boolean(&c.Debug, "DEFAULT", "debug", false)
	var secs int
	s.integer(&secs, "agent", "polling_interval", 2, 1, 1<<31-1)
	c.PollingInterval = time.Duration(secs) * time.Second
	s.integer(&secs, "agent", "resync_interval", 300, 0, 1<<31-1)
	c.ResyncInterval = time.Duration(secs) * time.Second

	if by == rOVS {
		s.ovsAgent(c)
	} else {
		s.lbAgent(c)
	}
	s.firewallDriver(c, by)
	if c.ARPResponder && !c.L2Population {
		// As Neutron: the responder is fed by l2population only.
		s.warnings = append(s.warnings, "arp_responder needs l2_population; the ARP responder stays off")
		c.ARPResponder = false
	}
	return c, s.warnings, s.err()
}

// agentCommon reads what every agent reads: host, transport_url, the
// rpc_* options, host_namespace and report_interval.
func (s *source) agentCommon(c *Agent) error {
	hostE := s.str(&c.Host, "DEFAULT", "host", "")
	if c.Host == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("[DEFAULT] host not set and no hostname: %w", err)
		}
		c.Host = h
	} else if strings.ContainsAny(c.Host, " \t\n") {
		s.fail(hostE, "must not contain whitespace")
	}
	s.transportURL(c)
	s.str(&c.RPCToken, "DEFAULT", "rpc_token", "")
	s.str(&c.RPCTLSCA, "DEFAULT", "rpc_tls_ca_file", "")
	s.pair(s.str(&c.RPCTLSCert, "DEFAULT", "rpc_tls_cert_file", ""), s.str(&c.RPCTLSKey, "DEFAULT", "rpc_tls_key_file", ""))
	s.str(&c.Namespace, "DEFAULT", "host_namespace", "")

	if e, set := s.get("agent", "report_interval", ""); set {
		f, err := strconv.ParseFloat(e.Value, 64)
		switch {
		case err != nil:
			s.fail(e, "not a number of seconds")
		case f < 0:
			s.fail(e, "must not be negative (0 disables reporting)")
		default:
			c.ReportInterval = time.Duration(f * float64(time.Second))
		}
	} else {
		c.ReportInterval = 30 * time.Second
	}
	return nil
}

func (s *source) ovsAgent(c *Agent) {
	s.boolean(&c.L2Population, "agent", "l2_population", false)
	s.boolean(&c.ARPResponder, "agent", "arp_responder", false)
	typesE := s.list(&c.TunnelTypes, "agent", "tunnel_types", nil)
	s.port(&c.VXLANUDPPort, "agent", "vxlan_udp_port", 4789)
	ipE := s.ip(&c.LocalIP, "ovs", "local_ip")
	s.boolean(&c.EnableTunneling, "ovs", "enable_tunneling", false)
	if c.EnableTunneling && len(c.TunnelTypes) == 0 {
		c.TunnelTypes = []string{"vxlan"}
	}
	for _, t := range c.TunnelTypes {
		if t != "vxlan" && t != "gre" {
			s.fail(typesE, "tunnel type %q is not supported (neutrino agents build vxlan and gre tunnels)", t)
		}
	}
	if len(c.TunnelTypes) > 0 && c.LocalIP == "" {
		s.fail(ipE, "tunneling is enabled (tunnel_types %s) but local_ip is not set", strings.Join(c.TunnelTypes, ","))
	}
	s.str(&c.IntegrationBridge, "ovs", "integration_bridge", "br-int")
	s.str(&c.TunnelBridge, "ovs", "tunnel_bridge", "br-tun")
	for _, b := range []struct {
		name string
		v    string
	}{{"integration_bridge", c.IntegrationBridge}, {"tunnel_bridge", c.TunnelBridge}} {
		if b.v == "" || len(b.v) > 15 || strings.ContainsAny(b.v, " /\t") {
			e, _ := s.get("ovs", b.name, b.v)
			s.fail(e, "not a bridge name (1-15 characters, no spaces or /)")
		}
	}
	if c.IntegrationBridge == c.TunnelBridge {
		e, _ := s.get("ovs", "tunnel_bridge", c.TunnelBridge)
		s.fail(e, "must differ from integration_bridge")
	}
	mapE := s.mappings(&c.BridgeMappings, "ovs", "bridge_mappings")
	for _, br := range c.BridgeMappings {
		switch {
		case !ifaceNameRE.MatchString(br):
			s.failItem(mapE, br, "not a bridge name (1-15 characters, no spaces or /)")
		case br == c.IntegrationBridge || br == c.TunnelBridge:
			s.failItem(mapE, br, "a provider bridge must differ from integration_bridge and tunnel_bridge")
		}
	}
	if e := s.str(&c.DatapathType, "ovs", "datapath_type", "system"); c.DatapathType != "system" && c.DatapathType != "netdev" {
		s.fail(e, "must be system or netdev")
	}
	if e := s.str(&c.OFInterface, "ovs", "of_interface", "native"); c.OFInterface != "native" && c.OFInterface != "ovs-ofctl" {
		s.fail(e, "must be native or ovs-ofctl")
	}
	if e := s.str(&c.OVSDBConnection, "ovs", "ovsdb_connection", "unix:/var/run/openvswitch/db.sock"); !strings.HasPrefix(c.OVSDBConnection, "unix:") &&
		!strings.HasPrefix(c.OVSDBConnection, "tcp:") && !strings.HasPrefix(c.OVSDBConnection, "ssl:") {
		s.fail(e, "must be unix:PATH, tcp:IP:PORT or ssl:IP:PORT")
	}
}

func (s *source) lbAgent(c *Agent) {
	s.boolean(&c.EnableVXLAN, "vxlan", "enable_vxlan", true)
	ipE := s.ip(&c.LocalIP, "vxlan", "local_ip")
	s.multicast(&c.VXLANGroup, "vxlan", "vxlan_group", "224.0.0.1")
	s.integer(&c.TTL, "vxlan", "ttl", 0, 0, 255)
	s.integer(&c.TOS, "vxlan", "tos", 0, 0, 255)
	s.boolean(&c.L2Population, "vxlan", "l2_population", false)
	s.boolean(&c.ARPResponder, "vxlan", "arp_responder", false)
	s.port(&c.VXLANUDPPort, "vxlan", "udp_dstport", 4789)
	mapE := s.mappings(&c.InterfaceMappings, "linux_bridge", "physical_interface_mappings")
	for _, iface := range c.InterfaceMappings {
		if !ifaceNameRE.MatchString(iface) {
			s.failItem(mapE, iface, "not an interface name (1-15 characters, no spaces, / or :)")
		}
	}
	if c.EnableVXLAN {
		c.TunnelTypes = []string{"vxlan"}
		if c.LocalIP == "" {
			s.fail(ipE, "enable_vxlan is true but local_ip is not set")
		}
	}
}

// firewallDrivers maps Neutron's firewall_driver spellings (stevedore
// aliases and class paths) to the short name, and says which agent runs
// each.
var firewallDrivers = map[string]struct {
	name string
	by   reader
}{
	"noop": {"noop", rAgents}, "neutron.agent.firewall.NoopFirewallDriver": {"noop", rAgents},
	"iptables": {"iptables", rLB}, "neutron.agent.linux.iptables_firewall.IptablesFirewallDriver": {"iptables", rLB},
	"iptables_hybrid": {"iptables_hybrid", rOVS}, "neutron.agent.linux.iptables_firewall.OVSHybridIptablesFirewallDriver": {"iptables_hybrid", rOVS},
	"openvswitch": {"openvswitch", rOVS}, "neutron.agent.linux.openvswitch_firewall.OVSFirewallDriver": {"openvswitch", rOVS},
	"neutron.agent.linux.openvswitch_firewall.firewall.OVSFirewallDriver": {"openvswitch", rOVS},
}

// firewallDriver reads [securitygroup] firewall_driver and
// enable_security_group (default true; false means noop, as Neutron).
func (s *source) firewallDriver(c *Agent, by reader) {
	var enabled bool
	s.boolean(&enabled, "securitygroup", "enable_security_group", true)
	e := s.str(&c.FirewallDriver, "securitygroup", "firewall_driver", "noop")
	d, ok := firewallDrivers[c.FirewallDriver]
	switch {
	case !ok:
		s.fail(e, "unknown firewall driver; use noop, iptables (Linux bridge), openvswitch or iptables_hybrid (Open vSwitch)")
	case d.by&by == 0:
		s.fail(e, "%s is not a firewall driver of this agent", d.name)
	}
	c.FirewallDriver = d.name
	if !enabled {
		c.FirewallDriver = "noop"
	}
}

// transportURL accepts grpc://HOST[:PORT] and refuses the AMQP URLs
// neutron.conf usually carries, saying what to write instead.
func (s *source) transportURL(c *Agent) {
	e := s.str(&c.TransportURL, "DEFAULT", "transport_url", fmt.Sprintf("grpc://127.0.0.1:%d", DefaultRPC))
	advice := fmt.Sprintf("write transport_url = grpc://HOST:%d (the server's rpc_bind_host:rpc_bind_port)", DefaultRPC)
	scheme, rest, ok := strings.Cut(c.TransportURL, "://")
	switch {
	case !ok:
		s.fail(e, "not a URL; %s", advice)
		return
	case scheme == "rabbit" || scheme == "amqp" || scheme == "kombu" || scheme == "qpid" || scheme == "zmq" || scheme == "kafka":
		s.fail(e, "neutrino agents talk gRPC to the server, not a message queue; %s", advice)
		return
	case scheme != "grpc":
		s.fail(e, "unsupported scheme %q; %s", scheme, advice)
		return
	}
	// Several servers are listed as oslo lists several brokers:
	// grpc://HOST1:PORT1,HOST2:PORT2 (the agent fails over between them).
	var hosts []string
	for _, hostport := range strings.Split(strings.TrimSuffix(rest, "/"), ",") {
		if strings.ContainsAny(hostport, "@/") {
			s.fail(e, "want grpc://HOST:PORT[,HOST:PORT...] (credentials go in rpc_token)")
			return
		}
		host, port, err := net.SplitHostPort(hostport)
		if err != nil { // no port given
			host, port = strings.Trim(hostport, "[]"), strconv.Itoa(DefaultRPC)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			s.fail(e, "bad port %q", port)
			return
		}
		if host == "" {
			s.fail(e, "no host; %s", advice)
			return
		}
		hosts = append(hosts, net.JoinHostPort(host, port))
	}
	c.TransportURL = "grpc://" + strings.Join(hosts, ",")
}

var hostnameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$`)

// host reads a listen address: an IP or a host name.
func (s *source) host(dst *string, section, name, def string) entry {
	e := s.str(dst, section, name, def)
	if net.ParseIP(*dst) == nil && !hostnameRE.MatchString(*dst) {
		s.fail(e, "not an IP address or host name")
	}
	return e
}

// LoopbackHost reports whether a listen address is reachable from this
// machine only: a loopback address or "localhost". Any other name may
// resolve to anything, and 0.0.0.0 / :: listen everywhere.
func LoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// rpcOpenAdvice is why an exposed, unauthenticated agents' endpoint is
// refused and what fixes it.
const rpcOpenAdvice = "the agents' gRPC endpoint would listen beyond loopback with no agent authentication, " +
	"so anyone reaching it could register agents, read every tenant's MACs and IPs and set ports up or down. " +
	"Set [DEFAULT] rpc_token (a shared secret; agents send the same rpc_token) or mutual TLS " +
	"([DEFAULT] rpc_tls_cert_file, rpc_tls_key_file and rpc_tls_client_ca_file; each agent then speaks only for the host its certificate names), " +
	"or keep rpc_bind_host on 127.0.0.1"

// CheckRPCAuth refuses an agents' endpoint (rpc_bind_host) reachable
// beyond loopback that authenticates nobody: neither rpc_token nor client
// certificates (rpc_tls_client_ca_file). LoadServer applies it; the RPC
// server applies it again to configurations built in code.
func (c *Server) CheckRPCAuth() error {
	if LoopbackHost(c.RPCBindHost) || c.RPCToken != "" || c.RPCTLSClientCA != "" {
		return nil
	}
	return fmt.Errorf("[DEFAULT] rpc_bind_host = %s: %s", c.RPCBindHost, rpcOpenAdvice)
}

// pair checks that a certificate and its key are given together; the
// message names the one that is set.
func (s *source) pair(cert, key entry) {
	switch {
	case cert.Value != "" && key.Value == "":
		s.fail(cert, "%s must be set too", key.Name)
	case cert.Value == "" && key.Value != "":
		s.fail(key, "%s must be set too", cert.Name)
	}
}

// multicast reads a multicast group: an address or a CIDR of addresses
// (Neutron picks a group per VNI from a CIDR).
func (s *source) multicast(dst *string, section, name, def string) {
	e := s.str(dst, section, name, def)
	if *dst == "" {
		return
	}
	ip := net.ParseIP(*dst)
	if ip == nil {
		var err error
		if ip, _, err = net.ParseCIDR(*dst); err != nil {
			s.fail(e, "not a multicast address or CIDR")
			return
		}
	}
	if !ip.IsMulticast() {
		s.fail(e, "not a multicast address")
	}
}

// ranges parses "min:max[,min:max...]" and checks each bound.
func (s *source) ranges(e entry, what string, lo, hi int64) []Range {
	var out []Range
	for _, item := range parseList(e.Value) {
		r, msg := parseRange(item, what, lo, hi)
		if msg != "" {
			s.failItem(e, item, "%s", msg)
			continue
		}
		out = append(out, r)
	}
	return out
}

// parseRange parses one "min:max" within [lo, hi]; msg says what is wrong.
func parseRange(item, what string, lo, hi int64) (r Range, msg string) {
	a, b, ok := strings.Cut(item, ":")
	if !ok {
		return r, "want MIN:MAX"
	}
	min, err1 := strconv.ParseInt(strings.TrimSpace(a), 10, 64)
	max, err2 := strconv.ParseInt(strings.TrimSpace(b), 10, 64)
	switch {
	case err1 != nil || err2 != nil:
		return r, "want MIN:MAX with integers"
	case min < lo || min > hi:
		return r, fmt.Sprintf("%s %d outside %d..%d", what, min, lo, hi)
	case max < lo || max > hi:
		return r, fmt.Sprintf("%s %d outside %d..%d", what, max, lo, hi)
	case max < min:
		return r, "range end below start"
	}
	return Range{Min: min, Max: max}, ""
}

// vlanRanges parses network_vlan_ranges: "physnet" or "physnet:min:max".
func (s *source) vlanRanges(e entry) []VLANRange {
	var out []VLANRange
	for _, item := range parseList(e.Value) {
		name, rng, hasRange := strings.Cut(item, ":")
		name = strings.TrimSpace(name)
		switch {
		case name == "":
			s.failItem(e, item, "no physical network name")
		case !hasRange:
			out = append(out, VLANRange{PhysicalNetwork: name})
		default:
			r, msg := parseRange(rng, "VLAN id", 1, MaxVLAN)
			if msg != "" {
				s.failItem(e, item, "%s", msg)
				continue
			}
			out = append(out, VLANRange{PhysicalNetwork: name, Min: r.Min, Max: r.Max})
		}
	}
	return out
}

// ifaceNameRE is what Linux accepts as an interface name (IFNAMSIZ - 1).
var ifaceNameRE = regexp.MustCompile(`^[^\s/:]{1,15}$`)

// mappings parses a list of "key:value" items as Neutron's parse_mappings
// does: both sides stripped and non-empty, each key and each value used
// once. Unset or empty gives an empty (non-nil) map.
func (s *source) mappings(dst *map[string]string, section, name string) entry {
	var items []string
	e := s.list(&items, section, name, nil)
	*dst = map[string]string{}
	seen := map[string]string{} // value -> key
	for _, item := range items {
		k, v, ok := strings.Cut(item, ":")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch {
		case !ok:
			s.failItem(e, item, "invalid mapping (want physical_network:name)")
		case k == "":
			s.failItem(e, item, "missing physical network name in mapping")
		case v == "":
			s.failItem(e, item, "missing value in mapping")
		case (*dst)[k] != "":
			s.failItem(e, item, "physical network %s mapped twice", k)
		case seen[v] != "":
			s.failItem(e, item, "%s mapped for both %s and %s", v, seen[v], k)
		default:
			(*dst)[k] = v
			seen[v] = k
		}
	}
	return e
}

// failItem reports one bad item of a list option.
func (s *source) failItem(e entry, item, format string, args ...any) {
	e.Value = item
	s.fail(e, format, args...)
}

func contains(list []string, v string) bool { return slices.Contains(list, v) }
