package media

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	mp4codecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"
)

// ErrUnsupportedCodec is returned for tracks the packager cannot package.
var ErrUnsupportedCodec = errors.New("unsupported codec")

// Kind is a track's kind; it indexes per-kind arrays.
type Kind uint8

// Track kinds.
const (
	KindVideo Kind = iota
	KindAudio
)

// String is the track's name in URLs and metric labels.
func (k Kind) String() string {
	if k == KindVideo {
		return "video"
	}
	return "audio"
}

// codecFamily tells the session how to turn access units into samples.
type codecFamily uint8

const (
	familyH264 codecFamily = iota + 1
	familyH265
	familyAV1
	familyAAC
	familyOpus
)

// Track describes one elementary stream of a publish session, built from
// the codec parameters an ingest protocol announces. It is immutable once
// built: its fields are read through methods.
type Track struct {
	kind        Kind
	family      codecFamily
	codec       mp4codecs.Codec // for the CMAF init segment
	timescale   uint32
	codecString string // RFC 6381, for CODECS= and @codecs

	// video
	width, height int
	frameRate     float64

	// audio
	sampleRate int
	channels   int
	// frameSamples is the fixed number of samples per access unit (AAC);
	// 0 means each packet says its own duration (Opus).
	frameSamples int
}

// Kind is video or audio.
func (t *Track) Kind() Kind { return t.kind }

// Timescale is the track's media timescale (ticks per second).
func (t *Track) Timescale() uint32 { return t.timescale }

// CodecString is the RFC 6381 codec, for CODECS= and @codecs.
func (t *Track) CodecString() string { return t.codecString }

// Width, Height and FrameRate describe a video track (zero for audio).
func (t *Track) Width() int { return t.width }

// Height is the video height in pixels.
func (t *Track) Height() int { return t.height }

// FrameRate is the video frame rate, 0 when unknown.
func (t *Track) FrameRate() float64 { return t.frameRate }

// SampleRate and Channels describe an audio track (zero for video).
func (t *Track) SampleRate() int { return t.sampleRate }

// Channels is the audio channel count.
func (t *Track) Channels() int { return t.channels }

// NewH264Track describes an H.264 track from its SPS and PPS.
func NewH264Track(sps, pps []byte) (*Track, error) {
	if len(sps) < 4 || len(pps) == 0 {
		return nil, fmt.Errorf("h264: %w: missing SPS/PPS", ErrUnsupportedCodec)
	}
	var s h264.SPS
	if err := s.Unmarshal(sps); err != nil {
		return nil, fmt.Errorf("h264: parse SPS: %w", err)
	}
	return &Track{
		kind:        KindVideo,
		family:      familyH264,
		codec:       &mp4codecs.H264{SPS: clone(sps), PPS: clone(pps)},
		timescale:   90000,
		codecString: fmt.Sprintf("avc1.%02x%02x%02x", sps[1], sps[2], sps[3]),
		width:       s.Width(),
		height:      s.Height(),
		frameRate:   s.FPS(),
	}, nil
}

// NewH265Track describes an H.265 track from its VPS, SPS and PPS.
func NewH265Track(vps, sps, pps []byte) (*Track, error) {
	if len(vps) == 0 || len(sps) == 0 || len(pps) == 0 {
		return nil, fmt.Errorf("h265: %w: missing VPS/SPS/PPS", ErrUnsupportedCodec)
	}
	var s h265.SPS
	if err := s.Unmarshal(sps); err != nil {
		return nil, fmt.Errorf("h265: parse SPS: %w", err)
	}
	return &Track{
		kind:        KindVideo,
		family:      familyH265,
		codec:       &mp4codecs.H265{VPS: clone(vps), SPS: clone(sps), PPS: clone(pps)},
		timescale:   90000,
		codecString: hevcCodecString(&s, sps),
		width:       s.Width(),
		height:      s.Height(),
		frameRate:   s.FPS(),
	}, nil
}

