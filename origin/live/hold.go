package live

import (
	"context"
	"errors"
	"time"

	"github.com/edgecache/edgecache/manifest"
	"github.com/edgecache/edgecache/origin/media"
)

// Errors of held requests; the HTTP server maps them to statuses.
var (
	// ErrTooFarAhead: RFC 8216bis 6.2.5.2, an _HLS_msn more than two
	// segments, or an _HLS_part more than the Advance Part Limit, past the
	// last one is answered 400 at once (manifest.Edge.TooFar).
	ErrTooFarAhead = errors.New("delivery directive too far ahead of the live edge")
	// ErrHoldTimeout: RFC 8216bis 6.2.5.2, 503 after blocking for three
	// target durations.
	ErrHoldTimeout = errors.New("not available within three target durations")
	// ErrNoFile is a 404.
	ErrNoFile = errors.New("no such file")
)

// playlistView is what a blocking playlist request looks at: a rendition's
// rendered playlists and its live edge, taken together under the stream's
// lock.
type playlistView struct {
	full, delta *Entry
	// live: a publisher is on. Without one the playlist cannot grow before
	// a republish; delivery directives are then ignored, as RFC 8216bis
	// 6.2.5.2 has them ignored once a playlist has EXT-X-ENDLIST.
	live       bool
	target     time.Duration // EXT-X-TARGETDURATION
	partTarget time.Duration

	hasSegs      bool
	lastSeg      uint64 // MSN of the last complete segment
	lastSegParts int    // parts of that segment
	openSeq      uint64 // MSN of the segment in progress
	openParts    int    // its parts listed so far
}

// view returns kind's playlist view and the channel closed at the next
// change.
func (st *Stream) view(kind media.Kind) (playlistView, <-chan struct{}) {
	st.mu.Lock()
	defer st.mu.Unlock()
	r := st.rends[kind]
	v := playlistView{
		delta:      r.delta,
		live:       st.publishing,
		target:     time.Duration(st.targetLocked(r)) * time.Second,
		partTarget: st.cfg.Segment.PartTarget(),
	}
	v.full, _ = st.files.get(PlaylistName(kind))
	if n := len(r.segs); n > 0 {
		v.hasSegs, v.lastSeg, v.lastSegParts = true, r.segs[n-1].seq, len(r.segs[n-1].parts)
	}
	if open := st.openPartsLocked(r); len(open) > 0 {
		v.openSeq, v.openParts = r.open.seq, len(open)
	}
	return v, st.changed
}

// edge is where the playlist ends, for the rules of manifest.
func (v *playlistView) edge() manifest.Edge {
	e := manifest.Edge{Segments: v.hasSegs, LastMSN: v.lastSeg}
	switch {
	case v.openParts > 0:
		e.Parts, e.PartMSN, e.PartIndex = true, v.openSeq, v.openParts-1
	case v.hasSegs && v.lastSegParts > 0:
		e.Parts, e.PartMSN, e.PartIndex = true, v.lastSeg, v.lastSegParts-1
	}
	return e
}

func (v *playlistView) reaches(d manifest.Directives) bool { return v.edge().Reaches(d) }

func (v *playlistView) tooFar(d manifest.Directives) bool { return v.edge().TooFar(d, v.partTarget) }

// holdTimeout is how long a request is held: RFC 8216bis 6.2.5.2 answers
// 503 after blocking for three target durations.
func holdTimeout(target time.Duration) time.Duration { return 3 * target }

// Playlist is the answer to a media playlist request.
type Playlist struct {
	// Entry is the playlist to serve: the delta update when one was asked
	// for (_HLS_skip) and there is one, else the whole playlist.
	Entry *Entry
	// Target is EXT-X-TARGETDURATION.
	Target time.Duration
	// Blocked: the request was a blocking reload of a live playlist, whose
	// answer stays true "or later" (RFC 8216bis appendix B).
	Blocked bool
}

// AwaitPlaylist answers a request for kind's media playlist with delivery
// directives d (RFC 8216bis 6.2.5): _HLS_msn/_HLS_part hold it until the
// playlist has that segment or part or later, for at most three target
// durations; _HLS_skip selects the Playlist Delta Update. Without _HLS_msn,
// or without a publisher, it answers at once.
func (st *Stream) AwaitPlaylist(ctx context.Context, kind media.Kind, d manifest.Directives) (Playlist, error) {
	v, err := st.awaitPlaylist(ctx, kind, d)
	if err != nil {
		return Playlist{}, err
	}
	p := Playlist{Entry: v.full, Target: v.target, Blocked: d.Block && v.live}
	if d.Skip != "" && v.delta != nil {
		p.Entry = v.delta
	}
	return p, nil
}

func (st *Stream) awaitPlaylist(ctx context.Context, kind media.Kind, d manifest.Directives) (playlistView, error) {
	v, changed := st.view(kind)
	if v.full == nil {
		return v, ErrNoFile
	}
	if !d.Block || !v.live {
		return v, nil
	}
	if v.tooFar(d) {
		return v, ErrTooFarAhead
	}
	if v.reaches(d) {
		return v, nil
	}
	held := st.m.held.WithLabelValues("playlist")
	held.Inc()
	defer held.Dec()
	ctx, cancel := context.WithTimeoutCause(ctx, holdTimeout(v.target), ErrHoldTimeout)
	defer cancel()
	for {
		select {
		case <-changed:
		case <-ctx.Done():
			return v, context.Cause(ctx)
		}
		v, changed = st.view(kind)
		switch {
		case !v.live, v.reaches(d):
			return v, nil
		case v.tooFar(d):
			return v, ErrTooFarAhead
		}
	}
}

// partState looks up part name (kind k, segment seq, index i). When it is
// not there, a request may wait only for the next part, the one the
// preload hint names, of a stream with a publisher; for anything else the
// answer is ErrNoFile (RFC 8216bis 6.2.6: 404 for what is neither there
// nor hinted).
func (st *Stream) partState(name string, k media.Kind, seq uint64, i int) (e *Entry, target time.Duration, changed <-chan struct{}, err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if e, ok := st.files.get(name); ok {
		return e, 0, nil, nil
	}
	r := st.rends[k]
	if nseq, ni, ok := st.nextPartLocked(r); !ok || nseq != seq || ni != i {
		return nil, 0, nil, ErrNoFile
	}
	return nil, time.Duration(st.targetLocked(r)) * time.Second, st.changed, nil
}

// AwaitPart returns part name once it is complete: a request for the
// preload hint is held until the part exists whole (RFC 8216bis 6.2.6), for
// at most three target durations. It is ErrNoFile when name is not a part
// that exists or is next, or when the part it waited for will not come
// (its segment ended with fewer parts, or the publisher left).
func (st *Stream) AwaitPart(ctx context.Context, name string) (*Entry, error) {
	k, seq, i, ok := st.parsePartName(name)
	if !ok {
		return nil, ErrNoFile
	}
	e, target, changed, err := st.partState(name, k, seq, i)
	if e != nil || err != nil {
		return e, err
	}
	held := st.m.held.WithLabelValues("part")
	held.Inc()
	defer held.Dec()
	ctx, cancel := context.WithTimeoutCause(ctx, holdTimeout(target), ErrHoldTimeout)
	defer cancel()
	for e == nil && err == nil {
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
		e, _, changed, err = st.partState(name, k, seq, i)
	}
	return e, err
}
