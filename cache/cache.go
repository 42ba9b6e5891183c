package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Config sizes the cache. Zero values take the documented defaults.
type Config struct {
	// MaxBytes bounds what the stored entries cost (bodies, headers and a
	// fixed overhead each). Required.
	MaxBytes int64
	// MaxObjectBytes is the largest body stored; larger ones stream through
	// uncached. Zero means MaxBytes/8.
	MaxObjectBytes int64
	// AvgObjectBytes sizes ristretto's frequency sketch. Zero means 256 KiB.
	AvgObjectBytes int64
	// FillTimeout bounds one fill from start to last byte. Zero means 5
	// minutes.
	FillTimeout time.Duration
	// PassThroughWindow is how far the origin may run ahead of the slowest
	// reader of an uncached (pass-through) fill. Zero means 4 MiB.
	PassThroughWindow int64
	// Keep returns how long a completed entry stays in the store: its
	// freshness lifetime plus however long the caller may serve it stale or
	// revalidate it. Nil means Lifetime + StaleWhileRevalidate +
	// StaleIfError.
	Keep func(h Head) time.Duration
	// Complete, when set, is called once for every body that will be
	// stored, before it is; its result becomes Head.Extra (the proxy parses
	// playlists there, once per fill rather than once per request). h is
	// the cache's own copy of the head about to be stored, not yet seen by
	// any reader: Complete may finish it (a chunked body's length, say,
	// in a new Header).
	Complete func(h *Head, body ByteView) any
	// MaxInflightBytes bounds the bytes held by the buffers of fills in
	// flight, counted as they arrive (issue 11, finding 6): a collecting
	// fill's buffer doubles as bytes come, each step counted before it is
	// allocated (an announced length up to 2 MiB is taken whole at the
	// first byte, so small objects take one allocation). A collecting
	// fill that would go over it is demoted to pass-through (not stored,
	// no longer joinable, Stats.BudgetDemotions); a pass-through fill that
	// holds a chunk waits while the budget is spent. Each pass-through
	// fill may hold one write's chunk beyond it. Zero means MaxBytes/2, at
	// least MaxObjectBytes: in-flight bodies are the store's intake, so
	// the budget scales with the memory the operator gave the cache (a
	// fixed 256 MiB would double a small cache's footprint and starve a
	// large one), the process stays within 1.5 x MaxBytes plus slack, and
	// the largest storable object can always be collected on its own.
	// Negative is an error.
	MaxInflightBytes int64
	// Now reads the clock for freshness decisions (Fill's check of a just
	// stored entry, soft purges). Nil means time.Now. ristretto's expiry
	// of stored entries and HeadWithin's timer use the real clock.
	Now func() time.Time
}

// Cache is the RAM store plus the table of fills in flight.
type Cache struct {
	cfg   Config
	store *store
	log   *slog.Logger

	ctx    context.Context // ends when the cache closes; fills run under it
	cancel context.CancelFunc
	wg     sync.WaitGroup // one per fill goroutine

	budget *budget // bytes held by fills in flight

	mu    sync.Mutex       // guards fills, inflight and closed
	fills map[string]*fill // joinable fills by key
	// inflight is every fill whose goroutine runs, joinable or not
	// (private, pass-through, purged), for purges to mark.
	inflight map[*fill]struct{}
	closed   bool

	started     atomic.Uint64
	joins       atomic.Uint64
	running     atomic.Int64
	purged      atomic.Uint64
	softPurged  atomic.Uint64
	purgedFills atomic.Uint64
}

// New returns a cache. Close it to stop its fills.
func New(cfg Config, log *slog.Logger) (*Cache, error) {
	if cfg.MaxObjectBytes <= 0 {
		cfg.MaxObjectBytes = cfg.MaxBytes / 8
	}
	if cfg.AvgObjectBytes <= 0 {
		cfg.AvgObjectBytes = 256 << 10
	}
	if cfg.FillTimeout <= 0 {
		cfg.FillTimeout = 5 * time.Minute
	}
	if cfg.PassThroughWindow <= 0 {
		cfg.PassThroughWindow = 4 << 20
	}
	if cfg.Keep == nil {
		cfg.Keep = func(h Head) time.Duration {
			return h.Lifetime + h.StaleWhileRevalidate + h.StaleIfError
		}
	}
	if cfg.MaxInflightBytes < 0 {
		return nil, fmt.Errorf("cache: max in-flight bytes must not be negative, got %d", cfg.MaxInflightBytes)
	}
	if cfg.MaxInflightBytes == 0 {
		cfg.MaxInflightBytes = max(cfg.MaxBytes/2, cfg.MaxObjectBytes)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s, err := newStore(cfg.MaxBytes, cfg.AvgObjectBytes)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Cache{
		cfg:      cfg,
		store:    s,
		log:      log.With("component", "cache"),
		ctx:      ctx,
		cancel:   cancel,
		budget:   newBudget(cfg.MaxInflightBytes),
		fills:    make(map[string]*fill),
		inflight: make(map[*fill]struct{}),
	}, nil
}

func (c *Cache) now() time.Time { return c.cfg.Now() }

// MaxObjectBytes is the largest body the cache stores.
func (c *Cache) MaxObjectBytes() int64 { return c.cfg.MaxObjectBytes }

// Get returns the stored entry for key, fresh or not, or nil.
func (c *Cache) Get(key string) *Entry { return c.store.get(key) }

// Put stores an entry outside a fill.
func (c *Cache) Put(e *Entry) bool { return c.store.set(e, c.cfg.Keep(e.head)) }

// Join attaches a reader to the fill in flight for key, or returns nil when
// there is none. ctx is the reader's own: it ends the reader's waits, never
// the fill.
func (c *Cache) Join(ctx context.Context, key string) *Reader {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.fills[key]
	if f == nil {
		return nil
	}
	r := f.tryJoin(ctx)
	if r == nil {
		// It stopped being joinable and is on its way out of the table.
		delete(c.fills, key)
		return nil
	}
	c.joins.Add(1)
	return r
}

// InFlight reports whether a fill for key is running.
func (c *Cache) InFlight(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fills[key] != nil
}

// Fill attaches a reader to the fill in flight for key, or starts one that
// runs fetch. started reports which. The first miss for a key starts exactly
// one fetch; every concurrent request joins it and streams its bytes as
// they arrive. The fetch runs under the cache's own context with
// FillTimeout: no client hanging up can cancel it for the others.
//
// seen is the entry the caller found under key (nil: none). A fill that
// finished between the caller's look and this call has stored a fresh
// entry other than seen; the reader then reads that entry (Resolved
// returns it) and no fetch starts. A fill stores its entry before it
// leaves the table of fills, so under c.mu one of the two is always seen.
func (c *Cache) Fill(ctx context.Context, key string, seen *Entry, fetch Fetch) (r *Reader, started bool, err error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, false, ErrClosed
	}
	if f := c.fills[key]; f != nil {
		if r := f.tryJoin(ctx); r != nil {
			c.joins.Add(1)
			c.mu.Unlock()
			return r, false, nil
		}
		// It stopped being joinable (pass-through or purged) and is on its
		// way out of the table: start another.
		delete(c.fills, key)
	}
	if e := c.store.get(key); e != nil && e != seen && e.Fresh(c.now()) {
		c.mu.Unlock()
		c.joins.Add(1)
		return finishedFill(c, e).addReader(ctx, false), false, nil
	}
	f := newFill(c, key)
	c.fills[key] = f
	// The reader registers before the fetch can write a byte, so a
	// pass-through fill never drops what its first reader needs.
	r = f.addReader(ctx, true)
	c.startLocked(f, fetch)
	c.mu.Unlock()
	return r, true, nil
}