// hevcCodecString builds the ISO/IEC 14496-15 Annex E codec string, e.g.
// hvc1.1.6.L93.B0.
func hevcCodecString(s *h265.SPS, rawSPS []byte) string {
	ptl := s.ProfileTierLevel
	var b strings.Builder
	b.WriteString("hvc1.")
	if ptl.GeneralProfileSpace > 0 {
		b.WriteByte('A' + ptl.GeneralProfileSpace - 1)
	}
	b.WriteString(strconv.Itoa(int(ptl.GeneralProfileIdc)))
	// The 32 compatibility flags in reverse bit order.
	var compat uint32
	for j, f := range ptl.GeneralProfileCompatibilityFlag {
		if f {
			compat |= 1 << j
		}
	}
	b.WriteString("." + strconv.FormatUint(uint64(compat), 16) + ".")
	if ptl.GeneralTierFlag != 0 {
		b.WriteByte('H')
	} else {
		b.WriteByte('L')
	}
	b.WriteString(strconv.Itoa(int(ptl.GeneralLevelIdc)))
	// The six constraint bytes follow the 2-byte NAL header, one byte of
	// VPS id/sub-layers, one of profile space/tier/idc and four of
	// compatibility flags; trailing zero bytes are omitted.
	rbsp := h264.EmulationPreventionRemove(rawSPS)
	if len(rbsp) >= 14 {
		cons := rbsp[8:14]
		end := len(cons)
		for end > 0 && cons[end-1] == 0 {
			end--
		}
		for _, c := range cons[:end] {
			b.WriteString("." + strings.ToUpper(strconv.FormatUint(uint64(c), 16)))
		}
	}
	return b.String()
}

// NewAV1Track describes an AV1 track from its sequence header OBU.
func NewAV1Track(seqHeaderOBU []byte) (*Track, error) {
	var sh av1.SequenceHeader
	if err := sh.Unmarshal(seqHeaderOBU); err != nil {
		return nil, fmt.Errorf("av1: parse sequence header: %w", err)
	}
	tier := "M"
	if len(sh.SeqTier) > 0 && sh.SeqTier[0] {
		tier = "H"
	}
	level := 0
	if len(sh.SeqLevelIdx) > 0 {
		level = int(sh.SeqLevelIdx[0])
	}
	depth := 8
	switch {
	case sh.ColorConfig.TwelveBit:
		depth = 12
	case sh.ColorConfig.HighBitDepth:
		depth = 10
	}
	fps := 0.0
	if ti := sh.TimingInfo; ti != nil && ti.NumUnitsInDisplayTick != 0 {
		fps = float64(ti.TimeScale) / float64(ti.NumUnitsInDisplayTick)
	}
	return &Track{
		kind:        KindVideo,
		family:      familyAV1,
		codec:       &mp4codecs.AV1{SequenceHeader: clone(seqHeaderOBU)},
		timescale:   90000,
		codecString: fmt.Sprintf("av01.%d.%02d%s.%02d", sh.SeqProfile, level, tier, depth),
		width:       sh.Width(),
		height:      sh.Height(),
		frameRate:   fps,
	}, nil
}

// NewAACTrack describes an AAC track from its AudioSpecificConfig.
func NewAACTrack(cfg *mpeg4audio.AudioSpecificConfig) (*Track, error) {
	if cfg == nil || cfg.SampleRate <= 0 {
		return nil, fmt.Errorf("aac: %w: missing AudioSpecificConfig", ErrUnsupportedCodec)
	}
	channels := int(cfg.ChannelConfig)
	switch {
	case channels == 7:
		channels = 8
	case channels == 0 || channels > 7:
		channels = 2
	}
	frame := mpeg4audio.SamplesPerAccessUnit
	if cfg.FrameLengthFlag {
		frame = 960
	}
	return &Track{
		kind:         KindAudio,
		family:       familyAAC,
		codec:        &mp4codecs.MPEG4Audio{Config: *cfg},
		timescale:    uint32(cfg.SampleRate),
		codecString:  "mp4a.40." + strconv.Itoa(int(cfg.Type)),
		sampleRate:   cfg.SampleRate,
		channels:     channels,
		frameSamples: frame,
	}, nil
}

// NewOpusTrack describes an Opus track with channels channels (2 when
// not positive).
func NewOpusTrack(channels int) *Track {
	if channels <= 0 {
		channels = 2
	}
	return &Track{
		kind:        KindAudio,
		family:      familyOpus,
		codec:       &mp4codecs.Opus{ChannelCount: channels},
		timescale:   48000,
		codecString: "opus",
		sampleRate:  48000,
		channels:    channels,
	}
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }
