package proxy

import (
	"net/http"
	"strconv"
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
	cc := cache.ParseCacheControl(h.Values("Cache-Control"))
	hd := cache.Head{
		Status:        status,
		Header:        h,
		ContentLength: contentLength,
		ResponseTime:  respTime,
		InitialAge:    cache.InitialAge(h, reqTime, respTime),
		Label:         uint8(class),
	}
	// RFC 9111 3: private and no-store responses are for their requester;
	// a Set-Cookie is per-client state, never given to another client.
	hd.Shared = !cc.Private && !cc.NoStore && len(h.Values("Set-Cookie")) == 0
	storable := hd.Shared &&
		status != http.StatusPartialContent && status != http.StatusNotModified &&
		// RFC 9111 3.5: a response to an authorized request is stored only
		// when the origin says a shared cache may.
		(!authorized || cc.Public || cc.HasSMaxAge || cc.MustRevalidate) &&
		varyAllowed(h)

	life, explicit := cache.ExplicitLifetime(h, cc)
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
	hd.StaleWhileRevalidate = cp.StaleWhileUpdating
	if cc.HasSWR && cc.StaleWhileRevalidate > hd.StaleWhileRevalidate {
		hd.StaleWhileRevalidate = cc.StaleWhileRevalidate
	}
	hd.StaleIfError = cp.StaleIfError
	if cc.HasSIE && cc.StaleIfError > hd.StaleIfError {
		hd.StaleIfError = cc.StaleIfError
	}
	if cc.MustRevalidate || cc.ProxyRevalidate {
		// RFC 9111 5.2.2.2: never served stale without validation.
		hd.StaleWhileRevalidate, hd.StaleIfError = 0, 0
	}
	if life == 0 && !hasValidators(h) {
		// Stale at once with nothing to revalidate against: keeping it
		// could only ever serve it stale.
		storable = storable && (hd.StaleIfError > 0 || hd.StaleWhileRevalidate > 0)
	}
	hd.Store = storable
	return hd
}

// keep is how long the store holds an entry: its lifetime, the longer of
// its stale windows, and, when it can be revalidated, as long again, so a
// conditional refresh can find it.
func keep(h *cache.Head) time.Duration {
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

func hasValidators(h http.Header) bool {
	return h.Get("Etag") != "" || h.Get("Last-Modified") != ""
}

// varyAllowed: the edge fetches identity bodies and keys without request
// headers, so only a Vary on Accept-Encoding (which it satisfies by sending
// none) can be stored.
func varyAllowed(h http.Header) bool {
	for _, v := range h.Values("Vary") {
		for _, f := range strings.Split(v, ",") {
			f = strings.TrimSpace(f)
			if f != "" && !strings.EqualFold(f, "Accept-Encoding") {
				return false
			}
		}
	}
	return true
}

// refreshedHead merges a 304 into the stored head (RFC 9111 4.3.4): the
// 304's fields replace the stored ones, except those describing the body.
func (p *policy) refreshedHead(old *cache.Head, h304 http.Header, reqTime, respTime time.Time) cache.Head {
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
	return nh
}

// ageValue formats an Age header value (RFC 9111 5.1: whole seconds).
func ageValue(d time.Duration) string {
	return strconv.FormatInt(int64(d/time.Second), 10)
}
