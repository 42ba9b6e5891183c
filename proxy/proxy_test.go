package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestStatusSequence walks one object through MISS, HIT, REVALIDATED,
// EXPIRED and STALE, and answers HEAD, ranges and conditionals from the
// cache.
func TestStatusSequence(t *testing.T) {
	checkGoroutines(t)
	var (
		mu      sync.Mutex
		version = "v1"
		fail    = false
		hits    atomic.Int32
	)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		mu.Lock()
		v, f := version, fail
		mu.Unlock()
		if f {
			http.Error(w, "origin down", http.StatusInternalServerError)
			return
		}
		etag := `"` + v + `"`
		w.Header().Set("Cache-Control", "max-age=1")
		w.Header().Set("ETag", etag)
		w.Header().Set("Content-Type", "video/mp4")
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		io.WriteString(w, "body-"+v+"-0123456789")
	}))
	defer origin.Close()
	e := newEdge(t, origin.URL, func(c *Config) {
		cp := c.Classes["segment"]
		cp.StaleIfError = time.Minute
		c.Classes["segment"] = cp
	})
	u := e.URL + "/a/seg.m4s"

	resp, b := mustGet(t, u)
	wantStatus(t, resp, 200, "MISS")
	resp, b2 := mustGet(t, u)
	wantStatus(t, resp, 200, "HIT")
	if string(b) != string(b2) || string(b) != "body-v1-0123456789" {
		t.Fatalf("bodies %q %q", b, b2)
	}
	resp, _ = mustGet(t, u, "HEAD")
	wantStatus(t, resp, 200, "HIT")
	if resp.ContentLength != int64(len(b)) {
		t.Fatalf("HEAD Content-Length %d", resp.ContentLength)
	}
	resp, b = mustGet(t, u, "Range", "bytes=5-6")
	wantStatus(t, resp, 206, "HIT")
	if string(b) != "v1" || resp.Header.Get("Content-Range") != "bytes 5-6/18" {
		t.Fatalf("range: %q %q", b, resp.Header.Get("Content-Range"))
	}
	resp, b = mustGet(t, u, "If-None-Match", `"v1"`)
	wantStatus(t, resp, 304, "HIT")
	if len(b) != 0 {
		t.Fatal("304 with a body")
	}
	if n := hits.Load(); n != 1 {
		t.Fatalf("origin hit %d times before expiry", n)
	}

	time.Sleep(1100 * time.Millisecond)
	resp, b = mustGet(t, u)
	wantStatus(t, resp, 200, "REVALIDATED")
	if string(b) != "body-v1-0123456789" {
		t.Fatalf("revalidated body %q", b)
	}
	resp, _ = mustGet(t, u)
	wantStatus(t, resp, 200, "HIT")

	mu.Lock()
	version = "v2"
	mu.Unlock()
	time.Sleep(1100 * time.Millisecond)
	resp, b = mustGet(t, u)
	wantStatus(t, resp, 200, "EXPIRED")
	if string(b) != "body-v2-0123456789" {
		t.Fatalf("expired body %q", b)
	}

	mu.Lock()
	fail = true
	mu.Unlock()
	time.Sleep(1100 * time.Millisecond)
	resp, b = mustGet(t, u)
	wantStatus(t, resp, 200, "STALE")
	if string(b) != "body-v2-0123456789" {
		t.Fatalf("stale body %q", b)
	}
	if age, _ := strconv.Atoi(resp.Header.Get("Age")); age < 1 {
		t.Fatalf("stale response with Age %q", resp.Header.Get("Age"))
	}
}

