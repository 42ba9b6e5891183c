package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgecache/edgecache/metrics/metricstest"
)

// The edge as a security boundary: one named case per attack, each
// asserting what the viewer got and exactly what the origin saw. The
// recording origin makes "the origin never received X" an assertion, as
// Apache Traffic Server's replay tests do.

// seen is one request as the origin received it.
type seen struct {
	method string
	target string // RequestURI
	header http.Header
	body   []byte
}

// recorder is a test origin that records every request and answers with
// its handler (nil: 200 with a small body naming the path).
type recorder struct {
	*httptest.Server
	mu      sync.Mutex // guards reqs, handler
	reqs    []seen
	handler http.HandlerFunc
}

func newRecorder(t testing.TB, h http.HandlerFunc) *recorder {
	rec := &recorder{handler: h}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, seen{r.Method, r.RequestURI, r.Header.Clone(), body})
		h := rec.handler
		rec.mu.Unlock()
		if h != nil {
			h(w, r)
			return
		}
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Content-Type", "video/mp2t")
		io.WriteString(w, "body of "+r.URL.Path)
	}))
	t.Cleanup(rec.Close)
	return rec
}

func (rec *recorder) requests() []seen {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]seen(nil), rec.reqs...)
}

// targets lists the request targets the origin received.
func (rec *recorder) targets() []string {
	var ts []string
	for _, s := range rec.requests() {
		ts = append(ts, s.target)
	}
	return ts
}

// sawTarget reports whether any request the origin received had a target
// containing sub.
func (rec *recorder) sawTarget(sub string) bool {
	for _, s := range rec.requests() {
		if strings.Contains(s.target, sub) {
			return true
		}
	}
	return false
}

// newHLSEdge is an edge routing /hls/ to the recorder's /public/hls/.
func newHLSEdge(t testing.TB, rec *recorder, mod func(*Config)) *edge {
	return newEdge(t, rec.URL, func(c *Config) {
		c.Routes = []Route{{Prefix: "/hls/", Origin: rec.URL + "/public/hls/"}}
		if mod != nil {
			mod(c)
		}
	})
}

// rawExchange writes raw bytes to addr and reads every response that comes
// back until the server closes the connection or goes quiet. closed
// reports that the server closed it.
func rawExchange(t testing.TB, addr, raw string, quiet time.Duration) (resps []*http.Response, bodies []string, closed bool) {
	t.Helper()
	c := rawDial(t, addr, raw)
	defer c.Close()
	return readResponses(c, quiet)
}

// rawDial connects to addr and writes raw bytes.
func rawDial(t testing.TB, addr, raw string) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, raw); err != nil {
		c.Close()
		t.Fatal(err)
	}
	return c.(*net.TCPConn)
}

// readResponses reads every response on c until the server closes it
// (a reset counts) or it goes quiet for quiet; closed reports the close.
func readResponses(c net.Conn, quiet time.Duration) (resps []*http.Response, bodies []string, closed bool) {
	br := bufio.NewReader(c)
	for {
		c.SetReadDeadline(time.Now().Add(quiet))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				return resps, bodies, false
			}
			return resps, bodies, true
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		resps = append(resps, resp)
		bodies = append(bodies, string(b))
		if err != nil {
			return resps, bodies, true
		}
	}
}

func rawGet(target string, extra ...string) string {
	return "GET " + target + " HTTP/1.1\r\nHost: edge.test\r\n" + strings.Join(extra, "") + "\r\n"
}

func TestSecurityPathNormalisation(t *testing.T) {
	cases := []struct {
		name   string
		target string
		code   int
		origin string // the target the origin must see; "" for none
	}{
		{"dotdot climbs above root", "/hls/../../private/key.ts", 400, ""},
		{"dotdot leaves the route", "/hls/../private/key.ts", 404, ""},
		{"encoded dotdot", "/hls/%2e%2e/%2e%2e/private/key.ts", 400, ""},
		{"mixed-case encoded dotdot", "/hls/%2E%2e/private/key.ts", 404, ""},
		{"dotdot encoded slash", "/hls/..%2f..%2fprivate/key.ts", 400, ""},
		{"encoded slash", "/hls/a%2fb.ts", 400, ""},
		{"encoded upper-case slash", "/hls/a%2Fb.ts", 400, ""},
		{"dotdot semicolon", "/hls/..;/private/key.ts", 400, ""},
		{"dot semicolon", "/hls/.;x/a.ts", 400, ""},
		{"encoded dotdot semicolon", "/hls/%2e%2e;/x/a.ts", 400, ""},
		{"backslash", `/hls/..\private\key.ts`, 400, ""},
		{"encoded backslash", "/hls/..%5cprivate%5ckey.ts", 400, ""},
		{"double slash collapses", "/hls//a.ts", 200, "/public/hls/a.ts"},
		{"leading double slash", "//hls/a.ts", 200, "/public/hls/a.ts"},
		{"dot segment", "/hls/./a.ts", 200, "/public/hls/a.ts"},
		{"dotdot inside the route", "/hls/x/../a.ts", 200, "/public/hls/a.ts"},
		{"overlong utf-8 dots", "/hls/%c0%ae%c0%ae/private/key.ts", 400, ""},
		{"three-byte overlong dot", "/hls/%e0%80%ae%e0%80%ae/key.ts", 400, ""},
		{"encoded NUL", "/hls/a%00.ts", 400, ""},
		{"encoded control character", "/hls/a%0d%0aX-Evil:%201.ts", 400, ""},
		{"bad percent-encoding", "/hls/a%zz.ts", 400, ""},
		{"truncated percent-encoding", "/hls/a.ts%2", 400, ""},
		{"fragment", "/hls/a.ts#x", 400, ""},
		{"encoded unreserved decoded", "/hls/%61%2D%7e.ts", 200, "/public/hls/a-~.ts"},
		{"lower-case hex upper-cased", "/hls/a%3bb.ts", 200, "/public/hls/a%3Bb.ts"},
		{"playlist as a directory", "/hls/x.m3u8/a.ts", 200, "/public/hls/x.m3u8/a.ts"},
		{"semicolon parameter kept", "/hls/x.m3u8;a.ts", 200, "/public/hls/x.m3u8;a.ts"},
		{"encoded hash kept encoded", "/hls/x.m3u8%23a.ts", 200, "/public/hls/x.m3u8%23a.ts"},
		{"encoded question mark kept encoded", "/hls/x.m3u8%3Fa.ts", 200, "/public/hls/x.m3u8%3Fa.ts"},
		{"absolute form", "http://elsewhere.example/hls/a.ts", 400, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder(t, nil)
			e := newHLSEdge(t, rec, nil)
			resps, _, _ := rawExchange(t, e.Listener.Addr().String(), rawGet(tc.target, "Connection: close\r\n"), 10*time.Second)
			if len(resps) != 1 {
				t.Fatalf("%s: %d responses", tc.target, len(resps))
			}
			if resps[0].StatusCode != tc.code {
				t.Errorf("%s: status %d, want %d", tc.target, resps[0].StatusCode, tc.code)
			}
			got := rec.targets()
			switch {
			case tc.origin == "" && len(got) > 0:
				t.Errorf("%s: origin received %q, want nothing", tc.target, got)
			case tc.origin != "" && (len(got) != 1 || got[0] != tc.origin):
				t.Errorf("%s: origin received %q, want [%s]", tc.target, got, tc.origin)
			}
		})
	}
}

