package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgecache/edgecache/origin"
)

// TestVLCThroughEdge: VLC, run as nobody (it refuses root), plays the HLS
// stream through the edge. Its adaptive demuxer's output is recorded and
// ffprobe must find seconds of h264 and aac in it.
func TestVLCThroughEdge(t *testing.T) {
	cvlc := needTool(t, "cvlc")
	runuser := needTool(t, "runuser")
	ffprobe := needTool(t, "ffprobe")
	s := startStack(t, origin.Config{}, true)
	waitPlaylist(t, s.edgeURL+"/hls/demo.m3u8", "EXT-X-STREAM-INF", 20*time.Second)

	// A directory nobody can write to, whose parents it can reach
	// (t.TempDir's parent is private to root).
	dir, err := os.MkdirTemp("", "edgecache-vlc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "vlc.ts")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, runuser, "-u", "nobody", "--", cvlc, "-I", "dummy",
		"--run-time", "10", "--play-and-exit", s.edgeURL+"/hls/demo.m3u8",
		"--sout", "#std{access=file,mux=ts,dst="+out+"}")
	log, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("vlc: %v\n%s", err, log)
	}
	probe, err := exec.Command(ffprobe, "-v", "error", "-show_entries", "stream=codec_name:format=duration", "-of", "csv=p=0", out).Output()
	if err != nil {
		t.Fatalf("ffprobe of VLC's recording: %v\nvlc log:\n%s", err, log)
	}
	fields := strings.Fields(string(probe))
	got := strings.Join(fields, " ")
	if !strings.Contains(got, "h264") || !strings.Contains(got, "aac") {
		t.Fatalf("VLC's recording has %q, want h264 and aac\nvlc log:\n%s", got, log)
	}
	dur, _ := strconv.ParseFloat(fields[len(fields)-1], 64)
	t.Logf("VLC played %.1f s of %s through the edge", dur, got)
	if dur < 8 {
		t.Fatalf("VLC played only %.1f s in a 10 s run\n%s", dur, log)
	}
}
