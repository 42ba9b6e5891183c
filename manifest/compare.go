package manifest

import "fmt"

// Verdict is what Compare thinks of a new playlist.
type Verdict uint8

const (
	// VerdictOK: the new playlist is a legal successor; serve it.
	VerdictOK Verdict = iota
	// VerdictReject: the new playlist breaks the update rules (a stale or
	// inconsistent origin replica); keep serving the last trusted one.
	VerdictReject
	// VerdictRestart: the stream was restarted; trust the new playlist and
	// purge the URIs Compare returns, which now name new content.
	VerdictRestart
)

func (v Verdict) String() string {
	switch v {
	case VerdictOK:
		return "ok"
	case VerdictReject:
		return "reject"
	case VerdictRestart:
		return "restart"
	}
	return fmt.Sprintf("verdict(%d)", uint8(v))
}

// Compare checks a new media playlist against the last trusted one, by the
// rules a server must follow when it updates a playlist (RFC 8216bis 6.2.1,
// 6.2.2, 4.4.3.1-3): the media sequence and discontinuity sequence never go
// backwards, the target duration never changes, a Media Sequence Number
// always names the same URI (and byte range) and the same discontinuity,
// and the live edge (last segment, last part, EXT-X-ENDLIST) never
// retreats.
//
// A real restart is VerdictRestart: the media sequence reset together with
// a higher discontinuity sequence; a media sequence reset or an overlap in
// numbers where no segment URI is shared any more; or every segment still
// in the window having moved to a later discontinuity. Then the second
// result lists the URIs (segments, parts, maps, hints) that the old and the
// new playlist both use, which now mean something else and must be purged.
//
// prev == nil means there is nothing to compare with: VerdictOK. Two
// multivariant playlists are always VerdictOK (they may change freely); a
// change of kind is rejected with ErrMalformed.
func Compare(prev, next *HLSState) (Verdict, []string, error) {
	if next == nil {
		return VerdictReject, nil, fmt.Errorf("compare: no new playlist: %w", ErrMalformed)
	}
	if prev == nil {
		return VerdictOK, nil, nil
	}
	if prev.Multivariant != next.Multivariant {
		return VerdictReject, nil, fmt.Errorf("compare: playlist kind changed: %w", ErrMalformed)
	}
	if next.Multivariant {
		return VerdictOK, nil, nil
	}

	o := overlapOf(prev, next)
	msnBack := next.MediaSequence < prev.MediaSequence
	dsnUp := next.DiscontinuitySequence > prev.DiscontinuitySequence
	switch {
	case msnBack && (dsnUp || o.disjoint),
		!msnBack && o.n > 0 && o.uriChanged == o.n && o.disjoint,
		!msnBack && o.n > 0 && o.discUp == o.n && dsnUp:
		return VerdictRestart, reusedURIs(prev, next), nil
	}

	switch {
	case msnBack:
		return reject(ErrSequenceBackwards, "EXT-X-MEDIA-SEQUENCE %d after %d", next.MediaSequence, prev.MediaSequence)
	case next.DiscontinuitySequence < prev.DiscontinuitySequence:
		return reject(ErrDiscontinuityBackwards, "EXT-X-DISCONTINUITY-SEQUENCE %d after %d", next.DiscontinuitySequence, prev.DiscontinuitySequence)
	case next.TargetDuration != prev.TargetDuration:
		return reject(ErrTargetDurationChanged, "EXT-X-TARGETDURATION %v after %v", next.TargetDuration, prev.TargetDuration)
	case o.uriChanged > 0:
		return reject(ErrURIChanged, "MSN %d names %q, was %q", o.firstMSN, o.nextURI, o.prevURI)
	case o.discDown > 0:
		return reject(ErrDiscontinuityBackwards, "%d segments moved to an earlier discontinuity", o.discDown)
	case o.discUp > 0:
		return reject(ErrDiscontinuityChanged, "%d segments moved to a later discontinuity", o.discUp)
	case prev.EndList && !next.EndList:
		// 6.2.1: after EXT-X-ENDLIST the playlist does not change; one
		// without it is an older copy.
		return reject(ErrSequenceBackwards, "EXT-X-ENDLIST disappeared")
	}
	if pl, ok := prev.LastMSN(); ok && !next.Reaches(pl, -1) {
		nl, _ := next.LastMSN()
		return reject(ErrSequenceBackwards, "last segment %d after %d", nl, pl)
	}
	if pm, pp, ok := prev.LastPart(); ok && !next.Reaches(pm, pp) {
		return reject(ErrSequenceBackwards, "part %d.%d is gone", pm, pp)
	}
	return VerdictOK, nil, nil
}

