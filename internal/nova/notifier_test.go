package nova_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"neutrino/internal/api/apitest"
	"neutrino/internal/config"
	"neutrino/internal/keystone/keystonetest"
	"neutrino/internal/neutron"
	"neutrino/internal/nova"
)

// validateEvents checks a body against Nova's published request schema of
// POST /os-server-external-events (microversion 2.1, which neutrino
// speaks: nova/api/openstack/compute/schemas/server_external_events.py).
func validateEvents(body []byte) error {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return fmt.Errorf("not a JSON object: %w", err)
	}
	for k := range top {
		if k != "events" {
			return fmt.Errorf("additional property %q", k)
		}
	}
	var events []map[string]any
	if err := json.Unmarshal(top["events"], &events); err != nil {
		return fmt.Errorf("events: not an array of objects: %w", err)
	}
	if len(events) < 1 {
		return fmt.Errorf("events: minItems 1")
	}
	uuidRe := regexp.MustCompile(`^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$`)
	enum := func(v any, allowed ...string) bool {
		s, ok := v.(string)
		for _, a := range allowed {
			if ok && s == a {
				return true
			}
		}
		return false
	}
	for i, e := range events {
		for k, v := range e {
			switch k {
			case "name":
				if !enum(v, "network-changed", "network-vif-plugged", "network-vif-unplugged", "network-vif-deleted") {
					return fmt.Errorf("events[%d].name %v not in the enum", i, v)
				}
			case "server_uuid":
				if s, ok := v.(string); !ok || !uuidRe.MatchString(s) {
					return fmt.Errorf("events[%d].server_uuid %v is not a uuid", i, v)
				}
			case "status":
				if !enum(v, "failed", "completed", "in-progress") {
					return fmt.Errorf("events[%d].status %v not in the enum", i, v)
				}
			case "tag":
				if s, ok := v.(string); !ok || len(s) > 255 {
					return fmt.Errorf("events[%d].tag %v: a string of at most 255", i, v)
				}
			default:
				return fmt.Errorf("events[%d]: additional property %q", i, k)
			}
		}
		if e["name"] == nil || e["server_uuid"] == nil {
			return fmt.Errorf("events[%d]: name and server_uuid are required", i)
		}
	}
	return nil
}

// fakeNova answers os-server-external-events after checking the token
// with the real Keystone and the body against Nova's schema. The first
// request fails with 503, as a Nova restarting would.
type fakeNova struct {
	t     *testing.T
	ks    *keystonetest.Env
	mu    sync.Mutex
	calls int
	users map[string]bool
	got   []nova.Event
	bad   []string
}

func (f *fakeNova) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.calls++
	first := f.calls == 1
	f.mu.Unlock()
	if r.Method != "POST" || !strings.HasSuffix(r.URL.Path, "/os-server-external-events") {
		http.NotFound(w, r)
		return
	}
	if first {
		http.Error(w, "restarting", http.StatusServiceUnavailable)
		return
	}
	tok, err := f.ks.Client.Validate(r.Context(), f.ks.AdminToken(f.t), r.Header.Get("X-Auth-Token"), false)
	if err != nil {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := validateEvents(body); err != nil {
		f.bad = append(f.bad, err.Error())
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req struct{ Events []nova.Event }
	json.Unmarshal(body, &req)
	f.got = append(f.got, req.Events...)
	f.users[tok.UserID] = true
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"events": req.Events})
}

func (f *fakeNova) events() []nova.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]nova.Event(nil), f.got...)
}

