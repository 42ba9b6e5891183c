package proxy

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/edgecache/edgecache/cache"
	"github.com/edgecache/edgecache/manifest"
)

const (
	// maxManifestBytes bounds a playlist or MPD read into memory.
	maxManifestBytes = 16 << 20
	// endedManifestTTL is the lifetime of a playlist that will not change
	// again (EXT-X-ENDLIST, VOD, static MPD).
	endedManifestTTL = time.Hour
	// liveEdgePrefetch is how many of the newest segments are prefetched
	// the first time a playlist is seen: where players start.
	liveEdgePrefetch = 3
)

var (
	errManifestTooLarge = errors.New("manifest larger than 16 MiB")
	// errMalformedManifest: a 200 under a playlist or MPD URL that is not
	// one. It is handled like an origin error: viewers get the last good
	// copy within its stale bound, else 502, never the junk.
	errMalformedManifest = errors.New("malformed playlist or MPD")
)

// manifestInfo is what the edge keeps with a cached playlist or MPD
// (cache.Head.Extra): parsed state and a gzip copy. Immutable.
type manifestInfo struct {
	hls  *manifest.HLSState
	dash *manifest.DASHState
	// gz is the body gzip-compressed, with its length and ETag ready for
	// the response; empty when compression does not pay.
	gz       cache.ByteView
	gzLength []string
	gzETag   []string
	// gated: the origin's new playlist was not trusted and this is the
	// last good one, kept since rejectedSince.
	gated         bool
	rejectedSince time.Time
}

func infoOf(e *cache.Entry) *manifestInfo {
	if e == nil {
		return nil
	}
	mi, _ := e.Head().Extra.(*manifestInfo)
	return mi
}

// mapURL maps an absolute origin URL to the edge path serving it, for the
// rewriters: the route whose origin is the longest match wins.
func (p *Proxy) mapURL(abs *url.URL) (string, bool) {
	best, bestLen := "", -1
	for _, rt := range p.view().routes {
		if s, ok := rt.edgePath(abs); ok && len(rt.origin.Path) > bestLen {
			best, bestLen = s, len(rt.origin.Path)
		}
	}
	return best, bestLen >= 0
}

// routeFor returns the route serving an edge path: the longest prefix.
func (p *Proxy) routeFor(path string) *route { return routeFor(p.view().routes, path) }

func routeFor(routes []*route, path string) *route {
	var best *route
	for _, rt := range routes {
		if strings.HasPrefix(path, rt.Prefix) && (best == nil || len(rt.Prefix) > len(best.Prefix)) {
			best = rt
		}
	}
	return best
}

