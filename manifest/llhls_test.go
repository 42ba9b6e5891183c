package manifest

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// directiveCases are the delivery directives of RFC 8216bis 6.2.5 as the
// packager and the edge both read them: decimal-integers only (4.2),
// _HLS_skip YES or v2, _HLS_part only with _HLS_msn (6.2.5.2: 400).
var directiveCases = []struct {
	name  string
	query string
	want  Directives
	err   error
}{
	{"none", "", Directives{Part: -1}, nil},
	{"other parameters", "token=abc&_HLS_future=1", Directives{Part: -1}, nil},
	{"msn", "_HLS_msn=42", Directives{Block: true, MSN: 42, Part: -1}, nil},
	{"msn and part", "_HLS_msn=42&_HLS_part=3", Directives{Block: true, MSN: 42, Part: 3}, nil},
	{"part first", "_HLS_part=2&_HLS_msn=10", Directives{Block: true, MSN: 10, Part: 2}, nil},
	{"zero", "_HLS_msn=0&_HLS_part=0", Directives{Block: true, Part: 0}, nil},
	{"largest msn", "_HLS_msn=18446744073709551615", Directives{Block: true, MSN: 1<<64 - 1, Part: -1}, nil},
	{"largest part", "_HLS_msn=1&_HLS_part=2147483647", Directives{Block: true, MSN: 1, Part: 1<<31 - 1}, nil},
	{"escaped name", "_HLS%5Fmsn=5", Directives{Block: true, MSN: 5, Part: -1}, nil},
	{"skip", "_HLS_skip=YES", Directives{Part: -1, Skip: "YES"}, nil},
	{"skip v2 among others", "_HLS_skip=v2&token=x", Directives{Part: -1, Skip: "v2"}, nil},
	{"all", "_HLS_skip=YES&_HLS_part=1&_HLS_msn=7", Directives{Block: true, MSN: 7, Part: 1, Skip: "YES"}, nil},
	{"bad escape elsewhere", "token=%zz&_HLS_msn=3", Directives{Block: true, MSN: 3, Part: -1}, nil},
	{"part without msn", "_HLS_part=1", Directives{}, ErrPartWithoutMSN},
	{"part without msn, with skip", "_HLS_part=1&_HLS_skip=YES", Directives{}, ErrPartWithoutMSN},
	{"msn not a number", "_HLS_msn=x", Directives{}, ErrBadDirective},
	{"msn empty", "_HLS_msn=", Directives{}, ErrBadDirective},
	{"msn without value", "_HLS_msn", Directives{}, ErrBadDirective},
	{"msn negative", "_HLS_msn=-1", Directives{}, ErrBadDirective},
	{"msn signed", "_HLS_msn=%2B1", Directives{}, ErrBadDirective},
	{"msn plus", "_HLS_msn=+1", Directives{}, ErrBadDirective},
	{"msn spaces", "_HLS_msn=%201", Directives{}, ErrBadDirective},
	{"msn hex", "_HLS_msn=0x10", Directives{}, ErrBadDirective},
	{"msn bad escape", "_HLS_msn=%zz", Directives{}, ErrBadDirective},
	{"msn overflow", "_HLS_msn=18446744073709551616", Directives{}, ErrBadDirective},
	{"msn twice", "_HLS_msn=1&_HLS_msn=1", Directives{}, ErrBadDirective},
	{"msn twice, different", "_HLS_msn=13&_HLS_msn=12", Directives{}, ErrBadDirective},
	{"part not a number", "_HLS_msn=1&_HLS_part=x", Directives{}, ErrBadDirective},
	{"part fraction", "_HLS_msn=1&_HLS_part=1.0", Directives{}, ErrBadDirective},
	{"part negative", "_HLS_msn=1&_HLS_part=-1", Directives{}, ErrBadDirective},
	{"part overflow", "_HLS_msn=1&_HLS_part=2147483648", Directives{}, ErrBadDirective},
	{"part twice", "_HLS_msn=1&_HLS_part=1&_HLS_part=2", Directives{}, ErrBadDirective},
	{"skip lower case", "_HLS_skip=yes", Directives{}, ErrBadDirective},
	{"skip NO", "_HLS_skip=NO", Directives{}, ErrBadDirective},
	{"skip twice", "_HLS_skip=YES&_HLS_skip=YES", Directives{}, ErrBadDirective},
}

// encodeDirectives is the canonical query of d, as a player writes it.
func encodeDirectives(d Directives) string {
	q := url.Values{}
	if d.Block {
		q.Set("_HLS_msn", strconv.FormatUint(d.MSN, 10))
		if d.Part >= 0 {
			q.Set("_HLS_part", strconv.Itoa(d.Part))
		}
	}
	if d.Skip != "" {
		q.Set("_HLS_skip", d.Skip)
	}
	return q.Encode()
}

