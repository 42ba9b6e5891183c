package media

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"
	mp4codecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"
)

// maxPreAudio bounds the audio kept while waiting for the first keyframe;
// older frames are dropped.
const maxPreAudio = 512

// Session is one publisher's media, fed by an ingest protocol. It cuts
// CMAF fragments and segments and hands them to its Sink. Its methods are
// called from a single goroutine.
type Session struct {
	sink   Sink
	cfg    Config
	log    *slog.Logger
	tracks [2]*Track

	// awaitAV1 is set while an AV1 track waits for a sequence header,
	// which enhanced RTMP does not send out of band.
	awaitAV1 bool

	started  bool
	epoch    int // EpochStart.ID
	rtmpBase time.Duration
	tickBase [2]uint64
	video    *videoSeg
	audio    *audioSeg
	ts       *tsMuxer
	preAudio []rawAudio
	// Config.LockSettle: when the first frame arrived, and the earliest
	// wall-clock time any frame's timestamp zero implied.
	firstArrival, zeroEst time.Time
	closed                bool
	err                   error // the first write error; every later write returns it
}

type rawAudio struct {
	pts     time.Duration
	payload []byte
}

// NewSession prepares a publish session with the given tracks (either may
// be nil, not both) that delivers to sink. awaitAV1 marks a video track
// whose parameters come with its first keyframe (enhanced RTMP sends no
// AV1 sequence header out of band).
func NewSession(sink Sink, tracks [2]*Track, awaitAV1 bool, cfg Config, log *slog.Logger) *Session {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Session{sink: sink, cfg: cfg, log: log, tracks: tracks, awaitAV1: awaitAV1}
}

func (s *Session) hasVideo() bool { return s.tracks[KindVideo] != nil || s.awaitAV1 }

// toTicks maps an RTMP timestamp onto track k's continuous media timeline.
func (s *Session) toTicks(k Kind, t time.Duration) (uint64, bool) {
	if t < s.rtmpBase {
		return 0, false
	}
	return s.tickBase[k] + durToTicks(t-s.rtmpBase, s.tracks[k].timescale), true
}

// durToTicks is d (not negative) in ticks of timescale ts, truncated.
func durToTicks(d time.Duration, ts uint32) uint64 {
	secs := uint64(d / time.Second)
	rem := uint64(d % time.Second)
	return secs*uint64(ts) + rem*uint64(ts)/uint64(time.Second)
}

// noteZero keeps, with Config.LockSettle, the earliest wall-clock time a
// frame's timestamp ts and arrival put the input's timestamp zero at: the
// least-delayed frame's.
func (s *Session) noteZero(ts time.Duration, arrival time.Time) {
	if s.cfg.LockSettle <= 0 {
		return
	}
	if s.firstArrival.IsZero() {
		s.firstArrival = arrival
	}
	if z := arrival.Add(-ts); s.zeroEst.IsZero() || z.Before(s.zeroEst) {
		s.zeroEst = z
	}
}

// settling reports whether the session must not start yet
// (Config.LockSettle).
func (s *Session) settling(arrival time.Time) bool {
	return s.cfg.LockSettle > 0 && arrival.Sub(s.firstArrival) < s.cfg.LockSettle
}

// startArrival is the arrival BeginEpoch is given for the first media, at
// ts: with Config.LockSettle, the one it would have had with the least
// delay seen.
func (s *Session) startArrival(ts time.Duration, arrival time.Time) time.Time {
	if s.cfg.LockSettle > 0 && !s.zeroEst.IsZero() {
		return s.zeroEst.Add(ts)
	}
	return arrival
}

