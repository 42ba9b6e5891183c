package proxy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgecache/edgecache/accesslog"
	"github.com/edgecache/edgecache/auth"
	"github.com/edgecache/edgecache/auth/securelink"
	"github.com/edgecache/edgecache/metrics/metricstest"
	"github.com/prometheus/client_golang/prometheus"
)

// frontOrigin serves what the front tests ask for: a playlist, a segment
// with validators, a body with no Content-Type, and anything else as a
// small body naming its path (uncached unless the path says so).
func frontOrigin(t *testing.T) *httptest.Server {
	t.Helper()
	seg := strings.Repeat("0123456789", 30000) // 300 kB: a writev, not a copy
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/live.m3u8":
			w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
			w.Header().Set("Cache-Control", "max-age=60")
			// Ended (VOD), so its lifetime is the origin's minute, not
			// one derived from a live target duration.
			io.WriteString(w, "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:1\n#EXTINF:2.0,\nseg/1.m4s\n#EXT-X-ENDLIST\n")
		case "/seg/1.m4s":
			w.Header().Set("Content-Type", "video/iso.segment")
			w.Header().Set("Cache-Control", "max-age=600")
			w.Header().Set("ETag", `"s1"`)
			w.Header().Set("Last-Modified", "Sat, 05 Dec 2026 10:00:00 GMT")
			io.WriteString(w, seg)
		case "/hls/live.m3u8":
			w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
			w.Header().Set("Cache-Control", "max-age=60")
			io.WriteString(w, "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:1\n#EXTINF:2.0,\nseg1.m4s\n#EXT-X-ENDLIST\n")
		case "/hls/seg1.m4s":
			w.Header().Set("Content-Type", "video/iso.segment")
			w.Header().Set("Cache-Control", "max-age=600")
			io.WriteString(w, "segment one")
		case "/untyped":
			w.Header().Set("Cache-Control", "max-age=60")
			w.Header()["Content-Type"] = nil
			io.WriteString(w, "<html><body>no type</body></html>")
		default:
			w.Header().Set("Cache-Control", "no-store")
			io.WriteString(w, "origin:"+r.URL.Path)
		}
	}))
	t.Cleanup(o.Close)
	return o
}

