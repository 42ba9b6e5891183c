package manifest

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// rewriteFile picks the rewriter and base URL for a corpus file.
func rewriteFile(t testing.TB, path string, data []byte) ([]byte, int, error) {
	name := filepath.Base(path)
	if strings.HasSuffix(name, ".mpd") {
		return RewriteDASH(data, mustParseURL(t, "https://cdn.origin.test/dash/"+name), testMapper)
	}
	return RewriteHLS(data, mustParseURL(t, "http://origin.example.com/hls/"+name), testMapper)
}

func TestRewriteGolden(t *testing.T) {
	files := corpus(t, ".m3u8", ".mpd")
	if len(files) < 25 {
		t.Fatalf("corpus has %d files, want at least 25", len(files))
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			in := readFile(t, path)
			out, n, err := rewriteFile(t, path, in)
			if err != nil {
				t.Fatalf("rewrite: %v", err)
			}
			golden := path + ".golden"
			if *update {
				if err := os.WriteFile(golden, out, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want := readFile(t, golden)
			if !bytes.Equal(out, want) {
				t.Errorf("output differs from %s (run go test ./manifest -update to accept)\ngot:\n%s", golden, out)
			}

			// Only URL spans changed, each to the origin URL minus its
			// scheme and host, and n counts them.
			var spans int
			if strings.HasSuffix(path, ".mpd") {
				spans, err = diffXMLTokens(in, out)
			} else {
				spans, err = diffHLSLines(in, out)
			}
			if err != nil {
				t.Error(err)
			}
			if spans != n {
				t.Errorf("rewriter counted %d URLs, the diff shows %d", n, spans)
			}
			if n == 0 && (len(in) == 0 || &out[0] != &in[0]) {
				t.Error("nothing was rewritten but the input slice was not returned as is")
			}

			// No origin host is left for a client to go to.
			for _, h := range originHosts {
				if bytes.Contains(bytes.ToLower(out), []byte(h)) {
					t.Errorf("output still names origin host %s", h)
				}
			}

			// A second pass is a no-op that copies nothing.
			again, n2, err := rewriteFile(t, path, out)
			if err != nil || n2 != 0 || !bytes.Equal(again, out) {
				t.Errorf("second pass: n=%d err=%v changed=%v", n2, err, !bytes.Equal(again, out))
			}
			if len(out) > 0 && len(again) > 0 && &again[0] != &out[0] {
				t.Error("second pass copied its input")
			}

			// Both sides parse.
			if strings.HasSuffix(path, ".mpd") {
				if _, err := ParseDASH(in); err != nil {
					t.Errorf("ParseDASH(input): %v", err)
				}
				if _, err := ParseDASH(out); err != nil {
					t.Errorf("ParseDASH(output): %v", err)
				}
			} else {
				if _, err := ParseHLS(in); err != nil {
					t.Errorf("ParseHLS(input): %v", err)
				}
				if _, err := ParseHLS(out); err != nil {
					t.Errorf("ParseHLS(output): %v", err)
				}
			}
		})
	}
}

// splitLinesKeep splits b into lines that keep their terminators.
func splitLinesKeep(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			out = append(out, b)
			break
		}
		out = append(out, b[:i+1])
		b = b[i+1:]
	}
	return out
}

