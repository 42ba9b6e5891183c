package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"
)

// Errors a fill reports to its readers.
var (
	// ErrShortBody: the origin's body ended before its Content-Length.
	ErrShortBody = errors.New("cache: body shorter than its Content-Length")
	// ErrLongBody: the origin sent more bytes than its Content-Length.
	ErrLongBody = errors.New("cache: body longer than its Content-Length")
	// ErrNotShared: the response may not be given to concurrent requests
	// (private or no-store); each must fetch its own.
	ErrNotShared = errors.New("cache: response is not shareable")
	// ErrNoReaders: a pass-through fill lost all its readers.
	ErrNoReaders = errors.New("cache: no readers left")
	// ErrClosed: the cache is shutting down.
	ErrClosed = errors.New("cache: closed")
	// ErrNoHead: the fetch returned without writing a head.
	ErrNoHead = errors.New("cache: fetch returned no response head")
	// ErrOutsideWindow: a Seek went back before the bytes a pass-through
	// fill still holds.
	ErrOutsideWindow = errors.New("cache: seek before the retained window")
	// ErrReaderClosed: Next, Read or Seek on a Reader after its Close.
	ErrReaderClosed = errors.New("cache: reader closed")
)

// Fetch produces one response: it calls w.WriteHead once, then w.Write for
// the body, and returns nil when the body is complete. A 304 refresh calls
// w.Resolve instead. ctx belongs to the fill, never to any one client.
type Fetch func(ctx context.Context, w *FillWriter) error

// minGrow is the first allocation of a collecting fill whose length is
// unknown or larger: the buffer then doubles up to the announced length, so
// what a fill holds is never more than twice what has arrived (issue 11,
// finding 6: the announced length used to be allocated up front).
const minGrow = 64 << 10

// exactUpTo is the largest announced length a collecting fill allocates
// (and counts in the budget) whole at its first byte rather than growing
// to: most segments and every LL-HLS part, one allocation and no copy,
// like before the budget (BenchmarkFillFanout doubled its time and bytes
// with growth from minGrow). Counting it before it has all arrived only
// demotes earlier; the bound on what fills hold still holds.
const exactUpTo = 2 << 20

// fill is one origin fetch that any number of readers stream while it runs
// (read-while-write).
//
// A collecting fill (not pass-through) keeps its body in buf, one
// contiguous array from offset 0: bytes below len(buf) are never rewritten
// (growth copies into a new array), so readers use slices of it without the
// lock and the stored entry's body is buf itself. A pass-through fill keeps
// a window of immutable chunks at absolute offsets and drops the ones every
// reader is past; dropping never copies and never moves an offset.
type fill struct {
	key     string
	c       *Cache
	private bool // started by FillPrivate: never joinable

	mu sync.Mutex // guards everything below, and every Reader's off, keep and closed
	// changed is closed and replaced when what readers wait for changes:
	// the head, body bytes, the end. Readers wait on it together with
	// their own ctx.
	changed chan struct{}
	// room is closed and replaced when what a throttled pass-through
	// writer waits for changes: the window moved, or a reader left. A
	// reader's read wakes nobody else: with hundreds of readers on one
	// fill, waking them all on each read cost readers x readers wake-ups
	// per chunk from the origin, each finding nothing new.
	room chan struct{}
	head *Head
	// buf is the body of a collecting fill (and of a finished or resolved
	// one). len(buf) == size.
	buf []byte
	// chunks is the retained window of a pass-through fill, in offset
	// order without gaps; chunks[0].off == base.
	chunks []chunk
	// size is the number of body bytes written so far.
	size int64
	// base is the offset of the first byte still held (pass-through only).
	base int64
	// held is what this fill counts in the cache's in-flight budget.
	held int64
	done bool
	err  error
	// entry is the complete result: the stored entry, or for a 304 the
	// refreshed one.
	entry *Entry
	// passThrough fills are not stored and not joinable: too large, not
	// shareable, or over the in-flight budget.
	passThrough bool
	// purged: a Purge matched the fill; it is never stored and not
	// joinable. softPurged: a SoftPurge matched; it is stored already
	// stale.
	purged, softPurged bool
	readers            map[*Reader]struct{}
	// resolved: the fill ended with an existing complete entry: a 304's
	// refreshed copy, or one another fill had just stored (finishedFill).
	resolved bool
	// draining: finished without storing while readers were still sending
	// its bytes; what it holds stays counted until the last one leaves.
	draining bool
}

