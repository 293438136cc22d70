package neutron

import (
	"encoding/json"
	"net/netip"
	"sort"
	"time"
)

// Network types as Neutron names them.
const (
	TypeVXLAN = "vxlan"
	TypeVLAN  = "vlan"
	TypeFlat  = "flat"
	TypeGRE   = "gre"
)

// Port statuses.
const (
	StatusActive = "ACTIVE"
	StatusDown   = "DOWN"
	StatusBuild  = "BUILD"
	StatusError  = "ERROR"
)

// binding:vif_type values.
const (
	VIFUnbound       = "unbound"
	VIFBindingFailed = "binding_failed"
	VIFOVS           = "ovs"
	VIFBridge        = "bridge"
)

// Agent types, as Neutron's agents report them.
const (
	AgentTypeOVS         = "Open vSwitch agent"
	AgentTypeLinuxBridge = "Linux bridge agent"
	AgentTypeDHCP        = "DHCP agent"
	AgentTypeL3          = "L3 agent"
)

// DeviceOwnerDHCP is the device_owner of the DHCP ports the scheduler
// creates for the agents hosting a network.
const DeviceOwnerDHCP = "network:dhcp"

// Device owners of the ports the router service makes: a router's
// interfaces (qr-), its external gateway (qg-) and floating IPs.
const (
	DeviceOwnerRouterInterface = "network:router_interface"
	DeviceOwnerRouterGateway   = "network:router_gateway"
	DeviceOwnerFloatingIP      = "network:floatingip"
)

// L3Owned reports whether deviceOwner is one of the router service's
// (the constants above): such a port lives and dies with its router or
// floating IP, so the port API neither deletes it nor changes its owner.
func L3Owned(deviceOwner string) bool {
	switch deviceOwner {
	case DeviceOwnerRouterInterface, DeviceOwnerRouterGateway, DeviceOwnerFloatingIP:
		return true
	}
	return false
}