// TestSecurityOneKeyPerPath: spellings of one path share one cache entry,
// so a variant spelling can neither bypass nor poison the entry viewers
// use.
func TestSecurityOneKeyPerPath(t *testing.T) {
	rec := newRecorder(t, nil)
	e := newHLSEdge(t, rec, nil)
	addr := e.Listener.Addr().String()
	for i, target := range []string{"/hls/seg1.ts", "/hls/%73eg1.ts", "/hls//seg1.ts", "/hls/x/../seg1.ts", "/hls/./seg1.ts"} {
		resps, bodies, _ := rawExchange(t, addr, rawGet(target, "Connection: close\r\n"), 10*time.Second)
		if len(resps) != 1 || resps[0].StatusCode != 200 || bodies[0] != "body of /public/hls/seg1.ts" {
			t.Fatalf("%s: %d responses", target, len(resps))
		}
		want := "HIT"
		if i == 0 {
			want = "MISS"
		}
		if got := resps[0].Header.Get("X-Cache-Status"); got != want {
			t.Errorf("%s: %s, want %s", target, got, want)
		}
	}
	if n := len(rec.requests()); n != 1 {
		t.Errorf("origin received %d requests, want 1: %q", n, rec.targets())
	}
}

func TestSecuritySmuggling(t *testing.T) {
	const smuggled = "GET /hls/smuggled.ts HTTP/1.1\r\nHost: edge.test\r\n\r\n"
	cases := []struct {
		name string
		raw  string
		// code is the status of the first response; 0 accepts any 4xx or
		// 5xx (net/http refuses some of these itself).
		code int
	}{
		{"CL.TE", "GET /hls/a.ts HTTP/1.1\r\nHost: edge.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled, 400},
		{"TE.CL", "GET /hls/a.ts HTTP/1.1\r\nHost: edge.test\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n" + smuggled, 400},
		{"TE chunked, identity", "GET /hls/a.ts HTTP/1.1\r\nHost: edge.test\r\nTransfer-Encoding: chunked, identity\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" + smuggled, 0},
		{"TE identity", "GET /hls/a.ts HTTP/1.1\r\nHost: edge.test\r\nTransfer-Encoding: identity\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" + smuggled, 0},
		{"TE xchunked", "GET /hls/a.ts HTTP/1.1\r\nHost: edge.test\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n" + smuggled, 0},
		{"TE with space before colon", "GET /hls/a.ts HTTP/1.1\r\nHost: edge.test\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n" + smuggled, 0},
		{"two TE lines", "GET /hls/a.ts HTTP/1.1\r\nHost: edge.test\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n" + smuggled, 0},
		{"two different Content-Lengths", "GET /hls/a.ts HTTP/1.1\r\nHost: edge.test\r\nContent-Length: 0\r\nContent-Length: " + strconv.Itoa(len(smuggled)) + "\r\n\r\n" + smuggled, 0},
		{"GET with a body", "GET /hls/a.ts HTTP/1.1\r\nHost: edge.test\r\nContent-Length: " + strconv.Itoa(len(smuggled)) + "\r\n\r\n" + smuggled, 400},
		{"HEAD with a body", "HEAD /hls/a.ts HTTP/1.1\r\nHost: edge.test\r\nContent-Length: " + strconv.Itoa(len(smuggled)) + "\r\n\r\n" + smuggled, 400},
		{"chunked GET", "GET /hls/a.ts HTTP/1.1\r\nHost: edge.test\r\nTransfer-Encoding: chunked\r\n\r\n" + fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(smuggled), smuggled), 400},
		{"chunk size with bare LF", "GET /hls/a.ts HTTP/1.1\r\nHost: edge.test\r\nTransfer-Encoding: chunked\r\n\r\n" + fmt.Sprintf("%x\n%s\r\n0\r\n\r\n", len(smuggled), smuggled), 400},
		{"obs-fold before TE", "GET /hls/a.ts HTTP/1.1\r\nHost: edge.test\r\nX-Foo: a\r\n Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" + smuggled, 0},
		{"POST CL.TE", "POST /hls/upload HTTP/1.1\r\nHost: edge.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled, -1},
		{"POST chunk size with bare LF", "POST /hls/upload HTTP/1.1\r\nHost: edge.test\r\nTransfer-Encoding: chunked\r\n\r\n" + fmt.Sprintf("%x\n%s\r\n0\r\n\r\n", len(smuggled), smuggled), -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder(t, nil)
			e := newHLSEdge(t, rec, nil)
			resps, _, closed := rawExchange(t, e.Listener.Addr().String(), tc.raw, 10*time.Second)
			if !closed {
				t.Errorf("connection left open after %d responses", len(resps))
			}
			if len(resps) > 1 {
				t.Errorf("%d responses: a request was read out of the body", len(resps))
			}
			if len(resps) == 1 {
				code := resps[0].StatusCode
				switch {
				case tc.code > 0 && code != tc.code:
					t.Errorf("status %d, want %d", code, tc.code)
				case tc.code == 0 && code < 400:
					t.Errorf("status %d, want a refusal", code)
				}
			}
			if rec.sawTarget("smuggled") {
				t.Errorf("the origin received the smuggled request: %q", rec.targets())
			}
			if tc.code >= 0 && len(rec.requests()) > 0 {
				t.Errorf("the origin received %q for a refused request", rec.targets())
			}
			for _, s := range rec.requests() {
				if strings.Contains(string(s.body), "smuggled") && s.header.Get("Content-Length") == "" && len(s.header["Transfer-Encoding"]) > 0 {
					t.Errorf("the origin got the body with the viewer's framing: %q", s.header)
				}
			}
		})
	}
}