// fillManifest reads a whole playlist or MPD, rewrites its origin URLs to
// edge URLs, reads its state, checks it against the last trusted one, and
// gives it a lifetime derived from its own timing. Manifests are small;
// none of their bytes reach a client before the rewrite.
func (p *Proxy) fillManifest(ctx context.Context, cancel context.CancelCauseFunc, fr *fetchReq, w *cache.FillWriter, resp *http.Response, reqTime, respTime time.Time) error {
	var body []byte
	if resp.ContentLength > 0 && resp.ContentLength <= maxManifestBytes {
		body = make([]byte, 0, resp.ContentLength)
	}
	err := p.readBody(ctx, cancel, resp.Body, fr.upstream, func(b []byte) error {
		if len(body)+len(b) > maxManifestBytes {
			return fmt.Errorf("origin %s: %w", fr.upstream, errManifestTooLarge)
		}
		body = append(body, b...)
		return nil
	})
	if err != nil {
		return err
	}
	if resp.ContentLength >= 0 && int64(len(body)) != resp.ContentLength {
		return fmt.Errorf("origin %s: %w", fr.upstream, cache.ErrShortBody)
	}
	ct := resp.Header.Get("Content-Type")
	class := manifest.Classify(ct, fr.path, body)
	hdr := originResponseHeader(resp.Header)
	hd := p.view().policy.head(class, http.StatusOK, hdr, -1, reqTime, respTime, fr.authorized)
	info := &manifestInfo{}
	prev := infoOf(fr.stale)

	out, perr := p.rewriteAndParse(fr, class, body, info)
	switch {
	case perr != nil:
		p.log.Warn("malformed manifest from origin", "url", fr.upstream, "err", perr)
		p.metrics.GateReject("malformed")
		return fmt.Errorf("origin %s: %w: %w", fr.upstream, errMalformedManifest, perr)
	default:
		if info.hls != nil && !info.hls.Multivariant && prev != nil && prev.hls != nil {
			verdict, reused, cerr := manifest.Compare(prev.hls, info.hls)
			switch verdict {
			case manifest.VerdictReject:
				since := prev.rejectedSince
				if !prev.gated {
					since = respTime
				}
				// Keep the last good playlist for a bounded time; past it,
				// the origin's word is taken after all.
				if respTime.Sub(since) < 3*prev.hls.TargetDuration {
					p.log.Warn("playlist not trusted, keeping the last good one", "url", fr.upstream, "err", cerr)
					p.metrics.GateReject(gateReason(cerr))
					return p.keepLastGood(w, fr.stale, prev, since)
				}
				p.log.Warn("playlist still inconsistent after the bound, taking it", "url", fr.upstream, "err", cerr)
			case manifest.VerdictRestart:
				// Every URI the new stream lists may name bytes the edge
				// holds from the old one, in or long out of the old
				// window: purge them all (a fill in flight for one stores
				// nothing), and forget the old stream's high-water mark,
				// so the new playlist is followed and prefetched at once.
				maps, segs, parts := listedRefs(info.hls)
				keys := p.keysFor(fr, append(append(maps, segs...), parts...))
				p.log.Info("stream restart detected, purging what the new playlist lists", "url", fr.upstream, "reused", len(reused), "purged", len(keys))
				p.metrics.GateReject("restart")
				for _, k := range keys {
					p.cache.Purge(k)
				}
				rendition, _ := renditionOf(fr.key)
				p.streams.reset(rendition)
			}
		}
		if info.dash != nil && prev != nil && prev.dash != nil && manifest.BehindDASH(prev.dash, info.dash) {
			// ISO/IEC 23009-1 5.4.1: an update is never older than the MPD
			// it replaces. An older one comes from a lagging replica (a
			// shield's stale copy, the other packager): keep the last good
			// MPD for a bounded time, as for HLS above.
			since := prev.rejectedSince
			if !prev.gated {
				since = respTime
			}
			if respTime.Sub(since) < 3*max(prev.dash.MinimumUpdatePeriod, time.Second) {
				p.log.Warn("MPD older than the last one served, keeping that", "url", fr.upstream)
				p.metrics.GateReject("publish-time-backwards")
				return p.keepLastGood(w, fr.stale, prev, since)
			}
		}
		p.manifestLifetime(&hd, info, p.view().policy.class(manifest.KindManifest), fr.authorized)
		if fr.hold > 0 && info.hls != nil && reachesKey(info.hls, fr.key) {
			// Only an answer that reaches its target is good for the
			// long blocking lifetime: an origin that ignores the
			// directives answers at once with whatever it has.
			blockingLifetimes(&hd, info.hls.TargetDuration, mayStore(&hd, fr.authorized))
		}
	}
	p.applyVary(&hd, fr)
	dropOwnFields(hdr)
	p.finishManifestHead(&hd, hdr, info, out)
	if perr == nil {
		p.noteListed(fr, info.hls) // origins.go: its segments come from the same member
	}
	if perr == nil && fr.kind != kindPrefetch {
		// Before any viewer can read the new playlist: its new segments are
		// then already in flight when the viewer asks for them. Only
		// playlists viewers asked for are followed: a prefetched object that
		// turns out to be a playlist must not start prefetches of its own.
		p.afterPlaylist(fr, info, prev)
	}
	if err := w.WriteHead(hd); err != nil {
		return err
	}
	_, err = w.Write(ctx, out)
	return err
}

