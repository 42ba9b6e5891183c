package manifest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// media builds a media playlist: lines that start with '#' are copied, any
// other line is a segment URI and gets an EXTINF of td seconds.
func media(ms, dsn uint64, td int, lines ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:%d\n#EXT-X-MEDIA-SEQUENCE:%d\n#EXT-X-DISCONTINUITY-SEQUENCE:%d\n", td, ms, dsn)
	for _, l := range lines {
		if !strings.HasPrefix(l, "#") {
			fmt.Fprintf(&b, "#EXTINF:%d.000,\n", td)
		}
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}

func mustParseHLS(t testing.TB, s string) *HLSState {
	t.Helper()
	st, err := ParseHLS([]byte(s))
	if err != nil {
		t.Fatalf("ParseHLS: %v\n%s", err, s)
	}
	return st
}

func pdt(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

type parseHLSCase struct {
	name    string
	in      string
	want    *HLSState // compared with %+v, so nil and empty slices match
	wantErr error
}

var parseHLSCases = []parseHLSCase{
	{
		name: "vod with discontinuity and dates",
		in: "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXT-X-MEDIA-SEQUENCE:5\n#EXT-X-PLAYLIST-TYPE:VOD\n" +
			"#EXT-X-PROGRAM-DATE-TIME:2024-01-01T00:00:00Z\n#EXTINF:9.009,title\na.ts\n" +
			"#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:2024-01-01T01:00:00.5+00:00\n#EXTINF:10,\nb.ts\n#EXT-X-ENDLIST\n",
		want: &HLSState{
			Version: 3, TargetDuration: 10 * time.Second, MediaSequence: 5, EndList: true, PlaylistType: "VOD",
			Segments: []HLSSegment{
				{MSN: 5, URI: "a.ts", Duration: 9009 * time.Millisecond, ProgramDateTime: pdt("2024-01-01T00:00:00Z")},
				{MSN: 6, URI: "b.ts", Duration: 10 * time.Second, Discontinuity: true, ProgramDateTime: pdt("2024-01-01T01:00:00.5Z")},
			},
		},
	},
	{
		name: "version absent is 1, target duration as written",
		in:   "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:7.6,\na.ts\n",
		want: &HLSState{
			Version: 1, TargetDuration: 6 * time.Second,
			Segments: []HLSSegment{{MSN: 0, URI: "a.ts", Duration: 7600 * time.Millisecond}},
		},
	},
	{
		name: "empty live playlist",
		in:   "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n",
		want: &HLSState{Version: 1, TargetDuration: 2 * time.Second},
	},
	{
		name: "byte ranges as written, gap",
		in:   "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\n#EXT-X-BYTERANGE:100@0\nf.mp4\n#EXT-X-GAP\n#EXTINF:4,\n#EXT-X-BYTERANGE:200\nf.mp4\n",
		want: &HLSState{
			Version: 1, TargetDuration: 4 * time.Second,
			Segments: []HLSSegment{
				{MSN: 0, URI: "f.mp4", Duration: 4 * time.Second, ByteRange: "100@0"},
				{MSN: 1, URI: "f.mp4", Duration: 4 * time.Second, ByteRange: "200", Gap: true},
			},
		},
	},
	{
		name: "ll-hls parts before the first segment, two hints, reports",
		in: "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-VERSION:9\n#EXT-X-SERVER-CONTROL:HOLD-BACK=6,PART-HOLD-BACK=1.5,CAN-BLOCK-RELOAD=YES\n" +
			"#EXT-X-PART-INF:PART-TARGET=0.5\n#EXT-X-MEDIA-SEQUENCE:40\n#EXT-X-MAP:URI=\"init.mp4\"\n" +
			"#EXT-X-PROGRAM-DATE-TIME:2024-01-01T00:00:00Z\n" +
			"#EXT-X-PART:DURATION=0.5,URI=\"40.0.mp4\",INDEPENDENT=YES\n#EXT-X-PART:DURATION=0.5,URI=\"40.1.mp4\"\n" +
			"#EXTINF:1.0,\n40.mp4\n" +
			"#EXT-X-PART:DURATION=0.5,URI=\"41.0.mp4\",INDEPENDENT=YES,GAP=YES\n" +
			"#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"41.1.mp4\"\n#EXT-X-PRELOAD-HINT:TYPE=MAP,URI=\"init2.mp4\",BYTERANGE-START=10,BYTERANGE-LENGTH=20\n" +
			"#EXT-X-RENDITION-REPORT:URI=\"../a/index.m3u8\",LAST-MSN=41,LAST-PART=0\n#EXT-X-RENDITION-REPORT:URI=\"../b/index.m3u8\",LAST-MSN=40\n",
		want: &HLSState{
			Version: 9, TargetDuration: 2 * time.Second, PartTarget: 500 * time.Millisecond, MediaSequence: 40,
			Segments: []HLSSegment{{MSN: 40, URI: "40.mp4", Duration: time.Second, ProgramDateTime: pdt("2024-01-01T00:00:00Z")}},
			Parts: []HLSPart{
				{MSN: 40, Index: 0, URI: "40.0.mp4", Duration: 500 * time.Millisecond, Independent: true},
				{MSN: 40, Index: 1, URI: "40.1.mp4", Duration: 500 * time.Millisecond},
				{MSN: 41, Index: 0, URI: "41.0.mp4", Duration: 500 * time.Millisecond, Independent: true, Gap: true},
			},
			PreloadHints: []HLSPreloadHint{
				{Type: "PART", URI: "41.1.mp4"},
				{Type: "MAP", URI: "init2.mp4", ByteRangeStart: 10, ByteRangeLength: 20},
			},
			Maps: []string{"init.mp4"},
			RenditionReports: []HLSRenditionReport{
				{URI: "../a/index.m3u8", LastMSN: 41, LastPart: 0},
				{URI: "../b/index.m3u8", LastMSN: 40, LastPart: -1},
			},
			ServerControl: HLSServerControl{CanBlockReload: true, HoldBack: 6 * time.Second, PartHoldBack: 1500 * time.Millisecond},
		},
	},
	{
		name: "part-inf with PART-TARGET not first, byte-range part",
		in: "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-PART-INF:X-FOO=1,PART-TARGET=0.25\n#EXT-X-MEDIA-SEQUENCE:7\n" +
			"#EXT-X-PART:DURATION=0.25,URI=\"7.mp4\",BYTERANGE=\"1000@0\"\n#EXTINF:0.25,\n7.mp4\n",
		want: &HLSState{
			Version: 1, TargetDuration: 2 * time.Second, PartTarget: 250 * time.Millisecond, MediaSequence: 7,
			Segments: []HLSSegment{{MSN: 7, URI: "7.mp4", Duration: 250 * time.Millisecond}},
			Parts:    []HLSPart{{MSN: 7, Index: 0, URI: "7.mp4", Duration: 250 * time.Millisecond, ByteRange: "1000@0"}},
		},
	},
	{
		name: "delta update numbers segments after the skipped ones",
		in: "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-SERVER-CONTROL:CAN-SKIP-UNTIL=24,CAN-SKIP-DATERANGES=YES\n#EXT-X-MEDIA-SEQUENCE:100\n" +
			"#EXT-X-SKIP:SKIPPED-SEGMENTS=5\n#EXTINF:4,\n105.ts\n#EXT-X-PART:DURATION=1,URI=\"106.0.ts\"\n",
		want: &HLSState{
			Version: 1, TargetDuration: 4 * time.Second, MediaSequence: 100, Skipped: 5,
			Segments:      []HLSSegment{{MSN: 105, URI: "105.ts", Duration: 4 * time.Second}},
			Parts:         []HLSPart{{MSN: 106, Index: 0, URI: "106.0.ts", Duration: time.Second}},
			ServerControl: HLSServerControl{CanSkipUntil: 24 * time.Second, CanSkipDateRanges: true},
		},
	},
	{
		name: "scte-35 daterange at the live edge",
		in: "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:6,\n1.ts\n" +
			"#EXT-X-DATERANGE:ID=\"s1\",START-DATE=\"2024-01-01T00:00:06Z\",PLANNED-DURATION=30,SCTE35-OUT=0xFC302000\n",
		want: &HLSState{
			Version: 1, TargetDuration: 6 * time.Second,
			Segments: []HLSSegment{{MSN: 0, URI: "1.ts", Duration: 6 * time.Second}},
		},
	},
	{
		name: "multivariant: variants then media URIs, CRLF",
		in: "#EXTM3U\r\n#EXT-X-VERSION:4\r\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"x, y\",URI=\"audio.m3u8\"\r\n" +
			"#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID=\"cc\",NAME=\"cc\",INSTREAM-ID=\"CC1\"\r\n" +
			"#EXT-X-STREAM-INF:BANDWIDTH=100,CODECS=\"avc1.4d401f,mp4a.40.2\",AUDIO=\"a\"\r\nlow.m3u8\r\n" +
			"#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=10,URI=\"iframe.m3u8\"\r\n" +
			"#EXT-X-STREAM-INF:BANDWIDTH=200,AUDIO=\"a\"\r\nhttp://origin.example.com/high.m3u8\r\n",
		want: &HLSState{
			Multivariant: true, Version: 4,
			Variants: []string{"low.m3u8", "iframe.m3u8", "http://origin.example.com/high.m3u8", "audio.m3u8"},
		},
	},
	{
		name: "multivariant: I-frame tag between STREAM-INF and its URI",
		in:   "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=2,URI=\"i.m3u8\"\nv.m3u8\n",
		want: &HLSState{Multivariant: true, Version: 1, Variants: []string{"i.m3u8", "v.m3u8"}},
	},
	{
		name: "multivariant with renditions only",
		in:   "#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"x\",URI=\"audio.m3u8\"\n",
		want: &HLSState{Multivariant: true, Version: 1, Variants: []string{"audio.m3u8"}},
	},
	{name: "empty", in: "", wantErr: ErrMalformed},
	{name: "garbage", in: "\x00\x01garbage\xff", wantErr: ErrMalformed},
	{name: "missing EXTM3U", in: "#EXT-X-TARGETDURATION:6\n#EXTINF:6,\na.ts\n", wantErr: ErrMalformed},
	{name: "EXTM3U not first", in: "\n#EXTM3U\n#EXT-X-TARGETDURATION:6\n", wantErr: ErrMalformed},
	{name: "html", in: "<html><body>404</body></html>", wantErr: ErrMalformed},
	{name: "uri line without EXTINF", in: "#EXTM3U\n#EXT-X-TARGETDURATION:6\na.ts\n", wantErr: ErrMalformed},
	{name: "uri after KEY without EXTINF (hls-m3u8 panics)", in: "#EXTM3U\n#EXT-X-KEY:METHOD=NONE\na.ts\n", wantErr: ErrMalformed},
	{name: "uri after SCTE-35 daterange without EXTINF (hls-m3u8 panics)", in: "#EXTM3U\n#EXT-X-DATERANGE:ID=\"a\",START-DATE=\"2024-01-01T00:00:00Z\",SCTE35-OUT=0xFFFF\na.ts\n", wantErr: ErrMalformed},
	{name: "both kinds of tags", in: "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv.m3u8\n", wantErr: ErrMalformed},
	{name: "media without target duration", in: "#EXTM3U\n#EXTINF:6,\na.ts\n", wantErr: ErrMalformed},
	{name: "bad media sequence", in: "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:-1\n", wantErr: ErrMalformed},
	{name: "bad target duration", in: "#EXTM3U\n#EXT-X-TARGETDURATION:six\n", wantErr: ErrMalformed},
	{name: "NaN EXTINF", in: "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:NaN,\na.ts\n", wantErr: ErrMalformed},
	{name: "huge EXTINF", in: "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:99999999999999999999,\na.ts\n", wantErr: ErrMalformed},
	{name: "EXTINF without comma", in: "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:6\na.ts\n", wantErr: ErrMalformed},
	{name: "two EXTINF for one URI", in: "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:6,\n#EXTINF:6,\na.ts\n", wantErr: ErrMalformed},
	{name: "EXTINF at the end", in: "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:6,\n", wantErr: ErrMalformed},
	{name: "STREAM-INF at the end", in: "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n", wantErr: ErrMalformed},
	{name: "unterminated quote in MAP", in: "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXT-X-MAP:URI=\"init.mp4\n", wantErr: ErrMalformed},
	{name: "MAP without URI", in: "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXT-X-MAP:BYTERANGE=\"1@0\"\n", wantErr: ErrMalformed},
	{name: "PART without DURATION", in: "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXT-X-PART:URI=\"p.mp4\"\n", wantErr: ErrMalformed},
	{name: "bad byte range", in: "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:6,\n#EXT-X-BYTERANGE:1@x\na.ts\n", wantErr: ErrMalformed},
	{name: "bad program date time", in: "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXT-X-PROGRAM-DATE-TIME:yesterday\n#EXTINF:6,\na.ts\n", wantErr: ErrMalformed},
	{name: "bad playlist type", in: "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXT-X-PLAYLIST-TYPE:LIVE\n", wantErr: ErrMalformed},
	{name: "bad server control", in: "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXT-X-SERVER-CONTROL:HOLD-BACK=soon\n", wantErr: ErrMalformed},
	{name: "whitespace-only line", in: "#EXTM3U\n#EXT-X-TARGETDURATION:6\n   \n", wantErr: ErrMalformed},
	{name: "sequence overflow", in: "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:18446744073709551615\n#EXTINF:6,\na.ts\n#EXTINF:6,\nb.ts\n", wantErr: ErrMalformed},
}

func TestParseHLS(t *testing.T) {
	for _, tc := range parseHLSCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseHLS([]byte(tc.in))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g, w := fmt.Sprintf("%+v", *got), fmt.Sprintf("%+v", *tc.want); g != w {
				t.Errorf("got\n%s\nwant\n%s", g, w)
			}
		})
	}
}

