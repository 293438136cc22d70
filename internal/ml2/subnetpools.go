package ml2

import (
	"context"
	"net/http"
	"net/netip"
	"strconv"

	"neutrino/internal/ipam"
	"neutrino/internal/neutron"
	"neutrino/internal/store"
)

// Subnet pools (subnet_allocation, default-subnetpools): the pools
// themselves, and allocating a subnet's prefix from one. A pool's row is
// locked by every allocation from it, its update and its deletion
// (store.LockSubnetPool), so those run one at a time per pool on every
// database.

// errDefaultPoolExists is Neutron's fault for a second default pool of
// an IP version.
func errDefaultPoolExists() error {
	return neutron.InvalidInput("A default subnetpool for this IP family has already been set. Only one default may exist per IP family")
}

// subnetsBadRequest is neutron-lib's BadRequest(resource='subnets').
func subnetsBadRequest(msg string) error {
	return neutron.Errorf(http.StatusBadRequest, "BadRequest", "Bad subnets request: %s.", msg)
}

func parsePrefixes(ss []string) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ss))
	for _, s := range ss {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}

func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// CreateSubnetPools creates every pool of reqs in one transaction.
func (p *Plugin) CreateSubnetPools(ctx context.Context, reqs []neutron.SubnetPoolCreate) ([]*neutron.SubnetPool, error) {
	return createAll(ctx, p, reqs, func(ctx context.Context, t *store.Tx, req neutron.SubnetPoolCreate) (*neutron.SubnetPool, error) {
		pool, err := ipam.ReadPool(req.Prefixes, req.MinPrefixlen, req.MaxPrefixlen, req.DefaultPrefixlen)
		if err != nil {
			return nil, err
		}
		if req.IsDefault {
			d, err := t.DefaultSubnetPool(ctx, pool.IPVersion)
			if err != nil {
				return nil, err
			}
			if d != nil {
				return nil, errDefaultPoolExists()
			}
		}
		sp := &neutron.SubnetPool{
			Standard: neutron.Standard{ID: store.NewID(), Name: req.Name, Description: req.Description, ProjectID: req.ProjectID,
				Tags: []string{}, CreatedAt: t.Now(), UpdatedAt: t.Now()},
			IPVersion: pool.IPVersion, Prefixes: prefixStrings(pool.Prefixes),
			DefaultPrefixlen: pool.Default, MinPrefixlen: pool.Min, MaxPrefixlen: pool.Max,
			DefaultQuota: req.DefaultQuota, Shared: req.Shared, IsDefault: req.IsDefault,
		}
		if err := t.InsertSubnetPool(ctx, sp); err != nil {
			return nil, err
		}
		t.Charge("subnetpool", sp.ProjectID)
		return sp, nil
	})
}

// GetSubnetPool reads a subnet pool.
func (p *Plugin) GetSubnetPool(ctx context.Context, id string) (*neutron.SubnetPool, error) {
	return p.st.GetSubnetPool(ctx, id)
}

// ListSubnetPools lists subnet pools.
func (p *Plugin) ListSubnetPools(ctx context.Context, q neutron.ListQuery) ([]neutron.SubnetPool, error) {
	return p.st.ListSubnetPools(ctx, q)
}

