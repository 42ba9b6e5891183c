package viewer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// Class is the kind of object a request fetches; TTFB and errors are
// reported per class.
type Class uint8

// Object classes.
const (
	ClassPlaylist Class = iota // HLS playlist or DASH MPD
	ClassInit                  // EXT-X-MAP, SegmentTemplate@initialization
	ClassSegment
	ClassPart // LL-HLS partial segment
	numClasses
)

var classNames = [numClasses]string{"playlist", "init", "segment", "part"}

func (c Class) String() string { return classNames[c] }

// errClass is how a failed request is counted.
type errClass uint8

const (
	err4xx errClass = iota
	err5xx
	errNetwork
	numErrClasses
)

var errClassNames = [numErrClasses]string{"4xx", "5xx", "network"}

// ErrStatus is wrapped by the error for a response that is not 200 or 206.
var ErrStatus = errors.New("unexpected HTTP status")

// errBodyTooLarge is returned when a playlist exceeds maxPlaylistBytes.
var errBodyTooLarge = errors.New("body too large")

const (
	// maxPlaylistBytes bounds a playlist or MPD read into memory. Real
	// ones are tens of KiB; a live playlist with a day of DVR window is a
	// few MiB.
	maxPlaylistBytes = 8 << 20
)

// fetcher does one viewer's requests and records what they cost.
type fetcher struct {
	client *http.Client
	rec    *recorder // nil: record nothing (the origin poller)
	// bufs are the run's body buffers (discardBufs); nil: io.Discard's.
	bufs    *sync.Pool
	timeout time.Duration
}

// getOpts says how to fetch.
type getOpts struct {
	keep     bool   // read the body into memory (playlists), bounded
	rangeHdr string // Range header value, "" for the whole object
	// blocking: an LL-HLS blocking reload or a preload hint, which the
	// server holds on purpose. Its time to first byte is recorded as hold
	// time, and it gets extra time before it is given up.
	blocking bool
	extra    time.Duration // added to the timeout when blocking
}

// response is what a fetch returns.
type response struct {
	body   []byte // with keep
	size   int64
	header http.Header
	url    *url.URL // after redirects
	start  time.Time
	ttfb   time.Duration
	total  time.Duration
}

// get fetches u fully. Failures are counted by class unless ctx ended:
// requests cut short by the end of the run are not the server's fault.
func (f *fetcher) get(ctx context.Context, u *url.URL, class Class, o getOpts) (*response, error) {
	timeout := f.timeout
	if o.blocking {
		timeout += o.extra
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// Built by hand, not from u.String(): parsing the URL back costs a
	// viewer more than the request itself on a playlist reload.
	req := (&http.Request{
		Method:     http.MethodGet,
		URL:        u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     make(http.Header, 1),
		Host:       u.Host,
	}).WithContext(rctx)
	if o.rangeHdr != "" {
		req.Header["Range"] = []string{o.rangeHdr}
	}
	start := time.Now()
	r := &response{start: start}
	if f.rec != nil {
		f.rec.requests.Add(1)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, f.fail(ctx, class, errNetwork, fmt.Errorf("get %s: %w", u, err))
	}
	defer resp.Body.Close()
	// Do returns once the head is read: the first byte, to within the
	// parse of a head (an httptrace per request cost more than that).
	r.ttfb = time.Since(start)
	r.header = resp.Header
	r.url = resp.Request.URL
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusPartialContent {
		// Drain a little so the connection can be reused.
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		ec := err5xx
		if resp.StatusCode < 500 {
			ec = err4xx
		}
		return nil, f.fail(ctx, class, ec, fmt.Errorf("get %s: %d: %w", u, resp.StatusCode, ErrStatus))
	}
	if o.keep {
		r.body, err = io.ReadAll(io.LimitReader(resp.Body, maxPlaylistBytes+1))
		r.size = int64(len(r.body))
		if err == nil && r.size > maxPlaylistBytes {
			err = errBodyTooLarge
		}
	} else {
		r.size, err = discard(resp.Body, f.bufs)
	}
	if f.rec != nil {
		f.rec.bytes.Add(r.size)
	}
	if err != nil {
		if hf, ok := f.client.Transport.(*hostFailover); ok && ctx.Err() == nil {
			hf.fail(resp.Request.URL.Host)
		}
		return nil, f.fail(ctx, class, errNetwork, fmt.Errorf("get %s: body: %w", u, err))
	}
	r.total = time.Since(start)
	if f.rec != nil {
		f.rec.recordTTFB(class, o.blocking, r.ttfb)
	}
	return r, nil
}

func (f *fetcher) fail(ctx context.Context, class Class, ec errClass, err error) error {
	if f.rec != nil && ctx.Err() == nil {
		f.rec.errs[class][ec].Add(1)
	}
	return err
}

// discardBufs hands out the buffers bodies are read into and dropped:
// 4x io.Discard's 8 KiB, so a 1-5 MB segment takes a quarter of the
// reads. The simulator shares the cores with the edge: its cost per
// viewer bounds how many viewers it can show. One per run, shared by its
// viewers.
func discardBufs() *sync.Pool {
	return &sync.Pool{New: func() any { return new([32 << 10]byte) }}
}

// discard reads r to its end into buffers from bufs (nil: io.Discard's)
// and returns how many bytes it read.
func discard(r io.Reader, bufs *sync.Pool) (int64, error) {
	if bufs == nil {
		return io.Copy(io.Discard, r)
	}
	b := bufs.Get().(*[32 << 10]byte)
	defer bufs.Put(b)
	var n int64
	for {
		m, err := r.Read(b[:])
		n += int64(m)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// ageOf returns the Age header in seconds (RFC 9111 5.1).
func ageOf(h http.Header) (float64, bool) {
	v := h.Get("Age")
	if v == "" {
		return 0, false
	}
	n, err := strconv.ParseUint(v, 10, 63)
	if err != nil {
		return 0, false
	}
	return float64(n), true
}

// sleepUntil waits for t or the end of ctx.
func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}
