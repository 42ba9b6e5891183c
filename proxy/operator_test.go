package proxy

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgecache/edgecache/accesslog"
)

// TestCORSAtTheEdge: an origin that sends no CORS headers is readable
// from a browser on another origin through a route with cors; the
// preflight never reaches the origin; hits, the origin's errors and the
// edge's own errors all carry the fields; the origin's own CORS fields
// are replaced; a disallowed origin gets none.
func TestCORSAtTheEdge(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/missing.ts"):
			w.Header().Set("Cache-Control", "max-age=60")
			http.NotFound(w, r)
		case strings.HasSuffix(r.URL.Path, "/own-cors.ts"):
			w.Header().Set("Access-Control-Allow-Origin", "https://evil.example")
			w.Header().Set("Access-Control-Allow-Credentials", "true")
			w.Header().Set("Cache-Control", "max-age=60")
			io.WriteString(w, "x")
		default:
			w.Header().Set("Cache-Control", "max-age=60")
			w.Header().Set("Content-Type", "video/mp2t")
			io.WriteString(w, "body of "+r.URL.Path)
		}
	})
	e := newEdge(t, rec.URL, func(c *Config) {
		c.Routes = []Route{
			{Prefix: "/hls/", Origin: rec.URL + "/hls/", CORS: CORSConfig{AllowOrigins: []string{"https://player.example"}, ExposeHeaders: []string{"X-Custom"}}},
			{Prefix: "/open/", Origin: rec.URL + "/open/", CORS: CORSConfig{AllowOrigins: []string{"*"}}},
			{Prefix: "/dead/", Origin: "http://127.0.0.1:1/", CORS: CORSConfig{AllowOrigins: []string{"*"}}},
			{Prefix: "/plain/", Origin: rec.URL + "/plain/"},
		}
	})
	const player = "https://player.example"
	check := func(name string, resp *http.Response, wantOrigin string) {
		t.Helper()
		custom := strings.HasPrefix(resp.Request.URL.Path, "/hls/")
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != wantOrigin {
			t.Errorf("%s: Access-Control-Allow-Origin %q, want %q", name, got, wantOrigin)
		}
		if wantOrigin == "" {
			return
		}
		expose := resp.Header.Get("Access-Control-Expose-Headers")
		for _, f := range []string{"Age", "X-Cache-Status", "Cache-Status", "Cmsd-Static", "Cmsd-Dynamic", "X-Custom"} {
			if f == "X-Custom" && !custom {
				continue
			}
			if !strings.Contains(strings.ToLower(expose), strings.ToLower(f)) {
				t.Errorf("%s: Access-Control-Expose-Headers %q lacks %s", name, expose, f)
			}
		}
	}
	miss, _ := mustGet(t, e.URL+"/hls/a.ts", "Origin", player)
	wantStatus(t, miss, 200, "MISS")
	check("miss", miss, player)
	if v := miss.Header.Values("Vary"); !strings.Contains(strings.Join(v, ","), "Origin") {
		t.Errorf("an echoed origin needs Vary: Origin, got %q", v)
	}
	hit, _ := mustGet(t, e.URL+"/hls/a.ts", "Origin", player)
	wantStatus(t, hit, 200, "HIT")
	check("hit", hit, player)
	nf, _ := mustGet(t, e.URL+"/hls/missing.ts", "Origin", player)
	check("origin 404", nf, player)
	own, _ := mustGet(t, e.URL+"/hls/own-cors.ts", "Origin", player)
	check("origin's own CORS replaced", own, player)
	if own.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("the origin's Allow-Credentials passed through")
	}
	other, _ := mustGet(t, e.URL+"/hls/a.ts", "Origin", "https://other.example")
	check("disallowed origin", other, "")
	star, _ := mustGet(t, e.URL+"/open/a.ts", "Origin", player)
	check("star", star, "*")
	dead, _ := mustGet(t, e.URL+"/dead/a.ts", "Origin", player)
	if dead.StatusCode != http.StatusBadGateway {
		t.Fatalf("dead origin: %d", dead.StatusCode)
	}
	check("edge's own 502", dead, "*")
	plain, _ := mustGet(t, e.URL+"/plain/a.ts", "Origin", player)
	check("route without cors", plain, "")

	before := len(rec.requests())
	pre, _ := mustGet(t, e.URL+"/hls/a.ts", "Origin", player, "Access-Control-Request-Method", "GET",
		"Access-Control-Request-Headers", "range", http.MethodOptions)
	if pre.StatusCode != http.StatusNoContent || pre.Header.Get("Access-Control-Allow-Origin") != player ||
		!strings.Contains(pre.Header.Get("Access-Control-Allow-Methods"), "GET") || pre.Header.Get("Access-Control-Max-Age") != "600" {
		t.Errorf("preflight: %d %v", pre.StatusCode, pre.Header)
	}
	bad, _ := mustGet(t, e.URL+"/hls/a.ts", "Origin", player, "Access-Control-Request-Method", "DELETE", http.MethodOptions)
	if bad.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("a preflight for DELETE was allowed: %v", bad.Header)
	}
	if n := len(rec.requests()); n != before {
		t.Errorf("preflights reached the origin: %d requests", n-before)
	}
	// An OPTIONS that is not a preflight still passes through.
	mustGet(t, e.URL+"/plain/a.ts", http.MethodOptions)
	if n := len(rec.requests()); n != before+1 {
		t.Errorf("a plain OPTIONS did not reach the origin")
	}
}

