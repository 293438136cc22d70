package keystone_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"neutrino/internal/config"
	"neutrino/internal/keystone"
	"neutrino/internal/keystone/keystonetest"
)

// These tests run against the real Keystone of scripts/keystone.sh. Its
// users are made once for all of them: every Keystone call is slow on a
// loaded machine.

type fixture struct {
	ks      *keystonetest.Env
	project string              // member's and plain's project
	svc     config.PasswordAuth // role service in its own project
	member  config.PasswordAuth // roles member, reader
	plain   config.PasswordAuth // role member: a valid token without the service role
}

var (
	fixOnce sync.Once
	fix     *fixture
)

func setup(t *testing.T) *fixture {
	t.Helper()
	t.Parallel()
	fixOnce.Do(func() {
		ks := keystonetest.New(t)
		f := &fixture{ks: ks, project: ks.Project(t)}
		f.svc = ks.User(t, ks.Project(t), "service")
		f.member = ks.User(t, f.project, "member", "reader")
		f.plain = ks.User(t, f.project, "member")
		fix = f
	})
	if fix == nil {
		t.Fatal("Keystone fixture failed (see the first test's error)")
	}
	return fix
}

// seen is what the wrapped handler was given.
type seen struct{ h http.Header }

func (s *seen) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.h = r.Header.Clone()
		w.WriteHeader(http.StatusNoContent)
	})
}

func newAuth(t *testing.T, cfg config.KeystoneAuthtoken) (*keystone.Auth, *seen, http.Handler) {
	t.Helper()
	a, err := keystone.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &seen{}
	return a, s, a.Wrap(s.handler())
}

