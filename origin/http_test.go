package origin

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/edgecache/edgecache/origin/live"
	"github.com/edgecache/edgecache/origin/media"
	"github.com/edgecache/edgecache/origin/mediatest"
)

// The media types served (RFC 8216 4, ISO/IEC 23009-1 C.2, RFC 4337).
const (
	mimeHLS      = "application/vnd.apple.mpegurl"
	mimeDASH     = "application/dash+xml"
	mimeVideoMP4 = "video/mp4"
	mimeAudioMP4 = "audio/mp4"
)

// liveTestServer returns a packager with one stream "live" holding a few
// segments, and its handler on an httptest server.
func liveTestServer(t *testing.T) (*Server, *live.Stream, *httptest.Server) {
	t.Helper()
	s := newTestServer(t, nil)
	st, sess := startSession(t, s, "live", mediatest.H264AACTracks(t))
	(&mediatest.Feeder{T: t, Sess: sess, FPS: 30, GOP: 60, Audio: true}).Run(60*3 + 1)
	endSession(t, s, st, sess)
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close)
	return s, st, hs
}

func TestHTTPRoutes(t *testing.T) {
	_, st, hs := liveTestServer(t)
	seg := st.Segments(media.KindVideo)[0]
	aseg := st.Segments(media.KindAudio)[0]
	tests := []struct {
		name, path  string
		status      int
		contentType string
		cache       string
	}{
		{"multivariant", "/hls/live.m3u8", 200, mimeHLS, "public, max-age=1"},
		{"video playlist", "/hls/live/video.m3u8", 200, mimeHLS, "public, max-age=1"},
		{"audio playlist", "/hls/live/audio.m3u8", 200, mimeHLS, "public, max-age=1"},
		{"mpd", "/dash/live.mpd", 200, mimeDASH, "public, max-age=1"},
		{"video init via hls", "/hls/live/" + st.InitName(media.KindVideo, 0), 200, mimeVideoMP4, cacheImmutable},
		{"video segment via hls", "/hls/live/" + seg.Name, 200, mimeVideoMP4, cacheImmutable},
		{"audio segment via dash", "/dash/live/" + aseg.Name, 200, mimeAudioMP4, cacheImmutable},
		{"next segment not yet there", "/hls/live/" + st.SegmentName(media.KindVideo, 999), 404, "", cacheNone},
		{"unknown stream", "/hls/nope.m3u8", 404, "", cacheNone},
		{"unknown stream mpd", "/dash/nope.mpd", 404, "", cacheNone},
		{"mpd not under hls", "/hls/live/manifest.mpd", 404, "", cacheNone},
		{"playlist not under dash", "/dash/live/video.m3u8", 404, "", cacheNone},
		{"root", "/", 404, "", cacheNone},
		{"random", "/favicon.ico", 404, "", cacheNone},
		{"hls dir", "/hls/", 404, "", cacheNone},
		{"health", "/healthz", 200, "", cacheNone},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Get(hs.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.status == 200 && len(body) == 0 {
				t.Errorf("empty 200")
			}
			if tc.contentType != "" && resp.Header.Get("Content-Type") != tc.contentType {
				t.Errorf("Content-Type %q, want %q", resp.Header.Get("Content-Type"), tc.contentType)
			}
			if got := resp.Header.Get("Cache-Control"); got != tc.cache {
				t.Errorf("Cache-Control %q, want %q", got, tc.cache)
			}
			if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
				t.Errorf("no CORS header")
			}
		})
	}
}

func TestHTTPRangeAndPreflight(t *testing.T) {
	_, st, hs := liveTestServer(t)
	seg := st.Segments(media.KindVideo)[1]
	req, _ := http.NewRequest(http.MethodGet, hs.URL+"/hls/live/"+seg.Name, nil)
	req.Header.Set("Range", "bytes=0-7")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || len(b) != 8 || string(b[4:8]) != "moof" {
		t.Errorf("range: %d %q", resp.StatusCode, b)
	}

	req, _ = http.NewRequest(http.MethodOptions, hs.URL+"/dash/live.mpd", nil)
	req.Header.Set("Origin", "https://player.example")
	req.Header.Set("Access-Control-Request-Method", "GET")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || !strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "GET") {
		t.Errorf("preflight: %d %v", resp.StatusCode, resp.Header)
	}

	// An ETag revalidation of a playlist.
	resp, err = http.Get(hs.URL + "/hls/live/video.m3u8")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	req, _ = http.NewRequest(http.MethodGet, hs.URL+"/hls/live/video.m3u8", nil)
	req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("revalidation: %d", resp.StatusCode)
	}
}

func TestHTTPTimeAndReady(t *testing.T) {
	s := newTestServer(t, nil)
	hs := httptest.NewServer(s.Handler())
	defer hs.Close()

	// The time served lies between the moments the request was sent and
	// the answer read (at the served millisecond precision): how far
	// apart those are depends on the machine, not on the server.
	sent := time.Now().Truncate(time.Millisecond)
	resp, err := http.Get(hs.URL + "/dash/time")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	read := time.Now()
	ts, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil || ts.Before(sent) || ts.After(read) {
		t.Errorf("/dash/time %q (%v), want a time between %s and %s", b, err,
			sent.UTC().Format(time.RFC3339Nano), read.UTC().Format(time.RFC3339Nano))
	}

	get := func() int {
		r, err := http.Get(hs.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r.StatusCode
	}
	if c := get(); c != http.StatusServiceUnavailable {
		t.Errorf("readyz before RTMP serves: %d", c)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.ServeRTMP(ctx, ln) }()
	deadline := time.Now().Add(liveness)
	for get() != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatalf("readyz not ready %v after ServeRTMP started (liveness failsafe)", liveness)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("ServeRTMP: %v", err)
	}
	if c := get(); c != http.StatusServiceUnavailable {
		t.Errorf("readyz after RTMP stopped: %d", c)
	}

	resp, err = http.Get(hs.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{"edgecache_packager_streams_publishing", "edgecache_packager_keyframe_to_listed_seconds"} {
		if !strings.Contains(string(b), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
}

func BenchmarkServeSegment(b *testing.B) {
	s := newTestServer(b, nil)
	st, sess := startSession(b, s, "live", mediatest.H264AACTracks(b))
	(&mediatest.Feeder{T: b, Sess: sess, FPS: 30, GOP: 60, Audio: true}).Run(60*2 + 1)
	endSession(b, s, st, sess)
	h := s.Handler()
	req := httptest.NewRequest(http.MethodGet, "/hls/live/"+st.Segments(media.KindVideo)[0].Name, nil)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}
