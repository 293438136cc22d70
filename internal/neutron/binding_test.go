package neutron

import (
	"encoding/json"
	"testing"
)

func TestOVSHybridPlug(t *testing.T) {
	for details, want := range map[string]bool{
		``: false,
		`{"port_filter": true, "ovs_hybrid_plug": false}`: false,
		`{"port_filter": true, "ovs_hybrid_plug": true}`:  true,
		`not json`: false,
	} {
		if got := (Binding{VIFDetails: json.RawMessage(details)}).OVSHybridPlug(); got != want {
			t.Errorf("OVSHybridPlug(%s) = %v, want %v", details, got, want)
		}
	}
}
