package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"
)

// frontCases are heads for frontReq.parse: accepted ones must read as
// http.ReadRequest reads them; the others go to net/http.
var frontCases = []struct {
	name, head string
	accept     bool
}{
	{"plain GET", "GET /live/index.m3u8 HTTP/1.1\r\nHost: edge.example\r\nUser-Agent: hls.js\r\n\r\n", true},
	{"HEAD", "HEAD /seg/1.m4s HTTP/1.1\r\nHost: edge.example:8080\r\n\r\n", true},
	{"query, escapes, CMCD", "GET /a%20b/x.m3u8?CMCD=sid%3D%22a%22&x=1 HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", true},
	{"repeated field, OWS", "GET / HTTP/1.1\r\nHost: a\r\nAccept: a/b \r\nACCEPT:\tc/d\r\nX-Empty:\r\n\r\n", true},
	{"Connection close", "GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n", true},
	{"Connection keep-alive", "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n", true},
	{"Pragma no-cache", "GET / HTTP/1.1\r\nHost: a\r\nPragma: no-cache\r\n\r\n", true},
	{"Pragma with Cache-Control", "GET / HTTP/1.1\r\nHost: a\r\nPragma: no-cache\r\nCache-Control: max-age=1\r\n\r\n", true},
	{"lower-case names", "GET / HTTP/1.1\r\nhost: a\r\nrange: bytes=0-1\r\nif-none-match: \"x\"\r\n\r\n", true},

	{"POST", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", false},
	{"OPTIONS", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"HTTP/1.0", "GET / HTTP/1.0\r\nHost: a\r\n\r\n", false},
	{"absolute form", "GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"no Host", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", false},
	{"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", false},
	{"Host with slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", false},
	{"Content-Length", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", false},
	{"Content-Length zero", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", false},
	{"Transfer-Encoding", "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", false},
	{"Expect", "GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n", false},
	{"Upgrade", "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nUpgrade: websocket\r\n\r\n", false},
	{"Connection with a field", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close, x-a\r\n\r\n", false},
	{"two Connection fields", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nConnection: close\r\n\r\n", false},
	{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", false},
	{"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", false},
	{"bare LF", "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", false},
	{"bare CR", "GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", false},
	{"obs-text", "GET / HTTP/1.1\r\nHost: a\r\nX-A: caf\xe9\r\n\r\n", false},
	{"NUL in value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x00b\r\n\r\n", false},
	{"space in target", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"fragment", "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"two spaces", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"lower-case method", "get / HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"leading empty line", "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"no colon", "GET / HTTP/1.1\r\nHost: a\r\nX-A\r\n\r\n", false},
	{"unfinished", "GET / HTTP/1.1\r\nHost: a\r\n", false},
}

func TestParseFront(t *testing.T) {
	for _, tc := range frontCases {
		t.Run(tc.name, func(t *testing.T) {
			req, ok := new(frontReq).parse([]byte(tc.head), "192.0.2.1:1234")
			if ok != tc.accept {
				t.Fatalf("the front accepted = %v, want %v", ok, tc.accept)
			}
			if ok {
				checkSameAsNetHTTP(t, []byte(tc.head), req)
			}
		})
	}
}

// checkSameAsNetHTTP fails unless net/http's server would read head as the
// request req is: the same fields, and nothing its server refuses.
func checkSameAsNetHTTP(t *testing.T, head []byte, req *http.Request) {
	t.Helper()
	want, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
	if err != nil {
		t.Fatalf("the front accepted what http.ReadRequest refuses: %v\n%q", err, head)
	}
	// The server's own checks (net/http's conn.readRequest).
	if !httpguts.ValidHostHeader(want.Host) {
		t.Fatalf("accepted an invalid Host %q", want.Host)
	}
	for k, vv := range want.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			t.Fatalf("accepted an invalid field name %q", k)
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				t.Fatalf("accepted an invalid value %q", v)
			}
		}
	}
	if n, _ := io.Copy(io.Discard, want.Body); n != 0 || want.ContentLength > 0 || len(want.TransferEncoding) > 0 {
		t.Fatalf("accepted a request with a body: %d bytes, Content-Length %d, %v", n, want.ContentLength, want.TransferEncoding)
	}
	if want.Header.Get("Expect") != "" || want.Header.Get("Upgrade") != "" {
		t.Fatal("accepted Expect or Upgrade")
	}
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"Method", req.Method, want.Method},
		{"URL", req.URL, want.URL},
		{"Proto", req.Proto, want.Proto},
		{"ProtoMajor", req.ProtoMajor, want.ProtoMajor},
		{"ProtoMinor", req.ProtoMinor, want.ProtoMinor},
		{"Header", req.Header, want.Header},
		{"Host", req.Host, want.Host},
		{"RequestURI", req.RequestURI, want.RequestURI},
		{"Close", req.Close, want.Close},
		{"ContentLength", req.ContentLength, want.ContentLength},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, net/http reads %#v\n%q", c.name, c.got, c.want, head)
		}
	}
	if req.Body != http.NoBody {
		t.Error("Body is not http.NoBody")
	}
}

// FuzzParseFront checks that whatever frontReq.parse accepts, net/http's server
// reads to the same request.
func FuzzParseFront(f *testing.F) {
	for _, tc := range frontCases {
		f.Add([]byte(tc.head))
	}
	f.Fuzz(func(t *testing.T, head []byte) {
		i := headEnd(head)
		if i < 0 {
			return
		}
		head = head[:i] // the front parses a head up to its end
		req, ok := new(frontReq).parse(head, "192.0.2.1:1")
		if !ok {
			return
		}
		if !strings.HasPrefix(req.RequestURI, "/") {
			t.Fatalf("accepted a target that is not origin-form: %q", req.RequestURI)
		}
		checkSameAsNetHTTP(t, head, req)
		// A connection's frontReq is reused: read into one that held
		// another request (with fields this one may not have), the head
		// must give the same request, nothing of the other left in it.
		var fr frontReq
		if _, ok := fr.parse([]byte(reusedHead), "192.0.2.9:9"); !ok {
			t.Fatal("the reused head was refused")
		}
		again, ok := fr.parse(head, "192.0.2.1:1")
		if !ok {
			t.Fatal("accepted fresh, refused by a reused frontReq")
		}
		checkSameAsNetHTTP(t, head, again)
	})
}

// reusedHead is a request a reused frontReq has read before the one under
// test: fields a later request must not inherit.
const reusedHead = "GET /other/path?x=1 HTTP/1.1\r\nHost: old.example\r\nRange: bytes=0-1\r\nCookie: a=b\r\nAuthorization: Bearer t\r\nIf-None-Match: \"e\"\r\nUser-Agent: old\r\nUser-Agent: older\r\nPragma: no-cache\r\nConnection: close\r\n\r\n"

// TestFrontReqReuseAllocs: a connection's second and later requests are
// read with two allocations, the head's string and the URL; the request
// and its header map are the connection's, reused.
func TestFrontReqReuseAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are checked without -race")
	}
	head := []byte(benchHead)
	var fr frontReq
	if _, ok := fr.parse(head, "192.0.2.1:1"); !ok {
		t.Fatal("refused")
	}
	if n := testing.AllocsPerRun(100, func() { fr.parse(head, "192.0.2.1:1") }); n > 2 {
		t.Errorf("%v allocations per request read into a reused frontReq, want 2 (the head's string, the URL)", n)
	}
}

