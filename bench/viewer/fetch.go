package viewer

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
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
	bufs *sync.Pool
	// gzips are the run's gzip decoders (*gunzipper); nil: a new one
	// per gzipped body.
	gzips *sync.Pool
	// unzipped are the run's decoded playlists, by their gzipped bytes;
	// nil: each decoded again.
	unzipped *parseCache[[]byte]
	timeout  time.Duration
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
	body   []byte // with keep; decoded, maybe shared: read-only
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
	} else {
		// Players accept gzip (browsers and AVPlayer say so on every
		// playlist request), and edges that compress playlists send it.
		// net/http's transport would ask too, but it decodes each body
		// with a new decoder, whose window and tables cost more than the
		// rest of a playlist reload: the simulator asks itself, decodes
		// each distinct body once (gunzipAll) with pooled decoders
		// (RFC 9110 12.5.3, 8.4.1.3).
		req.Header["Accept-Encoding"] = []string{"gzip"}
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
		drain(resp.Body)
		ec := err5xx
		if resp.StatusCode < 500 {
			ec = err4xx
		}
		return nil, f.fail(ctx, class, ec, fmt.Errorf("get %s: %d: %w", u, resp.StatusCode, ErrStatus))
	}
	gz, err := isGzipped(resp.Header)
	if err != nil {
		drain(resp.Body)
		return nil, f.fail(ctx, class, errNetwork, fmt.Errorf("get %s: %w", u, err))
	}
	switch {
	case o.keep:
		r.body, err = readPlaylist(resp.Body, resp.ContentLength)
		if err == nil && gz {
			r.body, err = f.gunzipAll(r.body)
		}
		r.size = int64(len(r.body))
	case gz:
		var g *gunzipper
		if g, err = f.gunzip(resp.Body); err == nil {
			r.size, err = discard(g.zr, f.bufs)
			f.putGunzip(g)
		}
	default:
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

// readPlaylist reads a playlist body of length n (-1: unknown) whole,
// bounded by maxPlaylistBytes. A known length is read into one buffer of
// that size: io.ReadAll would grow one from 512 bytes, several
// allocations and copies for every reload of a 2-3 KB playlist.
func readPlaylist(body io.Reader, n int64) ([]byte, error) {
	if n > maxPlaylistBytes {
		return nil, errBodyTooLarge
	}
	if n < 0 {
		b, err := io.ReadAll(io.LimitReader(body, maxPlaylistBytes+1))
		if err == nil && len(b) > maxPlaylistBytes {
			err = errBodyTooLarge
		}
		return b, err
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(body, b); err != nil {
		return nil, err
	}
	return b, nil
}

// drain reads a little of a body that is not wanted, so that the
// connection can be reused.
func drain(body io.Reader) {
	io.Copy(io.Discard, io.LimitReader(body, 64<<10))
}

// isGzipped reports whether a response's body is gzipped. Only gzip was
// asked for: any other coding is an error (RFC 9110 8.4, 12.5.3).
func isGzipped(h http.Header) (bool, error) {
	ce := h["Content-Encoding"]
	switch {
	case len(ce) == 0:
		return false, nil
	case len(ce) == 1 && strings.EqualFold(ce[0], "gzip"):
		return true, nil
	case len(ce) == 1 && strings.EqualFold(ce[0], "identity"):
		return false, nil
	}
	return false, fmt.Errorf("Content-Encoding %q not asked for", ce)
}

// gunzipper is a pooled gzip decoder and the buffered reader it reads
// through (gzip.Reader.Reset makes a new 4 KiB one for a reader that is
// not an io.ByteReader).
type gunzipper struct {
	br *bufio.Reader
	zr *gzip.Reader
}

// gunzip returns a decoder of body, from the run's pool when there is
// one; putGunzip gives it back.
func (f *fetcher) gunzip(body io.Reader) (*gunzipper, error) {
	if f.gzips != nil {
		if g, ok := f.gzips.Get().(*gunzipper); ok {
			g.br.Reset(body)
			if err := g.zr.Reset(g.br); err != nil {
				f.putGunzip(g)
				return nil, fmt.Errorf("gzip: %w", err)
			}
			return g, nil
		}
	}
	g := &gunzipper{br: bufio.NewReader(body)}
	zr, err := gzip.NewReader(g.br)
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	g.zr = zr
	return g, nil
}

func (f *fetcher) putGunzip(g *gunzipper) {
	if f.gzips != nil {
		g.br.Reset(nil)
		f.gzips.Put(g)
	}
}

// gunzipAll decodes a gzipped playlist, bounded by maxPlaylistBytes.
// Thousands of viewers load the same few compressed bodies, so with the
// run's cache (f.unzipped) each is decoded once and the viewers share the
// result, read-only, as they share its parse.
func (f *fetcher) gunzipAll(raw []byte) ([]byte, error) {
	if f.unzipped != nil {
		return f.unzipped.get("", raw, f.decodeAll)
	}
	return f.decodeAll(raw)
}

func (f *fetcher) decodeAll(raw []byte) ([]byte, error) {
	g, err := f.gunzip(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	defer f.putGunzip(g)
	// A decoded length is not known before the end: readPlaylist's bound
	// for bodies of unknown length.
	out, err := readPlaylist(g.zr, -1)
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	return out, nil
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
