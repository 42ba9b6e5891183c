package e2e

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/edgecache/edgecache/origin"
	"github.com/edgecache/edgecache/origin/origintest"
	"github.com/edgecache/edgecache/proxy"
	"github.com/prometheus/client_golang/prometheus"
)

// noCORSOrigin puts an origin that knows nothing of CORS in front of the
// packager: it strips every Access-Control-* field and answers OPTIONS
// with 501, as a plain nginx or object store does.
func noCORSOrigin(t *testing.T, packagerURL string) string {
	t.Helper()
	u, err := url.Parse(packagerURL)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(resp *http.Response) error {
		for k := range resp.Header {
			if strings.HasPrefix(k, "Access-Control-") {
				delete(resp.Header, k)
			}
		}
		return nil
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			http.Error(w, "not implemented", http.StatusNotImplemented)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// startEdge starts an edge with cfg's routes over the defaults, and its
// admin side (metrics, purge with token) on a second server.
func startEdge(t *testing.T, mod func(*proxy.Config), purgeToken string, opts ...proxy.Option) (edgeURL, adminURL string, reg *prometheus.Registry) {
	t.Helper()
	cfg := proxy.DefaultConfig()
	mod(&cfg)
	reg = prometheus.NewRegistry()
	p, err := proxy.New(cfg, slog.New(slog.NewTextHandler(logWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})), reg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(p)
	srv.Config = p.Server(nil)
	srv.Listener = p.Listener(srv.Listener)
	srv.Start()
	admin := httptest.NewServer(proxy.AdminHandler(reg, func() bool { return true }, p.PurgeHandler(func() string { return purgeToken })))
	t.Cleanup(func() {
		admin.Close()
		srv.Close()
		p.Close()
	})
	return srv.URL, admin.URL, reg
}

// TestBrowserCORSAtTheEdge: hls.js on a page of another origin plays the
// packager's stream through the edge in headless Chromium, from an origin
// that sends no CORS headers, because the route's cors config answers
// CORS at the edge; without that config the same player fails.
func TestBrowserCORSAtTheEdge(t *testing.T) {
	pk := origintest.Start(t, origin.Config{})
	pk.StartDemo(t, "demo")
	bare := noCORSOrigin(t, pk.URL)
	with, _, _ := startEdge(t, func(c *proxy.Config) {
		c.Routes = []proxy.Route{{Prefix: "/", Origin: bare, CORS: proxy.CORSConfig{AllowOrigins: []string{"*"}}}}
	}, "")
	without, _, _ := startEdge(t, func(c *proxy.Config) {
		c.Routes = []proxy.Route{{Prefix: "/", Origin: bare}}
	}, "")
	waitPlaylist(t, with+"/hls/demo.m3u8", "EXT-X-STREAM-INF", 20e9)

	resp, err := http.Get(without + "/hls/demo.m3u8")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if v := resp.Header.Get("Access-Control-Allow-Origin"); v != "" {
		t.Fatalf("the bare origin still sends CORS (%q): the test would prove nothing", v)
	}

	res := playUntil(t, "hls", with+"/hls/demo.m3u8", 6*time.Second, false)
	if len(res.Fatal) > 0 || res.PlayedSeconds < 6 {
		t.Fatalf("with cors: played %.1fs of 6 s before the failsafe, fatal %v", res.PlayedSeconds, res.Fatal)
	}
	// Refused, the player ends at its fatal error; that it never plays
	// is all a run can show, and load only makes it play less.
	res = play(t, playSpec{player: "hls", url: without + "/hls/demo.m3u8", run: 2 * time.Second})
	if res.PlayedSeconds > 0 {
		t.Fatalf("without cors the cross-origin player played %.1fs: the browser should have refused", res.PlayedSeconds)
	}
	// It failed for the right reason: the browser blocked the response.
	if !strings.Contains(strings.Join(res.Console, "\n"), "CORS") {
		t.Fatalf("without cors the player failed, but not on CORS: fatal %v, console %v", res.Fatal, res.Console)
	}
}

// TestCurlPurgesAStream: `curl` purges a whole stream on the admin
// listener with the bearer token, and the next request is a miss.
func TestCurlPurgesAStream(t *testing.T) {
	curl := needTool(t, "curl")
	pk := origintest.Start(t, origin.Config{})
	pk.StartDemo(t, "demo")
	edgeURL, adminURL, _ := startEdge(t, func(c *proxy.Config) {
		c.Routes = []proxy.Route{{Prefix: "/", Origin: pk.URL}}
	}, "t0ken")
	waitPlaylist(t, edgeURL+"/hls/demo.m3u8", "EXT-X-STREAM-INF", 20e9)
	status := func() string {
		resp, err := http.Get(edgeURL + "/hls/demo.m3u8")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.Header.Get("X-Cache-Status")
	}
	if st := status(); st != "HIT" {
		t.Fatalf("before the purge: %s, want HIT", st)
	}
	run := func(args ...string) (string, error) {
		out, err := exec.Command(curl, args...).CombinedOutput()
		return string(out), err
	}
	if out, err := run("-fsS", "-X", "POST", "-H", "Authorization: Bearer wrong", adminURL+"/purge?prefix=/hls/"); err == nil {
		t.Fatalf("a wrong token purged: %s", out)
	}
	out, err := run("-fsS", "-X", "POST", "-H", "Authorization: Bearer t0ken", adminURL+"/purge?prefix=/hls/")
	if err != nil || !strings.Contains(out, `"scope":"prefix"`) {
		t.Fatalf("curl purge: %v: %s", err, out)
	}
	if st := status(); st != "MISS" {
		t.Fatalf("after the purge: %s, want MISS", st)
	}
}
