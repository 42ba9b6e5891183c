package origin

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgecache/edgecache/manifest"
	"github.com/edgecache/edgecache/origin/media"
	"github.com/edgecache/edgecache/origin/mediatest"
)

// conformance is the stream the delivery-directive tests run on: 1 s
// segments (GOP 30 at 30 fps), 350 ms parts (Advance Part Limit 8), a
// window of 12 and CAN-SKIP-UNTIL 6 s. After 14 segments and 15 frames,
// segments 2-13 are listed and segment 14 is in progress with one part.
func conformance(t *testing.T) *llStream {
	t.Helper()
	l := startLLStream(t, oneSecondSegments, 30, 30*14+15)
	p := parseLL(t, mustGet(t, l.url("video.m3u8")).body)
	if p.segs[0].msn != 2 || p.segs[len(p.segs)-1].msn != 13 || p.lastPart().msn != 14 || p.lastPart().index != 0 {
		t.Fatalf("set-up: segments %d-%d, last part %d.%d", p.segs[0].msn, p.segs[len(p.segs)-1].msn, p.lastPart().msn, p.lastPart().index)
	}
	return l
}

// Every delivery directive that is answered at once (RFC 8216bis 6.2.5).
func TestDeliveryDirectivesAtOnce(t *testing.T) {
	l := conformance(t)
	full := parseLL(t, mustGet(t, l.url("video.m3u8")).body)
	const blocking, plain = "public, max-age=6", "public, max-age=0" // 6 and 1/2 target durations
	tests := []struct {
		name   string
		query  string
		status int
		cache  string
		check  func(t *testing.T, p llPlaylist)
	}{
		{"no directive", "", 200, plain, nil},
		{"unknown _HLS_ parameter ignored", "_HLS_foo=1", 200, plain, nil},
		{"segment listed", "_HLS_msn=13", 200, blocking, hasSeg(13)},
		{"segment listed long ago: or later", "_HLS_msn=3", 200, blocking, hasSeg(13)},
		{"segment gone from the window: or later", "_HLS_msn=0", 200, blocking, hasSeg(13)},
		{"part listed", "_HLS_msn=14&_HLS_part=0", 200, blocking, hasPart(14, 0)},
		{"part of a complete segment", "_HLS_msn=13&_HLS_part=1", 200, blocking, hasPart(13, 1)},
		{"past a complete segment's last part: part 0 of the next", "_HLS_msn=13&_HLS_part=3", 200, blocking, hasPart(14, 0)},
		{"msn more than two past the last segment", "_HLS_msn=17", 400, cacheNone, nil},
		{"msn three past the last complete segment (two past the one in progress)", "_HLS_msn=16", 400, cacheNone, nil},
		{"part beyond the Advance Part Limit", "_HLS_msn=14&_HLS_part=9", 400, cacheNone, nil},
		{"part of the next segment beyond the limit", "_HLS_msn=15&_HLS_part=8", 400, cacheNone, nil},
		{"part two segments ahead beyond the limit", "_HLS_msn=16&_HLS_part=7", 400, cacheNone, nil},
		{"part without msn", "_HLS_part=1", 400, cacheNone, nil},
		{"malformed msn", "_HLS_msn=abc", 400, cacheNone, nil},
		{"negative msn", "_HLS_msn=-1", 400, cacheNone, nil},
		{"signed msn", "_HLS_msn=%2B13", 400, cacheNone, nil},
		{"empty msn", "_HLS_msn=", 400, cacheNone, nil},
		{"msn overflow", "_HLS_msn=18446744073709551616", 400, cacheNone, nil},
		{"repeated msn", "_HLS_msn=13&_HLS_msn=12", 400, cacheNone, nil},
		{"malformed part", "_HLS_msn=13&_HLS_part=1.5", 400, cacheNone, nil},
		{"unknown skip", "_HLS_skip=NO", 400, cacheNone, nil},
		{"delta update", "_HLS_skip=YES", 200, plain, isDelta(full)},
		{"delta update v2", "_HLS_skip=v2", 200, plain, isDelta(full)},
		{"delta update with a listed segment", "_HLS_msn=13&_HLS_skip=YES", 200, blocking, isDelta(full)},
		{"delta update with a listed part", "_HLS_skip=v2&_HLS_msn=14&_HLS_part=0", 200, blocking, isDelta(full)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Each of these is answered at once: a request the server held
			// instead would end, three target durations on, in a 503 that
			// the status check below refuses.
			r := mustGet(t, l.url("video.m3u8?"+tc.query))
			if r.status != tc.status || r.header.Get("Cache-Control") != tc.cache {
				t.Fatalf("%d %q, want %d %q\n%s", r.status, r.header.Get("Cache-Control"), tc.status, tc.cache, r.body)
			}
			if tc.check != nil {
				tc.check(t, parseLL(t, r.body))
			}
		})
	}
	if n := l.held(t, "playlist"); n != 0 {
		t.Errorf("%v requests still held", n)
	}
}

