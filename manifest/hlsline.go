package manifest

import "bytes"

// This file holds the line-level view of a playlist that both the parser and
// the rewriter use, so that the two always agree on what a line, a tag and
// an attribute are.

// utf8BOM is tolerated before #EXTM3U. RFC 8216bis 4.1 forbids it, but
// Windows tools add it and refusing the whole playlist helps nobody.
var utf8BOM = []byte("\xef\xbb\xbf")

// nextLine returns the content [start, end) of the line that begins at i,
// without its terminator, and the index where the next line begins. A line
// ends at LF; one CR before the LF belongs to the terminator (RFC 8216bis
// 4.1: lines end with LF or CRLF), and a CR at the very end, with no LF
// after it, is dropped too: what hls-m3u8 (trimLineEnd) sees as the line
// once the line is terminated.
func nextLine(data []byte, i int) (start, end, next int) {
	j := bytes.IndexByte(data[i:], '\n')
	if j < 0 {
		// The last line, with no LF: a CR left at the end is the start of
		// a terminator cut off, not content.
		end = len(data)
		if end > i && data[end-1] == '\r' {
			end--
		}
		return i, end, len(data)
	}
	end = i + j
	next = end + 1
	if end > i && data[end-1] == '\r' {
		end--
	}
	return i, end, next
}

// headerEnd checks that data starts with the EXTM3U line (RFC 8216bis
// 4.4.1.1: it MUST be the first line) and returns where the next line
// begins. A BOM before it and spaces after it are tolerated.
func headerEnd(data []byte) (int, bool) {
	i := 0
	if bytes.HasPrefix(data, utf8BOM) {
		i = len(utf8BOM)
	}
	start, end, next := nextLine(data, i)
	line := bytes.TrimRight(data[start:end], " \t")
	if string(line) != "#EXTM3U" {
		return 0, false
	}
	return next, true
}

// tagName returns the name of the tag on a line that starts with '#':
// "EXT-X-MAP" for "#EXT-X-MAP:URI=...". Lines that are comments, not tags
// (RFC 8216bis 4.1: tags begin with #EXT), give nil.
func tagName(line []byte) []byte {
	if len(line) < 4 || line[0] != '#' || line[1] != 'E' || line[2] != 'X' || line[3] != 'T' {
		return nil
	}
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		return line[1:i]
	}
	return line[1:]
}

// tagValue returns what follows the colon of a tag line, or nil.
func tagValue(line []byte) []byte {
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		return line[i+1:]
	}
	return nil
}

// isBlank reports whether a line holds only spaces and tabs.
func isBlank(line []byte) bool {
	for _, c := range line {
		if c != ' ' && c != '\t' {
			return false
		}
	}
	return true
}

// scope says in which kind of playlist a tag may appear (RFC 8216bis 4.4.1).
type scope uint8

const (
	scopeEither scope = iota // basic tags, EXT-X-START, EXT-X-DEFINE, unknown tags
	scopeMedia
	scopeMultivariant
)

func tagScope(name []byte) scope {
	switch string(name) {
	case "EXTINF", "EXT-X-TARGETDURATION", "EXT-X-MEDIA-SEQUENCE",
		"EXT-X-DISCONTINUITY-SEQUENCE", "EXT-X-ENDLIST", "EXT-X-PLAYLIST-TYPE",
		"EXT-X-I-FRAMES-ONLY", "EXT-X-PART-INF", "EXT-X-SERVER-CONTROL",
		"EXT-X-BYTERANGE", "EXT-X-DISCONTINUITY", "EXT-X-KEY", "EXT-X-MAP",
		"EXT-X-PROGRAM-DATE-TIME", "EXT-X-GAP", "EXT-X-BITRATE", "EXT-X-PART",
		"EXT-X-SKIP", "EXT-X-PRELOAD-HINT", "EXT-X-RENDITION-REPORT":
		return scopeMedia
	case "EXT-X-MEDIA", "EXT-X-STREAM-INF", "EXT-X-I-FRAME-STREAM-INF",
		"EXT-X-SESSION-DATA", "EXT-X-SESSION-KEY", "EXT-X-CONTENT-STEERING":
		return scopeMultivariant
	}
	return scopeEither
}

// attrScanner walks an attribute-list (RFC 8216bis 4.2):
// NAME=VALUE pairs separated by commas, where a quoted-string value may
// itself hold commas. It is lenient about what it does not need (spaces
// around names, stray attributes without '=') and strict only about an
// unterminated quoted-string, which would make every later attribute
// ambiguous.
type attrScanner struct {
	b   []byte
	i   int
	bad bool // an unterminated quoted-string was found
}

// next returns the next attribute: its name, the span [vs, ve) of its value
// inside the scanned list (without quotes), and whether it was quoted.
func (s *attrScanner) next() (name []byte, vs, ve int, quoted, ok bool) {
	for s.i < len(s.b) {
		// name runs to '='; a ',' first means an attribute without value
		j := s.i
		for j < len(s.b) && s.b[j] != '=' && s.b[j] != ',' {
			j++
		}
		if j == len(s.b) {
			s.i = j
			return nil, 0, 0, false, false
		}
		if s.b[j] == ',' {
			s.i = j + 1
			continue
		}
		name = bytes.Trim(s.b[s.i:j], " \t")
		k := j + 1
		if k < len(s.b) && s.b[k] == '"' {
			q := bytes.IndexByte(s.b[k+1:], '"')
			if q < 0 {
				s.bad = true
				s.i = len(s.b)
				return nil, 0, 0, false, false
			}
			vs, ve = k+1, k+1+q
			// skip anything between the closing quote and the next comma
			c := bytes.IndexByte(s.b[ve+1:], ',')
			if c < 0 {
				s.i = len(s.b)
			} else {
				s.i = ve + 1 + c + 1
			}
			return name, vs, ve, true, true
		}
		c := bytes.IndexByte(s.b[k:], ',')
		if c < 0 {
			vs, ve, s.i = k, len(s.b), len(s.b)
		} else {
			vs, ve, s.i = k, k+c, k+c+1
		}
		return name, vs, ve, false, true
	}
	return nil, 0, 0, false, false
}
