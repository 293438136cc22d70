package keystone

import (
	"container/list"
	"crypto/sha256"
	"sync"
	"time"
)

// cache remembers validated tokens for at most ttl and never past their
// expires_at, holding at most size of them (least recently used go first).
// Only valid tokens are kept, as keystonemiddleware does: a rejected token
// is asked about again next time. Keys are SHA-256 digests so the cache
// holds no usable credential.
type cache struct {
	ttl  time.Duration
	size int
	now  func() time.Time

	mu    sync.Mutex
	order *list.List // front = most recently used; values are *cacheEntry
	byKey map[[32]byte]*list.Element
}

type cacheEntry struct {
	key   [32]byte
	tok   Token
	until time.Time
}

func newCache(ttl time.Duration, size int, now func() time.Time) *cache {
	return &cache{ttl: ttl, size: size, now: now, order: list.New(), byKey: map[[32]byte]*list.Element{}}
}

func (c *cache) enabled() bool { return c.ttl > 0 && c.size > 0 }

// get returns the cached token; an entry past its time is dropped.
func (c *cache) get(token string) (Token, bool) {
	if !c.enabled() {
		return Token{}, false
	}
	k := sha256.Sum256([]byte(token))
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[k]
	if !ok {
		return Token{}, false
	}
	e := el.Value.(*cacheEntry)
	if !c.now().Before(e.until) {
		c.order.Remove(el)
		delete(c.byKey, k)
		return Token{}, false
	}
	c.order.MoveToFront(el)
	return e.tok, true
}

// put caches tok until min(now+ttl, tok.ExpiresAt); an already expired
// token (validated with allow_expired) is not cached.
func (c *cache) put(token string, tok Token) {
	if !c.enabled() {
		return
	}
	now := c.now()
	until := now.Add(c.ttl)
	if tok.ExpiresAt.Before(until) {
		until = tok.ExpiresAt
	}
	if !now.Before(until) {
		return
	}
	k := sha256.Sum256([]byte(token))
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[k]; ok {
		el.Value = &cacheEntry{key: k, tok: tok, until: until}
		c.order.MoveToFront(el)
		return
	}
	c.byKey[k] = c.order.PushFront(&cacheEntry{key: k, tok: tok, until: until})
	for c.order.Len() > c.size {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.byKey, last.Value.(*cacheEntry).key)
	}
}

func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
