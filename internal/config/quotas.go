package config

import "math"

// QuotaResources are the resources Neutron 2023.1's quota engine
// registers with the ML2 plugin and the router, security-group and RBAC
// extensions, each with its [quotas] option and Neutron's default limit.
// Those without an option (subnetpool) take default_quota.
var QuotaResources = []struct {
	Name, Option string
	Default      int
}{
	{"network", "quota_network", 100},
	{"subnet", "quota_subnet", 100},
	{"subnetpool", "", 0},
	{"port", "quota_port", 500},
	{"router", "quota_router", 10},
	{"floatingip", "quota_floatingip", 50},
	{"rbac_policy", "quota_rbac_policy", 10},
	{"security_group", "quota_security_group", 10},
	{"security_group_rule", "quota_security_group_rule", 100},
}

// quotas reads [quotas]: default_quota (-1) and one limit per resource.
func (s *source) quotas(c *Server) {
	var def int
	s.integer(&def, "quotas", "default_quota", -1, math.MinInt32, math.MaxInt32)
	c.Quotas = make(map[string]int, len(QuotaResources))
	for _, r := range QuotaResources {
		if r.Option == "" {
			c.Quotas[r.Name] = def
			continue
		}
		var n int
		s.integer(&n, "quotas", r.Option, r.Default, math.MinInt32, math.MaxInt32)
		c.Quotas[r.Name] = n
	}
}