// TestSecurityPipeliningStillWorks: the door refuses what it must and
// nothing more: well-framed pipelined requests share one connection.
func TestSecurityPipeliningStillWorks(t *testing.T) {
	rec := newRecorder(t, nil)
	e := newHLSEdge(t, rec, nil)
	raw := rawGet("/hls/a.ts") + rawGet("/hls/b.ts") + rawGet("/hls/a.ts", "Connection: close\r\n")
	resps, bodies, closed := rawExchange(t, e.Listener.Addr().String(), raw, 10*time.Second)
	if len(resps) != 3 || !closed {
		t.Fatalf("%d responses, closed %v", len(resps), closed)
	}
	for i, want := range []string{"/public/hls/a.ts", "/public/hls/b.ts", "/public/hls/a.ts"} {
		if resps[i].StatusCode != 200 || bodies[i] != "body of "+want {
			t.Errorf("response %d: %d %q", i, resps[i].StatusCode, bodies[i])
		}
	}
}

func TestSecurityMaxHeaderBytesIsExact(t *testing.T) {
	const limit = 16 << 10
	rec := newRecorder(t, nil)
	e := newHLSEdge(t, rec, func(c *Config) { c.Client.MaxHeaderBytes = limit })
	head := func(size int) string {
		base := rawGet("/hls/a.ts", "Connection: close\r\n", "X-Pad: \r\n")
		pad := strings.Repeat("p", size-len(base))
		return strings.Replace(base, "X-Pad: ", "X-Pad: "+pad, 1)
	}
	for _, tc := range []struct {
		size, code int
	}{{limit, 200}, {limit + 1, 431}, {limit + 4096, 431}} {
		raw := head(tc.size)
		if len(raw) != tc.size {
			t.Fatalf("built a head of %d bytes, want %d", len(raw), tc.size)
		}
		resps, _, _ := rawExchange(t, e.Listener.Addr().String(), raw, 10*time.Second)
		if len(resps) != 1 || resps[0].StatusCode != tc.code {
			t.Errorf("head of %d bytes: %d responses, want one %d", tc.size, len(resps), tc.code)
			for _, r := range resps {
				t.Errorf("  got %d", r.StatusCode)
			}
		}
	}
}

// TestSecurityHeaderPoisoning: no viewer header the key does not hold
// reaches the origin on a shared fill.
func TestSecurityHeaderPoisoning(t *testing.T) {
	unkeyed := []string{
		"X-Forwarded-Host", "X-Forwarded-Proto", "X-Forwarded-Prefix", "X-Forwarded-Port", "Forwarded",
		"X-Host", "X-Original-URL", "X-Rewrite-URL", "X-HTTP-Method-Override", "X-Method-Override",
		"Cookie", "Authorization", "Origin", "Accept-Encoding", "Accept-Language", "Range", "If-None-Match",
		"Cache-Control", "Pragma", "X-Evil",
	}
	for _, name := range unkeyed {
		t.Run(name, func(t *testing.T) {
			// The origin builds absolute URLs from the forwarded host, as
			// many packagers do.
			rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
				host := "origin.local"
				if h := r.Header.Get("X-Forwarded-Host"); h != "" {
					host = h
				}
				w.Header().Set("Cache-Control", "max-age=60")
				w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
				fmt.Fprintf(w, "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:1\n#EXTINF:2,\nhttp://%s/seg1.ts\n#EXTINF:2,\nseg2.ts\n", host)
			})
			e := newHLSEdge(t, rec, func(c *Config) { c.Prefetch = false })
			_, body := mustGet(t, e.URL+"/hls/live.m3u8", name, "evil.example")
			if strings.Contains(string(body), "evil.example") {
				t.Errorf("viewer's %s reached the playlist: %s", name, body)
			}
			_, body2 := mustGet(t, e.URL+"/hls/live.m3u8")
			if answeredAtEdge := name == "Range" || name == "If-None-Match"; !answeredAtEdge && string(body2) != string(body) {
				t.Errorf("second viewer got another playlist")
			}
			for _, s := range rec.requests() {
				if v := s.header.Get(name); v != "" && name != "Accept-Encoding" || strings.Contains(strings.Join(s.header.Values(name), ""), "evil") {
					t.Errorf("origin received %s: %q", name, s.header.Values(name))
				}
			}
		})
	}
}

