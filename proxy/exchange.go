package proxy

import (
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/edgecache/edgecache/accesslog"
	"github.com/edgecache/edgecache/auth"
	"github.com/edgecache/edgecache/cmcd"
	"github.com/edgecache/edgecache/manifest"
)

// Option configures a Proxy beyond its Config.
type Option func(*Proxy)

// WithAccessLog hands every response's record to log when it is done.
// log must not block: accesslog.Logger.Log queues and drops under
// pressure.
func WithAccessLog(log func(accesslog.Record)) Option {
	return func(p *Proxy) { p.accessLog = log }
}

// WithAuthDeps sets where routes' token checkers read keys and secrets
// (the environment, files, the clock); the zero value is the process's.
func WithAuthDeps(d auth.Deps) Option {
	return func(p *Proxy) { p.authDeps = d }
}

// exchange is one request and its response as the edge serves it. It
// wraps the ResponseWriter to see the status and the bytes written, and
// to finish the head at the moment it goes out: the route's response
// headers, CORS, and Cache-Status (RFC 9211) are added there, to hits,
// misses and the edge's own errors alike. It keeps ReadFrom (so bodies
// copied from a reader can still use sendfile) and Unwrap (so
// http.ResponseController reaches the connection).
type exchange struct {
	http.ResponseWriter
	p     *Proxy
	r     *http.Request
	rt    *route
	start time.Time
	// requestURI is the request target as received, before the door
	// normalised it: what the access log shows.
	requestURI string

	wroteHeader bool
	status      int
	bytes       int64

	// What the serving path learnt, for Cache-Status and the log.
	key         string
	class       manifest.Class
	classSet    bool
	ttl         time.Duration
	hasTTL      bool
	stored      bool
	collapsed   bool
	cacheStatus string
	upstream    accesslog.Upstream
	hasUpstream bool
	cmcd        cmcd.Data
	auth        string
	csBuf       [1]string
	// passedThrough: the response is the origin's, passed through, unless
	// the edge failed it (fail clears it).
	passedThrough bool
	// preflight: the edge answered a CORS preflight; its fields are final.
	preflight bool
	// propagate, when set, is the token query to carry into the URIs of
	// the playlist served (authorize); propagateDASH: it is an MPD.
	propagate     manifest.QueryFunc
	propagateDASH bool
	// timing is the fill this request started, for the upstream times.
	timing *fillTiming
	// front is the front's writer when the front serves the request
	// (front.go); handOff gives such a request to net/http.
	front *frontWriter
}

var exchanges = sync.Pool{New: func() any { return new(exchange) }}

func (x *exchange) Unwrap() http.ResponseWriter { return x.ResponseWriter }

func (x *exchange) WriteHeader(code int) {
	if x.wroteHeader {
		x.ResponseWriter.WriteHeader(code) // net/http logs the superfluous call
		return
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		x.ResponseWriter.WriteHeader(code) // informational: the real head follows
		return
	}
	x.wroteHeader, x.status = true, code
	x.finishHead(x.ResponseWriter.Header(), code)
	x.ResponseWriter.WriteHeader(code)
}

func (x *exchange) Write(b []byte) (int, error) {
	if !x.wroteHeader {
		x.WriteHeader(http.StatusOK)
	}
	n, err := x.ResponseWriter.Write(b)
	x.bytes += int64(n)
	return n, err
}

// FlushError sends what is buffered; a flush before any head sends the
// head first, finished like any other (http.ResponseController calls it).
func (x *exchange) FlushError() error {
	if !x.wroteHeader {
		x.WriteHeader(http.StatusOK)
	}
	return http.NewResponseController(x.ResponseWriter).Flush()
}

// ReadFrom keeps the connection's own ReadFrom (sendfile, splice).
func (x *exchange) ReadFrom(src io.Reader) (int64, error) {
	if !x.wroteHeader {
		x.WriteHeader(http.StatusOK)
	}
	var (
		n   int64
		err error
	)
	if rf, ok := x.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(src)
	} else {
		n, err = io.Copy(writerOnly{x.ResponseWriter}, src)
	}
	x.bytes += n
	return n, err
}

// writerOnly hides every method but Write, so io.Copy cannot loop back
// into ReadFrom.
type writerOnly struct{ io.Writer }

// exchangeOf finds the exchange under w and the wrappers around it.
func exchangeOf(w http.ResponseWriter) *exchange {
	for w != nil {
		if x, ok := w.(*exchange); ok {
			return x
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return nil
		}
		w = u.Unwrap()
	}
	return nil
}

// finishHead completes the head as it goes out.
func (x *exchange) finishHead(h http.Header, code int) {
	xcs := h["X-Cache-Status"]
	if len(xcs) == 0 {
		xcs = x.p.statusHeader[statusBypass]
		h["X-Cache-Status"] = xcs
	}
	x.cacheStatus = xcs[0]
	if rt := x.rt; rt != nil {
		for name, v := range rt.respHeaders {
			h[name] = v
		}
		if rt.cors != nil && !x.preflight {
			rt.cors.apply(h, x.r.Header.Get("Origin"))
		}
	}
	if x.cacheStatus == "HIT" && !x.collapsed && x.hasTTL && !x.stored {
		// The common case, the same string per ttl: made once.
		x.csBuf[0] = x.p.memo.hitStatus(int64(x.ttl/time.Second), func() string { return x.cacheStatusField(code) })
	} else {
		x.csBuf[0] = x.cacheStatusField(code)
	}
	h["Cache-Status"] = x.csBuf[:]
}

