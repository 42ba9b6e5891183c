package proxy

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Regression tests for the findings of the correctness issue (RFC 9111 and
// live-stream faults), one per finding, each asserting what the viewer got
// and what the origin saw.

// TestUpstreamAgeCounted (finding 1): the origin's Age is part of the
// entry's age (RFC 9111 4.2.3): max-age=3600 with Age: 7200 is stale on
// arrival, and the Age the edge sends is at least the origin's.
func TestUpstreamAgeCounted(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Header().Set("Age", "7200")
		w.Header().Set("ETag", `"v1"`)
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.Header().Set("Age", "0")
			w.WriteHeader(http.StatusNotModified)
			return
		}
		io.WriteString(w, "x")
	})
	e := newHLSEdge(t, rec, nil)
	resp, _ := mustGet(t, e.URL+"/hls/seg.ts")
	if age, _ := strconv.Atoi(resp.Header.Get("Age")); age < 7200 {
		t.Errorf("first answer Age %q, want at least the origin's 7200", resp.Header.Get("Age"))
	}
	e.quiesce(t)
	resp, _ = mustGet(t, e.URL+"/hls/seg.ts")
	if st := resp.Header.Get("X-Cache-Status"); st == "HIT" {
		t.Errorf("an entry born stale was served as %s", st)
	}
	if n := len(rec.requests()); n != 2 {
		t.Errorf("origin received %d requests, want 2", n)
	}
}

// TestStaleForbidden (finding 2): after the origin fails, the edge serves
// stale only where the origin allowed it.
func TestStaleForbidden(t *testing.T) {
	for _, tc := range []struct {
		cc        string
		wantStale bool
	}{
		{"max-age=0", true},
		{"max-age=0, no-cache", false},
		{"s-maxage=0", false},
		{"s-maxage=0, stale-if-error=60", true},
		{"max-age=0, must-revalidate", false},
		{"max-age=0, proxy-revalidate", false},
		{"max-age=0, no-cache, stale-if-error=60", false},
	} {
		t.Run(tc.cc, func(t *testing.T) {
			var fail atomic.Bool
			rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
				if fail.Load() {
					w.WriteHeader(http.StatusBadGateway)
					return
				}
				w.Header().Set("Cache-Control", tc.cc)
				w.Header().Set("ETag", `"v1"`)
				io.WriteString(w, "good")
			})
			e := newHLSEdge(t, rec, func(c *Config) {
				cp := c.Classes["segment"]
				cp.StaleIfError = time.Hour
				c.Classes["segment"] = cp
			})
			mustGet(t, e.URL+"/hls/seg.ts")
			e.quiesce(t)
			fail.Store(true)
			resp, body := mustGet(t, e.URL+"/hls/seg.ts")
			gotStale := resp.StatusCode == 200 && string(body) == "good"
			if gotStale != tc.wantStale {
				t.Errorf("after the origin failed: %d %s %q; want stale served: %v", resp.StatusCode, resp.Header.Get("X-Cache-Status"), body, tc.wantStale)
			}
			if !gotStale && resp.Header.Get("Etag") != "" {
				t.Errorf("the error page carries the origin's ETag")
			}
		})
	}
}

const livePlaylist = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:%d\n#EXTINF:4,\nseg%d.ts\n#EXTINF:4,\nseg%d.ts\n"

