package proxy

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgecache/edgecache/manifest"
)

func TestParseDirectives(t *testing.T) {
	cases := []struct {
		query string
		want  manifest.Directives
		bad   bool
	}{
		{"_HLS_msn=10", manifest.Directives{Block: true, MSN: 10, Part: -1}, false},
		{"_HLS_part=2&_HLS_msn=10", manifest.Directives{Block: true, MSN: 10, Part: 2}, false},
		{"_HLS_msn=10&_HLS_part=2&_HLS_skip=YES", manifest.Directives{Block: true, MSN: 10, Part: 2, Skip: "YES"}, false},
		{"_HLS_skip=v2&token=x", manifest.Directives{Part: -1, Skip: "v2"}, false},
		{"_HLS_part=2", manifest.Directives{}, true}, // part without msn
		{"_HLS_msn=-1", manifest.Directives{}, true},
		{"_HLS_msn=ten", manifest.Directives{}, true},
		{"_HLS_msn=1&_HLS_part=x", manifest.Directives{}, true},
		{"_HLS_msn=1&_HLS_msn=2", manifest.Directives{}, true},
		{"_HLS_skip=NO", manifest.Directives{}, true},
	}
	for _, tc := range cases {
		got, err := manifest.ParseDirectives(tc.query)
		if tc.bad {
			if err == nil {
				t.Errorf("%q: accepted as %+v", tc.query, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: got %+v, %v; want %+v", tc.query, got, err, tc.want)
		}
	}
	if k1, k2 := cacheKey("/a.m3u8", "_HLS_part=1&_HLS_msn=5", nil), cacheKey("/a.m3u8", "_HLS_msn=5&_HLS_part=1", nil); k1 != k2 {
		t.Errorf("directive order changes the key: %q vs %q", k1, k2)
	}
	if k := cacheKey("/a.m3u8", "_HLS_msn=5", []string{"_HLS_msn"}); !strings.Contains(k, "_HLS_msn=5") {
		t.Errorf("a directive was dropped from the key: %q", k)
	}
}

// llOrigin is an LL-HLS origin the test advances by hand, part by part:
// 1 s segments of 4 parts, blocking reloads, held part requests.
type llOrigin struct {
	mu       sync.Mutex
	changed  chan struct{}
	msn      uint64 // segment in progress
	parts    int    // complete parts of it
	ended    bool
	blocking map[string]int // upstream blocking requests by query
	partReqs map[string]int
}

const llPartsPerSeg = 4

func newLLOrigin() *llOrigin {
	return &llOrigin{changed: make(chan struct{}), msn: 10, parts: 1, blocking: map[string]int{}, partReqs: map[string]int{}}
}

// advance completes one more part.
func (o *llOrigin) advance() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.parts++
	if o.parts == llPartsPerSeg {
		o.msn, o.parts = o.msn+1, 0
	}
	close(o.changed)
	o.changed = make(chan struct{})
}

func (o *llOrigin) end() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ended = true
	close(o.changed)
	o.changed = make(chan struct{})
}

// reachesLocked: the playlist has segment msn, or part (msn, part).
func (o *llOrigin) reachesLocked(msn uint64, part int) bool {
	if o.ended || msn < o.msn {
		return true
	}
	return msn == o.msn && part >= 0 && part < o.parts
}

func (o *llOrigin) playlistLocked(skip bool) string {
	var b strings.Builder
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:1\n")
	b.WriteString("#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.75,CAN-SKIP-UNTIL=2\n#EXT-X-PART-INF:PART-TARGET=0.25\n")
	first := o.msn - 4
	fmt.Fprintf(&b, "#EXT-X-MEDIA-SEQUENCE:%d\n#EXT-X-MAP:URI=\"init.mp4\"\n", first)
	from := first
	if skip {
		b.WriteString("#EXT-X-SKIP:SKIPPED-SEGMENTS=2\n")
		from += 2
	}
	for m := from; m < o.msn; m++ {
		if m >= o.msn-1 {
			for p := range llPartsPerSeg {
				fmt.Fprintf(&b, "#EXT-X-PART:DURATION=0.25,URI=\"seg%d.%d.m4s\"%s\n", m, p, map[bool]string{true: ",INDEPENDENT=YES"}[p == 0])
			}
		}
		fmt.Fprintf(&b, "#EXTINF:1.0,\nseg%d.m4s\n", m)
	}
	if o.ended {
		b.WriteString("#EXT-X-ENDLIST\n")
		return b.String()
	}
	for p := range o.parts {
		fmt.Fprintf(&b, "#EXT-X-PART:DURATION=0.25,URI=\"seg%d.%d.m4s\"\n", o.msn, p)
	}
	fmt.Fprintf(&b, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"seg%d.%d.m4s\"\n", o.msn, o.parts)
	return b.String()
}

