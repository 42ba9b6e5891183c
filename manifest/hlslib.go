package manifest

import (
	"fmt"
	"math"
	"time"

	"github.com/Eyevinn/hls-m3u8/m3u8"
)

// What hls-m3u8 v0.6.2 drops or gets wrong, and so what scanHLS reads
// itself (checked against its reader.go and writer.go):
//
//   - EXT-X-RENDITION-REPORT is not parsed at all.
//   - EXT-X-PRELOAD-HINT is a single pointer: with a PART and a MAP hint
//     only the last survives.
//   - EXT-X-PART: a part before the first full segment is dropped
//     (ErrPlaylistEmpty, ignored in non-strict mode); the segment a part
//     belongs to is guessed from its file name (isPartOf), and parts older
//     than three segments are discarded.
//   - EXT-X-PART-INF is read with Sscanf("PART-TARGET=%f"), so it is lost
//     unless PART-TARGET is the first attribute.
//   - MediaSegment.SeqId ignores EXT-X-SKIP, so MSNs of a delta update are
//     off by SKIPPED-SEGMENTS.
//   - TargetDuration is raised to the longest EXTINF (calcNewTargetDuration)
//     instead of reporting the tag, and the version defaults to 3.
//   - EXT-X-BYTERANGE without @offset becomes offset 0 instead of "follows
//     the previous range" (RFC 8216bis 4.4.4.2).
//   - EXT-X-PROGRAM-DATE-TIME before the parts of an LL-HLS segment goes
//     to its second part, not to the segment.
//   - EXT-X-MAP: only the first is kept on the playlist, later ones only
//     when they change, on segments.
//   - EXT-X-MEDIA URIs are reachable only through variants that reference
//     their group, de-duplicated and sorted.
//   - An EXT-X-I-FRAME-STREAM-INF between an EXT-X-STREAM-INF and its URI
//     line takes that URI, and the variant is left with none.
//   - A DATERANGE with SCTE35-OUT after the last segment (common at a live
//     edge) fails the whole decode with ErrDanglingSCTE35DateRange, even in
//     non-strict mode.
//   - A URI line with no EXTINF before it after EXT-X-KEY or an SCTE-35
//     DATERANGE dereferences a nil segment and panics.
//
// So the library is given only the lines of a media playlist that it
// handles well (hlsScan.feed, built by scanHLS after validation, in strict
// mode so that it checks the numbers), and its answers are merged with the
// scan's. For a multivariant playlist all the edge needs is the URIs, which
// the scan has, and which the library can misattribute (above).
func decodeWithLibrary(st *HLSState, sc *hlsScan) error {
	if sc.multivariant {
		st.Variants = append(sc.variants, sc.mediaURIs...)
		return nil
	}
	var (
		pl   m3u8.Playlist
		kind m3u8.ListType
	)
	err := guard(func() (err error) {
		pl, kind, err = m3u8.Decode(sc.feed, true)
		return err
	})
	if err != nil {
		return fmt.Errorf("hls-m3u8: %w: %w", ErrMalformed, err)
	}
	p, ok := pl.(*m3u8.MediaPlaylist)
	if kind != m3u8.MEDIA || !ok {
		return malformed("hls-m3u8 did not see a media playlist")
	}
	segs := p.GetAllSegments()
	if len(segs) != len(sc.segs) {
		return malformed("hls-m3u8 found %d segments, the scan %d", len(segs), len(sc.segs))
	}
	st.MediaSequence = p.SeqNo
	st.DiscontinuitySequence = p.DiscontinuitySeq
	st.EndList = p.Closed
	st.Skipped = p.SkippedSegments()
	switch p.MediaType {
	case m3u8.EVENT:
		st.PlaylistType = "EVENT"
	case m3u8.VOD:
		st.PlaylistType = "VOD"
	}
	first := st.MediaSequence + st.Skipped
	if first < st.MediaSequence || first+uint64(len(segs)) < first {
		return malformed("media sequence numbers overflow")
	}
	if c := p.ServerControl; c != nil {
		ctl := HLSServerControl{CanBlockReload: c.CanBlockReload, CanSkipDateRanges: c.CanSkipDateRanges}
		var errs [3]error
		ctl.CanSkipUntil, errs[0] = secondsToDuration(c.CanSkipUntil)
		ctl.HoldBack, errs[1] = secondsToDuration(c.HoldBack)
		ctl.PartHoldBack, errs[2] = secondsToDuration(c.PartHoldBack)
		for _, e := range errs {
			if e != nil {
				return fmt.Errorf("EXT-X-SERVER-CONTROL: %w", e)
			}
		}
		st.ServerControl = ctl
	}
	st.Segments = make([]HLSSegment, len(segs))
	for i, s := range segs {
		d, err := secondsToDuration(s.Duration)
		if err != nil {
			return fmt.Errorf("EXTINF: %w", err)
		}
		st.Segments[i] = HLSSegment{
			MSN:             first + uint64(i),
			URI:             s.URI,
			Duration:        d,
			Discontinuity:   s.Discontinuity,
			ByteRange:       sc.segs[i].byteRange,
			ProgramDateTime: sc.segs[i].pdt,
			Gap:             s.Gap,
		}
	}
	return nil
}

// secondsToDuration converts a float number of seconds from hls-m3u8,
// refusing what strconv.ParseFloat lets through but no duration is: NaN,
// infinities, negatives and overflows.
func secondsToDuration(f float64) (time.Duration, error) {
	if math.IsNaN(f) || f < 0 || f*1e9 >= math.MaxInt64 {
		return 0, malformed("duration %v", f)
	}
	return time.Duration(math.Round(f * 1e9)), nil
}
