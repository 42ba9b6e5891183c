package media

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
)

// errEmptySegment is returned when a segment is finished with no samples.
var errEmptySegment = errors.New("segment has no samples")

// cmafTrackID is the track ID inside every init and fragment: each CMAF
// track lives in its own files (dash.js refuses muxed representations).
const cmafTrackID = 1

// sample is one access unit on a track's continuous media timeline.
type sample struct {
	dts     uint64 // decode time in track timescale units
	ptsOff  int32  // composition offset
	dur     uint32 // known when the next sample arrived (or fixed, audio)
	sync    bool
	payload []byte
}

// PartInfo locates one CMAF fragment (moof+mdat) inside its segment's
// bytes. Fragments are published as LL-HLS parts.
type PartInfo struct {
	Offset, Size int
	Start        uint64 // tfdt
	Dur          uint64
	Independent  bool // starts with a sync sample
}

// segmentBuilder accumulates CMAF fragments into one segment of a single
// track. It is the policy-free half of the segmenter: callers decide when
// a fragment or a segment ends. Not safe for concurrent use.
type segmentBuilder struct {
	timescale uint32 // of the track, for the mfhd sequence number

	buf      seekablebuffer.Buffer // completed fragments of the open segment
	start    uint64
	end      uint64
	nsamples int
	parts    []PartInfo

	frag      []*fmp4.Sample // samples of the open fragment
	fragStart uint64
	fragDur   uint64
	fragSync  bool

	sizeHint int
}

// open starts a new segment whose first sample decodes at start.
func (b *segmentBuilder) open(start uint64) {
	b.buf = seekablebuffer.Buffer{}
	if b.sizeHint > 0 {
		b.buf.Grow(b.sizeHint + b.sizeHint/4)
	}
	b.start, b.end = start, start
	b.nsamples = 0
	b.parts = nil
	b.frag = b.frag[:0]
}

// add appends a sample, whose duration must be known, to the open fragment.
func (b *segmentBuilder) add(s sample) {
	if len(b.frag) == 0 {
		b.fragStart = s.dts
		b.fragDur = 0
		b.fragSync = s.sync
	}
	b.frag = append(b.frag, &fmp4.Sample{
		Duration:        s.dur,
		PTSOffset:       s.ptsOff,
		IsNonSyncSample: !s.sync,
		Payload:         s.payload,
	})
	b.fragDur += uint64(s.dur)
	b.end = s.dts + uint64(s.dur)
	b.nsamples++
}

// fits reports whether a sample of dur ticks can join the open fragment
// without taking it past limit ticks. An empty fragment takes any sample.
func (b *segmentBuilder) fits(dur uint32, limit uint64) bool {
	return len(b.frag) == 0 || b.fragDur+uint64(dur) <= limit
}

// cutFragment writes the open fragment, if any, as moof+mdat after the
// segment's previous fragments, and reports whether it wrote one.
func (b *segmentBuilder) cutFragment() (bool, error) {
	if len(b.frag) == 0 {
		return false, nil
	}
	off := b.buf.Len()
	part := fmp4.Part{
		// ISO/IEC 14496-12 8.8.5: increasing in decode order, usually
		// from 1. One plus the fragment's start in milliseconds is, and it
		// is the same on every packager of one input (segment.timeline:
		// locked), so their segments are byte-identical; it wraps every
		// 49.7 days of media.
		SequenceNumber: uint32(b.fragStart*1000/uint64(max(b.timescale, 1)) + 1),
		Tracks: []*fmp4.PartTrack{{
			ID:       cmafTrackID,
			BaseTime: b.fragStart,
			Samples:  b.frag,
		}},
	}
	if err := part.Marshal(&b.buf); err != nil {
		return false, fmt.Errorf("marshal fragment: %w", err)
	}
	b.parts = append(b.parts, PartInfo{
		Offset: off, Size: b.buf.Len() - off,
		Start: b.fragStart, Dur: b.fragDur, Independent: b.fragSync,
	})
	clear(b.frag)
	b.frag = b.frag[:0]
	return true, nil
}

// partBytes returns the bytes of fragment i of the open segment. Nothing
// writes them again: later fragments go after them, and a buffer that
// grows copies them to a new array, leaving these as they are; finish
// hands the buffer over and open starts a new one.
func (b *segmentBuilder) partBytes(i int) []byte {
	p := b.parts[i]
	return b.buf.Bytes()[p.Offset : p.Offset+p.Size : p.Offset+p.Size]
}

// finish closes the segment and returns its bytes, which the builder
// never touches again.
func (b *segmentBuilder) finish() ([]byte, []PartInfo, error) {
	if _, err := b.cutFragment(); err != nil {
		return nil, nil, err
	}
	if b.nsamples == 0 {
		return nil, nil, errEmptySegment
	}
	body := b.buf.Bytes()
	b.sizeHint = len(body)
	parts := b.parts
	b.buf = seekablebuffer.Buffer{}
	b.parts = nil
	b.nsamples = 0
	return body, parts, nil
}

// MarshalInit builds the CMAF header (ftyp+moov) of a single-track file:
// the init segment of t.
func MarshalInit(t *Track) ([]byte, error) {
	init := fmp4.Init{Tracks: []*fmp4.InitTrack{{
		ID:        cmafTrackID,
		TimeScale: t.timescale,
		Codec:     t.codec,
	}}}
	var buf seekablebuffer.Buffer
	if err := init.Marshal(&buf); err != nil {
		return nil, fmt.Errorf("marshal %s init: %w", t.kind, err)
	}
	return bytes.Clone(buf.Bytes()), nil
}
