package viewer

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"
)

// BenchmarkFetch is one viewer's request for a playlist and for a
// segment, over loopback: the simulator's cost per request, which bounds
// how many viewers it can show on the cores it shares with the edge.
func BenchmarkFetch(b *testing.B) {
	seg := make([]byte, 1200<<10)
	pl := make([]byte, 230)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/seg.m4s" {
			w.Write(seg)
			return
		}
		w.Write(pl)
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
	} {
		b.Run(bc.name, func(b *testing.B) {
			tr := &http.Transport{}
			defer tr.CloseIdleConnections()
			f := &fetcher{client: &http.Client{Transport: tr}, rec: newRecorder(1), timeout: 10 * time.Second, bufs: discardBufs()}
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
