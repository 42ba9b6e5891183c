package viewer

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkFetch is one viewer's request for a playlist and for a
// segment, over loopback: the simulator's cost per request, which bounds
// how many viewers it can show on the cores it shares with the edge.
func BenchmarkFetch(b *testing.B) {
	seg := make([]byte, 1200<<10)
	pl := make([]byte, 230)
	// A live media playlist as the packager writes it, which edgecache
	// sends gzipped to a client that accepts gzip, as players do.
	live := []byte(strings.Repeat("#EXT-X-PROGRAM-DATE-TIME:2026-12-06T17:56:00.001Z\n#EXTINF:2.000,\nmxc53pmjjo/video/83.m4s\n", 30))
	gz := gzipped(b, live)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/seg.m4s":
			w.Write(seg)
		case "/live.m3u8":
			if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
				w.Write(live)
				return
			}
			w.Header().Set("Content-Encoding", "gzip")
			w.Write(gz)
		default:
			w.Write(pl)
		}
	}))
	defer srv.Close()
	for _, bc := range []struct {
		name string
		path string
		keep bool
		size int
	}{
		{"playlist-230B", "/index.m3u8", true, len(pl)},
		{"segment-1.2MB", "/seg.m4s", false, len(seg)},
		// Each fetch decodes (pooled decoders, no shared result): what the
		// first viewer of each new playlist pays.
		{"playlist-gzip", "/live.m3u8", true, len(live)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			tr := &http.Transport{}
			defer tr.CloseIdleConnections()
			f := &fetcher{client: &http.Client{Transport: tr}, rec: newRecorder(1), timeout: 10 * time.Second, bufs: discardBufs(), gzips: new(sync.Pool)}
			u, _ := url.Parse(srv.URL + bc.path)
			b.ReportAllocs()
			b.SetBytes(int64(bc.size))
			for b.Loop() {
				r, err := f.get(b.Context(), u, ClassSegment, getOpts{keep: bc.keep})
				if err != nil || r.size != int64(bc.size) {
					b.Fatalf("%v, %d bytes", err, r.size)
				}
			}
		})
	}
}
