package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "edge.yaml")
	os.WriteFile(file, []byte("listen: 127.0.0.1:1001\nadmin_listen: 127.0.0.1:2001\nshutdown_grace: 7s\nlog_level: warn\nroutes:\n  - prefix: /\n    origin: http://file.example/\n"), 0o644)
	cases := []struct {
		name string
		args []string
		env  map[string]string
		// want
		listen, admin, origin string
		grace                 time.Duration
		level                 string
	}{
		{"file alone", []string{"-config", file}, nil,
			"127.0.0.1:1001", "127.0.0.1:2001", "http://file.example/", 7 * time.Second, "warn"},
		{"env beats file", []string{"-config", file}, map[string]string{"EDGECACHE_LISTEN": "127.0.0.1:1002", "EDGECACHE_ORIGIN": "http://env.example/", "EDGECACHE_SHUTDOWN_GRACE": "2s"},
			"127.0.0.1:1002", "127.0.0.1:2001", "http://env.example/", 2 * time.Second, "warn"},
		{"flag beats env", []string{"-config", file, "-listen", "127.0.0.1:1003", "-log-level", "debug"}, map[string]string{"EDGECACHE_LISTEN": "127.0.0.1:1002", "EDGECACHE_LOG_LEVEL": "error"},
			"127.0.0.1:1003", "127.0.0.1:2001", "http://file.example/", 7 * time.Second, "debug"},
		{"config path from env", nil, map[string]string{"EDGECACHE_CONFIG": file, "EDGECACHE_ADMIN_LISTEN": "127.0.0.1:2002"},
			"127.0.0.1:1001", "127.0.0.1:2002", "http://file.example/", 7 * time.Second, "warn"},
		{"env alone", nil, map[string]string{"EDGECACHE_ORIGIN": "http://env.example/"},
			":8081", ":9091", "http://env.example/", 5 * time.Second, "info"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			getenv := func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
			cfg, _, err := loadConfig(tc.args, getenv, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			got := []any{cfg.Listen, cfg.AdminListen, cfg.Proxy.Routes[0].Origin, cfg.ShutdownGrace, cfg.LogLevel}
			want := []any{tc.listen, tc.admin, tc.origin, tc.grace, tc.level}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("got %v, want %v", got, want)
			}
		})
	}
	// A bad environment value is an error that names the variable.
	_, _, err := loadConfig(nil, func(k string) (string, bool) {
		if k == "EDGECACHE_SHUTDOWN_GRACE" {
			return "soon", true
		}
		return "", false
	}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "EDGECACHE_SHUTDOWN_GRACE") {
		t.Fatalf("bad env value: %v", err)
	}
	// Durations in flags and variables read nginx's units, as the file does.
	cfg, _, err := loadConfig([]string{"-origin", "http://o/", "-shutdown-timeout", "1h 30m"}, func(k string) (string, bool) {
		if k == "EDGECACHE_SHUTDOWN_GRACE" {
			return "1d", true
		}
		return "", false
	}, io.Discard)
	if err != nil || cfg.ShutdownGrace != 24*time.Hour || cfg.ShutdownTimeout != 90*time.Minute {
		t.Fatalf("nginx units in flags: %v, grace %v, timeout %v", err, cfg.ShutdownGrace, cfg.ShutdownTimeout)
	}
}

// configMapDir lays a config out as a Kubernetes ConfigMap volume does:
// dir/edge.yaml -> ..data/edge.yaml, ..data -> ..<version>. update swaps
// the ..data symlink atomically, as the kubelet does.
type configMapDir struct {
	dir string
	n   int
}

func (c *configMapDir) path() string { return filepath.Join(c.dir, "edge.yaml") }