// Standard holds the attributes every Neutron resource carries.
type Standard struct {
	ID             string    `json:"id"`
	Name           string    `json:"name"`
	Description    string    `json:"description"`
	ProjectID      string    `json:"project_id"`
	Tags           []string  `json:"tags"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
	RevisionNumber int64     `json:"revision_number"`
}

// Segment is one ML2 network segment (provider:* attributes).
type Segment struct {
	NetworkType     string `json:"provider:network_type"`
	PhysicalNetwork string `json:"provider:physical_network,omitempty"`
	SegmentationID  int64  `json:"provider:segmentation_id,omitempty"`
}

// Network is a Neutron network. Segments has one entry for the usual
// single-segment network; provider:* attributes are Segments[0].
type Network struct {
	Standard
	AdminStateUp        bool      `json:"admin_state_up"`
	Shared              bool      `json:"shared"`
	External            bool      `json:"router:external"`
	Status              string    `json:"status"`
	MTU                 int       `json:"mtu"`
	PortSecurityEnabled bool      `json:"port_security_enabled"`
	Segments            []Segment `json:"segments"`
	Subnets             []string  `json:"subnets"`
}

// AllocationPool is an inclusive range of addresses IPAM may hand out.
type AllocationPool struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

// HostRoute is a subnet host route.
type HostRoute struct {
	Destination string `json:"destination"`
	NextHop     string `json:"nexthop"`
}

// Subnet is a Neutron subnet. GatewayIP is empty when the subnet has none.
type Subnet struct {
	Standard
	NetworkID       string           `json:"network_id"`
	IPVersion       int              `json:"ip_version"`
	CIDR            string           `json:"cidr"`
	GatewayIP       string           `json:"gateway_ip"`
	AllocationPools []AllocationPool `json:"allocation_pools"`
	EnableDHCP      bool             `json:"enable_dhcp"`
	DNSNameservers  []string         `json:"dns_nameservers"`
	HostRoutes      []HostRoute      `json:"host_routes"`
	IPv6RAMode      string           `json:"ipv6_ra_mode"`
	IPv6AddressMode string           `json:"ipv6_address_mode"`
	SubnetPoolID    string           `json:"subnetpool_id"`
}

// FixedIP is one address of a port.
type FixedIP struct {
	SubnetID  string `json:"subnet_id"`
	IPAddress string `json:"ip_address"`
}

// AddressPair is an allowed address pair.
type AddressPair struct {
	IPAddress  string `json:"ip_address"`
	MACAddress string `json:"mac_address"`
}

// Binding holds a port's binding:* attributes.
type Binding struct {
	HostID     string          `json:"binding:host_id"`
	VNICType   string          `json:"binding:vnic_type"`
	Profile    json.RawMessage `json:"binding:profile"`
	VIFType    string          `json:"binding:vif_type"`
	VIFDetails json.RawMessage `json:"binding:vif_details"`
}

// Port is a Neutron port.
type Port struct {
	Standard
	NetworkID           string        `json:"network_id"`
	MACAddress          string        `json:"mac_address"`
	FixedIPs            []FixedIP     `json:"fixed_ips"`
	DeviceID            string        `json:"device_id"`
	DeviceOwner         string        `json:"device_owner"`
	Status              string        `json:"status"`
	AdminStateUp        bool          `json:"admin_state_up"`
	AllowedAddressPairs []AddressPair `json:"allowed_address_pairs"`
	PortSecurityEnabled bool          `json:"port_security_enabled"`
	SecurityGroups      []string      `json:"security_groups"`
	// ExtraDHCPOpts are the port's extra_dhcp_opts (extension
	// extra_dhcp_opt): DHCP options the DHCP agent gives this port.
	ExtraDHCPOpts []ExtraDHCPOpt `json:"extra_dhcp_opts"`
	Binding
}

// ExtraDHCPOpt is one DHCP option of a port, as Neutron's extra_dhcp_opt
// extension has it: OptName is a dnsmasq option name or number (e.g.
// "bootfile-name", "tftp-server", "server-ip-address", "26"), OptValue
// its value, IPVersion 4 or 6 (the address family the option is for).
type ExtraDHCPOpt struct {
	OptName   string `json:"opt_name"`
	OptValue  string `json:"opt_value"`
	IPVersion int    `json:"ip_version"`
}

// Agent is a row of Neutron's agents table. Alive is computed from
// HeartbeatAt and agent_down_time when the agent is read.
type Agent struct {
	ID               string          `json:"id"`
	AgentType        string          `json:"agent_type"`
	Binary           string          `json:"binary"`
	Topic            string          `json:"topic"`
	Host             string          `json:"host"`
	AdminStateUp     bool            `json:"admin_state_up"`
	Description      string          `json:"description"`
	Configurations   json.RawMessage `json:"configurations"`
	CreatedAt        time.Time       `json:"created_at"`
	StartedAt        time.Time       `json:"started_at"`
	HeartbeatAt      time.Time       `json:"heartbeat_timestamp"`
	AvailabilityZone string          `json:"availability_zone"`
	Alive            bool            `json:"alive"`
}

// TunnelEndpoint is a row of ml2_vxlan_endpoints: the VTEP of a host.
type TunnelEndpoint struct {
	IPAddress string `json:"ip_address"`
	UDPPort   int    `json:"udp_port"`
	Host      string `json:"host"`
}

// DHCPBinding is a row of networkdhcpagentbindings: the DHCP agent AgentID
// hosts network NetworkID.
type DHCPBinding struct {
	NetworkID string `json:"network_id"`
	AgentID   string `json:"dhcp_agent_id"`
}

// L3Binding is a row of routerl3agentbindings: the L3 agent AgentID hosts
// router RouterID (its qrouter- namespace).
type L3Binding struct {
	RouterID string `json:"router_id"`
	AgentID  string `json:"l3_agent_id"`
}

// SortFixedIPs orders a port's addresses numerically (IPv4 before IPv6),
// the order every port object carries, independent of SQL collations.
func SortFixedIPs(ips []FixedIP) {
	sort.SliceStable(ips, func(i, j int) bool {
		a, errA := netip.ParseAddr(ips[i].IPAddress)
		b, errB := netip.ParseAddr(ips[j].IPAddress)
		if errA != nil || errB != nil {
			return ips[i].IPAddress < ips[j].IPAddress
		}
		return a.Less(b)
	})
}

// SecurityGroup is a Neutron security group with its rules inline, as
// Neutron renders a group.
type SecurityGroup struct {
	Standard
	Stateful bool                `json:"stateful"`
	Rules    []SecurityGroupRule `json:"security_group_rules"`
}

// SecurityGroupRule is a Neutron security group rule, normalised by
// package secgroup. The pointer fields are null in Neutron's JSON when
// unset. Rules are immutable: created or deleted, never updated.
type SecurityGroupRule struct {
	ID              string  `json:"id"`
	ProjectID       string  `json:"project_id"`
	SecurityGroupID string  `json:"security_group_id"`
	Direction       string  `json:"direction"`
	Ethertype       string  `json:"ethertype"`
	Protocol        *string `json:"protocol"`
	PortRangeMin    *int    `json:"port_range_min"`
	PortRangeMax    *int    `json:"port_range_max"`
	RemoteIPPrefix  *string `json:"remote_ip_prefix"`
	RemoteGroupID   *string `json:"remote_group_id"`
	// Description is null for the rules Neutron creates itself (the
	// default egress and same-group rules).
	Description    *string   `json:"description"`
	Tags           []string  `json:"tags"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
	RevisionNumber int64     `json:"revision_number"`
}

