// Package keystone talks to OpenStack's identity service: it obtains a
// service token with a password (keystoneauth's "password" plugin) and
// validates users' tokens as keystonemiddleware's auth_token does for
// Neutron, with an in-process cache, as an http.Handler wrapper.
package keystone

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"neutrino/internal/config"
)

// ErrInvalidToken: Keystone does not know the token, or it expired or was
// revoked (a 401 for the caller).
var ErrInvalidToken = errors.New("invalid token")

// ErrUnavailable: Keystone could not answer, or refused our own
// credentials (a 503 for the caller: never let a request through).
var ErrUnavailable = errors.New("identity service unavailable")

// Token is what a validated token says about its bearer.
type Token struct {
	ExpiresAt         time.Time
	UserID            string
	UserName          string
	UserDomainID      string
	UserDomainName    string
	ProjectID         string // "" unless project scoped
	ProjectName       string
	ProjectDomainID   string
	ProjectDomainName string
	DomainID          string // domain-scoped tokens
	DomainName        string
	System            bool // system-scoped ("system": {"all": true})
	Roles             []string
	IsAdminProject    bool
	Catalog           []Service // only for tokens issued by Password
}

// Service is one entry of a token's service catalog.
type Service struct {
	Type      string `json:"type"`
	Endpoints []struct {
		Interface string `json:"interface"`
		RegionID  string `json:"region_id"`
		URL       string `json:"url"`
	} `json:"endpoints"`
}

// Endpoint finds the URL of a service in the catalog ("" if none):
// serviceType, interface (public, internal, admin; "" = public) and
// region ("" = any).
func (t *Token) Endpoint(serviceType, iface, region string) string {
	if iface == "" {
		iface = "public"
	}
	iface = strings.TrimSuffix(iface, "URL") // Neutron's old publicURL spelling
	for _, s := range t.Catalog {
		if s.Type != serviceType {
			continue
		}
		for _, e := range s.Endpoints {
			if e.Interface == iface && (region == "" || e.RegionID == region) {
				return e.URL
			}
		}
	}
	return ""
}

// HasRole reports whether the token carries one of roles (case-insensitive,
// as oslo.policy compares role names).
func (t *Token) HasRole(roles ...string) bool {
	for _, have := range t.Roles {
		for _, r := range roles {
			if strings.EqualFold(have, r) {
				return true
			}
		}
	}
	return false
}

// wireToken is the "token" object of Keystone's v3 token API.
type wireToken struct {
	ExpiresAt time.Time `json:"expires_at"`
	User      struct {
		ID     string     `json:"id"`
		Name   string     `json:"name"`
		Domain wireDomain `json:"domain"`
	} `json:"user"`
	Project *struct {
		ID     string     `json:"id"`
		Name   string     `json:"name"`
		Domain wireDomain `json:"domain"`
	} `json:"project"`
	Domain  *wireDomain             `json:"domain"`
	System  map[string]any          `json:"system"`
	Roles   []struct{ Name string } `json:"roles"`
	Catalog []Service               `json:"catalog"`
	// IsAdminProject is absent unless Keystone's admin_project is set;
	// keystoneauth then reads it as true.
	IsAdminProject *bool `json:"is_admin_project"`
}

type wireDomain struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

func (w *wireToken) token() Token {
	t := Token{
		ExpiresAt: w.ExpiresAt, UserID: w.User.ID, UserName: w.User.Name,
		UserDomainID: w.User.Domain.ID, UserDomainName: w.User.Domain.Name,
		IsAdminProject: w.IsAdminProject == nil || *w.IsAdminProject,
		Catalog:        w.Catalog,
	}
	if w.Project != nil {
		t.ProjectID, t.ProjectName = w.Project.ID, w.Project.Name
		t.ProjectDomainID, t.ProjectDomainName = w.Project.Domain.ID, w.Project.Domain.Name
	}
	if w.Domain != nil {
		t.DomainID, t.DomainName = w.Domain.ID, w.Domain.Name
	}
	if all, ok := w.System["all"].(bool); ok && all {
		t.System = true
	}
	for _, r := range w.Roles {
		t.Roles = append(t.Roles, r.Name)
	}
	return t
}

// Client calls Keystone's v3 API.
type Client struct {
	base    string // ".../v3"
	http    *http.Client
	retries int // extra attempts when Keystone cannot be reached
}

// requestTimeout bounds one request to Keystone, connection included; a
// loaded Keystone can take many seconds to answer.
const requestTimeout = 60 * time.Second

// NewClient returns a client for the identity endpoint authURL (with or
// without the /v3 suffix). connectTimeout bounds establishing a connection
// (http_connect_timeout).
func NewClient(authURL string, connectTimeout time.Duration, retries int) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(authURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("keystone: auth_url %q is not an http(s) URL", authURL)
	}
	base := u.String()
	if !strings.HasSuffix(base, "/v3") {
		base += "/v3"
	}
	if connectTimeout <= 0 {
		connectTimeout = 10 * time.Second
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: connectTimeout, KeepAlive: 30 * time.Second}).DialContext
	return &Client{base: base, http: &http.Client{Timeout: requestTimeout, Transport: tr}, retries: retries}, nil
}

