package keystone

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"neutrino/internal/config"
)

// Auth validates the tokens of API requests against Keystone, as
// keystonemiddleware's auth_token does in Neutron's paste pipeline:
//
//   - every identity header a client sent (X-Roles, X-Project-Id, ...) is
//     removed first, so only what Keystone vouched for reaches the API;
//   - X-Auth-Token (or X-Storage-Token) must be a valid, unexpired token,
//     else 401 with WWW-Authenticate: Keystone uri="www_authenticate_uri";
//   - when Keystone cannot be asked (down, or refusing our own service
//     credentials), 503: a request is never let through unvalidated;
//   - an X-Service-Token is validated too. With one of service_token_roles
//     it lets the user token be recently expired (allow_expired, for long
//     operations between services); an invalid one, or one without the role
//     when service_token_roles_required, is a 401;
//   - valid tokens are cached in process for token_cache_time, never past
//     their expires_at. A token revoked in Keystone is therefore still
//     accepted from the cache for at most token_cache_time after it was
//     first validated, exactly as with keystonemiddleware (which has no
//     revocation check for cached tokens since Pike); token_cache_time = 0
//     (or -1) asks Keystone on every request and sees revocations at once.
//
// On success the request carries the headers auth_token sets (X-User-Id,
// X-Project-Id, X-Roles, X-Identity-Status: Confirmed, ...), which the API
// turns into its caller.
type Auth struct {
	session              *Session
	cache                *cache
	uri                  string
	serviceRoles         []string
	serviceRolesRequired bool
	log                  *slog.Logger
	now                  func() time.Time
	warnRoles            sync.Once
}

// New builds the validator from [keystone_authtoken]. It does not contact
// Keystone until the first request.
func New(cfg config.KeystoneAuthtoken, log *slog.Logger) (*Auth, error) {
	if cfg.Err != nil {
		return nil, fmt.Errorf("[keystone_authtoken]: %w", cfg.Err)
	}
	c, err := NewClient(cfg.Auth.AuthURL, cfg.HTTPConnectTimeout, cfg.HTTPRequestMaxRetries)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	uri := cfg.WWWAuthenticateURI
	if uri == "" {
		uri = cfg.Auth.AuthURL
	}
	if !cfg.ServiceTokenRolesRequired {
		log.Warn("[keystone_authtoken] service_token_roles_required = false: any valid token is accepted as X-Service-Token (2023.1's default); set it to true")
	}
	a := &Auth{
		session: NewSession(c, cfg.Auth), uri: uri, log: log, now: time.Now,
		serviceRoles: cfg.ServiceTokenRoles, serviceRolesRequired: cfg.ServiceTokenRolesRequired,
	}
	a.cache = newCache(cfg.TokenCacheTime, cfg.TokenCacheSize, func() time.Time { return a.now() })
	return a, nil
}

// Validate returns what token says, from the cache or from Keystone.
// Errors wrap ErrInvalidToken or ErrUnavailable.
func (a *Auth) Validate(ctx context.Context, token string, allowExpired bool) (Token, error) {
	token = strings.TrimSpace(token)
	if token == "" {
		return Token{}, ErrInvalidToken
	}
	if tok, ok := a.cache.get(token); ok {
		return tok, nil
	}
	var tok Token
	err := a.session.Do(ctx, func(service string) error {
		var err error
		tok, err = a.session.Client().Validate(ctx, service, token, allowExpired)
		return err
	})
	if err != nil {
		return Token{}, err
	}
	// Keystone does not answer for expired tokens unless allowExpired, but
	// clocks differ: an expired token is refused here too.
	if !allowExpired && !a.now().Before(tok.ExpiresAt) {
		return Token{}, fmt.Errorf("%w: expired at %s", ErrInvalidToken, tok.ExpiresAt.Format(time.RFC3339))
	}
	a.cache.put(token, tok)
	return tok, nil
}

