package viewer

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// liveOrigin is a live HLS and DASH origin on a scaled-down clock:
// segment n of every rendition covers [t0+n*seg, t0+(n+1)*seg) and is
// published when it is complete. Playlists list the newest window
// segments. It logs every request.
type liveOrigin struct {
	t0     time.Time
	seg    time.Duration
	window int
	// segDelay holds each segment response this long before the body: an
	// origin slower than real time when above seg.
	segDelay time.Duration
	dash     string        // "timeline" or "duration" SegmentTemplate
	spd      time.Duration // MPD@suggestedPresentationDelay, 0: absent
	noPDT    bool          // leave EXT-X-PROGRAM-DATE-TIME out
	// ll serves LL-HLS: four parts per segment, parts listed for the last
	// three segments and the one in progress, a preload hint, blocking
	// reloads.
	ll bool
	// onMaster, when set, runs for every master playlist request before
	// it is answered (and may hold it).
	onMaster func(r *http.Request)

	mu   sync.Mutex
	reqs []originReq // guarded by mu
}

type originReq struct {
	at     time.Time
	path   string
	remote string // the client's address: one connection per viewer
	newest int64  // newest segment published at the time
}

var renditions = []struct {
	name string
	bw   int
}{{"mid", 1200000}, {"low", 300000}, {"high", 4000000}}

func newLiveOrigin(seg time.Duration, window int) *liveOrigin {
	// Start the stream in the past so a full window is already there.
	t0 := time.Now().Add(-time.Duration(window+1) * seg).Truncate(time.Millisecond)
	return &liveOrigin{t0: t0, seg: seg, window: window, dash: "timeline"}
}

// start serves the origin; lag makes its playlists and MPDs that much
// older than the truth, as a stale cache would.
func (o *liveOrigin) start(t *testing.T, lag time.Duration) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(o.handler(lag))
	t.Cleanup(srv.Close)
	return srv
}

func (o *liveOrigin) newest(now time.Time) int64 {
	return int64(now.Sub(o.t0)/o.seg) - 1
}

func (o *liveOrigin) log(r *http.Request, now time.Time) {
	o.mu.Lock()
	o.reqs = append(o.reqs, originReq{at: now, path: r.URL.Path, remote: r.RemoteAddr, newest: o.newest(now)})
	o.mu.Unlock()
}

// perClient counts the requests whose path ends in suffix, by client
// address, after the first skip requests.
func (o *liveOrigin) perClient(skip int, suffix string) map[string]int {
	n := map[string]int{}
	for _, r := range o.requests()[skip:] {
		if strings.HasSuffix(r.path, suffix) {
			n[r.remote]++
		}
	}
	return n
}

// waitFor polls cond until it holds; past the liveness bound it fails the
// test with what.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(viewerLiveness); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("%s: not within %v", what, viewerLiveness)
		}
	}
}

func (o *liveOrigin) requests() []originReq {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]originReq(nil), o.reqs...)
}

func (o *liveOrigin) handler(lag time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		o.log(r, now)
		parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
		switch {
		case r.URL.Path == "/hls/master.m3u8":
			if o.onMaster != nil {
				o.onMaster(r)
			}
			w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
			b := "#EXTM3U\n#EXT-X-VERSION:6\n"
			for _, rd := range renditions {
				b += fmt.Sprintf("#EXT-X-STREAM-INF:BANDWIDTH=%d,CODECS=\"avc1.64001f\"\n%s/index.m3u8\n", rd.bw, rd.name)
			}
			b += "#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=90000,URI=\"iframes.m3u8\"\n"
			fmt.Fprint(w, b)
		case len(parts) == 3 && parts[0] == "hls" && parts[2] == "index.m3u8":
			if o.ll && r.URL.Query().Has("_HLS_msn") {
				if !o.block(w, r) {
					return
				}
				now = time.Now()
			}
			w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
			w.Header().Set("Age", strconv.Itoa(int(lag/time.Second)))
			fmt.Fprint(w, o.mediaPlaylist(now.Add(-lag)))
		case len(parts) == 3 && strings.HasPrefix(parts[2], "part"):
			var m, p int64
			if _, err := fmt.Sscanf(parts[2], "part%d.%d.m4s", &m, &p); err != nil {
				http.NotFound(w, r)
				return
			}
			// A preload hint: held until the part is complete.
			if !o.holdUntil(w, r, o.t0.Add(time.Duration(m)*o.seg+time.Duration(p+1)*o.part())) {
				return
			}
			w.Write(make([]byte, 5000))
		case len(parts) == 2 && parts[0] == "dash" && parts[1] == "live.mpd":
			w.Header().Set("Content-Type", "application/dash+xml")
			fmt.Fprint(w, o.mpd(now.Add(-lag)))
		case len(parts) == 3 && strings.HasSuffix(parts[2], "init.mp4"):
			w.Write(make([]byte, 700))
		case len(parts) == 3 && strings.HasPrefix(parts[2], "seg"):
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(parts[2], "seg"), ".m4s"), 10, 64)
			if parts[0] == "dash" {
				n-- // $Number$ starts at 1
			}
			if err != nil || n < 0 || n > o.newest(now) {
				http.NotFound(w, r)
				return
			}
			if o.segDelay > 0 {
				select {
				case <-time.After(o.segDelay):
				case <-r.Context().Done():
					return
				}
			}
			w.Write(make([]byte, 20000))
		default:
			http.NotFound(w, r)
		}
	})
}

const partsPerSeg = 4

func (o *liveOrigin) part() time.Duration { return o.seg / partsPerSeg }

