package manifest

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// This file walks an MPD once with encoding/xml's tokenizer and reports
// every URL reference together with the byte span that holds it, so that
// the rewriter can splice the raw bytes and the parser can read the values.
// encoding/xml only finds tokens and checks well-formedness; the spans come
// from Decoder.InputOffset and a small scan of the raw start tag.

// xmlRef is one URL reference in an MPD.
type xmlRef struct {
	start, end int    // raw bytes of the value, trimmed of XML whitespace
	value      string // the value unescaped and trimmed
	elem       string // local name of the element
	attr       string // attribute name, "" for element text
	template   bool   // a SegmentTemplate value with $...$ identifiers
	cdata      bool   // the span is the inside of a CDATA section
	// splice is false for element text that is split (by a comment, a
	// child element, or text next to CDATA): the value is still reported,
	// but there is no single span to replace.
	splice bool
}

// textURLElem lists the elements whose text is a URL (ISO/IEC 23009-1
// 5.6 BaseURL, 5.4.1 Location, 5.15 PatchLocation).
func textURLElem(local string) bool {
	switch local {
	case "BaseURL", "Location", "PatchLocation":
		return true
	}
	return false
}

// urlAttr reports whether attribute attr of element elem is a URL, and
// whether it is a template (ISO/IEC 23009-1 5.3.9.4 SegmentTemplate, 5.3.9.3
// SegmentURL, 5.3.9.2 URLType for Initialization, RepresentationIndex and
// BitstreamSwitching). UTCTiming is deliberately absent: its value is a time
// source the client must reach as configured.
func urlAttr(elem, attr string) (isURL, template bool) {
	switch elem {
	case "SegmentTemplate":
		switch attr {
		case "media", "initialization", "index", "bitstreamSwitching":
			return true, true
		}
	case "SegmentURL":
		return attr == "media" || attr == "index", false
	case "Initialization", "RepresentationIndex", "BitstreamSwitching":
		return attr == "sourceURL", false
	}
	return false, false
}

func isXMLSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func trimXMLSpace(b []byte) (lead, trail int) {
	for lead < len(b) && isXMLSpace(b[lead]) {
		lead++
	}
	for trail < len(b)-lead && isXMLSpace(b[len(b)-1-trail]) {
		trail++
	}
	return lead, trail
}

// walkMPD checks that data is one well-formed XML document whose root is
// MPD and calls visit for every URL reference, in document order.
func walkMPD(data []byte, visit func(xmlRef) error) error {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	var (
		stack      []xml.Name
		rootSeen   bool
		rootClosed bool
		prev       int64

		// text capture for BaseURL and friends
		capDepth  int // stack depth of the element whose text is captured; 0 = none
		capStart  int // offset just after its start tag
		capText   string
		capTokens int  // CharData tokens seen, whitespace-only ones aside
		capPlain  bool // no comment, PI or child element in the text
		capCDATA  bool // the last CharData token was a CDATA section
		capTokS   int  // raw span of the last CharData token's content
		capTokE   int
	)
	for {
		tok, err := d.RawToken()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		start, end := int(prev), int(d.InputOffset())
		prev = d.InputOffset()
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) == 0 {
				if rootClosed {
					return fmt.Errorf("second root element <%s>: %w", t.Name.Local, ErrMalformed)
				}
				if t.Name.Local != "MPD" {
					return fmt.Errorf("root element is <%s>, not <MPD>: %w", t.Name.Local, ErrMalformed)
				}
				rootSeen = true
			}
			if capDepth > 0 {
				capPlain = false
			}
			stack = append(stack, t.Name)
			if err := visitAttrs(data[start:end], start, t, visit); err != nil {
				return err
			}
			if capDepth == 0 && textURLElem(t.Name.Local) {
				capDepth, capStart, capText, capTokens, capPlain, capCDATA = len(stack), end, "", 0, true, false
			}
		case xml.EndElement:
			if len(stack) == 0 {
				return fmt.Errorf("stray </%s>: %w", t.Name.Local, ErrMalformed)
			}
			if top := stack[len(stack)-1]; top != t.Name {
				return fmt.Errorf("</%s> closes <%s>: %w", t.Name.Local, top.Local, ErrMalformed)
			}
			if capDepth == len(stack) {
				capDepth = 0
				if value := strings.Trim(capText, " \t\r\n"); value != "" {
					ref := xmlRef{value: value, elem: t.Name.Local, splice: capPlain && capTokens == 1}
					s, e := capStart, start
					if capCDATA {
						s, e, ref.cdata = capTokS, capTokE, true
					}
					lead, trail := trimXMLSpace(data[s:e])
					ref.start, ref.end = s+lead, e-trail
					if err := visit(ref); err != nil {
						return err
					}
				}
			}
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				rootClosed = true
			}
		case xml.CharData:
			if len(stack) == 0 {
				if len(bytes.Trim(t, " \t\r\n\ufeff")) > 0 {
					return fmt.Errorf("text outside the root element: %w", ErrMalformed)
				}
				continue
			}
			if capDepth > 0 {
				capText += string(t)
				cdata := bytes.HasPrefix(data[start:end], []byte("<![CDATA["))
				// Whitespace around a CDATA section comes as tokens of its
				// own; it does not split the value.
				if cdata || len(bytes.Trim(t, " \t\r\n")) > 0 {
					capTokens++
					capCDATA = cdata
					if cdata {
						capTokS, capTokE = start+len("<![CDATA["), end-len("]]>")
					}
				}
			}
		default: // Comment, ProcInst, Directive
			if capDepth > 0 {
				capPlain = false
			}
		}
	}
	if !rootSeen {
		return fmt.Errorf("no <MPD> element: %w", ErrMalformed)
	}
	if len(stack) > 0 {
		return fmt.Errorf("<%s> is not closed: %w", stack[len(stack)-1].Local, ErrMalformed)
	}
	return nil
}

