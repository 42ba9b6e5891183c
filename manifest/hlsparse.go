package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// HLSState is what the edge needs to know about a playlist.
type HLSState struct {
	Multivariant          bool
	Version               int           // EXT-X-VERSION, 1 when absent (RFC 8216bis 4.4.1.2)
	TargetDuration        time.Duration // EXT-X-TARGETDURATION as written
	PartTarget            time.Duration // EXT-X-PART-INF PART-TARGET, 0 if none
	MediaSequence         uint64
	DiscontinuitySequence uint64
	EndList               bool
	PlaylistType          string // "", "EVENT", "VOD"
	Segments              []HLSSegment
	// Parts holds every EXT-X-PART in order. A part belongs to the segment
	// whose URI line follows it (RFC 8216bis 4.4.4.9); parts after the last
	// full segment belong to msn = last+1.
	Parts            []HLSPart
	PreloadHints     []HLSPreloadHint
	Maps             []string // EXT-X-MAP URIs, one per tag, in order
	RenditionReports []HLSRenditionReport
	ServerControl    HLSServerControl
	Skipped          uint64 // EXT-X-SKIP SKIPPED-SEGMENTS
	// Variants (multivariant playlists): EXT-X-STREAM-INF and
	// EXT-X-I-FRAME-STREAM-INF URIs in document order, then EXT-X-MEDIA URIs
	// in document order.
	Variants []string
}

// HLSSegment is one media segment.
type HLSSegment struct {
	MSN             uint64
	URI             string
	Duration        time.Duration
	Discontinuity   bool
	ByteRange       string // EXT-X-BYTERANGE as written ("1024@0" or "1024"), "" if none
	ProgramDateTime time.Time
	Gap             bool
}

// HLSPart is one EXT-X-PART (RFC 8216bis 4.4.4.9).
type HLSPart struct {
	MSN         uint64 // the segment it belongs to
	Index       int    // Part Index within that segment, from 0
	URI         string
	Duration    time.Duration
	Independent bool
	ByteRange   string // BYTERANGE as written, "" if none
	Gap         bool
}

// HLSPreloadHint is one EXT-X-PRELOAD-HINT (RFC 8216bis 4.4.5.3).
type HLSPreloadHint struct {
	Type            string // "PART" or "MAP"
	URI             string
	ByteRangeStart  uint64
	ByteRangeLength uint64 // 0 when absent: to the end of the resource
}

// HLSRenditionReport is one EXT-X-RENDITION-REPORT (RFC 8216bis 4.4.5.4).
type HLSRenditionReport struct {
	URI      string
	LastMSN  uint64
	LastPart int // -1 when absent
}

// HLSServerControl is EXT-X-SERVER-CONTROL (RFC 8216bis 4.4.3.8).
type HLSServerControl struct {
	CanBlockReload    bool
	CanSkipUntil      time.Duration
	CanSkipDateRanges bool
	HoldBack          time.Duration
	PartHoldBack      time.Duration
}

// ParseHLS reads the state of a playlist. Errors wrap ErrMalformed: no
// #EXTM3U first line, a URI line with no EXTINF or EXT-X-STREAM-INF before
// it, tags of both playlist kinds (RFC 8216bis 4.1), a media playlist with no
// EXT-X-TARGETDURATION (4.4.3.1, REQUIRED), values that are not numbers.
//
// Everything comes from this package's own line scan, which keeps the
// input byte for byte; github.com/Eyevinn/hls-m3u8 reads every test and
// fuzz input a second time, independently, and must agree on the numbers
// (hlslib_test.go, which also lists why it is not the reader here).
func ParseHLS(data []byte) (*HLSState, error) {
	sc, err := scanHLS(data)
	if err != nil {
		return nil, fmt.Errorf("parse hls: %w", err)
	}
	st := &HLSState{
		Multivariant:          sc.multivariant,
		Version:               sc.version,
		TargetDuration:        sc.targetDuration,
		PartTarget:            sc.partTarget,
		MediaSequence:         sc.mediaSequence,
		DiscontinuitySequence: sc.discontinuitySequence,
		EndList:               sc.endList,
		PlaylistType:          sc.playlistType,
		Segments:              sc.segs,
		Parts:                 sc.parts,
		PreloadHints:          sc.hints,
		Maps:                  sc.maps,
		RenditionReports:      sc.reports,
		ServerControl:         sc.serverControl,
		Skipped:               sc.skipped,
	}
	if st.Multivariant {
		st.Variants = append(sc.variants, sc.mediaURIs...)
		st.Segments = nil
	} else {
		first := st.MediaSequence + st.Skipped
		if first < st.MediaSequence || first+uint64(len(st.Segments)) < first {
			return nil, fmt.Errorf("parse hls: %w", malformed("media sequence numbers overflow"))
		}
		for i := range st.Segments {
			st.Segments[i].MSN = first + uint64(i)
		}
	}
	if !st.Multivariant {
		first := st.MediaSequence + st.Skipped
		for i := range st.Parts {
			st.Parts[i].MSN += first // held the segment index until now
		}
	}
	return st, nil
}

