package api

import (
	"net/http"

	"neutrino/internal/neutron"
)

// extension is one entry of /v2.0/extensions; names, descriptions and
// dates are Neutron's, so clients probing for an alias find what they know.
type extension struct {
	Name        string `json:"name"`
	Alias       string `json:"alias"`
	Description string `json:"description"`
	Updated     string `json:"updated"`
	Links       []any  `json:"links"`
}

// Only what neutrino serves is advertised.
var baseExtensions = []extension{
	{"agent", "agent", "The agent management extension.", "2013-02-03T10:00:00-00:00", nil},
	{"Neutron L3 Router", "router", "Router abstraction for basic L3 forwarding between L2 Neutron networks and access to external networks via a NAT gateway.", "2012-07-20T10:00:00-00:00", nil},
	{"Neutron L3 Configurable external gateway mode", "ext-gw-mode", "Extension of the router abstraction for specifying whether SNAT should occur on the external gateway", "2013-03-28T10:00:00-00:00", nil},
	{"Distributed Virtual Router", "dvr", "Enables configuration of Distributed Virtual Routers.", "2014-06-1T10:00:00-00:00", nil},
	{"HA Router extension", "l3-ha", "Adds HA capability to routers.", "2014-04-26T00:00:00-00:00", nil},
	{"Enforce Router's Admin State Down Before Update Extension", "router-admin-state-down-before-update", "Ensure that the admin state of a router is DOWN (admin_state_up=False) before updating the distributed attribute", "2019-07-02T15:56:00", nil},
	{"Prevent L3 router ports IP address change extension", "l3-port-ip-change-not-allowed", "Prevent change of IP address for some L3 router ports", "2018-10-09T10:00:00-00:00", nil},
	{"Neutron Extra Route", "extraroute", "Extra routes configuration for L3 router", "2013-02-01T10:00:00-00:00", nil},
	{"Floating IP Port Details Extension", "fip-port-details", "Add port_details attribute to Floating IP resource", "2018-04-09T10:00:00-00:00", nil},
	{"Allowed Address Pairs", "allowed-address-pairs", "Provides allowed address pairs", "2013-07-23T10:00:00-00:00", nil},
	{"DHCP Agent Scheduler", "dhcp_agent_scheduler", "Schedule networks among dhcp agents", "2013-02-07T10:00:00-00:00", nil},
	{"Empty String Filtering Extension", "empty-string-filtering", "Allow filtering by attributes with empty string value", "2018-05-01T10:00:00-00:00", nil},
	{"Neutron external network", "external-net", "Adds external network attribute to network resource.", "2013-01-14T10:00:00-00:00", nil},
	{"L3 Agent Scheduler", "l3_agent_scheduler", "Schedule routers among l3 agents", "2013-02-07T10:00:00-00:00", nil},
	{"Neutron Extra DHCP options", "extra_dhcp_opt", "Extra options configuration for DHCP. For example PXE boot options to DHCP clients can be specified (e.g. tftp-server, server-ip-address, bootfile-name)", "2013-03-17T12:00:00-00:00", nil},
	{"IP address substring filtering", "ip-substring-filtering", "Provides IP address substring filtering when listing ports", "2017-11-28T09:00:00-00:00", nil},
	{"Filter parameters validation", "filter-validation", "Provides validation on filter parameters.", "2018-07-04T10:00:00-00:00", nil},
	{"Multi Provider Network", "multi-provider", "Expose mapping of virtual networks to multiple physical networks", "2013-06-27T10:00:00-00:00", nil},
	{"Network IP Availability", "network-ip-availability", "Provides IP availability data for each network and subnet.", "2015-09-24T00:00:00-00:00", nil},
	{"Network MTU", "net-mtu", "Provides MTU attribute for a network resource.", "2015-03-25T10:00:00-00:00", nil},
	{"Network MTU (writable)", "net-mtu-writable", "Provides a writable MTU attribute for a network resource.", "2017-07-12T00:00:00-00:00", nil},
	{"Pagination support", "pagination", "Extension that indicates that pagination is enabled.", "2016-06-12T00:00:00-00:00", nil},
	{"Port Binding", "binding", "Expose port bindings of a virtual port to external application", "2014-02-03T10:00:00-00:00", nil},
	{"project_id field enabled", "project-id", "Extension that indicates that project_id field is enabled.", "2016-09-09T09:09:09-09:09", nil},
	{"Provider Network", "provider", "Expose mapping of virtual networks to physical networks", "2012-09-07T10:00:00-00:00", nil},
	{"Quota engine limit check", "quota-check-limit", "Support for checking the resource usage before applying a new quota limit", "2021-09-08T16:00:00-00:00", nil},
	{"Quota details management support", "quota_details", "Expose functions for quotas usage statistics per project", "2017-02-10T10:00:00-00:00", nil},
	{"Quota management support", "quotas", "Expose functions for quotas management per project", "2012-07-29T10:00:00-00:00", nil},
	{"If-Match constraints based on revision_number", "revision-if-match", "Extension indicating that If-Match based on revision_number is supported.", "2016-12-11T00:00:00-00:00", nil},
	{"Resource revision numbers", "standard-attr-revisions", "This extension will display the revision number of neutron resources.", "2016-04-11T10:00:00-00:00", nil},
	{"security-group", "security-group", "The security groups extension.", "2012-10-05T10:00:00-00:00", nil},
	{"Normalized CIDR field for security group rules", "security-groups-normalized-cidr", "Add new field with normalized remote_ip_prefix cidr in SG rule", "2020-07-28T10:00:00-00:00", nil},
	{"Port filtering on security groups", "port-security-groups-filtering", "Provides security groups filtering when listing ports", "2018-01-09T09:00:00-00:00", nil},
	{"Neutron Service Type Management", "service-type", "API for retrieving service providers for Neutron advanced services", "2013-01-20T00:00:00-00:00", nil},
	{"Subnet Allocation", "subnet_allocation", "Enables allocation of subnets from a subnet pool", "2015-03-30T10:00:00-00:00", nil},
	{"Default Subnetpools", "default-subnetpools", "Provides ability to mark and use a subnetpool as the default.", "2016-02-18T18:00:00-00:00", nil},
	{"Sorting support", "sorting", "Extension that indicates that sorting is enabled.", "2016-06-12T00:00:00-00:00", nil},
	{"standard-attr-description", "standard-attr-description", "Extension to add descriptions to standard attributes", "2016-02-10T10:00:00-00:00", nil},
	{"Stateful security group", "stateful-security-group", "Indicates if the security group is stateful or not", "2019-11-26T09:00:00-00:00", nil},
	{"Tag support for resources with standard attribute: port, subnet, subnetpool, network, security_group, router, floatingip, policy, trunk, network_segment_range", "standard-attr-tag", "Enables to set tag on resources with standard attribute.", "2017-01-01T00:00:00-00:00", nil},
	{"Resource timestamps", "standard-attr-timestamp", "Adds created_at and updated_at fields to all Neutron resources that have Neutron standard attributes.", "2016-09-12T10:00:00-00:00", nil},
}