func reject(sentinel error, format string, args ...any) (Verdict, []string, error) {
	return VerdictReject, nil, fmt.Errorf("compare: %s: %w", fmt.Sprintf(format, args...), sentinel)
}

// overlap summarises the segments whose MSN is in both playlists.
type overlap struct {
	n          int  // segments with an MSN in both
	uriChanged int  // ... whose URI or byte range differs
	discUp     int  // ... whose discontinuity number went up
	discDown   int  // ... whose discontinuity number went down
	disjoint   bool // both have segments and share no URI at all

	firstMSN         uint64 // the first MSN whose URI changed, for the error
	prevURI, nextURI string
}

type segKey struct{ uri, byteRange string }

func overlapOf(prev, next *HLSState) overlap {
	var o overlap
	// Discontinuity numbers (RFC 8216bis 4.4.3.3) are only known when no
	// segment was skipped: a skipped segment may carry a discontinuity.
	checkDisc := prev.Skipped == 0 && next.Skipped == 0
	prevDisc := discNumbers(prev)
	nextDisc := discNumbers(next)
	if len(prev.Segments) > 0 {
		first := prev.Segments[0].MSN
		for i, s := range next.Segments {
			if s.MSN < first || s.MSN-first >= uint64(len(prev.Segments)) {
				continue
			}
			j := int(s.MSN - first)
			p := prev.Segments[j]
			o.n++
			if p.URI != s.URI || p.ByteRange != s.ByteRange {
				if o.uriChanged == 0 {
					o.firstMSN, o.prevURI, o.nextURI = s.MSN, p.URI, s.URI
				}
				o.uriChanged++
			}
			if checkDisc {
				switch {
				case nextDisc[i] > prevDisc[j]:
					o.discUp++
				case nextDisc[i] < prevDisc[j]:
					o.discDown++
				}
			}
		}
	}
	if len(prev.Segments) > 0 && len(next.Segments) > 0 {
		seen := make(map[segKey]struct{}, len(prev.Segments))
		for _, s := range prev.Segments {
			seen[segKey{s.URI, s.ByteRange}] = struct{}{}
		}
		o.disjoint = true
		for _, s := range next.Segments {
			if _, ok := seen[segKey{s.URI, s.ByteRange}]; ok {
				o.disjoint = false
				break
			}
		}
	}
	return o
}

// discNumbers gives each segment its Discontinuity Sequence Number: the
// playlist's EXT-X-DISCONTINUITY-SEQUENCE, plus one for every
// EXT-X-DISCONTINUITY up to and including the segment.
func discNumbers(s *HLSState) []uint64 {
	out := make([]uint64, len(s.Segments))
	d := s.DiscontinuitySequence
	for i, seg := range s.Segments {
		if seg.Discontinuity {
			d++
		}
		out[i] = d
	}
	return out
}

// reusedURIs lists, in the new playlist's order and without repeats, the
// URIs of segments, parts, maps and preload hints that both playlists use.
func reusedURIs(prev, next *HLSState) []string {
	old := make(map[string]struct{})
	for _, u := range allURIs(prev) {
		old[u] = struct{}{}
	}
	var out []string
	for _, u := range allURIs(next) {
		if _, ok := old[u]; ok {
			out = append(out, u)
			delete(old, u)
		}
	}
	return out
}

func allURIs(s *HLSState) []string {
	out := make([]string, 0, len(s.Maps)+len(s.Segments)+len(s.Parts)+len(s.PreloadHints))
	out = append(out, s.Maps...)
	for _, seg := range s.Segments {
		out = append(out, seg.URI)
	}
	for _, p := range s.Parts {
		out = append(out, p.URI)
	}
	for _, h := range s.PreloadHints {
		out = append(out, h.URI)
	}
	return out
}
