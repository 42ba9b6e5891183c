package manifest

import (
	"fmt"
	"math"
	"time"
)

// parseXSDuration parses an xs:duration (ISO 8601 PnYnMnDTnHnMnS, as used
// by MPD@minimumUpdatePeriod and friends, ISO/IEC 23009-1 5.3.1.2).
// Years and months have no fixed length; they are taken as 365 and 30 days,
// which only matters for values no live MPD uses. go-dash's ParseDuration
// refuses Y and M outright (and P0Y0M0DT0H0M6S is what some encoders write).
func parseXSDuration(s string) (time.Duration, error) {
	orig := s
	bad := func() (time.Duration, error) {
		return 0, fmt.Errorf("duration %q: %w", orig, ErrMalformed)
	}
	neg := false
	if len(s) > 0 && s[0] == '-' {
		neg, s = true, s[1:]
	}
	if len(s) < 2 || s[0] != 'P' {
		return bad()
	}
	s = s[1:]
	var total float64
	inTime, any := false, false
	for len(s) > 0 {
		if s[0] == 'T' {
			if inTime {
				return bad()
			}
			inTime, s = true, s[1:]
			if len(s) == 0 {
				return bad()
			}
			continue
		}
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		if i == 0 || i == len(s) {
			return bad()
		}
		v, err := parseDecimal(s[:i])
		if err != nil {
			return bad()
		}
		var unit float64
		switch {
		case !inTime && s[i] == 'Y':
			unit = 365 * 86400
		case !inTime && s[i] == 'M':
			unit = 30 * 86400
		case !inTime && s[i] == 'D':
			unit = 86400
		case inTime && s[i] == 'H':
			unit = 3600
		case inTime && s[i] == 'M':
			unit = 60
		case inTime && s[i] == 'S':
			unit = 1
		default:
			return bad()
		}
		total += v * unit
		any = true
		s = s[i+1:]
	}
	if !any || total*1e9 >= math.MaxInt64 {
		return bad()
	}
	d := time.Duration(math.Round(total * 1e9))
	if neg {
		d = -d
	}
	return d, nil
}

// parseDecimal parses digits with at most one '.', nothing else (no sign,
// exponent, hex, Inf or NaN that strconv.ParseFloat would accept).
func parseDecimal(s string) (float64, error) {
	dot := false
	digits := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot:
			dot = true
		default:
			return 0, ErrMalformed
		}
	}
	if digits == 0 {
		return 0, ErrMalformed
	}
	var v, scale float64 = 0, 1
	dot = false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '.' {
			dot = true
			continue
		}
		if dot {
			scale /= 10
			v += float64(c-'0') * scale
		} else {
			v = v*10 + float64(c-'0')
		}
	}
	return v, nil
}

// parseSeconds parses an HLS decimal-floating-point number of seconds
// (RFC 8216bis 4.2) into a Duration, refusing anything that would not fit.
func parseSeconds(s string) (time.Duration, error) {
	v, err := parseDecimal(s)
	if err != nil || v*1e9 >= math.MaxInt64 {
		return 0, fmt.Errorf("decimal %q: %w", s, ErrMalformed)
	}
	return time.Duration(math.Round(v * 1e9)), nil
}

// parseXSDateTime parses an xs:dateTime as used by MPD@availabilityStartTime
// and @publishTime. A value without a zone is taken as UTC, which is what
// DASH-IF IOP 4.7 asks packagers to mean.
func parseXSDateTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	// time.Parse accepts a fractional second after "05" even when the
	// layout has none.
	if t, err := time.ParseInLocation("2006-01-02T15:04:05", s, time.UTC); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("date-time %q: %w", s, ErrMalformed)
}
