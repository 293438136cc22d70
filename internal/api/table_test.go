package api

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"neutrino/internal/neutron"
)

// rendered is x as a response shows it to c (no fields= selection),
// decoded from the table's JSON.
func rendered[T, C, U any](t *table[T, C, U], x *T, c Caller, create bool) map[string]any {
	b := t.encode(nil, x, t.resource().selection(c, nil, create))
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		panic("invalid JSON " + string(b) + ": " + err.Error())
	}
	return m
}

// appendString escapes as encoding/json does, byte for byte.
func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uote\\back`, "tab\tnl\ncr\r", "\x00\x01\x1f\x7f", "<a&b>", "é ü 日本", "bad\xffutf8\xc3", "\u2028\u2029", "end\\"} {
		want, _ := json.Marshal(s)
		if got := appendString(nil, s); string(got) != string(want) {
			t.Errorf("%q: got %s, want %s", s, got, want)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	f.Add("a\"b<\u2028\xff")
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := appendString(nil, s); string(got) != string(want) {
			t.Errorf("%q: got %s, want %s", s, got, want)
		}
	})
}

// The rendering of a full port and of networks with zero, one and two
// segments, for an admin and for the owner, against hand-written
// Neutron-shaped objects.
func TestRenderGolden(t *testing.T) {
	now := time.Date(2026, 11, 23, 19, 30, 32, 0, time.UTC)
	std := neutron.Standard{ID: "i", Name: "n<&>\u2028", Description: "d", ProjectID: "p", Tags: []string{"t"}, CreatedAt: now, UpdatedAt: now, RevisionNumber: 3}
	port := &neutron.Port{Standard: std, NetworkID: "net", MACAddress: "fa:16:3e:00:00:01", FixedIPs: []neutron.FixedIP{{SubnetID: "s", IPAddress: "192.168.1.5"}},
		Status: "ACTIVE", AdminStateUp: true, SecurityGroups: []string{"sg"}, PortSecurityEnabled: true,
		AllowedAddressPairs: []neutron.AddressPair{{IPAddress: "10.0.0.0/24", MACAddress: "fa:16:3e:00:00:02"}},
		Binding:             neutron.Binding{HostID: "h", Profile: json.RawMessage(`{"a":1}`), VIFType: "ovs", VIFDetails: json.RawMessage(`{"connectivity":"l2"}`)}}
	stdJSON := `"id":"i","name":"n\u003c\u0026\u003e\u2028","description":"d","tenant_id":"p","project_id":"p","created_at":"2026-11-23T19:30:32Z","updated_at":"2026-11-23T19:30:32Z","revision_number":3,"tags":["t"]`
	portTenant := stdJSON + `,"network_id":"net","mac_address":"fa:16:3e:00:00:01","fixed_ips":[{"subnet_id":"s","ip_address":"192.168.1.5"}],"device_id":"","device_owner":"","admin_state_up":true,"status":"ACTIVE","allowed_address_pairs":[{"ip_address":"10.0.0.0/24","mac_address":"fa:16:3e:00:00:02"}],"security_groups":["sg"],"extra_dhcp_opts":[]`
	portAdmin := portTenant + `,"binding:host_id":"h","binding:profile":{"a":1},"binding:vnic_type":"normal","binding:vif_type":"ovs","binding:vif_details":{"connectivity":"l2"}`
	portTenant += `,"binding:vnic_type":"normal"`
	bare := &neutron.Port{Standard: neutron.Standard{ID: "j"}}
	bareJSON := `{"id":"j","name":"","description":"","tenant_id":"","project_id":"","created_at":null,"updated_at":null,"revision_number":0,"tags":[],"network_id":"","mac_address":"","fixed_ips":[],"device_id":"","device_owner":"","admin_state_up":false,"status":"","allowed_address_pairs":[],"security_groups":[],"extra_dhcp_opts":[],"binding:host_id":"","binding:profile":{},"binding:vnic_type":"normal","binding:vif_type":"unbound","binding:vif_details":{},"port_security_enabled":false}`
	netBase := stdJSON + `,"admin_state_up":false,"shared":false,"router:external":false,"mtu":1450,"status":"ACTIVE","subnets":[],"availability_zone_hints":[],"availability_zones":[],"ipv4_address_scope":null,"ipv6_address_scope":null`
	one := &neutron.Network{Standard: std, MTU: 1450, Status: "ACTIVE", Segments: []neutron.Segment{{NetworkType: "flat", PhysicalNetwork: "physnet1"}}}
	two := &neutron.Network{Standard: std, MTU: 1450, Status: "ACTIVE", Segments: []neutron.Segment{{NetworkType: "vxlan", SegmentationID: 1}, {NetworkType: "vlan", PhysicalNetwork: "p", SegmentationID: 2}}}
	none := &neutron.Network{Standard: std, MTU: 1450, Status: "ACTIVE"}
	admin, owner := Caller{Admin: true}, Caller{ProjectID: "p"}
	cases := []struct {
		name string
		got  []byte
		want string
	}{
		{"port, owner", ports(attrOptions{}).encode(nil, port, ports(attrOptions{}).resource().selection(owner, nil, false)), "{" + portTenant + "}"},
		{"port, admin", ports(attrOptions{}).encode(nil, port, ports(attrOptions{}).resource().selection(admin, nil, false)), "{" + portAdmin + "}"},
		{"bare port, admin, port security", ports(attrOptions{PortSecurity: true}).encode(nil, bare, ports(attrOptions{PortSecurity: true}).resource().selection(admin, nil, false)), bareJSON},
		{"port, fields", ports(attrOptions{}).encode(nil, port, ports(attrOptions{}).resource().selection(owner, []string{"binding:host_id", "id", "fixed_ips", "id", "nope"}, false)), `{"id":"i","fixed_ips":[{"subnet_id":"s","ip_address":"192.168.1.5"}]}`},
		{"network, one segment, admin, create", networks(attrOptions{}).encode(nil, one, networks(attrOptions{}).resource().selection(admin, nil, true)), "{" + netBase + `,"is_default":false,"provider:network_type":"flat","provider:physical_network":"physnet1","provider:segmentation_id":null}`},
		{"network, two segments, admin", networks(attrOptions{}).encode(nil, two, networks(attrOptions{}).resource().selection(admin, nil, false)), "{" + netBase + `,"segments":[{"provider:network_type":"vxlan","provider:physical_network":null,"provider:segmentation_id":1},{"provider:network_type":"vlan","provider:physical_network":"p","provider:segmentation_id":2}]}`},
		{"network, no segment, admin", networks(attrOptions{}).encode(nil, none, networks(attrOptions{}).resource().selection(admin, nil, false)), "{" + netBase + `,"provider:network_type":"","provider:physical_network":null,"provider:segmentation_id":null}`},
		{"network, two segments, owner", networks(attrOptions{}).encode(nil, two, networks(attrOptions{}).resource().selection(owner, nil, false)), "{" + netBase + "}"},
	}
	for _, c := range cases {
		if string(c.got) != c.want {
			t.Errorf("%s:\n got  %s\n want %s", c.name, c.got, c.want)
		}
	}
}

// Every column a POST or PUT may carry either reaches the request through
// a setter or is one the table documents as accepted and ignored.
func TestWritableColumnsReachRequests(t *testing.T) {
	// The owner is createProject's; the others take only the empty value;
	// a network's segments cannot be updated (finishUpdate refuses them).
	ignored := map[string]bool{"tenant_id": true, "project_id": true, "availability_zone_hints": true, "subnetpool_id": true, "service_types": true,
		"segments": true}
	check := func(res string, names []string, missing func(i int) (post, put bool)) {
		for i, n := range names {
			post, put := missing(i)
			if (post || put) && !ignored[n] {
				t.Errorf("%s: %s is writable (post %v, put %v) but has no setter", res, n, post, put)
			}
		}
	}
	for _, o := range []attrOptions{{}, {PortSecurity: true}} {
		n := networks(o)
		check("network", names(n.cols), func(i int) (bool, bool) {
			c := n.cols[i]
			return c.post && c.toCreate == nil, c.put && c.toUpdate == nil
		})
		p := ports(o)
		check("port", names(p.cols), func(i int) (bool, bool) {
			c := p.cols[i]
			return c.post && c.toCreate == nil, c.put && c.toUpdate == nil
		})
	}
	s := subnets()
	check("subnet", names(s.cols), func(i int) (bool, bool) {
		c := s.cols[i]
		return c.post && c.toCreate == nil, c.put && c.toUpdate == nil
	})
	a := agents()
	check("agent", names(a.cols), func(i int) (bool, bool) {
		c := a.cols[i]
		return c.post && c.toCreate == nil, c.put && c.toUpdate == nil
	})
}

func names[T, C, U any](cols []column[T, C, U]) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.name
	}
	return out
}

// Decoding a converted body fills the request types as the handlers did
// by hand before the table.
func TestDecodeRequests(t *testing.T) {
	p := ports(attrOptions{PortSecurity: true})
	a, e := parseBody(p.resource(), []byte(`{"port": {"network_id": "66071814-169c-40ef-8c42-bb627a18b8dd", "name": "x", "admin_state_up": "false",
		"fixed_ips": [{"ip_address": "10.0.0.5"}], "binding:profile": {"k": "v"}, "binding:vnic_type": "direct", "security_groups": [], "tags": ["a"], "port_security_enabled": true}}`), true)
	if e != nil {
		t.Fatal(e)
	}
	got := decode(p, a, func(c *column[neutron.Port, neutron.PortCreate, neutron.PortUpdate]) func(*neutron.PortCreate, any) {
		return c.toCreate
	})
	f, tr := false, true
	want := &neutron.PortCreate{NetworkID: "66071814-169c-40ef-8c42-bb627a18b8dd", Name: "x", AdminStateUp: &f, FixedIPs: []neutron.FixedIPRequest{{IPAddress: "10.0.0.5"}},
		Profile: json.RawMessage(`{"k":"v"}`), VNICType: "direct", SecurityGroups: []string{}, Tags: []string{"a"}, PortSecurityEnabled: &tr}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("port create\n got  %+v\n want %+v", got, want)
	}
	n := networks(attrOptions{})
	a, e = parseBody(n.resource(), []byte(`{"network": {"provider:network_type": "vlan", "provider:physical_network": null, "provider:segmentation_id": 0, "mtu": 1400}}`), false)
	if e != nil {
		t.Fatal(e)
	}
	u := decode(n, a, func(c *column[neutron.Network, neutron.NetworkCreate, neutron.NetworkUpdate]) func(*neutron.NetworkUpdate, any) {
		return c.toUpdate
	})
	if u.Segment == nil || *u.Segment != (neutron.Segment{NetworkType: "vlan", SegmentationID: -1}) || u.MTU == nil || *u.MTU != 1400 {
		t.Errorf("network update: %+v %+v", u, u.Segment)
	}
	// A value of the wrong type for a setter is a bug in the table, not a
	// silent zero.
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "where the table expects") {
			t.Errorf("recover = %v", r)
		}
	}()
	set(func(c *neutron.PortCreate, v string) { c.Name = v })(&neutron.PortCreate{}, 5)
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
// ports (entities + JSON), without the store, as the list handler does it:
// every attribute (admin, no fields=), and a fields= selection.
func BenchmarkRenderPorts10k(b *testing.B) {
	ps := benchPorts(10000)
	k := ports(attrOptions{}).kind(crud[neutron.Port, neutron.PortCreate, neutron.PortUpdate]{
		list: func(context.Context, neutron.ListQuery) ([]neutron.Port, error) { return ps, nil }})
	for name, fields := range map[string][]string{"table": nil, "fields": {"id", "fixed_ips", "binding:host_id"}} {
		b.Run(name, func(b *testing.B) {
			sel := k.res.selection(Caller{Admin: true}, fields, false)
			for b.Loop() {
				items, _ := k.list(b.Context(), neutron.ListQuery{})
				out := make([]byte, 0, 64+768*len(items))
				out = append(out, `{"ports":[`...)
				for i, it := range items {
					if i > 0 {
						out = append(out, ',')
					}
					out = it.encode(out, sel)
				}
				_ = append(out, "]}"...)
			}
		})
	}
}
