package manifest

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/Eyevinn/hls-m3u8/m3u8"
)

// github.com/Eyevinn/hls-m3u8 is this package's second reader: every
// playlist the tests and the fuzzer feed ParseHLS (the golden inputs
// under testdata, the table cases, the fuzz corpus) that ParseHLS accepts
// is read again by the library, and the two must agree on the numbers
// (media sequence, discontinuity sequence, skipped segments, end list,
// playlist type, server control) and on every segment (URI, duration,
// discontinuity, gap). Two independent readers agreeing is what makes a
// fuzzer's "accepted" mean something.
//
// It is not the reader of the product: ParseHLS keeps the playlist byte
// for byte and needs the LL-HLS tags, and hls-m3u8 v0.6.2 drops or gets
// wrong (checked against its reader.go and writer.go):
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
// So the library is given only the lines of a media playlist it reads
// well (libraryFeed), in strict mode, and is compared on what it reads
// well. Multivariant playlists are not compared (the last two defects
// above).

// libraryTags are the media playlist tags the library is given.
var libraryTags = map[string]bool{
	"EXT-X-TARGETDURATION": true, "EXT-X-MEDIA-SEQUENCE": true, "EXT-X-DISCONTINUITY-SEQUENCE": true,
	"EXT-X-PLAYLIST-TYPE": true, "EXT-X-ENDLIST": true, "EXT-X-SERVER-CONTROL": true, "EXT-X-SKIP": true,
	"EXT-X-DISCONTINUITY": true, "EXT-X-GAP": true, "EXTINF": true,
}

// libraryFeed is #EXTM3U, the libraryTags lines and the URI lines of data.
func libraryFeed(data []byte) *bytes.Buffer {
	var feed bytes.Buffer
	feed.WriteString("#EXTM3U\n")
	i, _ := headerEnd(data)
	for i < len(data) {
		start, end, next := nextLine(data, i)
		i = next
		line := data[start:end]
		if len(line) == 0 {
			continue
		}
		if line[0] == '#' {
			if name := tagName(line); name == nil || !libraryTags[string(name)] {
				continue
			}
		}
		feed.Write(line)
		feed.WriteByte('\n')
	}
	return &feed
}

// libraryDisagrees reads data, which ParseHLS read as st, with hls-m3u8
// and says where the two differ; "" when they agree.
func libraryDisagrees(data []byte, st *HLSState) string {
	if st.Multivariant {
		return ""
	}
	var (
		pl   m3u8.Playlist
		kind m3u8.ListType
	)
	err := guard(func() (err error) {
		pl, kind, err = m3u8.Decode(*libraryFeed(data), true)
		return err
	})
	p, ok := pl.(*m3u8.MediaPlaylist)
	if err != nil || kind != m3u8.MEDIA || !ok {
		return fmt.Sprintf("hls-m3u8 does not read a media playlist: %v", err)
	}
	want := HLSState{
		MediaSequence:         p.SeqNo,
		DiscontinuitySequence: p.DiscontinuitySeq,
		EndList:               p.Closed,
		Skipped:               p.SkippedSegments(),
	}
	switch p.MediaType {
	case m3u8.EVENT:
		want.PlaylistType = "EVENT"
	case m3u8.VOD:
		want.PlaylistType = "VOD"
	}
	if c := p.ServerControl; c != nil {
		want.ServerControl = HLSServerControl{
			CanBlockReload: c.CanBlockReload, CanSkipDateRanges: c.CanSkipDateRanges,
			CanSkipUntil: libSeconds(c.CanSkipUntil), HoldBack: libSeconds(c.HoldBack), PartHoldBack: libSeconds(c.PartHoldBack),
		}
	}
	got := HLSState{
		MediaSequence: st.MediaSequence, DiscontinuitySequence: st.DiscontinuitySequence, EndList: st.EndList,
		Skipped: st.Skipped, PlaylistType: st.PlaylistType, ServerControl: st.ServerControl,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		return fmt.Sprintf("header: ParseHLS %+v, hls-m3u8 %+v", got, want)
	}
	segs := p.GetAllSegments()
	if len(segs) != len(st.Segments) {
		return fmt.Sprintf("ParseHLS found %d segments, hls-m3u8 %d", len(st.Segments), len(segs))
	}
	for i, s := range segs {
		g := st.Segments[i]
		if g.URI != s.URI || g.Duration != libSeconds(s.Duration) || g.Discontinuity != s.Discontinuity || g.Gap != s.Gap {
			return fmt.Sprintf("segment %d: ParseHLS %q %v disc=%v gap=%v, hls-m3u8 %q %v disc=%v gap=%v",
				i, g.URI, g.Duration, g.Discontinuity, g.Gap, s.URI, libSeconds(s.Duration), s.Discontinuity, s.Gap)
		}
	}
	return ""
}

// libSeconds converts the library's float seconds as ParseHLS rounds them.
func libSeconds(f float64) time.Duration { return time.Duration(f*1e9 + 0.5) }

// TestLibraryAgreesOnCorpus: the golden inputs, read by both.
func TestLibraryAgreesOnCorpus(t *testing.T) {
	n := 0
	for _, p := range corpus(t, ".m3u8") {
		data := readFile(t, p)
		st, err := ParseHLS(data)
		if err != nil {
			continue // the corpus has broken inputs on purpose
		}
		if d := libraryDisagrees(data, st); d != "" {
			t.Errorf("%s: %s", p, d)
		}
		if !st.Multivariant {
			n++
		}
	}
	if n == 0 {
		t.Fatal("no media playlist in the corpus")
	}
}