// Password authenticates with a password and returns the token and its
// contents with the service catalog (POST /v3/auth/tokens, scoped to the
// project a names).
func (c *Client) Password(ctx context.Context, a config.PasswordAuth) (string, Token, error) {
	user := map[string]any{"password": a.Password}
	if a.UserID != "" {
		user["id"] = a.UserID
	} else {
		user["name"] = a.Username
		user["domain"] = domainRef(a.UserDomainID, a.UserDomainName)
	}
	project := map[string]any{}
	if a.ProjectID != "" {
		project["id"] = a.ProjectID
	} else {
		project["name"] = a.ProjectName
		project["domain"] = domainRef(a.ProjectDomainID, a.ProjectDomainName)
	}
	body, _ := json.Marshal(map[string]any{"auth": map[string]any{
		"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{"user": user}},
		"scope":    map[string]any{"project": project},
	}})
	resp, data, err := c.do(ctx, http.MethodPost, "/auth/tokens", nil, body)
	if err != nil {
		return "", Token{}, err
	}
	if resp.StatusCode != http.StatusCreated {
		// Wrong service credentials make every request fail: the operator's
		// problem, reported as unavailability rather than the caller's 401.
		return "", Token{}, fmt.Errorf("%w: service authentication as %q: %s", ErrUnavailable, a.Username+a.UserID, status(resp, data))
	}
	tok, err := decodeToken(data)
	if err != nil {
		return "", Token{}, err
	}
	id := resp.Header.Get("X-Subject-Token")
	if id == "" {
		return "", Token{}, fmt.Errorf("%w: Keystone issued a token without X-Subject-Token", ErrUnavailable)
	}
	return id, tok, nil
}

func domainRef(id, name string) map[string]any {
	if id != "" {
		return map[string]any{"id": id}
	}
	return map[string]any{"name": name}
}

// ErrTokenRefused: a service (Keystone, Nova) refused our service token
// (expired or revoked); Session.Do gets a new one and asks again.
var ErrTokenRefused = errors.New("service token refused")

// Validate asks Keystone about subject (GET /v3/auth/tokens) with the
// service token. allowExpired asks Keystone to answer for a token that
// expired recently (service-token requests, as auth_token does).
func (c *Client) Validate(ctx context.Context, serviceToken, subject string, allowExpired bool) (Token, error) {
	path := "/auth/tokens?nocatalog"
	if allowExpired {
		path += "&allow_expired=1"
	}
	h := http.Header{"X-Auth-Token": {serviceToken}, "X-Subject-Token": {subject}}
	resp, data, err := c.do(ctx, http.MethodGet, path, h, nil)
	if err != nil {
		return Token{}, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return decodeToken(data)
	case http.StatusNotFound:
		return Token{}, ErrInvalidToken
	case http.StatusUnauthorized:
		return Token{}, ErrTokenRefused
	}
	return Token{}, fmt.Errorf("%w: token validation: %s", ErrUnavailable, status(resp, data))
}

// Revoke revokes subject (DELETE /v3/auth/tokens) with authToken.
func (c *Client) Revoke(ctx context.Context, authToken, subject string) error {
	h := http.Header{"X-Auth-Token": {authToken}, "X-Subject-Token": {subject}}
	resp, data, err := c.do(ctx, http.MethodDelete, "/auth/tokens", h, nil)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("keystone: revoke: %s", status(resp, data))
	}
	return nil
}

func decodeToken(data []byte) (Token, error) {
	var body struct {
		Token *wireToken `json:"token"`
	}
	if err := json.Unmarshal(data, &body); err != nil || body.Token == nil || body.Token.ExpiresAt.IsZero() {
		return Token{}, fmt.Errorf("%w: unreadable token body from Keystone (%v)", ErrUnavailable, err)
	}
	return body.Token.token(), nil
}

// do sends one request, trying again when Keystone cannot be reached (not
// when it answers). Transport failures wrap ErrUnavailable.
func (c *Client) do(ctx context.Context, method, path string, h http.Header, body []byte) (*http.Response, []byte, error) {
	var last error
	for attempt := 0; attempt <= c.retries; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return nil, nil, fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
			case <-time.After(time.Duration(100<<(attempt-1)) * time.Millisecond):
			}
		}
		req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
		if err != nil {
			return nil, nil, err
		}
		for k, v := range h {
			req.Header[k] = v
		}
		req.Header.Set("Accept", "application/json")
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := c.http.Do(req)
		if err != nil {
			last = err
			continue
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		resp.Body.Close()
		if err != nil {
			last = err
			continue
		}
		return resp, data, nil
	}
	return nil, nil, fmt.Errorf("%w: %s %s: %w", ErrUnavailable, method, c.base+path, last)
}

func status(resp *http.Response, data []byte) string {
	s := strings.TrimSpace(string(data))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return fmt.Sprintf("%s: %s", resp.Status, s)
}