// cacheStatusField is the edge's Cache-Status entry (RFC 9211 2): hit
// with its remaining ttl (negative when served stale, 2.6), or why the
// request went forward (fwd, 2.2) with the origin's status (fwd-status,
// 2.3), whether the response was stored (2.7) and whether it was
// collapsed onto another request's fetch (2.8).
func (x *exchange) cacheStatusField(code int) string {
	var b [96]byte
	s := append(b[:0], "edgecache"...)
	switch x.cacheStatus {
	case "HIT":
		if x.collapsed {
			s = append(s, "; fwd=miss; collapsed"...)
		} else {
			s = append(s, "; hit"...)
		}
	case "UPDATING":
		s = append(s, "; hit"...)
	case "STALE":
		s = append(s, "; hit"...)
	case "MISS":
		s = append(s, "; fwd=miss; fwd-status="...)
		s = strconv.AppendInt(s, int64(code), 10)
	case "EXPIRED":
		s = append(s, "; fwd=stale; fwd-status="...)
		s = strconv.AppendInt(s, int64(code), 10)
	case "REVALIDATED":
		s = append(s, "; fwd=stale; fwd-status=304"...)
	default: // BYPASS: passed through, or answered by the edge itself
		s = append(s, "; fwd=bypass"...)
	}
	if x.hasTTL {
		s = append(s, "; ttl="...)
		s = strconv.AppendInt(s, int64(x.ttl/time.Second), 10)
	}
	if x.stored {
		s = append(s, "; stored"...)
	}
	switch x.cacheStatus {
	case "UPDATING":
		s = append(s, "; detail=stale-while-revalidate"...)
	case "STALE":
		s = append(s, "; detail=stale-if-error"...)
	}
	return string(s)
}

// served notes what the serving path knows of a cached response: its
// remaining freshness and whether it is (being) stored.
func (x *exchange) served(lifetime, age time.Duration, stored bool) {
	// In whole seconds as Age counts them, so ttl + Age is the lifetime.
	x.ttl, x.hasTTL, x.stored = lifetime.Truncate(time.Second)-age.Truncate(time.Second), true, stored
}

// begin wraps a request's writer. The caller must call end.
func (p *Proxy) begin(w http.ResponseWriter, r *http.Request) *exchange {
	x := exchanges.Get().(*exchange)
	*x = exchange{ResponseWriter: w, p: p, r: r, start: time.Now(), requestURI: r.RequestURI}
	x.front, _ = w.(*frontWriter)
	return x
}

// handOff reports that the front serves this request and has now handed
// it to net/http (counted under reason): the handler returns at once, and net/http's server runs
// it again from its first byte. Call it where the serving path would wait
// on something (a fill, a refresh, a held request), before
// anything is written or counted: end then discards the exchange.
func handOff(w http.ResponseWriter, reason string) bool {
	x := exchangeOf(w)
	if x == nil || x.front == nil || x.wroteHeader {
		return false
	}
	x.front.handedOff = true
	x.p.metrics.Handoff(reason)
	return true
}

// end accounts for a finished response: metrics, viewers, the access log.
// It runs when the handler returns, also when it aborts the response.
func (p *Proxy) end(x *exchange) {
	if x.front != nil && x.front.handedOff {
		// Not served here: net/http serves it and accounts for it.
		*x = exchange{}
		exchanges.Put(x)
		return
	}
	now := time.Now()
	d := now.Sub(x.start)
	status := x.status
	if !x.wroteHeader {
		// Nothing went out: the viewer left first (nginx logs 499).
		status = 499
		x.cacheStatus = x.p.statusHeader[statusBypass][0]
		if x.ResponseWriter.Header()["X-Cache-Status"] != nil {
			x.cacheStatus = x.ResponseWriter.Header()["X-Cache-Status"][0]
		}
	}
	if !x.classSet {
		x.class = manifest.Classify("", x.r.URL.Path, nil)
	}
	cs := x.class.String()
	p.metrics.Response(status, cs, x.cacheStatus, d)
	v := p.view()
	var client netip.Addr
	if p.accessLog != nil || x.class != manifest.ClassOther {
		client = v.trusted.clientAddr(x.r.RemoteAddr, x.r.Header["X-Forwarded-For"])
	}
	if x.class != manifest.ClassOther && status < 400 {
		label, target := p.streams.labelTarget(x.key)
		if label != "" {
			p.viewers.see(label, x.cmcd.SID, client, x.r.Header.Get("User-Agent"), target, now)
			if x.cmcd.BS {
				p.metrics.BufferStarvation(label)
			}
		}
	}
	if p.accessLog != nil {
		hdr := x.r.Header
		if x.front != nil {
			// The front reuses the map for the connection's next request;
			// the record may be written after that one is read.
			hdr = hdr.Clone()
		}
		rec := accesslog.Record{
			Start:       x.start,
			RemoteAddr:  client.String(),
			Method:      x.r.Method,
			RequestURI:  x.requestURI,
			Proto:       x.r.Proto,
			Path:        x.r.URL.Path,
			Host:        x.r.Host,
			Header:      hdr,
			Status:      status,
			BodyBytes:   x.bytes,
			RequestTime: d,
			CacheStatus: x.cacheStatus,
			Class:       cs,
			CMCD:        x.cmcd,
			Auth:        x.auth,
		}
		if x.rt != nil {
			rec.Route = x.rt.Name
		}
		if x.hasUpstream {
			u := x.upstream
			if t := x.timing; t != nil {
				u.ConnectTime = time.Duration(t.connect.Load())
				u.ResponseTime = time.Duration(t.done.Load())
			}
			if u.ResponseTime == 0 {
				u.ResponseTime = d
			}
			rec.Upstream = &u
		}
		p.accessLog(rec)
	}
	*x = exchange{}
	exchanges.Put(x)
}
