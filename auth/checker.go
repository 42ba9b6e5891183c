package auth

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/textproto"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/edgecache/edgecache/auth/cat"
	"github.com/edgecache/edgecache/auth/securelink"
	"github.com/edgecache/edgecache/manifest"
)

// Request is what the proxy knows about a request at the door.
type Request struct {
	Method   string
	Scheme   string // "http" or "https", as the viewer connected
	Host     string // the Host header
	Path     string // the normalised path, the one the route, key and class come from
	RawQuery string // as received (tokens in it never reach the key or the origin)
	ClientIP netip.Addr
	Header   http.Header // request headers, Cookie included
	Class    manifest.Class
}

// Decision is the outcome of a check.
type Decision struct {
	// OK means serve. Otherwise answer Status (401, 403 or 410) without
	// consulting the cache, with the route's CORS headers.
	OK     bool
	Status int
	// Reason labels metrics and the access log: "ok", "unprotected", or a
	// refusal ("missing", "malformed", "bad_hash", "expired",
	// "bad_signature", "unknown_key", "uri", "ip", "method", "replay",
	// "unsupported_claim", ...).
	Reason string
	// Propagate, when not nil, is the query to append to the URIs of the
	// playlist or MPD being served: pass it to manifest.PropagateHLS or
	// PropagateDASH on the way out, per response, never into the cache.
	// It is set only for a manifest whose token came in the query.
	Propagate manifest.QueryFunc
	// Query is the propagated query when it is the same for every URI
	// (CAT); "" for secure_link, whose links are derived per URI.
	Query string
	// RenewHeader and RenewValue are a header to add to the response
	// (catr renewal by header); both empty when none.
	RenewHeader, RenewValue string
	// SetCookie is a Set-Cookie value to add (catr renewal by cookie).
	SetCookie string
	// Reused reports a CAT with catreplay=2 (reuse detection) seen
	// before: allowed, but worth a log line or a counter.
	Reused bool
}

// Checker checks requests for one route. Safe for concurrent use.
type Checker struct {
	manifestsOnly bool
	now           func() time.Time

	link  *securelink.Link
	grace time.Duration

	ver           *cat.Verifier
	header        string // canonical header key, "" when off
	headerName    string // as configured, for renewal
	cookie, query string
	renew         bool
}

// New builds a Checker, reading keys and secrets through d.
func New(cfg Config, d Deps) (*Checker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d.fill()
	c := &Checker{manifestsOnly: cfg.Protect == "manifests", now: d.Now}
	switch cfg.Scheme {
	case "secure_link":
		sl := cfg.SecureLink
		secret := ""
		if sl.Secret != "" || sl.SecretEnv != "" || sl.SecretFile != "" {
			var err error
			if secret, err = d.material("auth: secure_link secret", sl.Secret, sl.SecretFile, sl.SecretEnv); err != nil {
				return nil, err
			}
		}
		l, err := securelink.Compile(securelink.Config{Link: sl.Link, MD5: sl.MD5, Secret: secret})
		if err != nil {
			return nil, fmt.Errorf("auth: %w", err)
		}
		if sl.SegmentGrace < 0 {
			return nil, errors.New("auth: negative secure_link.segment_grace")
		}
		c.link, c.grace = l, sl.SegmentGrace
	case "cat":
		cc := cfg.CAT
		keys := make([]*cat.Key, 0, len(cc.Keys))
		for i, kc := range cc.Keys {
			m, err := d.material(fmt.Sprintf("auth: cat key %d (%q)", i, kc.ID), kc.Key, kc.KeyFile, kc.KeyEnv)
			if err != nil {
				return nil, err
			}
			k, err := ParseKey(kc.ID, kc.Alg, m)
			if err != nil {
				return nil, fmt.Errorf("auth: %w", err)
			}
			keys = append(keys, k)
		}
		var rc *cat.ReplayCache
		if cc.ReplayCache > 0 {
			rc = cat.NewReplayCache(cc.ReplayCache)
		}
		v, err := cat.NewVerifier(cat.Options{Keys: keys, Issuer: cc.Issuer, Audience: cc.Audience, Leeway: cc.Leeway, Replay: rc, CacheSize: cc.CacheSize})
		if err != nil {
			return nil, fmt.Errorf("auth: %w", err)
		}
		c.ver = v
		c.headerName = orDefault(cc.Header, "CTA-Common-Access-Token")
		if c.headerName != "" {
			c.header = textproto.CanonicalMIMEHeaderKey(c.headerName)
		}
		c.cookie = orDefault(cc.Cookie, "CTA-Common-Access-Token")
		c.query = orDefault(cc.Query, "CAT")
		c.renew = !cc.NoRenew
	}
	return c, nil
}