// TestFrontMatchesNetHTTP sends the same requests to one proxy through the
// front and through a plain net/http server, and checks that the
// responses are the same but for Date and the clock's own seconds.
func TestFrontMatchesNetHTTP(t *testing.T) {
	checkGoroutines(t)
	origin := frontOrigin(t)
	cfg := DefaultConfig()
	const md5 = "$secure_link_expires$uri$remote_addr $secure_link_secret"
	cfg.Routes = []Route{
		{Prefix: "/", Origin: origin.URL, CORS: CORSConfig{AllowOrigins: []string{"https://player.example"}}},
		{Prefix: "/hls/", Origin: origin.URL + "/hls/",
			Auth: &auth.Config{Scheme: "secure_link", SecureLink: &auth.SecureLinkConfig{MD5: md5, SecretEnv: "SLSECRET"}}},
	}
	cfg.ServerName = "edge-test"
	reg := prometheus.NewRegistry()
	p, err := New(cfg, testLogger(t), reg, WithAuthDeps(testAuthDeps))
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewUnstartedServer(p)
	front.Config = p.Server(nil)
	front.Listener = p.Listener(front.Listener)
	front.Start()
	plain := httptest.NewUnstartedServer(p)
	plain.Config = p.Server(nil) // net/http reads every request
	plain.Start()
	t.Cleanup(func() {
		front.Close()
		plain.Close()
		p.Close()
	})
	link, err := securelink.Compile(securelink.Config{MD5: md5, Secret: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	sign := func(path string, exp time.Time) string {
		q, err := link.Sign(securelink.SignRequest{Path: path, Expires: exp.Unix(), ClientIP: netip.MustParseAddr("127.0.0.1")})
		if err != nil {
			t.Fatal(err)
		}
		return path + "?" + q
	}
	hour := time.Now().Add(time.Hour)
	signedList, signedSeg := sign("/hls/live.m3u8", hour), sign("/hls/seg1.m4s", hour)
	for _, path := range []string{"/live.m3u8", "/seg/1.m4s", "/untyped", signedList, signedSeg} {
		for range 2 {
			resp, err := http.Get(plain.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	quiesceCache(t, p.Cache()) // every warmed entry stored: no request joins a fill
	for _, tc := range []struct{ name, req string }{
		{"playlist hit", "GET /live.m3u8 HTTP/1.1\r\nHost: h\r\n\r\n"},
		{"playlist gzip", "GET /live.m3u8 HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip\r\n\r\n"},
		{"playlist HEAD", "HEAD /live.m3u8 HTTP/1.1\r\nHost: h\r\n\r\n"},
		{"playlist CORS", "GET /live.m3u8 HTTP/1.1\r\nHost: h\r\nOrigin: https://player.example\r\n\r\n"},
		{"playlist CMCD", "GET /live.m3u8?CMCD=sid%3D%22abc%22%2Cbs HTTP/1.1\r\nHost: h\r\n\r\n"},
		{"segment hit", "GET /seg/1.m4s HTTP/1.1\r\nHost: h\r\n\r\n"},
		{"segment HEAD", "HEAD /seg/1.m4s HTTP/1.1\r\nHost: h\r\n\r\n"},
		{"segment range", "GET /seg/1.m4s HTTP/1.1\r\nHost: h\r\nRange: bytes=10-99\r\n\r\n"},
		{"segment ranges", "GET /seg/1.m4s HTTP/1.1\r\nHost: h\r\nRange: bytes=0-1,5-9\r\n\r\n"},
		{"segment bad range", "GET /seg/1.m4s HTTP/1.1\r\nHost: h\r\nRange: bytes=999999-\r\n\r\n"},
		{"segment If-None-Match", "GET /seg/1.m4s HTTP/1.1\r\nHost: h\r\nIf-None-Match: \"s1\"\r\n\r\n"},
		{"segment If-Modified-Since", "GET /seg/1.m4s HTTP/1.1\r\nHost: h\r\nIf-Modified-Since: Sat, 05 Dec 2026 10:00:00 GMT\r\n\r\n"},
		{"no Content-Type", "GET /untyped HTTP/1.1\r\nHost: h\r\n\r\n"},
		{"Connection: close", "GET /live.m3u8 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"},
		{"miss, handed off", "GET /other HTTP/1.1\r\nHost: h\r\n\r\n"},
		{"Pragma: no-cache", "GET /live.m3u8 HTTP/1.1\r\nHost: h\r\nPragma: no-cache\r\n\r\n"},
		{"door: dot segments", "GET /a/%2e%2e/%2e%2e/etc HTTP/1.1\r\nHost: h\r\n\r\n"},
		{"door: bad escape", "GET /a%zz HTTP/1.1\r\nHost: h\r\n\r\n"},
		{"door: loop", "GET /live.m3u8 HTTP/1.1\r\nHost: h\r\nVia: 1.1 edge-test\r\n\r\n"},
		{"outside the subset", "GET /live.m3u8 HTTP/1.1\r\nHost: h\r\nX-Note: caf\xe9\r\n\r\n"},
		// Lines ended by a bare LF (RFC 9112 2.2: a recipient MAY take
		// one as a line end, and net/http does): the head is whole, to be
		// handed over, not waited on until the header timeout.
		{"bare LF line ends", "GET /live.m3u8 HTTP/1.1\nHost: h\n\n"},
		{"bare LF ends the head", "GET /live.m3u8 HTTP/1.1\r\nHost: h\r\n\n"},
		{"token route: playlist hit, link carried in", "GET " + signedList + " HTTP/1.1\r\nHost: h\r\n\r\n"},
		{"token route: segment hit", "GET " + signedSeg + " HTTP/1.1\r\nHost: h\r\n\r\n"},
		{"token route: bad hash", "GET /hls/seg1.m4s?md5=AAAAAAAAAAAAAAAAAAAAAA&expires=4102444800 HTTP/1.1\r\nHost: h\r\n\r\n"},
		{"token route: expired", "GET " + sign("/hls/seg1.m4s", time.Now().Add(-time.Minute)) + " HTTP/1.1\r\nHost: h\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := frontExchange(t, front.Listener.Addr().String(), tc.req)
			want := frontExchange(t, plain.Listener.Addr().String(), tc.req)
			if got != want {
				t.Errorf("through the front:\n%s\nthrough net/http:\n%s", got, want)
			}
		})
	}
	// The front answered all but these itself, token routes included:
	// the miss, and the four heads net/http must judge (obs-text, a
	// target url.ParseRequestURI refuses, and the two with bare LFs).
	for reason, want := range map[string]float64{"wait": 1, "head": 4} {
		got, _ := metricstest.Value(t, reg, "edgecache_front_handoffs_total", map[string]string{"reason": reason})
		if got != want {
			t.Errorf("edgecache_front_handoffs_total{reason=%q} = %v, want %v", reason, got, want)
		}
	}
}

// clockFields are the values in a response that follow the clock: Date,
// and the whole seconds of Age and of Cache-Status's ttl, which may tick
// between two requests.
var clockFields = regexp.MustCompile(`(?m)(^Date: )[^\r]*|(^Age: )\d+|(ttl=)-?\d+`)

var multipartBoundary = regexp.MustCompile(`boundary=([0-9a-f]+)`)

// frontExchange sends req on a new connection to addr and returns the
// response as sent, with clockFields blanked, and whether the connection
// was closed after it.
func frontExchange(t *testing.T, addr, req string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	tee := &strings.Builder{}
	br := bufio.NewReader(io.TeeReader(c, tee))
	method, _, _ := strings.Cut(req, " ")
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%v after %q", err, tee.String())
	}
	bodyErr := ""
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		bodyErr = "\n[body: " + err.Error() + "]" // a short body: part of the answer
	}
	resp.Body.Close()
	// The response's bytes end where its body does; a closed connection
	// shows as EOF on the next read.
	raw := tee.String()[:len(tee.String())-br.Buffered()]
	// A response that ends its connection is waited for until it does;
	// one that keeps it is given a moment to show a close it must not
	// make (a late close then reads as kept: never a false difference
	// on a busy machine).
	wait := 50 * time.Millisecond
	if resp.Close || bodyErr != "" {
		wait = 10 * time.Second
	}
	closed := "kept alive"
	c.SetReadDeadline(time.Now().Add(wait))
	if _, err := br.Peek(1); err == io.EOF {
		closed = "closed"
	}
	// The header block's order is net/http's (sorted), so it compares
	// byte for byte.
	if m := multipartBoundary.FindStringSubmatch(raw); m != nil {
		raw = strings.ReplaceAll(raw, m[1], "<boundary>") // random per response
	}
	return clockFields.ReplaceAllString(raw, "$1$2$3<clock>") + bodyErr + "\n[" + closed + "]"
}

// TestFrontHandOff checks one keep-alive connection carrying requests the
// front serves and requests it hands to net/http, one at a time and
// pipelined: every answer in order, the connection kept, and exactly the
// misses handed over.
func TestFrontHandOff(t *testing.T) {
	checkGoroutines(t)
	origin := frontOrigin(t)
	var handed atomic.Int64
	e := newEdgeServer(t, origin.URL, nil, func(s *http.Server) {
		next := s.ConnState
		s.ConnState = func(c net.Conn, st http.ConnState) {
			if _, ok := c.(*handedConn); ok && st == http.StateNew {
				handed.Add(1)
			}
			next(c, st)
		}
	})
	warm, err := http.Get(e.URL + "/live.m3u8")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, warm.Body)
	warm.Body.Close()
	e.quiesce(t) // stored: the next request is a hit, not a join of the fill
	handed.Store(0)

	c, err := net.Dial("tcp", e.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	get := func(path string) string { return "GET " + path + " HTTP/1.1\r\nHost: h\r\n\r\n" }
	read := func(path, wantStatus string) {
		t.Helper()
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if st := resp.Header.Get("X-Cache-Status"); st != wantStatus {
			t.Errorf("%s: X-Cache-Status %q, want %q", path, st, wantStatus)
		}
		if path != "/live.m3u8" && string(b) != "origin:"+path {
			t.Errorf("%s: body %q: another request's answer", path, b)
		}
		if resp.Close {
			t.Fatalf("%s: the connection was closed", path)
		}
	}
	// One at a time: front, net/http, front, net/http, front.
	for i, path := range []string{"/live.m3u8", "/a", "/live.m3u8", "/b", "/live.m3u8"} {
		io.WriteString(c, get(path))
		st := "HIT"
		if i%2 == 1 {
			st = "MISS"
		}
		read(path, st)
	}
	if n := handed.Load(); n != 2 {
		t.Errorf("%d requests handed to net/http, want the 2 misses", n)
	}
	// Pipelined in one write: the front must leave the requests behind a
	// handed one for itself, and answer all in order.
	handed.Store(0)
	io.WriteString(c, get("/c")+get("/live.m3u8")+get("/d")+get("/e")+get("/live.m3u8"))
	for _, r := range []struct{ path, st string }{{"/c", "MISS"}, {"/live.m3u8", "HIT"}, {"/d", "MISS"}, {"/e", "MISS"}, {"/live.m3u8", "HIT"}} {
		read(r.path, r.st)
	}
	if n := handed.Load(); n != 3 {
		t.Errorf("%d pipelined requests handed to net/http, want the 3 misses", n)
	}
	if got, _ := metricstest.Value(t, e.reg, "edgecache_front_handoffs_total", map[string]string{"reason": "wait"}); got != 6 {
		t.Errorf("edgecache_front_handoffs_total{reason=wait} = %v, want the 6 misses, the warming one too", got)
	}
}

// TestFrontHandedClientGone checks that a request the front handed over
// still learns that its client left: its handler ends at once with
// nginx's 499, while the origin is still silent (without the watch, it
// would wait for the first-byte timeout, a minute here).
func TestFrontHandedClientGone(t *testing.T) {
	checkGoroutines(t)
	arrived, release := make(chan struct{}), make(chan struct{})
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer origin.Close()
	defer close(release)
	logged := make(chan accesslog.Record, 4)
	e := newEdgeFull(t, origin.URL, func(c *Config) { c.Origin.FirstByteTimeout = time.Minute }, nil,
		WithAccessLog(func(r accesslog.Record) { logged <- r }))
	c, err := net.Dial("tcp", e.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET /held.m4s HTTP/1.1\r\nHost: h\r\n\r\n")
	<-arrived
	c.Close()
	select {
	case r := <-logged:
		if r.Status != 499 || r.Path != "/held.m4s" {
			t.Errorf("logged %d for %s, want 499 for /held.m4s", r.Status, r.Path)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the handler did not learn that its client left")
	}
}

// TestFrontConnectionClose checks Connection: close on both paths: the
// response says it, and the connection ends after it.
func TestFrontConnectionClose(t *testing.T) {
	checkGoroutines(t)
	origin := frontOrigin(t)
	e := newEdge(t, origin.URL, nil)
	for _, path := range []string{"/live.m3u8", "/live.m3u8", "/other"} { // miss, hit (front), miss (handed)
		got := frontExchange(t, e.Listener.Addr().String(), "GET "+path+" HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
		if !strings.Contains(got, "\r\nConnection: close\r\n") || !strings.HasSuffix(got, "[closed]") {
			t.Errorf("%s: want Connection: close and the connection closed:\n%s", path, got)
		}
	}
}

// TestFrontDrain checks the listener's part in a drain: Shutdown lets a
// handed request in flight finish and ends the front's idle connections,
// and Wait returns once they are gone.
func TestFrontDrain(t *testing.T) {
	checkGoroutines(t)
	arrived, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			once.Do(func() { close(arrived) })
			<-release
		}
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "body:"+r.URL.Path)
	}))
	defer origin.Close()
	cfg := DefaultConfig()
	cfg.Routes = []Route{{Prefix: "/", Origin: origin.URL}}
	p, err := New(cfg, testLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	srv := p.Server(nil)
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := p.Listener(raw)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	addr := raw.Addr().String()

	// An idle connection the front holds, after a hit it served.
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	ibr := bufio.NewReader(idle)
	for range 2 {
		io.WriteString(idle, "GET /fast HTTP/1.1\r\nHost: h\r\n\r\n")
		resp, err := http.ReadResponse(ibr, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	// A request net/http is serving, waiting on its origin.
	busy, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	io.WriteString(busy, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n")
	<-arrived

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(ctx) }()
	// The idle connection ends without an answer to anything.
	idle.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := ibr.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: %v, want EOF", err)
	}
	close(release)
	resp, err := http.ReadResponse(bufio.NewReader(busy), nil)
	if err != nil {
		t.Fatalf("the request in flight: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "body:/slow" {
		t.Errorf("the request in flight got %q", b)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := ln.Wait(ctx); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if err := <-served; err != http.ErrServerClosed {
		t.Fatalf("Serve: %v", err)
	}
}

// BenchmarkFront serves a playlist hit, and a miss of an object the
// origin marks no-store, over one loopback keep-alive connection, through
// the front and through net/http alone: the hit is the front's own path,
// the miss what a hand-off to net/http costs on top of a miss.
func BenchmarkFront(b *testing.B) {
	for _, path := range []string{"/live.m3u8", "/nostore", "/seg.m4s"} {
		for _, front := range []bool{true, false} {
			name := map[string]string{"/live.m3u8": "hit", "/nostore": "miss", "/seg.m4s": "segment"}[path]
			b.Run(name+"/front="+strconv.FormatBool(front), func(b *testing.B) {
				benchFront(b, path, front)
			})
		}
	}
}

func benchFront(b *testing.B, path string, front bool) {
	seg := bytes.Repeat([]byte("0123456789abcdef"), 1200000/16)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/nostore" {
			w.Header().Set("Cache-Control", "no-store")
		} else {
			w.Header().Set("Cache-Control", "max-age=600")
		}
		if r.URL.Path == "/seg.m4s" {
			w.Write(seg) // the compare bench's hot segment: 1.2 MB
			return
		}
		io.WriteString(w, "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nseg/1.m4s\n#EXT-X-ENDLIST\n")
	}))
	defer origin.Close()
	cfg := DefaultConfig()
	cfg.Routes = []Route{{Prefix: "/", Origin: origin.URL}}
	p, err := New(cfg, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	srv := httptest.NewUnstartedServer(p)
	srv.Config = p.Server(nil)
	if front {
		srv.Listener = p.Listener(srv.Listener)
	}
	srv.Start()
	defer srv.Close()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	req := []byte("GET " + path + " HTTP/1.1\r\nHost: h\r\nUser-Agent: bench\r\n\r\n")
	b.ReportAllocs()
	for b.Loop() {
		c.Write(req)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// TestFrontChunkedOriginHit checks a hit on a body the origin sent
// chunked: the stored entry has its length, so the hit carries its
// Content-Length and the connection stays open (without one, the front
// could only end such a body by closing the connection).
func TestFrontChunkedOriginHit(t *testing.T) {
	checkGoroutines(t)
	body := strings.Repeat("chunked ", 100<<10/8) // past what the front holds for a length
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		io.WriteString(w, body[:1000])
		w.(http.Flusher).Flush() // no Content-Length: chunked
		io.WriteString(w, body[1000:])
	}))
	defer origin.Close()
	e := newEdge(t, origin.URL, nil)
	for i, want := range []string{"MISS", "HIT"} {
		got := frontExchange(t, e.Listener.Addr().String(), "GET /seg/c.m4s HTTP/1.1\r\nHost: h\r\n\r\n")
		if !strings.Contains(got, "X-Cache-Status: "+want+"\r\n") {
			t.Fatalf("request %d: want %s:\n%.600s", i, want, got)
		}
		if want == "MISS" {
			e.quiesce(t)
		}
		if want == "HIT" && (!strings.Contains(got, "\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n") || !strings.HasSuffix(got, "[kept alive]")) {
			t.Errorf("hit: want Content-Length %d and the connection kept:\n%.600s\n...%s", len(body), got, got[len(got)-40:])
		}
	}
}

