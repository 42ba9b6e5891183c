// Package proxy is edgecache's HTTP policy: it routes path prefixes to
// origins, answers GET and HEAD from the cache, collapses misses onto one
// streamed fill, refreshes expired entries once, and passes everything else
// through.
package proxy

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgecache/edgecache/accesslog"
	"github.com/edgecache/edgecache/auth"
	"github.com/edgecache/edgecache/cache"
	"github.com/edgecache/edgecache/cmcd"
	"github.com/edgecache/edgecache/metrics"
	"github.com/prometheus/client_golang/prometheus"
)

// Proxy is the caching reverse proxy. It is an http.Handler.
type Proxy struct {
	// cur is the reloadable part: the config, its policy and its routes.
	// Reload swaps it whole; a request loads it once or a few times and
	// may straddle a swap, which is harmless: each view is consistent.
	cur atomic.Pointer[view]
	// frontHooked: Server has made a server with the hook that the
	// front's hand-offs need (handedState), so Listener runs the front.
	frontHooked atomic.Bool
	log         *slog.Logger
	cache       *cache.Cache
	metrics     *metrics.Metrics
	transport   *http.Transport
	// holdTransport carries LL-HLS blocking requests: no first-byte
	// timeout, since the origin holds them by design; each request's
	// context bounds it instead.
	holdTransport *http.Transport
	via           string
	name          string
	bufs          sync.Pool // *[]byte, 32 KiB, for origin body copies
	streams       *streams
	varies        *varyIndex
	oversized     *oversizedSet
	// prefetchSem bounds prefetches running at once.
	prefetchSem chan struct{}
	gzipHeader  []string // {"gzip"}, immutable
	// statusHeader holds one immutable []string per cache status, so the
	// hit path sets X-Cache-Status without allocating.
	statusHeader [numStatus][]string
	// memo keeps the Age and Cache-Status values hits repeat.
	memo headMemo
	// accessLog, when set, gets every response's record (WithAccessLog).
	accessLog func(accesslog.Record)
	// authDeps is where token checkers read keys and secrets (WithAuthDeps).
	authDeps auth.Deps
	viewers  *viewers
	// origins owns the origin sets of routes with `origins:` (origins.go).
	origins *originSets
	// bodyBytes is the memory request bodies being read whole hold now
	// (body.go), bounded by client.body_buffer_bytes.
	bodyBytes atomic.Int64
	// conns counts viewer connections against client.max_conns (conns.go).
	conns connCount
}

// New builds a proxy from a validated config. Metrics go to reg.
func New(cfg Config, log *slog.Logger, reg prometheus.Registerer, opts ...Option) (*Proxy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "proxy")
	p := &Proxy{
		log:        log,
		transport:  newTransport(cfg.Origin),
		bufs:       sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }},
		streams:    newStreams(),
		varies:     newVaryIndex(),
		oversized:  newOversizedSet(),
		gzipHeader: []string{"gzip"},
		viewers:    newViewers(),
		origins:    newOriginSets(log),
	}
	for _, o := range opts {
		o(p)
	}
	p.holdTransport = newTransport(cfg.Origin)
	p.holdTransport.ResponseHeaderTimeout = 0
	p.prefetchSem = make(chan struct{}, cfg.PrefetchConcurrency)
	p.name = cfg.ServerName
	if p.name == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "edgecache"
		}
		p.name = h
	}
	p.via = "1.1 " + p.name + " (edgecache)"
	for s := range numStatus {
		p.statusHeader[s] = []string{cacheStatus(s).String()}
	}
	c, err := cache.New(cache.Config{
		MaxBytes:       int64(cfg.Cache.MaxBytes),
		MaxObjectBytes: int64(cfg.Cache.MaxObjectBytes),
		// The in-flight budget (cache.max_inflight_bytes, issue 11).
		MaxInflightBytes: int64(cfg.Cache.MaxInflightBytes),
		FillTimeout:      cfg.Origin.FillTimeout,
		Keep:             keep,
		Complete:         completeHead,
	}, log)
	if err != nil {
		return nil, err
	}
	p.cache = c
	m, err := metrics.New(reg, c.Stats, CacheStatuses(), ClassNames())
	if err != nil {
		c.Close()
		return nil, err
	}
	p.metrics = m
	if err := reg.Register(metrics.NewViewerCollector(func() map[string]int { return p.viewers.counts(time.Now()) })); err != nil {
		c.Close()
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if err := metrics.RegisterConns(reg, p.conns.open.Load, p.conns.refusal.Load); err != nil {
		c.Close()
		return nil, err
	}
	if err := metrics.RegisterBodyBuffer(reg, p.bodyBytes.Load); err != nil {
		c.Close()
		return nil, err
	}
	if err := metrics.RegisterOrigins(reg, p.origins.all); err != nil {
		c.Close()
		return nil, err
	}
	v, err := p.newView(cfg)
	if err != nil {
		c.Close()
		p.origins.close()
		return nil, err
	}
	p.cur.Store(v)
	return p, nil
}