func TestCORSConfigValidation(t *testing.T) {
	for _, c := range []CORSConfig{
		{AllowOrigins: []string{"*"}, AllowCredentials: true},
		{AllowOrigins: []string{"https://a.example/path"}},
		{AllowOrigins: []string{"a.example"}},
		{AllowMethods: []string{"GET"}},
		{AllowOrigins: []string{"*"}, ExposeHeaders: []string{"bad header"}},
	} {
		cfg := DefaultConfig()
		cfg.Routes = []Route{{Prefix: "/", Origin: "http://o/", CORS: c}}
		if err := cfg.Validate(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

// TestResponseHeadersEverywhere: response_headers reach hits, misses and
// the edge's own errors, replacing the origin's value, and never change
// the cached entry.
func TestResponseHeadersEverywhere(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("X-Frame-Options", "origin-value")
		io.WriteString(w, "x")
	})
	e := newEdge(t, rec.URL, func(c *Config) {
		c.Routes = []Route{
			{Prefix: "/hls/", Origin: rec.URL + "/hls/", ResponseHeaders: map[string]string{"x-frame-options": "DENY", "Strict-Transport-Security": "max-age=1"}},
			{Prefix: "/dead/", Origin: "http://127.0.0.1:1/", ResponseHeaders: map[string]string{"X-Frame-Options": "DENY"}},
		}
	})
	for i, want := range []string{"MISS", "HIT"} {
		resp, _ := mustGet(t, e.URL+"/hls/a.ts")
		wantStatus(t, resp, 200, want)
		if v := resp.Header.Values("X-Frame-Options"); len(v) != 1 || v[0] != "DENY" || resp.Header.Get("Strict-Transport-Security") != "max-age=1" {
			t.Errorf("request %d: %v", i, resp.Header)
		}
	}
	if e := settled(t, e.p.Cache(), "/hls/a.ts"); e.Head().Header.Get("X-Frame-Options") != "origin-value" {
		t.Errorf("the cached head was changed: %v", e.Head().Header)
	}
	dead, _ := mustGet(t, e.URL+"/dead/a.ts")
	if dead.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("edge error without response_headers: %v", dead.Header)
	}
	cfg := DefaultConfig()
	cfg.Routes = []Route{{Prefix: "/", Origin: "http://o/", ResponseHeaders: map[string]string{"Content-Length": "1"}}}
	if cfg.Validate() == nil {
		t.Error("response_headers may set Content-Length")
	}
}

// cacheStatusRE is the grammar of one Cache-Status member (RFC 9211 2,
// an RFC 8941 list member with parameters) as the edge writes it.
var cacheStatusRE = regexp.MustCompile(`^edgecache(; (hit|fwd=(miss|stale|bypass)|fwd-status=\d{3}|ttl=-?\d+|stored|collapsed|detail=[a-z-]+))+$`)

