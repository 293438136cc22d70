package apitest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"neutrino/internal/neutron"
	"neutrino/internal/store"
)

// CheckConsistency reads everything the store holds and reports every
// broken invariant (nil = consistent): what no sequence of API calls,
// however hostile, may leave behind. It reads rows directly where the
// typed listings would hide a defect (orphans, allocation tables).
//   - networks have segments; a segmentation id is used by one segment
//     only, and its row in the allocation table (if the id is in a pool)
//     is marked allocated; every allocated row belongs to a segment;
//   - subnets are on an existing network, do not overlap there, and
//     their gateway and pools lie inside the CIDR; a network's subnets
//     list is exactly its subnets;
//   - ports are on an existing network with a MAC unique there; their
//     fixed IPs are exactly their rows in ipallocations, each inside a
//     subnet of the port's network; no allocation or tag is orphaned;
//   - counts of rows equal the lengths of the typed listings.
func CheckConsistency(ctx context.Context, st *store.Store) error {
	c := &checker{ctx: ctx, st: st}
	c.run()
	return errors.Join(c.errs...)
}

type checker struct {
	ctx  context.Context
	st   *store.Store
	errs []error
}

func (c *checker) fail(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf(format, args...))
}

// rows runs a parameterless query and returns its rows as strings.
func (c *checker) rows(q string) [][]string {
	rs, err := c.st.DB().QueryContext(c.ctx, q)
	if err != nil {
		c.fail("%s: %w", q, err)
		return nil
	}
	defer rs.Close()
	cols, _ := rs.Columns()
	var out [][]string
	for rs.Next() {
		vals := make([]any, len(cols))
		for i := range vals {
			vals[i] = new(string)
		}
		if err := rs.Scan(vals...); err != nil {
			c.fail("%s: %w", q, err)
			return nil
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			row[i] = *v.(*string)
		}
		out = append(out, row)
	}
	if err := rs.Err(); err != nil {
		c.fail("%s: %w", q, err)
	}
	return out
}

func (c *checker) count(table string) int {
	r := c.rows("SELECT COUNT(*) FROM " + table)
	if len(r) != 1 {
		return -1
	}
	var n int
	fmt.Sscan(r[0][0], &n)
	return n
}

func (c *checker) run() {
	all := neutron.ListQuery{}
	nets, err := c.st.ListNetworks(c.ctx, all)
	if err != nil {
		c.fail("list networks: %w", err)
		return
	}
	subnets, err := c.st.ListSubnets(c.ctx, all)
	if err != nil {
		c.fail("list subnets: %w", err)
		return
	}
	ports, err := c.st.ListPorts(c.ctx, all)
	if err != nil {
		c.fail("list ports: %w", err)
		return
	}
	for table, n := range map[string]int{"networks": len(nets), "subnets": len(subnets), "ports": len(ports)} {
		if got := c.count(table); got != n {
			c.fail("%s: %d rows, the listing has %d", table, got, n)
		}
	}
	netByID := map[string]*neutron.Network{}
	for i := range nets {
		netByID[nets[i].ID] = &nets[i]
	}
	subByID := map[string]*neutron.Subnet{}
	for i := range subnets {
		subByID[subnets[i].ID] = &subnets[i]
	}
	portByID := map[string]*neutron.Port{}
	for i := range ports {
		portByID[ports[i].ID] = &ports[i]
	}
	c.segments(nets)
	c.subnets(nets, subnets, netByID)
	c.ports(ports, netByID, subByID)
	c.orphans(netByID, subByID, portByID)
}

func (c *checker) segments(nets []neutron.Network) {
	type key struct{ typ, physnet, id string }
	used := map[key]string{} // segment -> network
	for _, n := range nets {
		if len(n.Segments) == 0 {
			c.fail("network %s has no segment", n.ID)
		}
		for _, s := range n.Segments {
			if s.NetworkType == neutron.TypeFlat {
				continue
			}
			k := key{s.NetworkType, s.PhysicalNetwork, fmt.Sprint(s.SegmentationID)}
			if s.NetworkType != neutron.TypeVLAN {
				k.physnet = ""
			}
			if s.SegmentationID <= 0 {
				c.fail("network %s: %s segmentation id %d", n.ID, s.NetworkType, s.SegmentationID)
			}
			if other, dup := used[k]; dup {
				c.fail("%s segmentation id %s used by networks %s and %s", s.NetworkType, k.id, other, n.ID)
			}
			used[k] = n.ID
		}
	}
	tables := []struct{ typ, q string }{
		{neutron.TypeVXLAN, "SELECT '', vxlan_vni, allocated FROM vxlan_allocations"},
		{neutron.TypeGRE, "SELECT '', gre_id, allocated FROM gre_allocations"},
		{neutron.TypeVLAN, "SELECT physical_network, vlan_id, allocated FROM vlan_allocations"},
	}
	for _, t := range tables {
		for _, r := range c.rows(t.q) {
			k := key{t.typ, r[0], r[1]}
			allocated := r[2] == "1" || r[2] == "true" || r[2] == "t"
			_, inUse := used[k]
			switch {
			case allocated && !inUse:
				c.fail("%s id %s/%s is allocated but no network uses it (leaked)", t.typ, r[0], r[1])
			case !allocated && inUse:
				c.fail("%s id %s/%s is used by network %s but free in the pool", t.typ, r[0], r[1], used[k])
			}
		}
	}
}

