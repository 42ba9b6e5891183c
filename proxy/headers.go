package proxy

import (
	"net"
	"net/http"
	"strings"
)

// hopHeaders are the hop-by-hop fields of RFC 9110 7.6.1, the same list
// net/http/httputil.ReverseProxy strips (it does not export its helper).
var hopHeaders = [...]string{
	"Connection",
	"Proxy-Connection", // non-standard, sent by old clients
	"Keep-Alive",
	"Proxy-Authenticate",
	"Proxy-Authorization",
	"Te",
	"Trailer",
	"Transfer-Encoding",
	"Upgrade",
}

// removeHopByHop deletes the hop-by-hop fields and those the Connection
// field names, as httputil.ReverseProxy's removeHopByHopHeaders does.
func removeHopByHop(h http.Header) {
	for _, f := range h["Connection"] {
		for _, sf := range strings.Split(f, ",") {
			if sf = strings.TrimSpace(sf); sf != "" {
				h.Del(sf)
			}
		}
	}
	for _, f := range hopHeaders {
		h.Del(f)
	}
}

// originRequestHeader is what a fill sends upstream: the client's
// end-to-end fields, less what the edge answers itself (ranges,
// conditionals, encodings), plus Via and X-Forwarded-For.
func originRequestHeader(in http.Header, remoteAddr, via string) http.Header {
	h := in.Clone()
	removeHopByHop(h)
	for _, f := range [...]string{
		// The edge fetches whole identity bodies and answers ranges and
		// conditionals from them.
		"Range", "If-Range", "If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since",
		"Accept-Encoding",
		// A shared fill is not one client's to steer.
		"Cache-Control", "Pragma",
		"X-Cache-Status",
	} {
		h.Del(f)
	}
	if ip, _, err := net.SplitHostPort(remoteAddr); err == nil {
		if prior := h.Values("X-Forwarded-For"); len(prior) > 0 {
			ip = strings.Join(prior, ", ") + ", " + ip
		}
		h.Set("X-Forwarded-For", ip)
	}
	h.Add("Via", via)
	return h
}

// originResponseHeader is what the edge keeps of an origin's response head.
func originResponseHeader(in http.Header) http.Header {
	h := in.Clone()
	removeHopByHop(h)
	// The edge computes its own Age and status, and sets Content-Length
	// from the body it actually has.
	h.Del("Age")
	h.Del("X-Cache-Status")
	h.Del("Content-Length")
	return h
}

// viaLoop reports whether a request's Via already names this instance.
func viaLoop(h http.Header, name string) bool {
	for _, v := range h.Values("Via") {
		for _, hop := range strings.Split(v, ",") {
			f := strings.Fields(hop)
			if len(f) >= 2 && f[1] == name {
				return true
			}
		}
	}
	return false
}

// acceptsGzip reports whether a client accepts gzip (RFC 9110 12.5.3).
func acceptsGzip(h http.Header) bool {
	for _, v := range h.Values("Accept-Encoding") {
		for _, c := range strings.Split(v, ",") {
			name, params, _ := strings.Cut(strings.TrimSpace(c), ";")
			if !strings.EqualFold(strings.TrimSpace(name), "gzip") {
				continue
			}
			if q, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok && (q == "0" || q == "0.0" || q == "0.00" || q == "0.000") {
				return false
			}
			return true
		}
	}
	return false
}
