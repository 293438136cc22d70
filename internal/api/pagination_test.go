package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	"neutrino/internal/api/apitest"
)

func getJSON(t *testing.T, url string, out any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}

type page struct {
	Networks []struct{ ID, Name string }
	Links    []struct{ Rel, Href string } `json:"networks_links"`
}

func (p page) link(rel string) string {
	for _, l := range p.Links {
		if l.Rel == rel {
			return l.Href
		}
	}
	return ""
}

// TestPagination walks next links to the end and previous links back, on
// the real plugin: the pages partition the id-ordered listing.
func TestPagination(t *testing.T) {
	s := stack(t, "sqlite", "", apitest.ReferenceINI)
	srv := httptest.NewServer(s.Handler)
	defer srv.Close()
	for i := 0; i < 7; i++ {
		resp, err := http.Post(srv.URL+"/v2.0/networks", "application/json", strings.NewReader(fmt.Sprintf(`{"network": {"name": "pg-%d"}}`, i)))
		if err != nil || resp.StatusCode != 201 {
			t.Fatalf("create: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	var all page
	getJSON(t, srv.URL+"/v2.0/networks", &all)
	var want []string
	for _, n := range all.Networks {
		want = append(want, n.ID)
	}
	sort.Strings(want)
	if len(want) != 7 {
		t.Fatalf("%d networks", len(want))
	}
	var got []string
	url := srv.URL + "/v2.0/networks?limit=3"
	var last page
	for pages := 0; url != ""; pages++ {
		if pages > 5 {
			t.Fatal("next links do not end")
		}
		var p page
		getJSON(t, url, &p)
		for _, n := range p.Networks {
			got = append(got, n.ID)
		}
		last = p
		url = p.link("next")
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("forward pages\n got  %v\n want %v", got, want)
	}
	if len(last.Networks) != 1 {
		t.Fatalf("last page has %d", len(last.Networks))
	}
	// Back from the last page: previous pages hold the ids before it, in order.
	var back []string
	url = last.link("previous")
	for pages := 0; url != ""; pages++ {
		if pages > 5 {
			t.Fatal("previous links do not end")
		}
		var p page
		getJSON(t, url, &p)
		ids := []string{}
		for _, n := range p.Networks {
			ids = append(ids, n.ID)
		}
		back = append(ids, back...)
		url = p.link("previous")
		if len(p.Networks) < 3 {
			break
		}
	}
	if strings.Join(back, ",") != strings.Join(want[:6], ",") {
		t.Fatalf("backward pages\n got  %v\n want %v", back, want[:6])
	}
	// neutron-tempest-plugin's _list_all_with_hrefs: one by one along the
	// next links in name order, to the empty page past the end (no next,
	// but a previous link), then back along the previous links.
	url = srv.URL + "/v2.0/networks?limit=1&sort_key=name&sort_dir=asc"
	var names []string
	for i := 0; i < 7; i++ {
		var p page
		getJSON(t, url, &p)
		if len(p.Networks) != 1 {
			t.Fatalf("page %d by name: %+v", i, p.Networks)
		}
		names = append(names, p.Networks[0].Name)
		url = p.link("next")
	}
	var end page
	getJSON(t, url, &end)
	if len(end.Networks) != 0 || end.link("next") != "" || end.link("previous") == "" {
		t.Fatalf("the page past the end: %+v", end)
	}
	url = end.link("previous")
	for i := 6; i >= 0; i-- {
		var p page
		getJSON(t, url, &p)
		if len(p.Networks) != 1 || p.Networks[0].Name != names[i] {
			t.Fatalf("walking back, page %d: %+v, want %s", i, p.Networks, names[i])
		}
		url = p.link("previous")
	}
	if strings.Join(names, ",") != "pg-0,pg-1,pg-2,pg-3,pg-4,pg-5,pg-6" {
		t.Fatalf("pages by name: %v", names)
	}
	// sort_key/sort_dir.
	var byName page
	getJSON(t, srv.URL+"/v2.0/networks?sort_key=name&sort_dir=desc&fields=name", &byName)
	if len(byName.Networks) != 7 || byName.Networks[0].Name != "pg-6" || byName.Networks[6].Name != "pg-0" {
		t.Fatalf("sorted: %+v", byName.Networks)
	}
}
