package config

// reader says which process reads an option.
type reader uint8

const (
	rServer reader = 1 << iota
	rOVS
	rLB
	rDHCP
	rL3

	rAgents = rOVS | rLB
)

// key is a folded (section, option) pair.
type key struct{ Section, Name string }

// option is one option neutrino reads, with the old spellings oslo.config
// still accepts for it (deprecated_name / deprecated_group).
type option struct {
	key
	by  reader
	old []key
}

func opt(section, name string, by reader, old ...key) option {
	return option{key: key{section, name}, by: by, old: old}
}

// options lists everything neutrino reads. An option's setter lives in
// load.go; this table only resolves names.
var options = []option{
	// [DEFAULT], server
	opt("DEFAULT", "bind_host", rServer),
	opt("DEFAULT", "bind_port", rServer),
	opt("DEFAULT", "auth_strategy", rServer),
	opt("DEFAULT", "core_plugin", rServer),
	opt("DEFAULT", "service_plugins", rServer),
	opt("DEFAULT", "global_physnet_mtu", rServer, key{"ml2", "segment_mtu"}),
	opt("DEFAULT", "base_mac", rServer),
	opt("DEFAULT", "state_path", rServer|rDHCP|rL3),
	opt("DEFAULT", "agent_down_time", rServer),
	opt("DEFAULT", "dhcp_agents_per_network", rServer),
	opt("DEFAULT", "max_request_body_size", rServer),
	opt("DEFAULT", "router_distributed", rServer),
	opt("DEFAULT", "l3_ha", rServer),
	opt("DEFAULT", "rpc_bind_host", rServer),
	opt("DEFAULT", "rpc_bind_port", rServer),
	opt("DEFAULT", "rpc_token", rServer|rAgents|rDHCP|rL3),
	opt("DEFAULT", "rpc_tls_cert_file", rServer|rAgents|rDHCP|rL3),
	opt("DEFAULT", "rpc_tls_key_file", rServer|rAgents|rDHCP|rL3),
	opt("DEFAULT", "rpc_tls_client_ca_file", rServer),
	// [DEFAULT], agents
	opt("DEFAULT", "host", rAgents|rDHCP|rL3),
	opt("DEFAULT", "transport_url", rAgents|rDHCP|rL3),
	opt("DEFAULT", "rpc_tls_ca_file", rAgents|rDHCP|rL3),
	opt("DEFAULT", "host_namespace", rAgents|rDHCP|rL3),
	opt("DEFAULT", "debug", rAgents),

	// [database]
	opt("database", "connection", rServer,
		key{"database", "sql_connection"}, key{"DEFAULT", "sql_connection"}),

	// [ml2] and type drivers
	opt("ml2", "type_drivers", rServer),
	opt("ml2", "tenant_network_types", rServer),
	opt("ml2", "mechanism_drivers", rServer),
	opt("ml2", "extension_drivers", rServer),
	opt("ml2", "path_mtu", rServer),
	opt("ml2", "overlay_ip_version", rServer),
	opt("ml2_type_vxlan", "vni_ranges", rServer),
	opt("ml2_type_vxlan", "vxlan_group", rServer),
	opt("ml2_type_vlan", "network_vlan_ranges", rServer),
	opt("ml2_type_flat", "flat_networks", rServer),
	opt("ml2_type_gre", "tunnel_id_ranges", rServer),

	// Nova notifications
	opt("DEFAULT", "notify_nova_on_port_status_changes", rServer),
	opt("DEFAULT", "notify_nova_on_port_data_changes", rServer),
	opt("DEFAULT", "send_events_interval", rServer),
	opt("nova", "auth_type", rServer),
	opt("nova", "auth_url", rServer),
	opt("nova", "username", rServer),
	opt("nova", "user_id", rServer),
	opt("nova", "password", rServer),
	opt("nova", "user_domain_name", rServer),
	opt("nova", "user_domain_id", rServer),
	opt("nova", "project_name", rServer),
	opt("nova", "project_id", rServer),
	opt("nova", "project_domain_name", rServer),
	opt("nova", "project_domain_id", rServer),
	opt("nova", "region_name", rServer),
	opt("nova", "endpoint_type", rServer),
	opt("nova", "timeout", rServer),

	// [oslo_policy]
	opt("oslo_policy", "policy_file", rServer),
	opt("oslo_policy", "policy_dirs", rServer),
	opt("oslo_policy", "enforce_new_defaults", rServer),
	opt("oslo_policy", "enforce_scope", rServer),

	// [keystone_authtoken] (keystonemiddleware's auth_token)
	opt("keystone_authtoken", "www_authenticate_uri", rServer, key{"keystone_authtoken", "auth_uri"}),
	opt("keystone_authtoken", "auth_type", rServer, key{"keystone_authtoken", "auth_plugin"}),
	opt("keystone_authtoken", "auth_url", rServer),
	opt("keystone_authtoken", "username", rServer),
	opt("keystone_authtoken", "user_id", rServer),
	opt("keystone_authtoken", "password", rServer),
	opt("keystone_authtoken", "user_domain_name", rServer),
	opt("keystone_authtoken", "user_domain_id", rServer),
	opt("keystone_authtoken", "project_name", rServer, key{"keystone_authtoken", "tenant_name"}),
	opt("keystone_authtoken", "project_id", rServer, key{"keystone_authtoken", "tenant_id"}),
	opt("keystone_authtoken", "project_domain_name", rServer),
	opt("keystone_authtoken", "project_domain_id", rServer),
	opt("keystone_authtoken", "region_name", rServer),
	opt("keystone_authtoken", "service_token_roles", rServer),
	opt("keystone_authtoken", "service_token_roles_required", rServer),
	opt("keystone_authtoken", "token_cache_time", rServer),
	opt("keystone_authtoken", "token_cache_size", rServer),
	opt("keystone_authtoken", "http_connect_timeout", rServer),
	opt("keystone_authtoken", "http_request_max_retries", rServer),

	// [quotas]
	opt("quotas", "default_quota", rServer),
	opt("quotas", "quota_network", rServer),
	opt("quotas", "quota_subnet", rServer),
	opt("quotas", "quota_port", rServer),
	opt("quotas", "quota_security_group", rServer),
	opt("quotas", "quota_security_group_rule", rServer),
	opt("quotas", "quota_router", rServer),
	opt("quotas", "quota_floatingip", rServer),
	opt("quotas", "quota_rbac_policy", rServer, key{"quotas", "quota_rbac_entry"}),

	// [agent]
	opt("agent", "polling_interval", rAgents),
	opt("agent", "resync_interval", rAgents),
	opt("agent", "report_interval", rAgents|rDHCP|rL3),
	opt("agent", "l2_population", rOVS),
	opt("agent", "arp_responder", rOVS),
	opt("agent", "tunnel_types", rOVS, key{"ovs", "tunnel_type"}),
	opt("agent", "vxlan_udp_port", rOVS, key{"ovs", "vxlan_udp_port"}),

	// [ovs]
	opt("ovs", "local_ip", rOVS),
	opt("ovs", "enable_tunneling", rOVS),
	opt("ovs", "integration_bridge", rOVS|rDHCP|rL3, key{"DEFAULT", "ovs_integration_bridge"}),
	opt("ovs", "tunnel_bridge", rOVS),
	opt("ovs", "datapath_type", rOVS),
	opt("ovs", "ovsdb_connection", rOVS|rDHCP|rL3),
	opt("ovs", "bridge_mappings", rOVS),

	// [linux_bridge] (Linux bridge agent)
	opt("linux_bridge", "physical_interface_mappings", rLB),

	// DHCP agent (dhcp_agent.ini; dns_domain and dhcp_lease_duration are
	// neutron.conf's, shared with the server)
	opt("DEFAULT", "interface_driver", rDHCP|rL3),
	opt("DEFAULT", "dnsmasq_dns_servers", rDHCP, key{"DEFAULT", "dnsmasq_dns_server"}),
	opt("DEFAULT", "dnsmasq_config_file", rDHCP),
	opt("DEFAULT", "dnsmasq_lease_max", rDHCP),
	opt("DEFAULT", "dhcp_confs", rDHCP),
	opt("DEFAULT", "enable_isolated_metadata", rDHCP),
	opt("DEFAULT", "force_metadata", rDHCP),
	opt("DEFAULT", "dns_domain", rServer|rDHCP, key{"DEFAULT", "dhcp_domain"}),
	opt("DEFAULT", "dhcp_lease_duration", rServer|rDHCP),

	// L3 agent (l3_agent.ini)
	opt("DEFAULT", "external_network_bridge", rL3),
	opt("DEFAULT", "agent_mode", rL3),
	opt("DEFAULT", "send_arp_for_ha", rL3),
	opt("DEFAULT", "ovs_use_veth", rL3),

	// [securitygroup]: the agents' firewall driver; the server reads the
	// section (the seed sets a dummy driver there to turn security
	// groups on) and always serves them.
	opt("securitygroup", "firewall_driver", rServer|rAgents),
	opt("securitygroup", "enable_security_group", rServer|rAgents),

	// [vxlan] (Linux bridge agent)
	opt("vxlan", "enable_vxlan", rLB),
	opt("vxlan", "local_ip", rLB),
	opt("vxlan", "vxlan_group", rLB),
	opt("vxlan", "ttl", rLB),
	opt("vxlan", "tos", rLB),
	opt("vxlan", "l2_population", rLB),
	opt("vxlan", "arp_responder", rLB),
	opt("vxlan", "udp_dstport", rLB),
}

