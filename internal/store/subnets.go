package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"neutrino/internal/neutron"
)

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

var subnetRes = &resource{
	kind: "subnet", noun: "Subnet", table: "subnets", tagged: true,
	cols: namedColumns(map[string]column{
		"network_id":        {"network_id", colString},
		"ip_version":        {"ip_version", colInt},
		"cidr":              {"cidr", colString},
		"gateway_ip":        {"gateway_ip", colString},
		"enable_dhcp":       {"enable_dhcp", colBool},
		"ipv6_ra_mode":      {"ipv6_ra_mode", colString},
		"ipv6_address_mode": {"ipv6_address_mode", colString},
		// Sorting only: filters are special's.
		"subnetpool_id": {"subnetpool_id", colString},
	}),
	special: func(attr string, vals []string) (string, []any, bool, error) {
		if attr != "subnetpool_id" {
			return "", nil, false, nil
		}
		// "" matches the subnets allocated from no pool (NULL).
		var ids []string
		none := false
		for _, v := range vals {
			if v == "" {
				none = true
			} else {
				ids = append(ids, v)
			}
		}
		var conds []string
		var args []any
		if none {
			conds = append(conds, "subnets.subnetpool_id IS NULL")
		}
		if len(ids) > 0 {
			c, a := idsIn("subnets.subnetpool_id", ids)
			conds, args = append(conds, c), a
		}
		return "(" + strings.Join(conds, " OR ") + ")", args, true, nil
	},
	visible: func(p string) (string, []any) {
		return "(subnets.project_id = ? OR subnets.network_id IN (SELECT id FROM networks WHERE shared = ?))", []any{p, true}
	},
}

const subnetCols = "subnets.id, subnets.project_id, subnets.network_id, subnets.name, subnets.description, subnets.ip_version, subnets.cidr, subnets.gateway_ip, subnets.allocation_pools, subnets.enable_dhcp, subnets.dns_nameservers, subnets.host_routes, subnets.ipv6_ra_mode, subnets.ipv6_address_mode, subnets.created_at, subnets.updated_at, subnets.revision_number, subnets.subnetpool_id"

func (s *Store) loadSubnets(ctx context.Context, db querier, tail string, args []any, scope *childScope) ([]neutron.Subnet, error) {
	out, err := s.loadSubnetRows(ctx, db, tail, args)
	if err != nil || len(out) == 0 {
		return out, err
	}
	idx := make(map[string]int, len(out))
	ids := make([]string, len(out))
	for i := range out {
		idx[out[i].ID] = i
		ids[i] = out[i].ID
	}
	if scope == nil {
		scope = &childScope{ids: ids}
	}
	if err := s.attachTags(ctx, db, "subnet", *scope, idx, func(i int, ts []string) { out[i].Tags = ts }); err != nil {
		return nil, err
	}
	return out, nil
}

// NetworkSubnets returns the subnets of a network in creation order
// without their tags (IP allocation needs neither tags nor a second
// query).
func (t *Tx) NetworkSubnets(ctx context.Context, networkID string) ([]neutron.Subnet, error) {
	if v, err, ok := t.preloaded(memoSubnets, networkID); ok {
		subs, _ := v.([]neutron.Subnet)
		return subs, err
	}
	return t.s.loadSubnetRows(ctx, t.tx, networkSubnetsTail, []any{networkID})
}

const networkSubnetsTail = " WHERE subnets.network_id = ? ORDER BY subnets.created_at, subnets.id"

// loadSubnetRows reads subnet rows only (Tags empty).
func (s *Store) loadSubnetRows(ctx context.Context, db querier, tail string, args []any) ([]neutron.Subnet, error) {
	rows, err := db.QueryContext(ctx, s.rebind("SELECT "+subnetCols+" FROM subnets"+tail), args...)
	if err != nil {
		return nil, fmt.Errorf("list subnets: %w", err)
	}
	return scanSubnetRows(rows)
}

