package turn

import (
	"container/list"
	"sync"
	"time"
)

// Cache is a bounded map from keys to values that forget: an entry not
// used for TTL is gone, and past Max entries the least recently used one is
// dropped. It is what a replica remembers of the conversations it served;
// another replica, or this one after a restart, remembers nothing, so every
// caller must do without an entry. Safe for concurrent use.
type Cache[K comparable, V any] struct {
	max int
	ttl time.Duration
	now func() time.Time

	mu    sync.Mutex
	order *list.List // front: most recently used; elements hold *entry[K, V]
	byKey map[K]*list.Element
}

type entry[K comparable, V any] struct {
	key  K
	val  V
	used time.Time
}

// NewCache makes a cache of at most max entries (at least 1) that forgets
// an entry unused for ttl (0: never). now is the clock (nil: time.Now).
func NewCache[K comparable, V any](max int, ttl time.Duration, now func() time.Time) *Cache[K, V] {
	if max < 1 {
		max = 1
	}
	if now == nil {
		now = time.Now
	}
	return &Cache[K, V]{max: max, ttl: ttl, now: now, order: list.New(), byKey: map[K]*list.Element{}}
}

// Get returns the value of k and marks it used; ok is false when there is
// none or it expired.
func (c *Cache[K, V]) Get(k K) (v V, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.live(k)
	if e == nil {
		return v, false
	}
	return e.Value.(*entry[K, V]).val, true
}

// Put sets the value of k.
func (c *Cache[K, V]) Put(k K, v V) {
	c.Update(k, func(V, bool) V { return v })
}

// Update sets the value of k to f(old, found) under the cache's lock, so
// read-modify-write of one entry is atomic. f must not call the cache.
func (c *Cache[K, V]) Update(k K, f func(old V, found bool) V) V {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.live(k); e != nil {
		en := e.Value.(*entry[K, V])
		en.val = f(en.val, true)
		return en.val
	}
	var zero V
	v := f(zero, false)
	c.byKey[k] = c.order.PushFront(&entry[K, V]{key: k, val: v, used: c.now()})
	for c.order.Len() > c.max {
		c.remove(c.order.Back())
	}
	return v
}

// Len is the number of entries held (expired ones included until touched).
func (c *Cache[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}

// Each calls f with every live entry, most recently used first, until f
// returns false. f must not call the cache.
func (c *Cache[K, V]) Each(f func(k K, v V) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	for e := c.order.Front(); e != nil; e = e.Next() {
		en := e.Value.(*entry[K, V])
		if c.expired(en, now) {
			continue
		}
		if !f(en.key, en.val) {
			return
		}
	}
}

// Clear forgets every entry.
func (c *Cache[K, V]) Clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.order.Init()
	clear(c.byKey)
}

// live returns k's element, marked used, or nil (an expired one is removed).
func (c *Cache[K, V]) live(k K) *list.Element {
	e, ok := c.byKey[k]
	if !ok {
		return nil
	}
	en := e.Value.(*entry[K, V])
	now := c.now()
	if c.expired(en, now) {
		c.remove(e)
		return nil
	}
	en.used = now
	c.order.MoveToFront(e)
	return e
}

func (c *Cache[K, V]) expired(en *entry[K, V], now time.Time) bool {
	return c.ttl > 0 && now.Sub(en.used) >= c.ttl
}

func (c *Cache[K, V]) remove(e *list.Element) {
	c.order.Remove(e)
	delete(c.byKey, e.Value.(*entry[K, V]).key)
}
