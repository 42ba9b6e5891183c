package viewer

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/Eyevinn/hls-m3u8/m3u8"

	"github.com/edgecache/edgecache/manifest"
)

// hlsVariant is one EXT-X-STREAM-INF of a multivariant playlist.
type hlsVariant struct {
	uri       *url.URL
	bandwidth int64
}

// hlsVariants lists the playable variants of a multivariant playlist in
// document order: EXT-X-STREAM-INF entries, not I-frame playlists and not
// EXT-X-MEDIA renditions (a viewer here plays one variant stream, muxed
// or video-only, and does not fetch alternate audio).
//
// manifest.ParseHLS checks the playlist and lists URIs but not
// BANDWIDTH, so hls-m3u8 is asked for that, behind a recover: the
// manifest package documents inputs that make it panic.
func hlsVariants(data []byte, base *url.URL) ([]hlsVariant, error) {
	st, err := manifest.ParseHLS(data)
	if err != nil {
		return nil, fmt.Errorf("variants: %w", err)
	}
	if !st.Multivariant {
		return nil, fmt.Errorf("variants: not a multivariant playlist: %w", manifest.ErrMalformed)
	}
	var pl m3u8.Playlist
	err = recovered(func() (err error) {
		pl, _, err = m3u8.Decode(*bytes.NewBuffer(data), false)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("variants: hls-m3u8: %w", err)
	}
	mp, ok := pl.(*m3u8.MasterPlaylist)
	if !ok {
		return nil, fmt.Errorf("variants: hls-m3u8 did not see a multivariant playlist: %w", manifest.ErrMalformed)
	}
	var out []hlsVariant
	for _, v := range mp.Variants {
		if v == nil || v.Iframe || v.URI == "" {
			continue
		}
		ref, err := url.Parse(v.URI)
		if err != nil {
			return nil, fmt.Errorf("variants: URI %q: %w", v.URI, err)
		}
		out = append(out, hlsVariant{uri: base.ResolveReference(ref), bandwidth: int64(v.Bandwidth)})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("variants: no EXT-X-STREAM-INF: %w", ErrRendition)
	}
	return out, nil
}

// recovered runs a third-party decoder and turns a panic into an error.
func recovered(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decoder panicked: %v: %w", r, manifest.ErrMalformed)
		}
	}()
	return fn()
}

// hlsStartIndex is where a viewer joining a live playlist starts: RFC
// 8216bis 6.3.3, the last segment that starts at least three target
// durations (or HOLD-BACK, when the server gives one) from the end of the
// playlist. A playlist that has ended is played from its start.
func hlsStartIndex(st *manifest.HLSState) int {
	if st.EndList || st.PlaylistType == "VOD" {
		return 0
	}
	hold := 3 * st.TargetDuration
	if hb := st.ServerControl.HoldBack; hb > hold {
		hold = hb
	}
	var sum time.Duration
	for i := len(st.Segments) - 1; i >= 0; i-- {
		sum += st.Segments[i].Duration
		if sum >= hold {
			return i
		}
	}
	return 0
}

// hlsSig is what tells a reloaded playlist from the previous one.
type hlsSig struct {
	last, lastPartMSN uint64
	lastPart, parts   int
	endList           bool
}

func sigOf(st *manifest.HLSState) hlsSig {
	s := hlsSig{endList: st.EndList, parts: len(st.Parts), lastPart: -1}
	s.last, _ = st.LastMSN()
	if m, p, ok := st.LastPart(); ok {
		s.lastPartMSN, s.lastPart = m, p
	}
	return s
}

// hlsFollow follows one media playlist for one viewer.
type hlsFollow struct {
	v       *viewer
	key     int      // rendition, for the sequence-lag tracker
	url     *url.URL // the media playlist, as requested
	base    *url.URL // the media playlist after redirects: URIs resolve against it
	started bool
	next    uint64 // MSN of the next segment to fetch
	sig     hlsSig
	haveSig bool
	maxLast uint64 // newest MSN any load listed
	haveMax bool
	ranger  byteRanger
}

// followHLS plays an HLS stream: the multivariant playlist if there is
// one, then one variant.
func (v *viewer) followHLS(ctx context.Context) error {
	u := v.rs.target
	st, resp, err := v.loadHLS(ctx, u, false)
	if err != nil {
		return err
	}
	key := 0
	if st.Multivariant {
		vars, err := hlsVariants(resp.body, resp.url)
		if err != nil {
			return err
		}
		bws := make([]int64, len(vars))
		for i, x := range vars {
			bws[i] = x.bandwidth
		}
		if key, err = v.rs.policy.choose(bws, v.rng); err != nil {
			return err
		}
		u, st, resp = vars[key].uri, nil, nil
	}
	v.rs.rec.chose(u.Path)
	f := &hlsFollow{v: v, key: key, url: u, base: u}
	if resp != nil {
		f.base = resp.url
	}
	if v.rs.cfg.LLHLS {
		return f.runLL(ctx, st)
	}
	return f.run(ctx, st)
}

