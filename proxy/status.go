package proxy

import (
	"context"
	"errors"
	"net"
	"net/http"

	"github.com/edgecache/edgecache/cache"
	"github.com/edgecache/edgecache/manifest"
)

// cacheStatus is the X-Cache-Status of a response, with nginx's values and
// meanings ($upstream_cache_status).
type cacheStatus uint8

const (
	statusMiss        cacheStatus = iota // not in the cache; this request fetched it
	statusHit                            // from the cache, or from a fill another request started
	statusExpired                        // in the cache but expired; this request fetched it anew
	statusStale                          // expired, origin failed: served stale (stale-if-error)
	statusUpdating                       // expired, another request is refreshing it: served stale
	statusRevalidated                    // expired, the origin confirmed it with a 304
	statusBypass                         // passed through, not cacheable
	numStatus
)

func (s cacheStatus) String() string {
	return [...]string{"MISS", "HIT", "EXPIRED", "STALE", "UPDATING", "REVALIDATED", "BYPASS"}[s]
}

// CacheStatuses returns every X-Cache-Status value the proxy sends, for
// metrics to create their counters from the one list.
func CacheStatuses() []string {
	s := make([]string, numStatus)
	for i := range s {
		s[i] = cacheStatus(i).String()
	}
	return s
}

// ClassNames returns the label of every object class, for metrics.
func ClassNames() []string {
	var s []string
	for _, c := range manifest.AllClasses() {
		s = append(s, c.String())
	}
	return s
}

// statusFor is the one place errors become HTTP status codes (caddy's
// statusError): the viewer's own status for a request body it sent badly
// (400, 408, 413: body.go) or the edge could not hold (503), 504 when the
// origin was too slow, 503 when shutting down, 502 otherwise. A viewer who
// left gets nothing (fail checks the viewer's own context): a cancellation
// that is not the viewer's is the origin's failure like any other.
func statusFor(err error) int {
	var ne net.Error
	var be *bodyError
	switch {
	case errors.As(err, &be):
		return be.status // the viewer's body, not the origin (body.go)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, errIdleTimeout),
		errors.As(err, &ne) && ne.Timeout():
		return http.StatusGatewayTimeout
	case errors.Is(err, cache.ErrClosed):
		return http.StatusServiceUnavailable
	}
	return http.StatusBadGateway
}

// fail answers a request whose response could not be produced, before any
// of it was sent, or aborts it when its viewer is gone. Whatever head was
// being prepared is dropped: an error page never carries the origin's
// validators, Cache-Control or length.
func (p *Proxy) fail(w http.ResponseWriter, r *http.Request, st cacheStatus, err error) {
	var be *bodyError
	viewersBody := errors.As(err, &be)
	if r.Context().Err() != nil && !viewersBody {
		// The viewer is gone (499 in nginx's terms): no one to answer,
		// and its connection is closed with nothing written, as nginx
		// does. Returning would let net/http finish the exchange as
		// "200 OK" with an empty body, which a viewer that only
		// half-closed its side reads as an empty segment. (A body that
		// failed also ends net/http's context of the request, yet its
		// viewer may be there: it is answered, below.) Every caller
		// returns after fail; their defers run.
		p.log.Debug("viewer left", "path", r.URL.Path, "err", err)
		panic(http.ErrAbortHandler)
	}
	if x := exchangeOf(w); x != nil {
		x.passedThrough = false
	}
	code := statusFor(err)
	if viewersBody {
		// nginx logs "client sent invalid chunked body" and its kin at
		// info: the viewer's doing, not an origin's trouble to page for.
		p.log.Info("bad request body", "path", r.URL.Path, "status", code, "err", err)
	} else {
		p.log.Warn("request failed", "path", r.URL.Path, "status", code, "err", err)
	}
	h := w.Header()
	conn := h["Connection"]
	clear(h)
	if conn != nil {
		h["Connection"] = conn
	}
	if viewersBody {
		// Where the body ends is unknown or unread: nothing after it may
		// be taken for a request.
		h.Set("Connection", "close")
		if be.status == http.StatusServiceUnavailable {
			// The edge's buffers for bodies are full (body.go): not the
			// viewer's doing; say when to try again (RFC 9110 10.2.3).
			h.Set("Retry-After", "1")
		}
	}
	h["X-Cache-Status"] = p.statusHeader[st]
	h.Set("Age", "0")
	h.Set("Cache-Control", "no-store")
	http.Error(w, http.StatusText(code), code)
}
