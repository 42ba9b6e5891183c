package manifest

import "testing"

const (
	// segments 100-102 complete; 102 has parts 0-3; 103 has parts 0-1 so far
	llLive = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-PART-INF:PART-TARGET=0.5\n#EXT-X-MEDIA-SEQUENCE:100\n" +
		"#EXTINF:2,\n100.mp4\n#EXTINF:2,\n101.mp4\n" +
		"#EXT-X-PART:DURATION=0.5,URI=\"102.0.mp4\"\n#EXT-X-PART:DURATION=0.5,URI=\"102.1.mp4\"\n" +
		"#EXT-X-PART:DURATION=0.5,URI=\"102.2.mp4\"\n#EXT-X-PART:DURATION=0.5,URI=\"102.3.mp4\"\n#EXTINF:2,\n102.mp4\n" +
		"#EXT-X-PART:DURATION=0.5,URI=\"103.0.mp4\"\n#EXT-X-PART:DURATION=0.5,URI=\"103.1.mp4\"\n" +
		"#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"103.2.mp4\"\n"
	// as llLive, cut right after segment 102 completed
	llBoundary = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-PART-INF:PART-TARGET=0.5\n#EXT-X-MEDIA-SEQUENCE:100\n" +
		"#EXTINF:2,\n100.mp4\n#EXTINF:2,\n101.mp4\n" +
		"#EXT-X-PART:DURATION=0.5,URI=\"102.0.mp4\"\n#EXT-X-PART:DURATION=0.5,URI=\"102.1.mp4\"\n" +
		"#EXT-X-PART:DURATION=0.5,URI=\"102.2.mp4\"\n#EXT-X-PART:DURATION=0.5,URI=\"102.3.mp4\"\n#EXTINF:2,\n102.mp4\n"
	classic = "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:10\n#EXTINF:6,\n10.ts\n#EXTINF:6,\n11.ts\n"
	ended   = classic + "#EXT-X-ENDLIST\n"
	empty   = "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:10\n"
	delta   = "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:100\n#EXT-X-SKIP:SKIPPED-SEGMENTS=5\n#EXTINF:6,\n105.ts\n"
)

var reachesCases = []struct {
	name     string
	playlist string
	msn      uint64
	part     int
	want     bool
}{
	{"older segment", llLive, 99, -1, true},
	{"complete segment", llLive, 102, -1, true},
	{"segment still in parts", llLive, 103, -1, false},
	{"listed part of a complete segment", llLive, 102, 3, true},
	{"part past a complete segment, next one started", llLive, 102, 4, true},
	{"newest part", llLive, 103, 1, true},
	{"hinted part", llLive, 103, 2, false},
	{"next segment's first part", llLive, 104, 0, false},
	{"any part of an older segment", llLive, 101, 7, true},
	{"boundary: part past the last listed one", llBoundary, 102, 4, false},
	{"boundary: next segment", llBoundary, 103, 0, false},
	{"boundary: last part", llBoundary, 102, 3, true},
	{"classic: part of a complete segment without parts", classic, 11, 0, true},
	{"classic: next segment", classic, 12, -1, false},
	{"classic: part of the next segment", classic, 12, 0, false},
	{"ended: anything", ended, 1000, 3, true},
	{"empty: first segment", empty, 10, -1, false},
	{"empty: first part", empty, 10, 0, false},
	{"delta: last listed", delta, 105, -1, true},
	{"delta: skipped", delta, 101, -1, true},
	{"delta: next", delta, 106, -1, false},
}

func TestReaches(t *testing.T) {
	for _, tc := range reachesCases {
		t.Run(tc.name, func(t *testing.T) {
			st := mustParseHLS(t, tc.playlist)
			if got := st.Reaches(tc.msn, tc.part); got != tc.want {
				t.Errorf("Reaches(%d, %d) = %v, want %v", tc.msn, tc.part, got, tc.want)
			}
		})
	}
}

func TestTooFar(t *testing.T) {
	tests := []struct {
		name     string
		playlist string
		msn      uint64
		want     bool
	}{
		{"two ahead", llLive, 104, false},
		{"three ahead", llLive, 105, true},
		{"behind", llLive, 1, false},
		{"empty playlist", empty, 1 << 40, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := mustParseHLS(t, tc.playlist).TooFar(tc.msn); got != tc.want {
				t.Errorf("TooFar(%d) = %v, want %v", tc.msn, got, tc.want)
			}
		})
	}
}
