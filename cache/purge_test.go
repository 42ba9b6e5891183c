package cache

import (
	"bytes"
	"context"
	"io"
	"sort"
	"sync/atomic"
	"testing"
	"time"
)

// TestPurgeStopsFillInFlight: a purge while a fill runs leaves its reader
// the whole body, but the fill never stores it and is not joined (issue
// 12, finding 12).
func TestPurgeStopsFillInFlight(t *testing.T) {
	cases := []struct {
		name     string
		key      string // the fill's key
		storeKey string // Head.StoreKey
		purge    func(c *Cache)
		stored   string // where the body would land
	}{
		{"purge", "/live/seg1.ts", "", func(c *Cache) { c.Purge("/live/seg1.ts") }, "/live/seg1.ts"},
		{"purge prefix", "/live/seg1.ts", "", func(c *Cache) { c.PurgePrefix("/live/") }, "/live/seg1.ts"},
		{"purge of the variant's primary", "/live/a.m3u8", "/live/a.m3u8\x00gzip", func(c *Cache) { c.Purge("/live/a.m3u8") }, "/live/a.m3u8\x00gzip"},
		{"purge of the variant", "/live/a.m3u8", "/live/a.m3u8\x00gzip", func(c *Cache) { c.Purge("/live/a.m3u8\x00gzip") }, "/live/a.m3u8\x00gzip"},
		{"purge prefix of a variant", "/live/a.m3u8", "/live/a.m3u8\x00gzip", func(c *Cache) { c.PurgePrefix("/live") }, "/live/a.m3u8\x00gzip"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestCache(t, Config{})
			want := body(256 << 10)
			h := storable()
			h.ContentLength = int64(len(want))
			h.StoreKey = tc.storeKey
			hold := make(chan struct{})
			var calls atomic.Int32
			inner := chunkedFetch(want, 32<<10, h, 128<<10, hold, nil)
			fetch := func(ctx context.Context, w *FillWriter) error { calls.Add(1); return inner(ctx, w) }
			r, _, _ := c.Fill(context.Background(), tc.key, nil, fetch)
			defer r.Close()
			if _, err := r.Head(); err != nil {
				t.Fatal(err)
			}
			tc.purge(c)
			if c.InFlight(tc.key) {
				t.Fatal("purged fill still joinable")
			}
			close(hold)
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("reader of the purged fill: %d bytes, err %v", len(got), err)
			}
			r.Wait()
			if c.Get(tc.stored) != nil {
				t.Fatal("a fill purged in flight stored its pre-purge body")
			}
			if st := c.Stats(); st.PurgedFills != 1 {
				t.Fatalf("PurgedFills %d", st.PurgedFills)
			}
		})
	}
}

func putKeys(t *testing.T, c *Cache, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if !c.Put(NewEntry(k, storable(), []byte(k))) {
			t.Fatalf("put %q refused", k)
		}
	}
}