// Router is a Neutron router (extensions router, ext-gw-mode, extraroute).
// Its ports are ordinary ports with device_id = ID: the interfaces
// (DeviceOwnerRouterInterface) and the gateway (GatewayPortID, owner
// DeviceOwnerRouterGateway).
type Router struct {
	Standard
	AdminStateUp bool   `json:"admin_state_up"`
	Status       string `json:"status"`
	// GatewayInfo is external_gateway_info; nil when the router has no
	// gateway.
	GatewayInfo *GatewayInfo `json:"external_gateway_info"`
	// GatewayPortID is the gateway port ("" without gateway). The API
	// does not show it; the L3 stream reads it.
	GatewayPortID string `json:"gw_port_id"`
	// Routes are the extra routes, sorted by destination, then next hop.
	Routes []HostRoute `json:"routes"`
	// Distributed is the dvr extension's admin-only attribute. A
	// distributed router is never scheduled to an L3 agent: neutrino's
	// agents run legacy (centralized) routers only, as Neutron leaves a
	// distributed router unhosted when only legacy agents exist.
	Distributed bool `json:"distributed"`
}

// GatewayInfo is a router's external_gateway_info. ExternalFixedIPs are
// the gateway port's fixed IPs.
type GatewayInfo struct {
	NetworkID        string    `json:"network_id"`
	EnableSNAT       bool      `json:"enable_snat"`
	ExternalFixedIPs []FixedIP `json:"external_fixed_ips"`
}

// FloatingIP is a Neutron floating IP. An unassociated one has empty
// PortID, FixedIPAddress and RouterID (null in the API). Name is unused
// (floating IPs have none).
type FloatingIP struct {
	Standard
	FloatingIPAddress string `json:"floating_ip_address"`
	FloatingNetworkID string `json:"floating_network_id"`
	// FloatingPortID is the network:floatingip port that holds the
	// address on the external network (not shown by the API).
	FloatingPortID string `json:"floating_port_id"`
	RouterID       string `json:"router_id"`
	PortID         string `json:"port_id"`
	FixedIPAddress string `json:"fixed_ip_address"`
	Status         string `json:"status"`
	// PortDetails describe the associated port (fip-port-details); nil
	// when unassociated.
	PortDetails *FloatingIPPortDetails `json:"port_details"`
}

// FloatingIPPortDetails is a floating IP's port_details.
type FloatingIPPortDetails struct {
	Name         string `json:"name"`
	NetworkID    string `json:"network_id"`
	MACAddress   string `json:"mac_address"`
	AdminStateUp bool   `json:"admin_state_up"`
	Status       string `json:"status"`
	DeviceID     string `json:"device_id"`
	DeviceOwner  string `json:"device_owner"`
}

// SubnetPool is a Neutron subnet pool (subnet_allocation): the prefixes
// subnets are allocated from and the bounds of their prefix lengths.
// DefaultQuota is nil when the pool sets none.
type SubnetPool struct {
	Standard
	IPVersion        int      `json:"ip_version"`
	Prefixes         []string `json:"prefixes"`
	DefaultPrefixlen int      `json:"default_prefixlen"`
	MinPrefixlen     int      `json:"min_prefixlen"`
	MaxPrefixlen     int      `json:"max_prefixlen"`
	DefaultQuota     *int     `json:"default_quota"`
	Shared           bool     `json:"shared"`
	IsDefault        bool     `json:"is_default"`
}
