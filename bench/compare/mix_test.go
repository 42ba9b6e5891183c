package compare

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestMixAgainstOrigin runs the realistic mix with the real wrk against
// the test origin itself (standing in for an edge; its CPU is this
// process's): the script must reach both the playlist and the segments,
// and the bytes and CPU per GB must come out of wrk's output.
func TestMixAgainstOrigin(t *testing.T) {
	if testing.Short() {
		t.Skip("runs wrk")
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		t.Fatal("wrk not found: scripts/test-deps.sh installs it (apt-get install wrk)")
	}
	o, err := startOrigin()
	if err != nil {
		t.Fatal(err)
	}
	defer o.close()
	self := &server{Name: "origin", URL: o.URL, cmd: &exec.Cmd{Process: &os.Process{Pid: os.Getpid()}}}
	m, err := runMix(t.Context(), self, t.TempDir(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if m.Requests == 0 || m.GB <= 0 || m.CPUPerGB <= 0 || m.Errors+m.NonSuccessful != 0 {
		t.Fatalf("mix: %+v", m)
	}
	o.mu.Lock()
	pl, seg := o.counts["/hot/index.m3u8"], o.counts[mixObjects()[1]]
	o.mu.Unlock()
	if pl < 2 || seg < 2 {
		t.Errorf("origin saw %d playlist and %d requests for one segment, want both reached", pl, seg)
	}
	// Half the requests are playlists: the mean response is about half
	// the mean segment (2.6 MB), far above the playlist.
	per := m.GB * 1e9 / float64(m.Requests)
	if per < 0.8e6 || per > 2e6 {
		t.Errorf("%.0f bytes per request, want about 1.3 MB", per)
	}
}

func TestMarkdownMix(t *testing.T) {
	r := &Report{
		Servers: []string{"nginx", "varnish", "edgecache"},
		Mix: map[string][]MixResult{
			"nginx":     {{CPUPerGB: 0.5}},
			"varnish":   {{CPUPerGB: 0.4}},
			"edgecache": {{CPUPerGB: 0.2}},
		},
		LLHLS:    map[string]LLResult{"edgecache": {Viewers: 200}},
		LLLadder: map[string][]LLResult{"edgecache": {{Viewers: 200}, {Viewers: 1000, Rebuffers: 3}}},
	}
	md := r.Markdown("test")
	for _, want := range []string{
		"| server CPU-s per GB sent | 0.50 | 0.40 | 0.20 | 0.40x | 0.50x |",
		"- edgecache: 200: 0, 0, 0, 0, 0; sim 0.00; 1000: 3, 0, 0, 0, 0; sim 0.00",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("no %q in\n%s", want, md)
		}
	}
}

func TestMarkdownHerdFloor(t *testing.T) {
	h := func(p99 float64) []HerdResult { return []HerdResult{{TTFBp99Ms: p99}} }
	r := &Report{
		Servers:   []string{"nginx", "varnish", "edgecache"},
		Herd4MB:   map[string][]HerdResult{"nginx": h(200), "varnish": h(80), "edgecache": h(48)},
		HerdFloor: h(30),
	}
	md := r.Markdown("test")
	// A ratio of two differences means nothing: those columns say n/a.
	// The same round's floor (pairedOverFloor, TestPairedOverFloor) is,
	// with one round, the one floor.
	for _, want := range []string{
		"| TTFB p99 over the no-cache floor (30 ms) ms | +170 | +50 | +18 | n/a | n/a |",
		"| TTFB p99 over the same round's no-cache floor, median of rounds, ms | +170 | +50 | +18 | n/a | n/a |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("no %q in\n%s", want, md)
		}
	}
	if strings.Contains(md, "streaming") {
		t.Errorf("a streaming floor row without one measured:\n%s", md)
	}
	// The streaming floor: the same clients streaming the 4 MB object
	// straight from the origin, median of rounds.
	r.HerdStreamFloor = []HerdResult{{TTFBp99Ms: 150, DoneP99Ms: 1100}, {TTFBp99Ms: 90, DoneP99Ms: 1020}, {TTFBp99Ms: 120, DoneP99Ms: 1050}}
	md = r.Markdown("test")
	for _, want := range []string{
		"| TTFB p99 over the streaming floor (120 ms) ms | +80 | -40 | -72 | n/a | n/a |",
		"The streaming floor is the same 200 clients fetching the same 4 MB object straight from the origin at the same rate, with no cache: TTFB p99 120 ms, completion p99 1050 ms (median of 3 rounds).",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("no %q in\n%s", want, md)
		}
	}
	r.HerdStreamFloor = r.HerdStreamFloor[:1]
	if md = r.Markdown("test"); !strings.Contains(md, "completion p99 1100 ms (one round).") {
		t.Errorf("one round not named so in\n%s", md)
	}
}

// TestWrkSizes: wrk's sizes are in powers of 1024, in the read line and
// in Transfer/sec alike.
func TestWrkSizes(t *testing.T) {
	out := "  1000 requests in 10.00s, 1.50GB read\nRequests/sec:    100.00\nTransfer/sec:    153.60MB\n"
	if got, want := readGB(out), 1.5*(1<<30)/1e9; got != want {
		t.Errorf("readGB = %v, want %v", got, want)
	}
	for _, tc := range []struct {
		num, unit string
		want      float64
	}{{"2", "B", 2}, {"1.5", "KB", 1536}, {"1", "MB", 1 << 20}, {"2", "GB", 2 << 30}, {"1", "TB", 1 << 40}} {
		if got := wrkBytes(tc.num, tc.unit); got != tc.want {
			t.Errorf("wrkBytes(%s, %s) = %v, want %v", tc.num, tc.unit, got, tc.want)
		}
	}
}