func TestParseDirectives(t *testing.T) {
	for _, tc := range directiveCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseDirectives(tc.query)
			if tc.err != nil {
				if !errors.Is(err, tc.err) || got != (Directives{}) {
					t.Fatalf("ParseDirectives = %+v, %v; want %v", got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseDirectives = %+v, %v; want %+v", got, err, tc.want)
			}
			if again, err := ParseDirectives(encodeDirectives(got)); err != nil || again != got {
				t.Errorf("re-encoded %q parses as %+v, %v", encodeDirectives(got), again, err)
			}
		})
	}
}

// FuzzDirectives: whatever is accepted is consistent (a part only with a
// blocking msn, a known skip) and re-encodes to the same directives; what
// is refused is one of the two 400 errors.
func FuzzDirectives(f *testing.F) {
	for _, tc := range directiveCases {
		f.Add(tc.query)
	}
	f.Fuzz(func(t *testing.T, query string) {
		d, err := ParseDirectives(query)
		if err != nil {
			if !errors.Is(err, ErrBadDirective) && !errors.Is(err, ErrPartWithoutMSN) {
				t.Fatalf("%q: unexpected error %v", query, err)
			}
			return
		}
		if d.Part < -1 || d.Part >= 0 && !d.Block || d.Skip != "" && d.Skip != "YES" && d.Skip != "v2" {
			t.Fatalf("%q: inconsistent %+v", query, d)
		}
		if !strings.Contains(query, "_HLS") && !strings.Contains(query, "%") && d != (Directives{Part: -1}) {
			t.Fatalf("%q: directives %+v from no directive", query, d)
		}
		if again, err := ParseDirectives(encodeDirectives(d)); err != nil || again != d {
			t.Fatalf("%q: %+v re-encodes as %q, which parses as %+v, %v", query, d, encodeDirectives(d), again, err)
		}
		for _, e := range []Edge{{}, {Segments: true, LastMSN: d.MSN}, {Segments: true, LastMSN: d.MSN, Parts: true, PartMSN: d.MSN, PartIndex: max(d.Part, 0)}} {
			if e.Reaches(d) && e.TooFar(d, time.Second) {
				t.Fatalf("%q: %+v both reaches and is too far for %+v", query, d, e)
			}
		}
	})
}

// Playlists the rule cases are judged on.
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

