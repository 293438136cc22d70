package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"neutrino/internal/neutron"
)

func micro(t time.Time) int64 { return t.UnixMicro() }
func fromMicro(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}

var networkRes = &resource{
	kind: "network", noun: "Network", table: "networks", tagged: true,
	cols: namedColumns(map[string]column{
		"admin_state_up":        {"admin_state_up", colBool},
		"shared":                {"shared", colBool},
		"router:external":       {"router_external", colBool},
		"status":                {"status", colString},
		"mtu":                   {"mtu", colInt},
		"port_security_enabled": {"port_security_enabled", colBool},
	}),
	special: func(attr string, vals []string) (string, []any, bool, error) {
		var col string
		kind := colString
		switch attr {
		case "provider:network_type":
			col = "network_type"
		case "provider:physical_network":
			col = "physical_network"
		case "provider:segmentation_id":
			col, kind = "segmentation_id", colInt
		case "subnets":
			c, a := idsIn("id", vals)
			return "networks.id IN (SELECT network_id FROM subnets WHERE " + c + ")", a, true, nil
		default:
			return "", nil, false, nil
		}
		var args []any
		for _, v := range vals {
			if kind == colInt {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return "", nil, false, neutron.InvalidInput("'%s' is not an integer.", v)
				}
				args = append(args, n)
			} else {
				args = append(args, v)
			}
		}
		ph := strings.TrimSuffix(strings.Repeat("?, ", len(vals)), ", ")
		return "networks.id IN (SELECT network_id FROM network_segments WHERE " + col + " IN (" + ph + "))", args, true, nil
	},
	visible: func(p string) (string, []any) {
		// Neutron's get_network rule: owner, shared or external.
		return "(networks.project_id = ? OR networks.shared = ? OR networks.router_external = ?)", []any{p, true, true}
	},
}

const networkCols = "networks.id, networks.project_id, networks.name, networks.description, networks.admin_state_up, networks.shared, networks.router_external, networks.status, networks.mtu, networks.port_security_enabled, networks.created_at, networks.updated_at, networks.revision_number"

func (s *Store) loadNetworks(ctx context.Context, db querier, tail string, args []any, scope *childScope) ([]neutron.Network, error) {
	rows, err := db.QueryContext(ctx, s.rebind("SELECT "+networkCols+" FROM networks"+tail), args...)
	if err != nil {
		return nil, fmt.Errorf("list networks: %w", err)
	}
	var out []neutron.Network
	for rows.Next() {
		var n neutron.Network
		var c, u int64
		if err := rows.Scan(&n.ID, &n.ProjectID, &n.Name, &n.Description, &n.AdminStateUp, &n.Shared, &n.External,
			&n.Status, &n.MTU, &n.PortSecurityEnabled, &c, &u, &n.RevisionNumber); err != nil {
			rows.Close()
			return nil, err
		}
		n.CreatedAt, n.UpdatedAt = fromMicro(c), fromMicro(u)
		n.Tags, n.Subnets, n.Segments = []string{}, []string{}, []neutron.Segment{}
		out = append(out, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return out, nil
	}
	if scope == nil {
		ids := make([]string, len(out))
		for i := range out {
			ids[i] = out[i].ID
		}
		scope = &childScope{ids: ids}
	}
	idx := make(map[string]int, len(out))
	for i := range out {
		idx[out[i].ID] = i
	}
	err = scope.each("network_id", func(cond string, cargs []any) error {
		srows, err := db.QueryContext(ctx, s.rebind("SELECT network_id, network_type, physical_network, segmentation_id FROM network_segments WHERE "+cond+" ORDER BY network_id, segment_index"), cargs...)
		if err != nil {
			return fmt.Errorf("load segments: %w", err)
		}
		defer srows.Close()
		for srows.Next() {
			var id string
			var sg neutron.Segment
			if err := srows.Scan(&id, &sg.NetworkType, &sg.PhysicalNetwork, &sg.SegmentationID); err != nil {
				return err
			}
			if i, ok := idx[id]; ok {
				out[i].Segments = append(out[i].Segments, sg)
			}
		}
		if err := srows.Err(); err != nil {
			return err
		}
		subRows, err := db.QueryContext(ctx, s.rebind("SELECT network_id, id FROM subnets WHERE "+cond+" ORDER BY created_at, id"), cargs...)
		if err != nil {
			return fmt.Errorf("load subnet ids: %w", err)
		}
		defer subRows.Close()
		for subRows.Next() {
			var nid, sid string
			if err := subRows.Scan(&nid, &sid); err != nil {
				return err
			}
			if i, ok := idx[nid]; ok {
				out[i].Subnets = append(out[i].Subnets, sid)
			}
		}
		return subRows.Err()
	})
	if err != nil {
		return nil, err
	}
	if err := s.attachTags(ctx, db, "network", *scope, idx, func(i int, ts []string) { out[i].Tags = ts }); err != nil {
		return nil, err
	}
	return out, nil
}

func reverse[T any](s []T) {
	for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
		s[i], s[j] = s[j], s[i]
	}
}

