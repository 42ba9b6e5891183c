package live

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/edgecache/edgecache/origin/media"
)

// segMeta describes one complete media segment of a rendition.
type segMeta struct {
	seq       uint64
	epoch     *epoch
	start     uint64 // tfdt, in the rendition's timescale
	dur       uint64
	timescale uint32
	size      int
	name      string // file name in the stream's namespace
	disc      bool   // first segment of a republish
	parts     []partMeta
}

func (s *segMeta) seconds() float64 { return float64(s.dur) / float64(s.timescale) }

// presStart is the segment's start on the presentation timeline, in
// seconds since availabilityStartTime.
func (s *segMeta) presStart() float64 {
	return s.epoch.presStart + float64(s.start)/float64(s.timescale) - s.epoch.mediaStart
}

// retiredSeg is a segment that left the window but stays fetchable until
// expires (RFC 8216 6.2.2).
type retiredSeg struct {
	seg     *segMeta
	expires time.Time
}

// epoch is one publish session as the outputs see it: its own init
// segments, presentation start and discontinuity.
type epoch struct {
	id         int
	presStart  float64 // seconds since availabilityStartTime (P)
	mediaStart float64 // seconds of continuous media time (S)
	tracks     [2]*media.Track
	initName   [2]string
	// slid marks a kind whose first segment of this session has left the
	// window: its MPD timeline then needs a lead-in (see leadIn).
	slid [2]bool
}

// rendition is a track kind's persistent output across publish sessions:
// the window of listed segments and the ones retired from it.
type rendition struct {
	kind     media.Kind
	segs     []*segMeta // listed, oldest first
	retired  []retiredSeg
	nextSeq  uint64
	discSeq  uint64  // discontinuities that left the window
	maxDur   float64 // longest segment ever, seconds
	endTicks uint64  // end of the last segment on the media timeline
	endTS    uint32  // timescale of endTicks

	// LL-HLS (fMP4 renditions with hls.low_latency on).
	open  *openSeg // the segment being produced; nil until its first part
	delta *Entry   // the Playlist Delta Update; nil when nothing is skippable
}

func (r *rendition) endSeconds() float64 {
	if r.endTS == 0 {
		return 0
	}
	return float64(r.endTicks) / float64(r.endTS)
}

// bitrates returns peak and average bits per second over the window.
func (r *rendition) bitrates() (peak, avg float64) {
	var bytes, secs float64
	for _, s := range r.segs {
		d := s.seconds()
		if d <= 0 {
			continue
		}
		if b := float64(s.size) * 8 / d; b > peak {
			peak = b
		}
		bytes += float64(s.size)
		secs += d
	}
	if secs > 0 {
		avg = bytes * 8 / secs
	}
	return peak, avg
}

// Stream is one named stream: its outputs survive publisher reconnects
// (same availabilityStartTime, continuing sequence numbers) until it has
// been idle for Config.StreamIdleTimeout.
type Stream struct {
	name  string
	token string // in immutable URLs: never the same across restarts
	cfg   *Config
	log   *slog.Logger
	m     *Metrics
	files *fileSet

	mu          sync.Mutex // guards the fields below
	ast         time.Time  // availabilityStartTime; zero until first media
	publishing  bool
	idleSince   time.Time
	epochs      []*epoch
	nextEpoch   int
	rends       [2]*rendition
	ts          *rendition // legacy MPEG-TS, when enabled
	presEnd     float64    // end of the latest segment, presentation seconds
	lastTracks  [2]*media.Track
	changed     chan struct{}
	epochClosed bool // the last epoch ended and the next has not begun
}

func newStream(name string, cfg *Config, log *slog.Logger, m *Metrics, now time.Time) *Stream {
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	token := strconv.FormatInt(now.UnixMilli(), 36) + strconv.FormatUint(uint64(binary.BigEndian.Uint32(rnd[:])%1296), 36)
	var ast time.Time
	if cfg.Segment.Locked() {
		// A locked timeline's URLs name a time slot of the input, the same
		// on every packager and every run: media time is wall-clock time,
		// so no two runs make different media under one name (docs/fleet.md).
		token = lockedToken
		ast = time.Unix(0, 0).UTC()
	}
	st := &Stream{
		ast:     ast,
		name:    name,
		token:   token,
		cfg:     cfg,
		log:     log.With("stream", name),
		m:       m,
		files:   newFileSet(),
		changed: make(chan struct{}),
		rends:   [2]*rendition{{kind: media.KindVideo}, {kind: media.KindAudio}},
	}
	if cfg.HLS.LegacyTS {
		st.ts = &rendition{kind: media.KindVideo}
	}
	return st
}

