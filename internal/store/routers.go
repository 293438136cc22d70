package store

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"

	"neutrino/internal/neutron"
)

// Tag kinds of the L3 resources (the tags table's kind).
const (
	TagKindRouter     = "router"
	TagKindFloatingIP = "floatingip"
)

var routerRes = &resource{
	kind: TagKindRouter, noun: "Router", table: "routers", tagged: true,
	cols: namedColumns(map[string]column{
		"admin_state_up": {"admin_state_up", colBool},
		"status":         {"status", colString},
		"distributed":    {"distributed", colBool},
	}),
	visible: func(p string) (string, []any) { return "routers.project_id = ?", []any{p} },
}

var floatingIPRes = &resource{
	kind: TagKindFloatingIP, noun: "FloatingIP", table: "floatingips", tagged: true,
	cols: standardColumns(map[string]column{
		"floating_ip_address": {"floating_ip_address", colString},
		"floating_network_id": {"floating_network_id", colString},
		"router_id":           {"router_id", colString},
		"port_id":             {"fixed_port_id", colString},
		"fixed_ip_address":    {"fixed_ip_address", colString},
		"status":              {"status", colString},
	}),
	visible: func(p string) (string, []any) { return "floatingips.project_id = ?", []any{p} },
}

const routerCols = "routers.id, routers.project_id, routers.name, routers.description, routers.admin_state_up, routers.status, routers.gw_port_id, routers.enable_snat, routers.distributed, routers.created_at, routers.updated_at, routers.revision_number"