// TestFrontReusedRequestLogged: the front reads a connection's requests
// into one reused request and header map; each access log record must
// keep its own request's fields, also when the next request on the
// connection has been read before the record is written (the log writes
// from a goroutine of its own). Three pipelined hits with different
// User-Agents and paths, whose records are held until all three are
// answered.
func TestFrontReusedRequestLogged(t *testing.T) {
	checkGoroutines(t)
	origin := frontOrigin(t)
	logged := make(chan accesslog.Record, 8)
	e := newEdgeFull(t, origin.URL, nil, nil, WithAccessLog(func(r accesslog.Record) { logged <- r }))
	paths := []string{"/live.m3u8", "/seg/1.m4s", "/untyped"}
	for _, path := range paths {
		warm, err := http.Get(e.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, warm.Body)
		warm.Body.Close()
		<-logged
	}
	e.quiesce(t)
	c, err := net.Dial("tcp", e.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	agents := []string{"player-one/1.0", "player-two/2.0", "p3"}
	var reqs strings.Builder
	for i, ua := range agents {
		fmt.Fprintf(&reqs, "GET %s HTTP/1.1\r\nHost: h\r\nUser-Agent: %s\r\nX-Extra-%d: v\r\n\r\n", paths[i], ua, i)
	}
	io.WriteString(c, reqs.String())
	br := bufio.NewReader(c)
	for range agents {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if st := resp.Header.Get("X-Cache-Status"); st != "HIT" {
			t.Fatalf("X-Cache-Status %q, want HIT (the front's own)", st)
		}
	}
	for i, ua := range agents {
		r := <-logged
		if got := r.Header.Get("User-Agent"); got != ua {
			t.Errorf("record %d: User-Agent %q, want %q", i, got, ua)
		}
		if r.Header.Get(fmt.Sprintf("X-Extra-%d", i)) != "v" || len(r.Header) != 2 {
			t.Errorf("record %d: header %v, want its own User-Agent and X-Extra-%d only", i, r.Header, i)
		}
		if r.RequestURI != paths[i] || r.Path != paths[i] {
			t.Errorf("record %d: %q (path %q), want %q", i, r.RequestURI, r.Path, paths[i])
		}
	}
	if got, _ := metricstest.Value(t, e.reg, "edgecache_front_handoffs_total", map[string]string{"reason": "wait"}); got != 3 {
		t.Errorf("edgecache_front_handoffs_total{reason=wait} = %v, want 3 (the warming misses): the hits are the front's", got)
	}
}

// TestFrontLeadingEmptyLines checks RFC 9112 2.2's robustness rule: a
// server SHOULD ignore at least one empty line received before a request
// line (as nginx does, any number of them). Empty lines before a request
// the front serves, before one it hands to net/http, and between two
// pipelined requests are skipped; a bare CR is not an empty line.
func TestFrontLeadingEmptyLines(t *testing.T) {
	checkGoroutines(t)
	origin := frontOrigin(t)
	e := newEdge(t, origin.URL, nil)
	addr := e.Listener.Addr().String()
	get := func(path string) string { return "GET " + path + " HTTP/1.1\r\nHost: h\r\n\r\n" }
	frontExchange(t, addr, get("/live.m3u8")) // the miss: what follows are hits
	for _, tc := range []struct {
		name, req string
		want      []int // each response's status, in order
	}{
		{"CRLF before a hit", "\r\n" + get("/live.m3u8"), []int{200}},
		{"several, bare LFs among them", "\n\r\n\n" + get("/live.m3u8"), []int{200}},
		{"CRLF before a handed request", "\r\n" + get("/other"), []int{200}},
		{"CRLF between pipelined requests", get("/live.m3u8") + "\r\n" + get("/other") + "\r\n\r\n" + get("/live.m3u8"), []int{200, 200, 200}},
		{"bare CR", "\r" + get("/live.m3u8"), []int{400}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(30 * time.Second)) // a hang fails, not the 10 s header timeout's close
			if _, err := io.WriteString(c, tc.req); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(c)
			for i, want := range tc.want {
				resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
				if err != nil {
					t.Fatalf("response %d: %v", i+1, err)
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					t.Fatalf("response %d: body: %v", i+1, err)
				}
				if resp.StatusCode != want {
					t.Fatalf("response %d: %d %q, want %d", i+1, resp.StatusCode, body, want)
				}
			}
		})
	}
}
