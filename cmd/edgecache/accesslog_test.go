package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
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
		t.Fatalf("%s not found: this test drives the real tool; run `make test-deps` (it installs it)", name)
	}
	return p
}

// hlsOrigin serves a small VOD HLS stream: a playlist and five segments,
// cacheable for a minute, so repeats are hits.
func hlsOrigin(t *testing.T) *httptest.Server {
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		switch {
		case r.URL.Path == "/hls/live/index.m3u8":
			w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
			var b strings.Builder
			b.WriteString("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n")
			for i := range 5 {
				fmt.Fprintf(&b, "#EXTINF:2.000,\nseg%d.ts\n", i)
			}
			b.WriteString("#EXT-X-ENDLIST\n")
			io.WriteString(w, b.String())
		case strings.HasPrefix(r.URL.Path, "/hls/live/seg"):
			w.Header().Set("Content-Type", "video/mp2t")
			w.Write(make([]byte, 188*100))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(o.Close)
	return o
}

// sumMetric adds up every sample of a metric family, and the samples
// whose labels include label.
func (p *process) sumMetric(t testing.TB, name, label string) (all, with float64) {
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
		if len(f) != 2 || f[0] != name && !strings.HasPrefix(f[0], name+"{") {
			continue
		}
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			t.Fatal(err)
		}
		all += v
		if strings.Contains(f[0], label) {
			with += v
		}
	}
	return all, with
}

// stop sends SIGTERM and waits for a clean exit: the access log is
// closed, so every line is written, when the process has exited.
func (p *process) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code, _ := exitCode(t, p.cmd, liveness); code != 0 {
		t.Fatalf("exit %d:\n%s", code, p.out.String())
	}
}

// goaccessReport is the part of goaccess's JSON output the test reads.
type goaccessReport struct {
	General struct {
		TotalRequests  int `json:"total_requests"`
		ValidRequests  int `json:"valid_requests"`
		FailedRequests int `json:"failed_requests"`
	} `json:"general"`
	CacheStatus struct {
		Data []struct {
			Hits struct {
				Count int `json:"count"`
			} `json:"hits"`
			Data string `json:"data"`
		} `json:"data"`
	} `json:"cache_status"`
}

// goaccessFormat reads the default access log format: combined, then the
// cache status (%C), the request time in seconds (%T) and the two
// upstream timings (skipped). The README gives the same command line.
var goaccessArgs = []string{
	`--log-format=%h %^[%d:%t %^] "%r" %s %b "%R" "%u" "%C" %T %^`,
	"--date-format=%d/%b/%Y", "--time-format=%T",
}

func runGoaccess(t *testing.T, bin, log string, args ...string) goaccessReport {
	t.Helper()
	out := filepath.Join(t.TempDir(), "report.json")
	cmd := exec.Command(bin, append([]string{log, "--no-global-config", "-o", out}, args...)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("goaccess %v: %v\n%s", args, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var r goaccessReport
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("goaccess output: %v\n%s", err, b)
	}
	return r
}

// TestAccessLogGoaccess: goaccess reads the default access log, and
// reports the same request count and hit ratio as the edge's metrics.
// A change of the format that goaccess (or any combined reader) no longer
// parses makes the counts differ.
func TestAccessLogGoaccess(t *testing.T) {
	bin := needTool(t, "goaccess")
	o := hlsOrigin(t)
	logPath := filepath.Join(t.TempDir(), "access.log")
	p := start(t, nil, "-origin", o.URL, "-access-log", logPath, "-shutdown-grace", "0s")

	// Three passes over the playlist and the segments: misses, then hits.
	// A user agent and a query with characters the log must escape, a
	// CMCD query parameter, and a 404.
	paths := []string{"/hls/live/index.m3u8"}
	for i := range 5 {
		paths = append(paths, fmt.Sprintf("/hls/live/seg%d.ts", i))
	}
	n := 0
	get := func(path, ua string) {
		req, _ := http.NewRequest("GET", "http://"+p.addr+path, nil)
		req.Header.Set("User-Agent", ua)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		n++
	}
	for pass := range 3 {
		for _, path := range paths {
			get(path, fmt.Sprintf(`player/1.0 "pass %d" \ é`, pass))
		}
	}
	get("/hls/live/seg0.ts?CMCD="+`bs%2Csid%3D%22s1%22`, "hls.js")
	get("/hls/live/nope.ts", "curl/8")

	// The edge counts a request when its handler returns, which may be
	// just after the client has the response.
	var total, hits float64
	for deadline := time.Now().Add(liveness); ; time.Sleep(10 * time.Millisecond) {
		if total, hits = p.sumMetric(t, "edgecache_requests_total", `cache_status="HIT"`); int(total) == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("edgecache_requests_total %v after %v, want the %d requests made", total, liveness, n)
		}
	}
	if hits == 0 || hits == total {
		t.Fatalf("%v hits of %v: the test wants both hits and misses", hits, total)
	}
	p.stop(t)
	if dropped := strings.Contains(p.out.String(), "access log write failed"); dropped {
		t.Fatalf("the edge failed to write its access log:\n%s", p.out.String())
	}

	r := runGoaccess(t, bin, logPath, goaccessArgs...)
	if r.General.TotalRequests != n || r.General.ValidRequests != n || r.General.FailedRequests != 0 {
		b, _ := os.ReadFile(logPath)
		t.Fatalf("goaccess: total %d, valid %d, failed %d; want %d valid\n%s", r.General.TotalRequests, r.General.ValidRequests, r.General.FailedRequests, n, b)
	}
	gaHits := 0
	for _, d := range r.CacheStatus.Data {
		if d.Data == "HIT" {
			gaHits = d.Hits.Count
		}
	}
	if got, want := float64(gaHits)/float64(r.General.TotalRequests), hits/total; got != want {
		t.Fatalf("goaccess hit ratio %d/%d = %v; metrics %v/%v = %v", gaHits, r.General.TotalRequests, got, hits, total, want)
	}

	// A pipeline that knows only combined reads every line too.
	c := runGoaccess(t, bin, logPath, "--log-format=COMBINED")
	if c.General.ValidRequests != n || c.General.FailedRequests != 0 {
		t.Fatalf("goaccess COMBINED: valid %d, failed %d; want %d valid", c.General.ValidRequests, c.General.FailedRequests, n)
	}
}

