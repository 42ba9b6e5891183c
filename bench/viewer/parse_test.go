package viewer

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/edgecache/edgecache/manifest"
)

var templateCases = []struct {
	name    string
	tmpl    string
	want    string
	wantErr bool
}{
	{"no identifiers", "seg.m4s", "seg.m4s", false},
	{"number", "seg$Number$.m4s", "seg42.m4s", false},
	{"padded number", "seg$Number%05d$.m4s", "seg00042.m4s", false},
	{"padding narrower than the number", "seg$Number%01d$.m4s", "seg42.m4s", false},
	{"representation", "$RepresentationID$/init.mp4", "v1/init.mp4", false},
	{"time and bandwidth", "$Bandwidth$/t$Time$.m4s", "500000/t90000.m4s", false},
	{"padded time", "t$Time%012d$", "t000000090000", false},
	{"escaped dollar", "a$$b$Number$", "a$b42", false},
	{"unknown identifier", "$Foo$", "", true},
	{"unclosed", "seg$Number.m4s", "", true},
	{"format on representation id", "$RepresentationID%05d$", "", true},
	{"format without zero", "$Number%5d$", "", true},
	{"format not d", "$Number%05x$", "", true},
	{"absurd width", "$Number%0999d$", "", true},
}

var templateTestVars = templateVars{repID: "v1", number: 42, bandwidth: 500000, time: 90000}

func TestExpandTemplate(t *testing.T) {
	for _, tc := range templateCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := expandTemplate(tc.tmpl, templateTestVars)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("expandTemplate(%q) = %q, %v; want %q, error %v", tc.tmpl, got, err, tc.want, tc.wantErr)
			}
			if err != nil && !errors.Is(err, errTemplate) {
				t.Errorf("error %v does not wrap errTemplate", err)
			}
		})
	}
}

func FuzzExpandTemplate(f *testing.F) {
	for _, tc := range templateCases {
		f.Add(tc.tmpl)
	}
	f.Fuzz(func(t *testing.T, tmpl string) {
		out, err := expandTemplate(tmpl, templateTestVars)
		if err != nil {
			return
		}
		// What was accepted expands to itself once its dollars are
		// escaped: nothing of the template survives unexpanded.
		again, err := expandTemplate(strings.ReplaceAll(out, "$", "$$"), templateTestVars)
		if err != nil || again != out {
			t.Errorf("escaped %q expanded to %q, %v", out, again, err)
		}
	})
}

var byteRangeCases = []struct {
	name    string
	uri, br string
	want    string
	wantErr bool
}{
	{"whole resource", "a.ts", "", "", false},
	{"with offset", "a.ts", "1000@0", "bytes=0-999", false},
	{"follows the previous", "a.ts", "500", "bytes=1000-1499", false},
	{"follows again", "a.ts", "10", "bytes=1500-1509", false},
	{"another resource needs an offset", "b.ts", "10", "", true},
	{"offset on another resource", "b.ts", "10@5", "bytes=5-14", false},
	{"zero length", "b.ts", "0@5", "", true},
	{"not a number", "b.ts", "x@1", "", true},
	{"bad offset", "b.ts", "1@y", "", true},
	{"overflow", "b.ts", "18446744073709551615@2", "", true},
}

