package manifest

import (
	"testing"
)

// withPDT puts a program date before the first segment of a media()
// playlist.
func withPDT(pl, pdt string) string {
	return insertAfterHeader(pl, "#EXT-X-PROGRAM-DATE-TIME:"+pdt)
}

func insertAfterHeader(pl, line string) string {
	// media() writes five header lines.
	n := 0
	for i := 0; i < len(pl); i++ {
		if pl[i] == '\n' {
			n++
			if n == 5 {
				return pl[:i+1] + line + "\n" + pl[i+1:]
			}
		}
	}
	return pl + line + "\n"
}

const llA = "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:2\n#EXT-X-PART-INF:PART-TARGET=0.5\n#EXT-X-MEDIA-SEQUENCE:10\n" +
	"#EXTINF:2,\ns10.m4s\n#EXT-X-PART:DURATION=0.5,URI=\"p11.0.m4s\"\n"
const llB = "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:2\n#EXT-X-PART-INF:PART-TARGET=0.5\n#EXT-X-MEDIA-SEQUENCE:10\n" +
	"#EXTINF:2,\ns10.m4s\n#EXT-X-PART:DURATION=0.5,URI=\"p11.0.m4s\"\n#EXT-X-PART:DURATION=0.5,URI=\"p11.1.m4s\"\n"

var fresherHLSCases = []struct {
	name string
	a, b string // "" is nil
	want int    // sign of FresherHLS(a, b)
}{
	{"same playlist", prevLive, prevLive, 0},
	{"nil loses", "", prevLive, 1},
	// RFC 8216bis 4.4.3.2, 6.2.2: the segment after the last has the next MSN.
	{"b has the next segment", media(100, 0, 6, "a.m4s", "b.m4s"), media(100, 0, 6, "a.m4s", "b.m4s", "c.m4s"), 1},
	{"b slid its window", media(100, 0, 6, "a.m4s", "b.m4s"), media(101, 0, 6, "b.m4s", "c.m4s"), 1},
	{"a longer window ending at the same MSN is not staler by its media sequence",
		media(100, 0, 6, "a.m4s", "b.m4s", "c.m4s"), media(102, 0, 6, "c.m4s"), -1},
	{"a higher media sequence with an earlier edge is staler",
		media(100, 0, 6, "a.m4s", "b.m4s", "c.m4s", "d.m4s"), media(101, 0, 6, "b.m4s"), -1},
	// 6.2.5.1: skipped segments count.
	{"delta update counts skipped segments",
		media(100, 0, 6, "a.m4s", "b.m4s", "c.m4s"),
		"#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:100\n#EXT-X-SKIP:SKIPPED-SEGMENTS=2\n#EXTINF:6,\nc.m4s\n#EXTINF:6,\nd.m4s\n", 1},
	// 4.4.4.9: parts after the last segment belong to the next.
	{"LL-HLS: one more part", llA, llB, 1},
	{"LL-HLS: parts lose to the full segment", llB,
		"#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:2\n#EXT-X-PART-INF:PART-TARGET=0.5\n#EXT-X-MEDIA-SEQUENCE:10\n#EXTINF:2,\ns10.m4s\n#EXTINF:2,\ns11.m4s\n", 1},
	// 4.4.3.4: EXT-X-ENDLIST means no more segments.
	{"ENDLIST is final", media(100, 0, 6, "a.m4s"), media(100, 0, 6, "a.m4s", "#EXT-X-ENDLIST"), 1},
	// 4.4.4.6: the date of the edge.
	{"same MSN: later program date wins",
		withPDT(media(100, 0, 6, "a.m4s", "b.m4s"), "2026-01-01T00:00:00Z"),
		withPDT(media(100, 0, 6, "a.m4s", "b.m4s"), "2026-01-01T00:00:01.5Z"), 1},
	{"same MSN: earlier program date loses",
		withPDT(media(100, 0, 6, "a.m4s", "b.m4s"), "2026-01-01T00:00:02Z"),
		withPDT(media(100, 0, 6, "a.m4s", "b.m4s"), "2026-01-01T00:00:01Z"), -1},
	{"program date ignored when one side has none",
		withPDT(media(100, 0, 6, "a.m4s", "b.m4s"), "2026-01-01T00:00:02Z"),
		media(100, 0, 6, "a.m4s", "b.m4s"), 0},
	{"MSN before program date", withPDT(media(100, 0, 6, "a.m4s", "b.m4s"), "2030-01-01T00:00:00Z"),
		withPDT(media(100, 0, 6, "a.m4s", "b.m4s", "c.m4s"), "2026-01-01T00:00:00Z"), 1},
	{"same edge and date: more history",
		media(101, 0, 6, "b.m4s"), media(100, 0, 6, "a.m4s", "b.m4s"), 1},
	{"multivariant playlists do not order", "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv.m3u8\n", "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=2\nw.m3u8\n", 0},
}

