package proxy

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/edgecache/edgecache/manifest"
)

// invalidateAfter applies RFC 9111 4.4 once an unsafe request has been
// passed through: a non-error response invalidates the stored responses
// of the target URI, and of the Location and Content-Location URIs when
// they are on this edge (the same host, or relative). Every variant and
// every forwarded-header key of those URIs goes too, and so does a fill in
// flight for them (it will not store).
func (p *Proxy) invalidateAfter(w *statusRecorder, r *http.Request) {
	if w.code < 200 || w.code >= 400 {
		return
	}
	p.invalidate(r.URL)
	base := &url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath}
	for _, f := range []string{"Location", "Content-Location"} {
		v := w.Header().Get(f)
		if v == "" {
			continue
		}
		ref, err := url.Parse(v)
		if err != nil {
			continue
		}
		u := base.ResolveReference(ref)
		if !strings.EqualFold(u.Host, r.Host) {
			// Another host's URI: invalidating it would let one request
			// flush what it does not own (RFC 9111 4.4).
			continue
		}
		p.invalidate(u)
	}
}

// invalidate purges the entries of one URI on this edge, all its keys.
func (p *Proxy) invalidate(u *url.URL) {
	path, err := normalisePath(u.EscapedPath())
	if err != nil || p.routeFor(path) == nil {
		return
	}
	dec, _ := url.PathUnescape(path)
	class := p.view().policy.class(manifest.Classify("", dec, nil).Kind())
	// Purge takes the key with every secondary key under it.
	p.cache.Purge(cacheKey(path, u.RawQuery, class.DropQuery))
}

// statusRecorder is what the response writer chain exposes of the status
// written; net/http's own writer does not, so the pass-through records it.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
