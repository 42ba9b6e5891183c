package origin

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
)

// Delivery directive errors (RFC 8216bis 6.2.5); both are answered 400.
var (
	errBadDirective   = errors.New("malformed delivery directive")
	errPartWithoutMSN = errors.New("_HLS_part without _HLS_msn")
)

// directives are the delivery directives of a media playlist request
// (RFC 8216bis 6.2.5): _HLS_msn, _HLS_part and _HLS_skip.
type directives struct {
	block bool   // _HLS_msn given: a blocking playlist reload
	msn   uint64 // _HLS_msn
	part  int64  // _HLS_part; -1 when not given
	skip  bool   // _HLS_skip=YES or v2: a Playlist Delta Update
}

// parseDirectives reads the delivery directives of a query. Values are
// decimal-integers (RFC 8216bis 4.2: digits only) and _HLS_skip is YES or
// v2; anything else, a repeated directive included, is errBadDirective.
// Other _HLS_ parameters are reserved and ignored.
func parseDirectives(q url.Values) (directives, error) {
	d := directives{part: -1}
	one := func(name string) (string, bool, error) {
		vs, ok := q[name]
		if !ok {
			return "", false, nil
		}
		if len(vs) != 1 {
			return "", false, fmt.Errorf("%s given %d times: %w", name, len(vs), errBadDirective)
		}
		return vs[0], true, nil
	}
	v, ok, err := one("_HLS_msn")
	if err != nil {
		return d, err
	}
	if ok {
		if d.msn, err = decimalInteger(v, 64); err != nil {
			return d, fmt.Errorf("_HLS_msn=%q: %w", v, err)
		}
		d.block = true
	}
	if v, ok, err = one("_HLS_part"); err != nil {
		return d, err
	} else if ok {
		p, err := decimalInteger(v, 31)
		if err != nil {
			return d, fmt.Errorf("_HLS_part=%q: %w", v, err)
		}
		if !d.block {
			// RFC 8216bis 6.2.5.2: _HLS_part without _HLS_msn is a 400.
			return d, errPartWithoutMSN
		}
		d.part = int64(p)
	}
	if v, ok, err = one("_HLS_skip"); err != nil {
		return d, err
	} else if ok {
		if v != "YES" && v != "v2" {
			return d, fmt.Errorf("_HLS_skip=%q: %w", v, errBadDirective)
		}
		// v2 also skips EXT-X-DATERANGE tags; there are none here.
		d.skip = true
	}
	return d, nil
}

// decimalInteger parses an RFC 8216bis 4.2 decimal-integer (digits only,
// no sign) that fits in bits.
func decimalInteger(s string, bits int) (uint64, error) {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, errBadDirective
		}
	}
	v, err := strconv.ParseUint(s, 10, bits)
	if err != nil {
		return 0, errBadDirective
	}
	return v, nil
}

// query encodes d as parseDirectives reads it.
func (d directives) query() url.Values {
	q := url.Values{}
	if d.block {
		q.Set("_HLS_msn", strconv.FormatUint(d.msn, 10))
		if d.part >= 0 {
			q.Set("_HLS_part", strconv.FormatInt(d.part, 10))
		}
	}
	if d.skip {
		q.Set("_HLS_skip", "YES")
	}
	return q
}
