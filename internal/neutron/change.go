package neutron

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
)

// ChangeKind names the resource a change-log row carries. The constants
// below are the one list of kinds: a new resource (security groups,
// routers, ...) adds its kind here and a ChangeKey method on its type.
type ChangeKind string

// The kinds of the change log.
const (
	KindNetwork  ChangeKind = "network"
	KindSubnet   ChangeKind = "subnet"
	KindPort     ChangeKind = "port"
	KindAgent    ChangeKind = "agent"
	KindEndpoint ChangeKind = "endpoint"
	// Security groups and their rules (the changes table's kind column
	// holds 16 characters: hence the short names).
	KindSecurityGroup     ChangeKind = "secgroup"
	KindSecurityGroupRule ChangeKind = "secgroup_rule"
	// KindDHCPBinding rows are keyed by DHCPBindingKey.
	KindDHCPBinding ChangeKind = "dhcp_binding"
	// KindL3Binding rows are keyed by L3BindingKey.
	KindL3Binding ChangeKind = "l3_binding"
	// L3: routers (with their routes and gateway) and floating IPs.
	// Router ports are ports.
	KindRouter     ChangeKind = "router"
	KindFloatingIP ChangeKind = "floatingip"
)

// ChangeOp is what happened to the resource.
type ChangeOp string

// The operations of the change log.
const (
	OpCreate ChangeOp = "create"
	OpUpdate ChangeOp = "update"
	OpDelete ChangeOp = "delete"
)

// Change is one row of the revisioned change log. Every committed API or
// agent write appends one row per resource it changed, in the same
// transaction; revisions are strictly increasing in commit order.
type Change struct {
	Revision int64
	Kind     ChangeKind
	ID       string
	Op       ChangeOp
	// Object is the resource as JSON after the change (nil for delete).
	Object json.RawMessage
	// decoded, set by Decoded, is Object decoded once for every reader
	// of the row (Decode returns it).
	decoded Resource
}

// Decoded returns c carrying its object decoded, so that the readers it
// is handed to (the server's L2, DHCP and L3 views) decode it once between
// them, and can do so before taking their locks. Readers must not change
// what Decode returns (they hold values, as with a loaded State). A kind
// without a type here, a deletion, or an object that does not decode is
// returned as it is (Decode then reports the error).
func (c Change) Decoded() Change {
	if c.decoded != nil || c.Deletion() {
		return c
	}
	var r Resource
	var err error
	switch c.Kind {
	case KindNetwork:
		r, err = decodeObject[Network](c)
	case KindSubnet:
		r, err = decodeObject[Subnet](c)
	case KindPort:
		r, err = decodeObject[Port](c)
	case KindAgent:
		r, err = decodeObject[Agent](c)
	case KindEndpoint:
		r, err = decodeObject[TunnelEndpoint](c)
	case KindSecurityGroup:
		r, err = decodeObject[SecurityGroup](c)
	case KindSecurityGroupRule:
		r, err = decodeObject[SecurityGroupRule](c)
	case KindDHCPBinding:
		r, err = decodeObject[DHCPBinding](c)
	case KindL3Binding:
		r, err = decodeObject[L3Binding](c)
	case KindRouter:
		r, err = decodeObject[Router](c)
	case KindFloatingIP:
		r, err = decodeObject[FloatingIP](c)
	default:
		return c
	}
	if err == nil {
		c.decoded = r
	}
	return c
}

func decodeObject[R Resource](c Change) (Resource, error) {
	var r R
	if err := json.Unmarshal(c.Object, &r); err != nil {
		return nil, err
	}
	return r, nil
}

// Resource is a value the change log carries: its kind and the id its rows
// are keyed by.
type Resource interface {
	ChangeKey() (ChangeKind, string)
}

// ChangeKey implements Resource.
func (n Network) ChangeKey() (ChangeKind, string) { return KindNetwork, n.ID }

// ChangeKey implements Resource.
func (s Subnet) ChangeKey() (ChangeKind, string) { return KindSubnet, s.ID }

// ChangeKey implements Resource.
func (p Port) ChangeKey() (ChangeKind, string) { return KindPort, p.ID }

// ChangeKey implements Resource.
func (a Agent) ChangeKey() (ChangeKind, string) { return KindAgent, a.ID }

// ChangeKey implements Resource.
func (g SecurityGroup) ChangeKey() (ChangeKind, string) { return KindSecurityGroup, g.ID }

// ChangeKey implements Resource.
func (r SecurityGroupRule) ChangeKey() (ChangeKind, string) { return KindSecurityGroupRule, r.ID }

