package e2e

import (
	"testing"
	"time"

	"github.com/edgecache/edgecache/origin"
)

// TestBrowserPlayersThroughEdge: hls.js and dash.js play the packager's
// stream through the edge in headless Debian Chromium for at least 10 s,
// with currentTime advancing and no fatal error.
func TestBrowserPlayersThroughEdge(t *testing.T) {
	s := startStack(t, origin.Config{}, true)
	waitPlaylist(t, s.edgeURL+"/hls/demo.m3u8", "EXT-X-STREAM-INF", 20e9)
	browsersPlay(t, s.edgeURL, "demo")
}

// browsersPlay runs hls.js on /hls/NAME.m3u8 and dash.js on
// /dash/NAME.mpd at base for 10 s each, as subtests, and fails one that
// hit a fatal error or whose currentTime advanced less than 5 s (a busy
// machine may stall a player, not stop it).
func browsersPlay(t *testing.T, base, name string) {
	t.Helper()
	for _, tc := range []struct{ player, path string }{
		{"hls", "/hls/" + name + ".m3u8"},
		{"dash", "/dash/" + name + ".mpd"},
	} {
		t.Run(tc.player, func(t *testing.T) {
			res := play(t, tc.player, base+tc.path, 10, false)
			if len(res.Fatal) > 0 {
				t.Fatalf("fatal player errors: %v", res.Fatal)
			}
			if res.PlayedSeconds < 5 {
				t.Fatalf("currentTime advanced %.1fs in a 10 s run", res.PlayedSeconds)
			}
		})
	}
}

// TestDashJSAfterWindowSlid: dash.js joins a stream whose window has slid
// past the Period start, so its SegmentTimelines begin with the lead-in
// entry GStreamer needs (origin/live/dash.go leadIn), and plays on through
// the edge. 20 s with at least 16 s played: a player that fetched the
// lead-in's number (a retired segment of another time) would stall far
// longer; a loaded two-core machine costs a second or two.
func TestDashJSAfterWindowSlid(t *testing.T) {
	s := startStack(t, origin.Config{}, true)
	waitSlid(t, s.pk.URL+"/hls/demo/video.m3u8", 120*time.Second)
	res := play(t, "dash", s.edgeURL+"/dash/demo.mpd", 20, false)
	if len(res.Fatal) > 0 {
		t.Fatalf("fatal player errors: %v", res.Fatal)
	}
	if res.PlayedSeconds < 16 {
		t.Fatalf("currentTime advanced %.1fs in a 20 s run", res.PlayedSeconds)
	}
}
