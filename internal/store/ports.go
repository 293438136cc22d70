package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"neutrino/internal/neutron"
)

var portRes = &resource{
	kind: "port", noun: "Port", table: "ports", tagged: true,
	cols: namedColumns(map[string]column{
		"network_id":            {"network_id", colString},
		"mac_address":           {"mac_address", colString},
		"device_id":             {"device_id", colString},
		"device_owner":          {"device_owner", colString},
		"status":                {"status", colString},
		"admin_state_up":        {"admin_state_up", colBool},
		"port_security_enabled": {"port_security_enabled", colBool},
		"binding:host_id":       {"host_id", colString},
		"binding:vnic_type":     {"vnic_type", colString},
		"binding:vif_type":      {"vif_type", colString},
	}),
	special: func(attr string, vals []string) (string, []any, bool, error) {
		switch attr {
		case "fixed_ips":
			// fixed_ips=ip_address=X / subnet_id=Y / ip_address_substr=Z:
			// values of one key are ORed, different keys ANDed on the same
			// allocation (as Neutron's filter).
			byKey := map[string][]string{}
			for _, v := range vals {
				k, val, ok := strings.Cut(v, "=")
				if !ok {
					return "", nil, false, neutron.InvalidInput("Invalid fixed_ips filter %q: want ip_address=... or subnet_id=...", v)
				}
				switch k {
				case "ip_address", "subnet_id", "ip_address_substr":
					byKey[k] = append(byKey[k], val)
				default:
					return "", nil, false, neutron.InvalidInput("Invalid fixed_ips filter key %q.", k)
				}
			}
			var ands []string
			var args []any
			for _, k := range []string{"ip_address", "subnet_id"} {
				if vs := byKey[k]; len(vs) > 0 {
					c, a := idsIn(k, vs)
					ands = append(ands, c)
					args = append(args, a...)
				}
			}
			if vs := byKey["ip_address_substr"]; len(vs) > 0 {
				var ors []string
				for _, v := range vs {
					ors = append(ors, "ip_address LIKE ?")
					args = append(args, "%"+v+"%")
				}
				ands = append(ands, "("+strings.Join(ors, " OR ")+")")
			}
			return "ports.id IN (SELECT port_id FROM ipallocations WHERE " + strings.Join(ands, " AND ") + ")", args, true, nil
		case "security_groups":
			c, a := idsIn("security_group_id", vals)
			return "ports.id IN (SELECT port_id FROM securitygroupportbindings WHERE " + c + ")", a, true, nil
		}
		return "", nil, false, nil
	},
	visible: func(p string) (string, []any) { return "ports.project_id = ?", []any{p} },
}

const portCols = "ports.id, ports.project_id, ports.network_id, ports.name, ports.description, ports.mac_address, ports.device_id, ports.device_owner, ports.status, ports.admin_state_up, ports.port_security_enabled, ports.allowed_address_pairs, ports.host_id, ports.vnic_type, ports.profile, ports.vif_type, ports.vif_details, ports.extra_dhcp_opts, ports.created_at, ports.updated_at, ports.revision_number"

