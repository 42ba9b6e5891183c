package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// viewerPair returns a viewerConn on the server side of a loopback TCP
// connection, as the listener makes them, and the client side.
func viewerPair(t *testing.T) (*viewerConn, net.Conn) {
	t.Helper()
	tc, client := loopbackPair(t)
	vc, err := newViewerConn(tc, 0)
	if err != nil {
		t.Fatal(err)
	}
	return vc, client
}

// readN reads n bytes from c in the background.
func readN(c net.Conn, n int) <-chan []byte {
	got := make(chan []byte, 1)
	go func() {
		b := make([]byte, n)
		k, _ := io.ReadFull(c, b)
		got <- b[:k]
	}()
	return got
}

func TestViewerConnMerge(t *testing.T) {
	head := []byte("HTTP/1.1 200 OK\r\nContent-Length: 9000\r\n\r\n" + strings.Repeat("a", 100))
	body := bytes.Repeat([]byte("b"), 9000)

	c, client := viewerPair(t)
	want := append(append(append([]byte(nil), head...), body...), "tail"...)
	got := readN(client, len(want))
	c.merge(func() {
		if n, err := c.Write(head); n != len(head) || err != nil {
			t.Fatalf("held write = %d, %v", n, err)
		}
		if c.held == nil || !bytes.Equal(*c.held, head) {
			t.Fatal("the head went out on its own before the body")
		}
		if n, err := c.Write(body); n != len(body) || err != nil {
			t.Fatalf("body write = %d, %v; want %d, nil (the held bytes are not the caller's)", n, err, len(body))
		}
		if c.held != nil || c.merged != 1 {
			t.Fatalf("after the body: held %v, merged %d; want the head sent with the body in one write", c.held != nil, c.merged)
		}
		if n, err := c.Write([]byte("tail")); n != 4 || err != nil {
			t.Fatalf("later write = %d, %v", n, err)
		}
		if c.held != nil {
			t.Error("a write after the merged one was held")
		}
	})
	if b := <-got; !bytes.Equal(b, want) {
		t.Fatalf("sent %d bytes, want head, body, tail in order (%d)", len(b), len(want))
	}

	// A merge whose only write is small sends it when it ends.
	got = readN(client, 5)
	c.merge(func() { c.Write([]byte("short")) })
	if c.held != nil {
		t.Error("held buffer kept after merge")
	}
	if b := <-got; string(b) != "short" {
		t.Errorf("held bytes at the end of merge: sent %q", b)
	}
	// Outside merge nothing is held.
	got = readN(client, 1)
	c.Write([]byte("x"))
	if c.held != nil {
		t.Error("a write outside merge was held")
	}
	if b := <-got; string(b) != "x" {
		t.Errorf("sent %q outside merge", b)
	}

	// A failed merged write reports its error and none of the caller's
	// bytes as written.
	c, _ = viewerPair(t)
	c.merge(func() {
		c.Write(head)
		c.Conn.Close()
		if n, err := c.Write(body); n != 0 || err == nil {
			t.Errorf("failed merged write = %d, %v; want 0 and the connection's error", n, err)
		}
	})
}

func sendBuffer(t *testing.T, c *net.TCPConn) int {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	v := -1
	var serr error
	if err := rc.Control(func(fd uintptr) {
		v, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF)
	}); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatal(serr)
	}
	return v
}

// recordConns returns a server option that records each connection the
// server gets from Listener, and a function that lists them.
func recordConns() (record func(*http.Server), accepted func() []*viewerConn) {
	var mu sync.Mutex
	var conns []*viewerConn
	record = func(s *http.Server) {
		next := s.ConnContext
		s.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
			mu.Lock()
			conns = append(conns, viewerConnOf(c))
			mu.Unlock()
			return next(ctx, c)
		}
	}
	return record, func() []*viewerConn {
		mu.Lock()
		defer mu.Unlock()
		return append([]*viewerConn(nil), conns...)
	}
}

