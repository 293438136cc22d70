package neutron

import "encoding/json"

// The request types below are what the API layer hands the ML2 plugin after
// it has parsed and validated a body and applied policy. A nil pointer
// means "not given" (use the default on create, leave unchanged on update).

// NetworkCreate is a validated POST /v2.0/networks body.
type NetworkCreate struct {
	ProjectID           string
	Name                string
	Description         string
	AdminStateUp        *bool
	Shared              *bool
	External            *bool
	MTU                 *int
	PortSecurityEnabled *bool
	// Segment is set when the caller gave provider:* attributes; nil means
	// ML2 allocates a segment of the first tenant_network_types type with
	// a free id. SegmentationID 0 inside it means "any free id".
	Segment *Segment
	// Segments is the multi-provider form (a "segments" list in the body)
	// when it has more than one entry; Segment is then nil.
	Segments []Segment
}

// NetworkUpdate is a validated PUT /v2.0/networks/{id} body.
type NetworkUpdate struct {
	Name                *string
	Description         *string
	AdminStateUp        *bool
	Shared              *bool
	External            *bool
	MTU                 *int
	PortSecurityEnabled *bool
	Segment             *Segment
	// IfRevision, when non-zero, must equal the current revision_number
	// (If-Match: revision_number=N), else 412.
	IfRevision int64
}

// SubnetCreate is a validated POST /v2.0/subnets body.
type SubnetCreate struct {
	ProjectID   string
	NetworkID   string
	Name        string
	Description string
	IPVersion   int
	CIDR        string
	// GatewayIP: nil = the first host address; pointer to "" = no gateway.
	GatewayIP       *string
	AllocationPools []AllocationPool // nil = the whole CIDR minus gateway
	EnableDHCP      *bool
	DNSNameservers  []string
	HostRoutes      []HostRoute
	IPv6RAMode      string
	IPv6AddressMode string
	// SubnetPoolID: allocate the subnet from this pool (CIDR "" picks a
	// free prefix of Prefixlen, nil = the pool's default_prefixlen).
	// UseDefaultPool: from the default pool of IPVersion.
	SubnetPoolID   string
	Prefixlen      *int
	UseDefaultPool bool
}

// SubnetUpdate is a validated PUT /v2.0/subnets/{id} body.
type SubnetUpdate struct {
	Name            *string
	Description     *string
	GatewayIP       *string // pointer to "" removes the gateway
	AllocationPools *[]AllocationPool
	EnableDHCP      *bool
	DNSNameservers  *[]string
	HostRoutes      *[]HostRoute
	IfRevision      int64
}

// FixedIPRequest asks for an address: a subnet (any free address in it), an
// address (its subnet is found), or both.
type FixedIPRequest struct {
	SubnetID  string
	IPAddress string
}

// PortCreate is a validated POST /v2.0/ports body.
type PortCreate struct {
	ProjectID           string
	NetworkID           string
	Name                string
	Description         string
	MACAddress          string           // "" = generate from base_mac
	FixedIPs            []FixedIPRequest // nil = one address from each IPv4/IPv6 subnet as Neutron does
	DeviceID            string
	DeviceOwner         string
	AdminStateUp        *bool
	AllowedAddressPairs []AddressPair
	PortSecurityEnabled *bool
	SecurityGroups      []string // nil = the project's default group
	// AnyProjectGroups: the caller is an admin, who may name groups of
	// other projects (Neutron checks a port's groups against its project
	// only for other callers).
	AnyProjectGroups bool
	HostID           string
	VNICType         string // "" = normal
	Profile          json.RawMessage
	Tags             []string
	ExtraDHCPOpts    []ExtraDHCPOptRequest
}

// PortUpdate is a validated PUT /v2.0/ports/{id} body.
type PortUpdate struct {
	Name                *string
	Description         *string
	MACAddress          *string
	FixedIPs            *[]FixedIPRequest
	DeviceID            *string
	DeviceOwner         *string
	AdminStateUp        *bool
	AllowedAddressPairs *[]AddressPair
	PortSecurityEnabled *bool
	SecurityGroups      *[]string
	AnyProjectGroups    bool // as in PortCreate
	HostID              *string
	VNICType            *string
	Profile             *json.RawMessage
	// ExtraDHCPOpts changes only the options it names (nil: none).
	ExtraDHCPOpts []ExtraDHCPOptRequest
	IfRevision    int64
}

// ExtraDHCPOptRequest is one extra_dhcp_opts entry of a port body. An
// option is named by OptName and IPVersion (4 when the body has none);
// OptValue nil (JSON null) removes it on update and is skipped on create.
type ExtraDHCPOptRequest struct {
	OptName   string
	OptValue  *string
	IPVersion int
}

// AgentUpdate is a validated PUT /v2.0/agents/{id} body.
type AgentUpdate struct {
	AdminStateUp *bool
	Description  *string
}

// SortKey orders a listing by one attribute.
type SortKey struct {
	Key  string // API attribute name, e.g. "name", "created_at"
	Desc bool
}

