package proxy

import (
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgecache/edgecache/accesslog"
	"github.com/edgecache/edgecache/auth"
	"github.com/edgecache/edgecache/auth/cat"
	"github.com/edgecache/edgecache/auth/securelink"
)

const testCATKey = "403697de87af64611c1d32a05dab0fe1fcb715a86ab435f1ec99192d79569388"

var testAuthDeps = auth.Deps{LookupEnv: func(k string) (string, bool) {
	v, ok := map[string]string{"CATKEY": testCATKey, "SLSECRET": "s3cret"}[k]
	return v, ok
}}

func mintTestCAT(t *testing.T, c *cat.Claims) string {
	t.Helper()
	k, err := auth.ParseKey("k1", "HS256", testCATKey)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cat.Sign(c, k)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// hlsOrigin serves a live media playlist with relative segment URIs and
// the segments.
func hlsOrigin(t *testing.T) *recorder {
	return newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, ".m3u8") {
			w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
			w.Header().Set("ETag", `"pl1"`)
			io.WriteString(w, "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:1\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:4,\nseg1.m4s\n#EXTINF:4,\nseg2.m4s\n")
			return
		}
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "media "+r.URL.Path)
	})
}

// TestAuthCATAtTheEdge: a route with a CAT check refuses what it must
// before the cache (hits included), never lets a token reach the origin
// or the key, carries a query token into the playlist it serves without
// touching the cached copy, and logs the token redacted.
func TestAuthCATAtTheEdge(t *testing.T) {
	rec := hlsOrigin(t)
	logs := make(chan accesslog.Record, 64)
	e := newEdgeFull(t, rec.URL, func(c *Config) {
		c.Routes = []Route{{Prefix: "/hls/", Origin: rec.URL + "/hls/",
			CORS: CORSConfig{AllowOrigins: []string{"*"}},
			Auth: &auth.Config{Scheme: "cat", CAT: &auth.CATConfig{Issuer: "edge-test", Keys: []auth.KeyConfig{{ID: "k1", Alg: "HS256", KeyEnv: "CATKEY"}}}}}}
		c.Prefetch = false
	}, nil, WithAccessLog(func(r accesslog.Record) { logs <- r }), WithAuthDeps(testAuthDeps))
	now := time.Now()
	good := mintTestCAT(t, &cat.Claims{Issuer: "edge-test", Expires: now.Add(10 * time.Minute).Unix()})
	other := mintTestCAT(t, &cat.Claims{Issuer: "edge-test", Expires: now.Add(9 * time.Minute).Unix()})
	expired := mintTestCAT(t, &cat.Claims{Issuer: "edge-test", Expires: now.Add(-time.Minute).Unix()})
	otherPath := mintTestCAT(t, &cat.Claims{Issuer: "edge-test", Expires: now.Add(time.Minute).Unix(),
		URI: []cat.URIRule{{Component: cat.URIPath, Matches: []cat.Match{{Type: cat.MatchPrefix, Value: "/vod/"}}}}})
	otherNet := mintTestCAT(t, &cat.Claims{Issuer: "edge-test", Expires: now.Add(time.Minute).Unix(),
		NetIP: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})

	seg, _ := mustGet(t, e.URL+"/hls/seg1.m4s?CAT="+good)
	wantStatus(t, seg, 200, "MISS")
	seg, _ = mustGet(t, e.URL+"/hls/seg1.m4s", "CTA-Common-Access-Token", other)
	wantStatus(t, seg, 200, "HIT") // another token, the same cached object
	for name, tc := range map[string]struct {
		target string
		hdr    []string
		want   int
	}{
		"no token":       {"/hls/seg1.m4s", nil, 401},
		"expired on hit": {"/hls/seg1.m4s?CAT=" + expired, nil, 403},
		"other path":     {"/hls/seg1.m4s?CAT=" + otherPath, nil, 403},
		"other network":  {"/hls/seg1.m4s", []string{"CTA-Common-Access-Token", otherNet}, 403},
		"garbage":        {"/hls/seg1.m4s?CAT=AAAA", nil, 401},
	} {
		resp, _ := mustGet(t, e.URL+tc.target, tc.hdr...)
		if resp.StatusCode != tc.want || resp.Header.Get("Access-Control-Allow-Origin") != "*" || resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: %d %v, want %d with CORS and no-store", name, resp.StatusCode, resp.Header, tc.want)
		}
	}
	for _, target := range rec.targets() {
		if strings.Contains(target, "CAT") {
			t.Errorf("the token reached the origin: %s", target)
		}
	}
	if n := len(rec.targets()); n != 1 {
		t.Errorf("origin got %d requests, want 1 (refusals never reach it)", n)
	}
	if n := metricValue(t, e.reg, "edgecache_auth_refusals_total", "reason", "missing"); n != 1 {
		t.Errorf("refusals for a missing token: %v", n)
	}

	// The playlist asked with the token in its query carries it on.
	resp, body := mustGet(t, e.URL+"/hls/live.m3u8?CAT="+good)
	wantStatus(t, resp, 200, "MISS")
	for _, want := range []string{"seg1.m4s?CAT=" + good, "seg2.m4s?CAT=" + good, `URI="init.mp4?CAT=` + good + `"`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("propagated playlist lacks %q:\n%s", want, body)
		}
	}
	if resp.Header.Get("Cache-Control") != "private" || resp.Header.Get("Etag") != "" || resp.Header.Get("Content-Length") != strconv.Itoa(len(body)) {
		t.Errorf("propagated playlist head: %v", resp.Header)
	}
	resp, body = mustGet(t, e.URL+"/hls/live.m3u8?CAT="+other)
	wantStatus(t, resp, 200, "HIT")
	if !strings.Contains(string(body), "seg1.m4s?CAT="+other) || strings.Contains(string(body), good) {
		t.Errorf("the second viewer's playlist carries the wrong token:\n%s", body)
	}
	// With the token in a header, nothing is propagated: the shared copy
	// never held a token.
	_, body = mustGet(t, e.URL+"/hls/live.m3u8", "CTA-Common-Access-Token", good)
	if strings.Contains(string(body), "CAT=") {
		t.Errorf("the cached playlist holds a token:\n%s", body)
	}
	var sawPlaylist bool
	for len(logs) > 0 {
		r := <-logs
		if strings.Contains(r.RequestURI, good) || strings.Contains(r.RequestURI, other) {
			t.Errorf("the access log holds a token: %s", r.RequestURI)
		}
		if strings.HasPrefix(r.RequestURI, "/hls/live.m3u8?CAT=REDACTED") {
			sawPlaylist = true
		}
	}
	if !sawPlaylist {
		t.Error("no redacted playlist line in the access log")
	}
}

