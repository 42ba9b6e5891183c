package origin

import (
	"context"
	"errors"
	"time"
)

// Errors of held requests; statusOf maps them to HTTP statuses.
var (
	// errTooFarAhead: RFC 8216bis 6.2.5.2, an _HLS_msn more than two
	// segments, or an _HLS_part more than the Advance Part Limit, past the
	// last one is answered 400 at once.
	errTooFarAhead = errors.New("delivery directive too far ahead of the live edge")
	// errHoldTimeout: RFC 8216bis 6.2.5.2, 503 after blocking for three
	// target durations.
	errHoldTimeout = errors.New("not available within three target durations")
	// errServerClosing ends held requests when the Server closes.
	errServerClosing = errors.New("packager closing")
	// errNoFile is a 404.
	errNoFile = errors.New("no such file")
)

// playlistView is what a blocking playlist request looks at: a rendition's
// rendered playlists and its live edge, taken together under the stream's
// lock.
type playlistView struct {
	full, delta *entry
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
func (st *Stream) view(kind trackKind) (playlistView, <-chan struct{}) {
	st.mu.Lock()
	defer st.mu.Unlock()
	r := st.rends[kind]
	v := playlistView{
		delta:      r.delta,
		live:       st.publishing,
		target:     time.Duration(st.targetLocked(r)) * time.Second,
		partTarget: st.cfg.Segment.partTarget(),
	}
	v.full, _ = st.files.get(playlistName(kind))
	if n := len(r.segs); n > 0 {
		v.hasSegs, v.lastSeg, v.lastSegParts = true, r.segs[n-1].seq, len(r.segs[n-1].parts)
	}
	if open := st.openPartsLocked(r); len(open) > 0 {
		v.openSeq, v.openParts = r.open.seq, len(open)
	}
	return v, st.changed
}

// reaches reports whether the playlist satisfies d (RFC 8216bis 6.2.5.2):
// it holds segment d.msn or a later one, or, with _HLS_part, part d.part
// of segment d.msn or anything later. A Part Index past the last part of
// a complete segment asks for part 0 of the next segment.
func (v *playlistView) reaches(d directives) bool {
	if !v.hasSegs {
		return false
	}
	if d.part < 0 {
		return v.lastSeg >= d.msn
	}
	if v.openParts > 0 && (v.openSeq > d.msn || v.openSeq == d.msn && int64(v.openParts) > d.part) {
		return true
	}
	if v.lastSeg != d.msn {
		return v.lastSeg > d.msn
	}
	return d.part < int64(v.lastSegParts)
}

// tooFar reports whether d asks for more than RFC 8216bis 6.2.5.2 lets a
// client wait for: an _HLS_msn more than two past the last segment (the
// one in progress, once it has a part), or an _HLS_part more than the
// Advance Part Limit past the last part. Parts of segments not yet begun
// are counted at their fewest, one each, so only a request that is
// certainly too far is refused.
func (v *playlistView) tooFar(d directives) bool {
	lastMSN, lastPart := v.lastSeg, int64(v.lastSegParts)-1
	if v.openParts > 0 {
		lastMSN, lastPart = v.openSeq, int64(v.openParts)-1
	}
	if d.msn > lastMSN && d.msn-lastMSN > 2 {
		return true
	}
	if d.part < 0 || d.msn < lastMSN {
		return false
	}
	ahead := d.part - lastPart
	if d.msn > lastMSN {
		// The segment in progress may end now; every later one has a part.
		ahead = int64(d.msn-lastMSN-1) + d.part + 1
	}
	return ahead > advancePartLimit(v.partTarget)
}

// holdTimeout is how long a request is held: RFC 8216bis 6.2.5.2 answers
// 503 after blocking for three target durations.
func holdTimeout(target time.Duration) time.Duration { return 3 * target }

// awaitPlaylist returns kind's playlist view once it satisfies d, holding
// the request for at most three target durations. Without _HLS_msn, or
// without a publisher, it returns at once.
func (st *Stream) awaitPlaylist(ctx context.Context, kind trackKind, d directives) (playlistView, error) {
	v, changed := st.view(kind)
	if v.full == nil {
		return v, errNoFile
	}
	if !d.block || !v.live {
		return v, nil
	}
	if v.tooFar(d) {
		return v, errTooFarAhead
	}
	if v.reaches(d) {
		return v, nil
	}
	held := st.m.held.WithLabelValues("playlist")
	held.Inc()
	defer held.Dec()
	ctx, cancel := context.WithTimeoutCause(ctx, holdTimeout(v.target), errHoldTimeout)
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
			return v, errTooFarAhead
		}
	}
}

// partState looks up part name (kind k, segment seq, index i). When it is
// not there, a request may wait only for the next part, the one the
// preload hint names, of a stream with a publisher; for anything else the
// answer is errNoFile (RFC 8216bis 6.2.6: 404 for what is neither there
// nor hinted).
func (st *Stream) partState(name string, k trackKind, seq uint64, i int) (e *entry, target time.Duration, changed <-chan struct{}, err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if e, ok := st.files.get(name); ok {
		return e, 0, nil, nil
	}
	r := st.rends[k]
	if nseq, ni, ok := st.nextPartLocked(r); !ok || nseq != seq || ni != i {
		return nil, 0, nil, errNoFile
	}
	return nil, time.Duration(st.targetLocked(r)) * time.Second, st.changed, nil
}

// awaitPart returns part name once it is complete: a request for the
// preload hint is held until the part exists whole (RFC 8216bis 6.2.6), for
// at most three target durations. It is errNoFile when name is not a part
// that exists or is next, or when the part it waited for will not come
// (its segment ended with fewer parts, or the publisher left).
func (st *Stream) awaitPart(ctx context.Context, name string) (*entry, error) {
	k, seq, i, ok := st.parsePartName(name)
	if !ok {
		return nil, errNoFile
	}
	e, target, changed, err := st.partState(name, k, seq, i)
	if e != nil || err != nil {
		return e, err
	}
	held := st.m.held.WithLabelValues("part")
	held.Inc()
	defer held.Dec()
	ctx, cancel := context.WithTimeoutCause(ctx, holdTimeout(target), errHoldTimeout)
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