// start begins the session's epoch at the first keyframe (or first audio
// frame of an audio-only stream).
func (s *Session) start(base time.Duration, arrival time.Time) error {
	es, err := s.sink.BeginEpoch(s.tracks, base, arrival)
	if err != nil {
		return err
	}
	s.epoch, s.rtmpBase, s.started = es.ID, base, true
	cfg := &s.cfg
	for k, t := range s.tracks {
		if t != nil {
			s.tickBase[k] = uint64(math.Round(es.MediaStart * float64(t.timescale)))
		}
	}
	if v := s.tracks[KindVideo]; v != nil {
		s.video = &videoSeg{
			s: s, info: v, nextSeq: es.NextSeq[KindVideo], b: segmentBuilder{timescale: v.timescale},
			target:    durTicks(cfg.TargetDuration, v.timescale),
			fragTicks: durTicks(cfg.FragmentDuration, v.timescale),
			partTicks: durTicks(cfg.PartTarget, v.timescale),
		}
	}
	if a := s.tracks[KindAudio]; a != nil {
		s.audio = &audioSeg{
			s: s, info: a, nextSeq: es.NextSeq[KindAudio], b: segmentBuilder{timescale: a.timescale},
			grid: cfg.AudioGrid, gridZero: s.tickBase[KindAudio] - durToTicks(base, a.timescale),
			selfCut:   s.video == nil,
			target:    durTicks(cfg.TargetDuration, a.timescale),
			fragTicks: durTicks(cfg.FragmentDuration, a.timescale),
			partTicks: durTicks(cfg.PartTarget, a.timescale),
		}
	}
	if cfg.LegacyTS {
		s.ts = newTSMuxer(s, es.NextTSSeq)
	}
	s.log.Info("publish session started", "epoch", es.ID, "media_start", es.MediaStart, "presentation_start", es.PresStart)
	pre := s.preAudio
	s.preAudio = nil
	for _, a := range pre {
		if err := s.writeAudio(a.pts, a.payload, arrival); err != nil {
			return err
		}
	}
	return nil
}

func durTicks(d time.Duration, ts uint32) uint64 {
	return uint64(d.Seconds()*float64(ts) + 0.5)
}

// cutPart ends b's open fragment of segment seq of track k and delivers
// it as a part.
func (s *Session) cutPart(k Kind, seq uint64, b *segmentBuilder) error {
	cut, err := b.cutFragment()
	if err != nil || !cut {
		return err
	}
	i := len(b.parts) - 1
	s.sink.Part(Part{
		Kind: k, Seq: seq, Epoch: s.epoch, Timescale: s.tracks[k].timescale,
		Index: i, Info: b.parts[i], Body: b.partBytes(i),
	})
	return nil
}

// keep records the first write error.
func (s *Session) keep(err error) error {
	if err != nil && s.err == nil {
		s.err = err
	}
	return err
}

// WriteH264 ingests one H.264 access unit (NALUs without start codes) with
// its presentation and decode timestamps on the publisher's clock.
func (s *Session) WriteH264(pts, dts time.Duration, au [][]byte, arrival time.Time) error {
	if s.err != nil {
		return s.err
	}
	return s.keep(s.writeH264(pts, dts, au, arrival))
}

// WriteH265 ingests one H.265 access unit.
func (s *Session) WriteH265(pts, dts time.Duration, au [][]byte, arrival time.Time) error {
	if s.err != nil {
		return s.err
	}
	return s.keep(s.writeH265(pts, dts, au, arrival))
}

// WriteAV1 ingests one AV1 temporal unit (OBUs).
func (s *Session) WriteAV1(pts time.Duration, tu [][]byte, arrival time.Time) error {
	if s.err != nil {
		return s.err
	}
	return s.keep(s.writeAV1(pts, tu, arrival))
}

// WriteAudio ingests one audio frame (AAC access unit or Opus packet).
func (s *Session) WriteAudio(pts time.Duration, payload []byte, arrival time.Time) error {
	if s.err != nil {
		return s.err
	}
	return s.keep(s.writeAudio(pts, payload, arrival))
}

// Err is the first error a write returned, nil if none.
func (s *Session) Err() error { return s.err }

// writeH264 ingests one H.264 access unit (NALUs without start codes).
func (s *Session) writeH264(pts, dts time.Duration, au [][]byte, arrival time.Time) error {
	t := s.tracks[KindVideo]
	if t == nil || t.family != familyH264 {
		return nil
	}
	var sps, pps []byte
	nalus := make([][]byte, 0, len(au))
	key := false
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		switch h264.NALUType(n[0] & 0x1f) {
		case h264.NALUTypeSPS:
			sps = n
			continue
		case h264.NALUTypePPS:
			pps = n
			continue
		case h264.NALUTypeAccessUnitDelimiter, h264.NALUTypeFillerData:
			continue
		case h264.NALUTypeIDR:
			key = true
		}
		nalus = append(nalus, n)
	}
	// Parameter sets travel in the init segment ('avc1'); a change means a
	// new init, so the session starts a new epoch (a discontinuity).
	if sps != nil || pps != nil {
		cur := t.codec.(*mp4codecs.H264)
		if sps == nil {
			sps = cur.SPS
		}
		if pps == nil {
			pps = cur.PPS
		}
		if !bytes.Equal(sps, cur.SPS) || !bytes.Equal(pps, cur.PPS) {
			nt, err := NewH264Track(sps, pps)
			if err != nil {
				return err
			}
			if err := s.reconfigure(nt); err != nil {
				return err
			}
		}
	}
	if len(nalus) == 0 {
		return nil
	}
	payload, err := h264.AVCC(nalus).Marshal()
	if err != nil {
		return fmt.Errorf("h264: %w", err)
	}
	return s.writeVideo(pts, dts, key, payload, nalus, arrival)
}