// TestCacheStatusHeader: Cache-Status (RFC 9211) beside X-Cache-Status.
func TestCacheStatusHeader(t *testing.T) {
	h := newHeld(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "x")
	})
	e := newHLSEdge(t, h.recorder, nil)
	a := goGet(t, e.URL+"/hls/a.ts")
	h.waitArrival(t, "the first request")
	b := goGet(t, e.URL+"/hls/a.ts")
	// b may arrive before or after the fill ends; only while it is held
	// is it collapsed. Wait until it has joined.
	waitMetric(t, e.reg, "edgecache_fill_waiters_total", "", "", 1, "the second request to join the held fill")
	h.open()
	ra, rb := <-a, <-b
	if ra.err != nil || rb.err != nil {
		t.Fatal(ra.err, rb.err)
	}
	hit, _ := mustGet(t, e.URL+"/hls/a.ts")
	post, _ := mustGet(t, e.URL+"/hls/a.ts", http.MethodPost)
	bad, _ := mustGet(t, e.URL+"/hls/%00")
	for _, tc := range []struct {
		name string
		resp *http.Response
		want string
	}{
		{"miss", ra.resp, "edgecache; fwd=miss; fwd-status=200; ttl=60; stored"},
		{"collapsed", rb.resp, "edgecache; fwd=miss; collapsed; ttl="},
		{"hit", hit, "edgecache; hit; ttl="},
		{"pass-through", post, "edgecache; fwd=bypass"},
		{"edge refusal", bad, "edgecache; fwd=bypass"},
	} {
		got := tc.resp.Header.Get("Cache-Status")
		if !strings.HasPrefix(got, tc.want) || !cacheStatusRE.MatchString(got) {
			t.Errorf("%s: Cache-Status %q, want %q...", tc.name, got, tc.want)
		}
		if tc.resp.Header.Get("X-Cache-Status") == "" {
			t.Errorf("%s: no X-Cache-Status", tc.name)
		}
	}
}

// TestOriginHost: origin_host sends the viewer's Host ($host, keyed) or a
// fixed one; by default the origin URL's.
func TestOriginHost(t *testing.T) {
	var mu sync.Mutex
	var hosts []string
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hosts = append(hosts, r.Host)
		mu.Unlock()
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "for "+r.Host)
	})
	e := newEdge(t, rec.URL, func(c *Config) {
		c.Routes = []Route{
			{Prefix: "/viewer/", Origin: rec.URL + "/", OriginHost: "$host"},
			{Prefix: "/fixed/", Origin: rec.URL + "/", OriginHost: "origin.example.com"},
			{Prefix: "/default/", Origin: rec.URL + "/"},
		}
	})
	get := func(path, host string) string {
		req, _ := http.NewRequest(http.MethodGet, e.URL+path, nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return string(b)
	}
	if b := get("/viewer/a.ts", "a.example"); b != "for a.example" {
		t.Errorf("viewer a got %q", b)
	}
	if b := get("/viewer/a.ts", "b.example"); b != "for b.example" {
		t.Errorf("viewer b got %q: the viewer's Host must be keyed", b)
	}
	get("/fixed/a.ts", "a.example")
	get("/default/a.ts", "a.example")
	mu.Lock()
	defer mu.Unlock()
	origin := strings.TrimPrefix(rec.URL, "http://")
	want := []string{"a.example", "b.example", "origin.example.com", origin}
	if fmt.Sprint(hosts) != fmt.Sprint(want) {
		t.Errorf("origin saw hosts %v, want %v", hosts, want)
	}
	for _, bad := range []string{"a/b", "user@host", "$http_host"} {
		cfg := DefaultConfig()
		cfg.Routes = []Route{{Prefix: "/", Origin: "http://o/", OriginHost: bad}}
		if cfg.Validate() == nil {
			t.Errorf("origin_host %q accepted", bad)
		}
	}
}

