package cat

import (
	"container/list"
	"sync"
)

// lru is a small bounded map with least-recently-used eviction, safe for
// concurrent use. It holds verified tokens by their text, so that a
// viewer's hundreds of segment requests with one token cost one signature
// check.
type lru[V any] struct {
	mu  sync.Mutex // guards ll and m
	max int
	ll  *list.List
	m   map[string]*list.Element
}

type lruEntry[V any] struct {
	k string
	v V
}

func newLRU[V any](max int) *lru[V] {
	return &lru[V]{max: max, ll: list.New(), m: make(map[string]*list.Element, max)}
}

func (c *lru[V]) get(k string) (v V, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok {
		return v, false
	}
	c.ll.MoveToFront(e)
	return e.Value.(*lruEntry[V]).v, true
}

// add stores v under k and reports whether an entry was evicted.
func (c *lru[V]) add(k string, v V) (evicted bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[k]; ok {
		e.Value.(*lruEntry[V]).v = v
		c.ll.MoveToFront(e)
		return false
	}
	c.m[k] = c.ll.PushFront(&lruEntry[V]{k: k, v: v})
	if c.ll.Len() > c.max {
		old := c.ll.Back()
		c.ll.Remove(old)
		delete(c.m, old.Value.(*lruEntry[V]).k)
		return true
	}
	return false
}

func (c *lru[V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}
