package proxy

import (
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/edgecache/edgecache/auth"
	"github.com/edgecache/edgecache/upstream"
)

// route is a validated Route with its origin parsed.
type route struct {
	Route
	// origin is Origin, or the first of Origins: requests are built
	// against it and moved to another member of set when one is chosen
	// (origins.go).
	origin *url.URL
	// origins are every member's URL (just origin without Origins): a
	// playlist's absolute URIs under any of them map to this route.
	origins []*url.URL
	// set is the origin set; nil without Origins.
	set *upstream.Set
	// respHeaders are ResponseHeaders as immutable value slices, so
	// setting them on a response allocates nothing.
	respHeaders map[string][]string
	// cors is nil when the route does not answer CORS itself.
	cors *corsPolicy
	// checker checks the route's tokens; nil when it has no auth.
	checker *auth.Checker
}

func newRoute(r Route, origin *url.URL) *route {
	rt := &route{Route: r, origin: origin, origins: []*url.URL{origin}, cors: newCORSPolicy(r.CORS)}
	if len(r.ResponseHeaders) > 0 {
		rt.respHeaders = make(map[string][]string, len(r.ResponseHeaders))
		for k, v := range r.ResponseHeaders {
			rt.respHeaders[k] = []string{v}
		}
	}
	return rt
}

// originHost is the Host a request to the origin carries for viewer
// request r (nil for the edge's own requests): empty means the origin
// URL's.
func (rt *route) originHost(r *http.Request) string {
	switch rt.OriginHost {
	case "":
		return ""
	case "$host":
		if r == nil {
			return ""
		}
		return r.Host
	}
	return rt.OriginHost
}

// forwards reports whether the route forwards the viewer's value of a
// (canonical) header name on shared fills.
func (rt *route) forwards(name string) bool {
	for _, n := range rt.ForwardHeaders {
		if n == name {
			return true
		}
	}
	return false
}

// credentialed reports a request that carries credentials the route
// forwards: its response may be stored only if the origin says a shared
// cache may (RFC 9111 3.5).
func (rt *route) credentialed(h http.Header) bool {
	for _, n := range rt.ForwardHeaders {
		if (n == "Authorization" || n == "Cookie") && len(h[n]) > 0 {
			return true
		}
	}
	return false
}

// keyFor extends a cache key with the values of the headers the route
// forwards: viewers who send different values get different responses
// from the origin, so they must not share one. Keys extended this way, and
// Vary variants, carry their secondary part after a NUL byte, which no
// normalised path or query holds. With origin_host "$host", the viewer's
// Host reaches the origin and is keyed the same way.
func (rt *route) keyFor(key string, h http.Header, host string) string {
	if len(rt.ForwardHeaders) == 0 && rt.OriginHost != "$host" {
		return key
	}
	var b strings.Builder
	b.WriteString(key)
	if rt.OriginHost == "$host" {
		b.WriteString("\x00H=")
		b.WriteString(strings.ToLower(host))
	}
	if len(rt.ForwardHeaders) == 0 {
		return b.String()
	}
	b.WriteString("\x00h")
	for _, n := range rt.ForwardHeaders {
		b.WriteByte('\x00')
		b.WriteString(n)
		b.WriteByte('=')
		b.WriteString(strings.Join(h[n], "\x01"))
	}
	return b.String()
}

// upstreamURL maps an edge path (escaped) and raw query to the origin URL,
// replacing the prefix with the origin's path as proxy_pass does.
func (rt *route) upstreamURL(escapedPath, rawQuery string) string {
	rest := strings.TrimPrefix(escapedPath, rt.Prefix)
	var b strings.Builder
	b.Grow(len(rt.Origin) + len(rest) + len(rawQuery) + 2)
	b.WriteString(rt.origin.Scheme)
	b.WriteString("://")
	b.WriteString(rt.origin.Host)
	p := rt.origin.EscapedPath()
	if p == "" {
		p = "/"
	}
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	b.WriteString(p)
	b.WriteString(rest)
	if rawQuery != "" {
		b.WriteByte('?')
		b.WriteString(rawQuery)
	}
	return b.String()
}

// edgePath maps an absolute origin URL back to the edge path that serves
// it, for playlist rewriting: the inverse of upstreamURL. ok is false when
// the URL is not under this route's origin.
func (rt *route) edgePath(u *url.URL) (string, bool) {
	for _, o := range rt.origins {
		if s, ok := edgePathUnder(rt.Prefix, o, u); ok {
			return s, true
		}
	}
	return "", false
}

// edgePathUnder maps u to prefix when it lies under origin o.
func edgePathUnder(prefix string, o, u *url.URL) (string, bool) {
	if !strings.EqualFold(u.Scheme, o.Scheme) || !sameHost(u, o) {
		return "", false
	}
	base := o.EscapedPath()
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	p := u.EscapedPath()
	if !strings.HasPrefix(p, base) {
		return "", false
	}
	s := prefix + strings.TrimPrefix(p, base)
	if u.RawQuery != "" {
		s += "?" + u.RawQuery
	}
	return s, true
}

// sameHost compares hosts, treating an omitted default port as given.
func sameHost(a, b *url.URL) bool {
	if !strings.EqualFold(a.Hostname(), b.Hostname()) {
		return false
	}
	return portOf(a) == portOf(b)
}

func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "https") {
		return "443"
	}
	return "80"
}

// cacheKey builds the key of a GET or HEAD: the escaped path plus the query
// with its parameters sorted and the dropped ones removed. The method is not
// part of it, so HEAD is answered from the GET entry. With no query the key
// is the path itself, without an allocation.
func cacheKey(escapedPath, rawQuery string, drop []string) string {
	if rawQuery == "" {
		return escapedPath
	}
	params := strings.Split(rawQuery, "&")
	kept := params[:0]
	for _, p := range params {
		if p == "" {
			continue
		}
		name, _, _ := strings.Cut(p, "=")
		if n, err := url.QueryUnescape(name); err == nil {
			name = n
		}
		if dropped(name, drop) {
			continue
		}
		kept = append(kept, p)
	}
	if len(kept) == 0 {
		return escapedPath
	}
	// Sorting the raw pairs makes ?b=1&a=2 and ?a=2&b=1 one key; a stable
	// sort keeps repeated names in the order they came.
	sort.SliceStable(kept, func(i, j int) bool {
		ni, _, _ := strings.Cut(kept[i], "=")
		nj, _, _ := strings.Cut(kept[j], "=")
		return ni < nj
	})
	return escapedPath + "?" + strings.Join(kept, "&")
}

func dropped(name string, drop []string) bool {
	if isHLSDirective(name) {
		return false
	}
	for _, d := range drop {
		if d == name {
			return true
		}
	}
	return false
}