// TestSecurityConnectionCannotDropEdgeHeaders: fields a viewer lists in
// Connection are removed from what it sent, never from what the edge
// adds.
func TestSecurityConnectionCannotDropEdgeHeaders(t *testing.T) {
	rec := newRecorder(t, nil)
	e := newHLSEdge(t, rec, func(c *Config) {
		c.Routes[0].OriginHeaders = map[string]string{"Authorization": "Bearer cdn-secret"}
	})
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		req, _ := http.NewRequest(method, e.URL+"/hls/"+method+".ts", nil)
		req.Header.Set("Connection", "X-Forwarded-For, Via, Authorization, User-Agent")
		req.Header.Set("X-Forwarded-For", "203.0.113.9")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	reqs := rec.requests()
	if len(reqs) != 2 {
		t.Fatalf("origin received %d requests", len(reqs))
	}
	for _, s := range reqs {
		if got := s.header.Get("X-Forwarded-For"); !strings.HasSuffix(got, "127.0.0.1") {
			t.Errorf("%s: X-Forwarded-For %q, want the edge's", s.method, got)
		}
		if !strings.Contains(strings.Join(s.header.Values("Via"), ","), "edge-test") {
			t.Errorf("%s: Via %q lacks the edge", s.method, s.header.Values("Via"))
		}
		if got := s.header.Get("Authorization"); got != "Bearer cdn-secret" {
			t.Errorf("%s: Authorization %q, want the route's origin header", s.method, got)
		}
	}
}

// TestSecurityTraceNotPassed: TRACE is refused at the door, as nginx
// does. An origin that answers it (Apache's default, TraceEnable on)
// echoes the request it received, and that request carries what the edge
// adds for the origin: a route's origin_headers, a shared secret among
// them. RFC 9110 9.3.8: a client must not send sensitive fields in a
// TRACE; the edge is that client.
func TestSecurityTraceNotPassed(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "message/http")
		r.Write(w) // the request as received, as Apache echoes it
	})
	e := newHLSEdge(t, rec, func(c *Config) {
		c.Routes[0].OriginHeaders = map[string]string{"X-Edge-Secret": "s3cr3t"}
	})
	resps, bodies, _ := rawExchange(t, e.Listener.Addr().String(), "TRACE /hls/a.ts HTTP/1.1\r\nHost: edge.test\r\nConnection: close\r\n\r\n", 30*time.Second) // closed after the answer; the wait is liveness only
	if len(resps) != 1 || resps[0].StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("TRACE: %d responses (%v), want one 405", len(resps), bodies)
	}
	if strings.Contains(bodies[0], "s3cr3t") || len(rec.requests()) != 0 {
		t.Fatalf("TRACE reached the origin (%d requests) or echoed the secret: %q", len(rec.requests()), bodies[0])
	}
}

// TestSecurityMethodCase: a method name is case-sensitive (RFC 9110 9.1),
// so "get" is not GET: the cache would pass it through, uncached, and an
// origin that reads methods loosely would answer it as GET, once per
// request. Anyone could load the origin through the edge at will. The edge
// refuses a method with anything but A-Z, '_' and '-', as nginx does.
func TestSecurityMethodCase(t *testing.T) {
	rec := newRecorder(t, nil)
	e := newHLSEdge(t, rec, nil)
	for _, m := range []string{"get", "Get", "hEAD", "post", "PUT2", "GET.X"} {
		resps, bodies, _ := rawExchange(t, e.Listener.Addr().String(), m+" /hls/a.ts HTTP/1.1\r\nHost: edge.test\r\nConnection: close\r\n\r\n", 30*time.Second) // closed after the answer; the wait is liveness only
		if len(resps) != 1 || resps[0].StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d responses %q, want one 400", m, len(resps), bodies)
		}
	}
	if n := len(rec.requests()); n != 0 {
		t.Fatalf("the origin was asked %d times for methods in the wrong case", n)
	}
	// Methods the edge does not know, in capitals, still pass (as nginx).
	resps, _, _ := rawExchange(t, e.Listener.Addr().String(), "M-SEARCH_X /hls/a.ts HTTP/1.1\r\nHost: edge.test\r\nConnection: close\r\n\r\n", 30*time.Second)
	if len(resps) != 1 || resps[0].StatusCode != http.StatusOK || len(rec.requests()) != 1 {
		t.Fatalf("an unknown method in capitals: %d responses, origin asked %d times, want 200 from the origin", len(resps), len(rec.requests()))
	}
}

// TestSecurityPassThroughDropsRoutingOverrides: a request passed through
// for one viewer keeps its credentials but not the fields that would let
// it steer the origin's routing.
func TestSecurityPassThroughDropsRoutingOverrides(t *testing.T) {
	rec := newRecorder(t, nil)
	e := newHLSEdge(t, rec, nil)
	req, _ := http.NewRequest(http.MethodPost, e.URL+"/hls/license", strings.NewReader("challenge"))
	for _, name := range routingOverrides {
		req.Header.Set(name, "/private/key")
	}
	req.Header.Set("Cookie", "session=1")
	req.Header.Set("Authorization", "Bearer viewer")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	reqs := rec.requests()
	if len(reqs) != 1 {
		t.Fatalf("origin received %d requests", len(reqs))
	}
	for _, name := range routingOverrides {
		if v := reqs[0].header.Values(name); len(v) > 0 {
			t.Errorf("origin received %s: %q", name, v)
		}
	}
	if reqs[0].header.Get("Cookie") != "session=1" || reqs[0].header.Get("Authorization") != "Bearer viewer" || string(reqs[0].body) != "challenge" {
		t.Errorf("pass-through lost the viewer's own request: %q %q", reqs[0].header, reqs[0].body)
	}
}