func partBody(msn uint64, part int) string {
	return fmt.Sprintf("part %d.%d ", msn, part) + strings.Repeat("x", 1000)
}

// hold waits, as RFC 8216bis 6.2.5.2 has a server wait, until ready
// reports the request can be answered: 400 when it is too far ahead, 503
// after three target durations. ready runs under o.mu. It reports whether
// the caller should answer.
func (o *llOrigin) hold(w http.ResponseWriter, r *http.Request, ready func() (ok, tooFar bool)) bool {
	deadline := time.After(3 * time.Second) // 3 target durations
	for {
		o.mu.Lock()
		ok, tooFar := ready()
		ch := o.changed
		o.mu.Unlock()
		switch {
		case ok:
			return true
		case tooFar:
			http.Error(w, "too far", 400)
			return false
		}
		select {
		case <-ch:
		case <-deadline:
			http.Error(w, "timeout", http.StatusServiceUnavailable)
			return false
		case <-r.Context().Done():
			return false
		}
	}
}

func (o *llOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/live.m3u8":
		q := r.URL.Query()
		if q.Has("_HLS_part") && !q.Has("_HLS_msn") {
			http.Error(w, "part without msn", 400)
			return
		}
		o.mu.Lock()
		if q.Has("_HLS_msn") {
			o.blocking[r.URL.RawQuery]++
		}
		o.mu.Unlock()
		if q.Has("_HLS_msn") {
			msn, _ := strconv.ParseUint(q.Get("_HLS_msn"), 10, 64)
			part := -1
			if q.Has("_HLS_part") {
				part, _ = strconv.Atoi(q.Get("_HLS_part"))
			}
			if !o.hold(w, r, func() (bool, bool) { return o.reachesLocked(msn, part), msn > o.msn+2 }) {
				return
			}
		}
		o.mu.Lock()
		body := o.playlistLocked(q.Get("_HLS_skip") == "YES")
		o.mu.Unlock()
		w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
		w.Header().Set("Cache-Control", "max-age=1")
		io.WriteString(w, body)
	case strings.Count(r.URL.Path, ".") == 2: // a part: held until complete
		var msn uint64
		var part int
		fmt.Sscanf(strings.TrimPrefix(r.URL.Path, "/seg"), "%d.%d.m4s", &msn, &part)
		o.mu.Lock()
		o.partReqs[r.URL.Path]++
		o.mu.Unlock()
		if !o.hold(w, r, func() (bool, bool) { return msn < o.msn || msn == o.msn && part < o.parts, false }) {
			return
		}
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, partBody(msn, part))
	default:
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "segment "+r.URL.Path)
	}
}

func (o *llOrigin) counts() (blocking map[string]int, parts map[string]int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	b, p := map[string]int{}, map[string]int{}
	for k, v := range o.blocking {
		b[k] = v
	}
	for k, v := range o.partReqs {
		p[k] = v
	}
	return b, p
}

func parsePlaylist(t *testing.T, body []byte) *manifest.HLSState {
	t.Helper()
	st, err := manifest.ParseHLS(body)
	if err != nil {
		t.Fatalf("playlist: %v\n%s", err, body)
	}
	return st
}

