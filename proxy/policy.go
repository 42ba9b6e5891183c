package proxy

import (
	"net/http"
	"strings"
	"time"

	"github.com/edgecache/edgecache/cache"
	"github.com/edgecache/edgecache/manifest"
)

// policy turns origin responses into cache heads: what may be stored and
// shared, for how long it is fresh, and how long it may be served stale. It
// follows RFC 9111 and lets the config override per class and status, as
// nginx proxy_cache_valid does.
type policy struct {
	classes   [4]ClassPolicy // by manifest.Kind
	statusTTL map[int]time.Duration
}

func newPolicy(cfg *Config) *policy {
	p := &policy{statusTTL: cfg.StatusTTL}
	for name, cp := range cfg.Classes {
		k, _ := manifest.ParseKind(name)
		p.classes[k] = cp
	}
	return p
}

func (p *policy) class(k manifest.Kind) *ClassPolicy {
	if int(k) < len(p.classes) {
		return &p.classes[k]
	}
	return &p.classes[manifest.KindOther]
}

// configuredTTL is the lifetime the config gives a response of this status
// when the origin gives none.
func (p *policy) configuredTTL(cp *ClassPolicy, status int) (time.Duration, bool) {
	if d, ok := cp.StatusTTL[status]; ok {
		return d, true
	}
	if status == http.StatusOK {
		return cp.TTL, cp.TTL > 0
	}
	d, ok := p.statusTTL[status]
	return d, ok
}

// head builds the cache head of an origin response.
func (p *policy) head(class manifest.Class, status int, h http.Header, contentLength int64, reqTime, respTime time.Time, authorized bool) cache.Head {
	cp := p.class(class.Kind())
	// The view reads h as it is changed below and by the fill after: h is
	// the fill's until it hands the head to the cache.
	v := cache.NewHeader(h)
	cc, targeted := responseCacheControl(v)
	hd := cache.Head{
		Status:        status,
		Header:        v,
		ContentLength: contentLength,
		ResponseTime:  respTime,
		InitialAge:    cache.InitialAge(v, reqTime, respTime),
		Label:         uint8(class),
	}
	// The origin's Age is in InitialAge now (RFC 9111 4.2.3); the edge
	// sends the entry's current age in its place.
	h.Del("Age")
	// RFC 9111 3: private and no-store responses are for their requester;
	// a Set-Cookie is per-client state, never given to another client;
	// "Vary: *" never matches another request (4.1).
	_, varyStar := varyFields(v)
	hd.Shared = !cc.Private && !cc.NoStore && !v.Has("Set-Cookie") && !varyStar
	storable := !storeForbidden(v, cc, status, authorized)
	life, explicit := explicitLifetime(v, cc, targeted)
	if cc.NoCache {
		// RFC 9111 5.2.2.4: store, but validate before every use.
		life, explicit = 0, true
	}
	if !explicit || cp.Override {
		d, ok := p.configuredTTL(cp, status)
		switch {
		case ok:
			life = d
		case !explicit:
			// No freshness information and none configured: not cached.
			storable = false
		}
	}
	if cp.MaxTTL > 0 && life > cp.MaxTTL {
		life = cp.MaxTTL
	}
	hd.Lifetime = life
	hd.StaleWhileRevalidate, hd.StaleIfError = staleWindows(cp, cc)
	if life == 0 && !hasValidators(v) {
		// Stale at once with nothing to revalidate against: keeping it
		// could only ever serve it stale.
		storable = storable && (hd.StaleIfError > 0 || hd.StaleWhileRevalidate > 0)
	}
	hd.Store = storable
	return hd
}

// targetedFields are the targeted cache-control fields the edge obeys, in
// order of precedence (RFC 9213 2.1): its own, then the one every CDN
// obeys.
var targetedFields = [...]string{"Edgecache-Cache-Control", "Cdn-Cache-Control"}

// responseCacheControl returns the directives that govern how the edge
// caches a response. RFC 9213 2.1: the first targeted field with a valid,
// non-empty value is used, and Cache-Control and Expires are then ignored;
// without one, Cache-Control governs.
func responseCacheControl(h cache.Header) (cc cache.CacheControl, targeted bool) {
	for _, f := range targetedFields {
		if v := h.Values(f); len(v) > 0 && validDictionary(v) {
			return cache.ParseCacheControl(v), true
		}
	}
	return cache.ParseCacheControl(h.Values("Cache-Control")), false
}

// explicitLifetime is cache.ExplicitLifetime with RFC 9213's rule: under a
// targeted field, Expires does not count.
func explicitLifetime(h cache.Header, cc cache.CacheControl, targeted bool) (time.Duration, bool) {
	if targeted && !cc.HasMaxAge && !cc.HasSMaxAge {
		return 0, false
	}
	return cache.ExplicitLifetime(h, cc)
}