// FillPrivate starts a fill for key that is not in the table of joinable
// fills: nobody joins it and it joins nobody. Its reader (the starter) gets
// the response whether or not the head says Shared. When the head says
// Store and no purge matched it, its complete body is stored under the key
// (or Head.StoreKey) like any fill's. The proxy uses it for requests with
// Authorization (RFC 9111 3.5), whose response may be shared only if the
// origin says so. The fetch runs under the cache's context with
// FillTimeout, like Fill's.
func (c *Cache) FillPrivate(ctx context.Context, key string, fetch Fetch) (*Reader, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	f := newFill(c, key)
	f.private = true
	r := f.addReader(ctx, true)
	c.startLocked(f, fetch)
	return r, nil
}

// Prefetch starts a fill for key with no reader, unless one is running. It
// reports whether it started one.
func (c *Cache) Prefetch(key string, fetch Fetch) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.fills[key] != nil {
		return false
	}
	f := newFill(c, key)
	c.fills[key] = f
	c.startLocked(f, fetch)
	return true
}

func (c *Cache) startLocked(f *fill, fetch Fetch) {
	c.started.Add(1)
	c.running.Add(1)
	c.inflight[f] = struct{}{}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer c.running.Add(-1)
		defer func() {
			c.mu.Lock()
			delete(c.inflight, f)
			c.mu.Unlock()
		}()
		ctx, cancel := context.WithTimeout(c.ctx, c.cfg.FillTimeout)
		defer cancel()
		err := c.runFetch(ctx, f, fetch)
		if err != nil && !errors.Is(err, ErrNoReaders) {
			c.log.Debug("fill failed", "key", f.key, "err", err)
		}
		f.finish(err, c.cfg.Keep, c.cfg.Complete)
	}()
}

func (c *Cache) runFetch(ctx context.Context, f *fill, fetch Fetch) (err error) {
	defer func() {
		// A panicking fetch must not leave readers waiting forever.
		if p := recover(); p != nil {
			err = fmt.Errorf("fetch panicked: %v", p)
		}
	}()
	return fetch(ctx, &FillWriter{f: f})
}

// retire removes f from the table of joinable fills.
func (c *Cache) retire(f *fill) {
	c.mu.Lock()
	if c.fills[f.key] == f {
		delete(c.fills, f.key)
	}
	c.mu.Unlock()
}

// Stats returns a snapshot for metrics.
func (c *Cache) Stats() Stats {
	m := c.store.r.Metrics
	var entries int64
	if m != nil {
		entries = int64(m.KeysAdded()) - int64(m.KeysEvicted())
	}
	return Stats{
		Bytes:         c.store.r.MaxCost() - c.store.r.RemainingCost(),
		MaxBytes:      c.store.r.MaxCost(),
		Entries:       entries,
		Evictions:     c.store.evictions.Load(),
		Rejected:      c.store.rejected.Load(),
		FillsInFlight: c.running.Load(),
		Fills:         c.started.Load(),
		Joins:         c.joins.Load(),

		InflightBytes:    c.budget.used.Load(),
		MaxInflightBytes: c.budget.limit,
		InflightPeak:     c.budget.peak.Load(),
		BudgetDemotions:  c.budget.demotions.Load(),
		BudgetWaits:      c.budget.waits.Load(),
		Purged:           c.purged.Load(),
		SoftPurged:       c.softPurged.Load(),
		PurgedFills:      c.purgedFills.Load(),
	}
}

// Close cancels every fill, waits for their goroutines and frees the store.
func (c *Cache) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
	c.store.close()
}