func hasSeg(msn uint64) func(*testing.T, llPlaylist) {
	return func(t *testing.T, p llPlaylist) {
		t.Helper()
		if !p.hasSeg(msn) {
			t.Errorf("playlist lacks segment %d", msn)
		}
	}
}

func hasPart(msn uint64, i int) func(*testing.T, llPlaylist) {
	return func(t *testing.T, p llPlaylist) {
		t.Helper()
		if !p.hasPart(msn, i) {
			t.Errorf("playlist lacks part %d.%d", msn, i)
		}
	}
}

// isDelta checks a Playlist Delta Update against the full playlist: the
// same media sequence, EXT-X-SKIP for exactly the segments that end
// CAN-SKIP-UNTIL or more before the end of the last one, then the same
// segments and parts.
func isDelta(full llPlaylist) func(*testing.T, llPlaylist) {
	return func(t *testing.T, p llPlaylist) {
		t.Helper()
		until, _ := strconv.ParseFloat(full.control["CAN-SKIP-UNTIL"], 64)
		var end float64
		for _, s := range full.segs {
			end += s.dur
		}
		want, acc := uint64(0), 0.0
		for _, s := range full.segs {
			acc += s.dur
			if end-acc < until-1e-9 {
				break
			}
			want++
		}
		if want == 0 || p.skipped != want || p.version < 9 {
			t.Errorf("EXT-X-SKIP:SKIPPED-SEGMENTS=%d (version %d), want %d (version 9+)", p.skipped, p.version, want)
		}
		if p.mediaSequence != full.mediaSequence {
			t.Errorf("EXT-X-MEDIA-SEQUENCE %d in the delta update, %d in the playlist", p.mediaSequence, full.mediaSequence)
		}
		if len(p.segs)+int(p.skipped) != len(full.segs) || p.segs[0] != full.segs[want] {
			t.Errorf("delta update lists %d segments from %+v; the playlist %d from %+v", len(p.segs), p.segs[0], len(full.segs), full.segs[want])
		}
		if len(p.parts) < len(full.parts) || p.hint == "" || len(p.reports) != 1 {
			t.Errorf("delta update lost parts, hint or report: %d parts, hint %q", len(p.parts), p.hint)
		}
	}
}