// TestParseHLSCorpus spot-checks what the corpus files say.
func TestParseHLSCorpus(t *testing.T) {
	tests := []struct {
		file  string
		check func(t *testing.T, st *HLSState)
	}{
		{"llhls_apple_parts.m3u8", func(t *testing.T, st *HLSState) {
			if last, _ := st.LastMSN(); last != 271 {
				t.Errorf("LastMSN = %d, want 271", last)
			}
			if m, p, _ := st.LastPart(); m != 272 || p != 2 {
				t.Errorf("LastPart = %d.%d, want 272.2", m, p)
			}
			if n := len(st.Parts); n != 15 {
				t.Errorf("%d parts, want 15", n)
			}
			if len(st.PreloadHints) != 2 || len(st.RenditionReports) != 2 {
				t.Errorf("hints %d reports %d, want 2 and 2", len(st.PreloadHints), len(st.RenditionReports))
			}
		}},
		{"llhls_delta_skip.m3u8", func(t *testing.T, st *HLSState) {
			if st.Skipped != 6 || st.Segments[0].MSN != 1346 {
				t.Errorf("skipped %d first MSN %d, want 6 and 1346", st.Skipped, st.Segments[0].MSN)
			}
			if m, p, _ := st.LastPart(); m != 1349 || p != 1 {
				t.Errorf("LastPart = %d.%d, want 1349.1", m, p)
			}
		}},
		{"discontinuity_ad_insertion.m3u8", func(t *testing.T, st *HLSState) {
			var disc []uint64
			for _, s := range st.Segments {
				if s.Discontinuity {
					disc = append(disc, s.MSN)
				}
			}
			if fmt.Sprint(disc) != "[48212 48215]" || st.DiscontinuitySequence != 311 {
				t.Errorf("discontinuities at %v, DSN %d", disc, st.DiscontinuitySequence)
			}
			if !st.Segments[5].ProgramDateTime.Equal(pdt("2024-03-01T18:00:42.012Z")) {
				t.Errorf("PDT of 48215 = %v", st.Segments[5].ProgramDateTime)
			}
		}},
		{"apple_multivariant_alt_audio_subs.m3u8", func(t *testing.T, st *HLSState) {
			if !st.Multivariant || len(st.Variants) != 12 {
				t.Errorf("multivariant=%v variants=%d, want true and 12", st.Multivariant, len(st.Variants))
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			tc.check(t, mustParseHLS(t, string(readFile(t, "testdata/"+tc.file))))
		})
	}
}