// TokenParams lists the query parameters that carry credentials, for
// the proxy to keep out of the cache key and the origin request.
func (c *Checker) TokenParams() []string {
	if c.link != nil {
		h, e := c.link.Params()
		var out []string
		for _, s := range []string{h, e} {
			if s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	if c.query != "" {
		return []string{c.query}
	}
	return nil
}

var (
	okDecision        = Decision{OK: true, Status: 200, Reason: "ok"}
	unprotectedResult = Decision{OK: true, Status: 200, Reason: "unprotected"}
)

// Check decides a request. It never blocks and allocates only on the
// playlist path (the propagation closure) and on renewal.
func (c *Checker) Check(r *Request) Decision {
	if c.manifestsOnly && !r.Class.IsManifest() {
		return unprotectedResult
	}
	if c.link != nil {
		return c.checkSecureLink(r)
	}
	return c.checkCAT(r)
}

func (c *Checker) checkSecureLink(r *Request) Decision {
	sr := securelink.Request{Path: r.Path, RawQuery: r.RawQuery, ClientIP: r.ClientIP, Header: r.Header, Host: r.Host, Scheme: r.Scheme}
	res := c.link.Check(&sr, c.now())
	if res.Status != 200 {
		return Decision{Status: res.Status, Reason: res.Reason}
	}
	d := okDecision
	if r.Class.IsManifest() {
		if h, _ := c.link.Params(); h != "" {
			if _, ok := queryArg(r.RawQuery, h); ok {
				link, grace, base, viewer := c.link, c.grace, r.Path, sr
				perPath := link.UsesURI()
				d.Propagate = func(ref string) string {
					if perPath && strings.IndexByte(ref, '$') >= 0 {
						// A DASH template: the path the player will ask
						// for is not known, so no link can be derived.
						return ""
					}
					p, ok := resolveRef(base, ref)
					if !ok {
						return ""
					}
					// Grace only for media objects: a derived link to a
					// playlist (a variant, a rendition report) keeps the
					// expiry it came with, or hopping between renditions
					// would extend a link forever.
					g := time.Duration(0)
					switch manifest.Classify("", p, nil) {
					case manifest.ClassSegment, manifest.ClassInit, manifest.ClassPart:
						g = grace
					}
					q, _ := link.Derive(&viewer, res, p, g)
					return q
				}
			}
		}
	}
	return d
}

// resolveRef resolves a relative reference (already known relative: no
// scheme, no "//") against the playlist's path, RFC 3986 5.2, and
// returns the path part, cleaned as the edge's door cleans paths.
func resolveRef(base, ref string) (string, bool) {
	if i := strings.IndexAny(ref, "?#"); i >= 0 {
		ref = ref[:i]
	}
	if ref == "" {
		return "", false
	}
	var p string
	if strings.HasPrefix(ref, "/") {
		p = path.Clean(ref)
	} else {
		p = path.Join(base[:strings.LastIndexByte(base, '/')+1], ref)
		if !strings.HasPrefix(p, "/") {
			p = "/" + p
		}
	}
	if strings.HasSuffix(ref, "/") && !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p, true
}

// carrier says where a CAT came from, for catr type automatic.
type carrier uint8

const (
	fromHeader carrier = iota
	fromCookie
	fromQuery
)

func (c *Checker) findCAT(r *Request) (string, carrier) {
	if c.header != "" {
		if v := r.Header[c.header]; len(v) > 0 && v[0] != "" {
			return v[0], fromHeader
		}
	}
	if c.cookie != "" {
		if v, ok := cookieValue(r.Header, c.cookie); ok && v != "" {
			return v, fromCookie
		}
	}
	if c.query != "" {
		if v, ok := queryArg(r.RawQuery, c.query); ok && v != "" {
			return v, fromQuery
		}
	}
	return "", fromHeader
}

func (c *Checker) checkCAT(r *Request) Decision {
	text, from := c.findCAT(r)
	if text == "" {
		return Decision{Status: cat.ErrMissing.Status, Reason: cat.ErrMissing.Reason}
	}
	if from == fromQuery && strings.IndexByte(text, '%') >= 0 {
		// base64url needs no escaping, but a client may escape padding.
		text = unescapeQuery(text)
	}
	now := c.now()
	creq := cat.Request{Method: r.Method, Scheme: r.Scheme, Host: r.Host, Path: r.Path, RawQuery: r.RawQuery, ClientIP: r.ClientIP, TokenParam: c.query}
	tok, reused, err := c.ver.Check(text, &creq, now)
	if err != nil {
		var e *cat.Error
		if errors.As(err, &e) {
			return Decision{Status: e.Status, Reason: e.Reason}
		}
		return Decision{Status: 403, Reason: "error"}
	}
	d := okDecision
	d.Reused = reused
	propagated := text
	if c.renew && tok.ShouldRenew(now) {
		if fresh, err := c.ver.RenewShared(tok, now); err == nil {
			c.deliverRenewal(&d, tok.Claims.Renewal, from, fresh)
			if from == fromQuery {
				// A query token is renewed where the viewer will next
				// read it: in the URIs of the playlist being served.
				propagated = fresh
			}
		}
	}
	if from == fromQuery && r.Class.IsManifest() {
		d.Query = c.query + "=" + propagated
		d.Propagate = manifest.ConstQuery(d.Query)
	}
	return d
}

// deliverRenewal sets the renewed token where catr says (CTA-5007 catr):
// header, cookie, or for automatic, the way the token came in. Renewal by
// redirect is not done (a 3xx per segment would stall players); a query
// token is renewed through propagation instead.
func (c *Checker) deliverRenewal(d *Decision, r *cat.Renewal, from carrier, fresh string) {
	typ := r.Type
	if typ == cat.RenewAutomatic {
		switch from {
		case fromHeader:
			typ = cat.RenewHeader
		case fromCookie:
			typ = cat.RenewCookie
		default:
			return
		}
	}
	switch typ {
	case cat.RenewHeader:
		name := r.HeaderName
		if name == "" {
			name = c.headerName
		}
		if name == "" {
			name = "CTA-Common-Access-Token"
		}
		v := fresh
		if len(r.HeaderParams) > 0 {
			v += "; " + strings.Join(r.HeaderParams, "; ")
		}
		d.RenewHeader, d.RenewValue = name, v
	case cat.RenewCookie:
		name := r.CookieName
		if name == "" {
			name = c.cookie
		}
		if name == "" {
			name = "CTA-Common-Access-Token"
		}
		v := name + "=" + fresh
		if len(r.CookieParams) > 0 {
			v += "; " + strings.Join(r.CookieParams, "; ")
		}
		d.SetCookie = v
	}
}

// cookieValue finds a cookie without building http.Cookie values.
func cookieValue(h http.Header, name string) (string, bool) {
	for _, line := range h["Cookie"] {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.TrimSpace(part)
			k, v, ok := strings.Cut(part, "=")
			if ok && k == name {
				return strings.Trim(v, `"`), true
			}
		}
	}
	return "", false
}

// queryArg finds the raw value of a query parameter (exact name).
func queryArg(raw, name string) (string, bool) {
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(kv, "=")
		if k == name {
			return v, true
		}
	}
	return "", false
}

// unescapeQuery decodes a query value's escapes. PathUnescape, not
// QueryUnescape: a '+' of standard base64 stays a '+'. A value with a
// malformed escape is kept as it came (it then fails as a token).
func unescapeQuery(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}

// AddHeaders adds what a served response must carry for d: the renewed
// token's header or cookie. A renewal header is also exposed to scripts
// (Access-Control-Expose-Headers), since a browser player reads it from
// a cross-origin response. Refusals get the route's CORS headers from the
// proxy as any other response.
func (d *Decision) AddHeaders(h http.Header) {
	if d.RenewHeader != "" {
		h.Set(d.RenewHeader, d.RenewValue)
		h.Add("Access-Control-Expose-Headers", d.RenewHeader)
	}
	if d.SetCookie != "" {
		h.Add("Set-Cookie", d.SetCookie)
	}
}
