package proxy

import (
	"errors"
	"io"
	"net/http"
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
