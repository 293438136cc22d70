package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"neutrino/internal/sharedtest"
)

// The conformance replay: recorded exchanges with the real Neutron 2023.1
// (shared/conformance/neutron-api, copied nowhere: read in place, see
// sharedtest.Path) are sent to our server in file order. As
// responses come in, every server-chosen reference value (ids, MACs, IPs,
// timestamps, VNIs) is mapped to ours, and later paths, headers and bodies
// are rewritten through that map. Then: status equal; same keys at every
// level; same JSON types; same list lengths; equal values wherever the
// value is not server-chosen; error type equal and message equal after
// rewriting.

func conformanceDir(t testing.TB) string {
	t.Helper()
	return sharedtest.Path(t, "NEUTRINO_CONFORMANCE", "conformance/neutron-api")
}

type exchange struct {
	file           string
	Name           string            `json:"name"`
	Method         string            `json:"method"`
	Path           string            `json:"path"`
	RequestHeaders map[string]string `json:"request_headers"`
	RequestBody    json.RawMessage   `json:"request_body"`
	Status         int               `json:"status"`
	ResponseBody   json.RawMessage   `json:"response_body"`
	Note           string            `json:"note"`
}

func loadExchanges(t *testing.T, dir string) []exchange {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no recordings in %s: %v", dir, err)
	}
	sort.Strings(files)
	var out []exchange
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var x exchange
		if err := json.Unmarshal(b, &x); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		x.file = filepath.Base(f)
		out = append(out, x)
	}
	return out
}

// serverChosen are keys whose values the server picks; they are mapped,
// not compared (unless the request asked for that very value).
var serverChosen = map[string]bool{
	"id": true, "mac_address": true, "ip_address": true, "created_at": true, "updated_at": true,
	"started_at": true, "heartbeat_timestamp": true,
	"provider:segmentation_id": true, "security_groups": true, "href": true,
}

// replayer holds the reference->ours value map.
type replayer struct {
	t       *testing.T
	srv     *httptest.Server
	refBase string
	m       map[string]string // reference value -> our value (strings)
	mnum    map[string]string // reference number -> ours (as JSON text)
	order   []string          // keys of m, longest first when rewriting
}

func newReplayer(t *testing.T, h http.Handler) *replayer {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	r := &replayer{t: t, srv: srv, refBase: "http://127.0.0.1:9696", m: map[string]string{}, mnum: map[string]string{}}
	r.add(r.refBase, srv.URL)
	return r
}

func (r *replayer) add(ref, ours string) {
	if ref == "" || ref == ours {
		return
	}
	if _, ok := r.m[ref]; ok {
		return
	}
	r.m[ref] = ours
	r.order = append(r.order, ref)
	sort.Slice(r.order, func(i, j int) bool { return len(r.order[i]) > len(r.order[j]) })
}

// rewrite replaces every mapped reference value in s.
func (r *replayer) rewrite(s string) string {
	for _, k := range r.order {
		s = strings.ReplaceAll(s, k, r.m[k])
	}
	return s
}

