package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// QueryFunc returns the query to append to a reference found in a
// playlist ("" leaves the reference as it is). It is called only for
// references that resolve against the edge itself.
type QueryFunc func(ref string) string

// ConstQuery appends the same query everywhere: a CAT ("CAT=...").
func ConstQuery(q string) QueryFunc { return func(string) string { return q } }

// PropagateHLS appends a viewer's token query to every URI a playlist
// makes the player fetch from this edge, so that players that cannot add
// a parameter to segment URLs still present the token (issue 15). It
// covers URI lines and the URI attributes RewriteHLS rewrites (EXT-X-MAP,
// EXT-X-PART, EXT-X-PRELOAD-HINT, EXT-X-RENDITION-REPORT, EXT-X-MEDIA,
// EXT-X-I-FRAME-STREAM-INF, EXT-X-IMAGE-STREAM-INF, EXT-X-SESSION-DATA,
// EXT-X-KEY, EXT-X-SESSION-KEY, EXT-X-CONTENT-STEERING SERVER-URI and the
// HLS Interstitials asset URIs).
//
// Only relative references (RFC 3986 4.2, root-relative included) get
// the query: they resolve against the playlist's URL on this edge. An
// absolute or network-path reference goes to another host and never
// carries a viewer's token; that is also why a key URI is covered only
// when relative, i.e. when this edge serves the key and checks the token
// on it. References with a variable ("{$...}", RFC 8216bis 4.3) are left
// alone, since what they resolve to is not known here. A reference whose
// query already holds a parameter of the appended query is left as it is,
// so propagating twice changes nothing.
//
// Bytes outside the URIs are preserved; with nothing to change, data
// itself is returned. Input that does not start with #EXTM3U, or holds an
// unterminated quoted-string on a URI tag, is an error wrapping
// ErrMalformed.
func PropagateHLS(data []byte, q QueryFunc) ([]byte, int, error) {
	if q == nil {
		return nil, 0, errors.New("propagate hls: nil QueryFunc")
	}
	i, ok := headerEnd(data)
	if !ok {
		return nil, 0, fmt.Errorf("propagate hls: first line is not #EXTM3U: %w", ErrMalformed)
	}
	sp := splicer{src: data}
	for i < len(data) {
		start, end, next := nextLine(data, i)
		i = next
		line := data[start:end]
		if len(line) == 0 {
			continue
		}
		if line[0] != '#' {
			s, e := start, end
			for s < e && (data[s] == ' ' || data[s] == '\t') {
				s++
			}
			for e > s && (data[e-1] == ' ' || data[e-1] == '\t') {
				e--
			}
			if err := propagateSpan(&sp, data, s, e, q, inHLSLine); err != nil {
				return nil, 0, fmt.Errorf("propagate hls: %w", err)
			}
			continue
		}
		name := tagName(line)
		if !hasURIAttr(name) {
			continue
		}
		off := start + len(name) + 2
		if off > end {
			continue
		}
		sc := attrScanner{b: data[off:end]}
		for {
			an, vs, ve, quoted, ok := sc.next()
			if !ok {
				break
			}
			if !quoted || !isURIAttr(name, an) {
				continue
			}
			if err := propagateSpan(&sp, data, off+vs, off+ve, q, inHLSQuoted); err != nil {
				return nil, 0, fmt.Errorf("propagate hls: %s: %w", name, err)
			}
		}
		if sc.bad {
			return nil, 0, fmt.Errorf("propagate hls: %s: unterminated quoted-string: %w", name, ErrMalformed)
		}
	}
	out, n := sp.finish()
	return out, n, nil
}

func propagateSpan(sp *splicer, data []byte, s, e int, q QueryFunc, ctx refContext) error {
	if s >= e || !isRelativeRefBytes(data[s:e]) {
		return nil // skip without converting the reference
	}
	sep, add, at, ok, err := plan(string(data[s:e]), q, ctx)
	if err != nil || !ok {
		return err
	}
	// An insertion: the reference's own bytes stay where they are.
	sp.insert(s+at, sep, add)
	return nil
}

// withQuery returns ref with q(ref) appended, or ok=false when ref stays.
func withQuery(ref string, q QueryFunc, ctx refContext) (string, bool, error) {
	sep, add, at, ok, err := plan(ref, q, ctx)
	if err != nil || !ok {
		return "", false, err
	}
	return ref[:at] + sep + add + ref[at:], true, nil
}

// plan decides how q(ref) goes into ref: sep and add are inserted at
// index at (the end of the query, before any fragment).
func plan(ref string, q QueryFunc, ctx refContext) (sep, add string, at int, ok bool, err error) {
	if !isRelativeRef(ref) || strings.Contains(ref, "{$") {
		return "", "", 0, false, nil
	}
	add = q(ref)
	if add == "" {
		return "", "", 0, false, nil
	}
	if !validQuery(add, ctx == inHLSQuoted) || (ctx == inXMLTemplate && strings.IndexByte(add, '$') >= 0) {
		return "", "", 0, false, fmt.Errorf("query %q: %w", add, ErrBadMapping)
	}
	at = len(ref)
	if i := strings.IndexByte(ref, '#'); i >= 0 {
		at = i
	}
	_, query, hasQuery := strings.Cut(ref[:at], "?")
	switch {
	case !hasQuery:
		sep = "?"
	case sharesParam(query, add):
		return "", "", 0, false, nil
	case query == "" || strings.HasSuffix(query, "&"):
	default:
		sep = "&"
	}
	return sep, add, at, true, nil
}

