package live

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Eyevinn/hls-m3u8/m3u8"
	"github.com/zencoder/go-dash/v3/mpd"

	"github.com/edgecache/edgecache/origin/media"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

var goldenAST = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func goldenCases() []struct {
	name   string
	encode func() ([]byte, error)
} {
	pdt := func(s float64) time.Time { return goldenAST.Add(time.Duration(s * float64(time.Second))) }
	return []struct {
		name   string
		encode func() ([]byte, error)
	}{
		{"media.m3u8", func() ([]byte, error) {
			p := &hlsMediaPlaylist{targetDuration: 2, mediaSequence: 41, discontinuitySequence: 3, segments: []hlsSegment{
				{uri: "tok/video/41.m4s", duration: 2, mapURI: "tok/video/init-3.mp4", pdt: pdt(82)},
				{uri: "tok/video/42.m4s", duration: 1.5, mapURI: "tok/video/init-3.mp4", pdt: pdt(84)},
				{uri: "tok/video/43.m4s", duration: 2, disc: true, mapURI: "tok/video/init-4.mp4", pdt: pdt(90.25)},
				{uri: "tok/video/44.m4s", duration: 2.002, mapURI: "tok/video/init-4.mp4", pdt: pdt(92.25)},
			}}
			return p.encode()
		}},
		{"multivariant.m3u8", func() ([]byte, error) {
			m := &hlsMultivariant{
				videoURI: "live/video.m3u8", audioURI: "live/audio.m3u8", bandwidth: 3200000, avgBandwidth: 2900000,
				codecs: "avc1.64001f,mp4a.40.2", width: 1280, height: 720, frameRate: 30, channels: 2,
			}
			return m.encode(), nil
		}},
		{"manifest.mpd", func() ([]byte, error) {
			m := &dashManifest{
				availabilityStart: goldenAST, publishTime: goldenAST.Add(100 * time.Second),
				minUpdatePeriod: 2 * time.Second, minBufferTime: 2 * time.Second,
				timeShiftBuffer: 12 * time.Second, presentationDelay: 6 * time.Second, utcTimingURL: "/dash/time",
				periods: []dashPeriod{
					{id: "p3", start: 80 * time.Second, reps: []dashRepresentation{
						{kind: media.KindVideo, id: "video", codecs: "avc1.64001f", bandwidth: 3000000, timescale: 90000,
							width: 1280, height: 720, frameRate: 30, initURI: "live/tok/video/init-3.mp4",
							mediaURI: "live/tok/video/$Number$.m4s", startNumber: 41, pto: 7200000, leadIn: true,
							segments: []dashSegment{{7380000, 180000}, {7560000, 180000}, {7740000, 135000}}},
						{kind: media.KindAudio, id: "audio", codecs: "mp4a.40.2", bandwidth: 130000, timescale: 48000,
							sampleRate: 48000, channels: 2, initURI: "live/tok/audio/init-3.mp4",
							mediaURI: "live/tok/audio/$Number$.m4s", startNumber: 41, pto: 3840000, leadIn: true,
							segments: []dashSegment{{3936000, 96256}, {4032256, 95232}, {4127488, 72704}}},
					}},
					{id: "p4", start: 90250 * time.Millisecond, reps: []dashRepresentation{
						{kind: media.KindVideo, id: "video", codecs: "avc1.64001f", bandwidth: 3000000, timescale: 90000,
							width: 1280, height: 720, frameRate: 30, initURI: "live/tok/video/init-4.mp4",
							mediaURI: "live/tok/video/$Number$.m4s", startNumber: 44, pto: 7875000,
							segments: []dashSegment{{7875000, 180000}, {8055000, 180000}}},
					}},
				},
			}
			return m.encode()
		}},
		{"media-ll.m3u8", func() ([]byte, error) { return goldenLL(pdt).encode() }},
		{"media-ll-delta.m3u8", func() ([]byte, error) {
			p := goldenLL(pdt)
			return p.encodeDelta(p.skippable())
		}},
	}
}

