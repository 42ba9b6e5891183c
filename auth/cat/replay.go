package cat

import (
	"sync"
	"time"
)

// ReplayCache remembers the tokens it has seen until they expire, for
// catreplay (CTA-5007 4.7). It is bounded: when full, the entry closest to
// expiry goes first, after the expired ones. An evicted token could be
// replayed once more; Evictions counts how often that became possible, so
// an operator can size it (each entry is about 100 bytes).
type ReplayCache struct {
	mu        sync.Mutex // guards seen and Evictions
	max       int
	seen      map[string]int64 // id -> exp, epoch seconds
	evictions uint64
}

// NewReplayCache holds at most max tokens; max <= 0 means 100000.
func NewReplayCache(max int) *ReplayCache {
	if max <= 0 {
		max = 100000
	}
	return &ReplayCache{max: max, seen: make(map[string]int64)}
}

// Seen records id until exp and reports whether it was already there.
func (c *ReplayCache) Seen(id string, exp int64, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.seen[id]; ok && e >= now.Unix() {
		return true
	}
	if len(c.seen) >= c.max {
		c.evictLocked(now.Unix())
	}
	c.seen[id] = exp
	return false
}

// evictLocked drops expired entries, or else the one closest to expiry.
// O(n), run only when full.
func (c *ReplayCache) evictLocked(now int64) {
	var victim string
	first := true
	var min int64
	for id, e := range c.seen {
		if e < now {
			delete(c.seen, id)
			continue
		}
		if first || e < min {
			victim, min, first = id, e, false
		}
	}
	if len(c.seen) >= c.max && !first {
		delete(c.seen, victim)
		c.evictions++
	}
}

// Evictions counts live entries dropped for room.
func (c *ReplayCache) Evictions() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.evictions
}