// LockNetwork takes network id's row lock, held until the transaction
// ends (404 NetworkNotFound if there is none). Writers that check
// something across a network's rows before inserting (subnet overlap) take
// it first, so that they run one after the other per network, also across
// server processes: under READ COMMITTED the check then sees every subnet
// committed before. PostgreSQL's FOR NO KEY UPDATE is the lock an UPDATE
// of the row takes anyway, and does not block port inserts (their foreign
// key takes FOR KEY SHARE). SQLite has one writer at a time.
func (t *Tx) LockNetwork(ctx context.Context, id string) error {
	q := "SELECT id FROM networks WHERE id = ?"
	switch t.s.dialect {
	case Postgres:
		q += " FOR NO KEY UPDATE"
	case MySQL:
		q += " FOR UPDATE"
	}
	var got string
	err := t.queryRow(ctx, q, id).Scan(&got)
	if isNoRows(err) {
		return neutron.NotFound("Network", id)
	}
	if err != nil {
		return fmt.Errorf("lock network %s: %w", id, err)
	}
	return nil
}

// PortNetwork reads what creating a port needs of its network in one
// query: ID, ProjectID, PortSecurityEnabled and Segments (in index order).
// Every other field is left zero. 404 NetworkNotFound.
func (t *Tx) PortNetwork(ctx context.Context, id string) (*neutron.Network, error) {
	if v, err, ok := t.preloaded(memoPortNetwork, id); ok {
		n, _ := v.(*neutron.Network)
		return n, err
	}
	rows, err := t.query(ctx, portNetworkQuery, id)
	if err != nil {
		return nil, fmt.Errorf("read network %s: %w", id, err)
	}
	defer rows.Close()
	return scanPortNetwork(rows, id)
}

const portNetworkQuery = "SELECT networks.id, networks.project_id, networks.port_security_enabled, s.network_type, s.physical_network, s.segmentation_id" +
	" FROM networks LEFT JOIN network_segments s ON s.network_id = networks.id WHERE networks.id = ? ORDER BY s.segment_index"

