package proxy

import (
	"bufio"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/edgecache/edgecache/metrics/metricstest"
	"github.com/prometheus/client_golang/prometheus"
)

// TestEveryStatusAndClassCounted: the proxy's metrics have a request
// counter for every X-Cache-Status it can send and every object class,
// made up front from the owners' lists: a status missing from
// CacheStatuses fails here, loudly, rather than being counted on the
// metrics' slow path unseen by a dashboard that expects zeros.
func TestEveryStatusAndClassCounted(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Routes = []Route{{Prefix: "/", Origin: "http://127.0.0.1:1/"}}
	reg := prometheus.NewRegistry()
	p, err := New(cfg, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	have := map[[2]string]bool{}
	for _, ls := range metricstest.Labels(t, reg, "edgecache_requests_total") {
		have[[2]string{ls["cache_status"], ls["class"]}] = true
	}
	classes := ClassNames()
	for s := cacheStatus(0); s < numStatus; s++ {
		for _, c := range classes {
			if !have[[2]string{s.String(), c}] {
				t.Errorf("no request counter for %s/%s", s, c)
			}
		}
	}
	if want := int(numStatus) * len(classes); len(have) != want {
		t.Errorf("%d request counters, want %d", len(have), want)
	}
}

// TestViewerGoneGetsNoFalseAnswer: a viewer whose connection ends (here a
// half-close after its request, which net/http reads as the viewer gone)
// while its miss waits for the origin gets nothing, its connection
// closed, as nginx does (499). Before, the handler returned with nothing
// written and net/http completed the exchange as "200 OK" with an empty
// body: an empty segment, a success to any client still reading.
func TestViewerGoneGetsNoFalseAnswer(t *testing.T) {
	origin, free := newHeldOrigin(t, func(w http.ResponseWriter, release <-chan struct{}) {
		<-release
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "segment")
	})
	e := newEdge(t, origin.URL, nil)
	for _, path := range []string{"/live/1.m4s", "/live/v.m3u8", "/live/other.bin"} {
		c := rawDial(t, e.Listener.Addr().String(), "GET "+path+" HTTP/1.1\r\nHost: edge.test\r\n\r\n")
		if err := c.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(30 * time.Second)) // liveness only: the origin answers only after
		got, err := io.ReadAll(c)
		c.Close()
		if len(got) != 0 {
			t.Errorf("%s: a viewer gone before its answer got %q (err %v)", path, got, err)
		}
	}
	free()
}

// TestViewerGoneMidBodyGetsNoFalseEnd: a viewer whose connection ends
// while it is being streamed a fill of unknown length (the origin sent no
// Content-Length, so the edge sends it chunked) must not be sent the last
// chunk that says the body is whole; the connection is cut instead, as
// for a fill that breaks. A client that only half-closed reads a broken
// response, never a short one that looks complete.
func TestViewerGoneMidBodyGetsNoFalseEnd(t *testing.T) {
	origin, free := newHeldOrigin(t, func(w http.ResponseWriter, release <-chan struct{}) {
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "first part ")
		w.(http.Flusher).Flush() // chunked: no Content-Length
		<-release
		io.WriteString(w, "rest")
	})
	e := newEdge(t, origin.URL, nil)
	c := rawDial(t, e.Listener.Addr().String(), "GET /live/1.m4s HTTP/1.1\r\nHost: edge.test\r\n\r\n")
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(30 * time.Second)) // liveness only
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, len("first part "))
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatalf("first bytes: %v", err)
	}
	// The viewer half-closes: Go's server reads it as gone.
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Fatalf("the body ended as whole after %q + %q: a short response that looks complete", first, rest)
	}
	free()
}

// newHeldOrigin is an origin whose handler gets a channel that free
// closes; free is also a cleanup, run before the origin's Close (which
// waits for its handlers).
func newHeldOrigin(t *testing.T, fn func(w http.ResponseWriter, release <-chan struct{})) (*recOrigin, func()) {
	release := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	origin := newRecOrigin(t, func(w http.ResponseWriter, _ *http.Request) { fn(w, release) })
	t.Cleanup(free)
	return origin, free
}