func TestClientAddr(t *testing.T) {
	trusted, err := parseTrusted([]string{"10.0.0.0/8", "192.0.2.7", "fd00::/8"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		peer string
		xff  []string
		want string
	}{
		{"203.0.113.5:4000", nil, "203.0.113.5"},
		// An untrusted peer's X-Forwarded-For is not believed.
		{"203.0.113.5:4000", []string{"1.2.3.4"}, "203.0.113.5"},
		{"10.1.2.3:80", []string{"198.51.100.9"}, "198.51.100.9"},
		// Walked from the right past every trusted hop; what the client
		// wrote on the left is never reached.
		{"10.1.2.3:80", []string{"6.6.6.6, 198.51.100.9, 10.9.9.9"}, "198.51.100.9"},
		{"10.1.2.3:80", []string{"6.6.6.6", "198.51.100.9", "192.0.2.7"}, "198.51.100.9"},
		// Garbage stops the walk at the last trusted hop.
		{"10.1.2.3:80", []string{"6.6.6.6, junk, 10.9.9.9"}, "10.9.9.9"},
		{"[fd00::1]:80", []string{"2001:db8::5"}, "2001:db8::5"},
		{"[::ffff:10.0.0.1]:80", []string{"198.51.100.9"}, "198.51.100.9"},
	} {
		got := trusted.clientAddr(tc.peer, tc.xff)
		if got != netip.MustParseAddr(tc.want) {
			t.Errorf("%s %v: %v, want %s", tc.peer, tc.xff, got, tc.want)
		}
	}
	if _, err := parseTrusted([]string{"10.0.0.0/33"}); err == nil {
		t.Error("bad CIDR accepted")
	}
}

// TestCMCDNeverKeyedNorForwarded: players sending different CMCD share
// one cached object, the origin never sees CMCD, and what they reported
// reaches the access log.
func TestCMCDNeverKeyedNorForwarded(t *testing.T) {
	rec := newRecorder(t, nil)
	logs := make(chan accesslog.Record, 64)
	e := newEdgeFull(t, rec.URL, func(c *Config) {
		c.Routes = []Route{{Prefix: "/hls/", Origin: rec.URL + "/public/hls/"}}
	}, nil, WithAccessLog(func(r accesslog.Record) { logs <- r }))
	r1, _ := mustGet(t, e.URL+`/hls/a.ts?x=1&CMCD=bs%2Cot%3Dv%2Csid%3D%22one%22`)
	wantStatus(t, r1, 200, "MISS")
	r2, _ := mustGet(t, e.URL+`/hls/a.ts?x=1&CMCD=ot%3Dv%2Csid%3D%22two%22`)
	wantStatus(t, r2, 200, "HIT")
	if got := rec.targets(); len(got) != 1 || got[0] != "/public/hls/a.ts?x=1" {
		t.Errorf("origin saw %v", got)
	}
	first, second := <-logs, <-logs
	if first.CMCD.SID != "one" || !first.CMCD.BS || first.CMCD.OT != "v" || second.CMCD.SID != "two" || second.CMCD.BS {
		t.Errorf("CMCD in the log: %+v / %+v", first.CMCD, second.CMCD)
	}
	if first.RequestURI != `/hls/a.ts?x=1&CMCD=bs%2Cot%3Dv%2Csid%3D%22one%22` {
		t.Errorf("the log shows %q, not the request as received", first.RequestURI)
	}
}

// TestAccessLogRecords: every response is handed to the log once, the
// edge's refusals included, with the upstream fields only for the request
// that went to the origin.
func TestAccessLogRecords(t *testing.T) {
	rec := newRecorder(t, nil)
	logs := make(chan accesslog.Record, 64)
	e := newEdgeFull(t, rec.URL, func(c *Config) {
		c.Routes = []Route{{Prefix: "/hls/", Origin: rec.URL + "/public/hls/"}}
		c.TrustedProxies = []string{"127.0.0.0/8"}
	}, nil, WithAccessLog(func(r accesslog.Record) { logs <- r }))
	mustGet(t, e.URL+"/hls/a.ts", "X-Forwarded-For", "198.51.100.9", "User-Agent", "player/1")
	mustGet(t, e.URL+"/hls/a.ts")
	mustGet(t, e.URL+"/elsewhere")
	mustGet(t, e.URL+"/hls/%00")
	miss, hit, noRoute, refused := <-logs, <-logs, <-logs, <-logs
	if miss.Status != 200 || miss.CacheStatus != "MISS" || miss.Upstream == nil || miss.Upstream.Status != 200 ||
		miss.RemoteAddr != "198.51.100.9" || miss.BodyBytes != int64(len("body of /public/hls/a.ts")) || miss.Route != "/hls/" ||
		miss.Class != "segment" || miss.Header.Get("User-Agent") != "player/1" || miss.Method != "GET" || miss.Proto != "HTTP/1.1" {
		t.Errorf("miss: %+v (upstream %+v)", miss, miss.Upstream)
	}
	if hit.CacheStatus != "HIT" || hit.Upstream != nil || hit.RemoteAddr != "127.0.0.1" {
		t.Errorf("hit: %+v", hit)
	}
	if noRoute.Status != 404 || refused.Status != 400 || refused.RequestURI != "/hls/%00" {
		t.Errorf("refusals: %+v / %+v", noRoute, refused)
	}
	select {
	case r := <-logs:
		t.Errorf("an extra record: %+v", r)
	default:
	}
	if n := metricValue(t, e.reg, "edgecache_http_responses_total", "code", "400"); n != 1 {
		t.Errorf("edgecache_http_responses_total{code=400} = %v", n)
	}
}

// TestViewersPerStream counts distinct sessions per live stream: CMCD sid
// when sent, else address and User-Agent.
func TestViewersPerStream(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, ".m3u8") {
			w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
			io.WriteString(w, "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:1\n#EXTINF:4,\nseg1.ts\n#EXTINF:4,\nseg2.ts\n")
			return
		}
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "seg")
	})
	e := newEdge(t, rec.URL, func(c *Config) {
		c.Routes = []Route{{Prefix: "/hls/", Origin: rec.URL + "/hls/"}}
		c.Prefetch = false
	})
	mustGet(t, e.URL+"/hls/live.m3u8")
	for _, sid := range []string{"a", "b", "c", "a"} {
		mustGet(t, e.URL+"/hls/seg1.ts", "CMCD-Session", `sid="`+sid+`"`)
	}
	mustGet(t, e.URL+"/hls/seg2.ts", "User-Agent", "ua-1")
	mustGet(t, e.URL+"/hls/seg2.ts", "User-Agent", "ua-1")
	mustGet(t, e.URL+"/hls/seg2.ts", "User-Agent", "ua-2", "CMCD-Status", "bs")
	// A response is counted when its handler returns, which can be after
	// the client has read it: wait for the last one's count (the bound is
	// for liveness only).
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if metricValue(t, e.reg, "edgecache_cmcd_buffer_starvation_total", "stream", "/hls/live.m3u8") == 1 {
			break
		}
	}
	// The first playlist request (Go's default User-Agent) is a session too.
	if n := metricValue(t, e.reg, "edgecache_viewers", "stream", "/hls/live.m3u8"); n != 6 {
		t.Errorf("edgecache_viewers = %v, want 6 (3 sids, 2 user agents, the playlist's first requester)", n)
	}
	if n := metricValue(t, e.reg, "edgecache_cmcd_buffer_starvation_total", "stream", "/hls/live.m3u8"); n != 1 {
		t.Errorf("buffer starvation counted %v times, want 1", n)
	}
}

