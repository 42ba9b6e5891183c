package proxy

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// liveOrigin is a live HLS origin whose media playlist advances every
// segment duration and names everything with absolute URLs. Like
// nginx-rtmp, it serves the segment in progress under its final name,
// truncated, before any playlist lists it.
type liveOrigin struct {
	*httptest.Server
	seg     time.Duration
	window  int
	start   time.Time
	hits    counter
	startAt time.Time // the stream has no playlist before this: 404
	// holdPremature, when not nil, holds the answer for the segment in
	// progress until it is closed, so concurrent requests for it overlap.
	holdPremature chan struct{}
}

func newLiveOrigin(t *testing.T, seg time.Duration, notBefore time.Duration) *liveOrigin {
	o := &liveOrigin{seg: seg, window: 5}
	o.start = time.Now().Add(-time.Duration(o.window) * seg) // a full window at once
	o.startAt = time.Now().Add(notBefore)
	o.Server = httptest.NewServer(http.HandlerFunc(o.serve))
	t.Cleanup(o.Close)
	return o
}

// newest is the MSN of the newest complete segment.
func (o *liveOrigin) newest() int { return int(time.Since(o.start)/o.seg) - 1 }

func segBody(n int) []byte {
	b := bytes.Repeat([]byte(fmt.Sprintf("segment %08d|", n)), 4000)
	return b
}

func (o *liveOrigin) playlist() string {
	last := o.newest()
	first := max(0, last-o.window+1)
	var b strings.Builder
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:%d\n#EXT-X-MEDIA-SEQUENCE:%d\n", int(o.seg/time.Second), first)
	fmt.Fprintf(&b, "#EXT-X-MAP:URI=\"%s/live/init.mp4\"\n", o.URL)
	for n := first; n <= last; n++ {
		fmt.Fprintf(&b, "#EXTINF:%.3f,\n%s/live/seg-%d.m4s\n", o.seg.Seconds(), o.URL, n)
	}
	return b.String()
}

func (o *liveOrigin) serve(w http.ResponseWriter, r *http.Request) {
	o.hits.inc(r.URL.Path)
	if time.Now().Before(o.startAt) {
		http.NotFound(w, r)
		return
	}
	switch {
	case r.URL.Path == "/live/index.m3u8":
		w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
		io.WriteString(w, o.playlist())
	case r.URL.Path == "/live/init.mp4":
		w.Header().Set("Content-Type", "video/mp4")
		io.WriteString(w, "init segment")
	case strings.HasPrefix(r.URL.Path, "/live/seg-"):
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/live/seg-"), ".m4s"))
		newest := o.newest()
		switch {
		case err != nil || n > newest+1:
			http.NotFound(w, r)
		case n == newest+1:
			// Being written: a complete-looking 200 with what exists so far.
			if o.holdPremature != nil {
				select {
				case <-o.holdPremature:
				case <-r.Context().Done():
					return
				}
			}
			b := segBody(n)
			w.Write(b[:len(b)/3])
		default:
			w.Write(segBody(n))
		}
	default:
		http.NotFound(w, r)
	}
}

var msnRe = regexp.MustCompile(`#EXT-X-MEDIA-SEQUENCE:(\d+)`)