// chunk is one immutable piece of a pass-through window.
type chunk struct {
	off     int64
	b       []byte
	counted int64 // bytes of the budget it holds (0 once the fill finished)
}

// finishedFill is a fill already resolved to e, for a request that asked
// for a fill just after another one stored e.
func finishedFill(c *Cache, e *Entry) *fill {
	f := newFill(c, e.key)
	f.head, f.buf, f.size, f.entry = &e.head, e.body, int64(len(e.body)), e
	f.resolved, f.done = true, true
	return f
}

func newFill(c *Cache, key string) *fill {
	return &fill{
		key:     key,
		c:       c,
		changed: make(chan struct{}),
		room:    make(chan struct{}),
		readers: make(map[*Reader]struct{}),
	}
}

// broadcastLocked wakes every waiting reader.
func (f *fill) broadcastLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// roomLocked wakes the writer if it waits for room.
func (f *fill) roomLocked() {
	close(f.room)
	f.room = make(chan struct{})
}

func (f *fill) addReader(ctx context.Context, starter bool) *Reader {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.addReaderLocked(ctx, starter)
}

func (f *fill) addReaderLocked(ctx context.Context, starter bool) *Reader {
	r := &Reader{f: f, ctx: ctx, starter: starter}
	f.readers[r] = struct{}{}
	return r
}

// tryJoin adds a reader unless the fill stopped being joinable (it turned
// pass-through, or a purge matched it) and has not left the table yet.
// Checked under f.mu, so a joiner never lands on a window that no longer
// starts at offset 0.
func (f *fill) tryJoin(ctx context.Context) *Reader {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.passThrough || f.purged {
		return nil
	}
	return f.addReaderLocked(ctx, false)
}

// FillWriter is the fetch's handle on its fill.
type FillWriter struct {
	f *fill
}

// WriteHead publishes the response head to every reader. A head with a
// known ContentLength above the cache's object limit, or one that may not
// be shared (except in a private fill, which nobody joins), turns the fill
// into pass-through. A shared head that is not to be stored stays joinable
// while it runs: concurrent requests still collapse onto it; it is just not
// kept.
func (w *FillWriter) WriteHead(h Head) error {
	f := w.f
	c := f.c
	if h.ContentLength > c.cfg.MaxObjectBytes {
		h.Store = false
	}
	f.mu.Lock()
	if f.head != nil {
		f.mu.Unlock()
		return fmt.Errorf("fill %s: head written twice", f.key)
	}
	h.Header.seal()
	hd := h
	f.head = &hd
	if (!h.Shared && !f.private) || h.ContentLength > c.cfg.MaxObjectBytes {
		f.passThrough = true
	}
	f.broadcastLocked()
	leave := f.passThrough
	f.mu.Unlock()
	if leave {
		// Requests arriving from now on fetch for themselves rather than
		// share what is one client's or too large to hold.
		c.retire(f)
	}
	return nil
}