// A blocking request is held until the playlist has what it asks for,
// and answered as soon as it does.
func TestBlockingReloadHolds(t *testing.T) {
	tests := []struct {
		name  string
		query string
		check func(*testing.T, llPlaylist)
	}{
		{"next part", "_HLS_msn=14&_HLS_part=1", hasPart(14, 1)},
		{"segment in progress", "_HLS_msn=14", hasSeg(14)},
		{"next segment's first part", "_HLS_msn=15&_HLS_part=0", hasPart(15, 0)},
		// Segment 14 ends with three parts, so part 5 is part 0 of 15.
		{"part past the segment's end", "_HLS_msn=14&_HLS_part=5", hasPart(15, 0)},
		// Eight parts ahead; segment 15 will end with three, so 15.7 is 16.0.
		{"as far as the limit allows", "_HLS_msn=15&_HLS_part=7", hasPart(16, 0)},
		{"with a delta update", "_HLS_msn=14&_HLS_part=2&_HLS_skip=YES", func(t *testing.T, p llPlaylist) {
			hasPart(14, 2)(t, p)
			if p.skipped == 0 {
				t.Errorf("no EXT-X-SKIP")
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := conformance(t)
			d, err := manifest.ParseDirectives(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			done := getAsync(l.url("video.m3u8?" + tc.query))
			l.waitHeld(t, "playlist", 1)
			for i := 0; ; i++ {
				if i == 90 {
					t.Fatal("the stream never got there")
				}
				select {
				case r := <-done:
					t.Fatalf("answered %d before the playlist had it:\n%s", r.status, r.body)
				default:
				}
				l.f.Run(1)
				// The playlist the stream serves now reaches the target.
				if st, err := manifest.ParseHLS(l.file(t, "video.m3u8")); err != nil {
					t.Fatal(err)
				} else if st.Edge().Reaches(d) {
					break
				}
			}
			var r response
			select {
			case r = <-done:
			case <-time.After(heldAnswerBound):
				t.Fatal("still held after the playlist got there")
			}
			if r.err != nil || r.status != 200 || r.header.Get("Cache-Control") != "public, max-age=6" {
				t.Fatalf("%v %d %q", r.err, r.status, r.header.Get("Cache-Control"))
			}
			tc.check(t, parseLL(t, r.body))
			l.waitHeld(t, "playlist", 0)
		})
	}
}

// A request the stream does not satisfy within three target durations
// gets 503, not cacheable.
func TestBlockingReloadTimesOut(t *testing.T) {
	l := conformance(t)
	start := time.Now()
	// 15: the furthest segment a client may wait for (two past the last
	// complete one, 13), which the stream, fed no more, never reaches.
	r := mustGet(t, l.url("video.m3u8?_HLS_msn=15"))
	took := time.Since(start)
	if r.status != http.StatusServiceUnavailable || r.header.Get("Cache-Control") != cacheNone {
		t.Fatalf("%d %q, want 503 no-store", r.status, r.header.Get("Cache-Control"))
	}
	// EXT-X-TARGETDURATION is 1. Not before three target durations; how
	// long after depends on how busy the machine is, so no upper bound.
	if took < 3*time.Second {
		t.Errorf("503 after %v, want after three target durations (3 s)", took)
	}
}

// Without a publisher a playlist cannot grow: directives are ignored, as
// with EXT-X-ENDLIST, held requests are answered, and no hint is listed.
func TestBlockingReloadPublisherGone(t *testing.T) {
	l := conformance(t)
	held := getAsync(l.url("video.m3u8?_HLS_msn=15"))
	hint := getAsync(l.url(l.st.PartName(media.KindVideo, 14, 1)))
	l.waitHeld(t, "playlist", 1)
	l.waitHeld(t, "part", 1)
	l.end(t)
	for name, ch := range map[string]<-chan response{"playlist": held, "hint": hint} {
		select {
		case r := <-ch:
			// The disconnect completed segment 14 with one more part,
			// 14.1: the hint was right after all.
			if r.status != 200 {
				t.Errorf("held %s answered %d, want 200", name, r.status)
			}
			if name == "playlist" && (r.header.Get("Cache-Control") != "public, max-age=0" || bytes.Contains(r.body, []byte("PRELOAD-HINT"))) {
				t.Errorf("held playlist after the publisher left: %q\n%s", r.header.Get("Cache-Control"), r.body)
			}
		case <-time.After(heldAnswerBound):
			t.Fatalf("held %s not answered when the publisher left", name)
		}
	}
	for _, q := range []string{"_HLS_msn=40", "_HLS_msn=16&_HLS_part=30", "_HLS_msn=15&_HLS_part=0&_HLS_skip=YES"} {
		// Held, it would end in the hold's 503 no-store, which this rejects.
		r := mustGet(t, l.url("video.m3u8?"+q))
		if r.status != 200 || r.header.Get("Cache-Control") != "public, max-age=0" {
			t.Errorf("%s without a publisher: %d %q, want 200 at once, short-lived", q, r.status, r.header.Get("Cache-Control"))
		}
	}
	if r := mustGet(t, l.url(l.st.PartName(media.KindVideo, 15, 0))); r.status != 404 {
		t.Errorf("next part without a publisher: %d, want 404", r.status)
	}
}

// A held request ends when its client goes, and when the server closes.
func TestHeldRequestEnds(t *testing.T) {
	l := conformance(t)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, l.url("video.m3u8?_HLS_msn=15"), nil)
	errc := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	l.waitHeld(t, "playlist", 1)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("client: %v", err)
	}
	l.waitHeld(t, "playlist", 0)

	pl := getAsync(l.url("video.m3u8?_HLS_msn=15"))
	part := getAsync(l.url(parseLL(t, mustGet(t, l.url("audio.m3u8")).body).hint))
	l.waitHeld(t, "playlist", 1)
	l.waitHeld(t, "part", 1)
	l.s.Close()
	for _, ch := range []<-chan response{pl, part} {
		select {
		case r := <-ch:
			// Close's own 503, not the hold's timeout three target
			// durations later: the body names the cause.
			if r.status != http.StatusServiceUnavailable || !bytes.Contains(r.body, []byte(errServerClosing.Error())) {
				t.Errorf("held request at Close: %d %q, want 503 %q", r.status, r.body, errServerClosing)
			}
		case <-time.After(heldAnswerBound):
			t.Fatal("held request not answered at Close")
		}
	}
}

