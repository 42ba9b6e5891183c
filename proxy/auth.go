package proxy

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/edgecache/edgecache/auth"
	"github.com/edgecache/edgecache/cache"
	"github.com/edgecache/edgecache/manifest"
)

// authorize checks a protected route's token (auth.Checker: nginx
// secure_link or a CTA-5007 Common Access Token) before the cache is
// consulted, on hits as on misses. A refused request is answered here
// (401, 403 or 410, with the route's CORS fields, never stored). An
// allowed one goes on without its token: the token's query parameters
// never enter the cache key or the origin request, and the access log
// shows them redacted. When the token came in a playlist's query, the
// exchange is told to carry it into every URI of the playlist served
// (per response, never into the cached copy).
func (p *Proxy) authorize(w http.ResponseWriter, r *http.Request, rt *route) (*http.Request, bool) {
	x := exchangeOf(w)
	v := p.view()
	class := manifest.Classify("", r.URL.Path, nil)
	d := rt.checker.Check(&auth.Request{
		Method:   r.Method,
		Scheme:   v.schemeOf(r),
		Host:     r.Host,
		Path:     r.URL.Path,
		RawQuery: r.URL.RawQuery,
		ClientIP: v.trusted.clientAddr(r.RemoteAddr, r.Header["X-Forwarded-For"]),
		Header:   r.Header,
		Class:    class,
	})
	params := rt.checker.TokenParams()
	if x != nil && len(params) > 0 && strings.Contains(x.requestURI, "?") {
		x.requestURI = redactParams(x.requestURI, params)
	}
	if !d.OK {
		p.metrics.AuthRefused(rt.Name, d.Reason)
		if x != nil {
			x.auth = d.Reason
		}
		p.log.Debug("access refused", "path", r.URL.Path, "status", d.Status, "reason", d.Reason)
		h := w.Header()
		h["X-Cache-Status"] = p.statusHeader[statusBypass]
		h.Set("Cache-Control", "no-store")
		h.Set("Age", "0")
		http.Error(w, http.StatusText(d.Status), d.Status)
		return r, false
	}
	d.AddHeaders(w.Header())
	if q, ok := stripParams(r.URL.RawQuery, params); ok {
		r2 := *r
		u := *r.URL
		u.RawQuery = q
		r2.URL = &u
		r2.RequestURI = u.EscapedPath()
		if q != "" {
			r2.RequestURI += "?" + q
		}
		r = &r2
	}
	if d.Propagate != nil && x != nil && class.IsManifest() {
		x.propagate, x.propagateDASH = d.Propagate, class == manifest.ClassDASHMPD
	}
	return r, true
}

// schemeOf is the scheme the viewer used: TLS here, or the trusted
// proxy's word for it.
func (v *view) schemeOf(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	if len(v.trusted) > 0 {
		if a, ok := addrOf(r.RemoteAddr); ok && v.trusted.contains(a) {
			if fp := r.Header.Get("X-Forwarded-Proto"); fp == "https" || fp == "http" {
				return fp
			}
		}
	}
	return "http"
}

// stripParams removes every parameter named in names from a raw query,
// leaving every other byte as it was.
func stripParams(raw string, names []string) (string, bool) {
	if raw == "" || len(names) == 0 {
		return raw, false
	}
	found := false
	var b strings.Builder
	for part := range strings.SplitSeq(raw, "&") {
		name, _, _ := strings.Cut(part, "=")
		if slices.Contains(names, name) {
			found = true
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(part)
	}
	if !found {
		return raw, false
	}
	return b.String(), true
}

// redactParams replaces the values of the named parameters in a request
// target, for the access log: a token is a credential.
func redactParams(target string, names []string) string {
	path, raw, ok := strings.Cut(target, "?")
	if !ok {
		return target
	}
	parts := strings.Split(raw, "&")
	for i, part := range parts {
		if name, _, _ := strings.Cut(part, "="); slices.Contains(names, name) {
			parts[i] = name + "=REDACTED"
		}
	}
	return path + "?" + strings.Join(parts, "&")
}

// servePropagated answers a playlist request whose token must be carried
// into the playlist's URIs: the cached playlist, rewritten for this
// response alone. The answer carries a token, so it is private, and its
// validators and length are the cached copy's no longer: it goes out
// whole, identity-coded, without ETag or Last-Modified.
func (p *Proxy) servePropagated(w http.ResponseWriter, r *http.Request, x *exchange, e *cache.Entry, st cacheStatus) {
	hd := e.Head()
	var (
		body []byte
		err  error
	)
	if x.propagateDASH {
		body, _, err = manifest.PropagateDASH(e.Body().ByteSlice(), x.propagate)
	} else {
		body, _, err = manifest.PropagateHLS(e.Body().ByteSlice(), x.propagate)
	}
	if err != nil {
		p.fail(w, r, st, err)
		return
	}
	h := p.setHead(w, &hd, e.Age(time.Now()), st)
	for _, f := range []string{"Etag", "Last-Modified", "Content-Encoding", "Accept-Ranges"} {
		delete(h, f)
	}
	h["Cache-Control"] = privateValue
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(hd.Status)
	var n int64
	if r.Method != http.MethodHead {
		m, _ := w.Write(body)
		n = int64(m)
	}
	p.record(w, e.Key(), manifest.Class(hd.Label), st, n)
}

var privateValue = []string{"private"}

// propagating reports a request whose playlist must carry its token.
func propagating(w http.ResponseWriter, hd *cache.Head) (*exchange, bool) {
	x := exchangeOf(w)
	if x == nil || x.propagate == nil || hd.Status != http.StatusOK || !manifest.Class(hd.Label).IsManifest() {
		return nil, false
	}
	return x, true
}
