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

// fillRequestHeader is what a shared fill sends upstream: an allow-list,
// never a copy of the viewer's request. A fill's response goes to every
// viewer who joins it and to every later hit, so a viewer header that
// reached the origin without being part of the key would let one request
// choose what everyone gets (web cache poisoning through unkeyed fields:
// X-Forwarded-Host, X-Host, Forwarded, Cookie...). What goes:
//   - User-Agent;
//   - the headers the route names in forward_headers, which are keyed;
//   - the route's static origin_headers;
//   - Via and X-Forwarded-For, set by the edge after everything else, so
//     no field named in the viewer's Connection can remove them.
//
// The edge fetches whole identity bodies and answers ranges, conditionals
// and encodings itself, so none of those fields are sent.
func (rt *route) fillRequestHeader(in http.Header, remoteAddr, via string) http.Header {
	h := make(http.Header, 4+len(rt.ForwardHeaders)+len(rt.OriginHeaders))
	hop := connectionTokens(in)
	if ua := in["User-Agent"]; len(ua) > 0 && !hop["User-Agent"] {
		h["User-Agent"] = ua
	}
	for _, name := range rt.ForwardHeaders {
		if v := in[name]; len(v) > 0 && !hop[name] {
			h[name] = v
		}
	}
	for name, v := range rt.OriginHeaders {
		h[name] = []string{v}
	}
	setForwarded(h, in["X-Forwarded-For"], in["Via"], remoteAddr, via)
	return h
}

// setForwarded sets the edge's own X-Forwarded-For (the prior list plus
// the peer, as nginx $proxy_add_x_forwarded_for) and Via (RFC 9110 7.6.3:
// the prior hops plus this one).
func setForwarded(h http.Header, priorXFF, priorVia []string, remoteAddr, via string) {
	if ip, _, err := net.SplitHostPort(remoteAddr); err == nil {
		if len(priorXFF) > 0 {
			ip = strings.Join(priorXFF, ", ") + ", " + ip
		}
		h["X-Forwarded-For"] = []string{ip}
	}
	h["Via"] = append(append([]string(nil), priorVia...), via)
}

// connectionTokens returns the field names a message's Connection field
// lists (RFC 9110 7.6.1), canonicalised.
func connectionTokens(h http.Header) map[string]bool {
	cs := h["Connection"]
	if len(cs) == 0 {
		return nil
	}
	m := map[string]bool{}
	for _, f := range cs {
		for _, sf := range strings.Split(f, ",") {
			if sf = strings.TrimSpace(sf); sf != "" {
				m[http.CanonicalHeaderKey(sf)] = true
			}
		}
	}
	return m
}

// routingOverrides are viewer fields that some origins and frameworks
// read as the host, scheme, path or method of the request (IIS and
// Symfony X-Original-URL, X-Rewrite-URL, Rails and Laravel method
// overrides, X-Forwarded-Host). They would let a viewer reach what the
// route does not map, so the edge never passes them, not even on a
// pass-through request, unless a route names them in forward_headers.
var routingOverrides = [...]string{
	"Forwarded",
	"X-Forwarded-Host",
	"X-Forwarded-Proto",
	"X-Forwarded-Prefix",
	"X-Forwarded-Port",
	"X-Forwarded-Server",
	"X-Host",
	"X-Original-Url",
	"X-Rewrite-Url",
	"X-Original-Host",
	"X-Http-Method-Override",
	"X-Http-Method",
	"X-Method-Override",
}

// passThroughHeader adjusts the header of a request passed through to the
// origin for one viewer (other methods, responses that may not be
// shared): the viewer's own fields go, credentials included, since the
// answer is for that viewer alone; routing overrides do not; the route's
// origin_headers replace any viewer value.
func (rt *route) passThroughHeader(h http.Header) {
	for _, name := range routingOverrides {
		if !rt.forwards(name) {
			delete(h, name)
		}
	}
	for name, v := range rt.OriginHeaders {
		h[name] = []string{v}
	}
}

// originResponseHeader is what the edge keeps of an origin's response
// head. Age stays until the policy has counted it into the entry's initial
// age (RFC 9111 4.2.3), and Edgecache-Cache-Control until the policy has
// read it; the policy then removes both.
func originResponseHeader(in http.Header) http.Header {
	h := in.Clone()
	removeHopByHop(h)
	// The edge sets its own status and Content-Length from the body it
	// actually has.
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
