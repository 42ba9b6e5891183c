package herd

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgecache/edgecache/bench/loopback"
)

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// countingOrigin serves one object slowly enough for a herd to pile up
// and counts the requests it gets. It also serves the count as a plain
// number and as Prometheus metrics.
type countingOrigin struct {
	delay time.Duration
	body  func(n int64) []byte // the n-th request's body (from 1)
	count atomic.Int64
}

func (o *countingOrigin) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/object.m4s", func(w http.ResponseWriter, r *http.Request) {
		n := o.count.Add(1)
		select {
		case <-time.After(o.delay):
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "video/mp4")
		w.Write(o.body(n))
	})
	mux.HandleFunc("/count", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%d\n", o.count.Load())
	})
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		// Split over two series, as the edge's labels would, to prove
		// they are summed.
		n := o.count.Load()
		fmt.Fprintf(w, "# HELP edgecache_origin_requests_total Requests sent to origins.\n"+
			"# TYPE edgecache_origin_requests_total counter\n"+
			"edgecache_origin_requests_total{kind=\"fill\",result=\"2xx\",route=\"/\"} %d\n"+
			"edgecache_origin_requests_total{kind=\"refresh\",result=\"2xx\",route=\"/\"} %d\n"+
			"# TYPE other_total counter\nother_total 99\n", n/2, n-n/2)
	})
	return mux
}

func sameBody(int64) []byte { return bytes.Repeat([]byte("media"), 40000) }

// collapsingEdge is the behaviour under test in a real edge, in
// miniature: concurrent misses for one object share one origin fetch.
type collapsingEdge struct {
	origin string
	client *http.Client
	mu     sync.Mutex
	fill   chan struct{} // closed when body is set; guarded by mu
	body   []byte
}

func (e *collapsingEdge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	fill := e.fill
	first := fill == nil
	if first {
		e.fill = make(chan struct{})
		fill = e.fill
	}
	e.mu.Unlock()
	if first {
		resp, err := e.client.Get(e.origin + r.URL.Path)
		if err == nil {
			var b bytes.Buffer
			b.ReadFrom(resp.Body)
			resp.Body.Close()
			e.body = b.Bytes()
		}
		close(fill)
	}
	<-fill
	w.Header().Set("X-Cache-Status", map[bool]string{true: "MISS", false: "HIT"}[first])
	w.Write(e.body)
}

func TestHerd(t *testing.T) {
	tests := []herdCase{
		{"no cache: every client reaches the origin", 60, sameBody, false, "count", 60, true, 1},
		{"collapsing edge: one origin fetch", 60, sameBody, true, "count", 1, true, 1},
		{"origin count from prometheus metrics", 40, sameBody, true, "metrics", 1, true, 1},
		{"no counter", 10, sameBody, false, "", -1, true, 1},
		{
			"different bodies are caught", 20,
			func(n int64) []byte { return []byte(fmt.Sprintf("body %d", n%3)) },
			false, "count", 20, false, 3,
		},
	}
	for _, tc := range tests {
		for _, sum := range []string{SumSHA256, SumCRC32C} {
			t.Run(tc.name+"/"+sum, func(t *testing.T) { testHerd(t, tc, sum) })
		}
	}
}

type herdCase struct {
	name          string
	clients       int
	body          func(int64) []byte
	collapse      bool
	counter       string // "count", "metrics" or ""
	wantFetches   float64
	wantIdentical bool
	wantBodies    int
}

