package manifest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

const prevLive = "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:100\n#EXT-X-DISCONTINUITY-SEQUENCE:3\n" +
	"#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:6,\nseg100.m4s\n#EXT-X-DISCONTINUITY\n#EXTINF:6,\nseg101.m4s\n#EXTINF:6,\nseg102.m4s\n"

type compareCase struct {
	name       string
	prev, next string // "" means nil
	verdict    Verdict
	wantErr    error
	wantPurge  string // fmt.Sprint of the purge list
}

var compareCases = []compareCase{
	{name: "no previous playlist", next: prevLive, verdict: VerdictOK, wantPurge: "[]"},
	{name: "same playlist", prev: prevLive, next: prevLive, verdict: VerdictOK, wantPurge: "[]"},
	{
		name:    "window slides",
		prev:    prevLive,
		next:    media(101, 3, 6, "#EXT-X-MAP:URI=\"init.mp4\"", "#EXT-X-DISCONTINUITY", "seg101.m4s", "seg102.m4s", "seg103.m4s"),
		verdict: VerdictOK, wantPurge: "[]",
	},
	{
		name:    "window slides past the discontinuity",
		prev:    prevLive,
		next:    media(102, 4, 6, "seg102.m4s", "seg103.m4s"),
		verdict: VerdictOK, wantPurge: "[]",
	},
	{
		name:    "long poll gap: no overlap at all",
		prev:    prevLive,
		next:    media(200, 4, 6, "seg200.m4s", "seg201.m4s"),
		verdict: VerdictOK, wantPurge: "[]",
	},
	{
		name:    "delta update",
		prev:    prevLive,
		next:    "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:100\n#EXT-X-DISCONTINUITY-SEQUENCE:3\n#EXT-X-SKIP:SKIPPED-SEGMENTS=2\n#EXTINF:6,\nseg102.m4s\n#EXTINF:6,\nseg103.m4s\n",
		verdict: VerdictOK, wantPurge: "[]",
	},
	{
		name:    "stale replica: media sequence backwards",
		prev:    prevLive,
		next:    media(99, 3, 6, "seg99.m4s", "seg100.m4s", "#EXT-X-DISCONTINUITY", "seg101.m4s"),
		verdict: VerdictReject, wantErr: ErrSequenceBackwards,
	},
	{
		name:    "discontinuity sequence backwards",
		prev:    prevLive,
		next:    media(101, 2, 6, "#EXT-X-DISCONTINUITY", "seg101.m4s", "seg102.m4s"),
		verdict: VerdictReject, wantErr: ErrDiscontinuityBackwards,
	},
	{
		name:    "target duration changed",
		prev:    prevLive,
		next:    media(101, 3, 4, "#EXT-X-DISCONTINUITY", "seg101.m4s", "seg102.m4s", "seg103.m4s"),
		verdict: VerdictReject, wantErr: ErrTargetDurationChanged,
	},
	{
		name:    "an MSN names another URI",
		prev:    prevLive,
		next:    media(101, 3, 6, "#EXT-X-DISCONTINUITY", "seg101.m4s", "seg102-v2.m4s", "seg103.m4s"),
		verdict: VerdictReject, wantErr: ErrURIChanged,
	},
	{
		name:    "an MSN names another byte range",
		prev:    media(0, 0, 6, "#EXT-X-BYTERANGE:100@0", "all.mp4", "#EXT-X-BYTERANGE:100@100", "all.mp4"),
		next:    media(0, 0, 6, "#EXT-X-BYTERANGE:100@0", "all.mp4", "#EXT-X-BYTERANGE:120@100", "all.mp4"),
		verdict: VerdictReject, wantErr: ErrURIChanged,
	},
	{
		name:    "a published segment gained a discontinuity",
		prev:    prevLive,
		next:    media(100, 3, 6, "seg100.m4s", "#EXT-X-DISCONTINUITY", "seg101.m4s", "#EXT-X-DISCONTINUITY", "seg102.m4s"),
		verdict: VerdictReject, wantErr: ErrDiscontinuityChanged,
	},
	{
		name:    "a published segment lost its discontinuity",
		prev:    prevLive,
		next:    media(100, 3, 6, "seg100.m4s", "seg101.m4s", "seg102.m4s"),
		verdict: VerdictReject, wantErr: ErrDiscontinuityBackwards,
	},
	{
		name:    "last segment went away",
		prev:    prevLive,
		next:    media(100, 3, 6, "seg100.m4s", "#EXT-X-DISCONTINUITY", "seg101.m4s"),
		verdict: VerdictReject, wantErr: ErrSequenceBackwards,
	},
	{
		name:    "last part went away",
		prev:    llLive,
		next:    strings.Replace(llLive, "#EXT-X-PART:DURATION=0.5,URI=\"103.1.mp4\"\n", "", 1),
		verdict: VerdictReject, wantErr: ErrSequenceBackwards,
	},
	{
		name:    "parts completed into a segment",
		prev:    llLive,
		next:    llLive + "#EXT-X-PART:DURATION=0.5,URI=\"103.2.mp4\"\n#EXT-X-PART:DURATION=0.5,URI=\"103.3.mp4\"\n#EXTINF:2,\n103.mp4\n",
		verdict: VerdictOK, wantPurge: "[]",
	},
	{
		name:    "end list disappeared",
		prev:    ended,
		next:    classic,
		verdict: VerdictReject, wantErr: ErrSequenceBackwards,
	},
	{
		name:      "restart: sequence reset with a higher discontinuity sequence",
		prev:      prevLive,
		next:      media(0, 5, 6, "#EXT-X-MAP:URI=\"init.mp4\"", "seg0.m4s", "seg1.m4s", "seg101.m4s"),
		verdict:   VerdictRestart,
		wantPurge: "[init.mp4 seg101.m4s]",
	},
	{
		name:      "restart: sequence reset to a disjoint playlist",
		prev:      prevLive,
		next:      media(0, 0, 4, "#EXT-X-MAP:URI=\"init.mp4\"", "s-0.m4s", "s-1.m4s"),
		verdict:   VerdictRestart,
		wantPurge: "[init.mp4]",
	},
	{
		name:      "restart: new URIs renumbered onto the same range",
		prev:      prevLive,
		next:      media(101, 3, 6, "#EXT-X-DISCONTINUITY", "b101.m4s", "b102.m4s"),
		verdict:   VerdictRestart,
		wantPurge: "[]",
	},
	{
		name:      "restart: same names, every segment in a later discontinuity",
		prev:      media(0, 0, 6, "seg0.ts", "seg1.ts"),
		next:      media(0, 1, 6, "seg0.ts", "seg1.ts"),
		verdict:   VerdictRestart,
		wantPurge: "[seg0.ts seg1.ts]",
	},
	{
		name:    "multivariant playlists may change freely",
		prev:    "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\na.m3u8\n",
		next:    "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=2\nb.m3u8\n",
		verdict: VerdictOK, wantPurge: "[]",
	},
	{
		name:    "kind changed",
		prev:    prevLive,
		next:    "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\na.m3u8\n",
		verdict: VerdictReject, wantErr: ErrMalformed,
	},
	{name: "no new playlist", prev: prevLive, verdict: VerdictReject, wantErr: ErrMalformed},
}

func TestCompare(t *testing.T) {
	for _, tc := range compareCases {
		t.Run(tc.name, func(t *testing.T) {
			var prev, next *HLSState
			if tc.prev != "" {
				prev = mustParseHLS(t, tc.prev)
			}
			if tc.next != "" {
				next = mustParseHLS(t, tc.next)
			}
			v, purge, err := Compare(prev, next)
			if v != tc.verdict {
				t.Errorf("verdict %v, want %v (err %v)", v, tc.verdict, err)
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Errorf("err = %v, want %v", err, tc.wantErr)
				}
				if purge != nil {
					t.Errorf("purge list %v with a rejection", purge)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if got := fmt.Sprint(purge); got != tc.wantPurge {
				t.Errorf("purge %s, want %s", got, tc.wantPurge)
			}
		})
	}
}

func TestVerdictString(t *testing.T) {
	for v, want := range map[Verdict]string{VerdictOK: "ok", VerdictReject: "reject", VerdictRestart: "restart", 9: "verdict(9)"} {
		if got := v.String(); got != want {
			t.Errorf("%d: %q, want %q", v, got, want)
		}
	}
}
