// Package compare is the side-by-side harness: it starts nginx (proxy_cache
// with the lock off and on), Varnish and edgecache by hand on loopback
// ports in front of the same origins, runs the same loads against each,
// interleaved, and writes a report.
package compare

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/edgecache/edgecache/proxy"
)

// testOrigin serves the static objects the loads need, rate-limited where
// the load asks, and counts requests per path so origin fetches can be
// read without trusting any edge's own metrics.
//
//	/obj/SIZE/RATE/NAME   SIZE bytes at RATE bytes/s (0: as fast as it can), max-age=60
//	/hot/seg.m4s          1.2 MB, max-age=3600
//	/hot/index.m3u8       a ~230 B playlist, max-age=3600
//	/expire/NAME          4 KiB, max-age=2: expires under load
//	/count?path=P         requests for P so far; /count?prefix=P sums a prefix
type testOrigin struct {
	srv *http.Server
	ln  net.Listener
	URL string

	mu     sync.Mutex // guards counts
	counts map[string]int
	seg    []byte
	pl     []byte
}

func startOrigin() (*testOrigin, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	o := &testOrigin{ln: ln, URL: "http://" + ln.Addr().String(), counts: map[string]int{}}
	o.seg, o.pl = hotObjects()
	o.srv = &http.Server{Handler: http.HandlerFunc(o.serve), ReadHeaderTimeout: 10 * time.Second}
	go o.srv.Serve(ln)
	return o, nil
}

// hotObjects are the bodies of the hot loads: a 1.2 MB segment and a
// ~230 B playlist.
func hotObjects() (seg, pl []byte) {
	seg = make([]byte, 1200<<10)
	for i := range seg {
		seg[i] = byte(i * 13)
	}
	pl = []byte("#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:1200\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:2.000,\nseg-1200.m4s\n#EXTINF:2.000,\nseg-1201.m4s\n#EXTINF:2.000,\nseg-1202.m4s\n#EXTINF:2.000,\nseg-1203.m4s\n")
	return seg, pl
}

// serveHot answers the two hot paths with the origin's headers.
func serveHot(w http.ResponseWriter, r *http.Request, seg, pl []byte) {
	h := w.Header()
	h.Set("Cache-Control", "max-age=3600")
	if r.URL.Path == "/hot/seg.m4s" {
		h.Set("Content-Type", "video/iso.segment")
		w.Write(seg)
		return
	}
	h.Set("Content-Type", "application/vnd.apple.mpegurl")
	w.Write(pl)
}

// FloorHandler is the plain Go baseline of the hot loads: net/http writing
// the same bytes from memory, with no cache, routing or metrics. No Go
// server on net/http answers these loads faster; the report sets
// edgecache against it to show which part of a gap is net/http's.
func FloorHandler() http.Handler {
	seg, pl := hotObjects()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/hot/seg.m4s" && r.URL.Path != "/hot/index.m3u8" {
			http.NotFound(w, r)
			return
		}
		serveHot(w, r, seg, pl)
	})
}

// FloorSendBuffer is the floor's SO_SNDBUF: edgecache's default
// client.send_buffer, so that the floor differs from the edge by the
// server's work alone, not by a socket setting.
func FloorSendBuffer() int { return int(proxy.DefaultConfig().Client.SendBuffer) }

// FloorListener gives every connection ln accepts FloorSendBuffer.
func FloorListener(ln net.Listener) net.Listener { return floorListener{ln, FloorSendBuffer()} }

type floorListener struct {
	net.Listener
	sndbuf int
}

func (l floorListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(l.sndbuf)
	}
	return c, err
}

func (o *testOrigin) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	o.srv.Shutdown(ctx)
}

func (o *testOrigin) count(path string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.counts[path]
}

func (o *testOrigin) serve(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if p == "/count" {
		o.mu.Lock()
		n := o.counts[r.URL.Query().Get("path")]
		if pre := r.URL.Query().Get("prefix"); pre != "" {
			n = 0
			for k, v := range o.counts {
				if strings.HasPrefix(k, pre) {
					n += v
				}
			}
		}
		o.mu.Unlock()
		fmt.Fprintln(w, n)
		return
	}
	o.mu.Lock()
	o.counts[p]++
	o.mu.Unlock()
	switch {
	case p == "/hot/seg.m4s" || p == "/hot/index.m3u8":
		serveHot(w, r, o.seg, o.pl)
	case strings.HasPrefix(p, "/expire/"):
		w.Header().Set("Content-Type", "video/iso.segment")
		w.Header().Set("Cache-Control", "max-age=2")
		w.Write(o.seg[:4096])
	case strings.HasPrefix(p, "/obj/"):
		o.serveObject(w, r)
	default:
		http.NotFound(w, r)
	}
}

// serveObject sends SIZE deterministic bytes at RATE bytes per second.
func (o *testOrigin) serveObject(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/obj/"), "/")
	if len(parts) != 3 {
		http.NotFound(w, r)
		return
	}
	size, err1 := strconv.Atoi(parts[0])
	rate, err2 := strconv.Atoi(parts[1])
	if err := errors.Join(err1, err2); err != nil || size <= 0 || size > 1<<30 {
		http.Error(w, "bad object", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "video/iso.segment")
	w.Header().Set("Cache-Control", "max-age=60")
	w.Header().Set("Content-Length", strconv.Itoa(size))
	chunk := make([]byte, 32<<10)
	for i := range chunk {
		chunk[i] = byte(i*7 + len(parts[2]))
	}
	start := time.Now()
	sent := 0
	for sent < size {
		n := min(len(chunk), size-sent)
		if _, err := w.Write(chunk[:n]); err != nil {
			return
		}
		sent += n
		if rate > 0 {
			w.(http.Flusher).Flush()
			due := start.Add(time.Duration(float64(sent) / float64(rate) * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				select {
				case <-time.After(d):
				case <-r.Context().Done():
					return
				}
			}
		}
	}
}
