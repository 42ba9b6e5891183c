package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// started is a packager run in this process.
type started struct {
	base   string
	logs   *syncBuffer
	cancel context.CancelFunc
	done   chan error
	hup    chan os.Signal
}

func startPackager(t *testing.T, args []string, env map[string]string) *started {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &started{logs: &syncBuffer{}, cancel: cancel, done: make(chan error, 1), hup: make(chan os.Signal, 1)}
	getenv := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	go func() { p.done <- run(ctx, args, getenv, p.logs, p.hup) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-p.done:
		case <-time.After(liveness):
			t.Error("packager did not stop")
		}
	})
	addrRE := regexp.MustCompile(`http=(127\.0\.0\.1:\d+)`)
	deadline := time.Now().Add(liveness)
	for p.base == "" {
		if m := addrRE.FindStringSubmatch(p.logs.String()); m != nil {
			p.base = "http://" + m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no listen address logged in %v:\n%s", liveness, p.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return p
}

func (p *started) status(t *testing.T, path string) int {
	t.Helper()
	resp, err := http.Get(p.base + path)
	if err != nil {
		return -1
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func (p *started) metric(t *testing.T, name string) float64 {
	t.Helper()
	resp, err := http.Get(p.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == name {
			v, _ := strconv.ParseFloat(f[1], 64)
			return v
		}
	}
	return 0
}

// TestEnvironment: PACKAGER_ variables stand in for flags; a flag wins.
func TestEnvironment(t *testing.T) {
	cfg, o, err := loadConfig([]string{"-http-listen", "127.0.0.1:1"}, func(k string) (string, bool) {
		v, ok := map[string]string{
			"PACKAGER_HTTP_LISTEN": "127.0.0.1:2", "PACKAGER_RTMP_LISTEN": "127.0.0.1:3",
			"PACKAGER_DEMO": "true", "PACKAGER_SHUTDOWN_GRACE": "9s",
		}[k]
		return v, ok
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTP.Listen != "127.0.0.1:1" || cfg.RTMP.Listen != "127.0.0.1:3" || !o.demo || o.grace != 9*time.Second {
		t.Fatalf("http %s rtmp %s demo %v grace %v", cfg.HTTP.Listen, cfg.RTMP.Listen, o.demo, o.grace)
	}
	if _, _, err := loadConfig(nil, func(k string) (string, bool) { return "maybe", k == "PACKAGER_DEMO" }, io.Discard); err == nil || !strings.Contains(err.Error(), "PACKAGER_DEMO") {
		t.Fatalf("bad env value: %v", err)
	}
}

// TestDrain: on the stop signal /readyz fails at once while content is
// still served through the grace; then the packager stops and run returns
// nil.
func TestDrain(t *testing.T) {
	// The grace is long enough that the checks made during it (a few
	// local requests) fall inside it on a busy machine; what is asserted
	// is the order of events, and that the stop comes no earlier than the
	// grace.
	const grace = 5 * time.Second
	p := startPackager(t, []string{"-rtmp-listen", "127.0.0.1:0", "-http-listen", "127.0.0.1:0", "-demo"},
		map[string]string{"PACKAGER_SHUTDOWN_GRACE": grace.String()})
	deadline := time.Now().Add(liveness)
	for p.status(t, "/hls/demo.m3u8") != 200 || p.status(t, "/readyz") != 200 {
		if time.Now().After(deadline) {
			t.Fatalf("demo not ready in %v:\n%s", liveness, p.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	stopped := time.Now()
	p.cancel()
	// Readiness fails while the packager still serves: a server that
	// stops (or a failsafe that runs out) before /readyz says 503 fails.
	for {
		c := p.status(t, "/readyz")
		if c == http.StatusServiceUnavailable {
			break
		}
		if c == -1 {
			t.Fatalf("the packager stopped serving %v after the stop signal, before /readyz failed", time.Since(stopped))
		}
		if time.Since(stopped) > liveness {
			t.Fatalf("/readyz still %d %v after the stop signal, want 503", c, liveness)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if c := p.status(t, "/hls/demo.m3u8"); c != 200 {
		t.Fatalf("playlist %d during the grace (%v after the stop signal), want 200", c, time.Since(stopped))
	}
	select {
	case err := <-p.done:
		p.done <- err // for the cleanup
		if err != nil {
			t.Fatalf("run: %v", err)
		}
		// Load only delays the stop: a stop before the grace is a bug.
		if d := time.Since(stopped); d < grace {
			t.Fatalf("stopped after %v, before the %v grace", d, grace)
		}
	case <-time.After(grace + liveness):
		t.Fatalf("no exit %v after the stop signal, past the %v grace", grace+liveness, grace)
	}
	if c := p.status(t, "/healthz"); c != -1 {
		t.Fatalf("still accepting after the drain: %d", c)
	}
}

// TestReload: SIGHUP and file changes reload auth; a change that needs a
// restart is rejected and the running config kept.
func TestReload(t *testing.T) {
	file := filepath.Join(t.TempDir(), "packager.yaml")
	os.WriteFile(file, []byte("auth:\n  streams:\n    - name: cam1\n"), 0o644)
	p := startPackager(t, []string{"-rtmp-listen", "127.0.0.1:0", "-http-listen", "127.0.0.1:0", "-config", file, "-shutdown-grace", "0s"}, nil)
	waitMetric := func(name string, want float64) {
		t.Helper()
		deadline := time.Now().Add(liveness)
		for p.metric(t, name) < want {
			if time.Now().After(deadline) {
				t.Fatalf("%s did not reach %v in %v:\n%s", name, want, liveness, p.logs.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	p.hup <- syscall.SIGHUP
	waitMetric(`packager_config_reloads_total{result="ok"}`, 1)
	os.WriteFile(file, []byte("auth:\n  streams:\n    - name: cam2\n"), 0o644)
	waitMetric(`packager_config_reloads_total{result="ok"}`, 2)
	os.WriteFile(file, []byte("segment:\n  target_duration: 4s\n"), 0o644)
	waitMetric(`packager_config_reloads_total{result="rejected"}`, 1)
	if !strings.Contains(p.logs.String(), "only auth can change without a restart") {
		t.Fatalf("rejection not logged:\n%s", p.logs.String())
	}
}
