package linux

import (
	"testing"

	"github.com/vishvananda/netlink"
)

func TestTapChanged(t *testing.T) {
	tap := tapMark{name: "tapa1b2c3d4-00", mac: "fe:16:3e:00:00:01", up: true, oper: netlink.OperUp}
	with := func(f func(*tapMark)) tapMark { m := tap; f(&m); return m }
	other := tapMark{name: "brqa1b2c3d4-00", mac: "fe:16:3e:00:00:02", up: true}
	for _, tc := range []struct {
		name      string
		known     map[int]tapMark
		deleted   bool
		m         tapMark
		want      bool
		wantKnown bool // index 7 is in known afterwards
	}{
		{"tap appears", map[int]tapMark{}, false, tap, true, true},
		{"same tap again (enslaved, statistics)", map[int]tapMark{7: tap}, false, tap, false, true},
		{"tap set down", map[int]tapMark{7: tap}, false, with(func(m *tapMark) { m.up = false }), true, true},
		{"tap carrier lost", map[int]tapMark{7: tap}, false, with(func(m *tapMark) { m.oper = netlink.OperLowerLayerDown }), true, true},
		{"tap MAC changed", map[int]tapMark{7: tap}, false, with(func(m *tapMark) { m.mac = "fe:16:3e:00:00:09" }), true, true},
		{"tap renamed to another tap", map[int]tapMark{7: tap}, false, with(func(m *tapMark) { m.name = "tapffffffff-ff" }), true, true},
		{"tap renamed away", map[int]tapMark{7: tap}, false, with(func(m *tapMark) { m.name = "eth9" }), true, false},
		{"link renamed to a tap", map[int]tapMark{}, false, tap, true, true},
		{"tap deleted", map[int]tapMark{7: tap}, true, tap, true, false},
		{"unknown tap deleted (seen before the subscription)", map[int]tapMark{}, true, tap, false, false},
		{"other link appears", map[int]tapMark{}, false, other, false, false},
		{"other link deleted", map[int]tapMark{}, true, other, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tapChanged(tc.known, tc.deleted, 7, tc.m); got != tc.want {
				t.Errorf("tapChanged = %t, want %t", got, tc.want)
			}
			if _, ok := tc.known[7]; ok != tc.wantKnown {
				t.Errorf("index 7 known = %t, want %t", ok, tc.wantKnown)
			}
		})
	}
}
