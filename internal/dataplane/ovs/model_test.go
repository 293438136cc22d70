package ovs

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/ovn-kubernetes/libovsdb/model"
)

// TestModelsCloneLikeLibovsdb checks the hand-written copies against
// libovsdb's own (a JSON round trip) and that they share nothing with the
// original: the monitor cache relies on both.
func TestModelsCloneLikeLibovsdb(t *testing.T) {
	s, n, one := "secure", 7, "up"
	rows := []model.Model{
		&ovsRoot{UUID: "r", Bridges: []string{"b1", "b2"}, ExternalIDs: map[string]string{"system-id": "n1"}},
		&bridge{UUID: "b", Name: "br-int", Ports: []string{"p1"}, FailMode: &s, DatapathType: "netdev",
			Protocols: []string{"OpenFlow13"}, ExternalIDs: map[string]string{}, OtherConfig: map[string]string{"a": "b"}},
		&port{UUID: "p", Name: "tap1", Interfaces: []string{"i1"}, Tag: &n, OtherConfig: map[string]string{"tag": "7"}},
		&iface{UUID: "i", Name: "tap1", Type: "dummy", ExternalIDs: map[string]string{"iface-id": "x"}, Ofport: &n, AdminState: &one},
		&controller{UUID: "c", Target: "tcp:127.0.0.1:6633", IsConnected: true},
		&port{UUID: "empty"},
	}
	for _, m := range rows {
		want := reflect.New(reflect.TypeOf(m).Elem()).Interface()
		b, _ := json.Marshal(m)
		if err := json.Unmarshal(b, want); err != nil {
			t.Fatal(err)
		}
		got := model.Clone(m)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("clone of %T:\n got %+v\nwant %+v", m, got, want)
		}
		into := reflect.New(reflect.TypeOf(m).Elem()).Interface()
		model.CloneInto(m, into)
		if !reflect.DeepEqual(into, want) {
			t.Errorf("clone into %T:\n got %+v\nwant %+v", m, into, want)
		}
	}
	// Deep: changing the copy leaves the original alone.
	p := rows[2].(*port)
	c := model.Clone(p).(*port)
	c.Interfaces[0], c.OtherConfig["tag"] = "other", "9"
	*c.Tag = 9
	if p.Interfaces[0] != "i1" || p.OtherConfig["tag"] != "7" || *p.Tag != 7 {
		t.Errorf("the copy shares state with the original: %+v", p)
	}
}
