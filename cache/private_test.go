package cache

import (
	"bytes"
	"context"
	"io"
	"sync/atomic"
	"testing"
	"time"
)

// TestFillPrivate: a private fill is joined by nobody and joins nobody;
// its reader gets the response whatever Shared says; it is stored only
// when its head says Store and no purge came.
func TestFillPrivate(t *testing.T) {
	cases := []struct {
		name          string
		shared, store bool
		purge         bool
		wantStored    bool
	}{
		{"private no-store", false, false, false, false},
		{"authorized but public", true, true, false, true},
		{"store without shared", false, true, false, true},
		{"purged in flight", true, true, true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestCache(t, Config{})
			want := body(64 << 10)
			h := storable()
			h.Shared, h.Store = tc.shared, tc.store
			h.ContentLength = int64(len(want))
			hold := make(chan struct{})
			var calls atomic.Int32
			inner := chunkedFetch(want, 16<<10, h, 16<<10, hold, nil)
			fetch := func(ctx context.Context, w *FillWriter) error { calls.Add(1); return inner(ctx, w) }

			// A shared fill already running for the key is not joined.
			shared, _, _ := c.Fill(context.Background(), "k", nil, chunkedFetch(want, 16<<10, storable(), 0, hold, nil))
			defer shared.Close()
			r, err := c.FillPrivate(context.Background(), "k", fetch)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if calls.Load() > 1 || !r.Started() {
				t.Fatal("private fill did not start its own fetch")
			}
			if _, err := r.Head(); err != nil {
				t.Fatalf("private reader's head: %v", err)
			}
			// Nobody joins it: the shared fill's reader is not it, and a
			// Join finds the shared fill, not the private one.
			if j := c.Join(context.Background(), "k"); j == nil || j.f == r.f {
				t.Fatal("Join attached to the private fill")
			} else {
				j.Close()
			}
			if tc.purge {
				c.Purge("k")
			}
			close(hold)
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("private reader: %d bytes, err %v", len(got), err)
			}
			e, _ := r.Wait()
			shared.Close()
			stored := c.Get("k")
			if tc.wantStored != (stored != nil && stored == e) {
				t.Fatalf("stored %v, want %v", stored != nil, tc.wantStored)
			}
		})
	}
}

// TestStoreKey: a fill stores under its head's StoreKey, and the entry's
// Key is that key.
func TestStoreKey(t *testing.T) {
	c := newTestCache(t, Config{})
	want := body(10 << 10)
	h := storable()
	h.ContentLength = int64(len(want))
	h.StoreKey = "/p.m3u8\x00origin=https://a.example"
	r, _, _ := c.Fill(context.Background(), "/p.m3u8", nil, chunkedFetch(want, 4<<10, h, 0, nil, nil))
	defer r.Close()
	e, err := r.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if e.Key() != h.StoreKey {
		t.Fatalf("entry key %q", e.Key())
	}
	if got := c.Get(h.StoreKey); got != e || !got.Body().EqualBytes(want) {
		t.Fatal("not stored under StoreKey")
	}
	if c.Get("/p.m3u8") != nil {
		t.Fatal("also stored under the fill's key")
	}
}

// TestFillUsesConfigNow: Fill's check for an entry stored just before it
// reads Config.Now, not the wall clock.
func TestFillUsesConfigNow(t *testing.T) {
	clock := newFakeClock()
	c := newTestCache(t, Config{Now: clock.Now})
	h := storable()
	h.ResponseTime = clock.Now()
	h.Lifetime = 10 * time.Second
	e := NewEntry("k", h, []byte("x"))
	c.Put(e)
	var calls atomic.Int32
	fetch := func(ctx context.Context, w *FillWriter) error {
		calls.Add(1)
		h := storable()
		h.ContentLength = 1
		w.WriteHead(h)
		_, err := w.Write(ctx, []byte("y"))
		return err
	}
	r, started, _ := c.Fill(context.Background(), "k", nil, fetch)
	r.Close()
	if started || r.Resolved() != e {
		t.Fatal("a fresh entry (by the fake clock) was fetched again")
	}
	clock.Advance(10 * time.Second)
	r, started, _ = c.Fill(context.Background(), "k", nil, fetch)
	defer r.Close()
	if _, err := r.Wait(); err != nil || !started || calls.Load() != 1 {
		t.Fatalf("a stale entry was not refreshed: started %v, fetches %d, err %v", started, calls.Load(), err)
	}
}
