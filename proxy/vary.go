package proxy

import (
	"net/http"

	"github.com/edgecache/edgecache/cache"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Vary (RFC 9111 4.1): a stored response whose Vary names request fields
// is used only for requests whose values of those fields match the
// request that caused it to be stored. The edge stores each variant under
// a secondary key (the primary key, a NUL, then the varied values), learns
// per URL which fields vary from the responses it gets, and joins a fill
// in flight only when the variant matches. Accept-Encoding is not part of
// a variant: the edge never forwards it, fetches identity bodies and
// encodes for each viewer itself, so one stored response serves all.

const (
	// maxVariants bounds the variants stored per URL: a Vary on a field
	// with unbounded values (User-Agent) must not fill the cache with one
	// URL.
	maxVariants = 16
	// maxVaryURLs bounds the URLs whose Vary fields are remembered.
	// Forgetting one costs one origin fetch: the next request looks up the
	// primary key, misses, and learns the fields again from the response.
	maxVaryURLs = 1 << 16
)

// varyFields reads a response's Vary: the fields it nominates that make
// variants, canonical and sorted, and whether it is "*" (never
// matched, RFC 9111 4.1).
func varyFields(h cache.Header) (fields []string, star bool) {
	for _, v := range h.Values("Vary") {
		for _, f := range strings.Split(v, ",") {
			f = strings.TrimSpace(f)
			switch {
			case f == "":
			case f == "*":
				return nil, true
			default:
				if cf := http.CanonicalHeaderKey(f); cf != "Accept-Encoding" {
					fields = append(fields, cf)
				}
			}
		}
	}
	slices.Sort(fields)
	return slices.Compact(fields), false
}

// variantKey is the secondary key of the variant a request's header
// selects. Field values are compared as sent, with the lines of a repeated
// field joined (RFC 9111 4.1 allows normalising them so).
func variantKey(base string, fields []string, h http.Header) string {
	var b strings.Builder
	b.WriteString(base)
	b.WriteString("\x00v")
	for _, f := range fields {
		b.WriteByte('\x00')
		b.WriteString(f)
		b.WriteByte('=')
		for i, v := range h[f] {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(strings.TrimSpace(v))
		}
	}
	return b.String()
}

// varyIndex remembers, per primary key, the fields its responses vary on
// and the variants stored, both bounded.
type varyIndex struct {
	// n is len(urls): while no URL varies, the lookup on every request
	// (the hit path) is one atomic load, no lock.
	n    atomic.Int64
	mu   sync.RWMutex // guards urls
	urls map[string]*varyURL
}

type varyURL struct {
	fields []string
	// variants holds the variants stored, with when each was last stored.
	variants map[string]time.Time
}

// variantMemory is how long a stored variant counts against maxVariants
// after it was last stored: by then a live object has long been replaced.
const variantMemory = 10 * time.Minute

func newVaryIndex() *varyIndex { return &varyIndex{urls: map[string]*varyURL{}} }

// key returns the key a request for base is looked up under: the variant
// its header selects when base is known to vary, else base.
func (v *varyIndex) key(base string, h http.Header) string {
	if v.n.Load() == 0 {
		return base
	}
	v.mu.RLock()
	u := v.urls[base]
	var fields []string
	if u != nil {
		fields = u.fields
	}
	v.mu.RUnlock()
	if len(fields) == 0 {
		return base
	}
	return variantKey(base, fields, h)
}

// learn records that base varies on fields and that the variant vkey is
// to be stored. It reports false when base already has maxVariants other
// variants stored within variantMemory: this one is then served but not
// stored.
func (v *varyIndex) learn(base string, fields []string, vkey string, now time.Time) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	u := v.urls[base]
	if u == nil || !slices.Equal(u.fields, fields) {
		if u == nil && len(v.urls) >= maxVaryURLs {
			for k := range v.urls {
				// Map order is random: this forgets an arbitrary URL.
				delete(v.urls, k)
				break
			}
		}
		u = &varyURL{fields: fields, variants: map[string]time.Time{}}
		v.urls[base] = u
		v.n.Store(int64(len(v.urls)))
	}
	if _, ok := u.variants[vkey]; !ok && len(u.variants) >= maxVariants {
		for k, t := range u.variants {
			if now.Sub(t) > variantMemory {
				delete(u.variants, k)
			}
		}
		if len(u.variants) >= maxVariants {
			return false
		}
	}
	u.variants[vkey] = now
	return true
}
