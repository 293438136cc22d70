package keystone

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"neutrino/internal/config"
)

// renewBefore: a service token this close to its expiry is renewed first
// (keystoneauth's stale duration).
const renewBefore = 30 * time.Second

// Session holds a service token obtained with a password and renews it
// before it expires or when Keystone stops accepting it.
type Session struct {
	client *Client
	auth   config.PasswordAuth
	now    func() time.Time

	mu      sync.Mutex
	token   string
	expires time.Time
	info    Token // what the current token says (its catalog)
}

// NewSession authenticates lazily: the first Token call asks Keystone.
func NewSession(c *Client, a config.PasswordAuth) *Session {
	return &Session{client: c, auth: a, now: time.Now}
}

// Client is the Keystone client the session uses.
func (s *Session) Client() *Client { return s.client }

// Token returns a service token valid for at least renewBefore.
func (s *Session) Token(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token != "" && s.now().Add(renewBefore).Before(s.expires) {
		return s.token, nil
	}
	id, tok, err := s.client.Password(ctx, s.auth)
	if err != nil {
		return "", err
	}
	s.token, s.expires, s.info = id, tok.ExpiresAt, tok
	return id, nil
}

// Endpoint finds a service's URL in the catalog of the session's token.
func (s *Session) Endpoint(ctx context.Context, serviceType, iface, region string) (string, error) {
	if _, err := s.Token(ctx); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.info.Endpoint(serviceType, iface, region); u != "" {
		return u, nil
	}
	return "", fmt.Errorf("keystone: no %s endpoint (interface %q, region %q) in the catalog", serviceType, iface, region)
}

// Invalidate forgets token (Keystone refused it) unless it was already
// replaced, so the next Token call authenticates again.
func (s *Session) Invalidate(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token == token {
		s.token = ""
	}
}

// Do runs f with a service token, and once more with a fresh one if
// Keystone refused the first (expired or revoked service token).
func (s *Session) Do(ctx context.Context, f func(token string) error) error {
	tok, err := s.Token(ctx)
	if err != nil {
		return err
	}
	if err = f(tok); !errors.Is(err, ErrTokenRefused) {
		return err
	}
	s.Invalidate(tok)
	if tok, err = s.Token(ctx); err != nil {
		return err
	}
	if err = f(tok); errors.Is(err, ErrTokenRefused) {
		return fmt.Errorf("%w: %w twice", ErrUnavailable, err)
	}
	return err
}