// TestPurgeMatches: which stored keys each kind of purge removes.
func TestPurgeMatches(t *testing.T) {
	all := []string{"/a/x.ts", "/a/x.ts\x00gzip", "/a/x.ts\x00br", "/a/x.tss", "/a/y.m3u8", "/a/y.m3u8\x00gzip", "/b/x.ts"}
	cases := []struct {
		name  string
		purge func(c *Cache) PurgeResult
		gone  []string
	}{
		{"key and its variants", func(c *Cache) PurgeResult { c.Purge("/a/x.ts"); return PurgeResult{Entries: 3} }, []string{"/a/x.ts", "/a/x.ts\x00br", "/a/x.ts\x00gzip"}},
		{"one variant", func(c *Cache) PurgeResult { c.Purge("/a/x.ts\x00br"); return PurgeResult{Entries: 1} }, []string{"/a/x.ts\x00br"}},
		{"absent key", func(c *Cache) PurgeResult { c.Purge("/a/z.ts"); return PurgeResult{} }, nil},
		{"prefix", func(c *Cache) PurgeResult { return c.PurgePrefix("/a/") }, []string{"/a/x.ts", "/a/x.ts\x00br", "/a/x.ts\x00gzip", "/a/x.tss", "/a/y.m3u8", "/a/y.m3u8\x00gzip"}},
		{"prefix inside a name", func(c *Cache) PurgeResult { return c.PurgePrefix("/a/x.ts") }, []string{"/a/x.ts", "/a/x.ts\x00br", "/a/x.ts\x00gzip", "/a/x.tss"}},
		{"prefix with a NUL", func(c *Cache) PurgeResult { return c.PurgePrefix("/a/y.m3u8\x00") }, []string{"/a/y.m3u8\x00gzip"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestCache(t, Config{})
			putKeys(t, c, all...)
			res := tc.purge(c)
			if res.Entries != len(tc.gone) {
				t.Errorf("purged %d entries, want %d", res.Entries, len(tc.gone))
			}
			var gone []string
			for _, k := range all {
				if c.Get(k) == nil {
					gone = append(gone, k)
				}
			}
			sort.Strings(gone)
			if len(gone) != len(tc.gone) || (len(gone) > 0 && !equalStrings(gone, tc.gone)) {
				t.Fatalf("gone %q, want %q", gone, tc.gone)
			}
			if st := c.Stats(); st.Purged != uint64(len(tc.gone)) {
				t.Fatalf("Stats.Purged %d", st.Purged)
			}
		})
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestSoftPurge: entries become stale at once, keep their body and are
// still there for a conditional refresh; a fill in flight stores stale.
func TestSoftPurge(t *testing.T) {
	clock := newFakeClock()
	c := newTestCache(t, Config{Now: clock.Now})
	h := storable()
	h.ResponseTime = clock.Now()
	h.Lifetime = time.Hour
	h.StaleWhileRevalidate = 10 * time.Second
	for _, k := range []string{"/s/a.ts", "/s/a.ts\x00gzip", "/s/b.ts", "/t/a.ts"} {
		c.Put(NewEntry(k, h, []byte(k)))
	}
	clock.Advance(time.Minute)
	if res := c.SoftPurge("/s/a.ts"); res.Entries != 2 {
		t.Fatalf("soft purge reached %d entries, want 2", res.Entries)
	}
	if res := c.SoftPurgePrefix("/s/"); res.Entries != 1 {
		t.Fatalf("soft purge prefix reached %d fresh entries, want 1", res.Entries)
	}
	now := clock.Now()
	for _, k := range []string{"/s/a.ts", "/s/a.ts\x00gzip", "/s/b.ts"} {
		e := c.Get(k)
		if e == nil || e.Body().String() != k {
			t.Fatalf("%q removed by a soft purge", k)
		}
		if e.Fresh(now) || e.Staleness(now) != 0 {
			t.Fatalf("%q after soft purge: fresh %v, staleness %v", k, e.Fresh(now), e.Staleness(now))
		}
		if e.Head().StaleWhileRevalidate != 10*time.Second {
			t.Fatalf("%q lost its stale window", k)
		}
	}
	if e := c.Get("/t/a.ts"); e == nil || !e.Fresh(now) {
		t.Fatal("an entry outside the prefix was touched")
	}

	// A fill in flight stores what it fetched, stale.
	hold := make(chan struct{})
	fh := h
	fh.ResponseTime = now
	fh.ContentLength = 64 << 10
	r, _, _ := c.Fill(context.Background(), "/s/c.ts", nil, chunkedFetch(body(64<<10), 16<<10, fh, 16<<10, hold, nil))
	defer r.Close()
	r.Head()
	if res := c.SoftPurgePrefix("/s/"); res.Fills != 1 {
		t.Fatalf("soft purge reached %d fills", res.Fills)
	}
	close(hold)
	e, err := r.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Get("/s/c.ts"); got != e || got.Fresh(clock.Now()) {
		t.Fatal("a fill soft-purged in flight stored a fresh entry, or none")
	}
}

// TestPurgeIndexBounded: the key index holds only what the store holds,
// after evictions, replacements and purges.
func TestPurgeIndexBounded(t *testing.T) {
	c := newTestCache(t, Config{MaxBytes: 1 << 20, AvgObjectBytes: 16 << 10})
	b := body(16 << 10)
	for i := range 400 {
		k := "/x/" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		c.Put(NewEntry(k, storable(), b))
		c.Put(NewEntry(k+"\x00v", storable(), b))
		if i%50 == 0 {
			c.Purge(k)
		}
	}
	c.store.mu.Lock()
	defer c.store.mu.Unlock()
	n := 0
	for _, vs := range c.store.keys {
		for k, e := range vs {
			n++
			if c.store.get(k) != e {
				t.Fatalf("index holds %q, the store does not", k)
			}
		}
	}
	if n == 0 || int64(n)*int64(len(b)) > 1<<20 {
		t.Fatalf("index holds %d keys", n)
	}
}