func testHerd(t *testing.T, tc herdCase, sum string) {
	defer checkGoroutines(t)() // runs after the closes below
	o := &countingOrigin{delay: 150 * time.Millisecond, body: tc.body}
	origin := httptest.NewServer(o.handler())
	defer origin.Close()
	target := origin.URL
	if tc.collapse {
		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		edge := httptest.NewServer(&collapsingEdge{origin: origin.URL, client: &http.Client{Transport: tr}})
		defer edge.Close()
		target = edge.URL
	}
	cfg := Config{URL: target + "/object.m4s", Clients: tc.clients, Settle: 10 * time.Millisecond, Sum: sum}
	switch tc.counter {
	case "count":
		cfg.OriginCountURL = origin.URL + "/count"
	case "metrics":
		cfg.MetricsURL = origin.URL + "/metrics"
	}
	rep, err := Run(t.Context(), cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	var tab strings.Builder
	rep.WriteTable(&tab)
	t.Logf("\n%s", tab.String())
	if tc.wantFetches < 0 {
		if rep.OriginFetches != nil {
			t.Errorf("origin fetches %+v without a counter", rep.OriginFetches)
		}
	} else if rep.OriginFetches == nil || rep.OriginFetches.Delta != tc.wantFetches {
		t.Errorf("origin fetches %+v, want delta %v", rep.OriginFetches, tc.wantFetches)
	}
	if rep.Identical != tc.wantIdentical || len(rep.Bodies) != tc.wantBodies {
		t.Errorf("identical %v with %d bodies, want %v with %d: %+v", rep.Identical, len(rep.Bodies), tc.wantIdentical, tc.wantBodies, rep.Bodies)
	}
	if rep.Statuses["200"] != tc.clients || len(rep.Errors) != 0 {
		t.Errorf("statuses %v errors %v", rep.Statuses, rep.Errors)
	}
	// The origin holds every request 150 ms, so nobody can have a
	// first byte sooner. (How much later depends on the machine's
	// load: upper bounds belong in bench reports, not here.)
	if s := rep.TTFBMs; s.Count != int64(tc.clients) || s.P50 < 140 {
		t.Errorf("ttfb %+v", s)
	}
	if s := rep.CompletionMs; s.Count != int64(tc.clients) || s.P50 < rep.TTFBMs.P50 {
		t.Errorf("completion %+v", s)
	}
	if rep.ReleaseSpreadMs < 0 {
		t.Errorf("release spread %.1f ms", rep.ReleaseSpreadMs)
	}
	if tc.collapse && (rep.CacheStatus["MISS"] != 1 || rep.CacheStatus["HIT"] != tc.clients-1) {
		t.Errorf("cache status %v", rep.CacheStatus)
	}
	// Each distinct body carries the checksum asked for, of one of the
	// origin's bodies.
	want := make(map[Body]bool)
	for n := int64(1); n <= int64(tc.clients); n++ {
		body := tc.body(n)
		b := Body{SHA256: fmt.Sprintf("%x", sha256.Sum256(body)), Size: int64(len(body)), Status: 200}
		if sum == SumCRC32C {
			b = Body{CRC32C: fmt.Sprintf("%08x", crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli))), Size: b.Size, Status: 200}
		}
		want[b] = true
	}
	for _, b := range rep.Bodies {
		k := b
		k.Clients = 0
		if !want[k] {
			t.Errorf("body %+v: not the %s of any origin body", b, sum)
		}
	}
}

// Each client is on its own connection: as many connections as clients,
// one request on each. (When the server's accept loop gets to each
// connection is the scheduler's business, so the test does not count
// accepted connections at the first request: that failed on a busy
// machine.)
func TestHerdOneConnectionPerClient(t *testing.T) {
	var conns atomic.Int64
	var mu sync.Mutex
	perConn := map[string]int{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		perConn[r.RemoteAddr]++
		mu.Unlock()
		w.Write([]byte("x"))
	}))
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	rep, err := Run(t.Context(), Config{URL: srv.URL + "/x", Clients: 25}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if conns.Load() != 25 || len(perConn) != 25 || !rep.Identical {
		t.Errorf("%d connections, %d carrying requests, identical %v", conns.Load(), len(perConn), rep.Identical)
	}
	for addr, n := range perConn {
		if n != 1 {
			t.Errorf("connection %s carried %d requests", addr, n)
		}
	}
}

// herdEndBound is a liveness bound: far beyond any timeout the tests set,
// so only a herd that ignores its timeout reaches it.
const herdEndBound = 30 * time.Second

// Broken responses: cut-off bodies and a server that never answers are
// counted, and the herd still ends.
func TestHerdFailures(t *testing.T) {
	tests := []struct {
		name      string
		handler   http.HandlerFunc
		timeout   time.Duration
		wantStage string
	}{
		{
			"body cut short",
			func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "100000")
				w.Write([]byte("short"))
				w.(http.Flusher).Flush()
				panic(http.ErrAbortHandler)
			},
			5 * time.Second, "body",
		},
		{
			"no answer",
			func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() },
			300 * time.Millisecond, "header",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewUnstartedServer(tc.handler)
			srv.Config.ErrorLog = slog.NewLogLogger(slog.DiscardHandler, slog.LevelError)
			srv.Start()
			defer srv.Close()
			// A herd that ignored its timeout would wait on the silent
			// server for ever: the liveness bound tells that apart from a
			// slow machine without asserting how long the timeout took.
			_, wait := startHerd(t, srv, Config{URL: srv.URL + "/x", Clients: 10, Timeout: tc.timeout})
			rep := wait(fmt.Sprintf("it began, with a timeout of %v", tc.timeout))
			if rep.Errors[tc.wantStage] != 10 || rep.Identical || len(rep.Bodies) != 0 {
				t.Errorf("errors %v identical %v bodies %v", rep.Errors, rep.Identical, rep.Bodies)
			}
		})
	}
}