func isRelativeRefBytes(b []byte) bool {
	// The same scan as isRelativeRef, on the bytes.
	if len(b) == 0 || (len(b) > 1 && b[0] == '/' && b[1] == '/') {
		return false
	}
	for i, c := range b {
		switch {
		case c == ':':
			return i == 0
		case c == '/' || c == '?' || c == '#':
			return true
		case i > 0 && (c == '+' || c == '-' || c == '.' || '0' <= c && c <= '9'):
		case 'a' <= c|0x20 && c|0x20 <= 'z':
		default:
			return true
		}
	}
	return true
}

// isRelativeRef reports whether ref is a relative reference (RFC 3986
// 4.2) other than a network-path one: no scheme, no "//".
func isRelativeRef(ref string) bool {
	if ref == "" || strings.HasPrefix(ref, "//") {
		return false
	}
	for i := 0; i < len(ref); i++ {
		c := ref[i]
		switch {
		case c == ':':
			return i == 0 // a scheme ends here (RFC 3986 3.1); ":x" is a path
		case c == '/' || c == '?' || c == '#':
			return true
		case i > 0 && (c == '+' || c == '-' || c == '.' || '0' <= c && c <= '9'):
		case 'a' <= c|0x20 && c|0x20 <= 'z':
		default:
			return true
		}
	}
	return true
}

// sharesParam reports whether query already has a parameter named in add.
func sharesParam(query, add string) bool {
	for add != "" {
		var kv string
		kv, add, _ = strings.Cut(add, "&")
		name, _, _ := strings.Cut(kv, "=")
		for rest := query; rest != ""; {
			var p string
			p, rest, _ = strings.Cut(rest, "&")
			if n, _, _ := strings.Cut(p, "="); n == name {
				return true
			}
		}
	}
	return false
}

// validQuery accepts a query that can be spliced into an HLS URI line, a
// quoted-string (no '"') or escaped XML without changing their structure.
func validQuery(q string, quoted bool) bool {
	for i := 0; i < len(q); i++ {
		c := q[i]
		if c <= ' ' || c == 0x7f || c == '#' || (quoted && c == '"') {
			return false
		}
	}
	return true
}

// PropagateDASH is PropagateHLS for an MPD. It appends the query to the
// URLs a player fetches as they are: SegmentTemplate@media,
// @initialization, @index and @bitstreamSwitching, SegmentURL@media and
// @index, @sourceURL of Initialization and RepresentationIndex, Location
// and PatchLocation, and a BaseURL that names a file. A BaseURL that ends
// in '/' is a directory the others resolve against, and RFC 3986 5.2
// resolution drops a base's query, so the token goes on the leaves
// instead.
//
// As in HLS only relative references get the query. Since a relative
// reference under an absolute BaseURL resolves to that other host, an MPD
// with any absolute BaseURL gets no query at all (the edge does not track
// which scope each BaseURL covers; refusing to leak is the safe side).
// RewriteDASH turns the origin's own absolute URLs root-relative first,
// so the proxy calls it before this.
func PropagateDASH(data []byte, q QueryFunc) ([]byte, int, error) {
	if q == nil {
		return nil, 0, errors.New("propagate dash: nil QueryFunc")
	}
	if bytes.Contains(data, []byte("BaseURL")) {
		// A first pass only when there is a BaseURL to look at.
		foreign := false
		err := walkMPD(data, func(ref xmlRef) error {
			if ref.elem == "BaseURL" && !isRelativeRef(ref.value) {
				foreign = true
			}
			return nil
		})
		if err != nil {
			return nil, 0, fmt.Errorf("propagate dash: %w", err)
		}
		if foreign {
			return data, 0, nil
		}
	}
	sp := splicer{src: data}
	err := walkMPD(data, func(ref xmlRef) error {
		if !ref.splice || (ref.elem == "BaseURL" && strings.HasSuffix(ref.value, "/")) {
			return nil
		}
		ctx := inXML
		if ref.template {
			ctx = inXMLTemplate
		}
		out, ok, err := withQuery(ref.value, q, ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", ref.elem, err)
		}
		switch {
		case !ok:
		case ref.cdata:
			if strings.Contains(out, "]]>") {
				return fmt.Errorf("%s: %q in CDATA: %w", ref.elem, out, ErrBadMapping)
			}
			sp.replace(ref.start, ref.end, out, nil)
		default:
			sp.replace(ref.start, ref.end, out, appendXMLEscaped)
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("propagate dash: %w", err)
	}
	out, n := sp.finish()
	return out, n, nil
}