// The cases run in order: a range without an offset follows the one
// before it.
func TestByteRanger(t *testing.T) {
	var r byteRanger
	for _, tc := range byteRangeCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := r.header(tc.uri, tc.br)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("header(%q, %q) = %q, %v; want %q, error %v", tc.uri, tc.br, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func FuzzParseByteRange(f *testing.F) {
	for _, tc := range byteRangeCases {
		f.Add(tc.br)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, o, hasO, err := parseByteRange(s)
		if err != nil {
			return
		}
		re := fmt.Sprint(n)
		if hasO {
			re += fmt.Sprintf("@%d", o)
		}
		n2, o2, hasO2, err := parseByteRange(re)
		if err != nil || n2 != n || o2 != o || hasO2 != hasO {
			t.Errorf("%q -> %q did not read back: %v", s, re, err)
		}
		var r byteRanger
		r.header("x", "1@0")
		if h, err := r.header("x", s); err == nil && !strings.HasPrefix(h, "bytes=") {
			t.Errorf("header %q", h)
		}
	})
}

func TestRenditionPolicy(t *testing.T) {
	bws := []int64{1200, 300, 4000, 300}
	tests := []struct {
		in      string
		want    int
		wantErr bool
	}{
		{"lowest", 1, false}, // the first of the two lowest
		{"highest", 2, false},
		{"0", 0, false},
		{"3", 3, false},
		{"4", 0, true},
		{"-1", 0, true},
		{"fastest", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			p, err := parseRendition(tc.in)
			if err == nil {
				var got int
				got, err = p.choose(bws, rand.New(rand.NewPCG(1, 2)))
				if err == nil && got != tc.want {
					t.Errorf("chose %d, want %d", got, tc.want)
				}
			}
			if (err != nil) != tc.wantErr {
				t.Errorf("err %v, want error %v", err, tc.wantErr)
			}
			if err != nil && !errors.Is(err, ErrRendition) {
				t.Errorf("err %v does not wrap ErrRendition", err)
			}
		})
	}
	t.Run("random covers all", func(t *testing.T) {
		p, _ := parseRendition("")
		seen := map[int]bool{}
		rng := rand.New(rand.NewPCG(1, 2))
		for range 200 {
			i, _ := p.choose(bws, rng)
			seen[i] = true
		}
		if len(seen) != len(bws) {
			t.Errorf("random chose only %v", seen)
		}
	})
}

func TestHLSStartIndex(t *testing.T) {
	pl := func(head string, durs ...float64) *manifest.HLSState {
		var b strings.Builder
		b.WriteString("#EXTM3U\n#EXT-X-TARGETDURATION:4\n" + head)
		for i, d := range durs {
			fmt.Fprintf(&b, "#EXTINF:%g,\ns%d.ts\n", d, i)
		}
		st, err := manifest.ParseHLS([]byte(b.String()))
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	tests := []struct {
		name string
		st   *manifest.HLSState
		want int
	}{
		{"three target durations back", pl("", 4, 4, 4, 4, 4, 4), 3},
		{"short segments go further back", pl("", 4, 4, 4, 2, 2, 2, 2, 2), 2},
		{"HOLD-BACK beyond 3 target durations", pl("#EXT-X-SERVER-CONTROL:HOLD-BACK=20\n", 4, 4, 4, 4, 4, 4, 4), 2},
		{"too short a playlist starts at the top", pl("", 4, 4), 0},
		{"ended: from the start", pl("", 4, 4, 4, 4, 4, 4), 0},
		{"VOD: from the start", pl("#EXT-X-PLAYLIST-TYPE:VOD\n", 4, 4, 4, 4, 4, 4), 0},
	}
	tests[4].st.EndList = true
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := hlsStartIndex(tc.st); got != tc.want {
				t.Errorf("start index %d, want %d", got, tc.want)
			}
		})
	}
}