// A caller that gives up ends the herd, long before its own timeout: the
// clients of a server that never answers are woken, not left to wait.
func TestHerdCancelled(t *testing.T) {
	arrived := make(chan struct{}, 10)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done()
	}))
	srv.Config.ErrorLog = slog.NewLogLogger(slog.DiscardHandler, slog.LevelError)
	srv.Start()
	defer srv.Close()
	cancel, wait := startHerd(t, srv, Config{URL: srv.URL + "/x", Clients: 10, Timeout: 10 * time.Minute})
	for range 10 {
		<-arrived // every request is in; then the caller gives up
	}
	cancel()
	rep := wait("its caller gave up (its own timeout is 10 minutes)")
	if rep.Errors["header"] != 10 {
		t.Errorf("errors %v, want 10 at the header", rep.Errors)
	}
}

// startHerd runs the herd cfg against srv in the background until it ends
// or cancel is called. wait returns its report; a herd still running
// herdEndBound later (after the event named by after) fails the test,
// once it has been stopped and srv's connections closed so that the
// server's Close can return.
func startHerd(t *testing.T, srv *httptest.Server, cfg Config) (cancel context.CancelFunc, wait func(after string) *Report) {
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	type result struct {
		rep *Report
		err error
	}
	done := make(chan result, 1)
	go func() {
		rep, err := Run(ctx, cfg, testLogger(t))
		done <- result{rep, err}
	}()
	return cancel, func(after string) *Report {
		t.Helper()
		var res result
		select {
		case res = <-done:
		case <-time.After(herdEndBound):
			cancel()
			srv.CloseClientConnections()
			<-done
			t.Fatalf("the herd had not ended %v after %s", herdEndBound, after)
		}
		if res.err != nil {
			t.Fatal(res.err)
		}
		return res.rep
	}
}

func TestHerdSetupErrors(t *testing.T) {
	o := &countingOrigin{body: sameBody}
	srv := httptest.NewServer(o.handler())
	defer srv.Close()
	good := Config{URL: srv.URL + "/object.m4s", Clients: 2}
	with := func(f func(*Config)) Config { c := good; f(&c); return c }
	tests := []struct {
		name    string
		cfg     Config
		wantIs  error
		wantMsg string
	}{
		{"no url", with(func(c *Config) { c.URL = "" }), ErrConfig, "no URL"},
		{"no clients", with(func(c *Config) { c.Clients = 0 }), ErrConfig, "clients 0"},
		{"over the cap", with(func(c *Config) { c.Clients = 5001 }), ErrConfig, "cap of 5000"},
		{"over a lower cap", with(func(c *Config) { c.MaxClients = 5; c.Clients = 6 }), ErrConfig, "cap of 5"},
		{"https", with(func(c *Config) { c.URL = "https://127.0.0.1/x" }), ErrConfig, "only http"},
		{"unknown sum", with(func(c *Config) { c.Sum = "md5" }), ErrConfig, `sum "md5"`},
		{"not loopback", with(func(c *Config) { c.URL = "http://192.0.2.1/x" }), loopback.ErrNotLoopback, "192.0.2.1 is not a loopback"},
		{"counter not loopback", with(func(c *Config) { c.OriginCountURL = "http://192.0.2.2/count" }), loopback.ErrNotLoopback, "192.0.2.2"},
		{"counter not a number", with(func(c *Config) { c.OriginCountURL = srv.URL + "/object.m4s" }), ErrCounter, "not a number"},
		{"metrics not prometheus", with(func(c *Config) { c.MetricsURL = srv.URL + "/object.m4s" }), ErrCounter, "metrics"},
		{"nothing listening", with(func(c *Config) { c.URL = "http://127.0.0.1:1/x" }), syscallRefused{}, "open 2 connections"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := Run(t.Context(), tc.cfg, testLogger(t))
			if err == nil {
				t.Fatalf("Run succeeded: %+v", rep)
			}
			if _, ok := tc.wantIs.(syscallRefused); !ok && !errors.Is(err, tc.wantIs) {
				t.Errorf("err %v, want %v", err, tc.wantIs)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("err %q does not say %q", err, tc.wantMsg)
			}
		})
	}
}