// diffHLSLines compares a playlist with its rewrite line by line and, inside
// a line, piece by piece between double quotes. Every differing piece must
// be an origin URL in the input (a URI line, or the value of a URI-like
// attribute) that became exactly stripOrigin of itself. It returns the
// number of differing pieces.
func diffHLSLines(in, out []byte) (int, error) {
	il, ol := splitLinesKeep(in), splitLinesKeep(out)
	if len(il) != len(ol) {
		return 0, fmt.Errorf("line count %d -> %d", len(il), len(ol))
	}
	n := 0
	for i := range il {
		if bytes.Equal(il[i], ol[i]) {
			continue
		}
		ip := strings.Split(string(il[i]), `"`)
		op := strings.Split(string(ol[i]), `"`)
		if len(ip) != len(op) {
			return n, fmt.Errorf("line %d: quoting changed:\n%q\n%q", i+1, il[i], ol[i])
		}
		isTag := strings.HasPrefix(string(il[i]), "#")
		for k := range ip {
			if ip[k] == op[k] {
				continue
			}
			switch {
			case isTag && k%2 == 1:
				prev := ip[k-1]
				ok := false
				for _, a := range []string{",URI=", ":URI=", "SERVER-URI=", "X-ASSET-URI=", "X-ASSET-LIST="} {
					ok = ok || strings.HasSuffix(prev, a)
				}
				if !ok {
					return n, fmt.Errorf("line %d: changed a quoted value that is not a URI attribute: %q", i+1, ip[k])
				}
			case !isTag && len(ip) == 1:
			default:
				return n, fmt.Errorf("line %d: changed bytes outside a URL: %q -> %q", i+1, ip[k], op[k])
			}
			if err := checkURLPiece(ip[k], op[k], nil); err != nil {
				return n, fmt.Errorf("line %d: %w", i+1, err)
			}
			n++
		}
	}
	return n, nil
}

// diffXMLTokens compares an MPD with its rewrite token by token, where
// tokens are split at < > " and '. Every differing token must hold an
// origin URL, whitespace around it unchanged, that became stripOrigin of
// itself, XML-escaped.
func diffXMLTokens(in, out []byte) (int, error) {
	tok := func(b []byte) []string {
		var out []string
		s := string(b)
		for {
			i := strings.IndexAny(s, `<>"'`)
			if i < 0 {
				return append(out, s)
			}
			out = append(out, s[:i], s[i:i+1])
			s = s[i+1:]
		}
	}
	it, ot := tok(in), tok(out)
	if len(it) != len(ot) {
		return 0, fmt.Errorf("token count %d -> %d", len(it), len(ot))
	}
	unescape := strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">", "&quot;", `"`, "&apos;", "'")
	n := 0
	for i := range it {
		if it[i] == ot[i] {
			continue
		}
		if err := checkURLPiece(it[i], ot[i], unescape); err != nil {
			return n, fmt.Errorf("token %d: %w", i, err)
		}
		n++
	}
	return n, nil
}

// checkURLPiece checks one changed piece: same surrounding whitespace, and
// the trimmed input is an origin URL whose stripped form is the output.
func checkURLPiece(in, out string, unescape *strings.Replacer) error {
	const ws = " \t\r\n"
	ti, to := strings.Trim(in, ws), strings.Trim(out, ws)
	if strings.Index(in, ti) != strings.Index(out, to) || len(in)-len(ti) != len(out)-len(to) {
		return fmt.Errorf("whitespace around %q changed", ti)
	}
	if unescape != nil {
		ti, to = unescape.Replace(ti), unescape.Replace(to)
	}
	want, ok := stripOrigin(ti)
	if !ok {
		return fmt.Errorf("rewrote %q, which is not an origin URL", ti)
	}
	if to != want {
		return fmt.Errorf("rewrote %q to %q, want %q", ti, to, want)
	}
	return nil
}

func TestRewriteHLSCases(t *testing.T) {
	base := mustParseURL(t, "https://origin.example.com/hls/live/index.m3u8")
	for _, tc := range rewriteHLSCases {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.mapper
			if m == nil {
				m = testMapper
			}
			out, n, err := RewriteHLS([]byte(tc.in), base, m)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if out != nil {
					t.Fatalf("returned output with an error: %q", out)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tc.want || n != tc.n {
				t.Errorf("got n=%d\n%q\nwant n=%d\n%q", n, out, tc.n, tc.want)
			}
		})
	}
}

type rewriteCase struct {
	name    string
	in      string
	mapper  Mapper
	want    string
	n       int
	wantErr error
}