// ruleCases are RFC 8216bis 6.2.5.2's blocking-reload rules. A case gives
// the playlist's end either as an Edge (how the packager sees its window)
// or as a playlist (how the edge sees what it fetched), and the part
// target either way; reaches is "answer now", tooFar "answer 400 now".
//
// edge10: last complete segment 10 (4 parts), segment 11 has 2 parts, with
// 350 ms parts: an Advance Part Limit of 8.
var (
	edge10       = Edge{Segments: true, LastMSN: 10, Parts: true, PartMSN: 11, PartIndex: 1}
	edge10NoOpen = Edge{Segments: true, LastMSN: 10, Parts: true, PartMSN: 10, PartIndex: 3}
	ruleCases    = []struct {
		name            string
		edge            Edge
		playlist        string
		partTarget      time.Duration
		msn             uint64
		part            int
		reaches, tooFar bool
	}{
		{"old segment", edge10, "", 350 * time.Millisecond, 3, -1, true, false},
		{"last complete segment", edge10, "", 350 * time.Millisecond, 10, -1, true, false},
		{"segment in progress", edge10, "", 350 * time.Millisecond, 11, -1, false, false},
		{"two past the last complete segment", edge10, "", 350 * time.Millisecond, 12, -1, false, false},
		{"three past the last complete segment, two past the one in progress", edge10, "", 350 * time.Millisecond, 13, -1, false, true},
		{"four past", edge10, "", 350 * time.Millisecond, 14, -1, false, true},
		{"two past the last complete one, none in progress", edge10NoOpen, "", 350 * time.Millisecond, 12, -1, false, false},
		{"three past, none in progress", edge10NoOpen, "", 350 * time.Millisecond, 13, -1, false, true},
		{"listed part", edge10, "", 350 * time.Millisecond, 11, 1, true, false},
		{"next part", edge10, "", 350 * time.Millisecond, 11, 2, false, false},
		{"part of a complete segment", edge10, "", 350 * time.Millisecond, 10, 3, true, false},
		{"past a complete segment's last part: part 0 of the next", edge10, "", 350 * time.Millisecond, 10, 4, true, false},
		{"same, next not begun", edge10NoOpen, "", 350 * time.Millisecond, 10, 4, false, false},
		{"part of an older segment", edge10, "", 350 * time.Millisecond, 9, 40, true, false},
		{"advance limit", edge10, "", 350 * time.Millisecond, 11, 9, false, false},
		{"beyond advance limit", edge10, "", 350 * time.Millisecond, 11, 10, false, true},
		{"next segment, limit", edge10, "", 350 * time.Millisecond, 12, 7, false, false},
		{"next segment, beyond", edge10, "", 350 * time.Millisecond, 12, 8, false, true},
		{"two ahead, beyond", edge10, "", 350 * time.Millisecond, 13, 7, false, true},
		{"two ahead of the last part, within", edge10NoOpen, "", 350 * time.Millisecond, 12, 6, false, false},
		{"two ahead of the last part, beyond", edge10NoOpen, "", 350 * time.Millisecond, 12, 7, false, true},
		{"far ahead of the last part", edge10, "", 350 * time.Millisecond, 12, 1 << 30, false, true},
		{"empty", Edge{}, "", time.Second, 0, 0, false, false},
		{"empty, far", Edge{}, "", time.Second, 1 << 40, -1, false, false},

		{"playlist: older segment", Edge{}, llLive, 0, 99, -1, true, false},
		{"playlist: behind", Edge{}, llLive, 0, 1, -1, true, false},
		{"playlist: complete segment", Edge{}, llLive, 0, 102, -1, true, false},
		{"playlist: segment still in parts", Edge{}, llLive, 0, 103, -1, false, false},
		{"playlist: listed part of a complete segment", Edge{}, llLive, 0, 102, 3, true, false},
		{"playlist: part past a complete segment, next one started", Edge{}, llLive, 0, 102, 4, true, false},
		{"playlist: newest part", Edge{}, llLive, 0, 103, 1, true, false},
		{"playlist: hinted part", Edge{}, llLive, 0, 103, 2, false, false},
		{"playlist: next segment's first part", Edge{}, llLive, 0, 104, 0, false, false},
		{"playlist: any part of an older segment", Edge{}, llLive, 0, 101, 7, true, false},
		{"playlist: two past the last complete segment", Edge{}, llLive, 0, 104, -1, false, false},
		{"playlist: three past the last complete segment", Edge{}, llLive, 0, 105, -1, false, true},
		{"playlist: parts within the limit (6 of 500 ms)", Edge{}, llLive, 0, 103, 7, false, false},
		{"playlist: parts beyond the limit", Edge{}, llLive, 0, 103, 8, false, true},
		{"boundary: part past the last listed one", Edge{}, llBoundary, 0, 102, 4, false, false},
		{"boundary: next segment", Edge{}, llBoundary, 0, 103, 0, false, false},
		{"boundary: last part", Edge{}, llBoundary, 0, 102, 3, true, false},
		{"boundary: three past", Edge{}, llBoundary, 0, 105, -1, false, true},
		{"classic: part of a complete segment without parts", Edge{}, classic, 0, 11, 0, true, false},
		{"classic: next segment", Edge{}, classic, 0, 12, -1, false, false},
		{"classic: part of the next segment", Edge{}, classic, 0, 12, 0, false, false},
		{"classic: a part far ahead is not judged without parts", Edge{}, classic, 0, 13, 50, false, false},
		{"classic: three ahead", Edge{}, classic, 0, 14, -1, false, true},
		{"ended: anything", Edge{}, ended, 0, 1000, 3, true, false},
		{"empty playlist: first segment", Edge{}, empty, 0, 10, -1, false, false},
		{"empty playlist: first part", Edge{}, empty, 0, 10, 0, false, false},
		{"empty playlist: far", Edge{}, empty, 0, 1 << 40, -1, false, false},
		{"delta: last listed", Edge{}, delta, 0, 105, -1, true, false},
		{"delta: skipped", Edge{}, delta, 0, 101, -1, true, false},
		{"delta: next", Edge{}, delta, 0, 106, -1, false, false},
	}
)

func TestBlockingRules(t *testing.T) {
	for _, tc := range ruleCases {
		t.Run(tc.name, func(t *testing.T) {
			d := Directives{Block: true, MSN: tc.msn, Part: tc.part}
			e, pt := tc.edge, tc.partTarget
			reaches := e.Reaches(d)
			if tc.playlist != "" {
				st := mustParseHLS(t, tc.playlist)
				e, pt = st.Edge(), st.PartTarget
				reaches = st.Reaches(tc.msn, tc.part)
				if st.EndList {
					// Directives are ignored once the playlist has ended.
					tc.tooFar = false
				}
			}
			if reaches != tc.reaches {
				t.Errorf("reaches = %v, want %v", reaches, tc.reaches)
			}
			if got := e.TooFar(d, pt); got != tc.tooFar && !strings.HasPrefix(tc.name, "ended") {
				t.Errorf("TooFar = %v, want %v", got, tc.tooFar)
			}
		})
	}
	if e := (Edge{Segments: true, LastMSN: 5}); !e.Reaches(Directives{Part: -1}) || e.TooFar(Directives{MSN: 100, Part: -1}, 0) {
		t.Error("a request without _HLS_msn is not blocking: always reached, never too far")
	}
}

func TestAdvancePartLimit(t *testing.T) {
	for pt, want := range map[time.Duration]int{
		350 * time.Millisecond: 8, 333 * time.Millisecond: 9, 200 * time.Millisecond: 15,
		500 * time.Millisecond: 6, time.Second: 3, 2 * time.Second: 3, 0: 3,
	} {
		if got := AdvancePartLimit(pt); got != want {
			t.Errorf("AdvancePartLimit(%v) = %d, want %d", pt, got, want)
		}
	}
}
