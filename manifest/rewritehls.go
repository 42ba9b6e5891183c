package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
)

// RewriteHLS turns absolute origin URLs in a playlist into edge URLs and
// returns the new playlist with the number of URLs rewritten.
//
// It rewrites URI lines and the URI attribute of EXT-X-MAP, EXT-X-KEY,
// EXT-X-SESSION-KEY, EXT-X-MEDIA, EXT-X-I-FRAME-STREAM-INF,
// EXT-X-IMAGE-STREAM-INF, EXT-X-PART, EXT-X-PRELOAD-HINT,
// EXT-X-RENDITION-REPORT and EXT-X-SESSION-DATA, SERVER-URI of
// EXT-X-CONTENT-STEERING, and X-ASSET-URI / X-ASSET-LIST of EXT-X-DATERANGE
// (HLS Interstitials). Relative references already resolve against the
// edge and stay; a network-path reference ("//host/p") is resolved against
// playlistURL's scheme (playlistURL may be nil, and then it stays).
//
// Only the URL bytes change: line endings, tags, attribute order and
// comments pass through. When nothing is rewritten the input slice itself is
// returned. Input that does not start with #EXTM3U, or has an unterminated
// quoted-string on a tag whose URI would be rewritten, gives an error
// wrapping ErrMalformed and no output.
func RewriteHLS(data []byte, playlistURL *url.URL, m Mapper) ([]byte, int, error) {
	if m == nil {
		return nil, 0, errors.New("rewrite hls: nil Mapper")
	}
	i, ok := headerEnd(data)
	if !ok {
		return nil, 0, fmt.Errorf("rewrite hls: first line is not #EXTM3U: %w", ErrMalformed)
	}
	rm := refMapper{m: m, base: playlistURL}
	sp := splicer{src: data}
	for i < len(data) {
		start, end, next := nextLine(data, i)
		i = next
		line := data[start:end]
		if len(line) == 0 {
			continue
		}
		if line[0] != '#' {
			// A URI line. Whitespace is not allowed around it
			// (RFC 8216bis 4.1) but is kept if present.
			s, e := start, end
			for s < e && (data[s] == ' ' || data[s] == '\t') {
				s++
			}
			for e > s && (data[e-1] == ' ' || data[e-1] == '\t') {
				e--
			}
			if err := rewriteSpan(&sp, rm, data, s, e, inHLSLine); err != nil {
				return nil, 0, fmt.Errorf("rewrite hls: %w", err)
			}
			continue
		}
		name := tagName(line)
		if !hasURIAttr(name) {
			continue
		}
		off := start + len(name) + 2 // '#', name, ':'
		if off > end {
			continue
		}
		sc := attrScanner{b: data[off:end]}
		for {
			an, vs, ve, quoted, ok := sc.next()
			if !ok {
				break
			}
			// RFC 8216bis 4.2: URIs are quoted-strings; an unquoted one is
			// not a URI we can rewrite without guessing where it ends.
			if !quoted || !isURIAttr(name, an) {
				continue
			}
			if err := rewriteSpan(&sp, rm, data, off+vs, off+ve, inHLSQuoted); err != nil {
				return nil, 0, fmt.Errorf("rewrite hls: %s: %w", name, err)
			}
		}
		if sc.bad {
			return nil, 0, fmt.Errorf("rewrite hls: %s: unterminated quoted-string: %w", name, ErrMalformed)
		}
	}
	out, n := sp.finish()
	return out, n, nil
}

// rewriteSpan maps the reference data[s:e] and splices the result in.
func rewriteSpan(sp *splicer, rm refMapper, data []byte, s, e int, ctx refContext) error {
	if e-s < 3 || (data[s] != 'h' && data[s] != 'H' && data[s] != '/') {
		return nil // cannot be absolute; skip without allocating
	}
	edge, ok, err := rm.mapRef(string(data[s:e]), ctx)
	if err != nil || !ok {
		return err
	}
	sp.replace(s, e, edge, nil)
	return nil
}

// hasURIAttr lists the tags that carry a URI in an attribute.
func hasURIAttr(name []byte) bool {
	switch string(name) {
	case "EXT-X-MAP", "EXT-X-KEY", "EXT-X-SESSION-KEY", "EXT-X-MEDIA",
		"EXT-X-I-FRAME-STREAM-INF", "EXT-X-IMAGE-STREAM-INF", "EXT-X-PART",
		"EXT-X-PRELOAD-HINT", "EXT-X-RENDITION-REPORT", "EXT-X-SESSION-DATA",
		"EXT-X-CONTENT-STEERING", "EXT-X-DATERANGE":
		return true
	}
	return false
}

// isURIAttr reports whether attribute attr of tag holds a URI to rewrite.
func isURIAttr(tag, attr []byte) bool {
	switch string(tag) {
	case "EXT-X-CONTENT-STEERING":
		// RFC 8216bis 4.4.6.6
		return string(attr) == "SERVER-URI"
	case "EXT-X-DATERANGE":
		// HLS Interstitials (RFC 8216bis Appendix D): the asset URIs are
		// fetched by the client like any other resource.
		return string(attr) == "X-ASSET-URI" || string(attr) == "X-ASSET-LIST"
	}
	return bytes.Equal(attr, []byte("URI"))
}
