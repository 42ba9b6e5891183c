package live

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/Eyevinn/hls-m3u8/m3u8"

	"github.com/edgecache/edgecache/origin/media"
)

// Low-Latency HLS (RFC 8216bis): every CMAF fragment of a segment is also
// a Partial Segment with its own URL, TOKEN/KIND/MSN.INDEX.m4s next to the
// segment's TOKEN/KIND/MSN.m4s, published the moment it is complete. The
// segment is the concatenation of its parts: both are served from the one
// set of bytes the segmenter wrote.

// errNothingToSkip is returned for a delta update that would skip nothing.
var errNothingToSkip = errors.New("no segment old enough to skip")

// partMeta is one published part of a segment.
type partMeta struct {
	dur         uint64 // in the segment's timescale
	independent bool   // starts with a sync sample
}

func partMetas(ps []media.PartInfo) []partMeta {
	if len(ps) == 0 {
		return nil
	}
	out := make([]partMeta, len(ps))
	for i, p := range ps {
		out[i] = partMeta{dur: p.Dur, independent: p.Independent}
	}
	return out
}

// openSeg is the segment a rendition is producing, as far as its parts
// are published.
type openSeg struct {
	seq       uint64
	epoch     *epoch
	timescale uint32
	parts     []partMeta
}

func (o *openSeg) seconds() float64 {
	var d uint64
	for _, p := range o.parts {
		d += p.dur
	}
	return float64(d) / float64(o.timescale)
}

// publishPart makes a part visible together with the playlists that list
// it, and wakes the requests held for it.
func (st *Stream) publishPart(c media.Part) {
	now := time.Now()
	st.mu.Lock()
	defer st.mu.Unlock()
	r := st.rends[c.Kind]
	if r.open == nil || r.open.seq != c.Seq {
		e := st.epochLocked(c.Epoch)
		if e == nil {
			st.log.Error("LL-HLS part of no current epoch", "epoch", c.Epoch, "msn", c.Seq)
			return
		}
		r.open = &openSeg{seq: c.Seq, epoch: e, timescale: c.Timescale}
	}
	if c.Index != len(r.open.parts) {
		st.log.Error("LL-HLS part out of order", "track", c.Kind, "msn", c.Seq, "part", c.Index, "have", len(r.open.parts))
		return
	}
	r.open.parts = append(r.open.parts, partMeta{dur: c.Info.Dur, independent: c.Info.Independent})
	name := st.PartName(c.Kind, c.Seq, c.Index)
	puts := map[string]*Entry{name: newEntry(c.Body, mimeFor(c.Kind), classImmutable, st.token+"-"+name, now)}
	// Both media playlists: one lists the part, the other reports it.
	st.renderMediaLocked(puts, now)
	st.files.apply(puts, nil)
	st.notifyLocked()
}

// dropOpenLocked forgets the segments in progress, which will not be
// completed, and returns the names of their parts.
func (st *Stream) dropOpenLocked() []string {
	var dels []string
	for _, r := range st.rends {
		if r.open == nil {
			continue
		}
		for i := range r.open.parts {
			dels = append(dels, st.PartName(r.kind, r.open.seq, i))
		}
		r.open = nil
	}
	return dels
}

// PartName is part i of segment seq of kind k: TOKEN/KIND/MSN.I.m4s.
func (st *Stream) PartName(k media.Kind, seq uint64, i int) string {
	return st.token + "/" + k.String() + "/" + strconv.FormatUint(seq, 10) + "." + strconv.Itoa(i) + ".m4s"
}

// parsePartName is the inverse of partName for this stream's fMP4 tracks.
// Only the canonical spelling is a part name, so that no two names mean
// one part.
func (st *Stream) parsePartName(name string) (k media.Kind, seq uint64, i int, ok bool) {
	rest, ok := strings.CutPrefix(name, st.token+"/")
	if !ok {
		return 0, 0, 0, false
	}
	track, file, ok := strings.Cut(rest, "/")
	switch track {
	case media.KindVideo.String():
		k = media.KindVideo
	case media.KindAudio.String():
		k = media.KindAudio
	default:
		return 0, 0, 0, false
	}
	file, ok2 := strings.CutSuffix(file, ".m4s")
	ms, ps, ok3 := strings.Cut(file, ".")
	if !ok || !ok2 || !ok3 {
		return 0, 0, 0, false
	}
	seq, err := strconv.ParseUint(ms, 10, 64)
	if err != nil || strconv.FormatUint(seq, 10) != ms {
		return 0, 0, 0, false
	}
	i, err = strconv.Atoi(ps)
	if err != nil || i < 0 || strconv.Itoa(i) != ps {
		return 0, 0, 0, false
	}
	return k, seq, i, true
}

