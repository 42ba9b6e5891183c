package ingest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
)

// ErrInvalidFLV is wrapped by every FLV parse error.
var ErrInvalidFLV = errors.New("invalid FLV")

// FLV tag types.
const (
	flvTagAudio  = 8
	flvTagVideo  = 9
	flvTagScript = 18
)

// flvTag is one tag of an FLV file: the body of an RTMP audio/video/data
// message.
type flvTag struct {
	typ  byte
	ts   time.Duration
	data []byte
}

// maxFLVTags bounds what parseFLV accepts, since it holds every tag.
const maxFLVTags = 1 << 20

// parseFLV splits an FLV file into tags. Tag bodies alias b.
func parseFLV(b []byte) ([]flvTag, error) {
	if len(b) < 9 || string(b[:3]) != "FLV" || b[3] != 1 {
		return nil, fmt.Errorf("%w: bad header", ErrInvalidFLV)
	}
	off := int(binary.BigEndian.Uint32(b[5:9]))
	if off < 9 || off > len(b) {
		return nil, fmt.Errorf("%w: bad header size %d", ErrInvalidFLV, off)
	}
	off += 4 // PreviousTagSize0
	var tags []flvTag
	for off < len(b) {
		if len(b)-off < 11 {
			return nil, fmt.Errorf("%w: truncated tag header at %d", ErrInvalidFLV, off)
		}
		h := b[off : off+11]
		if h[0]&0x20 != 0 {
			return nil, fmt.Errorf("%w: encrypted tag at %d", ErrInvalidFLV, off)
		}
		typ := h[0] & 0x1f
		size := int(h[1])<<16 | int(h[2])<<8 | int(h[3])
		ts := uint32(h[4])<<16 | uint32(h[5])<<8 | uint32(h[6]) | uint32(h[7])<<24
		off += 11
		if len(b)-off < size {
			return nil, fmt.Errorf("%w: truncated tag body at %d", ErrInvalidFLV, off)
		}
		if len(tags) >= maxFLVTags {
			return nil, fmt.Errorf("%w: too many tags", ErrInvalidFLV)
		}
		tags = append(tags, flvTag{typ: typ, ts: time.Duration(ts) * time.Millisecond, data: b[off : off+size : off+size]})
		off += size
		if len(b)-off < 4 {
			if len(b) == off {
				break // a missing last PreviousTagSize is tolerated
			}
			return nil, fmt.Errorf("%w: truncated tag trailer at %d", ErrInvalidFLV, off)
		}
		off += 4
	}
	return tags, nil
}

// demoFrame is one access unit of the demo clip.
type demoFrame struct {
	video   bool
	dts     time.Duration
	pts     time.Duration
	au      [][]byte // video NALUs
	payload []byte   // audio access unit
}

// demoClip is an H.264 + AAC FLV clip ready to be published in a loop.
type demoClip struct {
	sps, pps []byte
	asc      *mpeg4audio.AudioSpecificConfig
	frames   []demoFrame
	// period is the loop length: the video's duration, so each loop starts
	// on the clip's first keyframe exactly one GOP train later.
	period time.Duration
}

