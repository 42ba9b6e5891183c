package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/edgecache/edgecache/cache"
	"github.com/edgecache/edgecache/manifest"
	"github.com/edgecache/edgecache/upstream"
)

// errIdleTimeout: the origin sent no body byte for OriginConfig.IdleTimeout.
var errIdleTimeout = errors.New("origin body idle timeout")

// originStatusError is a 5xx from the origin turned into an error so that
// a refresh falls back to the stale copy (stale-if-error, RFC 5861 4).
type originStatusError struct{ code int }

func (e *originStatusError) Error() string { return "origin answered " + strconv.Itoa(e.code) }

func newTransport(cfg OriginConfig) *http.Transport {
	d := &net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		// Never an environment proxy: the origin is what the config names.
		Proxy:                  nil,
		DialContext:            d.DialContext,
		TLSHandshakeTimeout:    cfg.ConnectTimeout,
		ResponseHeaderTimeout:  cfg.FirstByteTimeout,
		MaxIdleConnsPerHost:    cfg.MaxIdleConnsPerHost,
		IdleConnTimeout:        90 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 1 << 20,
		// The edge wants the origin's bytes as they are; the transport
		// would otherwise ask for gzip and silently decode it.
		DisableCompression: true,
		ForceAttemptHTTP2:  true,
	}
}

// fillKind is why a fill runs; it chooses the transport and the lifetimes
// and labels the origin request metrics.
type fillKind uint8

const (
	kindFill     fillKind = iota // a viewer's miss
	kindRefresh                  // a viewer found the entry expired
	kindPrefetch                 // the edge fetches what a playlist lists
	kindBlocking                 // an LL-HLS blocking playlist request
)

func (k fillKind) String() string {
	return [...]string{"fill", "refresh", "prefetch", "blocking"}[k]
}

// fetchReq is what a fill needs from the request that started it; the
// request itself may be gone long before the fill ends.
type fetchReq struct {
	rt       *route
	kind     fillKind
	upstream string
	// host is the Host sent upstream, empty for the origin URL's.
	host string
	// timing, when set, receives the origin request's times for the
	// access log of the request that started the fill.
	timing *fillTiming
	path   string
	header http.Header // what goes upstream
	// authorized: the request carries credentials the route forwards
	// (RFC 9111 3.5).
	authorized bool
	stale      *cache.Entry // for a conditional refresh
	// key is the request's cache key before forwarded headers and Vary
	// are applied: the playlist logic (renditions, LL-HLS targets) reads
	// it. base adds the forwarded headers' values: Vary variants extend
	// it, and viewer is the header they are read from.
	key      string
	base     string
	viewer   http.Header
	edgePath string // escaped edge path, to resolve playlist URIs against
	// premature > 0: a segment of a live stream that no playlist listed
	// when the request started, and how long after its last change one may
	// still be being written (streams.premature).
	premature time.Duration
	// hold > 0: an LL-HLS blocking playlist request, which the origin may
	// hold before it answers; bounds the whole request.
	hold time.Duration
	// varyRetry: this fill was started after the viewer found the fill it
	// joined was for another variant; a second mismatch goes upstream
	// alone.
	varyRetry bool
	// from is the member of the route's origin set that answered (nil
	// without origins).
	from *upstream.Origin
}

func (p *Proxy) newFetchReq(rt *route, kind fillKind, key string, r *http.Request, stale *cache.Entry) *fetchReq {
	path := r.URL.EscapedPath()
	return &fetchReq{
		rt:         rt,
		kind:       kind,
		key:        key,
		base:       rt.keyFor(key, r.Header, r.Host),
		viewer:     r.Header,
		edgePath:   path,
		upstream:   rt.upstreamURL(path, r.URL.RawQuery),
		host:       rt.originHost(r),
		path:       r.URL.Path,
		header:     rt.fillRequestHeader(r.Header, r.RemoteAddr, p.via),
		authorized: rt.credentialed(r.Header),
		stale:      stale,
		premature:  p.streams.premature(key, r.URL.Path),
	}
}

