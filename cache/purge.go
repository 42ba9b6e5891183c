package cache

import "strings"

// PurgeResult counts what a purge reached.
type PurgeResult struct {
	// Entries is the number of stored entries removed (hard purge) or made
	// stale (soft purge; entries already stale are not counted).
	Entries int
	// Fills is the number of fills in flight the purge matched: a hard
	// purge makes them unstorable and unjoinable, a soft one makes them
	// store their entry already stale.
	Fills int
}

// matcher is what a purge names: one key and its variants (key + "\x00"
// + anything), or every key with a prefix.
type matcher struct {
	s      string
	prefix bool
}

func (m matcher) key(k string) bool {
	if m.prefix {
		return strings.HasPrefix(k, m.s)
	}
	return k == m.s || (len(k) > len(m.s) && k[len(m.s)] == 0 && strings.HasPrefix(k, m.s))
}

// fillLocked reports whether a fill matches; f.mu is held. A fill stores
// under its head's StoreKey when it has one, so that is matched too; a
// fill whose head has not come yet may still store under any variant of
// its key, so a purge of a variant matches it.
func (m matcher) fillLocked(f *fill) bool {
	if m.key(f.key) {
		return true
	}
	if f.head != nil {
		return f.head.StoreKey != "" && m.key(f.head.StoreKey)
	}
	return strings.IndexByte(m.s, 0) >= 0 && primaryKey(m.s) == f.key
}

// Purge removes key and its variants (key + "\x00" + ...) from the store.
// A fill in flight for any of them keeps serving its readers but is no
// longer joinable and never stores what it fetched (issue 12, finding 12:
// purged content can never come back). Stats counts what it reached.
func (c *Cache) Purge(key string) PurgeResult { return c.purge(matcher{s: key}) }

// PurgePrefix is Purge for every key that starts with prefix: a whole
// stream, say.
func (c *Cache) PurgePrefix(prefix string) PurgeResult {
	return c.purge(matcher{s: prefix, prefix: true})
}

// SoftPurge makes key and its variants stale at once without removing
// them: the next request revalidates with a conditional request, and the
// stale windows (stale-while-revalidate, stale-if-error) run from now. A
// fill in flight for them stores its entry already stale. The entries are
// kept as long as they would have been.
func (c *Cache) SoftPurge(key string) PurgeResult {
	return c.softPurge(matcher{s: key})
}

// SoftPurgePrefix is SoftPurge for every key that starts with prefix.
func (c *Cache) SoftPurgePrefix(prefix string) PurgeResult {
	return c.softPurge(matcher{s: prefix, prefix: true})
}

func (c *Cache) purge(m matcher) PurgeResult {
	var res PurgeResult
	// Fills first, then the store: a fill that stores after this point
	// sees its mark and takes its entry back (fill.finish); one that
	// stored before is found below.
	res.Fills = c.markFills(m, true)
	for _, k := range c.store.matching(m) {
		if c.store.get(k) != nil {
			res.Entries++
		}
		c.store.del(k)
	}
	c.purged.Add(uint64(res.Entries))
	c.purgedFills.Add(uint64(res.Fills))
	return res
}

func (c *Cache) softPurge(m matcher) PurgeResult {
	var res PurgeResult
	res.Fills = c.markFills(m, false)
	now := c.now()
	for _, k := range c.store.matching(m) {
		if c.store.makeStale(k, now) {
			res.Entries++
		}
	}
	c.softPurged.Add(uint64(res.Entries))
	return res
}

// markFills marks every fill in flight that m matches (hard: not storable
// and not joinable; soft: stores stale) and returns how many it marked.
func (c *Cache) markFills(m matcher, hard bool) int {
	n := 0
	c.mu.Lock()
	defer c.mu.Unlock()
	for f := range c.inflight {
		f.mu.Lock()
		hit := m.fillLocked(f)
		if hit {
			if hard {
				f.purged = true
			} else {
				f.softPurged = true
			}
			n++
		}
		f.mu.Unlock()
		if hit && hard && c.fills[f.key] == f {
			delete(c.fills, f.key)
		}
	}
	return n
}