// writeH265 ingests one H.265 access unit.
func (s *Session) writeH265(pts, dts time.Duration, au [][]byte, arrival time.Time) error {
	t := s.tracks[KindVideo]
	if t == nil || t.family != familyH265 {
		return nil
	}
	var vps, sps, pps []byte
	nalus := make([][]byte, 0, len(au))
	for _, n := range au {
		if len(n) < 2 {
			continue
		}
		switch h265.NALUType((n[0] >> 1) & 0x3f) {
		case h265.NALUType_VPS_NUT:
			vps = n
			continue
		case h265.NALUType_SPS_NUT:
			sps = n
			continue
		case h265.NALUType_PPS_NUT:
			pps = n
			continue
		case h265.NALUType_AUD_NUT:
			continue
		}
		nalus = append(nalus, n)
	}
	if vps != nil || sps != nil || pps != nil {
		cur := t.codec.(*mp4codecs.H265)
		vps, sps, pps = orBytes(vps, cur.VPS), orBytes(sps, cur.SPS), orBytes(pps, cur.PPS)
		if !bytes.Equal(vps, cur.VPS) || !bytes.Equal(sps, cur.SPS) || !bytes.Equal(pps, cur.PPS) {
			nt, err := NewH265Track(vps, sps, pps)
			if err != nil {
				return err
			}
			if err := s.reconfigure(nt); err != nil {
				return err
			}
		}
	}
	if len(nalus) == 0 {
		return nil
	}
	payload, err := h264.AVCC(nalus).Marshal()
	if err != nil {
		return fmt.Errorf("h265: %w", err)
	}
	return s.writeVideo(pts, dts, h265.IsRandomAccess(nalus), payload, nalus, arrival)
}

func orBytes(b, def []byte) []byte {
	if b == nil {
		return def
	}
	return b
}

// writeAV1 ingests one AV1 temporal unit (OBUs).
func (s *Session) writeAV1(pts time.Duration, tu [][]byte, arrival time.Time) error {
	key := av1.IsRandomAccess2(tu)
	if s.awaitAV1 {
		if !key {
			return nil
		}
		for _, obu := range tu {
			if len(obu) > 0 && av1.OBUType((obu[0]>>3)&0xf) == av1.OBUTypeSequenceHeader {
				t, err := NewAV1Track(obu)
				if err != nil {
					return err
				}
				s.tracks[KindVideo] = t
				s.awaitAV1 = false
				break
			}
		}
		if s.awaitAV1 {
			return nil
		}
	}
	if t := s.tracks[KindVideo]; t == nil || t.family != familyAV1 {
		return nil
	}
	payload, err := av1.Bitstream(tu).Marshal()
	if err != nil {
		return fmt.Errorf("av1: %w", err)
	}
	return s.writeVideo(pts, pts, key, payload, nil, arrival)
}

// reconfigure ends the current epoch and starts the next one with a new
// video track at the next keyframe.
func (s *Session) reconfigure(t *Track) error {
	s.log.Info("video parameters changed; starting a new epoch", "codec", t.codecString)
	if s.started {
		if err := s.flush(); err != nil {
			return err
		}
		s.sink.EndEpoch()
	}
	s.tracks[KindVideo] = t
	s.started = false
	s.video, s.audio, s.ts = nil, nil, nil
	return nil
}

