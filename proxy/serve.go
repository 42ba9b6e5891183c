package proxy

import (
	"errors"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/edgecache/edgecache/accesslog"
	"github.com/edgecache/edgecache/cache"
	"github.com/edgecache/edgecache/manifest"
)

// largeBody is the size above which a body is written in slices, each
// with its own write deadline, so a stalled client cannot hold a response
// forever.
const largeBody = 256 << 10

// errNotKept: a range was asked of a body the edge streamed through
// without keeping it.
var errNotKept = errors.New("body larger than max_object_bytes was not kept")

// firstWrite caps the first body write of a streamed fill.
const firstWrite = 16 << 10

// serveCacheable answers a GET or HEAD from the cache or a fill.
func (p *Proxy) serveCacheable(w http.ResponseWriter, r *http.Request, rt *route, rp http.Handler) {
	path := r.URL.EscapedPath()
	class := manifest.Classify("", r.URL.Path, nil)
	cp := p.view().policy.class(class.Kind())
	if class.Kind() == manifest.KindManifest && strings.Contains(r.URL.RawQuery, "_HLS_") {
		if handOff(w, "blocking") {
			return // may be held
		}
		p.serveDirectives(w, r, rt, rp, path, cp)
		return
	}
	p.serveKey(w, r, rt, rp, cacheKey(path, r.URL.RawQuery, cp.DropQuery), 0)
}

// serveKey answers from the entry under key, or a fill of it. hold > 0
// marks an LL-HLS blocking playlist request: the origin may hold it that
// long. key is the request's cache key; the entry is looked up under it
// extended by the route's forwarded headers and, when the URL is known to
// vary, by the variant the request selects.
func (p *Proxy) serveKey(w http.ResponseWriter, r *http.Request, rt *route, rp http.Handler, key string, hold time.Duration) {
	ckey := p.varies.key(rt.keyFor(key, r.Header, r.Host), r.Header)
	now := requestTime(w)
	if e := p.cache.Get(ckey); e != nil {
		if hold > 0 {
			p.metrics.Blocking("cached", 0)
		}
		if e.Fresh(now) {
			p.serveEntryAt(w, r, e, statusHit, now)
			return
		}
		if handOff(w, "wait") {
			return // a refresh, or a wait for one
		}
		p.serveStale(w, r, rt, rp, key, ckey, e, now)
		return
	}
	if handOff(w, "wait") {
		return // a fill, or the origin
	}
	if len(r.Header["Range"]) > 0 && p.oversized.has(ckey, now) {
		// Never stored: the range goes upstream as asked.
		rp.ServeHTTP(w, r)
		return
	}
	if start, ok := openEndedRange(r); ok && hold == 0 && p.streams.hinted(key) {
		p.serveOpenRange(w, r, rt, rp, key, start)
		return
	}
	fr := p.newFetchReq(rt, kindFill, key, r, nil)
	if hold > 0 {
		fr.kind, fr.hold = kindBlocking, hold
	}
	p.serveFill(w, r, rp, ckey, fr)
}

// serveFill answers from the fill of key that fr describes: the one in
// flight, or a new one.
func (p *Proxy) serveFill(w http.ResponseWriter, r *http.Request, rp http.Handler, key string, fr *fetchReq) {
	start := time.Now()
	x := exchangeOf(w)
	if x != nil && p.accessLog != nil && fr.timing == nil {
		fr.timing = new(fillTiming)
	}
	rdr, started, err := p.cache.Fill(r.Context(), key, nil, p.fetch(fr))
	if err != nil {
		p.fail(w, r, statusMiss, err)
		return
	}
	defer rdr.Close()
	st := statusMiss
	if !started {
		st = statusHit
		p.metrics.Joined()
	}
	hd, err := rdr.Head()
	if fr.hold > 0 {
		result := "joined"
		if started {
			result = "upstream"
		}
		p.metrics.Blocking(result, time.Since(start))
	}
	if err != nil {
		p.headFailed(w, r, rp, st, err)
		return
	}
	if x != nil {
		if started {
			x.hasUpstream, x.timing = true, fr.timing
			x.upstream = accesslog.Upstream{Addr: fr.rt.origin.Host, Status: hd.Status}
		} else {
			x.collapsed = true
		}
	}
	if !started {
		if mine, ok := otherVariant(&hd, key, fr); ok {
			// The fill this request joined was started by a request of
			// another variant (the URL's Vary was not known yet): it must
			// not be given this one (RFC 9111 4.1). Its own variant is
			// known now.
			rdr.Close()
			if fr.varyRetry {
				rp.ServeHTTP(w, r)
				return
			}
			nfr := *fr
			nfr.varyRetry = true
			p.serveFill(w, r, rp, mine, &nfr)
			return
		}
	}
	if hd.Status == http.StatusOK && len(r.Header["Range"]) > 0 && p.tooLargeForRanges(&hd, rdr) {
		// Too large to store: reading the whole object for this range
		// would cost the origin all of it. Leave the fill (it stops when
		// no reader is left) and ask for the range alone.
		p.oversized.add(key, time.Now())
		rdr.Close()
		rp.ServeHTTP(w, r)
		return
	}
	if hd.Status == http.StatusPartialContent && fr.header.Get("Range") != "" {
		// The origin's answer to a range asked upstream, passed on as it
		// is: no range is left to apply.
		r = r.Clone(r.Context())
		r.Header.Del("Range")
	}
	p.serveReader(w, r, key, rdr, &hd, st)
}

