// Package nova tells Nova about the ports of its instances, as Neutron's
// nova notifier does: it follows the change log, turns port changes into
// os-server-external-events (network-vif-plugged, -unplugged, -deleted,
// network-changed) and posts them in batches with a Keystone token. It
// runs beside the API and never holds up an API call.
package nova

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"

	"neutrino/internal/neutron"
)

// Event is one item of POST /os-server-external-events.
type Event struct {
	Name       string `json:"name"`
	ServerUUID string `json:"server_uuid"`
	Tag        string `json:"tag,omitempty"`
	Status     string `json:"status,omitempty"`
}

// Event names Neutron sends.
const (
	VIFPlugged   = "network-vif-plugged"
	VIFUnplugged = "network-vif-unplugged"
	VIFDeleted   = "network-vif-deleted"
	Changed      = "network-changed"
)

// Port statuses.
const (
	active = neutron.StatusActive
	down   = neutron.StatusDown
	build  = "BUILD"
	failed = "ERROR"
)

// Which events to derive ([DEFAULT] notify_nova_on_port_*).
type Which struct {
	StatusChanges bool // notify_nova_on_port_status_changes
	DataChanges   bool // notify_nova_on_port_data_changes
}

var uuidLike = regexp.MustCompile(`^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$`)

// isCompute: a port of a Nova instance (device_owner compute:*, device_id
// a UUID), the only ports Nova hears about.
func isCompute(p *neutron.Port) bool {
	return p != nil && uuidLike.MatchString(p.DeviceID) && strings.HasPrefix(p.DeviceOwner, "compute:")
}

// PortEvents derives the events for one port change: prev is the port
// before (nil if unknown or new), cur after (nil when deleted). The rules
// are Neutron's:
//   - status DOWN/BUILD/unset -> ACTIVE: network-vif-plugged completed;
//     -> ERROR: network-vif-plugged failed;
//   - ACTIVE -> DOWN: network-vif-unplugged completed;
//   - deleted: network-vif-deleted;
//   - any other change of the port (an update through the API: fixed IPs,
//     binding, name, ...): network-changed.
func PortEvents(w Which, prev, cur *neutron.Port) []Event {
	if cur == nil {
		if w.DataChanges && isCompute(prev) {
			return []Event{{Name: VIFDeleted, ServerUUID: prev.DeviceID, Tag: prev.ID}}
		}
		return nil
	}
	if !isCompute(cur) {
		return nil
	}
	var out []Event
	before := ""
	if prev != nil {
		before = prev.Status
	}
	if w.StatusChanges && before != cur.Status {
		switch {
		case before == active && cur.Status == down:
			out = append(out, Event{Name: VIFUnplugged, ServerUUID: cur.DeviceID, Tag: cur.ID, Status: "completed"})
		case (before == "" || before == down || before == build) && cur.Status == active:
			out = append(out, Event{Name: VIFPlugged, ServerUUID: cur.DeviceID, Tag: cur.ID, Status: "completed"})
		case (before == "" || before == down || before == build) && cur.Status == failed:
			out = append(out, Event{Name: VIFPlugged, ServerUUID: cur.DeviceID, Tag: cur.ID, Status: "failed"})
		}
	}
	if w.DataChanges && prev != nil && dataChanged(prev, cur) {
		out = append(out, Event{Name: Changed, ServerUUID: cur.DeviceID, Tag: cur.ID})
	}
	return out
}

// dataChanged: the port changed in more than its status and bookkeeping
// (revision, timestamps), i.e. an API update rather than an agent's status
// report.
func dataChanged(a, b *neutron.Port) bool {
	x, y := *a, *b
	x.Status, y.Status = "", ""
	x.RevisionNumber, y.RevisionNumber = 0, 0
	x.UpdatedAt = y.UpdatedAt
	x.Binding.VIFType, y.Binding.VIFType = "", "" // set when the agent binds it
	x.Binding.VIFDetails, y.Binding.VIFDetails = nil, nil
	a1, _ := json.Marshal(x)
	b1, _ := json.Marshal(y)
	return !bytes.Equal(a1, b1)
}
