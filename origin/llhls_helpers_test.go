package origin

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgecache/edgecache/origin/live"
	"github.com/edgecache/edgecache/origin/media"
	"github.com/edgecache/edgecache/origin/mediatest"
)

// llStream is a live stream "live" on a packager, fed in-process by the
// test (which decides when media arrives), with the handler on an httptest
// server.
type llStream struct {
	s    *Server
	st   *live.Stream
	sess *media.Session
	f    *mediatest.Feeder
	hs   *httptest.Server
}

// startLLStream publishes frames of 30 fps H.264 (GOP gop) and AAC and
// keeps the publisher on.
func startLLStream(t *testing.T, mutate func(*Config), gop, frames int) *llStream {
	t.Helper()
	s := newTestServer(t, mutate)
	st, sess := startSession(t, s, "live", mediatest.H264AACTracks(t))
	f := &mediatest.Feeder{T: t, Sess: sess, FPS: 30, GOP: gop, Audio: true}
	f.Run(frames)
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close)
	return &llStream{s: s, st: st, sess: sess, f: f, hs: hs}
}

// oneSecondSegments: 1 s segments (GOP 30 at 30 fps), so the hold limit of
// three target durations is 3 s, and CAN-SKIP-UNTIL its default for them,
// 6 s.
func oneSecondSegments(c *Config) {
	c.Segment.TargetDuration, c.HLS.CanSkipUntil, c.Segment.Retain = time.Second, 0, 0
}

func (l *llStream) url(file string) string { return l.hs.URL + "/hls/live/" + file }

// end ends the publish session.
func (l *llStream) end(t *testing.T) { endSession(t, l.s, l.st, l.sess) }

// held is the number of requests held, by kind ("playlist" or "part").
func (l *llStream) held(t *testing.T, kind string) float64 {
	t.Helper()
	mfs, err := l.s.gatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "edgecache_packager_held_requests" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "kind" && lp.GetValue() == kind {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return 0 // not held yet
}

// heldAnswerBound is how long a test waits for a held request to be
// held, or answered after the event that releases it. It is a liveness
// guard, not a timing bound: a request the event did not release is
// answered by the hold's own timeout with a status the tests reject.
const heldAnswerBound = 30 * time.Second

// waitHeld waits until n requests of kind are held.
func (l *llStream) waitHeld(t *testing.T, kind string, n float64) {
	t.Helper()
	deadline := time.Now().Add(heldAnswerBound)
	for l.held(t, kind) != n {
		if time.Now().After(deadline) {
			t.Fatalf("%v %s requests held, want %v", l.held(t, kind), kind, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// file returns a served file's bytes.
func (l *llStream) file(t *testing.T, name string) []byte {
	t.Helper()
	e, ok := l.st.File(name)
	if !ok {
		t.Fatalf("%s is not served", name)
	}
	return body(t, e)
}

// response is a finished HTTP exchange.
type response struct {
	status int
	header http.Header
	body   []byte
	err    error
}

func get(url string) response {
	resp, err := http.Get(url)
	if err != nil {
		return response{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b, err: err}
}

// getAsync starts a GET and returns the channel its response arrives on.
func getAsync(url string) <-chan response {
	ch := make(chan response, 1)
	go func() { ch <- get(url) }()
	return ch
}

func mustGet(t *testing.T, url string) response {
	t.Helper()
	r := get(url)
	if r.err != nil {
		t.Fatalf("GET %s: %v", url, r.err)
	}
	return r
}

// llPlaylist is an LL-HLS media playlist as this test package reads it,
// line by line, independently of the code that writes it.
type llPlaylist struct {
	version       int
	target        float64
	mediaSequence uint64
	partTarget    float64
	control       map[string]string // EXT-X-SERVER-CONTROL attributes
	skipped       uint64
	segs          []llSeg
	parts         []llPart
	hint          string
	hintType      string
	reports       []map[string]string
}

type llSeg struct {
	msn uint64
	uri string
	dur float64
}

type llPart struct {
	msn         uint64
	index       int // within its segment, by position
	uri         string
	dur         float64
	independent bool
}

func parseLL(t *testing.T, body []byte) llPlaylist {
	t.Helper()
	p := llPlaylist{control: map[string]string{}}
	var pending []llPart // parts before the next EXTINF
	var dur float64
	num := func(s string) float64 {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("number %q: %v\n%s", s, err, body)
		}
		return f
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		tag, val, _ := strings.Cut(line, ":")
		switch tag {
		case "#EXT-X-VERSION":
			p.version = int(num(val))
		case "#EXT-X-TARGETDURATION":
			p.target = num(val)
		case "#EXT-X-MEDIA-SEQUENCE":
			p.mediaSequence = uint64(num(val))
		case "#EXT-X-PART-INF":
			p.partTarget = num(mediatest.Attrs(val)["PART-TARGET"])
		case "#EXT-X-SERVER-CONTROL":
			p.control = mediatest.Attrs(val)
		case "#EXT-X-SKIP":
			p.skipped = uint64(num(mediatest.Attrs(val)["SKIPPED-SEGMENTS"]))
		case "#EXT-X-PART":
			a := mediatest.Attrs(val)
			pending = append(pending, llPart{uri: a["URI"], dur: num(a["DURATION"]), independent: a["INDEPENDENT"] == "YES"})
		case "#EXT-X-PRELOAD-HINT":
			a := mediatest.Attrs(val)
			p.hint, p.hintType = a["URI"], a["TYPE"]
		case "#EXT-X-RENDITION-REPORT":
			p.reports = append(p.reports, mediatest.Attrs(val))
		case "#EXTINF":
			dur = num(strings.TrimSuffix(val, ","))
		default:
			if line == "" || line[0] == '#' {
				continue
			}
			msn := p.mediaSequence + p.skipped + uint64(len(p.segs))
			p.segs = append(p.segs, llSeg{msn: msn, uri: line, dur: dur})
			p.addParts(msn, pending)
			pending = nil
		}
	}
	p.addParts(p.mediaSequence+p.skipped+uint64(len(p.segs)), pending)
	return p
}

func (p *llPlaylist) addParts(msn uint64, parts []llPart) {
	for i, pt := range parts {
		pt.msn, pt.index = msn, i
		p.parts = append(p.parts, pt)
	}
}

// lastPart is the newest part listed.
func (p *llPlaylist) lastPart() llPart { return p.parts[len(p.parts)-1] }

func (p *llPlaylist) hasPart(msn uint64, index int) bool {
	for _, pt := range p.parts {
		if pt.msn == msn && pt.index == index {
			return true
		}
	}
	return false
}

func (p *llPlaylist) hasSeg(msn uint64) bool {
	for _, s := range p.segs {
		if s.msn == msn {
			return true
		}
	}
	return false
}

// partsOf returns the parts listed for segment msn.
func (p *llPlaylist) partsOf(msn uint64) []llPart {
	var out []llPart
	for _, pt := range p.parts {
		if pt.msn == msn {
			out = append(out, pt)
		}
	}
	return out
}
