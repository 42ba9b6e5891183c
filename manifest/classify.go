package manifest

import (
	"bytes"
	"strings"
)

// Classify decides what an object is. It looks at the Content-Type first,
// then at the extension of path, then at the first bytes of the body (head,
// which may be nil). A generic Content-Type (application/octet-stream,
// text/plain, XML) never overrides a clear extension, because origins and
// object stores send those for anything they do not recognise.
//
// Within a family, bytes refine names: for an HLS playlist the tags in head
// tell multivariant from media (a .m3u8 with no bytes is ClassHLSMedia); for
// ISO BMFF a leading ftyp/moov without moof is an init segment whatever it
// is called. Parts are told from segments by name only (filePart271.2.mp4,
// seg_7_part3.m4s): the bytes of a part look like those of a segment.
func Classify(contentType, path string, head []byte) Class {
	switch classifyContentType(contentType) {
	case familyHLS:
		return hlsClass(head)
	case familyDASH:
		return ClassDASHMPD
	case familyMedia:
		return mediaClass(path, head)
	case familyOther:
		return ClassOther
	}
	switch extFamily(path) {
	case familyHLS:
		return hlsClass(head)
	case familyDASH:
		return ClassDASHMPD
	case familyMedia:
		return mediaClass(path, head)
	case familyInit:
		return ClassInit
	case familyOther:
		return ClassOther
	}
	return sniffClass(path, head)
}

// family is what a Content-Type or an extension says about an object before
// the bytes are consulted. familyUnknown means "ask the next source".
type family uint8

const (
	familyUnknown family = iota
	familyHLS
	familyDASH
	familyMedia
	familyInit
	familyOther
)

// classifyContentType maps a Content-Type header value to a family.
// Parameters (charset, codecs) are ignored; matching is case-insensitive as
// RFC 9110 8.3.1 requires for type and subtype.
func classifyContentType(ct string) family {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = strings.ToLower(strings.TrimSpace(ct))
	switch ct {
	case "":
		return familyUnknown
	// RFC 8216bis 4: the two registered types, plus the x- and audio/x-
	// spellings that Wowza, nginx-rtmp and many object stores send.
	case "application/vnd.apple.mpegurl", "application/x-mpegurl", "audio/mpegurl",
		"audio/x-mpegurl", "application/mpegurl", "vnd.apple.mpegurl":
		return familyHLS
	case "application/dash+xml", "video/vnd.mpeg.dash.mpd":
		return familyDASH
	case "video/mp2t", "video/mp4", "audio/mp4", "application/mp4",
		"video/iso.segment", "audio/iso.segment", "video/iso.init", "audio/iso.init",
		"text/vtt", "application/ttml+xml", "audio/aac", "audio/x-aac", "audio/mpeg",
		"audio/ac3", "audio/eac3", "audio/ec3", "video/webm", "audio/webm":
		return familyMedia
	// Generic types that say nothing: leave the decision to the extension.
	case "application/octet-stream", "binary/octet-stream", "application/binary",
		"application/unknown", "text/plain", "application/xml", "text/xml",
		"application/x-download", "application/force-download":
		return familyUnknown
	}
	if strings.HasPrefix(ct, "video/") || strings.HasPrefix(ct, "audio/") {
		return familyMedia
	}
	return familyOther
}

// fileName returns the last path element of p with any query or fragment
// removed, so "a/b/seg1.ts?x=1" gives "seg1.ts".
func fileName(p string) string {
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		p = p[i+1:]
	}
	return p
}

// splitExt splits a file name into stem and lower-cased extension (without
// the dot).
func splitExt(name string) (stem, ext string) {
	i := strings.LastIndexByte(name, '.')
	if i < 0 {
		return name, ""
	}
	return name[:i], strings.ToLower(name[i+1:])
}

