package viewer

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/edgecache/edgecache/manifest"
)

// partPos names a Partial Segment: Part Index idx of segment msn.
type partPos struct {
	msn uint64
	idx int
}

func (p partPos) less(q partPos) bool { return p.msn < q.msn || p.msn == q.msn && p.idx < q.idx }

// llState is the LL-HLS side of an hlsFollow.
type llState struct {
	want   partPos         // the next part to play
	hinted map[string]bool // part URIs fetched through a preload hint, not yet played
	ranger byteRanger      // for BYTERANGE parts
}

// runLL follows an LL-HLS playlist (RFC 8216bis 6.2.5, 6.3.3, 6.3.4):
// start PART-HOLD-BACK from the live edge, then loop on blocking
// reloads for the next part (_HLS_msn/_HLS_part), fetching every new part
// in order and the part a preload hint names before it is listed. The
// time the server holds a blocking request is recorded as hold time. A
// playlist without CAN-BLOCK-RELOAD or parts is followed the classic way.
func (f *hlsFollow) runLL(ctx context.Context, st *manifest.HLSState) error {
	v := f.v
	if st == nil {
		var err error
		var r *response
		if st, r, err = v.loadHLS(ctx, f.url, true); err != nil {
			return err
		}
		f.base = r.url
	}
	if !st.ServerControl.CanBlockReload || st.PartTarget <= 0 || len(st.Parts) == 0 || st.EndList {
		v.log.Debug("playlist is not low-latency; following it the classic way", "url", f.url.String())
		return f.run(ctx, st)
	}
	ll := &llState{want: llStart(st), hinted: make(map[string]bool)}
	extra := 3 * st.TargetDuration // RFC 8216bis 6.2.5.2: the server answers within three
	for {
		f.observe(st)
		if err := v.fetchInits(ctx, f.base, st.Maps); err != nil {
			return err
		}
		before := ll.want
		if err := f.fetchParts(ctx, st, ll); err != nil {
			return err
		}
		if st.EndList {
			return v.drain(ctx)
		}
		progressed := before != ll.want
		if hinted, err := f.fetchHint(ctx, st, ll, extra); err != nil {
			return err
		} else if hinted {
			progressed = true
		}
		if !progressed {
			// A server that answers a blocking reload at once with
			// nothing new must not turn the viewer into a busy loop.
			if err := sleepUntil(ctx, time.Now().Add(max(st.PartTarget/2, minReload))); err != nil {
				return err
			}
		}
		next, err := f.blockingReload(ctx, ll.want, extra)
		if err != nil {
			return err
		}
		st = next
	}
}

// llStart is where a viewer joins an LL-HLS playlist: the part that
// starts at least PART-HOLD-BACK (three part targets when absent) from
// the end, moved back to the nearest INDEPENDENT part so that playback can
// start there.
func llStart(st *manifest.HLSState) partPos {
	hold := st.ServerControl.PartHoldBack
	if hold <= 0 {
		hold = 3 * st.PartTarget
	}
	parts := st.Parts
	i := 0
	var sum time.Duration
	for j := len(parts) - 1; j >= 0; j-- {
		sum += parts[j].Duration
		if sum >= hold {
			i = j
			break
		}
	}
	for k := i; k >= 0; k-- {
		if parts[k].Independent {
			i = k
			break
		}
	}
	return partPos{parts[i].MSN, parts[i].Index}
}

// fetchParts plays every listed part from ll.want on. When the wanted
// part is no longer listed (the viewer fell behind the part window), it
// falls back to the whole segment if none of it was played, or skips the
// rest of it.
func (f *hlsFollow) fetchParts(ctx context.Context, st *manifest.HLSState, ll *llState) error {
	v := f.v
	walls := segmentWalls(st)
	if len(st.Parts) > 0 {
		for first := st.Parts[0]; ll.want.less(partPos{first.MSN, first.Index}); {
			if s, ok := segmentOf(st, ll.want.msn); ok && ll.want.idx == 0 {
				u, err := f.base.Parse(s.URI)
				if err == nil {
					if err := v.fetchMedia(ctx, u, ClassSegment, "", s.Duration, walls[s.MSN]); err != nil {
						return err
					}
				}
			} else {
				v.rs.rec.skipped.Add(1)
			}
			ll.want = partPos{ll.want.msn + 1, 0}
			if st.Parts[0].MSN < ll.want.msn {
				break
			}
		}
	}
	var off time.Duration
	cur := uint64(0)
	for i, p := range st.Parts {
		if i == 0 || p.MSN != cur {
			cur, off = p.MSN, 0
		}
		wall := time.Time{}
		if w, ok := walls[p.MSN]; ok && !w.IsZero() {
			wall = w.Add(off)
		}
		off += p.Duration
		rangeHdr, rerr := ll.ranger.header(p.URI, p.ByteRange)
		pos := partPos{p.MSN, p.Index}
		if pos.less(ll.want) {
			continue
		}
		ll.want = nextPart(st, pos)
		u, err := f.base.Parse(p.URI)
		if err != nil || rerr != nil || p.Gap {
			v.rs.rec.skipped.Add(1)
			continue
		}
		if ll.hinted[u.String()] && rangeHdr == "" {
			// Fetched already through its preload hint: it only needed
			// to be listed to be known complete, with its duration.
			delete(ll.hinted, u.String())
			now := time.Now()
			v.rs.rec.segments.Add(1)
			v.buf.Add(now, p.Duration, wall)
			v.sync(now)
			continue
		}
		if err := v.fetchMedia(ctx, u, ClassPart, rangeHdr, p.Duration, wall); err != nil {
			return err
		}
	}
	return nil
}

