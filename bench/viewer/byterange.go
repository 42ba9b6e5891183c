package viewer

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// errByteRange is wrapped for an EXT-X-BYTERANGE that cannot be used.
var errByteRange = errors.New("bad byte range")

// byteRanger turns EXT-X-BYTERANGE values (RFC 8216bis 4.4.4.2,
// "<n>[@<o>]") into HTTP Range headers. Without @o a range starts where
// the previous one of the same resource ended, so it keeps that state.
type byteRanger struct {
	uri  string
	next uint64 // end of the previous range of uri
}

// header returns the Range header for a segment at uri with byte range
// br ("" for the whole resource, which returns "").
func (b *byteRanger) header(uri, br string) (string, error) {
	if br == "" {
		b.uri = ""
		return "", nil
	}
	n, o, hasO, err := parseByteRange(br)
	if err != nil {
		return "", err
	}
	if !hasO {
		if b.uri != uri {
			return "", fmt.Errorf("byte range %q: no offset and no previous range of %s: %w", br, uri, errByteRange)
		}
		o = b.next
	}
	if n == 0 || o > ^uint64(0)-n {
		return "", fmt.Errorf("byte range %q: %w", br, errByteRange)
	}
	b.uri, b.next = uri, o+n
	return "bytes=" + strconv.FormatUint(o, 10) + "-" + strconv.FormatUint(o+n-1, 10), nil
}

// parseByteRange reads "<n>[@<o>]".
func parseByteRange(s string) (n, o uint64, hasO bool, err error) {
	ns, os, hasO := strings.Cut(s, "@")
	if n, err = strconv.ParseUint(ns, 10, 64); err != nil {
		return 0, 0, false, fmt.Errorf("byte range %q: %w", s, errByteRange)
	}
	if hasO {
		if o, err = strconv.ParseUint(os, 10, 64); err != nil {
			return 0, 0, false, fmt.Errorf("byte range %q: %w", s, errByteRange)
		}
	}
	return n, o, hasO, nil
}
