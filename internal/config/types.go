package config

import "time"

// Range is an inclusive id range such as vni_ranges' "1001:2000".
type Range struct{ Min, Max int64 }

// VLANRange is one network_vlan_ranges entry: "physnet1:100:200" or just
// "physnet1" (no tenant VLANs on it, provider networks only).
type VLANRange struct {
	PhysicalNetwork string
	Min, Max        int64 // 0, 0 when only the physnet was named
}

// Server is neutron-server's configuration (neutron.conf + ml2_conf.ini),
// with Neutron's defaults applied.
type Server struct {
	// [DEFAULT]
	BindHost         string        // bind_host, default 127.0.0.1
	BindPort         int           // bind_port, default 9696
	AuthStrategy     string        // auth_strategy: "noauth" (default here) or "keystone"
	CorePlugin       string        // core_plugin, normalised to "ml2"
	ServicePlugins   []string      // service_plugins, as given
	GlobalPhysnetMTU int           // global_physnet_mtu, default 1500
	BaseMAC          string        // base_mac, default fa:16:3e:00:00:00
	StatePath        string        // state_path, default /var/lib/neutrino
	AgentDownTime    time.Duration // agent_down_time, default 75s
	// DHCPAgentsPerNetwork is dhcp_agents_per_network (default 1): how
	// many DHCP agents the scheduler puts on each DHCP-enabled network.
	DHCPAgentsPerNetwork int
	MaxRequestBody       int // max_request_body_size, default 114688
	// RouterDistributed is router_distributed (default false): whether a
	// router created without the distributed attribute is distributed.
	RouterDistributed bool
	// Agents' gRPC endpoint (neutrino's own options, in [DEFAULT]).
	RPCBindHost string // rpc_bind_host, default 127.0.0.1
	RPCBindPort int    // rpc_bind_port, default 9697
	// Agent authentication on the gRPC port: a shared token and/or mTLS.
	RPCToken       string // rpc_token
	RPCTLSCert     string // rpc_tls_cert_file
	RPCTLSKey      string // rpc_tls_key_file
	RPCTLSClientCA string // rpc_tls_client_ca_file: when set, agents must present a cert signed by it

	// [database]
	Connection string // connection (or the old sql_connection); "" = sqlite under StatePath

	// [ml2]
	TypeDrivers        []string // default local,flat,vlan,gre,vxlan,geneve as Neutron; we support flat,vlan,gre,vxlan
	TenantNetworkTypes []string // default local
	MechanismDrivers   []string
	ExtensionDrivers   []string
	PathMTU            int // path_mtu, default 0 (unset)
	OverlayIPVersion   int // overlay_ip_version, default 4

	VNIRanges         []Range     // [ml2_type_vxlan] vni_ranges
	VXLANGroup        string      // [ml2_type_vxlan] vxlan_group (the server ignores it, as Neutron)
	NetworkVLANRanges []VLANRange // [ml2_type_vlan] network_vlan_ranges
	FlatNetworks      []string    // [ml2_type_flat] flat_networks ("*" = any)
	TunnelIDRanges    []Range     // [ml2_type_gre] tunnel_id_ranges

	// Nova notifications ([DEFAULT] and [nova]).
	NotifyNovaOnPortStatusChanges bool          // notify_nova_on_port_status_changes, default true
	NotifyNovaOnPortDataChanges   bool          // notify_nova_on_port_data_changes, default true
	SendEventsInterval            time.Duration // send_events_interval, default 2s
	Nova                          Nova          // [nova]

	// [oslo_policy]
	PolicyFile         string   // policy_file, default policy.yaml (next to the config files)
	PolicyDirs         []string // policy_dirs, default policy.d
	EnforceNewDefaults bool     // enforce_new_defaults, default false (2023.1)
	EnforceScope       bool     // enforce_scope, default false (2023.1)

	// [quotas]: the default limit of each quota resource (QuotaResources),
	// negative = unlimited; a project's own limits are in the database.
	Quotas map[string]int

	// [keystone_authtoken], read when AuthStrategy is "keystone".
	KeystoneAuthtoken KeystoneAuthtoken

	// Files lists the config files in load order (for messages).
	Files []string
}

// PasswordAuth is keystoneauth's "password" plugin as a service's config
// section spells it (auth_type = password).
type PasswordAuth struct {
	AuthURL           string // auth_url: Keystone's identity endpoint (with or without /v3)
	Username          string // username (or UserID)
	UserID            string // user_id
	Password          string // password
	UserDomainName    string // user_domain_name (or UserDomainID)
	UserDomainID      string // user_domain_id
	ProjectName       string // project_name (or ProjectID)
	ProjectID         string // project_id
	ProjectDomainName string // project_domain_name (or ProjectDomainID)
	ProjectDomainID   string // project_domain_id
	RegionName        string // region_name
}

// Nova is [nova] as Neutron reads it: how to reach Nova's API.
type Nova struct {
	Auth         PasswordAuth // auth_type = password and its options
	AuthType     string       // auth_type
	EndpointType string       // endpoint_type: public (default), internal or admin
	Timeout      time.Duration
}

