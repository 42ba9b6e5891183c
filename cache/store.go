package cache

import (
	"fmt"
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
	s := &store{}
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
	ok := s.r.SetWithTTL(e.key, e, e.cost(), keep)
	s.r.Wait()
	return ok && s.get(e.key) == e
}

func (s *store) del(key string) {
	s.r.Del(key)
	s.r.Wait()
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
}
