package media

import (
	"bytes"
	"fmt"

	mp4codecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"
)

// tsMuxer produces the optional legacy rendition: muxed audio+video
// MPEG-TS segments cut on the same keyframes as the CMAF segments.
type tsMuxer struct {
	s       *Session
	w       *mpegts.Writer
	out     *switchWriter
	vt, at  *mpegts.Track
	params  [][]byte // parameter sets repeated before each keyframe
	h265    bool
	open    bool
	seq     uint64
	nextSeq uint64
	start   uint64
	last    uint64
}

// switchWriter lets one MPEG-TS writer (and its continuity counters) span
// segments: each segment gets a fresh buffer.
type switchWriter struct{ buf *bytes.Buffer }

func (w *switchWriter) Write(p []byte) (int, error) { return w.buf.Write(p) }

// newTSMuxer returns nil when the tracks cannot go into the legacy
// rendition (it needs H.264 or H.265 video; audio must be AAC if present).
func newTSMuxer(s *Session, seq uint64) *tsMuxer {
	v, a := s.tracks[KindVideo], s.tracks[KindAudio]
	if v == nil || (v.family != familyH264 && v.family != familyH265) {
		return nil
	}
	if a != nil && a.family != familyAAC {
		a = nil
	}
	m := &tsMuxer{s: s, out: &switchWriter{buf: &bytes.Buffer{}}, nextSeq: seq}
	switch c := v.codec.(type) {
	case *mp4codecs.H264:
		m.vt = &mpegts.Track{Codec: &tscodecs.H264{}}
		m.params = [][]byte{c.SPS, c.PPS}
	case *mp4codecs.H265:
		m.vt = &mpegts.Track{Codec: &tscodecs.H265{}}
		m.params = [][]byte{c.VPS, c.SPS, c.PPS}
		m.h265 = true
	}
	tracks := []*mpegts.Track{m.vt}
	if a != nil {
		cfg := a.codec.(*mp4codecs.MPEG4Audio).Config
		m.at = &mpegts.Track{Codec: &tscodecs.MPEG4Audio{Config: cfg}}
		tracks = append(tracks, m.at)
	}
	m.w = &mpegts.Writer{W: m.out, Tracks: tracks}
	if err := m.w.Initialize(); err != nil {
		s.log.Warn("legacy ts disabled", "err", err)
		return nil
	}
	return m
}

func (m *tsMuxer) writeVideo(smp sample, cut bool, nalus [][]byte) error {
	if nalus == nil {
		return nil
	}
	if cut && m.open {
		if err := m.finish(smp.dts); err != nil {
			return err
		}
	}
	if !m.open {
		if !smp.sync {
			return nil
		}
		m.open, m.seq, m.start = true, m.nextSeq, smp.dts
		if _, err := m.w.WriteTables(); err != nil {
			return fmt.Errorf("ts tables: %w", err)
		}
	}
	au := nalus
	if smp.sync {
		// No init segment in TS: parameter sets ride with each keyframe.
		au = append(append(make([][]byte, 0, len(m.params)+len(nalus)), m.params...), nalus...)
	}
	pts := int64(smp.dts) + int64(smp.ptsOff)
	var err error
	if m.h265 {
		err = m.w.WriteH265(m.vt, pts, int64(smp.dts), au)
	} else {
		err = m.w.WriteH264(m.vt, pts, int64(smp.dts), au)
	}
	m.last = smp.dts
	return err
}

func (m *tsMuxer) writeAudio(audioTicks uint64, au []byte) error {
	if m.at == nil || !m.open {
		return nil
	}
	s := m.s
	ats := uint64(s.tracks[KindAudio].timescale)
	if audioTicks < s.tickBase[KindAudio] {
		return nil
	}
	pts := s.tickBase[KindVideo] + (audioTicks-s.tickBase[KindAudio])*90000/ats
	return m.w.WriteMPEG4Audio(m.at, int64(pts), [][]byte{au})
}

func (m *tsMuxer) finish(end uint64) error {
	body := m.out.buf.Bytes()
	m.out.buf = &bytes.Buffer{}
	m.open = false
	m.nextSeq = m.seq + 1
	if len(body) == 0 || end <= m.start {
		return nil
	}
	m.s.sink.Segment(Segment{
		TS: true, Kind: KindVideo, Seq: m.seq, Epoch: m.s.epoch,
		Start: m.start, Dur: end - m.start, Timescale: 90000, Body: body,
	})
	return nil
}

func (m *tsMuxer) flush() error {
	if !m.open {
		return nil
	}
	end := m.last + 3000
	if v := m.s.video; v != nil && v.b.end > m.start {
		end = max(end, v.b.end)
	}
	return m.finish(end)
}
