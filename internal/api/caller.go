package api

import (
	"context"
	"net/http"
	"strings"
)

// Caller is who makes a request, as Neutron's request context knows it.
// ProjectID is empty for noauth requests that carried an X-Project-Id
// header (Neutron then falls back to an admin context with no project).
type Caller struct {
	UserID    string
	ProjectID string
	Admin     bool
}

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
func identify(strategy string, h http.Header) (c Caller, ok bool) {
	project := h.Get("X-Project-Id")
	if project == "" {
		project = h.Get("X-Tenant-Id")
	}
	if strategy == AuthKeystone {
		user := h.Get("X-User-Id")
		if user == "" {
			return Caller{}, false
		}
		admin := false
		for _, r := range strings.Split(h.Get("X-Roles"), ",") {
			if strings.EqualFold(strings.TrimSpace(r), "admin") {
				admin = true
			}
		}
		return Caller{UserID: user, ProjectID: project, Admin: admin}, true
	}
	// noauth: Neutron's NoauthFakeProjectId middleware only injects its
	// context when no project header is present; otherwise the API uses
	// an admin context without a project. X-Roles is ignored either way.
	if project != "" {
		return Caller{Admin: true}, true
	}
	return Caller{ProjectID: NoauthProjectID, Admin: true}, true
}