// TestBlockingReloadCollapse: 50 viewers block on the next part; the
// origin sees one blocking request, and every viewer gets a playlist that
// reaches the part once it exists.
func TestBlockingReloadCollapse(t *testing.T) {
	checkGoroutines(t)
	o := newLLOrigin()
	origin := httptest.NewServer(o)
	defer origin.Close()
	e := newEdge(t, origin.URL, func(c *Config) { c.Prefetch = false })
	mustGet(t, e.URL+"/live.m3u8") // the edge learns the rendition

	const viewers = 50
	var wg sync.WaitGroup
	results := make(chan string, viewers)
	for range viewers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, b, err := get(t, http.DefaultClient, e.URL+"/live.m3u8?_HLS_msn=10&_HLS_part=1")
			if err != nil {
				results <- err.Error()
				return
			}
			st, perr := manifest.ParseHLS(b)
			switch {
			case perr != nil:
				results <- perr.Error()
			case resp.StatusCode != 200 || !st.Reaches(10, 1):
				results <- fmt.Sprintf("%d, not reaching 10.1:\n%s", resp.StatusCode, b)
			default:
				results <- "ok"
			}
		}()
	}
	// Every viewer is held once all but the first have joined its fill
	// (the origin holds that one until advance).
	waitMetric(t, e.reg, "edgecache_fill_waiters_total", "", "", viewers-1, "every viewer to be held")
	select {
	case r := <-results:
		t.Fatalf("a viewer was answered before the part existed: %s", r)
	default:
	}
	o.advance()
	wg.Wait()
	close(results)
	for r := range results {
		if r != "ok" {
			t.Fatal(r)
		}
	}
	blocking, _ := o.counts()
	if n := blocking["_HLS_msn=10&_HLS_part=1"]; n != 1 {
		t.Fatalf("origin saw %d blocking requests for 10.1, want 1 (%v)", n, blocking)
	}
	up := metricValue(t, e.reg, "edgecache_llhls_blocking_requests_total", "result", "upstream")
	joined := metricValue(t, e.reg, "edgecache_llhls_blocking_requests_total", "result", "joined")
	if up != 1 || joined != viewers-1 {
		t.Fatalf("upstream %v joined %v, want 1 and %d", up, joined, viewers-1)
	}

	// "Or later": an older target is answered from the newest playlist
	// without the origin.
	resp, b := mustGet(t, e.URL+"/live.m3u8?_HLS_msn=10&_HLS_part=0")
	if resp.StatusCode != 200 || !parsePlaylist(t, b).Reaches(10, 1) {
		t.Fatalf("older target: %d\n%s", resp.StatusCode, b)
	}
	wantStatus(t, resp, 200, "HIT")
	if blocking, _ := o.counts(); blocking["_HLS_msn=10&_HLS_part=0"] != 0 {
		t.Fatal("an older target went to the origin")
	}
	// Appendix B: a blocking response keeps six target durations.
	if ent := e.p.Cache().Get("/live.m3u8?_HLS_msn=10&_HLS_part=1"); ent == nil || ent.Head().Lifetime != 6*time.Second {
		t.Fatalf("blocking response lifetime: %v", ent)
	}
}