// notImplemented are Neutron options neutrino accepts but does not act on;
// each gets a warning saying so, because the operator may rely on it.
var notImplemented = map[key]string{
	{"ovs", "tunnel_id_ranges"}:                 "an old OVS plugin option; the server's [ml2_type_vxlan] vni_ranges / [ml2_type_gre] tunnel_id_ranges apply",
	{"ovs", "tenant_network_type"}:              "an old OVS plugin option; the server's [ml2] tenant_network_types applies",
	{"ovs", "network_vlan_ranges"}:              "an old OVS plugin option; the server's [ml2_type_vlan] network_vlan_ranges applies",
	{"linux_bridge", "bridge_mappings"}:         "existing bridges for physical networks are not implemented by neutrino (use physical_interface_mappings)",
	{"agent", "enable_distributed_routing"}:     "DVR is not implemented by neutrino",
	{"keystone_authtoken", "memcached_servers"}: "tokens are cached in the server process ([keystone_authtoken] token_cache_time, token_cache_size)",
	{"DEFAULT", "router_distributed"}:           "DVR is not implemented by neutrino",
	{"DEFAULT", "l3_ha"}:                        "L3 HA is not implemented by neutrino",
	{"DEFAULT", "rabbit_host"}:                  "agents talk gRPC to the server: set transport_url = grpc://HOST:9697",
	{"DEFAULT", "rabbit_hosts"}:                 "agents talk gRPC to the server: set transport_url = grpc://HOST:9697",
	{"DEFAULT", "rpc_backend"}:                  "agents talk gRPC to the server: set transport_url = grpc://HOST:9697",
}

