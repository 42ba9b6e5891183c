package proxy

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/edgecache/edgecache/cache"
	"github.com/edgecache/edgecache/manifest"
)

// LL-HLS at the edge (RFC 8216bis 6.2.5). A blocking playlist request
// (_HLS_msn, maybe _HLS_part) is answered, in this order:
//   - from the newest playlist of the rendition the edge holds or is
//     fetching, when that already reaches the target ("or later");
//   - with 400 at the edge, when the newest known playlist, recent enough
//     to judge by, says the target is too far ahead;
//   - from the cache entry of exactly that target, or by joining its fill:
//     the first viewer's request goes upstream, every other viewer asking
//     for the same (rendition, target) is held on that one fill.
// So the origin sees at most one blocking request per target per
// rendition, and the spread of targets viewers ask for becomes hits.

// stripDirectives removes the _HLS_ parameters of a raw query; keepSkip
// keeps _HLS_skip (it selects a different playlist, a delta update).
func stripDirectives(rawQuery string, keepSkip bool) string {
	if !strings.Contains(rawQuery, "_HLS_") {
		return rawQuery
	}
	var kept []string
	for _, kv := range strings.Split(rawQuery, "&") {
		name, _, _ := strings.Cut(kv, "=")
		if n, err := url.QueryUnescape(name); err == nil {
			name = n
		}
		if isHLSDirective(name) && !(keepSkip && name == "_HLS_skip") {
			continue
		}
		kept = append(kept, kv)
	}
	return strings.Join(kept, "&")
}

// renditionOf splits a playlist cache key into the rendition's key (no
// directives) and the delta-update mode it asks for.
func renditionOf(key string) (rendition, skip string) {
	path, q, ok := strings.Cut(key, "?")
	if !ok || !strings.Contains(q, "_HLS_") {
		return key, ""
	}
	d, _ := manifest.ParseDirectives(q)
	if q = stripDirectives(q, false); q != "" {
		path += "?" + q
	}
	return path, d.Skip
}

// serveDirectives answers a media playlist request that carries delivery
// directives.
func (p *Proxy) serveDirectives(w http.ResponseWriter, r *http.Request, rt *route, rp http.Handler, path string, cp *ClassPolicy) {
	start := time.Now()
	// The rule set the packager uses too.
	d, err := manifest.ParseDirectives(r.URL.RawQuery)
	if err != nil {
		p.metrics.Blocking("bad_request", 0)
		p.plainError(w, http.StatusBadRequest, err.Error())
		return
	}
	if !d.Block {
		// A delta update alone is an ordinary playlist of its own.
		p.serveKey(w, r, rt, rp, cacheKey(path, r.URL.RawQuery, cp.DropQuery), 0)
		return
	}
	rendition := cacheKey(path, stripDirectives(r.URL.RawQuery, false), cp.DropQuery)
	if n, ok := p.streams.newest(rendition, d.Skip); ok {
		if n.state.EndList {
			// 6.2.5.2: once the playlist has ended, directives are ignored:
			// the ended playlist is the answer.
			p.metrics.Blocking("ended", 0)
			if p.serveNewest(w, r, n.key) {
				return
			}
			p.serveKey(w, r, rt, rp, cacheKey(path, stripDirectives(r.URL.RawQuery, true), cp.DropQuery), 0)
			return
		}
		if n.state.Reaches(d.MSN, d.Part) && p.serveNewest(w, r, n.key) {
			p.metrics.Blocking("cached", time.Since(start))
			return
		}
		// Judge "too far" only by a playlist recent enough to be the
		// origin's present: one that is a target duration old may be
		// behind by a segment already.
		if time.Since(n.seen) < n.state.TargetDuration && n.state.Edge().TooFar(d, n.state.PartTarget) {
			p.metrics.Blocking("bad_request", 0)
			p.plainError(w, http.StatusBadRequest, "_HLS_msn/_HLS_part too far ahead of the playlist")
			return
		}
	}
	p.serveKey(w, r, rt, rp, cacheKey(path, r.URL.RawQuery, cp.DropQuery), p.blockingHold(rendition))
}