// TestExpiryUnderLoad: a hot object expires while 64 clients hammer it; the
// origin sees exactly one refresh, for either expiry policy.
func TestExpiryUnderLoad(t *testing.T) {
	checkGoroutines(t)
	cases := []struct {
		name string
		path string // its class picks the policy
		want string // status the others see during the refresh
	}{
		{"segment: others wait for the refresh", "/hot/seg.m4s", "HIT"},
		{"manifest: others get the stale copy", "/hot/index.m3u8", "UPDATING"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var hits atomic.Int32
			origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != tc.path {
					return // prefetches of what the playlist lists
				}
				n := hits.Add(1)
				// The first copy lives 2 s; the refreshed one outlives the
				// test, so a second expiry (Date has one-second resolution,
				// which can shorten a life by up to a second) cannot blur
				// the count. As a live playlist the refreshed copy lives
				// half its target duration whatever max-age says: 4 s.
				maxAge := "max-age=2"
				if n > 1 {
					time.Sleep(150 * time.Millisecond) // a slow refresh keeps the others busy
					maxAge = "max-age=60"
				}
				w.Header().Set("Cache-Control", maxAge)
				io.WriteString(w, "#EXTM3U\n#EXT-X-TARGETDURATION:8\n#EXT-X-MEDIA-SEQUENCE:"+strconv.Itoa(int(n))+"\n#EXTINF:4,\nseg-"+strconv.Itoa(int(n))+".m4s\n")
			}))
			defer origin.Close()
			e := newEdge(t, origin.URL, func(c *Config) {
				cp := c.Classes["manifest"]
				cp.RefreshWait = 0
				c.Classes["manifest"] = cp
			})
			if resp, _ := mustGet(t, e.URL+tc.path); resp.StatusCode != 200 {
				t.Fatal(resp.Status)
			}
			tr := &http.Transport{MaxIdleConnsPerHost: 64}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr}
			var (
				wg       sync.WaitGroup
				mu       sync.Mutex
				statuses = map[string]int{}
				errs     atomic.Int32
			)
			// Hammer from 0.3 s to 3 s: the 2 s entry expires once inside.
			primed := time.Now()
			time.Sleep(300 * time.Millisecond)
			stop := primed.Add(3 * time.Second)
			for range 64 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < 100000 && time.Now().Before(stop); i++ {
						resp, _, err := get(t, client, e.URL+tc.path)
						if err != nil || resp.StatusCode != 200 {
							errs.Add(1)
							continue
						}
						mu.Lock()
						statuses[resp.Header.Get("X-Cache-Status")]++
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			t.Logf("statuses under load: %v", statuses)
			if errs.Load() > 0 {
				t.Fatalf("%d failed requests", errs.Load())
			}
			if n := hits.Load(); n != 2 {
				t.Fatalf("origin saw %d requests (1 fill + %d refreshes), want exactly 1 refresh", n, n-1)
			}
			// The refresher streams the new copy (EXPIRED) or, when the
			// class serves stale at once, refreshes in the background.
			if statuses["EXPIRED"] > 1 {
				t.Fatalf("more than one request refreshed: %v", statuses)
			}
			if statuses[tc.want] == 0 {
				t.Fatalf("no %s while the refresh ran: %v", tc.want, statuses)
			}
		})
	}
}