// closeEpoch is called when a publish session ends an epoch without the
// publisher leaving (new codec parameters): until the next epoch begins,
// the next part is unknown, so it is not hinted.
func (st *Stream) closeEpoch() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.epochClosed = true
	if !st.cfg.HLS.LowLatency.On() {
		return
	}
	puts := map[string]*Entry{}
	st.renderMediaLocked(puts, time.Now())
	st.files.apply(puts, nil)
	st.notifyLocked()
}

// continuesLocked reports whether r's segment in progress (or, before its
// first part, the next one) continues the epoch of r's last complete
// segment. Only then does the playlist list its parts and hint the next
// one: a segment that begins an epoch follows EXT-X-DISCONTINUITY and its
// own EXT-X-MAP, which hls-m3u8 writes with its EXTINF, so it is listed
// once complete; and a hint named before a republish or a codec change
// must not be answered with the first part of the next epoch.
func (st *Stream) continuesLocked(r *rendition) bool {
	if !st.publishing || len(r.segs) == 0 {
		return false
	}
	last := r.segs[len(r.segs)-1].epoch
	if r.open != nil {
		return r.open.epoch == last
	}
	return !st.epochClosed && len(st.epochs) > 0 && st.epochs[len(st.epochs)-1] == last
}

// openPartsLocked are the parts of r's segment in progress that its
// playlist lists.
func (st *Stream) openPartsLocked(r *rendition) []partMeta {
	if r.open == nil || !st.continuesLocked(r) {
		return nil
	}
	return r.open.parts
}

// nextPartLocked is the part r will publish next, which the preload hint
// names; ok is false when there is none to hint.
//
// Only a part of the segment in progress is hinted, never part 0 of the
// next one: a publisher that leaves at a segment boundary would leave that
// hint unfulfilled, the next publish would begin its epoch at the same
// sequence number, and hls.js, which turns a hint into a fragment of the
// old epoch, fails on the discontinuity mismatch. At a boundary players
// block on the playlist for part 0 instead.
func (st *Stream) nextPartLocked(r *rendition) (seq uint64, i int, ok bool) {
	if !st.continuesLocked(r) || r.open == nil || len(r.open.parts) == 0 {
		return 0, 0, false
	}
	return r.open.seq, len(r.open.parts), true
}

// lastPartLocked is the newest part r's playlist lists.
func (st *Stream) lastPartLocked(r *rendition) (seq uint64, i int, ok bool) {
	if open := st.openPartsLocked(r); len(open) > 0 {
		return r.open.seq, len(open) - 1, true
	}
	if n := len(r.segs); n > 0 && len(r.segs[n-1].parts) > 0 {
		return r.segs[n-1].seq, len(r.segs[n-1].parts) - 1, true
	}
	return 0, 0, false
}

// hlsLowLatency is the LL-HLS part of a media playlist.
type hlsLowLatency struct {
	partTarget   float64 // seconds
	partHoldBack float64
	canSkipUntil float64
	parts        []hlsPart // of the last segments and the one in progress, in order
	hint         string    // URI of the next part; empty: none (no publisher)
	reports      []hlsRenditionReport
}

type hlsPart struct {
	msn         uint64
	uri         string
	duration    float64
	independent bool
}

type hlsRenditionReport struct {
	uri      string
	lastMSN  uint64
	lastPart int // -1: the rendition lists no part
}