// TestBlockingRulesAtTheEdge: 400s come from the edge, from the newest
// playlist it knows; ENDLIST makes directives moot.
func TestBlockingRulesAtTheEdge(t *testing.T) {
	checkGoroutines(t)
	o := newLLOrigin()
	origin := httptest.NewServer(o)
	defer origin.Close()
	e := newEdge(t, origin.URL, func(c *Config) { c.Prefetch = false })
	mustGet(t, e.URL+"/live.m3u8") // msn 10, 1 part done: last segment 9
	cases := []struct {
		query string
		code  int
	}{
		{"_HLS_part=1", 400},              // part without msn
		{"_HLS_msn=x", 400},               // malformed
		{"_HLS_msn=12", 400},              // > last segment (9) + 2
		{"_HLS_msn=10&_HLS_part=14", 400}, // beyond the advance part limit (3 / 0.25 s = 12)
		{"_HLS_msn=11", 200},              // within: held, answered below
		{"_HLS_msn=10&_HLS_part=3", 200},  // within the advance part limit
		{"_HLS_msn=9&_HLS_skip=YES", 200}, // present already
	}
	before, _ := o.counts()
	for _, tc := range cases {
		if tc.code != 400 {
			continue
		}
		resp, b := mustGet(t, e.URL+"/live.m3u8?"+tc.query)
		if resp.StatusCode != tc.code {
			t.Errorf("%s: %d %q, want %d", tc.query, resp.StatusCode, b, tc.code)
		}
	}
	if after, _ := o.counts(); len(after) != len(before) {
		t.Fatalf("a 400 case reached the origin: %v", after)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 8 {
			time.Sleep(50 * time.Millisecond)
			o.advance()
		}
	}()
	for _, tc := range cases {
		if tc.code != 200 {
			continue
		}
		resp, b := mustGet(t, e.URL+"/live.m3u8?"+tc.query)
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d %q", tc.query, resp.StatusCode, b)
		}
	}
	<-done
	o.end()
	// After ENDLIST, a target that will never exist is answered at once
	// with the ended playlist (6.2.5.2): not held at the edge, not sent
	// to the origin. Both are read from events, not from the clock: the
	// edge counts the answer as "ended", which only the path that waits
	// for nothing does, and the origin saw no request for the target.
	mustGet(t, e.URL+"/live.m3u8?_HLS_msn=12") // the edge learns of the end
	ended := metricValue(t, e.reg, "edgecache_llhls_blocking_requests_total", "result", "ended")
	resp, b := mustGet(t, e.URL+"/live.m3u8?_HLS_msn=40")
	if resp.StatusCode != 200 || !strings.Contains(string(b), "#EXT-X-ENDLIST") {
		t.Fatalf("after ENDLIST: %d\n%s", resp.StatusCode, b)
	}
	if got := metricValue(t, e.reg, "edgecache_llhls_blocking_requests_total", "result", "ended"); got != ended+1 {
		t.Errorf("after ENDLIST: the edge counted %v answers from the ended playlist, want %v", got-ended, 1)
	}
	if blocking, _ := o.counts(); blocking["_HLS_msn=40"] != 0 {
		t.Errorf("after ENDLIST: a target past the end went to the origin %d times", blocking["_HLS_msn=40"])
	}
}

// TestHintedPartCollapse: viewers asking for the hinted part are held on
// one upstream request and get the whole part once it exists.
func TestHintedPartCollapse(t *testing.T) {
	checkGoroutines(t)
	o := newLLOrigin()
	origin := httptest.NewServer(o)
	defer origin.Close()
	e := newEdge(t, origin.URL, nil) // prefetch on: the hint is fetched ahead
	_, b := mustGet(t, e.URL+"/live.m3u8")
	st := parsePlaylist(t, b)
	if len(st.PreloadHints) != 1 {
		t.Fatalf("no hint:\n%s", b)
	}
	hint := st.PreloadHints[0].URI
	// The playlist a viewer asked for hints the part: the edge asks the
	// origin for it before any viewer does.
	// The deadline is a liveness guard, not a timing bound: a prefetch
	// that never comes is what fails.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, parts := o.counts(); parts["/"+hint] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the hinted part was not prefetched within 30 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	const viewers = 30
	var wg sync.WaitGroup
	bodies := make(chan string, viewers)
	for range viewers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, b, err := get(t, http.DefaultClient, e.URL+"/"+hint)
			if err != nil {
				bodies <- err.Error()
				return
			}
			bodies <- string(b)
		}()
	}
	time.Sleep(200 * time.Millisecond)
	o.advance()
	wg.Wait()
	close(bodies)
	want := partBody(10, 1)
	for b := range bodies {
		if b != want {
			t.Fatalf("hinted part body %q, want the whole part", b)
		}
	}
	if _, parts := o.counts(); parts["/"+hint] != 1 {
		t.Fatalf("origin saw %d requests for the hinted part, want 1", parts["/"+hint])
	}
}