// goldenLL is a low-latency playlist: parts of the last two segments and
// of the one in progress, the hint, and the audio rendition's report. Its
// CAN-SKIP-UNTIL of 2 s (less than a real one may be) lets a delta update
// skip 41 and 42.
func goldenLL(pdt func(float64) time.Time) *hlsMediaPlaylist {
	part := func(msn uint64, i int, d float64, ind bool) hlsPart {
		return hlsPart{msn: msn, uri: "tok/video/" + itoa(msn) + "." + strconv.Itoa(i) + ".m4s", duration: d, independent: ind}
	}
	return &hlsMediaPlaylist{targetDuration: 2, mediaSequence: 41, discontinuitySequence: 3, segments: []hlsSegment{
		{uri: "tok/video/41.m4s", duration: 2, mapURI: "tok/video/init-3.mp4", pdt: pdt(82)},
		{uri: "tok/video/42.m4s", duration: 1.5, mapURI: "tok/video/init-3.mp4", pdt: pdt(84)},
		{uri: "tok/video/43.m4s", duration: 1, disc: true, mapURI: "tok/video/init-4.mp4", pdt: pdt(90.25)},
		{uri: "tok/video/44.m4s", duration: 1.002, mapURI: "tok/video/init-4.mp4", pdt: pdt(91.25)},
	}, ll: &hlsLowLatency{
		partTarget: 0.35, partHoldBack: 1.05, canSkipUntil: 2,
		parts: []hlsPart{
			part(43, 0, 0.334, true), part(43, 1, 0.333, false), part(43, 2, 0.333, false),
			part(44, 0, 0.334, true), part(44, 1, 0.334, false), part(44, 2, 0.334, false),
			part(45, 0, 0.333, true),
		},
		hint:    "tok/video/45.1.m4s",
		reports: []hlsRenditionReport{{uri: "audio.m3u8", lastMSN: 45, lastPart: 0}},
	}}
}

// TestGolden compares rendered playlists with testdata/*.golden (run with
// -update to rewrite them) and checks that rendering is stable.
func TestGolden(t *testing.T) {
	for _, tc := range goldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.encode()
			if err != nil {
				t.Fatal(err)
			}
			again, err := tc.encode()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, again) {
				t.Fatalf("rendering is not stable:\n%s\n---\n%s", got, again)
			}
			path := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from golden:\n%s\n--- want ---\n%s", tc.name, got, want)
			}
		})
	}
}

// TestPlaylistsParse reads the rendered playlists back with the same
// libraries and checks the properties players rely on.
func TestPlaylistsParse(t *testing.T) {
	cases := goldenCases()
	media, _ := cases[0].encode()
	pl, typ, err := m3u8.DecodeFrom(bytes.NewReader(media), true)
	if err != nil || typ != m3u8.MEDIA {
		t.Fatalf("media playlist: %v (type %v)", err, typ)
	}
	mp := pl.(*m3u8.MediaPlaylist)
	if mp.SeqNo != 41 || mp.DiscontinuitySeq != 3 || mp.TargetDuration != 2 {
		t.Errorf("media playlist header: seq %d disc %d target %d", mp.SeqNo, mp.DiscontinuitySeq, mp.TargetDuration)
	}
	s := string(media)
	for _, want := range []string{"#EXT-X-VERSION:6\n", "#EXT-X-INDEPENDENT-SEGMENTS\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("media playlist lacks %q", want)
		}
	}
	if strings.Index(s, "#EXT-X-MAP") > strings.Index(s, "#EXTINF") {
		t.Errorf("EXT-X-MAP after the first segment:\n%s", s)
	}
	if strings.Contains(s, "#EXT-X-ENDLIST") || strings.Contains(s, "PLAYLIST-TYPE") {
		t.Errorf("live playlist must not be closed or typed:\n%s", s)
	}

	mv, _ := cases[1].encode()
	pl, typ, err = m3u8.DecodeFrom(bytes.NewReader(mv), true)
	if err != nil || typ != m3u8.MASTER {
		t.Fatalf("multivariant: %v", err)
	}
	v := pl.(*m3u8.MasterPlaylist).Variants[0]
	if v.Codecs != "avc1.64001f,mp4a.40.2" || v.Resolution != "1280x720" || v.Audio != hlsAudioGroup || v.Bandwidth == 0 {
		t.Errorf("variant %+v", v.VariantParams)
	}

	man, _ := cases[2].encode()
	doc, err := mpd.ReadFromString(string(man))
	if err != nil {
		t.Fatal(err)
	}
	if *doc.Type != "dynamic" || doc.UTCTiming == nil || *doc.UTCTiming.SchemeIDURI != utcTimingScheme {
		t.Errorf("MPD header: type %s utc %+v", *doc.Type, doc.UTCTiming)
	}
	for _, p := range doc.Periods {
		for _, as := range p.AdaptationSets {
			for _, r := range as.Representations {
				if r.Bandwidth == nil || *r.Bandwidth <= 0 {
					t.Errorf("period %s: representation %s has bandwidth %v", p.ID, *r.ID, r.Bandwidth)
				}
			}
			checkTimeline(t, as.SegmentTemplate.SegmentTimeline)
		}
	}
}

