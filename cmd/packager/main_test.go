package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgecache/edgecache/origin"
)

// liveness bounds a wait for something that happens promptly unless it is
// broken: it is a failsafe, not a speed, so it is generous enough for a
// loaded CI machine.
const liveness = 30 * time.Second

// syncBuffer is a bytes.Buffer safe for the logger and the test.
type syncBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// The CLI contract: -rtmp-listen, -http-listen, -demo; it serves the demo,
// is healthy and ready, and shuts down cleanly when its context ends.
func TestRunDemo(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-rtmp-listen", "127.0.0.1:0", "-http-listen", "127.0.0.1:0", "-demo", "-shutdown-grace", "0s"}, nil, &logs, nil)
	}()
	addrRE := regexp.MustCompile(`http=(127\.0\.0\.1:\d+)`)
	var base string
	deadline := time.Now().Add(liveness)
	for base == "" {
		if m := addrRE.FindStringSubmatch(logs.String()); m != nil {
			base = "http://" + m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no listen address logged in %v:\n%s", liveness, logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	status := func(path string) int {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	deadline = time.Now().Add(liveness)
	for status("/hls/demo.m3u8") != http.StatusOK || status("/dash/demo.mpd") != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatalf("demo did not appear in %v:\n%s", liveness, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		if c := status(p); c != http.StatusOK {
			t.Errorf("%s: %d", p, c)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(liveness):
		t.Fatalf("run did not return %v after cancel", liveness)
	}
}

func TestRunBadFlags(t *testing.T) {
	var logs syncBuffer
	if err := run(context.Background(), []string{"-config", "/nonexistent.yaml"}, nil, &logs, nil); err == nil {
		t.Error("missing config file accepted")
	}
	if err := run(context.Background(), []string{"-no-such-flag"}, nil, &logs, nil); err == nil {
		t.Error("unknown flag accepted")
	}
}

func TestExampleConfigParses(t *testing.T) {
	if _, err := origin.LoadConfig("packager.example.yaml"); err != nil {
		t.Fatal(err)
	}
}

// freeAddr returns a loopback address nothing listens on (now).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// A start-up that fails after some listeners are open closes them all:
// the same addresses can be listened on again at once.
func TestRunClosesListenersOnError(t *testing.T) {
	httpAddr, rtmpAddr := freeAddr(t), freeAddr(t)
	cfg := filepath.Join(t.TempDir(), "packager.yaml")
	yaml := "rtmp:\n  tls:\n    listen: 127.0.0.1:0\n    cert_file: /nonexistent.crt\n    key_file: /nonexistent.key\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	err := run(context.Background(), []string{"-config", cfg, "-http-listen", httpAddr, "-rtmp-listen", rtmpAddr}, nil, &logs, nil)
	if err == nil || !strings.Contains(err.Error(), "rtmps certificate") {
		t.Fatalf("run = %v, want the rtmps certificate error", err)
	}
	for _, addr := range []string{httpAddr, rtmpAddr} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("%s still in use after run returned: %v", addr, err)
			continue
		}
		_ = ln.Close()
	}
}

// The RTSP contract: PACKAGER_RTSP_LISTEN (like -rtsp-listen) opens the
// RTSP server, which answers OPTIONS with the methods a publisher uses.
func TestRunRTSP(t *testing.T) {
	cfg, _, err := loadConfig([]string{"-rtsp-listen", "127.0.0.1:5"}, func(k string) (string, bool) {
		return "127.0.0.1:4", k == "PACKAGER_RTSP_LISTEN"
	}, io.Discard)
	if err != nil || cfg.RTSP.Listen != "127.0.0.1:5" {
		t.Fatalf("flag over env: %q, %v", cfg.RTSP.Listen, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncBuffer
	done := make(chan error, 1)
	// TCP only: the default UDP pair (8000/8001) may be taken on a shared machine.
	file := filepath.Join(t.TempDir(), "packager.yaml")
	if err := os.WriteFile(file, []byte("rtsp:\n  udp_ports: \"off\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	go func() {
		done <- run(ctx, []string{"-config", file, "-rtmp-listen", "127.0.0.1:0", "-http-listen", "127.0.0.1:0", "-shutdown-grace", "0s"},
			func(k string) (string, bool) { return "127.0.0.1:0", k == "PACKAGER_RTSP_LISTEN" }, &logs, nil)
	}()
	addrRE := regexp.MustCompile(`msg="rtsp listening" addr=(127\.0\.0\.1:\d+)`)
	var addr string
	deadline := time.Now().Add(liveness)
	for addr == "" {
		if m := addrRE.FindStringSubmatch(logs.String()); m != nil {
			addr = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no rtsp address logged in %v:\n%s", liveness, logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(liveness)) // a failsafe: the answer is at once
	if _, err := io.WriteString(c, "OPTIONS rtsp://"+addr+"/live/x RTSP/1.0\r\nCSeq: 1\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, _ := c.Read(buf)
	if resp := string(buf[:n]); !strings.HasPrefix(resp, "RTSP/1.0 200") || !strings.Contains(resp, "ANNOUNCE") || !strings.Contains(resp, "RECORD") {
		t.Fatalf("OPTIONS answered:\n%s", resp)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(liveness):
		t.Fatalf("run did not return %v after cancel", liveness)
	}
}