var portSecurityExtension = extension{"Port Security", "port-security", "Provides port security", "2012-07-23T10:00:00-00:00", nil}

func extensionsFor(o attrOptions) []extension {
	out := append([]extension{}, baseExtensions...)
	if o.PortSecurity {
		out = append(out, portSecurityExtension)
	}
	for i := range out {
		out[i].Links = []any{}
	}
	return out
}

func (s *Server) listExtensions(w http.ResponseWriter) {
	writeJSON(w, http.StatusOK, map[string]any{"extensions": s.exts})
}

func (s *Server) showExtension(w http.ResponseWriter, alias string) {
	for _, e := range s.exts {
		if e.Alias == alias {
			writeJSON(w, http.StatusOK, map[string]any{"extension": e})
			return
		}
	}
	writeFault(w, neutron.Errorf(http.StatusNotFound, "HTTPNotFound", "Extension with alias %s does not exist", alias))
}

// serviceProviders is GET /v2.0/service-providers (service-type): the one
// kind of router neutrino's L3 agent runs, as Neutron names it among its
// L3 providers (it lists dvrha, dvr, ha and single_node; neutrino has no
// data plane for DVR or HA routers).
var serviceProviders = []map[string]any{{"service_type": "L3_ROUTER_NAT", "name": "single_node", "default": false}}