// checkTimeline asserts a SegmentTimeline has no gaps or overlaps.
func checkTimeline(t *testing.T, tl *mpd.SegmentTimeline) {
	t.Helper()
	var next uint64
	for i, s := range tl.Segments {
		if s.StartTime != nil {
			if i > 0 && *s.StartTime != next {
				t.Errorf("timeline S[%d] t=%d, previous ends at %d", i, *s.StartTime, next)
			}
			next = *s.StartTime
		} else if i == 0 {
			t.Errorf("first S has no @t")
		}
		r := 0
		if s.RepeatCount != nil {
			r = *s.RepeatCount
		}
		next += s.Duration * uint64(r+1)
	}
}

func TestTimelineRunLength(t *testing.T) {
	tests := []struct {
		name string
		in   []dashSegment
		want string
	}{
		{"repeats", []dashSegment{{0, 10}, {10, 10}, {20, 10}}, "t=0 d=10 r=2"},
		{"change", []dashSegment{{5, 10}, {15, 12}, {27, 12}}, "t=5 d=10|d=12 r=1"},
		{"gap", []dashSegment{{0, 10}, {30, 10}}, "t=0 d=10|t=30 d=10"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var parts []string
			for _, s := range timeline(tc.in).Segments {
				var p []string
				if s.StartTime != nil {
					p = append(p, "t="+itoa(*s.StartTime))
				}
				p = append(p, "d="+itoa(s.Duration))
				if s.RepeatCount != nil {
					p = append(p, "r="+itoa(uint64(*s.RepeatCount)))
				}
				parts = append(parts, strings.Join(p, " "))
			}
			if got := strings.Join(parts, "|"); got != tc.want {
				t.Errorf("timeline %q, want %q", got, tc.want)
			}
		})
	}
}

// TestLeadIn: a period whose window has slid gets a timeline that starts
// at the period start again, one number earlier (GStreamer's dashdemux
// seeks past the live edge otherwise; see leadIn).
func TestLeadIn(t *testing.T) {
	tests := []struct {
		name      string
		in        []dashSegment
		pto, num  uint64
		want      []dashSegment
		wantFirst uint64
	}{
		{"slid", []dashSegment{{400, 100}, {500, 100}}, 100, 7, []dashSegment{{100, 300}, {400, 100}, {500, 100}}, 6},
		{"at period start", []dashSegment{{100, 100}}, 100, 7, []dashSegment{{100, 100}}, 7},
		{"number zero", []dashSegment{{400, 100}}, 100, 0, []dashSegment{{400, 100}}, 0},
		{"empty", nil, 100, 7, nil, 7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, first := leadIn(tc.in, tc.pto, tc.num)
			if first != tc.wantFirst || !slices.Equal(got, tc.want) {
				t.Errorf("leadIn = %v first %d, want %v first %d", got, first, tc.want, tc.wantFirst)
			}
		})
	}
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }

func TestTargetDuration(t *testing.T) {
	tests := []struct {
		name    string
		cfg     time.Duration
		maxSeen float64
		want    uint
	}{
		{"configured", 2 * time.Second, 2.0, 2},
		{"rounds to nearest", 2 * time.Second, 2.4, 2},
		{"grows with long GOP", 2 * time.Second, 3.6, 4},
		{"sub-second target", 500 * time.Millisecond, 0.5, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := targetDurationFor(tc.cfg, tc.maxSeen); got != tc.want {
				t.Errorf("targetDurationFor(%v, %v) = %d, want %d", tc.cfg, tc.maxSeen, got, tc.want)
			}
		})
	}
}