// Name returns the stream name.
func (st *Stream) Name() string { return st.name }

// Token is the stream's part of its immutable URLs.
func (st *Stream) Token() string { return st.token }

// SegmentInfo describes one listed segment.
type SegmentInfo struct {
	MSN      uint64
	Name     string
	Duration time.Duration
	Parts    int
}

// Segments lists kind k's window, oldest first.
func (st *Stream) Segments(k media.Kind) []SegmentInfo {
	st.mu.Lock()
	defer st.mu.Unlock()
	segs := st.rends[k].segs
	out := make([]SegmentInfo, len(segs))
	for i, s := range segs {
		out[i] = SegmentInfo{MSN: s.seq, Name: s.name, Duration: time.Duration(s.seconds() * float64(time.Second)), Parts: len(s.parts)}
	}
	return out
}

// Changed returns a channel that is closed at the next change of the
// stream's playlists. Blocking playlist reloads (LL-HLS _HLS_msn) wait on
// it and then look again.
func (st *Stream) Changed() <-chan struct{} {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.changed
}

// acquire marks the stream as published; one publisher at a time.
func (st *Stream) acquire() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.publishing {
		return ErrStreamBusy
	}
	st.publishing = true
	return nil
}

// release marks the stream as without publisher. The media playlists are
// re-rendered without a preload hint (nothing more is coming), and anyone
// blocked on the stream wakes up to see it.
func (st *Stream) release(now time.Time) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.publishing = false
	st.idleSince = now
	if !st.cfg.HLS.LowLatency.On() {
		return
	}
	puts := map[string]*Entry{}
	dels := st.dropOpenLocked()
	st.renderMediaLocked(puts, now)
	st.files.apply(puts, dels)
	st.notifyLocked()
}

// IsPublishing reports whether the stream has a publisher.
func (st *Stream) IsPublishing() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.publishing
}

// idle reports whether the stream has had no publisher since before t.
func (st *Stream) idle(before time.Time) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return !st.publishing && st.idleSince.Before(before)
}

// Names in a stream's namespace.
const (
	NameMultivariant = "index.m3u8" // also served as /hls/STREAM.m3u8
	NameMPD          = "manifest.mpd"
	nameTSPlaylist   = "ts.m3u8"
)

// lockedToken is the URL token of a stream on a locked timeline.
const lockedToken = "t"

// PlaylistName is the file name of kind's media playlist.
func PlaylistName(k media.Kind) string { return k.String() + ".m3u8" }

// InitName is the init segment of kind k in epoch e.
func (st *Stream) InitName(k media.Kind, e int) string {
	return st.token + "/" + k.String() + "/init-" + strconv.Itoa(e) + ".mp4"
}

// SegmentName is segment seq of kind k; the URL layout is
// TOKEN/KIND/MSN.m4s, TOKEN never the same across restarts.
func (st *Stream) SegmentName(k media.Kind, seq uint64) string {
	return st.token + "/" + k.String() + "/" + strconv.FormatUint(seq, 10) + ".m4s"
}

func (st *Stream) tsSegName(seq uint64) string {
	return st.token + "/ts/" + strconv.FormatUint(seq, 10) + ".ts"
}

