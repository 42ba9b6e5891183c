package e2e

import (
	"context"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/edgecache/edgecache/origin"
)

// serveSRT starts the packager's SRT listener on a loopback port until the
// test ends and returns its address.
func serveSRT(t *testing.T, s *stack) string {
	t.Helper()
	srv := s.pk.Server
	ln, err := origin.ListenSRT("127.0.0.1:0", srv.Config().SRT)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ServeSRT(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeSRT: %v", err)
		}
	})
	return ln.Addr().String()
}

// ffmpegSRT pushes a 640x360 test picture and a tone as MPEG-TS over SRT
// until stopped, as an encoder does.
func ffmpegSRT(t *testing.T, ffmpeg, addr, stream string) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	url := "srt://" + addr + "?streamid=publish:live/" + stream + "&pkt_size=1316"
	cmd := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30", "-f", "lavfi", "-i", "sine",
		"-c:v", "libx264", "-preset", "veryfast", "-g", "60", "-c:a", "aac", "-f", "mpegts", url)
	cmd.Stderr = logWriter{t}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	return func() { cancel(); _ = cmd.Wait() }
}

// TestFFmpegSRTPublishThroughEdge: ffmpeg (libsrt) pushes SRT; ffprobe
// reads HLS and DASH straight from the packager and through the edge.
// Then the encoder drops and comes back: the stream continues behind a
// discontinuity and still plays.
func TestFFmpegSRTPublishThroughEdge(t *testing.T) {
	ffmpeg := needTool(t, "ffmpeg")
	needTool(t, "ffprobe") // before the stack starts: fail fast when it is missing
	if out, err := exec.Command(ffmpeg, "-hide_banner", "-protocols").Output(); err != nil || !strings.Contains(string(out), "srt") {
		t.Fatalf("this ffmpeg has no SRT protocol (libsrt): %v", err)
	}
	s := startStack(t, origin.Config{}, false)
	addr := serveSRT(t, s)
	stop := ffmpegSRT(t, ffmpeg, addr, "srtcam")
	waitPlaylist(t, s.edgeURL+"/hls/srtcam.m3u8", "EXT-X-STREAM-INF", 30*time.Second)
	// ffprobe joins a live playlist three segments from its end: wait for
	// three, however long the encoder takes on this machine.
	waitListed(t, s.pk.URL+"/hls/srtcam/video.m3u8", 3, 30*time.Second)
	for _, tc := range []struct{ name, url string }{
		{"packager HLS", s.pk.HLSURL("srtcam")},
		{"packager DASH", s.pk.DASHURL("srtcam")},
		{"edge HLS", s.edgeURL + "/hls/srtcam.m3u8"},
		{"edge DASH", s.edgeURL + "/dash/srtcam.mpd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := probeCodecs(t, tc.url); got != "aac,h264" {
				t.Fatalf("ffprobe found %q, want aac and h264", got)
			}
		})
	}

	// The encoder drops; the packager sees the connection end (SRT's peer
	// idle timeout) and releases the stream for a republish.
	stop()
	st := s.pk.Server.Stream("srtcam")
	deadline := time.Now().Add(30 * time.Second)
	for st.IsPublishing() {
		if time.Now().After(deadline) {
			t.Fatal("the stream still publishes after ffmpeg was killed")
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop = ffmpegSRT(t, ffmpeg, addr, "srtcam")
	defer stop()
	waitPlaylist(t, s.edgeURL+"/hls/srtcam/video.m3u8", "#EXT-X-DISCONTINUITY", 30*time.Second)
	if got := probeCodecs(t, s.edgeURL+"/hls/srtcam.m3u8"); got != "aac,h264" {
		t.Fatalf("after the republish ffprobe found %q through the edge, want aac and h264", got)
	}
	resp, err := http.Get(s.edgeURL + "/dash/srtcam.mpd")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if n := strings.Count(string(b), "<Period "); n != 2 {
		t.Errorf("MPD after the republish has %d periods, want 2:\n%s", n, b)
	}
}
