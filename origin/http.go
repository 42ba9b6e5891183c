package origin

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/edgecache/edgecache/origin/live"
)

// Cache-Control values per class of object.
const (
	cacheImmutable = "public, max-age=31536000, immutable"
	// A 404 for a segment that is about to exist must not be cached by an
	// edge, or the edge would keep answering 404 after it appears.
	cacheNone = "no-store"
)

// Handler serves:
//
//	/hls/STREAM.m3u8            multivariant playlist
//	/hls/STREAM/video.m3u8      media playlists (audio.m3u8, ts.m3u8)
//	/dash/STREAM.mpd            dynamic MPD
//	/hls|dash/STREAM/TOKEN/...  init and media segments (the same bytes)
//	/hls/STREAM/TOKEN/KIND/MSN.N.m4s  LL-HLS part N of segment MSN
//	/dash/time                  UTCTiming source (ISO 8601, ms)
//	/healthz, /readyz, /metrics
//
// Everything else is a 404. Objects are served from RAM only once
// complete; URLs inside playlists are relative. With hls.low_latency, media
// playlist requests take delivery directives (llhttp.go), and a request for
// the next part, the one the preload hint names, is held until that part
// is complete.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hls/{rest...}", s.serveHLS)
	mux.HandleFunc("GET /dash/time", s.serveTime)
	mux.HandleFunc("GET /dash/{rest...}", s.serveDASH)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Cache-Control", cacheNone)
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", s.serveReady)
	if s.gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(s.gatherer, promhttp.HandlerOpts{}))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { notFound(w) })
	return s.cors(mux)
}

// cors adds the headers browser players need and answers preflights.
func (s *Server) cors(next http.Handler) http.Handler {
	origin := s.cfg.HTTP.CORSAllowOrigin
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		// dash.js reads Date for clock sync; players read lengths and ranges.
		h.Set("Access-Control-Expose-Headers", "Content-Length, Content-Range, Date, ETag, Age")
		if origin != "*" {
			h.Add("Vary", "Origin")
		}
		if r.Method == http.MethodOptions {
			h.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Range, If-None-Match, If-Modified-Since")
			h.Set("Access-Control-Max-Age", "86400")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func notFound(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", cacheNone)
	http.Error(w, "404 not found", http.StatusNotFound)
}

func (s *Server) serveHLS(w http.ResponseWriter, r *http.Request) {
	rest := r.PathValue("rest")
	name, file, ok := strings.Cut(rest, "/")
	if !ok {
		n, isPlaylist := strings.CutSuffix(rest, ".m3u8")
		if !isPlaylist {
			notFound(w)
			return
		}
		name, file = n, live.NameMultivariant
	} else if strings.HasSuffix(file, ".mpd") {
		notFound(w)
		return
	}
	if s.cfg.HLS.LowLatency.On() {
		s.serveLowLatency(w, r, name, file)
		return
	}
	s.serveFile(w, r, name, file)
}

func (s *Server) serveDASH(w http.ResponseWriter, r *http.Request) {
	rest := r.PathValue("rest")
	name, file, ok := strings.Cut(rest, "/")
	if !ok {
		n, isMPD := strings.CutSuffix(rest, ".mpd")
		if !isMPD {
			notFound(w)
			return
		}
		name, file = n, live.NameMPD
	} else if !strings.HasSuffix(file, ".mp4") && !strings.HasSuffix(file, ".m4s") {
		notFound(w)
		return
	}
	s.serveFile(w, r, name, file)
}

func (s *Server) serveFile(w http.ResponseWriter, r *http.Request, name, file string) {
	st := s.Stream(name)
	if st == nil {
		notFound(w)
		return
	}
	e, ok := st.File(file)
	if !ok {
		notFound(w)
		return
	}
	cc := cacheImmutable
	if !e.Immutable() {
		cc = maxAge(s.cfg.HTTP.PlaylistMaxAge)
	}
	writeEntry(w, r, e, cc)
}

// maxAge is a public Cache-Control of d, in whole seconds.
func maxAge(d time.Duration) string {
	return "public, max-age=" + strconv.Itoa(int(d/time.Second))
}

// writeEntry serves e, whole and at once: nothing is sent before the
// complete object is in RAM.
func writeEntry(w http.ResponseWriter, r *http.Request, e *live.Entry, cacheControl string) {
	h := w.Header()
	h.Set("Content-Type", e.ContentType())
	h.Set("ETag", e.ETag())
	h.Set("Cache-Control", cacheControl)
	modTime := e.ModTime()
	if !e.Immutable() {
		// Playlists change within a second; Last-Modified would let an
		// If-Modified-Since revalidation wrongly get a 304. ETag only.
		modTime = time.Time{}
	}
	// ServeContent handles HEAD, Range and If-None-Match.
	http.ServeContent(w, r, "", modTime, e.NewReader())
}

// serveTime is the UTCTiming source (urn:mpeg:dash:utc:http-iso:2014).
func (s *Server) serveTime(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", cacheNone)
	_, _ = io.WriteString(w, live.XSDateTime(time.Now()))
}

// serveReady is 200 while an RTMP listener is accepting and the server
// is not shutting down.
func (s *Server) serveReady(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", cacheNone)
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed || !s.ingest.Serving() {
		http.Error(w, "not ready", http.StatusServiceUnavailable)
		return
	}
	_, _ = io.WriteString(w, "ready\n")
}