// beginEpochLocked starts the outputs of a publish session whose first
// media, input timestamp base, arrived at now. It returns where the
// session's media time and sequence numbers start.
func (st *Stream) beginEpochLocked(tracks [2]*media.Track, base time.Duration, now time.Time) (*epoch, media.EpochStart, map[string]*Entry, error) {
	if st.ast.IsZero() {
		st.ast = now
	}
	e := &epoch{id: st.nextEpoch, tracks: tracks}
	st.nextEpoch++
	// Media time (tfdt) continues where the previous session ended, so
	// decode timelines stay continuous; the presentation timeline jumps
	// to the wall clock, so DASH availability (AST + time) stays true.
	prevEnd := 0.0
	for _, r := range st.rends {
		prevEnd = math.Max(prevEnd, r.endSeconds())
	}
	if st.ts != nil {
		prevEnd = math.Max(prevEnd, st.ts.endSeconds())
	}
	e.mediaStart = prevEnd
	if len(st.epochs) > 0 {
		e.presStart = math.Max(st.presEnd, now.Sub(st.ast).Seconds())
	}
	es := media.EpochStart{ID: e.id, MediaStart: e.mediaStart, PresStart: e.presStart}
	// Sequence numbers continue across sessions, each rendition from its
	// own count. HLS numbers a playlist's segments consecutively, so a
	// rendition that made fewer segments than another (audio that began
	// late, an empty audio slot) must not be aligned up to it: the gap
	// would shift the number of every segment listed after it.
	es.NextSeq = [2]uint64{st.rends[media.KindVideo].nextSeq, st.rends[media.KindAudio].nextSeq}
	if st.ts != nil {
		es.NextTSSeq = st.ts.nextSeq
	}
	if st.cfg.Segment.Locked() {
		st.lockEpochLocked(e, &es, prevEnd, base, now)
	}
	puts := map[string]*Entry{}
	for k, t := range tracks {
		if t == nil {
			continue
		}
		body, err := media.MarshalInit(t)
		if err != nil {
			return nil, es, nil, err
		}
		e.initName[k] = st.InitName(media.Kind(k), e.id)
		if st.cfg.Segment.Locked() {
			// Named by content: two packagers of one input name it alike.
			sum := sha256.Sum256(body)
			e.initName[k] = st.token + "/" + media.Kind(k).String() + "/init-" + hex.EncodeToString(sum[:6]) + ".mp4"
		}
		puts[e.initName[k]] = newEntry(body, mimeFor(media.Kind(k)), classImmutable, st.token+"-"+e.initName[k], now)
	}
	st.epochs = append(st.epochs, e)
	st.epochClosed = false
	st.lastTracks = tracks
	return e, es, puts, nil
}

// lockEpochLocked places a session on the locked timeline: the input's
// timestamp zero is pinned to the wall-clock second it arrived in (floored,
// so clocks and networks a few milliseconds apart agree unless they
// straddle a second), media time is seconds since the Unix epoch, and a
// segment's number is its start divided by the target duration. Two
// packagers fed the same input therefore give each keyframe the same media
// time and each segment the same number and URL, whichever keyframe each
// started at; the DASH availabilityStartTime is the Unix epoch and the
// first period starts there, so the MPDs agree too.
//
// A later session (a republish) starts a new period at its own first
// media, and a playlist whose numbers would jump forward starts over at
// the new number: HLS numbers listed segments consecutively (RFC 8216bis
// 6.2.2), so the old ones leave the window, still fetchable. A session
// whose pinned time lies before the end of the last one (a clock stepped
// back, a restart within a second) continues the timeline unlocked, and
// says so in the log.
func (st *Stream) lockEpochLocked(e *epoch, es *media.EpochStart, prevEnd float64, base time.Duration, now time.Time) {
	zero := now.Add(-base).Truncate(time.Second)
	start := float64(zero.Unix()) + base.Seconds()
	if start < prevEnd {
		st.log.Warn("locked timeline: this session starts before the last one ended; continuing unlocked", "start", start, "previous_end", prevEnd)
		return
	}
	es.MediaStart = start
	if len(st.epochs) > 0 {
		e.mediaStart, e.presStart = start, start
	}
	es.PresStart = start
	if len(st.epochs) == 0 {
		// The first period starts at the Unix epoch, long before its first
		// segment: give its timelines the lead-in from the start (leadIn).
		e.slid = [2]bool{true, true}
	}
	seq := uint64(math.Round(start / st.cfg.Segment.TargetDuration.Seconds()))
	for _, r := range st.rends {
		if seq > r.nextSeq {
			st.restartWindowLocked(r, now)
			r.nextSeq = seq
		}
	}
	es.NextSeq = [2]uint64{st.rends[media.KindVideo].nextSeq, st.rends[media.KindAudio].nextSeq}
	if st.ts != nil {
		if seq > st.ts.nextSeq {
			st.restartWindowLocked(st.ts, now)
			st.ts.nextSeq = seq
		}
		es.NextTSSeq = st.ts.nextSeq
	}
}

// restartWindowLocked retires every listed segment of r: its numbering is
// about to jump forward.
func (st *Stream) restartWindowLocked(r *rendition, now time.Time) {
	for len(r.segs) > 0 {
		st.retireOldestLocked(r, now)
	}
}