// KeystoneAuthtoken is [keystone_authtoken] as keystonemiddleware's
// auth_token reads it (the options neutrino acts on).
type KeystoneAuthtoken struct {
	// WWWAuthenticateURI is www_authenticate_uri (old name auth_uri): the
	// public identity endpoint named in 401 answers. Defaults to auth_url.
	WWWAuthenticateURI string
	Auth               PasswordAuth // auth_type = password and its options
	// ServiceTokenRoles: an X-Service-Token must carry one of these roles
	// (default service) to count as a service token.
	ServiceTokenRoles []string
	// ServiceTokenRolesRequired: without such a role the service token is
	// invalid (true) or accepted with a warning (false, 2023.1's default).
	ServiceTokenRolesRequired bool
	// TokenCacheTime is token_cache_time (default 300s): how long a
	// validated token is trusted without asking Keystone again (never past
	// its expires_at). 0 or less: no cache, every request asks Keystone.
	TokenCacheTime time.Duration
	// TokenCacheSize bounds the in-process cache (neutrino's own option,
	// default 10000 tokens; memcached_servers is accepted but not used).
	TokenCacheSize int
	// HTTPConnectTimeout is http_connect_timeout: how long connecting to
	// Keystone may take (default 10s here; keystonemiddleware leaves it
	// unset). A request, connection included, may take up to 60s.
	HTTPConnectTimeout time.Duration
	// HTTPRequestMaxRetries is http_request_max_retries (default 3): retries
	// when Keystone cannot be reached.
	HTTPRequestMaxRetries int
	// Err names the options token validation cannot do without, when
	// auth_strategy = keystone and they are missing (keystone.New refuses).
	Err error
}

// Agent is a node agent's configuration: neutron.conf plus the OVS agent's
// or Linux bridge agent's file, with Neutron's defaults applied.
type Agent struct {
	// [DEFAULT]
	Host         string // host, default the machine's hostname
	TransportURL string // transport_url: grpc://HOST:PORT (rabbit:// is refused with advice)
	RPCToken     string // rpc_token (neutrino): shared token presented to the server
	RPCTLSCA     string // rpc_tls_ca_file: CA to verify the server (enables TLS)
	RPCTLSCert   string // rpc_tls_cert_file: client certificate for mTLS
	RPCTLSKey    string // rpc_tls_key_file
	// Namespace is the network namespace the agent manages (neutrino's
	// [DEFAULT] host_namespace, used by the lab); "" = its own.
	Namespace string
	// Debug is [DEFAULT] debug: the L2 agent logs at DEBUG level (its
	// passes, device reports, flow and OVSDB changes).
	Debug bool

	// [agent]
	PollingInterval time.Duration // polling_interval, default 2s
	// ResyncInterval is resync_interval (neutrino; default 300s, 0 = never):
	// how often the agent audits its data plane, reading everything back
	// and repairing drift (flows or entries changed by hand). Between
	// audits only what changed is applied.
	ResyncInterval time.Duration
	ReportInterval time.Duration // report_interval, default 30s
	L2Population   bool          // l2_population ([agent] for OVS, [vxlan] for Linux bridge)
	ARPResponder   bool          // arp_responder ([agent] for OVS, [vxlan] for Linux bridge)
	TunnelTypes    []string      // tunnel_types (OVS: [agent] or old [ovs] tunnel_type); LB: ["vxlan"] when enable_vxlan

	// FirewallDriver is [securitygroup] firewall_driver by Neutron's
	// short name: "noop" (also when enable_security_group is false),
	// "iptables" (Linux bridge), "openvswitch" or "iptables_hybrid"
	// (Open vSwitch). Class paths are accepted and mapped.
	FirewallDriver string

	// Tunnels
	LocalIP      string // [ovs] / [vxlan] local_ip
	VXLANUDPPort int    // [agent] vxlan_udp_port (OVS; old [ovs] spelling too) / [vxlan] udp_dstport (LB); default 4789

	// OVS agent ([ovs])
	EnableTunneling   bool   // enable_tunneling (old option; implies tunnel_types vxlan when set and none given)
	IntegrationBridge string // default br-int
	TunnelBridge      string // default br-tun
	DatapathType      string // default system
	OVSDBConnection   string // default unix:/var/run/openvswitch/db.sock
	OFInterface       string // of_interface: native (default: one OpenFlow connection per bridge) or ovs-ofctl (a process per change)
	// BridgeMappings is bridge_mappings: physical network -> provider
	// bridge (physnet1:br-ex), joined to br-int by int-<bridge> and
	// phy-<bridge> patch ports. The operator creates the bridge.
	BridgeMappings map[string]string

	// Linux bridge agent ([vxlan])
	EnableVXLAN bool   // enable_vxlan, default true
	VXLANGroup  string // vxlan_group, default 224.0.0.1
	TTL         int    // ttl, 0 = kernel default
	TOS         int    // tos, 0 = kernel default
	// InterfaceMappings is [linux_bridge] physical_interface_mappings:
	// physical network -> interface (physnet1:eth1) that a flat
	// network's bridge enslaves, or whose <iface>.<vlan> subinterface a
	// vlan network's bridge enslaves.
	InterfaceMappings map[string]string

	Files []string
}