// TestLivePlaylistPolling: 500 viewers polling a live playlist through the
// edge see no origin URL, never a playlist older than one target
// duration, and cause about one origin playlist fetch per second.
func TestLivePlaylistPolling(t *testing.T) {
	checkGoroutines(t)
	o := newLiveOrigin(t, 2*time.Second, 0)
	e := newEdge(t, o.URL, func(c *Config) { c.Prefetch = false })
	const (
		viewers = 500
		run     = 6 * time.Second
	)
	tr := &http.Transport{MaxIdleConnsPerHost: viewers}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	var (
		wg       sync.WaitGroup
		requests atomic.Int64
		maxLag   atomic.Int64
		failures atomic.Int64
		leaked   atomic.Int64
	)
	host := strings.TrimPrefix(o.URL, "http://")
	stop := time.Now().Add(run)
	for i := range viewers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Spread the viewers over the first second, then poll every
			// second, as players reloading a 2 s playlist at half the
			// target duration do.
			time.Sleep(time.Duration(i) * time.Second / viewers)
			for k := 0; k < 100 && time.Now().Before(stop); k++ {
				// The origin's newest segment when the request is made:
				// what the answer is measured against, so that a reply
				// read late on a busy machine is not counted as stale.
				want := max(0, o.newest()-o.window+1)
				resp, b, err := get(t, client, e.URL+"/live/index.m3u8")
				if err != nil || resp.StatusCode != 200 {
					failures.Add(1)
				} else {
					requests.Add(1)
					if bytes.Contains(b, []byte(host)) {
						leaked.Add(1)
					}
					if m := msnRe.FindSubmatch(b); m != nil {
						msn, _ := strconv.Atoi(string(m[1]))
						if lag := int64(want - msn); lag > maxLag.Load() {
							maxLag.Store(lag)
						}
					}
				}
				time.Sleep(time.Second)
			}
		}()
	}
	wg.Wait()
	fetches := o.hits.get("/live/index.m3u8")
	t.Logf("%d viewers polling for %v: %d playlist requests served, %d origin playlist fetches (%.2f/s), max sequence lag %d",
		viewers, run, requests.Load(), fetches, float64(fetches)/run.Seconds(), maxLag.Load())
	if failures.Load() > 0 || leaked.Load() > 0 {
		t.Fatalf("%d failed requests, %d playlists with an origin URL", failures.Load(), leaked.Load())
	}
	// The playlist lives half a target duration (1 s): about one fetch a
	// second, never one per viewer. (A busy machine may poll less, so
	// the lower bound only says the edge refreshed.)
	if fetches < 2 || fetches > int(run/time.Second)+2 {
		t.Fatalf("origin saw %d playlist fetches in %v, want about one per second", fetches, run)
	}
	if maxLag.Load() > 1 {
		t.Fatalf("a viewer got a playlist %d segments behind the origin", maxLag.Load())
	}
}

// follow plays the live stream as one viewer: reload the playlist every
// half target duration and fetch each new segment once, in order. It
// returns the X-Cache-Status of every segment fetched.
func follow(t *testing.T, edgeURL string, run time.Duration) (statuses []string, bodiesOK bool) {
	next := -1 // the next sequence number to fetch
	bodiesOK = true
	segRe := regexp.MustCompile(`(?m)^(/live/seg-(\d+)\.m4s)$`)
	for stop := time.Now().Add(run); time.Now().Before(stop); time.Sleep(time.Second) {
		_, b := mustGet(t, edgeURL+"/live/index.m3u8")
		ms := segRe.FindAllSubmatch(b, -1)
		if next < 0 && len(ms) > 3 {
			// Start three target durations from the end, as players do
			// (RFC 8216bis 6.3.3).
			ms = ms[len(ms)-3:]
		}
		for _, m := range ms {
			path := string(m[1])
			n, _ := strconv.Atoi(string(m[2]))
			if n < next {
				continue
			}
			next = n + 1
			resp, body := mustGet(t, edgeURL+path)
			statuses = append(statuses, resp.Header.Get("X-Cache-Status"))
			if !bytes.Equal(body, segBody(n)) {
				t.Errorf("%s: %d bytes, not the complete segment", path, len(body))
				bodiesOK = false
			}
		}
	}
	return statuses, bodiesOK
}

// TestPrefetchHitRatio: one viewer with prefetch on finds every segment
// already cached or being fetched.
func TestPrefetchHitRatio(t *testing.T) {
	checkGoroutines(t)
	o := newLiveOrigin(t, 2*time.Second, 0)
	e := newEdge(t, o.URL, nil)
	statuses, _ := follow(t, e.URL, 9*time.Second)
	hits := 0
	for _, s := range statuses {
		if s == "HIT" {
			hits++
		}
	}
	ratio := float64(hits) / float64(len(statuses))
	t.Logf("one viewer, prefetch on: %d segments, %d hits (%.1f%%): %v", len(statuses), hits, 100*ratio, statuses)
	if len(statuses) < 5 || ratio < 0.99 {
		t.Fatalf("segment hit ratio %.1f%% over %d segments, want at least 99%%", 100*ratio, len(statuses))
	}
}

