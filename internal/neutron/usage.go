package neutron

import "math/big"

// QuotaDetail is one resource of GET /v2.0/quotas/{project_id}/details.
type QuotaDetail struct {
	Limit    int `json:"limit"`
	Used     int `json:"used"`
	Reserved int `json:"reserved"`
}

// NetworkIPAvailability is a network's address use (the
// network-ip-availability extension): totals over its subnets.
type NetworkIPAvailability struct {
	NetworkID   string
	NetworkName string
	ProjectID   string
	Subnets     []SubnetIPAvailability
	UsedIPs     int64
	TotalIPs    *big.Int // an IPv6 subnet holds up to 2^64 and more
}

// SubnetIPAvailability is one subnet's address use: TotalIPs counts its
// allocation pools (the whole CIDR if it has none), UsedIPs its allocated
// addresses.
type SubnetIPAvailability struct {
	SubnetID   string
	SubnetName string
	CIDR       string
	IPVersion  int
	UsedIPs    int64
	TotalIPs   *big.Int
}
