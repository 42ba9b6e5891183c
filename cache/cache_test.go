package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newTestCache(t *testing.T, cfg Config) *Cache {
	t.Helper()
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = 64 << 20
	}
	c, err := New(cfg, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeOrReport(t, c) })
	return c
}

// closeOrReport closes c, and fails the test with every goroutine's stack
// when Close has not returned after two minutes: a test's fetch that
// waits on a channel the failed test never closed would otherwise hold
// the package until its 20-minute timeout, with the failure's message
// lost (the CI failure of stop 30). It bounds a hang, not a speed.
func closeOrReport(t *testing.T, c *Cache) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Close()
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Errorf("Close has not returned after 2 minutes: a fetch is still running\n%s", buf)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimSpace(p)))
	return len(p), nil
}

func body(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

// slowFetch sends b in chunks over about d, counting calls.
func slowFetch(calls *atomic.Int32, b []byte, d time.Duration, h Head) Fetch {
	return func(ctx context.Context, w *FillWriter) error {
		calls.Add(1)
		h.ContentLength = int64(len(b))
		if err := w.WriteHead(h); err != nil {
			return err
		}
		const chunks = 50
		step := (len(b) + chunks - 1) / chunks
		for off := 0; off < len(b); off += step {
			end := min(off+step, len(b))
			if _, err := w.Write(ctx, b[off:end]); err != nil {
				return err
			}
			select {
			case <-time.After(d / chunks):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}
}

func storable() Head {
	return Head{Status: 200, Header: NewHeader(http.Header{"Content-Type": {"video/mp4"}}), Lifetime: time.Minute, Store: true, Shared: true}
}

// fakeClock is a settable clock for Config.Now.
type fakeClock struct {
	mu  sync.Mutex // guards now
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestFillHerdStreamsOneFetch: n concurrent requests share one fetch and
// each gets its first byte while the fill still runs. Asserted by event
// order, not durations (issue 12, finding 16): the origin holds back its
// last chunk until every reader has had a first byte.
func TestFillHerdStreamsOneFetch(t *testing.T) {
	clock := newFakeClock()
	c := newTestCache(t, Config{Now: clock.Now})
	want := body(1 << 20)
	const n = 200
	var calls atomic.Int32
	var firsts atomic.Int32
	allFirst := make(chan struct{})
	var lastSent atomic.Bool
	h := storable()
	h.ResponseTime = clock.Now()
	fetch := func(ctx context.Context, w *FillWriter) error {
		calls.Add(1)
		h.ContentLength = int64(len(want))
		if err := w.WriteHead(h); err != nil {
			return err
		}
		const step = 16 << 10
		last := len(want) - step
		for off := 0; off < last; off += step {
			if _, err := w.Write(ctx, want[off:off+step]); err != nil {
				return err
			}
		}
		select {
		case <-allFirst:
		case <-ctx.Done():
			return ctx.Err()
		}
		lastSent.Store(true)
		_, err := w.Write(ctx, want[last:])
		return err
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, _, err := c.Fill(context.Background(), "k", nil, fetch)
			if err != nil {
				errs <- err
				return
			}
			defer r.Close()
			if _, err := r.Head(); err != nil {
				errs <- err
				return
			}
			var got []byte
			for {
				p, err := r.Next()
				if len(got) == 0 && p.Len() > 0 {
					if lastSent.Load() {
						errs <- fmt.Errorf("reader %d got its first byte after the origin sent its last", i)
					}
					if firsts.Add(1) == n {
						close(allFirst)
					}
				}
				got = append(got, p.ByteSlice()...)
				if err == io.EOF {
					break
				}
				if err != nil {
					errs <- err
					return
				}
			}
			if !bytes.Equal(got, want) {
				errs <- fmt.Errorf("reader %d: body differs (%d bytes)", i, len(got))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := calls.Load(); got != 1 {
		t.Fatalf("origin fetched %d times, want 1", got)
	}
	e := c.Get("k")
	if e == nil || !e.Body().EqualBytes(want) {
		t.Fatal("entry not stored whole")
	}
	if !e.Fresh(clock.Now()) {
		t.Fatal("entry born stale")
	}
	if st := c.Stats(); st.Fills != 1 || st.Joins != n-1 {
		t.Errorf("stats %+v, want 1 fill and %d joins", st, n-1)
	}
}

func TestFillFailureStoresNothing(t *testing.T) {
	cases := []struct {
		name  string
		fetch Fetch
		want  error
	}{
		{"short body", func(ctx context.Context, w *FillWriter) error {
			h := storable()
			h.ContentLength = 100
			w.WriteHead(h)
			_, err := w.Write(ctx, body(60))
			return err
		}, ErrShortBody},
		{"reset mid-body", func(ctx context.Context, w *FillWriter) error {
			h := storable()
			h.ContentLength = -1
			w.WriteHead(h)
			w.Write(ctx, body(60))
			return io.ErrUnexpectedEOF
		}, io.ErrUnexpectedEOF},
		{"long body", func(ctx context.Context, w *FillWriter) error {
			h := storable()
			h.ContentLength = 10
			w.WriteHead(h)
			_, err := w.Write(ctx, body(60))
			return err
		}, ErrLongBody},
		{"no head", func(ctx context.Context, w *FillWriter) error { return nil }, ErrNoHead},
		{"panic", func(ctx context.Context, w *FillWriter) error { panic("boom") }, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestCache(t, Config{})
			r, _, err := c.Fill(context.Background(), "k", nil, tc.fetch)
			if err != nil {
				t.Fatal(err)
			}
			_, err = io.ReadAll(r)
			if err == nil {
				_, err = r.Wait()
			}
			if err == nil {
				t.Fatal("reader saw a complete body from a failed fill")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if c.Get("k") != nil {
				t.Fatal("failed fill left an entry")
			}
			if c.InFlight("k") {
				t.Fatal("failed fill still joinable")
			}
		})
	}
}

func TestFillSurvivesStarterHangup(t *testing.T) {
	c := newTestCache(t, Config{})
	want := body(256 << 10)
	var calls atomic.Int32
	// The origin sends half the body, then holds the rest until the
	// starter has hung up: the hang-up lands mid-fill however fast or slow
	// the machine, not only if it beats a timer. A fill cancelled with the
	// starter sees it by then.
	hungUp := make(chan struct{})
	fetch := func(ctx context.Context, w *FillWriter) error {
		calls.Add(1)
		h := storable()
		h.ContentLength = int64(len(want))
		if err := w.WriteHead(h); err != nil {
			return err
		}
		if _, err := w.Write(ctx, want[:len(want)/2]); err != nil {
			return err
		}
		select {
		case <-hungUp:
		case <-ctx.Done():
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		_, err := w.Write(ctx, want[len(want)/2:])
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	first, started, _ := c.Fill(ctx, "k", nil, fetch)
	if !started {
		t.Fatal("first reader did not start the fill")
	}
	second, started, _ := c.Fill(context.Background(), "k", nil, fetch)
	if started {
		t.Fatal("second reader started another fill")
	}
	if _, err := first.Next(); err != nil {
		t.Fatal(err)
	}
	cancel()
	first.Close()
	close(hungUp)
	if p, err := first.Next(); !errors.Is(err, ErrReaderClosed) || p.Len() != 0 {
		t.Fatalf("first reader after hang-up and Close: %d bytes, %v; want ErrReaderClosed", p.Len(), err)
	}
	got, err := io.ReadAll(second)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("second reader: %d bytes, err %v", len(got), err)
	}
	if calls.Load() != 1 || c.Get("k") == nil {
		t.Fatal("fill did not complete once and store")
	}
}

func TestNotSharedResponseIsNotJoined(t *testing.T) {
	c := newTestCache(t, Config{})
	release := make(chan struct{})
	fetch := func(ctx context.Context, w *FillWriter) error {
		<-release
		h := storable()
		h.Store, h.Shared = false, false
		h.ContentLength = 3
		w.WriteHead(h)
		_, err := w.Write(ctx, []byte("abc"))
		return err
	}
	a, _, _ := c.Fill(context.Background(), "k", nil, fetch)
	b, started, _ := c.Fill(context.Background(), "k", nil, fetch)
	if started {
		t.Fatal("second started")
	}
	close(release)
	if _, err := a.Head(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Head(); !errors.Is(err, ErrNotShared) {
		t.Fatalf("joiner got %v, want ErrNotShared", err)
	}
	if got, _ := io.ReadAll(a); string(got) != "abc" {
		t.Fatalf("starter got %q", got)
	}
	a.Wait()
	if c.Get("k") != nil {
		t.Fatal("private response stored")
	}
}

// TestSharedButNotStored: a response that is not to be kept still
// collapses the requests that arrive while it runs.
func TestSharedButNotStored(t *testing.T) {
	c := newTestCache(t, Config{})
	var calls atomic.Int32
	want := body(64 << 10)
	h := storable()
	h.Store = false
	h.ContentLength = int64(len(want))
	// The origin holds the body until the second request has come: the
	// fill is running when it does, however slow the machine.
	joined := make(chan struct{})
	fetch := func(ctx context.Context, w *FillWriter) error {
		calls.Add(1)
		if err := w.WriteHead(h); err != nil {
			return err
		}
		select {
		case <-joined:
		case <-ctx.Done():
			return ctx.Err()
		}
		_, err := w.Write(ctx, want)
		return err
	}
	a, _, _ := c.Fill(context.Background(), "k", nil, fetch)
	if _, err := a.Head(); err != nil {
		t.Fatal(err)
	}
	b, started, _ := c.Fill(context.Background(), "k", nil, fetch)
	close(joined)
	if started {
		t.Fatal("a request during a shared fill started another")
	}
	ga, _ := io.ReadAll(a)
	gb, _ := io.ReadAll(b)
	if !bytes.Equal(ga, want) || !bytes.Equal(ga, gb) || calls.Load() != 1 {
		t.Fatalf("bodies %d/%d, fetches %d", len(ga), len(gb), calls.Load())
	}
	a.Wait()
	if c.Get("k") != nil {
		t.Fatal("a no-store response was stored")
	}
}

func TestPassThroughIsBoundedAndUncached(t *testing.T) {
	c := newTestCache(t, Config{MaxBytes: 8 << 20, MaxObjectBytes: 1 << 20, PassThroughWindow: 256 << 10})
	want := body(6 << 20)
	var calls atomic.Int32
	h := storable()
	h.ContentLength = -1 // chunked: discovered too large on the way
	fetch := func(ctx context.Context, w *FillWriter) error {
		calls.Add(1)
		w.WriteHead(h)
		for off := 0; off < len(want); off += 32 << 10 {
			if _, err := w.Write(ctx, want[off:off+32<<10]); err != nil {
				return err
			}
		}
		return nil
	}
	r, _, _ := c.Fill(context.Background(), "big", nil, fetch)
	var got []byte
	maxBuf := 0
	for {
		p, err := r.Next()
		got = append(got, p.ByteSlice()...)
		r.f.mu.Lock()
		maxBuf = max(maxBuf, len(r.f.buf))
		r.f.mu.Unlock()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Microsecond) // a slower client than the origin
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("pass-through body differs: %d bytes", len(got))
	}
	if c.Get("big") != nil {
		t.Fatal("oversized object stored")
	}
	if maxBuf > 2<<20 {
		t.Fatalf("pass-through buffered %d bytes, window is 256 KiB", maxBuf)
	}
}

func TestPassThroughStopsWithoutReaders(t *testing.T) {
	c := newTestCache(t, Config{MaxBytes: 8 << 20, MaxObjectBytes: 1 << 20, PassThroughWindow: 64 << 10})
	done := make(chan error, 1)
	fetch := func(ctx context.Context, w *FillWriter) error {
		h := storable()
		h.ContentLength = 100 << 20
		w.WriteHead(h)
		chunk := body(32 << 10)
		for {
			if _, err := w.Write(ctx, chunk); err != nil {
				done <- err
				return err
			}
		}
	}
	r, _, _ := c.Fill(context.Background(), "big", nil, fetch)
	r.Head()
	r.Close()
	// Without the stop the fetch writes forever and the test times out.
	if err := <-done; !errors.Is(err, ErrNoReaders) {
		t.Fatalf("fetch ended with %v", err)
	}
}

func TestResolveServesRefreshedEntry(t *testing.T) {
	c := newTestCache(t, Config{})
	old := NewEntry("k", storable(), []byte("hello"))
	c.Put(old)
	fetch := func(ctx context.Context, w *FillWriter) error {
		h := storable()
		h.Lifetime = time.Hour
		return w.Resolve(old.WithHead(h))
	}
	r, _, _ := c.Fill(context.Background(), "k", nil, fetch)
	e, err := r.Wait()
	if err != nil || r.Resolved() == nil || e.Body().String() != "hello" || e.Head().Lifetime != time.Hour {
		t.Fatalf("resolve: %v %v", e, err)
	}
	if got := c.Get("k"); got == nil || got.Head().Lifetime != time.Hour {
		t.Fatal("refreshed entry not stored")
	}
}

func TestStoreStaysWithinMaxBytes(t *testing.T) {
	const max = 16 << 20
	c := newTestCache(t, Config{MaxBytes: max, AvgObjectBytes: 256 << 10})
	b := body(256 << 10)
	for i := range 2 * max / len(b) {
		e := NewEntry(fmt.Sprintf("obj-%d", i), storable(), b)
		c.Put(e)
		if st := c.Stats(); st.Bytes > max {
			t.Fatalf("after %d puts the store holds %d bytes, max %d", i+1, st.Bytes, max)
		}
	}
	st := c.Stats()
	if st.Evictions == 0 && st.Rejected == 0 {
		t.Fatalf("twice the budget went in without an eviction or rejection: %+v", st)
	}
	if st.Entries <= 0 || st.Entries*int64(len(b)) > max {
		t.Fatalf("%d entries of %d bytes held in a %d byte store", st.Entries, len(b), max)
	}
}

func TestCloseStopsFills(t *testing.T) {
	before := runtime.NumGoroutine()
	c, err := New(Config{MaxBytes: 1 << 20}, nil)
	if err != nil {
		t.Fatal(err)
	}
	stuck := func(ctx context.Context, w *FillWriter) error { <-ctx.Done(); return ctx.Err() }
	for i := range 10 {
		c.Prefetch(fmt.Sprint(i), stuck)
	}
	c.Close()
	// Close waited for the fills; their goroutines only have to return.
	// A leak keeps the count up for good, whatever the machine's load, so
	// the wait has a failsafe, not a bound a slow scheduler could miss.
	const liveness = 30 * time.Second
	for deadline := time.Now().Add(liveness); runtime.NumGoroutine() > before; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines %v after Close, %d before", runtime.NumGoroutine(), liveness, before)
		}
	}
}

func TestEntryAgeAndFreshness(t *testing.T) {
	now := time.Now()
	h := storable()
	h.ResponseTime = now.Add(-5 * time.Second)
	h.InitialAge = 2 * time.Second
	h.Lifetime = 10 * time.Second
	e := NewEntry("k", h, nil)
	if age := e.Age(now); age != 7*time.Second {
		t.Fatalf("age %v", age)
	}
	if !e.Fresh(now) || e.Fresh(now.Add(3*time.Second)) {
		t.Fatal("freshness boundary wrong")
	}
	if s := e.Staleness(now.Add(4 * time.Second)); s != time.Second {
		t.Fatalf("staleness %v", s)
	}
}

// TestFillAfterAnotherStored: a request that looked in the store while a
// fill ran, and asks for a fill after that fill stored its entry and left,
// gets the stored entry, not a second fetch. One that saw the current entry
// and asks to refresh it gets its fetch.
func TestFillAfterAnotherStored(t *testing.T) {
	clock := newFakeClock()
	c := newTestCache(t, Config{Now: clock.Now})
	want := body(4 << 10)
	var calls atomic.Int32
	h := storable()
	h.ResponseTime = clock.Now() // fresh for a minute of the fake clock
	fetch := slowFetch(&calls, want, 0, h)
	first, _, err := c.Fill(context.Background(), "k", nil, fetch)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := first.Wait()
	first.Close()
	if err != nil || c.Get("k") != stored || c.InFlight("k") {
		t.Fatalf("first fill: err %v, stored %v, in flight %v", err, c.Get("k") == stored, c.InFlight("k"))
	}

	late, started, err := c.Fill(context.Background(), "k", nil, fetch)
	if err != nil {
		t.Fatal(err)
	}
	if started || calls.Load() != 1 {
		t.Fatalf("a fill that saw no entry started fetch %d (started %v) though one was just stored", calls.Load(), started)
	}
	if late.Resolved() != stored {
		t.Fatal("the late reader is not resolved to the stored entry")
	}
	got, err := io.ReadAll(late)
	late.Close()
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("late reader: %d bytes, err %v", len(got), err)
	}

	refresh, started, err := c.Fill(context.Background(), "k", stored, fetch)
	if err != nil {
		t.Fatal(err)
	}
	defer refresh.Close()
	if _, err := refresh.Wait(); err != nil || !started || calls.Load() != 2 {
		t.Fatalf("a refresh of the entry the caller saw: started %v, fetches %d, err %v", started, calls.Load(), err)
	}
}