var rewriteHLSCases = []rewriteCase{
	{
		name: "uri line",
		in:   "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:6,\nhttp://origin.example.com/a/b.ts?x=1&y=2\n",
		want: "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:6,\n/a/b.ts?x=1&y=2\n",
		n:    1,
	},
	{
		name: "crlf and no final newline kept",
		in:   "#EXTM3U\r\n#EXTINF:6,\r\nHTTPS://ORIGIN.EXAMPLE.COM/a.ts",
		want: "#EXTM3U\r\n#EXTINF:6,\r\n/a.ts",
		n:    1,
	},
	{
		name: "spaces around a uri line kept",
		in:   "#EXTM3U\n#EXTINF:6,\n  http://origin.example.com/a.ts \t\n",
		want: "#EXTM3U\n#EXTINF:6,\n  /a.ts \t\n",
		n:    1,
	},
	{
		name: "third party and relative stay",
		in:   "#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI=\"https://keys.thirdparty.example/k\"\n#EXTINF:6,\nseg.ts\n#EXTINF:6,\n/abs/seg.ts\n",
		want: "#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI=\"https://keys.thirdparty.example/k\"\n#EXTINF:6,\nseg.ts\n#EXTINF:6,\n/abs/seg.ts\n",
	},
	{
		name: "comma and URI= inside a quoted value",
		in:   "#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,NAME=\"a, URI=\\\"x\",GROUP-ID=\"g\",URI=\"http://origin.example.com/au.m3u8\"\n",
		want: "#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,NAME=\"a, URI=\\\"x\",GROUP-ID=\"g\",URI=\"/au.m3u8\"\n",
		n:    1,
	},
	{
		name: "attribute named like URI is not URI",
		in:   "#EXTM3U\n#EXT-X-MAP:X-URI=\"http://origin.example.com/x\",URI=\"http://origin.example.com/init.mp4\"\n",
		want: "#EXTM3U\n#EXT-X-MAP:X-URI=\"http://origin.example.com/x\",URI=\"/init.mp4\"\n",
		n:    1,
	},
	{
		name: "tag not in the list keeps its URI",
		in:   "#EXTM3U\n#EXT-X-FOO:URI=\"http://origin.example.com/x\"\n",
		want: "#EXTM3U\n#EXT-X-FOO:URI=\"http://origin.example.com/x\"\n",
	},
	{
		name: "comment line is not a URI",
		in:   "#EXTM3U\n# http://origin.example.com/x\n",
		want: "#EXTM3U\n# http://origin.example.com/x\n",
	},
	{
		name: "unquoted URI attribute is left alone",
		in:   "#EXTM3U\n#EXT-X-MAP:URI=http://origin.example.com/init.mp4\n",
		want: "#EXTM3U\n#EXT-X-MAP:URI=http://origin.example.com/init.mp4\n",
	},
	{
		name: "network-path reference takes the playlist scheme",
		in:   "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n//origin.example.com/v/index.m3u8\n",
		want: "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n/v/index.m3u8\n",
		n:    1,
	},
	{
		name: "variable reference stays for the client to substitute",
		in:   "#EXTM3U\n#EXT-X-DEFINE:NAME=\"t\",VALUE=\"1\"\n#EXT-X-STREAM-INF:BANDWIDTH=1\nhttp://origin.example.com/v.m3u8?t={$t}\n",
		want: "#EXTM3U\n#EXT-X-DEFINE:NAME=\"t\",VALUE=\"1\"\n#EXT-X-STREAM-INF:BANDWIDTH=1\nhttp://origin.example.com/v.m3u8?t={$t}\n",
	},
	{
		name: "BOM before EXTM3U is kept",
		in:   "\xef\xbb\xbf#EXTM3U\n#EXTINF:1,\nhttp://origin.example.com/a.ts\n",
		want: "\xef\xbb\xbf#EXTM3U\n#EXTINF:1,\n/a.ts\n",
		n:    1,
	},
	{
		name:    "missing EXTM3U",
		in:      "#EXTINF:6,\nhttp://origin.example.com/a.ts\n",
		wantErr: ErrMalformed,
	},
	{
		name:    "empty input",
		in:      "",
		wantErr: ErrMalformed,
	},
	{
		name:    "unterminated quote on a URI tag",
		in:      "#EXTM3U\n#EXT-X-MAP:URI=\"http://origin.example.com/init.mp4\n#EXTINF:6,\na.ts\n",
		wantErr: ErrMalformed,
	},
	{
		name:    "mapper returns an absolute URL",
		in:      "#EXTM3U\n#EXTINF:6,\nhttp://origin.example.com/a.ts\n",
		mapper:  func(u *url.URL) (string, bool) { return u.String(), true },
		wantErr: ErrBadMapping,
	},
	{
		name:    "mapper returns a quote inside a quoted-string",
		in:      "#EXTM3U\n#EXT-X-MAP:URI=\"http://origin.example.com/i.mp4\"\n",
		mapper:  func(u *url.URL) (string, bool) { return `/a"b`, true },
		wantErr: ErrBadMapping,
	},
	{
		name:    "mapper returns a newline",
		in:      "#EXTM3U\n#EXTINF:6,\nhttp://origin.example.com/a.ts\n",
		mapper:  func(u *url.URL) (string, bool) { return "/a\n#EXT-X-ENDLIST", true },
		wantErr: ErrBadMapping,
	},
}