// Write appends body bytes and wakes the readers.
//
// A collecting fill grows its buffer geometrically, each step counted in
// the cache's in-flight budget before it is allocated; when the budget
// cannot take a step, or the body outgrows the object limit, the fill is
// demoted to pass-through. A pass-through fill applies back-pressure: it
// waits while the origin is a window ahead of its slowest reader, or while
// the in-flight budget is spent and it already holds a chunk; it fails with
// ErrNoReaders once its readers have all gone. ctx ends the waits.
func (w *FillWriter) Write(ctx context.Context, p []byte) (int, error) {
	f := w.f
	c := f.c
	n := int64(len(p))
	f.mu.Lock()
	if f.head == nil {
		f.mu.Unlock()
		return 0, fmt.Errorf("fill %s: body before head", f.key)
	}
	if cl := f.head.ContentLength; cl >= 0 && f.size+n > cl {
		f.mu.Unlock()
		return 0, fmt.Errorf("fill %s: %w", f.key, ErrLongBody)
	}
	if n == 0 {
		f.mu.Unlock()
		return 0, nil
	}
	retire := false
	if !f.passThrough {
		switch {
		case f.size+n > c.cfg.MaxObjectBytes:
			// A chunked body outgrew the object limit: stop collecting it
			// for the store, keep streaming to whoever is reading.
			f.demoteLocked()
			retire = true
		case !f.growLocked(n):
			// Issue 11, finding 6: over the in-flight budget.
			f.demoteLocked()
			c.budget.demotions.Add(1)
			retire = true
		default:
			f.buf = append(f.buf, p...)
			f.size += n
			f.broadcastLocked()
			f.mu.Unlock()
			return len(p), nil
		}
	}
	for {
		if len(f.readers) == 0 {
			f.mu.Unlock()
			if retire {
				c.retire(f)
			}
			return 0, fmt.Errorf("fill %s: %w", f.key, ErrNoReaders)
		}
		f.trimLocked()
		retained := f.size - f.base
		overWindow := retained >= c.cfg.PassThroughWindow
		if !overWindow && (retained == 0 || c.budget.fits(n)) {
			break
		}
		ch := f.room
		f.mu.Unlock()
		if retire {
			c.retire(f)
			retire = false
		}
		if overWindow {
			select {
			case <-ch:
			case <-ctx.Done():
				return 0, fmt.Errorf("fill %s: %w", f.key, ctx.Err())
			}
		} else if err := c.budget.wait(ctx, n, ch); err != nil {
			return 0, fmt.Errorf("fill %s: %w", f.key, err)
		}
		f.mu.Lock()
	}
	b := make([]byte, n)
	copy(b, p)
	// One chunk is always allowed (retained == 0 above): the per-fill
	// slack over the budget.
	c.budget.take(n)
	f.held += n
	f.chunks = append(f.chunks, chunk{off: f.size, b: b, counted: n})
	f.size += n
	f.broadcastLocked()
	f.mu.Unlock()
	if retire {
		c.retire(f)
	}
	return len(p), nil
}

// growLocked makes room in buf for n more bytes, counting the new capacity
// in the budget first. It reports false when the budget cannot take even
// the exact size needed.
func (f *fill) growLocked(n int64) bool {
	c := f.c
	need := f.size + n
	if need <= int64(cap(f.buf)) {
		return true
	}
	limit := c.cfg.MaxObjectBytes
	if cl := f.head.ContentLength; cl >= 0 {
		limit = cl
	}
	want := min(max(2*int64(cap(f.buf)), need, minGrow), limit)
	if cl := f.head.ContentLength; cl >= 0 && cl <= exactUpTo {
		want = cl
	}
	// If the budget cannot take want, it may still take the exact need.
	if !c.budget.tryTake(want - f.held) {
		want = need
		if !c.budget.tryTake(want - f.held) {
			return false
		}
	}
	f.held = want
	nb := make([]byte, f.size, want)
	copy(nb, f.buf)
	f.buf = nb
	return true
}

// demoteLocked turns a collecting fill into pass-through: what it has
// collected becomes the first chunk of its window (still counted), and it
// is never stored. The caller retires it from the table.
func (f *fill) demoteLocked() {
	f.passThrough = true
	if f.size > 0 {
		f.chunks = append(f.chunks[:0], chunk{off: 0, b: f.buf[:f.size:f.size], counted: f.held})
	} else {
		f.c.budget.release(f.held)
		f.held = 0
	}
	f.buf = nil
	f.base = 0
}