// defaultLine is the default format: combined plus four fields.
var defaultLine = regexp.MustCompile(`^127\.0\.0\.1 - - \[[^\]]+\] "GET /x\.ts HTTP/1\.1" 200 1 "-" "ua" "MISS" \d+\.\d{3} \d+\.\d{3} \d+\.\d{3}$`)

// TestAccessLogDefaultsToStdout: with no access_log setting the edge
// writes one default-format line per response to stdout.
func TestAccessLogDefaultsToStdout(t *testing.T) {
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "x") }))
	defer o.Close()
	p := start(t, nil, "-origin", o.URL, "-shutdown-grace", "0s")
	req, _ := http.NewRequest("GET", "http://"+p.addr+"/x.ts", nil)
	req.Header.Set("User-Agent", "ua")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body) // the whole body, so the log says 1 byte sent
	resp.Body.Close()
	p.stop(t)
	var lines []string
	for _, l := range strings.Split(p.out.String(), "\n") {
		if strings.HasPrefix(l, "127.0.0.1 ") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || !defaultLine.MatchString(lines[0]) {
		t.Fatalf("access lines on stdout %q; want one matching %s\n%s", lines, defaultLine, p.out.String())
	}
}

// TestAccessLogReopenOnSIGUSR1: logrotate renames the file and sends
// SIGUSR1; the edge writes on into a new file at the path. The path comes
// from EDGECACHE_ACCESS_LOG.
func TestAccessLogReopenOnSIGUSR1(t *testing.T) {
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "x") }))
	defer o.Close()
	logPath := filepath.Join(t.TempDir(), "access.log")
	p := start(t, []string{"EDGECACHE_ACCESS_LOG=" + logPath}, "-origin", o.URL, "-shutdown-grace", "0s")
	get := func(path string) {
		resp, err := http.Get("http://" + p.addr + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	get("/before.ts")
	// The record is handed over when the handler returns, which may be
	// after the client has the response: wait for the line.
	for deadline := time.Now().Add(liveness); ; time.Sleep(10 * time.Millisecond) {
		if b, _ := os.ReadFile(logPath); strings.Contains(string(b), "/before.ts") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no line for /before.ts in %s after %v:\n%s", logPath, liveness, p.out.String())
		}
	}
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(liveness); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(logPath); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new file at %s %v after SIGUSR1:\n%s", logPath, liveness, p.out.String())
		}
	}
	get("/after.ts")
	p.stop(t)
	old, _ := os.ReadFile(logPath + ".1")
	cur, _ := os.ReadFile(logPath)
	if strings.Count(string(old), "\n") != 1 || !strings.Contains(string(old), "/before.ts") ||
		strings.Count(string(cur), "\n") != 1 || !strings.Contains(string(cur), "/after.ts") {
		t.Fatalf("rotated file %q, new file %q; want one line each, before and after", old, cur)
	}
}