// tooLargeForRanges reports a fill whose object will not be stored
// because of its size: ranges of it go upstream. A body of unknown length
// is waited for until it ends or outgrows the limit.
func (p *Proxy) tooLargeForRanges(hd *cache.Head, rdr *cache.Reader) bool {
	if hd.ContentLength > p.cache.MaxObjectBytes() || rdr.PassThrough() {
		return true
	}
	if hd.ContentLength >= 0 {
		return false
	}
	_, pt, err := rdr.Settle()
	return err == nil && pt
}

// otherVariant reports that a fill's head is for a variant other than the
// one the request fr describes selects, and names that one's key.
func otherVariant(hd *cache.Head, fillKey string, fr *fetchReq) (string, bool) {
	fields, star := varyFields(hd.Header)
	if star || len(fields) == 0 {
		return "", false
	}
	mine := variantKey(fr.base, fields, fr.viewer)
	theirs := hd.StoreKey
	if theirs == "" {
		theirs = fillKey
	}
	return mine, mine != theirs
}

// serveStale handles an expired entry: exactly one request refreshes it;
// the others wait for that refresh or, within the stale-while-updating
// bound, take the stale copy as UPDATING. If the refresh fails, the stale
// copy is served as STALE within the stale-if-error bound.
func (p *Proxy) serveStale(w http.ResponseWriter, r *http.Request, rt *route, rp http.Handler, key, ckey string, e *cache.Entry, now time.Time) {
	eh := e.Head()
	rdr := p.cache.Join(r.Context(), ckey)
	started := false
	if rdr == nil {
		var err error
		rdr, started, err = p.cache.Fill(r.Context(), ckey, e, p.fetch(p.newFetchReq(rt, kindRefresh, key, r, e)))
		if err != nil {
			p.fail(w, r, statusExpired, err)
			return
		}
	}
	if !started {
		p.metrics.Joined()
		if x := exchangeOf(w); x != nil {
			x.collapsed = true
		}
	}
	defer rdr.Close()

	var (
		hd  cache.Head
		err error
	)
	if e.Staleness(now) <= eh.StaleWhileRevalidate {
		wait := p.view().policy.class(manifest.Class(eh.Label).Kind()).RefreshWait
		var ok bool
		hd, ok, err = rdr.HeadWithin(wait)
		if !ok {
			p.metrics.Stale("updating")
			p.serveEntry(w, r, e, statusUpdating)
			return
		}
	} else {
		hd, err = rdr.Head()
	}
	if err != nil {
		if r.Context().Err() == nil && !errors.Is(err, cache.ErrNotShared) && e.Staleness(time.Now()) <= eh.StaleIfError {
			p.metrics.Stale("error")
			p.serveEntry(w, r, e, statusStale)
			return
		}
		p.headFailed(w, r, rp, statusExpired, err)
		return
	}
	st := statusHit
	if started {
		st = statusExpired
	}
	if ne := rdr.Resolved(); ne != nil {
		if started {
			st = statusRevalidated
		}
		if mi := infoOf(ne); mi != nil && mi.gated {
			// The origin's new playlist was not trusted: this is the last
			// good one, stale by the origin's word.
			st = statusStale
		}
		p.serveEntry(w, r, ne, st)
		return
	}
	p.serveReader(w, r, ckey, rdr, &hd, st)
}

// headFailed answers a request whose fill produced no head for it.
func (p *Proxy) headFailed(w http.ResponseWriter, r *http.Request, rp http.Handler, st cacheStatus, err error) {
	if errors.Is(err, cache.ErrNotShared) {
		// The origin answered the request that started the fill with a
		// response for that client alone: fetch this one's own.
		rp.ServeHTTP(w, r)
		return
	}
	p.fail(w, r, st, err)
}