// LastMSN returns the Media Sequence Number of the newest complete segment,
// counting segments skipped by a delta update. ok is false when the
// playlist has none.
func (s *HLSState) LastMSN() (msn uint64, ok bool) {
	n := s.Skipped + uint64(len(s.Segments))
	if n == 0 {
		return 0, false
	}
	return s.MediaSequence + n - 1, true
}

// LastPart returns the newest part: the segment it belongs to and its Part
// Index. ok is false when the playlist lists no parts.
func (s *HLSState) LastPart() (msn uint64, part int, ok bool) {
	if len(s.Parts) == 0 {
		return 0, 0, false
	}
	p := s.Parts[len(s.Parts)-1]
	return p.MSN, p.Index, true
}

// Edge is where the playlist ends, for the LL-HLS rules (llhls.go).
func (s *HLSState) Edge() Edge {
	var e Edge
	e.LastMSN, e.Segments = s.LastMSN()
	e.PartMSN, e.PartIndex, e.Parts = s.LastPart()
	return e
}

// Reaches reports whether the playlist satisfies a blocking reload for
// _HLS_msn=msn and, when part >= 0, _HLS_part=part: Edge.Reaches. A
// playlist with EXT-X-ENDLIST reaches everything: it will never grow, so
// holding the request would only make it time out (RFC 8216bis 6.2.5.2
// has directives ignored then).
func (s *HLSState) Reaches(msn uint64, part int) bool {
	return s.EndList || s.Edge().Reaches(Directives{Block: true, MSN: msn, Part: part})
}

// hlsScan is what this package's own line scan collects.
type hlsScan struct {
	multivariant   bool
	version        int
	targetDuration time.Duration
	partTarget     time.Duration
	parts          []HLSPart // MSN holds the segment index
	hints          []HLSPreloadHint
	maps           []string
	reports        []HLSRenditionReport
	variants       []string // STREAM-INF and I-FRAME-STREAM-INF URIs
	mediaURIs      []string

	mediaSequence, discontinuitySequence uint64
	endList                              bool
	playlistType                         string
	serverControl                        HLSServerControl
	skipped                              uint64
	segs                                 []HLSSegment // MSN set by ParseHLS
}

func malformed(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, ErrMalformed)...)
}

