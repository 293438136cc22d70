package api

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"neutrino/internal/neutron"
)

func sameJSON(t *testing.T, what string, a, b any) {
	t.Helper()
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	var va, vb any
	json.Unmarshal(ja, &va)
	json.Unmarshal(jb, &vb)
	if !reflect.DeepEqual(va, vb) {
		t.Errorf("%s:\n view %s\n map  %s", what, ja, jb)
	}
}

func TestViewsMatchMaps(t *testing.T) {
	now := time.Date(2026, 11, 23, 19, 30, 32, 0, time.UTC)
	std := neutron.Standard{ID: "i", Name: "n", Description: "d", ProjectID: "p", Tags: []string{"t"}, CreatedAt: now, UpdatedAt: now, RevisionNumber: 3}
	ports := []*neutron.Port{
		{Standard: std, NetworkID: "net", MACAddress: "fa:16:3e:00:00:01", FixedIPs: []neutron.FixedIP{{SubnetID: "s", IPAddress: "192.168.1.5"}},
			Status: "ACTIVE", AdminStateUp: true, SecurityGroups: []string{"sg"}, PortSecurityEnabled: true,
			Binding: neutron.Binding{HostID: "h", VNICType: "normal", Profile: json.RawMessage(`{"a":1}`), VIFType: "ovs", VIFDetails: json.RawMessage(`{"connectivity":"l2"}`)}},
		{Standard: neutron.Standard{ID: "j"}}, // zero values: nil lists, zero times, unbound
	}
	nets := []*neutron.Network{
		{Standard: std, AdminStateUp: true, Status: "ACTIVE", MTU: 1450, Segments: []neutron.Segment{{NetworkType: "vxlan", SegmentationID: 1001}}, Subnets: []string{"s"}},
		{Standard: std, Segments: []neutron.Segment{{NetworkType: "flat", PhysicalNetwork: "physnet1"}}},
		{Standard: std, Segments: []neutron.Segment{{NetworkType: "vxlan", SegmentationID: 1}, {NetworkType: "vxlan", SegmentationID: 2}}},
		{Standard: neutron.Standard{ID: "k"}},
	}
	for _, o := range []attrOptions{{}, {PortSecurity: true}} {
		for _, admin := range []bool{true, false} {
			c := Caller{ProjectID: "p", Admin: admin}
			for i, p := range ports {
				sameJSON(t, "port", viewPort(p, o, admin), shape(portResource(o), renderPort(p, o), c, nil))
				_ = i
			}
			for _, n := range nets {
				sameJSON(t, "network", viewNetwork(n, o, admin), shape(networkResource(o), renderNetwork(n, o, false), c, nil))
			}
		}
	}
}

func benchPorts(n int) []neutron.Port {
	now := time.Date(2026, 11, 23, 19, 30, 32, 0, time.UTC)
	ps := make([]neutron.Port, n)
	for i := range ps {
		ps[i] = neutron.Port{Standard: neutron.Standard{ID: "4df118c3-64ac-40f7-a15b-ee18986e617f", Name: "bp", ProjectID: "fake_project_id", CreatedAt: now, UpdatedAt: now, RevisionNumber: 1},
			NetworkID: "66071814-169c-40ef-8c42-bb627a18b8dd", MACAddress: "fa:16:3e:28:3e:cc", Status: "DOWN", AdminStateUp: true,
			FixedIPs:       []neutron.FixedIP{{SubnetID: "8ead8ba2-6c65-4eba-b570-a3b9adb9443c", IPAddress: "10.100.3.7"}},
			SecurityGroups: []string{"867022ef-1107-4a56-bd59-4ca3bc737855"}, Binding: neutron.Binding{VIFType: "unbound"}}
	}
	return ps
}

// BenchmarkRenderPorts10k is the API layer's share of listing 10,000
// ports (render + JSON), without the store: struct views vs maps.
func BenchmarkRenderPorts10k(b *testing.B) {
	ps := benchPorts(10000)
	b.Run("views", func(b *testing.B) {
		for b.Loop() {
			out := make([]any, len(ps))
			for i := range ps {
				out[i] = viewPort(&ps[i], attrOptions{}, true)
			}
			json.Marshal(map[string]any{"ports": out})
		}
	})
	b.Run("maps", func(b *testing.B) {
		res := portResource(attrOptions{})
		for b.Loop() {
			out := make([]any, len(ps))
			for i := range ps {
				out[i] = shape(res, renderPort(&ps[i], attrOptions{}), Caller{Admin: true}, nil)
			}
			json.Marshal(map[string]any{"ports": out})
		}
	})
}