// setHead copies a cached head into the response header with Age and
// X-Cache-Status. The value slices are shared with the entry (CopyTo):
// nothing here writes into them.
func (p *Proxy) setHead(w http.ResponseWriter, hd *cache.Head, age time.Duration, st cacheStatus) http.Header {
	h := w.Header()
	hd.Header.CopyTo(h)
	h["Age"] = p.memo.ageHeader(int64(age / time.Second))
	h["X-Cache-Status"] = p.statusHeader[st]
	if x := exchangeOf(w); x != nil {
		fwd := st == statusMiss || st == statusExpired
		if fwd && hd.Store || !fwd && st != statusBypass {
			x.served(hd.Lifetime, age, fwd)
		}
	}
	return h
}

// serveEntry answers from a complete entry.
func (p *Proxy) serveEntry(w http.ResponseWriter, r *http.Request, e *cache.Entry, st cacheStatus) {
	p.serveEntryAt(w, r, e, st, time.Now())
}

// requestTime is when the request reached the edge, read once per
// request: a hit reads the clock for its freshness, its Age and its
// duration, and on a virtual machine every reading costs.
func requestTime(w http.ResponseWriter) time.Time {
	if x := exchangeOf(w); x != nil {
		return x.start
	}
	return time.Now()
}

// serveEntryAt answers from a complete entry, its Age as of now.
func (p *Proxy) serveEntryAt(w http.ResponseWriter, r *http.Request, e *cache.Entry, st cacheStatus, now time.Time) {
	hd := e.Head()
	if x, ok := propagating(w, &hd); ok {
		p.servePropagated(w, r, x, e, st)
		return
	}
	h := p.setHead(w, &hd, e.Age(now), st)
	class := manifest.Class(hd.Label)
	if hd.Status == http.StatusOK && needsServeContent(r) {
		if mi, ok := hd.Extra.(*manifestInfo); ok && mi.gz.Len() > 0 && len(r.Header["Range"]) == 0 && acceptsGzip(r.Header) {
			// A gzip client's conditionals are about the gzip copy, which
			// has its own validator (RFC 9110 8.8.3): check them against
			// it, and answer 200 with that copy when they fail.
			h["Content-Encoding"] = p.gzipHeader
			h["Content-Length"] = mi.gzLength
			if mi.gzETag != nil {
				h["Etag"] = mi.gzETag
			}
			p.serveContent(w, r, &hd, mi.gz.NewReader())
			p.record(w, e.Key(), class, st, 0)
			return
		}
		p.serveContent(w, r, &hd, e.NewReader())
		p.record(w, e.Key(), class, st, 0)
		return
	}
	body := e.Body()
	if mi, ok := hd.Extra.(*manifestInfo); ok && mi.gz.Len() > 0 && acceptsGzip(r.Header) {
		body = mi.gz
		h["Content-Encoding"] = p.gzipHeader
		h["Content-Length"] = mi.gzLength
		if mi.gzETag != nil {
			h["Etag"] = mi.gzETag
		}
	}
	w.WriteHeader(hd.Status)
	var n int64
	if r.Method != http.MethodHead {
		n = p.writeBody(w, r, body)
	}
	p.record(w, e.Key(), class, st, n)
}

// record counts a response in the metrics, per class and per stream.
func (p *Proxy) record(w http.ResponseWriter, key string, class manifest.Class, st cacheStatus, n int64) {
	if x := exchangeOf(w); x != nil {
		x.key, x.class, x.classSet = key, class, true
	}
	cs := class.String()
	p.metrics.Request(st.String(), cs, n)
	if class == manifest.ClassOther {
		return
	}
	if label := p.streams.label(key); label != "" {
		p.metrics.StreamRequest(label, cs, st != statusMiss && st != statusExpired && st != statusBypass)
	}
}

// writeBody writes a complete body in one write: the kernel takes it in as
// large pieces as the socket allows. A large body gets a write deadline
// scaled to its size first, so a client that stops reading cannot hold the
// response forever, and goes out in one writev with its head (viewerConn).
func (p *Proxy) writeBody(w http.ResponseWriter, r *http.Request, b cache.ByteView) int64 {
	if b.Len() <= largeBody {
		n, _ := b.WriteTo(w)
		return n
	}
	rc := http.NewResponseController(w)
	// The idle timeout, plus the body at no less than 1 MB/s.
	rc.SetWriteDeadline(time.Now().Add(p.view().cfg.Client.WriteIdleTimeout + time.Duration(b.Len())*time.Microsecond))
	defer rc.SetWriteDeadline(time.Time{})
	var n int64
	clientConn(r.Context()).merge(func() { n, _ = b.WriteTo(w) })
	return n
}

