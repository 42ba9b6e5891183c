package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
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
)

// Fetch produces one response: it calls w.WriteHead once, then w.Write for
// the body, and returns nil when the body is complete. A 304 refresh calls
// w.Resolve instead. ctx belongs to the fill, never to any one client.
type Fetch func(ctx context.Context, w *FillWriter) error

// fill is one origin fetch that any number of readers stream while it runs
// (read-while-write). Its body buffer is append-only: bytes below len(buf)
// are never rewritten, so readers can use slices of it without the lock.
type fill struct {
	key     string
	c       *Cache
	started time.Time

	mu sync.Mutex // guards everything below
	// changed is closed and replaced whenever the state below changes;
	// readers wait on it together with their own ctx.
	changed chan struct{}
	head    *Head
	buf     []byte
	// base is the body offset of buf[0]. It is non-zero only for a
	// pass-through fill, which drops what every reader has consumed.
	base int64
	done bool
	err  error
	// entry is the complete result: the stored entry, or for a 304 the
	// refreshed one.
	entry *Entry
	// passThrough fills are not stored and not joinable: too large, or
	// not shareable.
	passThrough bool
	readers     map[*Reader]struct{}
	// fresh counts readers that have not received a body byte yet.
	fresh int
	// resolved: the fill ended with an existing complete entry: a 304's
	// refreshed copy, or one another fill had just stored (finishedFill).
	resolved bool
}

// finishedFill is a fill already resolved to e, for a request that asked
// for a fill just after another one stored e.
func finishedFill(c *Cache, e *Entry) *fill {
	f := newFill(c, e.key)
	f.head, f.buf, f.entry = &e.head, e.body, e
	f.resolved, f.done = true, true
	return f
}

func newFill(c *Cache, key string) *fill {
	return &fill{
		key:     key,
		c:       c,
		started: time.Now(),
		changed: make(chan struct{}),
		readers: make(map[*Reader]struct{}),
	}
}

// broadcastLocked wakes every waiting reader.
func (f *fill) broadcastLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fill) addReader(ctx context.Context, starter bool) *Reader {
	r := &Reader{f: f, ctx: ctx, starter: starter}
	f.mu.Lock()
	f.readers[r] = struct{}{}
	f.fresh++
	f.mu.Unlock()
	return r
}

// FillWriter is the fetch's handle on its fill.
type FillWriter struct {
	f *fill
}