func (s *Session) writeVideo(pts, dts time.Duration, key bool, payload []byte, nalus [][]byte, arrival time.Time) error {
	s.noteZero(dts, arrival)
	if !s.started {
		if !key || s.settling(arrival) {
			return nil // decoding starts at a keyframe
		}
		if err := s.start(dts, s.startArrival(dts, arrival)); err != nil {
			return err
		}
	}
	dtsT, ok := s.toTicks(KindVideo, dts)
	if !ok {
		return nil
	}
	ptsT, _ := s.toTicks(KindVideo, max(pts, s.rtmpBase))
	off := int64(ptsT) - int64(dtsT)
	if pts < dts {
		off = -int64(uint64((dts-pts)/time.Microsecond) * uint64(s.tracks[KindVideo].timescale) / 1e6)
	}
	smp := sample{dts: dtsT, ptsOff: int32(off), sync: key, payload: payload}
	cut, err := s.video.push(smp, arrival)
	if err != nil {
		return err
	}
	if s.ts != nil {
		if err := s.ts.writeVideo(smp, cut, nalus); err != nil {
			s.log.Warn("legacy ts", "err", err)
			s.ts = nil
		}
	}
	return nil
}

// writeAudio ingests one audio frame (AAC access unit or Opus packet).
func (s *Session) writeAudio(pts time.Duration, payload []byte, arrival time.Time) error {
	t := s.tracks[KindAudio]
	if t == nil || len(payload) == 0 {
		return nil
	}
	s.noteZero(pts, arrival)
	if !s.started {
		if s.hasVideo() {
			// Wait for the first keyframe; keep a bounded backlog.
			if len(s.preAudio) >= maxPreAudio {
				s.preAudio = s.preAudio[1:]
			}
			s.preAudio = append(s.preAudio, rawAudio{pts: pts, payload: clone(payload)})
			return nil
		}
		if s.settling(arrival) {
			return nil
		}
		if err := s.start(pts, s.startArrival(pts, arrival)); err != nil {
			return err
		}
	}
	raw, ok := s.toTicks(KindAudio, pts)
	if !ok {
		return nil
	}
	dur := uint32(t.frameSamples)
	if t.family == familyOpus {
		dur = uint32(opus.PacketDuration2(payload))
	}
	if dur == 0 {
		return nil
	}
	if err := s.audio.push(raw, dur, clone(payload)); err != nil {
		return err
	}
	if s.ts != nil {
		if err := s.ts.writeAudio(s.audio.lastDTS, payload); err != nil {
			s.log.Warn("legacy ts", "err", err)
			s.ts = nil
		}
	}
	return nil
}

// boundary tells the audio track that video cut a segment at videoTicks.
func (s *Session) boundary(videoTicks uint64) error {
	if s.audio == nil {
		return nil
	}
	vts := uint64(s.tracks[KindVideo].timescale)
	ats := uint64(s.tracks[KindAudio].timescale)
	rel := videoTicks - s.tickBase[KindVideo]
	b := s.tickBase[KindAudio] + (rel*ats+vts/2)/vts
	return s.audio.addBoundary(b)
}

// safeAudioLimit is the audio time before which no future video boundary
// can fall: future keyframes decode after every video frame seen so far.
func (s *Session) safeAudioLimit() uint64 {
	if s.video == nil {
		return math.MaxUint64
	}
	if !s.video.haveDTS {
		return 0
	}
	vts := uint64(s.tracks[KindVideo].timescale)
	ats := uint64(s.tracks[KindAudio].timescale)
	rel := s.video.maxDTS - s.tickBase[KindVideo]
	return s.tickBase[KindAudio] + rel*ats/vts
}

// flush completes the epoch's open segments; called at disconnect and
// before a reconfiguration.
func (s *Session) flush() error {
	var errs []error
	if s.video != nil {
		errs = append(errs, s.video.flush())
	}
	if s.audio != nil {
		errs = append(errs, s.audio.flush())
	}
	if s.ts != nil {
		errs = append(errs, s.ts.flush())
	}
	return errors.Join(errs...)
}

// Close ends the session: the open segments are completed and delivered.
func (s *Session) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	if !s.started {
		return nil
	}
	return s.flush()
}

