package origin

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"
	rtmpcodecs "github.com/bluenviron/gortmplib/pkg/codecs"

	"github.com/edgecache/edgecache/origin/live"
	"github.com/edgecache/edgecache/origin/mediatest"
)

// TestKeyframeToListed publishes synthetic H.264 + AAC over RTMP in real
// time and checks the order of events: every segment is listed in an
// HTTP-fetched playlist, and never before the keyframe that closes it was
// written. How soon after is a speed goal (p99 under 50 ms), measured by
// BenchmarkKeyframeToListed, not asserted here: a busy machine must not
// fail a test on time.
func TestKeyframeToListed(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time test; run without -short")
	}
	lat := keyframeToListed(t)
	if lat[0] < 0 {
		t.Errorf("a segment was listed %v before its closing keyframe was written", -lat[0])
	}
}

// BenchmarkKeyframeToListed reports the keyframe-to-listed latency
// (goal: p99 under 50 ms) as p50-ms and p99-ms.
func BenchmarkKeyframeToListed(b *testing.B) {
	b.ReportAllocs()
	var lat []time.Duration
	for b.Loop() {
		lat = keyframeToListed(b)
	}
	p := func(q float64) time.Duration { return lat[int(q*float64(len(lat)-1))] }
	b.ReportMetric(float64(p(0.5))/1e6, "p50-ms")
	b.ReportMetric(float64(p(0.99))/1e6, "p99-ms")
}

// keyframeToListed measures, for 150 segments of 100 ms, the time from
// just before the client writes the keyframe that closes a segment to the
// moment an HTTP GET of the media playlist lists that segment, sorted.
func keyframeToListed(t testing.TB) []time.Duration {
	const (
		fps      = 30
		gop      = 3 // 100 ms segments
		segments = 150
	)
	// The last keyframe sent closes segment lastSeg.
	lastKey := ((segments+40)*gop - 1) / gop
	lastSeg := uint64(lastKey - 1)
	s := newTestServer(t, func(c *Config) {
		c.Segment.TargetDuration = 100 * time.Millisecond
		// A window that holds every segment of the run: a watcher that a
		// busy machine holds up for longer than a few segments still
		// finds each one listed, so a segment it never saw is the
		// packager's doing, not the load's.
		c.Segment.Window = segments + 40
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- s.ServeRTMP(ctx, ln) }()
	defer func() { cancel(); <-served }()
	hs := httptest.NewServer(s.Handler())
	defer hs.Close()

	u, _ := url.Parse("rtmp://" + ln.Addr().String() + "/live#lat")
	c := &gortmplib.Client{URL: u, Publish: true}
	if err := c.Initialize(ctx); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	vt := &gortmplib.Track{Codec: &rtmpcodecs.H264{SPS: mediatest.SPS(), PPS: mediatest.PPS()}}
	at := &gortmplib.Track{Codec: &rtmpcodecs.MPEG4Audio{Config: mediatest.ASC()}}
	w := &gortmplib.Writer{Conn: c, Tracks: []*gortmplib.Track{vt, at}}
	if err := w.Initialize(); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	sent := map[int]time.Time{} // keyframe index -> write time
	var lat []time.Duration

	// Watcher: on every change, fetch the playlist and time new segments.
	watchDone := make(chan struct{})
	sawLast := make(chan struct{}) // closed once segment lastSeg is listed
	go func() {
		defer close(watchDone)
		var st *live.Stream
		for st == nil {
			if ctx.Err() != nil {
				return
			}
			st = s.Stream("lat")
			time.Sleep(time.Millisecond)
		}
		var last uint64
		have := false
		for {
			ch := st.Changed()
			resp, err := http.Get(hs.URL + "/hls/lat/video.m3u8")
			if err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				now := time.Now()
				for _, seq := range listedSeqs(body) {
					if have && seq <= last {
						continue
					}
					last, have = seq, true
					// Segment seq is closed by keyframe seq+1 (of the session).
					mu.Lock()
					if t0, ok := sent[int(seq)+1]; ok {
						lat = append(lat, now.Sub(t0))
					}
					mu.Unlock()
					if seq == lastSeg { // once: seq only grows
						close(sawLast)
					}
				}
			}
			select {
			case <-ch:
			case <-ctx.Done():
				return
			}
		}
	}()

	start := time.Now()
	aframe := 0
	for i := 0; i < (segments+40)*gop; i++ {
		ts := time.Duration(i) * time.Second / fps
		time.Sleep(time.Until(start.Add(ts)))
		for ats := time.Duration(aframe) * 1024 * time.Second / 48000; ats <= ts; ats = time.Duration(aframe) * 1024 * time.Second / 48000 {
			if err := w.WriteMPEG4Audio(at, ats, []byte{0x21, 0x10, byte(aframe)}); err != nil {
				t.Fatal(err)
			}
			aframe++
		}
		key := i%gop == 0
		au := mediatest.AU(i, key, nil)
		// gortmplib's Reader holds the first 2 s of a publish to detect
		// tracks and then replays them; keyframes from that start-up
		// window are not steady-state latency and are left out.
		if key && ts >= 3*time.Second {
			mu.Lock()
			sent[i/gop] = time.Now()
			mu.Unlock()
		}
		if err := w.WriteH264(vt, ts, ts, au); err != nil {
			t.Fatal(err)
		}
	}
	// Wait for the watcher to see the segment the last keyframe closed:
	// the event, not a fixed while, ends the measurement.
	select {
	case <-sawLast:
	case <-time.After(liveness):
		t.Fatalf("segment %d, closed by the last keyframe, not listed %v after it was written (liveness failsafe)", lastSeg, liveness)
	}
	cancel()
	<-watchDone

	mu.Lock()
	defer mu.Unlock()
	// The window holds the whole run, so every segment whose closing
	// keyframe was timed shows up in some playlist the watcher fetched.
	if len(lat) != len(sent) || len(lat) < segments {
		t.Fatalf("measured %d segments of the %d whose closing keyframe was timed, want all of them (at least %d)", len(lat), len(sent), segments)
	}
	slices.Sort(lat)
	p := func(q float64) time.Duration { return lat[int(q*float64(len(lat)-1))] }
	t.Logf("keyframe write -> listed in an HTTP-fetched playlist, %d segments: p50 %v, p90 %v, p99 %v, max %v",
		len(lat), p(0.5), p(0.9), p(0.99), lat[len(lat)-1])
	return slices.Clone(lat)
}

func listedSeqs(body []byte) []uint64 {
	var seqs []uint64
	var seq uint64
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "#EXT-X-MEDIA-SEQUENCE:"); ok {
			seq, _ = strconv.ParseUint(v, 10, 64)
		} else if line != "" && line[0] != '#' {
			seqs = append(seqs, seq)
			seq++
		}
	}
	return seqs
}