// WriteHead publishes the response head to every reader. A head with a
// known ContentLength above the cache's object limit, or one that may not
// be shared, turns the fill into pass-through. A shared head that is not
// to be stored stays joinable while it runs: concurrent requests still
// collapse onto it; it is just not kept.
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
	hd := h
	f.head = &hd
	if h.ContentLength > 0 && h.ContentLength <= c.cfg.MaxObjectBytes {
		// One exact allocation: the stored entry will use this array.
		f.buf = make([]byte, 0, h.ContentLength)
	}
	if !h.Shared || h.ContentLength > c.cfg.MaxObjectBytes {
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

// Write appends body bytes and wakes the readers. For a pass-through fill it
// applies back-pressure to the slowest reader and fails with ErrNoReaders
// once they have all gone.
func (w *FillWriter) Write(ctx context.Context, p []byte) (int, error) {
	f := w.f
	c := f.c
	f.mu.Lock()
	if f.head == nil {
		f.mu.Unlock()
		return 0, fmt.Errorf("fill %s: body before head", f.key)
	}
	if cl := f.head.ContentLength; cl >= 0 && f.base+int64(len(f.buf))+int64(len(p)) > cl {
		f.mu.Unlock()
		return 0, fmt.Errorf("fill %s: %w", f.key, ErrLongBody)
	}
	becamePassThrough := false
	if !f.passThrough && f.base+int64(len(f.buf))+int64(len(p)) > c.cfg.MaxObjectBytes {
		// A chunked body outgrew the object limit: stop collecting it for
		// the store, keep streaming to whoever is reading.
		f.passThrough = true
		becamePassThrough = true
	}
	for f.passThrough {
		if len(f.readers) == 0 {
			f.mu.Unlock()
			return 0, fmt.Errorf("fill %s: %w", f.key, ErrNoReaders)
		}
		f.trimLocked()
		if int64(len(f.buf)) < c.cfg.PassThroughWindow {
			break
		}
		ch := f.changed
		f.mu.Unlock()
		if becamePassThrough {
			c.retire(f)
			becamePassThrough = false
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		f.mu.Lock()
	}
	f.buf = append(f.buf, p...)
	f.broadcastLocked()
	f.mu.Unlock()
	if becamePassThrough {
		c.retire(f)
	}
	return len(p), nil
}

// trimLocked drops the bytes every reader of a pass-through fill has
// consumed.
func (f *fill) trimLocked() {
	low := f.base + int64(len(f.buf))
	for r := range f.readers {
		if r.off < low {
			low = r.off
		}
	}
	if drop := low - f.base; drop > 0 {
		f.buf = append([]byte(nil), f.buf[drop:]...)
		f.base = low
	}
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
	f.entry = e
	f.resolved = true
	f.broadcastLocked()
	f.mu.Unlock()
	return nil
}

// finish ends the fill with the fetch's result, stores a complete body and
// retires the fill. It runs in the fill's goroutine.
func (f *fill) finish(err error, keep func(*Head) time.Duration, complete func(*Head, []byte) any) {
	c := f.c
	f.mu.Lock()
	if err == nil && f.head == nil {
		err = ErrNoHead
	}
	if err == nil && f.entry == nil {
		if cl := f.head.ContentLength; cl >= 0 && f.base+int64(len(f.buf)) != cl {
			err = ErrShortBody
		}
	}
	if err != nil {
		f.err = fmt.Errorf("fill %s: %w", f.key, err)
		f.done = true
		f.broadcastLocked()
		f.mu.Unlock()
		c.retire(f)
		return
	}
	store := !f.passThrough && f.head.Store
	e := f.entry
	if e == nil {
		body := f.buf
		if store && cap(body)-len(body) > len(body)/16 {
			// A chunked body grew by doubling; store it without the slack.
			body = append(make([]byte, 0, len(body)), body...)
		}
		h := *f.head
		h.ContentLength = int64(len(body))
		if store && complete != nil {
			h.Extra = complete(&h, body)
		}
		e = &Entry{key: f.key, head: h, body: body}
	}
	f.mu.Unlock()

	if store {
		c.store.set(e, keep(&e.head))
	}
	f.mu.Lock()
	f.entry = e
	f.done = true
	f.broadcastLocked()
	f.mu.Unlock()
	c.retire(f)
}

// Reader streams one fill from its first byte.
type Reader struct {
	f       *fill
	ctx     context.Context
	starter bool  // this reader's request started the fill
	off     int64 // guarded by f.mu
	served  bool  // guarded by f.mu: has had a body byte (or left)
}

// advanceLocked moves the offset and counts the reader's first byte.
func (r *Reader) advanceLocked(off int64) {
	r.off = off
	if !r.served && off > 0 {
		r.served = true
		r.f.fresh--
	}
}

// Waiting returns how many readers of this fill have not had a body byte
// yet. A server streaming to many readers can let them go first.
func (r *Reader) Waiting() int {
	f := r.f
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fresh
}

// Head waits for the response head. It fails when the fill fails first, when
// the response is not shareable and this reader did not start the fill, or
// when the reader's own ctx ends.
func (r *Reader) Head() (*Head, error) {
	h, _, err := r.headWait(nil)
	return h, err
}

// HeadWithin waits at most d for the response head (d <= 0: not at all).
// ok is false when d passed first; err is the fill's failure or the
// reader's ctx ending.
func (r *Reader) HeadWithin(d time.Duration) (h *Head, ok bool, err error) {
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
func (r *Reader) headWait(timeout <-chan time.Time) (*Head, bool, error) {
	f := r.f
	for {
		f.mu.Lock()
		h, err, ch := f.head, f.err, f.changed
		f.mu.Unlock()
		if h != nil {
			if !h.Shared && !r.starter {
				r.Close()
				return nil, true, ErrNotShared
			}
			return h, true, nil
		}
		if err != nil {
			return nil, true, err
		}
		select {
		case <-ch:
		case <-timeout:
			return nil, false, nil
		case <-r.ctx.Done():
			return nil, true, r.ctx.Err()
		}
	}
}

// Started reports whether this reader's request started the fill.
func (r *Reader) Started() bool { return r.starter }

// Next returns the next bytes of the body, waiting for them as needed. The
// slice is shared and read only. It returns io.EOF after the last byte, and
// the fill's error if it failed.
func (r *Reader) Next() ([]byte, error) { return r.next(-1) }

// Read implements io.Reader over the same wait.
func (r *Reader) Read(p []byte) (int, error) {
	b, err := r.next(len(p))
	return copy(p, b), err
}

// next waits for bytes past the reader's offset and returns up to max of
// them (max < 0: all there are) as a view of the shared buffer.
func (r *Reader) next(max int) ([]byte, error) {
	f := r.f
	for {
		f.mu.Lock()
		end := f.base + int64(len(f.buf))
		if r.off < end {
			p := f.buf[r.off-f.base:]
			if max >= 0 && len(p) > max {
				p = p[:max]
			}
			r.advanceLocked(r.off + int64(len(p)))
			if f.passThrough {
				f.broadcastLocked() // let a throttled writer move on
			}
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
	}
}

// Seek moves the read offset, so ranges can be served from a fill. SeekEnd
// needs a known ContentLength (or a finished fill). A pass-through fill
// cannot go back before what it has dropped.
func (r *Reader) Seek(offset int64, whence int) (int64, error) {
	f := r.f
	f.mu.Lock()
	defer f.mu.Unlock()
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
			size = f.base + int64(len(f.buf))
		}
		if size < 0 {
			return 0, errors.New("cache: seek from end of a body of unknown length")
		}
		abs = size + offset
	default:
		return 0, errors.New("cache: bad whence")
	}
	if abs < f.base {
		return 0, errors.New("cache: seek before the retained window")
	}
	r.advanceLocked(abs)
	return abs, nil
}

// Wait blocks until the fill has finished and returns its entry (stored or
// not), or its error.
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

// Close detaches the reader. A pass-through fill with no readers left
// stops.
func (r *Reader) Close() error {
	f := r.f
	f.mu.Lock()
	if _, ok := f.readers[r]; ok && !r.served {
		f.fresh--
		r.served = true
	}
	delete(f.readers, r)
	f.broadcastLocked()
	f.mu.Unlock()
	return nil
}
