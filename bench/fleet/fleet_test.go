package fleet

import (
	"strings"
	"testing"
	"time"

	"github.com/edgecache/edgecache/bench/viewer"
)

func TestSumCounts(t *testing.T) {
	a := &front{objects: map[string]int{
		"/hls/demo/x/video/1.m4s":      1,
		"/hls/demo/x/video/2.m4s":      2,
		"/hls/demo/x/video/2.0.m4s":    3,
		"/hls/demo/x/video/init-0.mp4": 1,
	}, lists: map[string]int{"/hls/demo/video.m3u8": 4}, versions: map[string]map[[32]byte]bool{"/hls/demo/video.m3u8": {{1}: true, {2}: true}}}
	b := &front{objects: map[string]int{"/hls/demo/x/video/2.m4s": 1}, lists: map[string]int{"/hls/demo/video.m3u8": 2},
		versions: map[string]map[[32]byte]bool{"/hls/demo/video.m3u8": {{2}: true, {3}: true}}}
	c := sumCounts([]*front{a, b})
	if c.Segments != 2 || c.SegmentReqs != 4 || c.Parts != 1 || c.PartReqs != 3 || c.Inits != 1 || c.InitReqs != 1 {
		t.Errorf("objects %+v", c)
	}
	if c.Playlists != 1 || c.PlaylistReqs != 6 || c.PlaylistVersions != 3 {
		t.Errorf("playlists %+v", c)
	}
	if c.SegmentReqHist[1] != 1 || c.SegmentReqHist[3] != 1 {
		t.Errorf("histogram %v", c.SegmentReqHist)
	}
	var r Report
	r.DurationS = 10
	r.Viewers = map[string]*viewer.Report{"hls": {Viewers: viewer.ViewerCounts{Played: 2}, Failovers: 1}}
	r.Viewers["hls"].Rebuffer.OverallRatio = 0.5
	r.Viewers["hls"].Errors.Network = 3
	r.summarise(c)
	if r.Origin.PerSegment != 2 || r.RebufferRatio != 0.5 || r.FailedRequests != 3 || r.Failovers != 1 {
		t.Errorf("summary %+v", r)
	}
	var md strings.Builder
	r.Started = time.Unix(0, 0)
	if err := r.WriteMarkdown(&md, "go run ./cmd/fleet"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"origin requests per segment | 2.00", "llhls | did not run"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}
}

func TestEdgeConfigs(t *testing.T) {
	cfg := Config{EdgeBin: "e", PackagerBin: "p", WorkDir: t.TempDir(), MultiOrigin: true}
	if err := cfg.defaults(); err != nil {
		t.Fatal(err)
	}
	var tp topology
	p, err := tp.edgeProc(cfg, t.TempDir(), "shield1", "127.0.0.162", "failover", []string{"http://127.0.0.160:8088", "http://127.0.0.161:8088"})
	if err != nil {
		t.Fatal(err)
	}
	if p.ready != "http://127.0.0.162:9091/readyz" || len(p.args) != 2 {
		t.Errorf("proc %+v", p)
	}
	if err := (&Config{}).defaults(); err == nil {
		t.Error("a config without binaries must be refused")
	}
}

// TestMissed: each of the goals, met and missed.
func TestMissed(t *testing.T) {
	met := Report{Edges: 3, Shields: 2, FailedRequests: 2, LostOnKilledEdge: 2}
	met.Origin.PerSegment = 1.004
	for _, tc := range []struct {
		name string
		edit func(*Report)
		want string
	}{
		{"all met", func(*Report) {}, ""},
		{"backwards", func(r *Report) { r.Backwards = 1 }, "went backwards"},
		{"failed elsewhere", func(r *Report) { r.FailedRequests = 3 }, "1 failed viewer requests outside"},
		{"origin per segment", func(r *Report) { r.Origin.PerSegment = 1.10 }, "1.10 origin requests per segment (goal 1)"},
		{"no shield: one per edge", func(r *Report) { r.Shields, r.Origin.PerSegment = 0, 3 }, ""},
		{"no shield, more", func(r *Report) { r.Shields, r.Origin.PerSegment = 0, 3.5 }, "(goal 3)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := met
			tc.edit(&r)
			got := strings.Join(r.Missed(), "; ")
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Errorf("Missed() = %q, want %q", got, tc.want)
			}
		})
	}
}
