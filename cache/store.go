package cache

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
)

// store is the byte-bounded RAM store: ristretto's TinyLFU admission and
// sampled-LFU eviction over immutable entries. Its cost unit is bytes.
type store struct {
	r         *ristretto.Cache[string, *Entry]
	evictions atomic.Uint64
	rejected  atomic.Uint64

	mu sync.Mutex // guards keys
	// keys indexes what the store holds, by primary key (the part before a
	// NUL) and then by full key, so a purge can find every variant and
	// every key under a prefix: ristretto keys by hash and cannot iterate.
	// Entries join it before ristretto may hold them and leave it through
	// OnExit (eviction, rejection, expiry, replacement, deletion), so it
	// holds no more keys than the store, plus expired ones until the next
	// sweep. Get never touches it.
	keys map[string]map[string]*Entry
}

func newStore(maxBytes int64, avgObject int64) (*store, error) {
	if maxBytes <= 0 {
		return nil, fmt.Errorf("cache: max bytes must be positive, got %d", maxBytes)
	}
	if avgObject <= 0 {
		avgObject = 64 << 10
	}
	items := maxBytes / avgObject
	if items < 1024 {
		items = 1024
	}
	s := &store{keys: make(map[string]map[string]*Entry)}
	r, err := ristretto.NewCache(&ristretto.Config[string, *Entry]{
		// ristretto's advice: ten counters per item the cache holds when
		// full.
		NumCounters: items * 10,
		MaxCost:     maxBytes,
		BufferItems: 64,
		// Metrics gives the entry count (keys added minus keys evicted).
		Metrics: true,
		// Costs are our byte counts, overhead included (Entry.cost).
		IgnoreInternalCost: true,
		OnEvict:            func(*ristretto.Item[*Entry]) { s.evictions.Add(1) },
		OnReject:           func(*ristretto.Item[*Entry]) { s.rejected.Add(1) },
		// Called for every value that leaves, whatever the reason (and
		// with nil after a Del of an absent key).
		OnExit: s.unindex,
		// Expired items are swept every second so their bytes return to the
		// budget promptly.
		TtlTickerDurationInSec: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("cache: ristretto: %w", err)
	}
	s.r = r
	return s, nil
}

func (s *store) get(key string) *Entry {
	e, ok := s.r.Get(key)
	// ristretto keys by a 128-bit hash; the key check makes a collision a
	// miss rather than a wrong body.
	if !ok || e == nil || e.key != key {
		return nil
	}
	return e
}

// set stores e until keep has passed, and waits until a following get sees
// it, so a fill can retire without a window in which the key is in neither
// the fill table nor the store.
func (s *store) set(e *Entry, keep time.Duration) bool {
	if keep <= 0 {
		return false
	}
	return s.setTTL(e, keep)
}

// setTTL stores e for ttl (0: no expiry).
func (s *store) setTTL(e *Entry, ttl time.Duration) bool {
	// Indexed first: OnExit for e can only come after this.
	s.index(e)
	ok := s.r.SetWithTTL(e.key, e, e.cost(), ttl)
	s.r.Wait()
	if !ok {
		// Dropped without reaching ristretto: no OnExit will come.
		s.unindex(e)
	}
	return ok && s.get(e.key) == e
}

func (s *store) del(key string) {
	s.r.Del(key)
	s.r.Wait()
}

// delIf removes e if it is still what the store holds under its key.
func (s *store) delIf(e *Entry) bool {
	if s.get(e.key) != e {
		return false
	}
	s.del(e.key)
	return true
}

// primaryKey is key without its secondary (Vary) part.
func primaryKey(key string) string {
	if i := strings.IndexByte(key, 0); i >= 0 {
		return key[:i]
	}
	return key
}

func (s *store) index(e *Entry) {
	p := primaryKey(e.key)
	s.mu.Lock()
	m := s.keys[p]
	if m == nil {
		m = make(map[string]*Entry, 1)
		s.keys[p] = m
	}
	m[e.key] = e
	s.mu.Unlock()
}

func (s *store) unindex(e *Entry) {
	if e == nil {
		return
	}
	p := primaryKey(e.key)
	s.mu.Lock()
	if m := s.keys[p]; m != nil && m[e.key] == e {
		delete(m, e.key)
		if len(m) == 0 {
			delete(s.keys, p)
		}
	}
	s.mu.Unlock()
}

// matching returns the keys the store holds that m matches.
func (s *store) matching(m matcher) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	add := func(vs map[string]*Entry) {
		for k := range vs {
			if m.key(k) {
				out = append(out, k)
			}
		}
	}
	if m.prefix && strings.IndexByte(m.s, 0) < 0 {
		// A prefix without a NUL matches a variant exactly when it
		// matches its primary key.
		for p, vs := range s.keys {
			if strings.HasPrefix(p, m.s) {
				add(vs)
			}
		}
		return out
	}
	add(s.keys[primaryKey(m.s)])
	return out
}

// makeStale replaces the entry under key, if it is fresh at now, with a
// copy that is stale from now on and kept as long as it was (soft purge).
// It reports whether it did.
func (s *store) makeStale(key string, now time.Time) bool {
	e := s.get(key)
	if e == nil || !e.Fresh(now) {
		return false
	}
	ttl, ok := s.r.GetTTL(key)
	if !ok {
		return false
	}
	h := e.head
	// Age == Lifetime: not fresh (Entry.Fresh is Age < Lifetime), and stale
	// by nothing yet, so stale-while-revalidate and stale-if-error windows
	// run from the purge.
	h.Lifetime = e.Age(now)
	ne := &Entry{key: e.key, head: h, body: e.body}
	if ttl < 0 {
		ttl = 0
	}
	return s.setTTL(ne, ttl)
}

func (s *store) close() { s.r.Close() }

// Stats is a snapshot of the store and the fills.
type Stats struct {
	// Bytes is the cost of the stored entries, bounded by the configured
	// maximum.
	Bytes    int64
	MaxBytes int64
	Entries  int64
	// Evictions counts entries removed to make room or on expiry.
	Evictions uint64
	// Rejected counts entries the admission policy refused to store.
	Rejected uint64
	// FillsInFlight is the number of fills running now.
	FillsInFlight int64
	// Fills counts fills started; Joins counts readers that attached to a
	// fill someone else started.
	Fills, Joins uint64
	// InflightBytes is what the buffers of fills in flight hold now,
	// bounded by MaxInflightBytes plus one chunk per pass-through fill.
	InflightBytes    int64
	MaxInflightBytes int64
	// InflightPeak is the highest InflightBytes has been.
	InflightPeak int64
	// BudgetDemotions counts collecting fills turned pass-through (not
	// stored, no longer joinable) because the in-flight budget was spent.
	BudgetDemotions uint64
	// BudgetWaits counts times a pass-through fill's writer waited for the
	// in-flight budget.
	BudgetWaits uint64
	// Purged counts stored entries removed by Purge and PurgePrefix;
	// SoftPurged those made stale by SoftPurge and SoftPurgePrefix;
	// PurgedFills the fills in flight a purge made unstorable.
	Purged, SoftPurged, PurgedFills uint64
}
