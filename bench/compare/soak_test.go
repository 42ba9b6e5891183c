package compare

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The soak's verdict: growth is measured from the first sample with the
// cache near its bound, between the first and last fifths; a flat run
// has none, a leaking one shows it in both growth and slope.
func TestSoakAnalyse(t *testing.T) {
	run := func(leak int64) *SoakReport {
		r := &SoakReport{CacheMax: 100}
		for i := range 40 {
			cache := 100.0
			if i < 8 {
				cache = float64(i * 10) // warming up: RSS climbs with the cache
			}
			r.Samples = append(r.Samples, SoakSample{At: time.Duration(i) * 15 * time.Second,
				RSS: 300<<20 + int64(min(i, 8))*(10<<20) + int64(i)*leak, CacheBytes: cache})
		}
		r.analyse()
		return r
	}
	flat := run(0)
	if flat.Warm != 8*15*time.Second || flat.Growth != 0 || flat.SlopeMiBPerMin != 0 {
		t.Errorf("flat run: warm %v, growth %v, slope %v", flat.Warm, flat.Growth, flat.SlopeMiBPerMin)
	}
	leak := run(1 << 20) // 1 MiB per sample: 4 MiB/min
	if leak.Growth < 0.05 || leak.SlopeMiBPerMin < 3.9 || leak.SlopeMiBPerMin > 4.1 {
		t.Errorf("leaking run: growth %v, slope %v MiB/min", leak.Growth, leak.SlopeMiBPerMin)
	}
	cold := &SoakReport{CacheMax: 100, Samples: []SoakSample{{CacheBytes: 1}, {CacheBytes: 2}}}
	cold.analyse()
	if cold.RSSFirst != 0 {
		t.Error("a run whose cache never filled got a verdict")
	}
}

func TestScrape(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "# HELP go_goroutines x\ngo_goroutines 42\nedgecache_cache_bytes 1.5e+06\nedgecache_cache_bytes_other 9\nx{a=\"1\"} 2\nx{a=\"2\"} 3\n")
	}))
	defer srv.Close()
	m := scrape(srv.URL, "go_goroutines", "edgecache_cache_bytes", "x")
	if m["go_goroutines"] != 42 || m["edgecache_cache_bytes"] != 1.5e6 || m["x"] != 5 {
		t.Errorf("scraped %v", m)
	}
}

// TestSoakConf: the soak's edge has the smaller cache and no route to a
// packager it never starts.
func TestSoakConf(t *testing.T) {
	c := soakConf()
	if strings.Contains(c, "PACKAGER") || strings.Contains(c, "/hls/") {
		t.Errorf("the soak config still routes to a packager:\n%s", c)
	}
	if !strings.Contains(c, "max_bytes: 256MiB") || !strings.Contains(c, `{prefix: /, origin: "http://{{ORIGIN}}/"}`) {
		t.Errorf("the soak config lost its cache size or origin route:\n%s", c)
	}
}
