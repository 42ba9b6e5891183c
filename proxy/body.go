package proxy

import (
	"bytes"
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
// status the viewer is answered (400, 408, 413, or 503 when the edge
// could not hold it: body.go) and why.
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

// limitBody readies r's body, when it has one, for a handler that will
// pass it on: read whole first (bufferBody) unless client.stream_bodies
// is set or no limit bounds it, else wrapped to be read as the origin
// takes it. It returns the request to pass on and what to call once the
// exchange is over; it reports false, having answered, for a declared
// length over the limit (413, RFC 9110 15.5.14: before any origin is
// asked and before any of the body is read) or a body that could not be
// read whole.
func (p *Proxy) limitBody(w http.ResponseWriter, r *http.Request) (*http.Request, func(), bool) {
	if r.Body == nil || r.Body == http.NoBody {
		return r, noRelease, true
	}
	c := p.view().cfg.Client // reloadable: read per request
	max := int64(c.MaxBodyBytes)
	if max > 0 && r.ContentLength > max {
		// The body is not read: the connection is closed after the answer
		// so that no byte of it is taken for a request.
		w.Header().Set("Connection", "close")
		p.plainError(w, http.StatusRequestEntityTooLarge, "request body longer than "+strconv.FormatInt(max, 10)+" bytes")
		return r, noRelease, false
	}
	left := int64(-1)
	if max > 0 {
		left = max
	}
	vb := &viewerBody{rc: r.Body, ctl: http.NewResponseController(w), timeout: c.BodyTimeout, left: left}
	if max > 0 && !c.StreamBodies {
		return p.bufferBody(w, r, vb, int64(c.BodyBufferBytes))
	}
	r = r.WithContext(context.WithValue(r.Context(), viewerBodyKey{}, vb))
	r.Body = vb
	return r, noRelease, true
}

func noRelease() {}

// bodyBufferStart is the first buffer a body of unknown or large length
// is read into; it doubles as bytes arrive, so a viewer that declares a
// long body and sends it slowly holds little memory.
const bodyBufferStart = 16 << 10

var errBodyBudget = errors.New("client.body_buffer_bytes are all in use")

// bufferBody reads vb whole before any origin is asked (nginx's
// proxy_request_buffering on): a viewer trickling its body holds its own
// connection only, and the origin gets a body with its length, which the
// member set can send again to another origin. The memory is charged to
// p.bodyBytes as the buffer grows, up to budget for all bodies at once.
func (p *Proxy) bufferBody(w http.ResponseWriter, r *http.Request, vb *viewerBody, budget int64) (*http.Request, func(), bool) {
	var charged int64
	var once sync.Once
	release := func() { once.Do(func() { p.bodyBytes.Add(-charged) }) }
	grow := func(buf []byte, want int64) ([]byte, error) {
		add := want - int64(cap(buf))
		if p.bodyBytes.Add(add) > budget {
			p.bodyBytes.Add(-add)
			return buf, &bodyError{status: http.StatusServiceUnavailable, err: errBodyBudget}
		}
		charged += add
		nb := make([]byte, len(buf), want)
		copy(nb, buf)
		return nb, nil
	}
	// The most the buffer may need: the declared length, or one byte
	// past the limit, which tells a chunked body that is too long.
	most := vb.left + 1
	if r.ContentLength >= 0 {
		most = r.ContentLength
	}
	buf, err := grow(nil, min(most, bodyBufferStart))
	for err == nil {
		if len(buf) == cap(buf) {
			if int64(len(buf)) == most {
				// All declared bytes are here: read on only for the end
				// (net/http's reader says EOF at once).
				var one [1]byte
				_, err = vb.Read(one[:])
				if err == nil {
					err = &bodyError{status: http.StatusBadRequest, err: errors.New("body longer than its Content-Length")}
				}
				break
			}
			if buf, err = grow(buf, min(2*int64(cap(buf)), most)); err != nil {
				break
			}
		}
		var n int
		n, err = vb.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
	}
	r.Body.Close()
	if err != io.EOF {
		release()
		p.fail(w, r, statusBypass, err)
		return r, noRelease, false
	}
	r2 := r.Clone(r.Context())
	r2.ContentLength = int64(len(buf))
	r2.TransferEncoding = nil // sent with its length
	// The body is here: the viewer had its 100 (net/http sent it at the
	// first read); the origin is not asked to send one (RFC 9110 10.1.1).
	r2.Header.Del("Expect")
	if len(buf) == 0 {
		r2.Body, r2.GetBody = http.NoBody, nil
	} else {
		// The charge ends when the transport has read the body to its
		// end (it reads on to EOF to check for extra bytes), not when the
		// exchange does: a response that streams for long, to a viewer
		// that reads slowly, holds none of the budget. A second origin's
		// try (GetBody) reads the same bytes after that, briefly,
		// uncharged.
		r2.Body = &bufferedBody{r: bytes.NewReader(buf), release: release}
		r2.GetBody = func() (io.ReadCloser, error) {
			return &bufferedBody{r: bytes.NewReader(buf), release: release}, nil
		}
	}
	return r2, release, true
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

// bufferedBody is a body read whole, as the transport sends it: read to
// its end (or closed), it ends its charge to client.body_buffer_bytes.
// (httputil.ReverseProxy keeps the transport's Close from reaching it;
// the handler's own release covers a body never read.)
type bufferedBody struct {
	r       *bytes.Reader
	release func()
}

func (b *bufferedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		b.release()
	}
	return n, err
}

func (b *bufferedBody) Close() error {
	b.release()
	return nil
}

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
