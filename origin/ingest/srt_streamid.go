package ingest

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ErrBadStreamID wraps every SRT stream id the packager cannot read.
var ErrBadStreamID = errors.New("bad srt stream id")

// errNotPublish: the stream id asks for something other than publishing.
var errNotPublish = errors.New("only publishing is supported")

// maxStreamIDLen is the longest stream id SRT can carry (the SID handshake
// extension, SRT RFC draft section 3.2.1.3: at most 512 bytes).
const maxStreamIDLen = 512

// srtStreamID is what an SRT caller's stream id asks for.
type srtStreamID struct {
	mode     string     // "publish"
	resource string     // APP/NAME, as in the RTMP URL path
	args     url.Values // key=... and anything else, for auth and on_publish
}

// parseSRTStreamID reads the two stream id forms encoders send:
//
//   - "publish:live/NAME" with an optional "?key=KEY&..." query, the form
//     MediaMTX and SRS document (ffmpeg: srt://HOST:PORT?streamid=publish:live/NAME);
//   - the SRT Access Control syntax, "#!::r=live/NAME,m=publish[,key=KEY]"
//     (Haivision srt docs/features/access-control.md: comma-separated
//     key=value pairs after "#!::"; r is the resource, m the mode, whose
//     default is "request", so a publisher must say m=publish). Keys other
//     than r and m (u, s, h, t and the packager's own "key") become args.
//
// A mode other than publish gives an error wrapping errNotPublish.
func parseSRTStreamID(id string) (srtStreamID, error) {
	if len(id) > maxStreamIDLen {
		return srtStreamID{}, fmt.Errorf("%w: %d bytes", ErrBadStreamID, len(id))
	}
	if rest, ok := strings.CutPrefix(id, "#!::"); ok {
		return parseAccessControl(rest)
	}
	mode, rest, ok := strings.Cut(id, ":")
	if !ok {
		return srtStreamID{}, fmt.Errorf("%w: %q: want publish:APP/NAME or #!::r=APP/NAME,m=publish", ErrBadStreamID, id)
	}
	if mode != "publish" {
		return srtStreamID{}, fmt.Errorf("%w: mode %q: %w", ErrBadStreamID, mode, errNotPublish)
	}
	resource, query, _ := strings.Cut(rest, "?")
	args, err := url.ParseQuery(query)
	if err != nil {
		return srtStreamID{}, fmt.Errorf("%w: query %q: %w", ErrBadStreamID, query, err)
	}
	return newSRTStreamID(mode, resource, args)
}

func parseAccessControl(s string) (srtStreamID, error) {
	mode := "request" // the Access Control default
	var resource string
	args := url.Values{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return srtStreamID{}, fmt.Errorf("%w: %q is not key=value", ErrBadStreamID, kv)
		}
		switch k {
		case "r":
			resource = v
		case "m":
			mode = v
		case "t":
			if v != "stream" {
				return srtStreamID{}, fmt.Errorf("%w: type %q: only stream is supported", ErrBadStreamID, v)
			}
		default:
			args.Add(k, v)
		}
	}
	if mode != "publish" {
		return srtStreamID{}, fmt.Errorf("%w: mode %q: %w", ErrBadStreamID, mode, errNotPublish)
	}
	return newSRTStreamID(mode, resource, args)
}

func newSRTStreamID(mode, resource string, args url.Values) (srtStreamID, error) {
	resource = strings.TrimLeft(resource, "/")
	if resource == "" {
		return srtStreamID{}, fmt.Errorf("%w: no resource (APP/NAME)", ErrBadStreamID)
	}
	if strings.ContainsFunc(resource, func(r rune) bool { return r == '?' || r < 0x20 || r == 0x7f }) {
		return srtStreamID{}, fmt.Errorf("%w: resource %q", ErrBadStreamID, resource)
	}
	return srtStreamID{mode: mode, resource: resource, args: args}, nil
}

// String is the stream id in its "publish:" form; parsing it gives the
// same value back.
func (s srtStreamID) String() string {
	out := s.mode + ":" + s.resource
	if len(s.args) > 0 {
		out += "?" + s.args.Encode()
	}
	return out
}