// trimLocked drops the chunks of a pass-through fill that every reader is
// past, returning their bytes to the budget, and wakes the writer if it
// dropped any. A reader's keep mark, not its offset, decides: a Seek
// forward does not give up bytes until the reader reads there (issue 12,
// finding 14: http.ServeContent seeks to the end and back).
func (f *fill) trimLocked() {
	if !f.passThrough || len(f.chunks) == 0 {
		return
	}
	low := f.size
	for r := range f.readers {
		low = min(low, r.keep)
	}
	i := 0
	var freed int64
	for i < len(f.chunks) && f.chunks[i].off+int64(len(f.chunks[i].b)) <= low {
		freed += f.chunks[i].counted
		i++
	}
	if i == 0 {
		return
	}
	m := copy(f.chunks, f.chunks[i:])
	clear(f.chunks[m:]) // let the dropped chunks be collected
	f.chunks = f.chunks[:m]
	if m > 0 {
		f.base = f.chunks[0].off
	} else {
		f.base = f.size
	}
	f.held -= freed
	f.c.budget.release(freed)
	f.roomLocked()
}

// releaseLocked returns everything the fill counts in the budget: when it
// failed, when its entry is stored (the store's budget counts it from
// then), or when the last reader of a body that was not stored has left.
func (f *fill) releaseLocked() {
	f.c.budget.release(f.held)
	f.held = 0
	for i := range f.chunks {
		f.chunks[i].counted = 0
	}
}

// viewLocked returns the bytes from off (< size) to the end of the piece
// that holds them.
func (f *fill) viewLocked(off int64) []byte {
	if !f.passThrough {
		return f.buf[off:f.size]
	}
	i := sort.Search(len(f.chunks), func(i int) bool {
		return f.chunks[i].off+int64(len(f.chunks[i].b)) > off
	})
	ch := f.chunks[i]
	return ch.b[off-ch.off:]
}

// Resolve completes the fill with an existing body: the fetch learned (from
// a 304) that the stale entry is still good and built its refreshed copy.
func (w *FillWriter) Resolve(e *Entry) error {
	f := w.f
	f.mu.Lock()
	if f.head != nil {
		f.mu.Unlock()
		return fmt.Errorf("fill %s: resolve after head", f.key)
	}
	f.head = &e.head
	f.buf = e.body
	f.size = int64(len(e.body))
	f.entry = e
	f.resolved = true
	f.broadcastLocked()
	f.mu.Unlock()
	return nil
}

// finish ends the fill with the fetch's result, stores a complete body and
// retires the fill. It runs in the fill's goroutine.
func (f *fill) finish(err error, keep func(Head) time.Duration, complete func(*Head, ByteView) any) {
	c := f.c
	f.mu.Lock()
	if err == nil && f.head == nil {
		err = ErrNoHead
	}
	if err == nil && f.entry == nil {
		if cl := f.head.ContentLength; cl >= 0 && f.size != cl {
			err = ErrShortBody
		}
	}
	if err != nil {
		// Out of the table before any reader learns of the failure: a
		// request that comes after a reader saw it starts a fill of its
		// own instead of joining one that has failed. (retire takes c.mu,
		// which is never taken under f.mu.)
		f.mu.Unlock()
		c.retire(f)
		f.mu.Lock()
		f.err = fmt.Errorf("fill %s: %w", f.key, err)
		f.done = true
		f.releaseLocked()
		f.broadcastLocked()
		f.mu.Unlock()
		return
	}
	store := !f.passThrough && f.head.Store && !f.purged
	soft := f.softPurged
	e := f.entry
	var keepFor time.Duration
	if e == nil {
		var body []byte
		if !f.passThrough {
			body = f.buf
			if store && cap(body)-len(body) > len(body)/16 {
				// A chunked body grew by doubling; store it without the slack.
				body = append(make([]byte, 0, len(body)), body...)
			}
		}
		h := *f.head
		// A pass-through entry has no body: its bytes went by in the
		// window. ContentLength still says how many there were.
		h.ContentLength = f.size
		key := f.key
		if h.StoreKey != "" {
			key = h.StoreKey
		}
		keepFor = keep(h)
		if soft {
			h.Lifetime = min(h.Lifetime, h.InitialAge)
		}
		if store && complete != nil {
			h.Extra = complete(&h, ByteView{b: body})
			h.Header.seal()
		}
		e = &Entry{key: key, head: h, body: body}
	} else {
		keepFor = keep(e.head)
		if soft && store {
			h := e.head
			h.Lifetime = min(h.Lifetime, h.InitialAge)
			e = e.WithHead(h)
		}
	}
	f.mu.Unlock()

	stored := false
	if store && c.store.set(e, keepFor) {
		stored = true
		// A purge that matched the fill after the decision above removes
		// what was just stored here, or finds it in the store itself
		// (issue 12, finding 12: purged content never comes back).
		f.mu.Lock()
		purged, softNow := f.purged, f.softPurged && !soft
		f.mu.Unlock()
		switch {
		case purged:
			c.store.delIf(e)
		case softNow:
			c.store.makeStale(e.key, c.now())
		}
	}
	// Stored first, then out of the table, then done: whoever sees the
	// fill done finds it retired, and a request between the two finds
	// the stored entry (Fill's check of the store).
	c.retire(f)
	f.mu.Lock()
	f.entry = e
	f.done = true
	if stored || len(f.readers) == 0 {
		// Stored bytes count in the store's budget from now on.
		f.releaseLocked()
	} else {
		// Not stored (pass-through, refused, purged): its bytes stay in
		// memory while readers still send them, so they stay counted
		// until the last reader leaves (Close).
		f.draining = true
	}
	f.broadcastLocked()
	f.mu.Unlock()
}