// Part requests (RFC 8216bis 6.2.6): a part that exists is served like a
// segment; the next one is held; anything else is 404 at once.
func TestPartRequests(t *testing.T) {
	l := conformance(t)
	st := l.st
	tests := []struct {
		name, file string
		status     int
		cache      string
	}{
		{"part of a listed segment", st.PartName(media.KindVideo, 13, 2), 200, cacheImmutable},
		{"part of the segment in progress", st.PartName(media.KindVideo, 14, 0), 200, cacheImmutable},
		{"part of a segment out of the window", st.PartName(media.KindVideo, 0, 0), 200, cacheImmutable},
		{"part after the next", st.PartName(media.KindVideo, 14, 2), 404, cacheNone},
		{"part of the next segment", st.PartName(media.KindVideo, 15, 0), 404, cacheNone},
		{"past a complete segment's parts", st.PartName(media.KindVideo, 13, 3), 404, cacheNone},
		{"not canonical", st.Token() + "/video/014.1.m4s", 404, cacheNone},
		{"other token", "zz" + st.PartName(media.KindVideo, 14, 1), 404, cacheNone},
		{"segment in progress", st.SegmentName(media.KindVideo, 14), 404, cacheNone},
		{"ts", st.Token() + "/ts/14.1.m4s", 404, cacheNone},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Held, it would end in the hold's 503 no-store, which
			// this rejects.
			r := mustGet(t, l.url(tc.file))
			if r.status != tc.status || r.header.Get("Cache-Control") != tc.cache {
				t.Fatalf("%d %q, want %d %q at once", r.status, r.header.Get("Cache-Control"), tc.status, tc.cache)
			}
		})
	}
	// The hint times out like a playlist: three target durations.
	start := time.Now()
	if r := mustGet(t, l.url(st.PartName(media.KindVideo, 14, 1))); r.status != http.StatusServiceUnavailable || time.Since(start) < 3*time.Second {
		t.Errorf("hint never completed: %d after %v, want 503 after 3 s", r.status, time.Since(start))
	}
}

