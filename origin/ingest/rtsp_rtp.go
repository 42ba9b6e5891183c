package ingest

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtpfragmented"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph265"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtpmpeg4audio"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtpsimpleaudio"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/pion/rtp"

	"github.com/edgecache/edgecache/origin/media"
)

// rtpSelection is what the packager takes of an RTSP session description:
// the first H.264 or H.265 format and the first AAC (RFC 3640) or Opus
// format (RFC 3640 mpeg4-generic or RFC 6416 MP4A-LATM). Either may be
// nil, not both.
type rtpSelection struct {
	videoMedia, audioMedia *description.Media
	video, audio           format.Format
	skipped                []string // codecs offered but not packaged
}

// medias are the selected medias, to SETUP.
func (s rtpSelection) medias() []*description.Media {
	var ms []*description.Media
	if s.videoMedia != nil {
		ms = append(ms, s.videoMedia)
	}
	if s.audioMedia != nil && s.audioMedia != s.videoMedia {
		ms = append(ms, s.audioMedia)
	}
	return ms
}

// selectFormats picks the formats to package from desc. It fails with
// media.ErrUnsupportedCodec naming what was offered when none can be.
func selectFormats(desc *description.Session) (rtpSelection, error) {
	var sel rtpSelection
	if desc == nil {
		return sel, errors.New("no session description")
	}
	for _, m := range desc.Medias {
		for _, f := range m.Formats {
			switch f := f.(type) {
			case *format.H264, *format.H265:
				if sel.video == nil {
					sel.video, sel.videoMedia = f, m
				}
			case *format.MPEG4Audio:
				// RFC 3640 AAC-hbr; an ASC is needed for the init segment.
				if sel.audio == nil && f.Config != nil {
					sel.audio, sel.audioMedia = f, m
				}
			case *format.MPEG4AudioLATM:
				// RFC 6416 7.3, as GStreamer's rtpmp4apay sends it: the
				// StreamMuxConfig in the SDP (cpresent=0), one program and
				// layer. In-band configs (cpresent=1) are not taken.
				if sel.audio == nil && latmASC(f) != nil {
					sel.audio, sel.audioMedia = f, m
				}
			case *format.Opus:
				if sel.audio == nil {
					sel.audio, sel.audioMedia = f, m
				}
			}
		}
	}
	for _, m := range desc.Medias {
		for _, f := range m.Formats {
			if f != sel.video && f != sel.audio {
				sel.skipped = append(sel.skipped, f.Codec())
			}
		}
	}
	if sel.video == nil && sel.audio == nil {
		return sel, fmt.Errorf("%w: none of the formats (%s) can be packaged; the packager takes H.264, H.265, AAC (mpeg4-generic, MP4A-LATM) and Opus",
			media.ErrUnsupportedCodec, describeFormats(desc))
	}
	return sel, nil
}

// latmASC is the AudioSpecificConfig of a LATM format the packager can
// take, or nil.
func latmASC(f *format.MPEG4AudioLATM) *mpeg4audio.AudioSpecificConfig {
	c := f.StreamMuxConfig
	if f.CPresent || c == nil || len(c.Programs) != 1 || c.Programs[0] == nil ||
		len(c.Programs[0].Layers) != 1 || c.Programs[0].Layers[0] == nil {
		return nil
	}
	// mediacommon reads AudioMuxElements of frameLengthType 0 only. An
	// ASC with an SBR sync extension (ffmpeg's AAC encoder, so GStreamer's
	// avenc_aac) is misread as another frameLengthType: refuse, rather
	// than announce an audio track that never gets a sample.
	if c.Programs[0].Layers[0].FrameLengthType != 0 {
		return nil
	}
	return c.Programs[0].Layers[0].AudioSpecificConfig
}