// Reader streams one fill from its first byte. Close every Reader. A
// Reader belongs to the goroutine that reads it: its waits end with the
// fill's news or its own ctx, not with a Close from elsewhere (another
// reader's leaving wakes nobody but a throttled writer).
type Reader struct {
	f       *fill
	ctx     context.Context
	starter bool  // this reader's request started the fill
	off     int64 // guarded by f.mu: the next byte to read
	// keep is guarded by f.mu: the lowest offset this reader may still
	// seek back to. Reads move it up to the offset they start at; a Seek
	// moves it down only. keep <= off, and a pass-through fill holds
	// every byte from the lowest keep of its readers.
	keep   int64
	closed bool // guarded by f.mu
}

// commitLocked records that the reader reads on from its offset: bytes
// before it are no longer needed, and the window may move.
func (r *Reader) commitLocked() {
	f := r.f
	if r.keep == r.off {
		return
	}
	// Only a reader whose mark was inside the first chunk can let it go;
	// the others skip the scan over every reader.
	atBase := len(f.chunks) > 0 && r.keep < f.chunks[0].off+int64(len(f.chunks[0].b))
	r.keep = r.off
	if atBase {
		f.trimLocked()
	}
}

// PassThrough reports whether the fill streams through uncached: its head
// was too large or not shareable, its body outgrew the object limit, or it
// was demoted for the in-flight budget (Stats.BudgetDemotions). Such a fill
// is never stored and no longer joinable, and a Seek back before its
// retained window fails with ErrOutsideWindow. It can become true while
// the body streams; once true it stays true.
func (r *Reader) PassThrough() bool {
	f := r.f
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.passThrough
}

// Head waits for the response head. It fails when the fill fails first, when
// the response is not shareable and this reader did not start the fill, or
// when the reader's own ctx ends.
func (r *Reader) Head() (Head, error) {
	h, _, err := r.headWait(nil)
	return h, err
}

// HeadWithin waits at most d for the response head (d <= 0: not at all).
// ok is false when d passed first; err is the fill's failure or the
// reader's ctx ending.
func (r *Reader) HeadWithin(d time.Duration) (h Head, ok bool, err error) {
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		return r.headWait(t.C)
	}
	expired := make(chan time.Time)
	close(expired)
	return r.headWait(expired)
}

// headWait waits for the head until timeout fires (nil: no timeout).
func (r *Reader) headWait(timeout <-chan time.Time) (Head, bool, error) {
	f := r.f
	for {
		f.mu.Lock()
		h, err, ch := f.head, f.err, f.changed
		f.mu.Unlock()
		if h != nil {
			if !h.Shared && !r.starter {
				r.Close()
				return Head{}, true, ErrNotShared
			}
			return *h, true, nil
		}
		if err != nil {
			return Head{}, true, err
		}
		select {
		case <-ch:
		case <-timeout:
			return Head{}, false, nil
		case <-r.ctx.Done():
			return Head{}, true, r.ctx.Err()
		}
	}
}

// Started reports whether this reader's request started the fill.
func (r *Reader) Started() bool { return r.starter }