// nextPart is the part after p: the next one of the same segment, or the
// first of the next segment once p's segment is complete and p is its
// last listed part.
func nextPart(st *manifest.HLSState, p partPos) partPos {
	for _, q := range st.Parts {
		if q.MSN == p.msn && q.Index == p.idx+1 {
			return partPos{p.msn, p.idx + 1}
		}
	}
	if last, ok := st.LastMSN(); ok && last >= p.msn {
		return partPos{p.msn + 1, 0}
	}
	return partPos{p.msn, p.idx + 1}
}

func segmentOf(st *manifest.HLSState, msn uint64) (manifest.HLSSegment, bool) {
	for _, s := range st.Segments {
		if s.MSN == msn {
			return s, true
		}
	}
	return manifest.HLSSegment{}, false
}

// segmentWalls maps each MSN to the wall-clock time of its start:
// EXT-X-PROGRAM-DATE-TIME, carried forward over segments without one and
// onto the segment in progress, whose parts have no date of their own.
func segmentWalls(st *manifest.HLSState) map[uint64]time.Time {
	walls := make(map[uint64]time.Time, len(st.Segments)+1)
	var prev time.Time
	var prevDur time.Duration
	for _, s := range st.Segments {
		w := s.ProgramDateTime
		if w.IsZero() && !prev.IsZero() && !s.Discontinuity {
			w = prev.Add(prevDur)
		}
		walls[s.MSN] = w
		prev, prevDur = w, s.Duration
	}
	if last, ok := st.LastMSN(); ok && !prev.IsZero() {
		walls[last+1] = prev.Add(prevDur)
	}
	return walls
}

// fetchHint fetches the part a PRELOAD-HINT names when it is the one the
// viewer wants next. The server holds it until the part is complete
// (6.2.6), so it is recorded as hold time. Byte-range hints are left to
// the playlist.
func (f *hlsFollow) fetchHint(ctx context.Context, st *manifest.HLSState, ll *llState, extra time.Duration) (bool, error) {
	for _, h := range st.PreloadHints {
		if h.Type != "PART" || h.ByteRangeStart != 0 || h.ByteRangeLength != 0 {
			continue
		}
		// The hint is the part after the last listed one.
		lm, li, ok := st.LastPart()
		if !ok || nextPart(st, partPos{lm, li}) != ll.want {
			return false, nil
		}
		u, err := f.base.Parse(h.URI)
		if err != nil || ll.hinted[u.String()] {
			return false, nil
		}
		if _, err := f.v.fetch.get(ctx, u, ClassPart, getOpts{blocking: true, extra: extra}); err != nil {
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			return false, nil
		}
		if len(ll.hinted) > 16 { // stale entries of parts never listed
			clear(ll.hinted)
		}
		ll.hinted[u.String()] = true
		return true, nil
	}
	return false, nil
}

// blockingReload asks for the playlist that holds part want
// (6.2.5.2), retrying on failure until ctx ends.
func (f *hlsFollow) blockingReload(ctx context.Context, want partPos, extra time.Duration) (*manifest.HLSState, error) {
	v := f.v
	u := *f.url
	q := u.Query()
	q.Set("_HLS_msn", strconv.FormatUint(want.msn, 10))
	q.Set("_HLS_part", strconv.Itoa(want.idx))
	u.RawQuery = q.Encode() // sorted, as 6.2.5 asks for cache friendliness
	for {
		r, err := v.fetch.get(ctx, &u, ClassPlaylist, getOpts{keep: true, blocking: true, extra: extra})
		if err == nil {
			v.recordAge(r)
			st, perr := v.rs.parseHLS(r.body)
			if perr == nil {
				f.base = r.url
				return st, nil
			}
			err = perr
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if v.log.Enabled(ctx, slog.LevelDebug) {
			v.log.Debug("blocking reload failed", "url", u.String(), "err", err)
		}
		v.sync(time.Now())
		if err := sleepUntil(ctx, time.Now().Add(v.retryDelay())); err != nil {
			return nil, err
		}
	}
}