// visitAttrs finds the raw spans of the URL attributes of one start tag.
// tag is the raw "<Name a="v" ...>" text at offset base; t is what the
// decoder made of it, so the i-th attribute scanned is t.Attr[i].
func visitAttrs(tag []byte, base int, t xml.StartElement, visit func(xmlRef) error) error {
	want := false
	for _, a := range t.Attr {
		if ok, _ := urlAttr(t.Name.Local, a.Name.Local); ok && a.Name.Space == "" {
			want = true
			break
		}
	}
	if !want {
		return nil
	}
	i := 1
	for i < len(tag) && !isXMLSpace(tag[i]) && tag[i] != '>' && tag[i] != '/' {
		i++
	}
	for n := 0; n < len(t.Attr); n++ {
		for i < len(tag) && isXMLSpace(tag[i]) {
			i++
		}
		ns := i
		for i < len(tag) && tag[i] != '=' && !isXMLSpace(tag[i]) {
			i++
		}
		name := tag[ns:i]
		for i < len(tag) && (isXMLSpace(tag[i]) || tag[i] == '=') {
			i++
		}
		if i >= len(tag) || (tag[i] != '"' && tag[i] != '\'') {
			return fmt.Errorf("attribute %q of <%s>: %w", name, t.Name.Local, ErrMalformed)
		}
		q := bytes.IndexByte(tag[i+1:], tag[i])
		if q < 0 {
			return fmt.Errorf("attribute %q of <%s>: %w", name, t.Name.Local, ErrMalformed)
		}
		vs, ve := i+1, i+1+q
		i = ve + 1
		a := t.Attr[n]
		if c := bytes.LastIndexByte(name, ':'); string(name[c+1:]) != a.Name.Local {
			// The decoder and this scan disagree; leave the tag alone
			// rather than splice at the wrong place.
			return nil
		}
		isURL, template := urlAttr(t.Name.Local, a.Name.Local)
		if !isURL || a.Name.Space != "" {
			continue
		}
		lead, trail := trimXMLSpace(tag[vs:ve])
		value := strings.Trim(a.Value, " \t\r\n")
		if value == "" {
			continue
		}
		ref := xmlRef{
			start: base + vs + lead, end: base + ve - trail, value: value,
			elem: t.Name.Local, attr: a.Name.Local, template: template, splice: true,
		}
		if err := visit(ref); err != nil {
			return err
		}
	}
	return nil
}

// appendXMLEscaped appends s escaped for both XML text and attribute values
// (either quote style).
func appendXMLEscaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '&':
			dst = append(dst, "&amp;"...)
		case '<':
			dst = append(dst, "&lt;"...)
		case '>':
			dst = append(dst, "&gt;"...)
		case '"':
			dst = append(dst, "&quot;"...)
		case '\'':
			dst = append(dst, "&apos;"...)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}