// retireOldestLocked moves r's oldest listed segment out of the window; it
// stays fetchable for Segment.Retain.
func (st *Stream) retireOldestLocked(r *rendition, now time.Time) {
	old := r.segs[0]
	r.segs = r.segs[1:]
	// RFC 8216bis 6.2.2: removing an EXT-X-DISCONTINUITY tag (it goes
	// with the segment it precedes) increments the discontinuity
	// sequence, so every segment left keeps its discontinuity number.
	if old.disc {
		r.discSeq++
	}
	old.epoch.slid[r.kind] = true
	r.retired = append(r.retired, retiredSeg{seg: old, expires: now.Add(st.cfg.Segment.Retain)})
}

func mimeFor(k media.Kind) string {
	if k == media.KindVideo {
		return mimeVideoMP4
	}
	return mimeAudioMP4
}

// publish makes a completed segment visible together with the
// playlists that list it. Its LL-HLS parts, already served from the bytes
// of the segment being built, are served from the finished segment's bytes
// from now on: the same content, one copy.
func (st *Stream) publish(c media.Segment) {
	now := time.Now()
	st.mu.Lock()
	e := st.epochLocked(c.Epoch)
	if e == nil || c.TS && st.ts == nil {
		st.mu.Unlock()
		st.log.Error("segment of no current epoch or rendition", "epoch", c.Epoch, "msn", c.Seq)
		return
	}
	r := st.rends[c.Kind]
	kindLabel := c.Kind.String()
	name := st.SegmentName(c.Kind, c.Seq)
	ctype := mimeFor(c.Kind)
	if c.TS {
		r, kindLabel, name, ctype = st.ts, "ts", st.tsSegName(c.Seq), mimeTS
	}
	seg := &segMeta{
		seq: c.Seq, epoch: e, start: c.Start, dur: c.Dur, timescale: c.Timescale,
		size: len(c.Body), name: name, parts: partMetas(c.Parts),
	}
	if n := len(r.segs); n > 0 {
		seg.disc = r.segs[n-1].epoch != e
	} else {
		seg.disc = e.id > 0
	}
	r.segs = append(r.segs, seg)
	r.nextSeq = max(r.nextSeq, c.Seq+1)
	r.maxDur = math.Max(r.maxDur, seg.seconds())
	r.endTicks, r.endTS = c.Start+c.Dur, c.Timescale
	st.presEnd = math.Max(st.presEnd, seg.presStart()+seg.seconds())

	puts := map[string]*Entry{}
	puts[name] = newEntry(c.Body, ctype, classImmutable, st.token+"-"+name, now)
	if !c.TS && st.cfg.HLS.LowLatency.On() {
		for i, p := range c.Parts {
			pn := st.PartName(c.Kind, c.Seq, i)
			puts[pn] = newEntry(c.Body[p.Offset:p.Offset+p.Size:p.Offset+p.Size], ctype, classImmutable, st.token+"-"+pn, now)
		}
		if r.open != nil && r.open.seq <= c.Seq {
			r.open = nil
		}
	}
	for len(r.segs) > st.cfg.Segment.Window {
		st.retireOldestLocked(r, now)
	}
	st.renderLocked(puts, now)
	st.files.apply(puts, nil)
	st.notifyLocked()
	st.mu.Unlock()

	st.m.segments.WithLabelValues(st.name, kindLabel).Inc()
	if !c.Arrival.IsZero() {
		st.m.listLatency.Observe(time.Since(c.Arrival).Seconds())
	}
}

// epochLocked finds an epoch by id; the newest is almost always it.
func (st *Stream) epochLocked(id int) *epoch {
	for i := len(st.epochs) - 1; i >= 0; i-- {
		if st.epochs[i].id == id {
			return st.epochs[i]
		}
	}
	return nil
}

// notifyLocked wakes everyone waiting on Changed.
func (st *Stream) notifyLocked() {
	close(st.changed)
	st.changed = make(chan struct{})
}

