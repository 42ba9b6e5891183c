package proxy

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/edgecache/edgecache/cache"
	"github.com/edgecache/edgecache/manifest"
)

// PurgeHandler serves purges on the admin listener:
//
//	POST /purge?url=/hls/live/index.m3u8          one URL (and its variants)
//	POST /purge?prefix=/hls/live/                 every URL under a prefix: a whole stream
//	POST /purge?prefix=/hls/live/&mode=soft       mark stale: the next request revalidates
//
// with `Authorization: Bearer TOKEN`. token is read per request, so a
// reload can change it; while it is empty, purging is refused. A hard
// purge removes the entries and makes fills in flight for them
// unjoinable and unstorable (cache.Purge); a soft purge keeps the entries
// but stale, so the next request revalidates with the origin. The answer
// is JSON with what was reached.
func (p *Proxy) PurgeHandler(token func() string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost && r.Method != "PURGE" {
			w.Header().Set("Allow", "POST, PURGE")
			http.Error(w, "purge takes POST", http.StatusMethodNotAllowed)
			return
		}
		want := token()
		if want == "" {
			http.Error(w, "purging is disabled: set purge_token (or EDGECACHE_PURGE_TOKEN)", http.StatusForbidden)
			return
		}
		if !bearerMatches(r.Header.Get("Authorization"), want) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="edgecache purge"`)
			http.Error(w, "missing or wrong bearer token", http.StatusUnauthorized)
			return
		}
		q := r.URL.Query()
		mode := q.Get("mode")
		if mode == "" {
			mode = "hard"
		}
		if mode != "hard" && mode != "soft" {
			http.Error(w, "mode must be hard or soft", http.StatusBadRequest)
			return
		}
		target, scope := q.Get("url"), "url"
		if pre := q.Get("prefix"); pre != "" {
			if target != "" {
				http.Error(w, "give url or prefix, not both", http.StatusBadRequest)
				return
			}
			target, scope = pre, "prefix"
		}
		key, err := p.purgeKey(target, scope)
		if err != "" {
			http.Error(w, err, http.StatusBadRequest)
			return
		}
		var res cache.PurgeResult
		switch {
		case mode == "hard" && scope == "url":
			res = p.cache.Purge(key)
		case mode == "hard":
			res = p.cache.PurgePrefix(key)
		case scope == "url":
			res = p.cache.SoftPurge(key)
		default:
			res = p.cache.SoftPurgePrefix(key)
		}
		p.metrics.Purged(mode, scope, res.Entries, res.Fills)
		p.log.Info("purge", "mode", mode, "scope", scope, "target", key, "entries", res.Entries, "fills", res.Fills)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(struct {
			Mode    string `json:"mode"`
			Scope   string `json:"scope"`
			Target  string `json:"target"`
			Entries int    `json:"entries"`
			Fills   int    `json:"fills"`
		}{mode, scope, key, res.Entries, res.Fills})
	})
}

// purgeKey turns a purge target into the cache key (or key prefix) it
// names: the same normalisation and query handling as a viewer's request
// for it, so `url=` purges exactly what that URL is served from.
func (p *Proxy) purgeKey(target, scope string) (string, string) {
	if target == "" {
		return "", "give url=PATH or prefix=PATH"
	}
	if i := strings.Index(target, "://"); i >= 0 {
		// A full URL: its path is what the edge keys by.
		rest := target[i+3:]
		j := strings.IndexByte(rest, '/')
		if j < 0 {
			return "", "the URL has no path"
		}
		target = rest[j:]
	}
	rawPath, rawQuery, _ := strings.Cut(target, "?")
	path, err := normalisePath(rawPath)
	if err == nil {
		err = checkQuery(rawQuery)
	}
	if err != nil {
		return "", err.Error()
	}
	if scope == "prefix" {
		if rawQuery != "" {
			return "", "a prefix has no query"
		}
		return path, ""
	}
	if routeFor(p.view().routes, path) == nil {
		return "", "no route serves " + path
	}
	class := manifest.Classify("", mustUnescape(path), nil)
	cp := p.view().policy.class(class.Kind())
	return cacheKey(path, rawQuery, cp.DropQuery), ""
}

// bearerMatches compares a bearer token in constant time: hashing both
// first hides the length as well as the content.
func bearerMatches(auth, want string) bool {
	const scheme = "bearer "
	if len(auth) < len(scheme) || !strings.EqualFold(auth[:len(scheme)], scheme) {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(auth[len(scheme):])))
	exp := sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(got[:], exp[:]) == 1
}
