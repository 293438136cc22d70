package api

import (
	"context"
	"net/http"
	"strings"

	"neutrino/internal/policy"
)

// Caller is who makes a request, as Neutron's request context knows it.
// ProjectID is empty for noauth requests that carried an X-Project-Id
// header (Neutron then falls back to an admin context with no project).
type Caller struct {
	UserID    string
	ProjectID string
	Roles     []string // X-Roles (keystone); ["admin"] for noauth
	// Admin is Neutron's context.is_admin: the context_is_admin rule
	// (role:admin unless policy.yaml says otherwise).
	Admin bool
	pol   *policy.Enforcer
}

// allowed decides a policy rule for c. With Neutron 2023.1's defaults and
// no overrides it agrees with the hand-written checks of policy.go; it
// adds what an operator's policy.yaml or enforce_new_defaults change.
func (c Caller) allowed(action string, t policy.Target) bool {
	if c.pol == nil {
		return c.Admin
	}
	return c.pol.Allowed(action, policy.Creds{UserID: c.UserID, ProjectID: c.ProjectID, Roles: c.Roles}, t)
}

// has reports whether a rule named action exists.
func (c Caller) has(action string) bool { return c.pol != nil && c.pol.Has(action) }

// NoauthProjectID is the project Neutron's noauth middleware gives every
// request that carries no identity headers.
const NoauthProjectID = "fake_project_id"

// Auth strategies (auth_strategy).
const (
	AuthNoauth = "noauth"
	// AuthKeystone reads the identity headers Keystone's auth_token
	// middleware sets after validating a token (X-User-Id, X-Project-Id,
	// X-Roles). The server validates tokens itself (Options.Authenticate,
	// internal/keystone), which first removes any such header a client
	// sent; without Authenticate (API tests) the headers are trusted.
	AuthKeystone = "keystone"
)

type callerKey struct{}

// WithCaller returns ctx carrying c.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller in ctx; the zero Caller (no project, not
// admin) when there is none.
func CallerFrom(ctx context.Context) Caller {
	c, _ := ctx.Value(callerKey{}).(Caller)
	return c
}

// identify derives the caller from the request headers. ok=false means
// the request must be refused with 401 (keystone mode without X-User-Id).
func identify(strategy string, h http.Header, pol *policy.Enforcer) (c Caller, ok bool) {
	project := h.Get("X-Project-Id")
	if project == "" {
		project = h.Get("X-Tenant-Id")
	}
	if strategy == AuthKeystone {
		user := h.Get("X-User-Id")
		if user == "" {
			return Caller{}, false
		}
		var roles []string
		for _, r := range strings.Split(h.Get("X-Roles"), ",") {
			if r = strings.TrimSpace(r); r != "" {
				roles = append(roles, r)
			}
		}
		c := Caller{UserID: user, ProjectID: project, Roles: roles, pol: pol}
		c.Admin = pol.IsAdmin(policy.Creds{UserID: user, ProjectID: project, Roles: roles})
		return c, true
	}
	// noauth: Neutron's NoauthFakeProjectId middleware only injects its
	// context when no project header is present; otherwise the API uses
	// an admin context without a project. X-Roles is ignored either way.
	if project != "" {
		return Caller{Roles: []string{"admin"}, Admin: true, pol: pol}, true
	}
	return Caller{ProjectID: NoauthProjectID, Roles: []string{"admin"}, Admin: true, pol: pol}, true
}