func TestFresherHLS(t *testing.T) {
	for _, tc := range fresherHLSCases {
		t.Run(tc.name, func(t *testing.T) {
			var a, b *HLSState
			if tc.a != "" {
				a = mustParseHLS(t, tc.a)
			}
			if tc.b != "" {
				b = mustParseHLS(t, tc.b)
			}
			if got := sign(FresherHLS(a, b)); got != tc.want {
				t.Errorf("FresherHLS(a, b) = %d, want %d", got, tc.want)
			}
			if got := sign(FresherHLS(b, a)); got != -tc.want {
				t.Errorf("FresherHLS(b, a) = %d, want %d (antisymmetry)", got, -tc.want)
			}
		})
	}
}

func TestEdgeTime(t *testing.T) {
	s := mustParseHLS(t, "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00Z\n#EXTINF:6,\na.ts\n#EXTINF:4.5,\nb.ts\n")
	if got := s.EdgeTime(); !got.Equal(pdt("2026-01-01T00:00:10.5Z")) {
		t.Errorf("EdgeTime = %v", got)
	}
	if got := mustParseHLS(t, prevLive).EdgeTime(); !got.IsZero() {
		t.Errorf("EdgeTime without dates = %v", got)
	}
}

func TestPickHLS(t *testing.T) {
	served := media(100, 0, 6, "a.m4s", "b.m4s", "c.m4s") // edge 102
	for _, tc := range []struct {
		name   string
		served string
		cands  []string // "" is an origin that gave nothing
		want   int
		ok     bool
		v      Verdict
	}{
		{"nothing served: the freshest", "", []string{media(100, 0, 6, "a.m4s"), media(100, 0, 6, "a.m4s", "b.m4s")}, 1, true, VerdictOK},
		{"the freshest of two successors", served, []string{media(101, 0, 6, "b.m4s", "c.m4s", "d.m4s"), media(101, 0, 6, "b.m4s", "c.m4s", "d.m4s", "e.m4s")}, 1, true, VerdictOK},
		// 6.2.2: the primary died and the backup lags one segment: serving it
		// would take the viewer back.
		{"the lagging backup is behind what was served", served, []string{"", media(99, 0, 6, "z.m4s", "a.m4s", "b.m4s")}, 0, false, VerdictReject},
		{"lagging but not behind: the same edge", served, []string{"", media(101, 0, 6, "b.m4s", "c.m4s")}, 1, true, VerdictOK},
		{"a stale candidate is skipped for a fresh one", served, []string{media(100, 0, 6, "a.m4s", "b.m4s"), media(100, 0, 6, "a.m4s", "b.m4s", "c.m4s", "d.m4s")}, 1, true, VerdictOK},
		// Compare's URI rule: a backup naming MSN 101 differently is not a
		// successor, whatever its freshness.
		{"inconsistent names are refused", served, []string{media(100, 0, 6, "a.m4s", "X.m4s", "c.m4s", "d.m4s")}, 0, false, VerdictReject},
		{"a restart is accepted", served, []string{media(0, 1, 6, "r0.m4s")}, 0, true, VerdictRestart},
		{"no candidates", served, nil, 0, false, VerdictReject},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s *HLSState
			if tc.served != "" {
				s = mustParseHLS(t, tc.served)
			}
			cands := make([]*HLSState, len(tc.cands))
			for i, c := range tc.cands {
				if c != "" {
					cands[i] = mustParseHLS(t, c)
				}
			}
			i, v, ok := PickHLS(s, cands)
			if ok != tc.ok || (ok && (i != tc.want || v != tc.v)) {
				t.Errorf("PickHLS = %d, %v, %v; want %d, %v, %v", i, v, ok, tc.want, tc.v, tc.ok)
			}
			if ok && BehindHLS(s, cands[i]) {
				t.Errorf("picked a playlist behind the one served")
			}
		})
	}
}

