package proxy

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// CORSConfig answers cross-origin requests at the edge (Fetch standard,
// "CORS protocol"): browser players on another origin can read the edge's
// responses although the origin sends no CORS headers, and preflights are
// answered here, never sent upstream or stored.
type CORSConfig struct {
	// AllowOrigins lists the origins allowed to read responses, as
	// scheme://host[:port], or "*" for any. Empty: CORS off for the route.
	AllowOrigins []string `yaml:"allow_origins"`
	// AllowMethods are the methods a preflight may ask for. Default GET,
	// HEAD, OPTIONS.
	AllowMethods []string `yaml:"allow_methods"`
	// AllowHeaders are the request fields a preflight may ask for, or "*".
	// Default: Range, the CMCD fields and CTA-Common-Access-Token.
	AllowHeaders []string `yaml:"allow_headers"`
	// ExposeHeaders are added to those always exposed: Age,
	// X-Cache-Status, Cache-Status, CMSD-Static, CMSD-Dynamic,
	// Content-Range, Accept-Ranges, ETag.
	ExposeHeaders []string `yaml:"expose_headers"`
	// MaxAge is how long a browser may reuse a preflight answer.
	// Default 10m.
	MaxAge time.Duration `yaml:"max_age"`
	// AllowCredentials lets browsers send cookies and read responses to
	// credentialed requests; it needs explicit origins.
	AllowCredentials bool `yaml:"allow_credentials"`
}

// Enabled reports whether the route answers CORS itself.
func (c *CORSConfig) Enabled() bool { return len(c.AllowOrigins) > 0 }

var (
	defaultExpose       = []string{"Age", "X-Cache-Status", "Cache-Status", "CMSD-Static", "CMSD-Dynamic", "Content-Range", "Accept-Ranges", "ETag"}
	defaultAllowMethods = []string{"GET", "HEAD", "OPTIONS"}
	defaultAllowHeaders = []string{"Range", "CMCD-Request", "CMCD-Object", "CMCD-Status", "CMCD-Session", "CTA-Common-Access-Token"}
)

func (c *CORSConfig) validate() error {
	if !c.Enabled() {
		if len(c.AllowMethods)+len(c.AllowHeaders)+len(c.ExposeHeaders) > 0 || c.MaxAge != 0 || c.AllowCredentials {
			return errors.New("allow_origins is empty: list origins or \"*\"")
		}
		return nil
	}
	for _, o := range c.AllowOrigins {
		if o == "*" {
			if c.AllowCredentials {
				// Fetch standard: "*" never matches a credentialed request.
				return errors.New("allow_credentials needs explicit origins, not \"*\"")
			}
			continue
		}
		if !validOrigin(o) {
			return fmt.Errorf("allow_origins: %q is not an origin (scheme://host[:port], no path)", o)
		}
	}
	for _, m := range c.AllowMethods {
		if !validHeaderName(m) {
			return fmt.Errorf("allow_methods: %q is not a method", m)
		}
	}
	for _, list := range [][]string{c.AllowHeaders, c.ExposeHeaders} {
		for _, h := range list {
			if h != "*" && !validHeaderName(h) {
				return fmt.Errorf("%q is not a header name", h)
			}
		}
	}
	if c.MaxAge < 0 {
		return errors.New("max_age is negative")
	}
	return nil
}

// validOrigin reports a serialised origin (RFC 6454 6.2).
func validOrigin(o string) bool {
	scheme, rest, ok := strings.Cut(o, "://")
	if !ok || (scheme != "http" && scheme != "https") || rest == "" {
		return false
	}
	return !strings.ContainsAny(rest, "/?#@ \t") && strings.ToLower(o) == o
}

// corsPolicy is a route's CORSConfig made ready to serve: every value the
// edge sends is built once, so serving a response adds no allocation.
type corsPolicy struct {
	any         bool
	origins     map[string][]string // allowed origin -> its header value
	credentials bool
	expose      []string
	methods     []string
	headers     []string
	anyHeader   bool
	allowed     map[string]bool // lower-case allowed request header names
	maxAge      []string
}

var (
	starValue   = []string{"*"}
	trueValue   = []string{"true"}
	originValue = []string{"Origin"}
)