// TestSecurityForwardHeadersAreKeyed: a header the route forwards reaches
// the origin and separates viewers.
func TestSecurityForwardHeadersAreKeyed(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "lang="+r.Header.Get("Accept-Language"))
	})
	e := newHLSEdge(t, rec, func(c *Config) { c.Routes[0].ForwardHeaders = []string{"accept-language"} })
	for _, tc := range []struct{ lang, cache string }{{"fr", "MISS"}, {"de", "MISS"}, {"fr", "HIT"}, {"de", "HIT"}} {
		resp, body := mustGet(t, e.URL+"/hls/sub.vtt", "Accept-Language", tc.lang)
		if string(body) != "lang="+tc.lang || resp.Header.Get("X-Cache-Status") != tc.cache {
			t.Errorf("%s: %q %s, want %s", tc.lang, body, resp.Header.Get("X-Cache-Status"), tc.cache)
		}
	}
	if n := len(rec.requests()); n != 2 {
		t.Errorf("origin received %d requests, want 2", n)
	}
}

// held is a test origin that holds its first request until released, so
// a second request arrives while the first one's fill is running.
type held struct {
	*recorder
	arrived chan struct{} // one value per request received
	release chan struct{}
	once    sync.Once
}

// waitArrival waits for the origin's next request. It is a liveness
// guard, not a timing bound: a request that never comes fails the test
// instead of hanging it.
func (h *held) waitArrival(t testing.TB, what string) {
	t.Helper()
	select {
	case <-h.arrived:
	case <-time.After(10 * time.Second):
		t.Fatalf("the origin never received %s", what)
	}
}

// open releases the held request; calling it again does nothing.
func (h *held) open() { h.once.Do(func() { close(h.release) }) }

func newHeld(t testing.TB, answer func(w http.ResponseWriter, r *http.Request)) *held {
	h := &held{arrived: make(chan struct{}, 16), release: make(chan struct{})}
	t.Cleanup(h.open)
	var once sync.Once
	h.recorder = newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		h.arrived <- struct{}{}
		first := false
		once.Do(func() { first = true })
		if first {
			<-h.release
		}
		answer(w, r)
	})
	return h
}

type result struct {
	resp *http.Response
	body string
	err  error
}

func goGet(t testing.TB, url string, hdr ...string) <-chan result {
	ch := make(chan result, 1)
	go func() {
		resp, b, err := get(t, http.DefaultClient, url, hdr...)
		ch <- result{resp, string(b), err}
	}()
	return ch
}

// TestSecurityAuthorizedFillNotJoined: a viewer without credentials never
// gets the response to another viewer's credentialed request.
func TestSecurityAuthorizedFillNotJoined(t *testing.T) {
	h := newHeld(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "for "+r.Header.Get("Authorization"))
	})
	e := newHLSEdge(t, h.recorder, func(c *Config) { c.Routes[0].ForwardHeaders = []string{"Authorization"} })
	a := goGet(t, e.URL+"/hls/seg.ts", "Authorization", "Bearer A")
	h.waitArrival(t, "A's request")
	b := goGet(t, e.URL+"/hls/seg.ts")
	h.waitArrival(t, "B's own request while A's is held (B joined A's fill)")
	h.open()
	ra, rb := <-a, <-b
	if ra.err != nil || rb.err != nil {
		t.Fatal(ra.err, rb.err)
	}
	if ra.body != "for Bearer A" || rb.body != "for " {
		t.Errorf("A got %q, B got %q", ra.body, rb.body)
	}
	// A's response was not public: not stored, so A's next request goes
	// upstream; B's anonymous one was.
	e.quiesce(t)
	_, body := mustGet(t, e.URL+"/hls/seg.ts", "Authorization", "Bearer A")
	resp, bodyB := mustGet(t, e.URL+"/hls/seg.ts")
	if body != nil && string(body) != "for Bearer A" || string(bodyB) != "for " || resp.Header.Get("X-Cache-Status") != "HIT" {
		t.Errorf("later: A %q, B %q %s", body, bodyB, resp.Header.Get("X-Cache-Status"))
	}
	if n := len(h.requests()); n != 3 {
		t.Errorf("origin received %d requests, want 3 (A, B, A again)", n)
	}
}

// TestSecurityUnforwardedAuthorizationStaysHome: by default a viewer's
// credentials never reach the origin on a shared fill, so the response is
// an anonymous one that every viewer may share.
func TestSecurityUnforwardedAuthorizationStaysHome(t *testing.T) {
	rec := newRecorder(t, nil)
	e := newHLSEdge(t, rec, nil)
	mustGet(t, e.URL+"/hls/seg.ts", "Authorization", "Bearer A")
	e.quiesce(t)
	resp, _ := mustGet(t, e.URL+"/hls/seg.ts")
	if resp.Header.Get("X-Cache-Status") != "HIT" {
		t.Errorf("anonymous viewer: %s, want HIT of the anonymous fill", resp.Header.Get("X-Cache-Status"))
	}
	for _, s := range rec.requests() {
		if s.header.Get("Authorization") != "" {
			t.Errorf("origin received Authorization %q", s.header.Get("Authorization"))
		}
	}
}