// brokenOrigin misbehaves mid-body on its first request, then serves the
// object whole.
func brokenOrigin(t *testing.T, mode string) (*httptest.Server, *atomic.Int32) {
	var hits atomic.Int32
	full := pattern(200 << 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := hits.Add(1)
		w.Header().Set("Cache-Control", "max-age=60")
		if n > 1 {
			w.Write(full)
			return
		}
		switch mode {
		case "short":
			// Announce more than is sent, then close the connection.
			w.Header().Set("Content-Length", strconv.Itoa(len(full)))
			w.Write(full[:len(full)/2])
			w.(http.Flusher).Flush()
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		case "reset":
			// Chunked, then a TCP reset.
			w.Write(full[:len(full)/2])
			w.(http.Flusher).Flush()
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.(*net.TCPConn).SetLinger(0)
			conn.Close()
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func TestBrokenFillsCacheNothing(t *testing.T) {
	checkGoroutines(t)
	for _, mode := range []string{"short", "reset"} {
		t.Run(mode, func(t *testing.T) {
			origin, hits := brokenOrigin(t, mode)
			e := newEdge(t, origin.URL, nil)
			u := e.URL + "/v/seg-1.m4s"
			resp, b, err := get(t, http.DefaultClient, u)
			if err == nil {
				t.Fatalf("client read %d bytes and a clean end (%v); want an aborted response", len(b), resp.Status)
			}
			// The head goes out as soon as the origin's arrives, so the
			// viewer sees a 200 whose body breaks, never an error page
			// after bytes of the body.
			if resp == nil || resp.StatusCode != 200 {
				t.Fatalf("want a 200 whose body is aborted; got %v", resp)
			}
			resp, b = mustGet(t, u)
			wantStatus(t, resp, 200, "MISS")
			if len(b) != 200<<10 {
				t.Fatalf("second fetch %d bytes", len(b))
			}
			if hits.Load() != 2 {
				t.Fatalf("origin hit %d times; the broken body must not be cached", hits.Load())
			}
			resp, _ = mustGet(t, u)
			wantStatus(t, resp, 200, "HIT")
		})
	}
}

// TestFirstClientHangsUp: the client whose miss started the fill leaves
// after its first bytes; the fill goes on for everyone else.
func TestFirstClientHangsUp(t *testing.T) {
	checkGoroutines(t)
	want := pattern(1 << 20)
	origin, hits := slowOrigin(t, want, 500*time.Millisecond, http.Header{"Cache-Control": {"max-age=60"}})
	e := newEdge(t, origin.URL, nil)
	u := e.URL + "/v/seg-9.m4s"

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("X-Cache-Status") != "MISS" {
		t.Fatalf("first client got %s", resp.Header.Get("X-Cache-Status"))
	}
	io.ReadFull(resp.Body, make([]byte, 1000))
	var wg sync.WaitGroup
	bodies := make([][]byte, 10)
	for i := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, b, err := get(t, http.DefaultClient, u)
			if err != nil {
				t.Errorf("joiner %d: %v", i, err)
			}
			bodies[i] = b
		}()
	}
	time.Sleep(50 * time.Millisecond)
	cancel()
	resp.Body.Close()
	wg.Wait()
	for i, b := range bodies {
		if string(b) != string(want) {
			t.Fatalf("joiner %d got %d bytes", i, len(b))
		}
	}
	if hits.get("/v/seg-9.m4s") != 1 {
		t.Fatalf("origin hit %d times", hits.get("/v/seg-9.m4s"))
	}
	resp2, _ := mustGet(t, u)
	wantStatus(t, resp2, 200, "HIT")
}

// TestRangeWhileFilling: a range inside an object still arriving is
// answered as soon as its bytes are there (EXT-X-BYTERANGE segments).
func TestRangeWhileFilling(t *testing.T) {
	checkGoroutines(t)
	want := pattern(1 << 20)
	// The origin holds its last piece until the range has been answered:
	// an edge that waited for the whole object would not answer it before
	// the origin's failsafe.
	gate := make(chan struct{})
	origin, _ := slowOriginGated(t, want, 800*time.Millisecond, http.Header{"Cache-Control": {"max-age=60"}}, gate)
	e := newEdge(t, origin.URL, nil)
	u := e.URL + "/v/all.mp4"
	filler := make(chan error, 1)
	go func() { // starts the fill
		_, _, err := get(t, http.DefaultClient, u)
		filler <- err
	}()
	defer func() {
		if err := <-filler; err != nil {
			t.Errorf("filling request: %v", err)
		}
	}()
	time.Sleep(50 * time.Millisecond)
	resp, b := mustGet(t, u, "Range", "bytes=1000-1999")
	if resp.StatusCode != 206 || string(b) != string(want[1000:2000]) {
		t.Fatalf("range during fill: %d, %d bytes", resp.StatusCode, len(b))
	}
	close(gate) // had the range waited for the whole fill, the origin's failsafe would have failed the test
	if cr := resp.Header.Get("Content-Range"); cr != "bytes 1000-1999/1048576" {
		t.Fatalf("Content-Range %q", cr)
	}
}

func TestCachingRules(t *testing.T) {
	checkGoroutines(t)
	type resp struct {
		hdr  http.Header
		code int
	}
	cases := []struct {
		name   string
		path   string
		origin resp
		req    []string // header pairs
		second string   // X-Cache-Status of the second request
		hits   int32
	}{
		{"no freshness info, class other: not cached", "/x/file.bin", resp{http.Header{}, 200}, nil, "MISS", 2},
		{"no freshness info, class segment: default ttl", "/x/seg.ts", resp{http.Header{}, 200}, nil, "HIT", 1},
		{"no-store", "/x/seg.m4s", resp{http.Header{"Cache-Control": {"no-store"}}, 200}, nil, "MISS", 2},
		{"private", "/x/seg.m4s", resp{http.Header{"Cache-Control": {"private, max-age=60"}}, 200}, nil, "MISS", 2},
		{"set-cookie", "/x/seg.m4s", resp{http.Header{"Cache-Control": {"max-age=60"}, "Set-Cookie": {"a=b"}}, 200}, nil, "MISS", 2},
		// RFC 9111 4.1: the same User-Agent selects the same variant.
		{"vary on user-agent", "/x/seg.m4s", resp{http.Header{"Cache-Control": {"max-age=60"}, "Vary": {"User-Agent"}}, 200}, nil, "HIT", 1},
		{"vary on a field the request lacks", "/x/seg.m4s", resp{http.Header{"Cache-Control": {"max-age=60"}, "Vary": {"X-Missing"}}, 200}, nil, "HIT", 1},
		{"vary star", "/x/seg.m4s", resp{http.Header{"Cache-Control": {"max-age=60"}, "Vary": {"*"}}, 200}, nil, "MISS", 2},
		// The "authorized" cases run on a route that forwards
		// Authorization (by default it never reaches the origin).
		{"authorized without public", "/x/seg.m4s", resp{http.Header{"Cache-Control": {"max-age=60"}}, 200}, []string{"Authorization", "Bearer x"}, "MISS", 2},
		{"authorized with s-maxage", "/x/seg.m4s", resp{http.Header{"Cache-Control": {"s-maxage=60"}}, 200}, []string{"Authorization", "Bearer x"}, "HIT", 1},
		{"unforwarded authorization", "/x/seg.m4s", resp{http.Header{"Cache-Control": {"max-age=60"}}, 200}, []string{"Authorization", "Bearer x"}, "HIT", 1},
		{"authorized with public", "/x/seg.m4s", resp{http.Header{"Cache-Control": {"public, max-age=60"}}, 200}, []string{"Authorization", "Bearer x"}, "HIT", 1},
		{"404 cached briefly", "/x/seg.m4s", resp{http.Header{}, 404}, nil, "HIT", 1},
		{"500 not cached", "/x/seg.m4s", resp{http.Header{}, 500}, nil, "MISS", 2},
		{"s-maxage over max-age=0", "/x/seg.m4s", resp{http.Header{"Cache-Control": {"max-age=0, s-maxage=60"}}, 200}, nil, "HIT", 1},
		{"expires", "/x/file.bin", resp{http.Header{"Expires": {time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)}, "Date": {time.Now().UTC().Format(http.TimeFormat)}}, 200}, nil, "HIT", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var hits atomic.Int32
			origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				for k, v := range tc.origin.hdr {
					w.Header()[k] = v
				}
				w.WriteHeader(tc.origin.code)
				io.WriteString(w, "payload")
			}))
			defer origin.Close()
			e := newEdge(t, origin.URL, func(c *Config) {
				if strings.HasPrefix(tc.name, "authorized") {
					c.Routes[0].ForwardHeaders = []string{"Authorization"}
				}
			})
			r1, _ := mustGet(t, e.URL+tc.path, tc.req...)
			wantStatus(t, r1, tc.origin.code, "MISS")
			r2, b := mustGet(t, e.URL+tc.path, tc.req...)
			wantStatus(t, r2, tc.origin.code, tc.second)
			if tc.origin.code == 200 && string(b) != "payload" {
				t.Fatalf("body %q", b)
			}
			if hits.Load() != tc.hits {
				t.Fatalf("origin hits %d, want %d", hits.Load(), tc.hits)
			}
		})
	}
}

