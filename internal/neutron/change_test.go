package neutron

import (
	"strings"
	"testing"
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
