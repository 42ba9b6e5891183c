package cmcd

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// parseCases drive TestParse and seed FuzzParse.
var parseCases = []struct {
	name   string
	query  string      // raw query
	header http.Header // CMCD-* fields
	want   Data
}{
	{name: "none", query: "a=1&b=2"},
	{name: "empty"},
	// CTA-5004 §3.2: the CMCD query argument, URL-encoded, keys in any order.
	{
		name:  "query dash.js",
		query: "CMCD=" + url.QueryEscape(`bl=21300,br=3200,bs,cid="faec5fc2-ac30-11eabb37-0242ac130002",d=4004,mtp=25400,ot=v,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",su`),
		want: Data{SID: "6e2fb550-c457-11e9-bb97-0800200c9a66", CID: "faec5fc2-ac30-11eabb37-0242ac130002",
			BS: true, OT: "v", BR: 3200, BL: 21300, D: 4004, MTP: 25400, SU: true},
	},
	{name: "query among others", query: "a=1&CMCD=ot%3Dm%2Csid%3D%22s%22&b=2", want: Data{OT: "m", SID: "s"}},
	{name: "query order free", query: "CMCD=" + url.QueryEscape(`sid="x",br=10,ot=av`), want: Data{SID: "x", BR: 10, OT: "av"}},
	{name: "query name percent-encoded", query: "%43MCD=br%3D7", want: Data{BR: 7}},
	{name: "lower-case name is not CMCD", query: "cmcd=br%3D7"},
	{name: "bad escape skips the query", query: "CMCD=br%3D7%zz"},
	{name: "plus is a space (OWS)", query: "CMCD=br%3D7,+bs", want: Data{BR: 7, BS: true}},
	// CTA-5004 §3.1: the four header fields, same syntax.
	{
		name: "headers",
		header: http.Header{
			"Cmcd-Request": {`bl=2100,mtp=25400,su`},
			"Cmcd-Object":  {`br=3200,d=4004,ot=v`},
			"Cmcd-Status":  {`bs`},
			"Cmcd-Session": {`cid="c1",sid="s1"`},
		},
		want: Data{SID: "s1", CID: "c1", BS: true, OT: "v", BR: 3200, BL: 2100, D: 4004, MTP: 25400, SU: true},
	},
	{
		name:   "query beats header",
		query:  "CMCD=br%3D2",
		header: http.Header{"Cmcd-Object": {"br=1,ot=a"}},
		want:   Data{BR: 2, OT: "a"},
	},
	// §3: strings quoted with \" and \\ escaped.
	{name: "escapes", header: http.Header{"Cmcd-Session": {`sid="a\"b\\c,d"`}}, want: Data{SID: `a"b\c,d`}},
	{name: "bad escape", header: http.Header{"Cmcd-Session": {`sid="a\nb",cid="ok"`}}, want: Data{CID: "ok"}},
	{name: "unterminated string", header: http.Header{"Cmcd-Session": {`cid="ok",sid="abc`}}, want: Data{CID: "ok"}},
	{name: "control byte in string", header: http.Header{"Cmcd-Session": {"sid=\"a\x01b\",br=1"}}, want: Data{BR: 1}},
	// CTA-5004 Table 1: sid and cid at most 64 characters.
	{name: "sid too long", header: http.Header{"Cmcd-Session": {`sid="` + strings.Repeat("x", 65) + `"`}}},
	{name: "sid at 64", header: http.Header{"Cmcd-Session": {`sid="` + strings.Repeat("x", 64) + `"`}}, want: Data{SID: strings.Repeat("x", 64)}},
	// Booleans: alone is true; ?0/?1 (RFC 8941 §3.3.6); true/false words.
	{name: "bool forms", header: http.Header{"Cmcd-Status": {"bs=?1,su=?0"}}, want: Data{BS: true}},
	{name: "bool words", header: http.Header{"Cmcd-Status": {"bs=true"}}, want: Data{BS: true}},
	{name: "bool wrong type", header: http.Header{"Cmcd-Status": {`bs="1"`}}},
	// Types: integers only for br/bl/d/mtp; tokens for ot.
	{name: "decimal br rejected", header: http.Header{"Cmcd-Object": {"br=3.5,d=4"}}, want: Data{D: 4}},
	{name: "negative rejected", header: http.Header{"Cmcd-Object": {"br=-1"}}},
	{name: "too many digits", header: http.Header{"Cmcd-Object": {"br=1234567890123456,d=1"}}, want: Data{D: 1}},
	{name: "quoted ot rejected", header: http.Header{"Cmcd-Object": {`ot="v"`}}},
	{name: "unknown ot", header: http.Header{"Cmcd-Object": {"ot=zz"}}},
	{name: "custom and unknown keys", header: http.Header{"Cmcd-Request": {`com.example-myNumericKey=500,nrr="12323-48763",pr=1.08,br=5`}}, want: Data{BR: 5}},
	{name: "inner list skipped", header: http.Header{"Cmcd-Request": {`nor=("a,b" "c"),br=6`}}, want: Data{BR: 6}},
	{name: "parameters skipped", header: http.Header{"Cmcd-Request": {`br=6;x=1,d=2`}}, want: Data{D: 2}},
	{name: "OWS around commas", header: http.Header{"Cmcd-Request": {" br=6 ,\td=2 "}}, want: Data{BR: 6, D: 2}},
	{name: "garbage", header: http.Header{"Cmcd-Request": {`==,,"x",=1,br==2,=,bl=3`}}, want: Data{BL: 3}},
	{name: "last wins", header: http.Header{"Cmcd-Request": {"br=1,br=2"}}, want: Data{BR: 2}},
	{name: "two header lines", header: http.Header{"Cmcd-Request": {"br=1", "bl=2"}}, want: Data{BR: 1, BL: 2}},
	// The bound: pieces past MaxLen are ignored, never read short.
	{name: "bound cuts whole pieces", header: http.Header{"Cmcd-Request": {"bl=1," + strings.Repeat("x,", MaxLen/2) + "br=123"}}, want: Data{BL: 1}},
	{name: "bound inside a string", header: http.Header{"Cmcd-Request": {"bl=1,sid=\"" + strings.Repeat(",", MaxLen) + "\""}}, want: Data{BL: 1}},
}