func TestRewriteDASHCases(t *testing.T) {
	base := mustParseURL(t, "https://cdn.origin.test/dash/live.mpd")
	for _, tc := range rewriteDASHCases {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.mapper
			if m == nil {
				m = testMapper
			}
			out, n, err := RewriteDASH([]byte(tc.in), base, m)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if out != nil {
					t.Fatalf("returned output with an error: %q", out)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tc.want || n != tc.n {
				t.Errorf("got n=%d\n%s\nwant n=%d\n%s", n, out, tc.n, tc.want)
			}
		})
	}
}

const mpdOpen = `<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static">`

var rewriteDASHCases = []rewriteCase{
	{
		name: "BaseURL text with escaped query",
		in:   mpdOpen + `<BaseURL>https://cdn.origin.test/d/?a=1&amp;b=2</BaseURL><Period/></MPD>`,
		want: mpdOpen + `<BaseURL>/d/?a=1&amp;b=2</BaseURL><Period/></MPD>`,
		n:    1,
	},
	{
		name: "quote in a query is escaped on the way out",
		in:   mpdOpen + `<Location>https://cdn.origin.test/m.mpd?f=(a!=&quot;b&quot;)</Location></MPD>`,
		want: mpdOpen + `<Location>/m.mpd?f=(a!=&quot;b&quot;)</Location></MPD>`,
		n:    1,
	},
	{
		name: "template with printf width",
		in:   mpdOpen + `<Period><SegmentTemplate media="https://cdn.origin.test/v/$Number%05d$.m4s" initialization="init.mp4"/></Period></MPD>`,
		want: mpdOpen + `<Period><SegmentTemplate media="/v/$Number%05d$.m4s" initialization="init.mp4"/></Period></MPD>`,
		n:    1,
	},
	{
		name: "template with bare %d, not a valid escape",
		in:   mpdOpen + `<Period><SegmentTemplate media="https://cdn.origin.test/v/$Time%d$.m4s"/></Period></MPD>`,
		want: mpdOpen + `<Period><SegmentTemplate media="/v/$Time%d$.m4s"/></Period></MPD>`,
		n:    1,
	},
	{
		name: "UTCTiming left alone",
		in:   mpdOpen + `<UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-iso:2014" value="https://cdn.origin.test/time"/></MPD>`,
		want: mpdOpen + `<UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-iso:2014" value="https://cdn.origin.test/time"/></MPD>`,
	},
	{
		name: "BaseURL split by a comment is left alone",
		in:   mpdOpen + `<BaseURL>https://cdn.origin.test/<!-- x -->d/</BaseURL></MPD>`,
		want: mpdOpen + `<BaseURL>https://cdn.origin.test/<!-- x -->d/</BaseURL></MPD>`,
	},
	{
		name: "BaseURL in CDATA",
		in:   mpdOpen + `<BaseURL> <![CDATA[ https://cdn.origin.test/d/?a=1&b=2 ]]></BaseURL></MPD>`,
		want: mpdOpen + `<BaseURL> <![CDATA[ /d/?a=1&b=2 ]]></BaseURL></MPD>`,
		n:    1,
	},
	{
		name: "BaseURL with text next to CDATA is left alone",
		in:   mpdOpen + `<BaseURL>https://cdn.origin.test/<![CDATA[d/]]></BaseURL></MPD>`,
		want: mpdOpen + `<BaseURL>https://cdn.origin.test/<![CDATA[d/]]></BaseURL></MPD>`,
	},
	{
		name: "entity-encoded ampersand and greater-than in an attribute",
		in:   mpdOpen + `<Period><SegmentTemplate media="https://cdn.origin.test/a?x=1&#x26;y=>2"/></Period></MPD>`,
		want: mpdOpen + `<Period><SegmentTemplate media="/a?x=1&amp;y=&gt;2"/></Period></MPD>`,
		n:    1,
	},
	{
		name: "prefixed attribute is not the URL attribute",
		in:   mpdOpen + `<Period><SegmentTemplate xlink:media="https://cdn.origin.test/r" media="a.m4s"/></Period></MPD>`,
		want: mpdOpen + `<Period><SegmentTemplate xlink:media="https://cdn.origin.test/r" media="a.m4s"/></Period></MPD>`,
	},
	{
		name: "BOM and CRLF kept",
		in:   "\xef\xbb\xbf" + mpdOpen + "\r\n<BaseURL>\r\n https://cdn.origin.test/a/\r\n</BaseURL></MPD>",
		want: "\xef\xbb\xbf" + mpdOpen + "\r\n<BaseURL>\r\n /a/\r\n</BaseURL></MPD>",
		n:    1,
	},
	{
		name:    "mapper output ends a CDATA section",
		in:      mpdOpen + `<BaseURL><![CDATA[https://cdn.origin.test/d/]]></BaseURL></MPD>`,
		mapper:  func(u *url.URL) (string, bool) { return "/a]]>b", true },
		wantErr: ErrBadMapping,
	},
	{
		name: "prefixed element names",
		in:   `<mpd:MPD xmlns:mpd="urn:mpeg:dash:schema:mpd:2011"><mpd:BaseURL>http://cdn.origin.test/p/</mpd:BaseURL></mpd:MPD>`,
		want: `<mpd:MPD xmlns:mpd="urn:mpeg:dash:schema:mpd:2011"><mpd:BaseURL>/p/</mpd:BaseURL></mpd:MPD>`,
		n:    1,
	},
	{
		name: "attribute with whitespace around the URL",
		in:   mpdOpen + `<Period><SegmentTemplate initialization=" https://cdn.origin.test/i.mp4 "/></Period></MPD>`,
		want: mpdOpen + `<Period><SegmentTemplate initialization=" /i.mp4 "/></Period></MPD>`,
		n:    1,
	},
	{
		name:    "not XML",
		in:      "#EXTM3U\n",
		wantErr: ErrMalformed,
	},
	{
		name:    "root is not MPD",
		in:      `<html><BaseURL>https://cdn.origin.test/</BaseURL></html>`,
		wantErr: ErrMalformed,
	},
	{
		name:    "truncated",
		in:      mpdOpen + `<Period><BaseURL>https://cdn.origin.test/</BaseURL>`,
		wantErr: ErrMalformed,
	},
	{
		name:    "mismatched end tag",
		in:      mpdOpen + `<Period></AdaptationSet></MPD>`,
		wantErr: ErrMalformed,
	},
	{
		name:    "two roots",
		in:      mpdOpen + `</MPD>` + mpdOpen + `</MPD>`,
		wantErr: ErrMalformed,
	},
	{
		name:    "unknown entity",
		in:      mpdOpen + `<BaseURL>https://cdn.origin.test/&nbsp;</BaseURL></MPD>`,
		wantErr: ErrMalformed,
	},
	{
		name:    "mapper returns a relative path",
		in:      mpdOpen + `<BaseURL>https://cdn.origin.test/d/</BaseURL></MPD>`,
		mapper:  func(u *url.URL) (string, bool) { return "d/", true },
		wantErr: ErrBadMapping,
	},
}
