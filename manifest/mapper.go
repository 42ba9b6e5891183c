package manifest

import (
	"fmt"
	"net/url"
	"strings"
)

// Mapper maps an absolute origin URL to the edge-relative (root-relative,
// e.g. "/hls/live/a.m4s?x=1") URL that serves it, or ok=false when the URL
// is not on a configured origin (a third-party URL then stays as it is).
//
// The edge URL must start with a single '/' and must not hold whitespace or
// control characters, nor '"' when it lands in an HLS quoted-string (XML
// output is escaped); RewriteHLS and RewriteDASH return an error wrapping
// ErrBadMapping otherwise. Root-relative output is what makes a
// second rewrite a no-op, and it is never built from a Host header, so a
// client cannot steer where other clients are sent.
type Mapper func(abs *url.URL) (edge string, ok bool)

// refMapper applies a Mapper to URL references found in a manifest.
type refMapper struct {
	m    Mapper
	base *url.URL // the manifest's own origin URL, for "//host/path" references
}

// refContext says where a reference sits, which decides what the edge URL
// may contain.
type refContext uint8

const (
	inHLSLine     refContext = iota // an HLS URI line
	inHLSQuoted                     // an HLS quoted-string: no '"' (RFC 8216bis 4.2)
	inXML                           // DASH text or attribute, XML-escaped on the way out
	inXMLTemplate                   // a SegmentTemplate value with $...$ identifiers
)

// mapRef maps one URL reference as written in a manifest (already unquoted
// and unescaped, surrounding whitespace removed). ok is false when the
// reference stays as it is: relative, not http(s), unparsable, or refused
// by the Mapper. In a SegmentTemplate, $...$ identifiers (ISO/IEC 23009-1
// 5.3.9.4.4) may hold a printf-style "%05d" that is not a valid
// percent-encoding, so they are protected across url.Parse and the Mapper.
func (r refMapper) mapRef(ref string, ctx refContext) (edge string, ok bool, err error) {
	template := ctx == inXMLTemplate
	networkPath := false
	switch {
	case hasPrefixFold(ref, "http://"), hasPrefixFold(ref, "https://"):
	case strings.HasPrefix(ref, "//"):
		// A network-path reference (RFC 3986 4.2) would send the client
		// straight to the origin host, so it is as absolute as it gets.
		if r.base == nil || (r.base.Scheme != "http" && r.base.Scheme != "https") {
			return "", false, nil
		}
		networkPath = true
	default:
		return "", false, nil
	}
	// RFC 8216bis 4.3: a variable reference is substituted by the client, so
	// the URL it will fetch is not known here.
	if strings.Contains(ref, "{$") {
		return "", false, nil
	}
	raw := ref
	if template {
		raw = protectTemplate(ref)
	}
	u, perr := url.Parse(raw)
	if perr != nil || u.Host == "" {
		return "", false, nil
	}
	if networkPath {
		u.Scheme = r.base.Scheme
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", false, nil
	}
	edge, ok = r.m(u)
	if !ok {
		return "", false, nil
	}
	if template {
		edge = restoreTemplate(edge)
	}
	if !validEdge(edge, ctx == inHLSQuoted) {
		return "", false, fmt.Errorf("map %q to %q: %w", ref, edge, ErrBadMapping)
	}
	return edge, true, nil
}

// validEdge accepts a root-relative reference that can be spliced into an
// HLS URI line, an HLS quoted-string (when quoted is set) or escaped XML
// without changing their structure.
func validEdge(e string, quoted bool) bool {
	if len(e) == 0 || e[0] != '/' || (len(e) > 1 && e[1] == '/') {
		return false
	}
	for i := 0; i < len(e); i++ {
		c := e[i]
		if c <= ' ' || c == 0x7f || (quoted && c == '"') {
			return false
		}
	}
	return true
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// protectTemplate escapes '%' inside $...$ template identifiers as "%25",
// so that "$Number%05d$" survives url.Parse; restoreTemplate undoes it in
// the Mapper's output. "$$" is an escaped dollar (ISO/IEC 23009-1 Table 16).
func protectTemplate(s string) string {
	if !strings.Contains(s, "%") || !strings.Contains(s, "$") {
		return s
	}
	return mapInsideDollars(s, "%", "%25")
}

func restoreTemplate(s string) string {
	if !strings.Contains(s, "%25") || !strings.Contains(s, "$") {
		return s
	}
	return mapInsideDollars(s, "%25", "%")
}

// mapInsideDollars replaces old with new inside $...$ pairs only.
func mapInsideDollars(s, old, repl string) string {
	var b strings.Builder
	b.Grow(len(s) + 8)
	for {
		i := strings.IndexByte(s, '$')
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := strings.IndexByte(s[i+1:], '$')
		if j < 0 {
			b.WriteString(s)
			return b.String()
		}
		j += i + 1
		b.WriteString(s[:i+1])
		b.WriteString(strings.ReplaceAll(s[i+1:j], old, repl))
		b.WriteByte('$')
		s = s[j+1:]
	}
}

// splicer builds a rewritten copy of src lazily: nothing is allocated until
// the first replacement, and finish returns src itself when there was none.
type splicer struct {
	src  []byte
	out  []byte
	last int
	n    int
}

// replace substitutes src[start:end] with repl, passed through esc when esc
// is not nil (XML escaping for DASH).
func (s *splicer) replace(start, end int, repl string, esc func([]byte, string) []byte) {
	if s.out == nil {
		// Mapped URLs are usually shorter than the absolute ones they
		// replace, so this is the only allocation in the common case.
		s.out = make([]byte, 0, len(s.src)+256)
	}
	s.out = append(s.out, s.src[s.last:start]...)
	if esc != nil {
		s.out = esc(s.out, repl)
	} else {
		s.out = append(s.out, repl...)
	}
	s.last = end
	s.n++
}

// insert puts a and b at pos, which must not be before the last splice.
func (s *splicer) insert(pos int, a, b string) {
	if s.out == nil {
		s.out = make([]byte, 0, len(s.src)+len(s.src)/2+256)
	}
	s.out = append(s.out, s.src[s.last:pos]...)
	s.out = append(s.out, a...)
	s.out = append(s.out, b...)
	s.last = pos
	s.n++
}

func (s *splicer) finish() ([]byte, int) {
	if s.out == nil {
		return s.src, 0
	}
	return append(s.out, s.src[s.last:]...), s.n
}
