package manifest

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

type parseDASHCase struct {
	name    string
	in      string
	want    *DASHState
	wantErr error
}

var parseDASHCases = []parseDASHCase{
	{
		name: "dynamic with every level of BaseURL",
		in: `<?xml version="1.0" encoding="UTF-8"?>
<!-- comment -->
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic" minimumUpdatePeriod="PT2S" timeShiftBufferDepth="PT1M30.5S"
     availabilityStartTime="2024-01-01T00:00:00Z" publishTime="2024-01-01T00:10:00.25Z" profiles="urn:mpeg:dash:profile:isoff-live:2011">
  <Location>https://cdn.origin.test/a.mpd</Location>
  <Location>https://backup.thirdparty.example/a.mpd</Location>
  <PatchLocation ttl="60">https://cdn.origin.test/a.mpp?x=1&amp;y=2</PatchLocation>
  <BaseURL>https://cdn.origin.test/</BaseURL>
  <Period id="1">
    <BaseURL>p1/</BaseURL>
    <AdaptationSet id="v" mimeType="video/mp4">
      <BaseURL> video/ </BaseURL>
      <SegmentTemplate media="$Number$.m4s" initialization="init.mp4" duration="4" startNumber="10"/>
      <Representation id="r1" bandwidth="1">
        <BaseURL>r1/</BaseURL>
      </Representation>
    </AdaptationSet>
  </Period>
</MPD>`,
		want: &DASHState{
			Dynamic: true, MinimumUpdatePeriod: 2 * time.Second, TimeShiftBufferDepth: 90500 * time.Millisecond,
			AvailabilityStartTime: pdt("2024-01-01T00:00:00Z"), PublishTime: pdt("2024-01-01T00:10:00.25Z"),
			Locations:      []string{"https://cdn.origin.test/a.mpd", "https://backup.thirdparty.example/a.mpd"},
			PatchLocations: []string{"https://cdn.origin.test/a.mpp?x=1&y=2"},
			BaseURLs:       []string{"https://cdn.origin.test/", "p1/", "video/", "r1/"},
			Templates: []DASHTemplate{{
				Period: 0, AdaptationSet: "v", Media: "$Number$.m4s", Initialization: "init.mp4",
				StartNumber: 10, Timescale: 1, Duration: 4,
			}},
			Periods: 1,
		},
	},
	{
		name: "timeline start times follow on, defaults, two periods",
		in: `<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="P0Y0M0DT0H0M30S">
  <Period start="PT0S"><AdaptationSet><Representation id="a">
    <SegmentTemplate timescale="1000" media="$Time$.m4s">
      <SegmentTimeline><S d="2000" r="2"/><S d="1000"/><S t="10000" d="2000" r="-1"/></SegmentTimeline>
    </SegmentTemplate>
  </Representation></AdaptationSet></Period>
  <Period start="PT30S"><SegmentTemplate media="x$Number$.ts" duration="6"/></Period>
</MPD>`,
		want: &DASHState{
			Templates: []DASHTemplate{
				{Period: 0, Representation: "a", Media: "$Time$.m4s", StartNumber: 1, Timescale: 1000,
					Timeline: []DASHTimelineEntry{{T: 0, D: 2000, R: 2}, {T: 6000, D: 1000}, {T: 10000, D: 2000, R: -1}}},
				{Period: 1, Media: "x$Number$.ts", StartNumber: 1, Timescale: 1, Duration: 6},
			},
			Periods: 2,
		},
	},
	{
		name: "zone-less dates are UTC",
		in:   `<?xml version="1.0" encoding="utf-8"?><MPD type="dynamic" availabilityStartTime="2024-05-01T10:00:00" minimumUpdatePeriod="P0DT0H0M1.5S"/>`,
		want: &DASHState{Dynamic: true, AvailabilityStartTime: pdt("2024-05-01T10:00:00Z"), MinimumUpdatePeriod: 1500 * time.Millisecond},
	},
	{
		name: "BaseURL in CDATA or split by a comment is still read",
		in:   `<MPD><BaseURL><![CDATA[https://cdn.origin.test/a/]]></BaseURL><BaseURL>https://cdn.origin.test/<!-- c -->b/</BaseURL></MPD>`,
		want: &DASHState{BaseURLs: []string{"https://cdn.origin.test/a/", "https://cdn.origin.test/b/"}},
	},
	{name: "empty", in: "", wantErr: ErrMalformed},
	{name: "playlist", in: "#EXTM3U\n", wantErr: ErrMalformed},
	{name: "root is not MPD", in: `<SmoothStreamingMedia MajorVersion="2"/>`, wantErr: ErrMalformed},
	{name: "unclosed", in: `<MPD><Period>`, wantErr: ErrMalformed},
	{name: "text after the root", in: `<MPD/>trailing`, wantErr: ErrMalformed},
	{name: "latin-1 declaration", in: `<?xml version="1.0" encoding="ISO-8859-1"?><MPD/>`, wantErr: ErrMalformed},
	{name: "us-ascii declaration (no charset readers: offsets must stay byte-exact)", in: `<?xml version="1.0" encoding="US-ASCII"?><MPD/>`, wantErr: ErrMalformed},
	{name: "bad minimumUpdatePeriod", in: `<MPD type="dynamic" minimumUpdatePeriod="2 seconds"/>`, wantErr: ErrMalformed},
	{name: "bad publishTime", in: `<MPD publishTime="yesterday"/>`, wantErr: ErrMalformed},
	{name: "negative startNumber", in: `<MPD><Period><SegmentTemplate startNumber="-1"/></Period></MPD>`, wantErr: ErrMalformed},
	{name: "S@r below -1", in: `<MPD><Period><SegmentTemplate><SegmentTimeline><S d="1" r="-2"/></SegmentTimeline></SegmentTemplate></Period></MPD>`, wantErr: ErrMalformed},
	{name: "non-numeric timescale (go-dash)", in: `<MPD><Period><SegmentTemplate timescale="fast"/></Period></MPD>`, wantErr: ErrMalformed},
	{
		// Known limitation: go-dash's Period@duration parser accepts only
		// P[nD][T[nH][nM][nS]], so years and months fail the whole MPD.
		name: "go-dash rejects years in Period@duration", in: `<MPD><Period duration="P0Y0M0DT0H0M30S"/></MPD>`, wantErr: ErrMalformed,
	},
}

func TestParseDASH(t *testing.T) {
	for _, tc := range parseDASHCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseDASH([]byte(tc.in))
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

func TestParseXSDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{"PT2S", 2 * time.Second, false},
		{"PT0.5S", 500 * time.Millisecond, false},
		{"PT1H2M3.25S", time.Hour + 2*time.Minute + 3250*time.Millisecond, false},
		{"P1DT1S", 24*time.Hour + time.Second, false},
		{"P0Y0M0DT0H0M6S", 6 * time.Second, false},
		{"-PT1S", -time.Second, false},
		{"P1M", 30 * 24 * time.Hour, false},
		{"PT", 0, true},
		{"P", 0, true},
		{"PT1", 0, true},
		{"T1S", 0, true},
		{"P1H", 0, true},
		{"PT1D", 0, true},
		{"PTS", 0, true},
		{"PT1.2.3S", 0, true},
		{"PT1e3S", 0, true},
		{"P99999999999Y", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseXSDuration(tc.in)
			if tc.bad {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("got %v, %v; want ErrMalformed", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}
