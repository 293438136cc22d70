package neutron

import (
	"reflect"
	"testing"
)

// A row decoded once (Decoded) gives its readers what decoding its JSON
// gives, without parsing it again; rows it cannot decode, deletions and
// other kinds are left for Decode to report as before.
func TestChangeDecodedOnce(t *testing.T) {
	p := Port{NetworkID: "net-1", MACAddress: "fa:16:3e:00:00:01", FixedIPs: []FixedIP{{SubnetID: "sub-1", IPAddress: "192.168.1.5"}}}
	p.ID = "port-1"
	a := Agent{ID: "agent-1", AgentType: AgentTypeOVS, Host: "compute-1", Configurations: []byte(`{"l2_population":true}`)}
	for _, c := range []Change{Updated(p), Created(a), Updated(TunnelEndpoint{Host: "compute-1", IPAddress: "198.18.0.1", UDPPort: 4789})} {
		d := c.Decoded()
		if d.decoded == nil {
			t.Fatalf("%s row not decoded", c.Kind)
		}
		// The JSON is not read again: break it.
		d.Object = []byte(`{"broken`)
		switch c.Kind {
		case KindPort:
			want, _ := Decode[Port](c)
			if got, err := Decode[Port](d); err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("port: %+v, %v; want %+v", got, err, want)
			}
		case KindAgent:
			want, _ := Decode[Agent](c)
			if got, err := Decode[Agent](d); err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("agent: %+v, %v; want %+v", got, err, want)
			}
			if _, err := Decode[Port](d); err == nil {
				t.Fatal("an agent row decoded as a port")
			}
		case KindEndpoint:
			want, _ := Decode[TunnelEndpoint](c)
			if got, err := Decode[TunnelEndpoint](d); err != nil || got != want {
				t.Fatalf("endpoint: %+v, %v; want %+v", got, err, want)
			}
		}
	}
	bad := Change{Kind: KindPort, ID: "port-2", Op: OpUpdate, Object: []byte(`{"id":`)}.Decoded()
	if _, err := Decode[Port](bad); err == nil {
		t.Fatal("a row that does not decode decoded")
	}
	if del := Deleted(KindPort, "port-1").Decoded(); del.decoded != nil || !del.Deletion() {
		t.Fatalf("deletion: %+v", del)
	}
}