// TestAccessLogConfig: access_log in the file, a bad format named at
// start-up (so -check-config catches it), and a typo suggested.
func TestAccessLogConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) string {
		f := filepath.Join(dir, "edge.yaml")
		os.WriteFile(f, []byte("routes:\n  - prefix: /\n    origin: http://o.example/\n"+body), 0o644)
		return f
	}
	cfg, _, err := loadConfig([]string{"-config", write("access_log:\n  path: /tmp/a.log\n  format: combined\n  buffer: 16\n")}, nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if a := cfg.AccessLog; a.Path != "/tmp/a.log" || a.Format != "combined" || a.Buffer != 16 {
		t.Fatalf("access_log = %+v", a)
	}
	// The flag beats the file.
	cfg, _, err = loadConfig([]string{"-config", write("access_log:\n  path: /tmp/a.log\n"), "-access-log", "off"}, nil, io.Discard)
	if err != nil || cfg.AccessLog.Path != "off" || cfg.AccessLog.Format != "edgecache" {
		t.Fatalf("-access-log off over the file: %+v, %v", cfg.AccessLog, err)
	}
	for body, want := range map[string]string{
		"access_log:\n  format: '$remote_addr $nosuch'\n": "$nosuch",
		"access_log:\n  format: common\n":                 "not a built-in name",
		"access_log:\n  buffer: -1\n":                     "negative",
		"access_log:\n  fromat: json\n":                   `did you mean "format"`,
	} {
		_, _, err := loadConfig([]string{"-check-config", write(body)}, nil, io.Discard)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one containing %q", body, err, want)
		}
	}
}

// TestAccessLogReloadNeedsRestart: a reload that changes access_log says
// the running value stays until a restart.
func TestAccessLogReloadNeedsRestart(t *testing.T) {
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "x") }))
	defer o.Close()
	file := filepath.Join(t.TempDir(), "edge.yaml")
	base := fmt.Sprintf("routes:\n  - prefix: /\n    origin: %s\n", o.URL)
	os.WriteFile(file, []byte(base), 0o644)
	p := start(t, nil, "-config", file)
	os.WriteFile(file+".new", []byte(base+"access_log:\n  format: json\n"), 0o644)
	if err := os.Rename(file+".new", file); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(liveness); !strings.Contains(p.out.String(), "access_log"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no restart-needed warning naming access_log in %v:\n%s", liveness, p.out.String())
		}
	}
	if !regexp.MustCompile(`until a restart.*access_log`).MatchString(p.out.String()) {
		t.Fatalf("access_log not among the restart-needed settings:\n%s", p.out.String())
	}
}

// BenchmarkHotPlaylistAccessLog measures what the access log costs on the
// hottest load an edge sees: many viewers reloading one cached playlist.
// The edge binary serves it from the cache with the access log off, to a
// file, and to stdout (a pipe the test reads); each sub-benchmark reports
// requests per second and the edge's CPU time per request:
//
//	go test ./cmd/edgecache -run '^$' -bench HotPlaylist -benchtime 20000x -count 3
func BenchmarkHotPlaylistAccessLog(b *testing.B) {
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
		var s strings.Builder
		s.WriteString("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:100\n")
		for i := range 6 {
			fmt.Fprintf(&s, "#EXTINF:2.000,\nseg%d.ts\n", 100+i)
		}
		io.WriteString(w, s.String())
	}))
	defer o.Close()
	const clients = 16
	for _, mode := range []string{"off", "file", "stdout"} {
		b.Run(mode, func(b *testing.B) {
			path := mode
			if mode == "file" {
				path = filepath.Join(b.TempDir(), "access.log")
			}
			// A class TTL keeps the playlist a hit for the whole run.
			cfgFile := filepath.Join(b.TempDir(), "edge.yaml")
			os.WriteFile(cfgFile, []byte(fmt.Sprintf("routes:\n  - prefix: /\n    origin: %s\nclasses:\n  manifest:\n    ttl: 1h\n    override: true\n", o.URL)), 0o644)
			p := start(b, nil, "-config", cfgFile, "-access-log", path, "-log-level", "warn")
			tr := &http.Transport{MaxIdleConnsPerHost: clients}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr}
			url := "http://" + p.addr + "/live/index.m3u8"
			get := func() error {
				resp, err := c.Get(url)
				if err != nil {
					return err
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					return fmt.Errorf("status %d", resp.StatusCode)
				}
				return nil
			}
			if err := get(); err != nil { // fill the cache
				b.Fatal(err)
			}
			cpu0, _ := p.sumMetric(b, "process_cpu_seconds_total", "")
			work := make(chan struct{}, clients)
			errc := make(chan error, clients)
			b.ResetTimer()
			begin := time.Now()
			for range clients {
				go func() {
					var err error
					for range work {
						if err == nil {
							err = get()
						}
					}
					errc <- err
				}()
			}
			for range b.N {
				work <- struct{}{}
			}
			close(work)
			for range clients {
				if err := <-errc; err != nil {
					b.Fatal(err)
				}
			}
			elapsed := time.Since(begin)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
			// The edge's own CPU per request: less at the mercy of other
			// load on the machine than the rate is.
			cpu1, _ := p.sumMetric(b, "process_cpu_seconds_total", "")
			b.ReportMetric((cpu1-cpu0)/float64(b.N)*1e6, "edge-cpu-µs/req")
			drops, _ := p.sumMetric(b, "edgecache_access_log_dropped_total", "")
			b.ReportMetric(drops, "dropped")
		})
	}
}
