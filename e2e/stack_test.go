package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgecache/edgecache/origin"
	"github.com/edgecache/edgecache/origin/origintest"
	"github.com/edgecache/edgecache/proxy"
	"github.com/prometheus/client_golang/prometheus"
)

// needTool fails, loudly, when a tool the test drives is missing; `make
// test` installs them first (scripts/test-deps.sh).
func needTool(t *testing.T, name string) string {
	t.Helper()
	if testing.Short() {
		t.Skipf("-short: needs %s, which make test installs", name)
	}
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: this end-to-end test drives the real tool; run `make test-deps` (it installs it)", name)
	}
	return p
}

type logWriter struct{ t testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimSpace(p)))
	return len(p), nil
}

// stack is a packager and an edge in front of it.
type stack struct {
	pk      *origintest.Packager
	edgeURL string
	reg     *prometheus.Registry
}

// rejections sums the edge's sanity-gate rejections: a packager playing by
// RFC 8216bis never earns one.
func (s *stack) rejections(t *testing.T) float64 {
	mfs, err := s.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() == "edgecache_playlist_rejections_total" {
			for _, m := range mf.GetMetric() {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}

// startStack starts the packager, optionally with its demo stream, and an
// edge routing /hls/ and /dash/ (and everything else) to it.
func startStack(t *testing.T, cfg origin.Config, demo bool) *stack {
	t.Helper()
	pk := origintest.Start(t, cfg)
	if demo {
		pk.StartDemo(t, "demo")
	}
	pcfg := proxy.DefaultConfig()
	pcfg.Routes = []proxy.Route{{Prefix: "/", Origin: pk.URL}}
	log := slog.New(slog.NewTextHandler(logWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	reg := prometheus.NewRegistry()
	p, err := proxy.New(pcfg, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(p)
	srv.Config = p.Server(nil) // the server cmd/edgecache runs
	srv.Listener = p.Listener(srv.Listener)
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		p.Close()
	})
	return &stack{pk: pk, edgeURL: srv.URL, reg: reg}
}

// waitPlaylist waits until url answers 200 with want in the body.
func waitPlaylist(t *testing.T, url, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		resp, err := http.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && strings.Contains(string(b), want) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready within %v (%v)", url, within, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// playResult is what e2e/browser/play.mjs reports.
type playResult struct {
	Player         string   `json:"player"`
	StartupSeconds *float64 `json:"startupSeconds"`
	PlayedSeconds  float64  `json:"playedSeconds"`
	WallSeconds    float64  `json:"wallSeconds"`
	Fatal          []string `json:"fatal"`
	Errors         []string `json:"errors"`
	Waiting        int      `json:"waiting"`
	LatencyMedian  *float64 `json:"latencyMedian"`
	LatencySamples int      `json:"latencySamples"`
	Console        []string `json:"console"`
}

func browserDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "browser")
}

// play runs a real player in headless Chromium on url for seconds.
func play(t *testing.T, player, url string, seconds int, lowLatency bool) playResult {
	t.Helper()
	node := needTool(t, "node")
	needTool(t, "chromium")
	dir := browserDir()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "puppeteer-core")); err != nil {
		t.Fatalf("players not installed in %s: run `make test-deps` (npm ci there)", dir)
	}
	args := []string{"play.mjs", "--player", player, "--url", url, "--seconds", strconv.Itoa(seconds)}
	if lowLatency {
		args = append(args, "--low-latency")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(seconds+60)*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var res playResult
	if jerr := json.Unmarshal(out, &res); jerr != nil {
		t.Fatalf("%s player: %v / %v\nstdout:\n%s\nstderr:\n%s", player, err, jerr, out, stderr.String())
	}
	t.Logf("%s: startup %vs, played %.1fs in %.1fs, waiting %d, latency median %v (%d samples), errors %v",
		player, deref(res.StartupSeconds), res.PlayedSeconds, res.WallSeconds, res.Waiting, deref(res.LatencyMedian), res.LatencySamples, res.Errors)
	return res
}

func deref(f *float64) any {
	if f == nil {
		return "none"
	}
	return *f
}
