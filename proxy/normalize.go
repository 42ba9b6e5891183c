package proxy

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Request-target normalisation: one canonical path per request, made at
// the door, before routing, keying and classification, so that the route,
// the cache key, the object class and the origin path all come from the
// same value and none of them can be steered apart (the class of attack of
// Envoy CVE-2019-9901 and of web cache deception).
//
// The canonical form (RFC 3986 6.2.2):
//   - percent-encoded unreserved characters are decoded (6.2.2.2), every
//     other percent-encoding is kept with upper-case hex digits (6.2.2.1);
//   - characters outside pchar (3.3) are percent-encoded;
//   - empty segments are dropped: "//" is one "/" (nginx merge_slashes);
//   - dot segments are removed (5.2.4).
//
// What cannot be made safe is refused, and the request answered with 400:
//   - an encoded "/" or "\" or NUL in a segment (%2F, %5C, %00), which an
//     origin may decode into a path separator or a string end;
//   - a literal "\" (some origins take it for "/"), a literal "#", control
//     characters, literal or encoded;
//   - malformed percent-encoding, and bytes that do not decode to valid
//     UTF-8 (overlong forms such as %C0%AE are how "." was smuggled past
//     filters that decode once);
//   - a segment that is a dot segment followed by ";" parameters ("..;"),
//     which Tomcat-style origins read as "..";
//   - a path that climbs above "/" after dot segments are removed.

// errBadPath is the reason a request path was refused; it wraps the
// detail.
var errBadPath = errors.New("bad request path")

func badPath(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errBadPath}, args...)...)
}

const upperHex = "0123456789ABCDEF"

// normalisePath returns the canonical escaped form of a request path (the
// part of an origin-form request target before "?"), or an error wrapping
// errBadPath. The result starts with "/"; normalising it again returns it
// unchanged.
func normalisePath(raw string) (string, error) {
	if raw == "" || raw[0] != '/' {
		return "", badPath("path must start with /")
	}
	if fast, ok := canonicalFast(raw); ok {
		return fast, nil
	}
	var (
		segs     []string // canonical escaped segments kept so far
		seg      strings.Builder
		dec      []byte // the segment's bytes fully decoded, for checks
		trailing bool
	)
	endSegment := func() error {
		s := seg.String()
		d := dec
		seg.Reset()
		dec = dec[:0]
		if !utf8.Valid(d) {
			return badPath("segment %q is not valid UTF-8", s)
		}
		name, _, hasParams := strings.Cut(s, ";")
		switch {
		case s == "", s == ".":
			trailing = true
		case s == "..":
			if len(segs) == 0 {
				return badPath("path climbs above /")
			}
			segs = segs[:len(segs)-1]
			trailing = true
		case hasParams && (name == "." || name == ".."):
			return badPath("dot segment with parameters %q", s)
		default:
			segs = append(segs, s)
			trailing = false
		}
		return nil
	}
	for i := 1; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '/':
			if err := endSegment(); err != nil {
				return "", err
			}
			continue
		case c == '%':
			if i+2 >= len(raw) || !isHex(raw[i+1]) || !isHex(raw[i+2]) {
				return "", badPath("malformed percent-encoding")
			}
			v := unhex(raw[i+1])<<4 | unhex(raw[i+2])
			i += 2
			switch {
			case v == '/' || v == '\\':
				return "", badPath("encoded path separator")
			case v < 0x20 || v == 0x7f:
				return "", badPath("encoded control character")
			case isUnreserved(v):
				seg.WriteByte(v)
			default:
				writeEscaped(&seg, v)
			}
			dec = append(dec, v)
			continue
		case c < 0x20 || c == 0x7f:
			return "", badPath("control character")
		case c == '\\':
			return "", badPath(`"\" in path`)
		case c == '#':
			return "", badPath(`"#" in path`)
		case isPchar(c):
			seg.WriteByte(c)
		default:
			// Outside pchar (a space, quotes, non-ASCII bytes): encoded.
			writeEscaped(&seg, c)
		}
		dec = append(dec, c)
	}
	if err := endSegment(); err != nil {
		return "", err
	}
	var b strings.Builder
	for _, s := range segs {
		b.WriteByte('/')
		b.WriteString(s)
	}
	if trailing || len(segs) == 0 {
		b.WriteByte('/')
	}
	return b.String(), nil
}

// writeEscaped writes c percent-encoded with upper-case hex digits (RFC
// 3986 6.2.2.1).
func writeEscaped(b *strings.Builder, c byte) {
	b.WriteByte('%')
	b.WriteByte(upperHex[c>>4])
	b.WriteByte(upperHex[c&15])
}

// canonicalFast returns raw itself when it is already canonical and needs
// no decoding: the common case of a player's request, with no allocation.
func canonicalFast(raw string) (string, bool) {
	start := 1 // start of the current segment
	for i := 1; i <= len(raw); i++ {
		if i < len(raw) {
			c := raw[i]
			if c != '/' {
				if !isPchar(c) || c == '%' {
					return "", false
				}
				continue
			}
		}
		s := raw[start:i]
		if (s == "" && i < len(raw)) || s == "." || s == ".." || strings.HasPrefix(s, ".;") || strings.HasPrefix(s, "..;") {
			return "", false
		}
		start = i + 1
	}
	return raw, true
}

// isPchar reports the characters a path segment may hold literally (RFC
// 3986 3.3: unreserved, sub-delims, ":" and "@"; "%" starts an escape).
func isPchar(c byte) bool {
	if isUnreserved(c) {
		return true
	}
	switch c {
	case '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', ':', '@', '%':
		return true
	}
	return false
}

// isUnreserved reports RFC 3986 2.3 unreserved characters.
func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// checkQuery refuses a raw query that no HTTP client sends: control
// characters and "#" (not part of a request-target, RFC 9112 3.2). The
// query is otherwise passed on as it came; the cache key sorts it.
func checkQuery(q string) error {
	for i := 0; i < len(q); i++ {
		c := q[i]
		if c < 0x20 || c == 0x7f || c == '#' {
			return badPath("bad character in query")
		}
	}
	return nil
}
