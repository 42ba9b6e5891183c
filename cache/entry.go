// Package cache stores origin responses in RAM and runs the fills that
// produce them.
//
// It knows bytes and freshness (RFC 9111) but nothing of HTTP handlers or
// video: the proxy decides what a response's freshness is and how to serve
// it; this package keeps the bytes, tells whether they are still fresh, and
// lets any number of readers stream a fill while it is being written.
package cache

import (
	"bytes"
	"io"
	"time"
)

// Head is the response head of an entry or a fill: status, header and the
// freshness the caller's policy assigned. The cache hands heads out by
// value with a read-only Header, so no reader can change a shared one.
type Head struct {
	Status int
	// Header holds the fields; see NewHeader for who may change them when.
	Header Header
	// ContentLength is the body length announced by the origin, or -1 when
	// it is unknown (chunked).
	ContentLength int64
	// ResponseTime is when the head was received from the origin.
	ResponseTime time.Time
	// InitialAge is the corrected initial age of RFC 9111 4.2.3.
	InitialAge time.Duration
	// Lifetime is the freshness lifetime (RFC 9111 4.2.1). Zero means the
	// entry is stale at once and every use needs validation.
	Lifetime time.Duration
	// StaleWhileRevalidate is how long past Lifetime the entry may be served
	// while one refresh is under way (RFC 5861, and nginx "updating").
	StaleWhileRevalidate time.Duration
	// StaleIfError is how long past Lifetime the entry may be served when the
	// origin fails (RFC 5861 stale-if-error, nginx proxy_cache_use_stale).
	StaleIfError time.Duration
	// Store reports whether the completed body may be stored.
	Store bool
	// Shared reports whether concurrent requests may be given this
	// response. A private or no-store response is for its requester alone.
	Shared bool
	// Label is an opaque small number the caller attaches (the proxy keeps
	// the object class there); the cache never interprets it.
	Label uint8
	// Extra is an opaque value the caller attaches when the fill completes
	// (the proxy keeps parsed playlist state there). Every reader of the
	// entry gets the same one: it must be immutable (a pointer to a value
	// nothing writes after attaching it).
	Extra any
	// StoreKey, when non-empty, is the key a fill stores its completed
	// entry under instead of the fill's own key, and the entry's Key(). The
	// proxy learns a response's Vary only when the head arrives, and
	// stores it under its variant key (key + "\x00" + ...). Readers still
	// join the fill by the fill's key. Purges match either key. Empty
	// means the fill's key.
	StoreKey string
}

// Entry is a complete, immutable cached response. Nothing a reader does can
// change it: its head comes by value with a read-only header, its body as
// a ByteView. Share it freely.
type Entry struct {
	key  string
	head Head
	body []byte
}

// NewEntry builds an entry outside a fill (tests, synthetic responses).
// body and h.Header become the entry's: the caller must not change them.
func NewEntry(key string, h Head, body []byte) *Entry {
	h.ContentLength = int64(len(body))
	h.Header.seal()
	return &Entry{key: key, head: h, body: body}
}

// Key returns the cache key the entry is stored under.
func (e *Entry) Key() string { return e.key }

// Head returns a copy of the entry's head. Its Header is a read-only view.
func (e *Entry) Head() Head { return e.head }

// Body returns a read-only view of the stored body.
func (e *Entry) Body() ByteView { return ByteView{b: e.body} }

// Len returns the body length.
func (e *Entry) Len() int64 { return int64(len(e.body)) }

// NewReader returns a reader over the body that cannot modify it.
func (e *Entry) NewReader() *bytes.Reader { return bytes.NewReader(e.body) }

// WriteTo writes the body to w.
func (e *Entry) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(e.body)
	return int64(n), err
}

// Age is the current age of RFC 9111 4.2.3.
func (e *Entry) Age(now time.Time) time.Duration {
	resident := now.Sub(e.head.ResponseTime)
	if resident < 0 {
		resident = 0
	}
	return e.head.InitialAge + resident
}

// Fresh reports whether the entry is within its freshness lifetime.
func (e *Entry) Fresh(now time.Time) bool {
	return e.Age(now) < e.head.Lifetime
}

// Staleness is how far past its freshness lifetime the entry is (zero when
// fresh).
func (e *Entry) Staleness(now time.Time) time.Duration {
	s := e.Age(now) - e.head.Lifetime
	if s < 0 {
		return 0
	}
	return s
}

// Validators returns the entry's ETag and Last-Modified, for a conditional
// refresh (RFC 9111 4.3.1).
func (e *Entry) Validators() (etag, lastModified string) {
	return e.head.Header.Get("Etag"), e.head.Header.Get("Last-Modified")
}

// WithHead returns a copy of the entry that shares the body and has a new
// head: a 304 refresh (RFC 9111 4.3.4) keeps the body and replaces the
// freshness.
func (e *Entry) WithHead(h Head) *Entry {
	h.ContentLength = int64(len(e.body))
	h.Header.seal()
	return &Entry{key: e.key, head: h, body: e.body}
}

// cost is what the entry counts against the byte budget: body, header
// strings and a fixed overhead for the structures around them.
func (e *Entry) cost() int64 {
	const overhead = 256
	return int64(len(e.body)) + int64(len(e.key)) + overhead + e.head.Header.cost()
}
