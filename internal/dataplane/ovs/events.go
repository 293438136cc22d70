package ovs

import (
	"slices"

	"github.com/ovn-kubernetes/libovsdb/cache"
	"github.com/ovn-kubernetes/libovsdb/model"

	"neutrino/internal/dataplane"
)

// Device events come from the monitor cache the data plane already keeps:
// the OVSDB server pushes every committed change of the Interface and
// Port tables, whoever made it (os-vif's `ovs-vsctl add-port br-int tapX
// -- set Interface tapX external_ids:iface-id=...`, an operator), and
// libovsdb calls our handler from its event goroutine. This is the
// event source Neutron's OVS agent uses too (an ovsdb monitor of
// Interface), with polling as the fallback.

var _ dataplane.DeviceNotifier = (*Dataplane)(nil)

// DeviceEvents signals when a VM interface on the switch may have
// appeared, gone or changed (dataplane.DeviceNotifier). The channel is
// never closed.
func (d *Dataplane) DeviceEvents() <-chan struct{} { return d.events }

// watchCache registers the event handler with the client's cache. It
// runs once, in New: with WithReconnect libovsdb keeps the same cache (and
// its handlers) across reconnects and restarts its event goroutine, which
// TestDeviceEvents checks across an ovsdb-server restart.
func (d *Dataplane) watchCache() {
	d.cli.Cache().AddEventHandler(&cache.EventHandlerFuncs{
		AddFunc: func(table string, m model.Model) {
			if deviceRowChanged(table, nil, m) {
				d.events.Notify()
			}
		},
		UpdateFunc: func(table string, old, m model.Model) {
			if deviceRowChanged(table, old, m) {
				d.events.Notify()
			}
		},
		DeleteFunc: func(table string, m model.Model) {
			if deviceRowChanged(table, m, nil) {
				d.events.Notify()
			}
		},
	})
}

// deviceRowChanged decides whether a cache event (old nil: insert; new
// nil: delete) can change what Devices returns. Interfaces count when
// either version carries iface-id: that catches a plug in one transaction,
// iface-id set later, ofport/admin_state filled in by ovs-vswitchd, and
// unplug; the tunnel and patch interfaces this data plane manages itself
// never carry iface-id. Ports count when added or removed or when their
// interface set changes; the tag and other_config updates Apply makes on
// VM ports do not, so an Apply does not wake the agent again (a tunnel
// port it adds does, once: harmless, and rare).
func deviceRowChanged(table string, old, new model.Model) bool {
	switch table {
	case "Interface":
		for _, m := range []model.Model{old, new} {
			if i, ok := m.(*iface); ok && i.ExternalIDs["iface-id"] != "" {
				return true
			}
		}
		return false
	case "Port":
		o, oldOK := old.(*port)
		n, newOK := new.(*port)
		if !oldOK || !newOK {
			return oldOK || newOK
		}
		return !slices.Equal(o.Interfaces, n.Interfaces) || o.Name != n.Name
	}
	return false
}
