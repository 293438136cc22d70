package neutron

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestChangeRoundTrip(t *testing.T) {
	p := Port{NetworkID: "net-1", MACAddress: "fa:16:3e:00:00:01"}
	p.ID = "port-1"
	c := Updated(p)
	if c.Kind != KindPort || c.ID != "port-1" || c.Op != OpUpdate || c.Deletion() {
		t.Fatalf("Updated(port) = %+v", c)
	}
	got, err := Decode[Port](c)
	if err != nil || got.ID != p.ID || got.MACAddress != p.MACAddress || got.NetworkID != p.NetworkID {
		t.Fatalf("Decode = %+v, %v", got, err)
	}
	e := Created(TunnelEndpoint{IPAddress: "198.18.0.1", Host: "compute-1"})
	if e.Kind != KindEndpoint || e.ID != "compute-1" || e.Op != OpCreate {
		t.Fatalf("Created(endpoint) = %+v", e)
	}
}

func TestDecodeRefusesWrongKindAndDeletion(t *testing.T) {
	n := Network{}
	n.ID = "net-1"
	if _, err := Decode[Port](Created(n)); err == nil || !strings.Contains(err.Error(), "is not a port") {
		t.Fatalf("decoding a network row as a port: %v", err)
	}
	d := Deleted(KindNetwork, "net-1")
	if !d.Deletion() || d.Object != nil {
		t.Fatalf("Deleted = %+v", d)
	}
	if _, err := Decode[Network](d); err == nil {
		t.Fatal("decoding a deletion gave no error")
	}
	if !(Change{Kind: KindPort, Op: OpUpdate, Object: []byte("null")}).Deletion() {
		t.Fatal("a null object is a deletion")
	}
}

// A report that moves only the heartbeat or the devices count is
// HeartbeatOnly; any other configuration, or a field, is not.
func TestHeartbeatOnlyIgnoresDevices(t *testing.T) {
	base := Agent{ID: "a", AgentType: AgentTypeOVS, Host: "h", Configurations: json.RawMessage(`{"devices":1,"l2_population":true,"tunneling_ip":"198.18.0.1"}`)}
	with := func(conf string) Agent { a := base; a.Configurations = json.RawMessage(conf); return a }
	for _, c := range []struct {
		name string
		now  Agent
		want bool
	}{
		{"same", base, true},
		{"heartbeat", func() Agent { a := base; a.HeartbeatAt = time.Unix(100, 0); return a }(), true},
		{"devices", with(`{"devices":7,"l2_population":true,"tunneling_ip":"198.18.0.1"}`), true},
		{"devices gone", with(`{"l2_population":true,"tunneling_ip":"198.18.0.1"}`), true},
		{"tunneling_ip", with(`{"devices":1,"l2_population":true,"tunneling_ip":"198.18.0.2"}`), false},
		{"l2_population and devices", with(`{"devices":2,"l2_population":false,"tunneling_ip":"198.18.0.1"}`), false},
		{"key added", with(`{"devices":1,"l2_population":true,"tunneling_ip":"198.18.0.1","x":1}`), false},
		{"not json", with(`{"devices":1`), false},
		{"admin down", func() Agent { a := base; a.AdminStateUp = !a.AdminStateUp; return a }(), false},
	} {
		if got := HeartbeatOnly(base, c.now); got != c.want {
			t.Errorf("%s: HeartbeatOnly = %v, want %v", c.name, got, c.want)
		}
	}
}
