package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// viewerBody is a viewer's request body as the edge passes it on to an
// origin (a method the cache does not serve): bounded in size
// (client.max_body_bytes, nginx's client_max_body_size) and in each wait
// for its next bytes (client.body_timeout, nginx's client_body_timeout),
// and remembering the first failure to read it. That failure is the
// viewer's (malformed chunking, too long, stalled, cut off), never the
// origin's: the transport hands it back as its own error, and the member
// set must not count it (origins.go), or anyone could mark a route's
// origins down with a few bad POSTs.
type viewerBody struct {
	rc      io.ReadCloser
	ctl     *http.ResponseController
	timeout time.Duration
	left    int64 // bytes still allowed; -1: no limit

	mu  sync.Mutex // Read runs on the transport's goroutine, failed on the handler's
	err *bodyError
}

// bodyError is a viewer's request body that could not be read whole: the
// status the viewer is answered (400, 408, 413) and why.
type bodyError struct {
	status int
	err    error
}

func (e *bodyError) Error() string {
	return "request body (" + strconv.Itoa(e.status) + "): " + e.err.Error()
}

func (e *bodyError) Unwrap() error { return e.err }

var errBodyTooLarge = errors.New("longer than client.max_body_bytes")

// viewerBodyKey finds a request's viewerBody in its context: the
// transport sees the body only through httputil.ReverseProxy's wrapper.
type viewerBodyKey struct{}

// limitBody wraps r's body when it has one, for a handler that will pass
// it on, and returns the request to pass on; it reports false, having
// answered 413, for a declared length over the limit (RFC 9110 15.5.14),
// before any origin is asked.
func (p *Proxy) limitBody(w http.ResponseWriter, r *http.Request) (*http.Request, bool) {
	if r.Body == nil || r.Body == http.NoBody {
		return r, true
	}
	c := p.view().cfg.Client // reloadable: read per request
	max := int64(c.MaxBodyBytes)
	if max > 0 && r.ContentLength > max {
		// The body is not read: the connection is closed after the answer
		// so that no byte of it is taken for a request.
		w.Header().Set("Connection", "close")
		p.plainError(w, http.StatusRequestEntityTooLarge, "request body longer than "+strconv.FormatInt(max, 10)+" bytes")
		return r, false
	}
	left := int64(-1)
	if max > 0 {
		left = max
	}
	vb := &viewerBody{rc: r.Body, ctl: http.NewResponseController(w), timeout: c.BodyTimeout, left: left}
	r = r.WithContext(context.WithValue(r.Context(), viewerBodyKey{}, vb))
	r.Body = vb
	return r, true
}

func (b *viewerBody) Read(p []byte) (int, error) {
	if err := b.failed(); err != nil {
		return 0, err
	}
	if b.left >= 0 && int64(len(p)) > b.left+1 {
		p = p[:b.left+1] // one byte past the limit tells a body that is longer
	}
	if b.timeout > 0 {
		_ = b.ctl.SetReadDeadline(time.Now().Add(b.timeout))
	}
	n, err := b.rc.Read(p)
	if b.left >= 0 {
		if int64(n) > b.left {
			return int(b.left), b.fail(http.StatusRequestEntityTooLarge, errBodyTooLarge)
		}
		b.left -= int64(n)
	}
	switch {
	case err == io.EOF:
		if b.timeout > 0 {
			// The body is whole: net/http's own read of the connection
			// (for the viewer's hang-up, then the next request) is not
			// bounded by the body's timeout.
			_ = b.ctl.SetReadDeadline(time.Time{})
		}
	case err != nil:
		status := http.StatusBadRequest // malformed or cut off
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			status = http.StatusRequestTimeout // RFC 9110 15.5.9
		}
		return n, b.fail(status, err)
	}
	return n, err
}

func (b *viewerBody) Close() error { return b.rc.Close() }

func (b *viewerBody) fail(status int, err error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err == nil {
		b.err = &bodyError{status: status, err: err}
	}
	return b.err
}

// failed returns the body's failure, nil while it has none.
func (b *viewerBody) failed() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err == nil {
		return nil // not a typed nil in an error
	}
	return b.err
}

// viewerBodyOf returns the viewer's body a request passed on carries, nil
// when it has none.
func viewerBodyOf(req *http.Request) *viewerBody {
	vb, _ := req.Context().Value(viewerBodyKey{}).(*viewerBody)
	return vb
}