// loadHLS fetches and parses a playlist, retrying until it gets one or
// ctx ends. media says it is a media playlist, whose Age is recorded.
func (v *viewer) loadHLS(ctx context.Context, u *url.URL, media bool) (*manifest.HLSState, *response, error) {
	for {
		r, err := v.fetch.get(ctx, u, ClassPlaylist, getOpts{keep: true})
		if err == nil {
			if media {
				v.recordAge(r)
			}
			st, perr := v.rs.parseHLS(r.body)
			if perr == nil {
				return st, r, nil
			}
			err = perr
			if v.log.Enabled(ctx, slog.LevelDebug) {
				v.log.Debug("bad playlist", "url", u.String(), "err", err)
			}
		}
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		v.sync(time.Now())
		if err := sleepUntil(ctx, time.Now().Add(v.retryDelay())); err != nil {
			return nil, nil, err
		}
	}
}

// run is the classic (not low-latency) loop, RFC 8216bis 6.3.4: fetch
// what is new, then reload one target duration after the last load began
// if the playlist changed, half of one if it did not.
func (f *hlsFollow) run(ctx context.Context, st *manifest.HLSState) error {
	v := f.v
	for {
		loadStart := time.Now()
		if st == nil {
			var err error
			var r *response
			if st, r, err = v.loadHLS(ctx, f.url, true); err != nil {
				return err
			}
			f.base = r.url
		}
		changed := f.observe(st)
		if err := f.fetchNew(ctx, st); err != nil {
			return err
		}
		if st.EndList {
			return v.drain(ctx)
		}
		wait := st.TargetDuration
		if !changed {
			wait /= 2
		}
		st = nil
		if err := sleepUntil(ctx, loadStart.Add(max(wait, minReload))); err != nil {
			return err
		}
	}
}

// minReload keeps a broken playlist (target duration 0) from turning a
// viewer into a busy loop.
const minReload = 50 * time.Millisecond

// observe notes a newly loaded playlist: whether it changed, where to
// start on the first load, and the sequence lag.
func (f *hlsFollow) observe(st *manifest.HLSState) (changed bool) {
	sig := sigOf(st)
	changed = !f.haveSig || sig != f.sig
	f.sig, f.haveSig = sig, true
	if !f.started && len(st.Segments) > 0 {
		f.next = st.Segments[hlsStartIndex(st)].MSN
		f.started = true
	}
	if last, ok := st.LastMSN(); ok {
		f.v.observeSeq(f.key, int64(last))
		if f.haveMax && last < f.maxLast {
			f.v.rs.rec.backwards.Add(1)
		}
		if !f.haveMax || last > f.maxLast {
			f.maxLast, f.haveMax = last, true
		}
	}
	return changed
}

// fetchNew downloads, in order, every listed segment from f.next on, and
// the init segments first.
func (f *hlsFollow) fetchNew(ctx context.Context, st *manifest.HLSState) error {
	v := f.v
	if len(st.Segments) == 0 || !f.started {
		return nil
	}
	if first := st.Segments[0].MSN; f.next < first {
		// Fell out of the window: those segments are gone for good.
		v.rs.rec.skipped.Add(int64(first - f.next))
		f.next = first
	}
	if err := v.fetchInits(ctx, f.base, st.Maps); err != nil {
		return err
	}
	var prevWall time.Time
	var prevDur time.Duration
	for _, s := range st.Segments {
		// RFC 8216bis 4.4.4.6: a date applies to its segment; later
		// segments follow on unless there is a discontinuity.
		wall := s.ProgramDateTime
		if wall.IsZero() && !prevWall.IsZero() && !s.Discontinuity {
			wall = prevWall.Add(prevDur)
		}
		prevWall, prevDur = wall, s.Duration
		// Ranges without an offset follow the previous one, so every
		// listed segment goes through the ranger, fetched or not.
		rangeHdr, rerr := f.ranger.header(s.URI, s.ByteRange)
		if s.MSN < f.next {
			continue
		}
		f.next = s.MSN + 1
		if s.Gap || rerr != nil {
			v.rs.rec.skipped.Add(1)
			continue
		}
		u, err := f.base.Parse(s.URI)
		if err != nil {
			v.rs.rec.skipped.Add(1)
			continue
		}
		if err := v.fetchMedia(ctx, u, ClassSegment, rangeHdr, s.Duration, wall); err != nil {
			return err
		}
	}
	return nil
}