// TestNoCachePlaylistRevalidated (finding 3): a playlist the origin marks
// no-cache is revalidated on every request, never a plain HIT.
func TestNoCachePlaylistRevalidated(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("ETag", `"p1"`)
		if r.Header.Get("If-None-Match") == `"p1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		fmt.Fprintf(w, livePlaylist, 1, 1, 2)
	})
	e := newHLSEdge(t, rec, func(c *Config) { c.Prefetch = false })
	for i := range 3 {
		resp, body := mustGet(t, e.URL+"/hls/live.m3u8")
		if !strings.Contains(string(body), "seg2.ts") {
			t.Fatalf("request %d: %q", i, body)
		}
		if st := resp.Header.Get("X-Cache-Status"); st == "HIT" || st == "UPDATING" {
			t.Errorf("request %d: %s, want a revalidation", i, st)
		}
		e.quiesce(t)
	}
	reqs := rec.requests()
	if len(reqs) != 3 {
		t.Fatalf("origin received %d requests, want 3", len(reqs))
	}
	for _, s := range reqs[1:] {
		if s.header.Get("If-None-Match") != `"p1"` {
			t.Errorf("a later request was not conditional: %q", s.header)
		}
	}
}

// TestInvalidExpires (finding 5): an invalid or repeated Expires means
// already expired (RFC 9111 5.3).
func TestInvalidExpires(t *testing.T) {
	future := time.Now().Add(time.Hour).UTC()
	// Two days ahead at 09:04:05, so the 12-hour "3" prints one digit
	// whatever the hour now (from 23:00 UTC, an hour ahead printed "12").
	d := time.Now().UTC().AddDate(0, 0, 2)
	oneDigit := time.Date(d.Year(), d.Month(), d.Day(), 9, 4, 5, 0, time.UTC)
	for name, exp := range map[string][]string{
		"runs of spaces":  {strings.Replace(future.Format(http.TimeFormat), " ", "  ", 1)},
		"one-digit hour":  {oneDigit.Format("Mon, 02 Jan 2006 3:04:05 GMT")},
		"two Expires":     {future.Format(http.TimeFormat), future.Add(time.Hour).Format(http.TimeFormat)},
		"zero":            {"0"},
		"not GMT":         {future.Format("Mon, 02 Jan 2006 15:04:05 MST")},
		"valid (control)": {future.Format(http.TimeFormat)},
	} {
		t.Run(name, func(t *testing.T) {
			rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header()["Expires"] = exp
				w.Header().Set("Date", time.Now().UTC().Format(http.TimeFormat))
				io.WriteString(w, "x")
			})
			e := newHLSEdge(t, rec, func(c *Config) {
				cp := c.Classes["other"]
				cp.TTL = time.Hour // what a missing Expires would get
				c.Classes["other"] = cp
			})
			mustGet(t, e.URL+"/hls/file.bin")
			e.quiesce(t)
			resp, _ := mustGet(t, e.URL+"/hls/file.bin")
			hit := resp.Header.Get("X-Cache-Status") == "HIT"
			if want := name == "valid (control)"; hit != want {
				t.Errorf("second request %s; want HIT %v", resp.Header.Get("X-Cache-Status"), want)
			}
		})
	}
}

// TestUnsafeMethodsInvalidate (finding 6): a successful unsafe request
// invalidates its URL and the same-origin Location (RFC 9111 4.4); methods
// the edge does not know reach the origin.
func TestUnsafeMethodsInvalidate(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			w.Header().Set("Cache-Control", "max-age=600")
			io.WriteString(w, r.URL.Path)
		case http.MethodPost:
			w.Header().Set("Location", "/hls/other.ts")
			w.WriteHeader(http.StatusCreated)
		case "PURGE", "FOO":
			w.WriteHeader(http.StatusNoContent)
		default:
			w.WriteHeader(http.StatusInternalServerError)
		}
	})
	e := newHLSEdge(t, rec, nil)
	status := func(path string) string {
		resp, _ := mustGet(t, e.URL+path)
		return resp.Header.Get("X-Cache-Status")
	}
	do := func(method, path string) int {
		req, _ := http.NewRequest(method, e.URL+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	status("/hls/a.ts")
	status("/hls/other.ts")
	status("/hls/c.ts")
	e.quiesce(t)
	if do(http.MethodPost, "/hls/a.ts") != http.StatusCreated {
		t.Fatal("POST failed")
	}
	if do(http.MethodDelete, "/hls/c.ts") != http.StatusInternalServerError {
		t.Fatal("DELETE did not reach the origin")
	}
	for path, want := range map[string]string{"/hls/a.ts": "MISS", "/hls/other.ts": "MISS", "/hls/c.ts": "HIT"} {
		if got := status(path); got != want {
			t.Errorf("%s after the unsafe requests: %s, want %s", path, got, want)
		}
	}
	if code := do("FOO", "/hls/a.ts"); code != http.StatusNoContent {
		t.Errorf("unknown method: %d, want the origin's 204", code)
	}
	if got := status("/hls/a.ts"); got != "MISS" {
		t.Errorf("after FOO: %s, want MISS", got)
	}
	if !rec.sawTarget("/public/hls/a.ts") {
		t.Fatal("no request reached the origin")
	}
	methods := map[string]bool{}
	for _, s := range rec.requests() {
		methods[s.method] = true
	}
	if !methods["FOO"] || !methods[http.MethodDelete] {
		t.Errorf("methods the origin saw: %v", methods)
	}
}

// TestCDNCacheControl (finding 7): RFC 9213's targeted field wins over
// Cache-Control, and the edge's own wins over it.
func TestCDNCacheControl(t *testing.T) {
	for _, tc := range []struct {
		name   string
		hdr    map[string]string
		second string
	}{
		{"cdn allows", map[string]string{"Cache-Control": "no-store", "CDN-Cache-Control": "max-age=60"}, "HIT"},
		{"cdn forbids", map[string]string{"Cache-Control": "max-age=60", "CDN-Cache-Control": "no-store"}, "MISS"},
		{"own over cdn", map[string]string{"CDN-Cache-Control": "no-store", "Edgecache-Cache-Control": "max-age=60"}, "HIT"},
		{"invalid cdn ignored", map[string]string{"Cache-Control": "max-age=60", "CDN-Cache-Control": "max-age=\"x"}, "HIT"},
		{"cdn hides expires", map[string]string{"CDN-Cache-Control": "public", "Expires": time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)}, "MISS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.hdr {
					w.Header().Set(k, v)
				}
				w.Header().Set("Date", time.Now().UTC().Format(http.TimeFormat))
				io.WriteString(w, "x")
			})
			e := newHLSEdge(t, rec, nil)
			resp, _ := mustGet(t, e.URL+"/hls/file.bin")
			if resp.Header.Get("Edgecache-Cache-Control") != "" {
				t.Error("the edge's own field was passed on")
			}
			e.quiesce(t)
			resp, _ = mustGet(t, e.URL+"/hls/file.bin")
			if got := resp.Header.Get("X-Cache-Status"); got != tc.second {
				t.Errorf("second request %s, want %s", got, tc.second)
			}
		})
	}
}

// restartOrigin serves a live playlist whose window and segment contents
// the test sets.
type restartOrigin struct {
	mu      sync.Mutex
	first   int    // media sequence of the window's first segment
	content string // what each segment's body says
	etag    int
}

func (o *restartOrigin) set(first int, content string) {
	o.mu.Lock()
	o.first, o.content = first, content
	o.etag++
	o.mu.Unlock()
}

func (o *restartOrigin) serve(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	first, content, etag := o.first, o.content, o.etag
	o.mu.Unlock()
	if strings.HasSuffix(r.URL.Path, ".m3u8") {
		w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
		w.Header().Set("Cache-Control", "max-age=0")
		w.Header().Set("ETag", fmt.Sprintf(`"%d"`, etag))
		fmt.Fprintf(w, "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:%d\n", first)
		for i := first; i < first+4; i++ {
			fmt.Fprintf(w, "#EXTINF:4,\nseg%d.ts\n", i)
		}
		return
	}
	w.Header().Set("Cache-Control", "max-age=600")
	w.Header().Set("Content-Type", "video/mp2t")
	io.WriteString(w, content+" "+r.URL.Path)
}

// TestStreamRestartPurges (finding 8): a restart whose new window shares no
// URI with the old window, but reuses URIs the edge cached long before,
// purges everything the new playlist lists and prefetches the new stream
// at once.
func TestStreamRestartPurges(t *testing.T) {
	o := &restartOrigin{}
	rec := newRecorder(t, o.serve)
	e := newHLSEdge(t, rec, func(c *Config) {
		cp := c.Classes["manifest"]
		cp.StaleWhileUpdating = 0 // every playlist request waits for its refresh
		c.Classes["manifest"] = cp
	})
	o.set(5, "old")
	mustGet(t, e.URL+"/hls/live.m3u8")
	if _, b := mustGet(t, e.URL+"/hls/seg5.ts"); !strings.HasPrefix(string(b), "old") {
		t.Fatalf("seg5 before: %q", b)
	}
	e.quiesce(t)
	o.set(100, "old") // the old stream moves on
	mustGet(t, e.URL+"/hls/live.m3u8")
	e.quiesce(t)
	o.set(5, "new") // and restarts, numbering and naming from 5 again
	mustGet(t, e.URL+"/hls/live.m3u8")
	resp, b := mustGet(t, e.URL+"/hls/seg5.ts")
	if !strings.HasPrefix(string(b), "new") {
		t.Errorf("after the restart seg5 is %q (%s), the old stream's", b, resp.Header.Get("X-Cache-Status"))
	}
	// The new stream's live edge is prefetched without a viewer asking.
	deadline := time.Now().Add(10 * time.Second)
	for !rec.sawTarget("seg8.ts") {
		if time.Now().After(deadline) {
			t.Fatalf("the new stream was not prefetched: %q", rec.targets())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestJunkPlaylist (finding 9): an HTML page or binary junk answered with
// 200 under a playlist URL is an origin error: viewers get the last good
// playlist as STALE within the stale bound, never the junk, and it is
// counted.
func TestJunkPlaylist(t *testing.T) {
	for name, junk := range map[string]struct{ ct, body string }{
		"html page":   {"text/html", "<html><body>Service unavailable</body></html>"},
		"binary junk": {"application/vnd.apple.mpegurl", "\x00\x01\x02 not a playlist"},
	} {
		t.Run(name, func(t *testing.T) {
			var bad atomic.Bool
			rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "max-age=0")
				if bad.Load() {
					w.Header().Set("Content-Type", junk.ct)
					io.WriteString(w, junk.body)
					return
				}
				w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
				fmt.Fprintf(w, livePlaylist, 1, 1, 2)
			})
			e := newHLSEdge(t, rec, func(c *Config) { c.Prefetch = false })
			mustGet(t, e.URL+"/hls/live.m3u8")
			e.quiesce(t)
			bad.Store(true)
			resp, body := mustGet(t, e.URL+"/hls/live.m3u8")
			if resp.StatusCode != 200 || !strings.Contains(string(body), "seg2.ts") || resp.Header.Get("X-Cache-Status") != "STALE" {
				t.Errorf("got %d %s %q; want the last good playlist as STALE", resp.StatusCode, resp.Header.Get("X-Cache-Status"), body)
			}
			if n := metricValue(t, e.reg, "edgecache_playlist_rejections_total", "", ""); n < 1 {
				t.Errorf("rejections counted: %v", n)
			}
		})
	}
	// With no good playlist to fall back on: 502, never the junk.
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<html>oops</html>")
	})
	e := newHLSEdge(t, rec, nil)
	resp, body := mustGet(t, e.URL+"/hls/live.m3u8")
	if resp.StatusCode != http.StatusBadGateway || strings.Contains(string(body), "oops") {
		t.Errorf("first playlist junk: %d %q, want 502", resp.StatusCode, body)
	}
}

// TestPlaylistStaleBound (finding 10): a live media playlist is never
// served older than 1.5 target durations, whatever the class allows.
func TestPlaylistStaleBound(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
		fmt.Fprintf(w, livePlaylist, 1, 1, 2) // target duration 4 s
	})
	e := newHLSEdge(t, rec, func(c *Config) {
		c.Prefetch = false
		cp := c.Classes["manifest"]
		cp.StaleIfError, cp.StaleWhileUpdating = time.Minute, time.Minute
		c.Classes["manifest"] = cp
	})
	mustGet(t, e.URL+"/hls/live.m3u8")
	en := settled(t, e.p.Cache(), "/hls/live.m3u8")
	if en == nil {
		t.Fatal("playlist not stored")
	}
	h := en.Head()
	if oldest := h.Lifetime + max(h.StaleIfError, h.StaleWhileRevalidate); oldest > 6*time.Second {
		t.Errorf("lifetime %v + stale %v/%v lets a viewer get a playlist %v old; the bound is 1.5 target durations (6s)", h.Lifetime, h.StaleIfError, h.StaleWhileRevalidate, oldest)
	}
}

// TestPlaylist404Cap (finding 11): a playlist 404 lives at most one target
// duration whatever status_ttl says, and is never served stale, even when
// its error page says text/html.
func TestPlaylist404Cap(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/public/hls/live.m3u8" {
			w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
			io.WriteString(w, "#EXTM3U\n#EXT-X-TARGETDURATION:8\n#EXT-X-MEDIA-SEQUENCE:1\n#EXTINF:8,\nseg1.ts\n")
			return
		}
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "<html>not found</html>")
	})
	e := newHLSEdge(t, rec, func(c *Config) {
		c.Prefetch = false
		c.StatusTTL = map[int]time.Duration{404: time.Minute}
	})
	mustGet(t, e.URL+"/hls/live.m3u8") // the edge now knows a target duration: 8 s
	resp, _ := mustGet(t, e.URL+"/hls/gone.m3u8")
	if resp.StatusCode != 404 {
		t.Fatalf("%d", resp.StatusCode)
	}
	en := settled(t, e.p.Cache(), "/hls/gone.m3u8")
	if en == nil {
		t.Fatal("404 not stored at all")
	}
	if h := en.Head(); h.Lifetime > 8*time.Second || h.StaleIfError != 0 || h.StaleWhileRevalidate != 0 {
		t.Errorf("404 head: life %v, stale-if-error %v, stale-while-revalidate %v; want at most one target duration (8s) and never stale", h.Lifetime, h.StaleIfError, h.StaleWhileRevalidate)
	}
}

// TestSlowPassThroughReader (finding 13): the origin idle timer measures
// the origin: a viewer that pauses reading a large pass-through object for
// longer than origin.idle_timeout still gets all of it.
func TestSlowPassThroughReader(t *testing.T) {
	// Larger than the pass-through window (4 MiB), so the edge's writer
	// has to wait for this viewer.
	const size = 12 << 20
	obj := pattern(size)
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Content-Length", strconv.Itoa(size))
		w.Write(obj)
	})
	e := newHLSEdge(t, rec, func(c *Config) {
		c.Cache.MaxBytes = 4 << 20
		c.Cache.MaxObjectBytes = 1 << 20 // pass-through
		// Long enough that a busy machine's scheduling delays between two
		// reads of a sending origin never reach it.
		c.Origin.IdleTimeout = 500 * time.Millisecond
	})
	resp, err := http.Get(e.URL + "/hls/big.mp4")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	head := make([]byte, 64<<10)
	if _, err := io.ReadFull(resp.Body, head); err != nil {
		t.Fatal(err)
	}
	// Stop reading for several idle timeouts: the edge's window fills and
	// its writer waits for this viewer, which is no origin idleness.
	time.Sleep(2500 * time.Millisecond)
	rest, err := io.ReadAll(resp.Body)
	if err != nil || !bytes.Equal(append(head, rest...), obj) {
		t.Errorf("slow viewer got %d of %d bytes: %v", len(head)+len(rest), size, err)
	}
}

// TestRangeOfLargeChunkedBody (finding 13): a range of a chunked body over
// max_object_bytes is answered with the origin's range, never an empty 200.
func TestRangeOfLargeChunkedBody(t *testing.T) {
	// Larger than the pass-through window (4 MiB): a reader waiting for
	// the end of the body would hold the fill up for good.
	const size = 6 << 20
	obj := pattern(size)
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		if rg := r.Header.Get("Range"); rg != "" {
			http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(obj))
			return
		}
		for off := 0; off < size; off += 64 << 10 {
			w.Write(obj[off : off+64<<10])
			w.(http.Flusher).Flush() // chunked: no Content-Length
		}
	})
	e := newHLSEdge(t, rec, func(c *Config) {
		c.Cache.MaxBytes = 4 << 20
		c.Cache.MaxObjectBytes = 1 << 20
		c.Origin.IdleTimeout = 200 * time.Millisecond
	})
	for range 2 {
		resp, body := mustGet(t, e.URL+"/hls/big.mp4", "Range", "bytes=100-199")
		if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, obj[100:200]) {
			t.Errorf("range: %d, %d bytes, Cache-Control %q", resp.StatusCode, len(body), resp.Header.Get("Cache-Control"))
		}
	}
}

// TestGzipConditional (finding 15): a gzip client's If-None-Match with the
// gzip copy's ETag gets a 304.
func TestGzipConditional(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
		w.Header().Set("ETag", `"pl"`)
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:1\n"+strings.Repeat("#EXTINF:4,\nsegment-with-a-long-name.ts\n", 20))
	})
	e := newHLSEdge(t, rec, func(c *Config) { c.Prefetch = false })
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	resp, body, err := get(t, client, e.URL+"/hls/live.m3u8", "Accept-Encoding", "gzip")
	if err != nil || resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("no gzip copy: %v %q", err, resp.Header)
	}
	if _, err := gzip.NewReader(bytes.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	etag := resp.Header.Get("Etag")
	if etag == `"pl"` || etag == "" {
		t.Fatalf("gzip copy's ETag %q", etag)
	}
	resp, _, err = get(t, client, e.URL+"/hls/live.m3u8", "Accept-Encoding", "gzip", "If-None-Match", etag)
	if err != nil || resp.StatusCode != http.StatusNotModified {
		t.Errorf("conditional with the gzip ETag: %v %v", resp.StatusCode, err)
	}
	resp, body, _ = get(t, client, e.URL+"/hls/live.m3u8", "Accept-Encoding", "gzip", "If-None-Match", `"pl"`)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("Content-Length") != strconv.Itoa(len(body)) {
		t.Errorf("conditional with the identity ETag: %d %q, %d bytes", resp.StatusCode, resp.Header, len(body))
	}
	resp, _, _ = get(t, client, e.URL+"/hls/live.m3u8", "If-None-Match", `"pl"`)
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("identity conditional: %d", resp.StatusCode)
	}
}