// TestBlockingTimeoutAndDelta: the origin's 503 after three target
// durations reaches the viewer and is kept one target duration (appendix
// B); delta updates are their own playlists, never served to a viewer who
// did not ask for one.
func TestBlockingTimeoutAndDelta(t *testing.T) {
	checkGoroutines(t)
	o := newLLOrigin()
	origin := httptest.NewServer(o)
	defer origin.Close()
	e := newEdge(t, origin.URL, func(c *Config) { c.Prefetch = false })
	mustGet(t, e.URL+"/live.m3u8")

	resp, _ := mustGet(t, e.URL+"/live.m3u8?_HLS_msn=11") // never comes: the origin gives up
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("held past 3 target durations: %d, want 503", resp.StatusCode)
	}
	resp, _ = mustGet(t, e.URL+"/live.m3u8?_HLS_msn=11")
	wantStatus(t, resp, http.StatusServiceUnavailable, "HIT")
	// Age counts from the answer, not from the request the origin held
	// for three seconds (players tune in by Age, appendix C).
	if age := resp.Header.Get("Age"); age != "0" {
		t.Fatalf("Age %q after a 3 s hold, want 0", age)
	}
	if blocking, _ := o.counts(); blocking["_HLS_msn=11"] != 1 {
		t.Fatalf("origin saw %d requests for the timed-out target", blocking["_HLS_msn=11"])
	}

	// Delta updates.
	_, b := mustGet(t, e.URL+"/live.m3u8?_HLS_skip=YES")
	if st := parsePlaylist(t, b); st.Skipped != 2 {
		t.Fatalf("delta update skipped %d segments:\n%s", st.Skipped, b)
	}
	_, b = mustGet(t, e.URL+"/live.m3u8?_HLS_msn=10&_HLS_part=0&_HLS_skip=YES")
	if st := parsePlaylist(t, b); st.Skipped != 2 || !st.Reaches(10, 0) {
		t.Fatalf("blocking delta update:\n%s", b)
	}
	o.advance()
	_, b = mustGet(t, e.URL+"/live.m3u8?_HLS_msn=10&_HLS_part=1&_HLS_skip=YES")
	if st := parsePlaylist(t, b); st.Skipped != 2 || !st.Reaches(10, 1) {
		t.Fatalf("blocking delta update after a part:\n%s", b)
	}
	// The newest playlist the edge holds is a delta; a viewer who asked
	// for the full playlist must get a full one.
	_, b = mustGet(t, e.URL+"/live.m3u8?_HLS_msn=10&_HLS_part=1")
	if st := parsePlaylist(t, b); st.Skipped != 0 || !st.Reaches(10, 1) {
		t.Fatalf("a full request got:\n%s", b)
	}
}