// TestPurge: the admin purge needs the token, purges one URL or a prefix,
// soft purges make the next request revalidate, and a purge reaches a
// fill in flight.
func TestPurge(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("ETag", `"v1"`)
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		io.WriteString(w, "body of "+r.URL.Path)
	})
	e := newHLSEdge(t, rec, nil)
	token := "s3cret"
	admin := e.p.PurgeHandler(func() string { return token })
	purge := func(query, auth string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, "http://admin/purge?"+query, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		admin.ServeHTTP(w, req)
		var out map[string]any
		json.Unmarshal(w.Body.Bytes(), &out)
		return w.Code, out
	}
	for _, p := range []string{"/hls/s1/a.ts", "/hls/s1/b.ts", "/hls/s2/a.ts"} {
		mustGet(t, e.URL+p)
		settled(t, e.p.Cache(), p)
	}
	if code, _ := purge("url=/hls/s1/a.ts", ""); code != http.StatusUnauthorized {
		t.Errorf("no token: %d", code)
	}
	if code, _ := purge("url=/hls/s1/a.ts", "Bearer wrong"); code != http.StatusUnauthorized {
		t.Errorf("wrong token: %d", code)
	}
	code, out := purge("url=/hls/s1/a.ts", "Bearer s3cret")
	if code != 200 || out["entries"] != 1.0 {
		t.Fatalf("purge url: %d %v", code, out)
	}
	r, _ := mustGet(t, e.URL+"/hls/s1/a.ts")
	wantStatus(t, r, 200, "MISS")
	r, _ = mustGet(t, e.URL+"/hls/s1/b.ts")
	wantStatus(t, r, 200, "HIT")
	settled(t, e.p.Cache(), "/hls/s1/a.ts")
	if code, out := purge("prefix=/hls/s1/", "Bearer s3cret"); code != 200 || out["entries"] != 2.0 {
		t.Fatalf("purge prefix: %d %v", code, out)
	}
	r, _ = mustGet(t, e.URL+"/hls/s1/b.ts")
	wantStatus(t, r, 200, "MISS")
	r, _ = mustGet(t, e.URL+"/hls/s2/a.ts")
	wantStatus(t, r, 200, "HIT")
	if code, out := purge("url=/hls/s2/a.ts&mode=soft", "Bearer s3cret"); code != 200 || out["entries"] != 1.0 {
		t.Fatalf("soft purge: %d %v", code, out)
	}
	r, _ = mustGet(t, e.URL+"/hls/s2/a.ts")
	wantStatus(t, r, 200, "REVALIDATED")
	for _, q := range []string{"url=/hls/%00", "url=/nowhere/x", "", "url=/a&prefix=/b", "url=/hls/a&mode=gentle"} {
		if code, _ := purge(q, "Bearer s3cret"); code != http.StatusBadRequest {
			t.Errorf("%q: %d, want 400", q, code)
		}
	}
	token = ""
	if code, _ := purge("url=/hls/s1/a.ts", "Bearer "); code != http.StatusForbidden {
		t.Errorf("with no token configured: %d, want 403", code)
	}
	if n := metricValue(t, e.reg, "edgecache_purges_total", "mode", "soft"); n != 1 {
		t.Errorf("soft purges counted: %v", n)
	}
}