// extFamily maps the extension of path to a family.
func extFamily(p string) family {
	_, ext := splitExt(fileName(p))
	switch ext {
	case "m3u8", "m3u":
		return familyHLS
	case "mpd":
		return familyDASH
	case "cmfi":
		// CMAF (ISO/IEC 23000-19 Annex A) header file.
		return familyInit
	case "ts", "m2ts", "mts", "aac", "ac3", "ec3", "eac3", "mp3", "m4s", "m4a",
		"m4v", "mp4", "cmfv", "cmfa", "cmft", "cmfm", "vtt", "webvtt", "ttml",
		"dfxp", "webm", "fmp4", "mp4a", "mp4v":
		return familyMedia
	case "key", "json", "jpg", "jpeg", "png", "html", "js", "css", "xml", "ico":
		return familyOther
	}
	return familyUnknown
}

// hlsClass tells a multivariant playlist from a media playlist by the first
// tag in head that belongs to only one of them (RFC 8216bis 4.4.1). With no
// such tag, or no bytes, it answers media: that is what most requests are.
func hlsClass(head []byte) Class {
	for len(head) > 0 {
		var line []byte
		if i := bytes.IndexByte(head, '\n'); i >= 0 {
			line, head = head[:i], head[i+1:]
		} else {
			line, head = head, nil
		}
		if len(line) < 5 || line[0] != '#' {
			continue
		}
		switch tagScope(tagName(line)) {
		case scopeMultivariant:
			return ClassHLSMultivariant
		case scopeMedia:
			return ClassHLSMedia
		}
	}
	return ClassHLSMedia
}

// mediaClass decides init/segment/part for an object already known to be
// media. Bytes beat names for init detection; names alone tell parts.
func mediaClass(p string, head []byte) Class {
	name := fileName(p)
	stem, ext := splitExt(name)
	if ext == "cmfi" {
		return ClassInit
	}
	if c, ok := isoClass(head); ok {
		if c == ClassInit {
			return ClassInit
		}
		return segmentOrPart(stem)
	}
	if isInitName(stem, ext) {
		return ClassInit
	}
	return segmentOrPart(stem)
}

func segmentOrPart(stem string) Class {
	if isPartName(stem) {
		return ClassPart
	}
	return ClassSegment
}

// sniffClass decides from the bytes alone, for objects with neither a
// telling Content-Type nor a known extension.
func sniffClass(p string, head []byte) Class {
	text := trimTextStart(head)
	switch {
	case bytes.HasPrefix(text, []byte("#EXTM3U")):
		return hlsClass(text)
	case bytes.HasPrefix(text, []byte("<?xml")), bytes.HasPrefix(text, []byte("<MPD")),
		bytes.HasPrefix(text, []byte("<!--")):
		// An XML document is an MPD only if its root is MPD; the root may
		// follow a declaration and comments, so look for the tag.
		if bytes.Contains(text, []byte("<MPD")) {
			return ClassDASHMPD
		}
		return ClassOther
	case bytes.HasPrefix(text, []byte("WEBVTT")):
		return segmentOrPart(stemOf(p))
	}
	if c, ok := isoClass(head); ok {
		if c == ClassInit {
			return ClassInit
		}
		return segmentOrPart(stemOf(p))
	}
	if isTS(head) || isID3(head) || isADTS(head) {
		return segmentOrPart(stemOf(p))
	}
	return ClassOther
}

func stemOf(p string) string {
	stem, _ := splitExt(fileName(p))
	return stem
}

// trimTextStart drops a UTF-8 BOM and leading whitespace so that text
// sniffing is not fooled by either.
func trimTextStart(b []byte) []byte {
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	return bytes.TrimLeft(b, " \t\r\n")
}

// isInitName reports whether a file name follows one of the init-segment
// naming schemes packagers use: init.mp4 (Shaka, Bitmovin, DASH-IF),
// video_init.mp4 / *-init.m4s (MediaPackage, Unified Streaming),
// init-stream0.m4s (ffmpeg dashenc), *_cinit_* (Wowza), name.init.
func isInitName(stem, ext string) bool {
	if ext == "init" || ext == "cmfi" {
		return true
	}
	for len(stem) > 0 {
		i := strings.IndexAny(stem, "-_.")
		tok := stem
		if i >= 0 {
			tok, stem = stem[:i], stem[i+1:]
		} else {
			stem = ""
		}
		if strings.EqualFold(tok, "init") || strings.EqualFold(tok, "cinit") {
			return true
		}
	}
	return false
}