func TestBehindHLS(t *testing.T) {
	served := mustParseHLS(t, prevLive)
	for _, tc := range []struct {
		name string
		next string
		want bool
	}{
		{"same", prevLive, false},
		{"ahead", media(101, 3, 6, "#EXT-X-MAP:URI=\"init.mp4\"", "#EXT-X-DISCONTINUITY", "seg101.m4s", "seg102.m4s", "seg103.m4s"), false},
		{"media sequence back", media(99, 3, 6, "seg99.m4s", "seg100.m4s", "#EXT-X-DISCONTINUITY", "seg101.m4s"), true},
		{"last segment back", media(100, 3, 6, "#EXT-X-MAP:URI=\"init.mp4\"", "seg100.m4s", "#EXT-X-DISCONTINUITY", "seg101.m4s"), true},
		{"discontinuity sequence back", media(103, 2, 6, "seg103.m4s"), true},
		{"target duration changed is inconsistent, not behind", media(101, 3, 4, "#EXT-X-DISCONTINUITY", "seg101.m4s", "seg102.m4s"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := BehindHLS(served, mustParseHLS(t, tc.next)); got != tc.want {
				t.Errorf("BehindHLS = %v, want %v", got, tc.want)
			}
		})
	}
}

func mpdAt(typ, publish string) string {
	attr := ""
	if publish != "" {
		attr = ` publishTime="` + publish + `"`
	}
	return `<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="` + typ + `"` + attr +
		` availabilityStartTime="2026-01-01T00:00:00Z" minimumUpdatePeriod="PT2S" profiles="urn:mpeg:dash:profile:isoff-live:2011"><Period id="0" start="PT0S"></Period></MPD>`
}

var fresherDASHCases = []struct {
	name string
	a, b string
	want int
}{
	// ISO/IEC 23009-1 5.3.1.2 Table 3, 5.4.1: each update's publishTime is later.
	{"later publishTime", mpdAt("dynamic", "2026-01-01T00:00:10Z"), mpdAt("dynamic", "2026-01-01T00:00:12Z"), 1},
	{"earlier publishTime", mpdAt("dynamic", "2026-01-01T00:00:12Z"), mpdAt("dynamic", "2026-01-01T00:00:10.5Z"), -1},
	{"same publishTime", mpdAt("dynamic", "2026-01-01T00:00:10Z"), mpdAt("dynamic", "2026-01-01T00:00:10Z"), 0},
	{"static at the same time is final", mpdAt("dynamic", "2026-01-01T00:00:10Z"), mpdAt("static", "2026-01-01T00:00:10Z"), 1},
	{"no publishTime: unordered", mpdAt("dynamic", ""), mpdAt("dynamic", "2026-01-01T00:00:10Z"), 0},
	{"nil loses", "", mpdAt("dynamic", ""), 1},
}