// quiet are Neutron options and sections that do not change what neutrino
// does (logging, other services, process tuning); they load without a word.
var quiet = map[key]bool{
	{"DEFAULT", "debug"}: true, {"DEFAULT", "verbose"}: true,
	{"DEFAULT", "log_dir"}: true, {"DEFAULT", "log_file"}: true, {"DEFAULT", "log_date_format"}: true,
	{"DEFAULT", "use_syslog"}: true, {"DEFAULT", "use_stderr"}: true, {"DEFAULT", "syslog_log_facility"}: true,
	{"DEFAULT", "lock_path"}: true, {"DEFAULT", "api_paste_config"}: true, {"DEFAULT", "api_workers"}: true,
	{"DEFAULT", "rpc_workers"}: true, {"DEFAULT", "rpc_state_report_workers"}: true,
	{"DEFAULT", "allow_overlapping_ips"}: true, {"DEFAULT", "control_exchange"}: true,
	{"DEFAULT", "nova_url"}: true, {"DEFAULT", "nova_admin_username"}: true, {"DEFAULT", "nova_admin_password"}: true,
	{"DEFAULT", "nova_admin_tenant_id"}: true, {"DEFAULT", "nova_admin_auth_url"}: true, {"DEFAULT", "nova_region_name"}: true,
	{"DEFAULT", "dhcp_agent_notification"}: true,
	{"DEFAULT", "api_extensions_path"}:     true, {"DEFAULT", "rabbit_password"}: true,
	{"DEFAULT", "rabbit_userid"}: true, {"DEFAULT", "rabbit_port"}: true, {"DEFAULT", "rabbit_virtual_host"}: true,
	{"DEFAULT", "root_helper"}: true,
	{"agent", "root_helper"}:   true, {"agent", "root_helper_daemon"}: true, {"agent", "minimize_polling"}: true,
	{"agent", "ovsdb_monitor_respawn_interval"}: true, {"agent", "veth_mtu"}: true, {"agent", "dont_fragment"}: true,
	{"agent", "prevent_arp_spoofing"}: true, {"agent", "extensions"}: true, {"agent", "drop_flows_on_start"}: true,
	{"securitygroup", "enable_ipset"}: true,
	{"quotas", "quota_driver"}:        true, {"quotas", "track_quota_usage"}: true,
	{"ovs", "ovsdb_interface"}: true, {"ovs", "of_listen_address"}: true,
	{"ovs", "of_listen_port"}: true, {"ovs", "of_connect_timeout"}: true, {"ovs", "of_request_timeout"}: true,
	{"ovs", "ovsdb_timeout"}: true, {"ovs", "int_peer_patch_port"}: true, {"ovs", "tun_peer_patch_port"}: true,
	{"ovs", "use_veth_interconnection"}: true,
}

