package keystone

import (
	"testing"
	"time"
)

func TestCacheBounds(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := newCache(300*time.Second, 2, func() time.Time { return now })
	long := Token{UserID: "long", ExpiresAt: now.Add(time.Hour)}
	soon := Token{UserID: "soon", ExpiresAt: now.Add(10 * time.Second)}
	c.put("a", long)
	c.put("b", soon)
	c.put("expired", Token{ExpiresAt: now.Add(-time.Second)})
	if _, ok := c.get("expired"); ok || c.len() != 2 {
		t.Fatalf("an expired token was cached (len %d)", c.len())
	}
	// Never past expires_at, even inside the TTL.
	now = now.Add(10 * time.Second)
	if _, ok := c.get("b"); ok {
		t.Fatal("token served from the cache at its expires_at")
	}
	if got, ok := c.get("a"); !ok || got.UserID != "long" {
		t.Fatalf("a: %v %v", got, ok)
	}
	// Never past the TTL, even before expires_at.
	now = now.Add(290 * time.Second)
	if _, ok := c.get("a"); ok {
		t.Fatal("token served from the cache after token_cache_time")
	}
	// Size: the least recently used goes first.
	c.put("x", long)
	c.put("y", long)
	c.get("x")
	c.put("z", long)
	if _, ok := c.get("y"); ok || c.len() != 2 {
		t.Fatalf("size bound: y kept, len %d", c.len())
	}
	if _, ok := c.get("x"); !ok {
		t.Fatal("recently used x evicted")
	}
	// token_cache_time <= 0: no cache at all.
	off := newCache(0, 10, func() time.Time { return now })
	off.put("x", long)
	if _, ok := off.get("x"); ok {
		t.Fatal("cache with token_cache_time 0 served a token")
	}
}