func TestFresherDASH(t *testing.T) {
	for _, tc := range fresherDASHCases {
		t.Run(tc.name, func(t *testing.T) {
			a, b := parseOrNilDASH(t, tc.a), parseOrNilDASH(t, tc.b)
			if got := sign(FresherDASH(a, b)); got != tc.want {
				t.Errorf("FresherDASH(a, b) = %d, want %d", got, tc.want)
			}
			if got := sign(FresherDASH(b, a)); got != -tc.want {
				t.Errorf("FresherDASH(b, a) = %d, want %d", got, -tc.want)
			}
		})
	}
}

func TestPickDASH(t *testing.T) {
	served := parseOrNilDASH(t, mpdAt("dynamic", "2026-01-01T00:00:10Z"))
	older := parseOrNilDASH(t, mpdAt("dynamic", "2026-01-01T00:00:08Z"))
	same := parseOrNilDASH(t, mpdAt("dynamic", "2026-01-01T00:00:10Z"))
	newer := parseOrNilDASH(t, mpdAt("dynamic", "2026-01-01T00:00:12Z"))
	static := parseOrNilDASH(t, mpdAt("static", "2026-01-01T00:00:09Z"))
	for _, tc := range []struct {
		name   string
		served *DASHState
		cands  []*DASHState
		want   int
		ok     bool
	}{
		{"newest", served, []*DASHState{same, newer, older}, 1, true},
		{"only an older one: keep serving", served, []*DASHState{older, nil}, 0, false},
		{"same is fine", served, []*DASHState{nil, same}, 1, true},
		{"nothing served", nil, []*DASHState{older, newer}, 1, true},
		{"after a static MPD no dynamic one", static, []*DASHState{newer}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			i, ok := PickDASH(tc.served, tc.cands)
			if ok != tc.ok || (ok && i != tc.want) {
				t.Errorf("PickDASH = %d, %v; want %d, %v", i, ok, tc.want, tc.ok)
			}
		})
	}
}

func parseOrNilDASH(t *testing.T, s string) *DASHState {
	t.Helper()
	if s == "" {
		return nil
	}
	st, err := ParseDASH([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func sign(n int) int {
	switch {
	case n > 0:
		return 1
	case n < 0:
		return -1
	}
	return 0
}

func FuzzFresherHLS(f *testing.F) {
	for _, tc := range fresherHLSCases {
		f.Add([]byte(tc.a), []byte(tc.b))
	}
	for _, tc := range compareCases {
		f.Add([]byte(tc.prev), []byte(tc.next))
	}
	f.Fuzz(func(t *testing.T, x, y []byte) {
		a, errA := ParseHLS(x)
		b, errB := ParseHLS(y)
		if errA != nil || errB != nil {
			return
		}
		if FresherHLS(a, a) != 0 {
			t.Fatal("a playlist is fresher than itself")
		}
		if sign(FresherHLS(a, b)) != -sign(FresherHLS(b, a)) {
			t.Fatal("FresherHLS is not antisymmetric")
		}
		if i, _, ok := PickHLS(a, []*HLSState{b, a}); ok && BehindHLS(a, []*HLSState{b, a}[i]) {
			t.Fatal("PickHLS picked a playlist behind the one served")
		}
	})
}

func FuzzFresherDASH(f *testing.F) {
	for _, tc := range fresherDASHCases {
		f.Add([]byte(tc.a), []byte(tc.b))
	}
	f.Fuzz(func(t *testing.T, x, y []byte) {
		a, errA := ParseDASH(x)
		b, errB := ParseDASH(y)
		if errA != nil || errB != nil {
			return
		}
		if sign(FresherDASH(a, b)) != -sign(FresherDASH(b, a)) {
			t.Fatal("FresherDASH is not antisymmetric")
		}
		if i, ok := PickDASH(a, []*DASHState{b, a}); ok && BehindDASH(a, []*DASHState{b, a}[i]) {
			t.Fatal("PickDASH picked an MPD behind the one served")
		}
	})
}
