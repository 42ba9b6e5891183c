package e2e

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgecache/edgecache/origin"
)

// TestGStreamerPlays: GStreamer (Debian's 1.22, the player of many set-top
// boxes) decodes the packager's HLS and DASH with playbin (hlsdemux,
// dashdemux) and playbin3 (the adaptivedemux2 elements), straight from
// the packager and through the edge. Each run must hand decoded video and
// audio frames to its sinks over at least minSpan of media time, which
// only a player that keeps following the live stream across playlist and
// MPD reloads gets to. GStreamer's DASH seek bug (see leadIn in
// origin/live/dash.go) made dashdemux wait for a segment far past the live
// edge: no frame at all.
func TestGStreamerPlays(t *testing.T) {
	gst := needTool(t, "gst-launch-1.0")
	s := startStack(t, origin.Config{}, true)
	waitPlaylist(t, s.pk.URL+"/hls/demo.m3u8", "EXT-X-STREAM-INF", 20*time.Second)
	// GStreamer starts near the live edge; a window that has slid well
	// past the period start (four segments, 8 s) is the case that used to
	// fail: the further it slid, the further past the edge it seeked.
	waitSlid(t, s.pk.URL+"/hls/demo/video.m3u8", 120*time.Second)
	bases := map[string]string{"packager": s.pk.URL, "edge": s.edgeURL}
	for _, pb := range []string{"playbin", "playbin3"} {
		for _, format := range []string{"hls/demo.m3u8", "dash/demo.mpd"} {
			for _, via := range []string{"packager", "edge"} {
				name := pb + "/" + strings.SplitN(format, "/", 2)[0] + "/" + via
				t.Run(name, func(t *testing.T) {
					gstPlay(t, gst, pb, bases[via]+"/"+format)
				})
			}
		}
	}
}

// waitSlid waits until the media playlist at url starts at segment 4 or
// later.
func waitSlid(t *testing.T, url string, within time.Duration) {
	t.Helper()
	slid := regexp.MustCompile(`#EXT-X-MEDIA-SEQUENCE:([4-9]|[1-9]\d+)\n`)
	deadline := time.Now().Add(within)
	for {
		resp, err := http.Get(url)
		if err == nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			if slid.Match(b) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the window did not slide within %v (%v)", url, within, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// sinkBuffer matches what fakesink silent=false reports (with -v) for
// each buffer it receives; playbin puts decoders in front of it, so these
// are decoded frames and audio samples.
var sinkBuffer = regexp.MustCompile(`\((vs|as):sink\) \(\d+ bytes, dts: [^,]*, pts: (\d+):(\d+):(\d+(?:\.\d+)?)`)

// gstPlay plays url with a playbin element into fakesinks and fails unless
// both sinks see minSpan of media time before the failsafe runs out, and
// the video runs on without a jump: a player that re-seeks past the live
// edge on every MPD update skips seconds at a time.
func gstPlay(t *testing.T, gst, playbin, url string) {
	t.Helper()
	const minSpan = 4 * time.Second
	const maxJump = time.Second // between consecutive video frames
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, gst, "-v", playbin, "uri="+url,
		"video-sink=fakesink name=vs silent=false sync=true",
		"audio-sink=fakesink name=as silent=false sync=true")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	type span struct {
		first, last, prev, jump time.Duration
		n                       int
	}
	spans := map[string]*span{"vs": {}, "as": {}}
	done := func() bool {
		for _, sp := range spans {
			if sp.n == 0 || sp.last-sp.first < minSpan {
				return false
			}
		}
		return true
	}
	var tail []string // the last lines that were not buffers, for the failure message
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() && !done() {
		line := sc.Text()
		m := sinkBuffer.FindStringSubmatch(line)
		if m == nil {
			if !strings.Contains(line, "buffering...") && !strings.Contains(line, "last-message") {
				tail = append(tail, line)
				if len(tail) > 30 {
					tail = tail[1:]
				}
			}
			continue
		}
		h, _ := strconv.Atoi(m[2])
		mi, _ := strconv.Atoi(m[3])
		sec, _ := strconv.ParseFloat(m[4], 64)
		pts := time.Duration(h)*time.Hour + time.Duration(mi)*time.Minute + time.Duration(sec*float64(time.Second))
		sp := spans[m[1]]
		if sp.n > 0 && pts-sp.prev > sp.jump {
			sp.jump = pts - sp.prev
		}
		sp.prev = pts
		if sp.n == 0 || pts < sp.first {
			sp.first = pts
		}
		if pts > sp.last {
			sp.last = pts
		}
		sp.n++
	}
	ok := done()
	cancel()
	_ = cmd.Wait()
	v, a := spans["vs"], spans["as"]
	t.Logf("%s %s: %d video frames over %v (largest step %v), %d audio buffers over %v", playbin, url, v.n, v.last-v.first, v.jump, a.n, a.last-a.first)
	if !ok {
		t.Fatalf("%s did not play %v of video and audio from %s within the failsafe\n%s", playbin, minSpan, url, strings.Join(tail, "\n"))
	}
	if v.jump > maxJump {
		t.Fatalf("%s jumped %v between two video frames of %s", playbin, v.jump, url)
	}
}
