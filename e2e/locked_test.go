package e2e

import (
	"testing"
	"time"

	"github.com/edgecache/edgecache/origin"
	"github.com/edgecache/edgecache/origin/live"
)

// TestLockedTimelinePlayers: a packager on the locked timeline (media time
// and segment numbers from the Unix epoch, the DASH period starting at the
// epoch with a lead-in to the first segment; docs/fleet.md) plays in
// hls.js, dash.js and GStreamer's playbin on DASH, through the edge.
// GStreamer 1.22's hlsdemux does not: it starts its segment at 0 and the
// fMP4 timestamps are decades past it, so playbin buffers for ever; the
// docs say so, and this test leaves that case out rather than assert it.
func TestLockedTimelinePlayers(t *testing.T) {
	gst := needTool(t, "gst-launch-1.0")
	var cfg origin.Config
	cfg.Segment.Timeline = live.TimelineLocked
	s := startStack(t, cfg, true)
	waitPlaylist(t, s.edgeURL+"/hls/demo.m3u8", "EXT-X-STREAM-INF", 20*time.Second)
	waitPlaylist(t, s.edgeURL+"/hls/demo/video.m3u8", "t/video/", 20*time.Second)
	browsersPlay(t, s.edgeURL, "demo")
	for _, pb := range []string{"playbin", "playbin3"} {
		t.Run(pb+"/dash", func(t *testing.T) {
			gstPlay(t, gst, pb, s.edgeURL+"/dash/demo.mpd")
		})
	}
}
