package proxy

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/edgecache/edgecache/cache"
	"github.com/edgecache/edgecache/metrics/metricstest"
	"github.com/prometheus/client_golang/prometheus"
)

type testLogWriter struct{ t testing.TB }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimSpace(p)))
	return len(p), nil
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testLogWriter{t}, &slog.HandlerOptions{Level: testLogLevel}))
}

// edge is a real proxy on a real loopback server in front of origin.
type edge struct {
	*httptest.Server
	p   *Proxy
	reg *prometheus.Registry
}

// newEdge starts a proxy routing "/" to originURL, with cfg applied over
// the defaults by mod.
func newEdge(t testing.TB, originURL string, mod func(*Config)) *edge {
	t.Helper()
	return newEdgeServer(t, originURL, mod, nil)
}

// newEdgeServer is newEdge with srvMod applied to the viewers' server
// before it starts (a server's fields must not change once it serves).
func newEdgeServer(t testing.TB, originURL string, mod func(*Config), srvMod func(*http.Server)) *edge {
	t.Helper()
	return newEdgeFull(t, originURL, mod, srvMod)
}

// newEdgeFull is newEdgeServer with options for New.
func newEdgeFull(t testing.TB, originURL string, mod func(*Config), srvMod func(*http.Server), opts ...Option) *edge {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Routes = []Route{{Prefix: "/", Origin: originURL}}
	cfg.ServerName = "edge-test"
	if mod != nil {
		mod(&cfg)
	}
	reg := prometheus.NewRegistry()
	p, err := New(cfg, testLogger(t), reg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(p)
	srv.Config = p.Server(nil) // the server cmd/edgecache runs
	srv.Listener = p.Listener(srv.Listener)
	if srvMod != nil {
		srvMod(srv.Config)
	}
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		p.Close()
	})
	return &edge{Server: srv, p: p, reg: reg}
}

// checkGoroutines fails the test if goroutines started during it are still
// running a moment after its cleanups. Call it first, so its cleanup runs
// last.
func checkGoroutines(t testing.TB) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
		// A liveness bound: a leaked goroutine stays for good, so a
		// long wait costs a passing test nothing.
		deadline := time.Now().Add(20 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("goroutine leak: %d running, %d before the test\n%s", n, before, buf)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// counter counts requests per path at a test origin.
type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counter) inc(path string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[path]++
}

func (c *counter) get(path string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[path]
}

func get(t testing.TB, client *http.Client, url string, hdr ...string) (*http.Response, []byte, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if len(hdr)%2 == 1 {
		req.Method = hdr[len(hdr)-1]
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

func mustGet(t testing.TB, url string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	resp, b, err := get(t, http.DefaultClient, url, hdr...)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp, b
}

func wantStatus(t testing.TB, resp *http.Response, code int, cache string) {
	t.Helper()
	if resp.StatusCode != code || resp.Header.Get("X-Cache-Status") != cache {
		t.Fatalf("%s: got %d %s, want %d %s", resp.Request.URL.Path, resp.StatusCode, resp.Header.Get("X-Cache-Status"), code, cache)
	}
	if resp.Header.Get("Age") == "" {
		t.Fatalf("%s: no Age header", resp.Request.URL.Path)
	}
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31 + i>>9)
	}
	return b
}

// testLogLevel is Info; set EDGECACHE_TEST_DEBUG=1 for debug logs.
var testLogLevel = func() slog.Level {
	if os.Getenv("EDGECACHE_TEST_DEBUG") != "" {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}()

// metricValue reads a counter or gauge from reg, by name and one label
// ("": none); 0 when there is no such series.
func metricValue(t testing.TB, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	var labels map[string]string
	if label != "" {
		labels = map[string]string{label: value}
	}
	v, _ := metricstest.Value(t, reg, name, labels)
	return v
}

// waitMetric waits until the metric (one label's value, or none) has
// reached at least want: an event the test orders itself after (requests
// joined a fill, viewers held), instead of a sleep that a busy machine
// can outlast. The deadline is a liveness guard, not a timing bound.
func waitMetric(t testing.TB, reg *prometheus.Registry, name, label, value string, want float64, what string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := metricValue(t, reg, name, label, value)
		if got >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %s is %v after 30 s, want %v", what, name, got, want)
		}
		time.Sleep(time.Millisecond)
	}
}

// settled returns what is stored under key once no fill of it is in
// flight: a client can have the whole response before the fill that sent
// it has stored its entry. The deadline is a liveness guard, not a timing
// bound.
func settled(t testing.TB, c *cache.Cache, key string) *cache.Entry {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for c.InFlight(key) {
		if time.Now().After(deadline) {
			t.Fatalf("the fill of %q never ended", key)
		}
		time.Sleep(time.Millisecond)
	}
	return c.Get(key)
}

// quiesce waits until no fill is running: after it, every response the
// test has had is stored or not, for good, and the next request cannot
// join a fill that an earlier one started. The deadline is a liveness
// guard, not a timing bound.
func (e *edge) quiesce(t testing.TB) {
	t.Helper()
	quiesceCache(t, e.p.Cache())
}

// quiesceCache is quiesce for a cache without an edge helper around it.
func quiesceCache(t testing.TB, c *cache.Cache) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for c.Stats().FillsInFlight != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("fills still running: %+v", c.Stats())
		}
		time.Sleep(time.Millisecond)
	}
}
