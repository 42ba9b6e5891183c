package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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
	"sync"
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

// waitListed waits until the media playlist at url lists n segments or
// more, with a failsafe of within.
func waitListed(t *testing.T, url string, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := 0
		resp, err := http.Get(url)
		if err == nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			if resp.StatusCode == 200 {
				got = strings.Count(string(b), "#EXTINF:")
			}
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s lists %d segments after %v, want %d (liveness failsafe; %v)", url, got, within, n, err)
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
	TargetLatency  *float64 `json:"targetLatency"` // hls.js's first, from the playlist
	Console        []string `json:"console"`
	HTTPErrors     []string `json:"httpErrors"` // "status URL" of each answer >= 400 the page got
}

func browserDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "browser")
}

// playerSlack is the liveness failsafe of a player run: how much longer
// than the media time (or the run) asked for a player may take, its
// start-up included, before play.mjs gives up on it. A busy machine makes
// a player start and stall later, not fail; one that a broken stream has
// stopped stays stopped.
const playerSlack = 60 * time.Second

// playSpec is one player run: until currentTime has advanced played, or,
// when played is zero, for run (wall clock) after playback began.
type playSpec struct {
	player, url string
	played, run time.Duration
	lowLatency  bool
	// started, if not nil, is closed when playback begins.
	started chan<- struct{}
}

// playUntil runs a real player in headless Chromium on url until its
// currentTime has advanced played (or the failsafe runs out): how long
// that takes is up to the machine, whether it happens is up to the stream.
func playUntil(t *testing.T, player, url string, played time.Duration, lowLatency bool) playResult {
	t.Helper()
	return play(t, playSpec{player: player, url: url, played: played, lowLatency: lowLatency})
}

// play runs spec, failing the test if the player could not be run.
func play(t *testing.T, spec playSpec) playResult {
	t.Helper()
	needPlayers(t)
	res, err := runPlayer(t, spec)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// needPlayers fails the test when play.mjs cannot run.
func needPlayers(t *testing.T) {
	t.Helper()
	needTool(t, "node")
	needTool(t, "chromium")
	dir := browserDir()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "puppeteer-core")); err != nil {
		t.Fatalf("players not installed in %s: run `make test-deps` (npm ci there)", dir)
	}
}

// runPlayer runs play.mjs for spec. It does not end the test, so it may
// run on a goroutine of the test's; call needPlayers first.
func runPlayer(t *testing.T, spec playSpec) (playResult, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return playResult{}, err
	}
	args := []string{"play.mjs", "--player", spec.player, "--url", spec.url}
	asked := spec.run
	if spec.played > 0 {
		asked = spec.played
		args = append(args, "--played", strconv.FormatFloat(spec.played.Seconds(), 'f', -1, 64))
	} else {
		args = append(args, "--seconds", strconv.FormatFloat(spec.run.Seconds(), 'f', -1, 64))
	}
	failsafe := asked + playerSlack
	args = append(args, "--failsafe", strconv.FormatFloat(failsafe.Seconds(), 'f', -1, 64))
	if spec.lowLatency {
		args = append(args, "--low-latency")
	}
	// Beyond play.mjs's own failsafe: Chromium's launch and shutdown.
	ctx, cancel := context.WithTimeout(context.Background(), failsafe+time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = browserDir()
	stderr := &startWatcher{started: spec.started}
	cmd.Stderr = stderr
	out, err := cmd.Output()
	var res playResult
	if jerr := json.Unmarshal(out, &res); jerr != nil {
		return res, fmt.Errorf("%s player: %v / %v\nstdout:\n%s\nstderr:\n%s", spec.player, err, jerr, out, stderr.String())
	}
	t.Logf("%s: startup %vs, played %.1fs in %.1fs, waiting %d, latency median %v (%d samples), errors %v, HTTP errors %v",
		spec.player, deref(res.StartupSeconds), res.PlayedSeconds, res.WallSeconds, res.Waiting, deref(res.LatencyMedian), res.LatencySamples, res.Errors, res.HTTPErrors)
	return res, nil
}

// startWatcher collects play.mjs's stderr and closes started at its
// "play.mjs: playing" line.
type startWatcher struct {
	mu      sync.Mutex // guards the fields below
	buf     bytes.Buffer
	started chan<- struct{}
}

func (w *startWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if w.started != nil && bytes.Contains(w.buf.Bytes(), []byte("play.mjs: playing")) {
		close(w.started)
		w.started = nil
	}
	return len(p), nil
}

func (w *startWatcher) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func deref(f *float64) any {
	if f == nil {
		return "none"
	}
	return *f
}