// view is one validated config with what is derived from it.
type view struct {
	cfg     Config
	policy  *policy
	routes  []*route
	trusted trustedSet
	// handlers are the routes' handlers, longest prefix first: the first
	// whose prefix the path has is the route (routeFor's rule).
	handlers []routeEntry
}

// routeEntry is a route's prefix and its handler.
type routeEntry struct {
	prefix string
	h      http.Handler
}

func (p *Proxy) newView(cfg Config) (*view, error) {
	v := &view{cfg: cfg, policy: newPolicy(&cfg)}
	v.trusted, _ = parseTrusted(cfg.TrustedProxies) // checked by Validate
	for i := range cfg.Routes {
		rt, err := p.newRouteOf(cfg.Routes[i])
		if err != nil {
			return nil, err
		}
		if a := cfg.Routes[i].Auth; a != nil {
			// Keys and secrets are read here, at start and on every
			// reload: a reload is how keys rotate.
			chk, err := auth.New(*a, p.authDeps)
			if err != nil {
				return nil, fmt.Errorf("config: route %q: %w", rt.Prefix, err)
			}
			rt.checker = chk
		}
		v.routes = append(v.routes, rt)
		v.handlers = append(v.handlers, routeEntry{prefix: rt.Prefix, h: p.routeHandler(rt)})
	}
	// Prefixes are unique (Validate): longest first makes the first match
	// the longest.
	slices.SortStableFunc(v.handlers, func(a, b routeEntry) int { return len(b.prefix) - len(a.prefix) })
	return v, nil
}

// route hands r to the handler of its route, by the longest prefix of its
// escaped, normalised path (the door made it so), whatever the method:
// an intermediary forwards methods it does not know (RFC 9110 9.1). A
// plain prefix table rather than a router: a router's per-request
// context and path values cost four allocations a hit does not need.
func (v *view) route(p *Proxy, w http.ResponseWriter, r *http.Request) {
	path := r.URL.EscapedPath()
	for i := range v.handlers {
		if strings.HasPrefix(path, v.handlers[i].prefix) {
			v.handlers[i].h.ServeHTTP(w, r)
			return
		}
	}
	p.notFound(w, r)
}

// newRouteOf builds a validated Route, with its origin set when it has
// origins (origins.go).
func (p *Proxy) newRouteOf(r Route) (*route, error) {
	if len(r.Origins) == 0 {
		u, _ := url.Parse(r.Origin) // checked by Validate
		return newRoute(r, u), nil
	}
	set, err := p.origins.get(r)
	if err != nil {
		return nil, err
	}
	members := set.Origins()
	rt := newRoute(r, members[0].URL)
	rt.set = set
	rt.origins = rt.origins[:0]
	for _, o := range members {
		rt.origins = append(rt.origins, o.URL)
	}
	return rt, nil
}

func (p *Proxy) view() *view { return p.cur.Load() }