// TestSecurityVaryJoin: a request joins a fill in flight only when the
// variant matches (RFC 9111 4.1); each variant is then stored apart.
func TestSecurityVaryJoin(t *testing.T) {
	h := newHeld(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Vary", "Origin")
		w.Header().Set("Access-Control-Allow-Origin", "https://a.example")
		io.WriteString(w, "shared body")
	})
	e := newHLSEdge(t, h.recorder, nil)
	a := goGet(t, e.URL+"/hls/seg.ts", "Origin", "https://a.example")
	h.waitArrival(t, "A's request")
	b := goGet(t, e.URL+"/hls/seg.ts", "Origin", "https://b.example")
	// B joins A's fill (the URL's Vary is not known yet), sees the head
	// vary on Origin and goes upstream for its own variant.
	h.open()
	ra, rb := <-a, <-b
	if ra.err != nil || rb.err != nil {
		t.Fatal(ra.err, rb.err)
	}
	if n := len(h.requests()); n != 2 {
		t.Fatalf("origin received %d requests, want one per variant", n)
	}
	e.quiesce(t)
	for _, tc := range []struct{ origin, cache string }{
		{"https://a.example", "HIT"}, {"https://b.example", "HIT"}, {"https://c.example", "MISS"}, {"", "MISS"}, {"", "HIT"},
	} {
		resp, _ := mustGet(t, e.URL+"/hls/seg.ts", "Origin", tc.origin)
		if got := resp.Header.Get("X-Cache-Status"); got != tc.cache {
			t.Errorf("Origin %q: %s, want %s", tc.origin, got, tc.cache)
		}
	}
	if n := len(h.requests()); n != 4 {
		t.Errorf("origin received %d requests, want 4", n)
	}
}

// TestSecurityVaryStarNeverShared: "Vary: *" matches no other request.
func TestSecurityVaryStarNeverShared(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Vary", "*")
		io.WriteString(w, "x")
	})
	e := newHLSEdge(t, rec, nil)
	for range 3 {
		resp, _ := mustGet(t, e.URL+"/hls/seg.ts")
		if resp.Header.Get("X-Cache-Status") == "HIT" {
			t.Errorf("Vary: * served as HIT")
		}
		e.quiesce(t)
	}
	if n := len(rec.requests()); n != 3 {
		t.Errorf("origin received %d requests, want 3", n)
	}
}

// TestSecurityCredentialedPlaylistNotStored: the playlist lifetime rules
// never store what the policy refused (finding 4).
func TestSecurityCredentialedPlaylistNotStored(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
		io.WriteString(w, "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:1\n#EXTINF:4,\nseg1.ts\n")
	})
	e := newHLSEdge(t, rec, func(c *Config) {
		c.Prefetch = false
		c.Routes[0].ForwardHeaders = []string{"Authorization"}
	})
	for range 2 {
		resp, _ := mustGet(t, e.URL+"/hls/live.m3u8", "Authorization", "Bearer A")
		if resp.Header.Get("X-Cache-Status") == "HIT" {
			t.Errorf("a credentialed playlist without public was served from the cache")
		}
		e.quiesce(t)
	}
	if n := len(rec.requests()); n != 2 {
		t.Errorf("origin received %d requests, want 2", n)
	}
}

// TestSecurityProvokedErrorsNotStored: error answers a request can provoke
// are never stored, whatever their Cache-Control (CPDoS).
func TestSecurityProvokedErrorsNotStored(t *testing.T) {
	for _, code := range []int{400, 405, 413, 414, 431, 501} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "public, max-age=3600")
				w.WriteHeader(code)
			})
			e := newHLSEdge(t, rec, func(c *Config) { c.StatusTTL = map[int]time.Duration{code: time.Hour} })
			for range 2 {
				resp, _ := mustGet(t, e.URL+"/hls/seg.ts")
				if resp.StatusCode != code || resp.Header.Get("X-Cache-Status") == "HIT" {
					t.Errorf("%d %s", resp.StatusCode, resp.Header.Get("X-Cache-Status"))
				}
				e.quiesce(t)
			}
			if n := len(rec.requests()); n != 2 {
				t.Errorf("origin received %d requests, want 2", n)
			}
		})
	}
}

// countingWriter counts the body bytes an origin handler writes.
type countingWriter struct {
	http.ResponseWriter
	n  *int64
	mu *sync.Mutex
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.mu.Lock()
	*c.n += int64(n)
	c.mu.Unlock()
	return n, err
}

