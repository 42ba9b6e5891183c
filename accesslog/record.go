// Package accesslog writes one line per response, off the request path:
// nginx's combined format with the cache fields by default, any nginx
// log_format, or JSON, to stdout or to a file reopened on SIGUSR1.
package accesslog

import (
	"net/http"
	"time"

	"github.com/edgecache/edgecache/cmcd"
)

// Record is what the edge knows of one response when it is done. The
// proxy fills it and hands it over by value; the logger formats it on its
// own goroutine.
type Record struct {
	// Start is when the request head had been read.
	Start time.Time
	// RemoteAddr is the client's address (no port): the peer's, or the
	// rightmost untrusted X-Forwarded-For entry when the peer is a trusted
	// proxy (nginx $remote_addr under real_ip).
	RemoteAddr string
	// Method, RequestURI and Proto are the request line as received
	// (nginx $request_method, $request_uri, $server_protocol).
	Method, RequestURI, Proto string
	// Path is the normalised path the edge routed by (nginx $uri).
	Path string
	// Host is the request's Host (nginx $host).
	Host string
	// Header is the request's header fields, read-only: the proxy does not
	// touch them once the record is handed over ($http_NAME).
	Header http.Header
	// Status is the status sent; BodyBytes the body bytes written.
	Status    int
	BodyBytes int64
	// RequestTime is from Start to the last byte written ($request_time).
	RequestTime time.Duration
	// Upstream is set when this request started an origin request:
	// $upstream_status, $upstream_response_time (to the end of the origin's
	// body) and $upstream_connect_time (zero when a kept-alive connection
	// was reused). Joined fills and hits log "-", as nginx does for hits.
	Upstream *Upstream
	// CacheStatus is X-Cache-Status ($upstream_cache_status).
	CacheStatus string
	// Route and Class name the route and the object class.
	Route, Class string
	// CMCD is what the player reported (CTA-5004), zero when nothing.
	CMCD cmcd.Data
	// Auth is why an access check refused the request, empty when it
	// passed or none applied.
	Auth string
}

// Upstream is the origin request one record's request started.
type Upstream struct {
	Addr         string
	Status       int
	ConnectTime  time.Duration
	ResponseTime time.Duration
}
