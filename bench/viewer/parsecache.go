package viewer

import (
	"bytes"
	"hash/maphash"
	"sync"
)

// parseCache shares the parse of identical playlist bodies between
// viewers. Thousands of viewers of one stream load the same few bodies
// from the edge; parsing each once keeps the load generator's CPU for the
// edge it shares the machine with (an MPD costs about 200 µs). Parsed
// values are shared read-only.
type parseCache[T any] struct {
	seed maphash.Seed

	mu      sync.Mutex
	entries [parseCacheSize]cacheEntry[T] // guarded by mu; a ring, oldest overwritten
	next    int                           // guarded by mu
}

// parseCacheSize covers the distinct bodies in flight at once: a few
// renditions, each with the current and the previous version.
const parseCacheSize = 16

type cacheEntry[T any] struct {
	hash uint64
	key  string // what the parse depends on besides the body (base URL)
	body []byte
	val  T
}

func newParseCache[T any]() *parseCache[T] {
	return &parseCache[T]{seed: maphash.MakeSeed()}
}

// get returns parse(body), from the cache when an equal body with the
// same key was parsed before. Errors are not cached. The parse runs
// outside the lock, so two viewers may parse the same new body at once;
// that is cheaper than making everyone wait.
func (c *parseCache[T]) get(key string, body []byte, parse func([]byte) (T, error)) (T, error) {
	h := maphash.Bytes(c.seed, body)
	c.mu.Lock()
	for i := range c.entries {
		e := &c.entries[i]
		if e.hash == h && e.key == key && bytes.Equal(e.body, body) {
			v := e.val
			c.mu.Unlock()
			return v, nil
		}
	}
	c.mu.Unlock()
	v, err := parse(body)
	if err != nil {
		return v, err
	}
	c.mu.Lock()
	c.entries[c.next] = cacheEntry[T]{hash: h, key: key, body: bytes.Clone(body), val: v}
	c.next = (c.next + 1) % parseCacheSize
	c.mu.Unlock()
	return v, nil
}