// TestByteRangeHintCollapse: an origin that addresses parts as byte ranges
// of a growing segment hints the next one with BYTERANGE-START only;
// viewers ask for "bytes=N-". The edge sends that range upstream once and
// streams the origin's 206 to every viewer as it arrives. An open-ended
// range of an object nobody hints still fills (and caches) the whole.
func TestByteRangeHintCollapse(t *testing.T) {
	checkGoroutines(t)
	var mu sync.Mutex
	reqs := map[string]int{}
	const chunk, chunks = 1000, 4
	const viewers = 20
	gate := make(chan struct{})
	var firsts atomic.Int32
	var openedByViewers atomic.Bool
	onFirst := func() {
		if firsts.Add(1) == viewers {
			openedByViewers.Store(true)
			close(gate)
		}
	}
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		reqs[r.URL.Path+" "+r.Header.Get("Range")]++
		mu.Unlock()
		switch r.URL.Path {
		case "/live.m3u8":
			w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
			io.WriteString(w, "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:1\n#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.75\n#EXT-X-PART-INF:PART-TARGET=0.25\n#EXT-X-MEDIA-SEQUENCE:9\n#EXTINF:1.0,\nseg9.mp4\n#EXT-X-PART:DURATION=0.25,URI=\"seg10.mp4\",BYTERANGE=3000@0,INDEPENDENT=YES\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"seg10.mp4\",BYTERANGE-START=3000\n")
		case "/seg10.mp4":
			if r.Header.Get("Range") != "bytes=3000-" {
				http.Error(w, "want the hinted range", http.StatusRequestedRangeNotSatisfiable)
				return
			}
			w.Header().Set("Content-Range", fmt.Sprintf("bytes 3000-%d/%d", 3000+chunk*chunks-1, 3000+chunk*chunks))
			w.WriteHeader(http.StatusPartialContent)
			for i := range chunks { // the segment grows part by part
				w.Write([]byte(strings.Repeat(string(rune('a'+i)), chunk)))
				w.(http.Flusher).Flush()
				if i == 0 {
					// The rest of the part only once every viewer has its
					// first bytes: they must be streamed the one range.
					select {
					case <-gate:
					case <-time.After(time.Minute):
					}
				}
			}
		default:
			w.Header().Set("Cache-Control", "max-age=60")
			io.WriteString(w, strings.Repeat("s", 5000))
		}
	}))
	defer origin.Close()
	e := newEdge(t, origin.URL, func(c *Config) { c.Prefetch = false })
	mustGet(t, e.URL+"/live.m3u8")

	type result struct {
		ttfb time.Duration
		code int
		body string
		err  error
	}
	results := make(chan result, viewers)
	start := time.Now()
	for range viewers {
		go func() {
			req, _ := http.NewRequest("GET", e.URL+"/seg10.mp4", nil)
			req.Header.Set("Range", "bytes=3000-")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				results <- result{err: err}
				return
			}
			defer resp.Body.Close()
			first := make([]byte, 1)
			if _, err := io.ReadFull(resp.Body, first); err != nil {
				results <- result{err: err}
				return
			}
			ttfb := time.Since(start)
			onFirst()
			rest, err := io.ReadAll(resp.Body)
			results <- result{ttfb: ttfb, code: resp.StatusCode, body: string(first) + string(rest), err: err}
		}()
	}
	want := ""
	for i := range chunks {
		want += strings.Repeat(string(rune('a'+i)), chunk)
	}
	for range viewers {
		r := <-results
		if r.err != nil || r.code != http.StatusPartialContent || r.body != want {
			t.Fatalf("viewer: %v %d, %d bytes", r.err, r.code, len(r.body))
		}
	}
	if !openedByViewers.Load() {
		t.Fatal("the origin finished the part before every viewer had its first bytes: not streamed")
	}
	mu.Lock()
	n := reqs["/seg10.mp4 bytes=3000-"]
	mu.Unlock()
	if n != 1 {
		t.Fatalf("origin saw %d requests for the hinted range, want 1", n)
	}

	// Not hinted: "bytes=0-" (ffmpeg sends it on every request) fills the
	// whole object, and a plain request then hits.
	resp, b := mustGet(t, e.URL+"/seg9.mp4", "Range", "bytes=0-")
	if resp.StatusCode != http.StatusPartialContent || len(b) != 5000 {
		t.Fatalf("bytes=0- of a segment: %d, %d bytes", resp.StatusCode, len(b))
	}
	resp, _ = mustGet(t, e.URL+"/seg9.mp4")
	wantStatus(t, resp, 200, "HIT")
}

// TestBlockingIgnoredByOrigin: an origin that ignores delivery directives
// answers at once with a playlist short of the target; the edge keeps that
// answer only as long as any live playlist, not the blocking lifetime.
func TestBlockingIgnoredByOrigin(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
		io.WriteString(w, "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:5\n#EXTINF:2,\ns5.ts\n#EXTINF:2,\ns6.ts\n")
	}))
	defer origin.Close()
	e := newEdge(t, origin.URL, func(c *Config) { c.Prefetch = false })
	mustGet(t, e.URL+"/live.m3u8?_HLS_msn=7")
	ent := settled(t, e.p.Cache(), "/live.m3u8?_HLS_msn=7")
	if ent == nil {
		t.Fatal("answer not cached")
	}
	if l := ent.Head().Lifetime; l > time.Second {
		t.Fatalf("an answer short of its target kept %v, want at most half a target duration", l)
	}
}
