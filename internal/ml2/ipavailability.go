package ml2

import (
	"context"
	"fmt"
	"math/big"
	"net/netip"

	"neutrino/internal/ipam"
	"neutrino/internal/neutron"
	"neutrino/internal/store"
)

// NetworkIPAvailabilities reports the address use of networks and their
// subnets, as Neutron's network-ip-availability extension: filters
// network_id, network_name, project_id/tenant_id and ip_version (which
// leaves out networks without a subnet of that version), every other key
// ignored; networks without subnets are listed with none.
func (p *Plugin) NetworkIPAvailabilities(ctx context.Context, filters map[string][]string) ([]neutron.NetworkIPAvailability, error) {
	netF, subF := map[string][]string{}, map[string][]string{}
	for k, v := range filters {
		switch k {
		case "network_id":
			netF["id"], subF["network_id"] = v, v
		case "network_name":
			netF["name"] = v
		case "project_id", "tenant_id":
			netF[k] = v
		case "ip_version":
			subF[k] = v
		}
	}
	var (
		nets []neutron.Network
		subs []neutron.Subnet
		used map[string]int64
	)
	err := p.st.Read(ctx, func(t *store.Tx) error {
		var err error
		if nets, err = t.ListNetworks(ctx, neutron.ListQuery{Filters: netF}); err != nil {
			return err
		}
		if subs, err = t.ListSubnets(ctx, neutron.ListQuery{Filters: subF}); err != nil {
			return err
		}
		used, err = t.AllocationCounts(ctx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("network ip availability: %w", err)
	}
	byNet := map[string][]neutron.SubnetIPAvailability{}
	for _, s := range subs {
		byNet[s.NetworkID] = append(byNet[s.NetworkID], neutron.SubnetIPAvailability{
			SubnetID: s.ID, SubnetName: s.Name, CIDR: s.CIDR, IPVersion: s.IPVersion,
			UsedIPs: used[s.ID], TotalIPs: subnetSize(s)})
	}
	out := make([]neutron.NetworkIPAvailability, 0, len(nets))
	for _, n := range nets {
		ss := byNet[n.ID]
		if len(ss) == 0 && len(filters["ip_version"]) > 0 {
			continue
		}
		a := neutron.NetworkIPAvailability{NetworkID: n.ID, NetworkName: n.Name, ProjectID: n.ProjectID,
			Subnets: ss, TotalIPs: new(big.Int)}
		if a.Subnets == nil {
			a.Subnets = []neutron.SubnetIPAvailability{}
		}
		for _, s := range ss {
			a.UsedIPs += s.UsedIPs
			a.TotalIPs.Add(a.TotalIPs, s.TotalIPs)
		}
		out = append(out, a)
	}
	return out, nil
}

// subnetSize is the number of addresses in s's allocation pools, or in
// its CIDR when it has none (Neutron's total_ips).
func subnetSize(s neutron.Subnet) *big.Int {
	total := new(big.Int)
	if len(s.AllocationPools) == 0 {
		if pf, err := netip.ParsePrefix(s.CIDR); err == nil {
			total.Lsh(big.NewInt(1), uint(pf.Addr().BitLen()-pf.Bits()))
		}
		return total
	}
	for _, r := range ipam.ParsePools(s.AllocationPools) {
		total.Add(total, r.Size())
	}
	return total
}
