package nova

import (
	"reflect"
	"testing"

	"neutrino/internal/neutron"
)

func TestPortEvents(t *testing.T) {
	const vm = "2b4a7a3e-9c1d-4e0a-8f3b-5d6c7e8f9a0b"
	port := func(status string, mut ...func(*neutron.Port)) *neutron.Port {
		p := &neutron.Port{Standard: neutron.Standard{ID: "p1", Name: "n"}, DeviceOwner: "compute:nova", DeviceID: vm, Status: status}
		for _, m := range mut {
			m(p)
		}
		return p
	}
	all := Which{StatusChanges: true, DataChanges: true}
	for _, tc := range []struct {
		name      string
		w         Which
		prev, cur *neutron.Port
		want      []Event
	}{
		{"created down", all, nil, port("DOWN"), nil},
		{"plugged", all, port("DOWN"), port("ACTIVE"), []Event{{VIFPlugged, vm, "p1", "completed"}}},
		{"plugged from build", all, port("BUILD"), port("ACTIVE"), []Event{{VIFPlugged, vm, "p1", "completed"}}},
		{"failed", all, port("DOWN"), port("ERROR"), []Event{{VIFPlugged, vm, "p1", "failed"}}},
		{"unplugged", all, port("ACTIVE"), port("DOWN"), []Event{{VIFUnplugged, vm, "p1", "completed"}}},
		{"error to active is no event", all, port("ERROR"), port("ACTIVE"), nil},
		{"status only, status off", Which{DataChanges: true}, port("DOWN"), port("ACTIVE"), nil},
		{"renamed", all, port("ACTIVE"), port("ACTIVE", func(p *neutron.Port) { p.Name = "x" }), []Event{{Name: Changed, ServerUUID: vm, Tag: "p1"}}},
		{"renamed, data off", Which{StatusChanges: true}, port("ACTIVE"), port("ACTIVE", func(p *neutron.Port) { p.Name = "x" }), nil},
		{"revision only", all, port("ACTIVE"), port("ACTIVE", func(p *neutron.Port) { p.RevisionNumber = 9 }), nil},
		{"deleted", all, port("ACTIVE"), nil, []Event{{Name: VIFDeleted, ServerUUID: vm, Tag: "p1"}}},
		{"not an instance's port", all, port("DOWN", func(p *neutron.Port) { p.DeviceOwner = "network:dhcp" }),
			port("ACTIVE", func(p *neutron.Port) { p.DeviceOwner = "network:dhcp" }), nil},
		{"device_id not a UUID", all, port("DOWN", func(p *neutron.Port) { p.DeviceID = "vm1" }),
			port("ACTIVE", func(p *neutron.Port) { p.DeviceID = "vm1" }), nil},
	} {
		if got := PortEvents(tc.w, tc.prev, tc.cur); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}