func TestHeadersAndKeys(t *testing.T) {
	checkGoroutines(t)
	var (
		mu   sync.Mutex
		seen []*http.Request
	)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r)
		mu.Unlock()
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Connection", "X-Hop")
		w.Header().Set("X-Hop", "secret")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("X-End", "kept")
		io.WriteString(w, r.URL.RawQuery)
	}))
	defer origin.Close()
	e := newEdge(t, origin.URL+"/base/", func(c *Config) {
		cp := c.Classes["segment"]
		cp.DropQuery = []string{"token"}
		c.Classes["segment"] = cp
	})

	resp, b := mustGet(t, e.URL+"/s/seg.m4s?b=2&a=1&token=alice")
	wantStatus(t, resp, 200, "MISS")
	if resp.Header.Get("X-Hop") != "" || resp.Header.Get("Keep-Alive") != "" || resp.Header.Get("X-End") != "kept" {
		t.Fatalf("hop-by-hop handling: %v", resp.Header)
	}
	if string(b) != "b=2&a=1&token=alice" {
		t.Fatalf("origin saw query %q", b)
	}
	// Same parameters in another order, another token: the same entry.
	resp, _ = mustGet(t, e.URL+"/s/seg.m4s?a=1&token=bob&b=2")
	wantStatus(t, resp, 200, "HIT")
	// _HLS_ directives always stay in the key.
	resp, _ = mustGet(t, e.URL+"/s/seg.m4s?a=1&b=2&_HLS_msn=3")
	wantStatus(t, resp, 200, "MISS")
	// HEAD misses fetch with GET, and the entry serves later GETs.
	resp, _ = mustGet(t, e.URL+"/s/other.m4s", "HEAD")
	wantStatus(t, resp, 200, "MISS")
	resp, _ = mustGet(t, e.URL+"/s/other.m4s")
	wantStatus(t, resp, 200, "HIT")

	mu.Lock()
	defer mu.Unlock()
	for _, r := range seen {
		if r.Method != http.MethodGet {
			t.Errorf("origin saw %s", r.Method)
		}
		if !strings.HasPrefix(r.URL.Path, "/base/s/") {
			t.Errorf("origin path %q: the prefix must map onto the origin path", r.URL.Path)
		}
		if !strings.Contains(r.Header.Get("Via"), "edge-test") {
			t.Errorf("no Via: %v", r.Header)
		}
	}
}