// serveReader streams a fill from its first byte.
func (p *Proxy) serveReader(w http.ResponseWriter, r *http.Request, key string, rdr *cache.Reader, hd *cache.Head, st cacheStatus) {
	if st == statusMiss && !hd.Store && hd.Shared && hd.ContentLength > p.cache.MaxObjectBytes() {
		st = statusBypass
		p.oversized.add(key, time.Now())
	}
	if _, ok := propagating(w, hd); ok {
		// A playlist fill is complete when its head is out; its token
		// goes into a copy of the whole.
		e, err := rdr.Wait()
		if err != nil {
			p.fail(w, r, st, err)
			return
		}
		p.serveEntry(w, r, e, st)
		return
	}
	if mi, ok := hd.Extra.(*manifestInfo); ok && mi.gz.Len() > 0 && !needsServeContent(r) && acceptsGzip(r.Header) {
		// A manifest fill is complete when its head is out: serve the
		// gzip copy like a cached entry would.
		if e, err := rdr.Wait(); err == nil {
			p.serveEntry(w, r, e, st)
			return
		}
	}
	age := hd.InitialAge + time.Since(hd.ResponseTime)
	p.setHead(w, hd, age, st)
	class := manifest.Class(hd.Label)
	if hd.Status == http.StatusOK && needsServeContent(r) {
		if hd.ContentLength >= 0 {
			p.serveContent(w, r, hd, rdr)
		} else {
			// Ranges of a body of unknown length wait for its end.
			e, pt, err := rdr.Settle()
			if err == nil && pt {
				// Outgrew the object limit: the body is not kept, so no
				// range can be cut from it here. (serveFill sends such
				// ranges upstream before they get here.)
				err = errNotKept
			}
			if err != nil {
				p.fail(w, r, st, err)
				return
			}
			w.Header().Set("Content-Length", strconv.FormatInt(e.Len(), 10))
			p.serveContent(w, r, hd, e.NewReader())
		}
		p.record(w, key, class, st, 0)
		return
	}
	w.WriteHeader(hd.Status)
	if r.Method == http.MethodHead {
		p.record(w, key, class, st, 0)
		return
	}
	rc := http.NewResponseController(w)
	defer rc.SetWriteDeadline(time.Time{})
	// The head goes out at once: a waiter knows its answer before the first
	// body byte has arrived.
	rc.Flush()
	var n int64
	first := true
	for {
		var (
			b   cache.ByteView
			err error
		)
		if first {
			// A small first write gets every waiter of a herd its first
			// bytes before any one of them takes a large share of the
			// machine's copy bandwidth; the rest goes in large writes.
			b, err = rdr.NextMax(firstWrite)
			first = false
		} else {
			b, err = rdr.Next()
		}
		if b.Len() > 0 {
			rc.SetWriteDeadline(time.Now().Add(p.view().cfg.Client.WriteIdleTimeout))
			m, werr := b.WriteTo(w)
			n += m
			if werr != nil {
				p.record(w, key, class, st, n)
				return // the client left
			}
			// The fill is streamed from its first byte: push each piece
			// out as it arrives.
			rc.Flush()
			// One write per turn: with hundreds of waiters on one fill,
			// yielding lets the ones still waiting for their head and
			// first bytes run before this one sends more. (It used to
			// stand back further, up to 64 turns while any reader had
			// had nothing yet: the herd's first byte was 3-7 ms later at
			// p99 with it, bench/README.md "Wake-ups on a shared fill".)
			runtime.Gosched()
		}
		if err != nil {
			p.record(w, key, class, st, n)
			if errors.Is(err, io.EOF) {
				return
			}
			// The fill broke after the head went out, or the viewer is
			// gone: abort the response so the client sees a broken one,
			// never a short one that looks whole (as
			// httputil.ReverseProxy does). Returning would let net/http
			// end a chunked body with its last chunk, and a viewer that
			// only half-closed would read the short body as complete.
			if r.Context().Err() == nil {
				p.log.Warn("fill broke mid-body", "path", r.URL.Path, "sent", n, "err", err)
			}
			panic(http.ErrAbortHandler)
		}
	}
}
