package api

import (
	"net/url"
	"testing"
)

// Two bad keys in one request: the fault names the same one every time
// (the first in key order), not whichever Go's map order gives first.
// Repeated because one lucky iteration proves nothing.
func TestFaultNamesFirstBadKey(t *testing.T) {
	res := networks(attrOptions{}).resource()
	for i := 0; i < 50; i++ {
		v, _ := url.ParseQuery("zzz=1&name=n&aaa=2&mmm=3")
		if _, e := parseList(res, v); e == nil || e.Message != "aaa is invalid attribute for filtering" {
			t.Fatalf("filters: %v", e)
		}
		d := map[string]any{"network_id": "x", "zeta": 1, "alpha": 2, "mu": 3}
		_, e := asDict("external_gateway_info", d, "network_id")
		if e == nil || e.Message != "Invalid input for external_gateway_info. Reason: Unrecognized key 'alpha' in "+pyRepr(d)+"." {
			t.Fatalf("dict keys: %v", e)
		}
	}
}
