package proxy

import (
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/edgecache/edgecache/cache"
)

// needsServeContent reports a request that http.ServeContent should answer:
// a range, or a conditional the cache can decide (RFC 9110 13.1, 14.2).
func needsServeContent(r *http.Request) bool {
	h := r.Header
	return len(h["Range"]) > 0 || len(h["If-None-Match"]) > 0 || len(h["If-Modified-Since"]) > 0 ||
		len(h["If-Match"]) > 0 || len(h["If-Unmodified-Since"]) > 0
}

// serveContent answers ranges and conditionals with net/http's own
// ServeContent over a complete body or a fill still arriving (its reader
// blocks until the bytes a range needs are there). If the fill breaks, the
// response is aborted rather than left short.
func (p *Proxy) serveContent(w http.ResponseWriter, r *http.Request, hd *cache.Head, rs io.ReadSeeker) {
	h := w.Header()
	if _, ok := h["Content-Type"]; !ok {
		// ServeContent would sniff the body; the origin sent no type, so
		// the edge adds none either.
		h["Content-Type"] = nil
	}
	var modtime time.Time
	if lm := hd.Header.Get("Last-Modified"); lm != "" {
		modtime, _ = http.ParseTime(lm)
	}
	er := &errReader{rs: rs}
	http.ServeContent(w, r, "", modtime, er)
	if er.err != nil && !errors.Is(er.err, io.EOF) && r.Context().Err() == nil {
		p.log.Warn("fill broke mid-range", "path", r.URL.Path, "err", er.err)
		panic(http.ErrAbortHandler)
	}
}

// errReader remembers the first read error a ReadSeeker returned.
type errReader struct {
	rs  io.ReadSeeker
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.rs.Read(p)
	if err != nil && e.err == nil {
		e.err = err
	}
	return n, err
}

func (e *errReader) Seek(off int64, whence int) (int64, error) { return e.rs.Seek(off, whence) }

// Ranges of objects over the cache's object limit. Such an object is
// never stored, so a range of it cannot be answered from the cache, and
// filling the whole object for each range would cost the origin the whole
// object per request: four 100-byte ranges near the end of an 8 MiB file
// would cost 32 MiB. The edge remembers which keys are oversized and sends
// their ranges upstream as the viewer asked, so the origin's bytes per
// range request are bounded by the range.

const (
	// maxOversized bounds the oversized keys remembered; forgetting one
	// costs one request the head of a whole fill.
	maxOversized = 4096
	// oversizedMemory is how long a key is remembered as oversized.
	oversizedMemory = 10 * time.Minute
)

// oversizedSet remembers keys whose objects exceed the object limit.
type oversizedSet struct {
	mu   sync.Mutex // guards keys
	keys map[string]time.Time
}

func newOversizedSet() *oversizedSet { return &oversizedSet{keys: map[string]time.Time{}} }

func (o *oversizedSet) add(key string, now time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, ok := o.keys[key]; !ok && len(o.keys) >= maxOversized {
		for k, t := range o.keys {
			if now.Sub(t) > oversizedMemory || len(o.keys) >= maxOversized {
				delete(o.keys, k)
			}
		}
	}
	o.keys[key] = now
}

func (o *oversizedSet) has(key string, now time.Time) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	t, ok := o.keys[key]
	if ok && now.Sub(t) > oversizedMemory {
		delete(o.keys, key)
		return false
	}
	return ok
}
