package proxy

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// scriptedOrigin serves the playlist it is told to, with absolute URLs.
type scriptedOrigin struct {
	*httptest.Server
	mu       sync.Mutex
	playlist string
	segs     map[string]string
}

func newScriptedOrigin(t *testing.T) *scriptedOrigin {
	o := &scriptedOrigin{segs: map[string]string{}}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		defer o.mu.Unlock()
		if strings.HasSuffix(r.URL.Path, ".m3u8") {
			w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
			w.Header().Set("Cache-Control", "max-age=1")
			io.WriteString(w, strings.ReplaceAll(o.playlist, "ORIGIN", o.URL))
			return
		}
		if b, ok := o.segs[r.URL.Path]; ok {
			io.WriteString(w, b)
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(o.Close)
	return o
}

func (o *scriptedOrigin) set(pl string, segs map[string]string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.playlist = pl
	for k, v := range segs {
		o.segs[k] = v
	}
}

func mediaPlaylist(seq, disc int, uris ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:%d\n#EXT-X-DISCONTINUITY-SEQUENCE:%d\n", seq, disc)
	for _, u := range uris {
		fmt.Fprintf(&b, "#EXTINF:2.000,\nORIGIN/s/%s\n", u)
	}
	return b.String()
}

func TestSanityGate(t *testing.T) {
	checkGoroutines(t)
	o := newScriptedOrigin(t)
	e := newEdge(t, o.URL, func(c *Config) { c.Prefetch = false })
	u := e.URL + "/s/index.m3u8"

	o.set(mediaPlaylist(10, 0, "a10.ts", "a11.ts", "a12.ts"), map[string]string{"/s/a10.ts": "old10", "/s/a11.ts": "old11", "/s/a12.ts": "old12"})
	_, good := mustGet(t, u)
	if !bytes.Contains(good, []byte("\n/s/a12.ts\n")) || bytes.Contains(good, []byte(o.URL)) {
		t.Fatalf("first playlist not rewritten to edge paths:\n%s", good)
	}
	mustGet(t, e.URL+"/s/a11.ts")

	// A stale replica answers with an older window: not trusted.
	o.set(mediaPlaylist(8, 0, "a8.ts", "a9.ts", "a10.ts"), nil)
	time.Sleep(1100 * time.Millisecond)
	resp, b := mustGet(t, u)
	if !bytes.Equal(b, good) || resp.Header.Get("X-Cache-Status") != "STALE" {
		t.Fatalf("backwards playlist served (%s):\n%s", resp.Header.Get("X-Cache-Status"), b)
	}
	if v := metricValue(t, e.reg, "edgecache_playlist_rejections_total", "reason", "sequence-backwards"); v < 1 {
		t.Fatalf("rejection not counted: %v", v)
	}

	// A real restart: the sequence resets with a new discontinuity
	// sequence, and a11.ts now names new content.
	o.set(mediaPlaylist(0, 1, "a11.ts", "b1.ts"), map[string]string{"/s/a11.ts": "new11", "/s/b1.ts": "b1"})
	time.Sleep(1100 * time.Millisecond)
	_, b = mustGet(t, u)
	if !bytes.Contains(b, []byte("/s/b1.ts")) {
		t.Fatalf("restarted playlist not taken:\n%s", b)
	}
	_, seg := mustGet(t, e.URL+"/s/a11.ts")
	if string(seg) != "new11" {
		t.Fatalf("reused URL still serves the old content %q after the restart", seg)
	}
}

func TestManifestGzipAndDASHRewrite(t *testing.T) {
	checkGoroutines(t)
	var originURL string
	mpd := `<?xml version="1.0" encoding="UTF-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic" minimumUpdatePeriod="PT2S" availabilityStartTime="2026-01-01T00:00:00Z" profiles="urn:mpeg:dash:profile:isoff-live:2011">
  <UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-iso:2014" value="https://time.akamai.com/?iso"/>
  <BaseURL>ORIGIN/dash/live/</BaseURL>
  <Period id="p0" start="PT0S">
    <AdaptationSet mimeType="video/mp4" segmentAlignment="true">
      <SegmentTemplate media="ORIGIN/dash/live/v-$Number$.m4s" initialization="ORIGIN/dash/live/v-init.mp4" timescale="90000" duration="180000" startNumber="1"/>
      <Representation id="v" bandwidth="800000" codecs="avc1.64001f" width="1280" height="720"/>
    </AdaptationSet>
  </Period>
</MPD>
`
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/dash+xml")
		io.WriteString(w, strings.ReplaceAll(mpd, "ORIGIN", originURL))
	}))
	defer origin.Close()
	originURL = origin.URL
	e := newEdge(t, origin.URL, nil)

	// A client that takes gzip gets it, with its own validator and Vary.
	req, _ := http.NewRequest("GET", e.URL+"/dash/live.mpd", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	zb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Header.Get("Content-Encoding") != "gzip" || !strings.Contains(resp.Header.Get("Vary"), "Accept-Encoding") {
		t.Fatalf("no gzip: %v", resp.Header)
	}
	zr, err := gzip.NewReader(bytes.NewReader(zb))
	if err != nil {
		t.Fatal(err)
	}
	unz, _ := io.ReadAll(zr)

	// One that does not gets identity bytes, the same ones.
	req.Header.Del("Accept-Encoding")
	resp, err = http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Header.Get("Content-Encoding") != "" || !bytes.Equal(plain, unz) {
		t.Fatalf("identity response differs from the gzip one")
	}
	want := strings.ReplaceAll(mpd, "ORIGIN", "")
	want = strings.Replace(want, `value="https://time.akamai.com/?iso"`, `value="https://time.akamai.com/?iso"`, 1)
	if string(plain) != want {
		t.Fatalf("MPD not rewritten byte-exactly:\n%s\nwant:\n%s", plain, want)
	}
}
