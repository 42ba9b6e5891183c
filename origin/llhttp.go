package origin

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/edgecache/edgecache/manifest"
	"github.com/edgecache/edgecache/origin/live"
	"github.com/edgecache/edgecache/origin/media"
)

// serveLowLatency serves /hls/STREAM/FILE with hls.low_latency on: media
// playlists take delivery directives, the next part may be waited for,
// everything else is served as without LL-HLS.
func (s *Server) serveLowLatency(w http.ResponseWriter, r *http.Request, name, file string) {
	st := s.Stream(name)
	if st == nil {
		notFound(w)
		return
	}
	if k, ok := mediaPlaylistKind(file); ok {
		s.serveMediaPlaylist(w, r, st, k)
		return
	}
	if _, ok := st.File(file); ok {
		s.serveFile(w, r, name, file)
		return
	}
	s.servePart(w, r, st, file)
}

func mediaPlaylistKind(file string) (media.Kind, bool) {
	switch file {
	case live.PlaylistName(media.KindVideo):
		return media.KindVideo, true
	case live.PlaylistName(media.KindAudio):
		return media.KindAudio, true
	}
	return 0, false
}

// serveMediaPlaylist answers a media playlist request with its delivery
// directives (RFC 8216bis 6.2.5): _HLS_msn/_HLS_part hold it until the
// playlist has that segment or part or later, _HLS_skip=YES|v2 gets the
// Playlist Delta Update.
//
// Cache-Control: a blocking response is the same "or later" answer for as
// long as the URL can be asked, and gets six target durations (RFC
// 8216bis appendix B); any other gets half a target duration, at most
// http.playlist_max_age, so an edge never serves one older than a target
// duration. Errors are no-store.
func (s *Server) serveMediaPlaylist(w http.ResponseWriter, r *http.Request, st *live.Stream, kind media.Kind) {
	d, err := manifest.ParseDirectives(r.URL.RawQuery)
	if err != nil {
		writeError(w, err)
		return
	}
	ctx, cancel := s.holdContext(r.Context())
	defer cancel()
	p, err := st.AwaitPlaylist(ctx, kind, d)
	if err != nil {
		writeError(w, err)
		return
	}
	cc := maxAge(min(s.cfg.HTTP.PlaylistMaxAge, p.Target/2))
	if p.Blocked {
		cc = maxAge(6 * p.Target)
	}
	writeEntry(w, r, p.Entry, cc)
}

// servePart answers a request for a part that is not there (yet): held
// until complete when it is the next part, then sent whole, with
// Content-Length and the Cache-Control of every segment; 404 otherwise.
// No header goes out before the part is complete.
func (s *Server) servePart(w http.ResponseWriter, r *http.Request, st *live.Stream, file string) {
	ctx, cancel := s.holdContext(r.Context())
	defer cancel()
	e, err := st.AwaitPart(ctx, file)
	if err != nil {
		writeError(w, err)
		return
	}
	writeEntry(w, r, e, cacheImmutable)
}

// holdContext is the context of a held request: it ends when the client
// goes or the Server closes (errServerClosing).
func (s *Server) holdContext(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	stop := context.AfterFunc(s.ctx, func() { cancel(errServerClosing) })
	return ctx, func() {
		stop()
		cancel(nil)
	}
}

// errServerClosing ends held requests when the Server closes.
var errServerClosing = errors.New("packager closing")

// statusOf maps a serving error to its HTTP status; 0 means the client is
// gone and nothing is to be written.
func statusOf(err error) int {
	switch {
	case errors.Is(err, manifest.ErrBadDirective), errors.Is(err, manifest.ErrPartWithoutMSN), errors.Is(err, live.ErrTooFarAhead):
		return http.StatusBadRequest
	case errors.Is(err, live.ErrNoFile):
		return http.StatusNotFound
	case errors.Is(err, live.ErrHoldTimeout), errors.Is(err, errServerClosing):
		return http.StatusServiceUnavailable
	case errors.Is(err, context.Canceled):
		return 0
	}
	return http.StatusInternalServerError
}

// writeError answers err. Nothing about an error may be cached: the live
// edge moves on.
func writeError(w http.ResponseWriter, err error) {
	code := statusOf(err)
	switch code {
	case 0:
		return
	case http.StatusNotFound:
		notFound(w)
		return
	}
	w.Header().Set("Cache-Control", cacheNone)
	http.Error(w, strconv.Itoa(code)+" "+err.Error(), code)
}