func gateReason(err error) string {
	switch {
	case errors.Is(err, manifest.ErrSequenceBackwards):
		return "sequence-backwards"
	case errors.Is(err, manifest.ErrDiscontinuityBackwards):
		return "discontinuity-backwards"
	case errors.Is(err, manifest.ErrTargetDurationChanged):
		return "target-duration-changed"
	case errors.Is(err, manifest.ErrURIChanged):
		return "uri-changed"
	}
	return "inconsistent"
}

// keepLastGood resolves the fill to the last trusted playlist, fresh for a
// short while, marked as gated since the given time.
func (p *Proxy) keepLastGood(w *cache.FillWriter, last *cache.Entry, prev *manifestInfo, since time.Time) error {
	h := last.Head()
	h.ResponseTime = time.Now()
	h.InitialAge = 0
	if prev.hls != nil && prev.hls.TargetDuration > 0 {
		h.Lifetime = prev.hls.TargetDuration / 2
	}
	mi := *prev
	mi.gated, mi.rejectedSince = true, since
	h.Extra = &mi
	return w.Resolve(last.WithHead(h))
}

// rewriteAndParse rewrites origin URLs in a manifest and reads its state.
func (p *Proxy) rewriteAndParse(fr *fetchReq, class manifest.Class, body []byte, info *manifestInfo) ([]byte, error) {
	base, err := url.Parse(fr.upstream)
	if err != nil {
		return nil, err
	}
	switch class {
	case manifest.ClassHLSMedia, manifest.ClassHLSMultivariant:
		out, _, err := manifest.RewriteHLS(body, base, p.mapURL)
		if err != nil {
			return nil, err
		}
		st, err := manifest.ParseHLS(out)
		if err != nil {
			return nil, err
		}
		info.hls = st
		return out, nil
	case manifest.ClassDASHMPD:
		out, _, err := manifest.RewriteDASH(body, base, p.mapURL)
		if err != nil {
			return nil, err
		}
		st, err := manifest.ParseDASH(out)
		if err != nil {
			return nil, err
		}
		info.dash = st
		return out, nil
	}
	return body, nil
}

// manifestLifetime derives a manifest's lifetime from its own timing: half
// the target duration for a live media playlist (RFC 8216bis 6.3.4: a
// client reloads no sooner; appendix B gives LL-HLS the same for
// non-blocking requests, whose players then block for what is newer), long for one that
// has ended, minimumUpdatePeriod for a dynamic MPD. An origin asking for
// less is obeyed; the class's override and cap apply last.
func (p *Proxy) manifestLifetime(hd *cache.Head, info *manifestInfo, cp *ClassPolicy, authorized bool) {
	derived := time.Duration(0)
	swr := time.Duration(0)
	// staleBound is the oldest a live playlist may be when a viewer gets
	// it, on error or while it is refreshed: RFC 8216 6.2.1 has a server
	// make a new version within 1.5 target durations, and a player that
	// keeps getting an old one does not switch to its backup.
	staleBound := time.Duration(0)
	switch {
	case info.hls != nil && !info.hls.Multivariant:
		st := info.hls
		switch {
		case st.EndList || st.PlaylistType == "VOD":
			derived = endedManifestTTL
		case st.TargetDuration > 0:
			derived = st.TargetDuration / 2
			// Served stale at most another half target duration: a viewer
			// never sees a playlist older than one target duration.
			swr = st.TargetDuration / 2
			staleBound = st.TargetDuration * 3 / 2
		}
	case info.dash != nil:
		switch {
		case !info.dash.Dynamic:
			derived = endedManifestTTL
		case info.dash.MinimumUpdatePeriod > 0:
			derived = info.dash.MinimumUpdatePeriod
			swr = info.dash.MinimumUpdatePeriod / 2
			staleBound = info.dash.MinimumUpdatePeriod * 3 / 2
		}
	}
	if derived > 0 {
		cc, targeted := responseCacheControl(hd.Header)
		explicit, ok := explicitLifetime(hd.Header, cc, targeted)
		if cc.NoCache {
			// RFC 9111 5.2.2.4: validated before every use.
			explicit, ok = 0, true
		}
		if !ok || explicit > derived {
			hd.Lifetime = derived
		}
		if swr > 0 {
			hd.StaleWhileRevalidate = min(hd.StaleWhileRevalidate, swr)
		}
		if hd.Lifetime > 0 && mayStore(hd, authorized) {
			// The playlist's own timing is freshness information of the
			// kind the config's TTL stands in for; it never makes a
			// response storable that the policy refused.
			hd.Store = true
		}
	}
	if cp.Override && cp.TTL > 0 {
		hd.Lifetime = cp.TTL
	}
	if cp.MaxTTL > 0 && hd.Lifetime > cp.MaxTTL {
		hd.Lifetime = cp.MaxTTL
	}
	if staleBound > 0 {
		b := max(staleBound-hd.Lifetime, 0)
		hd.StaleWhileRevalidate = min(hd.StaleWhileRevalidate, b)
		hd.StaleIfError = min(hd.StaleIfError, b)
	}
}