// scanHLS does the line scan. It validates what it reads and decides the
// playlist kind.
func scanHLS(data []byte) (*hlsScan, error) {
	i, ok := headerEnd(data)
	if !ok {
		return nil, malformed("first line is not #EXTM3U")
	}
	sc := &hlsScan{version: 1}
	var (
		sawMedia, sawMV, haveTD               bool
		pendingInf, pendingStreamInf, havePDT bool
		pendingDisc, pendingGap               bool
		pendingDur                            time.Duration
		pendingBR                             string
		pendingPDT                            time.Time
		partIndex                             int
		lineNo                                = 1
	)
	for i < len(data) {
		start, end, next := nextLine(data, i)
		i = next
		lineNo++
		line := data[start:end]
		if len(line) == 0 {
			continue
		}
		if isBlank(line) {
			return nil, malformed("line %d: whitespace-only line", lineNo)
		}
		if line[0] != '#' {
			switch {
			case pendingStreamInf:
				pendingStreamInf = false
				sc.variants = append(sc.variants, string(line))
			case pendingInf:
				sc.segs = append(sc.segs, HLSSegment{
					URI: string(line), Duration: pendingDur, Discontinuity: pendingDisc, Gap: pendingGap,
					ByteRange: pendingBR, ProgramDateTime: pendingPDT,
				})
				pendingInf, pendingBR, havePDT, pendingPDT = false, "", false, time.Time{}
				pendingDisc, pendingGap = false, false
				partIndex = 0
			default:
				return nil, malformed("line %d: URI line with no EXTINF or EXT-X-STREAM-INF before it", lineNo)
			}
			continue
		}
		name := tagName(line)
		if name == nil {
			continue // a comment
		}
		switch tagScope(name) {
		case scopeMedia:
			sawMedia = true
		case scopeMultivariant:
			sawMV = true
		}
		if sawMedia && sawMV {
			return nil, malformed("line %d: %s in a playlist that already has tags of the other kind", lineNo, name)
		}
		val := tagValue(line)
		var err error
		switch string(name) {
		case "EXT-X-VERSION":
			var v uint64
			if v, err = strconv.ParseUint(string(val), 10, 16); err == nil {
				sc.version = int(v)
			}
		case "EXT-X-TARGETDURATION":
			// decimal-integer per 4.4.3.1; "6.0" is tolerated, ".5" is not
			// (it starts with no digit).
			if len(val) == 0 || val[0] < '0' || val[0] > '9' {
				err = malformed("target duration %q", val)
				break
			}
			sc.targetDuration, err = parseSeconds(string(val))
			haveTD = true
		case "EXT-X-MEDIA-SEQUENCE":
			sc.mediaSequence, err = strconv.ParseUint(string(val), 10, 64)
		case "EXT-X-DISCONTINUITY-SEQUENCE":
			sc.discontinuitySequence, err = strconv.ParseUint(string(val), 10, 64)
		case "EXT-X-PLAYLIST-TYPE":
			if s := string(val); s != "EVENT" && s != "VOD" {
				err = malformed("playlist type %q", s)
			} else {
				sc.playlistType = s
			}
		case "EXT-X-ENDLIST":
			sc.endList = true
		case "EXT-X-DISCONTINUITY":
			pendingDisc = true
		case "EXT-X-GAP":
			pendingGap = true
		case "EXT-X-SERVER-CONTROL":
			err = sc.scanServerControl(val)
		case "EXT-X-SKIP":
			// RFC 8216bis 4.4.5.2: SKIPPED-SEGMENTS is REQUIRED.
			var v string
			if v, err = requiredAttr(val, "SKIPPED-SEGMENTS"); err == nil {
				sc.skipped, err = strconv.ParseUint(v, 10, 64)
			}
			if err == nil {
				err = checkAttrNames(val)
			}
		case "EXTINF":
			if pendingInf {
				return nil, malformed("line %d: second EXTINF for one segment", lineNo)
			}
			pendingInf = true
			d, _, comma := bytes.Cut(val, []byte(","))
			var perr error
			pendingDur, perr = parseSeconds(string(d))
			switch {
			case perr != nil:
				err = perr
			case !comma:
				err = malformed("EXTINF without comma")
			}
		case "EXT-X-BYTERANGE":
			pendingBR = string(val)
			err = checkByteRange(pendingBR)
		case "EXT-X-PROGRAM-DATE-TIME":
			// RFC 8216bis 4.4.4.6: applies to the next segment; in LL-HLS
			// the parts of that segment come first, and hls-m3u8 wrongly
			// gives the date to the second part instead.
			if !havePDT {
				pendingPDT, err = parseDateTime(string(val))
				havePDT = true
			}
		case "EXT-X-PART-INF":
			err = sc.scanPartInf(val)
		case "EXT-X-MAP":
			err = sc.scanMap(val)
		case "EXT-X-PART":
			err = sc.scanPart(val, len(sc.segs), partIndex)
			partIndex++
		case "EXT-X-PRELOAD-HINT":
			err = sc.scanHint(val)
		case "EXT-X-RENDITION-REPORT":
			err = sc.scanReport(val)
		case "EXT-X-STREAM-INF":
			if pendingStreamInf {
				return nil, malformed("line %d: second EXT-X-STREAM-INF before a URI", lineNo)
			}
			pendingStreamInf = true
			err = checkAttrs(val)
		case "EXT-X-I-FRAME-STREAM-INF":
			var uri string
			if uri, err = requiredAttr(val, "URI"); err == nil {
				sc.variants = append(sc.variants, uri)
			}
		case "EXT-X-MEDIA":
			var uri string
			if uri, err = optionalAttr(val, "URI"); err == nil && uri != "" {
				sc.mediaURIs = append(sc.mediaURIs, uri)
			}
		case "EXT-X-KEY", "EXT-X-SESSION-KEY", "EXT-X-SESSION-DATA", "EXT-X-CONTENT-STEERING", "EXT-X-DATERANGE":
			// not read, but a broken attribute list is still a broken playlist
			err = checkAttrs(val)
		}
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				err = fmt.Errorf("%w: %w", ErrMalformed, err)
			}
			return nil, fmt.Errorf("line %d: %s: %w", lineNo, name, err)
		}
	}
	if pendingInf {
		return nil, malformed("EXTINF at the end with no URI line")
	}
	if pendingStreamInf {
		return nil, malformed("EXT-X-STREAM-INF at the end with no URI line")
	}
	sc.multivariant = sawMV
	if !sc.multivariant && !haveTD {
		return nil, malformed("media playlist without EXT-X-TARGETDURATION")
	}
	return sc, nil
}