// syscallRefused marks a case whose error is checked by message only.
type syscallRefused struct{ error }

func TestSumMetric(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		metric  string
		want    float64
		wantErr bool
	}{
		{"summed over labels", "# TYPE a_total counter\na_total{x=\"1\"} 2\na_total{x=\"2\"} 3.5\n", "a_total", 5.5, false},
		{"absent is zero", "# TYPE b_total counter\nb_total 1\n", "a_total", 0, false},
		{"untyped", "a_total 7\n", "a_total", 7, false},
		{"gauge", "# TYPE a gauge\na 3\n", "a", 3, false},
		{"empty page", "", "a_total", 0, false},
		{"not prometheus", "<html>hello</html>", "a_total", 0, true},
		{"histogram refused", "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n", "h", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sumMetric([]byte(tc.body), tc.metric)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("sumMetric = %v, %v; want %v, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestParseNumber(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    float64
		wantErr bool
	}{
		{"integer", "42", 42, false},
		{"whitespace", " \n17\r\n", 17, false},
		{"float", "1.5e3", 1500, false},
		{"empty", "", 0, true},
		{"words", "count: 3", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseNumber([]byte(tc.body))
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("parseNumber = %v, %v; want %v, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func FuzzSumMetric(f *testing.F) {
	for _, s := range []string{
		"# TYPE a_total counter\na_total{x=\"1\"} 2\na_total{x=\"2\"} 3.5\n",
		"a_total 7\n", "", "<html>", "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		v, err := sumMetric(body, "a_total")
		if err != nil && v != 0 {
			t.Errorf("error %v with value %v", err, v)
		}
		if _, err := parseNumber(body); err != nil && !errors.Is(err, ErrCounter) {
			t.Errorf("parseNumber error %v does not wrap ErrCounter", err)
		}
	})
}

func BenchmarkSummarize(b *testing.B) {
	results := make([]result, 5000)
	now := time.Now()
	for i := range results {
		results[i] = result{wrote: now.Add(time.Duration(i)), ttfb: time.Duration(i) * time.Microsecond, done: time.Millisecond, status: 200, size: 1000}
	}
	b.ReportAllocs()
	for b.Loop() {
		summarize("http://127.0.0.1/x", now, results, SumSHA256)
	}
}

func BenchmarkSumMetric(b *testing.B) {
	var page strings.Builder
	page.WriteString("# TYPE edgecache_origin_requests_total counter\n")
	for i := range 200 {
		fmt.Fprintf(&page, "edgecache_origin_requests_total{kind=\"fill\",result=\"2xx\",route=\"/r%d\"} %d\n", i, i)
	}
	body := []byte(page.String())
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := sumMetric(body, DefaultMetricName); err != nil {
			b.Fatal(err)
		}
	}
}

// checkGoroutines fails the test if goroutines started after it are
// still running when the returned function is called.
func checkGoroutines(t *testing.T) func() {
	before := runtime.NumGoroutine()
	return func() {
		t.Helper()
		deadline := time.Now().Add(3 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				t.Errorf("%d goroutines leaked:\n%s", runtime.NumGoroutine()-before, buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// TestSummarizeSameSumOtherSize: two bodies whose checksums collide (32
// bits of CRC-32C can) but whose sizes differ are two bodies, not one.
func TestSummarizeSameSumOtherSize(t *testing.T) {
	now := time.Now()
	var sum [sha256.Size]byte
	copy(sum[:], []byte{0xde, 0xad, 0xbe, 0xef})
	results := []result{
		{wrote: now, status: 200, size: 1000, sum: sum},
		{wrote: now, status: 200, size: 1000, sum: sum},
		{wrote: now, status: 200, size: 999, sum: sum},
	}
	rep := summarize("http://127.0.0.1/x", now, results, SumCRC32C)
	if rep.Identical || len(rep.Bodies) != 2 {
		t.Fatalf("identical %v, bodies %+v: want two bodies", rep.Identical, rep.Bodies)
	}
	if b := rep.Bodies[0]; b.Clients != 2 || b.Size != 1000 || b.CRC32C != "deadbeef" || b.SHA256 != "" {
		t.Errorf("first body %+v", b)
	}
}