// Reload swaps in a new config without dropping a connection: routes,
// class policies, status TTLs and prefetch apply to the next request, and
// cached entries keep the lifetimes they were stored with. What sizes
// long-lived resources (the cache budget, origin connection settings,
// client timeouts, the server name) needs a restart: Reload keeps the
// running values and names those that differ. An invalid config is
// rejected and the running one kept.
func (p *Proxy) Reload(cfg Config) (restartNeeded []string, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	old := p.view().cfg
	for _, s := range []struct {
		name    string
		changed bool
	}{
		{"cache", cfg.Cache != old.Cache},
		{"origin", cfg.Origin != old.Origin},
		{"client", cfg.Client != old.Client},
		{"server_name", cfg.ServerName != old.ServerName},
		{"prefetch_concurrency", cfg.PrefetchConcurrency != old.PrefetchConcurrency},
	} {
		if s.changed {
			restartNeeded = append(restartNeeded, s.name)
		}
	}
	// The settings above stay as they run until a restart.
	cfg.Cache, cfg.Origin, cfg.Client = old.Cache, old.Origin, old.Client
	cfg.ServerName, cfg.PrefetchConcurrency = old.ServerName, old.PrefetchConcurrency
	v, err := p.newView(cfg)
	if err != nil {
		return nil, err
	}
	p.cur.Store(v)
	p.origins.retain(v.routes)
	return restartNeeded, nil
}

// Config returns the config in force.
func (p *Proxy) Config() Config { return p.view().cfg }

// ServeHTTP serves the edge. Every request passes the door first.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	x := p.begin(w, r)
	defer p.end(x)
	if !p.door(x, r) {
		return
	}
	p.view().route(p, x, r)
}

// Cache exposes the cache, for tests and the admin side.
func (p *Proxy) Cache() *cache.Cache { return p.cache }

// Close stops every fill and frees the cache.
func (p *Proxy) Close() {
	p.cache.Close()
	p.origins.close()
	p.transport.CloseIdleConnections()
	p.holdTransport.CloseIdleConnections()
}

// upperMethod reports whether m is a method nginx would parse.
func upperMethod(m string) bool {
	for i := 0; i < len(m); i++ {
		if c := m[i]; (c < 'A' || c > 'Z') && c != '_' && c != '-' {
			return false
		}
	}
	return m != ""
}

// door refuses what an edge must never do (act as an open proxy, tunnel,
// loop through itself, or pass on a request whose framing two servers
// could read differently) and normalises the request path, so routing,
// keying, classification and the origin path all use one value. It
// answers the refused requests itself and reports whether r may go on.
func (p *Proxy) door(w http.ResponseWriter, r *http.Request) bool {
	if len(r.TransferEncoding) > 0 {
		// RFC 9112 6.1: a request with both Content-Length and
		// Transfer-Encoding must have its connection closed after the
		// response. net/http removes the Content-Length before the
		// handler can see it, so every request that came chunked closes
		// its connection: chunked request bodies are rare at a video
		// edge, and this is a superset of what the RFC asks.
		w.Header().Set("Connection", "close")
	}
	switch {
	case !upperMethod(r.Method):
		// Method names are case-sensitive (RFC 9110 9.1): "get" is not
		// GET, so it would pass through uncached, and an origin that reads
		// methods loosely would answer it as GET, once per request.
		// nginx's parser takes A-Z, '_' and '-' alone; so does the edge.
		p.plainError(w, http.StatusBadRequest, "method names are A-Z, '_' and '-'")
		return false
	case r.Method == http.MethodConnect:
		p.plainError(w, http.StatusMethodNotAllowed, "CONNECT is not supported")
		return false
	case r.Method == http.MethodTrace:
		// As nginx. An origin answering TRACE echoes what it received,
		// and that carries the route's origin_headers: RFC 9110 9.3.8
		// forbids a client sensitive fields in a TRACE, and the edge is
		// that client.
		p.plainError(w, http.StatusMethodNotAllowed, "TRACE is not supported")
		return false
	case !strings.HasPrefix(r.RequestURI, "/"):
		// An absolute-form target (GET http://elsewhere/ HTTP/1.1)
		// would make this an open proxy; only configured origins are
		// reachable, by path.
		p.plainError(w, http.StatusBadRequest, "absolute-form request targets are not accepted")
		return false
	case (r.Method == http.MethodGet || r.Method == http.MethodHead) && (r.ContentLength != 0 || len(r.TransferEncoding) > 0):
		// A body on GET or HEAD has no meaning here (RFC 9110 9.3.1) and
		// is the vehicle of request smuggling: refuse it and close the
		// connection, so no byte of that body is read as a request.
		w.Header().Set("Connection", "close")
		p.plainError(w, http.StatusBadRequest, "a "+r.Method+" request must not have a body")
		return false
	case viaLoop(r.Header, p.name):
		p.plainError(w, http.StatusLoopDetected, "request loop: Via already names "+p.name)
		return false
	}
	rawPath, rawQuery, _ := strings.Cut(r.RequestURI, "?")
	path, err := normalisePath(rawPath)
	if err == nil {
		err = checkQuery(rawQuery)
	}
	if err != nil {
		p.plainError(w, http.StatusBadRequest, err.Error())
		return false
	}
	if q, ok := p.readCMCD(w, r, rawQuery); ok {
		// CMCD (CTA-5004) describes the player, not the object: it never
		// enters the cache key or the origin request.
		rawQuery = q
	}
	if path != rawPath || r.URL.RawPath != "" || r.URL.RawQuery != rawQuery {
		dec, err := url.PathUnescape(path)
		if err != nil {
			// Unreachable: a normalised path is validly escaped.
			p.plainError(w, http.StatusBadRequest, err.Error())
			return false
		}
		u := *r.URL
		u.Path, u.RawPath, u.RawQuery = dec, path, rawQuery
		r.URL = &u
		r.RequestURI = path
		if rawQuery != "" {
			r.RequestURI += "?" + rawQuery
		}
	}
	return true
}