// TestLargeHitMerged checks the server wiring on a connection net/http
// serves: viewer connections get the configured send buffer, a large
// cached body goes out through the merge
// while the client is not reading it, arrives intact, and the connection
// serves the next response.
func TestLargeHitMerged(t *testing.T) {
	// Far larger than the 64 KiB send buffer, so the merged writev goes
	// out in many pieces.
	body := bytes.Repeat([]byte("0123456789abcdef"), (16<<20)/16)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Write(body)
	}))
	defer origin.Close()
	record, accepted := recordConns()
	e := newEdgeServer(t, origin.URL, func(c *Config) { c.Client.SendBuffer = 64 << 10 }, record)
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	for i, want := range []string{"MISS", "HIT", "HIT"} {
		req, _ := http.NewRequest(http.MethodGet, e.URL+"/seg/1.m4s", nil)
		// A value with obs-text (RFC 9110 5.5) is outside the front's
		// subset: the connection is net/http's, whose hits merge.
		req.Header.Set("X-Note", "caf\xe9")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if st := resp.Header.Get("X-Cache-Status"); st != want {
			t.Errorf("request %d: X-Cache-Status %q, want %q", i, st, want)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, body) {
			t.Fatalf("request %d: body of %d bytes differs from the origin's %d", i, len(got), len(body))
		}
	}
	conns := accepted()
	if len(conns) != 1 {
		t.Fatalf("%d client connections, want 1 kept alive", len(conns))
	}
	// The kernel reports twice what was set (socket(7)).
	if got := sendBuffer(t, conns[0].Conn.(*net.TCPConn)); got != 2*(64<<10) {
		t.Errorf("SO_SNDBUF = %d, want %d: client.send_buffer was not applied", got, 2*(64<<10))
	}
	c := conns[0]
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held != nil || c.merging {
		t.Error("the connection was left merging after the hits")
	}
	if c.merged != 2 {
		t.Errorf("%d responses went out head and body in one writev, want the 2 hits", c.merged)
	}
}

func TestSendBufferConfig(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want SendBuffer
		err  string
	}{
		{in: "", want: 512 << 10},
		{in: "auto", want: SendBufferAuto},
		{in: "256KiB", want: 256 << 10},
		{in: "1m", want: 1 << 20},
		{in: "4KiB", err: "outside 16KiB to 64MiB"},
		{in: "1GiB", err: "outside 16KiB to 64MiB"},
		{in: "lots", err: "bad size"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			c := DefaultConfig()
			c.Client.SendBuffer = 0
			if tc.in != "" {
				if err := c.Client.SendBuffer.UnmarshalText([]byte(tc.in)); err != nil {
					if tc.err == "" || !strings.Contains(err.Error(), tc.err) {
						t.Fatalf("UnmarshalText(%q) = %v, want %q", tc.in, err, tc.err)
					}
					return
				}
			}
			c.Routes = []Route{{Prefix: "/", Origin: "http://127.0.0.1:1/"}}
			err := c.Validate()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Validate with send_buffer %q = %v, want %q", tc.in, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Client.SendBuffer != tc.want {
				t.Errorf("send_buffer %q = %d, want %d", tc.in, c.Client.SendBuffer, tc.want)
			}
		})
	}
}

// TestSendBufferAuto checks that "auto" leaves the kernel's autotuned
// buffer alone.
func TestSendBufferAuto(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("x")) }))
	defer origin.Close()
	record, accepted := recordConns()
	e := newEdgeServer(t, origin.URL, func(c *Config) { c.Client.SendBuffer = SendBufferAuto }, record)
	// The connection must stay open until its buffer is read: the body is
	// read to its end (a client closing an unread body closes the
	// connection, and the edge then closes its side), on a client of its
	// own (other tests' cleanups close http.DefaultTransport's idle
	// connections).
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(e.URL + "/a")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	conns := accepted()
	if len(conns) != 1 {
		t.Fatalf("%d client connections, want 1", len(conns))
	}
	tc := conns[0].Conn.(*net.TCPConn)
	// A fresh socket's buffer is net.ipv4.tcp_wmem's default (16 KiB
	// here); what matters is that it is not what SetWriteBuffer would
	// have made of the 512 KiB default.
	if got := sendBuffer(t, tc); got == 2*(512<<10) {
		t.Errorf("SO_SNDBUF = %d with send_buffer auto: it was set", got)
	}
}

