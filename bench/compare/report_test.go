package compare

import (
	"bytes"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
)

func TestMarkdownFloorTable(t *testing.T) {
	w := func(rps, cpu float64) []WrkResult { return []WrkResult{{ReqPerSec: rps, ReqPerCPUSec: cpu}} }
	for _, tc := range []struct {
		name  string
		floor map[string][]WrkResult
		want  []string
		not   []string
	}{
		{
			name:  "with floor",
			floor: map[string][]WrkResult{"segment": w(2000, 4000), "playlist": w(50000, 80000)},
			want: []string{
				"## Plain Go net/http on the same hot loads",
				"| hot segment | 2000 | 2500 | 1.25x | 4000 | 5000 | 1.25x |",
				"| hot playlist | 50000 | 40000 | 0.80x | 80000 | 60000 | 0.75x |",
			},
		},
		{name: "without floor", not: []string{"Plain Go net/http"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Report{
				Servers:     []string{"nginx", "varnish", "edgecache"},
				HotSegment:  map[string][]WrkResult{"edgecache": w(2500, 5000)},
				HotPlaylist: map[string][]WrkResult{"edgecache": w(40000, 60000)},
				Floor:       tc.floor,
			}
			md := r.Markdown("test")
			for _, s := range tc.want {
				if !strings.Contains(md, s) {
					t.Errorf("report lacks %q:\n%s", s, md)
				}
			}
			for _, s := range tc.not {
				if strings.Contains(md, s) {
					t.Errorf("report has %q", s)
				}
			}
		})
	}
}

// TestFloorServesOriginBytes: the baseline must answer the hot loads with
// the bytes and headers the edges pass on from the origin, or the
// comparison is of different work.
func TestFloorServesOriginBytes(t *testing.T) {
	o, err := startOrigin()
	if err != nil {
		t.Fatal(err)
	}
	defer o.close()
	floor := httptest.NewServer(FloorHandler())
	defer floor.Close()
	get := func(url string) (*http.Response, []byte) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}
	for _, path := range []string{"/hot/seg.m4s", "/hot/index.m3u8"} {
		or, ob := get(o.URL + path)
		fr, fb := get(floor.URL + path)
		if !bytes.Equal(ob, fb) || len(fb) == 0 {
			t.Errorf("%s: floor sent %d bytes, origin %d, not the same", path, len(fb), len(ob))
		}
		for _, h := range []string{"Content-Type", "Cache-Control", "Content-Length"} {
			if or.Header.Get(h) != fr.Header.Get(h) {
				t.Errorf("%s: %s %q from the floor, %q from the origin", path, h, fr.Header.Get(h), or.Header.Get(h))
			}
		}
	}
	if resp, _ := get(floor.URL + "/other"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("floor answered /other with %d, want 404", resp.StatusCode)
	}
}

// TestFloorListenerSendBuffer: the floor's connections get edgecache's
// default send buffer, or the floor and the edge differ by a socket
// setting as well as by their work.
func TestFloorListenerSendBuffer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := FloorListener(ln)
	defer fl.Close()
	d, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c, err := fl.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var serr error
	rc.Control(func(fd uintptr) { v, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF) })
	if serr != nil {
		t.Fatal(serr)
	}
	// The kernel reports twice what was set (socket(7)).
	if want := 2 * FloorSendBuffer(); v != want {
		t.Errorf("SO_SNDBUF = %d, want %d", v, want)
	}
}

// TestSameRoundRatios: each round's edgecache figure over the other
// edge's in that round, and the report's line of them under each hot
// load's table.
func TestSameRoundRatios(t *testing.T) {
	cpu := func(xs ...float64) []WrkResult {
		var rs []WrkResult
		for _, x := range xs {
			rs = append(rs, WrkResult{ReqPerCPUSec: x})
		}
		return rs
	}
	f := func(w WrkResult) float64 { return w.ReqPerCPUSec }
	// Run v's segment: the medians give 5060 / 4070 = 1.24x, the rounds
	// 1.22x, 1.19x and 1.32x.
	edge, varnish := cpu(5060, 4650, 5400), cpu(4148, 3908, 4070)
	if got := roundRatios(sameRoundRatios(edge, varnish, f)); got != "1.22x, 1.19x, 1.33x (median 1.22x)" {
		t.Errorf("run v: %q", got)
	}
	if got := sameRoundRatios(cpu(10, 20, 30), cpu(5, 0), f); len(got) != 1 || got[0] != 2 {
		t.Errorf("rounds in common, a zero left out: %v", got)
	}
	if got := roundRatios(sameRoundRatios(nil, varnish, f)); got != "" {
		t.Errorf("no rounds in common: %q", got)
	}
	r := &Report{
		Servers:     []string{"nginx", "varnish", "edgecache"},
		HotSegment:  map[string][]WrkResult{"edgecache": edge, "varnish": varnish, "nginx": cpu(2000, 2500)},
		HotPlaylist: map[string][]WrkResult{"edgecache": cpu(100)},
	}
	md := r.Markdown("test")
	// nginx ran two rounds: med takes the upper of two.
	want := "Round by round, edgecache's req per server CPU-second over the same round's: nginx 2.53x, 1.86x (median 2.53x); Varnish 1.22x, 1.19x, 1.33x (median 1.22x).\n\n## Hot ~230 B playlist"
	if !strings.Contains(md, want) {
		t.Errorf("report lacks %q:\n%s", want, md)
	}
	if strings.Count(md, "Round by round") != 1 {
		t.Errorf("a line for the playlist, whose other edges ran no round:\n%s", md)
	}
}

func TestPairedOverFloor(t *testing.T) {
	h := func(ms ...float64) []HerdResult {
		var rs []HerdResult
		for _, m := range ms {
			rs = append(rs, HerdResult{TTFBp99Ms: m})
		}
		return rs
	}
	for _, tc := range []struct {
		name        string
		edge, floor []HerdResult
		want        float64
	}{
		// Run u's rounds: the medians differ by 22 ms, the rounds by
		// 16, -2, 8, 24 and 4.
		{"run u", h(42, 14, 38, 38, 17), h(26, 16, 30, 14, 13), 8},
		{"edge has a round more", h(10, 20, 99), h(5, 5), 15},
		{"floor has a round more", h(10), h(4, 100), 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := pairedOverFloor(tc.edge, tc.floor); got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
	if got := pairedOverFloor(nil, h(1)); !math.IsNaN(got) {
		t.Fatalf("no rounds in common: got %v, want NaN", got)
	}
}