func (p *Proxy) notFound(w http.ResponseWriter, r *http.Request) {
	p.plainError(w, http.StatusNotFound, "no route for "+r.URL.Path)
}

func (p *Proxy) plainError(w http.ResponseWriter, code int, msg string) {
	h := w.Header()
	h["X-Cache-Status"] = p.statusHeader[statusBypass]
	h.Set("Age", "0")
	http.Error(w, msg, code)
}

// readCMCD reads what the player reports in CMCD (the query parameter
// and the four header fields) into the exchange, and returns the query
// without the CMCD parameter when it had one.
func (p *Proxy) readCMCD(w http.ResponseWriter, r *http.Request, rawQuery string) (string, bool) {
	q, stripped := "", false
	if rawQuery != "" {
		// Allocation-free when there is no CMCD; it also finds a
		// percent-encoded name (%43MCD).
		q, stripped = cmcd.StripQuery(rawQuery)
	}
	hasHeader := false
	for _, f := range cmcdHeaders {
		if r.Header[f] != nil {
			hasHeader = true
			break
		}
	}
	if !stripped && !hasHeader {
		return "", false
	}
	if x := exchangeOf(w); x != nil {
		x.cmcd = cmcd.Parse(rawQuery, r.Header)
	}
	return q, stripped
}

// cmcdHeaders are CTA-5004's header fields, canonical.
var cmcdHeaders = [...]string{"Cmcd-Request", "Cmcd-Object", "Cmcd-Status", "Cmcd-Session"}

func (p *Proxy) routeHandler(rt *route) http.Handler {
	// A pointer: boxing the struct into http.Handler would allocate on
	// every request.
	rp := &passThrough{p: p, rt: rt, rp: p.reverseProxy(rt)}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if x := exchangeOf(w); x != nil {
			x.rt = rt
		}
		if rt.cors != nil && isPreflight(r) {
			// Answered here: never sent to the origin, never stored.
			if x := exchangeOf(w); x != nil {
				x.preflight = true
			}
			rt.cors.preflight(w, r)
			return
		}
		if rt.checker != nil {
			// On the front too: the check is CPU alone (keys are read with
			// the config), and a successful one counts nothing, so a hand-off
			// after it (a miss) runs it again on net/http unharmed.
			var ok bool
			if r, ok = p.authorize(w, r, rt); !ok {
				return
			}
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			r, release, ok := p.limitBody(w, r) // body.go
			if !ok {
				return
			}
			defer release()
			if r.Method == http.MethodOptions {
				rp.ServeHTTP(w, r)
				return
			}
			// Unsafe methods, known or not (RFC 9110 9.2.1).
			sr := &statusRecorder{ResponseWriter: w}
			rp.ServeHTTP(sr, r)
			p.invalidateAfter(sr, r)
			return
		}
		p.serveCacheable(w, r, rt, rp)
	})
}