// Wrap puts token validation in front of next.
func (a *Auth) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = r.Clone(r.Context())
		userToken := r.Header.Get("X-Auth-Token")
		if userToken == "" {
			userToken = r.Header.Get("X-Storage-Token")
		}
		serviceToken := r.Header.Get("X-Service-Token")
		removeAuthHeaders(r.Header)

		var service *Token
		serviceValid, allowExpired := true, false
		if serviceToken != "" {
			tok, err := a.Validate(r.Context(), serviceToken, false)
			switch {
			case errors.Is(err, ErrInvalidToken):
				a.log.Info("invalid service token", "err", err)
				serviceValid = false
			case err != nil:
				a.unavailable(w, err)
				return
			default:
				hasRole := tok.HasRole(a.serviceRoles...)
				if !hasRole && !a.serviceRolesRequired {
					a.warnRoles.Do(func() {
						a.log.Warn("a valid token without any of service_token_roles was accepted as X-Service-Token (service_token_roles_required = false)",
							"service_token_roles", a.serviceRoles)
					})
				}
				serviceValid = hasRole || !a.serviceRolesRequired
				allowExpired = hasRole
				service = &tok
			}
		}
		if userToken == "" {
			a.reject(w, "no X-Auth-Token")
			return
		}
		user, err := a.Validate(r.Context(), userToken, allowExpired)
		switch {
		case errors.Is(err, ErrInvalidToken):
			a.reject(w, err.Error())
			return
		case err != nil:
			a.unavailable(w, err)
			return
		}
		if !serviceValid {
			a.reject(w, "invalid service token")
			return
		}
		r.Header.Set("X-Identity-Status", "Confirmed")
		setIdentityHeaders(r.Header, "", &user)
		r.Header.Set("X-Is-Admin-Project", pyBool(user.IsAdminProject))
		if user.System {
			r.Header.Set("Openstack-System-Scope", "all")
		}
		for old, cur := range deprecatedHeaders {
			if v := r.Header.Get(cur); v != "" {
				r.Header.Set(old, v)
			}
		}
		if service != nil && serviceValid {
			r.Header.Set("X-Service-Identity-Status", "Confirmed")
			setIdentityHeaders(r.Header, "-Service", service)
		}
		next.ServeHTTP(w, r)
	})
}

// identityHeaders are auth_token's per-identity headers ("X%s-User-Id"
// with "" for the user, "-Service" for the service token), by token field.
var identityHeaders = []struct {
	name string
	val  func(*Token) string
}{
	{"X%s-Domain-Id", func(t *Token) string { return t.DomainID }},
	{"X%s-Domain-Name", func(t *Token) string { return t.DomainName }},
	{"X%s-Project-Id", func(t *Token) string { return t.ProjectID }},
	{"X%s-Project-Name", func(t *Token) string { return t.ProjectName }},
	{"X%s-Project-Domain-Id", func(t *Token) string { return t.ProjectDomainID }},
	{"X%s-Project-Domain-Name", func(t *Token) string { return t.ProjectDomainName }},
	{"X%s-User-Id", func(t *Token) string { return t.UserID }},
	{"X%s-User-Name", func(t *Token) string { return t.UserName }},
	{"X%s-User-Domain-Id", func(t *Token) string { return t.UserDomainID }},
	{"X%s-User-Domain-Name", func(t *Token) string { return t.UserDomainName }},
	{"X%s-Roles", func(t *Token) string { return strings.Join(t.Roles, ",") }},
}

// deprecatedHeaders: old header -> the header it copies.
var deprecatedHeaders = map[string]string{
	"X-Role": "X-Roles", "X-User": "X-User-Name", "X-Tenant-Id": "X-Project-Id",
	"X-Tenant-Name": "X-Project-Name", "X-Tenant": "X-Project-Name",
}

func setIdentityHeaders(h http.Header, prefix string, t *Token) {
	for _, ih := range identityHeaders {
		if v := ih.val(t); v != "" {
			h.Set(fmt.Sprintf(ih.name, prefix), v)
		}
	}
}

// removeAuthHeaders drops every header auth_token would set, so a client
// cannot claim an identity by sending them.
func removeAuthHeaders(h http.Header) {
	for _, name := range []string{"X-Identity-Status", "X-Service-Identity-Status", "X-Is-Admin-Project",
		"Openstack-System-Scope", "X-Service-Catalog"} {
		h.Del(name)
	}
	for old := range deprecatedHeaders {
		h.Del(old)
	}
	for _, ih := range identityHeaders {
		h.Del(fmt.Sprintf(ih.name, ""))
		h.Del(fmt.Sprintf(ih.name, "-Service"))
	}
}

func pyBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

// reject answers 401 as auth_token does.
func (a *Auth) reject(w http.ResponseWriter, why string) {
	a.log.Info("rejecting request", "reason", why)
	body, _ := json.Marshal(map[string]any{"error": map[string]any{
		"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication.",
	}})
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.Header().Set("Www-Authenticate", fmt.Sprintf("Keystone uri=%q", a.uri))
	w.WriteHeader(http.StatusUnauthorized)
	w.Write(body)
}

// unavailable answers 503: Keystone could not vouch for the caller.
func (a *Auth) unavailable(w http.ResponseWriter, err error) {
	a.log.Error("unable to validate token", "err", err)
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	w.WriteHeader(http.StatusServiceUnavailable)
	io.WriteString(w, "503 Service Unavailable\n\nThe server is currently unavailable. Please try again at a later time.\n\n The Keystone service is temporarily unavailable.\n\n   ")
}