// UpdateSubnetPool changes a pool's name, description, prefixes (which
// may only grow), prefix-length bounds, quota and default flag.
func (p *Plugin) UpdateSubnetPool(ctx context.Context, id string, req neutron.SubnetPoolUpdate) (*neutron.SubnetPool, error) {
	var out *neutron.SubnetPool
	_, err := p.st.Write(ctx, func(t *store.Tx) error {
		sp, err := t.LockSubnetPool(ctx, id)
		if err != nil {
			return err
		}
		if err := checkRevision("subnetpool", id, req.IfRevision, sp.RevisionNumber); err != nil {
			return err
		}
		prefixes := sp.Prefixes
		if req.Prefixes != nil {
			// Neutron compares the sets before reading the new list.
			if err := ipam.GrowPrefixes(parsePrefixes(sp.Prefixes), parsePrefixes(*req.Prefixes)); err != nil {
				return err
			}
			prefixes = *req.Prefixes
		}
		or := func(v *int, cur int) *int {
			if v != nil {
				return v
			}
			return &cur
		}
		pool, err := ipam.ReadPool(prefixes, or(req.MinPrefixlen, sp.MinPrefixlen), or(req.MaxPrefixlen, sp.MaxPrefixlen), or(req.DefaultPrefixlen, sp.DefaultPrefixlen))
		if err != nil {
			return err
		}
		if req.IsDefault != nil && *req.IsDefault && !sp.IsDefault {
			d, err := t.DefaultSubnetPool(ctx, pool.IPVersion)
			if err != nil {
				return err
			}
			if d != nil {
				return errDefaultPoolExists()
			}
		}
		prev := sp.RevisionNumber
		if req.Name != nil {
			sp.Name = *req.Name
		}
		if req.Description != nil {
			sp.Description = *req.Description
		}
		if req.SetQuota {
			sp.DefaultQuota = req.DefaultQuota
		}
		if req.IsDefault != nil {
			sp.IsDefault = *req.IsDefault
		}
		sp.Prefixes = prefixStrings(pool.Prefixes)
		sp.MinPrefixlen, sp.MaxPrefixlen, sp.DefaultPrefixlen = pool.Min, pool.Max, pool.Default
		sp.RevisionNumber++
		sp.UpdatedAt = t.Now()
		if err := t.UpdateSubnetPool(ctx, sp, prev); err != nil {
			return err
		}
		out = sp
		return nil
	})
	return out, err
}

// DeleteSubnetPool deletes a pool that no subnet was allocated from
// (Neutron: 400 SubnetPoolDeleteError otherwise).
func (p *Plugin) DeleteSubnetPool(ctx context.Context, id string) error {
	_, err := p.st.Write(ctx, func(t *store.Tx) error {
		if _, err := t.LockSubnetPool(ctx, id); err != nil {
			return err
		}
		subs, err := t.SubnetPoolSubnets(ctx, id)
		if err != nil {
			return err
		}
		if len(subs) > 0 {
			return neutron.Errorf(http.StatusBadRequest, "SubnetPoolDeleteError", "Unable to delete subnet pool: Subnet pool has existing allocations.")
		}
		return t.DeleteSubnetPool(ctx, id)
	})
	return err
}

// checkPoolRequest makes Neutron's checks of the form of a subnet request
// that may name a pool, before anything is read.
func checkPoolRequest(req neutron.SubnetCreate) error {
	if req.CIDR != "" && req.Prefixlen != nil {
		return subnetsBadRequest("cidr and prefixlen must not be supplied together")
	}
	if req.UseDefaultPool && req.SubnetPoolID != "" {
		return subnetsBadRequest("subnetpool_id and use_default_subnetpool cannot both be specified")
	}
	if req.SubnetPoolID == "" && !req.UseDefaultPool && req.CIDR == "" {
		return subnetsBadRequest("a subnetpool must be specified in the absence of a cidr")
	}
	return nil
}

// subnetPoolOf locks and returns the pool a subnet request names,
// directly or as the default pool of its IP version (nil: none).
func subnetPoolOf(ctx context.Context, t *store.Tx, req neutron.SubnetCreate) (*neutron.SubnetPool, error) {
	var pool *neutron.SubnetPool
	switch {
	case req.SubnetPoolID != "":
		sp, err := t.LockSubnetPool(ctx, req.SubnetPoolID)
		if err != nil {
			return nil, err
		}
		pool = sp
	case req.UseDefaultPool:
		version := req.IPVersion
		if p, err := netip.ParsePrefix(req.CIDR); err == nil {
			version = 6
			if p.Addr().Is4() {
				version = 4
			}
		}
		if version == 0 {
			return nil, subnetsBadRequest("ip_version must be specified in the absence of cidr and subnetpool_id")
		}
		d, err := t.DefaultSubnetPool(ctx, version)
		if err != nil {
			return nil, err
		}
		if d == nil {
			return nil, subnetsBadRequest("No default subnetpool found for IPv" + strconv.Itoa(version))
		}
		if pool, err = t.LockSubnetPool(ctx, d.ID); err != nil {
			return nil, err
		}
	}
	if pool != nil && req.CIDR == "" && req.AllocationPools != nil {
		return nil, subnetsBadRequest("allocation_pools allowed only for specific subnet requests.")
	}
	if pool != nil && req.IPVersion != 0 && req.IPVersion != pool.IPVersion {
		return nil, subnetsBadRequest("Cannot allocate IPv" + strconv.Itoa(req.IPVersion) + " subnet from IPv" + strconv.Itoa(pool.IPVersion) + " subnet pool")
	}
	return pool, nil
}

