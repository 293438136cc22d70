package api

import (
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"neutrino/internal/neutron"
)

// listRequest is a parsed collection GET.
type listRequest struct {
	q      neutron.ListQuery
	fields []string
}

var pagingParams = map[string]bool{"fields": true, "sort_key": true, "sort_dir": true, "limit": true, "marker": true, "page_reverse": true}

// parseList validates a collection query string: filter names must be
// attributes of the resource (filter-validation), sort_key/sort_dir come
// in pairs, limit is a non-negative integer.
func parseList(res *resource, v url.Values) (*listRequest, *neutron.Error) {
	lr := &listRequest{q: neutron.ListQuery{Filters: map[string][]string{}}}
	// In key order: with two bad filters, the fault names the same one
	// every time (url.Values has lost the query's own order, which
	// Neutron's would follow).
	for _, k := range slices.Sorted(maps.Keys(v)) {
		vals := v[k]
		if pagingParams[k] {
			continue
		}
		a, isAttr := res.byName[k]
		if !isAttr && !contains(res.extraFilters, k) {
			return nil, neutron.BadRequest("%s is invalid attribute for filtering", k)
		}
		out := make([]string, 0, len(vals))
		for _, s := range vals {
			if isAttr && a.boolean {
				b, e := convBool(k, s)
				if e != nil {
					return nil, e
				}
				s = strconv.FormatBool(b.(bool))
			}
			if !isAttr { // tag filters take comma-separated lists
				out = append(out, strings.Split(s, ",")...)
				continue
			}
			out = append(out, s)
		}
		if k == "tenant_id" {
			k = "project_id"
		}
		lr.q.Filters[k] = append(lr.q.Filters[k], out...)
	}
	lr.fields = fieldsOf(v)
	// Neutron (api_common.get_sorts) requires one sort_dir per sort_key:
	// a sort_key alone is a 400, not an ascending sort.
	keys, dirs := v["sort_key"], v["sort_dir"]
	if len(keys) != len(dirs) {
		return nil, neutron.BadRequest("The number of sort_keys and sort_dirs must be same")
	}
	for i, k := range keys {
		if _, ok := res.byName[k]; !ok {
			return nil, neutron.BadRequest("%s is invalid attribute for sort_keys", k)
		}
		desc := false
		switch dirs[i] {
		case "asc":
		case "desc":
			desc = true
		default:
			return nil, neutron.BadRequest("%s is invalid value for sort_dir, valid value is 'asc' and 'desc'", dirs[i])
		}
		if k == "tenant_id" {
			k = "project_id"
		}
		lr.q.Sort = append(lr.q.Sort, neutron.SortKey{Key: k, Desc: desc})
	}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 {
			return nil, neutron.BadRequest("Limit must be an integer 0 or greater and not '%s'", l)
		}
		lr.q.Limit = n
	}
	lr.q.Marker = v.Get("marker")
	if pr := v.Get("page_reverse"); pr != "" {
		b, e := convBool("page_reverse", pr)
		if e != nil {
			return nil, e
		}
		lr.q.PageReverse = b.(bool)
	}
	return lr, nil
}

// pageLinks builds <collection>_links as Neutron does
// (api_common.get_pagination_links): "next" unless a forward page came
// back short, "previous" unless a reverse page did. A link keeps the
// caller's other parameters (limit, filters, sorting, fields) in their
// order, then names the page's last item ("next") or first item
// ("previous") as the marker. A link from an empty page names no marker:
// "previous" after the last page reads the listing's end backwards, which
// is how clients walk back from there (neutron-tempest-plugin's
// _list_all_with_hrefs).
func pageLinks(r *http.Request, q neutron.ListQuery, ids []string) []map[string]string {
	if q.Limit == 0 {
		return nil
	}
	var rest []string
	for _, kv := range strings.Split(r.URL.RawQuery, "&") {
		if k, _, _ := strings.Cut(kv, "="); kv != "" && k != "marker" && k != "page_reverse" {
			rest = append(rest, kv)
		}
	}
	// link names ids[marker] as the marker (none on an empty page).
	link := func(rel string, marker int) map[string]string {
		parts := slices.Clone(rest)
		if len(ids) > 0 {
			parts = append(parts, "marker="+url.QueryEscape(ids[marker]))
		}
		if rel == "previous" {
			parts = append(parts, "page_reverse=True")
		}
		return map[string]string{"rel": rel, "href": "http://" + r.Host + r.URL.Path + "?" + strings.Join(parts, "&")}
	}
	var links []map[string]string
	short := len(ids) < q.Limit
	if !(short && !q.PageReverse) {
		links = append(links, link("next", len(ids)-1))
	}
	if !(short && q.PageReverse) {
		links = append(links, link("previous", 0))
	}
	return links
}