// blockingHold bounds an upstream blocking request: the origin answers 503
// after three target durations (6.2.5.2); the edge waits a little longer
// for that answer.
func (p *Proxy) blockingHold(rendition string) time.Duration {
	td := p.streams.target(rendition)
	if td <= 0 {
		td = 6 * time.Second
	}
	return 3*td + p.view().cfg.Origin.FirstByteTimeout
}

// serveNewest answers from the newest playlist of a rendition, cached or
// still arriving. It reports false when that is gone from the cache.
func (p *Proxy) serveNewest(w http.ResponseWriter, r *http.Request, key string) bool {
	if e := p.cache.Get(key); e != nil {
		p.serveEntry(w, r, e, statusHit)
		return true
	}
	rdr := p.cache.Join(r.Context(), key)
	if rdr == nil {
		return false
	}
	defer rdr.Close()
	hd, err := rdr.Head()
	if err != nil || hd.Status != http.StatusOK {
		return false
	}
	p.metrics.Joined()
	p.serveReader(w, r, key, rdr, &hd, statusHit)
	return true
}

// blockingLifetimes applies RFC 8216bis appendix B to the head of a
// blocking playlist response: it names a target and any later playlist
// answers it, so it keeps six target durations; a 404 four; a failure one.
// allowed is whether the policy lets the response be stored at all; these
// lifetimes never store what it refused.
func blockingLifetimes(hd *cache.Head, td time.Duration, allowed bool) {
	if td <= 0 {
		return
	}
	switch {
	case hd.Status == http.StatusOK:
		hd.Lifetime = 6 * td
	case hd.Status == http.StatusNotFound:
		hd.Lifetime = 4 * td
	case hd.Status >= 500:
		hd.Lifetime = td
	default:
		return
	}
	hd.StaleWhileRevalidate, hd.StaleIfError = 0, 0
	if allowed {
		hd.Store = true
	}
}

// holdContext bounds a held upstream request.
func holdContext(ctx context.Context, hold time.Duration) (context.Context, context.CancelFunc) {
	if hold <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, hold)
}

// openEndedRange reports a request for "bytes=N-": how a player asks for
// a byte-range preload hint (EXT-X-PRELOAD-HINT with BYTERANGE-START and
// no length), whose resource is still being written at the origin.
func openEndedRange(r *http.Request) (string, bool) {
	v := r.Header["Range"]
	if len(v) != 1 || len(r.Header["If-Range"]) > 0 {
		return "", false
	}
	spec, ok := strings.CutPrefix(v[0], "bytes=")
	if !ok {
		return "", false
	}
	start, ok := strings.CutSuffix(spec, "-")
	if !ok || start == "" {
		return "", false
	}
	if _, err := strconv.ParseUint(start, 10, 63); err != nil {
		return "", false
	}
	return start, true
}

// serveOpenRange answers an open-ended range of a preload-hinted object
// not cached whole: a resource still growing at the origin (a byte-range
// hinted part) has no length to answer a range from, so the range goes upstream
// as asked, once for all the viewers asking for it, and its 206 streams to
// each of them as it arrives. Partial responses are joined, never stored.
func (p *Proxy) serveOpenRange(w http.ResponseWriter, r *http.Request, rt *route, rp http.Handler, key, start string) {
	rkey := key + "\x00bytes=" + start + "-"
	fr := p.newFetchReq(rt, kindFill, rkey, r, nil)
	fr.header.Set("Range", "bytes="+start+"-")
	p.serveFill(w, r, rp, rkey, fr)
}

// reachesKey reports whether a playlist reaches the target its blocking
// request's cache key names.
func reachesKey(st *manifest.HLSState, key string) bool {
	_, q, _ := strings.Cut(key, "?")
	d, err := manifest.ParseDirectives(q)
	return err == nil && d.Block && st.Reaches(d.MSN, d.Part)
}