// finishManifestHead sets the length and encoding fields of a rewritten
// manifest in hdr, the header hd views, and prepares its gzip copy.
func (p *Proxy) finishManifestHead(hd *cache.Head, hdr http.Header, info *manifestInfo, out []byte) {
	hd.ContentLength = int64(len(out))
	hdr.Set("Content-Length", strconv.Itoa(len(out)))
	if !headerHasToken(hdr, "Vary", "Accept-Encoding") {
		hdr.Add("Vary", "Accept-Encoding")
	}
	if hdr.Get("Content-Encoding") == "" && len(out) >= 256 {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
		zw.Write(out)
		zw.Close()
		if buf.Len() < len(out) {
			info.gz = cache.ByteViewOf(buf.Bytes())
			info.gzLength = []string{strconv.Itoa(buf.Len())}
			if et := hdr.Get("Etag"); et != "" {
				// Another representation needs another validator
				// (RFC 9110 8.8.3).
				info.gzETag = []string{strings.TrimSuffix(et, `"`) + `-gzip"`}
			}
		}
	}
	hd.Extra = info
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// listedRefs returns every URI a media playlist points at that the edge
// could prefetch: segments, maps, parts and preload hints, newest last.
func listedRefs(st *manifest.HLSState) (maps, segs, parts []string) {
	maps = append(maps, st.Maps...)
	for _, s := range st.Segments {
		segs = append(segs, s.URI)
	}
	for _, pt := range st.Parts {
		parts = append(parts, pt.URI)
	}
	for _, h := range st.PreloadHints {
		parts = append(parts, h.URI)
	}
	return maps, segs, parts
}

// keysFor resolves playlist URIs against the playlist's edge URL to cache
// keys; URIs that leave the edge (third-party) are skipped.
func (p *Proxy) keysFor(fr *fetchReq, uris []string) []string {
	base := &url.URL{Path: mustUnescape(fr.edgePath), RawPath: fr.edgePath}
	var keys []string
	seen := map[string]bool{}
	for _, u := range uris {
		k, _, ok := p.resolveKey(base, u)
		if ok && !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	return keys
}

func (p *Proxy) resolveKey(base *url.URL, uri string) (key string, ref *url.URL, ok bool) {
	r, err := url.Parse(uri)
	if err != nil {
		return "", nil, false
	}
	res := base.ResolveReference(r)
	if res.Host != "" || res.Scheme != "" {
		return "", nil, false
	}
	path := res.EscapedPath()
	if p.routeFor(path) == nil {
		return "", nil, false
	}
	class := manifest.Classify("", res.Path, nil)
	return cacheKey(path, res.RawQuery, p.view().policy.class(class.Kind()).DropQuery), res, true
}

func mustUnescape(p string) string {
	if u, err := url.PathUnescape(p); err == nil {
		return u
	}
	return p
}

// afterPlaylist records what a new media playlist lists (of an MPD, only
// that it is a stream) and prefetches what it adds: the first viewer of
// a new segment then finds it cached or joins its fill. Only playlists
// viewers asked for get here, so only renditions with viewers are
// prefetched, and never anything the playlist does not list.
func (p *Proxy) afterPlaylist(fr *fetchReq, info *manifestInfo, prev *manifestInfo) {
	if d := info.dash; d != nil {
		// A DASH stream is its MPD, for the per-stream metrics: its
		// viewers are counted by the MPD's requests (a dynamic MPD is
		// fetched again every minimumUpdatePeriod, which sets the
		// window). Its segments, named by templates rather than
		// listed, carry no stream label.
		p.streams.update(fr.key, d.MinimumUpdatePeriod, nil, false, time.Now())
		return
	}
	st := info.hls
	if st == nil || st.Multivariant {
		return
	}
	// Blocking requests and delta updates are the same rendition under
	// other keys; only a full playlist at least as advanced as any seen
	// may change what the rendition lists (responses can arrive out of
	// order).
	rendition, skip := renditionOf(fr.key)
	now := time.Now()
	if !p.streams.observe(rendition, skip, fr.key, st, now) {
		return
	}
	maps, segs, parts := listedRefs(st)
	all := append(append(append([]string{}, maps...), segs...), parts...)
	keys := p.keysFor(fr, all)
	live := !st.EndList && st.PlaylistType != "VOD"
	added, first := p.streams.update(rendition, st.TargetDuration, keys, live, now)
	var hints []string
	for _, h := range st.PreloadHints {
		if h.Type == "PART" {
			hints = append(hints, h.URI)
		}
	}
	p.streams.setHints(rendition, p.keysFor(fr, hints))
	if !first {
		// Newly listed: whatever the edge holds or is fetching under these
		// names was asked for before the segment was complete. Once listed,
		// it is fetched fresh.
		for _, k := range added {
			p.cache.Purge(k)
		}
	}
	if !p.view().cfg.Prefetch || !live {
		return
	}
	if first {
		// Only the live edge, where players start, plus the maps.
		edge := append([]string{}, maps...)
		if len(segs) > liveEdgePrefetch {
			segs = segs[len(segs)-liveEdgePrefetch:]
		}
		edge = append(append(edge, segs...), parts...)
		added = p.keysFor(fr, edge)
	}
	for _, k := range added {
		p.prefetch(k)
	}
}

// prefetch fetches key in the background unless it is cached or in flight.
// At most Config.PrefetchConcurrency run at once; the rest wait in their
// fills, which viewers can already join.
func (p *Proxy) prefetch(key string) {
	if p.cache.Get(key) != nil {
		return
	}
	path, query, _ := strings.Cut(key, "?")
	rt := p.routeFor(path)
	if rt == nil {
		return
	}
	class := manifest.Classify("", mustUnescape(path), nil)
	if len(rt.ForwardHeaders) > 0 || rt.OriginHost == "$host" {
		// Each viewer's forwarded values (or Host) make a key of its own:
		// a fill without them would serve none of them.
		return
	}
	fr := &fetchReq{
		rt:       rt,
		kind:     kindPrefetch,
		key:      key,
		base:     key,
		edgePath: path,
		upstream: rt.upstreamURL(path, query),
		host:     rt.originHost(nil),
		path:     mustUnescape(path),
		header:   rt.fillRequestHeader(nil, "", p.via),
	}
	fetch := p.fetch(fr)
	started := p.cache.Prefetch(key, func(ctx context.Context, w *cache.FillWriter) error {
		select {
		case p.prefetchSem <- struct{}{}:
			defer func() { <-p.prefetchSem }()
		case <-ctx.Done():
			return ctx.Err()
		}
		return fetch(ctx, w)
	})
	if started {
		p.metrics.Prefetch(class.String())
		p.log.Debug("prefetch", "key", key)
	}
}
