package origin

import (
	"context"
	"errors"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgecache/edgecache/origin/mediatest"

	"github.com/edgecache/edgecache/origin/ingest"
)

// Close stops every goroutine the Server started: RTMP connections, the
// demo publisher and its listener, housekeeping.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	s, err := New(context.Background(), DefaultConfig(), mediatest.Logger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.ServeRTMP(context.Background(), ln) }()
	if err := s.StartDemo(context.Background(), "demo"); err != nil {
		t.Fatal(err)
	}
	if err := s.StartDemo(context.Background(), "demo"); !errors.Is(err, ErrDemoRunning) {
		t.Errorf("second demo with the same name: %v", err)
	}
	deadline := time.Now().Add(liveness)
	for st := s.Stream("demo"); st == nil || !st.IsPublishing(); st = s.Stream("demo") {
		if time.Now().After(deadline) {
			t.Fatalf("demo not publishing %v after StartDemo (liveness failsafe)", liveness)
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.Close()
	if err := <-served; err != nil {
		t.Errorf("ServeRTMP after Close: %v", err)
	}
	if err := s.StartDemo(context.Background(), "again"); !errors.Is(err, ErrServerClosed) {
		t.Errorf("StartDemo after Close: %v", err)
	}
	// Goroutines Close waited for are gone; others (the runtime's, a
	// connection's last read) may take a moment to exit, so poll, with the
	// liveness failsafe: a leaked goroutine never exits.
	deadline = time.Now().Add(liveness)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines before, %d %v after Close:\n%s", before, runtime.NumGoroutine(), liveness, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestOnePublisherPerStream(t *testing.T) {
	s := newTestServer(t, func(c *Config) { c.RTMP.MaxStreams = 1 })
	c := claims{s.streams}
	st, err := c.Claim("a")
	if err != nil {
		t.Fatal(err)
	}
	var re *RejectError
	if _, err := c.Claim("a"); !errors.As(err, &re) || re.Reason != ingest.ReasonBusy {
		t.Errorf("second publisher of a: %v", err)
	}
	if _, err := c.Claim("b"); !errors.As(err, &re) || re.Reason != ingest.ReasonLimit {
		t.Errorf("stream over max_streams: %v", err)
	}
	st.Release()
	if _, err := c.Claim("a"); err != nil {
		t.Errorf("republish after release: %v", err)
	}
}