// reverseProxy passes a request through uncached: other methods, and
// responses the origin marked for their requester alone.
func (p *Proxy) reverseProxy(rt *route) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			u, err := url.Parse(rt.upstreamURL(pr.In.URL.EscapedPath(), pr.In.URL.RawQuery))
			if err == nil {
				pr.Out.URL = u // memberTransport picks the member
			}
			pr.Out.Host = rt.originHost(pr.In)
			// ReverseProxy has removed the viewer's Forwarded and
			// X-Forwarded-* fields; the edge sets X-Forwarded-For and Via
			// itself, as on fills, and no X-Forwarded-Host: the viewer's
			// Host is not the origin's business (playlist rewriting never
			// uses it either).
			setForwarded(pr.Out.Header, pr.In.Header["X-Forwarded-For"], pr.Out.Header["Via"], pr.In.RemoteAddr, p.via)
			// ReverseProxy passes a viewer's Upgrade on; the edge asks
			// for none (RFC 9110 7.8: hop-by-hop), as nginx unless told
			// to: a 101 would make it a raw pipe to the origin, outside
			// its timeouts and limits. An origin that switches anyway
			// gets 502.
			delete(pr.Out.Header, "Upgrade")
			delete(pr.Out.Header, "Connection")
			rt.passThroughHeader(pr.Out.Header)
		},
		Transport: memberTransport{rt: rt, base: p.transport, // origins.go
			idle: func() time.Duration { return p.view().cfg.Origin.IdleTimeout }},
		FlushInterval: -1,
		ModifyResponse: func(resp *http.Response) error {
			resp.Header["X-Cache-Status"] = p.statusHeader[statusBypass]
			if resp.Header.Get("Age") == "" {
				resp.Header.Set("Age", "0")
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			p.fail(w, r, statusBypass, err)
		},
		ErrorLog: slog.NewLogLogger(p.log.Handler(), slog.LevelDebug),
	}
}

// passThrough sends a request to the origin uncached, and notes in the
// exchange that the response came from there.
type passThrough struct {
	p  *Proxy
	rt *route
	rp *httputil.ReverseProxy
}

func (pt passThrough) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	x := exchangeOf(w)
	if x != nil {
		x.passedThrough = true
	}
	pt.rp.ServeHTTP(w, r)
	if x != nil && x.passedThrough && x.wroteHeader {
		x.hasUpstream = true
		x.upstream = accesslog.Upstream{Addr: pt.rt.origin.Host, Status: x.status}
	}
}

// completeHead finishes the head of a body that arrived chunked: the stored
// entry knows its length.
func completeHead(h *cache.Head, body cache.ByteView) any {
	if h.Header.Get("Content-Length") == "" {
		nh := h.Header.Clone()
		nh.Set("Content-Length", strconv.Itoa(body.Len()))
		h.Header = cache.NewHeader(nh)
	}
	return h.Extra
}

// Routes returns the configured routes, for logging.
func (p *Proxy) Routes() []string {
	var s []string
	for _, rt := range p.view().routes {
		to := rt.Origin
		if rt.set != nil {
			var us []string
			for _, o := range rt.set.Origins() {
				us = append(us, o.Raw)
			}
			to = string(rt.set.Mode()) + "(" + strings.Join(us, " ") + ")"
		}
		s = append(s, fmt.Sprintf("%s -> %s", rt.Prefix, to))
	}
	return s
}