// renderLocked re-renders every playlist into puts.
func (st *Stream) renderLocked(puts map[string]*Entry, now time.Time) {
	st.renderMediaLocked(puts, now)
	if st.ts != nil && len(st.ts.segs) > 0 {
		if b, err := st.mediaPlaylistLocked(st.ts, true).encode(); err == nil {
			puts[nameTSPlaylist] = newEntry(b, mimeHLS, classLive, "", now)
		}
	}
	if mv := st.multivariantLocked(); mv != nil {
		puts[NameMultivariant] = newEntry(mv.encode(), mimeHLS, classLive, "", now)
	}
	if man := st.manifestLocked(now); man != nil {
		if b, err := man.encode(); err == nil {
			puts[NameMPD] = newEntry(b, mimeDASH, classLive, "", now)
		} else {
			st.log.Error("render mpd", "err", err)
		}
	}
}

// renderMediaLocked re-renders the fMP4 media playlists (and their delta
// updates) into puts: what a new LL-HLS part changes.
func (st *Stream) renderMediaLocked(puts map[string]*Entry, now time.Time) {
	for _, r := range st.rends {
		r.delta = nil
		if len(r.segs) == 0 {
			continue
		}
		p := st.mediaPlaylistLocked(r, false)
		b, err := p.encode()
		if err != nil {
			st.log.Error("render playlist", "track", r.kind, "err", err)
			continue
		}
		puts[PlaylistName(r.kind)] = newEntry(b, mimeHLS, classLive, "", now)
		if n := p.skippable(); n > 0 {
			d, err := p.encodeDelta(n)
			if err != nil {
				st.log.Error("render delta update", "track", r.kind, "err", err)
				continue
			}
			r.delta = newEntry(d, mimeHLS, classLive, "", now)
		}
	}
}

func (st *Stream) mediaPlaylistLocked(r *rendition, ts bool) *hlsMediaPlaylist {
	p := &hlsMediaPlaylist{
		targetDuration:        st.targetLocked(r),
		mediaSequence:         r.segs[0].seq,
		discontinuitySequence: r.discSeq,
		segments:              make([]hlsSegment, 0, len(r.segs)),
	}
	for _, s := range r.segs {
		hs := hlsSegment{
			uri:      s.name,
			duration: s.seconds(),
			disc:     s.disc,
			pdt:      st.ast.Add(time.Duration(s.presStart() * float64(time.Second))),
		}
		if !ts {
			hs.mapURI = s.epoch.initName[r.kind]
		}
		p.segments = append(p.segments, hs)
	}
	if !ts && st.cfg.HLS.LowLatency.On() {
		p.ll = st.lowLatencyLocked(r, p.targetDuration)
	}
	return p
}

// targetLocked is r's EXT-X-TARGETDURATION, in seconds.
func (st *Stream) targetLocked(r *rendition) uint {
	return targetDurationFor(st.cfg.Segment.TargetDuration, r.maxDur)
}

// multivariantLocked describes the latest session's tracks; nil until the
// main rendition has a segment, so BANDWIDTH is a measured value.
func (st *Stream) multivariantLocked() *hlsMultivariant {
	v, a := st.lastTracks[media.KindVideo], st.lastTracks[media.KindAudio]
	mv := &hlsMultivariant{}
	var peak, avg float64
	var codecs []string
	if v != nil {
		if len(st.rends[media.KindVideo].segs) == 0 {
			return nil
		}
		mv.videoURI = st.name + "/" + PlaylistName(media.KindVideo)
		mv.width, mv.height, mv.frameRate = v.Width(), v.Height(), v.FrameRate()
		p, q := st.rends[media.KindVideo].bitrates()
		peak, avg = peak+p, avg+q
		codecs = append(codecs, v.CodecString())
	}
	if a != nil {
		if len(st.rends[media.KindAudio].segs) == 0 && v == nil {
			return nil
		}
		mv.audioURI = st.name + "/" + PlaylistName(media.KindAudio)
		mv.channels = a.Channels()
		p, q := st.rends[media.KindAudio].bitrates()
		if p == 0 {
			p, q = 128000, 128000
		}
		peak, avg = peak+p, avg+q
		codecs = append(codecs, a.CodecString())
	}
	if v == nil && a == nil {
		return nil
	}
	mv.bandwidth = uint32(math.Ceil(peak))
	mv.avgBandwidth = uint32(math.Ceil(avg))
	for i, c := range codecs {
		if i > 0 {
			mv.codecs += ","
		}
		mv.codecs += c
	}
	return mv
}