// block holds a blocking playlist reload (RFC 8216bis 6.2.5.2) until the
// part or segment it asks for is complete. It reports whether to go on.
func (o *liveOrigin) block(w http.ResponseWriter, r *http.Request) bool {
	q := r.URL.Query()
	m, err1 := strconv.ParseInt(q.Get("_HLS_msn"), 10, 64)
	until := o.t0.Add(time.Duration(m+1) * o.seg)
	if q.Has("_HLS_part") {
		p, err2 := strconv.ParseInt(q.Get("_HLS_part"), 10, 64)
		if err2 != nil {
			err1 = err2
		}
		until = o.t0.Add(time.Duration(m)*o.seg + time.Duration(p+1)*o.part())
	}
	if err1 != nil || m > o.newest(time.Now())+2 {
		http.Error(w, "bad or too far", http.StatusBadRequest)
		return false
	}
	return o.holdUntil(w, r, until)
}

func (o *liveOrigin) holdUntil(w http.ResponseWriter, r *http.Request, until time.Time) bool {
	d := time.Until(until)
	if d > 3*o.seg {
		http.NotFound(w, r)
		return false
	}
	if d <= 0 {
		return true
	}
	select {
	case <-time.After(d):
		return true
	case <-r.Context().Done():
		return false
	}
}

func (o *liveOrigin) mediaPlaylist(now time.Time) string {
	newest := o.newest(now)
	first := max(newest-int64(o.window)+1, 0)
	var b strings.Builder
	version := 6
	if o.ll {
		version = 9
	}
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:%d\n#EXT-X-TARGETDURATION:%g\n", version, o.seg.Seconds())
	if o.ll {
		fmt.Fprintf(&b, "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=%g\n#EXT-X-PART-INF:PART-TARGET=%g\n",
			3*o.part().Seconds(), o.part().Seconds())
	}
	fmt.Fprintf(&b, "#EXT-X-MEDIA-SEQUENCE:%d\n#EXT-X-MAP:URI=\"init.mp4\"\n", first)
	writeParts := func(n int64, count int) {
		for p := range count {
			ind := ""
			if p == 0 {
				ind = ",INDEPENDENT=YES"
			}
			fmt.Fprintf(&b, "#EXT-X-PART:DURATION=%g,URI=\"part%d.%d.m4s\"%s\n", o.part().Seconds(), n, p, ind)
		}
	}
	for n := first; n <= newest; n++ {
		if !o.noPDT {
			fmt.Fprintf(&b, "#EXT-X-PROGRAM-DATE-TIME:%s\n", o.t0.Add(time.Duration(n)*o.seg).UTC().Format("2006-01-02T15:04:05.000Z"))
		}
		if o.ll && n > newest-3 {
			writeParts(n, partsPerSeg)
		}
		fmt.Fprintf(&b, "#EXTINF:%g,\nseg%d.m4s\n", o.seg.Seconds(), n)
	}
	if o.ll {
		inProgress := newest + 1
		done := int(now.Sub(o.t0.Add(time.Duration(inProgress)*o.seg)) / o.part())
		writeParts(inProgress, done)
		fmt.Fprintf(&b, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part%d.%d.m4s\"\n", inProgress, done)
	}
	return b.String()
}

func (o *liveOrigin) mpd(now time.Time) string {
	newest := o.newest(now)
	first := max(newest-int64(o.window)+1, 0)
	ms := o.seg.Milliseconds()
	var tmpl string
	if o.dash == "duration" {
		tmpl = fmt.Sprintf(`<SegmentTemplate timescale="1000" duration="%d" startNumber="1" initialization="$RepresentationID$/init.mp4" media="$RepresentationID$/seg$Number%%05d$.m4s"/>`, ms)
	} else {
		tmpl = fmt.Sprintf(`<SegmentTemplate timescale="1000" startNumber="%d" initialization="$RepresentationID$/init.mp4" media="$RepresentationID$/seg$Number%%05d$.m4s"><SegmentTimeline><S t="%d" d="%d" r="%d"/></SegmentTimeline></SegmentTemplate>`,
			first+1, first*ms, ms, newest-first)
	}
	spd := ""
	if o.spd > 0 {
		spd = fmt.Sprintf(` suggestedPresentationDelay="PT%gS"`, o.spd.Seconds())
	}
	var reps strings.Builder
	for _, rd := range renditions {
		fmt.Fprintf(&reps, `<Representation id="%s" bandwidth="%d" width="640" height="360" codecs="avc1.64001f"/>`, rd.name, rd.bw)
	}
	return fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic" profiles="urn:mpeg:dash:profile:isoff-live:2011" availabilityStartTime="%s" publishTime="%s" minimumUpdatePeriod="PT%gS" minBufferTime="PT1S" timeShiftBufferDepth="PT30S"%s>
<Period id="p0" start="PT0S">
<AdaptationSet id="1" contentType="audio" mimeType="audio/mp4">%s<Representation id="aud" bandwidth="64000"/></AdaptationSet>
<AdaptationSet id="0" contentType="video" mimeType="video/mp4">%s%s</AdaptationSet>
</Period>
</MPD>`, o.t0.UTC().Format("2006-01-02T15:04:05.000Z"), now.UTC().Format("2006-01-02T15:04:05.000Z"),
		o.seg.Seconds(), spd, tmpl, tmpl, reps.String())
}

// checkGoroutines fails the test if goroutines started after it are still
// running when the returned function is called.
func checkGoroutines(t *testing.T) func() {
	before := runtime.NumGoroutine()
	return func() {
		t.Helper()
		deadline := time.Now().Add(3 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				t.Errorf("%d goroutines leaked:\n%s", runtime.NumGoroutine()-before, buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}
