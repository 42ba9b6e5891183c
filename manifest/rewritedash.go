package manifest

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// RewriteDASH turns absolute origin URLs in an MPD into edge URLs and
// returns the new MPD with the number of URLs rewritten.
//
// It rewrites the text of BaseURL (at every level), Location and
// PatchLocation, and absolute SegmentTemplate@media, @initialization,
// @index and @bitstreamSwitching, SegmentURL@media and @index, and
// @sourceURL of Initialization, RepresentationIndex and BitstreamSwitching.
// UTCTiming is left alone. Values are unescaped before mapping and the edge
// URL is XML-escaped when written ("&" becomes "&amp;"). Everything outside
// those values (declaration, comments, namespaces, attribute order and
// whitespace) passes through byte for byte, and when nothing is rewritten
// the input slice itself is returned.
//
// A BaseURL whose text is split by a comment or a child element is left as
// it is; one held in a CDATA section is rewritten inside it. Input that is
// not one well-formed XML document with an MPD root gives an error wrapping
// ErrMalformed and no output.
func RewriteDASH(data []byte, mpdURL *url.URL, m Mapper) ([]byte, int, error) {
	if m == nil {
		return nil, 0, errors.New("rewrite dash: nil Mapper")
	}
	rm := refMapper{m: m, base: mpdURL}
	sp := splicer{src: data}
	err := walkMPD(data, func(ref xmlRef) error {
		if !ref.splice {
			return nil
		}
		ctx := inXML
		if ref.template {
			ctx = inXMLTemplate
		}
		edge, ok, err := rm.mapRef(ref.value, ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", ref.elem, err)
		}
		switch {
		case !ok:
		case ref.cdata:
			// Inside CDATA nothing is escaped; only its terminator would
			// end the section early.
			if strings.Contains(edge, "]]>") {
				return fmt.Errorf("%s: %q in CDATA: %w", ref.elem, edge, ErrBadMapping)
			}
			sp.replace(ref.start, ref.end, edge, nil)
		default:
			sp.replace(ref.start, ref.end, edge, appendXMLEscaped)
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("rewrite dash: %w", err)
	}
	out, n := sp.finish()
	return out, n, nil
}