// quietSections are whole sections other services own.
var quietSections = map[string]bool{
	"keystone_authtoken": true, "nova": true, "placement": true, "oslo_concurrency": true,
	"oslo_messaging_rabbit": true, "oslo_messaging_notifications": true, "oslo_messaging_amqp": true,
	"oslo_policy": true, "oslo_middleware": true, "experimental": true, "ironic": true,
	"designate": true, "service_providers": true, "ssl": true, "cors": true, "matchmaker_redis": true,
}

// servedServicePlugins are the Neutron service plugins neutrino serves,
// by alias and class path: the L3 router service (routers, floating IPs).
var servedServicePlugins = map[string]bool{
	"router": true,
	"neutron.services.l3_router.l3_router_plugin.L3RouterPlugin": true,
}

// servicePlugins are the other Neutron service plugins by alias and class
// path; none of them is implemented by neutrino, so each one configured is
// a warning ("ignored"), and names in neither list are warned about as
// unknown.
var servicePlugins = map[string]string{
	"neutron.services.loadbalancer.plugin.LoadBalancerPlugin": "LBaaS v1",
	"lbaas":   "LBaaS v1",
	"lbaasv2": "LBaaS v2",
	"neutron_lbaas.services.loadbalancer.plugin.LoadBalancerPluginv2": "LBaaS v2",
	"firewall": "FWaaS",
	"vpnaas":   "VPNaaS",
	"metering": "metering",
	"neutron.services.metering.metering_plugin.MeteringPlugin": "metering",
	"qos": "QoS",
	"neutron.services.qos.qos_plugin.QoSPlugin": "QoS",
	"trunk": "trunk ports",
	"neutron.services.trunk.plugin.TrunkPlugin": "trunk ports",
	"segments":              "routed network segments",
	"tag":                   "resource tags",
	"port_forwarding":       "floating IP port forwarding",
	"ovn-router":            "OVN routers",
	"network_segment_range": "network segment ranges",
}