// applyVary settles a head's variant: a response that varies is stored
// under the variant key of the request that fetched it (RFC 9111 4.1),
// and not at all when its URL already has maxVariants variants.
func (p *Proxy) applyVary(hd *cache.Head, fr *fetchReq) {
	fields, star := varyFields(hd.Header)
	if star || len(fields) == 0 {
		return
	}
	hd.StoreKey = variantKey(fr.base, fields, fr.viewer)
	if !p.varies.learn(fr.base, fields, hd.StoreKey, time.Now()) {
		hd.Store = false
	}
}

// fetch returns the cache.Fetch that runs fr against the origin.
func (p *Proxy) fetch(fr *fetchReq) cache.Fetch {
	return func(ctx context.Context, w *cache.FillWriter) error {
		start := time.Now()
		err := p.runFetch(ctx, fr, w)
		d := time.Since(start)
		if fr.timing != nil {
			fr.timing.done.Store(int64(d))
		}
		p.metrics.FillDone(d, err == nil)
		if err != nil {
			p.log.Debug("fill failed", "url", fr.upstream, "err", err)
		}
		return err
	}
}

func (p *Proxy) runFetch(ctx context.Context, fr *fetchReq, w *cache.FillWriter) error {
	ctx, stop := holdContext(ctx, fr.hold)
	defer stop()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fr.upstream, nil)
	if err != nil {
		return fmt.Errorf("origin request %s: %w", fr.upstream, err)
	}
	req.Header = fr.header
	req.Host = fr.host
	if fr.timing != nil {
		req = req.WithContext(httptrace.WithClientTrace(ctx, fr.timing.trace()))
	}
	if fr.stale != nil {
		etag, lm := fr.stale.Validators()
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		if lm != "" {
			req.Header.Set("If-Modified-Since", lm)
		}
	}
	reqTime := time.Now()
	tr := p.transport
	if fr.hold > 0 {
		// The first-byte timeout would end the hold; the context bounds it.
		tr = p.holdTransport
	}
	resp, from, err := p.roundTrip(tr, fr, req) // origins.go: members in turn
	if err != nil {
		p.metrics.OriginRequest(fr.rt.Name, fr.kind.String(), "error")
		return fmt.Errorf("origin %s: %w", fr.upstream, err)
	}
	fr.from = from
	resp.Body = watchBody(fr.rt.set, from, resp.Body)
	defer resp.Body.Close()
	respTime := time.Now()
	if fr.hold > 0 {
		// The origin held the request on purpose: that wait is not
		// transit time, and counting it (RFC 9111 4.2.3 response_delay)
		// would age the answer by the hold and make Age lie to players
		// tuning in by it (RFC 8216bis appendix C).
		reqTime = respTime
	}
	p.metrics.OriginRequest(fr.rt.Name, fr.kind.String(), codeClass(resp.StatusCode))

	if fr.stale != nil {
		switch {
		case resp.StatusCode == http.StatusNotModified:
			h := p.view().policy.refreshedHead(fr.stale.Head(), originResponseHeader(resp.Header), reqTime, respTime)
			return w.Resolve(fr.stale.WithHead(h))
		case resp.StatusCode >= 500 && fr.stale.Staleness(respTime) <= fr.stale.Head().StaleIfError:
			// Every reader of this refresh has the stale entry to fall
			// back on; the origin's error page is not worth streaming.
			return &originStatusError{resp.StatusCode}
		}
	}
	if resp.StatusCode == http.StatusNotModified {
		return fmt.Errorf("origin %s: 304 to an unconditional request", fr.upstream)
	}

	class := manifest.Classify(resp.Header.Get("Content-Type"), fr.path, nil)
	pathClass := manifest.Classify("", fr.path, nil)
	if resp.StatusCode == http.StatusOK {
		switch {
		case class.Kind() == manifest.KindManifest:
			return p.fillManifest(ctx, cancel, fr, w, resp, reqTime, respTime)
		case pathClass.Kind() == manifest.KindManifest && class.Kind() == manifest.KindOther:
			// An HTML page or other junk where a playlist belongs (an
			// origin's error page sent as 200): an origin failure, never
			// something to give a player.
			p.metrics.GateReject("not-a-playlist")
			return fmt.Errorf("origin %s: %w: Content-Type %q", fr.upstream, errMalformedManifest, resp.Header.Get("Content-Type"))
		}
	}
	if resp.StatusCode != http.StatusOK {
		// Error pages say nothing of the object in their type: the path
		// does (the 404 cap of playlists and segments).
		class = pathClass
	}
	hdr := originResponseHeader(resp.Header)
	if resp.ContentLength >= 0 {
		hdr.Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	}
	hd := p.view().policy.head(class, resp.StatusCode, hdr, resp.ContentLength, reqTime, respTime, fr.authorized)
	p.streams.limitHead(&hd, class)
	if fr.hold > 0 {
		rendition, _ := renditionOf(fr.key)
		blockingLifetimes(&hd, p.streams.target(rendition), mayStore(&hd, fr.authorized))
	}
	p.applyVary(&hd, fr)
	dropOwnFields(hdr)
	if fr.premature > 0 && !unchangedFor(resp.Header, fr.premature) {
		// Requested before any playlist listed it: an origin may still be
		// writing it under its final name (nginx-rtmp does). Serve it, keep
		// nothing; once listed it is fetched fresh. Unless the origin says
		// it has not changed for two target durations: a file no playlist
		// lists that is not being written (one slid out of the window, or
		// one of another format's) is stored as any other.
		hd.Store = false
	}
	if err := w.WriteHead(hd); err != nil {
		return err
	}
	return p.copyBody(ctx, cancel, w, resp.Body, fr.upstream)
}