// TestAuthSecureLinkAtTheEdge: nginx secure_link semantics, 403 for a bad
// hash, 410 for an expired link, derived links in the playlist.
func TestAuthSecureLinkAtTheEdge(t *testing.T) {
	rec := hlsOrigin(t)
	const md5 = "$secure_link_expires$uri$remote_addr $secure_link_secret"
	e := newEdgeFull(t, rec.URL, func(c *Config) {
		c.Routes = []Route{{Prefix: "/hls/", Origin: rec.URL + "/hls/",
			Auth: &auth.Config{Scheme: "secure_link", SecureLink: &auth.SecureLinkConfig{MD5: md5, SecretEnv: "SLSECRET"}}}}
		c.Prefetch = false
	}, nil, WithAuthDeps(testAuthDeps))
	l, err := securelink.Compile(securelink.Config{MD5: md5, Secret: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	sign := func(path string, exp time.Time) string {
		q, err := l.Sign(securelink.SignRequest{Path: path, Expires: exp.Unix(), ClientIP: netip.MustParseAddr("127.0.0.1")})
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	q := sign("/hls/live.m3u8", time.Now().Add(time.Hour))
	resp, body := mustGet(t, e.URL+"/hls/live.m3u8?"+q)
	if resp.StatusCode != 200 {
		t.Fatalf("signed playlist: %d", resp.StatusCode)
	}
	// The derived link for seg1 works on its own.
	var segLink string
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "seg1.m4s?") {
			segLink = line
		}
	}
	if segLink == "" {
		t.Fatalf("no signed segment link in:\n%s", body)
	}
	if r, _ := mustGet(t, e.URL+"/hls/"+segLink); r.StatusCode != 200 {
		t.Errorf("derived segment link: %d", r.StatusCode)
	}
	if r, _ := mustGet(t, e.URL+"/hls/seg2.m4s?"+strings.SplitN(segLink, "?", 2)[1]); r.StatusCode != 403 {
		t.Errorf("seg1's link used for seg2: %d, want 403", r.StatusCode)
	}
	if r, _ := mustGet(t, e.URL+"/hls/live.m3u8?"+sign("/hls/live.m3u8", time.Now().Add(-time.Minute))); r.StatusCode != 410 {
		t.Errorf("expired link: %d, want 410", r.StatusCode)
	}
	for _, target := range rec.targets() {
		if strings.Contains(target, "md5") || strings.Contains(target, "expires") {
			t.Errorf("the link reached the origin: %s", target)
		}
	}
}