func describeFormats(desc *description.Session) string {
	var names []string
	for _, m := range desc.Medias {
		for _, f := range m.Formats {
			names = append(names, f.Codec())
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ",")
}

// rtpReceiver turns the RTP packets of the selected formats into access
// units on a Session of a claimed Stream. gortsplib calls it from one
// goroutine per UDP listener, so a mutex makes the Session's writes come
// from one goroutine at a time.
type rtpReceiver struct {
	st   Stream
	sel  rtpSelection
	log  *slog.Logger
	rate *rateMeter
	fail func(error) // called once, with the first error that ends the publish

	mu        sync.Mutex // guards everything below
	sess      Session    // nil until the video parameters are known
	closed    bool
	err       error
	h264Dec   *rtph264.Decoder
	h265Dec   *rtph265.Decoder
	aacDec    *rtpmpeg4audio.Decoder
	latmDec   *rtpfragmented.Decoder
	opusDec   *rtpsimpleaudio.Decoder
	h264DTS   *h264.DTSExtractor
	h265DTS   *h265.DTSExtractor
	params    [3][]byte // latest VPS (H.265), SPS, PPS
	random    bool      // a random access unit was seen since the last (re)start
	warmup    bool      // H.265: feed the DTS extractor a GOP before writing
	dtsErrors int
}

// newRTPReceiver prepares decoders for sel. The session opens at once
// when the video parameters are in the description (or there is no
// video), otherwise with the first access unit that carries them.
func newRTPReceiver(st Stream, sel rtpSelection, log *slog.Logger, rate *rateMeter, fail func(error)) (*rtpReceiver, error) {
	r := &rtpReceiver{st: st, sel: sel, log: log, rate: rate, fail: fail}
	var err error
	switch f := sel.video.(type) {
	case *format.H264:
		if r.h264Dec, err = f.CreateDecoder(); err != nil {
			return nil, fmt.Errorf("h264 depacketizer: %w", err)
		}
		sps, pps := f.SafeParams()
		r.params = [3][]byte{nil, sps, pps}
	case *format.H265:
		if r.h265Dec, err = f.CreateDecoder(); err != nil {
			return nil, fmt.Errorf("h265 depacketizer: %w", err)
		}
		vps, sps, pps := f.SafeParams()
		r.params = [3][]byte{vps, sps, pps}
	}
	switch f := sel.audio.(type) {
	case *format.MPEG4Audio:
		if r.aacDec, err = f.CreateDecoder(); err != nil {
			return nil, fmt.Errorf("aac depacketizer: %w", err)
		}
	case *format.MPEG4AudioLATM:
		if r.latmDec, err = f.CreateDecoder(); err != nil {
			return nil, fmt.Errorf("aac latm depacketizer: %w", err)
		}
	case *format.Opus:
		if r.opusDec, err = f.CreateDecoder(); err != nil {
			return nil, fmt.Errorf("opus depacketizer: %w", err)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.tryOpenLocked(); err != nil {
		return nil, err
	}
	return r, nil
}

// tryOpenLocked opens the session once every selected track can be
// described. A bad parameter set in the description is an error.
func (r *rtpReceiver) tryOpenLocked() error {
	if r.sess != nil {
		return nil
	}
	var tracks [2]*media.Track
	switch r.sel.video.(type) {
	case *format.H264:
		if r.params[1] == nil || r.params[2] == nil {
			return nil
		}
		t, err := media.NewH264Track(r.params[1], r.params[2])
		if err != nil {
			return err
		}
		tracks[media.KindVideo] = t
		r.h264DTS = &h264.DTSExtractor{}
		r.h264DTS.Initialize()
	case *format.H265:
		if r.params[0] == nil || r.params[1] == nil || r.params[2] == nil {
			return nil
		}
		t, err := media.NewH265Track(r.params[0], r.params[1], r.params[2])
		if err != nil {
			return err
		}
		tracks[media.KindVideo] = t
		r.h265DTS = &h265.DTSExtractor{}
		r.h265DTS.Initialize()
	}
	switch f := r.sel.audio.(type) {
	case *format.MPEG4Audio:
		t, err := media.NewAACTrack(f.Config)
		if err != nil {
			return err
		}
		tracks[media.KindAudio] = t
	case *format.MPEG4AudioLATM:
		t, err := media.NewAACTrack(latmASC(f))
		if err != nil {
			return err
		}
		tracks[media.KindAudio] = t
	case *format.Opus:
		ch := f.ChannelCount
		if ch == 0 {
			ch = 2
		}
		tracks[media.KindAudio] = media.NewOpusTrack(ch)
	}
	r.sess = r.st.Open(tracks, false)
	r.random = false
	return nil
}

// packet takes one RTP packet of forma with its PTS in clock-rate units
// (gortsplib's, synchronised across the session's tracks).
func (r *rtpReceiver) packet(forma format.Format, pkt *rtp.Packet, pts int64, ok bool) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.err != nil {
		return
	}
	if r.rate != nil {
		r.rate.add(uint64(len(pkt.Payload)), now)
	}
	if !ok {
		return // no timestamp yet
	}
	var err error
	switch {
	case forma == r.sel.video:
		err = r.videoLocked(pkt, pts, now)
	case forma == r.sel.audio:
		err = r.audioLocked(pkt, pts, now)
	}
	if err != nil {
		r.err = err
		if r.fail != nil {
			r.fail(err)
		}
	}
}

func (r *rtpReceiver) videoLocked(pkt *rtp.Packet, pts int64, now time.Time) error {
	var au [][]byte
	var err error
	switch {
	case r.h264Dec != nil:
		au, err = r.h264Dec.Decode(pkt)
		if errors.Is(err, rtph264.ErrMorePacketsNeeded) || errors.Is(err, rtph264.ErrNonStartingPacketAndNoPrevious) {
			return nil
		}
	case r.h265Dec != nil:
		au, err = r.h265Dec.Decode(pkt)
		if errors.Is(err, rtph265.ErrMorePacketsNeeded) || errors.Is(err, rtph265.ErrNonStartingPacketAndNoPrevious) {
			return nil
		}
	}
	if err != nil {
		// A lost or damaged packet: drop the access unit, the stream goes on.
		r.log.Debug("rtp video", "err", err)
		return nil
	}
	if r.h264Dec != nil {
		return r.h264Locked(au, pts, now)
	}
	return r.h265Locked(au, pts, now)
}

func (r *rtpReceiver) h264Locked(au [][]byte, pts int64, now time.Time) error {
	var hasSPS, hasPPS bool
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		switch h264.NALUType(n[0] & 0x1f) {
		case h264.NALUTypeSPS:
			r.params[1], hasSPS = n, true
		case h264.NALUTypePPS:
			r.params[2], hasPPS = n, true
		}
	}
	if err := r.tryOpenLocked(); err != nil || r.sess == nil {
		return err
	}
	random := h264.IsRandomAccess(au)
	if !r.random && !random {
		return nil // decoding starts at a random access point
	}
	r.random = true
	// Parameter sets given only in the SDP (sprop-parameter-sets) go in
	// front of each IDR, so the DTS extractor and the session see them.
	if random && (!hasSPS || !hasPPS) {
		au = append([][]byte{r.params[1], r.params[2]}, au...)
	}
	dts, err := r.h264DTS.Extract(au, pts)
	if err != nil {
		r.dtsLocked(err)
		return nil
	}
	rate := r.sel.video.ClockRate()
	return r.sess.WriteH264(ticksToDuration(pts, rate), ticksToDuration(dts, rate), au, now)
}

func (r *rtpReceiver) h265Locked(au [][]byte, pts int64, now time.Time) error {
	var have [3]bool
	for _, n := range au {
		if len(n) < 2 {
			continue
		}
		switch h265.NALUType((n[0] >> 1) & 0x3f) {
		case h265.NALUType_VPS_NUT:
			r.params[0], have[0] = n, true
		case h265.NALUType_SPS_NUT:
			r.params[1], have[1] = n, true
		case h265.NALUType_PPS_NUT:
			r.params[2], have[2] = n, true
		}
	}
	if err := r.tryOpenLocked(); err != nil || r.sess == nil {
		return err
	}
	random := h265.IsRandomAccess(au)
	if !r.random && !random {
		return nil
	}
	first := !r.random
	r.random = true
	if first {
		r.warmup = h265Reorders(r.params[1])
	}
	if random && (!have[0] || !have[1] || !have[2]) {
		au = append([][]byte{r.params[0], r.params[1], r.params[2]}, au...)
	}
	dts, err := r.h265DTS.Extract(au, pts)
	if err != nil {
		r.dtsLocked(err)
		return nil
	}
	// The extractor gives the first access units DTS = PTS and only then
	// the reordering delay: a first segment cut on those would run a GOP
	// long and raise EXT-X-TARGETDURATION for good (RFC 8216 4.3.3.1). With
	// reordering, writing starts at the second random access point.
	if r.warmup {
		if first || !random {
			return nil
		}
		r.warmup = false
	}
	rate := r.sel.video.ClockRate()
	return r.sess.WriteH265(ticksToDuration(pts, rate), ticksToDuration(dts, rate), au, now)
}

// h265Reorders reports whether an H.265 SPS allows pictures out of
// order (sps_max_num_reorder_pics, H.265 7.4.3.2.1).
func h265Reorders(sps []byte) bool {
	var s h265.SPS
	if err := s.Unmarshal(sps); err != nil {
		return true
	}
	for _, n := range s.MaxNumReorderPics {
		if n > 0 {
			return true
		}
	}
	return false
}

// dtsLocked drops an access unit whose DTS cannot be worked out (a
// slice header the extractor cannot read, reordering beyond its limit)
// and waits for the next random access point.
func (r *rtpReceiver) dtsLocked(err error) {
	r.dtsErrors++
	if r.dtsErrors <= 3 || r.dtsErrors%1000 == 0 {
		r.log.Warn("rtp video: dropping access unit without a DTS", "err", err, "count", r.dtsErrors)
	}
	r.random = false
}

func (r *rtpReceiver) audioLocked(pkt *rtp.Packet, pts int64, now time.Time) error {
	if r.sess == nil {
		return nil
	}
	rate := r.sel.audio.ClockRate()
	switch {
	case r.aacDec != nil:
		aus, err := r.aacDec.Decode(pkt)
		if err != nil {
			if !errors.Is(err, rtpmpeg4audio.ErrMorePacketsNeeded) {
				r.log.Debug("rtp aac", "err", err)
			}
			return nil
		}
		// RFC 3640 3.2.3.1: the access units of a packet follow each other;
		// the RTP clock is the sample rate.
		for i, au := range aus {
			t := pts + int64(i)*mpeg4audio.SamplesPerAccessUnit
			if err := r.sess.WriteAudio(ticksToDuration(t, rate), au, now); err != nil {
				return err
			}
		}
	case r.latmDec != nil:
		el, err := r.latmDec.Decode(pkt)
		if err != nil {
			if !errors.Is(err, rtpfragmented.ErrMorePacketsNeeded) {
				r.log.Debug("rtp aac latm", "err", err)
			}
			return nil
		}
		// ISO 14496-3 1.7.3: an AudioMuxElement carries NumSubFrames+1
		// access units of the one program and layer, in order.
		ame := mpeg4audio.AudioMuxElement{StreamMuxConfig: r.sel.audio.(*format.MPEG4AudioLATM).StreamMuxConfig}
		if err := ame.Unmarshal(el); err != nil {
			r.log.Debug("rtp aac latm", "err", err)
			return nil
		}
		for i, sub := range ame.Payloads {
			if len(sub) != 1 || len(sub[0]) != 1 {
				continue
			}
			t := pts + int64(i)*mpeg4audio.SamplesPerAccessUnit
			if err := r.sess.WriteAudio(ticksToDuration(t, rate), sub[0][0], now); err != nil {
				return err
			}
		}
	case r.opusDec != nil:
		p, err := r.opusDec.Decode(pkt)
		if err != nil {
			r.log.Debug("rtp opus", "err", err)
			return nil
		}
		return r.sess.WriteAudio(ticksToDuration(pts, rate), p, now)
	}
	return nil
}

// close ends the session and releases the stream. It is safe to call
// more than once.
func (r *rtpReceiver) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.closed = true
	if r.sess != nil {
		if err := r.sess.Close(); err != nil {
			r.log.Error("close session", "err", err)
		}
	}
	r.st.Release()
}

// ticksToDuration converts clock-rate ticks to a duration without
// overflowing for long-running streams.
func ticksToDuration(t int64, rate int) time.Duration {
	if rate <= 0 {
		return 0
	}
	r := int64(rate)
	return time.Duration(t/r)*time.Second + time.Duration(t%r)*time.Second/time.Duration(r)
}