// do sends a request with headers (name, value, name, value, ...).
func do(h http.Handler, headers ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", "/v2.0/networks", nil)
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func want401(t *testing.T, w *httptest.ResponseRecorder, uri, what string) {
	t.Helper()
	if w.Code != http.StatusUnauthorized {
		t.Fatalf("%s: status %d, want 401 (%s)", what, w.Code, w.Body)
	}
	if got, want := w.Header().Get("WWW-Authenticate"), `Keystone uri="`+uri+`"`; got != want {
		t.Errorf("%s: WWW-Authenticate %q, want %q", what, got, want)
	}
	var body struct{ Error struct{ Code int } }
	if json.Unmarshal(w.Body.Bytes(), &body); body.Error.Code != 401 {
		t.Errorf("%s: body %s", what, w.Body)
	}
}

func TestValidateIdentityHeaders(t *testing.T) {
	f := setup(t)
	ks, project, member := f.ks, f.project, f.member
	_, s, h := newAuth(t, ks.Authtoken(f.svc))

	want401(t, do(h), ks.URL, "no token")
	want401(t, do(h, "X-Auth-Token", "gAAAAAnot-a-token"), ks.URL, "garbage token")
	if s.h != nil {
		t.Fatal("a rejected request reached the API")
	}

	// Forged identity headers are replaced by what Keystone says.
	tok, info := ks.Token(t, ks.Client, member)
	w := do(h, "X-Auth-Token", tok, "X-Roles", "admin", "X-Project-Id", "someone-else", "X-Tenant-Id", "x",
		"X-Is-Admin-Project", "True", "X-Service-Roles", "service", "X-Service-Identity-Status", "Confirmed")
	if w.Code != http.StatusNoContent {
		t.Fatalf("valid token: %d %s", w.Code, w.Body)
	}
	for name, want := range map[string]string{
		"X-Identity-Status": "Confirmed", "X-Project-Id": project, "X-Tenant-Id": project,
		"X-User-Id": info.UserID, "X-User-Name": member.Username, "X-User-Domain-Id": "default",
		"X-Service-Roles": "", "X-Service-Identity-Status": "",
	} {
		if got := s.h.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	roles := strings.Split(s.h.Get("X-Roles"), ",")
	if len(roles) != 2 || strings.Contains(s.h.Get("X-Roles"), "admin") {
		t.Errorf("X-Roles = %q, want member and reader only", s.h.Get("X-Roles"))
	}
}

// Service tokens as auth_token handles them, and expiry: a token is not
// accepted past its expires_at even though the cache would keep it for
// 300 s; a service token with a service role lets an expired user token
// through (allow_expired).
func TestServiceTokenAndExpiry(t *testing.T) {
	f := setup(t)
	ks := f.ks
	_, s, h := newAuth(t, ks.Authtoken(f.svc))
	cfgReq := ks.Authtoken(f.svc)
	cfgReq.ServiceTokenRolesRequired = true
	_, _, hReq := newAuth(t, cfgReq)

	user, _ := ks.Token(t, ks.Client, f.member)
	svcTok, _ := ks.Token(t, ks.Client, f.svc)
	plainTok, _ := ks.Token(t, ks.Client, f.plain)
	if w := do(h, "X-Auth-Token", user, "X-Service-Token", svcTok); w.Code != http.StatusNoContent ||
		s.h.Get("X-Service-Identity-Status") != "Confirmed" || s.h.Get("X-Service-Roles") != "service" {
		t.Fatalf("with service token: %d %v", w.Code, s.h)
	}
	want401(t, do(h, "X-Auth-Token", user, "X-Service-Token", "bogus"), ks.URL, "invalid service token")
	if w := do(h, "X-Auth-Token", user, "X-Service-Token", plainTok); w.Code != http.StatusNoContent {
		t.Fatalf("roleless service token, roles not required: %d", w.Code)
	}
	want401(t, do(hReq, "X-Auth-Token", user, "X-Service-Token", plainTok), ks.URL, "roleless service token, roles required")

	short, info := ks.Token(t, ks.Short, f.member) // from the short-lived instance
	if life := time.Until(info.ExpiresAt); life > 2*time.Minute || life <= 0 {
		t.Fatalf("short-lived Keystone issued a token valid for %s", life)
	}
	if w := do(h, "X-Auth-Token", short); w.Code != http.StatusNoContent {
		t.Fatalf("fresh short-lived token: %d %s (Keystone slower than KEYSTONE_SHORT_EXPIRATION?)", w.Code, w.Body)
	}
	time.Sleep(time.Until(info.ExpiresAt) + time.Second)
	want401(t, do(h, "X-Auth-Token", short), ks.URL, "expired token (was cached)")
	if w := do(h, "X-Auth-Token", short, "X-Service-Token", svcTok); w.Code != http.StatusNoContent || s.h.Get("X-User-Id") != info.UserID {
		t.Fatalf("expired user token with a service token: %d %s", w.Code, w.Body)
	}
	want401(t, do(h, "X-Auth-Token", short, "X-Service-Token", plainTok), ks.URL, "expired user token, service token without the role")
}

// Revocation: like keystonemiddleware, a cached token stays accepted for
// token_cache_time; with the cache off (or on a server that has not seen
// the token) a revoked token is refused at once.
func TestRevocation(t *testing.T) {
	f := setup(t)
	ks, svc, member := f.ks, f.svc, f.member
	_, _, cached := newAuth(t, ks.Authtoken(svc))
	noCache := ks.Authtoken(svc)
	noCache.TokenCacheTime = 0
	_, _, uncached := newAuth(t, noCache)

	tok, _ := ks.Token(t, ks.Client, member)
	for _, h := range []http.Handler{cached, uncached} {
		if w := do(h, "X-Auth-Token", tok); w.Code != http.StatusNoContent {
			t.Fatalf("before revocation: %d %s", w.Code, w.Body)
		}
	}
	ks.Revoke(t, tok)
	want401(t, do(uncached, "X-Auth-Token", tok), ks.URL, "revoked, no cache")
	_, _, fresh := newAuth(t, ks.Authtoken(svc))
	want401(t, do(fresh, "X-Auth-Token", tok), ks.URL, "revoked, cold cache")
	if w := do(cached, "X-Auth-Token", tok); w.Code != http.StatusNoContent {
		t.Fatalf("revoked but cached (token_cache_time semantics): %d", w.Code)
	}
}

// The service's own token is renewed when Keystone stops accepting it.
func TestServiceTokenRenewed(t *testing.T) {
	f := setup(t)
	ks, member := f.ks, f.member
	cfg := ks.Authtoken(f.svc)
	cfg.TokenCacheTime = 0
	a, err := keystone.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := ks.Token(t, ks.Client, member)
	if _, err := a.Validate(context.Background(), tok, false); err != nil {
		t.Fatal(err)
	}
	ks.Revoke(t, a.ServiceToken(t.Context()))
	if _, err := a.Validate(context.Background(), tok, false); err != nil {
		t.Fatalf("after the service token was revoked: %v", err)
	}
}

// Keystone unreachable, or refusing the service credentials: 503, and the
// request never reaches the API.
func TestUnavailable(t *testing.T) {
	f := setup(t)
	ks := f.ks
	tok, _ := ks.Token(t, ks.Client, f.member)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + l.Addr().String() + "/v3"
	l.Close()
	svc := f.svc
	wrongPassword := svc
	wrongPassword.Password = "wrong"
	gone := svc
	gone.AuthURL = down
	for name, a := range map[string]config.PasswordAuth{"keystone down": gone, "wrong service password": wrongPassword} {
		_, s, h := newAuth(t, ks.Authtoken(a))
		w := do(h, "X-Auth-Token", tok)
		if w.Code != http.StatusServiceUnavailable || s.h != nil {
			t.Errorf("%s: %d %s", name, w.Code, w.Body)
		}
		body, _ := io.ReadAll(w.Body)
		if !strings.Contains(string(body), "Keystone service is temporarily unavailable") {
			t.Errorf("%s: body %q", name, body)
		}
	}
	a, _ := keystone.New(ks.Authtoken(gone), nil)
	if _, err := a.Validate(context.Background(), tok, false); !errors.Is(err, keystone.ErrUnavailable) {
		t.Errorf("Validate with Keystone down: %v", err)
	}
}