// do sends one exchange and returns status, raw body.
func (r *replayer) do(x exchange) (int, []byte, http.Header) {
	var body io.Reader
	if len(x.RequestBody) > 0 && string(x.RequestBody) != "null" {
		var s string
		if json.Unmarshal(x.RequestBody, &s) == nil {
			body = strings.NewReader(r.rewrite(s)) // raw (possibly malformed) body
		} else {
			body = strings.NewReader(r.rewrite(string(x.RequestBody)))
		}
	}
	req, err := http.NewRequest(x.Method, r.srv.URL+r.rewrite(x.Path), body)
	if err != nil {
		r.t.Fatalf("%s: %v", x.file, err)
	}
	for k, v := range x.RequestHeaders {
		req.Header.Set(k, r.rewrite(v))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatalf("%s: %v", x.file, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

// learn walks reference and our values in parallel and maps server-chosen
// values (first sighting wins).
func (r *replayer) learn(key string, ref, ours any) {
	switch rv := ref.(type) {
	case map[string]any:
		ov, ok := ours.(map[string]any)
		if !ok {
			return
		}
		for k, v := range rv {
			if o, ok := ov[k]; ok {
				r.learn(k, v, o)
			}
		}
	case []any:
		ov, ok := ours.([]any)
		if !ok {
			return
		}
		pairs := r.pairLists(rv, ov)
		for _, p := range pairs {
			r.learn(key, p[0], p[1])
		}
	case string:
		if o, ok := ours.(string); ok && (serverChosen[key] || key == "subnets" || key == "network_id" || key == "subnet_id" || key == "port_id") {
			if key != "href" {
				r.add(rv, o)
			}
		}
	case float64:
		if o, ok := ours.(float64); ok && serverChosen[key] {
			rs, os := fmt.Sprint(rv), fmt.Sprint(o)
			if _, seen := r.mnum[rs]; !seen {
				r.mnum[rs] = os
			}
		}
	}
}

// pairLists matches list elements: objects with an id by mapped id,
// everything else by position.
func (r *replayer) pairLists(ref, ours []any) [][2]any {
	var out [][2]any
	byID := map[string]int{}
	for i, o := range ours {
		if m, ok := o.(map[string]any); ok {
			if id, ok := m["id"].(string); ok {
				byID[id] = i
			}
		}
	}
	used := map[int]bool{}
	var unmatched []any
	for _, x := range ref {
		m, ok := x.(map[string]any)
		id, hasID := m["id"].(string)
		if ok && hasID {
			if mine, ok := r.m[id]; ok {
				if i, ok := byID[mine]; ok && !used[i] {
					out = append(out, [2]any{x, ours[i]})
					used[i] = true
					continue
				}
			}
		}
		unmatched = append(unmatched, x)
	}
	i := 0
	for _, x := range unmatched {
		for i < len(ours) && used[i] {
			i++
		}
		if i < len(ours) {
			out = append(out, [2]any{x, ours[i]})
			used[i] = true
		}
	}
	return out
}

// compare returns differences between the reference (already rewritten
// through the map) and ours.
func (r *replayer) compare(path, key string, ref, ours any, reqBody string, valuesToo bool, diffs *[]string) {
	switch rv := ref.(type) {
	case map[string]any:
		ov, ok := ours.(map[string]any)
		if !ok {
			*diffs = append(*diffs, fmt.Sprintf("%s: want object, got %s", path, typeName(ours)))
			return
		}
		for k := range rv {
			if _, ok := ov[k]; !ok {
				*diffs = append(*diffs, fmt.Sprintf("%s: missing key %q", path, k))
			}
		}
		for k := range ov {
			if _, ok := rv[k]; !ok {
				*diffs = append(*diffs, fmt.Sprintf("%s: extra key %q", path, k))
			}
		}
		keys := make([]string, 0, len(rv))
		for k := range rv {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if o, ok := ov[k]; ok {
				r.compare(path+"."+k, k, rv[k], o, reqBody, valuesToo, diffs)
			}
		}
	case []any:
		ov, ok := ours.([]any)
		if !ok {
			*diffs = append(*diffs, fmt.Sprintf("%s: want list, got %s", path, typeName(ours)))
			return
		}
		if len(rv) != len(ov) {
			*diffs = append(*diffs, fmt.Sprintf("%s: want %d elements, got %d", path, len(rv), len(ov)))
		}
		for i, p := range r.pairLists(rv, ov) {
			r.compare(fmt.Sprintf("%s[%d]", path, i), key, p[0], p[1], reqBody, valuesToo, diffs)
		}
	default:
		if typeName(ref) != typeName(ours) {
			*diffs = append(*diffs, fmt.Sprintf("%s: want %s %v, got %s %v", path, typeName(ref), ref, typeName(ours), ours))
			return
		}
		chosen := serverChosen[key]
		if chosen {
			// A server-chosen value the request named must come back as is
			// (a requested VNI, MAC or IP).
			rs := fmt.Sprint(ref)
			if s, ok := ref.(string); ok {
				rs = r.rewrite(s)
			}
			if rs != "" && strings.Contains(reqBody, rs) && key != "href" && key != "id" {
				if fmt.Sprint(ours) != rs {
					*diffs = append(*diffs, fmt.Sprintf("%s: requested %v, got %v", path, rs, ours))
				}
			}
			return
		}
		if !valuesToo {
			return
		}
		want := ref
		if s, ok := ref.(string); ok {
			want = r.rewrite(s)
		}
		if fmt.Sprint(want) != fmt.Sprint(ours) && !(key == "message" && sameWords(fmt.Sprint(want), fmt.Sprint(ours))) {
			*diffs = append(*diffs, fmt.Sprintf("%s: want %v, got %v", path, want, ours))
		}
	}
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	case []any:
		return "list"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// step replays one exchange and reports differences (nil = conforming).
// exempt lists paths (as compare prints them) whose values may differ,
// each with a reason in the caller.
func (r *replayer) step(x exchange, paged bool) []string {
	status, body, hdr := r.do(x)
	var diffs []string
	if status != x.Status {
		diffs = append(diffs, fmt.Sprintf("status: want %d, got %d (body %s)", x.Status, status, truncate(body)))
		return diffs
	}
	if x.Status == http.StatusNoContent {
		if len(body) != 0 {
			diffs = append(diffs, fmt.Sprintf("204 with a body: %s", truncate(body)))
		}
		return diffs
	}
	if hdr.Get("X-Openstack-Request-Id") == "" {
		diffs = append(diffs, "no X-Openstack-Request-Id header")
	}
	var ref any
	if err := json.Unmarshal(x.ResponseBody, &ref); err != nil {
		diffs = append(diffs, fmt.Sprintf("bad recording: %v", err))
		return diffs
	}
	if s, ok := ref.(string); ok { // a non-JSON reference body (401 text)
		if strings.TrimSpace(string(body)) != strings.TrimSpace(s) {
			diffs = append(diffs, fmt.Sprintf("body: want %q, got %q", s, body))
		}
		return diffs
	}
	if ct := hdr.Get("Content-Type"); ct != "application/json" {
		diffs = append(diffs, fmt.Sprintf("Content-Type %q", ct))
	}
	var ours any
	if err := json.Unmarshal(body, &ours); err != nil {
		diffs = append(diffs, fmt.Sprintf("response is not JSON: %v: %s", err, truncate(body)))
		return diffs
	}
	if paged {
		return append(diffs, checkPage(ref, ours)...)
	}
	r.learn("", ref, ours)
	reqBody := r.rewrite(string(x.RequestBody))
	r.compare("$", "", ref, ours, reqBody, true, &diffs)
	return diffs
}

// checkPage checks a paged listing whose content depends on the order of
// server-chosen ids: every element has the reference element's keys, at
// most limit elements came back, and the links follow Neutron's rule
// for the number of elements we returned.
func checkPage(ref, ours any) []string {
	var diffs []string
	rm, om := ref.(map[string]any), ours.(map[string]any)
	for coll, rv := range rm {
		if strings.HasSuffix(coll, "_links") {
			continue
		}
		rl, _ := rv.([]any)
		ol, ok := om[coll].([]any)
		if !ok {
			return append(diffs, "missing "+coll)
		}
		if len(ol) > len(rl) {
			diffs = append(diffs, fmt.Sprintf("%s: %d elements, page size is %d", coll, len(ol), len(rl)))
		}
		if len(rl) > 0 {
			want := keysOf(rl[0].(map[string]any))
			for i, e := range ol {
				if got := keysOf(e.(map[string]any)); strings.Join(got, ",") != strings.Join(want, ",") {
					diffs = append(diffs, fmt.Sprintf("%s[%d]: keys %v, want %v", coll, i, got, want))
				}
			}
		}
		links, _ := om[coll+"_links"].([]any)
		if len(ol) > 0 && len(links) == 0 {
			diffs = append(diffs, "a non-empty page without "+coll+"_links")
		}
		// A link names the page's first or last item as its marker; an
		// empty page's links name none (Neutron's get_next_link and
		// get_previous_link).
		for _, l := range links {
			lm, _ := l.(map[string]any)
			if h, _ := lm["href"].(string); !strings.Contains(h, "limit=") || strings.Contains(h, "marker=") != (len(ol) > 0) {
				diffs = append(diffs, fmt.Sprintf("bad link %v", lm))
			}
		}
	}
	return diffs
}

func keysOf(m map[string]any) []string {
	var k []string
	for x := range m {
		k = append(k, x)
	}
	sort.Strings(k)
	return k
}

func truncate(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + "..."
	}
	return string(b)
}

// post sends a synthetic request (recreating state a missing recording
// made) and maps refID to the id of what it created.
func (r *replayer) post(path, body, refID string, hdr map[string]string) map[string]any {
	r.t.Helper()
	req, _ := http.NewRequest("POST", r.srv.URL+path, bytes.NewReader([]byte(r.rewrite(body))))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		r.t.Fatalf("prelude POST %s %s: %d %s", path, body, resp.StatusCode, b)
	}
	var out map[string]map[string]any
	json.Unmarshal(b, &out)
	for _, v := range out {
		if refID != "" {
			r.add(refID, v["id"].(string))
		}
		return v
	}
	return nil
}

// replayFolder replays exchanges; before[file] runs first (recreating
// what a recording that is not in the folder did).
func replayFolder(t *testing.T, r *replayer, xs []exchange, before map[string]func(), skipValues map[string]string) {
	failed := 0
	for _, x := range xs {
		if f := before[x.file]; f != nil {
			f()
		}
		_, paged := skipValues[x.file]
		diffs := r.step(x, paged)
		if len(diffs) > 0 {
			failed++
			t.Errorf("%s (%s %s):\n  %s", x.file, x.Method, x.Path, strings.Join(diffs, "\n  "))
		}
	}
	t.Logf("replayed %d exchanges, %d differ", len(xs), failed)
}

// sameWords: a fault message naming several ids (NetworkInUse lists the
// ports) says the same thing in any order of the ids.
func sameWords(a, b string) bool {
	split := func(s string) []string {
		w := strings.FieldsFunc(strings.TrimSuffix(s, "."), func(r rune) bool { return r == ',' || r == ' ' })
		sort.Strings(w)
		return w
	}
	return strings.Join(split(a), " ") == strings.Join(split(b), " ")
}
