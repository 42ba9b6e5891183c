package manifest

import (
	"errors"
	"time"
)

// Redundant origins (two packagers publishing one stream) serve versions
// of the same playlist that differ only in how far along each is. The edge
// fetches them from several origins and must serve the freshest, and never
// one behind what it already served: a player that saw segment N must not
// be handed a playlist ending before N (RFC 8216bis 6.2.1, 6.2.2; 6.3.4
// has the client expect the playlist to keep growing).

// FresherHLS compares two versions of one media playlist: it returns > 0
// when b is fresher, < 0 when a is, 0 when neither is. In order:
//
//  1. the live edge: the Media Sequence Number of the last segment
//     (EXT-X-MEDIA-SEQUENCE plus the segments listed or skipped, RFC 8216bis
//     4.4.3.2, 6.2.5.1), which is the media sequence compared where it
//     matters: a longer window starting earlier is not staler;
//  2. the last partial segment (4.4.4.9), for LL-HLS;
//  3. EXT-X-ENDLIST (4.4.3.4): a final playlist is newer than one that may
//     still grow;
//  4. the EXT-X-PROGRAM-DATE-TIME of the live edge (4.4.4.6: the date of a
//     segment's first sample; later segments follow by EXTINF durations),
//     which orders two playlists at the same sequence position whose
//     packagers stamp their edge differently: the later stamp has the
//     newer media;
//  5. the number of segments listed: more history at the same edge.
//
// A nil playlist is staler than any other; two multivariant playlists are
// equal (they carry no sequence).
func FresherHLS(a, b *HLSState) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return 1
	case b == nil:
		return -1
	case a.Multivariant || b.Multivariant:
		return 0
	}
	am, aok := a.LastMSN()
	bm, bok := b.LastMSN()
	if c := cmpBool(aok, bok); c != 0 {
		return c
	}
	if c := cmpU64(am, bm); c != 0 {
		return c
	}
	apm, api, apok := a.LastPart()
	bpm, bpi, bpok := b.LastPart()
	if apok && bpok {
		if c := cmpU64(apm, bpm); c != 0 {
			return c
		}
		if c := cmpU64(uint64(api), uint64(bpi)); c != 0 {
			return c
		}
	}
	if c := cmpBool(a.EndList, b.EndList); c != 0 {
		return c
	}
	at, bt := a.EdgeTime(), b.EdgeTime()
	if !at.IsZero() && !bt.IsZero() {
		if at.Before(bt) {
			return 1
		}
		if bt.Before(at) {
			return -1
		}
	}
	return cmpU64(uint64(len(a.Segments)), uint64(len(b.Segments)))
}

// EdgeTime is the EXT-X-PROGRAM-DATE-TIME of the end of the last segment:
// the last date tag plus the durations of its segment and those after it
// (RFC 8216bis 4.4.4.6). Zero when no segment carries a date.
func (s *HLSState) EdgeTime() time.Time {
	for i := len(s.Segments) - 1; i >= 0; i-- {
		if t := s.Segments[i].ProgramDateTime; !t.IsZero() {
			for _, seg := range s.Segments[i:] {
				t = t.Add(seg.Duration)
			}
			return t
		}
	}
	return time.Time{}
}

// BehindHLS reports whether serving next after served would take a viewer
// backwards: the sanity gate (Compare) rejects it because its media
// sequence, discontinuity sequence, last segment or last part went back,
// or EXT-X-ENDLIST disappeared. A restart (VerdictRestart) is not behind;
// other rejections (a URI or target duration changed) are not either:
// they are inconsistencies, and Compare's error says which.
func BehindHLS(served, next *HLSState) bool {
	v, _, err := Compare(served, next)
	return v == VerdictReject && (errors.Is(err, ErrSequenceBackwards) || errors.Is(err, ErrDiscontinuityBackwards))
}

// PickHLS chooses which of cands (versions of one media playlist from
// redundant origins; nil for an origin that gave none) to serve after
// served: the freshest that the sanity gate accepts as a successor of
// served (Compare gives VerdictOK or VerdictRestart). It returns the
// index and Compare's verdict for it, or ok == false when no candidate
// may follow served: keep serving served. served == nil accepts the
// freshest candidate.
func PickHLS(served *HLSState, cands []*HLSState) (i int, v Verdict, ok bool) {
	best := -1
	var bestV Verdict
	for j, c := range cands {
		if c == nil {
			continue
		}
		cv, _, _ := Compare(served, c)
		if cv == VerdictReject {
			continue
		}
		if best < 0 || FresherHLS(cands[best], c) > 0 {
			best, bestV = j, cv
		}
	}
	if best < 0 {
		return 0, VerdictReject, false
	}
	return best, bestV, true
}

// FresherDASH compares two versions of one MPD: > 0 when b is fresher,
// < 0 when a is, 0 when neither. MPD@publishTime says when the MPD was
// generated, and an updated MPD carries a later one (ISO/IEC 23009-1
// 5.3.1.2, Table 3, and 5.4.1: "the value of MPD@publishTime shall be
// greater" in each update); at equal times a static MPD (the end of a
// live presentation, 5.4.1) is fresher than a dynamic one. An MPD without
// publishTime cannot be ordered against one with it: 0.
func FresherDASH(a, b *DASHState) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return 1
	case b == nil:
		return -1
	}
	if a.PublishTime.IsZero() || b.PublishTime.IsZero() {
		return 0
	}
	if a.PublishTime.Before(b.PublishTime) {
		return 1
	}
	if b.PublishTime.Before(a.PublishTime) {
		return -1
	}
	return cmpBool(!a.Dynamic, !b.Dynamic)
}

// BehindDASH reports whether serving next after served would go back in
// time: next's publishTime is earlier (ISO/IEC 23009-1 5.4.1), or served
// was static (final) and next is dynamic again.
func BehindDASH(served, next *DASHState) bool {
	if served == nil || next == nil {
		return false
	}
	if !served.Dynamic && next.Dynamic {
		return true
	}
	return !served.PublishTime.IsZero() && !next.PublishTime.IsZero() && next.PublishTime.Before(served.PublishTime)
}

// PickDASH is PickHLS for MPDs: the freshest candidate not behind served.
func PickDASH(served *DASHState, cands []*DASHState) (i int, ok bool) {
	best := -1
	for j, c := range cands {
		if c == nil || BehindDASH(served, c) {
			continue
		}
		if best < 0 || FresherDASH(cands[best], c) > 0 {
			best = j
		}
	}
	return max(best, 0), best >= 0
}

// cmpU64 is > 0 when b > a.
func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return 1
	case a > b:
		return -1
	}
	return 0
}

// cmpBool is > 0 when only b is true.
func cmpBool(a, b bool) int {
	switch {
	case !a && b:
		return 1
	case a && !b:
		return -1
	}
	return 0
}
