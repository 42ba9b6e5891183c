package cache

import (
	"context"
	"sync"
	"sync/atomic"
)

// budget counts the bytes held by the buffers of fills in flight, across
// every fill of a cache (issue 11, finding 6: without it N concurrent
// cache-busting requests for a 16 MB object held N x 16 MB).
//
// Bytes are counted as a fill takes them, never as the origin announces
// them. A collecting fill that cannot take more is demoted to pass-through;
// a pass-through fill that already holds a chunk waits (wait) until the
// count is back under the limit.
type budget struct {
	limit int64
	used  atomic.Int64
	peak  atomic.Int64 // the highest used has been
	// waiters counts writers blocked in wait; release wakes them only when
	// there are some, so the common path never touches mu.
	waiters atomic.Int64

	mu      sync.Mutex    // guards changed
	changed chan struct{} // closed and replaced when bytes are released to waiters

	demotions atomic.Uint64 // collecting fills turned pass-through by the budget
	waits     atomic.Uint64 // times a pass-through writer waited for the budget
}

func newBudget(limit int64) *budget {
	return &budget{limit: limit, changed: make(chan struct{})}
}

// tryTake counts n more bytes if that keeps the count within the limit.
func (b *budget) tryTake(n int64) bool {
	if n <= 0 {
		return true
	}
	for {
		u := b.used.Load()
		if u+n > b.limit {
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			b.notePeak(u + n)
			return true
		}
	}
}

// take counts n bytes whatever the limit: the one chunk a pass-through fill
// may always hold.
func (b *budget) take(n int64) { b.notePeak(b.used.Add(n)) }

func (b *budget) notePeak(u int64) {
	for {
		p := b.peak.Load()
		if u <= p || b.peak.CompareAndSwap(p, u) {
			return
		}
	}
}

// fits reports whether n more bytes would stay within the limit.
func (b *budget) fits(n int64) bool { return b.used.Load()+n <= b.limit }

// release returns n bytes and wakes writers waiting for the budget.
func (b *budget) release(n int64) {
	if n <= 0 {
		return
	}
	b.used.Add(-n)
	// Sequentially consistent atomics: a writer that registered after this
	// load sees the decrement in its own re-check (see wait).
	if b.waiters.Load() > 0 {
		b.mu.Lock()
		close(b.changed)
		b.changed = make(chan struct{})
		b.mu.Unlock()
	}
}

// wait blocks until n more bytes fit, other (the fill's own change
// channel) is closed, or ctx ends. It returns ctx's error only.
func (b *budget) wait(ctx context.Context, n int64, other <-chan struct{}) error {
	b.waiters.Add(1)
	defer b.waiters.Add(-1)
	b.mu.Lock()
	ch := b.changed
	b.mu.Unlock()
	if b.fits(n) {
		return nil
	}
	b.waits.Add(1)
	select {
	case <-ch:
	case <-other:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}
