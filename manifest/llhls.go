package manifest

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The LL-HLS blocking-reload rules of RFC 8216bis 6.2.5, the one copy the
// packager (which holds requests) and the edge (which answers or collapses
// them) share: reading the delivery directives of a raw query, whether a
// playlist satisfies them ("reaches"), and whether they ask for more than
// a client may wait for ("too far").

// Delivery directive errors (RFC 8216bis 6.2.5); both are answered 400.
var (
	// ErrBadDirective: a directive that is not a decimal-integer (4.2), an
	// _HLS_skip other than YES or v2, or a directive given twice.
	ErrBadDirective = errors.New("manifest: malformed delivery directive")
	// ErrPartWithoutMSN: 6.2.5.2, _HLS_part without _HLS_msn.
	ErrPartWithoutMSN = errors.New("manifest: _HLS_part without _HLS_msn")
)

// Directives are the delivery directives of a media playlist request
// (RFC 8216bis 6.2.5): _HLS_msn, _HLS_part and _HLS_skip.
type Directives struct {
	Block bool   // _HLS_msn given: a blocking playlist reload
	MSN   uint64 // _HLS_msn
	Part  int    // _HLS_part; -1 when not given
	Skip  string // _HLS_skip: "", "YES" or "v2" (a Playlist Delta Update)
}

// ParseDirectives reads the delivery directives of a raw (still escaped)
// query. Values are decimal-integers (RFC 8216bis 4.2: digits only, no
// sign) and _HLS_skip is YES or v2; anything else, a repeated directive or
// one that does not unescape included, is ErrBadDirective. Other _HLS_
// parameters are reserved and ignored, as is everything else.
func ParseDirectives(rawQuery string) (Directives, error) {
	d := Directives{Part: -1}
	hasPart := false
	for kv := range strings.SplitSeq(rawQuery, "&") {
		name, value, _ := strings.Cut(kv, "=")
		if !strings.Contains(name, "_HLS_") && !strings.Contains(name, "%") {
			continue // cheap: most parameters are not directives
		}
		n, err := url.QueryUnescape(name)
		if err != nil {
			continue // not a directive: those have plain names
		}
		switch n {
		case "_HLS_msn", "_HLS_part", "_HLS_skip":
		default:
			continue
		}
		v, err := url.QueryUnescape(value)
		if err != nil {
			return Directives{}, fmt.Errorf("%s=%q: %w", n, value, ErrBadDirective)
		}
		switch n {
		case "_HLS_msn":
			if d.Block {
				return Directives{}, fmt.Errorf("_HLS_msn given twice: %w", ErrBadDirective)
			}
			if d.MSN, err = decimalInteger(v, 64); err != nil {
				return Directives{}, fmt.Errorf("_HLS_msn=%q: %w", v, err)
			}
			d.Block = true
		case "_HLS_part":
			if hasPart {
				return Directives{}, fmt.Errorf("_HLS_part given twice: %w", ErrBadDirective)
			}
			p, err := decimalInteger(v, 31)
			if err != nil {
				return Directives{}, fmt.Errorf("_HLS_part=%q: %w", v, err)
			}
			hasPart, d.Part = true, int(p)
		case "_HLS_skip":
			if d.Skip != "" {
				return Directives{}, fmt.Errorf("_HLS_skip given twice: %w", ErrBadDirective)
			}
			if v != "YES" && v != "v2" {
				return Directives{}, fmt.Errorf("_HLS_skip=%q: %w", v, ErrBadDirective)
			}
			d.Skip = v
		}
	}
	if hasPart && !d.Block {
		// RFC 8216bis 6.2.5.2: _HLS_part without _HLS_msn is a 400.
		return Directives{}, ErrPartWithoutMSN
	}
	return d, nil
}

// decimalInteger parses an RFC 8216bis 4.2 decimal-integer (digits only,
// no sign) that fits in bits.
func decimalInteger(s string, bits int) (uint64, error) {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, ErrBadDirective
		}
	}
	v, err := strconv.ParseUint(s, 10, bits)
	if err != nil {
		return 0, ErrBadDirective
	}
	return v, nil
}

// Edge is where a live media playlist ends: what RFC 8216bis 6.2.5.2
// judges a blocking request by. The packager fills it from its window, the
// edge from a parsed playlist (HLSState.Edge).
type Edge struct {
	// Segments: the playlist lists a complete segment; LastMSN is the
	// newest one's Media Sequence Number.
	Segments bool
	LastMSN  uint64
	// Parts: the playlist lists a Partial Segment; PartMSN and PartIndex
	// name the newest, which may belong to the segment in progress
	// (LastMSN+1).
	Parts     bool
	PartMSN   uint64
	PartIndex int
}

// Reaches reports whether the playlist satisfies d (RFC 8216bis 6.2.5.2):
// it holds segment d.MSN or a later one, or, with _HLS_part, part d.Part
// of segment d.MSN or anything later. A Part Index past the last listed
// part of a complete segment asks for part 0 of the next segment; a
// complete segment whose parts are not listed (any more) holds every
// part. A request without _HLS_msn is always satisfied.
func (e Edge) Reaches(d Directives) bool {
	if !d.Block {
		return true
	}
	if d.Part < 0 {
		return e.Segments && e.LastMSN >= d.MSN
	}
	if e.Segments && e.LastMSN > d.MSN {
		return true
	}
	if e.Parts && (e.PartMSN > d.MSN || e.PartMSN == d.MSN && e.PartIndex >= d.Part) {
		return true
	}
	return e.Segments && e.LastMSN == d.MSN && !(e.Parts && e.PartMSN == d.MSN)
}

// TooFar reports whether d asks for more than RFC 8216bis 6.2.5.2 lets a
// client wait for, which is answered 400 at once: an _HLS_msn more than
// two past the last Media Segment (the last complete one: a segment in
// progress is only Partial Segments so far), or an _HLS_part more than the
// Advance Part Limit past the last part. Parts of segments not yet begun
// are counted at their fewest, one each, so only a request that is
// certainly too far is refused. A playlist that lists no segment cannot
// judge an _HLS_msn, nor one that lists no part an _HLS_part.
func (e Edge) TooFar(d Directives, partTarget time.Duration) bool {
	if !d.Block {
		return false
	}
	if e.Segments && d.MSN > e.LastMSN && d.MSN-e.LastMSN > 2 {
		return true
	}
	if d.Part < 0 || !e.Parts || d.MSN < e.PartMSN {
		return false
	}
	ahead := int64(d.Part) - int64(e.PartIndex)
	if d.MSN > e.PartMSN {
		// The segment of the last part may end now; every later one has a
		// part.
		ahead = int64(min(d.MSN-e.PartMSN-1, 1<<32)) + int64(d.Part) + 1
	}
	return ahead > int64(AdvancePartLimit(partTarget))
}

// AdvancePartLimit is how many parts past the last one a blocking request
// may ask for (RFC 8216bis 6.2.5.2): three divided by the part target in
// seconds when that is under a second, three otherwise. hls.js outside
// low-latency mode asks for the last part index of the segment after the
// last one, up to a whole segment's parts ahead.
func AdvancePartLimit(partTarget time.Duration) int {
	if partTarget <= 0 || partTarget >= time.Second {
		return 3
	}
	return int(3 * time.Second / partTarget)
}