func TestDASHSegments(t *testing.T) {
	sec := time.Second
	rd := func(tmpl manifest.DASHTemplate, periodStart time.Duration) *dashRendition {
		if tmpl.Timescale == 0 {
			tmpl.Timescale = 1000
		}
		return &dashRendition{id: "v", tmpl: tmpl, periodStart: periodStart}
	}
	tests := []struct {
		name       string
		r          *dashRendition
		avail      time.Duration
		after      time.Duration
		wantNums   []uint64
		wantStart0 time.Duration
	}{
		{
			"timeline from the start",
			rd(manifest.DASHTemplate{StartNumber: 1, Timeline: []manifest.DASHTimelineEntry{{T: 0, D: 2000, R: 2}}}, 0),
			time.Hour, math.MinInt64, []uint64{1, 2, 3}, 0,
		},
		{
			"timeline after the middle of the second",
			rd(manifest.DASHTemplate{StartNumber: 1, Timeline: []manifest.DASHTimelineEntry{{T: 0, D: 2000, R: 2}}}, 0),
			time.Hour, 3 * sec, []uint64{3}, 4 * sec,
		},
		{
			"two S and a gap-free join",
			rd(manifest.DASHTemplate{StartNumber: 10, Timeline: []manifest.DASHTimelineEntry{{T: 0, D: 2000, R: 1}, {T: 4000, D: 1000, R: 1}}}, 0),
			time.Hour, 0, []uint64{10, 11, 12, 13}, 0,
		},
		{
			"open-ended S cut by the clock",
			rd(manifest.DASHTemplate{StartNumber: 1, Timeline: []manifest.DASHTimelineEntry{{T: 0, D: 2000, R: -1}}}, 0),
			7 * sec, math.MinInt64, []uint64{1, 2, 3}, 0,
		},
		{
			"open-ended S up to the next",
			rd(manifest.DASHTemplate{StartNumber: 1, Timeline: []manifest.DASHTimelineEntry{{T: 0, D: 2000, R: -1}, {T: 6000, D: 1000}}}, 0),
			time.Hour, math.MinInt64, []uint64{1, 2, 3, 4}, 0,
		},
		{
			"period start and presentation time offset",
			rd(manifest.DASHTemplate{StartNumber: 1, PresentationTimeOffset: 90000, Timescale: 1000, Timeline: []manifest.DASHTimelineEntry{{T: 90000, D: 2000, R: 1}}}, 100*sec),
			time.Hour, math.MinInt64, []uint64{1, 2}, 100 * sec,
		},
		{
			"duration template up to the clock",
			rd(manifest.DASHTemplate{StartNumber: 5, Duration: 2000}, 10*sec),
			17 * sec, math.MinInt64, []uint64{5, 6, 7}, 10 * sec,
		},
		{
			"duration template after a point",
			rd(manifest.DASHTemplate{StartNumber: 5, Duration: 2000}, 10*sec),
			17 * sec, 13 * sec, []uint64{7}, 14 * sec,
		},
		{
			"duration template, nothing complete yet",
			rd(manifest.DASHTemplate{StartNumber: 5, Duration: 2000}, 10*sec),
			11 * sec, math.MinInt64, nil, 0,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			segs := tc.r.segments(tc.avail, tc.after, 100)
			var nums []uint64
			for _, s := range segs {
				nums = append(nums, s.number)
			}
			if fmt.Sprint(nums) != fmt.Sprint(tc.wantNums) {
				t.Fatalf("numbers %v, want %v", nums, tc.wantNums)
			}
			if len(segs) > 0 && segs[0].start != tc.wantStart0 {
				t.Errorf("first starts at %v, want %v", segs[0].start, tc.wantStart0)
			}
			for i := 1; i < len(segs); i++ {
				if segs[i].start != segs[i-1].start+segs[i-1].dur {
					t.Errorf("segment %d starts at %v, previous ends at %v", i, segs[i].start, segs[i-1].start+segs[i-1].dur)
				}
			}
		})
	}
}

func TestParseMPDUnsupported(t *testing.T) {
	base, _ := url.Parse("http://127.0.0.1/live.mpd")
	wrap := func(attrs, body string) []byte {
		return []byte(`<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011" ` + attrs + `><Period id="0">` + body + `</Period></MPD>`)
	}
	rep := `<Representation id="v" bandwidth="1"/>`
	tests := []struct {
		name string
		mpd  []byte
	}{
		{"no template", wrap(`type="dynamic" availabilityStartTime="2025-01-01T00:00:00Z"`, `<AdaptationSet>`+rep+`</AdaptationSet>`)},
		{"dynamic without availabilityStartTime", wrap(`type="dynamic"`, `<AdaptationSet><SegmentTemplate media="$Number$.m4s" duration="2"/>`+rep+`</AdaptationSet>`)},
		{"static without timeline", wrap(`type="static"`, `<AdaptationSet><SegmentTemplate media="$Number$.m4s" duration="2"/>`+rep+`</AdaptationSet>`)},
		{"template without media", wrap(`type="dynamic" availabilityStartTime="2025-01-01T00:00:00Z"`, `<AdaptationSet><SegmentTemplate duration="2"/>`+rep+`</AdaptationSet>`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := parseMPD(tc.mpd, base); !errors.Is(err, ErrUnsupported) {
				t.Errorf("err %v, want ErrUnsupported", err)
			}
		})
	}
}