// manifestLocked describes the window as a dynamic MPD: one Period per
// session that still has listed segments.
func (st *Stream) manifestLocked(now time.Time) *dashManifest {
	target := st.cfg.Segment.TargetDuration
	man := &dashManifest{
		availabilityStart: st.ast,
		publishTime:       now,
		minUpdatePeriod:   target,
		minBufferTime:     target,
		presentationDelay: st.cfg.DASH.SuggestedPresentationDelay,
		utcTimingURL:      st.cfg.DASH.UTCTimingURL,
	}
	first, last := math.Inf(1), math.Inf(-1)
	for _, e := range st.epochs {
		p := dashPeriod{
			id:    "p" + strconv.Itoa(e.id),
			start: time.Duration(e.presStart * float64(time.Second)),
		}
		if st.cfg.Segment.Locked() {
			// Named by its start, as every packager of the input sees it.
			p.id = "t" + strconv.FormatInt(int64(math.Round(e.presStart*1000)), 10)
		}
		for k, r := range st.rends {
			t := e.tracks[k]
			if t == nil {
				continue
			}
			rep := dashRepresentation{
				kind:       media.Kind(k),
				id:         media.Kind(k).String(),
				codecs:     t.CodecString(),
				timescale:  t.Timescale(),
				width:      t.Width(),
				height:     t.Height(),
				frameRate:  t.FrameRate(),
				sampleRate: t.SampleRate(),
				channels:   t.Channels(),
				initURI:    st.name + "/" + e.initName[k],
				mediaURI:   st.name + "/" + st.token + "/" + media.Kind(k).String() + "/$Number$.m4s",
				pto:        uint64(math.Round(e.mediaStart * float64(t.Timescale()))),
				leadIn:     e.slid[k],
			}
			for _, s := range r.segs {
				if s.epoch != e {
					continue
				}
				if len(rep.segments) == 0 {
					rep.startNumber = s.seq
				}
				rep.segments = append(rep.segments, dashSegment{start: s.start, dur: s.dur})
				first = math.Min(first, s.presStart())
				last = math.Max(last, s.presStart()+s.seconds())
			}
			if len(rep.segments) == 0 {
				continue
			}
			peak, _ := r.bitrates()
			rep.bandwidth = int64(math.Ceil(peak))
			p.reps = append(p.reps, rep)
		}
		if len(p.reps) > 0 {
			man.periods = append(man.periods, p)
		}
	}
	if len(man.periods) == 0 {
		return nil
	}
	// The time-shift buffer is exactly the span the MPD lists.
	man.timeShiftBuffer = time.Duration((last - first) * float64(time.Second))
	return man
}

// expire drops segments whose retention passed and init segments no
// segment refers to any more. It returns whether the stream still holds
// anything.
func (st *Stream) expire(now time.Time) {
	st.mu.Lock()
	defer st.mu.Unlock()
	var dels []string
	used := map[*epoch]bool{}
	for _, r := range st.allRendsLocked() {
		keep := r.retired[:0]
		for _, rs := range r.retired {
			if now.After(rs.expires) {
				dels = append(dels, rs.seg.name)
				// Parts go with their segment, which outlives their
				// EXT-X-PART tags (three target durations from the live
				// edge) by its window and retention.
				for i := range rs.seg.parts {
					dels = append(dels, st.PartName(r.kind, rs.seg.seq, i))
				}
				continue
			}
			keep = append(keep, rs)
			used[rs.seg.epoch] = true
		}
		clear(r.retired[len(keep):])
		r.retired = keep
		for _, s := range r.segs {
			used[s.epoch] = true
		}
	}
	if n := len(st.epochs); n > 0 {
		used[st.epochs[n-1]] = true // the current session's init is kept
	}
	keepE := st.epochs[:0]
	for _, e := range st.epochs {
		if used[e] {
			keepE = append(keepE, e)
			continue
		}
		for _, n := range e.initName {
			if n != "" {
				dels = append(dels, n)
			}
		}
	}
	clear(st.epochs[len(keepE):])
	st.epochs = keepE
	if len(dels) > 0 {
		st.files.apply(nil, dels)
	}
}

func (st *Stream) allRendsLocked() []*rendition {
	rs := []*rendition{st.rends[0], st.rends[1]}
	if st.ts != nil {
		rs = append(rs, st.ts)
	}
	return rs
}

// File looks up a name in the stream's namespace (relative to
// /hls/STREAM/ and /dash/STREAM/).
func (st *Stream) File(name string) (*Entry, bool) { return st.files.get(name) }

func (st *Stream) String() string { return fmt.Sprintf("stream %s", st.name) }
