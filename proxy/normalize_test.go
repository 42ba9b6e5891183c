package proxy

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// normaliseCases drives the table test and seeds FuzzNormalisePath.
var normaliseCases = []struct {
	in, want string // want "" means refused
}{
	{"/", "/"},
	{"/hls/a.ts", "/hls/a.ts"},
	{"/hls/", "/hls/"},
	{"/hls//a.ts", "/hls/a.ts"},
	{"//", "/"},
	{"/hls/./a.ts", "/hls/a.ts"},
	{"/hls/x/../a.ts", "/hls/a.ts"},
	{"/hls/x/..", "/hls/"},
	{"/hls/.", "/hls/"},
	{"/hls/..", "/"},
	{"/..", ""},
	{"/hls/../..", ""},
	{"/hls/../../private/key.ts", ""},
	{"/hls/%2e%2e/%2e%2e/x", ""},
	{"/hls/%2E%2e/x", "/x"},
	{"/hls/%2e/x", "/hls/x"},
	{"/hls/..%2f..%2fx", ""},
	{"/hls/a%2fb", ""},
	{"/hls/a%2Fb", ""},
	{"/hls/a%5cb", ""},
	{`/hls/a\b`, ""},
	{"/hls/..;/x", ""},
	{"/hls/.;/x", ""},
	{"/hls/%2e%2e;x/y", ""},
	{"/hls/a;b.ts", "/hls/a;b.ts"},
	{"/hls/a%3bb.ts", "/hls/a%3Bb.ts"},
	{"/hls/a%3Bb.ts", "/hls/a%3Bb.ts"},
	{"/hls/a%23b", "/hls/a%23b"},
	{"/hls/a%3fb", "/hls/a%3Fb"},
	{"/hls/a#b", ""},
	{"/hls/%c0%ae%c0%ae/x", ""},
	{"/hls/%e0%80%ae/x", ""},
	{"/hls/a%00", ""},
	{"/hls/a%0a", ""},
	{"/hls/a%7f", ""},
	{"/hls/a\x01", ""},
	{"/hls/a%zz", ""},
	{"/hls/a%2", ""},
	{"/hls/a%", ""},
	{"/hls/%61%2D%7e", "/hls/a-~"},
	{"/hls/caf%C3%A9.ts", "/hls/caf%C3%A9.ts"},
	{"/hls/caf\xc3\xa9.ts", "/hls/caf%C3%A9.ts"},
	{"/hls/\xff.ts", ""},
	{"/hls/a b.ts", "/hls/a%20b.ts"},
	{"/hls/a%20b.ts", "/hls/a%20b.ts"},
	{"/hls/a\"<>.ts", "/hls/a%22%3C%3E.ts"},
	{"/hls/x.m3u8/a.ts", "/hls/x.m3u8/a.ts"},
	{"", ""},
	{"hls/a.ts", ""},
	{"*", ""},
}

