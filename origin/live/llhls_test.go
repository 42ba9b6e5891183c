package live

import (
	"math"
	"testing"

	"github.com/edgecache/edgecache/origin/media"
)

func TestSkippable(t *testing.T) {
	tests := []struct {
		name  string
		durs  []float64
		until float64
		want  int
	}{
		{"window shorter than the boundary", []float64{2, 2, 2, 2, 2, 2}, 12, 0},
		{"segment ending exactly at the boundary", []float64{2, 2, 2, 2, 2, 2, 2}, 12, 1},
		{"segments ending before it", []float64{2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2}, 12, 6},
		{"one ending just after it stays", []float64{2, 2.001, 2, 2, 2, 2, 2}, 12, 1},
		{"last segment never", []float64{30, 1}, 1, 1},
		{"no CAN-SKIP-UNTIL", []float64{2, 2, 2, 2, 2, 2, 2, 2}, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &hlsMediaPlaylist{ll: &hlsLowLatency{canSkipUntil: tc.until}}
			for _, d := range tc.durs {
				p.segments = append(p.segments, hlsSegment{duration: d})
			}
			if got := p.skippable(); got != tc.want {
				t.Errorf("skippable = %d, want %d", got, tc.want)
			}
		})
	}
	if n := (&hlsMediaPlaylist{segments: make([]hlsSegment, 10)}).skippable(); n != 0 {
		t.Errorf("a playlist without LL-HLS skips %d", n)
	}
}

func TestPartNames(t *testing.T) {
	st := &Stream{token: "tok"}
	if got := st.PartName(media.KindAudio, 41, 3); got != "tok/audio/41.3.m4s" {
		t.Errorf("partName = %s", got)
	}
	tests := []struct {
		name string
		ok   bool
		kind media.Kind
		seq  uint64
		i    int
	}{
		{"tok/video/5.0.m4s", true, media.KindVideo, 5, 0},
		{"tok/audio/18446744073709551615.12.m4s", true, media.KindAudio, math.MaxUint64, 12},
		{"tok/video/5.m4s", false, 0, 0, 0},
		{"tok/video/05.0.m4s", false, 0, 0, 0},
		{"tok/video/5.00.m4s", false, 0, 0, 0},
		{"tok/video/5.-1.m4s", false, 0, 0, 0},
		{"tok/video/5.+1.m4s", false, 0, 0, 0},
		{"tok/video/5.1.2.m4s", false, 0, 0, 0},
		{"tok/video/5.0.mp4", false, 0, 0, 0},
		{"tok/video/18446744073709551616.0.m4s", false, 0, 0, 0},
		{"tok/ts/5.0.m4s", false, 0, 0, 0},
		{"other/video/5.0.m4s", false, 0, 0, 0},
		{"tok/video/sub/5.0.m4s", false, 0, 0, 0},
		{"tok/video/init-0.mp4", false, 0, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, seq, i, ok := st.parsePartName(tc.name)
			if ok != tc.ok || ok && (k != tc.kind || seq != tc.seq || i != tc.i) {
				t.Fatalf("parsePartName = %v %d %d %v, want %v %d %d %v", k, seq, i, ok, tc.kind, tc.seq, tc.i, tc.ok)
			}
			if ok && st.PartName(k, seq, i) != tc.name {
				t.Errorf("does not round-trip: %s", st.PartName(k, seq, i))
			}
		})
	}
}
