package viewer

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"

	"github.com/zencoder/go-dash/v3/mpd"

	"github.com/edgecache/edgecache/manifest"
)

// dashDoc is what a viewer needs from one MPD.
type dashDoc struct {
	st  *manifest.DASHState
	spd time.Duration // MPD@suggestedPresentationDelay, 0 if absent
	// renditions are the Representations of the last Period (where the
	// live edge is) that a viewer may play: those of video
	// AdaptationSets, or all of them when none is marked video. Document
	// order; the index is the rendition key.
	renditions []*dashRendition
}

// dashRendition is one Representation with the SegmentTemplate that
// applies to it.
type dashRendition struct {
	id          string
	bandwidth   int64
	periodStart time.Duration // since availabilityStartTime
	tmpl        manifest.DASHTemplate
	base        *url.URL
}

// dashSeg is one media segment of a rendition. start and dur are in
// presentation time since availabilityStartTime.
type dashSeg struct {
	number, time uint64
	start, dur   time.Duration
}

// parseMPD reads an MPD. manifest.ParseDASH gives the templates with
// resolved timelines; go-dash, behind a recover, gives what it does not
// model: suggestedPresentationDelay, Period@start, Representation ids,
// bandwidths and content types, BaseURLs by level. AdaptationSet-level
// BaseURL is not seen (go-dash drops it), nor SegmentBase/SegmentList
// addressing, nor inheritance between template levels: the most specific
// SegmentTemplate is used whole.
func parseMPD(data []byte, mpdURL *url.URL) (*dashDoc, error) {
	st, err := manifest.ParseDASH(data)
	if err != nil {
		return nil, fmt.Errorf("mpd: %w", err)
	}
	var m *mpd.MPD
	err = recovered(func() (err error) {
		m, err = mpd.Read(bytes.NewReader(data))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("mpd: go-dash: %w", err)
	}
	doc := &dashDoc{st: st}
	if m.SuggestedPresentationDelay != nil {
		doc.spd = time.Duration(*m.SuggestedPresentationDelay)
	}
	if st.Dynamic && st.AvailabilityStartTime.IsZero() {
		return nil, fmt.Errorf("mpd: dynamic without availabilityStartTime: %w", ErrUnsupported)
	}
	base := mpdURL
	if len(m.BaseURL) > 0 {
		base = resolve(base, m.BaseURL[0])
	}
	// Walk the tree in the order manifest.ParseDASH appends templates
	// (Period, then its AdaptationSets, each followed by its
	// Representations), so that the n-th SegmentTemplate seen here is
	// st.Templates[n].
	next := 0
	take := func(t *mpd.SegmentTemplate) *manifest.DASHTemplate {
		if t == nil || next >= len(st.Templates) {
			return nil
		}
		next++
		return &st.Templates[next-1]
	}
	var start, prevDur time.Duration
	for pi, p := range m.Periods {
		if p == nil {
			continue
		}
		if p.Start != nil {
			start = time.Duration(*p.Start)
		} else if pi > 0 {
			start += prevDur
		}
		prevDur = time.Duration(p.Duration)
		last := pi == len(m.Periods)-1
		pBase := base
		if len(p.BaseURL) > 0 {
			pBase = resolve(base, p.BaseURL[0])
		}
		pTmpl := take(p.SegmentTemplate)
		var all, video []*dashRendition
		for _, as := range p.AdaptationSets {
			if as == nil {
				continue
			}
			asTmpl := take(as.SegmentTemplate)
			if asTmpl == nil {
				asTmpl = pTmpl
			}
			for _, r := range as.Representations {
				if r == nil {
					continue
				}
				tmpl := take(r.SegmentTemplate)
				if tmpl == nil {
					tmpl = asTmpl
				}
				if !last || tmpl == nil {
					continue
				}
				rd := &dashRendition{id: deref(r.ID), periodStart: start, tmpl: *tmpl, base: pBase}
				if r.Bandwidth != nil {
					rd.bandwidth = *r.Bandwidth
				}
				if len(r.BaseURL) > 0 {
					rd.base = resolve(pBase, r.BaseURL[0])
				}
				all = append(all, rd)
				if isVideo(as, r) {
					video = append(video, rd)
				}
			}
		}
		if last {
			doc.renditions = video
			if len(video) == 0 {
				doc.renditions = all
			}
		}
	}
	if len(doc.renditions) == 0 {
		return nil, fmt.Errorf("mpd: no Representation with a SegmentTemplate in the last Period: %w", ErrUnsupported)
	}
	for _, r := range doc.renditions {
		if !r.durationsUsable() {
			return nil, fmt.Errorf("mpd: Representation %q: segments shorter than %v: %w", r.id, minSegment, ErrUnsupported)
		}
		switch {
		case r.tmpl.Media == "":
			return nil, fmt.Errorf("mpd: Representation %q: SegmentTemplate without @media: %w", r.id, ErrUnsupported)
		case len(r.tmpl.Timeline) == 0 && r.tmpl.Duration == 0:
			return nil, fmt.Errorf("mpd: Representation %q: SegmentTemplate with neither a timeline nor @duration: %w", r.id, ErrUnsupported)
		case !st.Dynamic && len(r.tmpl.Timeline) == 0:
			return nil, fmt.Errorf("mpd: static MPD without SegmentTimeline: %w", ErrUnsupported)
		}
	}
	return doc, nil
}

// minSegment is the shortest segment followed. Shorter ones are not
// media anyone streams, and would round to zero in time.Duration
// arithmetic.
const minSegment = time.Millisecond

func (r *dashRendition) durationsUsable() bool {
	if r.tmpl.Timescale == 0 {
		return false
	}
	if len(r.tmpl.Timeline) == 0 {
		return ticks(int64(r.tmpl.Duration), r.tmpl.Timescale) >= minSegment
	}
	for _, e := range r.tmpl.Timeline {
		if e.D > math.MaxInt64 || ticks(int64(e.D), r.tmpl.Timescale) < minSegment {
			return false
		}
	}
	return true
}

func isVideo(as *mpd.AdaptationSet, r *mpd.Representation) bool {
	return deref(as.ContentType) == "video" ||
		strings.HasPrefix(deref(as.MimeType), "video/") ||
		strings.HasPrefix(deref(r.MimeType), "video/")
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func resolve(base *url.URL, ref string) *url.URL {
	u, err := base.Parse(strings.TrimSpace(ref))
	if err != nil {
		return base
	}
	return u
}

// avail is the presentation time up to which segments are complete at
// now: everything, for a static MPD.
func (d *dashDoc) avail(now time.Time) time.Duration {
	if !d.st.Dynamic {
		return math.MaxInt64
	}
	return now.Sub(d.st.AvailabilityStartTime)
}

// reloadEvery is how often the MPD is fetched again: every
// minimumUpdatePeriod, or, for a dynamic MPD without one, every segment
// duration. A static MPD is never reloaded.
func (d *dashDoc) reloadEvery() time.Duration {
	switch {
	case !d.st.Dynamic:
		return math.MaxInt64
	case d.st.MinimumUpdatePeriod > 0:
		return max(d.st.MinimumUpdatePeriod, minReload)
	}
	if s, ok := d.renditions[0].newest(d.avail(time.Now())); ok {
		return max(s.dur, minReload)
	}
	return time.Second
}

// ticks converts n timescale units to a duration.
func ticks(n int64, timescale uint64) time.Duration {
	return time.Duration(float64(n) * 1e9 / float64(timescale))
}

// pt is the presentation time since availabilityStartTime of media time t.
func (r *dashRendition) pt(t uint64) time.Duration {
	return r.periodStart + ticks(int64(t)-int64(r.tmpl.PresentationTimeOffset), r.tmpl.Timescale)
}

// segments returns, in order, up to limit segments whose middle is after
// after and that are complete at avail (see dashDoc.avail).
func (r *dashRendition) segments(avail, after time.Duration, limit int) []dashSeg {
	var out []dashSeg
	r.walk(avail, after, func(s dashSeg) bool {
		out = append(out, s)
		return len(out) < limit
	})
	return out
}

// newest returns the newest complete segment at avail.
func (r *dashRendition) newest(avail time.Duration) (dashSeg, bool) {
	if len(r.tmpl.Timeline) == 0 {
		d := r.tmpl.Duration
		k := int64(math.Floor((avail-r.periodStart).Seconds()*float64(r.tmpl.Timescale)/float64(d))) - 1
		if k < 0 {
			return dashSeg{}, false
		}
		return r.numbered(uint64(k)), true
	}
	num := r.tmpl.StartNumber
	var last dashSeg
	found := false
	for i, e := range r.tmpl.Timeline {
		n := r.entryCount(i, avail)
		if n == 0 {
			continue
		}
		t := e.T + (n-1)*e.D
		last = dashSeg{number: num + n - 1, time: t, start: r.pt(t), dur: ticks(int64(e.D), r.tmpl.Timescale)}
		found = true
		num += n
	}
	return last, found
}

// entryCount is how many segments timeline entry i stands for at avail.
func (r *dashRendition) entryCount(i int, avail time.Duration) uint64 {
	tl := r.tmpl.Timeline
	e := tl[i]
	switch {
	case e.D == 0:
		return 0
	case e.R >= 0:
		return uint64(e.R) + 1
	case i+1 < len(tl): // until the next S
		if tl[i+1].T > e.T {
			return (tl[i+1].T - e.T + e.D - 1) / e.D
		}
		return 0
	case avail == math.MaxInt64: // open-ended in a static MPD: once
		return 1
	}
	// Open-ended: until now (5.3.9.6: until the end of the Period).
	if end := r.pt(e.T + e.D); end <= avail {
		return uint64((avail-end)/ticks(int64(e.D), r.tmpl.Timescale)) + 1
	}
	return 0
}

// numbered is segment k (from 0) of a template with @duration.
func (r *dashRendition) numbered(k uint64) dashSeg {
	d := r.tmpl.Duration
	return dashSeg{
		number: r.tmpl.StartNumber + k,
		time:   r.tmpl.PresentationTimeOffset + k*d,
		start:  r.periodStart + ticks(int64(k*d), r.tmpl.Timescale),
		dur:    ticks(int64(d), r.tmpl.Timescale),
	}
}

// walk calls yield for each segment, in order, whose middle is after
// after and that is complete at avail (for @duration templates and
// open-ended timelines; a listed timeline entry is taken as complete),
// until yield returns false.
func (r *dashRendition) walk(avail, after time.Duration, yield func(dashSeg) bool) {
	mid := func(s dashSeg) time.Duration { return s.start + s.dur/2 }
	if len(r.tmpl.Timeline) == 0 {
		d := r.tmpl.Duration
		if d == 0 {
			return
		}
		dd := ticks(int64(d), r.tmpl.Timescale)
		k := int64(0)
		if after > r.periodStart {
			k = int64((after-r.periodStart-dd/2)/dd) - 1
		}
		for k = max(k, 0); ; k++ {
			s := r.numbered(uint64(k))
			if s.start+s.dur > avail {
				return
			}
			if mid(s) > after && !yield(s) {
				return
			}
		}
	}
	num := r.tmpl.StartNumber
	for i, e := range r.tmpl.Timeline {
		count := r.entryCount(i, avail)
		// Skip the segments before after in one step, then settle the
		// rounding one segment at a time.
		dd := ticks(int64(e.D), r.tmpl.Timescale)
		k := uint64(0)
		if s0 := r.pt(e.T); after > s0 && dd > 0 {
			k = min(uint64((after-s0)/dd), count)
			k -= min(k, 1)
		}
		for ; k < count; k++ {
			t := e.T + k*e.D
			s := dashSeg{number: num + k, time: t, start: r.pt(t), dur: dd}
			// Listed segments are taken as published whatever the clock
			// says: a packager's media time drifts from the wall clock,
			// and a player trusts the timeline. Only an open-ended S
			// (r=-1) is cut by the clock, in count above.
			if mid(s) > after && !yield(s) {
				return
			}
		}
		num += count
	}
}

// newestSeq is the newest complete segment as a count of segment
// durations since availabilityStartTime, comparable between the edge's
// MPD and the origin's whatever the Period. Only timelines list what the
// packager has published; @duration templates are computed from the
// clock, so they have no staleness to measure.
func (r *dashRendition) newestSeq(d *dashDoc, now time.Time) (int64, bool) {
	if len(r.tmpl.Timeline) == 0 {
		return 0, false
	}
	s, ok := r.newest(d.avail(now))
	if !ok || s.dur <= 0 {
		return 0, false
	}
	return int64(math.Round(float64(s.start+s.dur) / float64(s.dur))), true
}

// startAfter is where a joining viewer starts: segments whose middle is
// after it. For a live MPD that is the segment holding now -
// suggestedPresentationDelay, or, without one, three segment durations
// back from the live edge; never later than the newest segment. ok is
// false when no segment is complete yet.
func (d *dashDoc) startAfter(r *dashRendition, now time.Time) (time.Duration, bool) {
	if !d.st.Dynamic {
		return math.MinInt64, true
	}
	avail := d.avail(now)
	edge, ok := r.newest(avail)
	if !ok {
		return 0, false
	}
	target := edge.start - 2*edge.dur
	if d.spd > 0 {
		target = min(avail-d.spd, edge.start)
	}
	// Segments ending after target: the one holding it and those after.
	return target - edge.dur/2, true
}

// nextAvailable is when the first segment after after will be complete,
// for @duration templates; ok is false for timelines, whose new segments
// are learnt from the MPD.
func (d *dashDoc) nextAvailable(r *dashRendition, after time.Duration) (time.Time, bool) {
	if len(r.tmpl.Timeline) > 0 || !d.st.Dynamic {
		return time.Time{}, false
	}
	dd := ticks(int64(r.tmpl.Duration), r.tmpl.Timescale)
	k := int64(0)
	if after > r.periodStart {
		k = int64((after - r.periodStart) / dd)
	}
	for k = max(k-1, 0); ; k++ {
		s := r.numbered(uint64(k))
		if s.start+s.dur/2 > after {
			return d.st.AvailabilityStartTime.Add(s.start + s.dur), true
		}
	}
}

// mediaURL is the URL of segment s.
func (r *dashRendition) mediaURL(s dashSeg) (*url.URL, error) {
	p, err := expandTemplate(r.tmpl.Media, templateVars{repID: r.id, number: s.number, bandwidth: r.bandwidth, time: s.time})
	if err != nil {
		return nil, err
	}
	return r.base.Parse(p)
}

// initURL is the URL of the init segment, nil when there is none.
func (r *dashRendition) initURL() (*url.URL, error) {
	if r.tmpl.Initialization == "" {
		return nil, nil
	}
	p, err := expandTemplate(r.tmpl.Initialization, templateVars{repID: r.id, bandwidth: r.bandwidth})
	if err != nil {
		return nil, err
	}
	return r.base.Parse(p)
}

// followDASH plays a DASH stream: one Representation, its init segment
// once, then every segment in order, reloading the MPD every
// minimumUpdatePeriod.
func (v *viewer) followDASH(ctx context.Context) error {
	loadStart := time.Now()
	doc, err := v.loadMPD(ctx)
	if err != nil {
		return err
	}
	bws := make([]int64, len(doc.renditions))
	for i, r := range doc.renditions {
		bws[i] = r.bandwidth
	}
	key, err := v.rs.policy.choose(bws, v.rng)
	if err != nil {
		return err
	}
	rd := doc.renditions[key]
	v.rs.rec.chose(rd.id)
	var after time.Duration
	started := false
	for {
		now := time.Now()
		if seq, ok := rd.newestSeq(doc, now); ok {
			v.observeSeq(key, seq)
		}
		if !started {
			after, started = doc.startAfter(rd, now)
		}
		more := false
		if started {
			if iu, err := rd.initURL(); err == nil && iu != nil {
				if err := v.fetchInits(ctx, iu, []string{iu.String()}); err != nil {
					return err
				}
			}
			segs := rd.segments(doc.avail(now), after, 16)
			more = len(segs) == 16
			for _, s := range segs {
				after = s.start + s.dur/2
				u, err := rd.mediaURL(s)
				if err != nil {
					v.rs.rec.skipped.Add(1)
					continue
				}
				wall := doc.st.AvailabilityStartTime.Add(s.start)
				if err := v.fetchMedia(ctx, u, ClassSegment, "", s.dur, wall); err != nil {
					return err
				}
			}
			if !doc.st.Dynamic && !more {
				return v.drain(ctx)
			}
		}
		if more {
			continue
		}
		reloadAt := loadStart.Add(doc.reloadEvery())
		wake := reloadAt
		if t, ok := doc.nextAvailable(rd, after); ok && t.Before(wake) {
			wake = t
		}
		if err := sleepUntil(ctx, wake); err != nil {
			return err
		}
		if time.Now().Before(reloadAt) {
			continue
		}
		loadStart = time.Now()
		if doc, err = v.loadMPD(ctx); err != nil {
			return err
		}
		rd = doc.renditions[min(key, len(doc.renditions)-1)]
	}
}

// loadMPD fetches and parses the MPD, retrying until it gets one or ctx
// ends.
func (v *viewer) loadMPD(ctx context.Context) (*dashDoc, error) {
	for {
		r, err := v.fetch.get(ctx, v.rs.target, ClassPlaylist, getOpts{keep: true})
		if err == nil {
			v.recordAge(r)
			doc, perr := v.rs.parseMPD(r.body, r.url)
			if perr == nil {
				// ISO/IEC 23009-1 5.4.1: each update has a later publishTime.
				if pt := doc.st.PublishTime; !pt.IsZero() {
					if pt.Before(v.lastPublish) {
						v.rs.rec.backwards.Add(1)
					}
					if pt.After(v.lastPublish) {
						v.lastPublish = pt
					}
				}
				return doc, nil
			}
			err = perr
			v.log.Debug("bad mpd", "err", err)
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		v.sync(time.Now())
		if err := sleepUntil(ctx, time.Now().Add(v.retryDelay())); err != nil {
			return nil, err
		}
	}
}
