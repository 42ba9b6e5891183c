package accesslog

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/edgecache/edgecache/cmcd"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// sample is a miss that went to the origin: a record with every field set.
func sample() Record {
	return Record{
		Start:       time.Date(2026, 12, 5, 17, 3, 43, 238_000_000, time.UTC),
		RemoteAddr:  "203.0.113.7",
		Method:      "GET",
		RequestURI:  "/hls/live/seg_00042.m4s?token=abc",
		Proto:       "HTTP/1.1",
		Path:        "/hls/live/seg_00042.m4s",
		Host:        "edge.example.com",
		Header:      http.Header{"User-Agent": {"hls.js/1.5"}, "Referer": {"https://player.example.com/"}, "X-Forwarded-For": {"198.51.100.1", "203.0.113.7"}},
		Status:      200,
		BodyBytes:   182044,
		RequestTime: 12 * time.Millisecond,
		Upstream:    &Upstream{Addr: "10.0.0.5:8088", Status: 200, ConnectTime: 1 * time.Millisecond, ResponseTime: 11 * time.Millisecond},
		CacheStatus: "MISS",
		Route:       "hls",
		Class:       "segment",
		CMCD:        cmcd.Data{SID: "6e2fb550", CID: "live", BS: true, OT: "v", BR: 3200},
	}
}

// hit is the same object from the cache: no origin request, no headers.
func hit() Record {
	r := sample()
	r.Upstream, r.CacheStatus, r.Header, r.CMCD = nil, "HIT", nil, cmcd.Data{}
	r.RequestTime = 0
	return r
}

// TestGolden formats the sample records in each built-in format and
// compares with testdata/NAME.golden (-update rewrites them).
func TestGolden(t *testing.T) {
	for name := range builtins {
		t.Run(name, func(t *testing.T) {
			f, err := Lookup(name)
			if err != nil {
				t.Fatal(err)
			}
			var out []byte
			for _, r := range []Record{sample(), hit()} {
				out = append(f.Append(out, &r), '\n')
			}
			path := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(path, out, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out, want) {
				t.Errorf("got\n%s\nwant\n%s", out, want)
			}
		})
	}
}

// The default format is combined with four fields after it: a combined
// reader (a regexp anchored at the start, as goaccess's COMBINED) reads
// it unchanged.
func TestEdgecacheExtendsCombined(t *testing.T) {
	c, _ := Lookup("combined")
	e, _ := Lookup("")
	r := sample()
	comb, ext := string(c.Append(nil, &r)), string(e.Append(nil, &r))
	if !strings.HasPrefix(ext, comb+" ") {
		t.Fatalf("edgecache line does not start with the combined line:\n%s\n%s", ext, comb)
	}
	if want := ` "MISS" 0.012 0.011 0.001`; ext[len(comb):] != want {
		t.Fatalf("after combined: %q, want %q", ext[len(comb):], want)
	}
}