// benchHead is a browser player's playlist request.
const benchHead = "GET /live/stream_720p/index.m3u8 HTTP/1.1\r\nHost: edge.example\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36\r\nAccept: */*\r\nAccept-Encoding: gzip, deflate\r\nOrigin: https://player.example\r\nReferer: https://player.example/\r\nConnection: keep-alive\r\n\r\n"

// BenchmarkParseFront reads a head into a new request each time (fresh)
// and, as a front connection does, into the one it reused (reused).
func BenchmarkParseFront(b *testing.B) {
	head := []byte(benchHead)
	b.Run("fresh", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := new(frontReq).parse(head, "192.0.2.1:1"); !ok {
				b.Fatal("refused")
			}
		}
	})
	b.Run("reused", func(b *testing.B) {
		var fr frontReq
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := fr.parse(head, "192.0.2.1:1"); !ok {
				b.Fatal("refused")
			}
		}
	})
}

// FuzzHeadEnd checks the front's reading of where a head ends against
// net/http's: whatever http.ReadRequest reads as a request, headEnd finds
// whole (so the front never waits on a head net/http would answer), and
// ends where net/http's reading ended (so a pipelined request after it is
// read from the same byte by both).
func FuzzHeadEnd(f *testing.F) {
	for _, tc := range frontCases {
		f.Add([]byte(tc.head + "GET /next HTTP/1.1\r\nHost: h\r\n\r\n"))
	}
	for _, s := range []string{
		"GET / HTTP/1.1\nHost: h\n\n",
		"GET / HTTP/1.1\r\nHost: h\r\n\n",
		"GET / HTTP/1.1\nHost: h\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\n \r\n\r\n",
		"\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		n := headEnd(data)
		br := bufio.NewReaderSize(bytes.NewReader(data), len(data)+16)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		read := len(data) - br.Buffered()
		if n != read {
			t.Fatalf("headEnd = %d, net/http read a head of %d bytes\n%q", n, read, data)
		}
	})
}

func TestEmptyLines(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{"", 0},
		{"GET / HTTP/1.1\r\n", 0},
		{"\r\nGET", 2},
		{"\nGET", 1},
		{"\r\n\n\r\n\r\nGET", 7},
		{"\r", 0},       // the LF may follow: not yet an empty line
		{"\r\n\r", 2},   // likewise
		{"\rGET", 0},    // a bare CR is not a line end
		{"\r\r\n", 0},   // nor is CR CR LF
		{" \r\nGET", 0}, // a line of a space is not empty
	} {
		if got := emptyLines([]byte(tc.in)); got != tc.want {
			t.Errorf("emptyLines(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}