// TestPurgeReachesFillInFlight: a purge during a fill keeps the fill's
// result out of the cache.
func TestPurgeReachesFillInFlight(t *testing.T) {
	h := newHeld(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		io.WriteString(w, "old")
	})
	e := newHLSEdge(t, h.recorder, nil)
	a := goGet(t, e.URL+"/hls/s/a.ts")
	h.waitArrival(t, "the fill")
	w := httptest.NewRecorder()
	req, _ := http.NewRequest(http.MethodPost, "http://admin/purge?prefix=/hls/s/", nil)
	req.Header.Set("Authorization", "Bearer t")
	e.p.PurgeHandler(func() string { return "t" }).ServeHTTP(w, req)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"fills":1`) {
		t.Fatalf("purge: %d %s", w.Code, w.Body.String())
	}
	h.open()
	if ra := <-a; ra.err != nil || ra.body != "old" {
		t.Fatal(ra.err, ra.body)
	}
	e.quiesce(t)
	r, _ := mustGet(t, e.URL+"/hls/s/a.ts")
	wantStatus(t, r, 200, "MISS")
}

// A DASH stream's viewers are counted too, by its MPD's requests (a live
// player fetches a dynamic MPD every minimumUpdatePeriod): before, only
// HLS media playlists had a stream label, and a DASH edge showed none.
func TestViewersPerDASHStream(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/dash+xml")
		io.WriteString(w, `<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic" minimumUpdatePeriod="PT2S" availabilityStartTime="2026-01-01T00:00:00Z" profiles="urn:mpeg:dash:profile:isoff-live:2011"><Period id="0"><AdaptationSet mimeType="video/mp4"><SegmentTemplate media="v-$Number$.m4s" initialization="v-init.mp4" duration="2" timescale="1"/><Representation id="v" bandwidth="1000000"/></AdaptationSet></Period></MPD>`)
	})
	e := newEdge(t, rec.URL, func(c *Config) {
		c.Routes = []Route{{Prefix: "/dash/", Origin: rec.URL + "/dash/"}}
		c.Prefetch = false
	})
	for _, sid := range []string{"a", "b", "c", "a"} {
		mustGet(t, e.URL+"/dash/live.mpd", "CMCD-Session", `sid="`+sid+`"`)
	}
	// A response is counted when its handler returns, which can be after
	// the client has read it (the bound is for liveness only).
	deadline := time.Now().Add(10 * time.Second)
	for metricValue(t, e.reg, "edgecache_viewers", "stream", "/dash/live.mpd") < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := metricValue(t, e.reg, "edgecache_viewers", "stream", "/dash/live.mpd"); n != 3 {
		t.Errorf("edgecache_viewers{stream=/dash/live.mpd} = %v, want 3 (three sids)", n)
	}
}