// TestSecurityRangeAmplification: ranges of an object too large to store
// cost the origin about the range, not the object, per request.
func TestSecurityRangeAmplification(t *testing.T) {
	const size = 8 << 20
	obj := pattern(size)
	var (
		mu   sync.Mutex
		sent int64
	)
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Content-Type", "video/mp4")
		http.ServeContent(countingWriter{w, &sent, &mu}, r, "", time.Time{}, strings.NewReader(string(obj)))
	})
	e := newHLSEdge(t, rec, func(c *Config) {
		c.Cache.MaxBytes = 4 << 20
		c.Cache.MaxObjectBytes = 1 << 20
	})
	for i := range 4 {
		start := size - 1000 + i*200
		resp, body := mustGet(t, e.URL+"/hls/big.mp4", "Range", fmt.Sprintf("bytes=%d-%d", start, start+99))
		if resp.StatusCode != http.StatusPartialContent || string(body) != string(obj[start:start+100]) {
			t.Fatalf("range %d: %d, %d bytes", i, resp.StatusCode, len(body))
		}
	}
	reqs := rec.requests()
	if len(reqs) != 5 {
		t.Fatalf("origin received %d requests, want 5 (the first fill, then a range each)", len(reqs))
	}
	for _, s := range reqs[1:] {
		if s.header.Get("Range") == "" {
			t.Errorf("a later request went upstream without its range")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if sent >= size {
		t.Errorf("origin sent %d bytes for four 100-byte ranges of an object of %d", sent, size)
	}
}

// TestSecurityInflightBudget: cache-busting requests for a large object
// hold at most the in-flight budget (plus a chunk per fill): past it, a
// fill streams on uncached. Every viewer still gets the whole body.
func TestSecurityInflightBudget(t *testing.T) {
	const (
		size    = 2 << 20
		viewers = 8
		budget  = 4 << 20
	)
	obj := pattern(size)
	// Closed once the edge has demoted a fill, or given up on that after
	// a bound (the test then fails below).
	demoted := make(chan struct{})
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Content-Length", strconv.Itoa(size))
		w.Write(obj[:size/2])
		w.(http.Flusher).Flush()
		// No fill gets its second half until the budget has acted: every
		// fill reads its first half meanwhile, and together they would hold
		// twice the budget. (Waiting for the origin's own writes of the
		// first halves was not enough: the socket buffers took them before
		// the edge read them, and on a busy machine the first fills could
		// finish before the last began to read.)
		<-demoted
		w.Write(obj[size/2:])
	})
	e := newHLSEdge(t, rec, func(c *Config) {
		c.Cache.MaxBytes = 64 << 20
		c.Cache.MaxObjectBytes = 4 << 20
		c.Cache.MaxInflightBytes = budget
	})
	stopWatch := make(chan struct{})
	defer close(stopWatch)
	go func() {
		defer close(demoted)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		bound := time.After(10 * time.Second) // liveness only
		for e.p.Cache().Stats().BudgetDemotions == 0 {
			select {
			case <-tick.C:
			case <-bound:
				return
			case <-stopWatch:
				return
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, viewers)
	for i := range viewers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, body, err := get(t, http.DefaultClient, fmt.Sprintf("%s/hls/big.mp4?bust=%d", e.URL, i))
			if err == nil && string(body) != string(obj) {
				err = fmt.Errorf("viewer %d: body of %d bytes differs", i, len(body))
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	// A demoted fill stored nothing: its key is a miss again.
	stored := 0
	for i := range viewers {
		if settled(t, e.p.Cache(), fmt.Sprintf("/hls/big.mp4?bust=%d", i)) != nil {
			stored++
		}
	}
	// Every fill has ended; the last handlers may still be closing their
	// readers, which is when the bytes they held are given back.
	deadline := time.Now().Add(10 * time.Second)
	for e.p.Cache().Stats().InflightBytes != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	st := e.p.Cache().Stats()
	if st.BudgetDemotions == 0 {
		t.Errorf("no fill was demoted: %+v", st)
	}
	if st.InflightBytes != 0 {
		t.Errorf("%d bytes still counted in flight after every fill and viewer ended", st.InflightBytes)
	}
	if got := metricValue(t, e.reg, "edgecache_inflight_demotions_total", "", ""); got != float64(st.BudgetDemotions) {
		t.Errorf("metric %v, stats %d", got, st.BudgetDemotions)
	}
	if stored+int(st.BudgetDemotions) != viewers {
		t.Errorf("%d stored and %d demoted of %d", stored, st.BudgetDemotions, viewers)
	}
}

// TestSecurityWriteIdleSmallResponses: a client that pipelines requests
// for small objects and reads nothing fills the socket buffers, and then
// the edge's write of the next response waits for room. That wait is
// bounded by client.write_idle_timeout (as nginx's send_timeout bounds
// every write), on the front's path and on net/http's: otherwise such a
// client holds a connection, a goroutine and a send buffer for ever,
// past every idle timeout. The edge must close the connection, which the
// client sees as a reset of its own writes (its requests are unread).
func TestSecurityWriteIdleSmallResponses(t *testing.T) {
	for _, tc := range []struct {
		name  string
		first string // the first request's extra header fields
	}{
		{"front", ""},
		// A value with obs-text (RFC 9110 5.5) is outside the front's
		// subset: net/http serves this connection for good.
		{"net/http", "X-Note: caf\xe9\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkGoroutines(t)
			body := strings.Repeat("s", 4<<10)
			rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "max-age=60")
				io.WriteString(w, body)
			})
			e := newHLSEdge(t, rec, func(c *Config) {
				c.Client.WriteIdleTimeout = 200 * time.Millisecond
				c.Client.SendBuffer = 16 << 10
			})
			// Cached first, so every response is a hit of 4 KiB.
			if resp, b, err := get(t, http.DefaultClient, e.URL+"/hls/s.ts"); err != nil || resp.StatusCode != 200 || string(b) != body {
				t.Fatalf("warm-up: %v", err)
			}
			d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
				// A small receive window, set before the connection opens.
				return rc.Control(func(fd uintptr) {
					syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
				})
			}}
			c, err := d.Dial("tcp", e.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// 400 responses of 4 KiB are far more than the edge's send
			// buffer and the client's window hold.
			batch := rawGet("/hls/s.ts", tc.first) + strings.Repeat(rawGet("/hls/s.ts"), 399)
			if _, err := io.WriteString(c, batch); err != nil {
				t.Fatal(err)
			}
			// Nothing is read. One more request every 20 ms until a write
			// fails: the edge has closed the connection. The bound is for
			// liveness only.
			c.SetWriteDeadline(time.Now().Add(30 * time.Second))
			for i := 0; ; i++ {
				if _, err := io.WriteString(c, rawGet("/hls/s.ts")); err != nil {
					if ne, ok := err.(net.Error); ok && ne.Timeout() {
						t.Fatalf("the edge kept the connection of a client that read nothing for 30 s (write_idle_timeout 200ms)")
					}
					break
				}
				if i == 1500 {
					t.Fatalf("the edge kept the connection of a client that read nothing through %d more requests (write_idle_timeout 200ms)", i)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// TestSecurityPassThroughOriginStalls: a request passed through (a POST,
// a response for one viewer alone) whose origin goes quiet mid-body is
// ended after origin.idle_timeout, as a fill is and as nginx's
// proxy_read_timeout ends it: before, the edge waited on the origin for
// ever, holding the viewer, a goroutine and an origin connection. The
// viewer sees a broken body, never a short one that looks whole, and the
// origin is charged the timeout.
func TestSecurityPassThroughOriginStalls(t *testing.T) {
	for _, members := range []int{1, 2} {
		t.Run(fmt.Sprintf("%d origins", members), func(t *testing.T) {
			o := newRecOrigin(t, func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Length", "100000")
				w.Header().Set("Cache-Control", "private")
				w.Write(make([]byte, 1000))
				w.(http.Flusher).Flush()
				<-r.Context().Done() // quiet until the edge gives up
			})
			idle := func(c *Config) { c.Origin.IdleTimeout = 100 * time.Millisecond }
			var e *edge
			if members == 1 {
				e = newEdge(t, o.URL, idle)
			} else {
				e = originsEdge(t, []string{o.URL, refusedURL(t)}, func(_ *Route, c *Config) { idle(c) })
			}
			client := &http.Client{Timeout: 30 * time.Second} // liveness only
			// No body: the clock under test is the response's alone.
			resp, err := client.Post(e.URL+"/live/api", "text/plain", nil)
			if err != nil {
				t.Fatal(err)
			}
			n, rerr := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			var ne net.Error
			if rerr == nil || errors.As(rerr, &ne) && ne.Timeout() {
				t.Fatalf("after %d bytes the body ended with %v: want the edge to cut it off when the origin went quiet", n, rerr)
			}
			if members == 2 {
				if v, _ := metricstest.Value(t, e.reg, "edgecache_origin_outcomes_total", map[string]string{"origin": o.URL + "/", "outcome": "timeout"}); v != 1 {
					t.Errorf("the quiet origin was charged %v timeouts, want 1", v)
				}
			}
		})
	}
}

// TestSecurityPassThroughOriginStopsReading: an origin that stops reading
// a request body passed through is given up on after origin.idle_timeout
// (nginx's proxy_send_timeout): the viewer gets 504, where before the
// edge's write to the origin waited for ever (Go's transport has no write
// timeout, and the first-byte timeout starts only after the body).
func TestSecurityPassThroughOriginStopsReading(t *testing.T) {
	release := make(chan struct{})
	o := newRecOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		<-release // reads nothing, answers nothing
	})
	t.Cleanup(func() { close(release) }) // before the origin's Close: cleanups run last first
	const size = 32 << 20                // past what the sockets between them hold
	e := newEdge(t, o.URL, func(c *Config) {
		c.Origin.IdleTimeout = 100 * time.Millisecond
		c.Client.MaxBodyBytes = size
	})
	client := &http.Client{Timeout: 30 * time.Second} // liveness only
	resp, err := client.Post(e.URL+"/live/api", "application/octet-stream", strings.NewReader(strings.Repeat("x", size)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("got %d, want 504 for an origin that stopped reading the body", resp.StatusCode)
	}
}

// A viewer's own pause while its body streams to the origin
// (client.stream_bodies) is client.body_timeout's to bound, not the
// origin's idle timeout: the clock that ends a quiet origin stops while
// the edge waits on the viewer.
func TestPassThroughViewerPauseIsNotOriginIdle(t *testing.T) {
	origin, saw := bodyOrigin(t)
	e := newEdge(t, origin.URL, func(c *Config) {
		// Long enough that a busy machine's pause between two writes
		// to the origin never reaches it; the viewer pauses longer.
		c.Origin.IdleTimeout = time.Second
		c.Client.StreamBodies = true
	})
	c := rawDial(t, e.Listener.Addr().String(), "POST /live/api HTTP/1.1\r\nHost: edge.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
	defer c.Close()
	// The origin has the request (its head, and maybe the first chunk)...
	deadline := time.Now().Add(30 * time.Second)
	for origin.seen.get("/live/api") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the origin never got the streamed request")
		}
		time.Sleep(time.Millisecond)
	}
	// ... and the viewer pauses for several of the origin's idle timeouts.
	time.Sleep(2500 * time.Millisecond)
	if _, err := io.WriteString(c, "6\r\n world\r\n0\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if resp, body := readFinal(t, c); resp.StatusCode != http.StatusOK || body != "got 11" {
		t.Fatalf("got %d %q, want 200 \"got 11\"", resp.StatusCode, body)
	}
	if s := <-saw; s.body != "hello world" {
		t.Errorf("the origin got %q", s.body)
	}
}