// TestStartup404Clears: a viewer asking before the stream exists gets a
// 404, and the stream is reachable within one target duration of its
// start (the seed config kept that 404 for a minute).
func TestStartup404Clears(t *testing.T) {
	checkGoroutines(t)
	o := newLiveOrigin(t, 2*time.Second, 500*time.Millisecond)
	e := newEdge(t, o.URL, func(c *Config) { c.StatusTTL = map[int]time.Duration{404: time.Minute} })
	resp, _ := mustGet(t, e.URL+"/live/index.m3u8")
	if resp.StatusCode != 404 {
		t.Fatalf("before the stream: %d", resp.StatusCode)
	}
	// The 404 is cached for at most 1 s (no target duration known yet),
	// even with a configured minute: read from the stored entry, which no
	// load can blur.
	switch en := settled(t, e.p.Cache(), "/live/index.m3u8"); {
	case en == nil:
		t.Fatal("the startup 404 was not stored")
	case en.Head().Lifetime > time.Second:
		t.Fatalf("the startup 404 is stored for %v, want at most 1 s", en.Head().Lifetime)
	}
	// And it clears: well before a minute's 404 would (the deadline is a
	// liveness guard, not a timing bound).
	deadline := o.startAt.Add(30 * time.Second)
	for {
		resp, _ := mustGet(t, e.URL+"/live/index.m3u8")
		if resp.StatusCode == 200 {
			t.Logf("playlist reachable %v after the stream started", time.Since(o.startAt).Round(time.Millisecond))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %d (%s) 30 s after the stream started", resp.StatusCode, resp.Header.Get("X-Cache-Status"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestPrematureSegmentNeverServedOnceListed: a request for the segment in
// progress gets whatever the origin has (it is not listed yet); once a
// playlist lists it, the edge serves only the complete segment.
func TestPrematureSegmentNeverServedOnceListed(t *testing.T) {
	checkGoroutines(t)
	o := newLiveOrigin(t, 2*time.Second, 0)
	e := newEdge(t, o.URL, nil)
	mustGet(t, e.URL+"/live/index.m3u8") // the edge now follows the stream
	next := o.newest() + 1
	path := fmt.Sprintf("/live/seg-%d.m4s", next)
	resp, b := mustGet(t, e.URL+path)
	if resp.StatusCode != 200 || len(b) >= len(segBody(next)) {
		t.Fatalf("premature request: %d, %d bytes (origin should have sent a truncated body)", resp.StatusCode, len(b))
	}
	resp, _ = mustGet(t, e.URL+path)
	if resp.Header.Get("X-Cache-Status") == "HIT" {
		t.Fatal("the truncated premature body was cached")
	}
	// Wait until the playlist lists it, then ask again, repeatedly.
	for o.newest() < next {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(1100 * time.Millisecond) // the edge's playlist copy lists it by now
	_, pl := mustGet(t, e.URL+"/live/index.m3u8")
	if !bytes.Contains(pl, []byte(path)) {
		t.Fatalf("playlist does not list %s yet:\n%s", path, pl)
	}
	for i := range 5 {
		resp, b := mustGet(t, e.URL+path)
		if !bytes.Equal(b, segBody(next)) {
			t.Fatalf("request %d after listing: %d bytes (%s), want the complete %d", i, len(b), resp.Header.Get("X-Cache-Status"), len(segBody(next)))
		}
	}
}

// TestPrematureRequestsCollapse: a herd on a segment not listed yet is
// served (not stored) from one origin fetch. The origin holds its answer
// until every request has joined the first one's fill. (10 s segments:
// the edge follows the stream for two target durations after the one
// playlist poll, far longer than a busy machine takes to start 20
// requests.)
func TestPrematureRequestsCollapse(t *testing.T) {
	checkGoroutines(t)
	o := newLiveOrigin(t, 10*time.Second, 0)
	o.holdPremature = make(chan struct{})
	release := sync.OnceFunc(func() { close(o.holdPremature) })
	defer release()
	e := newEdge(t, o.URL, func(c *Config) { c.Prefetch = false })
	mustGet(t, e.URL+"/live/index.m3u8")
	path := fmt.Sprintf("/live/seg-%d.m4s", o.newest()+1)
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := get(t, http.DefaultClient, e.URL+path); err != nil {
				t.Error(err)
			}
		}()
	}
	waitMetric(t, e.reg, "edgecache_fill_waiters_total", "", "", 19, "19 requests to join the first one's fill")
	release()
	wg.Wait()
	if n := o.hits.get(path); n != 1 {
		t.Fatalf("20 concurrent requests for an unlisted segment made %d origin fetches, want 1", n)
	}
	if e.p.Cache().Get(path) != nil {
		t.Fatal("the premature segment was stored")
	}
}

// TestUnfollowedStreamSegmentsCache: once nobody polls a stream's playlist,
// the edge no longer judges its segments premature by an old copy.
func TestUnfollowedStreamSegmentsCache(t *testing.T) {
	checkGoroutines(t)
	o := newLiveOrigin(t, time.Second, 0)
	e := newEdge(t, o.URL, func(c *Config) { c.Prefetch = false })
	mustGet(t, e.URL+"/live/index.m3u8")
	time.Sleep(2500 * time.Millisecond) // two target durations without a poll
	path := fmt.Sprintf("/live/seg-%d.m4s", o.newest())
	mustGet(t, e.URL+path)
	resp, _ := mustGet(t, e.URL+path)
	wantStatus(t, resp, 200, "HIT")
}

// TestPrematureSettledFileStored: a file origin (nginx, or Go's
// FileServer) says when a file last changed. A segment in a followed live
// stream's directory that no playlist lists is stored once its
// Last-Modified is two target durations before the response's Date: it is
// not being written. One changed just now may be, and is not stored. While
// viewers poll the playlist, the first would otherwise never be cached.
func TestPrematureSettledFileStored(t *testing.T) {
	checkGoroutines(t)
	// Each file's mtime as of a request: the one being written changes
	// at every moment, so however slow the machine, it is never settled.
	mod := map[string]func() time.Time{
		"/live/old.m4s":     func() time.Time { return time.Now().Add(-time.Hour) },
		"/live/writing.m4s": time.Now,
		"/live/future.m4s":  func() time.Time { return time.Now().Add(time.Hour) }, // the origin's clock disagrees: not settled
		"/live/seg-1.m4s":   func() time.Time { return time.Now().Add(-time.Hour) },
		"/live/seg-2.m4s":   func() time.Time { return time.Now().Add(-time.Hour) },
	}
	var hits counter
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.inc(r.URL.Path)
		if r.URL.Path == "/live/index.m3u8" {
			// A target of a minute: the stream stays followed (two
			// targets since the playlist was fetched) on a busy machine.
			w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
			io.WriteString(w, "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:60\n#EXT-X-MEDIA-SEQUENCE:1\n#EXTINF:60,\nseg-1.m4s\n#EXTINF:60,\nseg-2.m4s\n")
			return
		}
		modTime, ok := mod[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "video/iso.segment")
		http.ServeContent(w, r, r.URL.Path, modTime(), bytes.NewReader(segBody(7)))
	}))
	t.Cleanup(origin.Close)
	e := newEdge(t, origin.URL, func(c *Config) { c.Prefetch = false })
	mustGet(t, e.URL+"/live/index.m3u8") // the edge follows the stream
	for _, tc := range []struct {
		path   string
		stored bool
	}{
		{"/live/old.m4s", true},
		{"/live/writing.m4s", false},
		{"/live/future.m4s", false},
	} {
		mustGet(t, e.URL+tc.path)
		resp, b := mustGet(t, e.URL+tc.path)
		if !bytes.Equal(b, segBody(7)) {
			t.Fatalf("%s: %d bytes", tc.path, len(b))
		}
		hit := resp.Header.Get("X-Cache-Status") == "HIT"
		if hit != tc.stored || (hits.get(tc.path) == 1) != tc.stored {
			t.Errorf("%s: second request %s after %d origin fetches; stored = %v, want %v",
				tc.path, resp.Header.Get("X-Cache-Status"), hits.get(tc.path), hit, tc.stored)
		}
	}
}

