package live

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/Eyevinn/hls-m3u8/m3u8"
)

// hlsVersion is the EXT-X-VERSION written. RFC 8216 section 7: EXT-X-MAP
// in a playlist without EXT-X-I-FRAMES-ONLY needs version 6. None of the
// LL-HLS tags needs more, but EXT-X-SKIP needs 9 (RFC 8216bis 8), so a
// Playlist Delta Update says hlsDeltaVersion; RFC 8216bis 6.2.1 asks for
// no higher a version than the tags need.
const (
	hlsVersion      = 6
	hlsDeltaVersion = 9
)

// hlsSegment is one listed media segment.
type hlsSegment struct {
	uri      string
	duration float64 // seconds
	disc     bool    // EXT-X-DISCONTINUITY before it
	mapURI   string  // its init segment
	pdt      time.Time
}

// hlsMediaPlaylist is the input of a live media playlist.
type hlsMediaPlaylist struct {
	targetDuration        uint
	mediaSequence         uint64
	discontinuitySequence uint64
	segments              []hlsSegment
	ll                    *hlsLowLatency // nil: not a low-latency playlist
}

// encode writes the whole playlist.
func (p *hlsMediaPlaylist) encode() ([]byte, error) { return p.encodeSkipping(0) }

// encodeDelta writes a Playlist Delta Update (RFC 8216bis 6.2.5.1) that
// replaces the first skip segments with EXT-X-SKIP.
func (p *hlsMediaPlaylist) encodeDelta(skip int) ([]byte, error) {
	if skip <= 0 || skip >= len(p.segments) || p.ll == nil {
		return nil, fmt.Errorf("encode delta update skipping %d of %d segments: %w", skip, len(p.segments), errNothingToSkip)
	}
	return p.encodeSkipping(skip)
}

// encodeSkipping writes the playlist with hls-m3u8. The library places
// EXT-X-MAP after the header tags and before the first segment listed,
// repeats it only where the init segment changes (after a discontinuity),
// writes EXT-X-PROGRAM-DATE-TIME per segment, the parts of a segment before
// its EXTINF and those of the segment in progress after the last one, then
// the preload hint. Only EXT-X-RENDITION-REPORT, which it does not know,
// is written here, at the end.
func (p *hlsMediaPlaylist) encodeSkipping(skip int) ([]byte, error) {
	if len(p.segments) == 0 {
		return nil, errors.New("encode media playlist: no segment")
	}
	// One spare slot: the library finds the last segment at tail-1, and a
	// full ring wraps tail to 0.
	pl, err := m3u8.NewMediaPlaylist(0, uint(len(p.segments))+1)
	if err != nil {
		return nil, fmt.Errorf("encode media playlist: %w", err)
	}
	pl.SetVersion(hlsVersion)
	if skip > 0 {
		pl.SetVersion(hlsDeltaVersion)
	}
	pl.SetIndependentSegments(true)
	pl.SetTargetDuration(p.targetDuration)
	pl.SeqNo = p.mediaSequence
	pl.DiscontinuitySeq = p.discontinuitySequence
	if p.segments[0].mapURI != "" { // MPEG-TS segments have no init
		pl.Map = &m3u8.Map{URI: p.segments[0].mapURI}
	}
	for _, s := range p.segments {
		seg := &m3u8.MediaSegment{
			URI:           s.uri,
			Duration:      s.duration,
			Discontinuity: s.disc,
			// Millisecond precision: RFC 8216 4.3.2.6 asks for it, and
			// JavaScript date parsers are happiest with three digits.
			ProgramDateTime: s.pdt.UTC().Truncate(time.Millisecond),
		}
		if s.mapURI != "" {
			seg.Map = &m3u8.Map{URI: s.mapURI}
		}
		if err := pl.AppendSegment(seg); err != nil {
			return nil, fmt.Errorf("encode media playlist: %w", err)
		}
	}
	if p.ll == nil {
		return bytes.Clone(pl.Encode().Bytes()), nil
	}
	p.ll.apply(pl)
	out, err := pl.EncodeWithSkip(uint64(skip))
	if err != nil {
		return nil, fmt.Errorf("encode media playlist: %w", err)
	}
	return p.ll.appendReports(bytes.Clone(out.Bytes())), nil
}

// targetDurationFor returns EXT-X-TARGETDURATION for a rendition: RFC 8216
// 4.3.3.1 (version 6+) requires every EXTINF rounded to the nearest integer
// to be at most the target, and the target must not change, so it is kept
// at the maximum ever needed.
func targetDurationFor(configured time.Duration, maxSeen float64) uint {
	t := uint(math.Round(configured.Seconds()))
	if t == 0 {
		t = 1
	}
	if m := uint(math.Round(maxSeen)); m > t {
		t = m
	}
	return t
}

// hlsVariant is the input of the multivariant playlist.
type hlsMultivariant struct {
	videoURI     string // empty for audio-only streams
	audioURI     string // empty for video-only streams
	bandwidth    uint32 // peak, video+audio, bits/s
	avgBandwidth uint32
	codecs       string
	width        int
	height       int
	frameRate    float64
	channels     int
}

const hlsAudioGroup = "audio"

func (m *hlsMultivariant) encode() []byte {
	pl := m3u8.NewMasterPlaylist()
	params := m3u8.VariantParams{
		Bandwidth:        m.bandwidth,
		AverageBandwidth: m.avgBandwidth,
		Codecs:           m.codecs,
		FrameRate:        m.frameRate,
	}
	if m.width > 0 && m.height > 0 {
		params.Resolution = strconv.Itoa(m.width) + "x" + strconv.Itoa(m.height)
	}
	uri := m.videoURI
	if uri == "" {
		// Audio-only: the audio playlist is the variant itself.
		uri = m.audioURI
	} else if m.audioURI != "" {
		// Audio as its own rendition group, so hls.js loads the separate
		// CMAF audio track (the segments are not muxed).
		params.Audio = hlsAudioGroup
		alt := &m3u8.Alternative{
			Type:       "AUDIO",
			GroupId:    hlsAudioGroup,
			Name:       "audio",
			Default:    true,
			Autoselect: true,
			URI:        m.audioURI,
		}
		if m.channels > 0 {
			alt.Channels = &m3u8.Channels{Amount: m.channels}
		}
		params.Alternatives = []*m3u8.Alternative{alt}
	}
	pl.Append(uri, nil, params)
	pl.SetIndependentSegments(true)
	pl.SetVersion(hlsVersion)
	return bytes.Clone(pl.Encode().Bytes())
}