// copyBody moves the origin body into the fill.
func (p *Proxy) copyBody(ctx context.Context, cancel context.CancelCauseFunc, w *cache.FillWriter, body io.Reader, url string) error {
	return p.readBody(ctx, cancel, body, url, func(b []byte) error {
		_, err := w.Write(ctx, b)
		return err
	})
}

// readBody hands the origin body to sink piece by piece, failing when the
// origin goes quiet for longer than the idle timeout.
func (p *Proxy) readBody(ctx context.Context, cancel context.CancelCauseFunc, body io.Reader, url string, sink func([]byte) error) error {
	// The clock measures the origin: it stands still while the sink
	// waits for the slowest reader of a pass-through fill (passidle.go).
	reads := idleReads{idle: p.view().cfg.Origin.IdleTimeout, quiet: func() { cancel(errIdleTimeout) }}
	defer reads.stop()
	bp := p.bufs.Get().(*[]byte)
	defer p.bufs.Put(bp)
	buf := *bp
	for {
		n, err := reads.read(body, buf)
		if n > 0 {
			if serr := sink(buf[:n]); serr != nil {
				return serr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if cause := context.Cause(ctx); errors.Is(cause, errIdleTimeout) {
				return fmt.Errorf("origin %s: %w", url, errIdleTimeout)
			}
			return fmt.Errorf("origin %s: body: %w", url, err)
		}
	}
}

func codeClass(code int) string {
	switch {
	case code < 200:
		return "1xx"
	case code < 300:
		return "2xx"
	case code < 400:
		return "3xx"
	case code < 500:
		return "4xx"
	}
	return "5xx"
}

// fillTiming is what the access log reports of the origin request a
// viewer's request started ($upstream_connect_time,
// $upstream_response_time). The fill writes it; the request that started
// the fill reads it after the fill has ended.
type fillTiming struct {
	connect atomic.Int64 // nanoseconds spent connecting (zero: a kept-alive connection)
	done    atomic.Int64 // nanoseconds from the fill's start to its end
	dialAt  atomic.Int64
}

func (t *fillTiming) trace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		ConnectStart: func(string, string) { t.dialAt.Store(time.Now().UnixNano()) },
		ConnectDone: func(string, string, error) {
			if at := t.dialAt.Load(); at != 0 {
				t.connect.Add(time.Now().UnixNano() - at)
			}
		},
	}
}