func TestUnchangedFor(t *testing.T) {
	const date = "Mon, 07 Dec 2026 03:00:00 GMT"
	for _, tc := range []struct {
		lm, date string
		want     bool
	}{
		{"Mon, 07 Dec 2026 02:59:40 GMT", date, true}, // 20 s before
		{"Mon, 07 Dec 2026 02:59:41 GMT", date, false},
		{date, date, false},
		{"Mon, 07 Dec 2026 03:00:01 GMT", date, false}, // after its Date
		{"", date, false},
		{"Mon, 07 Dec 2026 02:00:00 GMT", "", false}, // no Date: unknown
		{"yesterday", date, false},
		{"Monday, 07-Dec-26 02:00:00 GMT", date, true}, // RFC 850 (RFC 9110 5.6.7)
	} {
		h := http.Header{}
		if tc.lm != "" {
			h.Set("Last-Modified", tc.lm)
		}
		if tc.date != "" {
			h.Set("Date", tc.date)
		}
		if got := unchangedFor(h, 20*time.Second); got != tc.want {
			t.Errorf("Last-Modified %q, Date %q: %v, want %v", tc.lm, tc.date, got, tc.want)
		}
	}
}

// TestPrematureSettledThenListed: a settled file stored while no playlist
// listed it is fetched fresh once one does (a writer that stalled for two
// target durations left it short, or the origin reuses its name).
func TestPrematureSettledThenListed(t *testing.T) {
	checkGoroutines(t)
	old := time.Now().Add(-time.Hour)
	var (
		mu     sync.Mutex
		listed bool
		body   = []byte("short: the writer stalled")
	)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch r.URL.Path {
		case "/live/index.m3u8":
			w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
			pl := "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:1\n#EXTINF:1,\nseg-1.m4s\n"
			if listed {
				pl += "#EXTINF:1,\nseg-2.m4s\n"
			}
			io.WriteString(w, pl)
		case "/live/seg-1.m4s", "/live/seg-2.m4s":
			w.Header().Set("Content-Type", "video/iso.segment")
			http.ServeContent(w, r, r.URL.Path, old, bytes.NewReader(body))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(origin.Close)
	e := newEdge(t, origin.URL, func(c *Config) { c.Prefetch = false })
	mustGet(t, e.URL+"/live/index.m3u8")
	mustGet(t, e.URL+"/live/seg-2.m4s")
	resp, _ := mustGet(t, e.URL+"/live/seg-2.m4s")
	wantStatus(t, resp, 200, "HIT") // settled: stored though not listed
	mu.Lock()
	listed, body = true, segBody(2)
	mu.Unlock()
	// Poll the playlist until the edge's copy lists the segment (a
	// liveness bound only: the playlist's lifetime is about a second).
	for i := 0; ; i++ {
		_, pl := mustGet(t, e.URL+"/live/index.m3u8")
		if bytes.Contains(pl, []byte("seg-2.m4s")) {
			break
		}
		if i == 300 {
			t.Fatal("the edge's playlist never listed seg-2.m4s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, b := mustGet(t, e.URL+"/live/seg-2.m4s"); !bytes.Equal(b, segBody(2)) {
		t.Fatalf("after listing: %q, want the complete segment", b[:min(len(b), 40)])
	}
}
