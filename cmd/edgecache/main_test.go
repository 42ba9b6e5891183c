package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var binary string

// liveness bounds a wait for something that happens promptly unless it is
// broken: it is a failsafe, not a speed, so it is generous enough for a
// loaded CI machine.
const liveness = 30 * time.Second

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "edgecache-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "edgecache")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build edgecache: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// process is a running edgecache binary.
type process struct {
	cmd         *exec.Cmd
	addr, admin string
	out         *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// freeAddr returns a loopback address nothing listens on right now.
func freeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func start(t testing.TB, env []string, args ...string) *process {
	t.Helper()
	p := &process{addr: freeAddr(t), admin: freeAddr(t), out: &syncBuffer{}}
	args = append([]string{"-listen", p.addr, "-admin-listen", p.admin}, args...)
	p.cmd = exec.Command(binary, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		p.cmd.Wait()
		if t.Failed() {
			t.Logf("edgecache output:\n%s", p.out.String())
		}
	})
	deadline := time.Now().Add(liveness)
	for {
		resp, err := http.Get("http://" + p.admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("edgecache not ready in %v: %v\n%s", liveness, err, p.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// metric reads one metric sample from /metrics; name includes labels as
// exposed.
func (p *process) metric(t *testing.T, name string) float64 {
	t.Helper()
	v, ok := p.lookupMetric(t, name)
	if !ok {
		t.Fatalf("metric %s not found", name)
	}
	return v
}

// metricOr is metric with a value for a sample not exposed yet.
func (p *process) metricOr(t *testing.T, name string, def float64) float64 {
	t.Helper()
	if v, ok := p.lookupMetric(t, name); ok {
		return v
	}
	return def
}

func (p *process) lookupMetric(t *testing.T, name string) (float64, bool) {
	t.Helper()
	resp, err := http.Get("http://" + p.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == name {
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				t.Fatal(err)
			}
			return v, true
		}
	}
	return 0, false
}

func (p *process) rssBytes(t *testing.T) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`VmRSS:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		t.Fatal("no VmRSS")
	}
	kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return kb << 10
}

func TestOriginFlagServesThroughTheEdge(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "video/mp4")
		io.WriteString(w, "segment "+r.URL.Path)
	}))
	defer origin.Close()
	p := start(t, nil, "-origin", origin.URL)
	for i, want := range []string{"MISS", "HIT"} {
		resp, err := http.Get("http://" + p.addr + "/live/seg-1.m4s")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "segment /live/seg-1.m4s" || resp.Header.Get("X-Cache-Status") != want {
			t.Fatalf("request %d: %q %s", i, b, resp.Header.Get("X-Cache-Status"))
		}
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := http.Get("http://" + p.admin + path)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v %v", path, err, resp)
		}
		resp.Body.Close()
	}
	if v := p.metric(t, `edgecache_requests_total{cache_status="HIT",class="segment"}`); v != 1 {
		t.Fatalf("HIT counter %v", v)
	}
}

// TestHugeRequestHeader: a 10 MB request head gets 431 and the edge
// carries on.
func TestHugeRequestHeader(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer origin.Close()
	p := start(t, nil, "-origin", origin.URL)
	conn, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	go func() {
		fmt.Fprintf(conn, "GET /a.m4s HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", strings.Repeat("b", 10<<20))
	}()
	conn.SetReadDeadline(time.Now().Add(liveness)) // a failsafe: the 431 comes at once
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no response to a 10 MB header: %v", err)
	}
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("got %d, want 431", resp.StatusCode)
	}
	r2, err := http.Get("http://" + p.addr + "/a.m4s")
	if err != nil || r2.StatusCode != 200 {
		t.Fatalf("edge unwell after the big header: %v %v", err, r2)
	}
	r2.Body.Close()
}

func TestExampleConfigLoads(t *testing.T) {
	if _, _, err := loadConfig([]string{"-config", "../../deploy/edgecache.example.yaml"}, nil, io.Discard); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("routes:\n  - prefix: /hls/\n    origin: http://o/hls/\ncache:\n  max_bytez: 1\n"), 0o644)
	if _, _, err := loadConfig([]string{"-config", bad}, nil, io.Discard); err == nil || !strings.Contains(err.Error(), "max_bytez") {
		t.Fatalf("unknown field accepted: %v", err)
	}
}

// TestMemoryBound fills the cache with twice its budget of distinct
// objects: the cached bytes stay within the budget and the process RSS
// within 1.1x the budget plus a small base.
func TestMemoryBound(t *testing.T) {
	const (
		budget  = 256 << 20
		objSize = 1 << 20
		base    = 48 << 20
	)
	obj := make([]byte, objSize)
	for i := range obj {
		obj[i] = byte(i)
	}
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		w.Write(obj)
	}))
	defer origin.Close()
	p := start(t, nil, "-origin", origin.URL, "-cache-size", strconv.Itoa(budget))
	rssStart := p.rssBytes(t)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	jobs := make(chan int)
	var wg sync.WaitGroup
	var failed sync.Once
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("http://%s/vod/seg-%d.m4s", p.addr, i), nil)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					failed.Do(func() { t.Error(err) })
					continue
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if n != objSize {
					failed.Do(func() { t.Errorf("object %d: %d bytes", i, n) })
				}
			}
		}()
	}
	for i := range 2 * budget / objSize {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	// A fill stores its entry (and waits for ristretto to apply the set)
	// after its last byte reached the client, and leaves the in-flight
	// count after that: once none is in flight, every set has landed.
	for deadline := time.Now().Add(liveness); p.metric(t, "edgecache_fills_in_flight") != 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("fills still in flight %v after the last response", liveness)
		}
	}

	cached := p.metric(t, "edgecache_cache_bytes")
	entries := p.metric(t, "edgecache_cache_entries")
	rss := p.rssBytes(t)
	limit := int64(budget)*11/10 + base
	t.Logf("budget %d MiB, filled %d MiB: cached %.1f MiB in %.0f entries; RSS %.1f MiB at start, %.1f MiB after (%.2fx budget); bound %.1f MiB",
		budget>>20, 2*budget>>20, cached/(1<<20), entries, float64(rssStart)/(1<<20), float64(rss)/(1<<20), float64(rss)/budget, float64(limit)/(1<<20))
	if cached > budget {
		t.Errorf("cached bytes %.0f exceed the budget %d", cached, budget)
	}
	if cached < budget/2 {
		t.Errorf("cache holds only %.0f bytes of a %d budget after twice as much went through", cached, budget)
	}
	if rss > limit {
		t.Errorf("RSS %d exceeds 1.1x budget + %d MiB base = %d", rss, base>>20, limit)
	}
}