// TestNotifier: an instance's port goes up, is changed, goes down and is
// deleted; Nova hears each, with a valid token and a valid body, after a
// failed first attempt.
func TestNotifier(t *testing.T) {
	ks := keystonetest.New(t)
	fn := &fakeNova{t: t, ks: ks, users: map[string]bool{}}
	srv := httptest.NewServer(fn)
	defer srv.Close()

	// Nova in the catalog, in a region of this test's own.
	region := "nova-test-" + uuid.NewString()[:8]
	ks.Call(t, "POST", "/regions", map[string]any{"region": map[string]any{"id": region}}, 201, nil)
	var svc struct{ Service struct{ ID string } }
	ks.Call(t, "POST", "/services", map[string]any{"service": map[string]any{"type": "compute", "name": "nova"}}, 201, &svc)
	ks.Call(t, "POST", "/endpoints", map[string]any{"endpoint": map[string]any{
		"service_id": svc.Service.ID, "interface": "public", "region_id": region, "url": srv.URL + "/v2.1"}}, 201, nil)
	neutronUser := ks.User(t, ks.Project(t), "service")
	neutronUser.RegionName = region

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg, err := apitest.LoadConfig(t.TempDir(), apitest.ReferenceINI)
	if err != nil {
		t.Fatal(err)
	}
	st, err := apitest.NewStack(ctx, t.TempDir(), "", cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n, err := nova.New(config.Nova{Auth: neutronUser, AuthType: "password", EndpointType: "public", Timeout: 30 * time.Second},
		nova.Options{Which: nova.Which{StatusChanges: true, DataChanges: true}, Interval: 200 * time.Millisecond,
			Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	src := &snapshotSignal{Source: st.Plugin, taken: make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx, src) }()
	defer func() { cancel(); <-done }()

	api := httptest.NewServer(st.Handler)
	defer api.Close()
	call := func(method, path, body string) map[string]any {
		t.Helper()
		req, _ := http.NewRequest(method, api.URL+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		if resp.StatusCode >= 300 {
			t.Fatalf("%s %s: %d %v", method, path, resp.StatusCode, out)
		}
		return out
	}
	netID := call("POST", "/v2.0/networks", `{"network": {"name": "n"}}`)["network"].(map[string]any)["id"].(string)
	vm := uuid.NewString()
	// The notifier has its snapshot (waited for, not slept on: under load
	// a late snapshot would already show the port ACTIVE and no event);
	// the port is new to it.
	select {
	case <-src.taken:
	case <-time.After(90 * time.Second):
		t.Fatal("the notifier took no snapshot")
	}
	portID := call("POST", "/v2.0/ports", fmt.Sprintf(`{"port": {"network_id": %q, "device_owner": "compute:nova", "device_id": %q, "binding:host_id": "node-1"}}`, netID, vm))["port"].(map[string]any)["id"].(string)
	// A port that is not an instance's is never mentioned.
	call("POST", "/v2.0/ports", fmt.Sprintf(`{"port": {"network_id": %q, "device_owner": "network:dhcp", "device_id": "dhcp-x"}}`, netID))

	wait := func(want ...nova.Event) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for time.Now().Before(deadline) {
			if got := fn.events(); len(got) >= len(want) {
				for i := range want {
					if got[i] != want[i] {
						t.Fatalf("events %+v, want %+v", got, want)
					}
				}
				if len(got) > len(want) {
					t.Fatalf("events %+v, want %+v", got, want)
				}
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("Nova heard %+v, want %+v (bad bodies: %v)", fn.events(), want, fn.bad)
	}
	plugged := nova.Event{Name: nova.VIFPlugged, ServerUUID: vm, Tag: portID, Status: "completed"}
	if _, err := st.Plugin.UpdateDevice(ctx, "node-1", portID, true); err != nil {
		t.Fatal(err)
	}
	wait(plugged)
	call("PUT", "/v2.0/ports/"+portID, `{"port": {"name": "renamed"}}`)
	changed := nova.Event{Name: nova.Changed, ServerUUID: vm, Tag: portID}
	wait(plugged, changed)
	if _, err := st.Plugin.UpdateDevice(ctx, "node-1", portID, false); err != nil {
		t.Fatal(err)
	}
	unplugged := nova.Event{Name: nova.VIFUnplugged, ServerUUID: vm, Tag: portID, Status: "completed"}
	wait(plugged, changed, unplugged)
	call("DELETE", "/v2.0/ports/"+portID, "")
	wait(plugged, changed, unplugged, nova.Event{Name: nova.VIFDeleted, ServerUUID: vm, Tag: portID})

	fn.mu.Lock()
	defer fn.mu.Unlock()
	if len(fn.bad) > 0 || fn.calls < 2 || len(fn.users) != 1 {
		t.Errorf("calls %d, bodies refused %v, token users %v", fn.calls, fn.bad, fn.users)
	}
}

// snapshotSignal is the notifier's source, closing taken once its first
// snapshot has been read.
type snapshotSignal struct {
	nova.Source
	once  sync.Once
	taken chan struct{}
}

func (s *snapshotSignal) Snapshot(ctx context.Context) (*neutron.State, error) {
	st, err := s.Source.Snapshot(ctx)
	if err == nil {
		s.once.Do(func() { close(s.taken) })
	}
	return st, err
}