// ChangeKey implements Resource.
func (r Router) ChangeKey() (ChangeKind, string) { return KindRouter, r.ID }

// ChangeKey implements Resource.
func (f FloatingIP) ChangeKey() (ChangeKind, string) { return KindFloatingIP, f.ID }

// ChangeKey implements Resource: a host has one VTEP, so rows are keyed by
// the host.
func (e TunnelEndpoint) ChangeKey() (ChangeKind, string) { return KindEndpoint, e.Host }

// ChangeKey implements Resource.
func (b DHCPBinding) ChangeKey() (ChangeKind, string) {
	return KindDHCPBinding, DHCPBindingKey(b.NetworkID, b.AgentID)
}

// DHCPBindingKey is the change-log id of a DHCP binding: a deletion row
// carries no object, so the id names both sides.
func DHCPBindingKey(networkID, agentID string) string { return networkID + "/" + agentID }

// ChangeKey implements Resource.
func (b L3Binding) ChangeKey() (ChangeKind, string) {
	return KindL3Binding, L3BindingKey(b.RouterID, b.AgentID)
}

// L3BindingKey is the change-log id of an L3 agent binding (router/agent).
func L3BindingKey(routerID, agentID string) string { return routerID + "/" + agentID }

// Created is the change row for a new resource.
func Created(r Resource) Change { return changeOf(OpCreate, r) }

// Updated is the change row for a changed resource (r as it is now).
func Updated(r Resource) Change { return changeOf(OpUpdate, r) }

// Deleted is the change row for the removal of the resource of kind k
// keyed by id.
func Deleted(k ChangeKind, id string) Change { return Change{Kind: k, ID: id, Op: OpDelete} }

func changeOf(op ChangeOp, r Resource) Change {
	k, id := r.ChangeKey()
	b, err := json.Marshal(r)
	if err != nil {
		// The resources are plain structs of strings, numbers and
		// validated raw JSON: failing here is a programming error.
		panic(fmt.Sprintf("change log: marshal %s %s: %v", k, id, err))
	}
	return Change{Kind: k, ID: id, Op: op, Object: b}
}

// Deletion reports whether the row removes its resource (a delete, or a
// row without an object).
func (c Change) Deletion() bool {
	return c.Op == OpDelete || len(c.Object) == 0 || string(c.Object) == "null"
}

// Decode returns the resource a row carries; R must be the type of c.Kind.
// It fails for a deletion (there is no object).
func Decode[R Resource](c Change) (R, error) {
	var r R
	if k, _ := r.ChangeKey(); k != c.Kind {
		return r, fmt.Errorf("change %d: %s %s is not a %s", c.Revision, c.Kind, c.ID, k)
	}
	if c.Deletion() {
		return r, fmt.Errorf("change %d: %s %s: a deletion carries no object", c.Revision, c.Kind, c.ID)
	}
	if d, ok := c.decoded.(R); ok {
		return d, nil
	}
	if err := json.Unmarshal(c.Object, &r); err != nil {
		return r, fmt.Errorf("change %d: decode %s %s: %w", c.Revision, c.Kind, c.ID, err)
	}
	return r, nil
}

// HeartbeatOnly reports whether agent row now differs from old only in
// what every report_state moves (heartbeat_timestamp, alive) and in the
// L2 agent's "devices" count. Such a report is not a change-log row: no
// view reads the timestamp or the count (the API shows both from the
// agents table), and at thousands of agents the rows would be most of the
// log (the stream's servers decode each one for every view); the count
// moves with every port plugged or unplugged on a host.
func HeartbeatOnly(old, now Agent) bool {
	return old.ID == now.ID && old.AgentType == now.AgentType && old.Host == now.Host && old.Binary == now.Binary &&
		old.Topic == now.Topic && old.StartedAt.Equal(now.StartedAt) && old.CreatedAt.Equal(now.CreatedAt) &&
		old.AdminStateUp == now.AdminStateUp && old.Description == now.Description &&
		old.AvailabilityZone == now.AvailabilityZone && sameButDevices(old.Configurations, now.Configurations)
}

// sameButDevices reports whether two agent configurations are equal but
// for "devices". Both come from one encoder (the plugin's, or the same
// agent's), so equal values have equal bytes.
func sameButDevices(a, b json.RawMessage) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var ma, mb map[string]json.RawMessage
	if json.Unmarshal(a, &ma) != nil || json.Unmarshal(b, &mb) != nil {
		return false
	}
	delete(ma, "devices")
	delete(mb, "devices")
	return maps.EqualFunc(ma, mb, func(x, y json.RawMessage) bool { return bytes.Equal(x, y) })
}
