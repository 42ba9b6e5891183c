package proxy

import (
	"context"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/edgecache/edgecache/origin"
	"github.com/edgecache/edgecache/origin/origintest"
)

// needTool fails, loudly, when an end-to-end tool is missing: `make test`
// installs it first.
func needTool(t *testing.T, name string) string {
	t.Helper()
	if testing.Short() {
		// make unit and make race: no external tool; make test runs it.
		t.Skipf("-short: needs %s, which make test installs", name)
	}
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: this end-to-end test drives the real tool; run `make test` (it installs it) or apt-get install %s", name, name)
	}
	return p
}

// TestFFprobeThroughEdge: ffprobe, a client none of us wrote, reads the
// packager's HLS and DASH streams through the edge.
func TestFFprobeThroughEdge(t *testing.T) {
	checkGoroutines(t)
	ffprobe := needTool(t, "ffprobe")
	pk := origintest.Start(t, origin.Config{})
	pk.StartDemo(t, "demo")
	e := newEdge(t, pk.URL, nil)

	// Wait for the first segments through the edge.
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, b, err := get(t, e.Client(), e.URL+"/hls/demo.m3u8")
		if err == nil && resp.StatusCode == 200 && strings.Contains(string(b), "EXT-X-STREAM-INF") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo stream not available through the edge: %v %v", resp, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(3 * time.Second) // a few segments into the window
	for _, u := range []string{e.URL + "/hls/demo.m3u8", e.URL + "/dash/demo.mpd"} {
		t.Run(u[strings.LastIndexByte(u, '.'):], func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, ffprobe, "-v", "error", "-rw_timeout", "10000000",
				"-show_entries", "stream=codec_name", "-of", "csv=p=0", u).CombinedOutput()
			if err != nil {
				t.Fatalf("ffprobe %s: %v\n%s", u, err, out)
			}
			codecs := strings.Fields(string(out))
			sort.Strings(codecs)
			got := strings.Join(dedupe(codecs), ",")
			if got != "aac,h264" {
				t.Fatalf("ffprobe %s found streams %q, want aac and h264\n%s", u, got, out)
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