func (s *Store) loadPorts(ctx context.Context, db querier, tail string, args []any, scope *childScope) ([]neutron.Port, error) {
	rows, err := db.QueryContext(ctx, s.rebind("SELECT "+portCols+" FROM ports"+tail), args...)
	if err != nil {
		return nil, fmt.Errorf("list ports: %w", err)
	}
	var out []neutron.Port
	for rows.Next() {
		var n neutron.Port
		var c, u int64
		var pairs, profile, details string
		var dhcpOpts sql.NullString // NULL (rows from before the column): none
		if err := rows.Scan(&n.ID, &n.ProjectID, &n.NetworkID, &n.Name, &n.Description, &n.MACAddress, &n.DeviceID, &n.DeviceOwner,
			&n.Status, &n.AdminStateUp, &n.PortSecurityEnabled, &pairs, &n.HostID, &n.VNICType, &profile, &n.VIFType, &details,
			&dhcpOpts, &c, &u, &n.RevisionNumber); err != nil {
			rows.Close()
			return nil, err
		}
		n.CreatedAt, n.UpdatedAt = fromMicro(c), fromMicro(u)
		n.Tags, n.FixedIPs = []string{}, []neutron.FixedIP{}
		n.AllowedAddressPairs, n.SecurityGroups, n.ExtraDHCPOpts = []neutron.AddressPair{}, []string{}, []neutron.ExtraDHCPOpt{}
		if err := unmarshalAll(pairs, &n.AllowedAddressPairs, dhcpOpts.String, &n.ExtraDHCPOpts); err != nil {
			rows.Close()
			return nil, fmt.Errorf("port %s: %w", n.ID, err)
		}
		n.Profile = json.RawMessage(orEmptyObject(profile))
		n.VIFDetails = json.RawMessage(orEmptyObject(details))
		out = append(out, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return out, nil
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
	err = scope.each("port_id", func(cond string, cargs []any) error {
		irows, err := db.QueryContext(ctx, s.rebind("SELECT port_id, subnet_id, ip_address FROM ipallocations WHERE "+cond+" ORDER BY port_id, ip_address"), cargs...)
		if err != nil {
			return fmt.Errorf("load fixed ips: %w", err)
		}
		defer irows.Close()
		for irows.Next() {
			var pid string
			var f neutron.FixedIP
			if err := irows.Scan(&pid, &f.SubnetID, &f.IPAddress); err != nil {
				return err
			}
			if i, ok := idx[pid]; ok {
				out[i].FixedIPs = append(out[i].FixedIPs, f)
			}
		}
		return irows.Err()
	})
	if err != nil {
		return nil, err
	}
	err = scope.each("port_id", func(cond string, cargs []any) error {
		brows, err := db.QueryContext(ctx, s.rebind("SELECT port_id, security_group_id FROM securitygroupportbindings WHERE "+cond+" ORDER BY port_id, security_group_id"), cargs...)
		if err != nil {
			return fmt.Errorf("load security groups of ports: %w", err)
		}
		defer brows.Close()
		for brows.Next() {
			var pid, g string
			if err := brows.Scan(&pid, &g); err != nil {
				return err
			}
			if i, ok := idx[pid]; ok {
				out[i].SecurityGroups = append(out[i].SecurityGroups, g)
			}
		}
		return brows.Err()
	})
	if err != nil {
		return nil, err
	}
	for i := range out {
		neutron.SortFixedIPs(out[i].FixedIPs)
		// Byte order whatever the collation (see loadTags).
		sort.Strings(out[i].SecurityGroups)
	}
	if err := s.attachTags(ctx, db, "port", *scope, idx, func(i int, ts []string) { out[i].Tags = ts }); err != nil {
		return nil, err
	}
	return out, nil
}

func orEmptyObject(s string) string {
	if s == "" || s == "null" {
		return "{}"
	}
	return s
}

func portJSON(n *neutron.Port) (pairs, dhcpOpts, profile, details string) {
	pairs = string(mustMarshal(nonNil(n.AllowedAddressPairs)))
	dhcpOpts = string(mustMarshal(nonNil(n.ExtraDHCPOpts)))
	profile = orEmptyObject(string(n.Profile))
	details = orEmptyObject(string(n.VIFDetails))
	return
}

// InsertPort inserts a port row, its fixed IPs and tags. A duplicate MAC or
// IP (a lost race) fails a unique index and the transaction is retried.
func (t *Tx) InsertPort(ctx context.Context, n *neutron.Port) error {
	pairs, dhcpOpts, profile, details := portJSON(n)
	err := t.execBlind(ctx, "insert port "+n.ID, "INSERT INTO ports (id, project_id, network_id, name, description, mac_address, device_id, device_owner, status, admin_state_up, port_security_enabled, allowed_address_pairs, host_id, vnic_type, profile, vif_type, vif_details, extra_dhcp_opts, created_at, updated_at, revision_number) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		n.ID, n.ProjectID, n.NetworkID, n.Name, n.Description, n.MACAddress, n.DeviceID, n.DeviceOwner, n.Status, n.AdminStateUp, n.PortSecurityEnabled,
		pairs, n.HostID, n.VNICType, profile, n.VIFType, details, dhcpOpts, micro(n.CreatedAt), micro(n.UpdatedAt), n.RevisionNumber)
	if err != nil {
		return err
	}
	if err := t.setPortGroups(ctx, n.ID, nil, n.SecurityGroups); err != nil {
		return err
	}
	if err := t.insertIPs(ctx, n.NetworkID, n.ID, n.FixedIPs); err != nil {
		return err
	}
	return t.insertTags(ctx, "port", n.ID, n.Tags)
}

func (t *Tx) insertIPs(ctx context.Context, networkID, portID string, ips []neutron.FixedIP) error {
	if len(ips) == 0 {
		return nil
	}
	var vals []string
	var args []any
	for _, f := range ips {
		vals = append(vals, "(?, ?, ?, ?)")
		args = append(args, networkID, f.IPAddress, f.SubnetID, portID)
	}
	return t.execBlind(ctx, "allocate ips of port "+portID, "INSERT INTO ipallocations (network_id, ip_address, subnet_id, port_id) VALUES "+strings.Join(vals, ", "), args...)
}

// SetPortIPs replaces a port's fixed IPs: removed ones are released,
// added ones inserted.
func (t *Tx) SetPortIPs(ctx context.Context, networkID, portID string, old, new []neutron.FixedIP) error {
	keep := map[string]bool{}
	for _, f := range new {
		keep[f.IPAddress] = true
	}
	have := map[string]bool{}
	for _, f := range old {
		have[f.IPAddress] = true
		if !keep[f.IPAddress] {
			if _, err := t.exec(ctx, "DELETE FROM ipallocations WHERE network_id = ? AND ip_address = ? AND port_id = ?", networkID, f.IPAddress, portID); err != nil {
				return fmt.Errorf("release %s of port %s: %w", f.IPAddress, portID, err)
			}
		}
	}
	var add []neutron.FixedIP
	for _, f := range new {
		if !have[f.IPAddress] {
			add = append(add, f)
		}
	}
	return t.insertIPs(ctx, networkID, portID, add)
}

// UpdatePort writes a port's mutable columns (compare-and-set on the
// revision; ErrRetry when it moved).
func (t *Tx) UpdatePort(ctx context.Context, n *neutron.Port, prevRev int64) error {
	pairs, dhcpOpts, profile, details := portJSON(n)
	res, err := t.exec(ctx, "UPDATE ports SET name = ?, description = ?, mac_address = ?, device_id = ?, device_owner = ?, status = ?, admin_state_up = ?, port_security_enabled = ?, allowed_address_pairs = ?, host_id = ?, vnic_type = ?, profile = ?, vif_type = ?, vif_details = ?, extra_dhcp_opts = ?, updated_at = ?, revision_number = ? WHERE id = ? AND revision_number = ?",
		n.Name, n.Description, n.MACAddress, n.DeviceID, n.DeviceOwner, n.Status, n.AdminStateUp, n.PortSecurityEnabled, pairs,
		n.HostID, n.VNICType, profile, n.VIFType, details, dhcpOpts, micro(n.UpdatedAt), n.RevisionNumber, n.ID, prevRev)
	if err != nil {
		return fmt.Errorf("update port %s: %w", n.ID, err)
	}
	return casResult(res)
}

// SetPortSecurityGroups changes the groups of a port from old to new
// (UpdatePort writes the port's own row).
func (t *Tx) SetPortSecurityGroups(ctx context.Context, portID string, old, new []string) error {
	return t.setPortGroups(ctx, portID, old, new)
}

// DeletePort deletes a port (its fixed IPs cascade) and its tags.
func (t *Tx) DeletePort(ctx context.Context, id string) error {
	if err := t.deleteTags(ctx, "port", id); err != nil {
		return err
	}
	// Explicit: SQLite enforces ON DELETE CASCADE only with foreign_keys on.
	if _, err := t.exec(ctx, "DELETE FROM ipallocations WHERE port_id = ?", id); err != nil {
		return fmt.Errorf("release ips of port %s: %w", id, err)
	}
	if _, err := t.exec(ctx, "DELETE FROM securitygroupportbindings WHERE port_id = ?", id); err != nil {
		return fmt.Errorf("remove port %s from its security groups: %w", id, err)
	}
	return t.deleteRow(ctx, "port", "Port", id)
}
