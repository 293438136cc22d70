package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeNeutron is a minimal in-memory stand-in for the v2.0 API, enough to
// drive the workload's control flow in a unit test.
type fakeNeutron struct {
	mu      sync.Mutex
	nets    map[string]string // id -> name
	ports   map[string]string // id -> network
	noBulk  bool
	n       int
	posts   int
	agentUp bool
}

func (f *fakeNeutron) id() string {
	f.n++
	return fmt.Sprintf("id-%08d-0000-0000-0000-000000000000", f.n)
}

func (f *fakeNeutron) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	var in map[string]json.RawMessage
	_ = json.Unmarshal(body, &in)
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == "POST" && r.URL.Path == "/v2.0/networks":
		var n struct{ Name string }
		_ = json.Unmarshal(in["network"], &n)
		id := f.id()
		f.nets[id] = n.Name
		w.WriteHeader(201)
		fmt.Fprintf(w, `{"network":{"id":%q}}`, id)
	case r.Method == "POST" && r.URL.Path == "/v2.0/subnets":
		w.WriteHeader(201)
		fmt.Fprintf(w, `{"subnet":{"id":%q}}`, f.id())
	case r.Method == "POST" && r.URL.Path == "/v2.0/ports":
		f.posts++
		if raw, ok := in["ports"]; ok {
			if f.noBulk {
				w.WriteHeader(400)
				fmt.Fprint(w, `{"NeutronError":{"type":"HTTPBadRequest","message":"bulk","detail":""}}`)
				return
			}
			var ps []struct {
				NetworkID string `json:"network_id"`
			}
			_ = json.Unmarshal(raw, &ps)
			var out []string
			for _, p := range ps {
				id := f.id()
				f.ports[id] = p.NetworkID
				out = append(out, fmt.Sprintf(`{"id":%q}`, id))
			}
			w.WriteHeader(201)
			fmt.Fprintf(w, `{"ports":[%s]}`, strings.Join(out, ","))
			return
		}
		var p struct {
			NetworkID string `json:"network_id"`
		}
		_ = json.Unmarshal(in["port"], &p)
		id := f.id()
		f.ports[id] = p.NetworkID
		w.WriteHeader(201)
		fmt.Fprintf(w, `{"port":{"id":%q,"mac_address":"fa:16:3e:00:00:01","status":"DOWN"}}`, id)
	case r.Method == "GET" && r.URL.Path == "/v2.0/ports":
		var out []string
		for id, n := range f.ports {
			if n == r.URL.Query().Get("network_id") {
				out = append(out, fmt.Sprintf(`{"id":%q}`, id))
			}
		}
		fmt.Fprintf(w, `{"ports":[%s]}`, strings.Join(out, ","))
	case r.Method == "GET" && r.URL.Path == "/v2.0/networks":
		var out []string
		for id, n := range f.nets {
			if n == r.URL.Query().Get("name") {
				out = append(out, fmt.Sprintf(`{"id":%q}`, id))
			}
		}
		fmt.Fprintf(w, `{"networks":[%s]}`, strings.Join(out, ","))
	case r.Method == "GET" && r.URL.Path == "/v2.0/agents":
		fmt.Fprintf(w, `{"agents":[{"host":"node-a","alive":%v}]}`, f.agentUp)
	default:
		w.WriteHeader(404)
		fmt.Fprint(w, `{"NeutronError":{"type":"HTTPNotFound","message":"nope","detail":""}}`)
	}
}

func newFake(noBulk, agentUp bool) (*fakeNeutron, *httptest.Server) {
	f := &fakeNeutron{nets: map[string]string{}, ports: map[string]string{}, noBulk: noBulk, agentUp: agentUp}
	return f, httptest.NewServer(f)
}

func testWorkload(bind string) Workload {
	return Workload{
		Settings: Settings{Concurrency: []int{1, 4}, NetSubPairs: 3, ListSizes: []int{250}, ListRepeats: 2, BindHost: bind},
		Dur:      50 * time.Millisecond, MaxOps: 20, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

func TestTimedLoadCapsAndCounts(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	p := timedLoad(context.Background(), 4, time.Hour, 10, func(context.Context, int) error {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls%5 == 0 {
			return fmt.Errorf("fail %d", calls)
		}
		return nil
	})
	if calls != 10 || p.OK != 8 || p.Errors != 2 || !strings.HasPrefix(p.FirstError, "fail") || p.Concurrency != 4 {
		t.Errorf("calls=%d result=%+v", calls, p)
	}
}

func TestRunAndLists(t *testing.T) {
	for _, tt := range []struct {
		name    string
		noBulk  bool
		agentUp bool
		method  string
	}{
		{"bulk", false, true, "bulk POSTs"},
		{"no bulk", true, false, "single POSTs from 32 clients"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newFake(tt.noBulk, tt.agentUp)
			defer srv.Close()
			w, c, ctx := testWorkload("node-a"), NewClient(srv.URL), context.Background()
			how, err := w.ListFixture(ctx, c)
			if err != nil || !strings.Contains(how, tt.method) {
				t.Fatalf("ListFixture = %q, %v; want method %q", how, err, tt.method)
			}
			rr, err := w.Run(ctx, c, 1)
			if err != nil {
				t.Fatal(err)
			}
			if rr.NetSub.OK != 3 || len(rr.Create) != 2 || rr.Create[0].OK == 0 || rr.Create[1].Concurrency != 4 {
				t.Errorf("run = %+v", rr)
			}
			bound, note, err := w.Bound(ctx, c, 1)
			if err != nil {
				t.Fatal(err)
			}
			if tt.agentUp && (bound == nil || bound.OK == 0 || note != "") {
				t.Errorf("bound creates missing with a live agent: %+v %q", bound, note)
			}
			if !tt.agentUp && (bound != nil || !strings.Contains(note, "no live agent")) {
				t.Errorf("bound creates without a live agent: %+v note %q", bound, note)
			}
			lists, err := w.Lists(ctx, c)
			if err != nil || len(lists) != 1 || lists[0].Listed != 250 || len(lists[0].SamplesS) != 2 {
				t.Errorf("lists = %+v, %v", lists, err)
			}
			// A second fixture pass finds the network and creates nothing.
			before := f.posts
			if _, err := w.ListFixture(ctx, c); err != nil || f.posts != before {
				t.Errorf("fixture reuse: err %v, posts %d -> %d", err, before, f.posts)
			}
		})
	}
}