// videoSeg cuts the video track: a segment ends at the first keyframe
// after the target duration, fragments every fragTicks. A sample's
// duration is known when the next one arrives, so one sample waits.
type videoSeg struct {
	s         *Session
	info      *Track
	b         segmentBuilder
	open      bool
	seq       uint64
	nextSeq   uint64
	pending   sample
	havePend  bool
	lastDur   uint32
	maxDTS    uint64
	haveDTS   bool
	target    uint64
	fragTicks uint64
	partTicks uint64 // no fragment is longer (the LL-HLS part target)
}

// push adds a sample and reports whether it started a new segment.
func (v *videoSeg) push(smp sample, arrival time.Time) (bool, error) {
	if v.haveDTS && smp.dts <= v.maxDTS {
		// Decode times must increase; RTMP gives ms, so nudge.
		smp.dts = v.maxDTS + 1
	}
	v.maxDTS, v.haveDTS = smp.dts, true
	cut := false
	if v.havePend {
		p := v.pending
		p.dur = uint32(smp.dts - p.dts)
		v.lastDur = p.dur
		if !v.b.fits(p.dur, v.partTicks) {
			if err := v.s.cutPart(KindVideo, v.seq, &v.b); err != nil {
				return false, err
			}
		}
		v.b.add(p)
		// Cut once the target is reached, allowing 5% for timestamp
		// rounding, so a 2 s GOP makes 2 s segments.
		if smp.sync && smp.dts-v.b.start+v.target/20 >= v.target {
			if err := v.finish(arrival); err != nil {
				return false, err
			}
			cut = true
			if err := v.s.boundary(smp.dts); err != nil {
				return false, err
			}
		} else if v.b.fragDur >= v.fragTicks {
			if err := v.s.cutPart(KindVideo, v.seq, &v.b); err != nil {
				return false, err
			}
		}
	}
	if !v.open {
		v.b.open(smp.dts)
		v.open, v.seq = true, v.nextSeq
	}
	v.pending, v.havePend = smp, true
	return cut, nil
}

func (v *videoSeg) finish(arrival time.Time) error {
	start, end := v.b.start, v.b.end
	body, parts, err := v.b.finish()
	v.open = false
	v.nextSeq = v.seq + 1
	if err != nil {
		if errors.Is(err, errEmptySegment) {
			return nil
		}
		return err
	}
	v.s.sink.Segment(Segment{
		Kind: KindVideo, Seq: v.seq, Epoch: v.s.epoch, Start: start, Dur: end - start,
		Timescale: v.info.timescale, Body: body, Parts: parts, Arrival: arrival,
	})
	return nil
}

func (v *videoSeg) flush() error {
	if v.havePend {
		p := v.pending
		p.dur = v.lastDur
		if p.dur == 0 {
			p.dur = v.info.timescale / 30
		}
		if !v.b.fits(p.dur, v.partTicks) {
			if err := v.s.cutPart(KindVideo, v.seq, &v.b); err != nil {
				return err
			}
		}
		v.b.add(p)
		v.havePend = false
	}
	if !v.open {
		return nil
	}
	return v.finish(time.Time{})
}

// audioSeg cuts the audio track on the video boundaries (or on its own
// when there is no video). Every audio frame is a sync sample. Frames are
// laid end to end at their codec duration while the RTMP timestamps agree
// within a frame, so millisecond rounding does not make gaps or overlaps.
type audioSeg struct {
	s         *Session
	info      *Track
	b         segmentBuilder
	open      bool
	seq       uint64
	nextSeq   uint64
	queue     []sample
	bounds    []uint64
	next      uint64
	haveNext  bool
	end       uint64
	lastDTS   uint64
	selfCut   bool
	grid      bool   // Config.AudioGrid
	gridZero  uint64 // timestamp zero, in ticks
	target    uint64
	fragTicks uint64
	partTicks uint64 // no fragment is longer (the LL-HLS part target)
}

func (a *audioSeg) push(raw uint64, dur uint32, payload []byte) error {
	dts := raw
	continues := false
	if a.haveNext {
		diff := int64(raw) - int64(a.next)
		if diff < 0 {
			diff = -diff
		}
		if diff <= int64(dur) {
			dts, continues = a.next, true
		}
	}
	if !continues && a.grid && raw >= a.gridZero {
		// Config.AudioGrid: the nearest whole frame from timestamp zero.
		n := (raw - a.gridZero + uint64(dur)/2) / uint64(dur)
		dts = a.gridZero + n*uint64(dur)
	}
	if dts < a.end {
		dts = a.end
	}
	a.next, a.haveNext = dts+uint64(dur), true
	a.lastDTS = dts
	smp := sample{dts: dts, dur: dur, sync: true, payload: payload}
	if a.selfCut && a.open && dts-a.b.start+a.target/20 >= a.target {
		if err := a.finish(); err != nil {
			return err
		}
	}
	a.queue = append(a.queue, smp)
	a.end = dts + uint64(dur)
	if err := a.tryCut(false); err != nil {
		return err
	}
	return a.drain()
}