func (c *checker) subnets(nets []neutron.Network, subnets []neutron.Subnet, netByID map[string]*neutron.Network) {
	byNet := map[string][]string{}
	prefixes := map[string][]netip.Prefix{}
	for _, s := range subnets {
		if netByID[s.NetworkID] == nil {
			c.fail("subnet %s: network %s does not exist", s.ID, s.NetworkID)
		}
		byNet[s.NetworkID] = append(byNet[s.NetworkID], s.ID)
		p, err := netip.ParsePrefix(s.CIDR)
		if err != nil || p.Masked() != p {
			c.fail("subnet %s: cidr %q", s.ID, s.CIDR)
			continue
		}
		for _, o := range prefixes[s.NetworkID] {
			if o.Overlaps(p) {
				c.fail("subnet %s (%s) overlaps %s on network %s", s.ID, p, o, s.NetworkID)
			}
		}
		prefixes[s.NetworkID] = append(prefixes[s.NetworkID], p)
		if s.GatewayIP != "" {
			if a, err := netip.ParseAddr(s.GatewayIP); err != nil || !p.Contains(a) {
				c.fail("subnet %s: gateway %q outside %s", s.ID, s.GatewayIP, p)
			}
		}
		for _, pool := range s.AllocationPools {
			a, err1 := netip.ParseAddr(pool.Start)
			b, err2 := netip.ParseAddr(pool.End)
			if err1 != nil || err2 != nil || !p.Contains(a) || !p.Contains(b) || b.Less(a) {
				c.fail("subnet %s: pool %s-%s outside %s", s.ID, pool.Start, pool.End, p)
			}
		}
	}
	for _, n := range nets {
		got, want := slices.Clone(n.Subnets), byNet[n.ID]
		sort.Strings(got)
		sort.Strings(want)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			c.fail("network %s lists subnets %v, its subnets are %v", n.ID, got, want)
		}
	}
}

func (c *checker) ports(ports []neutron.Port, netByID map[string]*neutron.Network, subByID map[string]*neutron.Subnet) {
	macs := map[string]string{}
	for _, p := range ports {
		if netByID[p.NetworkID] == nil {
			c.fail("port %s: network %s does not exist", p.ID, p.NetworkID)
		}
		k := p.NetworkID + " " + p.MACAddress
		if other, dup := macs[k]; dup {
			c.fail("ports %s and %s share MAC %s on network %s", other, p.ID, p.MACAddress, p.NetworkID)
		}
		macs[k] = p.ID
		for _, f := range p.FixedIPs {
			s := subByID[f.SubnetID]
			if s == nil {
				c.fail("port %s: fixed IP %s on missing subnet %s", p.ID, f.IPAddress, f.SubnetID)
				continue
			}
			if s.NetworkID != p.NetworkID {
				c.fail("port %s on network %s has an IP of subnet %s of network %s", p.ID, p.NetworkID, s.ID, s.NetworkID)
			}
			pre, err1 := netip.ParsePrefix(s.CIDR)
			a, err2 := netip.ParseAddr(f.IPAddress)
			if err1 != nil || err2 != nil || !pre.Contains(a) {
				c.fail("port %s: IP %s outside subnet %s (%s)", p.ID, f.IPAddress, s.ID, s.CIDR)
			}
		}
	}
	// fixed_ips as listed == the ipallocations rows of each port.
	rows := map[string][]string{}
	for _, r := range c.rows("SELECT port_id, subnet_id, ip_address, network_id FROM ipallocations") {
		rows[r[0]] = append(rows[r[0]], r[1]+" "+r[2])
		if p, ok := findPort(ports, r[0]); ok && p.NetworkID != r[3] {
			c.fail("allocation %s of port %s is on network %s, the port on %s", r[2], r[0], r[3], p.NetworkID)
		}
	}
	for _, p := range ports {
		var listed []string
		for _, f := range p.FixedIPs {
			listed = append(listed, f.SubnetID+" "+f.IPAddress)
		}
		got := rows[p.ID]
		sort.Strings(listed)
		sort.Strings(got)
		if strings.Join(listed, ",") != strings.Join(got, ",") {
			c.fail("port %s lists fixed IPs %v, ipallocations has %v", p.ID, listed, got)
		}
	}
}

func findPort(ports []neutron.Port, id string) (*neutron.Port, bool) {
	for i := range ports {
		if ports[i].ID == id {
			return &ports[i], true
		}
	}
	return nil, false
}

func (c *checker) orphans(netByID map[string]*neutron.Network, subByID map[string]*neutron.Subnet, portByID map[string]*neutron.Port) {
	for _, r := range c.rows("SELECT port_id, subnet_id, ip_address FROM ipallocations") {
		if portByID[r[0]] == nil {
			c.fail("allocation %s: port %s does not exist", r[2], r[0])
		}
		if subByID[r[1]] == nil {
			c.fail("allocation %s: subnet %s does not exist", r[2], r[1])
		}
	}
	for _, r := range c.rows("SELECT network_id FROM network_segments") {
		if netByID[r[0]] == nil {
			c.fail("segment of missing network %s", r[0])
		}
	}
	exists := map[string]func(string) bool{
		"network": func(id string) bool { return netByID[id] != nil },
		"subnet":  func(id string) bool { return subByID[id] != nil },
		"port":    func(id string) bool { return portByID[id] != nil },
	}
	for _, r := range c.rows("SELECT kind, resource_id, tag FROM tags") {
		if f := exists[r[0]]; f == nil || !f(r[1]) {
			c.fail("tag %q of missing %s %s", r[2], r[0], r[1])
		}
	}
}