func scanSubnetRows(rows rowScanner) ([]neutron.Subnet, error) {
	var out []neutron.Subnet
	for rows.Next() {
		var n neutron.Subnet
		var c, u int64
		var pools, dns, routes string
		var pool sql.NullString
		if err := rows.Scan(&n.ID, &n.ProjectID, &n.NetworkID, &n.Name, &n.Description, &n.IPVersion, &n.CIDR, &n.GatewayIP,
			&pools, &n.EnableDHCP, &dns, &routes, &n.IPv6RAMode, &n.IPv6AddressMode, &c, &u, &n.RevisionNumber, &pool); err != nil {
			rows.Close()
			return nil, err
		}
		n.SubnetPoolID = pool.String
		n.CreatedAt, n.UpdatedAt = fromMicro(c), fromMicro(u)
		n.Tags = []string{}
		n.AllocationPools, n.DNSNameservers, n.HostRoutes = []neutron.AllocationPool{}, []string{}, []neutron.HostRoute{}
		if err := unmarshalAll(pools, &n.AllocationPools, dns, &n.DNSNameservers, routes, &n.HostRoutes); err != nil {
			rows.Close()
			return nil, fmt.Errorf("subnet %s: %w", n.ID, err)
		}
		out = append(out, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

func unmarshalAll(pairs ...any) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		s := pairs[i].(string)
		if s == "" {
			continue
		}
		if err := json.Unmarshal([]byte(s), pairs[i+1]); err != nil {
			return err
		}
	}
	return nil
}

func subnetJSON(n *neutron.Subnet) (pools, dns, routes string) {
	return string(mustMarshal(nonNil(n.AllocationPools))), string(mustMarshal(nonNil(n.DNSNameservers))), string(mustMarshal(nonNil(n.HostRoutes)))
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func mustMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// InsertSubnet inserts a subnet row.
func (t *Tx) InsertSubnet(ctx context.Context, n *neutron.Subnet) error {
	pools, dns, routes := subnetJSON(n)
	_, err := t.exec(ctx, "INSERT INTO subnets (id, project_id, network_id, name, description, ip_version, cidr, gateway_ip, allocation_pools, enable_dhcp, dns_nameservers, host_routes, ipv6_ra_mode, ipv6_address_mode, created_at, updated_at, revision_number, subnetpool_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		n.ID, n.ProjectID, n.NetworkID, n.Name, n.Description, n.IPVersion, n.CIDR, n.GatewayIP, pools, n.EnableDHCP, dns, routes, n.IPv6RAMode, n.IPv6AddressMode, micro(n.CreatedAt), micro(n.UpdatedAt), n.RevisionNumber, nullable(n.SubnetPoolID))
	if err != nil {
		return fmt.Errorf("insert subnet %s: %w", n.ID, err)
	}
	return t.insertTags(ctx, "subnet", n.ID, n.Tags)
}

// UpdateSubnet writes a subnet's mutable columns (compare-and-set on the
// revision, ErrRetry when it moved).
func (t *Tx) UpdateSubnet(ctx context.Context, n *neutron.Subnet, prevRev int64) error {
	pools, dns, routes := subnetJSON(n)
	res, err := t.exec(ctx, "UPDATE subnets SET name = ?, description = ?, gateway_ip = ?, allocation_pools = ?, enable_dhcp = ?, dns_nameservers = ?, host_routes = ?, updated_at = ?, revision_number = ? WHERE id = ? AND revision_number = ?",
		n.Name, n.Description, n.GatewayIP, pools, n.EnableDHCP, dns, routes, micro(n.UpdatedAt), n.RevisionNumber, n.ID, prevRev)
	if err != nil {
		return fmt.Errorf("update subnet %s: %w", n.ID, err)
	}
	return casResult(res)
}

// DeleteSubnet deletes a subnet row and its tags (allocations must be
// gone: the foreign key refuses otherwise).
func (t *Tx) DeleteSubnet(ctx context.Context, id string) error {
	if err := t.deleteTags(ctx, "subnet", id); err != nil {
		return err
	}
	return t.deleteRow(ctx, "subnet", "Subnet", id)
}

// SubnetAllocations returns the allocated addresses of a subnet and the
// ports holding them.
func (t *Tx) SubnetAllocations(ctx context.Context, subnetID string) (map[string]string, error) {
	rows, err := t.query(ctx, "SELECT ip_address, port_id FROM ipallocations WHERE subnet_id = ?", subnetID)
	if err != nil {
		return nil, fmt.Errorf("read allocations of subnet %s: %w", subnetID, err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var ip, port string
		if err := rows.Scan(&ip, &port); err != nil {
			return nil, err
		}
		out[ip] = port
	}
	return out, rows.Err()
}

// IPAllocated returns the port holding ip on a network ("" if free).
func (t *Tx) IPAllocated(ctx context.Context, networkID, ip string) (string, error) {
	var port string
	err := t.queryRow(ctx, "SELECT port_id FROM ipallocations WHERE network_id = ? AND ip_address = ?", networkID, ip).Scan(&port)
	if isNoRows(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read allocation %s: %w", ip, err)
	}
	return port, nil
}

// MACInUse reports whether a MAC is taken on a network.
func (t *Tx) MACInUse(ctx context.Context, networkID, mac string) (bool, error) {
	var id string
	err := t.queryRow(ctx, "SELECT id FROM ports WHERE network_id = ? AND mac_address = ?", networkID, mac).Scan(&id)
	if isNoRows(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read mac %s: %w", mac, err)
	}
	return true, nil
}

// AllocatedAmong returns which of ips are allocated on a network.
func (t *Tx) AllocatedAmong(ctx context.Context, networkID string, ips []string) (map[string]bool, error) {
	out := map[string]bool{}
	if len(ips) == 0 {
		return out, nil
	}
	if v, err, ok := t.preloaded(memoAllocated, networkID); ok {
		// The preload's answer serves only a question it covers.
		p, _ := v.(probed)
		covered := err == nil
		for _, ip := range ips {
			covered = covered && p.asked[ip]
			if p.taken[ip] {
				out[ip] = true
			}
		}
		if covered {
			return out, nil
		}
		clear(out)
	}
	q, args := allocatedAmong(networkID, ips)
	rows, err := t.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("check addresses: %w", err)
	}
	defer rows.Close()
	return scanStrings(rows)
}

// allocatedAmong renders the probe "which of ips are allocated on the
// network" as one primary-key lookup per address (UNION ALL), not as
// "network_id = ? AND ip_address IN (...)". PostgreSQL planned the IN form
// from the table's statistics, and while ipallocations had none yet (not
// analysed since it filled) it estimated a handful of rows for the
// network and took "network_id = ?" from the primary key, filtering the
// addresses: every create read all allocations of the network (3,100 rows
// and 31 ms at 3,000 ports in bench/api), with generic and custom plans
// alike. An equality on the whole primary key is one row whatever the
// statistics say, so each branch is an index lookup in every plan, and the
// statement can use the generic plan pgx's prepared statement gets.
func allocatedAmong(networkID string, ips []string) (string, []any) {
	args := make([]any, 0, 2*len(ips))
	nid := any(networkID) // boxed once
	for _, ip := range ips {
		args = append(args, nid, ip)
	}
	return strings.Repeat(allocatedOneQuery+" UNION ALL ", len(ips)-1) + allocatedOneQuery, args
}

const allocatedOneQuery = "SELECT ip_address FROM ipallocations WHERE network_id = ? AND ip_address = ?"

// scanStrings reads a one-column result as a set.
func scanStrings(rows rowScanner) (map[string]bool, error) {
	out := map[string]bool{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out[s] = true
	}
	return out, rows.Err()
}

// AllocationCounts counts the allocated addresses of each subnet that has
// any (network-ip-availability's used_ips).
func (r reads) AllocationCounts(ctx context.Context) (map[string]int64, error) {
	rows, err := r.q.QueryContext(ctx, "SELECT subnet_id, COUNT(*) FROM ipallocations GROUP BY subnet_id")
	if err != nil {
		return nil, fmt.Errorf("count allocations: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var id string
		var n int64
		if err := rows.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("count allocations: %w", err)
		}
		out[id] = n
	}
	return out, rows.Err()
}
