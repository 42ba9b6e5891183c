package e2e

import (
	"testing"
	"time"

	"github.com/edgecache/edgecache/origin"
)

// TestBrowserPlayersThroughEdge: hls.js and dash.js play the packager's
// stream through the edge in headless Debian Chromium: currentTime
// advances 10 s, with no fatal error.
func TestBrowserPlayersThroughEdge(t *testing.T) {
	s := startStack(t, origin.Config{}, true)
	waitPlaylist(t, s.edgeURL+"/hls/demo.m3u8", "EXT-X-STREAM-INF", 20e9)
	browsersPlay(t, s.edgeURL, "demo")
}

// browsersPlay runs hls.js on /hls/NAME.m3u8 and dash.js on
// /dash/NAME.mpd at base, as subtests, each until its currentTime has
// advanced 10 s, and fails one that hit a fatal error or did not get
// there before the failsafe (a busy machine may stall a player, not stop
// it, so how long it takes is not checked).
func browsersPlay(t *testing.T, base, name string) {
	t.Helper()
	for _, tc := range []struct{ player, path string }{
		{"hls", "/hls/" + name + ".m3u8"},
		{"dash", "/dash/" + name + ".mpd"},
	} {
		t.Run(tc.player, func(t *testing.T) {
			const want = 10 * time.Second
			res := playUntil(t, tc.player, base+tc.path, want, false)
			if len(res.Fatal) > 0 {
				t.Fatalf("fatal player errors: %v", res.Fatal)
			}
			if res.PlayedSeconds < want.Seconds() {
				t.Fatalf("currentTime advanced %.1fs of %v before the failsafe (%v more)", res.PlayedSeconds, want, playerSlack)
			}
		})
	}
}

// TestDashJSAfterWindowSlid: dash.js joins a stream whose window has slid
// past the Period start, so its SegmentTimelines begin with the lead-in
// entry GStreamer needs (origin/live/dash.go leadIn), and plays on through
// the edge: currentTime advances 16 s, and no request of the player's is
// refused. A player that fetched the lead-in's number (a retired segment
// of another time), or numbers the lead-in put off by one, would stall
// or meet a 404.
func TestDashJSAfterWindowSlid(t *testing.T) {
	s := startStack(t, origin.Config{}, true)
	waitSlid(t, s.pk.URL+"/hls/demo/video.m3u8", 120*time.Second)
	const want = 16 * time.Second
	res := playUntil(t, "dash", s.edgeURL+"/dash/demo.mpd", want, false)
	if len(res.Fatal) > 0 {
		t.Fatalf("fatal player errors: %v", res.Fatal)
	}
	if len(res.HTTPErrors) > 0 {
		t.Errorf("requests refused: %v", res.HTTPErrors)
	}
	if res.PlayedSeconds < want.Seconds() {
		t.Fatalf("currentTime advanced %.1fs of %v before the failsafe (%v more)", res.PlayedSeconds, want, playerSlack)
	}
}
