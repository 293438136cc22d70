package ml2

import (
	"reflect"
	"testing"

	"neutrino/internal/neutron"
)

func TestExtraDHCPOpts(t *testing.T) {
	v := func(s string) *string { return &s }
	cur := []neutron.ExtraDHCPOpt{{OptName: "a", OptValue: "1", IPVersion: 4}, {OptName: "a", OptValue: "6", IPVersion: 6}, {OptName: "b", OptValue: "2", IPVersion: 4}}
	got, err := extraDHCPOpts("p", cur, []neutron.ExtraDHCPOptRequest{
		{OptName: "a", OptValue: nil, IPVersion: 4},    // removes a/4, not a/6
		{OptName: "b", OptValue: v("3"), IPVersion: 4}, // replaces
		{OptName: "c", OptValue: v("4"), IPVersion: 6}, // adds
		{OptName: "d", OptValue: nil, IPVersion: 4},    // absent: nothing
	}, false)
	want := []neutron.ExtraDHCPOpt{{OptName: "a", OptValue: "6", IPVersion: 6}, {OptName: "b", OptValue: "3", IPVersion: 4}, {OptName: "c", OptValue: "4", IPVersion: 6}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("update: %v %v\nwant %v", got, err, want)
	}
	if cur[0].OptName != "a" || cur[0].IPVersion != 4 || len(cur) != 3 {
		t.Errorf("the current options were changed in place: %v", cur)
	}
	got, err = extraDHCPOpts("p", nil, []neutron.ExtraDHCPOptRequest{{OptName: "a", OptValue: v("1"), IPVersion: 4}, {OptName: "z", IPVersion: 4}}, true)
	if err != nil || !reflect.DeepEqual(got, []neutron.ExtraDHCPOpt{{OptName: "a", OptValue: "1", IPVersion: 4}}) {
		t.Errorf("create: %v %v", got, err)
	}
	if got, err := extraDHCPOpts("p", nil, nil, true); err != nil || got == nil || len(got) != 0 {
		t.Errorf("no options: %#v %v (want an empty, non-nil list)", got, err)
	}
	_, err = extraDHCPOpts("p", nil, []neutron.ExtraDHCPOptRequest{{OptName: "a", OptValue: v("1"), IPVersion: 4}, {OptName: "a", OptValue: v("2"), IPVersion: 4}}, true)
	if e, ok := neutron.AsError(err); !ok || e.Status != 409 || e.Type != "NeutronDbObjectDuplicateEntry" {
		t.Errorf("duplicate on create: %v", err)
	}
}