// parseDemoClip reads an FLV with AVC video and AAC audio.
func parseDemoClip(b []byte) (*demoClip, error) {
	tags, err := parseFLV(b)
	if err != nil {
		return nil, err
	}
	c := &demoClip{}
	var firstV, lastV time.Duration
	nv := 0
	for _, t := range tags {
		switch t.typ {
		case flvTagVideo:
			if len(t.data) < 5 || t.data[0]&0x0f != 7 {
				return nil, fmt.Errorf("%w: demo video must be AVC", ErrInvalidFLV)
			}
			cts := int32(uint32(t.data[2])<<16|uint32(t.data[3])<<8|uint32(t.data[4])) << 8 >> 8
			switch t.data[1] {
			case 0:
				c.sps, c.pps, err = parseAVCConfig(t.data[5:])
				if err != nil {
					return nil, err
				}
			case 1:
				var au h264.AVCC
				if err := au.Unmarshal(t.data[5:]); err != nil {
					return nil, fmt.Errorf("%w: %w", ErrInvalidFLV, err)
				}
				if nv == 0 {
					firstV = t.ts
				}
				lastV = t.ts
				nv++
				c.frames = append(c.frames, demoFrame{
					video: true, dts: t.ts, pts: t.ts + time.Duration(cts)*time.Millisecond, au: au,
				})
			}
		case flvTagAudio:
			if len(t.data) < 2 || t.data[0]>>4 != 10 {
				return nil, fmt.Errorf("%w: demo audio must be AAC", ErrInvalidFLV)
			}
			switch t.data[1] {
			case 0:
				var asc mpeg4audio.AudioSpecificConfig
				if err := asc.Unmarshal(t.data[2:]); err != nil {
					return nil, fmt.Errorf("%w: %w", ErrInvalidFLV, err)
				}
				c.asc = &asc
			case 1:
				if len(t.data) > 2 {
					c.frames = append(c.frames, demoFrame{dts: t.ts, pts: t.ts, payload: t.data[2:]})
				}
			}
		}
	}
	if c.sps == nil || c.asc == nil || nv < 2 {
		return nil, fmt.Errorf("%w: demo clip needs AVC and AAC configs and video frames", ErrInvalidFLV)
	}
	frameDur := (lastV - firstV) / time.Duration(nv-1)
	c.period = (lastV + frameDur - firstV).Round(time.Millisecond)
	if c.period <= 0 || frameDur <= 0 {
		return nil, fmt.Errorf("%w: demo clip video timestamps do not advance", ErrInvalidFLV)
	}
	// Encoders delay audio (AAC priming, B-frame shift), so the clip's
	// audio starts a little after its video and ends a little after the
	// loop point. Wrap that tail into the head gap so that, looped, the
	// audio timeline has neither a gap nor an overlap.
	firstA := time.Duration(-1)
	for _, f := range c.frames {
		if !f.video {
			firstA = f.dts - firstV
			break
		}
	}
	kept := c.frames[:0]
	for _, f := range c.frames {
		f.dts -= firstV
		f.pts -= firstV
		if f.dts >= c.period {
			if f.video {
				continue
			}
			f.dts -= c.period
			f.pts -= c.period
			// Keep it only where it fills the gap before the first frame,
			// at least half a frame away from it.
			if firstA < 0 || f.dts+10*time.Millisecond > firstA {
				continue
			}
		}
		kept = append(kept, f)
	}
	sort.SliceStable(kept, func(i, j int) bool { return kept[i].dts < kept[j].dts })
	c.frames = kept
	return c, nil
}

// parseAVCConfig reads SPS and PPS from an AVCDecoderConfigurationRecord
// (ISO/IEC 14496-15 5.3.3.1).
func parseAVCConfig(b []byte) (sps, pps []byte, err error) {
	bad := fmt.Errorf("%w: bad AVCDecoderConfigurationRecord", ErrInvalidFLV)
	if len(b) < 6 {
		return nil, nil, bad
	}
	pos := 5
	n := int(b[pos] & 0x1f)
	pos++
	for i := 0; i < n; i++ {
		if len(b)-pos < 2 {
			return nil, nil, bad
		}
		l := int(binary.BigEndian.Uint16(b[pos:]))
		pos += 2
		if len(b)-pos < l {
			return nil, nil, bad
		}
		if sps == nil {
			sps = b[pos : pos+l]
		}
		pos += l
	}
	if len(b)-pos < 1 {
		return nil, nil, bad
	}
	n = int(b[pos])
	pos++
	for i := 0; i < n; i++ {
		if len(b)-pos < 2 {
			return nil, nil, bad
		}
		l := int(binary.BigEndian.Uint16(b[pos:]))
		pos += 2
		if len(b)-pos < l {
			return nil, nil, bad
		}
		if pps == nil {
			pps = b[pos : pos+l]
		}
		pos += l
	}
	if len(sps) == 0 || len(pps) == 0 {
		return nil, nil, bad
	}
	return sps, pps, nil
}
