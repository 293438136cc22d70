package keystone

import "context"

// ServiceToken is the service token a currently holds (for tests that
// revoke it).
func (a *Auth) ServiceToken(ctx context.Context) string {
	t, _ := a.session.Token(ctx)
	return t
}