func TestNoOpenProxy(t *testing.T) {
	checkGoroutines(t)
	var hits atomic.Int32
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer origin.Close()
	e := newEdge(t, origin.URL+"/hls/", func(c *Config) {
		c.Routes = []Route{{Prefix: "/hls/", Origin: origin.URL + "/hls/"}}
	})
	raw := func(reqLine string, hdr ...string) *http.Response {
		conn, err := net.Dial("tcp", e.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		io.WriteString(conn, reqLine+"\r\nHost: x\r\n"+strings.Join(hdr, "")+"\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, tc := range []struct {
		name, line string
		hdr        []string
		code       int
	}{
		{"absolute-form elsewhere", "GET http://example.com/hls/a.ts HTTP/1.1", nil, 400},
		{"CONNECT", "CONNECT example.com:443 HTTP/1.1", nil, 405},
		{"unrouted path", "GET /etc/passwd HTTP/1.1", nil, 404},
		{"via loop", "GET /hls/a.ts HTTP/1.1", []string{"Via: 1.1 edge-test (edgecache)\r\n"}, 508},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := raw(tc.line, tc.hdr...)
			if resp.StatusCode != tc.code {
				t.Fatalf("got %d, want %d", resp.StatusCode, tc.code)
			}
			if resp.Header.Get("X-Cache-Status") == "" {
				t.Fatal("no X-Cache-Status")
			}
		})
	}
	if hits.Load() != 0 {
		t.Fatalf("origin reached %d times", hits.Load())
	}
}