func newCORSPolicy(c CORSConfig) *corsPolicy {
	if !c.Enabled() {
		return nil
	}
	cp := &corsPolicy{credentials: c.AllowCredentials, origins: map[string][]string{}, allowed: map[string]bool{}}
	for _, o := range c.AllowOrigins {
		if o == "*" {
			cp.any = true
			continue
		}
		cp.origins[o] = []string{o}
	}
	cp.expose = []string{strings.Join(compactNames(append(slices.Clone(defaultExpose), c.ExposeHeaders...)), ", ")}
	methods := c.AllowMethods
	if len(methods) == 0 {
		methods = defaultAllowMethods
	}
	cp.methods = []string{strings.Join(methods, ", ")}
	hdrs := c.AllowHeaders
	if len(hdrs) == 0 {
		hdrs = defaultAllowHeaders
	}
	for _, h := range hdrs {
		if h == "*" {
			cp.anyHeader = true
		}
		cp.allowed[strings.ToLower(h)] = true
	}
	cp.headers = []string{strings.Join(hdrs, ", ")}
	maxAge := c.MaxAge
	if maxAge == 0 {
		maxAge = 10 * time.Minute
	}
	cp.maxAge = []string{strconv.Itoa(int(maxAge / time.Second))}
	return cp
}

// compactNames canonicalises header names and drops repeats, keeping order.
func compactNames(names []string) []string {
	seen := map[string]bool{}
	out := names[:0]
	for _, n := range names {
		cn := http.CanonicalHeaderKey(n)
		if !seen[cn] {
			seen[cn] = true
			out = append(out, cn)
		}
	}
	return out
}

// allowOrigin is the Access-Control-Allow-Origin value for a request's
// Origin, nil when it is not allowed.
func (cp *corsPolicy) allowOrigin(origin string) []string {
	if cp.any {
		return starValue
	}
	return cp.origins[origin]
}

// apply replaces whatever CORS fields the origin sent with the route's.
// Header value slices may be shared with a cached entry: fields are only
// ever replaced, never appended to in place.
func (cp *corsPolicy) apply(h http.Header, reqOrigin string) {
	for k := range h {
		if strings.HasPrefix(k, "Access-Control-") {
			delete(h, k)
		}
	}
	if !cp.any {
		// The answer depends on the request's Origin (Fetch standard,
		// "CORS protocol and HTTP caches").
		addVary(h, "Origin")
	}
	allow := cp.allowOrigin(reqOrigin)
	if allow == nil {
		return
	}
	h["Access-Control-Allow-Origin"] = allow
	h["Access-Control-Expose-Headers"] = cp.expose
	if cp.credentials {
		h["Access-Control-Allow-Credentials"] = trueValue
	}
}

// addVary adds a field name to Vary without writing into the existing
// value slice, which a cached head may share.
func addVary(h http.Header, name string) {
	old := h["Vary"]
	if len(old) == 0 {
		if name == "Origin" {
			h["Vary"] = originValue
		} else {
			h["Vary"] = []string{name}
		}
		return
	}
	for _, v := range old {
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f == "*" || strings.EqualFold(f, name) {
				return
			}
		}
	}
	h["Vary"] = append(slices.Clip(old), name)
}

// isPreflight reports a CORS preflight request (Fetch standard, "CORS-
// preflight request").
func isPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Origin") != "" && r.Header.Get("Access-Control-Request-Method") != ""
}

// preflight answers a CORS preflight at the edge with 204: never sent to
// the origin, never stored. A disallowed origin, method or header gets
// the answer without the fields that would allow it, and the browser
// refuses the real request.
func (cp *corsPolicy) preflight(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["Vary"] = []string{"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"}
	h.Set("Cache-Control", "no-store")
	allow := cp.allowOrigin(r.Header.Get("Origin"))
	if allow != nil && cp.methodAllowed(r.Header.Get("Access-Control-Request-Method")) && cp.headersAllowed(r.Header.Values("Access-Control-Request-Headers")) {
		h["Access-Control-Allow-Origin"] = allow
		h["Access-Control-Allow-Methods"] = cp.methods
		if cp.anyHeader {
			if req := r.Header.Values("Access-Control-Request-Headers"); len(req) > 0 {
				h["Access-Control-Allow-Headers"] = []string{strings.Join(req, ", ")}
			}
		} else {
			h["Access-Control-Allow-Headers"] = cp.headers
		}
		h["Access-Control-Max-Age"] = cp.maxAge
		if cp.credentials {
			h["Access-Control-Allow-Credentials"] = trueValue
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (cp *corsPolicy) methodAllowed(m string) bool {
	for _, v := range strings.Split(cp.methods[0], ", ") {
		if v == m {
			return true
		}
	}
	return false
}

func (cp *corsPolicy) headersAllowed(values []string) bool {
	if cp.anyHeader {
		return true
	}
	for _, v := range values {
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f != "" && !cp.allowed[strings.ToLower(f)] {
				return false
			}
		}
	}
	return true
}