// isPartName reports whether a file name looks like an LL-HLS partial
// segment: a word "part" that starts a word (after a separator or as a
// capitalised camel-case word) and is followed by a number or a separator.
// "filePart271.2", "seg_7_part3" and "video-part-2" match; "departure" and
// "apart1" do not.
func isPartName(stem string) bool {
	for i := 0; i+4 <= len(stem); i++ {
		if !strings.EqualFold(stem[i:i+4], "part") {
			continue
		}
		startsWord := i == 0 || !isLetter(stem[i-1]) || stem[i] == 'P'
		endsWord := i+4 == len(stem) || !isLetter(stem[i+4])
		if startsWord && endsWord {
			return true
		}
	}
	return false
}

func isLetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

// isoClass walks the ISO BMFF boxes (ISO/IEC 14496-12 4.2) at the start of
// head. ok is false when head does not start with a box this package knows.
// A stream that starts with ftyp or moov and has no moof in view is an init
// segment (CMAF header, ISO/IEC 23000-19 7.3.1); styp, moof, sidx, emsg and
// prft start segments (ISO/IEC 23000-19 7.3.2).
func isoClass(head []byte) (Class, bool) {
	sawHeader := false
	for n := 0; n < 16 && len(head) >= 8; n++ {
		switch string(head[4:8]) {
		case "ftyp", "moov":
			sawHeader = true
		case "styp", "moof", "sidx", "emsg", "prft":
			return ClassSegment, true
		case "free", "skip":
			// padding says nothing either way
		case "mdat":
			// ftyp+moov+mdat is a progressive file: no moof, so by the rule
			// above it is an init; a bare mdat is nothing we know.
			return ClassInit, sawHeader
		default:
			if !sawHeader {
				return ClassOther, false
			}
		}
		size := uint64(head[0])<<24 | uint64(head[1])<<16 | uint64(head[2])<<8 | uint64(head[3])
		switch {
		case size == 1 && len(head) >= 16:
			// 64-bit largesize follows the type.
			size = uint64(head[8])<<56 | uint64(head[9])<<48 | uint64(head[10])<<40 |
				uint64(head[11])<<32 | uint64(head[12])<<24 | uint64(head[13])<<16 |
				uint64(head[14])<<8 | uint64(head[15])
			if size < 16 {
				size = 0
			}
		case size < 8:
			// 0 means "to the end of the file"; 1 without room for the
			// largesize, and 2..7, cannot be walked past.
			size = 0
		}
		if size == 0 || size >= uint64(len(head)) {
			break
		}
		head = head[size:]
	}
	if sawHeader {
		return ClassInit, true
	}
	return ClassOther, false
}

// isTS reports whether head starts like an MPEG-2 transport stream: sync
// byte 0x47 every 188 bytes (ISO/IEC 13818-1 2.4.3.2). With less than two
// packets in view it also wants a header that is not plain text, since
// 0x47 is the letter 'G'.
func isTS(head []byte) bool {
	if len(head) == 0 || head[0] != 0x47 {
		return false
	}
	if len(head) > 188 {
		return head[188] == 0x47
	}
	if len(head) < 4 {
		return false
	}
	for _, c := range head[1:4] {
		if c < 0x20 || c >= 0x7f {
			return true
		}
	}
	return false
}

// isID3 matches an ID3v2 header, which starts packed-audio HLS segments
// (RFC 8216bis 3.4) to carry the timestamp PRIV frame.
func isID3(head []byte) bool {
	return len(head) >= 10 && head[0] == 'I' && head[1] == 'D' && head[2] == '3' && head[3] < 0xff
}

// isADTS matches an AAC ADTS frame header (ISO/IEC 13818-7 6.2): 12-bit
// syncword 0xFFF and layer 0.
func isADTS(head []byte) bool {
	return len(head) >= 7 && head[0] == 0xff && head[1]&0xf6 == 0xf0
}