func (a *audioSeg) addBoundary(b uint64) error {
	a.bounds = append(a.bounds, b)
	if err := a.tryCut(false); err != nil {
		return err
	}
	return a.drain()
}

// tryCut closes segments at pending boundaries once audio reached them
// (or always, when forced at the end of the session).
func (a *audioSeg) tryCut(force bool) error {
	for len(a.bounds) > 0 && (force || a.end >= a.bounds[0]) {
		b := a.bounds[0]
		a.bounds = a.bounds[1:]
		i := 0
		for i < len(a.queue) && a.queue[i].dts < b {
			if err := a.add(a.queue[i]); err != nil {
				return err
			}
			i++
		}
		a.queue = append(a.queue[:0], a.queue[i:]...)
		if a.open {
			if err := a.finish(); err != nil {
				return err
			}
		}
		// An empty slot (no audio before this boundary) makes no segment;
		// the audio playlist must not skip a sequence number.
	}
	return nil
}

// maxAudioQueue bounds, in frames, the audio held back waiting for video
// to pass it.
const maxAudioQueue = 480

// drain moves queued frames that no future boundary can split off into
// the open fragment. When video has stalled, audio is held back one
// target duration at most (and never more than maxAudioQueue frames): a
// later video boundary may then fall inside an audio fragment, rather
// than audio being delayed without bound.
func (a *audioSeg) drain() error {
	limit := a.s.safeAudioLimit()
	if a.videoStalled(a.end) {
		limit = a.end - a.target
	}
	i := 0
	for i < len(a.queue) && (len(a.bounds) > 0 || a.queue[i].dts < limit || len(a.queue)-i > maxAudioQueue) {
		if err := a.add(a.queue[i]); err != nil {
			return err
		}
		i++
	}
	a.queue = append(a.queue[:0], a.queue[i:]...)
	return nil
}

// videoStalled reports whether audio at dts runs more than two target
// durations past the last video frame.
func (a *audioSeg) videoStalled(dts uint64) bool {
	if a.selfCut {
		return false
	}
	limit := a.s.safeAudioLimit()
	return limit != math.MaxUint64 && dts > limit+2*a.target
}

func (a *audioSeg) add(smp sample) error {
	// Video that stopped must not make the audio segment grow without
	// bound: while it is stalled, audio cuts on its own.
	if a.open && smp.dts-a.b.start >= a.target && a.videoStalled(smp.dts) {
		if err := a.finish(); err != nil {
			return err
		}
	}
	if !a.open {
		a.b.open(smp.dts)
		a.open, a.seq = true, a.nextSeq
	}
	if !a.b.fits(smp.dur, a.partTicks) {
		if err := a.s.cutPart(KindAudio, a.seq, &a.b); err != nil {
			return err
		}
	}
	a.b.add(smp)
	if a.b.fragDur >= a.fragTicks {
		return a.s.cutPart(KindAudio, a.seq, &a.b)
	}
	return nil
}

func (a *audioSeg) finish() error {
	start, end := a.b.start, a.b.end
	body, parts, err := a.b.finish()
	a.open = false
	a.nextSeq = a.seq + 1
	if err != nil {
		if errors.Is(err, errEmptySegment) {
			return nil
		}
		return err
	}
	a.s.sink.Segment(Segment{
		Kind: KindAudio, Seq: a.seq, Epoch: a.s.epoch, Start: start, Dur: end - start,
		Timescale: a.info.timescale, Body: body, Parts: parts,
	})
	return nil
}

func (a *audioSeg) flush() error {
	if err := a.tryCut(true); err != nil {
		return err
	}
	for _, smp := range a.queue {
		if err := a.add(smp); err != nil {
			return err
		}
	}
	a.queue = a.queue[:0]
	if !a.open {
		return nil
	}
	return a.finish()
}