// allocateFromPool picks the new subnet's prefix from a locked pool as
// Neutron's SubnetAllocator does: the CIDR asked for if it is free in the
// pool, else (from the gateway address, or anywhere) a free prefix of the
// requested or default length; within the pool's bounds and its per-project
// default_quota.
func allocateFromPool(ctx context.Context, t *store.Tx, pool *neutron.SubnetPool, req neutron.SubnetCreate) (netip.Prefix, error) {
	prefixlen := pool.DefaultPrefixlen
	if req.Prefixlen != nil {
		prefixlen = *req.Prefixlen
	}
	var want netip.Prefix
	switch {
	case req.CIDR != "":
		p, err := ipam.ParseCIDR(req.CIDR, pool.IPVersion)
		if err != nil {
			return want, err
		}
		want, prefixlen = p, p.Bits()
	case req.GatewayIP != nil && *req.GatewayIP != "":
		gw, err := netip.ParseAddr(*req.GatewayIP)
		if err != nil || gw.Is4() != (pool.IPVersion == 4) || prefixlen > gw.BitLen() {
			return want, neutron.InvalidInput("Invalid gateway %s for a subnet of subnet pool %s.", *req.GatewayIP, pool.ID)
		}
		want = netip.PrefixFrom(gw, prefixlen).Masked()
	}
	if prefixlen > pool.MaxPrefixlen {
		return want, neutron.Errorf(http.StatusBadRequest, "MaxPrefixSubnetAllocationError",
			"Unable to allocate subnet with prefix length %d, maximum allowed prefix is %d.", prefixlen, pool.MaxPrefixlen)
	}
	if prefixlen < pool.MinPrefixlen {
		return want, neutron.Errorf(http.StatusBadRequest, "MinPrefixSubnetAllocationError",
			"Unable to allocate subnet with prefix length %d, minimum allowed prefix is %d.", prefixlen, pool.MinPrefixlen)
	}
	subs, err := t.SubnetPoolSubnets(ctx, pool.ID)
	if err != nil {
		return want, err
	}
	used := make([]netip.Prefix, 0, len(subs))
	var units int64
	for _, s := range subs {
		p, err := netip.ParsePrefix(s.CIDR)
		if err != nil {
			continue
		}
		used = append(used, p)
		// The quota is per project: Neutron counts the pool owner's
		// subnets here, which only matters for shared pools; neutrino
		// counts the subnets of the project asking.
		if s.ProjectID == req.ProjectID {
			units += ipam.QuotaUnits(pool.IPVersion, p.Bits())
		}
	}
	if q := pool.DefaultQuota; q != nil && *q > 0 && units+ipam.QuotaUnits(pool.IPVersion, prefixlen) > int64(*q) {
		return want, neutron.Conflict("SubnetPoolQuotaExceeded", "Per-tenant subnet pool prefix quota exceeded.")
	}
	prefixes := parsePrefixes(pool.Prefixes)
	if want.IsValid() {
		return want, ipam.CheckSpecific(prefixes, used, want)
	}
	return ipam.AllocatePrefix(prefixes, used, prefixlen)
}

// checkPoolAffinity is Neutron's rule that the subnets of one IP version
// on a network all come from the same pool, or none does
// (NetworkSubnetPoolAffinityError).
func checkPoolAffinity(others []neutron.Subnet, version int, poolID string) error {
	for _, o := range others {
		if o.IPVersion == version && o.SubnetPoolID != poolID {
			return neutron.Errorf(http.StatusBadRequest, "NetworkSubnetPoolAffinityError",
				"Subnets hosted on the same network must be allocated from the same subnet pool.")
		}
	}
	return nil
}