// Next returns the next bytes of the body, waiting for them as needed, as
// a view of the fill's shared buffer. It returns io.EOF after the last
// byte, and the fill's error if it failed.
func (r *Reader) Next() (ByteView, error) {
	b, err := r.next(-1)
	return ByteView{b: b}, err
}

// NextMax is Next returning at most max bytes (max <= 0: no limit), so a
// server can cap a write without seeking back.
func (r *Reader) NextMax(max int) (ByteView, error) {
	if max <= 0 {
		max = -1
	}
	b, err := r.next(max)
	return ByteView{b: b}, err
}

// Read implements io.Reader over the same wait.
func (r *Reader) Read(p []byte) (int, error) {
	b, err := r.next(len(p))
	return copy(p, b), err
}

// next waits for bytes past the reader's offset and returns up to max of
// them (max < 0: all there are in one piece) as a view of the shared
// buffer.
func (r *Reader) next(max int) ([]byte, error) {
	f := r.f
	f.mu.Lock()
	for {
		if r.closed {
			f.mu.Unlock()
			return nil, ErrReaderClosed
		}
		r.commitLocked()
		if r.off < f.size {
			p := f.viewLocked(r.off)
			if max >= 0 && len(p) > max {
				p = p[:max]
			}
			r.off += int64(len(p))
			f.mu.Unlock()
			return p, nil
		}
		if f.done {
			err := f.err
			f.mu.Unlock()
			if err != nil {
				return nil, err
			}
			return nil, io.EOF
		}
		ch := f.changed
		f.mu.Unlock()
		select {
		case <-ch:
		case <-r.ctx.Done():
			return nil, r.ctx.Err()
		}
		f.mu.Lock()
	}
}

// Seek moves the read offset, so ranges can be served from a fill. SeekEnd
// needs a known ContentLength (or a finished fill). A pass-through fill
// cannot go back before what it has dropped (ErrOutsideWindow), but it
// keeps what a reader might seek back to: a Seek gives up no byte until the
// reader reads at its new offset.
func (r *Reader) Seek(offset int64, whence int) (int64, error) {
	f := r.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.closed {
		return 0, ErrReaderClosed
	}
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = r.off + offset
	case io.SeekEnd:
		size := int64(-1)
		if f.head != nil {
			size = f.head.ContentLength
		}
		if f.done && f.err == nil {
			size = f.size
		}
		if size < 0 {
			return 0, errors.New("cache: seek from end of a body of unknown length")
		}
		abs = size + offset
	default:
		return 0, errors.New("cache: bad whence")
	}
	if abs < 0 {
		return 0, errors.New("cache: seek to a negative offset")
	}
	if abs < f.base {
		return 0, fmt.Errorf("cache: seek to %d, window starts at %d: %w", abs, f.base, ErrOutsideWindow)
	}
	r.keep = min(r.keep, abs)
	r.off = abs
	return abs, nil
}

// Wait blocks until the fill has finished and returns its entry (stored or
// not), or its error. The entry of a pass-through fill has no body (its
// bytes went by in the window); check PassThrough.
func (r *Reader) Wait() (*Entry, error) {
	f := r.f
	for {
		f.mu.Lock()
		done, e, err, ch := f.done, f.entry, f.err, f.changed
		f.mu.Unlock()
		if done {
			return e, err
		}
		select {
		case <-ch:
		case <-r.ctx.Done():
			return nil, r.ctx.Err()
		}
	}
}

// Resolved returns the entry a 304 resolved the fill to, or nil.
func (r *Reader) Resolved() *Entry {
	f := r.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.resolved {
		return f.entry
	}
	return nil
}

// Close detaches the reader; later Next, Read and Seek fail with
// ErrReaderClosed. A pass-through fill drops what only this reader held,
// and stops when no reader is left.
func (r *Reader) Close() error {
	f := r.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	delete(f.readers, r)
	f.trimLocked()
	if f.draining && len(f.readers) == 0 {
		f.draining = false
		f.releaseLocked()
	}
	// The writer stops when no reader is left; the readers wait for
	// nothing a reader's leaving changes.
	f.roomLocked()
	return nil
}