// lowLatencyLocked describes r's parts, hint and the other rendition's
// report for its playlist, whose EXT-X-TARGETDURATION is target.
func (st *Stream) lowLatencyLocked(r *rendition, target uint) *hlsLowLatency {
	ll := &hlsLowLatency{
		partTarget:   st.cfg.Segment.PartTarget().Seconds(),
		partHoldBack: st.cfg.HLS.PartHoldBack.Seconds(),
		// RFC 8216bis 4.4.3.8: at least six target durations, which a long
		// GOP may have raised.
		canSkipUntil: math.Max(st.cfg.HLS.CanSkipUntil.Seconds(), 6*float64(target)),
	}
	// RFC 8216bis 6.2.2: parts are listed until they are more than three
	// target durations from the end of the playlist, whole segments at a
	// time (a segment's parts go when its first one is that far), as
	// Apple's tools do.
	if !st.publishing {
		// No publisher: no part is coming, so none is listed. hls.js takes
		// a playlist that lists parts to continue, in its discontinuity,
		// with the next sequence number; the next publish begins a new
		// epoch there, and a player that saw parts last would fail on it.
		return ll
	}
	first := len(r.segs)
	open := st.openPartsLocked(r)
	dist := 0.0
	if len(open) > 0 {
		dist = r.open.seconds()
	}
	for i := len(r.segs) - 1; i >= 0; i-- {
		dist += r.segs[i].seconds()
		if dist > 3*float64(target)+1e-9 {
			break
		}
		first = i
	}
	for _, s := range r.segs[first:] {
		ll.addParts(st, r.kind, s.seq, s.timescale, s.parts)
	}
	if len(open) > 0 {
		ll.addParts(st, r.kind, r.open.seq, r.open.timescale, open)
	}
	if seq, i, ok := st.nextPartLocked(r); ok {
		ll.hint = st.PartName(r.kind, seq, i)
	}
	if o := st.rends[1-r.kind]; len(o.segs) > 0 {
		rep := hlsRenditionReport{uri: PlaylistName(o.kind), lastMSN: o.segs[len(o.segs)-1].seq, lastPart: -1}
		if seq, i, ok := st.lastPartLocked(o); ok {
			rep.lastMSN, rep.lastPart = seq, i
		}
		ll.reports = append(ll.reports, rep)
	}
	return ll
}

func (ll *hlsLowLatency) addParts(st *Stream, k media.Kind, seq uint64, timescale uint32, parts []partMeta) {
	for i, p := range parts {
		ll.parts = append(ll.parts, hlsPart{
			msn:         seq,
			uri:         st.PartName(k, seq, i),
			duration:    float64(p.dur) / float64(timescale),
			independent: p.independent,
		})
	}
}

// apply sets the tags hls-m3u8 writes. Parts are matched to their segment
// by the library from the URI (MSN.INDEX.m4s against MSN.m4s); the ones of
// the segment in progress come after the last segment.
func (ll *hlsLowLatency) apply(pl *m3u8.MediaPlaylist) {
	pl.ServerControl = &m3u8.ServerControl{
		CanBlockReload: true,
		PartHoldBack:   ll.partHoldBack,
		CanSkipUntil:   ll.canSkipUntil,
	}
	pl.PartTargetDuration = ll.partTarget
	pl.PartialSegments = make([]*m3u8.PartialSegment, 0, len(ll.parts))
	for _, p := range ll.parts {
		pl.PartialSegments = append(pl.PartialSegments, &m3u8.PartialSegment{
			SeqID:       p.msn,
			URI:         p.uri,
			Duration:    p.duration,
			Independent: p.independent,
		})
	}
	if ll.hint != "" {
		pl.SetPreloadHint("PART", ll.hint)
	}
}

// appendReports writes EXT-X-RENDITION-REPORT (RFC 8216bis 4.4.5.4), which
// hls-m3u8 does not know, after everything else.
func (ll *hlsLowLatency) appendReports(b []byte) []byte {
	for _, r := range ll.reports {
		b = append(b, `#EXT-X-RENDITION-REPORT:URI="`...)
		b = append(b, r.uri...)
		b = append(b, `",LAST-MSN=`...)
		b = strconv.AppendUint(b, r.lastMSN, 10)
		if r.lastPart >= 0 {
			b = append(b, ",LAST-PART="...)
			b = strconv.AppendInt(b, int64(r.lastPart), 10)
		}
		b = append(b, '\n')
	}
	return b
}

// skippable is how many segments a Playlist Delta Update leaves out: those
// that end CAN-SKIP-UNTIL or more before the end of the last segment (RFC
// 8216bis 6.2.5.1). The last segment is never skipped.
func (p *hlsMediaPlaylist) skippable() int {
	if p.ll == nil || p.ll.canSkipUntil <= 0 {
		return 0
	}
	var total float64
	for _, s := range p.segments {
		total += s.duration
	}
	n := 0
	end := 0.0
	for i, s := range p.segments[:len(p.segments)-1] {
		end += s.duration
		if total-end < p.ll.canSkipUntil-1e-9 {
			break
		}
		n = i + 1
	}
	return n
}