// TestSecurityNoUpgradeTunnel: a request passed through never becomes a
// tunnel to the origin. Upgrade is hop-by-hop and the edge does not ask
// for one, as nginx (which passes Upgrade only when told to): a viewer's
// WebSocket or h2c upgrade would turn the edge into a raw pipe to the
// origin, outside every timeout, limit and log the edge keeps.
func TestSecurityNoUpgradeTunnel(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") == "" {
			io.WriteString(w, "no upgrade")
			return
		}
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
	})
	e := newHLSEdge(t, rec, nil)
	for _, m := range []string{"POST", "OPTIONS", "GET"} {
		resps, bodies, _ := rawExchange(t, e.Listener.Addr().String(), m+" /hls/ws HTTP/1.1\r\nHost: edge.test\r\nConnection: close, Upgrade\r\nUpgrade: websocket\r\nContent-Length: 0\r\n\r\n", 30*time.Second)
		if len(resps) == 0 || resps[0].StatusCode == http.StatusSwitchingProtocols {
			t.Fatalf("%s with Upgrade: %d responses %q, want no 101", m, len(resps), bodies)
		}
	}
	for _, r := range rec.requests() {
		if v := r.header.Get("Upgrade"); v != "" {
			t.Errorf("the origin was asked to upgrade to %q", v)
		}
	}
}