func TestVariables(t *testing.T) {
	r := sample()
	h := hit()
	for _, tc := range []struct {
		format string
		rec    *Record
		want   string
	}{
		{"$remote_addr", &r, "203.0.113.7"},
		{"$remote_user", &r, "-"},
		{"$time_local", &r, "05/Dec/2026:17:03:43 +0000"},
		{"$time_iso8601", &r, "2026-12-05T17:03:43+00:00"},
		{"$msec", &r, "1796490223.250"},
		{"$request", &r, "GET /hls/live/seg_00042.m4s?token=abc HTTP/1.1"},
		{"$request_method $server_protocol", &r, "GET HTTP/1.1"},
		{"$request_uri", &r, "/hls/live/seg_00042.m4s?token=abc"},
		{"$uri|$document_uri", &r, "/hls/live/seg_00042.m4s|/hls/live/seg_00042.m4s"},
		{"$args|$query_string", &r, "token=abc|token=abc"},
		{"$args", &h, "token=abc"},
		{"$status $body_bytes_sent $bytes_sent", &r, "200 182044 182044"},
		{"$request_time", &r, "0.012"},
		{"$upstream_response_time $upstream_connect_time $upstream_status $upstream_addr", &r, "0.011 0.001 200 10.0.0.5:8088"},
		{"$upstream_response_time $upstream_connect_time $upstream_status $upstream_addr", &h, "- - - -"},
		{"$upstream_cache_status", &h, "HIT"},
		{"$host", &r, "edge.example.com"},
		{"$http_user_agent|$http_referer", &r, "hls.js/1.5|https://player.example.com/"},
		{"$http_x_forwarded_for", &r, "198.51.100.1, 203.0.113.7"},
		{"$http_X_Forwarded_For", &r, "198.51.100.1, 203.0.113.7"},
		{"$http_user_agent $http_x_missing", &h, "- -"},
		{"$cmcd_sid $cmcd_cid $cmcd_bs $cmcd_ot $cmcd_br", &r, "6e2fb550 live 1 v 3200"},
		{"$cmcd_sid $cmcd_cid $cmcd_bs $cmcd_ot $cmcd_br", &h, "- - - - -"},
		{"$edge_route $edge_class $edge_auth", &r, "hls segment -"},
		{"${status}x${uri}", &r, "200x/hls/live/seg_00042.m4s"},
		{"escape=json $http_x_missing|$upstream_status", &h, "|"},
		{"escape=none $request_time", &r, "0.012"},
		{"no variables", &r, "no variables"},
	} {
		t.Run(tc.format, func(t *testing.T) {
			f, err := Compile(tc.format)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(f.Append(nil, tc.rec)); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRequestTimeRounding(t *testing.T) {
	f, _ := Compile("$request_time")
	for d, want := range map[time.Duration]string{
		0: "0.000", 999 * time.Microsecond: "0.000", time.Millisecond: "0.001",
		1500 * time.Millisecond: "1.500", 61*time.Second + 7*time.Millisecond: "61.007", -time.Second: "0.000",
	} {
		r := Record{RequestTime: d}
		if got := string(f.Append(nil, &r)); got != want {
			t.Errorf("%v: got %q, want %q", d, got, want)
		}
	}
}

func TestEscape(t *testing.T) {
	nasty := "a\"b\\c\x01\n\x7f\xff é"
	for _, tc := range []struct {
		format, want string
	}{
		// nginx escape=default: \xHH for '"', '\', < 0x20 and >= 0x7f.
		{"$http_user_agent", `a\x22b\x5Cc\x01\x0A\x7F\xFF \xC3\xA9`},
		{"escape=default $http_user_agent", `a\x22b\x5Cc\x01\x0A\x7F\xFF \xC3\xA9`},
		// escape=json: a JSON string's inside; invalid UTF-8 as U+FFFD.
		{"escape=json $http_user_agent", `a\"b\\c\u0001\n\u007F\ufffd é`},
		{"escape=none $http_user_agent", nasty},
	} {
		f, err := Compile(tc.format)
		if err != nil {
			t.Fatal(err)
		}
		r := Record{Header: http.Header{"User-Agent": {nasty}}}
		if got := string(f.Append(nil, &r)); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.format, got, tc.want)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	for _, tc := range []struct{ format, want string }{
		{"$nosuch", "unknown variable $nosuch"},
		{"${nosuch}", "unknown variable $nosuch"},
		{"$", "invalid variable name"},
		{"a $$status", "invalid variable name"}, // nginx has no $$ escape either
		{"${", "unterminated"},
		{"${a b}", "invalid variable name"},
		{"$http_", "unknown variable $http_"},
	} {
		_, err := Compile(tc.format)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Compile(%q) = %v, want an error containing %q", tc.format, err, tc.want)
		}
	}
	if _, err := Lookup("nosuchname"); err == nil || !strings.Contains(err.Error(), "built-in") {
		t.Errorf("Lookup(nosuchname) = %v, want a not-built-in error", err)
	}
}

// combinedLine is how a combined reader splits a line.
var combinedLine = regexp.MustCompile(`^(\S+) - (\S+) \[([^\]]+)\] "([^"]*)" (\d+) (\d+) "([^"]*)" "([^"]*)" "([^"]*)" (\S+) (\S+) (\S+)$`)

func TestAppendAllocs(t *testing.T) {
	for name := range builtins {
		f, _ := Lookup(name)
		r := sample()
		buf := make([]byte, 0, 4096)
		if n := testing.AllocsPerRun(100, func() { buf = f.Append(buf[:0], &r) }); n != 0 {
			t.Errorf("%s: Append allocates %v times per record", name, n)
		}
	}
}

// fuzzRecord builds a record from fuzzed strings.
func fuzzRecord(addr, uri, ua, status string, n int64) Record {
	r := sample()
	// RemoteAddr stays an address: the proxy takes it from the peer or a
	// parsed X-Forwarded-For entry, never raw text (a space in it would
	// shift a combined reader's fields).
	r.RequestURI, r.Path, r.Host = uri, uri, addr
	r.Header = http.Header{"User-Agent": {ua}, "Referer": {status}, "X-Forwarded-For": {ua, addr}}
	r.Status, r.BodyBytes, r.RequestTime = int(n%1000), n, time.Duration(n)
	r.CacheStatus, r.Method, r.Proto = status, status, ua
	r.CMCD.SID, r.CMCD.CID = ua, addr
	if n%2 == 0 {
		r.Upstream = nil
	}
	return r
}

func FuzzAppend(f *testing.F) {
	f.Add("203.0.113.7", "/a?b=c", "hls.js", "HIT", int64(5))
	f.Add("", "", "", "", int64(-1))
	f.Add("\x00\"", "/\n\r\t", "\xff\xfe\"\\", "\u2028", int64(1<<62))
	js, _ := Lookup("json")
	ec, _ := Lookup("edgecache")
	f.Fuzz(func(t *testing.T, addr, uri, ua, status string, n int64) {
		r := fuzzRecord(addr, uri, ua, status, n)
		line := js.Append(nil, &r)
		if !json.Valid(line) {
			t.Fatalf("json line is not JSON: %s", line)
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatal(err)
		}
		line = ec.Append(nil, &r)
		for _, c := range line {
			if c < 0x20 || c >= 0x7f {
				t.Fatalf("edgecache line holds byte %#x: %q", c, line)
			}
		}
		if r.Status >= 0 && !combinedLine.Match(line) {
			t.Fatalf("edgecache line does not split as combined + 4: %q", line)
		}
	})
}

func FuzzCompile(f *testing.F) {
	for _, s := range builtins {
		f.Add(s)
	}
	f.Add("$http_a_b ${uri} $")
	f.Add("${}")
	f.Add("escape=json {\"a\":\"$request\"}")
	f.Fuzz(func(t *testing.T, s string) {
		fm, err := Compile(s)
		if err != nil {
			if !strings.Contains(err.Error(), "access log format") {
				t.Fatalf("error does not say what it is about: %v", err)
			}
			return
		}
		r := sample()
		fm.Append(nil, &r)
		h := hit()
		fm.Append(nil, &h)
		var empty Record
		fm.Append(nil, &empty)
		if !strings.Contains(s, "$") {
			// Literal text only: written as is.
			if got := string(fm.Append(nil, &r)); got != s && !strings.HasPrefix(s, "escape=") {
				t.Fatalf("literal format %q wrote %q", s, got)
			}
		}
	})
}

func BenchmarkAppend(b *testing.B) {
	for _, name := range []string{"edgecache", "json"} {
		b.Run(name, func(b *testing.B) {
			f, _ := Lookup(name)
			r := sample()
			buf := make([]byte, 0, 4096)
			b.ReportAllocs()
			for b.Loop() {
				buf = f.Append(buf[:0], &r)
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}