// A held hint request gets no byte, not even a header, before the part is
// complete; then exactly the part's bytes, which are the corresponding
// range of the finished segment.
func TestPreloadHintNoEarlyBytes(t *testing.T) {
	l := conformance(t)
	hint := parseLL(t, mustGet(t, l.url("video.m3u8")).body).hint
	if hint != l.st.PartName(media.KindVideo, 14, 1) {
		t.Fatalf("hint %s", hint)
	}
	conn, err := net.Dial("tcp", strings.TrimPrefix(l.hs.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /hls/live/"+hint+" HTTP/1.1\r\nHost: origin\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	l.waitHeld(t, "part", 1)
	nothingYet := func(when string) {
		t.Helper()
		_ = conn.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
		var b [1]byte
		n, err := conn.Read(b[:])
		var ne net.Error
		if n != 0 || !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("%s: read %d bytes (%v) before the part was complete", when, n, err)
		}
	}
	nothingYet("held")
	// Frames 435-439 arrive; 439 waits for the next to know its duration.
	l.f.Run(5)
	nothingYet("part under way")
	l.f.Run(1) // frame 440: 439 completes part 14.1 (frames 430-439)
	// A liveness guard, not a timing bound: a hint the part did not
	// release ends in the hold's 503 three target durations on, which the
	// status check below rejects.
	_ = conn.SetReadDeadline(time.Now().Add(heldAnswerBound))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.ContentLength != int64(len(body)) || resp.Header.Get("Cache-Control") != cacheImmutable ||
		len(resp.TransferEncoding) != 0 {
		t.Fatalf("hint answered %d, length %d for %d bytes, %v", resp.StatusCode, resp.ContentLength, len(body), resp.Header)
	}
	l.f.Run(30) // segment 14 completes
	seg := l.file(t, l.st.SegmentName(media.KindVideo, 14))
	first := l.file(t, l.st.PartName(media.KindVideo, 14, 0))
	if len(seg) < len(first)+len(body) || !bytes.Equal(seg[len(first):len(first)+len(body)], body) {
		t.Errorf("hint body (%d bytes) is not bytes %d-%d of segment 14 (%d bytes)", len(body), len(first), len(first)+len(body), len(seg))
	}
}

// A hinted part the segment ends without (audio cut on a boundary that
// falls right after a fragment) is 404 once the segment is complete.
func TestPreloadHintNotPublished(t *testing.T) {
	// 48 AAC frames of 1024 samples at 48 kHz: three 16-frame fragments,
	// the segment cut at the 49th frame, with nothing left to a fourth.
	s := newTestServer(t, func(c *Config) { c.Segment.TargetDuration = 1060 * time.Millisecond })
	a, err := media.NewAACTrack(mediatest.ASC())
	if err != nil {
		t.Fatal(err)
	}
	st, sess := startSession(t, s, "radio", [2]*media.Track{nil, a})
	feed := func(from, to int) {
		for i := from; i < to; i++ {
			if err := sess.WriteAudio(time.Duration(i)*1024*time.Second/48000, []byte{1, 2, 3}, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
	}
	feed(0, 96)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	hs := srv.URL
	hint := parseLL(t, mustGet(t, hs+"/hls/radio/audio.m3u8").body).hint
	if hint != st.PartName(media.KindAudio, 1, 3) {
		t.Fatalf("hint %s, want part 1.3", hint)
	}
	done := getAsync(hs + "/hls/radio/" + hint)
	l := &llStream{s: s}
	l.waitHeld(t, "part", 1)
	feed(96, 97)
	select {
	case r := <-done:
		if r.status != 404 || r.header.Get("Cache-Control") != cacheNone {
			t.Errorf("hint the segment ended without: %d %q, want 404 no-store", r.status, r.header.Get("Cache-Control"))
		}
	case <-time.After(heldAnswerBound):
		t.Fatal("hint still held after its segment ended")
	}
	if p := parseLL(t, mustGet(t, hs+"/hls/radio/audio.m3u8").body); len(p.partsOf(1)) != 3 || p.hint != "" {
		t.Errorf("segment 1 has %d parts, hint %q; want 3 and no hint of a segment not begun", len(p.partsOf(1)), p.hint)
	}
}