func TestOtherMethodsPassThrough(t *testing.T) {
	checkGoroutines(t)
	var hits atomic.Int32
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, r.Method+":"+string(b))
	}))
	defer origin.Close()
	e := newEdge(t, origin.URL, nil)
	for range 2 {
		resp, err := http.Post(e.URL+"/ingest/seg.m4s", "text/plain", strings.NewReader("hello"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "POST:hello" || resp.Header.Get("X-Cache-Status") != "BYPASS" {
			t.Fatalf("POST: %q %s", b, resp.Header.Get("X-Cache-Status"))
		}
	}
	if hits.Load() != 2 {
		t.Fatalf("origin saw %d POSTs", hits.Load())
	}
}

func TestOversizedObjectBypasses(t *testing.T) {
	checkGoroutines(t)
	want := pattern(3 << 20)
	origin, hits := slowOrigin(t, want, 100*time.Millisecond, http.Header{"Cache-Control": {"max-age=60"}})
	e := newEdge(t, origin.URL, func(c *Config) {
		c.Cache.MaxBytes = 16 << 20
		c.Cache.MaxObjectBytes = 1 << 20
	})
	for range 2 {
		resp, b := mustGet(t, e.URL+"/vod/big.mp4")
		wantStatus(t, resp, 200, "BYPASS")
		if string(b) != string(want) {
			t.Fatalf("body %d bytes", len(b))
		}
	}
	if hits.get("/vod/big.mp4") != 2 {
		t.Fatalf("origin hits %d", hits.get("/vod/big.mp4"))
	}
}

func TestOriginErrors(t *testing.T) {
	checkGoroutines(t)
	cases := []struct {
		name    string
		handler http.HandlerFunc
		mod     func(*Config)
		code    int
	}{
		{"first byte timeout", func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(300 * time.Millisecond)
		}, func(c *Config) { c.Origin.FirstByteTimeout = 100 * time.Millisecond }, 504},
		{"connection refused", nil, nil, 502},
		{"10 MB response header", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Huge", strings.Repeat("a", 10<<20))
			io.WriteString(w, "body")
		}, nil, 502},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var url string
			if tc.handler != nil {
				o := httptest.NewServer(tc.handler)
				defer o.Close()
				url = o.URL
			} else {
				ln, _ := net.Listen("tcp", "127.0.0.1:0")
				url = "http://" + ln.Addr().String()
				ln.Close()
			}
			e := newEdge(t, url, tc.mod)
			resp, _ := mustGet(t, e.URL+"/x/seg.m4s")
			if resp.StatusCode != tc.code {
				t.Fatalf("got %d want %d", resp.StatusCode, tc.code)
			}
			if resp.Header.Get("X-Cache-Status") == "" {
				t.Fatal("error response without X-Cache-Status")
			}
		})
	}
}

// An origin that goes quiet mid-body is given up on after
// origin.idle_timeout: the origin here stays quiet until the edge hangs
// up (or the test ends), so only the edge's clock can end the fill.
func TestIdleOriginBodyAborts(t *testing.T) {
	checkGoroutines(t)
	release := make(chan struct{})
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.Header().Set("Cache-Control", "max-age=60")
		w.Write(make([]byte, 10))
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer origin.Close()
	defer close(release) // before the origin's Close: defers run last first
	e := newEdge(t, origin.URL, func(c *Config) { c.Origin.IdleTimeout = 200 * time.Millisecond })
	client := &http.Client{Timeout: 30 * time.Second} // liveness only: its error is not the one wanted
	_, _, err := get(t, client, e.URL+"/x/seg.m4s")
	if err == nil || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("want an aborted body, got %v", err)
	}
	if e.p.Cache().Get("/x/seg.m4s") != nil {
		t.Fatal("idle-aborted body cached")
	}
}