func (s *Store) loadRouters(ctx context.Context, db querier, tail string, args []any) ([]neutron.Router, error) {
	rows, err := db.QueryContext(ctx, s.rebind("SELECT "+routerCols+" FROM routers"+tail), args...)
	if err != nil {
		return nil, fmt.Errorf("list routers: %w", err)
	}
	var out []neutron.Router
	var snat []bool
	for rows.Next() {
		var r neutron.Router
		var gw sql.NullString
		var c, u int64
		var en bool
		if err := rows.Scan(&r.ID, &r.ProjectID, &r.Name, &r.Description, &r.AdminStateUp, &r.Status, &gw, &en, &r.Distributed, &c, &u, &r.RevisionNumber); err != nil {
			rows.Close()
			return nil, err
		}
		r.CreatedAt, r.UpdatedAt = fromMicro(c), fromMicro(u)
		r.GatewayPortID = gw.String
		r.Tags, r.Routes = []string{}, []neutron.HostRoute{}
		out = append(out, r)
		snat = append(snat, en)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(out) == 0 {
		return out, err
	}
	idx := make(map[string]int, len(out))
	ids := make([]string, len(out))
	gwIdx := map[string]int{}
	var gws []string
	for i := range out {
		idx[out[i].ID], ids[i] = i, out[i].ID
		if out[i].GatewayPortID != "" {
			gwIdx[out[i].GatewayPortID] = i
			gws = append(gws, out[i].GatewayPortID)
		}
	}
	scope := childScope{ids: ids}
	err = scope.each("router_id", func(cond string, cargs []any) error {
		rrows, err := db.QueryContext(ctx, s.rebind("SELECT router_id, destination, nexthop FROM routerroutes WHERE "+cond), cargs...)
		if err != nil {
			return fmt.Errorf("load router routes: %w", err)
		}
		defer rrows.Close()
		for rrows.Next() {
			var id string
			var h neutron.HostRoute
			if err := rrows.Scan(&id, &h.Destination, &h.NextHop); err != nil {
				return err
			}
			if i, ok := idx[id]; ok {
				out[i].Routes = append(out[i].Routes, h)
			}
		}
		return rrows.Err()
	})
	if err != nil {
		return nil, err
	}
	// external_gateway_info: the gateway port's network and addresses.
	err = childScope{ids: gws}.each("ports.id", func(cond string, cargs []any) error {
		prows, err := db.QueryContext(ctx, s.rebind("SELECT ports.id, ports.network_id, ipallocations.subnet_id, ipallocations.ip_address FROM ports LEFT JOIN ipallocations ON ipallocations.port_id = ports.id WHERE "+cond), cargs...)
		if err != nil {
			return fmt.Errorf("load router gateways: %w", err)
		}
		defer prows.Close()
		for prows.Next() {
			var pid, netID string
			var sub, ip sql.NullString
			if err := prows.Scan(&pid, &netID, &sub, &ip); err != nil {
				return err
			}
			i, ok := gwIdx[pid]
			if !ok {
				continue
			}
			g := out[i].GatewayInfo
			if g == nil {
				g = &neutron.GatewayInfo{NetworkID: netID, EnableSNAT: snat[i], ExternalFixedIPs: []neutron.FixedIP{}}
				out[i].GatewayInfo = g
			}
			if sub.Valid {
				g.ExternalFixedIPs = append(g.ExternalFixedIPs, neutron.FixedIP{SubnetID: sub.String, IPAddress: ip.String})
			}
		}
		return prows.Err()
	})
	if err != nil {
		return nil, err
	}
	for i := range out {
		SortRoutes(out[i].Routes)
		if g := out[i].GatewayInfo; g != nil {
			neutron.SortFixedIPs(g.ExternalFixedIPs)
		}
	}
	if err := s.attachTags(ctx, db, TagKindRouter, scope, idx, func(i int, ts []string) { out[i].Tags = ts }); err != nil {
		return nil, err
	}
	return out, nil
}

// SortRoutes orders routes by destination, then next hop (byte order,
// whatever the database collation).
func SortRoutes(rs []neutron.HostRoute) {
	sort.Slice(rs, func(i, j int) bool {
		if rs[i].Destination != rs[j].Destination {
			return rs[i].Destination < rs[j].Destination
		}
		return rs[i].NextHop < rs[j].NextHop
	})
}

// ListRouters lists routers.
func (r reads) ListRouters(ctx context.Context, q neutron.ListQuery) ([]neutron.Router, error) {
	return listPage(ctx, r.q, r.rs, routerRes, q, func(tail string, args []any) ([]neutron.Router, error) {
		return r.rs.loadRouters(ctx, r.q, tail, args)
	})
}

// GetRouter reads one router (404 RouterNotFound).
func (r reads) GetRouter(ctx context.Context, id string) (*neutron.Router, error) {
	out, err := r.rs.loadRouters(ctx, r.q, " WHERE routers.id = ?", []any{id})
	if err == nil && len(out) == 0 {
		return nil, neutron.NotFound("Router", id)
	}
	return firstOr404(out, err, "Router", id)
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func routerSNAT(r *neutron.Router) bool {
	return r.GatewayInfo == nil || r.GatewayInfo.EnableSNAT
}

// InsertRouter inserts a router, its routes and tags. A gateway port, if
// any, must be inserted first.
func (t *Tx) InsertRouter(ctx context.Context, r *neutron.Router) error {
	if _, err := t.exec(ctx, "INSERT INTO routers (id, project_id, name, description, admin_state_up, status, gw_port_id, enable_snat, distributed, created_at, updated_at, revision_number) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		r.ID, r.ProjectID, r.Name, r.Description, r.AdminStateUp, r.Status, nullable(r.GatewayPortID), routerSNAT(r), r.Distributed,
		micro(r.CreatedAt), micro(r.UpdatedAt), r.RevisionNumber); err != nil {
		return fmt.Errorf("insert router %s: %w", r.ID, err)
	}
	if err := t.SetRouterRoutes(ctx, r.ID, nil, r.Routes); err != nil {
		return err
	}
	return t.insertTags(ctx, TagKindRouter, r.ID, r.Tags)
}

// UpdateRouter writes a router's own columns (compare-and-set on the
// revision; ErrRetry when it moved). Routes are SetRouterRoutes'.
func (t *Tx) UpdateRouter(ctx context.Context, r *neutron.Router, prevRev int64) error {
	res, err := t.exec(ctx, "UPDATE routers SET name = ?, description = ?, admin_state_up = ?, status = ?, gw_port_id = ?, enable_snat = ?, distributed = ?, updated_at = ?, revision_number = ? WHERE id = ? AND revision_number = ?",
		r.Name, r.Description, r.AdminStateUp, r.Status, nullable(r.GatewayPortID), routerSNAT(r), r.Distributed, micro(r.UpdatedAt), r.RevisionNumber, r.ID, prevRev)
	if err != nil {
		return fmt.Errorf("update router %s: %w", r.ID, err)
	}
	return casResult(res)
}

// SetRouterRoutes replaces a router's extra routes (old -> new).
func (t *Tx) SetRouterRoutes(ctx context.Context, routerID string, old, new []neutron.HostRoute) error {
	keep := map[neutron.HostRoute]bool{}
	for _, h := range new {
		keep[h] = true
	}
	have := map[neutron.HostRoute]bool{}
	for _, h := range old {
		have[h] = true
		if !keep[h] {
			if _, err := t.exec(ctx, "DELETE FROM routerroutes WHERE router_id = ? AND destination = ? AND nexthop = ?", routerID, h.Destination, h.NextHop); err != nil {
				return fmt.Errorf("delete route of router %s: %w", routerID, err)
			}
		}
	}
	var vals []string
	var args []any
	for _, h := range new {
		if !have[h] {
			have[h] = true
			vals = append(vals, "(?, ?, ?)")
			args = append(args, routerID, h.Destination, h.NextHop)
		}
	}
	if len(vals) == 0 {
		return nil
	}
	return t.execBlind(ctx, "add routes of router "+routerID, "INSERT INTO routerroutes (router_id, destination, nexthop) VALUES "+strings.Join(vals, ", "), args...)
}

// DeleteRouter deletes a router row, its routes and tags (404 when
// absent). Its ports must be gone (routerports' foreign key; a racing
// interface add makes the transaction retry).
func (t *Tx) DeleteRouter(ctx context.Context, id string) error {
	if err := t.deleteTags(ctx, TagKindRouter, id); err != nil {
		return err
	}
	if _, err := t.exec(ctx, "DELETE FROM routerroutes WHERE router_id = ?", id); err != nil {
		return fmt.Errorf("delete routes of router %s: %w", id, err)
	}
	res, err := t.exec(ctx, "DELETE FROM routers WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("delete router %s: %w", id, err)
	}
	if k, _ := res.RowsAffected(); k == 0 {
		return neutron.NotFound("Router", id)
	}
	return nil
}

// RouterPort is a row of routerports: port PortID belongs to RouterID as
// an interface or its gateway (Type is the port's device_owner).
type RouterPort struct {
	RouterID, PortID, Type string
}

// AddRouterPort records that a port belongs to a router. A port already
// on a router fails the primary key (the caller checks first; a racing
// add makes the transaction retry and the check then answers).
func (t *Tx) AddRouterPort(ctx context.Context, rp RouterPort) error {
	if _, err := t.exec(ctx, "INSERT INTO routerports (port_id, router_id, port_type) VALUES (?, ?, ?)", rp.PortID, rp.RouterID, rp.Type); err != nil {
		return fmt.Errorf("add port %s to router %s: %w", rp.PortID, rp.RouterID, err)
	}
	return nil
}

// RemoveRouterPort forgets a port's router (the port itself stays).
func (t *Tx) RemoveRouterPort(ctx context.Context, portID string) error {
	if _, err := t.exec(ctx, "DELETE FROM routerports WHERE port_id = ?", portID); err != nil {
		return fmt.Errorf("remove port %s from its router: %w", portID, err)
	}
	return nil
}

// RouterPorts lists the ports of the routers among ids (all routers when
// ids is nil), ordered by router and port.
func (t *Tx) RouterPorts(ctx context.Context, ids []string) ([]RouterPort, error) {
	q := "SELECT router_id, port_id, port_type FROM routerports"
	var args []any
	if ids != nil {
		if len(ids) == 0 {
			return nil, nil
		}
		var cond string
		cond, args = idsIn("router_id", ids)
		q += " WHERE " + cond
	}
	rows, err := t.query(ctx, q+" ORDER BY router_id, port_id", args...)
	if err != nil {
		return nil, fmt.Errorf("read router ports: %w", err)
	}
	defer rows.Close()
	var out []RouterPort
	for rows.Next() {
		var rp RouterPort
		if err := rows.Scan(&rp.RouterID, &rp.PortID, &rp.Type); err != nil {
			return nil, err
		}
		out = append(out, rp)
	}
	return out, rows.Err()
}

// RouterOfPort returns the router a port belongs to ("" if none).
func (t *Tx) RouterOfPort(ctx context.Context, portID string) (RouterPort, error) {
	rp := RouterPort{PortID: portID}
	err := t.queryRow(ctx, "SELECT router_id, port_type FROM routerports WHERE port_id = ?", portID).Scan(&rp.RouterID, &rp.Type)
	if isNoRows(err) {
		return RouterPort{}, nil
	}
	if err != nil {
		return RouterPort{}, fmt.Errorf("read router of port %s: %w", portID, err)
	}
	return rp, nil
}

// LockRouter reads a router's project and, on PostgreSQL and MariaDB,
// holds its row until commit, so that changes to one router's interfaces
// and gateway are checked (overlaps, duplicates) one transaction at a
// time (SQLite has one writer anyway). 404 RouterNotFound when absent.
func (t *Tx) LockRouter(ctx context.Context, id string) error {
	q := "SELECT project_id FROM routers WHERE id = ?"
	if t.s.dialect != SQLite {
		q += " FOR UPDATE"
	}
	var project string
	err := t.queryRow(ctx, q, id).Scan(&project)
	if isNoRows(err) {
		return neutron.NotFound("Router", id)
	}
	if err != nil {
		return fmt.Errorf("lock router %s: %w", id, err)
	}
	return nil
}

const floatingIPCols = "floatingips.id, floatingips.project_id, floatingips.description, floatingips.floating_ip_address, floatingips.floating_network_id, floatingips.floating_port_id, floatingips.fixed_port_id, floatingips.fixed_ip_address, floatingips.router_id, floatingips.status, floatingips.created_at, floatingips.updated_at, floatingips.revision_number"

func (s *Store) loadFloatingIPs(ctx context.Context, db querier, tail string, args []any) ([]neutron.FloatingIP, error) {
	rows, err := db.QueryContext(ctx, s.rebind("SELECT "+floatingIPCols+" FROM floatingips"+tail), args...)
	if err != nil {
		return nil, fmt.Errorf("list floating ips: %w", err)
	}
	var out []neutron.FloatingIP
	for rows.Next() {
		var f neutron.FloatingIP
		var port, fixed, router sql.NullString
		var c, u int64
		if err := rows.Scan(&f.ID, &f.ProjectID, &f.Description, &f.FloatingIPAddress, &f.FloatingNetworkID, &f.FloatingPortID,
			&port, &fixed, &router, &f.Status, &c, &u, &f.RevisionNumber); err != nil {
			rows.Close()
			return nil, err
		}
		f.PortID, f.FixedIPAddress, f.RouterID = port.String, fixed.String, router.String
		f.CreatedAt, f.UpdatedAt = fromMicro(c), fromMicro(u)
		f.Tags = []string{}
		out = append(out, f)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(out) == 0 {
		return out, err
	}
	idx := make(map[string]int, len(out))
	ids := make([]string, len(out))
	byPort := map[string][]int{}
	var ports []string
	for i := range out {
		idx[out[i].ID], ids[i] = i, out[i].ID
		if p := out[i].PortID; p != "" {
			if byPort[p] == nil {
				ports = append(ports, p)
			}
			byPort[p] = append(byPort[p], i)
		}
	}
	err = childScope{ids: ports}.each("id", func(cond string, cargs []any) error {
		prows, err := db.QueryContext(ctx, s.rebind("SELECT id, name, network_id, mac_address, admin_state_up, status, device_id, device_owner FROM ports WHERE "+cond), cargs...)
		if err != nil {
			return fmt.Errorf("load port details of floating ips: %w", err)
		}
		defer prows.Close()
		for prows.Next() {
			var id string
			var d neutron.FloatingIPPortDetails
			if err := prows.Scan(&id, &d.Name, &d.NetworkID, &d.MACAddress, &d.AdminStateUp, &d.Status, &d.DeviceID, &d.DeviceOwner); err != nil {
				return err
			}
			for _, i := range byPort[id] {
				dd := d
				out[i].PortDetails = &dd
			}
		}
		return prows.Err()
	})
	if err != nil {
		return nil, err
	}
	if err := s.attachTags(ctx, db, TagKindFloatingIP, childScope{ids: ids}, idx, func(i int, ts []string) { out[i].Tags = ts }); err != nil {
		return nil, err
	}
	return out, nil
}

// ListFloatingIPs lists floating IPs.
func (r reads) ListFloatingIPs(ctx context.Context, q neutron.ListQuery) ([]neutron.FloatingIP, error) {
	return listPage(ctx, r.q, r.rs, floatingIPRes, q, func(tail string, args []any) ([]neutron.FloatingIP, error) {
		return r.rs.loadFloatingIPs(ctx, r.q, tail, args)
	})
}

// GetFloatingIP reads one floating IP (404 FloatingIPNotFound).
func (r reads) GetFloatingIP(ctx context.Context, id string) (*neutron.FloatingIP, error) {
	out, err := r.rs.loadFloatingIPs(ctx, r.q, " WHERE floatingips.id = ?", []any{id})
	if err == nil && len(out) == 0 {
		return nil, neutron.NotFound("FloatingIP", id)
	}
	return firstOr404(out, err, "FloatingIP", id)
}

// FloatingIPsWhere lists the floating IPs whose column col (one of
// fixed_port_id, router_id, floating_network_id) is val.
func (t *Tx) FloatingIPsWhere(ctx context.Context, col, val string) ([]neutron.FloatingIP, error) {
	switch col {
	case "fixed_port_id", "router_id", "floating_network_id":
	default:
		return nil, fmt.Errorf("floating ips by %q: not a lookup column", col)
	}
	return t.rs.loadFloatingIPs(ctx, t.q, " WHERE floatingips."+col+" = ? ORDER BY floatingips.id", []any{val})
}

// InsertFloatingIP inserts a floating IP and its tags; its port must be
// inserted first. A second floating IP for the same fixed IP on the same
// external network (or the same address twice) fails a unique index: the
// caller checks first, a racing association retries into that check.
func (t *Tx) InsertFloatingIP(ctx context.Context, f *neutron.FloatingIP) error {
	if _, err := t.exec(ctx, "INSERT INTO floatingips (id, project_id, description, floating_ip_address, floating_network_id, floating_port_id, fixed_port_id, fixed_ip_address, router_id, status, created_at, updated_at, revision_number) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		f.ID, f.ProjectID, f.Description, f.FloatingIPAddress, f.FloatingNetworkID, f.FloatingPortID,
		nullable(f.PortID), nullable(f.FixedIPAddress), nullable(f.RouterID), f.Status,
		micro(f.CreatedAt), micro(f.UpdatedAt), f.RevisionNumber); err != nil {
		return fmt.Errorf("insert floating ip %s: %w", f.ID, err)
	}
	return t.insertTags(ctx, TagKindFloatingIP, f.ID, f.Tags)
}

// UpdateFloatingIP writes a floating IP's mutable columns (compare-and-set
// on the revision; ErrRetry when it moved).
func (t *Tx) UpdateFloatingIP(ctx context.Context, f *neutron.FloatingIP, prevRev int64) error {
	res, err := t.exec(ctx, "UPDATE floatingips SET description = ?, fixed_port_id = ?, fixed_ip_address = ?, router_id = ?, status = ?, updated_at = ?, revision_number = ? WHERE id = ? AND revision_number = ?",
		f.Description, nullable(f.PortID), nullable(f.FixedIPAddress), nullable(f.RouterID), f.Status,
		micro(f.UpdatedAt), f.RevisionNumber, f.ID, prevRev)
	if err != nil {
		return fmt.Errorf("update floating ip %s: %w", f.ID, err)
	}
	return casResult(res)
}

// DeleteFloatingIP deletes a floating IP row and its tags (404 when
// absent); the caller deletes its port after it.
func (t *Tx) DeleteFloatingIP(ctx context.Context, id string) error {
	if err := t.deleteTags(ctx, TagKindFloatingIP, id); err != nil {
		return err
	}
	res, err := t.exec(ctx, "DELETE FROM floatingips WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("delete floating ip %s: %w", id, err)
	}
	if k, _ := res.RowsAffected(); k == 0 {
		return neutron.NotFound("FloatingIP", id)
	}
	return nil
}