func TestParse(t *testing.T) {
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			got := Parse(tc.query, tc.header)
			if got != tc.want {
				t.Errorf("Parse(%q, %v)\n got %+v\nwant %+v", tc.query, tc.header, got, tc.want)
			}
		})
	}
}

// stripCases drive TestStripQuery and seed FuzzStripQuery.
var stripCases = []struct {
	in, want string
	removed  bool
}{
	{"", "", false},
	{"a=1&b=2", "a=1&b=2", false},
	{"CMCD=br%3D1", "", true},
	{"CMCD", "", true},
	{"CMCD=", "", true},
	{"CMCD=x&a=1", "a=1", true},
	{"a=1&CMCD=x", "a=1", true},
	{"a=1&CMCD=x&b=2", "a=1&b=2", true},
	{"CMCD=x&CMCD=y&a=%41+b&CMCD=z", "a=%41+b", true},
	{"&CMCD=x&a", "&a", true},
	{"a&&CMCD=x&&b", "a&&&b", true},
	{"%43MCD=x&a=1", "a=1", true},
	{"%43%4d%43%44=x", "", true},
	{"cmcd=x&CMCDX=y&XCMCD=z&a=CMCD", "cmcd=x&CMCDX=y&XCMCD=z&a=CMCD", false},
	{"a=1;CMCD=x", "a=1;CMCD=x", false}, // ';' separates nothing since Go 1.17
	{"%zz&CMCD=1", "%zz", true},
}

func TestStripQuery(t *testing.T) {
	for _, tc := range stripCases {
		got, removed := StripQuery(tc.in)
		if got != tc.want || removed != tc.removed {
			t.Errorf("StripQuery(%q) = %q, %v; want %q, %v", tc.in, got, removed, tc.want, tc.removed)
		}
	}
}