func (c *configMapDir) update(t *testing.T, content string) {
	t.Helper()
	c.n++
	ver := fmt.Sprintf("..v%d", c.n)
	os.Mkdir(filepath.Join(c.dir, ver), 0o755)
	if err := os.WriteFile(filepath.Join(c.dir, ver, "edge.yaml"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(c.dir, "..data_tmp")
	os.Remove(tmp)
	if err := os.Symlink(ver, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(c.dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if c.n == 1 {
		if err := os.Symlink(filepath.Join("..data", "edge.yaml"), c.path()); err != nil {
			t.Fatal(err)
		}
	} else {
		os.RemoveAll(filepath.Join(c.dir, fmt.Sprintf("..v%d", c.n-1)))
	}
}

func edgeConfig(origin, segmentTTL string) string {
	// stale_if_error keeps an expired entry in the cache, so its expiry
	// shows as EXPIRED rather than as an eviction.
	return fmt.Sprintf("routes:\n  - prefix: /\n    origin: %s\nclasses:\n  segment:\n    ttl: %s\n    stale_if_error: 1m\n", origin, segmentTTL)
}

// TestReloadUnderLoad: the ConfigMap behind the config file changes while
// clients keep fetching; not one request fails, the new TTL applies to
// what is cached next, and a broken update is rejected with the running
// config kept.
func TestReloadUnderLoad(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "video/mp4")
		io.WriteString(w, "segment "+r.URL.Path) // no Cache-Control: the class TTL decides
	}))
	defer origin.Close()
	cm := &configMapDir{dir: t.TempDir()}
	cm.update(t, edgeConfig(origin.URL, "1h"))
	p := start(t, nil, "-config", cm.path())

	// Load: 8 clients, bounded in count and time, for the whole test.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var (
		wg       sync.WaitGroup
		ok, bad  atomic.Int64
		firstErr atomic.Value
	)
	for c := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100000 && ctx.Err() == nil; i++ {
				req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("http://%s/load/%d-%d.m4s", p.addr, c, i%50), nil)
				resp, err := http.DefaultClient.Do(req)
				if ctx.Err() != nil {
					return
				}
				if err != nil {
					bad.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || !strings.HasPrefix(string(b), "segment /load/") {
					bad.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%d %q", resp.StatusCode, b))
					continue
				}
				ok.Add(1)
			}
		}()
	}

	status := func(path string) string {
		t.Helper()
		resp, err := http.Get("http://" + p.addr + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.Header.Get("X-Cache-Status")
	}
	// Before: a 1 h TTL keeps an object fresh.
	status("/a.m4s")
	time.Sleep(1100 * time.Millisecond)
	if s := status("/a.m4s"); s != "HIT" {
		t.Fatalf("before reload: %s, want HIT", s)
	}
	waitReloads := func(result string, n float64) {
		t.Helper()
		deadline := time.Now().Add(liveness)
		for p.metricOr(t, `edgecache_config_reloads_total{result="`+result+`"}`, 0) < n {
			if time.Now().After(deadline) {
				t.Fatalf("no %s reload seen in %v:\n%s", result, liveness, p.out.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// The ConfigMap changes: segments now live 1 s.
	cm.update(t, edgeConfig(origin.URL, "1s"))
	waitReloads("ok", 1)
	status("/b.m4s")
	time.Sleep(1100 * time.Millisecond)
	if s := status("/b.m4s"); s != "EXPIRED" {
		t.Fatalf("after reload: %s, want EXPIRED under the new 1s TTL", s)
	}
	// A broken update (unknown field) is rejected; the 1 s TTL stays.
	cm.update(t, edgeConfig(origin.URL, "1h")+"cache:\n  max_bytez: 1\n")
	waitReloads("rejected", 1)
	status("/c.m4s")
	time.Sleep(1100 * time.Millisecond)
	if s := status("/c.m4s"); s != "EXPIRED" {
		t.Fatalf("after a rejected reload: %s, want EXPIRED (old config kept)", s)
	}
	if !strings.Contains(p.out.String(), "config reload rejected") || !strings.Contains(p.out.String(), "max_bytez") {
		t.Fatalf("rejection not logged with its reason:\n%s", p.out.String())
	}
	cancel()
	wg.Wait()
	t.Logf("requests during reloads: %d ok, %d failed", ok.Load(), bad.Load())
	if bad.Load() > 0 {
		t.Fatalf("%d requests failed during reloads; first: %v", bad.Load(), firstErr.Load())
	}
	if ok.Load() == 0 {
		t.Fatal("the load made no requests")
	}
}

// TestReloadOnSIGHUP: SIGHUP re-reads the file even when no watch fired.
func TestReloadOnSIGHUP(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "x") }))
	defer origin.Close()
	file := filepath.Join(t.TempDir(), "edge.yaml")
	os.WriteFile(file, []byte(edgeConfig(origin.URL, "1h")), 0o644)
	p := start(t, nil, "-config", file)
	for i := 1; i <= 2; i++ {
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(liveness)
		for p.metricOr(t, `edgecache_config_reloads_total{result="ok"}`, 0) < float64(i) {
			if time.Now().After(deadline) {
				t.Fatalf("SIGHUP %d did not reload in %v:\n%s", i, liveness, p.out.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if resp, err := http.Get("http://" + p.addr + "/x.m4s"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("edge after SIGHUP: %v %v", err, resp)
	}
}