func FuzzParseMPD(f *testing.F) {
	o := newLiveOrigin(time.Second, 5)
	now := o.t0.Add(10 * time.Second)
	f.Add([]byte(o.mpd(now)))
	o.dash, o.spd = "duration", 3*time.Second
	f.Add([]byte(o.mpd(now)))
	f.Add([]byte(`<MPD type="static"><Period><AdaptationSet><SegmentTemplate media="$Number$" initialization="i"><SegmentTimeline><S t="0" d="1" r="-1"/></SegmentTimeline></SegmentTemplate><Representation id="r"/></AdaptationSet></Period></MPD>`))
	base, _ := url.Parse("http://127.0.0.1/dash/live.mpd")
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := parseMPD(data, base)
		if err != nil {
			return
		}
		if len(doc.renditions) == 0 {
			t.Fatal("accepted with no renditions")
		}
		// Everything a viewer does with an accepted MPD must terminate.
		now := doc.st.AvailabilityStartTime.Add(time.Hour)
		for _, r := range doc.renditions {
			after, _ := doc.startAfter(r, now)
			for _, s := range r.segments(doc.avail(now), after, 8) {
				r.mediaURL(s)
			}
			r.newestSeq(doc, now)
			doc.nextAvailable(r, after)
		}
		doc.reloadEvery()
	})
}

func FuzzHLSVariants(f *testing.F) {
	f.Add([]byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000\na.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=2000\nb/c.m3u8\n"))
	f.Add([]byte("#EXTM3U\n#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=90000,URI=\"i.m3u8\"\n"))
	f.Add([]byte("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\ns.ts\n"))
	base, _ := url.Parse("http://127.0.0.1/hls/master.m3u8")
	f.Fuzz(func(t *testing.T, data []byte) {
		vars, err := hlsVariants(data, base)
		if err != nil {
			return
		}
		for _, v := range vars {
			if v.uri == nil || v.uri.Host != "127.0.0.1" && v.uri.Host != "" && v.uri.Scheme == "" {
				t.Errorf("variant %+v", v)
			}
		}
	})
}

func BenchmarkExpandTemplate(b *testing.B) {
	b.ReportAllocs()
	v := templateTestVars
	for b.Loop() {
		v.number++
		if _, err := expandTemplate("$RepresentationID$/seg$Number%05d$.m4s", v); err != nil {
			b.Fatal(err)
		}
	}
}

// The per-reload cost of a viewer following DASH: parse the MPD, find
// where it is, list what is new.
func BenchmarkDASHReload(b *testing.B) {
	o := newLiveOrigin(2*time.Second, 30)
	now := o.t0.Add(time.Hour)
	data := []byte(o.mpd(now))
	base, _ := url.Parse("http://127.0.0.1/dash/live.mpd")
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		doc, err := parseMPD(data, base)
		if err != nil {
			b.Fatal(err)
		}
		r := doc.renditions[0]
		after, _ := doc.startAfter(r, now)
		if len(r.segments(doc.avail(now), after, 16)) == 0 {
			b.Fatal("no segments")
		}
	}
}

// The per-request cost of the fetcher: trace, request, body, TTFB.
func BenchmarkFetchSegment(b *testing.B) {
	body := make([]byte, 64<<10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) }))
	defer srv.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	f := &fetcher{client: &http.Client{Transport: tr}, rec: newRecorder(1), timeout: 5 * time.Second}
	u, _ := url.Parse(srv.URL + "/seg1.m4s")
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := f.get(b.Context(), u, ClassSegment, getOpts{}); err != nil {
			b.Fatal(err)
		}
	}
}
