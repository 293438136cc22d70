// Package keystonetest gives tests the real Keystone that scripts/keystone.sh
// starts (`make test` does; URLs in NEUTRINO_TEST_KEYSTONE,
// NEUTRINO_TEST_KEYSTONE_SHORT, admin password in NEUTRINO_TEST_KEYSTONE_ADMIN),
// and creates projects and users in it. They have random names and are not
// deleted: that Keystone is thrown away with the test run, and every call
// costs (Keystone is slow on a loaded machine). A missing Keystone fails
// the test: these tests must run, not skip.
package keystonetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"neutrino/internal/config"
	"neutrino/internal/keystone"
)

// Env is the test Keystone.
type Env struct {
	URL      string           // main instance (tokens valid an hour)
	ShortURL string           // same database, short-lived tokens
	Client   *keystone.Client // on URL
	Short    *keystone.Client // on ShortURL
	admin    config.PasswordAuth

	mu         sync.Mutex
	adminToken string
	roles      map[string]string // name -> id
}

// New returns the test Keystone or fails the test.
func New(t testing.TB) *Env {
	t.Helper()
	u, s, pw := os.Getenv("NEUTRINO_TEST_KEYSTONE"), os.Getenv("NEUTRINO_TEST_KEYSTONE_SHORT"), os.Getenv("NEUTRINO_TEST_KEYSTONE_ADMIN")
	if u == "" || s == "" || pw == "" {
		t.Fatal("NEUTRINO_TEST_KEYSTONE, NEUTRINO_TEST_KEYSTONE_SHORT and NEUTRINO_TEST_KEYSTONE_ADMIN are not set: these tests need the real Keystone; run `make test` (or `eval \"$(bash scripts/keystone.sh start DIR)\"`)")
	}
	e := &Env{URL: u, ShortURL: s, admin: config.PasswordAuth{AuthURL: u, Username: "admin", Password: pw,
		UserDomainID: "default", ProjectName: "admin", ProjectDomainID: "default"}}
	var err error
	if e.Client, err = keystone.NewClient(u, 30*time.Second, 2); err != nil {
		t.Fatal(err)
	}
	if e.Short, err = keystone.NewClient(s, 30*time.Second, 2); err != nil {
		t.Fatal(err)
	}
	return e
}

// AdminToken is a token of the bootstrap admin (role admin on project admin).
func (e *Env) AdminToken(t testing.TB) string {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.adminToken == "" {
		tok, _, err := e.Client.Password(context.Background(), e.admin)
		if err != nil {
			t.Fatalf("admin token: %v", err)
		}
		e.adminToken = tok
	}
	return e.adminToken
}

// Call sends an admin request to Keystone's v3 API and decodes the answer
// into out (if not nil); any status but want fails the test.
func (e *Env) Call(t testing.TB, method, path string, body any, want int, out any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.URL+path, rd)
	req.Header.Set("X-Auth-Token", e.AdminToken(t))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("keystone %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("keystone %s %s: %s: %s", method, path, resp.Status, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("keystone %s %s: %v", method, path, err)
		}
	}
}

func (e *Env) roleID(t testing.TB, name string) string {
	t.Helper()
	e.mu.Lock()
	if e.roles == nil {
		e.mu.Unlock()
		var out struct{ Roles []struct{ ID, Name string } }
		e.Call(t, "GET", "/roles", nil, 200, &out)
		e.mu.Lock()
		e.roles = map[string]string{}
		for _, r := range out.Roles {
			e.roles[r.Name] = r.ID
		}
	}
	id, ok := e.roles[name]
	e.mu.Unlock()
	if !ok {
		var out struct{ Role struct{ ID string } }
		e.Call(t, "POST", "/roles", map[string]any{"role": map[string]any{"name": name}}, 201, &out)
		e.mu.Lock()
		e.roles[name] = out.Role.ID
		e.mu.Unlock()
		id = out.Role.ID
	}
	return id
}

// Project creates a project and returns its id.
func (e *Env) Project(t testing.TB) string {
	t.Helper()
	var out struct{ Project struct{ ID string } }
	e.Call(t, "POST", "/projects", map[string]any{"project": map[string]any{
		"name": "p-" + randHex(6), "domain_id": "default"}}, 201, &out)
	return out.Project.ID
}

// User creates a user with roles on project and returns its credentials
// for auth_url e.URL.
func (e *Env) User(t testing.TB, project string, roles ...string) config.PasswordAuth {
	t.Helper()
	name, pw := "u-"+randHex(6), randHex(12)
	var out struct{ User struct{ ID string } }
	e.Call(t, "POST", "/users", map[string]any{"user": map[string]any{
		"name": name, "password": pw, "domain_id": "default"}}, 201, &out)
	for _, r := range roles {
		e.Call(t, "PUT", fmt.Sprintf("/projects/%s/users/%s/roles/%s", project, out.User.ID, e.roleID(t, r)), nil, 204, nil)
	}
	return config.PasswordAuth{AuthURL: e.URL, Username: name, UserID: "", Password: pw,
		UserDomainName: "Default", ProjectID: project}
}

// Token gets a token for a from c (e.Client or e.Short).
func (e *Env) Token(t testing.TB, c *keystone.Client, a config.PasswordAuth) (string, keystone.Token) {
	t.Helper()
	id, tok, err := c.Password(context.Background(), a)
	if err != nil {
		t.Fatalf("token for %s: %v", a.Username, err)
	}
	return id, tok
}

// Revoke revokes token (DELETE /v3/auth/tokens as admin).
func (e *Env) Revoke(t testing.TB, token string) {
	t.Helper()
	if err := e.Client.Revoke(context.Background(), e.AdminToken(t), token); err != nil {
		t.Fatal(err)
	}
}

// Authtoken is a [keystone_authtoken] for the service user a.
func (e *Env) Authtoken(a config.PasswordAuth) config.KeystoneAuthtoken {
	return config.KeystoneAuthtoken{
		WWWAuthenticateURI: e.URL, Auth: a, ServiceTokenRoles: []string{"service"},
		TokenCacheTime: 300 * time.Second, TokenCacheSize: 1000,
		HTTPConnectTimeout: 10 * time.Second, HTTPRequestMaxRetries: 1,
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