// BenchmarkLargeHitLoopback serves a cached 1.2 MB segment to 8
// keep-alive clients over loopback, through the server and listener
// cmd/edgecache runs. Besides ns/op it reports the process's CPU per hit
// (client and edge together, getrusage), which is what the send path
// changes.
func BenchmarkLargeHitLoopback(b *testing.B) {
	body := bytes.Repeat([]byte("0123456789abcdef"), (1200<<10)/16)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Write(body)
	}))
	defer origin.Close()
	e := newEdgeServer(b, origin.URL, nil, nil)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer client.CloseIdleConnections()
	get := func() error {
		resp, err := client.Get(e.URL + "/seg/1.m4s")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		n, err := io.Copy(io.Discard, resp.Body)
		if err == nil && n != int64(len(body)) {
			err = fmt.Errorf("%d bytes, want %d", n, len(body))
		}
		return err
	}
	if err := get(); err != nil {
		b.Fatal(err)
	}
	cpu0 := processCPU()
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := get(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// processCPU is the process's CPU time so far, user and system
// (getrusage), for benchmarks' cpu-ns/op.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestViewerConnReadFrom: net/http's response.ReadFrom uses the
// connection's ReadFrom when it has one; the wrapper must keep it (or
// net/http's would bypass the merge), send anything held before it, and
// write through its own Write (the idle bound on each wait for room).
func TestViewerConnReadFrom(t *testing.T) {
	c, client := viewerPair(t)
	var _ io.ReaderFrom = c
	got := readN(client, len("headbody"))
	c.merge(func() {
		c.Write([]byte("head"))
		if n, err := c.ReadFrom(strings.NewReader("body")); n != 4 || err != nil {
			t.Fatalf("ReadFrom = %d, %v", n, err)
		}
	})
	if b := <-got; string(b) != "headbody" {
		t.Errorf("sent %q, want the held head before the body", b)
	}
}

// client.max_conns bounds the viewer connections open at once: one past
// it is reset as it is accepted and counted, and a place freed by a
// connection that ends is taken by the next. Both paths count alike:
// the front's connections and those it hands to net/http for good.
func TestMaxConns(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "ok")
	}))
	t.Cleanup(origin.Close)
	e := newEdge(t, origin.URL, func(c *Config) { c.Client.MaxConns = 2 })
	addr := e.Listener.Addr().String()
	get := "GET /a.m4s HTTP/1.1\r\nHost: edge.test\r\n\r\n"
	// A head outside the front's subset (a field it leaves to net/http)
	// hands its connection to net/http for good.
	handed := "GET /a.m4s HTTP/1.1\r\nHost: edge.test\r\nExpect: 100-continue\r\n\r\n"
	open := func(raw string) (net.Conn, *bufio.Reader) {
		t.Helper()
		c := rawDial(t, addr, raw)
		br := bufio.NewReader(c)
		c.SetReadDeadline(time.Now().Add(30 * time.Second)) // liveness only
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			c.Close()
			t.Fatalf("a connection within the limit: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return c, br
	}
	a, _ := open(get)
	defer a.Close()
	b, _ := open(handed)
	defer b.Close()
	waitMetric(t, e.reg, "edgecache_connections", "", "", 2, "two connections open")

	// The third is reset: no answer. The reset may come before the
	// dial returns (it fails), before the request is written (the write
	// fails) or after (the read does).
	c, err := net.Dial("tcp", addr)
	switch {
	case errors.Is(err, syscall.ECONNRESET):
	case err != nil:
		t.Fatal(err)
	default:
		c.SetDeadline(time.Now().Add(30 * time.Second)) // liveness only
		if _, err := io.WriteString(c, get); err == nil {
			if n, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("a connection past client.max_conns read %d bytes, %v: want it reset", n, err)
			}
		}
		c.Close()
	}
	// Counted after the reset: wait for it, then check it is the one.
	waitMetric(t, e.reg, "edgecache_connections_refused_total", "", "", 1, "the refusal counted")
	if v := metricValue(t, e.reg, "edgecache_connections_refused_total", "", ""); v != 1 {
		t.Errorf("edgecache_connections_refused_total = %v, want 1", v)
	}

	// Each of the two frees its place when it ends.
	for i, end := range []net.Conn{a, b} {
		end.Close()
		waitMetricAtMost(t, e.reg, "edgecache_connections", 1-float64(i), "a connection's place freed")
		d, _ := open(get)
		d.Close()
		waitMetricAtMost(t, e.reg, "edgecache_connections", 1-float64(i), "the next connection's place freed")
	}
}

// waitMetricAtMost waits until the metric has fallen to at most want. The
// deadline is a liveness guard, not a timing bound.
func waitMetricAtMost(t testing.TB, reg *prometheus.Registry, name string, want float64, what string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := metricValue(t, reg, name, "", "")
		if got <= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %s is %v after 30 s, want at most %v", what, name, got, want)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestAutoConns(t *testing.T) {
	for _, tc := range []struct{ files, want int }{
		{0, 0}, {100, 1}, {1024, 768}, {4096, 3687}, {1 << 20, 943719},
	} {
		if got := autoConns(tc.files); got != tc.want {
			t.Errorf("autoConns(%d) = %d, want %d", tc.files, got, tc.want)
		}
	}
}