// validDictionary reports a targeted field value that parses as an RFC
// 8941 Dictionary of the shape cache directives take: members separated
// by commas, each a key (lower-case letter or "*", then lower-case
// letters, digits, "_", "-", ".", "*") with an optional integer, token or
// quoted-string value. Anything else makes the field invalid, and it is
// ignored (RFC 9213 2.1).
func validDictionary(values []string) bool {
	v := strings.Join(values, ",")
	if strings.TrimSpace(v) == "" {
		return false
	}
	for _, m := range strings.Split(v, ",") {
		m = strings.Trim(m, " \t")
		key, val, hasVal := strings.Cut(m, "=")
		if key == "" || !(key[0] >= 'a' && key[0] <= 'z' || key[0] == '*') {
			return false
		}
		for i := 1; i < len(key); i++ {
			c := key[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("_-.*", c) >= 0) {
				return false
			}
		}
		if !hasVal {
			continue
		}
		switch {
		case len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"':
		case val != "" && strings.Trim(val, "0123456789") == "" && len(val) <= 15:
		case val != "" && (val[0] >= 'a' && val[0] <= 'z' || val[0] >= 'A' && val[0] <= 'Z' || val[0] == '*'):
			for i := 1; i < len(val); i++ {
				if c := val[i]; c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),;<=>?@[\\]{}", c) >= 0 {
					return false
				}
			}
		default:
			return false
		}
	}
	return true
}

// dropOwnFields removes, once every rule has read the head, what was
// addressed to the edge alone: its targeted cache-control field (RFC 9213
// 2.1) never reaches a viewer.
func dropOwnFields(h http.Header) {
	h.Del(targetedFields[0])
}

// staleWindows is how long past its lifetime a response may be served
// while one request refreshes it, and when the origin fails. The class's
// windows apply unless the origin forbade serving stale: no-cache (RFC 9111
// 5.2.2.4), must-revalidate (5.2.2.2), proxy-revalidate (5.2.2.8) and
// s-maxage, which implies proxy-revalidate for a shared cache (5.2.2.10).
// An origin's own stale-while-revalidate and stale-if-error (RFC 5861)
// extend them, and count even beside s-maxage, as the origin's more
// specific word; never beside the first three, whose MUST NOT wins.
func staleWindows(cp *ClassPolicy, cc cache.CacheControl) (swr, sie time.Duration) {
	if cc.NoCache || cc.MustRevalidate || cc.ProxyRevalidate {
		return 0, 0
	}
	if !cc.HasSMaxAge {
		swr, sie = cp.StaleWhileUpdating, cp.StaleIfError
	}
	if cc.HasSWR && cc.StaleWhileRevalidate > swr {
		swr = cc.StaleWhileRevalidate
	}
	if cc.HasSIE && cc.StaleIfError > sie {
		sie = cc.StaleIfError
	}
	return swr, sie
}

// storeForbidden reports a response the edge must never store, whatever
// lifetime the config or a playlist would give it. Lifetime rules may
// shorten a life or refuse to store; only this decides what may be.
func storeForbidden(h cache.Header, cc cache.CacheControl, status int, authorized bool) bool {
	switch status {
	case http.StatusPartialContent, http.StatusNotModified:
		// Not a whole representation.
		return true
	case http.StatusBadRequest, http.StatusMethodNotAllowed, http.StatusRequestEntityTooLarge,
		http.StatusRequestURITooLong, http.StatusRequestHeaderFieldsTooLarge, http.StatusNotImplemented:
		// Answers a request provoked (oversized or odd headers, method
		// overrides): storing them lets one request deny a URL to every
		// viewer (cache-poisoned denial of service, "CPDoS").
		return true
	}
	if cc.Private || cc.NoStore || h.Has("Set-Cookie") {
		return true
	}
	if _, star := varyFields(h); star {
		return true
	}
	// RFC 9111 3.5: a response to a request with credentials is stored
	// only when the origin says a shared cache may.
	return authorized && !cc.Public && !cc.HasSMaxAge && !cc.MustRevalidate
}

// mayStore reports whether a head the policy built may be stored at all,
// for the lifetime rules applied after it (playlists, LL-HLS).
func mayStore(hd *cache.Head, authorized bool) bool {
	cc, _ := responseCacheControl(hd.Header)
	return hd.Shared && !storeForbidden(hd.Header, cc, hd.Status, authorized)
}

// keep is how long the store holds an entry: its lifetime, the longer of
// its stale windows, and, when it can be revalidated, as long again, so a
// conditional refresh can find it.
func keep(h cache.Head) time.Duration {
	k := h.Lifetime + max(h.StaleWhileRevalidate, h.StaleIfError)
	if hasValidators(h.Header) {
		k += max(h.Lifetime, 10*time.Second)
	}
	if k <= 0 {
		return 0
	}
	// Stored entries age from their origin's response time; ristretto's
	// TTL starts now, so take off what the entry has already lived.
	k -= h.InitialAge
	return k
}

func hasValidators(h cache.Header) bool {
	return h.Get("Etag") != "" || h.Get("Last-Modified") != ""
}

// refreshedHead merges a 304 into the stored head (RFC 9111 4.3.4): the
// 304's fields replace the stored ones, except those describing the body.
func (p *policy) refreshedHead(old cache.Head, h304 http.Header, reqTime, respTime time.Time) cache.Head {
	merged := old.Header.Clone()
	for k, vs := range h304 {
		switch k {
		case "Content-Length", "Content-Encoding", "Content-Type", "Content-Range", "Transfer-Encoding":
			continue
		}
		merged[k] = vs
	}
	nh := p.head(manifest.Class(old.Label), old.Status, merged, old.ContentLength, reqTime, respTime, false)
	nh.Extra = old.Extra
	dropOwnFields(merged)
	return nh
}