func scanPortNetwork(rows rowScanner, id string) (*neutron.Network, error) {
	var n *neutron.Network
	for rows.Next() {
		var nid, project string
		var portSec bool
		var typ, phys sql.NullString
		var seg sql.NullInt64
		if err := rows.Scan(&nid, &project, &portSec, &typ, &phys, &seg); err != nil {
			return nil, fmt.Errorf("read network %s: %w", id, err)
		}
		if n == nil {
			n = &neutron.Network{Standard: neutron.Standard{ID: nid, ProjectID: project}, PortSecurityEnabled: portSec, Segments: []neutron.Segment{}}
		}
		if typ.Valid {
			n.Segments = append(n.Segments, neutron.Segment{NetworkType: typ.String, PhysicalNetwork: phys.String, SegmentationID: seg.Int64})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read network %s: %w", id, err)
	}
	if n == nil {
		return nil, neutron.NotFound("Network", id)
	}
	return n, nil
}

// NewID returns a fresh resource id.
func NewID() string { return uuid.NewString() }

// InsertNetwork inserts a network row and its segments.
func (t *Tx) InsertNetwork(ctx context.Context, n *neutron.Network) error {
	_, err := t.exec(ctx, "INSERT INTO networks (id, project_id, name, description, admin_state_up, shared, router_external, status, mtu, port_security_enabled, created_at, updated_at, revision_number) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		n.ID, n.ProjectID, n.Name, n.Description, n.AdminStateUp, n.Shared, n.External, n.Status, n.MTU, n.PortSecurityEnabled, micro(n.CreatedAt), micro(n.UpdatedAt), n.RevisionNumber)
	if err != nil {
		return fmt.Errorf("insert network %s: %w", n.ID, err)
	}
	for i, sg := range n.Segments {
		if _, err := t.exec(ctx, "INSERT INTO network_segments (id, network_id, segment_index, network_type, physical_network, segmentation_id) VALUES (?, ?, ?, ?, ?, ?)",
			NewID(), n.ID, i, sg.NetworkType, sg.PhysicalNetwork, sg.SegmentationID); err != nil {
			return fmt.Errorf("insert segment of network %s: %w", n.ID, err)
		}
	}
	return t.insertTags(ctx, "network", n.ID, n.Tags)
}

// UpdateNetwork writes n's mutable columns if its stored revision is still
// prevRev (else ErrRetry: someone else changed it meanwhile).
func (t *Tx) UpdateNetwork(ctx context.Context, n *neutron.Network, prevRev int64) error {
	res, err := t.exec(ctx, "UPDATE networks SET name = ?, description = ?, admin_state_up = ?, shared = ?, router_external = ?, status = ?, mtu = ?, port_security_enabled = ?, updated_at = ?, revision_number = ? WHERE id = ? AND revision_number = ?",
		n.Name, n.Description, n.AdminStateUp, n.Shared, n.External, n.Status, n.MTU, n.PortSecurityEnabled, micro(n.UpdatedAt), n.RevisionNumber, n.ID, prevRev)
	if err != nil {
		return fmt.Errorf("update network %s: %w", n.ID, err)
	}
	return casResult(res)
}

func casResult(res sql.Result) error {
	k, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if k == 0 {
		return ErrRetry
	}
	return nil
}

// DeleteNetwork deletes a network row (segments cascade) and its tags.
func (t *Tx) DeleteNetwork(ctx context.Context, id string) error {
	if err := t.deleteTags(ctx, "network", id); err != nil {
		return err
	}
	return t.deleteRow(ctx, "network", "Network", id)
}

// deleteTags deletes the tags of the kind resource id.
func (t *Tx) deleteTags(ctx context.Context, kind, id string) error {
	if _, err := t.exec(ctx, "DELETE FROM tags WHERE kind = ? AND resource_id = ?", kind, id); err != nil {
		return fmt.Errorf("delete tags of %s %s: %w", kind, id, err)
	}
	return nil
}

// deleteRow deletes row id of kind's table (kind+"s"); noun's 404 when
// there was none.
func (t *Tx) deleteRow(ctx context.Context, kind, noun, id string) error {
	res, err := t.exec(ctx, "DELETE FROM "+kind+"s WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("delete %s %s: %w", kind, id, err)
	}
	if k, _ := res.RowsAffected(); k == 0 {
		return neutron.NotFound(noun, id)
	}
	return nil
}

// SetTags replaces the tags of a resource.
func (t *Tx) SetTags(ctx context.Context, kind, id string, tags []string) error {
	return t.setTags(ctx, kind, id, tags)
}

func (t *Tx) setTags(ctx context.Context, kind, id string, tags []string) error {
	if _, err := t.exec(ctx, "DELETE FROM tags WHERE kind = ? AND resource_id = ?", kind, id); err != nil {
		return fmt.Errorf("clear tags of %s %s: %w", kind, id, err)
	}
	return t.insertTags(ctx, kind, id, tags)
}

// insertTags adds the tags of a resource that has none yet (a new one):
// one multi-row INSERT, no DELETE, nothing at all without tags.
func (t *Tx) insertTags(ctx context.Context, kind, id string, tags []string) error {
	seen := map[string]bool{}
	var vals []string
	var args []any
	for _, tag := range tags {
		if seen[tag] {
			continue
		}
		seen[tag] = true
		vals = append(vals, "(?, ?, ?)")
		args = append(args, kind, id, tag)
	}
	if len(vals) == 0 {
		return nil
	}
	return t.execBlind(ctx, "tag "+kind+" "+id, "INSERT INTO tags (kind, resource_id, tag) VALUES "+strings.Join(vals, ", "), args...)
}

// SetSegmentationID changes the id of a network's segment (VLAN update).
func (t *Tx) SetSegmentationID(ctx context.Context, networkID string, index int, id int64) error {
	res, err := t.exec(ctx, "UPDATE network_segments SET segmentation_id = ? WHERE network_id = ? AND segment_index = ?", id, networkID, index)
	if err != nil {
		return fmt.Errorf("update segment of network %s: %w", networkID, err)
	}
	return casResult(res)
}