// scanServerControl reads EXT-X-SERVER-CONTROL (RFC 8216bis 4.4.3.8).
func (sc *hlsScan) scanServerControl(val []byte) error {
	ctl := HLSServerControl{}
	err := eachAttr(val, func(name, v string) error {
		var err error
		switch name {
		case "CAN-BLOCK-RELOAD":
			ctl.CanBlockReload = v == "YES"
		case "CAN-SKIP-DATERANGES":
			ctl.CanSkipDateRanges = v == "YES"
		case "CAN-SKIP-UNTIL":
			ctl.CanSkipUntil, err = floatSeconds(v)
		case "HOLD-BACK":
			ctl.HoldBack, err = floatSeconds(v)
		case "PART-HOLD-BACK":
			ctl.PartHoldBack, err = floatSeconds(v)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := checkAttrNames(val); err != nil {
		return err
	}
	sc.serverControl = ctl
	return nil
}

// eachAttr calls fn with every attribute of an attribute list, stopping
// at its first error; an unterminated quoted-string is malformed.
func eachAttr(val []byte, fn func(name, v string) error) error {
	as := attrScanner{b: val}
	for {
		name, vs, ve, _, ok := as.next()
		if !ok {
			break
		}
		if err := fn(string(name), string(val[vs:ve])); err != nil {
			return err
		}
	}
	if as.bad {
		return malformed("unterminated quoted-string")
	}
	return nil
}

// checkAttrNames refuses attribute names outside RFC 8216bis 4.2's
// [A-Z0-9-], which a lax reader could take for the name they end with.
func checkAttrNames(val []byte) error {
	return eachAttr(val, func(name, _ string) error {
		for _, c := range []byte(name) {
			if (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '-' {
				return malformed("attribute name %q", name)
			}
		}
		return nil
	})
}

// floatSeconds reads a decimal-floating-point number of seconds, refusing
// what strconv.ParseFloat lets through but no duration is: NaN,
// infinities, negatives and overflows.
func floatSeconds(s string) (time.Duration, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || f < 0 || f*1e9 >= math.MaxInt64 {
		return 0, malformed("duration %q", s)
	}
	return time.Duration(math.Round(f * 1e9)), nil
}

// parseDateTime reads EXT-X-PROGRAM-DATE-TIME: ISO 8601 with fractional
// seconds and a zone written Z, +hh:mm, +hhmm or +hh.
func parseDateTime(s string) (time.Time, error) {
	for _, layout := range []string{
		"2006-01-02T15:04:05.999999999Z07:00",
		"2006-01-02T15:04:05.999999999Z0700",
		"2006-01-02T15:04:05.999999999Z07",
	} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, malformed("date-time %q", s)
}

func (sc *hlsScan) scanPartInf(val []byte) error {
	s, err := requiredAttr(val, "PART-TARGET")
	if err != nil {
		return err
	}
	sc.partTarget, err = parseSeconds(s)
	return err
}

func (sc *hlsScan) scanMap(val []byte) error {
	uri, err := requiredAttr(val, "URI")
	if err != nil {
		return err
	}
	sc.maps = append(sc.maps, uri)
	return nil
}

func (sc *hlsScan) scanPart(val []byte, segIndex, partIndex int) error {
	p := HLSPart{MSN: uint64(segIndex), Index: partIndex}
	haveDur := false
	err := eachAttr(val, func(name, v string) error {
		var err error
		switch name {
		case "URI":
			p.URI = v
		case "DURATION":
			p.Duration, err = parseSeconds(v)
			haveDur = true
		case "INDEPENDENT":
			p.Independent = v == "YES"
		case "GAP":
			p.Gap = v == "YES"
		case "BYTERANGE":
			p.ByteRange = v
			err = checkByteRange(v)
		}
		return err
	})
	if err != nil {
		return err
	}
	if p.URI == "" || !haveDur {
		return malformed("EXT-X-PART needs URI and DURATION")
	}
	sc.parts = append(sc.parts, p)
	return nil
}

func (sc *hlsScan) scanHint(val []byte) error {
	var h HLSPreloadHint
	err := eachAttr(val, func(name, v string) error {
		var err error
		switch name {
		case "TYPE":
			h.Type = v
		case "URI":
			h.URI = v
		case "BYTERANGE-START":
			h.ByteRangeStart, err = strconv.ParseUint(v, 10, 64)
		case "BYTERANGE-LENGTH":
			h.ByteRangeLength, err = strconv.ParseUint(v, 10, 64)
		}
		if err != nil {
			return malformed("%s: %v", name, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if h.URI == "" || h.Type == "" {
		return malformed("EXT-X-PRELOAD-HINT needs TYPE and URI")
	}
	sc.hints = append(sc.hints, h)
	return nil
}

func (sc *hlsScan) scanReport(val []byte) error {
	r := HLSRenditionReport{LastPart: -1}
	err := eachAttr(val, func(name, v string) error {
		var err error
		switch name {
		case "URI":
			r.URI = v
		case "LAST-MSN":
			r.LastMSN, err = strconv.ParseUint(v, 10, 64)
		case "LAST-PART":
			var n uint64
			n, err = strconv.ParseUint(v, 10, 31)
			r.LastPart = int(n)
		}
		if err != nil {
			return malformed("%s: %v", name, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if r.URI == "" {
		return malformed("EXT-X-RENDITION-REPORT needs URI")
	}
	sc.reports = append(sc.reports, r)
	return nil
}

// requiredAttr returns the value of attribute name, which must be present.
func requiredAttr(val []byte, name string) (string, error) {
	v, err := optionalAttr(val, name)
	if err == nil && v == "" {
		err = malformed("missing %s", name)
	}
	return v, err
}

// optionalAttr returns the value of attribute name, "" when absent.
func optionalAttr(val []byte, name string) (string, error) {
	as := attrScanner{b: val}
	found := ""
	for {
		n, vs, ve, _, ok := as.next()
		if !ok {
			break
		}
		if found == "" && string(n) == name {
			found = string(val[vs:ve])
		}
	}
	if as.bad {
		return "", malformed("unterminated quoted-string")
	}
	return found, nil
}

func checkAttrs(val []byte) error {
	as := attrScanner{b: val}
	for {
		if _, _, _, _, ok := as.next(); !ok {
			break
		}
	}
	if as.bad {
		return malformed("unterminated quoted-string")
	}
	return nil
}

// checkByteRange validates <n>[@<o>] (RFC 8216bis 4.4.4.2).
func checkByteRange(s string) error {
	n, o, hasO := s, "", false
	if at := bytes.IndexByte([]byte(s), '@'); at >= 0 {
		n, o, hasO = s[:at], s[at+1:], true
	}
	if _, err := strconv.ParseUint(n, 10, 63); err != nil {
		return malformed("byte range %q", s)
	}
	if hasO {
		if _, err := strconv.ParseUint(o, 10, 63); err != nil {
			return malformed("byte range %q", s)
		}
	}
	return nil
}