func TestNormalisePath(t *testing.T) {
	for _, tc := range normaliseCases {
		got, err := normalisePath(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("normalisePath(%q) = %q, want a refusal", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("normalisePath(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestNormalisePathFastPathAllocatesNothing(t *testing.T) {
	n := testing.AllocsPerRun(100, func() {
		if _, err := normalisePath("/hls/stream_720p/segment_00042.m4s"); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Errorf("%v allocations for a canonical path", n)
	}
}

// FuzzNormalisePath: a normalised path is a fixed point, starts with "/",
// holds no dot segment, no empty segment, no encoded separator and no
// control character, and stays under a route prefix it was routed to.
func FuzzNormalisePath(f *testing.F) {
	for _, tc := range normaliseCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := normalisePath(in)
		if err != nil {
			return
		}
		again, err := normalisePath(out)
		if err != nil || again != out {
			t.Fatalf("normalisePath(%q) = %q, but again %q, %v", in, out, again, err)
		}
		if !strings.HasPrefix(out, "/") {
			t.Fatalf("%q -> %q does not start with /", in, out)
		}
		segs := strings.Split(out[1:], "/")
		for i, s := range segs {
			if s == "." || s == ".." || (s == "" && i != len(segs)-1) {
				t.Fatalf("%q -> %q keeps segment %q", in, out, s)
			}
			name, _, _ := strings.Cut(s, ";")
			if name == "." || name == ".." {
				t.Fatalf("%q -> %q keeps a dot segment with parameters", in, out)
			}
		}
		low := strings.ToLower(out)
		for _, bad := range []string{"%2f", "%5c", "%00", "\\", "#", "%2e"} {
			if strings.Contains(low, bad) {
				t.Fatalf("%q -> %q holds %q", in, out, bad)
			}
		}
		for i := 0; i < len(out); i++ {
			if out[i] < 0x21 || out[i] >= 0x7f {
				t.Fatalf("%q -> %q holds byte %#x", in, out, out[i])
			}
		}
		// Routed by its prefix, a path stays under it: the origin path
		// is the prefix's origin path plus the rest, which never climbs.
		rt := &route{Route: Route{Prefix: "/hls/"}}
		rt.origin = mustURL(t, "http://o/public/hls/")
		if strings.HasPrefix(out, rt.Prefix) {
			up := rt.upstreamURL(out, "")
			if !strings.HasPrefix(up, "http://o/public/hls/") {
				t.Fatalf("%q routed to %q", in, up)
			}
			if n, err := normalisePath(strings.TrimPrefix(up, "http://o")); err != nil || n != strings.TrimPrefix(up, "http://o") {
				t.Fatalf("%q: origin path %q is not normal (%q, %v)", in, up, n, err)
			}
		}
	})
}

// FuzzCacheKey: the key ignores parameter order and dropped parameters,
// never drops an LL-HLS directive, and extends without collision by the
// forwarded headers.
func FuzzCacheKey(f *testing.F) {
	f.Add("/hls/a.m3u8", "token=1&_HLS_msn=4&_HLS_part=1", "token", "fr")
	f.Add("/hls/a.ts", "b=2&a=1", "", "")
	f.Add("/hls/a.ts", "a=1&&a=2&token", "token", "x\x00y")
	f.Add("/", "%5FHLS%5Fmsn=1", "_HLS_msn", "")
	f.Fuzz(func(t *testing.T, path, query, drop, lang string) {
		k := cacheKey(path, query, []string{drop})
		if !strings.HasPrefix(k, path) {
			t.Fatalf("key %q lost the path %q", k, path)
		}
		// Reversing the parameters gives the same key.
		params := strings.Split(query, "&")
		for i, j := 0, len(params)-1; i < j; i, j = i+1, j-1 {
			params[i], params[j] = params[j], params[i]
		}
		if k2 := cacheKey(path, strings.Join(params, "&"), []string{drop}); !sameParams(k, k2) {
			t.Fatalf("order changed the key: %q vs %q", k, k2)
		}
		for _, p := range strings.Split(query, "&") {
			name, _, _ := strings.Cut(p, "=")
			if isHLSDirective(name) && !strings.Contains(k, p) {
				t.Fatalf("directive %q dropped from %q", p, k)
			}
		}
		rt := &route{Route: Route{ForwardHeaders: []string{"Accept-Language"}}}
		ka := rt.keyFor(k, http.Header{"Accept-Language": {lang}}, "")
		kb := rt.keyFor(k, http.Header{"Accept-Language": {lang + "x"}}, "")
		if ka == kb || !strings.HasPrefix(ka, k+"\x00") {
			t.Fatalf("forwarded values do not separate keys: %q %q", ka, kb)
		}
	})
}

// sameParams compares two keys up to the order of equal-named
// parameters, which a stable sort keeps as they came.
func sameParams(a, b string) bool {
	pa, qa, _ := strings.Cut(a, "?")
	pb, qb, _ := strings.Cut(b, "?")
	if pa != pb {
		return false
	}
	x, y := strings.Split(qa, "&"), strings.Split(qb, "&")
	if len(x) != len(y) {
		return false
	}
	count := map[string]int{}
	for _, s := range x {
		count[s]++
	}
	for _, s := range y {
		count[s]--
	}
	for _, n := range count {
		if n != 0 {
			return false
		}
	}
	return true
}

func FuzzParseByteSize(f *testing.F) {
	for _, s := range []string{"0", "123", "64KiB", "512MiB", "1GiB", "1GB", "10MB", "1.5K", " 7 B", "-1", "1e3", "NaN", "Inf", "1g", "10m"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseByteSize(s)
		if err == nil && n < 0 {
			t.Fatalf("ParseByteSize(%q) = %d", s, n)
		}
	})
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
