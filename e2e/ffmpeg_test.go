package e2e

import (
	"context"
	"encoding/json"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/edgecache/edgecache/origin"
)

// TestFFmpegPublishThroughEdge: the issue's own publisher (a 720p30 test
// source with a 2 s GOP), and ffprobe reading the HLS and DASH entries
// both straight from the packager and through the edge.
func TestFFmpegPublishThroughEdge(t *testing.T) {
	ffmpeg := needTool(t, "ffmpeg")
	ffprobe := needTool(t, "ffprobe")
	s := startStack(t, origin.Config{}, false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-f", "lavfi", "-i", "sine",
		"-c:v", "libx264", "-preset", "veryfast", "-g", "60", "-c:a", "aac", "-f", "flv", s.pk.PublishURL("test"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); cmd.Wait() }()
	waitPlaylist(t, s.edgeURL+"/hls/test.m3u8", "EXT-X-STREAM-INF", 30*time.Second)
	// ffprobe joins a live playlist three segments from its end: wait for
	// three, however long the encoder takes on this machine.
	waitListed(t, s.pk.URL+"/hls/test/video.m3u8", 3, 30*time.Second)
	for _, tc := range []struct{ name, url string }{
		{"packager HLS", s.pk.HLSURL("test")},
		{"packager DASH", s.pk.DASHURL("test")},
		{"edge HLS", s.edgeURL + "/hls/test.m3u8"},
		{"edge DASH", s.edgeURL + "/dash/test.mpd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pctx, pcancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer pcancel()
			out, err := exec.CommandContext(pctx, ffprobe, "-v", "error", "-show_entries", "stream=codec_name,codec_type,width,height",
				"-of", "json", tc.url).Output()
			if err != nil {
				t.Fatalf("ffprobe %s: %v\n%s", tc.url, err, out)
			}
			var probe struct {
				Streams []struct {
					Codec  string `json:"codec_name"`
					Width  int    `json:"width"`
					Height int    `json:"height"`
				} `json:"streams"`
			}
			if err := json.Unmarshal(out, &probe); err != nil {
				t.Fatal(err)
			}
			var codecs []string
			for _, st := range probe.Streams {
				codecs = append(codecs, st.Codec)
				if st.Codec == "h264" && (st.Width != 1280 || st.Height != 720) {
					t.Errorf("h264 stream is %dx%d", st.Width, st.Height)
				}
			}
			sort.Strings(codecs)
			got := strings.Join(dedupe(codecs), ",")
			t.Logf("%s: %s", tc.name, got)
			if got != "aac,h264" {
				t.Fatalf("ffprobe found %q, want aac and h264", got)
			}
		})
	}
}

func dedupe(s []string) []string {
	var out []string
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