// ListQuery is a validated listing request. Attribute names are the API's
// (e.g. "provider:network_type", "binding:host_id", "fixed_ips" with
// values "ip_address=..."/"subnet_id=...").
type ListQuery struct {
	// Filters: attribute -> accepted values. Values of one attribute are
	// ORed, attributes are ANDed.
	Filters map[string][]string
	Sort    []SortKey
	// Limit 0 = no limit. Marker is the id of the last item of the
	// previous page; PageReverse pages backwards from it.
	Limit       int
	Marker      string
	PageReverse bool
	// VisibleTo, when set, limits the listing to this project's resources
	// (and, for networks, shared ones): policy for non-admin callers.
	VisibleTo string
}

// SecurityGroupCreate is a validated POST /v2.0/security-groups body.
type SecurityGroupCreate struct {
	ProjectID   string
	Name        string
	Description string
	Stateful    *bool // nil = true
	Tags        []string
}

// SecurityGroupUpdate is a validated PUT /v2.0/security-groups/{id} body.
type SecurityGroupUpdate struct {
	Name        *string
	Description *string
	Stateful    *bool
	IfRevision  int64
}

// SecurityGroupRuleCreate is a POST /v2.0/security-group-rules body after
// type checks; package secgroup validates and normalises it as Neutron.
// Protocol is the text given (a JSON number arrives as its decimal text).
type SecurityGroupRuleCreate struct {
	ProjectID       string
	SecurityGroupID string
	Direction       string
	Ethertype       string // "" = IPv4
	Protocol        *string
	PortRangeMin    *int
	PortRangeMax    *int
	RemoteIPPrefix  *string
	RemoteGroupID   *string
	Description     *string
}

// GatewayRequest is a validated external_gateway_info of a router body.
type GatewayRequest struct {
	NetworkID  string
	EnableSNAT *bool // nil = true (enable_snat_by_default)
	// ExternalFixedIPs nil: one address from the external network as a
	// port gets by default.
	ExternalFixedIPs []FixedIPRequest
}

// RouterCreate is a validated POST /v2.0/routers body.
type RouterCreate struct {
	ProjectID    string
	Name         string
	Description  string
	AdminStateUp *bool
	Gateway      *GatewayRequest
	Tags         []string
	// Distributed nil: [DEFAULT] router_distributed. HA nil: false (only
	// false is accepted: no VRRP routers).
	Distributed *bool
	HA          *bool
}

// RouterUpdate is a validated PUT /v2.0/routers/{id} body.
type RouterUpdate struct {
	Name         *string
	Description  *string
	AdminStateUp *bool
	// SetGateway: Gateway is the new external_gateway_info (nil clears
	// it, as {} or null in the body).
	SetGateway bool
	Gateway    *GatewayRequest
	Routes     *[]HostRoute
	// Distributed and HA nil: unchanged.
	Distributed *bool
	HA          *bool
	IfRevision  int64
}

// RouterInterfaceRequest is the body of PUT add_router_interface or
// remove_router_interface: a subnet, a port, or (remove only) both.
type RouterInterfaceRequest struct {
	SubnetID string
	PortID   string
}

// RouterInterfaceInfo is Neutron's answer to add_router_interface and
// remove_router_interface.
type RouterInterfaceInfo struct {
	ID        string   `json:"id"`
	TenantID  string   `json:"tenant_id"`
	ProjectID string   `json:"project_id"`
	PortID    string   `json:"port_id"`
	NetworkID string   `json:"network_id"`
	SubnetID  string   `json:"subnet_id"`
	SubnetIDs []string `json:"subnet_ids"`
}

// FloatingIPCreate is a validated POST /v2.0/floatingips body.
type FloatingIPCreate struct {
	ProjectID         string
	FloatingNetworkID string
	FloatingIPAddress string // "" = any free address
	SubnetID          string // "" = any subnet of the network
	PortID            string // "" = not associated
	FixedIPAddress    string
	Description       string
	Tags              []string
}

// FloatingIPUpdate is a validated PUT /v2.0/floatingips/{id} body.
type FloatingIPUpdate struct {
	Description *string
	// SetPort: PortID (and FixedIPAddress) is the new association; ""
	// disassociates (port_id null).
	SetPort        bool
	PortID         string
	FixedIPAddress string
	IfRevision     int64
}

// SubnetPoolCreate is a validated POST /v2.0/subnetpools body; nil
// prefix lengths and quota are not given (Neutron's defaults apply).
type SubnetPoolCreate struct {
	ProjectID                                    string
	Name, Description                            string
	Prefixes                                     []string
	DefaultPrefixlen, MinPrefixlen, MaxPrefixlen *int
	DefaultQuota                                 *int
	Shared, IsDefault                            bool
}

// SubnetPoolUpdate is a validated PUT /v2.0/subnetpools/{id} body.
// SetQuota: DefaultQuota is the new default_quota (nil: none).
type SubnetPoolUpdate struct {
	Name, Description                            *string
	Prefixes                                     *[]string
	DefaultPrefixlen, MinPrefixlen, MaxPrefixlen *int
	SetQuota                                     bool
	DefaultQuota                                 *int
	IsDefault                                    *bool
	IfRevision                                   int64
}