// stripReference is StripQuery written the obvious way.
func stripReference(q string) (string, bool) {
	if q == "" {
		return "", false
	}
	var kept []string
	removed := false
	for _, seg := range strings.Split(q, "&") {
		k, _, _ := strings.Cut(seg, "=")
		if u, err := url.QueryUnescape(k); err == nil && u == "CMCD" && !strings.Contains(k, "+") {
			removed = true
			continue
		}
		kept = append(kept, seg)
	}
	if !removed {
		return q, false
	}
	return strings.Join(kept, "&"), true
}

func FuzzStripQuery(f *testing.F) {
	for _, tc := range stripCases {
		f.Add(tc.in)
	}
	for _, tc := range parseCases {
		f.Add(tc.query)
	}
	f.Fuzz(func(t *testing.T, q string) {
		got, removed := StripQuery(q)
		want, wantRemoved := stripReference(q)
		if got != want || removed != wantRemoved {
			t.Fatalf("StripQuery(%q) = %q, %v; reference %q, %v", q, got, removed, want, wantRemoved)
		}
		if again, r := StripQuery(got); r || again != got {
			t.Fatalf("StripQuery not idempotent on %q: %q", got, again)
		}
		if d := Parse(got, nil); d != (Data{}) {
			t.Fatalf("stripped query %q still carries CMCD %+v", got, d)
		}
	})
}

func FuzzParse(f *testing.F) {
	for _, tc := range parseCases {
		var h string
		for _, v := range tc.header {
			h = v[0]
		}
		f.Add(tc.query, h)
	}
	f.Fuzz(func(t *testing.T, q, h string) {
		d := Parse(q, http.Header{"Cmcd-Request": {h}})
		if len(d.SID) > maxString || len(d.CID) > maxString {
			t.Fatalf("string over the bound: %+v", d)
		}
		if d.BR < 0 || d.BL < 0 || d.D < 0 || d.MTP < 0 {
			t.Fatalf("negative integer: %+v", d)
		}
		if d.OT != "" && !strings.Contains(" m a v av i c tt k o ", " "+d.OT+" ") {
			t.Fatalf("ot %q not a CTA-5004 object type", d.OT)
		}
		// The header alone, sent as the query, reads the same.
		hd := Parse("", http.Header{"Cmcd-Request": {h}})
		if qd := Parse("CMCD="+url.QueryEscape(h), nil); qd != hd {
			t.Fatalf("payload %q: header %+v, query %+v", h, hd, qd)
		}
	})
}

func TestParseNoCMCDAllocs(t *testing.T) {
	h := http.Header{"User-Agent": {"x"}, "Accept": {"*/*"}}
	q := "a=1&b=%41&token=abc"
	if n := testing.AllocsPerRun(100, func() {
		_ = Parse(q, h)
		_, _ = StripQuery(q)
	}); n != 0 {
		t.Fatalf("no-CMCD request: %v allocs, want 0", n)
	}
}

func BenchmarkParse(b *testing.B) {
	h := http.Header{"User-Agent": {"Mozilla/5.0"}, "Accept": {"*/*"}}
	cmcdQuery := "CMCD=" + url.QueryEscape(`bl=21300,br=3200,bs,cid="faec5fc2-ac30-11eabb37-0242ac130002",d=4004,mtp=25400,ot=v,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",su`)
	hh := http.Header{"Cmcd-Session": {`cid="faec5fc2",sid="6e2fb550-c457-11e9-bb97-0800200c9a66"`}, "Cmcd-Object": {"br=3200,ot=v"}}
	for _, bc := range []struct {
		name  string
		query string
		h     http.Header
	}{
		{"none", "token=abc&x=1", h},
		{"query", "token=abc&" + cmcdQuery, h},
		{"headers", "token=abc", hh},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = Parse(bc.query, bc.h)
				_, _ = StripQuery(bc.query)
			}
		})
	}
}
