package cmcd

import "strings"

// StripQuery removes every CMCD parameter from rawQuery, a URL's raw
// query, and leaves every other byte as it was, so that what the player
// reports per request (CTA-5004 §3.2) never reaches the cache key or the
// origin. It reports whether it removed any. Parameters are separated by
// '&' only, as net/url does since Go 1.17; a parameter is CMCD when its
// name, percent-decoded, is exactly "CMCD". Without one it returns
// rawQuery itself and allocates nothing.
func StripQuery(rawQuery string) (string, bool) {
	if !mayHaveCMCD(rawQuery) {
		return rawQuery, false
	}
	// b holds the kept segments joined by '&'; it is made at the first
	// CMCD segment, from the segments before it.
	var b []byte
	removed, kept := false, 0
	for rest := rawQuery; ; {
		seg, tail, more := strings.Cut(rest, "&")
		key, _, _ := strings.Cut(seg, "=")
		switch {
		case isCMCDKey(key) && !removed:
			removed = true
			before := rawQuery[:len(rawQuery)-len(rest)] // kept segments, each with its '&'
			b = make([]byte, 0, len(rawQuery))
			b = append(b, strings.TrimSuffix(before, "&")...)
			kept = strings.Count(before, "&")
		case isCMCDKey(key):
		case removed:
			if kept > 0 {
				b = append(b, '&')
			}
			b = append(b, seg...)
			kept++
		}
		if !more {
			break
		}
		rest = tail
	}
	if !removed {
		return rawQuery, false
	}
	return string(b), true
}

// mayHaveCMCD is a quick test with no false negatives: the name is either
// spelled out or percent-encoded somewhere.
func mayHaveCMCD(q string) bool {
	return strings.Contains(q, QueryKey) || strings.IndexByte(q, '%') >= 0
}

// isCMCDKey reports whether a raw parameter name decodes to "CMCD",
// without allocating.
func isCMCDKey(key string) bool {
	if key == QueryKey {
		return true
	}
	if len(key) < len(QueryKey) || len(key) > 3*len(QueryKey) || strings.IndexByte(key, '%') < 0 {
		return false
	}
	j := 0
	for i := 0; i < len(QueryKey); i++ {
		if j >= len(key) {
			return false
		}
		c := key[j]
		if c == '%' {
			if j+2 >= len(key) || !isHex(key[j+1]) || !isHex(key[j+2]) {
				return false
			}
			c = unhex(key[j+1])<<4 | unhex(key[j+2])
			j += 3
		} else {
			j++
		}
		if c != QueryKey[i] {
			return false
		}
	}
	return j == len(key)
}

// unescapeQuery decodes a query value as application/x-www-form-urlencoded
// ('+' is a space, %XX a byte), producing at most limit bytes: the payload
// parser reads at most MaxLen of it anyway. A malformed escape is no value.
func unescapeQuery(s string, limit int) (string, bool) {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		if len(s) > limit {
			s = s[:limit]
		}
		return s, true
	}
	b := make([]byte, 0, min(len(s), limit))
	for i := 0; i < len(s) && len(b) < limit; i++ {
		switch c := s[i]; c {
		case '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return "", false
			}
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		case '+':
			b = append(b, ' ')
		default:
			b = append(b, c)
		}
	}
	return string(b), true
}

func isHex(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case isDigit(c):
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
